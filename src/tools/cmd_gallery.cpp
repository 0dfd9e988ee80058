// facekit gallery | enroll | identify | subject — see docs/gallery.md.
//
// The database: --db PATH (default $FK_GALLERY_DB, else ./facekit.db).
// Templates until the face pipeline exists: --templates FILE, either a .npy
// float32 array [N, D] or [D], or a JSON file:
//   {"model_id": "faceres", "model_version": "v1",          (optional; checked)
//    "templates": [[0.1, ...], ...]}                      (or a bare array of arrays)
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "common/npy.h"
#include "facekit/device.h"
#include "facekit/gallery.h"
#ifdef FK_PIPELINE_ENABLED
#include "facekit/face.h"
#endif
#include "tools/commands.h"

namespace fk::tools {
namespace {

using nlohmann::json;

const std::vector<std::string> kValueFlags = {"--db",    "--gallery", "--subject", "--templates", "--template",
                                              "--top",   "--model",   "--model-version", "--dim", "--name",
                                              "--display-name", "--metadata", "--precision", "--mode", "--threads",
                                              "--device", "--gpu-precision"};

std::string DbPath(const Args& args) {
  std::string def = "facekit.db";
  if (const char* e = std::getenv("FK_GALLERY_DB"); e && *e) def = e;
  return FlagValue(args, "--db", def);
}

int Fail(const char* cmd, const Status& s) {
  std::fprintf(stderr, "facekit %s: %s\n", cmd, s.ToString().c_str());
  return 1;
}

int Usage(const char* cmd, const char* text) {
  std::fprintf(stderr, "usage: facekit %s\n", text);
  (void)cmd;
  return 2;
}

struct LoadedTemplates {
  std::vector<std::vector<float>> rows;
  std::string model_id, model_version;  // from a JSON file, may be empty
};

Result<LoadedTemplates> LoadTemplates(const std::string& path) {
  LoadedTemplates out;
  if (path.size() >= 4 && path.substr(path.size() - 4) == ".npy") {
    FK_ASSIGN_OR_RETURN(Tensor t, LoadNpy(path));
    if (t.dtype() != DType::kFloat32)
      return InvalidArgument("templates file '" + path + "' must hold float32 values, got " + DTypeName(t.dtype()));
    const Shape& s = t.shape();
    if (s.rank() != 1 && s.rank() != 2)
      return InvalidArgument("templates file '" + path + "' must be [N, D] or [D], got " + s.ToString());
    const int64_t n = s.rank() == 1 ? 1 : s[0], d = s.rank() == 1 ? s[0] : s[1];
    const float* p = t.data<float>();
    for (int64_t i = 0; i < n; ++i) out.rows.emplace_back(p + i * d, p + (i + 1) * d);
    return out;
  }
  std::ifstream f(path);
  if (!f) return NotFound("cannot open templates file '" + path + "'");
  json j = json::parse(f, nullptr, false);
  if (j.is_discarded()) return InvalidArgument("templates file '" + path + "' is neither .npy nor valid JSON");
  json arr = j;
  if (j.is_object()) {
    out.model_id = j.value("model_id", "");
    out.model_version = j.value("model_version", "");
    arr = j.value("templates", json());
  }
  if (!arr.is_array() || arr.empty())
    return InvalidArgument("templates file '" + path + "': expected {\"templates\": [[...], ...]} or [[...], ...]");
  if (arr[0].is_number()) arr = json::array({arr});
  for (const auto& row : arr) {
    if (!row.is_array()) return InvalidArgument("templates file '" + path + "': each template must be an array");
    std::vector<float> v;
    for (const auto& x : row) {
      if (!x.is_number()) return InvalidArgument("templates file '" + path + "': non-numeric value");
      v.push_back(x.get<float>());
    }
    out.rows.push_back(std::move(v));
  }
  return out;
}

json GalleryJson(const GalleryInfo& g) {
  return {{"name", g.name},           {"model_id", g.model_id},         {"model_version", g.model_version},
          {"dim", g.dim},             {"subjects", g.num_subjects},     {"templates", g.num_templates},
          {"created_at", g.created_at}};
}

json SubjectJson(const SubjectInfo& s) {
  json meta = json::parse(s.metadata_json, nullptr, false);
  return {{"external_id", s.external_id}, {"display_name", s.display_name}, {"metadata", meta},
          {"templates", s.num_templates}, {"created_at", s.created_at}};
}

// The gallery's own model unless --model/--model-version say otherwise (then the
// gallery refuses a mismatch).

// Templates of the largest face in each image, made by the face pipeline with the recognizer
// the gallery holds (its model id), so that enrolment and search never mix models.
Result<LoadedTemplates> TemplatesFromImages(const std::vector<std::string>& images,
                                            const GalleryInfo& info, const Args& args,
                                            std::vector<float>* qualities) {
#ifdef FK_PIPELINE_ENABLED
  FaceConfig config;
  config.recognizer = info.model_id;
  config.flip_tta = HasFlag(args, "--flip");
  if (std::string th = FlagValue(args, "--threads"); !th.empty()) config.num_threads = std::atoi(th.c_str());
  auto engine = FaceEngine::Create(config);
  if (!engine.ok())
    return engine.status().WithContext("gallery '" + info.name + "' holds model '" + info.model_id +
                                       "' (create it with --model mobileface|fr_feature|faceres|faceapi_resnet "
                                       "to enrol from photos)");
  LoadedTemplates out;
  for (const std::string& path : images) {
    FK_ASSIGN_OR_RETURN(std::vector<Face> faces, (*engine)->ProcessFile(path));
    if (faces.empty()) return NotFound("no face found in '" + path + "'");
    const Face* best = LargestFace(faces);
    if (best->templ.data.empty()) return Internal("no template computed for '" + path + "'");
    out.rows.push_back(best->templ.data);
    out.model_id = best->templ.model;
    out.model_version = std::to_string(best->templ.model_version);
    if (qualities) qualities->push_back(best->quality.score);
  }
  return out;
#else
  return Unsupported("this facekit was built without the face pipeline; use --templates FILE");
#endif
}

ModelTag ModelFor(const Gallery& g, const Args& args, const LoadedTemplates* t = nullptr) {
  GalleryInfo info = g.info();
  ModelTag m{info.model_id, info.model_version};
  if (t && !t->model_id.empty()) m = {t->model_id, t->model_version};
  m.model_id = FlagValue(args, "--model", m.model_id);
  m.model_version = FlagValue(args, "--model-version", m.model_version);
  return m;
}

Result<IndexOptions> IndexOptionsFrom(const Args& args) {
  IndexOptions o;
  const std::string p = FlagValue(args, "--precision", "fp32");
  if (p == "fp32") o.precision = VectorPrecision::kFloat32;
  else if (p == "fp16") o.precision = VectorPrecision::kFloat16;
  else if (p == "int8") o.precision = VectorPrecision::kInt8;
  else return InvalidArgument("--precision must be fp32, fp16 or int8, got '" + p + "'");
  const std::string m = FlagValue(args, "--mode", "auto");
  if (m == "auto") o.mode = SearchMode::kAuto;
  else if (m == "exact") o.mode = SearchMode::kExact;
  else if (m == "approx") o.mode = SearchMode::kApprox;
  else return InvalidArgument("--mode must be auto, exact or approx, got '" + m + "'");
  // Search device (docs/gallery.md "GPU exact search"): --device cuda[:N] keeps a copy of the
  // templates on that GPU and searches there; --gpu-precision auto|fp16|fp32|tf32;
  // --cpu-fallback searches on the CPU (with a warning) when the GPU cannot be used.
  if (const std::string d = FlagValue(args, "--device"); !d.empty()) {
    FK_ASSIGN_OR_RETURN(DeviceConfig dc, ParseDeviceFlag(d));
    o.device.use_cuda = dc.use_cuda;
    o.device.gpu_index = dc.gpu_index;
    if (dc.use_cuda && o.mode == SearchMode::kAuto) o.mode = SearchMode::kExact;
  }
  o.device.precision = FlagValue(args, "--gpu-precision", "auto");
  o.device.allow_cpu_fallback = HasFlag(args, "--cpu-fallback");
  return o;
}

}  // namespace

int CmdGallery(const Args& args) {
  const char* kUse =
      "gallery create NAME --model ID [--model-version V] --dim D | list | delete NAME |\n"
      "       export NAME FILE | import FILE [--name NEW] | backup DEST | check   [--db PATH] [--json]";
  auto pos = Positional(args, kValueFlags);
  if (pos.empty() || HasFlag(args, "--help")) return Usage("gallery", kUse);
  const bool as_json = HasFlag(args, "--json");
  const std::string& verb = pos[0];
  auto dbr = GalleryDb::Open(DbPath(args));
  if (!dbr.ok()) return Fail("gallery", dbr.status());
  GalleryDb& db = **dbr;
  if (verb == "create") {
    if (pos.size() != 2) return Usage("gallery", kUse);
    GalleryConfig c{pos[1], FlagValue(args, "--model"), FlagValue(args, "--model-version"),
                    std::atoi(FlagValue(args, "--dim", "0").c_str())};
    auto g = db.CreateGallery(c);
    if (!g.ok()) return Fail("gallery", g.status());
    if (as_json) std::printf("%s\n", GalleryJson(*g).dump().c_str());
    else std::printf("created gallery '%s' (model %s %s, dim %d) in %s\n", g->name.c_str(), g->model_id.c_str(),
                     g->model_version.c_str(), g->dim, db.location().c_str());
    return 0;
  }
  if (verb == "list") {
    auto l = db.ListGalleries();
    if (!l.ok()) return Fail("gallery", l.status());
    if (as_json) {
      json a = json::array();
      for (const auto& g : *l) a.push_back(GalleryJson(g));
      std::printf("%s\n", a.dump().c_str());
    } else {
      for (const auto& g : *l)
        std::printf("%-24s model %s %s  dim %-5d subjects %-8lld templates %lld\n", g.name.c_str(),
                    g.model_id.c_str(), g.model_version.c_str(), g.dim, static_cast<long long>(g.num_subjects),
                    static_cast<long long>(g.num_templates));
    }
    return 0;
  }
  if (verb == "delete" && pos.size() == 2) {
    Status s = db.DeleteGallery(pos[1]);
    if (!s.ok()) return Fail("gallery", s);
    if (as_json) std::printf("%s\n", json({{"deleted", pos[1]}}).dump().c_str());
    else std::printf("deleted gallery '%s'\n", pos[1].c_str());
    return 0;
  }
  if (verb == "export" && pos.size() == 3) {
    Status s = db.ExportGallery(pos[1], pos[2]);
    if (!s.ok()) return Fail("gallery", s);
    if (as_json) std::printf("%s\n", json({{"exported", pos[1]}, {"file", pos[2]}}).dump().c_str());
    else std::printf("exported gallery '%s' to %s\n", pos[1].c_str(), pos[2].c_str());
    return 0;
  }
  if (verb == "import" && pos.size() == 2) {
    auto g = db.ImportGallery(pos[1], FlagValue(args, "--name"));
    if (!g.ok()) return Fail("gallery", g.status());
    if (as_json) std::printf("%s\n", GalleryJson(*g).dump().c_str());
    else std::printf("imported gallery '%s': %lld subjects, %lld templates\n", g->name.c_str(),
                     static_cast<long long>(g->num_subjects), static_cast<long long>(g->num_templates));
    return 0;
  }
  if (verb == "backup" && pos.size() == 2) {
    Status s = db.Backup(pos[1]);
    if (!s.ok()) return Fail("gallery", s);
    if (as_json) std::printf("%s\n", json({{"backup", pos[1]}}).dump().c_str());
    else std::printf("backed up %s to %s\n", db.location().c_str(), pos[1].c_str());
    return 0;
  }
  if (verb == "check") {
    Status s = db.IntegrityCheck();
    if (!s.ok()) return Fail("gallery", s);
    if (as_json) std::printf("%s\n", json({{"integrity", "ok"}}).dump().c_str());
    else std::printf("%s: integrity ok\n", db.location().c_str());
    return 0;
  }
  return Usage("gallery", kUse);
}

int CmdEnroll(const Args& args) {
  const char* kUse =
      "enroll --gallery G --subject ID (--templates FILE(.npy|.json) | IMAGES...) [--display-name N]\n"
      "       [--metadata JSON] [--flip] [--threads N]\n"
      "       [--model ID --model-version V] [--db PATH] [--json]";
  const std::string gname = FlagValue(args, "--gallery"), subject = FlagValue(args, "--subject"),
                    file = FlagValue(args, "--templates");
  const std::vector<std::string> images = Positional(args, kValueFlags);
  if (gname.empty() || subject.empty() || (file.empty() == images.empty()) || HasFlag(args, "--help"))
    return Usage("enroll", kUse);
  auto dbr = GalleryDb::Open(DbPath(args));
  if (!dbr.ok()) return Fail("enroll", dbr.status());
  IndexOptions io;
  io.mode = SearchMode::kExact;
  auto g = (*dbr)->OpenGallery(gname, io);
  if (!g.ok()) return Fail("enroll", g.status());
  std::vector<float> qualities;
  auto t = file.empty() ? TemplatesFromImages(images, (*g)->info(), args, &qualities) : LoadTemplates(file);
  if (!t.ok()) return Fail("enroll", t.status());
  std::vector<TemplateInput> in;
  for (size_t i = 0; i < t->rows.size(); ++i) {
    TemplateInput ti;
    ti.vector = std::move(t->rows[i]);
    if (i < qualities.size()) ti.quality = qualities[i];
    in.push_back(std::move(ti));
  }
  EnrollOptions eo;
  eo.display_name = FlagValue(args, "--display-name");
  eo.metadata_json = FlagValue(args, "--metadata");
  auto ids = (*g)->Enroll(subject, ModelFor(**g, args, &*t), in, eo);
  if (!ids.ok()) return Fail("enroll", ids.status());
  if (HasFlag(args, "--json")) {
    std::printf("%s\n", json({{"gallery", gname}, {"subject", subject}, {"template_ids", *ids}}).dump().c_str());
  } else {
    std::printf("enrolled %zu template(s) for '%s' in gallery '%s'\n", ids->size(), subject.c_str(), gname.c_str());
  }
  return 0;
}

int CmdIdentify(const Args& args) {
  const char* kUse =
      "identify --gallery G (--template FILE(.npy|.json) | IMAGES...) [--top K] [--precision fp32|fp16|int8]\n"
      "       [--mode auto|exact|approx] [--device cpu|cuda[:N]] [--gpu-precision auto|fp16|fp32|tf32]\n"
      "       [--cpu-fallback] [--model ID --model-version V] [--db PATH] [--json]";
  const std::string gname = FlagValue(args, "--gallery"), file = FlagValue(args, "--template");
  const std::vector<std::string> images = Positional(args, kValueFlags);
  if (gname.empty() || (file.empty() == images.empty()) || HasFlag(args, "--help"))
    return Usage("identify", kUse);
  const int k = std::atoi(FlagValue(args, "--top", "5").c_str());
  auto io = IndexOptionsFrom(args);
  if (!io.ok()) return Fail("identify", io.status());
  auto dbr = GalleryDb::Open(DbPath(args));
  if (!dbr.ok()) return Fail("identify", dbr.status());
  auto g = (*dbr)->OpenGallery(gname, *io);
  if (!g.ok()) return Fail("identify", g.status());
  if (io->device.use_cuda) std::fprintf(stderr, "facekit identify: search device: %s\n", (*g)->index_device().c_str());
  auto t = file.empty() ? TemplatesFromImages(images, (*g)->info(), args, nullptr) : LoadTemplates(file);
  if (!t.ok()) return Fail("identify", t.status());
  const ModelTag model = ModelFor(**g, args, &*t);
  json all = json::array();
  for (size_t i = 0; i < t->rows.size(); ++i) {
    auto m = (*g)->Identify(t->rows[i], model, k);
    if (!m.ok()) return Fail("identify", m.status());
    json arr = json::array();
    if (!HasFlag(args, "--json")) std::printf("probe %zu:\n", i);
    for (const auto& x : *m) {
      json e = {{"external_id", x.external_id}, {"display_name", x.display_name}, {"score", x.score},
                {"template_id", x.template_id}};
      if (x.far >= 0) e["far"] = x.far;
      arr.push_back(e);
      if (!HasFlag(args, "--json")) {
        std::printf("  %-24s %-24s score %.4f", x.external_id.c_str(), x.display_name.c_str(), x.score);
        if (x.far >= 0) std::printf("  FAR %.3g", x.far);
        std::printf("\n");
      }
    }
    all.push_back({{"probe", i}, {"matches", arr}});
  }
  if (HasFlag(args, "--json")) std::printf("%s\n", all.dump().c_str());
  return 0;
}

int CmdSubject(const Args& args) {
  const char* kUse = "subject list|show ID|delete ID --gallery G [--db PATH] [--json]";
  auto pos = Positional(args, kValueFlags);
  const std::string gname = FlagValue(args, "--gallery");
  if (pos.empty() || gname.empty() || HasFlag(args, "--help")) return Usage("subject", kUse);
  const bool as_json = HasFlag(args, "--json");
  auto dbr = GalleryDb::Open(DbPath(args));
  if (!dbr.ok()) return Fail("subject", dbr.status());
  IndexOptions io;
  io.mode = SearchMode::kExact;
  auto g = (*dbr)->OpenGallery(gname, io);
  if (!g.ok()) return Fail("subject", g.status());
  const std::string& verb = pos[0];
  if (verb == "list") {
    auto l = (*g)->ListSubjects();
    if (!l.ok()) return Fail("subject", l.status());
    json a = json::array();
    for (const auto& s : *l) {
      a.push_back(SubjectJson(s));
      if (!as_json)
        std::printf("%-24s %-24s templates %lld\n", s.external_id.c_str(), s.display_name.c_str(),
                    static_cast<long long>(s.num_templates));
    }
    if (as_json) std::printf("%s\n", a.dump().c_str());
    return 0;
  }
  if (verb == "show" && pos.size() == 2) {
    auto s = (*g)->GetSubject(pos[1]);
    if (!s.ok()) return Fail("subject", s.status());
    auto t = (*g)->ListTemplates(pos[1]);
    if (!t.ok()) return Fail("subject", t.status());
    json j = SubjectJson(*s);
    json ta = json::array();
    for (const auto& x : *t)
      ta.push_back({{"id", x.id}, {"model_id", x.model_id}, {"model_version", x.model_version}, {"dim", x.dim},
                    {"source_image_hash", x.source_image_hash}, {"quality", x.quality}, {"created_at", x.created_at}});
    j["template_list"] = ta;
    std::printf("%s\n", as_json ? j.dump().c_str() : j.dump(2).c_str());
    return 0;
  }
  if (verb == "delete" && pos.size() == 2) {
    Status s = (*g)->DeleteSubject(pos[1]);
    if (!s.ok()) return Fail("subject", s);
    if (as_json) std::printf("%s\n", json({{"deleted", pos[1]}}).dump().c_str());
    else std::printf("deleted subject '%s' from gallery '%s'\n", pos[1].c_str(), gname.c_str());
    return 0;
  }
  return Usage("subject", kUse);
}

}  // namespace fk::tools
