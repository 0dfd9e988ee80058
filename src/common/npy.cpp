#include "common/npy.h"

#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <vector>

namespace fk {

Result<Tensor> LoadNpy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound("cannot open .npy file '" + path + "'");
  char magic[8];
  if (!f.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    return DataLoss("'" + path + "' is not a .npy file (bad magic)");
  uint32_t hlen = 0;
  if (magic[6] == 1) {
    uint16_t h16 = 0;
    if (!f.read(reinterpret_cast<char*>(&h16), 2)) return DataLoss("'" + path + "': truncated header");
    hlen = h16;
  } else if (magic[6] == 2 || magic[6] == 3) {
    if (!f.read(reinterpret_cast<char*>(&hlen), 4)) return DataLoss("'" + path + "': truncated header");
  } else {
    return Unsupported("'" + path + "': unsupported .npy version " + std::to_string(int(magic[6])));
  }
  if (hlen > (1u << 20)) return DataLoss("'" + path + "': header too large");
  std::string header(hlen, '\0');
  if (!f.read(header.data(), hlen)) return DataLoss("'" + path + "': truncated header");

  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr'\\s*:\\s*'([^']*)'")))
    return DataLoss("'" + path + "': header has no descr");
  std::string descr = m[1];
  if (std::regex_search(header, m, std::regex("'fortran_order'\\s*:\\s*True")))
    return Unsupported("'" + path + "': Fortran-order arrays are not supported; save with C order");
  if (!std::regex_search(header, m, std::regex("'shape'\\s*:\\s*\\(([^)]*)\\)")))
    return DataLoss("'" + path + "': header has no shape");
  std::vector<int64_t> dims;
  {
    std::string s = m[1];
    std::stringstream ss(s);
    std::string tok;
    while (std::getline(ss, tok, ',')) {
      size_t b = tok.find_first_not_of(" \t");
      if (b == std::string::npos) continue;
      try {
        long long v = std::stoll(tok.substr(b));
        if (v < 0) return DataLoss("'" + path + "': negative dimension");
        dims.push_back(v);
      } catch (...) {
        return DataLoss("'" + path + "': bad shape entry '" + tok + "'");
      }
    }
  }
  Shape shape(dims);
  DType dt;
  bool from_f64 = false;
  if (descr == "<f4" || descr == "=f4") dt = DType::kFloat32;
  else if (descr == "<f8" || descr == "=f8") { dt = DType::kFloat32; from_f64 = true; }
  else if (descr == "<i4" || descr == "=i4") dt = DType::kInt32;
  else if (descr == "|u1" || descr == "<u1") dt = DType::kUInt8;
  else if (descr == "<i8" || descr == "=i8") dt = DType::kInt64;
  else return Unsupported("'" + path + "': unsupported dtype '" + descr + "' (use float32, float64, int32, int64 or uint8)");
  if (shape.num_elements() > (int64_t(1) << 32)) return DataLoss("'" + path + "': array too large");
  Tensor t(dt, shape);
  if (from_f64) {
    std::vector<double> tmp(static_cast<size_t>(shape.num_elements()));
    if (!f.read(reinterpret_cast<char*>(tmp.data()), std::streamsize(tmp.size() * 8)))
      return DataLoss("'" + path + "': truncated data (expected " + std::to_string(tmp.size() * 8) + " bytes)");
    float* d = t.data<float>();
    for (size_t i = 0; i < tmp.size(); ++i) d[i] = static_cast<float>(tmp[i]);
  } else if (!f.read(static_cast<char*>(t.raw()), std::streamsize(t.nbytes()))) {
    return DataLoss("'" + path + "': truncated data (expected " + std::to_string(t.nbytes()) + " bytes)");
  }
  return t;
}

Status SaveNpy(const std::string& path, const Tensor& t) {
  const char* descr = nullptr;
  switch (t.dtype()) {
    case DType::kFloat32: descr = "<f4"; break;
    case DType::kInt32: descr = "<i4"; break;
    case DType::kUInt8: descr = "|u1"; break;
    case DType::kInt64: descr = "<i8"; break;
  }
  std::string shape = "(";
  for (int i = 0; i < t.shape().rank(); ++i) shape += std::to_string(t.shape()[i]) + (t.shape().rank() == 1 ? "," : (i + 1 < t.shape().rank() ? ", " : ""));
  shape += ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t total = 10 + header.size() + 1;
  size_t pad = (64 - total % 64) % 64;
  header += std::string(pad, ' ') + "\n";
  std::ofstream f(path, std::ios::binary);
  if (!f) return IoError("cannot write '" + path + "'");
  f.write("\x93NUMPY\x01\x00", 8);
  uint16_t hl = static_cast<uint16_t>(header.size());
  f.write(reinterpret_cast<const char*>(&hl), 2);
  f.write(header.data(), std::streamsize(header.size()));
  f.write(static_cast<const char*>(t.raw()), std::streamsize(t.nbytes()));
  if (!f) return IoError("failed writing '" + path + "' (disk full?)");
  return OkStatus();
}

}  // namespace fk
