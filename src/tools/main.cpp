// facekit — one command, many sub-commands (see src/tools/commands.h).
#include <cstdio>
#include <cstring>
#include <string>

#include "tools/commands.h"

namespace {

struct Command {
  const char* name;
  int (*fn)(const fk::tools::Args&);
  const char* help;
};

// The explicit table of sub-commands. One line per command.
const Command kCommands[] = {
    {"version", fk::tools::CmdVersion, "print version and build configuration"},
};

void Usage() {
  std::fprintf(stderr, "usage: facekit <command> [args...]\n\ncommands:\n");
  for (const auto& c : kCommands) std::fprintf(stderr, "  %-12s %s\n", c.name, c.help);
  std::fprintf(stderr, "\n`facekit <command> --help` for a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    Usage();
    return argc < 2 ? 2 : 0;
  }
  fk::tools::Args args(argv + 2, argv + argc);
  for (const auto& c : kCommands)
    if (std::strcmp(c.name, argv[1]) == 0) return c.fn(args);
  std::fprintf(stderr, "facekit: unknown command '%s'\n\n", argv[1]);
  Usage();
  return 2;
}
