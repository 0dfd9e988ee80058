// face-api's recognition ResNet and 68-point landmark net, built with GraphBuilder.
// Each function below names the face-api JavaScript it transcribes; additions are kept in
// face-api's order so float rounding follows the peer closely.
#include "engine/import/faceapi_nets.h"

#include <filesystem>

#include "engine/import/graph_builder.h"

namespace fk::engine {

namespace {

using ir::Activation;
using ir::ValueId;

// normalize(x, [122.782, 117.001, 104.298]).div(255)
ValueId Normalize(GraphBuilder& b, ValueId x) {
  const ValueId mean =
      b.ConstantFloats("preprocess/mean_rgb", Shape{3}, {122.782f, 117.001f, 104.298f});
  const ValueId s = b.ConstantFloats("preprocess/scale", Shape{}, {255.f});
  return b.Binary(ir::OpType::kDiv, "preprocess/div", b.Sub("preprocess/sub", x, mean), s);
}

// ---- Face recognition (FaceRecognitionNet) ----

// convLayer: conv2d(x, filters, stride, padding) + bias, then x * scale.weights + scale.biases,
// optional relu.
ValueId ConvLayer(GraphBuilder& b, const std::string& p, ValueId x, int stride, bool relu,
                  const std::string& padding = "SAME") {
  const std::vector<int64_t> wd = b.WeightDims(p + "/conv/filters");
  const int64_t cout = wd.size() == 4 ? wd[3] : 0;
  const ValueId w = b.Weight(p + "/conv/filters");
  const ValueId bias = b.Weight(p + "/conv/bias", Shape{cout});
  ValueId y = b.Conv2D(p + "/conv", x, w, bias, stride, padding);
  y = b.Mul(p + "/scale/mul", y, b.Weight(p + "/scale/weights", Shape{cout}));
  y = b.Add(p + "/scale/add", y, b.Weight(p + "/scale/biases", Shape{cout}));
  return relu ? b.Relu(p + "/relu", y) : y;
}

// residual: relu(conv2(relu(conv1(x))) + x)
ValueId Residual(GraphBuilder& b, const std::string& p, ValueId x) {
  ValueId y = ConvLayer(b, p + "/conv1", x, 1, true);
  y = ConvLayer(b, p + "/conv2", y, 1, false);
  return b.Relu(p + "/out", b.Add(p + "/add", y, x));
}

// residualDown: conv1 is 3x3 stride 2 VALID; the shortcut is avgPool(x, 2, 2, VALID),
// zero-padded on channels when they double; the conv path is zero-padded (one row at the
// bottom, one column at the right) when the pooled shortcut is larger.
ValueId ResidualDown(GraphBuilder& b, const std::string& p, ValueId x, int64_t in_size, int64_t cin,
                     int64_t* out_size) {
  ValueId y = ConvLayer(b, p + "/conv1", x, 2, true, "VALID");
  y = ConvLayer(b, p + "/conv2", y, 1, false);
  const std::vector<int64_t> wd = b.WeightDims(p + "/conv2/conv/filters");
  const int64_t cout = wd.size() == 4 ? wd[3] : cin;
  const int64_t conv_size = (in_size - 3) / 2 + 1;
  const int64_t pool_size = in_size / 2;
  ValueId r = b.AvgPool(p + "/pool", x, 2, 2, "VALID");
  if (conv_size != pool_size) {
    const int32_t d = static_cast<int32_t>(pool_size - conv_size);
    y = b.Pad(p + "/pad_spatial", y, {0, 0, 0, d, 0, d, 0, 0});
  }
  if (cout != cin)
    r = b.Pad(p + "/pad_channels", r, {0, 0, 0, 0, 0, 0, 0, static_cast<int32_t>(cout - cin)});
  *out_size = pool_size;
  return b.Relu(p + "/out", b.Add(p + "/add", r, y));
}

// ---- 68-point landmarks (FaceLandmark68Net over FaceFeatureExtractor) ----

// depthwiseSeparableConv: separableConv2d(x, dw, pw, stride, 'same') + bias
ValueId SepConv(GraphBuilder& b, const std::string& p, ValueId x, int stride) {
  const std::vector<int64_t> pw = b.WeightDims(p + "/pointwise_filter");
  const int64_t cout = pw.size() == 4 ? pw[3] : 0;
  const ValueId dw = b.DepthwiseConv2D(p + "/depthwise", x, b.Weight(p + "/depthwise_filter"),
                                       ir::kNoValue, stride, "SAME");
  return b.Conv2D(p + "/pointwise", dw, b.Weight(p + "/pointwise_filter"),
                  b.Weight(p + "/bias", Shape{cout}), 1, "SAME");
}

// denseBlock4 (stride 2 in conv0; conv0 a plain conv2d in the first block).
ValueId DenseBlock4(GraphBuilder& b, const std::string& p, ValueId x, bool first) {
  ValueId a;
  if (first) {
    const std::vector<int64_t> wd = b.WeightDims(p + "/conv0/filters");
    const int64_t cout = wd.size() == 4 ? wd[3] : 0;
    a = b.Conv2D(p + "/conv0", x, b.Weight(p + "/conv0/filters"),
                 b.Weight(p + "/conv0/bias", Shape{cout}), 2, "SAME", Activation::kRelu);
  } else {
    a = b.Relu(p + "/conv0/relu", SepConv(b, p + "/conv0", x, 2));
  }
  const ValueId i = SepConv(b, p + "/conv1", a, 1);
  const ValueId s = b.Relu(p + "/relu1", b.Add(p + "/add1", a, i));
  const ValueId c = SepConv(b, p + "/conv2", s, 1);
  const ValueId m = b.Relu(p + "/relu2", b.Add(p + "/add2", a, b.Add(p + "/add2i", i, c)));
  const ValueId q = SepConv(b, p + "/conv3", m, 1);
  const ValueId cq = b.Add(p + "/add3c", c, q);
  const ValueId icq = b.Add(p + "/add3i", i, cq);
  return b.Relu(p + "/out", b.Add(p + "/add3", a, icq));
}

std::string FileName(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

}  // namespace

bool IsFaceApiManifest(const std::string& path) {
  const std::string suffix = "-weights_manifest.json";
  return path.size() >= suffix.size() &&
         path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Result<ir::Graph> LoadFaceApiRecognitionNet(const std::string& manifest_path) {
  FK_ASSIGN_OR_RETURN(std::vector<ManifestWeight> weights, ReadWeightsManifest(manifest_path));
  GraphBuilder b(manifest_path, std::move(weights));
  const ValueId in = b.Input("input", Shape{-1, 150, 150, 3});
  ValueId x = Normalize(b, in);
  x = ConvLayer(b, "conv32_down", x, 2, true, "VALID");  // 150 -> 72
  x = b.MaxPool("pool", x, 3, 2, "VALID");               // 72 -> 35
  int64_t size = 35;
  x = Residual(b, "conv32_1", x);
  x = Residual(b, "conv32_2", x);
  x = Residual(b, "conv32_3", x);
  x = ResidualDown(b, "conv64_down", x, size, 32, &size);  // 17
  x = Residual(b, "conv64_1", x);
  x = Residual(b, "conv64_2", x);
  x = Residual(b, "conv64_3", x);
  x = ResidualDown(b, "conv128_down", x, size, 64, &size);  // 8
  x = Residual(b, "conv128_1", x);
  x = Residual(b, "conv128_2", x);
  x = ResidualDown(b, "conv256_down", x, size, 128, &size);  // 4 (conv path 3, zero-padded)
  x = Residual(b, "conv256_1", x);
  x = Residual(b, "conv256_2", x);
  x = ResidualDown(b, "conv256_down_out", x, size, 256, &size);  // 2 (conv path 1, zero-padded)
  x = b.Mean("mean", x, {1, 2});
  const ValueId out = b.MatMul("descriptor", x, b.Weight("fc", Shape{256, 128}));
  return b.Finish({out});
}

Result<ir::Graph> LoadFaceApiLandmark68Net(const std::string& manifest_path) {
  FK_ASSIGN_OR_RETURN(std::vector<ManifestWeight> weights, ReadWeightsManifest(manifest_path));
  GraphBuilder b(manifest_path, std::move(weights));
  const ValueId in = b.Input("input", Shape{-1, 112, 112, 3});
  ValueId x = Normalize(b, in);
  x = DenseBlock4(b, "dense0", x, true);    // 56
  x = DenseBlock4(b, "dense1", x, false);   // 28
  x = DenseBlock4(b, "dense2", x, false);   // 14
  x = DenseBlock4(b, "dense3", x, false);   // 7
  x = b.AvgPool("pool", x, 7, 2, "VALID");  // 1x1x256
  x = b.Reshape("flatten", x, {-1, 256});
  const ValueId out = b.MatMul("landmarks", x, b.Weight("fc/weights", Shape{256, 136}),
                               b.Weight("fc/bias", Shape{136}));
  return b.Finish({out});
}

Result<ir::Graph> LoadFaceApiModel(const std::string& manifest_path) {
  const std::string name = FileName(manifest_path);
  if (name.rfind("face_recognition_model", 0) == 0) return LoadFaceApiRecognitionNet(manifest_path);
  if (name.rfind("face_landmark_68_model", 0) == 0) return LoadFaceApiLandmark68Net(manifest_path);
  return Unsupported("'" + manifest_path +
                     "': unknown face-api network (supported weights manifests: "
                     "face_recognition_model-weights_manifest.json, "
                     "face_landmark_68_model-weights_manifest.json)");
}

}  // namespace fk::engine
