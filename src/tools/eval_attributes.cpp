// facekit eval attributes: what the face attributes (age/gender, emotion, liveness) are worth on
// labelled photos, next to the reference implementation (Human on TF.js) on the same photos, and
// what each costs per face.
//
//   facekit eval attributes --deepface ../shared/data/deepface-13 [--labels bench/labels/deepface-13-gender.csv]
//        [--lfw ../shared/data/lfw-devtest/images] [--limit N] [--peer human|none] [--threads N] [--out DIR]
//
// Measured per photo on its largest face (the labelled person): gender accuracy against the
// identity's gender (labels file: identity,gender), age spread within each identity (no ages
// are labelled), and, every photo being a live capture, the share of faces the liveness scores
// accept at 0.5 (1 - that share is the bona fide rejection rate; spoofs are not available here).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/cpu_time.h"
#include "facekit/face.h"
#include "tools/commands.h"

namespace fk::tools {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct Labelled {
  std::string file;      // path
  std::string identity;  // person
  std::string gender;    // "female" / "male"
};

// One face's attributes as either side reports them (facekit or the peer).
struct Seen {
  bool face = false;
  float age = -1, male = -1, real = -1, live = -1;
  std::string gender, emotion;
};

// The labelled photos of deepface-13 with a gender for their identity.
Result<std::vector<Labelled>> ReadLabelled(const std::string& dir, const std::string& labels_path) {
  FK_ASSIGN_OR_RETURN(auto ids, ReadPairsCsv(dir + "/identities.csv", "identities file (the deepface-13 folder?)"));
  FK_ASSIGN_OR_RETURN(auto genders, ReadPairsCsv(labels_path, "gender labels"));
  std::map<std::string, std::string> g(genders.begin(), genders.end());
  std::vector<Labelled> out;
  for (const auto& [file, id] : ids) {
    auto it = g.find(id);
    if (it == g.end()) return InvalidArgument(labels_path + " has no gender for identity '" + id + "'");
    if (it->second != "female" && it->second != "male")
      return InvalidArgument(labels_path + ": gender of '" + id + "' must be female or male");
    out.push_back({dir + "/" + file, id, it->second});
  }
  return out;
}

int Largest(const std::vector<Face>& faces) {
  const Face* f = LargestFace(faces);
  return f ? static_cast<int>(f - faces.data()) : -1;
}

Seen FromFace(const Face& f) {
  const FaceAttributes& a = f.attributes;
  Seen s;
  s.face = true;
  s.age = a.age, s.male = a.male, s.real = a.real, s.live = a.live, s.gender = a.gender;
  if (const int e = a.top_emotion(); e >= 0) s.emotion = EmotionName(e);
  return s;
}

// Human (tests/reference/human/human_attributes.mjs) on the photos: the largest face of each.
// Human gets facekit's decode of each photo (EXIF applied, max side as the engine's) as a PPM, so
// both sides see the same pixels.
struct PeerRun {
  std::vector<Seen> seen;  // per photo
  double seconds = 0;      // Human's detect() time over all photos (decode excluded)
};

Result<PeerRun> RunHuman(const std::vector<std::string>& files, const std::string& models_dir, int max_side,
                         int threads) {
  FK_ASSIGN_OR_RETURN(HumanPeerOutput peer,
                      RunHumanScript("human_attributes.mjs",
                                     "--models-dir '" + fs::absolute(models_dir + "/human").string() + "' --threads " +
                                         std::to_string(std::max(1, threads)),
                                     files, max_side, /*skip_undecodable=*/false));
  const std::string& out = peer.stdout_text;
  const json j = json::parse(out, nullptr, false);
  if (j.is_discarded() || !j.contains("per_photo") || j["per_photo"].size() != files.size())
    return DataLoss("Human peer printed no usable JSON: " + out.substr(0, 200));
  PeerRun run;
  run.seconds = j.value("seconds", 0.0);
  std::vector<Seen>& seen = run.seen;
  seen.resize(files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    const json& faces = j["per_photo"][i]["faces"];
    const json* best = nullptr;
    double area = -1;
    for (const json& f : faces) {
      const double a = f["box"][2].get<double>() * f["box"][3].get<double>();
      if (a > area) area = a, best = &f;
    }
    if (!best) continue;
    Seen& s = seen[i];
    s.face = true;
    s.age = best->value("age", -1.f);
    s.gender = best->value("gender", std::string());
    s.real = best->value("real", -1.f);
    s.live = best->value("live", -1.f);
    if (best->contains("emotion") && !(*best)["emotion"].empty()) s.emotion = (*best)["emotion"][0].value("emotion", "");
  }
  return run;
}

std::string Pct(int num, int den) {
  char b[48];
  std::snprintf(b, sizeof b, "%.1f%% (%d/%d)", den ? 100.0 * num / den : 0.0, num, den);
  return b;
}

std::string Fix(double v, int digits) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

// Scores of one side on the labelled photos.
json Score(const std::vector<Labelled>& photos, const std::vector<Seen>& seen) {
  int faces = 0, correct = 0, female = 0, female_ok = 0, male = 0, male_ok = 0, real_ok = 0, live_ok = 0;
  std::map<std::string, std::vector<float>> ages;
  std::map<std::string, int> emotions;
  for (size_t i = 0; i < photos.size(); ++i) {
    const Seen& s = seen[i];
    if (!s.face) continue;
    ++faces;
    const bool ok = s.gender == photos[i].gender;
    correct += ok;
    (photos[i].gender == "female" ? female : male)++;
    (photos[i].gender == "female" ? female_ok : male_ok) += ok;
    real_ok += s.real >= 0.5f;
    live_ok += s.live >= 0.5f;
    if (s.age >= 0) ages[photos[i].identity].push_back(s.age);
    if (!s.emotion.empty()) emotions[s.emotion]++;
  }
  // Age consistency: mean absolute deviation from the identity's median age (photos of one
  // person taken years apart: a floor, not an error).
  double dev = 0;
  int nd = 0;
  json per_identity = json::object();
  for (auto& [id, v] : ages) {
    std::vector<float> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    const float med = sorted[sorted.size() / 2];
    for (float a : v) dev += std::fabs(a - med), ++nd;
    per_identity[id] = {{"photos", v.size()}, {"median_age", med}, {"min", sorted.front()}, {"max", sorted.back()}};
  }
  return {{"photos", photos.size()},
          {"faces", faces},
          {"gender_correct", correct},
          {"gender_accuracy", faces ? static_cast<double>(correct) / faces : 0.0},
          {"female", female},
          {"female_correct", female_ok},
          {"male", male},
          {"male_correct", male_ok},
          {"age_mean_abs_dev_from_identity_median", nd ? dev / nd : 0.0},
          {"age_by_identity", per_identity},
          {"real_ge_0_5", real_ok},
          {"live_ge_0_5", live_ok},
          {"top_emotions", emotions}};
}

}  // namespace

int EvalAttributes(const Args& args) {
  if (HasFlag(args, "--help") || FlagValue(args, "--deepface").empty()) {
    std::fprintf(stderr,
                 "usage: facekit eval attributes --deepface DIR [--labels FILE] [--lfw DIR] [--limit N]\n"
                 "       [--peer human|none] [--threads N (default 1, Human gets as many)] [--detector D] [--models DIR]\n"
                 "       [--out DIR] [--quiet]\n"
                 "  --deepface: ../shared/data/deepface-13 (identities.csv); --labels: identity,gender CSV\n"
                 "  (default bench/labels/deepface-13-gender.csv); --lfw: lfw-devtest/images (liveness on\n"
                 "  live captures only; --limit caps its photos).\n");
    return HasFlag(args, "--help") ? 0 : 2;
  }
  auto fail = [](const Status& s) {
    std::fprintf(stderr, "facekit eval attributes: %s\n", s.ToString().c_str());
    return 1;
  };
  const std::string deepface = FlagValue(args, "--deepface");
  const std::string labels = FlagValue(args, "--labels", "bench/labels/deepface-13-gender.csv");
  const std::string peer = FlagValue(args, "--peer", "human");
  if (peer != "human" && peer != "none") {
    std::fprintf(stderr, "facekit eval attributes: --peer '%s' is not human or none\n", peer.c_str());
    return 2;
  }
  int threads = 0, limit = 0;
  try {
    threads = std::stoi(FlagValue(args, "--threads", "1"));
    limit = std::stoi(FlagValue(args, "--limit", "0"));
  } catch (...) {
    std::fprintf(stderr, "facekit eval attributes: --threads / --limit need a number\n");
    return 2;
  }
  auto photos = ReadLabelled(deepface, labels);
  if (!photos.ok()) return fail(photos.status());

  FaceConfig cfg;
  cfg.models_dir = FlagValue(args, "--models", ModelsDir());
  cfg.embed = false;
  cfg.calibration = "none";
  cfg.num_threads = threads;
  cfg.attributes = AttributeConfig{true, true, true};
  cfg.detector.model = FlagValue(args, "--detector", cfg.detector.model);
  auto engine = FaceEngine::Create(cfg);
  if (!engine.ok()) return fail(engine.status());

  // facekit on the labelled photos.
  std::vector<Seen> ours(photos->size());
  std::vector<std::string> files;
  const bool quiet = HasFlag(args, "--quiet");
  Progress progress(photos->size(), !quiet);
  for (size_t i = 0; i < photos->size(); ++i) {
    const Labelled& p = (*photos)[i];
    files.push_back(p.file);
    auto faces = (*engine)->ProcessFile(p.file);
    if (!faces.ok()) return fail(faces.status());
    if (const int k = Largest(*faces); k >= 0) ours[i] = FromFace((*faces)[k]);
    progress.Tick();
  }
  json results = {{"facekit", Score(*photos, ours)}};

  // The peer on the same files, and how often the two agree.
  json agreement;
  double human_seconds = 0;
  if (peer == "human") {
    auto run = RunHuman(files, cfg.models_dir, cfg.max_image_side, threads);
    if (!run.ok()) return fail(run.status());
    human_seconds = run->seconds;
    const std::vector<Seen>* theirs = &run->seen;
    results["human"] = Score(*photos, *theirs);
    int both = 0, gender_same = 0, emotion_same = 0;
    double age_diff = 0;
    for (size_t i = 0; i < ours.size(); ++i) {
      if (!ours[i].face || !(*theirs)[i].face) continue;
      ++both;
      gender_same += ours[i].gender == (*theirs)[i].gender;
      emotion_same += ours[i].emotion == (*theirs)[i].emotion;
      age_diff += std::fabs(ours[i].age - (*theirs)[i].age);
    }
    agreement = {{"photos_with_a_face_on_both", both},
                 {"same_gender", gender_same},
                 {"same_top_emotion", emotion_same},
                 {"age_mean_abs_diff", both ? age_diff / both : 0.0}};
    results["agreement"] = agreement;
  }

  // Liveness on more live captures: LFW (largest face per image).
  json lfw_json;
  if (const std::string lfw = FlagValue(args, "--lfw"); !lfw.empty()) {
    std::vector<std::string> imgs;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(lfw, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      if (it->is_regular_file(ec) && it->path().extension() == ".jpg") imgs.push_back(it->path().string());
    if (imgs.empty()) return fail(NotFound("no .jpg files under " + lfw));
    std::sort(imgs.begin(), imgs.end());
    if (limit > 0 && static_cast<int>(imgs.size()) > limit) imgs.resize(limit);
    int faces = 0, real_ok = 0, live_ok = 0, both_ok = 0;
    Progress lfw_progress(imgs.size(), !quiet);
    for (size_t i = 0; i < imgs.size(); ++i) {
      auto r = (*engine)->ProcessFile(imgs[i]);
      if (!r.ok()) return fail(r.status());
      lfw_progress.Tick();
      const int k = Largest(*r);
      if (k < 0) continue;
      const FaceAttributes& a = (*r)[k].attributes;
      ++faces;
      real_ok += a.real >= 0.5f;
      live_ok += a.live >= 0.5f;
      both_ok += a.real >= 0.5f && a.live >= 0.5f;
    }
    lfw_json = {{"images", imgs.size()}, {"faces", faces}, {"real_ge_0_5", real_ok}, {"live_ge_0_5", live_ok},
                {"both_ge_0_5", both_ok}};
    results["lfw"] = lfw_json;
  }

  // Cost per face of each attribute (process CPU time, decoded photos, by difference with an
  // engine without attributes).
  std::vector<Image> decoded;
  int faces_total = 0;
  for (const auto& f : files) {
    DecodeOptions o;
    o.max_side = cfg.max_image_side;
    auto img = DecodeImageFile(f, o);
    if (img.ok()) decoded.push_back(std::move(img).value());
  }
  json cost = json::object();
  double base_ms = 0, all_wall_s = 0;
  const std::pair<const char*, AttributeConfig> kinds[] = {{"none", AttributeConfig{}},
                                                           {"age_gender", AttributeConfig{true, false, false}},
                                                           {"emotion", AttributeConfig{false, true, false}},
                                                           {"liveness", AttributeConfig{false, false, true}},
                                                           {"all", AttributeConfig{true, true, true}}};
  for (const auto& [name, a] : kinds) {
    FaceConfig c = cfg;
    c.attributes = a;
    auto e = FaceEngine::Create(c);
    if (!e.ok()) return fail(e.status());
    (void)(*e)->Process(decoded[0]);  // warm-up
    const double t0 = ProcessCpuMs();
    const auto w0 = std::chrono::steady_clock::now();
    int faces = 0;
    for (const auto& img : decoded) {
      auto r = (*e)->Process(img);
      if (!r.ok()) return fail(r.status());
      faces += static_cast<int>(r->size());
    }
    const double ms = ProcessCpuMs() - t0;
    if (std::string(name) == "all")
      all_wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
    if (std::string(name) == "none") base_ms = ms, faces_total = faces;
    cost[name] = {{"cpu_ms_per_face", faces ? ms / faces : 0.0},
                  {"extra_cpu_ms_per_face", faces ? (ms - base_ms) / faces : 0.0}};
  }
  results["cost"] = cost;
  if (human_seconds > 0)
    results["speed_vs_human"] = {{"facekit_seconds", all_wall_s}, {"human_seconds", human_seconds},
                                 {"photos", decoded.size()}, {"ratio", all_wall_s > 0 ? human_seconds / all_wall_s : 0.0}};

  // Report.
  const json& f = results["facekit"];
  std::ostringstream md;
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  const std::string machine = std::string(host) + ", " + CpuModel() + ", " +
                              std::to_string(std::thread::hardware_concurrency()) + " hardware threads";
  md << "# Face attributes\n\nProduced by `facekit eval attributes --deepface " << deepface << " --labels " << labels
     << (lfw_json.is_null() ? "" : " --lfw " + FlagValue(args, "--lfw")) << (limit > 0 ? " --limit " + std::to_string(limit) : "")
     << " --peer " << peer << " --threads " << threads
     << (FlagValue(args, "--detector").empty() ? "" : " --detector " + FlagValue(args, "--detector")) << "`. Machine: " << machine << "; load average at the end "
     << LoadAverage() << ".\n\n"
     << "Every photo's largest face (the labelled person). facekit: " << (*engine)->detector() << " + facemesh, attributes on Human's "
        "crop; Human 3.3.6: blazeface + facemesh, its own crop (TF.js wasm). Both get the same pixels (facekit's "
        "decode, EXIF applied, handed to Human as PPM) and use the same attribute models (human-models 3.0.4). Gender labels: the identity's gender ("
     << labels << ").\n\n"
     << "| | facekit | Human |\n|---|---|---|\n";
  auto cell = [&](const char* side, const std::function<std::string(const json&)>& fn) {
    return results.contains(side) ? fn(results[side]) : std::string("-");
  };
  auto row = [&](const char* label, const std::function<std::string(const json&)>& fn) {
    md << "| " << label << " | " << cell("facekit", fn) << " | " << cell("human", fn) << " |\n";
  };
  row("photos with a face", [](const json& s) { return Pct(s["faces"].get<int>(), s["photos"].get<int>()); });
  row("gender accuracy", [](const json& s) { return Pct(s["gender_correct"].get<int>(), s["faces"].get<int>()); });
  row("  women", [](const json& s) { return Pct(s["female_correct"].get<int>(), s["female"].get<int>()); });
  row("  men", [](const json& s) { return Pct(s["male_correct"].get<int>(), s["male"].get<int>()); });
  row("age: mean abs. deviation from the person's median (years)",
      [](const json& s) { return Fix(s["age_mean_abs_dev_from_identity_median"].get<double>(), 1); });
  row("antispoof real >= 0.5 (live captures)", [](const json& s) { return Pct(s["real_ge_0_5"].get<int>(), s["faces"].get<int>()); });
  row("liveness live >= 0.5 (live captures)", [](const json& s) { return Pct(s["live_ge_0_5"].get<int>(), s["faces"].get<int>()); });
  if (!agreement.is_null()) {
    const int both = agreement["photos_with_a_face_on_both"];
    md << "\nfacekit vs Human on the same photos (" << both << " with a face on both): same gender "
       << Pct(agreement["same_gender"].get<int>(), both) << ", same top emotion " << Pct(agreement["same_top_emotion"].get<int>(), both)
       << ", age differs by " << Fix(agreement["age_mean_abs_diff"].get<double>(), 1) << " years on average.\n";
  }
  md << "\nAge by person (facekit; median, range over the photos):\n\n| person | photos | median | range |\n|---|---|---|---|\n";
  for (auto& [id, v] : f["age_by_identity"].items())
    md << "| " << id << " | " << v["photos"].get<int>() << " | " << Fix(v["median_age"].get<double>(), 1) << " | "
       << Fix(v["min"].get<double>(), 1) << "-" << Fix(v["max"].get<double>(), 1) << " |\n";
  md << "\nTop emotion (facekit): ";
  for (auto& [e, n] : f["top_emotions"].items()) md << e << " " << n.get<int>() << ", ";
  md << "\n";
  if (!lfw_json.is_null()) {
    const int faces = lfw_json["faces"];
    md << "\nLive captures of LFW (" << lfw_json["images"].get<size_t>() << " images, " << faces
       << " with a face): antispoof real >= 0.5 on " << Pct(lfw_json["real_ge_0_5"].get<int>(), faces) << ", liveness live >= 0.5 on "
       << Pct(lfw_json["live_ge_0_5"].get<int>(), faces) << ", both on " << Pct(lfw_json["both_ge_0_5"].get<int>(), faces)
       << ". No spoof photos are available here, so the attack side (APCER) is not measured.\n";
  }
  md << "\nCost (process CPU ms per face, " << threads << " model thread(s), " << decoded.size() << " decoded photos, "
     << faces_total << " faces; pipeline without attributes = detection + facemesh):\n\n"
     << "| attributes | ms/face | extra ms/face |\n|---|---|---|\n";
  for (const auto& [name, a] : kinds)
    md << "| " << name << " | " << Fix(cost[name]["cpu_ms_per_face"].get<double>(), 1) << " | "
       << Fix(cost[name]["extra_cpu_ms_per_face"].get<double>(), 1) << " |\n";
  if (results.contains("speed_vs_human")) {
    const json& v = results["speed_vs_human"];
    md << "\nSpeed with every attribute on, same decoded photos, " << std::max(1, threads)
       << " thread(s) each, decoding excluded, after a warm-up: facekit " << Fix(v["facekit_seconds"].get<double>(), 2)
       << " s, Human " << Fix(v["human_seconds"].get<double>(), 2) << " s for " << v["photos"].get<size_t>()
       << " photos: facekit **" << Fix(v["ratio"].get<double>(), 1)
       << "x** faster (facekit's pipeline also runs the tiles for small faces; Human runs blazeface without them).\n";
  }
  std::printf("%s", md.str().c_str());
  if (auto out = FlagValue(args, "--out"); !out.empty()) {
    fs::create_directories(out);
    std::ofstream(out + "/attributes.md") << md.str();
    json j = {{"command", "facekit eval attributes"}, {"machine", machine}, {"deepface", deepface},
              {"labels", labels}, {"threads", threads}, {"results", results}};
    std::ofstream(out + "/attributes.json") << j.dump(1) << "\n";
    std::fprintf(stderr, "wrote %s/attributes.md and attributes.json\n", out.c_str());
  }
  return 0;
}

}  // namespace fk::tools
