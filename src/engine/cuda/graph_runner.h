// Device-resident whole-graph runs for the CUDA backend (host-only header; docs/cuda.md,
// "Device-resident runs").
//
// A run: the graph inputs are copied to the GPU once, every planned node is enqueued on one
// stream with RunDevice (intermediate values live in one arena planned with the executor's
// liveness-based PlanMemory, so memory is reused between values whose lifetimes do not overlap),
// nodes planned on another backend (ref fallback) go D2H -> host kernel -> H2D, the graph
// outputs are copied back once, and the stream is synchronised once (plus once per host node).
//
// Mode "graph" additionally captures the enqueued sequence as a CUDA Graph on the first run
// (after an eager warm-up run on the same buffers) and replays it afterwards with
// cudaGraphLaunch. It applies only when every node runs on the GPU; one captured instance per
// planned input-shape set, used by one thread at a time (a concurrent caller runs eagerly).
// A failed capture is reported once on stderr and the runner stays eager.
//
// Thread-safety: Run is const and may be called concurrently (each call takes its own
// execution slot = stream + handles, and its own arena from the pool).
#pragma once

#include <memory>

#include "engine/backend.h"

namespace fk::engine::cuda {

// nullptr when no step of `pg` runs on the GPU. pg.mode: "resident" or "graph".
// FK_CUDA_VERBOSE=1 prints the runner's Describe() line to stderr when it is created.
Result<std::unique_ptr<GraphRunner>> CreateCudaGraphRunner(const PlannedGraph& pg);

}  // namespace fk::engine::cuda
