#include "common/batcher.h"

#include <algorithm>

namespace fk {

Status BatcherOptions::Validate(const std::string& what) const {
  if (max_batch < 1) return InvalidArgument(what + ".max_batch must be >= 1, got " + std::to_string(max_batch));
  if (max_batch > 4096) return InvalidArgument(what + ".max_batch must be <= 4096, got " + std::to_string(max_batch));
  if (max_delay.count() < 0)
    return InvalidArgument(what + ".max_delay_us must be >= 0, got " + std::to_string(max_delay.count()));
  if (workers < 1 || workers > 64) return InvalidArgument(what + ".workers must be 1..64, got " + std::to_string(workers));
  return OkStatus();
}

}  // namespace fk
