// CPU time of the calling process / thread in milliseconds (benchmarks and stage timings:
// robust to other load on a shared machine, unlike wall time).
#pragma once

#include <ctime>

namespace fk {

inline double CpuClockMs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return 1e3 * static_cast<double>(ts.tv_sec) + 1e-6 * static_cast<double>(ts.tv_nsec);
}
inline double ProcessCpuMs() { return CpuClockMs(CLOCK_PROCESS_CPUTIME_ID); }
inline double ThreadCpuMs() { return CpuClockMs(CLOCK_THREAD_CPUTIME_ID); }

}  // namespace fk
