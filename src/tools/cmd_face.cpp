// facekit detect | embed | verify | eval — the face pipeline from the command line
// (include/facekit/face.h, docs/pipeline.md).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/cpu_time.h"
#include "facekit/device.h"
#include "facekit/face.h"
#include "facekit/image.h"
#include "pipeline/face_json.h"
#include "tools/commands.h"
#include "vision/draw.h"

namespace fk::tools {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::vector<std::string> kValueFlags = {"--config", "--tier",   "--models", "--threads", "--backend",
                                              "--draw",   "--out",    "--min-confidence", "--face", "--images",
                                              "--pairs",  "--limit",  "--calibration-out", "--calibration",
                                              "--max-side", "--repeat", "--detector", "--labels",
                                              "--deepface", "--lfw", "--samples", "--peer", "--device",
                                              "--attributes", "--template-latency"};

int Fail(const char* cmd, const Status& s) {
  std::fprintf(stderr, "facekit %s: %s\n", cmd, s.ToString().c_str());
  return 1;
}

// Config from --config FILE, then command-line overrides.
Result<FaceConfig> ConfigFromArgs(const Args& args, bool tier_flag = true) {
  FaceConfig c;
  if (auto p = FlagValue(args, "--config"); !p.empty()) {
    FK_ASSIGN_OR_RETURN(c, FaceConfig::FromFile(p));
  }
  if (auto t = tier_flag ? FlagValue(args, "--tier") : std::string(); !t.empty()) {
    if (t == "fast") c.tier = Tier::kFast;
    else if (t == "balanced") c.tier = Tier::kBalanced;
    else if (t == "accurate") c.tier = Tier::kAccurate;
    else return InvalidArgument("--tier '" + t + "' is not one of fast, balanced, accurate");
  }
  c.models_dir = FlagValue(args, "--models", c.models_dir.empty() ? ModelsDir() : c.models_dir);
  if (auto v = FlagValue(args, "--backend"); !v.empty()) c.backend = v;
  if (auto v = FlagValue(args, "--device"); !v.empty()) {  // cpu | cuda[:N] (docs/cuda.md)
    FK_ASSIGN_OR_RETURN(DeviceConfig d, ParseDeviceFlag(v));
    c.use_cuda = d.use_cuda;
    c.gpu_index = d.gpu_index;
  }
  if (HasFlag(args, "--cpu-fallback")) c.allow_cpu_fallback = true;  // no usable GPU: the CPU, with a warning
  if (auto v = FlagValue(args, "--detector"); !v.empty()) c.detector.model = v;
  if (auto v = FlagValue(args, "--calibration"); !v.empty()) c.calibration = v;
  try {
    if (auto v = FlagValue(args, "--min-confidence"); !v.empty()) c.detector.min_confidence = std::stof(v);
    if (auto v = FlagValue(args, "--max-side"); !v.empty()) c.max_image_side = std::stoi(v);
  } catch (...) {
    return InvalidArgument("--min-confidence / --max-side need a number");
  }
  if (HasFlag(args, "--no-landmarks")) c.landmarks = false;
  if (HasFlag(args, "--flip")) c.flip_tta = true;
  if (HasFlag(args, "--no-small-faces")) c.detector.small_faces = false;
  if (auto v = FlagValue(args, "--attributes"); !v.empty()) {
    FK_ASSIGN_OR_RETURN(c.attributes, AttributeConfig::Parse(v));
  }
  FK_RETURN_IF_ERROR(c.Validate());
  return c;
}

int IntFlag(const Args& args, const std::string& flag, int def) {
  const std::string v = FlagValue(args, flag);
  if (v.empty()) return def;
  try {
    return std::stoi(v);
  } catch (...) {
    return def;
  }
}

bool IsImageFile(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), ::tolower);
  return e == ".jpg" || e == ".jpeg" || e == ".png" || e == ".webp";
}

// Files as given; directories walked recursively (image extensions only), sorted.
std::vector<std::string> ExpandInputs(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (const auto& p : in) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec))
        if (it->is_regular_file(ec) && IsImageFile(it->path())) found.push_back(it->path().string());
      std::sort(found.begin(), found.end());
      out.insert(out.end(), found.begin(), found.end());
    } else {
      out.push_back(p);
    }
  }
  return out;
}

json FaceJson(const Face& f, bool with_template) {
  return pipeline::FaceToJson(f, with_template ? pipeline::TemplateJson::kFloats : pipeline::TemplateJson::kNone);
}

void DrawFaces(Image& img, const std::vector<Face>& faces) {
  const float sx = static_cast<float>(img.width()) / img.source_width();
  const float sy = static_cast<float>(img.height()) / img.source_height();
  const int thick = std::max(2, std::max(img.width(), img.height()) / 400);
  for (size_t i = 0; i < faces.size(); ++i) {
    const Face& f = faces[i];
    const Rgb col = vision::PaletteColor(static_cast<int>(i));
    vision::DrawBox(img, {f.box.x0 * sx, f.box.y0 * sy, f.box.x1 * sx, f.box.y1 * sy}, col, thick);
    for (int k = 0; k < 5; ++k)
      vision::DrawMarker(img, {f.landmarks[k].x * sx, f.landmarks[k].y * sy}, vision::PaletteColor(k + 1),
                         vision::MarkerShape::kDisc, thick + 1);
    // Score bar above the box: length proportional to the detector score.
    const float w = (f.box.x1 - f.box.x0) * sx * f.score;
    vision::FillBox(img, {f.box.x0 * sx, f.box.y0 * sy - 2 * thick, f.box.x0 * sx + w, f.box.y0 * sy - thick}, col);
  }
}

// The face a single-face command uses: --face K, else the largest.
int PickFace(const std::vector<Face>& faces, const Args& args) {
  if (faces.empty()) return -1;
  const int k = IntFlag(args, "--face", -1);
  if (k >= 0) return k < static_cast<int>(faces.size()) ? k : -1;
  return static_cast<int>(LargestFace(faces) - faces.data());
}

}  // namespace

int CmdDetect(const Args& args) {
  if (HasFlag(args, "--help") || args.empty()) {
    std::fprintf(stderr,
                 "usage: facekit detect IMAGES|DIRS... [--json] [--draw OUT.png|OUTDIR] [--config FILE]\n"
                 "       [--detector fr_detect|blazeface-back|blazeface-front] [--min-confidence C] [--no-landmarks]\n"
                 "       [--no-small-faces] [--attributes age_gender,emotion,liveness|all] [--threads N]\n"
                 "       [--backend cpu|ref] [--device cpu|cuda[:N]] [--cpu-fallback] [--models DIR] [--quiet]\n");
    return args.empty() ? 2 : 0;
  }
  auto cfg = ConfigFromArgs(args);
  if (!cfg.ok()) return Fail("detect", cfg.status());
  cfg->embed = false;
  if (auto t = IntFlag(args, "--threads", -1); t >= 0) cfg->num_threads = t;
  auto engine = FaceEngine::Create(*cfg);
  if (!engine.ok()) return Fail("detect", engine.status());
  const auto files = ExpandInputs(Positional(args, kValueFlags));
  if (files.empty()) return Fail("detect", InvalidArgument("no image files given"));
  const bool as_json = HasFlag(args, "--json");
  const std::string draw = FlagValue(args, "--draw");
  Progress progress(files.size(), !HasFlag(args, "--quiet"));
  json out = json::array();
  int errors = 0;
  for (const auto& file : files) {
    DecodeOptions dopt;
    dopt.max_side = cfg->max_image_side;
    auto img = DecodeImageFile(file, dopt);
    std::vector<Face> faces;
    Status st = img.status();
    if (img.ok()) {
      auto r = (*engine)->Process(*img);
      st = r.status();
      if (r.ok()) faces = std::move(r).value();
    }
    progress.Tick();
    if (!st.ok()) {
      ++errors;
      std::fprintf(stderr, "facekit detect: %s: %s\n", file.c_str(), st.ToString().c_str());
      if (as_json) out.push_back({{"file", file}, {"error", st.ToString()}});
      continue;
    }
    if (as_json) {
      json j = {{"file", file}, {"width", img->source_width()}, {"height", img->source_height()}};
      j["faces"] = json::array();
      for (const auto& f : faces) j["faces"].push_back(FaceJson(f, false));
      out.push_back(j);
    } else {
      std::printf("%s: %zu face%s\n", file.c_str(), faces.size(), faces.size() == 1 ? "" : "s");
      for (const auto& f : faces) {
        std::printf("  box %.0f,%.0f %.0fx%.0f score %.3f  yaw %+.0f pitch %+.0f roll %+.0f  quality %.2f (%s)\n",
                    f.box.x0, f.box.y0, f.box.width(), f.box.height(), f.score, f.pose.yaw, f.pose.pitch, f.pose.roll,
                    f.quality.score, f.landmark_source.c_str());
        const FaceAttributes& a = f.attributes;
        if (a.empty()) continue;
        std::string line = "   ";
        char buf[96];
        if (a.age >= 0) std::snprintf(buf, sizeof buf, " age %.0f", a.age), line += buf;
        if (!a.gender.empty())
          std::snprintf(buf, sizeof buf, " %s (%.2f)", a.gender.c_str(), a.gender_confidence), line += buf;
        if (const int e = a.top_emotion(); e >= 0)
          std::snprintf(buf, sizeof buf, " %s (%.2f)", EmotionName(e), a.emotion[e]), line += buf;
        if (a.real >= 0) std::snprintf(buf, sizeof buf, " real %.2f", a.real), line += buf;
        if (a.live >= 0) std::snprintf(buf, sizeof buf, " live %.2f", a.live), line += buf;
        std::printf("%s\n", line.c_str());
      }
    }
    if (!draw.empty()) {
      std::string dst = draw;
      if (files.size() > 1) {
        fs::create_directories(draw);
        dst = (fs::path(draw) / (fs::path(file).stem().string() + ".png")).string();
      }
      Image canvas = *img;
      DrawFaces(canvas, faces);
      if (Status s = SaveImage(dst, canvas); !s.ok()) return Fail("detect", s);
    }
  }
  if (as_json) std::printf("%s\n", (files.size() == 1 && !out.empty() ? out[0] : out).dump(1).c_str());
  return errors ? 1 : 0;
}

int CmdEmbed(const Args& args) {
  const auto pos = Positional(args, kValueFlags);
  if (HasFlag(args, "--help") || pos.size() != 1) {
    std::fprintf(stderr,
                 "usage: facekit embed IMAGE [--out T.bin] [--json] [--face K] [--tier fast|balanced|accurate]\n"
                 "       [--flip] [--config FILE] [--models DIR] [--device cpu|cuda[:N]] [--cpu-fallback]\n"
                 "  (the largest face unless --face K)\n");
    return HasFlag(args, "--help") ? 0 : 2;
  }
  auto cfg = ConfigFromArgs(args);
  if (!cfg.ok()) return Fail("embed", cfg.status());
  auto engine = FaceEngine::Create(*cfg);
  if (!engine.ok()) return Fail("embed", engine.status());
  auto faces = (*engine)->ProcessFile(pos[0]);
  if (!faces.ok()) return Fail("embed", faces.status());
  const int k = PickFace(*faces, args);
  if (k < 0) return Fail("embed", NotFound("no face found in " + pos[0]));
  const Face& f = (*faces)[k];
  if (auto out = FlagValue(args, "--out"); !out.empty())
    if (Status s = f.templ.Save(out); !s.ok()) return Fail("embed", s);
  if (HasFlag(args, "--json")) {
    json j = FaceJson(f, true);
    j["file"] = pos[0];
    j["faces_in_image"] = faces->size();
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s: face %d of %zu, box %.0f,%.0f %.0fx%.0f, template %s v%d (%zu-d%s)%s\n", pos[0].c_str(), k,
                faces->size(), f.box.x0, f.box.y0, f.box.width(), f.box.height(), f.templ.model.c_str(),
                f.templ.model_version, f.templ.data.size(), f.templ.flip_tta ? ", flip TTA" : "",
                FlagValue(args, "--out").empty() ? "" : (" -> " + FlagValue(args, "--out")).c_str());
  }
  return 0;
}

int CmdVerify(const Args& args) {
  const auto pos = Positional(args, kValueFlags);
  if (HasFlag(args, "--help") || pos.size() != 2) {
    std::fprintf(stderr,
                 "usage: facekit verify A B [--json] [--tier T] [--flip] [--config FILE] [--device cpu|cuda[:N]] [--cpu-fallback]\n"
                 "  A, B: images (largest face) or templates saved by `facekit embed --out`\n");
    return HasFlag(args, "--help") ? 0 : 2;
  }
  auto cfg = ConfigFromArgs(args);
  if (!cfg.ok()) return Fail("verify", cfg.status());
  auto engine = FaceEngine::Create(*cfg);
  if (!engine.ok()) return Fail("verify", engine.status());
  FaceTemplate t[2];
  for (int i = 0; i < 2; ++i) {
    if (fs::path(pos[i]).extension() == ".bin") {
      auto r = FaceTemplate::Load(pos[i]);
      if (!r.ok()) return Fail("verify", r.status());
      t[i] = std::move(r).value();
      continue;
    }
    auto faces = (*engine)->ProcessFile(pos[i]);
    if (!faces.ok()) return Fail("verify", faces.status());
    const int k = PickFace(*faces, {});
    if (k < 0) return Fail("verify", NotFound("no face found in " + pos[i]));
    t[i] = (*faces)[k].templ;
  }
  auto v = (*engine)->Verify(t[0], t[1]);
  if (!v.ok()) return Fail("verify", v.status());
  if (HasFlag(args, "--json")) {
    json j = {{"similarity", v->similarity}, {"threshold", v->threshold}, {"match", v->match},
              {"model", t[0].model},        {"calibrated", v->calibrated}};
    if (v->calibrated) {
      j["far"] = v->far;
      j["frr"] = v->frr;
      j["target_far"] = cfg->target_far;
    }
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s: similarity %.4f, threshold %.4f (%s) -> %s", t[0].model.c_str(), v->similarity, v->threshold,
                v->calibrated ? ("FAR " + std::to_string(cfg->target_far)).c_str() : "uncalibrated default",
                v->match ? "MATCH" : "no match");
    if (v->calibrated) std::printf("  (estimated FAR at this similarity %.2g)", v->far);
    std::printf("\n");
  }
  return 0;
}

// ---- eval ---------------------------------------------------------------------------------

namespace {

struct Pair {
  std::string a, b;  // image keys "name/index"
  bool same = false;
  int fold = 0;
};

struct PairsFile {
  std::vector<Pair> pairs;
  int folds = 1;  // 1 = View 1 (development); > 1 = View 2
};

Result<PairsFile> ReadPairs(const std::string& path) {
  std::ifstream f(path);
  if (!f) return NotFound("pairs file " + path + " not found");
  PairsFile pf;
  std::string line;
  if (!std::getline(f, line)) return DataLoss("pairs file " + path + " is empty");
  std::istringstream head(line);
  int a = 0, b = 0;
  head >> a;
  if (!(head >> b)) {  // View 1: "<n>"
    pf.folds = 1;
  } else {  // View 2: "<folds> <n>"
    pf.folds = a;
  }
  const int per_fold = pf.folds == 1 ? 2 * a : 2 * b;
  int lineno = 1;
  while (std::getline(f, line)) {
    ++lineno;
    std::istringstream ss(line);
    std::vector<std::string> tok;
    for (std::string t; ss >> t;) tok.push_back(t);
    if (tok.empty()) continue;
    Pair p;
    auto key = [](const std::string& name, const std::string& idx) { return name + "/" + idx; };
    if (tok.size() == 3) {
      p.a = key(tok[0], tok[1]);
      p.b = key(tok[0], tok[2]);
      p.same = true;
    } else if (tok.size() == 4) {
      p.a = key(tok[0], tok[1]);
      p.b = key(tok[2], tok[3]);
      p.same = false;
    } else {
      return DataLoss("pairs file " + path + " line " + std::to_string(lineno) + ": expected 3 or 4 fields");
    }
    p.fold = per_fold > 0 ? static_cast<int>(pf.pairs.size()) / per_fold : 0;
    pf.pairs.push_back(p);
  }
  if (pf.pairs.empty()) return DataLoss("pairs file " + path + " lists no pairs");
  // View 2: folds are consecutive blocks of n same + n different pairs; a count that does not
  // match the header would shift every fold boundary.
  if (pf.folds > 1 && pf.pairs.size() != static_cast<size_t>(pf.folds) * per_fold)
    return DataLoss("pairs file " + path + ": header says " + std::to_string(pf.folds) + " folds of " +
                    std::to_string(per_fold) + " pairs, but it lists " + std::to_string(pf.pairs.size()));
  if (pf.folds > 1)
    for (int f = 0; f < pf.folds; ++f) {
      int same = 0;
      for (int k = 0; k < per_fold; ++k) same += pf.pairs[static_cast<size_t>(f) * per_fold + k].same;
      if (same != per_fold / 2)
        return DataLoss("pairs file " + path + ": fold " + std::to_string(f + 1) + " has " + std::to_string(same) +
                        " same-identity pairs, expected " + std::to_string(per_fold / 2) + " (n same, then n different)");
    }
  return pf;
}

std::string LfwPath(const std::string& dir, const std::string& key) {
  const auto slash = key.find('/');
  const std::string name = key.substr(0, slash);
  char idx[16];
  std::snprintf(idx, sizeof idx, "%04d", std::atoi(key.c_str() + slash + 1));
  return dir + "/" + name + "/" + name + "_" + idx + ".jpg";
}

// Best-threshold accuracy of scores on a set of pairs; returns the threshold too.
std::pair<double, float> BestAccuracy(const std::vector<float>& s, const std::vector<bool>& same,
                                      const std::vector<int>& idx) {
  std::vector<int> order(idx);
  std::sort(order.begin(), order.end(), [&](int x, int y) { return s[x] < s[y]; });
  // Threshold below everything: all predicted same.
  int pos = 0;
  for (int i : order) pos += same[i];
  int correct = pos;  // predicted same for all: correct = #same
  int best = correct;
  float best_thr = order.empty() ? 0.f : s[order[0]] - 1e-6f;
  for (size_t k = 0; k < order.size(); ++k) {
    // Threshold just above order[k]: pair order[k] becomes "different".
    correct += same[order[k]] ? -1 : 1;
    if (correct > best) {
      best = correct;
      best_thr = k + 1 < order.size() ? (s[order[k]] + s[order[k + 1]]) / 2 : s[order[k]] + 1e-6f;
    }
  }
  return {idx.empty() ? 0.0 : static_cast<double>(best) / idx.size(), best_thr};
}

double Auc(const std::vector<float>& gen, const std::vector<float>& imp) {
  std::vector<float> g(gen), im(imp);
  std::sort(im.begin(), im.end());
  double sum = 0;
  for (float x : g) {
    const auto lo = std::lower_bound(im.begin(), im.end(), x) - im.begin();
    const auto hi = std::upper_bound(im.begin(), im.end(), x) - im.begin();
    sum += lo + 0.5 * (hi - lo);
  }
  return g.empty() || im.empty() ? 0.0 : sum / (static_cast<double>(g.size()) * im.size());
}

double TarAtFar(const std::vector<float>& gen, const std::vector<float>& imp, double far) {
  std::vector<float> im(imp);
  std::sort(im.begin(), im.end());
  if (im.empty() || gen.empty()) return 0.0;
  const size_t allowed = static_cast<size_t>(std::floor(far * im.size()));
  // Threshold: accept scores > the (n - allowed)-th impostor score.
  const float thr = allowed >= im.size() ? -2.f : im[im.size() - 1 - allowed];
  size_t acc = 0;
  for (float x : gen) acc += x > thr;
  return static_cast<double>(acc) / gen.size();
}

struct TierRun {
  std::string name;  // fast / balanced / accurate / fusion(...)
  std::string model;
  bool flip = false;
  std::unique_ptr<FaceEngine> engine;
};

std::string Fmt(double v, int prec = 4) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

}  // namespace

int EvalLfw(const Args& args) {
  const std::string images = FlagValue(args, "--images");
  const std::string pairs_path = FlagValue(args, "--pairs");
  if (images.empty() || pairs_path.empty()) {
    std::fprintf(stderr,
                 "usage: facekit eval lfw --images DIR --pairs FILE [--tier fast|balanced|accurate|all|ID[+flip],...]\n"
                 "       (ID: a tier or recognizer id; pairs: View 1 \"n\" or View 2 \"folds n\" header)\n"
                 "       [--out docs/benchmarks] [--threads N] [--limit N] [--calibration-out FILE]\n");
    return 2;
  }
  auto pf = ReadPairs(pairs_path);
  if (!pf.ok()) return Fail("eval", pf.status());
  if (int lim = IntFlag(args, "--limit", 0); lim > 0 && lim < static_cast<int>(pf->pairs.size())) {
    // Keep the balance of same/different pairs: take from both halves.
    std::vector<Pair> s, d;
    for (const auto& p : pf->pairs) (p.same ? s : d).push_back(p);
    s.resize(std::min<size_t>(s.size(), lim / 2));
    d.resize(std::min<size_t>(d.size(), lim - lim / 2));
    pf->pairs = s;
    pf->pairs.insert(pf->pairs.end(), d.begin(), d.end());
    pf->folds = 1;
  }
  auto base = ConfigFromArgs(args, /*tier_flag=*/false);
  if (!base.ok()) return Fail("eval", base.status());
  const int workers = std::max(1, IntFlag(args, "--threads", 2));
  if (workers > 1) base->num_threads = 1;

  // Engines: one detector/landmark engine, one recognizer engine per tier.
  FaceConfig dcfg = *base;
  dcfg.embed = false;
  auto det = FaceEngine::Create(dcfg);
  if (!det.ok()) return Fail("eval", det.status());
  FaceConfig lowcfg = dcfg;  // retry for photos where nothing passes the threshold
  lowcfg.detector.min_confidence = std::min(0.15f, dcfg.detector.min_confidence);
  auto det_low = FaceEngine::Create(lowcfg);
  if (!det_low.ok()) return Fail("eval", det_low.status());

  std::vector<std::string> tier_names;
  const std::string tier_arg = FlagValue(args, "--tier", "all");
  if (tier_arg == "all") tier_names = {"fast", "balanced", "accurate"};
  else {
    std::stringstream ts(tier_arg);
    for (std::string t; std::getline(ts, t, ',');) tier_names.push_back(t);
  }
  std::vector<TierRun> tiers;
  std::set<std::pair<std::string, bool>> seen;
  for (const auto& tn : tier_names) {
    FaceConfig c = *base;
    // "+flip" after a tier or recognizer id adds flip TTA ("accurate+flip", "faceres+flip").
    std::string id = tn;
    if (id.size() > 5 && id.substr(id.size() - 5) == "+flip") {
      id = id.substr(0, id.size() - 5);
      c.flip_tta = true;
    }
    c.tier = id == "fast" ? Tier::kFast : id == "balanced" ? Tier::kBalanced : Tier::kAccurate;
    if (id != "fast" && id != "balanced" && id != "accurate") {
      // A recognizer id (e.g. "faceres", "fusion:fr_feature+faceapi_resnet") measured outside
      // the tier mapping.
      c.tier = Tier::kFast;
      c.recognizer = id;
      if (Status vs = c.Validate(); !vs.ok())
        return Fail("eval", InvalidArgument("--tier '" + tn + "' is not fast, balanced, accurate, all or a recognizer id"));
    }
    auto e = FaceEngine::Create(c);
    if (!e.ok()) return Fail("eval", e.status().WithContext("tier " + tn));
    TierRun t;
    t.name = tn;
    t.model = (*e)->recognizer();
    t.flip = (*e)->flip_tta();
    std::fprintf(stderr, "eval: %s\n", (*e)->description().c_str());
    t.engine = std::move(e).value();
    tiers.push_back(std::move(t));
  }

  // Unique images.
  std::vector<std::string> keys;
  std::map<std::string, int> index;
  for (const auto& p : pf->pairs)
    for (const auto& k : {p.a, p.b})
      if (!index.count(k)) {
        index[k] = static_cast<int>(keys.size());
        keys.push_back(k);
      }
  const size_t nimg = keys.size();
  std::vector<std::vector<FaceTemplate>> templ(tiers.size(), std::vector<FaceTemplate>(nimg));
  std::vector<int> status(nimg, 0);  // 0 ok, 1 found at low confidence, 2 no face, 3 error
  std::vector<std::string> errors(nimg);
  std::fprintf(stderr, "eval: %zu pairs (%s), %zu images, %d worker(s)\n", pf->pairs.size(),
               pf->folds > 1 ? "View 2" : "View 1", nimg, workers);
  Progress progress(nimg, true);
  std::atomic<size_t> next{0};
  const auto t0 = std::chrono::steady_clock::now();
  auto work = [&]() {
    for (size_t i; (i = next++) < nimg;) {
      const std::string path = LfwPath(images, keys[i]);
      DecodeOptions dopt;
      dopt.max_side = base->max_image_side;
      auto img = DecodeImageFile(path, dopt);
      if (!img.ok()) {
        status[i] = 3;
        errors[i] = img.status().ToString();
        progress.Tick();
        continue;
      }
      auto faces = (*det)->Process(*img);
      if (faces.ok() && faces->empty()) {
        faces = (*det_low)->Process(*img);
        status[i] = 1;
      }
      if (!faces.ok() || faces->empty()) {
        status[i] = faces.ok() ? 2 : 3;
        if (!faces.ok()) errors[i] = faces.status().ToString();
        progress.Tick();
        continue;
      }
      // LFW photos are centred on the subject: take the face nearest the centre, large ones
      // preferred.
      const float cx = img->source_width() / 2.f, cy = img->source_height() / 2.f;
      int best = 0;
      double best_cost = 1e30;
      for (size_t k = 0; k < faces->size(); ++k) {
        const BoxF& b = (*faces)[k].box;
        const double d = std::hypot((b.x0 + b.x1) / 2 - cx, (b.y0 + b.y1) / 2 - cy);
        const double cost = d / std::max(1.f, b.width());
        if (cost < best_cost) {
          best_cost = cost;
          best = static_cast<int>(k);
        }
      }
      for (size_t t = 0; t < tiers.size(); ++t) {
        auto e = tiers[t].engine->Embed(*img, (*faces)[best]);
        if (e.ok()) templ[t][i] = std::move(e).value();
        else {
          status[i] = 3;
          errors[i] = e.status().ToString();
        }
      }
      progress.Tick();
    }
  };
  std::vector<std::thread> pool;
  for (int w = 0; w < workers; ++w) pool.emplace_back(work);
  for (auto& th : pool) th.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  int low = 0, miss = 0, err = 0;
  std::vector<std::string> missed;
  for (size_t i = 0; i < nimg; ++i) {
    low += status[i] == 1;
    miss += status[i] == 2;
    err += status[i] == 3;
    if (status[i] >= 2) missed.push_back(keys[i] + (errors[i].empty() ? "" : " (" + errors[i] + ")"));
  }
  for (const auto& m : missed) std::fprintf(stderr, "eval: no template for %s\n", m.c_str());

  // Scores per tier (+ z-normalised fusion of the first two distinct models).
  struct Scored {
    std::string name, model;
    int model_version = 1;
    bool flip = false;
    std::vector<float> pair_scores;            // per pair; -1 when a template is missing
    std::vector<float> all_gen, all_imp;       // all same/different-identity image pairs
  };
  std::vector<Scored> scored;
  auto ident = [&](size_t i) { return keys[i].substr(0, keys[i].find('/')); };
  for (size_t t = 0; t < tiers.size(); ++t) {
    Scored s;
    s.name = tiers[t].name;
    s.model = tiers[t].model;
    s.flip = tiers[t].flip;
    for (const auto& tp : templ[t])
      if (!tp.empty()) {
        s.model_version = tp.model_version;
        break;
      }
    for (const auto& p : pf->pairs) {
      const auto& a = templ[t][index[p.a]];
      const auto& b = templ[t][index[p.b]];
      float v = -1.f;
      if (!a.empty() && !b.empty())
        if (auto r = CompareTemplates(a, b); r.ok()) v = *r;
      s.pair_scores.push_back(v);
    }
    for (size_t i = 0; i < nimg; ++i)
      for (size_t j = i + 1; j < nimg; ++j) {
        if (templ[t][i].empty() || templ[t][j].empty()) continue;
        auto r = CompareTemplates(templ[t][i], templ[t][j]);
        if (!r.ok()) continue;
        (ident(i) == ident(j) ? s.all_gen : s.all_imp).push_back(*r);
      }
    scored.push_back(std::move(s));
  }
  // Fusion: z-normalise each model's scores by its impostor mean/std, then average.
  const size_t nsingle = scored.size();
  for (size_t a = 0; a < nsingle; ++a)
    for (size_t b = a + 1; b < nsingle; ++b) {
    if (scored[a].model == scored[b].model || scored[a].flip != scored[b].flip) continue;
    // Fused templates (the accurate tier) are already a fusion: not fused again.
    if (scored[a].model.rfind("fusion:", 0) == 0 || scored[b].model.rfind("fusion:", 0) == 0) continue;
    {
      auto stats = [](const std::vector<float>& v) {
        double m = 0, q = 0;
        for (float x : v) m += x;
        m /= std::max<size_t>(v.size(), 1);
        for (float x : v) q += (x - m) * (x - m);
        return std::pair<double, double>{m, std::sqrt(q / std::max<size_t>(v.size(), 1))};
      };
      auto [ma, sa] = stats(scored[a].all_imp);
      auto [mb, sb] = stats(scored[b].all_imp);
      Scored f;
      f.name = "fusion";
      f.model = scored[a].model + "+" + scored[b].model;
      f.flip = scored[a].flip && scored[b].flip;
      auto fuse = [&](float x, float y) {
        return static_cast<float>(((x - ma) / sa + (y - mb) / sb) / 2.0 / 10.0);
      };
      for (size_t k = 0; k < pf->pairs.size(); ++k) {
        const float x = scored[a].pair_scores[k], y = scored[b].pair_scores[k];
        f.pair_scores.push_back(x <= -1.f || y <= -1.f ? -1.f : fuse(x, y));
      }
      // All-pairs lists are built in the same (i, j) order for every tier.
      if (scored[a].all_gen.size() == scored[b].all_gen.size() && scored[a].all_imp.size() == scored[b].all_imp.size()) {
        for (size_t k = 0; k < scored[a].all_gen.size(); ++k) f.all_gen.push_back(fuse(scored[a].all_gen[k], scored[b].all_gen[k]));
        for (size_t k = 0; k < scored[a].all_imp.size(); ++k) f.all_imp.push_back(fuse(scored[a].all_imp[k], scored[b].all_imp[k]));
      }
      scored.push_back(std::move(f));
    }
  }

  // Metrics.
  json jout;
  jout["dataset"] = {{"pairs_file", pairs_path}, {"images_dir", images}, {"pairs", pf->pairs.size()},
                     {"protocol", pf->folds > 1 ? "View 2, " + std::to_string(pf->folds) +
                                                 "-fold (threshold chosen on the other folds)"
                                           : std::string("View 1 (development), best threshold")},
                     {"folds", pf->folds},
                     {"images", nimg}};
  jout["detection"] = {{"detector", (*det)->detector()}, {"landmarks", base->landmarks ? "facemesh" : "detector"},
                       {"found_at_low_confidence", low}, {"no_face", miss}, {"errors", err}, {"missed", missed}};
  jout["time_s"] = seconds;
  jout["workers"] = workers;
  jout["backend"] = base->backend;
  jout["results"] = json::array();
  std::vector<RocTable> calib;
  std::vector<bool> same;
  for (const auto& p : pf->pairs) same.push_back(p.same);
  for (const auto& s : scored) {
    std::vector<int> all(pf->pairs.size());
    std::iota(all.begin(), all.end(), 0);
    double acc;
    float thr;
    std::vector<double> fold_acc;
    if (pf->folds > 1) {
      double sum = 0;
      for (int f = 0; f < pf->folds; ++f) {
        std::vector<int> train, test;
        for (int k : all) (pf->pairs[k].fold == f ? test : train).push_back(k);
        auto [tacc, tthr] = BestAccuracy(s.pair_scores, same, train);
        (void)tacc;
        int c = 0;
        for (int k : test) c += (s.pair_scores[k] >= tthr) == same[k];
        fold_acc.push_back(test.empty() ? 0.0 : static_cast<double>(c) / test.size());
        sum += fold_acc.back();
      }
      acc = sum / pf->folds;
      thr = BestAccuracy(s.pair_scores, same, all).second;
    } else {
      std::tie(acc, thr) = BestAccuracy(s.pair_scores, same, all);
    }
    std::vector<float> gen, imp;
    for (size_t k = 0; k < same.size(); ++k) (same[k] ? gen : imp).push_back(s.pair_scores[k]);
    json r = {{"tier", s.name},
              {"model", s.model},
              {"flip_tta", s.flip},
              {"accuracy", acc},
              {"best_threshold", thr},
              {"roc_auc", Auc(gen, imp)},
              {"pairs_tar_at_far_1e-2", TarAtFar(gen, imp, 1e-2)},
              {"all_pairs_genuine", s.all_gen.size()},
              {"all_pairs_impostor", s.all_imp.size()},
              {"tar_at_far_1e-2", TarAtFar(s.all_gen, s.all_imp, 1e-2)},
              {"tar_at_far_1e-3", TarAtFar(s.all_gen, s.all_imp, 1e-3)},
              {"all_pairs_roc_auc", Auc(s.all_gen, s.all_imp)}};
    if (!fold_acc.empty()) r["fold_accuracy"] = fold_acc;
    {
      // Impostor score statistics (all pairs): the fusion weights are ~ 1 / std.
      double m = 0, q = 0;
      for (float x : s.all_imp) m += x;
      m /= std::max<size_t>(s.all_imp.size(), 1);
      for (float x : s.all_imp) q += (x - m) * (x - m);
      r["impostor_mean"] = m;
      r["impostor_std"] = std::sqrt(q / std::max<size_t>(s.all_imp.size(), 1));
    }
    jout["results"].push_back(r);
    if (s.name != "fusion") {
      RocTable t = BuildRocTable(s.all_gen, s.all_imp);
      t.model = s.model;
      t.model_version = s.model_version;
      t.flip_tta = s.flip;
      t.source = "LFW " + std::string(pf->folds > 1 ? "View 2" : "View 1 DevTest") + " images, all cross pairs (" +
                 std::to_string(nimg) + " images)";
      bool dup = false;
      for (const auto& c : calib) dup |= c.model == t.model && c.flip_tta == t.flip_tta;
      if (!dup) calib.push_back(std::move(t));
    }
    std::fprintf(stderr, "eval: %-9s %-22s acc %.4f  AUC %.4f  TAR@FAR1e-2 %.4f  TAR@FAR1e-3 %.4f\n", s.name.c_str(),
                 (s.model + (s.flip ? "+flip" : "")).c_str(), acc, r["roc_auc"].get<double>(),
                 r["tar_at_far_1e-2"].get<double>(), r["tar_at_far_1e-3"].get<double>());
  }
  if (auto cp = FlagValue(args, "--calibration-out"); !cp.empty()) {
    if (fs::path(cp).has_parent_path()) fs::create_directories(fs::path(cp).parent_path());
    if (Status st = SaveCalibration(cp, calib); !st.ok()) return Fail("eval", st);
    std::fprintf(stderr, "eval: wrote calibration %s\n", cp.c_str());
  }
  const std::string out_dir = FlagValue(args, "--out");
  if (!out_dir.empty()) {
    fs::create_directories(out_dir);
    std::ofstream(out_dir + "/accuracy.json") << jout.dump(1) << "\n";
    std::ostringstream md;
    md << "# Face verification accuracy (LFW)\n\n"
       << "Produced by `facekit eval lfw --images " << images << " --pairs " << pairs_path << " --tier " << tier_arg
       << " --threads " << workers << " --out " << out_dir
       << (FlagValue(args, "--calibration-out").empty() ? "" : " --calibration-out " + FlagValue(args, "--calibration-out"))
       << "`.\n\n"
       << "- Protocol: " << jout["dataset"]["protocol"].get<std::string>() << "; " << pf->pairs.size() << " pairs, "
       << nimg << " images.\n"
       << "- Pipeline: " << (*det)->detector() << " (min confidence " << base->detector.min_confidence
       << ", retry at " << lowcfg.detector.min_confidence << "), "
       << (base->landmarks ? "facemesh 5 points" : "detector keypoints")
       << ", similarity alignment, cosine similarity. Backend `" << base->backend << "`, " << workers
       << " worker(s), " << Fmt(seconds, 1) << " s.\n"
       << "- Detection: " << low << " image(s) needed the low-confidence retry, " << miss << " without a face, " << err
       << " error(s) (pairs with a missing template count as non-matching).\n"
       << "- TAR at FAR 1e-2 / 1e-3 and the calibration ROC use **all** image pairs of the set (every same-identity "
          "pair as genuine, every cross-identity pair as impostor), because 500 impostor pairs cannot resolve a FAR "
          "of 1e-3.\n\n"
       << "| tier | model | flip TTA | accuracy | threshold | ROC AUC (pairs) | TAR@FAR=1e-2 | TAR@FAR=1e-3 | "
          "genuine / impostor (all pairs) |\n|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& r : jout["results"])
      md << "| " << r["tier"].get<std::string>() << " | " << r["model"].get<std::string>() << " | "
         << (r["flip_tta"].get<bool>() ? "yes" : "no") << " | " << Fmt(100 * r["accuracy"].get<double>(), 2) << "% | "
         << Fmt(r["best_threshold"].get<double>(), 3) << " | " << Fmt(r["roc_auc"].get<double>(), 4) << " | "
         << Fmt(r["tar_at_far_1e-2"].get<double>(), 4) << " | " << Fmt(r["tar_at_far_1e-3"].get<double>(), 4) << " | "
         << r["all_pairs_genuine"].get<size_t>() << " / " << r["all_pairs_impostor"].get<size_t>() << " |\n";
    md << "\nTF.js reference numbers on the same pairs (issue 4): mobileface 94.5%, faceres 95.2%, faceres-deep "
          "91.7%, fr_feature (ONNX, BGR) 99.3%, face-api ResNet 98.5%.\n";
    if (!missed.empty()) {
      md << "\nImages without a template:\n\n";
      for (const auto& m : missed) md << "- " << m << "\n";
    }
    std::ofstream(out_dir + "/accuracy.md") << md.str();
    std::fprintf(stderr, "eval: wrote %s/accuracy.md and accuracy.json\n", out_dir.c_str());
  }
  std::printf("%s\n", jout["results"].dump().c_str());
  return 0;
}

// The Human library on the same photos: tests/reference/human/human_speed.mjs (Node, TF.js
// wasm, offline). Its JSON: {version, tfjs, photos, faces, seconds, photos_per_s, faces_per_s,
// decode_seconds, per_photo: [{file, faces, ms}]}.
// The photos go to the peer as PPM files decoded by facekit (same pixels as facekit's own
// input: EXIF applied, max side `max_side`; Node has no WebP/PNG decoder here), in a
// temporary folder removed afterwards; per_photo "file" is mapped back to the photo path.
Result<json> RunHumanPeer(const std::vector<std::string>& files, const std::string& models_dir, int repeat,
                          int threads, int max_side) {
  // Photos that do not decode are left out: facekit counted them as errors too.
  FK_ASSIGN_OR_RETURN(HumanPeerOutput peer,
                      RunHumanScript("human_speed.mjs",
                                     "--models-dir '" + fs::absolute(models_dir + "/human").string() + "' --repeat " +
                                         std::to_string(repeat) + " --threads " + std::to_string(std::max(1, threads)),
                                     files, max_side, /*skip_undecodable=*/true));
  const std::string& out = peer.stdout_text;
  const std::map<std::string, std::string>& back = peer.ppm_to_photo;
  json j = json::parse(out, nullptr, false);
  if (j.is_discarded() || !j.contains("seconds")) return DataLoss("Human peer printed no JSON: " + out.substr(0, 200));
  if (j.contains("per_photo"))
    for (auto& pp : j["per_photo"])
      if (auto it = back.find(pp.value("file", std::string())); it != back.end()) pp["file"] = it->second;
  return j;
}

// Per-stage CPU time of one tier (eval speed --stages), by difference of engines that switch
// the stages on one at a time, each running ProcessFile() on the same photos (process CPU
// time, so it holds on a shared machine): decode = what ProcessFile spent decoding
// (ProcessStats: the detector's decode and, for small faces, the finer second one), taken out
// of every engine's time; detect = full view + keypoint pass (+ the 112-px chip and quality,
// < 1%); tiles = small_faces on minus off; facemesh = landmarks on minus off; embed = the
// tier's recognizer (alignment and embedding) = the full tier minus no embedding.
double ProcessCpuSeconds() { return 1e-3 * ProcessCpuMs(); }

Result<json> StageTimes(const FaceConfig& tier_cfg, const std::vector<std::string>& files) {
  struct Step {
    const char* name;
    FaceConfig cfg;
  };
  FaceConfig a = tier_cfg;
  a.landmarks = false, a.embed = false, a.detector.small_faces = false;
  FaceConfig b = a;
  b.detector.small_faces = tier_cfg.detector.small_faces;
  FaceConfig c = b;
  c.landmarks = tier_cfg.landmarks;
  FaceConfig d = tier_cfg;
  const Step steps[] = {{"detect", a}, {"tiles", b}, {"facemesh", c}, {"embed", d}};
  std::vector<std::unique_ptr<FaceEngine>> engines;
  for (const auto& st : steps) {
    FK_ASSIGN_OR_RETURN(auto e, FaceEngine::Create(st.cfg));
    engines.push_back(std::move(e));
  }
  double decode = 0, cum[4] = {0, 0, 0, 0};
  int second_decodes = 0;
  for (size_t k = 0; k < files.size(); ++k) {
    for (size_t i = 0; i < engines.size(); ++i) {
      if (k == 0) (void)engines[i]->ProcessFile(files[k]);  // warm-up: plans are built on first use
      ProcessStats ps;
      const double t1 = ProcessCpuSeconds();
      (void)engines[i]->ProcessFile(files[k], &ps);
      cum[i] += ProcessCpuSeconds() - t1 - 1e-3 * ps.decode_cpu_ms;
      if (i + 1 == engines.size()) {
        decode += 1e-3 * ps.decode_cpu_ms;
        second_decodes += ps.decodes > 1;
      }
    }
  }
  const double n = std::max<size_t>(files.size(), 1);
  json j = {{"decode_ms", 1000 * decode / n}, {"second_decodes", second_decodes}};
  double prev = 0;
  for (size_t i = 0; i < 4; ++i) {
    j[std::string(steps[i].name) + "_ms"] = 1000 * std::max(0.0, cum[i] - prev) / n;
    prev = cum[i];
  }
  j["total_ms"] = 1000 * (decode + cum[3]) / n;
  return j;
}

// End-to-end speed: decode -> detect -> landmarks -> align -> embed, per tier.
int EvalSpeed(const Args& args) {
  const auto pos = Positional(args, kValueFlags);
  std::vector<std::string> files;
  if (!pos.empty()) files = ExpandInputs(pos);
  if (auto d = FlagValue(args, "--images"); !d.empty()) {
    auto more = ExpandInputs({d});
    files.insert(files.end(), more.begin(), more.end());
  }
  if (files.empty()) {
    std::fprintf(stderr, "usage: facekit eval speed --images DIR|FILES... [--tier T[,T...]|all] [--threads N] [--repeat R]\n"
                         "       [--out docs/benchmarks] [--peer human|none] [--detector D] [--no-small-faces] [--stages]\n"
                         "  --stages: CPU ms per photo of decode, detect, tiles, facemesh, embed (one extra pass per stage)\n"
                         "  --template-latency N: ms per template of one face (Embed of each photo's largest face, N runs)\n"
                         "  --peer human (default): the Human library (TF.js wasm, Node) on the same photos,\n"
                         "  tests/reference/human/human_speed.mjs (npm ci there, or scripts/install_deps.sh)\n");
    return 2;
  }
  auto base = ConfigFromArgs(args, /*tier_flag=*/false);
  if (!base.ok()) return Fail("eval", base.status());
  const int threads = IntFlag(args, "--threads", 1);
  base->num_threads = threads;
  const int repeat = std::max(1, IntFlag(args, "--repeat", 1));
  const std::string tier_arg = FlagValue(args, "--tier", "all");
  std::vector<std::string> tier_names;
  if (tier_arg == "all") {
    tier_names = {"fast", "balanced", "accurate"};
  } else {
    std::stringstream ss(tier_arg);
    for (std::string t; std::getline(ss, t, ',');) {
      if (t != "fast" && t != "balanced" && t != "accurate") {
        std::fprintf(stderr, "facekit eval speed: --tier '%s' is not one of fast, balanced, accurate, all "
                             "(a comma-separated list is allowed)\n", t.c_str());
        return 2;
      }
      tier_names.push_back(t);
    }
  }
  json results = json::array();
  std::ostringstream rows, stage_rows, latency_rows, step_rows;
  std::vector<std::string> step_names;
  const int latency_runs = IntFlag(args, "--template-latency", 0);
  std::map<std::string, int> fk_counts;  // faces per photo (first tier, first round)
  std::string detector_id;
  double best_fk_seconds = 1e30, best_fk_pixels_seconds = 1e30;
  // The photos decoded as the peer gets them (max side max_image_side): Process() on these
  // measures facekit on the same input as Human, decoding excluded for both.
  std::vector<Image> decoded;
  {
    DecodeOptions o;
    o.max_side = base->max_image_side;
    for (const auto& f : files)
      if (auto im = DecodeImageFile(f, o); im.ok()) decoded.push_back(std::move(im).value());
  }
  for (const auto& tn : tier_names) {
    FaceConfig c = *base;
    c.tier = tn == "fast" ? Tier::kFast : tn == "balanced" ? Tier::kBalanced : Tier::kAccurate;
    auto e = FaceEngine::Create(c);
    if (!e.ok()) return Fail("eval", e.status());
    // Warm-up (plans are built on first use per input shape).
    (void)(*e)->ProcessFile(files[0]);
    // Each round processes every photo once; the fastest round is reported (the machine is
    // shared, slower rounds measure other jobs), all rounds are in the JSON.
    size_t photos = files.size(), faces = 0;
    double s = 1e30;
    std::vector<double> rounds;
    const std::vector<StepTime> steps0 = (*e)->StepTimes();
    json steps_json;
    for (int r = 0; r < repeat; ++r) {
      size_t round_faces = 0;
      const auto t0 = std::chrono::steady_clock::now();
      for (size_t k = 0; k < files.size(); ++k) {
        auto res = (*e)->ProcessFile(files[k]);
        if (res.ok()) round_faces += res->size();
        if (tn == tier_names[0] && r == 0) fk_counts[files[k]] = res.ok() ? static_cast<int>(res->size()) : -1;
      }
      rounds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      s = std::min(s, rounds.back());
      faces = round_faces;
    }
    detector_id = (*e)->detector();
    best_fk_seconds = std::min(best_fk_seconds, s);
    {  // Where the ProcessFile rounds' time went, step by step (FaceEngine::StepTimes), per photo.
      const std::vector<StepTime> steps1 = (*e)->StepTimes();
      const double per = 1.0 / (static_cast<double>(photos) * repeat);
      json sj = json::array();
      step_rows << "| " << tn;
      double wall_total = 0;
      for (size_t k = 0; k < steps1.size() && k < steps0.size(); ++k) {
        const double wall = (steps1[k].wall_ms - steps0[k].wall_ms) * per;
        const double cpu = (steps1[k].cpu_ms - steps0[k].cpu_ms) * per;
        const double items = static_cast<double>(steps1[k].items - steps0[k].items) * per;
        wall_total += wall;
        sj.push_back({{"step", steps1[k].step}, {"wall_ms_per_photo", wall}, {"cpu_ms_per_photo", cpu},
                      {"items_per_photo", items}});
        step_rows << " | " << Fmt(wall, 2) << " / " << Fmt(cpu, 2);
        if (tn == tier_names[0]) step_names.push_back(steps1[k].step);
      }
      step_rows << " | " << Fmt(wall_total, 1) << " |\n";
      steps_json = sj;
    }
    // Same rounds from decoded pixels (Process() on the images the peer is given).
    double sp = 1e30;
    size_t pixel_faces = 0;
    for (int r = 0; r < repeat; ++r) {
      size_t nf = 0;
      const auto t0 = std::chrono::steady_clock::now();
      for (const auto& im : decoded)
        if (auto res = (*e)->Process(im); res.ok()) nf += res->size();
      sp = std::min(sp, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      pixel_faces = nf;
    }
    best_fk_pixels_seconds = std::min(best_fk_pixels_seconds, sp);
    json j = {{"tier", tn},           {"description", (*e)->description()}, {"photos", photos},
              {"faces", faces},       {"seconds", s},                       {"photos_per_s", photos / s},
              {"faces_per_s", faces / s}, {"ms_per_photo", 1000 * s / photos}, {"round_seconds", rounds},
              {"from_pixels", {{"photos", decoded.size()}, {"faces", pixel_faces}, {"seconds", sp},
                               {"ms_per_photo", 1000 * sp / std::max<size_t>(decoded.size(), 1)}}},
              {"steps", steps_json}};
    // --template-latency N: one template of one face (the photo's largest) per Embed() call, the
    // tier's whole recognizer (fusion parts and flip TTA included), N timed calls per photo after
    // one warm-up: median per photo, then the median and worst over the photos.
    if (latency_runs > 0) {
      std::vector<double> per_photo;
      for (const auto& im : decoded) {
        auto res = (*e)->Process(im);
        if (!res.ok() || res->empty()) continue;
        const Face* big = LargestFace(*res);
        if (!(*e)->Embed(im, *big).ok()) continue;  // warm-up
        std::vector<double> ms;
        for (int k = 0; k < latency_runs; ++k) {
          const auto t0 = std::chrono::steady_clock::now();
          if (!(*e)->Embed(im, *big).ok()) break;
          ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
        if (ms.empty()) continue;
        std::sort(ms.begin(), ms.end());
        per_photo.push_back(ms[ms.size() / 2]);
      }
      if (!per_photo.empty()) {
        std::sort(per_photo.begin(), per_photo.end());
        const double med = per_photo[per_photo.size() / 2], worst = per_photo.back();
        j["template_latency_ms"] = {{"median", med}, {"worst_photo", worst}, {"photos", per_photo.size()},
                                    {"runs_per_photo", latency_runs}};
        std::fprintf(stderr, "eval speed: %-9s template latency (one face, Embed): median %.3f ms, worst photo %.3f ms\n",
                     tn.c_str(), med, worst);
        latency_rows << "| " << tn << " | " << (*e)->recognizer() << ((*e)->flip_tta() ? " + flip" : "") << " | "
                     << per_photo.size() << " | " << Fmt(med, 3) << " | " << Fmt(worst, 3) << " |\n";
      }
    }
    if (HasFlag(args, "--stages")) {
      auto st = StageTimes(c, files);
      if (!st.ok()) return Fail("eval", st.status());
      j["stage_cpu_ms_per_photo"] = *st;
      std::fprintf(stderr, "eval speed: %-9s CPU ms/photo: decode %.1f, detect %.1f, tiles %.1f, facemesh %.1f, "
                   "embed %.1f (total %.1f)\n", tn.c_str(), (*st)["decode_ms"].get<double>(),
                   (*st)["detect_ms"].get<double>(), (*st)["tiles_ms"].get<double>(),
                   (*st)["facemesh_ms"].get<double>(), (*st)["embed_ms"].get<double>(), (*st)["total_ms"].get<double>());
      stage_rows << "| " << tn << " | " << Fmt((*st)["decode_ms"].get<double>(), 1) << " | "
                 << Fmt((*st)["detect_ms"].get<double>(), 1) << " | " << Fmt((*st)["tiles_ms"].get<double>(), 1) << " | "
                 << Fmt((*st)["facemesh_ms"].get<double>(), 1) << " | " << Fmt((*st)["embed_ms"].get<double>(), 1)
                 << " | " << Fmt((*st)["total_ms"].get<double>(), 1) << " |\n";
    }
    results.push_back(j);
    std::fprintf(stderr, "eval speed: %-9s %zu photos, %zu faces in %.2f s: %.2f photos/s, %.2f faces/s; "
                 "from decoded pixels %.2f s (%.1f ms/photo, %zu faces)\n", tn.c_str(),
                 photos, faces, s, photos / s, faces / s, sp, 1000 * sp / std::max<size_t>(decoded.size(), 1), pixel_faces);
    rows << "| " << tn << " | " << (*e)->recognizer() << ((*e)->flip_tta() ? " + flip" : "")
         << " | " << photos << " | " << faces << " | " << Fmt(s, 2) << " | " << Fmt(photos / s, 2) << " | "
         << Fmt(faces / s, 2) << " | " << Fmt(1000 * s / photos, 1) << " | "
         << Fmt(1000 * sp / std::max<size_t>(decoded.size(), 1), 1) << " |\n";
  }
  // Peer: the Human library (TF.js wasm, Node) on the same photos, same number of rounds.
  const std::string peer = FlagValue(args, "--peer", "human");
  json peer_json;
  std::string peer_note;
  if (peer == "human") {
    auto pj = RunHumanPeer(files, base->models_dir, repeat, threads, base->max_image_side);
    if (pj.ok()) {
      peer_json = *pj;
      std::fprintf(stderr, "eval speed: Human %s: %d photos, %d faces in %.2f s: %.2f photos/s, %.2f faces/s\n",
                   peer_json.value("version", std::string()).c_str(), peer_json.value("photos", 0),
                   peer_json.value("faces", 0), peer_json.value("seconds", 0.0), peer_json.value("photos_per_s", 0.0),
                   peer_json.value("faces_per_s", 0.0));
    } else {
      peer_note = pj.status().ToString();
      std::fprintf(stderr, "eval speed: Human peer not measured: %s\n", peer_note.c_str());
    }
  } else if (peer != "none") {
    return Fail("eval", InvalidArgument("--peer '" + peer + "' is not one of human, none"));
  }
  // Faces found by both, photo by photo.
  int both_same = 0, fk_more = 0, peer_more = 0;
  if (peer_json.contains("per_photo"))
    for (const auto& p : peer_json["per_photo"]) {
      const auto it = fk_counts.find(p.value("file", std::string()));
      if (it == fk_counts.end()) continue;
      const int h = p.value("faces", 0);
      (it->second == h ? both_same : it->second > h ? fk_more : peer_more)++;
    }
  if (auto out = FlagValue(args, "--out"); !out.empty()) {
    fs::create_directories(out);
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    json j = {{"command", "facekit eval speed"}, {"files", files.size()}, {"repeat", repeat}, {"threads", threads},
              {"backend", base->backend}, {"machine", std::string(host) + ", " +
                                                         std::to_string(std::thread::hardware_concurrency()) +
                                                         " hardware threads"},
              {"results", results}};
    if (!peer_json.is_null()) {
      json pj = peer_json;
      pj.erase("per_photo");
      j["peer"] = pj;
      j["peer_per_photo_faces"] = {{"same", both_same}, {"facekit_more", fk_more}, {"human_more", peer_more}};
    } else if (!peer_note.empty()) {
      j["peer_error"] = peer_note;
    }
    // --device cuda: pipeline-gpu.* (the models on the GPU; decode and the rest on the CPU).
    const std::string dev_name = base->use_cuda ? "cuda:" + std::to_string(base->gpu_index) : base->backend;
    j["device"] = dev_name;
    const std::string stem = out + (base->use_cuda ? "/pipeline-gpu" : "/pipeline-cpu");
    std::ofstream(stem + ".json") << j.dump(1) << "\n";
    std::ofstream md(stem + ".md");
    md << "# End-to-end pipeline speed on " << (base->use_cuda ? "the GPU" : "CPU") << "\n\n"
       << "Produced by `facekit eval speed` on " << files.size() << " photo(s), best of " << repeat
       << " round(s): decode (ProcessFile: JPEG at the DCT scale the detector needs, a finer decode for small faces, max side "
       << base->max_image_side << ") -> " << detector_id << " (+ tiles) -> facemesh -> quality -> alignment -> embedding, one photo at a time, "
       << threads << " thread(s) per model run, backend `" << dev_name << "`. Machine: "
       << j["machine"].get<std::string>() << "; load average at the end " << LoadAverage()
       << " (above the hardware thread count = other work shared the CPUs: treat as a lower bound).\n\n"
       << "| tier | recognizer | photos | faces | seconds (best round) | photos/s | faces/s | ms/photo | ms/photo from decoded pixels |\n"
       << "|---|---|---|---|---|---|---|---|---|\n"
       << rows.str();
    if (!peer_json.is_null()) {  // the peer's row belongs to the same table
      const double ps = peer_json.value("seconds", 0.0);
      md << "| peer: Human " << peer_json.value("version", std::string()) << " (TF.js " << peer_json.value("tfjs", std::string())
         << " wasm, SIMD, " << peer_json.value("threads", 1) << " thread) | faceres | " << peer_json.value("photos", 0)
         << " | " << peer_json.value("faces", 0) << " | " << Fmt(ps, 2) << " | "
         << Fmt(peer_json.value("photos_per_s", 0.0), 2) << " | " << Fmt(peer_json.value("faces_per_s", 0.0), 2) << " | "
         << Fmt(1000 * ps / std::max(1, peer_json.value("photos", 1)), 1) << " | "
         << Fmt(1000 * ps / std::max(1, peer_json.value("photos", 1)), 1) << " (its only input) |\n";
    }
    if (!latency_rows.str().empty())
      md << "\nTemplate latency (`--template-latency " << latency_runs
         << "`): one `FaceEngine::Embed()` of each photo's largest face — alignment, the crop, the tier's recognizer "
            "(fusion parts and flip TTA included) — median of the timed calls per photo, then over the photos:\n\n"
         << "| tier | recognizer | photos | median ms | worst photo ms |\n|---|---|---|---|---|\n"
         << latency_rows.str();
    if (!step_rows.str().empty()) {
      md << "\nWhere the time goes (`FaceEngine::StepTimes()` over the timed ProcessFile rounds): ms per photo by step, "
            "wall / calling-thread CPU (wall includes waiting for the device; a CPU model's worker threads are not in "
            "the CPU figure; *_crop = the warps and resizes that make model inputs; mesh_* includes fr_detect's facemesh "
            "verification of unsure faces):\n\n| tier";
      for (const auto& n : step_names) md << " | " << n;
      md << " | wall total |\n|---";
      for (size_t k = 0; k <= step_names.size(); ++k) md << "|---";
      md << "|\n" << step_rows.str();
    }
    if (!stage_rows.str().empty())
      md << "\nCPU ms per photo by stage (`--stages`: process CPU time, one pass, by difference of engines that "
            "switch the stages on one at a time; detect = full view + keypoint pass; tiles = the small-face tile pass; "
            "embed = alignment + the tier's recognizer):\n\n"
         << "| tier | decode | detect | tiles | facemesh | embed | total |\n|---|---|---|---|---|---|---|\n"
         << stage_rows.str() << "\n";
    if (!peer_json.is_null()) {
      const double ps = peer_json.value("seconds", 0.0);
      md << "\nPeer: `tests/reference/human/human_speed.mjs` (Node, offline, models from models/human): Human's face "
            "detector (blazeface), facemesh and description (faceres) on, everything else off, maxDetected 100, "
            "rotation on; every photo in full (no frame caching); one warm-up call, then the same photos and rounds as "
            "facekit, best round, on the photos as facekit decoded them (PPM, max side 2048). Its time is `human.detect()` only: reading the PPMs ("
         << Fmt(peer_json.value("decode_seconds", 0.0), 2)
         << " s for all photos) is **not** counted for the peer, while facekit's rows include decoding.\n\n"
         << "**facekit / Human: " << Fmt(ps / std::max(best_fk_pixels_seconds, 1e-9), 1)
         << "x** photos/s on the same input (decoded pixels for both; fastest tier vs Human), **"
         << Fmt(ps / std::max(best_fk_seconds, 1e-9), 1)
         << "x** with facekit also decoding the JPEGs (ms/photo column; Human's PPM reading not counted). "
            "Faces found per photo: same count on " << both_same
         << " photos, facekit more on " << fk_more << ", Human more on " << peer_more << ".\n";
    } else {
      md << "\nPeer (Human library, TF.js wasm): not measured in this run"
         << (peer_note.empty() ? std::string(" (--peer none)") : ": " + peer_note) << ".\n";
    }
  }
  std::printf("%s\n", results.dump().c_str());
  return 0;
}

// Detector comparison: recall on deepface-13 (each labeled person's face found, checked by
// matching it with the person's other photos), faces found on LFW dev images and the sample
// group photos, and detection ms per photo. Writes detection.{md,json} with --out.
struct DetectEvalSet {
  std::string name;
  std::vector<std::string> files;
};

int EvalDetect(const Args& args) {
  if (HasFlag(args, "--help")) {
    std::fprintf(stderr,
                 "usage: facekit eval detect [--detector fr_detect,blazeface-back,...] [--deepface DIR] [--lfw DIR]\n"
                 "       [--samples DIR] [--limit N] [--threads N] [--repeat R] [--out docs/benchmarks]\n"
                 "  --deepface: ../shared/data/deepface-13 (identities.csv); --lfw: lfw-devtest/images;\n"
                 "  --samples: data/samples. Each set is optional; at least one is needed.\n");
    return 0;
  }
  // --detector takes a list here: the shared config parsing sees the args without it.
  Args cfg_args;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--detector") {
      ++i;
      continue;
    }
    cfg_args.push_back(args[i]);
  }
  auto base = ConfigFromArgs(cfg_args, /*tier_flag=*/false);
  if (!base.ok()) return Fail("eval detect", base.status());
  const int threads = IntFlag(args, "--threads", 1);
  base->num_threads = threads;
  const int repeat = std::max(1, IntFlag(args, "--repeat", 1));
  const int limit = IntFlag(args, "--limit", 0);
  std::vector<std::string> detectors;
  {
    std::stringstream ss(FlagValue(args, "--detector", "fr_detect,blazeface-back"));
    for (std::string d; std::getline(ss, d, ',');)
      if (!d.empty()) detectors.push_back(d);
  }
  const std::string deepface = FlagValue(args, "--deepface"), lfw = FlagValue(args, "--lfw"),
                    samples = FlagValue(args, "--samples");
  if (deepface.empty() && lfw.empty() && samples.empty()) {
    std::fprintf(stderr, "facekit eval detect: give at least one of --deepface DIR, --lfw DIR, --samples DIR (--help)\n");
    return 2;
  }
  // deepface-13 labels: file -> identity.
  std::map<std::string, std::string> identity;
  std::vector<std::string> deep_files;
  if (!deepface.empty()) {
    auto rows = ReadPairsCsv(deepface + "/identities.csv", "identities file (the deepface-13 folder?)");
    if (!rows.ok()) return Fail("eval detect", rows.status());
    for (auto& [file, id] : *rows) identity[file] = id;
    deep_files = ExpandInputs({deepface});
  }
  std::vector<std::string> lfw_files = lfw.empty() ? std::vector<std::string>{} : ExpandInputs({lfw});
  if (limit > 0 && static_cast<int>(lfw_files.size()) > limit) lfw_files.resize(limit);
  std::vector<std::string> sample_files = samples.empty() ? std::vector<std::string>{} : ExpandInputs({samples});
  // True face counts of the photos with known counts (looked at by hand; docs/pipeline.md).
  const std::map<std::string, int> kTrueCount = {
      {"sample1.jpg", 3}, {"sample2.jpg", 3}, {"sample3.jpg", 3}, {"sample4.jpg", 4},   {"sample5.jpg", 5},
      {"sample6.jpg", 4}, {"couple.jpg", 2},  {"img11_reflection.jpg", 1}, {"selfie-many-people.jpg", 7}};
  const bool quiet = HasFlag(args, "--quiet");

  json results = json::array();
  std::ostringstream rows, photo_rows;
  std::map<std::string, std::map<std::string, int>> counts_by_photo;  // photo -> detector -> faces
  for (const auto& det : detectors) {
    FaceConfig c = *base;
    c.detector.model = det;
    c.tier = Tier::kBalanced;  // fr_feature templates check that the labeled person was found
    c.embed = !deep_files.empty();
    auto e = FaceEngine::Create(c);
    if (!e.ok()) return Fail("eval detect", e.status());
    FaceConfig cd = c;
    cd.embed = false;
    cd.landmarks = false;
    auto ed = FaceEngine::Create(cd);  // detection only (speed, LFW)
    if (!ed.ok()) return Fail("eval detect", ed.status());
    std::fprintf(stderr, "eval detect: %s\n", (*e)->description().c_str());
    json r = {{"detector", det}, {"min_confidence", c.detector.min_confidence}, {"small_faces", c.detector.small_faces}};
    std::map<std::string, std::string> cells;

    // deepface-13: faces per photo, templates for the identity check.
    if (!deep_files.empty()) {
      std::map<std::string, std::vector<FaceTemplate>> templ;
      int with_face = 0, labeled = 0, labeled_with_face = 0, errors = 0;
      Progress progress(deep_files.size(), !quiet);
      for (const auto& file : deep_files) {
        auto faces = (*e)->ProcessFile(file);
        progress.Tick();
        const std::string name = fs::path(file).filename().string();
        if (!faces.ok()) {
          ++errors;
          std::fprintf(stderr, "eval detect: %s\n", faces.status().ToString().c_str());
          continue;
        }
        counts_by_photo[name][det] = static_cast<int>(faces->size());
        with_face += !faces->empty();
        if (identity.count(name)) {
          ++labeled;
          labeled_with_face += !faces->empty();
        }
        for (auto& f : *faces) templ[name].push_back(std::move(f.templ));
      }
      // The labeled person counts as found in a photo when one of its faces matches a face of
      // another photo of the same person at the FAR=1e-3 threshold of the recognizer.
      const float thr = (*e)->ThresholdForFar(1e-3);
      int person_found = 0;
      json missed = json::array();
      for (const auto& [name, id] : identity) {
        bool found = false;
        for (const auto& a : templ[name])
          for (const auto& [other, oid] : identity) {
            if (other == name || oid != id) continue;
            for (const auto& b : templ[other]) {
              auto s = CompareTemplates(a, b);
              if (s.ok() && *s >= thr) found = true;
            }
          }
        person_found += found;
        if (!found) missed.push_back(name);
      }
      r["deepface"] = {{"photos", deep_files.size()}, {"photos_with_face", with_face}, {"labeled", labeled},
                       {"labeled_with_face", labeled_with_face}, {"labeled_person_found", person_found},
                       {"person_missed", missed}, {"match_threshold", thr}, {"errors", errors}};
      cells["deepface"] = std::to_string(person_found) + " / " + std::to_string(labeled) + " (" +
                          std::to_string(labeled_with_face) + " with a face)";
    }
    // LFW dev images: images with at least one face (detection only).
    if (!lfw_files.empty()) {
      int with_face = 0, errors = 0;
      Progress progress(lfw_files.size(), !quiet);
      json none = json::array();
      for (const auto& file : lfw_files) {
        auto faces = (*ed)->ProcessFile(file);
        progress.Tick();
        if (!faces.ok()) {
          ++errors;
          continue;
        }
        if (!faces->empty()) ++with_face;
        else none.push_back(fs::path(file).filename().string());
      }
      r["lfw"] = {{"images", lfw_files.size()}, {"images_with_face", with_face}, {"no_face", none}, {"errors", errors}};
      cells["lfw"] = std::to_string(with_face) + " / " + std::to_string(lfw_files.size());
    }
    // Sample group photos.
    if (!sample_files.empty()) {
      int found_known = 0, true_known = 0;
      for (const auto& file : sample_files) {
        auto faces = (*e)->ProcessFile(file);
        const std::string name = fs::path(file).filename().string();
        if (!faces.ok()) continue;
        counts_by_photo[name][det] = static_cast<int>(faces->size());
        if (auto it = kTrueCount.find(name); it != kTrueCount.end()) {
          found_known += std::min<int>(faces->size(), it->second);
          true_known += it->second;
        }
      }
      r["samples"] = {{"photos", sample_files.size()}, {"faces_found_of_known", found_known}, {"known_faces", true_known}};
      cells["samples"] = std::to_string(found_known) + " / " + std::to_string(true_known);
    }
    // Speed: detection only (no mesh, no embedding) on decoded photos, best of R rounds.
    {
      std::vector<std::string> speed_files = !deep_files.empty() ? deep_files : !sample_files.empty() ? sample_files : lfw_files;
      std::vector<Image> imgs;
      for (const auto& f : speed_files) {
        DecodeOptions o;
        o.max_side = c.max_image_side;
        if (auto im = DecodeImageFile(f, o); im.ok()) imgs.push_back(std::move(im).value());
      }
      double best = 1e30;
      if (!imgs.empty()) (void)(*ed)->Process(imgs[0]);  // warm-up
      for (int rr = 0; rr < repeat && !imgs.empty(); ++rr) {
        const auto t0 = std::chrono::steady_clock::now();
        for (const auto& im : imgs) (void)(*ed)->Process(im);
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      const double ms = imgs.empty() ? 0.0 : 1000 * best / imgs.size();
      r["ms_per_photo"] = ms;
      r["speed_photos"] = imgs.size();
      cells["ms"] = Fmt(ms, 1);
    }
    results.push_back(r);
    std::fprintf(stderr, "eval detect: %-15s %s\n", det.c_str(), r.dump().c_str());
    rows << "| " << det << " | " << (cells.count("deepface") ? cells["deepface"] : "-") << " | "
         << (cells.count("lfw") ? cells["lfw"] : "-") << " | " << (cells.count("samples") ? cells["samples"] : "-")
         << " | " << cells["ms"] << " |\n";
  }
  // Per-photo counts of the photos with a known number of faces.
  for (const auto& [name, n] : kTrueCount) {
    if (!counts_by_photo.count(name)) continue;
    photo_rows << "| " << name << " | " << n;
    for (const auto& det : detectors) {
      const auto& m = counts_by_photo[name];
      photo_rows << " | " << (m.count(det) ? std::to_string(m.at(det)) : "-");
    }
    photo_rows << " |\n";
  }
  // Totals over those photos: faces found (capped at the true count) and extra detections.
  {
    int truth = 0;
    for (const auto& [name, n] : kTrueCount)
      if (counts_by_photo.count(name)) truth += n;
    photo_rows << "| **all (found / extra)** | " << truth;
    for (size_t k = 0; k < detectors.size(); ++k) {
      int found = 0, extra = 0;
      for (const auto& [name, n] : kTrueCount) {
        if (!counts_by_photo.count(name) || !counts_by_photo[name].count(detectors[k])) continue;
        const int c = counts_by_photo[name][detectors[k]];
        found += std::min(c, n);
        extra += std::max(0, c - n);
      }
      photo_rows << " | " << found << " / " << extra;
      results[k]["known_count_photos"] = {{"true_faces", truth}, {"found", found}, {"extra", extra}};
    }
    photo_rows << " |\n";
  }
  if (auto out = FlagValue(args, "--out"); !out.empty()) {
    fs::create_directories(out);
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    const std::string machine = std::string(host) + ", " + std::to_string(std::thread::hardware_concurrency()) +
                                " hardware threads";
    json j = {{"command", "facekit eval detect"}, {"threads", threads}, {"repeat", repeat}, {"machine", machine},
              {"deepface", deepface}, {"lfw", lfw}, {"samples", samples}, {"results", results},
              {"counts_by_photo", counts_by_photo}};
    std::ofstream(out + "/detection.json") << j.dump(1) << "\n";
    std::ofstream md(out + "/detection.md");
    md << "# Face detectors compared\n\n"
       << "Produced by `facekit eval detect` (src/tools/cmd_face.cpp). Each detector at min confidence "
       << base->detector.min_confidence << ", weighted NMS at IoU " << base->detector.iou_threshold << ", tiles for small faces "
       << (base->detector.small_faces ? "on" : "off") << ", facemesh landmarks. Machine: " << machine << ".\n\n"
       << "- **deepface-13**: labeled photos whose labeled person was found: a face of the photo matches a face of "
          "another photo of the same person (fr_feature, threshold at FAR 1e-3 of the LFW calibration); in brackets "
          "the labeled photos with at least one face.\n"
       << "- **LFW dev**: images with at least one face (detection only).\n"
       << "- **samples**: faces found of the faces counted by hand in the photos with a known count (data/samples "
          "sample1-6: 22 faces; capped at the true count per photo, so extra detections do not count).\n"
       << "- **ms/photo**: detection only (letterbox + tiles + NMS, no mesh, no embedding) on the decoded photos "
          "(max side " << base->max_image_side << ") of the first set given, " << threads
       << " thread(s), best of " << repeat << " round(s).\n\n"
       << "| detector | deepface-13 labeled person found | LFW dev images with a face | samples faces | ms/photo |\n"
       << "|---|---|---|---|---|\n"
       << rows.str() << "\n"
       << "Faces found on the photos with a known number of faces:\n\n| photo | faces |";
    for (const auto& det : detectors) md << " " << det << " |";
    md << "\n|---|---|";
    for (size_t k = 0; k < detectors.size(); ++k) md << "---|";
    md << "\n" << photo_rows.str();
  }
  std::printf("%s\n", results.dump().c_str());
  return 0;
}

int CmdEval(const Args& args) {
  if (args.empty() || HasFlag(args, "--help")) {
    std::fprintf(stderr, "usage: facekit eval lfw --images DIR --pairs FILE [--tier T|all] [--out DIR]\n"
                         "       facekit eval speed --images DIR [--tier T|all] [--out DIR]\n"
                         "       facekit eval detect [--detector A,B] [--deepface DIR] [--lfw DIR] [--samples DIR]\n"
                         "       facekit eval attributes --deepface DIR [--labels FILE] [--lfw DIR] [--out DIR]\n");
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "lfw") return EvalLfw(Args(args.begin() + 1, args.end()));
  if (args[0] == "speed") return EvalSpeed(Args(args.begin() + 1, args.end()));
  if (args[0] == "detect") return EvalDetect(Args(args.begin() + 1, args.end()));
  if (args[0] == "attributes") return EvalAttributes(Args(args.begin() + 1, args.end()));
  std::fprintf(stderr, "facekit eval: unknown evaluation '%s' (lfw, speed, detect, attributes)\n", args[0].c_str());
  return 2;
}

}  // namespace fk::tools
