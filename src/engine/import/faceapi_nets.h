// face-api's weights-only networks (@vladmandic/face-api 1.7.15, a port of justadudewhohacks'
// face-api.js), defined in code with GraphBuilder and bound to the published weights
// manifests. The architecture is transcribed from face-api's JavaScript
// (FaceRecognitionNet, FaceLandmark68Net / FaceFeatureExtractor); see docs/faceapi.md.
//
// Input contract (both nets): one float32 NHWC input "input" [N, S, S, 3], RGB, values
// 0..255 (not normalised) — the same tensor face-api's net.forward / computeFaceDescriptor /
// detectLandmarks take for an S x S chip. face-api's own normalisation (subtract the mean
// RGB [122.782, 117.001, 104.298], then divide by 255) is INSIDE the graph. face-api resizes
// (bilinear) any other input size to S x S before the net; facekit's nets take S x S only.
//
//  - Face recognition (face_recognition_model-weights_manifest.json): S = 150. Output
//    "descriptor" [N, 128], the raw (NOT L2-normalised) descriptor; face-api compares
//    descriptors by euclidean distance (same person below about 0.6).
//  - 68-point landmarks (face_landmark_68_model-weights_manifest.json): S = 112. Output
//    "landmarks" [N, 136] = x0, y0, x1, y1, ... relative to the chip (0..1; multiply by the
//    chip size for pixels), in dlib / iBUG 300-W order (jaw 0-16, brows 17-26, nose 27-35,
//    eyes 36-47, mouth 48-67).
#pragma once

#include <string>

#include "engine/ir/graph.h"
#include "facekit/status.h"

namespace fk::engine {

// Picks the network from the manifest's file name (face_recognition_model* or
// face_landmark_68_model*). Unsupported for other face-api manifests.
Result<ir::Graph> LoadFaceApiModel(const std::string& manifest_path);

Result<ir::Graph> LoadFaceApiRecognitionNet(const std::string& manifest_path);
Result<ir::Graph> LoadFaceApiLandmark68Net(const std::string& manifest_path);

// True when `path` names a face-api weights manifest (ends in "-weights_manifest.json").
bool IsFaceApiManifest(const std::string& path);

}  // namespace fk::engine
