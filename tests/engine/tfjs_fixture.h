// Writes tiny TF.js graph models (model.json + one .bin shard) for tests.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

namespace fk::testing {

inline std::string B64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -6;
  for (unsigned char c : in) {
    val = (val << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out.push_back(k[(val >> bits) & 0x3f]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(k[((val << 8) >> (bits + 8)) & 0x3f]);
  while (out.size() % 4) out.push_back('=');
  return out;
}

class TfjsFixture {
 public:
  using json = nlohmann::ordered_json;

  // Float32 constant.
  void Const(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& v) {
    AddWeight(name, shape, "float32", Bytes(v.data(), v.size() * 4), json());
    AddConstNode(name, "DT_FLOAT");
  }
  void ConstI32(const std::string& name, std::vector<int64_t> shape, const std::vector<int32_t>& v) {
    AddWeight(name, shape, "int32", Bytes(v.data(), v.size() * 4), json());
    AddConstNode(name, "DT_INT32");
  }
  // float16-quantized constant (raw half bits given).
  void ConstF16(const std::string& name, std::vector<int64_t> shape, const std::vector<uint16_t>& bits) {
    AddWeight(name, shape, "float32", Bytes(bits.data(), bits.size() * 2),
              json{{"dtype", "float16"}, {"original_dtype", "float32"}});
    AddConstNode(name, "DT_FLOAT");
  }
  // uint8-quantized constant: value = q * scale + min.
  void ConstU8(const std::string& name, std::vector<int64_t> shape, const std::vector<uint8_t>& q, float scale,
               float min) {
    AddWeight(name, shape, "float32", Bytes(q.data(), q.size()),
              json{{"dtype", "uint8"}, {"scale", scale}, {"min", min}, {"original_dtype", "float32"}});
    AddConstNode(name, "DT_FLOAT");
  }
  void Placeholder(const std::string& name, std::vector<int64_t> shape) {
    json dims = json::array();
    for (auto d : shape) dims.push_back({{"size", std::to_string(d)}});
    nodes_.push_back({{"name", name},
                      {"op", "Placeholder"},
                      {"attr", {{"dtype", {{"type", "DT_FLOAT"}}}, {"shape", {{"shape", {{"dim", dims}}}}}}}});
  }
  json& Op(const std::string& name, const std::string& op, std::vector<std::string> inputs, json attr = json::object()) {
    nodes_.push_back({{"name", name}, {"op", op}, {"input", inputs}, {"attr", attr}});
    return nodes_.back();
  }
  static json S(const std::string& s) { return {{"s", B64(s)}}; }
  static json I(int64_t i) { return {{"i", std::to_string(i)}}; }
  static json F(float f) { return {{"f", f}}; }
  static json Bool(bool b) { return {{"b", b}}; }
  static json Ints(std::vector<int64_t> v) {
    json l = json::array();
    for (auto x : v) l.push_back(std::to_string(x));
    return {{"list", {{"i", l}}}};
  }
  static json Strs(std::vector<std::string> v) {
    json l = json::array();
    for (auto& x : v) l.push_back(B64(x));
    return {{"list", {{"s", l}}}};
  }
  void SignatureOutputs(std::vector<std::string> names) { sig_outputs_ = names; }

  // Writes dir/model.json and dir/model.bin; returns the model.json path.
  std::string Write(const std::string& dir) const {
    std::filesystem::create_directories(dir);
    json root;
    root["format"] = "graph-model";
    root["modelTopology"] = {{"node", nodes_}};
    root["weightsManifest"] = json::array({{{"paths", {"model.bin"}}, {"weights", weights_}}});
    if (!sig_outputs_.empty()) {
      json outs = json::object();
      for (auto& n : sig_outputs_) outs[n] = {{"name", n}};
      root["signature"] = {{"outputs", outs}};
    }
    std::ofstream(dir + "/model.json") << root.dump(1);
    std::ofstream(dir + "/model.bin", std::ios::binary).write(bin_.data(), static_cast<std::streamsize>(bin_.size()));
    return dir + "/model.json";
  }

 private:
  static std::string Bytes(const void* p, size_t n) { return std::string(static_cast<const char*>(p), n); }
  void AddWeight(const std::string& name, const std::vector<int64_t>& shape, const std::string& dtype,
                 const std::string& bytes, const json& q) {
    json w = {{"name", name}, {"shape", shape}, {"dtype", dtype}};
    if (!q.is_null()) w["quantization"] = q;
    weights_.push_back(w);
    bin_ += bytes;
  }
  void AddConstNode(const std::string& name, const std::string& dt) {
    nodes_.push_back({{"name", name}, {"op", "Const"}, {"attr", {{"dtype", {{"type", dt}}}}}});
  }
  json nodes_ = json::array();
  json weights_ = json::array();
  std::string bin_;
  std::vector<std::string> sig_outputs_;
};

inline std::string TempDir(const std::string& name) {
  const auto d = std::filesystem::temp_directory_path() / ("facekit_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d.string();
}

}  // namespace fk::testing
