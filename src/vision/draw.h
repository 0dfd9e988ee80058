// Drawing on Images for `facekit detect --draw`: boxes, lines, landmark markers.
// Coordinates are facekit continuous coordinates (docs/conventions.md); everything is
// clipped to the image, so shapes partly or wholly outside are fine.
#pragma once

#include "facekit/image.h"

namespace fk::vision {

enum class MarkerShape { kDisc, kCross, kSquare, kDiamond };

// Outline of `box`, `thickness` pixels drawn inward from the box edges.
void DrawBox(Image& img, const BoxF& box, Rgb color, int thickness = 2);
// Filled box.
void FillBox(Image& img, const BoxF& box, Rgb color);
// Line from a to b, `thickness` pixels wide.
void DrawLine(Image& img, Point2f a, Point2f b, Rgb color, int thickness = 1);
// Marker centred on p; `size` is its radius in pixels.
void DrawMarker(Image& img, Point2f p, Rgb color, MarkerShape shape = MarkerShape::kDisc,
                int size = 2);

// Distinct colours for face indices / landmark indices.
Rgb PaletteColor(int index);

}  // namespace fk::vision
