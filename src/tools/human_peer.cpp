// Running the Human library's Node scripts (tests/reference/human) as peers of `facekit eval`.
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "tools/commands.h"

namespace fk::tools {

namespace fs = std::filesystem;

std::string HumanPeerDir() {
#ifdef FK_SOURCE_DIR
  return std::string(FK_SOURCE_DIR) + "/tests/reference/human";
#else
  return "tests/reference/human";
#endif
}

Result<HumanPeerOutput> RunHumanScript(const std::string& script_name, const std::string& args,
                                       const std::vector<std::string>& files, int max_side, bool skip_undecodable) {
  const std::string dir = HumanPeerDir();
  const std::string script = dir + "/" + script_name;
  if (!fs::exists(script)) return NotFound("Human peer script not found: " + script);
  if (!fs::exists(dir + "/node_modules/@vladmandic/human"))
    return NotFound("Human peer not installed: run `npm ci` in " + dir + " (or scripts/install_deps.sh)");
  std::string cmd = "node '" + script + "' " + args;
  std::error_code ec;
  const fs::path tmp = fs::temp_directory_path(ec) / ("facekit-human-peer-" + std::to_string(getpid()));
  fs::create_directories(tmp, ec);
  if (ec) return Unavailable("Human peer: cannot create " + tmp.string() + ": " + ec.message());
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code e;
      fs::remove_all(dir, e);
    }
  } cleanup{tmp};
  HumanPeerOutput out;
  for (size_t k = 0; k < files.size(); ++k) {
    DecodeOptions o;
    o.max_side = max_side;
    auto img = DecodeImageFile(files[k], o);
    if (!img.ok()) {
      if (skip_undecodable) continue;
      return img.status();
    }
    const std::string ppm = (tmp / (std::to_string(k) + ".ppm")).string();
    FK_RETURN_IF_ERROR(WritePpm(*img, ppm).WithContext("Human peer"));
    out.ppm_to_photo[ppm] = files[k];
    out.photos.push_back(files[k]);
    cmd += " '" + ppm + "'";
  }
  if (out.photos.empty()) return InvalidArgument("Human peer: none of the photos could be decoded");
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return Unavailable("could not start node for the Human peer (is Node.js installed?)");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.stdout_text.append(buf, n);
  if (const int rc = pclose(p); rc != 0)
    return Unavailable("Human peer failed (exit status " + std::to_string(rc) + "); run it by hand: " + cmd);
  return out;
}

}  // namespace fk::tools
