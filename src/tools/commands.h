// Sub-commands of the `facekit` CLI. Each lives in src/tools/cmd_<name>.cpp and is
// listed once in the table in main.cpp. Conventions: `--json` for machine output,
// errors to stderr as "facekit <cmd>: <message>", exit code 0 ok / 1 error / 2 usage.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "facekit/image.h"
#include "facekit/status.h"

namespace fk::tools {

using Args = std::vector<std::string>;  // arguments after the sub-command name

int CmdVersion(const Args& args);
int CmdRunModel(const Args& args);    // facekit run-model MODEL INPUT.npy... [--out DIR] [--backend B]
int CmdInspect(const Args& args);     // facekit inspect MODEL
int CmdBisect(const Args& args);      // facekit bisect MODEL INPUT.npy --a ref --b cpu
int CmdBench(const Args& args);       // facekit bench engine|search ...
int BenchSearch(const Args& args);    // facekit bench search (src/tools/bench_search.cpp)
int CmdGallery(const Args& args);     // facekit gallery create|list|delete
int CmdEnroll(const Args& args);
int CmdIdentify(const Args& args);
int CmdSubject(const Args& args);
int CmdSelftest(const Args& args);    // facekit selftest --device cuda[:N] [--models DIR] [--json]
int CmdDetect(const Args& args);      // facekit detect IMAGES... [--json] [--draw OUT]   (cmd_face.cpp)
int CmdEmbed(const Args& args);       // facekit embed IMAGE [--out T.bin] [--json]
int CmdVerify(const Args& args);      // facekit verify A B [--json]
int CmdEval(const Args& args);        // facekit eval lfw|speed|detect|attributes ...
int EvalAttributes(const Args& args); // facekit eval attributes (eval_attributes.cpp)
int CmdServe(const Args& args);       // facekit serve [--config server.json] ... (cmd_serve.cpp)
int BenchServer(const Args& args);    // facekit bench server (bench_server.cpp)

// Small helpers shared by commands (cli_util.cpp).
bool HasFlag(const Args& args, const std::string& flag);
// Value of "--flag VALUE" or "--flag=VALUE"; `def` if absent.
std::string FlagValue(const Args& args, const std::string& flag, const std::string& def = "");
// Positional arguments (not flags and not flag values). `value_flags` lists flags that take a value.
std::vector<std::string> Positional(const Args& args, const std::vector<std::string>& value_flags);
// Directory holding fetched models: $FK_MODELS_DIR, else ./models, else <source>/models.
std::string ModelsDir();
// The 1, 5 and 15-minute load averages from /proc/loadavg ("unknown" where unreadable), for
// benchmark reports: a load above the core count means other work shared the CPUs.
std::string LoadAverage();
// The CPU's model name from /proc/cpuinfo ("unknown" where unreadable).
std::string CpuModel();
// Writes `img` as a binary 8-bit PPM (P6), how `facekit eval` hands its own decode of a photo to
// the Node peers (tests/reference/human). Unavailable naming the path when it cannot be written.
Status WritePpm(const Image& img, const std::string& path);

// The rows of a two-column CSV with a header line ("file,identity", "identity,gender"): the text
// before and after the first comma, trailing spaces and CR removed, blank lines skipped. NotFound
// "<what> <path> not found"; InvalidArgument naming a line without a comma.
Result<std::vector<std::pair<std::string, std::string>>> ReadPairsCsv(const std::string& path, const std::string& what);

// A progress bar on stderr for long runs over files ("[####    ] 12/61  4.2/s"), redrawn at most
// every 0.2 s; silent when not enabled or for fewer than 5 items. Tick() is thread-safe.
class Progress {
 public:
  Progress(size_t total, bool enabled);
  void Tick();

 private:
  using Clock = std::chrono::steady_clock;
  size_t total_, done_ = 0;
  bool enabled_;
  Clock::time_point start_;
  double last_ = -1;
  std::mutex mu_;
};

// The Human library's Node peer scripts (tests/reference/human; human_peer.cpp).
std::string HumanPeerDir();
struct HumanPeerOutput {
  std::string stdout_text;                           // what the script printed
  std::vector<std::string> photos;                   // the photos handed to it, in order
  std::map<std::string, std::string> ppm_to_photo;   // the PPM path it saw -> the photo
};
// Runs `node <HumanPeerDir()>/<script> <args> PPM...`, each PPM facekit's decode of a photo (EXIF
// applied, longer side at most max_side) so that both sides see the same pixels. A photo that does
// not decode is left out when skip_undecodable, else its error is returned. NotFound when the
// script or its node_modules is missing; Unavailable when node fails (the command is named).
Result<HumanPeerOutput> RunHumanScript(const std::string& script, const std::string& args,
                                       const std::vector<std::string>& files, int max_side, bool skip_undecodable);

}  // namespace fk::tools
