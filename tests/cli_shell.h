// Test helper shared by the CLI tests (tests/tools, tests/pipeline): runs a shell command
// and returns what it printed.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace fk::testing {

// Runs `cmd` through popen; returns stdout (and stderr when `with_stderr`), sets *rc to the
// exit status (-1 when it could not run or was killed by a signal).
inline std::string Shell(const std::string& cmd, int* rc, bool with_stderr = true) {
  std::string out;
  FILE* p = popen((cmd + (with_stderr ? " 2>&1" : " 2>/dev/null")).c_str(), "r");
  if (!p) {
    *rc = -1;
    return out;
  }
  std::array<char, 4096> buf;
  while (fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int st = pclose(p);
  *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

}  // namespace fk::testing
