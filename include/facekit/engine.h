// facekit — running a neural network model.
//
//   auto model = fk::Model::Load("models/human/blazeface.json", {.backend = "cpu"});
//   if (!model.ok()) { /* model.status().message() says what went wrong */ }
//   auto out = (*model)->Run({input});   // NHWC float32 tensors, batch N in one pass
//
// Contracts:
//  - Load: requires a TF.js graph model (model.json with its .bin shards next to it).
//    ONNX (.onnx) is not supported yet (Unsupported). Ops the engine cannot run are
//    refused here with the full list, never halfway through a run. If the requested
//    backend is not compiled into this build, Load fails with Unavailable naming the
//    available backends. Ops the requested backend does not support run on "ref".
//  - inputs()/outputs(): names, dtypes and shapes; -1 marks a dynamic dimension. Dim 0 of
//    every input is the batch and is always dynamic.
//  - Run: requires one tensor per input, in inputs() order, with the declared dtype and
//    rank and matching non-batch dimensions, all values finite; otherwise InvalidArgument
//    naming the input (expected vs got, or the first non-finite index). Ensures the
//    outputs in outputs() order, freshly allocated (the caller owns them), with batch N
//    when the inputs have batch N.
//
// Thread-safety: a Model is immutable after Load; Run() may be called concurrently from
// several threads on the same Model (plans are cached per input-shape set under a lock).
// Each call uses ModelOptions::num_threads threads inside kernels.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "facekit/device.h"
#include "facekit/status.h"
#include "facekit/tensor.h"

namespace fk {

struct ModelOptions {
  std::string backend = "cpu";  // "ref", "cpu", "cuda"
  int num_threads = 0;          // threads per Run inside kernels; 0 = all cores
  bool optimize = true;         // load-time graph rewrites (constant folding, fusions)
  // GPU settings (facekit/device.h), used when backend == "cuda" or device.use_cuda:
  // gpu_index, precision (fp32 | tf32 | fp16 | auto: fp16 if the model passes an accuracy check
  // at load, see Model::precision()), memory limit, allow_cpu_fallback. Load checks the GPU first (ResolveBackend): without a usable
  // GPU it fails with Unavailable naming what is missing (no driver / device / cuDNN / cuBLAS /
  // built without CUDA), or, with allow_cpu_fallback, loads on the CPU and says so on stderr
  // and in Model::device_warning().
  DeviceConfig device = {};
  // How a cuda model runs: "staged" (node by node, host tensors between nodes), "resident"
  // (whole graph on the GPU, one sync per Run), "graph" (resident + CUDA Graph replay per
  // input-shape set). Empty = $FK_CUDA_RUN if set, else "graph" (measured: docs/benchmarks/engine-gpu.md).
  std::string cuda_run = {};
  // Batch rounding (Run / RunPixels): a batch of n is padded with zero samples to the next power
  // of two (n <= 64) or multiple of 64, and the outputs cut back to n rows, so that a model fed
  // every batch size from 1 to 64 (a server's dynamic batches) plans, captures and keeps arenas
  // for 7 input shapes instead of 64 (on a GPU each shape costs a plan of 10-400 ms on first use
  // and a CUDA graph with its own arena). Only when every input has the same batch (dim 0) and
  // the model's inputs have a dynamic batch dimension; outputs whose dim 0 is not the padded batch
  // are returned as they are. -1 = auto: on for backend cuda, off otherwise; 0 off; 1 on.
  // $FK_PAD_BATCH=0|1 overrides it (A/B).
  int pad_batch = -1;
  // Whether the face pipeline feeds this model 8-bit pixels (Model::RunPixels: a quarter of the
  // bytes to a GPU, normalised there) rather than normalised floats. The crops are the same
  // floats rounded to 8 bits, which moves results a little (detector boxes by up to ~0.5 px,
  // docs/pipeline.md "8-bit model inputs"). -1 = auto: on for backend cuda, off otherwise; 0 off;
  // 1 on. $FK_PIXEL_INPUTS=0|1 overrides it (A/B).
  int pixel_inputs = -1;
  // Precision auto: whether fp16 may be tried (the accuracy check) or the model stays tf32/fp32.
  // The face pipeline turns it off for its geometry models (detectors, facemesh): a cosine of
  // 0.999 on their outputs still moves boxes and keypoints of small faces by pixels, and the
  // templates of those faces with them (docs/cuda.md "Precision").
  bool auto_fp16 = true;
};

// How 8-bit pixels become a float model input (Model::RunPixels): output channel c of every pixel
// = float(pixel[src]) * scale[c] + offset[c], src = c, or C-1-c with reverse_channels (RGB <-> BGR).
// scale / offset hold one value per channel (C of the model input, 1..4), or one value for all.
// The same arithmetic as vision::Normalize (no fused multiply-add, so the GPU and the CPU agree
// bit for bit).
struct PixelNormalization {
  std::vector<float> scale = {1.f};
  std::vector<float> offset = {0.f};
  bool reverse_channels = false;
};

// A photo for Model::RunWarps: 8-bit RGB rows, borrowed for the call.
struct PixelImage {
  const uint8_t* data = nullptr;
  int width = 0, height = 0;
  int64_t stride = 0;  // bytes per row (>= 3 * width)
};

// One crop of Model::RunWarps, cut as vision::WarpAffine cuts it (vision::PlanWarp gives the
// fields): output pixel (j, i) samples the source bilinearly at inv * (j + 0.5, i + 0.5) (with
// `mirror`, j -> width - 1 - j first: the left-right mirrored chip). With box > 1 the source is
// the box x box average of the region [x0, x1) x [y0, y1) of the photo and inv maps into that
// smaller image (the antialias prefilter).
struct CropWarp {
  int image = 0;                        // index into RunWarps' images
  double inv[6] = {1, 0, 0, 0, 1, 0};  // chip -> source: x = a*ox + b*oy + c, y = d*ox + e*oy + f
  int box = 1;                          // 1..64
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // the box region, inside the photo (box > 1)
  bool mirror = false;
  float border = 0.f;  // pixel value (0..255) outside the source
};

struct TensorSpec {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;  // -1 = dynamic
};

class Model {
 public:
  static Result<std::unique_ptr<Model>> Load(const std::string& path, const ModelOptions& opts = {});

  const std::vector<TensorSpec>& inputs() const;
  const std::vector<TensorSpec>& outputs() const;

  // Thread-safe: may be called concurrently from several threads.
  Result<std::vector<Tensor>> Run(const std::vector<Tensor>& inputs) const;
  // Like Run, with every input given as uint8 pixels (NHWC, the shape Run would take, C <= 4)
  // for a float32 model input, normalised by `norm`. On a GPU the pixels travel as bytes (a
  // quarter of the float bytes) and are normalised on the device; on the CPU they are
  // normalised on the host. Same results as Run on the normalised floats. InvalidArgument for a
  // non-uint8 tensor, a shape Run would refuse, a non-float or non-NHWC model input, C > 4, or
  // a scale/offset whose size is neither 1 nor C or that is not finite.
  Result<std::vector<Tensor>> RunPixels(const std::vector<Tensor>& pixels, const PixelNormalization& norm) const;
  // Like RunPixels for a model with one [N, H, W, 3] float32 input, the pixels being N crops of
  // `images` (crops[n] -> sample n), cut as vision::WarpAffine cuts them (8-bit values, bit for
  // bit). On a GPU the photos are uploaded once per call and the crops cut there (only the
  // photos' bytes cross the bus, no crop is made on the CPU); elsewhere the host cuts them.
  // InvalidArgument for a model that is not so, an empty or bad image, a crop naming no image, a
  // box region outside its photo, a non-finite transform, or a normalisation RunPixels refuses.
  // With `crops_out`, it also receives the 8-bit crops themselves (uint8 [N, H, W, 3]; on a GPU
  // one download of N*H*W*3 bytes), e.g. for a quality estimate on the CPU.
  Result<std::vector<Tensor>> RunWarps(std::span<const PixelImage> images, std::span<const CropWarp> crops,
                                       int height, int width, const PixelNormalization& norm,
                                       Tensor* crops_out = nullptr) const;

  // The backend the model runs on ("ref", "cpu", "cuda"); individual nodes may run on "ref".
  // With allow_cpu_fallback and no usable GPU this is the CPU backend, not "cuda".
  std::string backend_name() const;
  // Why a requested GPU was not used (allow_cpu_fallback), empty otherwise.
  std::string device_warning() const;
  // The precision the model runs in: "fp32", "tf32" or "fp16" on cuda ("auto" resolved), "fp32"
  // on the CPU backends. With precision "auto" on a GPU with tensor cores (compute capability
  // >= 7.0), Load runs the model once in fp16 and once in fp32/tf32 on a deterministic input and
  // keeps fp16 only if every float output is finite with cosine >= 0.999; precision_note() says
  // what the check found (empty unless precision was "auto" on such a GPU).
  std::string precision() const;
  std::string precision_note() const;
  // The batch a Run of `n` samples runs at (ModelOptions::pad_batch): n, or n rounded up.
  int64_t PaddedBatch(int64_t n) const;
  // ModelOptions::pixel_inputs resolved (auto: true on cuda), before $FK_PIXEL_INPUTS.
  bool pixel_inputs() const;
  // How many input-shape sets (x thread counts) have been planned so far (each holds its plan,
  // and on a GPU its arena and CUDA graph).
  size_t planned_shapes() const;
  // Per node of the optimized graph, in order: {op type, backend it runs on for these input
  // shapes} ("cuda", "cpu", "ref", "plan-time"). A node the model's backend refused runs on
  // "ref": on a GPU that is a host round trip per run (facekit selftest --device cuda fails on it).
  Result<std::vector<std::pair<std::string, std::string>>> NodeBackends(const std::vector<Shape>& input_shapes) const;

  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  struct Impl;
  // Internal: the implementation (engine/executor.h); not part of the stable API.
  const Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fk
