// The CPU backend on oneDNN (engine/cpu/<op>.cpp). Ops it does not support run on the
// reference backend (the executor falls back per node).
#pragma once

#include "engine/backend.h"

namespace fk::engine {
const Backend* CpuBackend();
}
