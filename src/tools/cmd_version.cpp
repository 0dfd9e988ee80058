#include <cstdio>

#include "tools/commands.h"

namespace fk::tools {

int CmdVersion(const Args&) {
  std::printf("facekit 0.1.0\n");
#ifdef FK_HAVE_DNNL
  std::printf("cpu backend: oneDNN\n");
#else
  std::printf("cpu backend: not built (oneDNN missing)\n");
#endif
#ifdef FK_HAVE_CUDA
  std::printf("cuda backend: built\n");
#else
  std::printf("cuda backend: not built\n");
#endif
  return 0;
}

}  // namespace fk::tools
