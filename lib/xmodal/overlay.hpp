// Drawing analytics results onto raw frames in place: a small drawing layer (Canvas) on
// VideoFrameView for every format the video elements take, and a scene renderer
// (OverlayRenderer) that draws objects with labels, scores, track ids and trails, plus generic
// segments with captions and text blocks at a corner for later kinds (counting lines, counts,
// captions, forecasts). Rasterising is OpenCV imgproc's (Hershey fonts, lines); see
// docs/DEPENDENCIES.md.
//
// Adding a kind of annotation (e.g. a forecast plot): add a struct and a vector of it to
// OverlayScene, draw it in OverlayRenderer::draw with Canvas primitives (draw order: lines, text
// blocks, objects), and fill it where xmoverlay collects the scene (collect_scene in
// plugins/gstxmoverlay.cpp) from its meta.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "xmodal/video_frame.hpp"

namespace xmodal {

struct Rgb {
    std::uint8_t r = 0, g = 0, b = 0;
    bool operator==(const Rgb&) const = default;
};

struct Yuv {
    std::uint8_t y = 0, u = 0, v = 0;
    bool operator==(const Yuv&) const = default;
};

// How planar frames encode colour. Decoders give BT.601 limited range for SD and in practice much
// HD; xmoverlay takes matrix and range from the caps' colorimetry. YuvMatrix: video_frame.hpp.
struct YuvEncoding {
    YuvMatrix matrix = YuvMatrix::bt601;
    bool full_range = false;  // false: Y 16..235, U/V 16..240
};

Yuv yuv_from_rgb(Rgb colour, YuvEncoding encoding);

struct Point {
    int x = 0, y = 0;
    bool operator==(const Point&) const = default;
};

// Pixel rectangle [x1, x2) x [y1, y2).
struct PixelRect {
    int x1 = 0, y1 = 0, x2 = 0, y2 = 0;
    bool empty() const { return x2 <= x1 || y2 <= y1; }
};

struct TextStyle {
    double font_scale = 0.5;  // OpenCV Hershey scale: 1.0 is about 22 px from baseline to cap top
    int thickness = 1;        // stroke width of the glyphs
    Rgb colour{255, 255, 255};
    Rgb background{0, 0, 0};
    bool draw_background = true;
};

// Line thickness and font scale that keep boxes visible and labels readable at the frame height:
// 2 px and 0.45 at 360p, 4 px and 1.35 at 1080p, 8 px and 2.7 at 2160p.
int auto_line_thickness(int frame_height);
double auto_font_scale(int frame_height);
int text_thickness(double font_scale);

// Size of the background box `Canvas::text` draws for `text` (padding included).
PixelRect text_box(std::string_view text, Point top_left, const TextStyle& style);

// Draws on one frame in place. Everything is clipped to the frame; shapes partly or wholly outside
// it, empty rectangles and non-positive thicknesses draw what lies inside (or nothing) and never
// write out of the planes. Packed formats: the colour goes to the R, G, B bytes; the 4th byte
// (padding or alpha) is left as it is. I420/NV12: luma at full resolution, chroma at half: a
// chroma sample takes the colour if any of its 2x2 luma pixels is covered (the strongest coverage
// for anti-aliased edges), so thin lines keep their colour instead of fading to half saturation.
class Canvas {
public:
    // Throws xmodal::Error if the view is unusable (check_frame_view).
    explicit Canvas(const VideoFrameView& frame, YuvEncoding encoding = {});

    const VideoFrameView& frame() const { return frame_; }

    void fill_rect(PixelRect rect, Rgb colour);
    // Outline drawn inside `rect` (its outer edge is the rectangle's edge), so boxes at the frame
    // border stay fully visible; a rectangle thinner than twice `thickness` is filled.
    void outline_rect(PixelRect rect, Rgb colour, int thickness);
    // Lines, anti-aliased from thickness 2 up (1-px lines are crisp, see the .cpp).
    void line(Point a, Point b, Rgb colour, int thickness);
    void polyline(std::span<const Point> points, Rgb colour, int thickness);
    // Text (Hershey simplex, ASCII; other bytes draw as '?'; anti-aliased when style.thickness >= 2)
    // on its background box,
    // whose top-left corner is `top_left`. Returns the box (unclipped).
    PixelRect text(std::string_view text, Point top_left, const TextStyle& style);

private:
    VideoFrameView frame_;
    YuvEncoding encoding_;
};

// ---- Scene ------------------------------------------------------------------------------------

// An object as the overlay draws it.
struct OverlayObject {
    float x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // frame pixels
    std::string label;
    int label_id = -1;        // colour of untracked objects; -1: derived from the label text
    float confidence = -1.f;  // shown when > 0
    int track_id = 0;         // 0 = not tracked
    std::string state;        // tracking state: "", "tentative", "confirmed", "predicted"
};

// A segment with an optional caption at its middle (counting lines, later issues).
struct OverlaySegment {
    Point a, b;
    Rgb colour{255, 255, 0};
    std::string caption;
};

enum class Corner : std::uint8_t { top_left, top_right, bottom_left, bottom_right };

// Lines of text stacked in a box at a corner of the frame (counts, captions, forecasts).
struct OverlayTextBlock {
    std::vector<std::string> lines;
    Corner corner = Corner::top_left;
    Rgb colour{255, 255, 255};
    Rgb background{0, 0, 0};
};

struct OverlayScene {
    std::span<const OverlayObject> objects;
    std::span<const OverlaySegment> segments;
    std::span<const OverlayTextBlock> text_blocks;
};

struct OverlayOptions {
    bool show_labels = true;
    bool show_confidence = true;
    bool show_track_ids = true;
    int trail_length = 30;          // centre points kept per track; 0 = no trails
    int trail_forget_frames = 30;   // a track unseen for more frames than this loses its trail
    int line_thickness = 0;         // 0 = auto_line_thickness(frame height)
    double font_scale = 0.0;        // 0 = auto_font_scale(frame height)
    YuvEncoding encoding;
};

// Stable colours: per track id when tracked, else per class (label_id, or the label text).
Rgb track_colour(int track_id);
Rgb class_colour(int label_id, std::string_view label);
Rgb object_colour(const OverlayObject& object);
// The label line of an object under `options`, e.g. "#12 car 0.87"; "" when nothing is shown.
std::string object_caption(const OverlayObject& object, const OverlayOptions& options);

// Draws scenes frame after frame; one draw() call is one frame. Keeps per-track trails (centre
// points of tracked objects, drawn for tracks present in the frame). Not thread-safe.
class OverlayRenderer {
public:
    explicit OverlayRenderer(OverlayOptions options = {});

    void set_options(const OverlayOptions& options) { options_ = options; }
    const OverlayOptions& options() const { return options_; }

    // Draw order: segments, text blocks, trails, boxes, labels (labels stay readable on top).
    // Objects with a non-finite or empty box (after clipping) are skipped. Throws xmodal::Error for
    // an unusable frame view.
    void draw(const VideoFrameView& frame, const OverlayScene& scene);
    void draw(const VideoFrameView& frame, std::span<const OverlayObject> objects);

    // Forgets every trail (flush, seek, new stream).
    void reset();
    // The trail kept for a track (oldest first); empty if none. For tests and diagnostics.
    std::vector<Point> trail(int track_id) const;

private:
    struct Trail {
        std::deque<Point> points;
        std::int64_t last_seen = 0;
    };
    void update_trails(std::span<const OverlayObject> objects);

    OverlayOptions options_;
    std::unordered_map<int, Trail> trails_;
    std::int64_t frame_index_ = 0;
};

}  // namespace xmodal
