// Reading TF.js weights manifests (`weightsManifest` of a model.json, or a face-api
// `*-weights_manifest.json`): the one reader shared by the TF.js graph-model loader and the
// graph builder.
//
// Contract: `groups` is a JSON list of {paths, weights:[{name, shape, dtype, quantization?}]};
// the shards of each group (paths relative to `dir`) are concatenated in `paths` order and the
// weights sliced out in manifest order. float32 and int32 are read raw; uint8 / uint16
// quantized weights are dequantized as q * scale + min (computed in double, stored as float32,
// like tfjs-core's io.decodeWeights); float16 is converted to float32.
// Errors: NotFound (a shard missing), DataLoss (malformed entries, truncated shard, sizes that
// do not match), Unsupported (unknown dtype). Messages name `source`, the shard and the weight.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "facekit/status.h"
#include "facekit/tensor.h"

namespace fk::engine {

struct ManifestWeight {
  std::string name;
  Tensor tensor;
};

// Appends the weights of every group in `groups` to `out`. `source` is the file the manifest
// came from (model.json or the manifest file), named in error messages.
Status ReadManifestGroups(const std::string& source, const std::string& dir,
                          const nlohmann::json& groups, std::vector<ManifestWeight>* out);

}  // namespace fk::engine
