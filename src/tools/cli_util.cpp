#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tools/commands.h"

namespace fk::tools {

bool HasFlag(const Args& args, const std::string& flag) {
  for (const auto& a : args)
    if (a == flag) return true;
  return false;
}

std::string FlagValue(const Args& args, const std::string& flag, const std::string& def) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag && i + 1 < args.size()) return args[i + 1];
    if (args[i].rfind(flag + "=", 0) == 0) return args[i].substr(flag.size() + 1);
  }
  return def;
}

std::vector<std::string> Positional(const Args& args, const std::vector<std::string>& value_flags) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) == 0) {
      bool takes_value = false;
      for (const auto& f : value_flags)
        if (a == f) takes_value = true;
      if (takes_value) ++i;
      continue;
    }
    out.push_back(a);
  }
  return out;
}

std::string ModelsDir() {
  if (const char* e = std::getenv("FK_MODELS_DIR"); e && *e) return e;
  if (std::filesystem::exists("models/manifest.json")) return "models";
#ifdef FK_SOURCE_DIR
  return std::string(FK_SOURCE_DIR) + "/models";
#else
  return "models";
#endif
}

std::string CpuModel() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      auto c = line.find(':');
      if (c != std::string::npos) return line.substr(c + 2);
    }
  return "unknown";
}

std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  if (!(f >> a >> b >> c)) return "unknown";
  return a + " " + b + " " + c;
}

Status WritePpm(const Image& img, const std::string& path) {
  std::ofstream f(path, std::ios::binary);
  f << "P6\n" << img.width() << " " << img.height() << "\n255\n";
  for (int y = 0; y < img.height(); ++y) f.write(reinterpret_cast<const char*>(img.row(y)), 3 * int64_t{img.width()});
  if (!f) return Unavailable("cannot write " + path);
  return OkStatus();
}

Result<std::vector<std::pair<std::string, std::string>>> ReadPairsCsv(const std::string& path, const std::string& what) {
  std::ifstream f(path);
  if (!f) return NotFound(what + " " + path + " not found");
  std::vector<std::pair<std::string, std::string>> rows;
  std::string line;
  bool header = true;
  while (std::getline(f, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) continue;
    if (header) {
      header = false;
      continue;
    }
    const size_t c = line.find(',');
    if (c == std::string::npos) return InvalidArgument(path + ": line '" + line + "' is not 'a,b'");
    rows.emplace_back(line.substr(0, c), line.substr(c + 1));
  }
  return rows;
}

Progress::Progress(size_t total, bool enabled)
    : total_(total), enabled_(enabled && total >= 5), start_(Clock::now()) {}

void Progress::Tick() {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mu_);
  ++done_;
  const double el = std::chrono::duration<double>(Clock::now() - start_).count();
  if (done_ != total_ && el - last_ < 0.2) return;
  last_ = el;
  const int width = 30;
  const int fill = static_cast<int>(width * done_ / std::max<size_t>(total_, 1));
  std::fprintf(stderr, "\r[%.*s%*s] %zu/%zu  %.1f/s ", fill, "##############################", width - fill, "",
               done_, total_, done_ / std::max(el, 1e-9));
  if (done_ == total_) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

}  // namespace fk::tools
