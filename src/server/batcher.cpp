#include "server/batcher.h"

#include <algorithm>

namespace fk::server {

Status BatcherOptions::Validate() const {
  if (max_batch < 1) return InvalidArgument("batching.max_batch must be >= 1, got " + std::to_string(max_batch));
  if (max_batch > 4096) return InvalidArgument("batching.max_batch must be <= 4096, got " + std::to_string(max_batch));
  if (max_delay.count() < 0)
    return InvalidArgument("batching.max_delay_us must be >= 0, got " + std::to_string(max_delay.count()));
  if (workers < 1 || workers > 64) return InvalidArgument("batching.workers must be 1..64, got " + std::to_string(workers));
  return OkStatus();
}

}  // namespace fk::server
