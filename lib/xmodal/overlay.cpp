#include "xmodal/overlay.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstdio>
#include <unordered_set>

namespace xmodal {

namespace {

constexpr int font_face = cv::FONT_HERSHEY_SIMPLEX;
// OpenCV asserts on larger values; nothing sensible is drawn beyond these anyway.
constexpr int max_thickness = 1024;
constexpr double max_font_scale = 100.0;

// Anti-aliased strokes from 2 px up. An anti-aliased 1-px stroke gives no pixel its full colour
// (OpenCV peaks at about 90 % coverage), so thin lines and small text would come out faded and
// blurry; they are drawn crisp instead.
int line_type(int thickness) { return thickness >= 2 ? cv::LINE_AA : cv::LINE_8; }

std::uint8_t to_byte(double v) { return static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L)); }

std::uint8_t blend(std::uint8_t colour, std::uint8_t dst, int alpha) {
    return static_cast<std::uint8_t>((colour * alpha + dst * (255 - alpha) + 127) / 255);
}

bool planar(PixelFormat format) { return format == PixelFormat::i420 || format == PixelFormat::nv12; }

// Byte offsets of R, G, B inside a packed pixel.
std::array<int, 3> rgb_offsets(PixelFormat format) {
    switch (format) {
        case PixelFormat::bgr:
        case PixelFormat::bgrx:
        case PixelFormat::bgra: return {2, 1, 0};
        default: return {0, 1, 2};
    }
}

PixelRect intersect(PixelRect a, PixelRect b) {
    return {std::max(a.x1, b.x1), std::max(a.y1, b.y1), std::min(a.x2, b.x2), std::min(a.y2, b.y2)};
}

// Blends `colour` over `dst` with coverage a (1..255); full coverage writes it as is.
void put(std::uint8_t& dst, std::uint8_t colour, int a) { dst = a == 255 ? colour : blend(colour, dst, a); }

struct ChromaRows {
    std::uint8_t* u;
    std::uint8_t* v;
    int step;  // bytes between samples: 2 in NV12's interleaved plane
};
ChromaRows chroma_rows(const VideoFrameView& frame, int cy) {
    std::uint8_t* u = frame.planes[1] + static_cast<std::ptrdiff_t>(cy) * frame.strides[1];
    if (frame.format == PixelFormat::nv12) return {u, u + 1, 2};
    return {u, frame.planes[2] + static_cast<std::ptrdiff_t>(cy) * frame.strides[2], 1};
}

// Chroma samples touched by luma pixels [x1, x2) x [y1, y2): a sample covers a 2x2 luma block.
PixelRect chroma_area(PixelRect luma) { return {luma.x1 / 2, luma.y1 / 2, (luma.x2 + 1) / 2, (luma.y2 + 1) / 2}; }

// Solid colour over `area` (already clipped to the frame).
void fill(const VideoFrameView& frame, YuvEncoding encoding, PixelRect area, Rgb colour) {
    if (area.empty()) return;
    if (!planar(frame.format)) {
        const int bpp = packed_pixel_bytes(frame.format);
        const auto [ro, go, bo] = rgb_offsets(frame.format);
        for (int y = area.y1; y < area.y2; ++y) {
            std::uint8_t* px = frame.planes[0] + static_cast<std::ptrdiff_t>(y) * frame.strides[0] + static_cast<std::ptrdiff_t>(area.x1) * bpp;
            for (int x = area.x1; x < area.x2; ++x, px += bpp) px[ro] = colour.r, px[go] = colour.g, px[bo] = colour.b;
        }
        return;
    }
    const Yuv yuv = yuv_from_rgb(colour, encoding);
    for (int y = area.y1; y < area.y2; ++y)
        std::fill_n(frame.planes[0] + static_cast<std::ptrdiff_t>(y) * frame.strides[0] + area.x1, area.x2 - area.x1, yuv.y);
    const PixelRect c = chroma_area(area);
    for (int cy = c.y1; cy < c.y2; ++cy) {
        const ChromaRows rows = chroma_rows(frame, cy);
        for (int cx = c.x1; cx < c.x2; ++cx) rows.u[cx * rows.step] = yuv.u, rows.v[cx * rows.step] = yuv.v;
    }
}

// A coverage mask for `area` of the frame: shapes are rasterised into it at frame coordinates
// minus the area's origin, then painted once, so every format gets the same shape.
struct Mask {
    PixelRect area;
    cv::Mat pixels;  // CV_8UC1, 0 = untouched, 255 = full colour

    explicit Mask(PixelRect clipped) : area(clipped), pixels(cv::Mat::zeros(clipped.y2 - clipped.y1, clipped.x2 - clipped.x1, CV_8UC1)) {}
    cv::Point local(Point p) const { return {p.x - area.x1, p.y - area.y1}; }
    // Coverage of frame row `frame_y`; index it with frame x minus area.x1.
    const std::uint8_t* row(int frame_y) const { return pixels.ptr<std::uint8_t>(frame_y - area.y1); }

    // Writes `colour` with the mask's coverage. Chroma samples take the strongest coverage of
    // their 2x2 luma pixels.
    void paint(const VideoFrameView& frame, YuvEncoding encoding, Rgb colour) const {
        if (!planar(frame.format)) {
            const int bpp = packed_pixel_bytes(frame.format);
            const auto [ro, go, bo] = rgb_offsets(frame.format);
            for (int y = area.y1; y < area.y2; ++y) {
                const std::uint8_t* cover = row(y);
                std::uint8_t* line = frame.planes[0] + static_cast<std::ptrdiff_t>(y) * frame.strides[0];
                for (int x = area.x1; x < area.x2; ++x) {
                    const int a = cover[x - area.x1];
                    if (a == 0) continue;
                    std::uint8_t* px = line + static_cast<std::ptrdiff_t>(x) * bpp;
                    put(px[ro], colour.r, a), put(px[go], colour.g, a), put(px[bo], colour.b, a);
                }
            }
            return;
        }
        const Yuv yuv = yuv_from_rgb(colour, encoding);
        for (int y = area.y1; y < area.y2; ++y) {
            const std::uint8_t* cover = row(y);
            std::uint8_t* luma = frame.planes[0] + static_cast<std::ptrdiff_t>(y) * frame.strides[0];
            for (int x = area.x1; x < area.x2; ++x)
                if (const int a = cover[x - area.x1]) put(luma[x], yuv.y, a);
        }
        const PixelRect c = chroma_area(area);
        for (int cy = c.y1; cy < c.y2; ++cy) {
            // The block's luma rows and columns, limited to the mask.
            const std::uint8_t* top = row(std::max(2 * cy, area.y1));
            const std::uint8_t* bottom = row(std::min(2 * cy + 1, area.y2 - 1));
            const ChromaRows rows = chroma_rows(frame, cy);
            for (int cx = c.x1; cx < c.x2; ++cx) {
                const int left = std::max(2 * cx, area.x1) - area.x1, right = std::min(2 * cx + 1, area.x2 - 1) - area.x1;
                const int a = std::max({top[left], top[right], bottom[left], bottom[right]});
                if (a == 0) continue;
                put(rows.u[cx * rows.step], yuv.u, a);
                put(rows.v[cx * rows.step], yuv.v, a);
            }
        }
    }
};

double luma(Rgb c) { return 0.299 * c.r + 0.587 * c.g + 0.114 * c.b; }

// Twenty colours far apart in hue and lightness (Tableau-like), bright enough under a label.
constexpr std::array<Rgb, 20> palette{{
    {230, 25, 75},   {60, 180, 75},   {255, 225, 25}, {0, 130, 200},   {245, 130, 48},
    {145, 30, 180},  {70, 240, 240},  {240, 50, 230}, {210, 245, 60},  {250, 190, 212},
    {0, 128, 128},   {220, 190, 255}, {170, 110, 40}, {255, 250, 200}, {128, 0, 0},
    {170, 255, 195}, {128, 128, 0},   {255, 215, 180}, {0, 0, 128},    {255, 255, 255},
}};

Rgb palette_entry(std::uint64_t index) { return palette[index % palette.size()]; }

}  // namespace

Yuv yuv_from_rgb(Rgb colour, YuvEncoding encoding) {
    const bool bt709 = encoding.matrix == YuvMatrix::bt709;
    const double kr = bt709 ? 0.2126 : 0.299, kb = bt709 ? 0.0722 : 0.114;
    const double r = colour.r, g = colour.g, b = colour.b;
    const double y = kr * r + (1.0 - kr - kb) * g + kb * b;
    const double pb = (b - y) / (2.0 * (1.0 - kb)), pr = (r - y) / (2.0 * (1.0 - kr));
    if (encoding.full_range) return {to_byte(y), to_byte(128.0 + pb), to_byte(128.0 + pr)};
    return {to_byte(16.0 + y * 219.0 / 255.0), to_byte(128.0 + pb * 224.0 / 255.0), to_byte(128.0 + pr * 224.0 / 255.0)};
}

int auto_line_thickness(int frame_height) { return std::max(2, static_cast<int>(std::lround(frame_height / 270.0))); }

double auto_font_scale(int frame_height) { return std::max(0.35, frame_height / 800.0); }

int text_thickness(double font_scale) { return std::max(1, static_cast<int>(std::lround(font_scale * 1.5))); }

namespace {
struct TextMetrics {
    int width = 0, height = 0, baseline = 0, padding = 0;
};
TextMetrics measure(std::string_view text, const TextStyle& style) {
    TextMetrics m;
    const double scale = std::min(style.font_scale, max_font_scale);
    const int thickness = std::clamp(style.thickness, 1, max_thickness);
    const cv::Size size = cv::getTextSize(std::string(text), font_face, scale, thickness, &m.baseline);
    m.width = size.width, m.height = size.height;
    m.padding = std::max(2, static_cast<int>(std::lround(size.height * 0.3)));
    return m;
}
bool drawable_text(std::string_view text, const TextStyle& style) {
    return !text.empty() && std::isfinite(style.font_scale) && style.font_scale > 0;
}
}  // namespace

PixelRect text_box(std::string_view text, Point top_left, const TextStyle& style) {
    if (!drawable_text(text, style)) return {top_left.x, top_left.y, top_left.x, top_left.y};
    const TextMetrics m = measure(text, style);
    const auto end = [](int start, int size) { return static_cast<int>(std::min<std::int64_t>(std::int64_t{start} + size, INT_MAX)); };
    return {top_left.x, top_left.y, end(top_left.x, m.width + 2 * m.padding), end(top_left.y, m.height + m.baseline + 2 * m.padding)};
}

Canvas::Canvas(const VideoFrameView& frame, YuvEncoding encoding) : frame_(frame), encoding_(encoding) {
    check_frame_view(frame, "overlay frame");
}

void Canvas::fill_rect(PixelRect rect, Rgb colour) {
    fill(frame_, encoding_, intersect(rect, {0, 0, frame_.width, frame_.height}), colour);
}

void Canvas::outline_rect(PixelRect rect, Rgb colour, int thickness) {
    if (rect.empty() || thickness <= 0) return;
    const int t = std::min(thickness, max_thickness);
    // 64-bit: callers may pass any coordinates.
    if (std::int64_t{rect.x2} - rect.x1 <= 2 * t || std::int64_t{rect.y2} - rect.y1 <= 2 * t) return fill_rect(rect, colour);
    fill_rect({rect.x1, rect.y1, rect.x2, rect.y1 + t}, colour);
    fill_rect({rect.x1, rect.y2 - t, rect.x2, rect.y2}, colour);
    fill_rect({rect.x1, rect.y1 + t, rect.x1 + t, rect.y2 - t}, colour);
    fill_rect({rect.x2 - t, rect.y1 + t, rect.x2, rect.y2 - t}, colour);
}

void Canvas::line(Point a, Point b, Rgb colour, int thickness) {
    const std::array<Point, 2> points{a, b};
    polyline(points, colour, thickness);
}

void Canvas::polyline(std::span<const Point> points, Rgb colour, int thickness) {
    if (points.size() < 2 || thickness <= 0) return;
    const int t = std::min(thickness, max_thickness);
    // Clip every segment to the frame grown by the stroke width first: the mask then never exceeds
    // the frame, whatever the coordinates.
    const int margin = t / 2 + 2;
    const cv::Rect grown(-margin, -margin, frame_.width + 2 * margin, frame_.height + 2 * margin);
    std::vector<std::array<cv::Point, 2>> segments;
    PixelRect bounds{frame_.width, frame_.height, 0, 0};
    for (std::size_t i = 1; i < points.size(); ++i) {
        cv::Point p{points[i - 1].x, points[i - 1].y}, q{points[i].x, points[i].y};
        if (!cv::clipLine(grown, p, q)) continue;
        segments.push_back({p, q});
        bounds = {std::min({bounds.x1, p.x, q.x}), std::min({bounds.y1, p.y, q.y}), std::max({bounds.x2, p.x, q.x}),
                  std::max({bounds.y2, p.y, q.y})};
    }
    if (segments.empty()) return;
    const PixelRect area = intersect({bounds.x1 - margin, bounds.y1 - margin, bounds.x2 + margin + 1, bounds.y2 + margin + 1},
                                     {0, 0, frame_.width, frame_.height});
    if (area.empty()) return;
    Mask mask(area);
    for (const auto& [p, q] : segments)
        cv::line(mask.pixels, mask.local({p.x, p.y}), mask.local({q.x, q.y}), cv::Scalar(255), t, line_type(t));
    mask.paint(frame_, encoding_, colour);
}

PixelRect Canvas::text(std::string_view text, Point top_left, const TextStyle& style) {
    const PixelRect box = text_box(text, top_left, style);
    if (!drawable_text(text, style)) return box;
    if (style.draw_background) fill_rect(box, style.background);
    const PixelRect area = intersect(box, {0, 0, frame_.width, frame_.height});
    if (area.empty()) return box;
    const TextMetrics m = measure(text, style);
    Mask mask(area);
    const int thickness = std::clamp(style.thickness, 1, max_thickness);
    cv::putText(mask.pixels, std::string(text), mask.local({box.x1 + m.padding, box.y1 + m.padding + m.height}), font_face,
                std::min(style.font_scale, max_font_scale), cv::Scalar(255), thickness, line_type(thickness));
    mask.paint(frame_, encoding_, style.colour);
    return box;
}

// ---- Scene ------------------------------------------------------------------------------------

Rgb track_colour(int track_id) { return palette_entry(static_cast<std::uint64_t>(std::abs(static_cast<std::int64_t>(track_id)))); }

Rgb class_colour(int label_id, std::string_view label) {
    if (label_id >= 0) return palette_entry(static_cast<std::uint64_t>(label_id));
    std::uint64_t hash = 14695981039346656037ull;  // FNV-1a: the same label gets the same colour in every run
    for (const char c : label) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    return palette_entry(hash);
}

Rgb object_colour(const OverlayObject& object) {
    return object.track_id != 0 ? track_colour(object.track_id) : class_colour(object.label_id, object.label);
}

std::string object_caption(const OverlayObject& object, const OverlayOptions& options) {
    std::string caption;
    const auto append = [&](const std::string& part) {
        if (part.empty()) return;
        if (!caption.empty()) caption += ' ';
        caption += part;
    };
    if (options.show_track_ids && object.track_id != 0) append(std::string("#").append(std::to_string(object.track_id)));
    if (options.show_labels) append(object.label);
    if (options.show_confidence && object.confidence > 0) {
        char score[16];
        std::snprintf(score, sizeof score, "%.2f", static_cast<double>(std::min(object.confidence, 1.f)));
        append(score);
    }
    return caption;
}

OverlayRenderer::OverlayRenderer(OverlayOptions options) : options_(options) {}

void OverlayRenderer::reset() {
    trails_.clear();
    frame_index_ = 0;
}

std::vector<Point> OverlayRenderer::trail(int track_id) const {
    const auto it = trails_.find(track_id);
    if (it == trails_.end()) return {};
    return {it->second.points.begin(), it->second.points.end()};
}

namespace {
bool finite_box(const OverlayObject& o) {
    return std::isfinite(o.x1) && std::isfinite(o.y1) && std::isfinite(o.x2) && std::isfinite(o.y2);
}
// Pixel box of an object, clipped to the frame; empty when it has no area there.
PixelRect pixel_box(const OverlayObject& o, int width, int height) {
    if (!finite_box(o)) return {};
    const auto px = [](float v, int limit) { return static_cast<int>(std::lround(std::clamp(v, 0.f, static_cast<float>(limit)))); };
    return {px(o.x1, width), px(o.y1, height), px(o.x2, width), px(o.y2, height)};
}
}  // namespace

void OverlayRenderer::update_trails(std::span<const OverlayObject> objects) {
    ++frame_index_;
    if (options_.trail_length <= 0) {
        trails_.clear();
        return;
    }
    for (const OverlayObject& object : objects) {
        if (object.track_id == 0 || !finite_box(object)) continue;
        Trail& trail = trails_[object.track_id];
        if (trail.last_seen == frame_index_) continue;  // a duplicated id adds one point per frame
        trail.last_seen = frame_index_;
        // Centres may lie outside the frame; the canvas clips. Clamp far values so ints never overflow.
        const auto centre = [](float a, float b) { return static_cast<int>(std::lround(std::clamp((a + b) / 2.f, -1e6f, 1e6f))); };
        trail.points.push_back({centre(object.x1, object.x2), centre(object.y1, object.y2)});
        while (static_cast<int>(trail.points.size()) > options_.trail_length) trail.points.pop_front();
    }
    std::erase_if(trails_, [&](const auto& entry) { return frame_index_ - entry.second.last_seen > options_.trail_forget_frames; });
}

void OverlayRenderer::draw(const VideoFrameView& frame, std::span<const OverlayObject> objects) {
    draw(frame, OverlayScene{objects, {}, {}});
}

void OverlayRenderer::draw(const VideoFrameView& frame, const OverlayScene& scene) {
    Canvas canvas(frame, options_.encoding);
    update_trails(scene.objects);
    const int thickness = options_.line_thickness > 0 ? options_.line_thickness : auto_line_thickness(frame.height);
    const double font_scale = options_.font_scale > 0 ? options_.font_scale : auto_font_scale(frame.height);
    const auto label_style = [&](Rgb background) {
        // Black or white text, whichever stands out on the background.
        const Rgb ink = luma(background) > 140 ? Rgb{0, 0, 0} : Rgb{255, 255, 255};
        return TextStyle{font_scale, text_thickness(font_scale), ink, background, true};
    };

    for (const OverlaySegment& segment : scene.segments) {
        canvas.line(segment.a, segment.b, segment.colour, thickness);
        if (segment.caption.empty()) continue;
        const TextStyle style = label_style(segment.colour);
        const PixelRect size = text_box(segment.caption, {0, 0}, style);
        // Clamped far beyond any frame so the caption's offsets cannot overflow.
        const auto mid = [](int a, int b) { return static_cast<int>(std::clamp<std::int64_t>((std::int64_t{a} + b) / 2, -(1 << 24), 1 << 24)); };
        const Point middle{mid(segment.a.x, segment.b.x), mid(segment.a.y, segment.b.y)};
        canvas.text(segment.caption, {middle.x - size.x2 / 2, middle.y - size.y2 - thickness}, style);
    }

    const int margin = 2 * thickness;
    for (const OverlayTextBlock& block : scene.text_blocks) {
        if (block.lines.empty()) continue;
        TextStyle style{font_scale, text_thickness(font_scale), block.colour, block.background, false};
        const int line_height = text_box("Ag", {0, 0}, style).y2;
        int block_width = 0;
        for (const std::string& line : block.lines) block_width = std::max(block_width, text_box(line, {0, 0}, style).x2);
        const int block_height = line_height * static_cast<int>(block.lines.size());
        const bool right = block.corner == Corner::top_right || block.corner == Corner::bottom_right;
        const bool bottom = block.corner == Corner::bottom_left || block.corner == Corner::bottom_right;
        const Point origin{right ? frame.width - margin - block_width : margin, bottom ? frame.height - margin - block_height : margin};
        canvas.fill_rect({origin.x, origin.y, origin.x + block_width, origin.y + block_height}, block.background);
        for (std::size_t i = 0; i < block.lines.size(); ++i)
            canvas.text(block.lines[i], {origin.x, origin.y + line_height * static_cast<int>(i)}, style);
    }

    if (options_.trail_length > 0) {
        std::unordered_set<int> drawn;
        const int trail_thickness = std::max(1, thickness / 2);
        for (const OverlayObject& object : scene.objects) {
            if (object.track_id == 0 || !drawn.insert(object.track_id).second) continue;
            const auto it = trails_.find(object.track_id);
            if (it == trails_.end() || it->second.points.size() < 2) continue;
            const std::vector<Point> points(it->second.points.begin(), it->second.points.end());
            canvas.polyline(points, track_colour(object.track_id), trail_thickness);
        }
    }

    // Boxes first, then every label, so no box is drawn over a neighbour's label.
    for (const OverlayObject& object : scene.objects) {
        const PixelRect box = pixel_box(object, frame.width, frame.height);
        if (box.empty()) continue;
        // A tracker's prediction (object not detected on this frame) is drawn thinner.
        const int t = object.state == "predicted" ? std::max(1, thickness / 2) : thickness;
        canvas.outline_rect(box, object_colour(object), t);
    }
    for (const OverlayObject& object : scene.objects) {
        const PixelRect box = pixel_box(object, frame.width, frame.height);
        if (box.empty()) continue;
        const std::string caption = object_caption(object, options_);
        if (caption.empty()) continue;
        const TextStyle style = label_style(object_colour(object));
        const PixelRect size = text_box(caption, {0, 0}, style);
        // Above the box when there is room, else inside its top edge; kept inside the frame's width.
        const int y = box.y1 - size.y2 >= 0 ? box.y1 - size.y2 : box.y1;
        const int x = std::max(0, std::min(box.x1, frame.width - size.x2));
        canvas.text(caption, {x, y}, style);
    }
}

}  // namespace xmodal
