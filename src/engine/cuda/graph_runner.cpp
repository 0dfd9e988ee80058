// CudaGraphRunner: a whole planned graph on the GPU (see graph_runner.h).
#include "engine/cuda/graph_runner.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "engine/cuda/cast.cuh"
#include "engine/cuda/context.h"
#include "engine/cuda/cuda_kernel.h"
#include "engine/cuda/pixels.cuh"
#include "engine/cuda/warp.cuh"
#include "engine/executor.h"  // PlanMemory

namespace fk::engine::cuda {

namespace {

using ir::ValueId;

constexpr size_t kAlign = 256;  // every arena offset is a multiple of this (cuDNN/vector loads)
size_t AlignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

std::string MiB(size_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(b) / (1 << 20));
  return buf;
}

#define FK_CUDA_STATUS(expr, what)                                                      \
  do {                                                                                  \
    cudaError_t fk_e2_ = (expr);                                                        \
    if (fk_e2_ != cudaSuccess) return CudaError(fk_e2_, what, __FILE__, __LINE__);      \
  } while (0)

// A run's inputs: float tensors (pixels empty), or uint8 pixels with one transform each
// (Model::RunPixels), normalised into the float input slots on the device.
struct Inputs {
  std::span<const Tensor> tensors;
  std::span<const PixelTransform> pixels;
  // Model::RunWarps: the single input cut from `images` by `crops` on the device, normalised by
  // crop_transform (tensors empty).
  std::span<const WarpSource> images;
  std::span<const WarpDesc> crops;
  const PixelTransform* crop_transform = nullptr;
  uint8_t* crops_out = nullptr;  // host bytes that receive the 8-bit crops (may be null)
};

class CudaGraphRunnerImpl final : public GraphRunner {
 public:
  ~CudaGraphRunnerImpl() override {
    for (auto& c : instances_) {
      if (c->exec) cudaGraphExecDestroy(c->exec);
      if (c->graph) cudaGraphDestroy(c->graph);
    }
  }

  // Returns false (and no error) when no step runs on the GPU.
  Result<bool> Init(const PlannedGraph& pg) {
    g_ = pg.graph;
    max_instances_ = MaxGraphInstancesFromEnv();
    known_ = pg.known;
    info_ = pg.info;
    mode_ = pg.mode;
    const size_t nv = g_->values().size();
    for (const PlannedStep& ps : pg.steps) {
      Step s;
      s.node = &g_->nodes()[static_cast<size_t>(ps.node)];
      s.kernel = ps.kernel;
      s.cuda = dynamic_cast<const CudaKernel*>(ps.kernel);
      s.backend = ps.backend ? ps.backend->name() : "?";
      if (s.cuda) {
        ++gpu_steps_;
        if (!dev_) dev_ = s.cuda->device();
        if (s.cuda->device() != dev_) return Internal("graph runner: kernels of one plan on two GPUs");
      } else {
        host_ops_ += (host_ops_.empty() ? "" : ", ") + std::string(ir::OpTypeName(s.node->op));
      }
      steps_.push_back(std::move(s));
    }
    if (gpu_steps_ == 0 || !dev_) return false;
    all_gpu_ = gpu_steps_ == static_cast<int>(steps_.size());

    // Storage of every value (docs/cuda.md "Precision"): what its producer writes. Graph inputs,
    // plan-time values and host-step outputs are float; a float32 value written by a kF16 kernel
    // is half. A consumer that reads another storage (a host step, an fp32 kernel inside an fp16
    // graph, the caller reading a graph output) gets a converted copy in its own arena slot,
    // made by a cast right before the first step that needs it (values are written once, so
    // one copy serves every later reader).
    native_.assign(nv, Elem::kF32);
    for (const Step& s : steps_)
      if (s.cuda)
        for (ValueId v : s.node->outputs)
          if (v != ir::kNoValue) native_[static_cast<size_t>(v)] = Want(v, s.cuda->elem());

    // Lifetimes in step indices: graph inputs are written before step 0, graph outputs are read
    // after the last step (index S).
    const int S = static_cast<int>(steps_.size());
    std::vector<int> first(nv, -1), last(nv, -1);
    auto is_known = [&](ValueId v) { return !(*known_)[static_cast<size_t>(v)].empty(); };
    for (ValueId v : g_->inputs())
      if (!is_known(v)) first[static_cast<size_t>(v)] = last[static_cast<size_t>(v)] = 0;
    // Converted copies: key (value, storage) -> [first, last] step that reads that storage.
    std::map<std::pair<ValueId, Elem>, std::pair<int, int>> alt_life;
    auto need = [&](ValueId v, Elem want, int s) {
      if (want == native_[static_cast<size_t>(v)]) return;
      auto [it, fresh] = alt_life.try_emplace({v, want}, s, s);
      if (!fresh) it->second.second = std::max(it->second.second, s);
    };
    for (int s = 0; s < S; ++s) {
      const Step& st = steps_[static_cast<size_t>(s)];
      const ir::Node& n = *st.node;
      for (ValueId v : n.outputs) {
        if (v == ir::kNoValue || is_known(v)) continue;
        if (first[static_cast<size_t>(v)] < 0) first[static_cast<size_t>(v)] = s;
        last[static_cast<size_t>(v)] = std::max(last[static_cast<size_t>(v)], s);
      }
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        const ValueId v = n.inputs[i];
        if (v == ir::kNoValue || is_known(v)) continue;
        if (first[static_cast<size_t>(v)] < 0)
          return Internal("graph runner: node '" + n.name + "' reads value '" + g_->value(v).name +
                          "' before any step writes it");
        last[static_cast<size_t>(v)] = std::max(last[static_cast<size_t>(v)], s);
        if (!st.cuda) need(v, Elem::kF32, s);
        else if (!st.cuda->IsConstInput(i) && !st.cuda->IsUnusedInput(i)) need(v, Want(v, st.cuda->elem()), s);
      }
    }
    for (ValueId v : g_->outputs())
      if (!is_known(v) && first[static_cast<size_t>(v)] >= 0) {
        last[static_cast<size_t>(v)] = S;
        need(v, Elem::kF32, S);  // the caller reads float
      }
    std::vector<ArenaSlot> slots;
    for (size_t v = 0; v < nv; ++v) {
      if (first[v] < 0) continue;
      ArenaSlot a;
      a.value = static_cast<ValueId>(v);
      a.bytes = AlignUp(Bytes(static_cast<ValueId>(v)));
      a.first = first[v];
      a.last = last[v];
      slots.push_back(a);
    }
    // Converted copies get slot ids nv, nv+1, ... (PlanMemory uses ids only to break ties).
    // A copy is written at its first reader (the cast runs just before that step) and the native
    // value is still live then (its lifetime covers every reader), so the two never share memory.
    std::vector<std::pair<ValueId, Elem>> alt_keys;
    for (const auto& [key, life] : alt_life) {
      ArenaSlot a;
      a.value = static_cast<ValueId>(nv + alt_keys.size());
      a.bytes = AlignUp(BytesAs(key.first, key.second));
      a.first = life.first;
      a.last = life.second;
      slots.push_back(a);
      alt_keys.push_back(key);
    }
    MemoryPlan mp = PlanMemory(std::move(slots));
    arena_bytes_ = std::max(AlignUp(mp.arena_bytes), kAlign);
    offset_.assign(nv, SIZE_MAX);
    casts_.assign(static_cast<size_t>(S) + 1, {});
    for (const ArenaSlot& a : mp.slots) {
      const size_t id = static_cast<size_t>(a.value);
      if (id < nv) {
        offset_[id] = a.offset;
        continue;
      }
      const auto& [v, want] = alt_keys[id - nv];
      alt_offset_[{v, want}] = a.offset;
      Cast c;
      c.v = v;
      c.from = native_[static_cast<size_t>(v)];
      c.to = want;
      c.dst_offset = a.offset;
      c.n = (*info_)[static_cast<size_t>(v)].shape.num_elements();
      casts_[static_cast<size_t>(a.first)].push_back(c);
      ++num_casts_;
    }
    for (const Step& s : steps_)
      if (s.cuda && s.cuda->elem() == Elem::kF16) ++half_steps_;

    // Known non-constant values (plan-time results, e.g. int32 shape arithmetic) read by a GPU
    // kernel that did not upload them itself: uploaded once here.
    // Uploaded in the storage of the kernel that reads them (a half copy for kF16 kernels).
    for (auto& p : persistent_) p.assign(nv, nullptr);
    FK_CUDA_STATUS(cudaSetDevice(dev_->index()), "cudaSetDevice");
    for (const Step& s : steps_) {
      if (!s.cuda) continue;
      for (size_t i = 0; i < s.node->inputs.size(); ++i) {
        const ValueId v = s.node->inputs[i];
        if (v == ir::kNoValue || !is_known(v) || s.cuda->IsConstInput(i) || s.cuda->IsUnusedInput(i))
          continue;
        const Elem want = Want(v, s.cuda->elem());
        void*& slot = persistent_[static_cast<int>(want)][static_cast<size_t>(v)];
        if (slot) continue;
        const Tensor& t = (*known_)[static_cast<size_t>(v)];
        const size_t bytes = BytesAs(v, want);
        FK_ASSIGN_OR_RETURN(PoolBuffer b, PoolBuffer::Make(&dev_->pool(), std::max<size_t>(bytes, 1)));
        if (want == Elem::kF16) {
          std::vector<uint16_t> h(static_cast<size_t>(t.num_elements()));
          for (size_t e = 0; e < h.size(); ++e) h[e] = FloatToHalfBits(t.data<float>()[e]);
          if (bytes) FK_CUDA_STATUS(cudaMemcpy(b.get(), h.data(), bytes, cudaMemcpyHostToDevice),
                                    "cudaMemcpy(H2D, plan-time value, half)");
        } else if (t.nbytes()) {
          FK_CUDA_STATUS(cudaMemcpy(b.get(), t.raw(), t.nbytes(), cudaMemcpyHostToDevice),
                         "cudaMemcpy(H2D, plan-time value)");
        }
        slot = b.get();
        persistent_bytes_ += bytes;
        owned_.push_back(std::move(b));
      }
    }
    return true;
  }

  Status Run(std::span<const Tensor> inputs, std::span<Tensor> outputs) const override {
    Inputs in;
    in.tensors = inputs;
    return RunImpl(in, outputs);
  }

  Status RunPixels(std::span<const Tensor> pixels, std::span<const PixelTransform> transforms,
                   std::span<Tensor> outputs) const override {
    if (transforms.size() != pixels.size() || pixels.empty())
      return Internal("graph runner: one pixel transform per input expected");
    Inputs in;
    in.tensors = pixels;
    in.pixels = transforms;
    return RunImpl(in, outputs);
  }

  Status RunWarps(std::span<const WarpSource> images, std::span<const WarpDesc> crops, const PixelTransform& transform,
                  std::span<Tensor> outputs, uint8_t* crops_out) const override {
    if (crops.empty() || g_->inputs().size() != 1) return Internal("graph runner: RunWarps needs one input and crops");
    Inputs in;
    in.images = images;
    in.crops = crops;
    in.crop_transform = &transform;
    in.crops_out = crops_out;
    return RunImpl(in, outputs);
  }

  Status RunImpl(const Inputs& inputs, std::span<Tensor> outputs) const {
    const size_t given = inputs.crops.empty() ? inputs.tensors.size() : 1;
    if (given != g_->inputs().size() || outputs.size() != g_->outputs().size())
      return Internal("graph runner: wrong number of inputs/outputs");
    if (mode_ == "graph" && all_gpu_) {
      // An idle captured instance, or capture a new one (up to max_instances_); else eager.
      Captured* inst = nullptr;
      bool capture = false;
      {
        std::lock_guard<std::mutex> lock(graph_mu_);
        if (!idle_.empty()) {
          inst = idle_.back();
          idle_.pop_back();
        } else if (capture_status_.ok() &&
                   static_cast<int>(instances_.size()) + capturing_ < max_instances_) {
          ++capturing_;
          capture = true;
        }
      }
      if (inst) {
        Status st = Replay(inst, inputs, outputs);
        std::lock_guard<std::mutex> lock(graph_mu_);
        idle_.push_back(inst);
        return st;
      }
      if (capture) {
        bool ran = false;
        Status st = CaptureNew(inputs, outputs, &ran);
        if (ran || !st.ok()) return st;
        // No memory for another instance's arena: this call runs eagerly below.
      }
    }
    SlotGuard guard(dev_);
    FK_RETURN_IF_ERROR(guard.Acquire());
    ExecContext& ctx = guard.ctx();
    FK_ASSIGN_OR_RETURN(PoolBuffer arena, PoolBuffer::Make(&dev_->pool(), arena_bytes_));
    char* base = static_cast<char*>(arena.get());
    std::vector<Tensor> keep;
    Status st = CopyIn(base, inputs, ctx);
    if (st.ok()) st = Enqueue(base, ctx, keep);
    if (st.ok()) st = CopyOut(base, outputs, ctx);
    // Always drain the stream before the arena goes back to the pool.
    const cudaError_t e = cudaStreamSynchronize(ctx.stream);
    if (st.ok() && e != cudaSuccess) st = CudaError(e, "cudaStreamSynchronize", __FILE__, __LINE__);
    ++eager_runs_;
    return st;
  }

  std::string Describe() const override {
    std::string s = "cuda " + mode_ + " runner on GPU " + std::to_string(dev_->index()) + ": " +
                    std::to_string(gpu_steps_) + "/" + std::to_string(steps_.size()) +
                    " steps on the GPU, arena " + MiB(arena_bytes_) + ", plan-time values " +
                    MiB(persistent_bytes_);
    if (half_steps_ > 0)
      s += "; fp16 storage in " + std::to_string(half_steps_) + "/" + std::to_string(gpu_steps_) +
           " GPU steps, " + std::to_string(num_casts_) + " fp16<->fp32 casts";
    if (!all_gpu_) s += "; host round trips for: " + host_ops_;
    if (mode_ == "graph") {
      if (!all_gpu_) s += "; CUDA graph not used (host steps)";
      std::lock_guard<std::mutex> lock(graph_mu_);
      if (!instances_.empty())
        s += "; CUDA graph captured (" + std::to_string(instances_.size()) + " instance(s), at most " +
             std::to_string(max_instances_) + "), " + std::to_string(replays_.load()) + " replays";
      if (!capture_status_.ok()) s += "; CUDA graph capture failed: " + capture_status_.message();
    }
    s += "; " + std::to_string(eager_runs_.load()) + " eager runs";
    return s;
  }

 private:
  struct Step {
    const ir::Node* node = nullptr;
    const Kernel* kernel = nullptr;
    const CudaKernel* cuda = nullptr;  // null: runs on the host (ref fallback)
    std::string backend;
  };
  struct Captured {
    PoolBuffer arena;
    std::vector<PoolBuffer> scratch;  // conv workspaces / pad buffers baked into the graph
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
  };

  struct Cast {
    ValueId v = ir::kNoValue;
    Elem from = Elem::kF32, to = Elem::kF32;
    size_t dst_offset = 0;
    int64_t n = 0;
  };

  // The storage a reader with kernel storage `e` uses for v: only float32 values are ever half.
  Elem Want(ValueId v, Elem e) const {
    return (*info_)[static_cast<size_t>(v)].dtype == DType::kFloat32 ? e : Elem::kF32;
  }
  // Bytes of v in storage `e` (e is kF32 for non-float values, see Want).
  size_t BytesAs(ValueId v, Elem e) const {
    const TensorInfo& ti = (*info_)[static_cast<size_t>(v)];
    return static_cast<size_t>(ti.shape.num_elements()) * (e == Elem::kF16 ? size_t{2} : DTypeSize(ti.dtype));
  }
  // Bytes of v in its native storage (as its producer writes it).
  size_t Bytes(ValueId v) const { return BytesAs(v, native_[static_cast<size_t>(v)]); }
  // Device view of value v in storage `want` (Want() of the reader) for a run with arena `base`:
  // the native slot, the converted copy, or the uploaded plan-time value.
  DeviceTensor Dev(ValueId v, char* base, Elem want) const {
    DeviceTensor d;
    if (v == ir::kNoValue) return d;
    const TensorInfo& ti = (*info_)[static_cast<size_t>(v)];
    d.dtype = ti.dtype;
    d.shape = ti.shape;
    want = Want(v, want);
    d.half = want == Elem::kF16;
    if (void* p = persistent_[static_cast<int>(want)][static_cast<size_t>(v)]) {
      d.data = p;
    } else if (want == native_[static_cast<size_t>(v)]) {
      if (offset_[static_cast<size_t>(v)] != SIZE_MAX) d.data = base + offset_[static_cast<size_t>(v)];
    } else if (auto it = alt_offset_.find({v, want}); it != alt_offset_.end()) {
      d.data = base + it->second;
    }
    return d;
  }
  // The casts planned before step `s` (s == steps_.size(): before the graph outputs are read).
  Status RunCasts(size_t s, char* base, ExecContext& ctx) const {
    for (const Cast& c : casts_[s]) {
      const size_t src = offset_[static_cast<size_t>(c.v)];
      if (src == SIZE_MAX) return Internal("graph runner: cast of a value without an arena slot");
      FK_RETURN_IF_ERROR(LaunchCast(base + src, c.from, base + c.dst_offset, c.to, c.n, ctx.stream)
                             .WithContext("casting '" + g_->value(c.v).name + "' " + ElemName(c.from) +
                                          " -> " + ElemName(c.to)));
    }
    return OkStatus();
  }
  std::string Label(const Step& s) const {
    return "node '" + s.node->name + "' (" + ir::OpTypeName(s.node->op) + ") on " + s.backend;
  }

  // RunWarps' input: the photos uploaded once (packed rows), the box averages and the warps as
  // kernels into an 8-bit buffer of the input's shape, normalised into the float input slot.
  Status CopyInWarps(char* base, const Inputs& in, ExecContext& ctx) const {
    const ValueId v = g_->inputs()[0];
    const size_t off = offset_[static_cast<size_t>(v)];
    if (off == SIZE_MAX) return OkStatus();  // unused input
    const Shape& shape = (*info_)[static_cast<size_t>(v)].shape;
    const int64_t n = static_cast<int64_t>(in.crops.size());
    if (shape.rank() != 4 || shape[0] != n || shape[3] != 3 ||
        static_cast<size_t>(shape.num_elements()) * sizeof(float) != Bytes(v))
      return Internal("graph runner: " + std::to_string(n) + " crops for an input planned as " + shape.ToString());
    const int out_h = static_cast<int>(shape[1]), out_w = static_cast<int>(shape[2]);
    // What to upload of each photo: all of it when its crops read much of it (the detector's
    // letterbox and tiles), else each crop's footprint (engine/warp_sample.h WarpFootprint; the
    // identical ones of a mirrored pair once): a face's crops read a small part of a photo, and
    // these copies from pageable memory are what limits the GPU server.
    struct Upload {
      int image;
      WarpRect rect;
      size_t off = 0;
    };
    // FK_CROP_UPLOAD=photo: always the whole photos (the A/B of scripts/gpu/run_check.sh).
    static const bool whole_photos = [] {
      const char* e = std::getenv("FK_CROP_UPLOAD");
      return e && std::string(e) == "photo";
    }();
    std::vector<Upload> uploads;
    std::vector<size_t> upload_of(in.crops.size());
    {
      std::vector<int64_t> area(in.images.size(), 0);
      std::vector<WarpRect> crop_rect(in.crops.size());
      for (size_t k = 0; k < in.crops.size(); ++k) {
        const WarpDesc& d = in.crops[k];
        const WarpSource& im = in.images[static_cast<size_t>(d.image)];
        crop_rect[k] = WarpFootprint(d, out_w, out_h, im.width, im.height);
        area[static_cast<size_t>(d.image)] += crop_rect[k].area();
      }
      std::vector<size_t> whole(in.images.size(), SIZE_MAX);
      for (size_t k = 0; k < in.crops.size(); ++k) {
        const size_t i = static_cast<size_t>(in.crops[k].image);
        const WarpSource& im = in.images[i];
        if (whole_photos || area[i] * 2 >= int64_t{im.width} * im.height) {  // upload the photo once
          if (whole[i] == SIZE_MAX) {
            whole[i] = uploads.size();
            uploads.push_back({static_cast<int>(i), WarpRect{0, 0, im.width, im.height}});
          }
          upload_of[k] = whole[i];
          continue;
        }
        const WarpRect& r = crop_rect[k];
        size_t u = uploads.size();
        for (size_t q = 0; q < uploads.size(); ++q)
          if (uploads[q].image == static_cast<int>(i) && uploads[q].rect.x0 == r.x0 && uploads[q].rect.y0 == r.y0 &&
              uploads[q].rect.x1 == r.x1 && uploads[q].rect.y1 == r.y1)
            u = q;
        if (u == uploads.size()) uploads.push_back({static_cast<int>(i), r});
        upload_of[k] = u;
      }
    }
    // Device layout: the uploads (packed rows), box images, the job table, the 8-bit crops.
    auto align = [](size_t b) { return (b + 255) / 256 * 256; };
    size_t bytes = 0;
    for (Upload& u : uploads) {
      u.off = bytes;
      bytes += align(static_cast<size_t>(u.rect.x1 - u.rect.x0) * 3 * static_cast<size_t>(u.rect.y1 - u.rect.y0));
    }
    std::vector<WarpJob> jobs(in.crops.size());
    std::vector<size_t> box_off(in.crops.size(), SIZE_MAX);
    int64_t max_box = 0;
    for (size_t k = 0; k < in.crops.size(); ++k) {
      const WarpDesc& d = in.crops[k];
      jobs[k].desc = d;
      if (d.box > 1) {
        jobs[k].box_w = BoxOutSize(d.x1 - d.x0, d.box);
        jobs[k].box_h = BoxOutSize(d.y1 - d.y0, d.box);
        box_off[k] = bytes;
        bytes += align(static_cast<size_t>(jobs[k].box_w) * jobs[k].box_h * 3);
        max_box = std::max(max_box, int64_t{jobs[k].box_w} * jobs[k].box_h);
      }
    }
    const size_t jobs_off = bytes;
    bytes += align(sizeof(WarpJob) * jobs.size());
    const size_t crops_off = bytes;
    const size_t crop_bytes = static_cast<size_t>(shape.num_elements());
    bytes += align(crop_bytes);
    FK_ASSIGN_OR_RETURN(void* scratch, ctx.Scratch(bytes));
    char* dev = static_cast<char*>(scratch);
    for (const Upload& u : uploads) {
      const WarpSource& im = in.images[static_cast<size_t>(u.image)];
      const size_t row = static_cast<size_t>(u.rect.x1 - u.rect.x0) * 3;
      const uint8_t* from = im.data + im.stride * u.rect.y0 + int64_t{u.rect.x0} * 3;
      FK_CUDA_STATUS(cudaMemcpy2DAsync(dev + u.off, row, from, static_cast<size_t>(im.stride), row,
                                       static_cast<size_t>(u.rect.y1 - u.rect.y0), cudaMemcpyHostToDevice, ctx.stream),
                     "cudaMemcpy2DAsync(H2D, a photo for the crops)");
    }
    for (size_t k = 0; k < jobs.size(); ++k) {
      const Upload& u = uploads[upload_of[k]];
      const WarpSource& im = in.images[static_cast<size_t>(u.image)];
      // The sampler indexes the photo in its own coordinates: a base pointer that puts pixel
      // (rect.x0, rect.y0) at the start of the uploaded block (only pixels in it are read).
      const int64_t stride = int64_t{u.rect.x1 - u.rect.x0} * 3;
      const uintptr_t base = reinterpret_cast<uintptr_t>(dev + u.off) -
                             static_cast<uintptr_t>(stride * u.rect.y0 + int64_t{u.rect.x0} * 3);
      jobs[k].photo = WarpSource{reinterpret_cast<const uint8_t*>(base), im.width, im.height, stride};
      if (box_off[k] != SIZE_MAX) jobs[k].box_out = reinterpret_cast<uint8_t*>(dev + box_off[k]);
    }
    // Pageable source: the copy is staged before cudaMemcpyAsync returns, so `jobs` may go.
    FK_CUDA_STATUS(cudaMemcpyAsync(dev + jobs_off, jobs.data(), sizeof(WarpJob) * jobs.size(), cudaMemcpyHostToDevice,
                                   ctx.stream),
                   "cudaMemcpyAsync(H2D, crop table)");
    const auto* djobs = reinterpret_cast<const WarpJob*>(dev + jobs_off);
    auto* crops = reinterpret_cast<uint8_t*>(dev + crops_off);
    FK_RETURN_IF_ERROR(LaunchBoxAverages(djobs, static_cast<int>(jobs.size()), max_box, ctx.stream));
    FK_RETURN_IF_ERROR(LaunchWarps(djobs, static_cast<int>(jobs.size()), out_w, out_h, crops, ctx.stream));
    // The 8-bit crops back to the caller: a pageable copy returns once it is done (it waits for
    // the warps only; the network is not enqueued yet), and the scratch may be reused later.
    if (in.crops_out)
      FK_CUDA_STATUS(cudaMemcpyAsync(in.crops_out, crops, crop_bytes, cudaMemcpyDeviceToHost, ctx.stream),
                     "cudaMemcpyAsync(D2H, the 8-bit crops)");
    return LaunchPixelsToFloat(crops, base + off, Elem::kF32, static_cast<int64_t>(crop_bytes), *in.crop_transform,
                               ctx.stream);
  }

  Status CopyIn(char* base, const Inputs& in, ExecContext& ctx) const {
    if (!in.crops.empty()) return CopyInWarps(base, in, ctx);
    const std::span<const Tensor> inputs = in.tensors;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const ValueId v = g_->inputs()[i];
      const size_t off = offset_[static_cast<size_t>(v)];
      if (off == SIZE_MAX || !inputs[i].nbytes()) continue;  // unused input
      if (!in.pixels.empty()) {
        // Bytes to a scratch block, then one kernel writes the float input slot (graph inputs
        // are stored as float; an fp16 plan's cast to half follows inside the graph).
        const int64_t n = inputs[i].num_elements();
        if (inputs[i].dtype() != DType::kUInt8 || static_cast<size_t>(n) * sizeof(float) != Bytes(v))
          return Internal("graph runner: pixel input " + std::to_string(i) + " has " + std::to_string(n) +
                          " elements, the plan expects " + std::to_string(Bytes(v) / sizeof(float)));
        FK_ASSIGN_OR_RETURN(void* staging, ctx.Scratch(inputs[i].nbytes()));
        FK_CUDA_STATUS(cudaMemcpyAsync(staging, inputs[i].raw(), inputs[i].nbytes(), cudaMemcpyHostToDevice,
                                       ctx.stream),
                       "cudaMemcpyAsync(H2D, pixel input)");
        FK_RETURN_IF_ERROR(LaunchPixelsToFloat(static_cast<const uint8_t*>(staging), base + off, Elem::kF32, n,
                                               in.pixels[i], ctx.stream));
        continue;
      }
      if (inputs[i].nbytes() != Bytes(v))
        return Internal("graph runner: input " + std::to_string(i) + " has " +
                        std::to_string(inputs[i].nbytes()) + " bytes, the plan expects " +
                        std::to_string(Bytes(v)));
      FK_CUDA_STATUS(cudaMemcpyAsync(base + off, inputs[i].raw(), inputs[i].nbytes(),
                                     cudaMemcpyHostToDevice, ctx.stream),
                     "cudaMemcpyAsync(H2D, graph input)");
    }
    return OkStatus();
  }

  Status CopyOut(char* base, std::span<Tensor> outputs, ExecContext& ctx) const {
    for (size_t j = 0; j < outputs.size(); ++j) {
      const ValueId v = g_->outputs()[j];
      Tensor& out = outputs[j];
      if (!out.nbytes()) continue;
      const Tensor& k = (*known_)[static_cast<size_t>(v)];
      if (!k.empty()) {  // computed at plan time
        std::memcpy(out.raw(), k.raw(), std::min(out.nbytes(), k.nbytes()));
        continue;
      }
      const DeviceTensor d = Dev(v, base, Elem::kF32);  // float (cast at the end of Enqueue)
      if (!d.data)
        return Internal("graph runner: output '" + g_->value(v).name + "' is never computed");
      FK_CUDA_STATUS(cudaMemcpyAsync(out.raw(), d.data, std::min(out.nbytes(), BytesAs(v, Elem::kF32)),
                                     cudaMemcpyDeviceToHost, ctx.stream),
                     "cudaMemcpyAsync(D2H, graph output)");
    }
    return OkStatus();
  }

  // Enqueues every step on ctx.stream. Host steps synchronise (D2H, host kernel, H2D).
  // `keep` holds the host buffers of host-step outputs until the caller has synchronised.
  Status Enqueue(char* base, ExecContext& ctx, std::vector<Tensor>& keep) const {
    std::vector<DeviceTensor> din, dout;
    std::vector<Tensor> hin, hout;
    std::vector<char> ws;
    for (size_t si = 0; si < steps_.size(); ++si) {
      const Step& s = steps_[si];
      const ir::Node& n = *s.node;
      FK_RETURN_IF_ERROR(RunCasts(si, base, ctx));
      if (s.cuda) {
        const Elem e = s.cuda->elem();
        din.assign(n.inputs.size(), DeviceTensor{});
        dout.assign(n.outputs.size(), DeviceTensor{});
        for (size_t i = 0; i < n.inputs.size(); ++i) {
          din[i] = Dev(n.inputs[i], base, e);
          // The kernel's uploaded copy is used (or the input is never read).
          if (s.cuda->IsConstInput(i) || s.cuda->IsUnusedInput(i)) din[i].data = nullptr;
        }
        for (size_t o = 0; o < n.outputs.size(); ++o) dout[o] = Dev(n.outputs[o], base, e);
        FK_RETURN_IF_ERROR(s.cuda->RunDevice(din, dout, ctx).WithContext(Label(s)));
        ctx.RecycleScratch();  // stream order: the next node may reuse this node's scratch
        continue;
      }
      // Host step: bring its non-host inputs back, run, send its outputs to the arena.
      hin.clear();
      hout.clear();
      for (ValueId v : n.inputs) {
        if (v == ir::kNoValue) {
          hin.emplace_back();
          continue;
        }
        const Tensor& k = (*known_)[static_cast<size_t>(v)];
        if (!k.empty()) {
          hin.push_back(k);
          continue;
        }
        const TensorInfo& ti = (*info_)[static_cast<size_t>(v)];
        Tensor t(ti.dtype, ti.shape);
        const DeviceTensor d = Dev(v, base, Elem::kF32);
        if (t.nbytes() && d.data)
          FK_CUDA_STATUS(cudaMemcpyAsync(t.raw(), d.data, t.nbytes(), cudaMemcpyDeviceToHost, ctx.stream),
                         "cudaMemcpyAsync(D2H, host step input)");
        hin.push_back(std::move(t));
      }
      for (ValueId v : n.outputs) {
        const TensorInfo& ti = (*info_)[static_cast<size_t>(v)];
        hout.emplace_back(ti.dtype, ti.shape);
      }
      FK_CUDA_STATUS(cudaStreamSynchronize(ctx.stream), "cudaStreamSynchronize (before a host step)");
      ws.resize(s.kernel->workspace_bytes() + 64);
      FK_RETURN_IF_ERROR(s.kernel->Run(hin, hout, ws.data()).WithContext(Label(s)));
      for (size_t o = 0; o < n.outputs.size(); ++o) {
        const DeviceTensor d = Dev(n.outputs[o], base, Elem::kF32);
        if (!hout[o].nbytes() || !d.data) continue;
        FK_CUDA_STATUS(cudaMemcpyAsync(d.data, hout[o].raw(), hout[o].nbytes(), cudaMemcpyHostToDevice, ctx.stream),
                       "cudaMemcpyAsync(H2D, host step output)");
        keep.push_back(hout[o]);  // alive until the run's final synchronisation
      }
    }
    return RunCasts(steps_.size(), base, ctx);  // graph outputs to float
  }

  // Mode "graph": instances of the captured graph, each with its own arena, so concurrent callers
  // (the server's workers) replay side by side instead of all but one running eagerly. At most
  // $FK_CUDA_GRAPHS instances per plan, made only when callers overlap. Default 2 (session 8, not
  // yet measured on a GPU): batch rounding (ModelOptions::pad_batch) makes the server's two batch
  // workers, and the two detector workers, meet on the same shapes far more often than before, and
  // a caller that finds no idle instance runs eagerly (resident, ~10x slower at batch 1).
  // Read once per runner (Init): a runner made after the variable changes sees the new value.
  static int MaxGraphInstancesFromEnv() {
    const char* e = std::getenv("FK_CUDA_GRAPHS");
    const int v = e && *e ? std::atoi(e) : 2;
    return v < 1 ? 1 : v > 16 ? 16 : v;
  }

  // Copies in, launches the instance's graph, copies out (the caller holds `inst` exclusively).
  Status Replay(Captured* inst, const Inputs& inputs, std::span<Tensor> outputs) const {
    SlotGuard guard(dev_);
    FK_RETURN_IF_ERROR(guard.Acquire());
    ExecContext& ctx = guard.ctx();
    char* base = static_cast<char*>(inst->arena.get());
    Status st = CopyIn(base, inputs, ctx);
    if (st.ok()) {
      const cudaError_t e = cudaGraphLaunch(inst->exec, ctx.stream);
      if (e != cudaSuccess) st = CudaError(e, "cudaGraphLaunch", __FILE__, __LINE__);
    }
    if (st.ok()) st = CopyOut(base, outputs, ctx);
    const cudaError_t e = cudaStreamSynchronize(ctx.stream);
    if (st.ok() && e != cudaSuccess) st = CudaError(e, "cudaStreamSynchronize", __FILE__, __LINE__);
    ++replays_;
    return st;
  }

  // Makes one more instance (this call's result is its eager warm-up run; *ran = true). Without
  // memory for its arena *ran stays false and nothing is recorded: the caller runs eagerly.
  Status CaptureNew(const Inputs& inputs, std::span<Tensor> outputs, bool* ran) const {
    auto done = [&](std::unique_ptr<Captured> c, const Status& cs) {
      std::lock_guard<std::mutex> lock(graph_mu_);
      --capturing_;
      if (c) {
        instances_.push_back(std::move(c));
        idle_.push_back(instances_.back().get());
      } else if (!cs.ok() && capture_status_.ok()) {
        capture_status_ = cs;
        std::fprintf(stderr, "facekit: CUDA graph capture failed, running without CUDA graphs: %s\n",
                     cs.message().c_str());
      }
    };
    SlotGuard guard(dev_);
    if (Status a = guard.Acquire(); !a.ok()) {
      done(nullptr, OkStatus());
      return a;
    }
    ExecContext& ctx = guard.ctx();
    auto c = std::make_unique<Captured>();
    auto arena = PoolBuffer::Make(&dev_->pool(), arena_bytes_);
    if (!arena.ok()) {
      done(nullptr, OkStatus());
      return OkStatus();
    }
    c->arena = std::move(arena).value();
    char* base = static_cast<char*>(c->arena.get());
    // Eager warm-up on the instance's own buffers (lazy module loading, cuDNN/cuBLAS internal
    // set-up happen outside the capture); its outputs are this call's result.
    std::vector<Tensor> keep;
    Status st = CopyIn(base, inputs, ctx);
    if (st.ok()) st = Enqueue(base, ctx, keep);
    if (st.ok()) st = CopyOut(base, outputs, ctx);
    const cudaError_t e = cudaStreamSynchronize(ctx.stream);
    if (st.ok() && e != cudaSuccess) st = CudaError(e, "cudaStreamSynchronize", __FILE__, __LINE__);
    *ran = true;
    ++eager_runs_;
    if (!st.ok()) {  // a failing eager run is an error, not a capture problem
      done(nullptr, OkStatus());
      return st;
    }
    ctx.scratch.clear();  // synchronised: the warm-up scratch may go back to the pool
    ctx.reusable.clear();
    Status cs = Capture(base, ctx, c.get());
    if (!cs.ok()) {
      cudaGetLastError();  // clear a non-sticky error left by the failed capture
      done(nullptr, cs);
    } else {
      done(std::move(c), OkStatus());
    }
    return OkStatus();
  }

  Status Capture(char* base, ExecContext& ctx, Captured* c) const {
    // Relaxed: a pool miss may cudaMalloc during capture (not captured, allowed in this mode),
    // and other threads may run eagerly on the GPU meanwhile.
    FK_CUDA_STATUS(cudaStreamBeginCapture(ctx.stream, cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
    std::vector<Tensor> keep;  // stays empty: capture only happens when every step is on the GPU
    Status st = Enqueue(base, ctx, keep);
    cudaGraph_t graph = nullptr;
    const cudaError_t e = cudaStreamEndCapture(ctx.stream, &graph);  // always end the capture
    if (!st.ok()) {
      if (graph) cudaGraphDestroy(graph);
      return st.WithContext("while capturing a CUDA graph");
    }
    if (e != cudaSuccess) return CudaError(e, "cudaStreamEndCapture", __FILE__, __LINE__);
    c->graph = graph;
    const cudaError_t ie = cudaGraphInstantiate(&c->exec, graph, 0);
    if (ie != cudaSuccess) {
      cudaGraphDestroy(graph);
      c->graph = nullptr;
      c->exec = nullptr;
      return CudaError(ie, "cudaGraphInstantiate", __FILE__, __LINE__);
    }
    // The scratch blocks the captured kernels use stay with the graph.
    for (auto& b : ctx.scratch) c->scratch.push_back(std::move(b));
    for (auto& b : ctx.reusable) c->scratch.push_back(std::move(b));
    ctx.scratch.clear();
    ctx.reusable.clear();
    return OkStatus();
  }

  const ir::Graph* g_ = nullptr;
  const std::vector<Tensor>* known_ = nullptr;
  const std::vector<TensorInfo>* info_ = nullptr;
  std::string mode_;
  DeviceContext* dev_ = nullptr;
  std::vector<Step> steps_;
  int gpu_steps_ = 0;
  bool all_gpu_ = false;
  std::string host_ops_;
  size_t arena_bytes_ = 0;
  std::vector<size_t> offset_;        // per value: arena offset, SIZE_MAX = not in the arena
  std::vector<void*> persistent_[2];  // per storage (Elem), per value: uploaded plan-time value
  std::vector<Elem> native_;          // per value: storage its producer writes
  std::map<std::pair<ValueId, Elem>, size_t> alt_offset_;  // converted copies in the arena
  std::vector<std::vector<Cast>> casts_;  // per step (+1 for the graph outputs)
  int half_steps_ = 0, num_casts_ = 0;
  size_t persistent_bytes_ = 0;
  std::vector<PoolBuffer> owned_;

  mutable std::mutex graph_mu_;  // guards instances_, idle_, capturing_, capture_status_
  mutable std::vector<std::unique_ptr<Captured>> instances_;
  mutable std::vector<Captured*> idle_;  // instances no caller is replaying
  mutable int capturing_ = 0;            // instances being captured right now
  int max_instances_ = 1;                 // $FK_CUDA_GRAPHS when the runner was made
  mutable Status capture_status_;
  mutable std::atomic<long long> replays_{0}, eager_runs_{0};
};

}  // namespace

Result<std::unique_ptr<GraphRunner>> CreateCudaGraphRunner(const PlannedGraph& pg) {
  if (pg.mode != "resident" && pg.mode != "graph")
    return InvalidArgument("cuda run mode must be staged, resident or graph (got '" + pg.mode + "')");
  if (!pg.graph || !pg.known || !pg.info) return Internal("graph runner: incomplete PlannedGraph");
  auto r = std::make_unique<CudaGraphRunnerImpl>();
  FK_ASSIGN_OR_RETURN(bool any_gpu, r->Init(pg));
  if (!any_gpu) return std::unique_ptr<GraphRunner>();
  if (const char* v = std::getenv("FK_CUDA_VERBOSE"); v && *v && *v != '0')
    std::fprintf(stderr, "facekit: %s\n", r->Describe().c_str());
  return std::unique_ptr<GraphRunner>(std::move(r));
}

}  // namespace fk::engine::cuda
