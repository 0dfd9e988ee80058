// Simple rasterisation onto 8-bit RGB images.
#include "vision/draw.h"

#include <algorithm>
#include <cmath>

namespace fk::vision {
namespace {

inline void Put(Image& img, int x, int y, Rgb c) {
  if (x < 0 || y < 0 || x >= img.width() || y >= img.height()) return;
  uint8_t* p = img.at(x, y);
  p[0] = c.r, p[1] = c.g, p[2] = c.b;
}

// Fills pixel columns [x0, x1) x rows [y0, y1), clipped.
void FillPixels(Image& img, long x0, long y0, long x1, long y1, Rgb c) {
  x0 = std::max(x0, 0L), y0 = std::max(y0, 0L);
  x1 = std::min(x1, static_cast<long>(img.width())),
  y1 = std::min(y1, static_cast<long>(img.height()));
  for (long y = y0; y < y1; ++y)
    for (long x = x0; x < x1; ++x) Put(img, static_cast<int>(x), static_cast<int>(y), c);
}

// Pixel index range covered by [a, b) in continuous coordinates, at least one pixel.
// Clamped to a generous range so huge or non-finite values cannot overflow.
inline long PixLo(float a) {
  return std::isfinite(a) ? static_cast<long>(std::floor(std::clamp(a, -1e7f, 1e7f))) : 0;
}
inline long PixHi(float b, long lo) {
  const long hi =
      std::isfinite(b) ? static_cast<long>(std::ceil(std::clamp(b, -1e7f, 1e7f))) : lo + 1;
  return std::max(hi, lo + 1);
}

}  // namespace

void FillBox(Image& img, const BoxF& box, Rgb color) {
  const long x0 = PixLo(box.x0), y0 = PixLo(box.y0);
  FillPixels(img, x0, y0, PixHi(box.x1, x0), PixHi(box.y1, y0), color);
}

void DrawBox(Image& img, const BoxF& box, Rgb color, int thickness) {
  thickness = std::max(thickness, 1);
  const long x0 = PixLo(box.x0), y0 = PixLo(box.y0);
  const long x1 = PixHi(box.x1, x0), y1 = PixHi(box.y1, y0);
  const long t = thickness;
  FillPixels(img, x0, y0, x1, std::min(y0 + t, y1), color);  // top
  FillPixels(img, x0, std::max(y1 - t, y0), x1, y1, color);  // bottom
  FillPixels(img, x0, y0, std::min(x0 + t, x1), y1, color);  // left
  FillPixels(img, std::max(x1 - t, x0), y0, x1, y1, color);  // right
}

void DrawLine(Image& img, Point2f a, Point2f b, Rgb color, int thickness) {
  if (!std::isfinite(a.x) || !std::isfinite(a.y) || !std::isfinite(b.x) || !std::isfinite(b.y))
    return;
  thickness = std::max(thickness, 1);
  const double dx = b.x - a.x, dy = b.y - a.y;
  const double len = std::max(std::abs(dx), std::abs(dy));
  const int steps = static_cast<int>(std::min(std::ceil(len), 1e5)) + 1;
  const int r0 = (thickness - 1) / 2;
  for (int s = 0; s < steps; ++s) {
    const double u = steps > 1 ? static_cast<double>(s) / (steps - 1) : 0.0;
    const long px = static_cast<long>(std::floor(a.x + u * dx)),
               py = static_cast<long>(std::floor(a.y + u * dy));
    FillPixels(img, px - r0, py - r0, px - r0 + thickness, py - r0 + thickness, color);
  }
}

void DrawMarker(Image& img, Point2f p, Rgb color, MarkerShape shape, int size) {
  if (!std::isfinite(p.x) || !std::isfinite(p.y)) return;
  size = std::max(size, 0);
  const long cx = static_cast<long>(std::floor(std::clamp(p.x, -1e7f, 1e7f)));
  const long cy = static_cast<long>(std::floor(std::clamp(p.y, -1e7f, 1e7f)));
  for (long dy = -size; dy <= size; ++dy) {
    for (long dx = -size; dx <= size; ++dx) {
      bool on = false;
      switch (shape) {
        case MarkerShape::kDisc:
          on = dx * dx + dy * dy <= size * size + size;
          break;
        case MarkerShape::kCross:
          on = dx == 0 || dy == 0;
          break;
        case MarkerShape::kSquare:
          on = true;
          break;
        case MarkerShape::kDiamond:
          on = std::abs(dx) + std::abs(dy) <= size;
          break;
      }
      if (on && cx + dx >= 0 && cy + dy >= 0 && cx + dx < img.width() && cy + dy < img.height())
        Put(img, static_cast<int>(cx + dx), static_cast<int>(cy + dy), color);
    }
  }
}

Rgb PaletteColor(int index) {
  static constexpr Rgb kColors[] = {{0, 255, 0},     {255, 64, 64}, {64, 128, 255}, {255, 255, 0},
                                    {255, 0, 255},   {0, 255, 255}, {255, 128, 0},  {128, 0, 255},
                                    {255, 255, 255}, {0, 128, 0}};
  constexpr int n = sizeof(kColors) / sizeof(kColors[0]);
  return kColors[((index % n) + n) % n];
}

}  // namespace fk::vision
