// facekit — gallery: durable subjects and face templates, and 1:N search.
//
// A *database* (one SQLite file, or a PostgreSQL database given by a URL) holds
// several named *galleries*. A gallery is bound at creation to ONE embedding model
// (model id + model version + dimension): every template enrolled into it and every
// probe searched against it must come from that model, otherwise the call fails with
// FailedPrecondition. Templates of different models are never compared.
//
// A gallery holds *subjects* (people): an external id unique within the gallery
// (your key, e.g. an employee number), a display name and free metadata (a JSON
// object). Each subject has one or more *templates* (embedding vectors).
//
// Conventions:
//  - Templates are L2-normalised on enrollment and probes on search (a zero vector
//    is refused). The score of a match is the cosine similarity in [-1, 1].
//  - Durability: an Enroll() that returned OK is committed (SQLite WAL,
//    synchronous=FULL; PostgreSQL synchronous_commit=on) and survives a crash or
//    kill -9 of the process (or of the PostgreSQL server) right after.
//  - Every write is one transaction: it happens completely or not at all.
//  - Identify() searches the in-memory index of this Gallery handle: the index is
//    built from the store when the gallery is opened and kept in step with every
//    write made through this handle. Writes made by another process become visible
//    after Reload().
//
// Thread safety: GalleryDb and Gallery are safe to use from several threads at
// once. Searches run concurrently with each other; a write (enroll, delete) takes
// the index's write lock only for the in-memory update, after the commit. Several
// processes may write to the same SQLite file: writers wait up to
// DbOptions::busy_timeout_ms for each other, then fail with Unavailable.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "facekit/device.h"
#include "facekit/status.h"

namespace fk {

// How vectors are held in the in-memory search index.
enum class VectorPrecision {
  kFloat32 = 0,  // 4 bytes per dimension; exact
  kFloat16 = 1,  // 2 bytes per dimension (IEEE half)
  kInt8 = 2,     // 1 byte per dimension + one float scale per vector (symmetric, max-abs)
};

enum class SearchMode {
  kAuto = 0,    // exact below IndexOptions::approx_threshold templates, approximate above
  kExact = 1,   // brute force over all templates (blocked dot products / sgemm)
  kApprox = 2,  // the IndexOptions::approx_method index
};

// Which approximate index SearchMode::kApprox / kAuto use (docs/gallery.md).
enum class ApproxMethod {
  kIvfInt8 = 0,      // facekit's IVF: int8 codes in the inverted lists, AVX-512 scan, the best
                     // candidates re-scored with the exact rows; no FAISS needed
  kFaissIvfFlat = 1,  // FAISS IndexIVFFlat (inner product); needs FAISS
  kFaissHnsw = 2,     // FAISS IndexHNSWFlat (inner product); removes are tombstones; needs FAISS
};

struct IndexOptions {
  VectorPrecision precision = VectorPrecision::kFloat32;
  SearchMode mode = SearchMode::kAuto;
  int64_t approx_threshold = 200'000;    // kAuto switches to approximate at this size
  int ivf_nlist = 0;                      // 0: about sqrt(N) lists
  int ivf_nprobe = 0;                     // lists visited per query; 0: automatic from nlist
  int threads = 0;                        // 0: all cores (OpenMP)
  ApproxMethod approx_method = ApproxMethod::kIvfInt8;
  int ivf_rerank = 0;            // kIvfInt8: candidates re-scored exactly; 0: max(4k, 32); -1: none
  int hnsw_m = 32;               // kFaissHnsw: graph degree
  int hnsw_ef_construction = 64;  // kFaissHnsw: build beam width
  int hnsw_ef_search = 128;       // kFaissHnsw: search beam width (raised to the fetch count)
  // Exact search on an NVIDIA GPU (cuBLAS; docs/gallery.md "GPU exact search") when
  // device.use_cuda: a copy of every template stays resident on GPU device.gpu_index and
  // every search with top-k <= 128 runs there (exact, whatever `mode` says; kApprox is refused).
  // device.precision: "auto"/"fp16" = fp16 rows, fp16 x fp16 products accumulated in fp32
  // (default); "fp32" = fp32 rows and math; "tf32" = fp32 rows, TF32 tensor-op math.
  // device.gpu_memory_limit_bytes/_fraction cap the GPU memory the index holds.
  // The CPU rows (`precision` above) are kept: they serve k > 128 and rebuilds.
  // Without a usable GPU, opening fails with Unavailable (the reason: no driver, no device,
  // cuBLAS not loadable) or Unsupported (facekit built without CUDA), unless
  // device.allow_cpu_fallback (then CPU search and a warning).
  DeviceConfig device;
};

struct DbOptions {
  bool read_only = false;
  int busy_timeout_ms = 5000;  // how long a writer waits for another writer
  int64_t max_size_bytes = 0;  // 0: unlimited; else writes past it fail with IoError (quota)
};

struct GalleryConfig {
  std::string name;           // 1..128 characters: letters, digits, '_', '-', '.'
  std::string model_id;       // e.g. "faceres"
  std::string model_version;  // e.g. "human-models-3.0.4"
  int dim = 0;                // embedding dimension, 1..8192
};

struct GalleryInfo {
  int64_t id = 0;
  std::string name, model_id, model_version;
  int dim = 0;
  int64_t num_subjects = 0;
  int64_t num_templates = 0;
  int64_t created_at = 0;  // unix seconds
};

struct SubjectInfo {
  int64_t id = 0;  // internal row id
  std::string external_id;
  std::string display_name;
  std::string metadata_json = "{}";
  int64_t created_at = 0;
  int64_t num_templates = 0;
};

// One page of a gallery's subjects (Gallery::ListSubjects with offset / limit / after).
struct SubjectPage {
  std::vector<SubjectInfo> subjects;  // ordered by external id
  int64_t total = 0;                  // subjects in the gallery
};

struct TemplateInfo {
  int64_t id = 0;
  int64_t subject_id = 0;
  std::string model_id, model_version;
  int dim = 0;
  std::string source_image_hash;
  float quality = 0.0f;
  int64_t created_at = 0;
};

// One template to enroll. `vector` must have the gallery's dimension and a
// non-zero norm; it is normalised before it is stored.
struct TemplateInput {
  std::vector<float> vector;
  std::string source_image_hash;  // optional, e.g. sha256 hex of the image file
  float quality = 0.0f;           // optional, model-specific
};

// Which model made a template or probe.
struct ModelTag {
  std::string model_id;
  std::string model_version;
};

struct EnrollOptions {
  bool create_subject = true;  // create the subject if the external id is unknown
  std::string display_name;    // for a new subject
  std::string metadata_json;   // for a new subject ("" = "{}"); must be a JSON object
};

// A (score, FAR) point of a model's calibration: at cosine `score`, the false
// accept rate (impostor pairs scoring >= score) is `far`.
struct CalibrationPoint {
  float score = 0.0f;
  double far = 0.0;
};

struct Match {
  int64_t template_id = 0;
  int64_t subject_id = 0;
  std::string external_id;
  std::string display_name;
  float score = 0.0f;  // cosine similarity
  // From the gallery's calibration table (monotone interpolation in log FAR);
  // -1 when the gallery has no calibration table.
  double far = -1.0;
};

class Gallery;

// A gallery database. Create with Open(); closing is the destructor.
class GalleryDb {
 public:
  // `location`: a file path (created if missing, unless read_only), or a
  // postgresql://USER[:PW]@HOST[:PORT]/DBNAME URL (or postgres://; unix socket:
  // postgresql://USER@/DBNAME?host=/SOCKET/DIR) of an existing database: see
  // docs/gallery.md. Unavailable if the server cannot be reached; NotFound for an
  // unknown database; Unsupported for a URL in a build without libpq, or with
  // DbOptions::max_size_bytes (SQLite only).
  // Errors: DataLoss if the file is not a facekit/SQLite database or is corrupt
  // (the message names the file); IoError if it cannot be opened/created;
  // FailedPrecondition if its schema is newer than this facekit.
  static Result<std::unique_ptr<GalleryDb>> Open(const std::string& location,
                                                 const DbOptions& options = {});
  ~GalleryDb();
  GalleryDb(const GalleryDb&) = delete;
  GalleryDb& operator=(const GalleryDb&) = delete;

  const std::string& location() const;
  int schema_version() const;

  Result<GalleryInfo> CreateGallery(const GalleryConfig& config);  // AlreadyExists
  Result<std::vector<GalleryInfo>> ListGalleries();
  Result<GalleryInfo> GetGallery(const std::string& name);  // NotFound
  Status DeleteGallery(const std::string& name);            // with its subjects and templates

  // Opens a gallery and builds its search index from the store.
  Result<std::unique_ptr<Gallery>> OpenGallery(const std::string& name,
                                               const IndexOptions& index = {});

  // Online backup to `dest_path` (a new SQLite file) while other threads and
  // processes keep reading and writing. The copy is a consistent snapshot.
  // SQLite only: a PostgreSQL database gives Unsupported (use pg_dump).
  Status Backup(const std::string& dest_path);
  // SQLite: PRAGMA integrity_check + foreign_key_check; PostgreSQL: every template
  // matches its gallery's model/dimension. DataLoss with the report when it fails.
  Status IntegrityCheck();

  // Export one gallery to a file (format: docs/gallery.md, "facekit-gallery" JSONL v1).
  Status ExportGallery(const std::string& name, const std::string& path);
  // Import a file written by ExportGallery as a new gallery (`new_name`, or the
  // name in the file when empty). All or nothing: one transaction.
  Result<GalleryInfo> ImportGallery(const std::string& path, const std::string& new_name = "");

  struct Impl;

 private:
  explicit GalleryDb(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
  friend class Gallery;
};

// One open gallery with its in-memory search index. Keeps the database open.
class Gallery {
 public:
  ~Gallery();
  Gallery(const Gallery&) = delete;
  Gallery& operator=(const Gallery&) = delete;

  GalleryInfo info() const;  // counts as of now
  const IndexOptions& index_options() const;
  bool approximate() const;  // the index currently answers with FAISS IVF
  size_t index_memory_bytes() const;
  // Where searches run: "cpu", or the GPU description (device, precision, rows, memory), plus
  // the fallback warning when a requested GPU could not be used.
  std::string index_device() const;

  // Subjects. AlreadyExists for a duplicate external id; NotFound for unknown ones.
  // `metadata_json` must be a JSON object ("" means {}).
  Result<SubjectInfo> AddSubject(const std::string& external_id, const std::string& display_name = "",
                                 const std::string& metadata_json = "");
  Result<SubjectInfo> GetSubject(const std::string& external_id);
  Result<std::vector<SubjectInfo>> ListSubjects();  // every subject, ordered by external id
  // A page in the same order: the subjects whose external id sorts after `after` ("" = from the
  // first; keyset paging, as fast at the millionth page as at the first), then `offset` skipped,
  // at most `limit` (1..100000; InvalidArgument otherwise). The database does the paging: a page
  // costs its own rows, not the gallery's.
  Result<SubjectPage> ListSubjects(int64_t offset, int64_t limit, const std::string& after = "");
  Status DeleteSubject(const std::string& external_id);  // and its templates

  // Enrolls templates of `model` for a subject, in one transaction; returns the new
  // template ids. FailedPrecondition if `model` is not the gallery's model;
  // InvalidArgument for a wrong dimension, a zero or non-finite vector, or bad
  // metadata; NotFound for an unknown subject when !options.create_subject.
  Result<std::vector<int64_t>> Enroll(const std::string& external_id, const ModelTag& model,
                                      const std::vector<TemplateInput>& templates,
                                      const EnrollOptions& options = {});
  Result<std::vector<TemplateInfo>> ListTemplates(const std::string& external_id);
  Status RemoveTemplate(int64_t template_id);  // NotFound

  // Top-k subjects for a probe (each subject once, with its best template).
  // FailedPrecondition for another model; InvalidArgument for a wrong dimension.
  Result<std::vector<Match>> Identify(const std::vector<float>& probe, const ModelTag& model, int k = 10);
  // Several probes at once (faster per probe): `probes` is row-major [n, dim].
  Result<std::vector<std::vector<Match>>> IdentifyBatch(const std::vector<float>& probes, const ModelTag& model,
                                                        int k = 10);

  // Calibration table of the gallery's model (stored with the gallery). Points may
  // come in any order; FAR is made non-increasing in score. Empty clears it.
  Status SetCalibration(const std::vector<CalibrationPoint>& points);
  std::vector<CalibrationPoint> calibration() const;

  // Re-reads the store (picks up writes by other processes) and rebuilds the index.
  Status Reload();

  struct Impl;

 private:
  explicit Gallery(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  friend class GalleryDb;
};

// Monotone interpolation of a calibration table (exposed for tests and tools):
// FAR at `score`, interpolated linearly in log10(FAR) between points; clamped to the
// end points outside the table. Requires a non-empty table.
double InterpolateFar(const std::vector<CalibrationPoint>& table, float score);

}  // namespace fk
