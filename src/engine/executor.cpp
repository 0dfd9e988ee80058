#include "engine/executor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <new>
#include <set>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "engine/ops/shape_inference.h"

namespace fk::engine {

using ir::Node;
using ir::OpType;
using ir::ValueId;

namespace {
constexpr size_t kAlign = 64;
size_t AlignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s;
}
}  // namespace

namespace {
// Persistent workers for the batch split (Executor::RunSplitBatch). Plain std::threads, not
// an OpenMP team: each worker runs its chunks with single-threaded kernels (oneDNN's OpenMP
// build runs a 1-thread primitive inline), so no OpenMP fork/join happens anywhere on the
// split path and the caller's OpenMP pool stays asleep. Work is handed out per chunk from an
// atomic counter, the caller included: a worker that wakes late (its core busy with other
// work, or placed by the scheduler on the caller's core) takes fewer chunks instead of
// holding up the batch, and the caller only waits for chunks a worker has already claimed.
// Both sides spin briefly before sleeping (a worker for the next job of a back-to-back
// series, the caller for the last claimed chunk), which saves a futex wake-up (tens of us on
// this VM) per run. One split job at a time; a concurrent caller that finds the pool busy
// runs its chunks itself (concurrent callers are parallel already). Leaked on purpose
// (threads outlive static destructors).
class SplitPool {
 public:
  static SplitPool& Get() {
    static SplitPool* pool = new SplitPool();
    return *pool;
  }

  // Runs fn(0) .. fn(chunks - 1), on the caller and up to `helpers` pool threads.
  void Run(int chunks, int helpers, const std::function<void(int)>& fn) {
    std::unique_lock<std::mutex> busy(run_mu_, std::try_to_lock);
    if (!busy.owns_lock() || helpers <= 0 || chunks <= 1) {
      for (int c = 0; c < chunks; ++c) fn(c);
      return;
    }
    Job job;
    job.fn = &fn;
    job.chunks = chunks;
    job.wanted = std::min(helpers, chunks - 1);
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (static_cast<int>(workers_.size()) < helpers) workers_.emplace_back([this] { Loop(); });
      job_ = &job;
      generation_.fetch_add(1, std::memory_order_release);
    }
    for (int h = 0; h < job.wanted; ++h) work_cv_.notify_one();
    for (int c; (c = job.next.fetch_add(1)) < chunks;) fn(c);
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = nullptr;  // workers that wake from now on do not join
    }
    // Wait for the chunks the workers claimed: spin (they are running), yield, then sleep.
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; job.active.load(std::memory_order_acquire) != 0; ++i) {
      if (i < 2000) {
        Pause();
        continue;
      }
      if (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(2)) {
        std::this_thread::yield();
        continue;
      }
      std::unique_lock<std::mutex> lock(mu_);
      done_cv_.wait(lock, [&] { return job.active.load(std::memory_order_acquire) == 0; });
      break;
    }
  }

 private:
  struct Job {
    const std::function<void(int)>* fn = nullptr;
    int chunks = 0;
    int wanted = 0;              // helpers to wake
    int joined = 0;              // helpers that took part (guarded by mu_)
    std::atomic<int> active{0};  // helpers inside the job now
    std::atomic<int> next{0};
  };

  SplitPool() = default;

  // How long an idle worker spins for the next job ($FK_SPLIT_SPIN_US, measurements).
  static inline const int64_t kWorkerSpinUs = [] {
    const char* e = std::getenv("FK_SPLIT_SPIN_US");
    return e && *e ? std::atoll(e) : int64_t{300};
  }();

  static void Pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  void Loop() {
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    uint64_t seen = 0;
    for (;;) {
      // Spin for the next job before sleeping.
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; generation_.load(std::memory_order_acquire) == seen; ++i) {
        Pause();
        if ((i & 255) == 255 && std::chrono::steady_clock::now() - t0 > std::chrono::microseconds(kWorkerSpinUs)) break;
      }
      Job* job = nullptr;
      {
        std::unique_lock<std::mutex> lock(mu_);
        work_cv_.wait(lock, [&] {
          return job_ != nullptr && generation_.load(std::memory_order_relaxed) != seen && job_->joined < job_->wanted;
        });
        seen = generation_.load(std::memory_order_relaxed);
        job = job_;
        ++job->joined;
        job->active.fetch_add(1, std::memory_order_relaxed);
      }
      for (int c; (c = job->next.fetch_add(1)) < job->chunks;) (*job->fn)(c);
      // The last access to `job` (the caller may return as soon as this reads 0).
      std::lock_guard<std::mutex> lock(mu_);
      if (job->active.fetch_sub(1, std::memory_order_acq_rel) == 1) done_cv_.notify_all();
    }
  }

  std::mutex run_mu_;  // one split job at a time
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::vector<std::thread> workers_;
  Job* job_ = nullptr;                   // guarded by mu_
  std::atomic<uint64_t> generation_{0};  // written under mu_
};
}  // namespace

int SplitChunks(int64_t batch, int threads) {
  if (batch < 2 || threads < 2) return 1;
  // k chunks per thread, of at most 8 rows; k = 2 where that keeps chunks >= 4 rows, so a
  // thread slowed by other work on its core hands chunks over. The single-thread time per row
  // of mobileface is lowest at 4..8 rows (~20% higher at 1 row and at 32).
  int64_t k = (batch + 8 * threads - 1) / (8 * threads);
  if (k == 1 && batch >= 8 * threads) k = 2;
  return static_cast<int>(std::min<int64_t>(batch, threads * k));
}

MemoryPlan PlanMemory(std::vector<ArenaSlot> slots) {
  MemoryPlan plan;
  for (auto& s : slots) {
    s.bytes = AlignUp(s.bytes);
    plan.naive_bytes += s.bytes;
  }
  // Largest first (ties: earliest first, then value id, for determinism).
  std::vector<size_t> order(slots.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (slots[a].bytes != slots[b].bytes) return slots[a].bytes > slots[b].bytes;
    if (slots[a].first != slots[b].first) return slots[a].first < slots[b].first;
    return slots[a].value < slots[b].value;
  });
  std::vector<size_t> placed;
  for (size_t idx : order) {
    ArenaSlot& s = slots[idx];
    // Intervals [offset, offset+bytes) of placed slots whose lifetimes overlap this one.
    std::vector<std::pair<size_t, size_t>> busy;
    for (size_t p : placed) {
      const ArenaSlot& o = slots[p];
      if (o.first <= s.last && s.first <= o.last) busy.emplace_back(o.offset, o.offset + o.bytes);
    }
    std::sort(busy.begin(), busy.end());
    size_t offset = 0;
    for (const auto& [b, e] : busy) {
      if (offset + s.bytes <= b) break;  // fits in the gap before this interval
      offset = std::max(offset, e);
    }
    s.offset = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, offset + s.bytes);
    placed.push_back(idx);
  }
  plan.slots = std::move(slots);
  return plan;
}

struct Executor::Plan {
  struct Step {
    int node = 0;
    const Backend* backend = nullptr;
    std::unique_ptr<Kernel> kernel;
  };
  std::vector<Step> steps;
  std::vector<Tensor> known;       // per value: constants and values evaluated at plan time
  std::vector<TensorInfo> info;    // per value: concrete dtype and shape
  std::vector<std::string> node_backend;
  MemoryPlan memory;
  size_t workspace = 0;
  int threads = 1;  // threads per kernel (PlanOptions::num_threads)
  std::unique_ptr<GraphRunner> runner;  // whole-graph device run (Backend::CreateGraphRunner)

  // Arena buffers not in use by a running call (a small pool; grows to the number of
  // concurrent callers).
  mutable std::mutex pool_mu;
  mutable std::vector<Tensor> pool;

  Tensor Acquire() const {
    {
      std::lock_guard<std::mutex> lock(pool_mu);
      if (!pool.empty()) {
        Tensor t = pool.back();
        pool.pop_back();
        return t;
      }
    }
    // Every slot is written by its producer before it is read: no zero fill.
    return Tensor::Uninitialized(DType::kUInt8, Shape{static_cast<int64_t>(std::max<size_t>(memory.arena_bytes + workspace, 1))});
  }
  void Release(Tensor t) const {
    std::lock_guard<std::mutex> lock(pool_mu);
    if (pool.size() < 8) pool.push_back(std::move(t));
  }
};

Executor::~Executor() {
  if (profiler_ && profiler_->runs() > 0) std::fputs(profiler_->Report(graph_).c_str(), stderr);
}

std::string Executor::ProfileReport() const { return profiler_ ? profiler_->Report(graph_) : std::string(); }
void Executor::ResetProfile() const {
  if (profiler_) profiler_->Reset();
}

Result<std::unique_ptr<Executor>> Executor::Create(ir::Graph graph, const ExecutorOptions& options) {
  std::unique_ptr<Executor> ex(new Executor());
  ex->backend_ = options.backend_object ? options.backend_object : GetBackend(options.backend);
  if (!ex->backend_)
    return Unavailable("backend '" + options.backend + "' is not available in this build (available: " +
                       Join(AvailableBackends()) + ")");
  ex->ref_ = GetBackend("ref");
  if (!ex->ref_) return Internal("the ref backend is missing from the backend table");
  FK_RETURN_IF_ERROR(graph.Validate());
  // Refuse at load (never halfway through a run) when some node has no backend at all.
  std::map<std::string, std::pair<int, std::string>> unsupported;
  for (const Node& n : graph.nodes())
    if (!ex->backend_->Supports(graph, n) && !ex->ref_->Supports(graph, n)) {
      auto& e = unsupported[ir::OpTypeName(n.op)];
      if (e.first++ == 0) e.second = n.name;
    }
  if (!unsupported.empty()) {
    std::string msg = "no backend supports these nodes:";
    for (const auto& [op, e] : unsupported)
      msg += "\n  - " + op + ": " + std::to_string(e.first) + " node(s) (e.g. '" + e.second + "')";
    return Unsupported(msg);
  }
  ex->graph_ = std::move(graph);
  ex->options_ = options;
  if (const char* e = std::getenv("FK_SPLIT_BATCH"); e && *e) ex->options_.split_batch = std::string(e) != "0";
  if (Profiler::EnabledByEnv()) ex->profiler_ = std::make_unique<Profiler>();
  int threads = options.num_threads;
  if (threads <= 0) {
#ifdef _OPENMP
    threads = omp_get_num_procs();
#else
    threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
#endif
  }
  ex->threads_ = threads;
  return ex;
}

std::vector<std::string> Executor::StaticAssignment() const {
  std::vector<std::string> v;
  for (const Node& n : graph_.nodes())
    v.push_back(backend_->Supports(graph_, n) ? backend_->name() : ref_->name());
  return v;
}

Status Executor::ValidateInputs(const std::vector<Tensor>& inputs) const {
  const auto& ins = graph_.inputs();
  if (inputs.size() != ins.size())
    return InvalidArgument("the model takes " + std::to_string(ins.size()) + " input(s), got " +
                           std::to_string(inputs.size()));
  for (size_t i = 0; i < ins.size(); ++i) {
    const ir::Value& spec = graph_.value(ins[i]);
    const Tensor& t = inputs[i];
    const std::string what = "input '" + spec.name + "'";
    if (t.empty()) return InvalidArgument(what + " is an empty tensor");
    if (t.dtype() != spec.dtype)
      return InvalidArgument(what + ": expected dtype " + DTypeName(spec.dtype) + ", got " + DTypeName(t.dtype()));
    if (t.shape().rank() != spec.shape.rank())
      return InvalidArgument(what + ": expected shape " + spec.shape.ToString() + " (rank " +
                             std::to_string(spec.shape.rank()) + "), got " + t.shape().ToString());
    for (int d = 0; d < spec.shape.rank(); ++d) {
      if (spec.shape[d] >= 0 && t.shape()[d] != spec.shape[d])
        return InvalidArgument(what + ": expected shape " + spec.shape.ToString() + ", got " +
                               t.shape().ToString() + " (dimension " + std::to_string(d) + ")");
      if (t.shape()[d] < 0) return InvalidArgument(what + ": shape " + t.shape().ToString() + " is not concrete");
    }
    if (t.num_elements() == 0) return InvalidArgument(what + ": shape " + t.shape().ToString() + " has no elements");
    if (options_.check_finite && t.dtype() == DType::kFloat32) {
      const float* p = t.data<float>();
      const int64_t n = t.num_elements();
      // Branch-free scan (vectorises; the early-exit loop cost ~1% of a pipeline run): a float
      // is non-finite when its exponent bits are all ones. The slow loop only finds the index.
      const uint32_t* bits = static_cast<const uint32_t*>(t.raw());
      uint32_t bad = 0;
      for (int64_t k = 0; k < n; ++k) bad |= static_cast<uint32_t>((bits[k] & 0x7f800000u) == 0x7f800000u);
      if (bad)
        for (int64_t k = 0; k < n; ++k)
          if (!std::isfinite(p[k]))
            return InvalidArgument(what + " contains a non-finite value (" + std::to_string(p[k]) +
                                   ") at flat index " + std::to_string(k));
    }
  }
  return OkStatus();
}

Result<std::shared_ptr<const Executor::Plan>> Executor::GetPlan(const std::vector<Shape>& shapes,
                                                                int threads) const {
  if (threads <= 0) threads = threads_;
  std::vector<std::vector<int64_t>> key;
  for (const auto& s : shapes) key.push_back(s.dims());
  key.push_back({threads});  // kernels are planned for a thread count
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = plans_.find(key);
    if (it != plans_.end()) return it->second;
  }
  // Built outside the lock (planning may be slow); if two threads race, the first stored
  // plan wins and both use it.
  FK_ASSIGN_OR_RETURN(std::shared_ptr<const Plan> plan, BuildPlan(shapes, threads));
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = plans_.emplace(key, plan);
  return it->second;
}

Result<std::shared_ptr<const Executor::Plan>> Executor::BuildPlan(const std::vector<Shape>& shapes,
                                                                  int threads) const {
  auto plan = std::make_shared<Plan>();
  plan->threads = threads;
  const size_t nv = graph_.values().size();
  plan->known.resize(nv);
  plan->info.resize(nv);
  plan->node_backend.resize(graph_.nodes().size());
  for (size_t v = 0; v < nv; ++v) {
    const ir::Value& val = graph_.value(static_cast<ValueId>(v));
    plan->info[v] = {val.dtype, val.shape};
    if (val.is_constant()) {
      plan->known[v] = val.constant;
      plan->info[v] = {val.constant.dtype(), val.constant.shape()};
    }
  }
  for (size_t i = 0; i < graph_.inputs().size(); ++i) plan->info[static_cast<size_t>(graph_.inputs()[i])].shape = shapes[i];

  PlanOptions popts;
  popts.num_threads = threads;
  for (size_t i = 0; i < graph_.nodes().size(); ++i) {
    const Node& n = graph_.nodes()[i];
    std::vector<ops::ValueInfo> ins;
    std::vector<TensorInfo> in_info;
    bool all_known = true;
    for (ValueId v : n.inputs) {
      const Tensor& k = plan->known[static_cast<size_t>(v)];
      ins.push_back({plan->info[static_cast<size_t>(v)].dtype, plan->info[static_cast<size_t>(v)].shape,
                     k.empty() ? nullptr : &k});
      in_info.push_back(plan->info[static_cast<size_t>(v)]);
      all_known = all_known && !k.empty();
    }
    std::vector<ops::ValueInfo> outs;
    FK_RETURN_IF_ERROR(ops::InferShapes(n, ins, &outs));
    if (outs.size() < n.outputs.size())
      return Internal("shape inference of node '" + n.name + "' returned too few outputs");
    std::vector<TensorInfo> out_info;
    bool all_int = true;
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      if (!outs[k].shape.is_fully_defined())
        return InvalidArgument("node '" + n.name + "' (" + ir::OpTypeName(n.op) + "): output shape " +
                               outs[k].shape.ToString() + " is not concrete for these input shapes");
      out_info.push_back({outs[k].dtype, outs[k].shape});
      plan->info[static_cast<size_t>(n.outputs[k])] = out_info.back();
      all_int = all_int && outs[k].dtype == DType::kInt32;
    }
    // Plan-time evaluation: Shape (depends on shapes only) and int32 nodes whose inputs are
    // all known (shape arithmetic: StridedSlice/Pack/Concat/Cast on ints).
    if (n.op == OpType::kShape && n.outputs.size() == 1 && !n.inputs.empty()) {
      const Shape& s = in_info[0].shape;
      Tensor t(out_info[0].dtype, out_info[0].shape);
      for (int d = 0; d < s.rank() && d < t.num_elements(); ++d) {
        if (t.dtype() == DType::kInt32) t.data<int32_t>()[d] = static_cast<int32_t>(s[d]);
        else if (t.dtype() == DType::kInt64) t.data<int64_t>()[d] = s[d];
        else t.data<float>()[d] = static_cast<float>(s[d]);
      }
      plan->known[static_cast<size_t>(n.outputs[0])] = t;
      plan->node_backend[i] = "plan-time";
      continue;
    }
    if (all_known && all_int) {
      FK_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> k, ref_->Plan(graph_, n, in_info, out_info, popts));
      std::vector<Tensor> in_t, out_t;
      for (ValueId v : n.inputs) in_t.push_back(plan->known[static_cast<size_t>(v)]);
      for (const auto& oi : out_info) out_t.emplace_back(oi.dtype, oi.shape);
      std::vector<char> ws(k->workspace_bytes() + 1);
      FK_RETURN_IF_ERROR(k->Run(in_t, out_t, ws.data())
                             .WithContext("node '" + n.name + "' (" + ir::OpTypeName(n.op) + ") at plan time"));
      for (size_t o = 0; o < n.outputs.size(); ++o) plan->known[static_cast<size_t>(n.outputs[o])] = out_t[o];
      plan->node_backend[i] = "plan-time";
      continue;
    }
    const Backend* b = backend_->Supports(graph_, n) ? backend_ : ref_;
    auto kernel = b->Plan(graph_, n, in_info, out_info, popts);
    if (!kernel.ok() && b != ref_) {
      // The requested backend refused these concrete shapes: fall back to ref (said with
      // FK_VERBOSE / FK_CUDA_VERBOSE: a device node on the host costs two copies and a sync).
      const char* v = std::getenv("FK_CUDA_VERBOSE");
      if (!v) v = std::getenv("FK_VERBOSE");
      if (v && *v && *v != '0')
        std::fprintf(stderr, "facekit: node '%s' (%s): %s refused it (%s); running it on %s\n", n.name.c_str(),
                     ir::OpTypeName(n.op), b->name(), kernel.status().message().c_str(), ref_->name());
      b = ref_;
      kernel = b->Plan(graph_, n, in_info, out_info, popts);
    }
    if (!kernel.ok())
      return kernel.status().WithContext("planning node '" + n.name + "' (" + ir::OpTypeName(n.op) + ") on " +
                                         b->name());
    Plan::Step step;
    step.node = static_cast<int>(i);
    step.backend = b;
    step.kernel = std::move(kernel).value();
    plan->workspace = std::max(plan->workspace, AlignUp(step.kernel->workspace_bytes()));
    plan->node_backend[i] = b->name();
    plan->steps.push_back(std::move(step));
  }

  // Memory plan over the run-time steps.
  const int nsteps = static_cast<int>(plan->steps.size());
  std::vector<int> first(nv, -1), last(nv, -1);
  for (int s = 0; s < nsteps; ++s) {
    const Node& n = graph_.nodes()[static_cast<size_t>(plan->steps[static_cast<size_t>(s)].node)];
    for (ValueId v : n.outputs) {
      first[static_cast<size_t>(v)] = s;
      last[static_cast<size_t>(v)] = std::max(last[static_cast<size_t>(v)], s);
    }
    for (ValueId v : n.inputs) last[static_cast<size_t>(v)] = std::max(last[static_cast<size_t>(v)], s);
  }
  for (ValueId v : graph_.outputs()) last[static_cast<size_t>(v)] = nsteps;  // copied out at the end
  std::vector<ArenaSlot> slots;
  for (size_t v = 0; v < nv; ++v) {
    if (first[v] < 0 || !plan->known[v].empty()) continue;
    ArenaSlot s;
    s.value = static_cast<ValueId>(v);
    s.bytes = static_cast<size_t>(plan->info[v].shape.num_elements()) * DTypeSize(plan->info[v].dtype);
    s.first = first[v];
    s.last = last[v];
    slots.push_back(s);
  }
  plan->memory = PlanMemory(std::move(slots));
  if (options_.device_run != "staged") {
    PlannedGraph pg;
    pg.graph = &graph_;
    pg.known = &plan->known;
    pg.info = &plan->info;
    pg.mode = options_.device_run;
    for (const auto& st : plan->steps) pg.steps.push_back({st.node, st.backend, st.kernel.get()});
    FK_ASSIGN_OR_RETURN(plan->runner, backend_->CreateGraphRunner(pg));
  }
  return std::shared_ptr<const Plan>(std::move(plan));
}

Result<std::vector<Tensor>> Executor::Execute(const Plan& plan, const std::vector<Tensor>& inputs,
                                              bool keep_all) const {
#ifdef _OPENMP
  omp_set_num_threads(plan.threads);
#endif
  if (!keep_all && plan.runner) {  // the whole graph in one device call
    std::vector<Tensor> outs;
    for (ValueId v : graph_.outputs())
      outs.emplace_back(plan.info[static_cast<size_t>(v)].dtype, plan.info[static_cast<size_t>(v)].shape);
    FK_RETURN_IF_ERROR(plan.runner->Run(inputs, outs));
    return outs;
  }
  Profiler* const prof = profiler_.get();  // $FK_PROFILE: per-node times of this run
  Profiler::RunTimes prof_times;
  const auto prof_start = prof ? Profiler::Clock::now() : Profiler::Clock::time_point();
  const size_t nv = graph_.values().size();
  std::vector<Tensor> values(nv);
  for (size_t v = 0; v < nv; ++v)
    if (!plan.known[v].empty()) values[v] = plan.known[v];
  for (size_t i = 0; i < inputs.size(); ++i) values[static_cast<size_t>(graph_.inputs()[i])] = inputs[i];

  Tensor arena;
  char* base = nullptr;
  if (!keep_all) {
    arena = plan.Acquire();
    base = static_cast<char*>(arena.raw());
  }
  for (const ArenaSlot& s : plan.memory.slots) {
    const TensorInfo& ti = plan.info[static_cast<size_t>(s.value)];
    values[static_cast<size_t>(s.value)] =
        keep_all ? Tensor(ti.dtype, ti.shape) : Tensor::View(ti.dtype, ti.shape, base + s.offset);
  }
  std::vector<char> own_ws;
  void* ws = nullptr;
  if (keep_all) {
    own_ws.resize(plan.workspace + kAlign);
    ws = own_ws.data();
  } else {
    ws = base + AlignUp(plan.memory.arena_bytes);
  }

  Status status;
  std::vector<Tensor> in_t, out_t;
  for (const auto& step : plan.steps) {
    const Node& n = graph_.nodes()[static_cast<size_t>(step.node)];
    in_t.clear();
    out_t.clear();
    for (ValueId v : n.inputs) in_t.push_back(values[static_cast<size_t>(v)]);
    for (ValueId v : n.outputs) out_t.push_back(values[static_cast<size_t>(v)]);
    if (prof) {
      const auto t0 = Profiler::Clock::now();
      status = step.kernel->Run(in_t, out_t, ws);
      prof_times.Add(static_cast<size_t>(step.node), step.backend->name(),
                     n.outputs.empty() ? nullptr : &plan.info[static_cast<size_t>(n.outputs[0])].shape,
                     std::chrono::duration<double>(Profiler::Clock::now() - t0).count());
    } else {
      status = step.kernel->Run(in_t, out_t, ws);
    }
    if (!status.ok()) {
      status = status.WithContext("node '" + n.name + "' (" + ir::OpTypeName(n.op) + ") on backend " +
                                  step.backend->name());
      break;
    }
  }
  std::vector<Tensor> result;
  if (status.ok()) {
    if (keep_all) {
      result = std::move(values);
    } else {
      for (ValueId v : graph_.outputs()) result.push_back(values[static_cast<size_t>(v)].Clone());
    }
  }
  if (!keep_all) {
    values.clear();
    in_t.clear();
    out_t.clear();
    plan.Release(std::move(arena));
  }
  if (prof && status.ok())
    prof->Merge(prof_times, std::chrono::duration<double>(Profiler::Clock::now() - prof_start).count());
  if (!status.ok()) return status;
  return result;
}

// Data-parallel batch split (docs/engine-cpu.md, "Threads"): on the CPU backend a batch of
// N >= 2 inputs with T > 1 threads runs as SplitChunks(N, T) chunks on T threads
// (the caller and T - 1 SplitPool workers), each chunk with single-threaded kernels, instead of
// one batch whose every kernel forks and joins T threads. Small models (mobileface, 0.018
// GFLOP per face, ~60 kernels) lose more to the per-kernel fork/join than they gain at 2
// threads; per-chunk parallelism has no such cost. Only for graphs whose inputs and outputs
// all carry the batch as their leading dimension (checked on the planned shapes); anything
// else takes the normal path.
Result<std::optional<std::vector<Tensor>>> Executor::RunSplitBatch(const std::vector<Tensor>& inputs) const {
  if (!options_.split_batch || threads_ < 2 || backend_ == nullptr || std::strcmp(backend_->name(), "cpu") != 0 || inputs.empty())
    return std::optional<std::vector<Tensor>>();
  const int64_t n = inputs[0].shape().rank() >= 1 ? inputs[0].shape()[0] : 0;
  if (n < 2) return std::optional<std::vector<Tensor>>();
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Shape& declared = graph_.value(graph_.inputs()[i]).shape;
    if (inputs[i].shape().rank() < 1 || inputs[i].shape()[0] != n || declared.rank() < 1 || declared[0] >= 0)
      return std::optional<std::vector<Tensor>>();
  }
  // Chunk p has base + 1 rows for p < extra, else base rows: at most two plan shapes.
  static const int64_t forced_rows = [] {  // $FK_SPLIT_ROWS=R: chunks of R rows (measurements)
    const char* e = std::getenv("FK_SPLIT_ROWS");
    return e && *e ? std::max<int64_t>(0, std::atoll(e)) : int64_t{0};
  }();
  const int chunks = forced_rows > 0 ? static_cast<int>(std::max<int64_t>((n + forced_rows - 1) / forced_rows, 2))
                                     : SplitChunks(n, threads_);
  const int helpers = std::min(threads_, chunks) - 1;
  const int64_t base = n / chunks, extra = n % chunks;
  std::vector<std::vector<Tensor>> chunk_in(static_cast<size_t>(chunks));
  std::vector<std::shared_ptr<const Plan>> plans(static_cast<size_t>(chunks));
  std::vector<int64_t> begin(static_cast<size_t>(chunks));
  for (int p = 0; p < chunks; ++p) {
    const int64_t r = base + (p < extra ? 1 : 0);
    begin[static_cast<size_t>(p)] = p * base + std::min<int64_t>(p, extra);
    std::vector<Shape> shapes;
    for (const Tensor& t : inputs) {
      Shape s = t.shape();
      const size_t row_bytes = t.nbytes() / static_cast<size_t>(n);
      s[0] = r;
      chunk_in[static_cast<size_t>(p)].push_back(
          Tensor::View(t.dtype(), s,
                       const_cast<char*>(static_cast<const char*>(t.raw())) +
                           static_cast<size_t>(begin[static_cast<size_t>(p)]) * row_bytes));
      shapes.push_back(s);
    }
    if (p > 0 && p != extra) {  // same shapes as the chunk before
      plans[static_cast<size_t>(p)] = plans[static_cast<size_t>(p) - 1];
      continue;
    }
    FK_ASSIGN_OR_RETURN(plans[static_cast<size_t>(p)], GetPlan(shapes, 1));
    const Plan& plan = *plans[static_cast<size_t>(p)];
    if (plan.runner) return std::optional<std::vector<Tensor>>();
    for (ValueId v : graph_.outputs()) {
      const Shape& os = plan.info[static_cast<size_t>(v)].shape;
      if (os.rank() < 1 || os[0] != r) return std::optional<std::vector<Tensor>>();
    }
  }
  // The full outputs; every chunk copies its rows in as it finishes.
  std::vector<Tensor> out;
  for (ValueId v : graph_.outputs()) {
    const TensorInfo& ti = plans[0]->info[static_cast<size_t>(v)];
    Shape s = ti.shape;
    s[0] = n;
    out.emplace_back(ti.dtype, s);
  }
  std::vector<Status> status(static_cast<size_t>(chunks));
  auto run_chunk = [&](int p) {
    Status& st = status[static_cast<size_t>(p)];
    try {  // nothing may escape a pool worker
      auto r = Execute(*plans[static_cast<size_t>(p)], chunk_in[static_cast<size_t>(p)], /*keep_all=*/false);
      if (!r.ok()) {
        st = r.status();
        return;
      }
      for (size_t o = 0; o < out.size(); ++o) {
        const Tensor& part = (*r)[o];
        const size_t row_bytes = out[o].nbytes() / static_cast<size_t>(n);
        std::memcpy(static_cast<char*>(out[o].raw()) + static_cast<size_t>(begin[static_cast<size_t>(p)]) * row_bytes,
                    part.raw(), part.nbytes());
      }
    } catch (const std::bad_alloc&) {
      st = ResourceExhausted("out of memory running batch rows " + std::to_string(begin[static_cast<size_t>(p)]) +
                             ".. of " + std::to_string(n));
    } catch (const std::exception& e) {
      st = Internal(std::string("batch split: ") + e.what());
    }
  };
#ifdef _OPENMP
  const int saved_threads = omp_get_max_threads();
#endif
  SplitPool::Get().Run(chunks, helpers, run_chunk);
#ifdef _OPENMP
  omp_set_num_threads(saved_threads);
#endif
  for (const Status& st : status)
    if (!st.ok()) return st;
  return std::optional<std::vector<Tensor>>(std::move(out));
}

Result<std::vector<Tensor>> Executor::Run(const std::vector<Tensor>& inputs) const {
  FK_RETURN_IF_ERROR(ValidateInputs(inputs));
  return RunValidated(inputs);
}

Result<std::vector<Tensor>> Executor::RunValidated(const std::vector<Tensor>& inputs) const {
  {
    FK_ASSIGN_OR_RETURN(std::optional<std::vector<Tensor>> split, RunSplitBatch(inputs));
    if (split) return std::move(*split);
  }
  std::vector<Shape> shapes;
  for (const auto& t : inputs) shapes.push_back(t.shape());
  FK_ASSIGN_OR_RETURN(std::shared_ptr<const Plan> plan, GetPlan(shapes));
  return Execute(*plan, inputs, /*keep_all=*/false);
}

namespace {

// The normalisation of one pixel input of `channels` channels (RunPixels / RunWarps); `what`
// names the input in errors.
Result<PixelTransform> MakePixelTransform(int64_t channels, const std::vector<float>& scale,
                                          const std::vector<float>& offset, bool reverse_channels,
                                          const std::string& what) {
  auto finite = [](const std::vector<float>& v) {
    return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
  };
  if (!finite(scale) || !finite(offset))
    return InvalidArgument("pixel normalisation: scale and offset must be finite numbers");
  // Every normalised value must be finite too (the float inputs' check has nothing to scan).
  for (float sc : scale)
    for (float of : offset)
      if (!std::isfinite(255.f * std::fabs(sc) + std::fabs(of)))
        return InvalidArgument("pixel normalisation: 255 * scale + offset overflows float (scale " +
                               std::to_string(sc) + ", offset " + std::to_string(of) + ")");
  if (channels > 4) return InvalidArgument(what + ": " + std::to_string(channels) + " channels; pixels take 1 to 4");
  auto sized = [&](const std::vector<float>& v, const char* name) -> Status {
    if (v.size() == 1 || static_cast<int64_t>(v.size()) == channels) return OkStatus();
    return InvalidArgument(std::string("pixel normalisation: ") + name + " has " + std::to_string(v.size()) +
                           " values; " + what + " has " + std::to_string(channels) + " channels (give 1 or " +
                           std::to_string(channels) + ")");
  };
  FK_RETURN_IF_ERROR(sized(scale, "scale"));
  FK_RETURN_IF_ERROR(sized(offset, "offset"));
  PixelTransform pt;
  pt.channels = static_cast<int>(channels);
  pt.reverse = reverse_channels;
  for (int k = 0; k < pt.channels; ++k) {
    pt.scale[k] = scale.size() == 1 ? scale[0] : scale[static_cast<size_t>(k)];
    pt.offset[k] = offset.size() == 1 ? offset[0] : offset[static_cast<size_t>(k)];
  }
  return pt;
}

}  // namespace

Result<std::vector<Tensor>> Executor::RunPixels(const std::vector<Tensor>& pixels, const std::vector<float>& scale,
                                                const std::vector<float>& offset, bool reverse_channels) const {
  const auto& ins = graph_.inputs();
  if (pixels.size() != ins.size())
    return InvalidArgument("the model takes " + std::to_string(ins.size()) + " input(s), got " +
                           std::to_string(pixels.size()) + " pixel tensor(s)");
  std::vector<PixelTransform> transforms(pixels.size());
  for (size_t i = 0; i < ins.size(); ++i) {
    const ir::Value& spec = graph_.value(ins[i]);
    const Tensor& t = pixels[i];
    const std::string what = "input '" + spec.name + "'";
    if (spec.dtype != DType::kFloat32 || spec.shape.rank() != 4)
      return InvalidArgument(what + " is " + DTypeName(spec.dtype) + " " + spec.shape.ToString() +
                             ": RunPixels takes pixels only for float32 NHWC (rank 4) inputs; use Run");
    if (t.empty()) return InvalidArgument(what + " is an empty tensor");
    if (t.dtype() != DType::kUInt8)
      return InvalidArgument(what + ": RunPixels takes uint8 pixels, got " + std::string(DTypeName(t.dtype())) +
                             " (use Run for float inputs)");
    if (t.shape().rank() != 4)
      return InvalidArgument(what + ": expected pixels of shape " + spec.shape.ToString() + ", got " +
                             t.shape().ToString());
    for (int d = 0; d < 4; ++d) {
      if (spec.shape[d] >= 0 && t.shape()[d] != spec.shape[d])
        return InvalidArgument(what + ": expected pixels of shape " + spec.shape.ToString() + ", got " +
                               t.shape().ToString() + " (dimension " + std::to_string(d) + ")");
      if (t.shape()[d] <= 0)
        return InvalidArgument(what + ": pixel shape " + t.shape().ToString() + " has no elements");
    }
    FK_ASSIGN_OR_RETURN(transforms[i], MakePixelTransform(t.shape()[3], scale, offset, reverse_channels, what));
  }
  // A device runner takes the bytes and normalises on the device.
  if (backend_ && backend_->name() != std::string("cpu") && backend_->name() != std::string("ref")) {
    std::vector<Shape> shapes;
    for (const auto& t : pixels) shapes.push_back(t.shape());
    FK_ASSIGN_OR_RETURN(std::shared_ptr<const Plan> plan, GetPlan(shapes));
    if (plan->runner) {
      std::vector<Tensor> outs;
      for (ValueId v : graph_.outputs())
        outs.emplace_back(plan->info[static_cast<size_t>(v)].dtype, plan->info[static_cast<size_t>(v)].shape);
      const Status st = plan->runner->RunPixels(pixels, transforms, outs);
      if (st.ok()) return outs;
      if (st.code() != StatusCode::kUnsupported) return st;
    }
  }
  // On the host: the same arithmetic, then the float run (finite by construction).
  std::vector<Tensor> floats;
  floats.reserve(pixels.size());
  for (size_t i = 0; i < pixels.size(); ++i) {
    Tensor f(DType::kFloat32, pixels[i].shape());
    PixelsToFloat(pixels[i].data<uint8_t>(), f.data<float>(), f.num_elements(), transforms[i]);
    floats.push_back(std::move(f));
  }
  return RunValidated(floats);
}

Result<std::vector<Tensor>> Executor::RunWarps(std::span<const WarpSource> images, std::span<const WarpDesc> crops,
                                               int height, int width, const std::vector<float>& scale,
                                               const std::vector<float>& offset, bool reverse_channels,
                                               uint8_t* crops_out) const {
  const auto& ins = graph_.inputs();
  if (ins.size() != 1)
    return InvalidArgument("RunWarps: the model takes " + std::to_string(ins.size()) +
                           " inputs; crops make one [N, H, W, 3] input (use RunPixels)");
  const ir::Value& spec = graph_.value(ins[0]);
  const std::string what = "input '" + spec.name + "'";
  if (spec.dtype != DType::kFloat32 || spec.shape.rank() != 4 || (spec.shape[3] >= 0 && spec.shape[3] != 3))
    return InvalidArgument(what + " is " + DTypeName(spec.dtype) + " " + spec.shape.ToString() +
                           ": RunWarps makes float32 [N, H, W, 3] inputs only");
  if (height < 1 || width < 1 || (spec.shape[1] >= 0 && spec.shape[1] != height) ||
      (spec.shape[2] >= 0 && spec.shape[2] != width))
    return InvalidArgument(what + " is " + spec.shape.ToString() + ": crops of " + std::to_string(width) + "x" +
                           std::to_string(height) + " do not fit it");
  if (crops.empty()) return InvalidArgument("RunWarps: no crops");
  if (spec.shape[0] >= 0 && spec.shape[0] != static_cast<int64_t>(crops.size()))
    return InvalidArgument(what + " takes a batch of " + std::to_string(spec.shape[0]) + ", got " +
                           std::to_string(crops.size()) + " crops");
  for (size_t i = 0; i < images.size(); ++i) {
    const WarpSource& im = images[i];
    if (!im.data || im.width < 1 || im.height < 1 || im.stride < 3 * int64_t{im.width})
      return InvalidArgument("RunWarps: image " + std::to_string(i) + " is empty or its row stride (" +
                             std::to_string(im.stride) + " bytes) is below 3 x its width (" +
                             std::to_string(im.width) + ")");
  }
  for (size_t k = 0; k < crops.size(); ++k) {
    const WarpDesc& c = crops[k];
    const std::string which = "RunWarps: crop " + std::to_string(k);
    if (c.image < 0 || static_cast<size_t>(c.image) >= images.size())
      return InvalidArgument(which + " names image " + std::to_string(c.image) + " of " +
                             std::to_string(images.size()));
    for (double v : c.inv)
      if (!std::isfinite(v)) return InvalidArgument(which + " has a transform that is not finite");
    if (!std::isfinite(c.border)) return InvalidArgument(which + " has a border value that is not finite");
    if (c.box < 1 || c.box > 64) return InvalidArgument(which + ": box " + std::to_string(c.box) + " is not 1..64");
    const WarpSource& im = images[static_cast<size_t>(c.image)];
    if (c.box > 1 && !(c.x0 >= 0 && c.y0 >= 0 && c.x0 < c.x1 && c.y0 < c.y1 && c.x1 <= im.width && c.y1 <= im.height))
      return InvalidArgument(which + ": box region (" + std::to_string(c.x0) + "," + std::to_string(c.y0) + ")-(" +
                             std::to_string(c.x1) + "," + std::to_string(c.y1) + ") is empty or outside its " +
                             std::to_string(im.width) + "x" + std::to_string(im.height) + " image");
  }
  FK_ASSIGN_OR_RETURN(const PixelTransform transform, MakePixelTransform(3, scale, offset, reverse_channels, what));
  const Shape shape({static_cast<int64_t>(crops.size()), height, width, 3});
  // A device runner uploads the photos and cuts the crops there.
  if (backend_ && backend_->name() != std::string("cpu") && backend_->name() != std::string("ref")) {
    FK_ASSIGN_OR_RETURN(std::shared_ptr<const Plan> plan, GetPlan({shape}));
    if (plan->runner) {
      std::vector<Tensor> outs;
      for (ValueId v : graph_.outputs())
        outs.emplace_back(plan->info[static_cast<size_t>(v)].dtype, plan->info[static_cast<size_t>(v)].shape);
      const Status st = plan->runner->RunWarps(images, crops, transform, outs, crops_out);
      if (st.ok()) return outs;
      if (st.code() != StatusCode::kUnsupported) return st;
    }
  }
  // On the host: the same arithmetic, then RunPixels.
  Tensor px = Tensor::Uninitialized(DType::kUInt8, shape);
  const int64_t per = int64_t{height} * width * 3;
  std::vector<uint8_t> scratch;
  for (size_t k = 0; k < crops.size(); ++k) {
    const WarpDesc& c = crops[k];
    const WarpSource& im = images[static_cast<size_t>(c.image)];
    if (c.box > 1)
      scratch.resize(static_cast<size_t>(BoxOutSize(c.x1 - c.x0, c.box)) * BoxOutSize(c.y1 - c.y0, c.box) * 3);
    WarpToBytesHost(im, c, width, height, px.data<uint8_t>() + static_cast<int64_t>(k) * per, scratch.data());
  }
  if (crops_out) std::memcpy(crops_out, px.raw(), px.nbytes());
  return RunPixels({px}, scale, offset, reverse_channels);
}

Result<std::vector<Tensor>> Executor::RunAll(const std::vector<Tensor>& inputs) const {
  FK_RETURN_IF_ERROR(ValidateInputs(inputs));
  std::vector<Shape> shapes;
  for (const auto& t : inputs) shapes.push_back(t.shape());
  FK_ASSIGN_OR_RETURN(std::shared_ptr<const Plan> plan, GetPlan(shapes));
  return Execute(*plan, inputs, /*keep_all=*/true);
}

Result<PlanSummary> Executor::Summarize(const std::vector<Shape>& input_shapes) const {
  if (input_shapes.size() != graph_.inputs().size())
    return InvalidArgument("expected " + std::to_string(graph_.inputs().size()) + " input shape(s), got " +
                           std::to_string(input_shapes.size()));
  FK_ASSIGN_OR_RETURN(std::shared_ptr<const Plan> plan, GetPlan(input_shapes));
  PlanSummary s;
  s.node_backend = plan->node_backend;
  for (const auto& i : plan->info) s.value_shapes.push_back(i.shape);
  s.memory = plan->memory;
  s.workspace_bytes = plan->workspace;
  return s;
}

}  // namespace fk::engine
