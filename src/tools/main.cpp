// facekit — one command, many sub-commands (see src/tools/commands.h).
#include <malloc.h>

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
    {"run-model", fk::tools::CmdRunModel, "run a model on .npy inputs (or --random) and print/save outputs"},
    {"inspect", fk::tools::CmdInspect, "describe a model: inputs, outputs, ops, backends, arena size"},
    {"bisect", fk::tools::CmdBisect, "name the first node whose output differs between two backends"},
    {"gallery", fk::tools::CmdGallery, "create|list|delete|export|import|backup|check galleries"},
    {"enroll", fk::tools::CmdEnroll, "enroll templates of a subject into a gallery"},
    {"identify", fk::tools::CmdIdentify, "search a gallery for the closest subjects (1:N)"},
    {"subject", fk::tools::CmdSubject, "list|show|delete subjects of a gallery"},
    {"selftest", fk::tools::CmdSelftest, "run every model on a device (--device cuda) and compare with the CPU"},
    {"detect", fk::tools::CmdDetect, "find faces, landmarks, pose and quality in photos (--json, --draw)"},
    {"embed", fk::tools::CmdEmbed, "face template of the largest face in a photo (--out T.bin)"},
    {"verify", fk::tools::CmdVerify, "1:1 verification of two photos or templates (calibrated FAR)"},
    {"eval", fk::tools::CmdEval, "evaluations: lfw (accuracy, ROC, calibration) | speed (photos/s)"},
    {"serve", fk::tools::CmdServe, "HTTP processing server: batching, queue limits, API keys, /status"},
    {"bench", fk::tools::CmdBench, "benchmarks: engine (vs TF.js wasm) | search | server"},
};

void Usage() {
  std::fprintf(stderr, "usage: facekit <command> [args...]\n\ncommands:\n");
  for (const auto& c : kCommands) std::fprintf(stderr, "  %-12s %s\n", c.name, c.help);
  std::fprintf(stderr, "\n`facekit <command> --help` for a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  // Keep freed memory in the process instead of returning it to the kernel after every
  // image: model runs and decoded photos allocate tens of MB each, and glibc's defaults
  // (mmap above 128 KiB-32 MiB, trim above 128 KiB) turn every run into page faults and
  // kernel zeroing. Measured: -15% CPU time per photo in `facekit eval speed`
  // (docs/pipeline.md, "Where the time goes"). Library users: the same two mallopt calls.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
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
