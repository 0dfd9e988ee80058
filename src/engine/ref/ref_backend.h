// The reference backend: plain loops, one file per op (engine/ref/<op>.cpp), kept forever
// as the test oracle. Correctness over speed; accumulates in double where it matters.
#pragma once

#include "engine/backend.h"

namespace fk::engine {
const Backend* RefBackend();
}
