// The drawing layer and scene renderer on every raw format: colours (converted to YUV for planar
// formats), clipping, odd sizes, padded strides, trails, and I420 against BGRx.
#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "support/error_of.hpp"
#include "xmodal/overlay.hpp"

namespace xmodal {
namespace {

using testing::error_of;

constexpr std::uint8_t guard = 0xA5;  // bytes around and between rows that drawing must not touch
constexpr std::uint8_t fourth_byte = 0x40;  // padding/alpha byte of packed pixels, left as is

bool is_planar(PixelFormat f) { return f == PixelFormat::i420 || f == PixelFormat::nv12; }

// Independent reference: BT.601 limited range with the textbook constants.
Yuv reference_bt601(Rgb c) {
    const auto byte = [](double v) { return static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L)); };
    return {byte(16 + (65.481 * c.r + 128.553 * c.g + 24.966 * c.b) / 255),
            byte(128 + (-37.797 * c.r - 74.203 * c.g + 112.0 * c.b) / 255),
            byte(128 + (112.0 * c.r - 93.786 * c.g - 18.214 * c.b) / 255)};
}

// A frame with one guard row above and below each plane and `padding` guard bytes after each row.
struct TestFrame {
    VideoFrameView view;
    std::array<std::vector<std::uint8_t>, 3> storage;
    std::array<int, 3> row_bytes{}, rows{};

    TestFrame(PixelFormat format, int width, int height, int padding = 7) {
        view.format = format, view.width = width, view.height = height;
        for (int p = 0; p < plane_count(format); ++p) {
            const bool chroma = p > 0;
            row_bytes[p] = !chroma ? width * packed_pixel_bytes(format)
                           : format == PixelFormat::nv12 ? (width + 1) / 2 * 2
                                                         : (width + 1) / 2;
            rows[p] = chroma ? (height + 1) / 2 : height;
            const int stride = row_bytes[p] + padding;
            storage[p].assign(static_cast<std::size_t>(stride) * (rows[p] + 2), guard);
            view.planes[p] = storage[p].data() + stride;
            view.strides[p] = stride;
        }
    }
    TestFrame(const TestFrame&) = delete;

    std::uint8_t* row(int plane, int y) const { return view.planes[plane] + static_cast<std::ptrdiff_t>(y) * view.strides[plane]; }
    int bpp() const { return packed_pixel_bytes(view.format); }
    std::array<int, 3> offsets() const {
        const bool bgr = view.format == PixelFormat::bgr || view.format == PixelFormat::bgrx || view.format == PixelFormat::bgra;
        return bgr ? std::array<int, 3>{2, 1, 0} : std::array<int, 3>{0, 1, 2};
    }
    std::uint8_t* u(int cx, int cy) const { return view.format == PixelFormat::nv12 ? row(1, cy) + 2 * cx : row(1, cy) + cx; }
    std::uint8_t* v(int cx, int cy) const { return view.format == PixelFormat::nv12 ? row(1, cy) + 2 * cx + 1 : row(2, cy) + cx; }

    void fill(Rgb c, YuvEncoding encoding = {}) {
        if (is_planar(view.format)) {
            const Yuv yuv = yuv_from_rgb(c, encoding);
            for (int y = 0; y < view.height; ++y) std::fill_n(row(0, y), view.width, yuv.y);
            for (int cy = 0; cy < rows[1]; ++cy)
                for (int cx = 0; cx < (view.width + 1) / 2; ++cx) *u(cx, cy) = yuv.u, *v(cx, cy) = yuv.v;
            return;
        }
        const auto [ro, go, bo] = offsets();
        for (int y = 0; y < view.height; ++y)
            for (int x = 0; x < view.width; ++x) {
                std::uint8_t* px = row(0, y) + x * bpp();
                px[ro] = c.r, px[go] = c.g, px[bo] = c.b;
                if (bpp() == 4) px[3] = fourth_byte;
            }
    }

    Rgb rgb(int x, int y) const {
        const std::uint8_t* px = row(0, y) + x * bpp();
        const auto [ro, go, bo] = offsets();
        return {px[ro], px[go], px[bo]};
    }
    Yuv yuv(int x, int y) const { return {row(0, y)[x], *u(x / 2, y / 2), *v(x / 2, y / 2)}; }

    // The pixel shows colour c: exactly for packed formats, within +-2 after YUV conversion.
    bool shows(int x, int y, Rgb c) const {
        if (!is_planar(view.format)) return rgb(x, y) == c;
        const Yuv want = reference_bt601(c), got = yuv(x, y);
        return std::abs(want.y - got.y) <= 2 && std::abs(want.u - got.u) <= 2 && std::abs(want.v - got.v) <= 2;
    }

    bool guards_intact() const {
        for (int p = 0; p < plane_count(view.format); ++p) {
            const std::vector<std::uint8_t>& s = storage[p];
            const std::size_t stride = static_cast<std::size_t>(view.strides[p]);
            for (std::size_t i = 0; i < s.size(); ++i) {
                const std::size_t r = i / stride, col = i % stride;
                const bool inside = r >= 1 && r <= static_cast<std::size_t>(rows[p]) && col < static_cast<std::size_t>(row_bytes[p]);
                if (!inside && s[i] != guard) return false;
            }
        }
        if (bpp() == 4)
            for (int y = 0; y < view.height; ++y)
                for (int x = 0; x < view.width; ++x)
                    if (row(0, y)[x * 4 + 3] != fourth_byte) return false;
        return true;
    }
};

using Snapshot = std::array<std::vector<std::uint8_t>, 3>;

// Luma (or packed pixel) of (x, y) differs from the snapshot.
bool pixel_changed(const TestFrame& f, const Snapshot& before, int x, int y) {
    const int bytes = is_planar(f.view.format) ? 1 : f.bpp();
    const std::size_t at = static_cast<std::size_t>(y + 1) * f.view.strides[0] + static_cast<std::size_t>(x * bytes);
    return !std::equal(before[0].begin() + static_cast<std::ptrdiff_t>(at), before[0].begin() + static_cast<std::ptrdiff_t>(at + bytes),
                       f.storage[0].begin() + static_cast<std::ptrdiff_t>(at));
}
bool chroma_changed(const TestFrame& f, const Snapshot& before, int cx, int cy) {
    for (int p = 1; p < plane_count(f.view.format); ++p) {
        const int bytes = f.view.format == PixelFormat::nv12 ? 2 : 1;
        const std::size_t at = static_cast<std::size_t>(cy + 1) * f.view.strides[p] + static_cast<std::size_t>(cx * bytes);
        for (int b = 0; b < bytes; ++b)
            if (before[p][at + b] != f.storage[p][at + b]) return true;
    }
    return false;
}

// Nothing inside `r` changed: every pixel, and every chroma sample whose 2x2 block lies inside.
void expect_untouched(const TestFrame& f, const Snapshot& before, PixelRect r, const char* what) {
    int changed = 0;
    for (int y = std::max(0, r.y1); y < std::min(r.y2, f.view.height); ++y)
        for (int x = std::max(0, r.x1); x < std::min(r.x2, f.view.width); ++x) changed += pixel_changed(f, before, x, y);
    if (is_planar(f.view.format))
        for (int cy = (std::max(0, r.y1) + 1) / 2; 2 * cy + 1 < std::min(r.y2, f.view.height); ++cy)
            for (int cx = (std::max(0, r.x1) + 1) / 2; 2 * cx + 1 < std::min(r.x2, f.view.width); ++cx)
                changed += chroma_changed(f, before, cx, cy);
    EXPECT_EQ(changed, 0) << what;
}

constexpr Rgb grey{100, 100, 100};
constexpr Rgb red{230, 25, 75};

class OverlayFormat : public ::testing::TestWithParam<PixelFormat> {};

TEST_P(OverlayFormat, OutlineHasTheBoxColourAndLeavesInsideAndOutsideUntouched) {
    TestFrame f(GetParam(), 64, 48);
    f.fill(grey);
    const Snapshot before = f.storage;
    Canvas canvas(f.view);
    canvas.outline_rect({10, 8, 50, 40}, red, 3);
    for (const auto& [x, y] : {std::pair{10, 8}, {12, 20}, {30, 8}, {30, 10}, {49, 39}, {47, 25}, {30, 37}})
        EXPECT_TRUE(f.shows(x, y, red)) << x << "," << y;
    expect_untouched(f, before, {13, 11, 47, 37}, "inside");
    expect_untouched(f, before, {0, 0, 64, 8}, "above");
    expect_untouched(f, before, {0, 40, 64, 48}, "below");
    expect_untouched(f, before, {0, 0, 10, 48}, "left");
    expect_untouched(f, before, {50, 0, 64, 48}, "right");
    EXPECT_TRUE(f.guards_intact());
}

TEST_P(OverlayFormat, FilledRectangleCoversExactlyItsPixels) {
    TestFrame f(GetParam(), 40, 30);
    f.fill(grey);
    const Snapshot before = f.storage;
    Canvas(f.view).fill_rect({4, 6, 20, 16}, red);
    for (int y = 6; y < 16; ++y)
        for (int x = 4; x < 20; ++x) ASSERT_TRUE(f.shows(x, y, red)) << x << "," << y;
    expect_untouched(f, before, {0, 0, 40, 6}, "above");
    expect_untouched(f, before, {0, 16, 40, 30}, "below");
    expect_untouched(f, before, {20, 0, 40, 30}, "right");
}

TEST_P(OverlayFormat, TextDrawsGlyphsInsideItsLabelBoxOnly) {
    TestFrame f(GetParam(), 160, 60);
    f.fill(grey);
    const Snapshot before = f.storage;
    const TextStyle style{0.5, 1, Rgb{255, 255, 255}, Rgb{0, 0, 128}, true};
    const PixelRect box = Canvas(f.view).text("car 0.87", {10, 12}, style);
    EXPECT_EQ(box.x1, 10);
    EXPECT_EQ(box.y1, 12);
    EXPECT_GT(box.x2 - box.x1, 40);
    EXPECT_GT(box.y2 - box.y1, 10);
    int ink = 0, background = 0;
    for (int y = box.y1; y < box.y2; ++y)
        for (int x = box.x1; x < box.x2; ++x) {
            ink += f.shows(x, y, style.colour);
            background += f.shows(x, y, style.background);
        }
    EXPECT_GT(ink, 30) << "glyph pixels";
    EXPECT_GT(background, ink) << "background box";
    expect_untouched(f, before, {0, 0, 160, box.y1}, "above");
    expect_untouched(f, before, {0, box.y2, 160, 60}, "below");
    expect_untouched(f, before, {box.x2, 0, 160, 60}, "right");
    expect_untouched(f, before, {0, 0, box.x1, 60}, "left");
}

TEST_P(OverlayFormat, ShapesPartlyOutsideOrDegenerateNeverWriteOutOfTheFrame) {
    TestFrame f(GetParam(), 37, 23);
    f.fill(grey);
    const Snapshot before = f.storage;
    Canvas canvas(f.view);
    canvas.fill_rect({10, 10, 10, 20}, red);  // empty
    canvas.fill_rect({20, 20, 5, 5}, red);    // inverted
    canvas.outline_rect({3, 3, 3, 3}, red, 2);
    canvas.outline_rect({5, 5, 9, 9}, red, 0);
    canvas.line({5, 5}, {9, 9}, red, 0);
    canvas.polyline(std::vector<Point>{{4, 4}}, red, 3);  // a single point draws nothing
    canvas.text("", {4, 4}, TextStyle{});
    canvas.text("x", {4, 4}, TextStyle{std::numeric_limits<double>::quiet_NaN(), 1, red, red, true});
    expect_untouched(f, before, {0, 0, 37, 23}, "degenerate shapes");

    canvas.outline_rect({-20, -20, 8, 8}, red, 3);
    EXPECT_TRUE(f.shows(0, 6, red));  // the visible part of its right edge
    canvas.outline_rect({30, 18, 500, 500}, red, 10000);
    canvas.fill_rect({INT_MIN, INT_MIN, INT_MAX, -1}, red);
    canvas.line({-1000, -1000}, {2000, 1500}, red, 3);
    canvas.polyline(std::vector<Point>{{INT_MAX / 2, 5}, {-INT_MAX / 2, 7}, {INT_MIN, INT_MAX}}, red, 5000);
    canvas.text("clipped label", {-30, -5}, TextStyle{0.6, 2, red, grey, true});
    canvas.text("clipped label", {25, 15}, TextStyle{40.0, 30, red, grey, true});
    canvas.text("far away", {INT_MAX - 3, INT_MAX - 3}, TextStyle{});
    canvas.outline_rect({INT_MIN, 2, INT_MAX, 9}, red, 2);
    EXPECT_TRUE(f.guards_intact());

    OverlayRenderer renderer;
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    const std::vector<OverlayObject> objects{
        {-50, -50, 10, 10, "off", -1, 0.9f, 3, ""},
        {30, 20, 80, 90, "edge", -1, 0.9f, 4, ""},
        {nan, 2, 5, 8, "nan", -1, 0.5f, 5, ""},
        {1, 2, inf, 8, "inf", -1, 0.5f, 6, ""},
        {-1e30f, -1e30f, 1e30f, 1e30f, "huge", -1, 0.5f, 7, ""},
        {12, 12, 12, 12, "empty", -1, 0.5f, 0, ""},
    };
    const std::vector<OverlaySegment> segments{{{INT_MIN, INT_MIN}, {INT_MAX, INT_MAX}, red, "count"},
                                               {{INT_MAX, 3}, {INT_MAX, 5}, red, "count"}};
    const std::vector<OverlayTextBlock> blocks{{{"a very long line of text that does not fit"}, Corner::bottom_right, red, grey}};
    for (int i = 0; i < 3; ++i) renderer.draw(f.view, OverlayScene{objects, segments, blocks});
    EXPECT_TRUE(f.guards_intact());
}

TEST_P(OverlayFormat, WiderStridesGiveTheSamePicture) {
    TestFrame tight(GetParam(), 45, 27, 0), padded(GetParam(), 45, 27, 29);
    OverlayRenderer a, b;
    const std::vector<OverlayObject> objects{{5, 6, 30, 20, "bus", 5, 0.8f, 0, ""}};
    for (TestFrame* f : {&tight, &padded}) f->fill(grey);
    a.draw(tight.view, objects);
    b.draw(padded.view, objects);
    for (int p = 0; p < plane_count(GetParam()); ++p)
        for (int y = 0; y < tight.rows[p]; ++y)
            ASSERT_TRUE(std::equal(tight.row(p, y), tight.row(p, y) + tight.row_bytes[p], padded.row(p, y))) << "plane " << p << " row " << y;
    EXPECT_TRUE(padded.guards_intact());
}

TEST_P(OverlayFormat, TrailFollowsATrackAfterAFewFrames) {
    TestFrame f(GetParam(), 160, 64);
    OverlayOptions options;
    options.trail_length = 10;
    options.show_labels = options.show_confidence = options.show_track_ids = false;
    options.line_thickness = 2;
    OverlayRenderer renderer(options);
    for (int frame = 0; frame < 5; ++frame) {
        f.fill(grey);
        const float x = 20.f + 25.f * static_cast<float>(frame);
        renderer.draw(f.view, std::vector<OverlayObject>{{x - 6, 26, x + 6, 38, "car", 2, 0.9f, 7, "confirmed"}});
    }
    // Centres went (20,32), (45,32), ..., (120,32); the last box spans x 114..126.
    EXPECT_EQ(renderer.trail(7).size(), 5u);
    const Rgb colour = track_colour(7);
    for (const int x : {24, 33, 50, 70, 95}) EXPECT_TRUE(f.shows(x, 32, colour)) << x;
    EXPECT_FALSE(f.shows(33, 20, colour));
    EXPECT_TRUE(f.guards_intact());
}

std::string format_name(const ::testing::TestParamInfo<PixelFormat>& info) { return std::string(pixel_format_name(info.param)); }

INSTANTIATE_TEST_SUITE_P(AllFormats, OverlayFormat,
                         ::testing::Values(PixelFormat::i420, PixelFormat::nv12, PixelFormat::rgb, PixelFormat::bgr,
                                           PixelFormat::rgbx, PixelFormat::bgrx, PixelFormat::rgba, PixelFormat::bgra),
                         format_name);

TEST(Overlay, RgbToYuvMatchesPublishedValues) {
    EXPECT_EQ(yuv_from_rgb({255, 255, 255}, {}), (Yuv{235, 128, 128}));
    EXPECT_EQ(yuv_from_rgb({0, 0, 0}, {}), (Yuv{16, 128, 128}));
    EXPECT_EQ(yuv_from_rgb({255, 0, 0}, {}), (Yuv{81, 90, 240}));
    EXPECT_EQ(yuv_from_rgb({0, 0, 255}, {}), (Yuv{41, 240, 110}));
    EXPECT_EQ(yuv_from_rgb({255, 0, 0}, {YuvMatrix::bt709, false}), (Yuv{63, 102, 240}));
    EXPECT_EQ(yuv_from_rgb({255, 0, 0}, {YuvMatrix::bt601, true}), (Yuv{76, 85, 255}));
    EXPECT_EQ(yuv_from_rgb({255, 255, 255}, {YuvMatrix::bt709, true}), (Yuv{255, 128, 128}));
    for (int i = 0; i < 256; i += 15) {
        const Rgb c{static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(255 - i), static_cast<std::uint8_t>(i * 7 % 256)};
        const Yuv got = yuv_from_rgb(c, {}), want = reference_bt601(c);
        EXPECT_LE(std::abs(got.y - want.y) + std::abs(got.u - want.u) + std::abs(got.v - want.v), 1) << i;
    }
}

TEST(Overlay, Bt709FramesGetBt709Colours) {
    TestFrame f(PixelFormat::nv12, 8, 8);
    const YuvEncoding bt709{YuvMatrix::bt709, false};
    f.fill(grey, bt709);
    Canvas(f.view, bt709).fill_rect({0, 0, 8, 8}, {255, 0, 0});
    EXPECT_EQ(f.yuv(3, 3), (Yuv{63, 102, 240}));
}

TEST(Overlay, OddSizedPlanarFramesAreCoveredToTheLastChromaSample) {
    for (const PixelFormat format : {PixelFormat::i420, PixelFormat::nv12}) {
        TestFrame f(format, 33, 17);
        f.fill(grey);
        Canvas canvas(f.view);
        canvas.fill_rect({0, 0, 33, 17}, red);
        for (int y = 0; y < 17; ++y)
            for (int x = 0; x < 33; ++x) ASSERT_TRUE(f.shows(x, y, red)) << pixel_format_name(format) << " " << x << "," << y;
        f.fill(grey);
        const Snapshot before = f.storage;
        canvas.outline_rect({28, 12, 33, 17}, red, 2);  // ends at the last column and row
        for (const auto& [x, y] : {std::pair{32, 16}, {28, 12}, {30, 16}, {32, 13}}) EXPECT_TRUE(f.shows(x, y, red)) << x << "," << y;
        EXPECT_FALSE(pixel_changed(f, before, 30, 14)) << "inside";
        EXPECT_TRUE(f.guards_intact()) << pixel_format_name(format);
    }
}

TEST(Overlay, UnusableFrameViewsAreRefused) {
    TestFrame f(PixelFormat::i420, 16, 16);
    VideoFrameView view = f.view;
    view.planes[2] = nullptr;
    EXPECT_NE(error_of([&] { Canvas{view}; }).find("plane 2 is null"), std::string::npos);
    view = f.view;
    view.width = 0;
    EXPECT_NE(error_of([&] { OverlayRenderer().draw(view, std::span<const OverlayObject>{}); }).find("not positive"), std::string::npos);
}

// The same scene on I420 and on BGRx: converting the BGRx picture to YUV with the naive reference
// gives the I420 luma everywhere, and its chroma wherever a 2x2 block is one colour (on edges the
// two legitimately differ: I420 has one chroma sample for four pixels).
TEST(Overlay, I420AndBgrxShowTheSameScene) {
    const int w = 192, h = 108;
    TestFrame yuv(PixelFormat::i420, w, h), bgrx(PixelFormat::bgrx, w, h);
    const Rgb background{40, 90, 140};
    yuv.fill(background);
    bgrx.fill(background);
    const std::vector<OverlayObject> objects{{20, 30, 90, 95, "car", 2, 0.91f, 3, "confirmed"},
                                             {101, 41, 170, 77, "bus", 5, 0.55f, 0, ""},
                                             {150, 5, 190, 30, "person", 0, 0.7f, 9, "predicted"}};
    const std::vector<OverlaySegment> segments{{{0, 100}, {191, 60}, {255, 255, 0}, "line 1"}};
    const std::vector<OverlayTextBlock> blocks{{{"cars: 12", "buses: 1"}, Corner::top_left, {255, 255, 255}, {0, 0, 0}}};
    OverlayRenderer on_yuv, on_bgrx;
    for (int frame = 0; frame < 3; ++frame) {
        on_yuv.draw(yuv.view, OverlayScene{objects, segments, blocks});
        on_bgrx.draw(bgrx.view, OverlayScene{objects, segments, blocks});
    }
    int worst_luma = 0, uniform_blocks_drawn = 0, worst_chroma = 0;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) worst_luma = std::max(worst_luma, std::abs(yuv.yuv(x, y).y - reference_bt601(bgrx.rgb(x, y)).y));
    for (int cy = 0; cy < h / 2; ++cy)
        for (int cx = 0; cx < w / 2; ++cx) {
            const Rgb c = bgrx.rgb(2 * cx, 2 * cy);
            if (!(bgrx.rgb(2 * cx + 1, 2 * cy) == c && bgrx.rgb(2 * cx, 2 * cy + 1) == c && bgrx.rgb(2 * cx + 1, 2 * cy + 1) == c))
                continue;
            const Yuv want = reference_bt601(c), got = yuv.yuv(2 * cx, 2 * cy);
            worst_chroma = std::max({worst_chroma, std::abs(got.u - want.u), std::abs(got.v - want.v)});
            uniform_blocks_drawn += !(c == background);
        }
    EXPECT_LE(worst_luma, 2);
    EXPECT_LE(worst_chroma, 2);
    EXPECT_GT(uniform_blocks_drawn, 300) << "the scene should draw solid areas (boxes, label backgrounds)";
}

TEST(Overlay, CaptionsFollowTheOptions) {
    const OverlayObject object{0, 0, 10, 10, "car", 2, 0.873f, 12, "confirmed"};
    OverlayOptions options;
    EXPECT_EQ(object_caption(object, options), "#12 car 0.87");
    options.show_track_ids = false;
    EXPECT_EQ(object_caption(object, options), "car 0.87");
    options.show_confidence = false;
    EXPECT_EQ(object_caption(object, options), "car");
    options.show_labels = false;
    EXPECT_EQ(object_caption(object, options), "");
    OverlayObject untracked = object;
    untracked.track_id = 0;
    untracked.confidence = 0.f;  // unknown score: not shown
    EXPECT_EQ(object_caption(untracked, OverlayOptions{}), "car");
}

TEST(Overlay, ColoursAreStablePerTrackAndPerClass) {
    EXPECT_EQ(track_colour(4), track_colour(4));
    for (int id = 1; id < 20; ++id) EXPECT_FALSE(track_colour(id) == track_colour(id + 1)) << id;
    EXPECT_EQ(class_colour(-1, "truck"), class_colour(-1, "truck"));
    EXPECT_FALSE(class_colour(2, "car") == class_colour(3, "motorcycle"));
    const OverlayObject tracked{0, 0, 1, 1, "car", 2, 0.5f, 8, ""};
    EXPECT_EQ(object_colour(tracked), track_colour(8));
    OverlayObject untracked = tracked;
    untracked.track_id = 0;
    EXPECT_EQ(object_colour(untracked), class_colour(2, "car"));
}

TEST(Overlay, TextAndLinesScaleWithTheFrameHeight) {
    const auto label_height = [](int frame_height) {
        const double scale = auto_font_scale(frame_height);
        const PixelRect box = text_box("car 0.87", {0, 0}, TextStyle{scale, text_thickness(scale), {}, {}, true});
        return box.y2 - box.y1;
    };
    EXPECT_GE(label_height(360), 14);  // readable at 360p
    EXPECT_LE(label_height(360), 30);
    EXPECT_NEAR(label_height(1080) / static_cast<double>(label_height(360)), 3.0, 0.5);
    EXPECT_NEAR(label_height(2160) / static_cast<double>(label_height(1080)), 2.0, 0.3);
    EXPECT_EQ(auto_line_thickness(360), 2);
    EXPECT_EQ(auto_line_thickness(1080), 4);
    EXPECT_EQ(auto_line_thickness(2160), 8);
}

TEST(Overlay, LabelSitsAboveTheBoxOrInsideAtTheTop) {
    TestFrame f(PixelFormat::rgb, 200, 120);
    f.fill(grey);
    OverlayRenderer renderer;
    const OverlayObject low{40, 60, 100, 110, "car", 2, 0.9f, 0, ""};
    renderer.draw(f.view, std::vector<OverlayObject>{low});
    const Rgb colour = object_colour(low);
    EXPECT_TRUE(f.shows(41, 58, colour)) << "label background above the box";
    f.fill(grey);
    const OverlayObject top{40, 0, 100, 80, "car", 2, 0.9f, 0, ""};
    renderer.draw(f.view, std::vector<OverlayObject>{top});
    EXPECT_TRUE(f.shows(41, 4, colour)) << "label inside the box";
    EXPECT_FALSE(f.shows(50, 30, colour)) << "box interior below the label stays";
}

TEST(Overlay, PredictedObjectsGetHalfTheLineThickness) {
    TestFrame f(PixelFormat::rgbx, 100, 60);
    OverlayOptions options;
    options.line_thickness = 4;
    options.show_labels = options.show_confidence = options.show_track_ids = false;
    OverlayRenderer renderer(options);
    const Rgb colour = track_colour(3);
    for (const auto& [state, thickness] : {std::pair{"confirmed", 4}, {"predicted", 2}}) {
        f.fill(grey);
        renderer.draw(f.view, std::vector<OverlayObject>{{20, 10, 80, 50, "car", 2, 0.9f, 3, state}});
        for (int x = 20; x < 20 + thickness; ++x) EXPECT_TRUE(f.shows(x, 30, colour)) << state << " x " << x;
        EXPECT_TRUE(f.shows(20 + thickness, 30, grey)) << state;
    }
}

TEST(Overlay, TrailsAreCappedForgottenAndReset) {
    TestFrame f(PixelFormat::bgrx, 64, 64);
    OverlayOptions options;
    options.trail_length = 4;
    options.trail_forget_frames = 2;
    OverlayRenderer renderer(options);
    const auto at = [](float x, int id) { return OverlayObject{x, 10, x + 4, 14, "car", 2, 0.9f, id, ""}; };
    for (int i = 0; i < 10; ++i) renderer.draw(f.view, std::vector<OverlayObject>{at(static_cast<float>(i), 1), at(30, 2)});
    const std::vector<Point> trail = renderer.trail(1);
    ASSERT_EQ(trail.size(), 4u);
    EXPECT_EQ(trail.front(), (Point{8, 12}));  // centres of frames 6..9, oldest first
    EXPECT_EQ(trail.back(), (Point{11, 12}));
    // Track 1 missing for two frames keeps its trail; a third frame drops it.
    renderer.draw(f.view, std::vector<OverlayObject>{at(30, 2)});
    renderer.draw(f.view, std::vector<OverlayObject>{at(30, 2)});
    EXPECT_EQ(renderer.trail(1).size(), 4u);
    renderer.draw(f.view, std::vector<OverlayObject>{at(30, 2)});
    EXPECT_TRUE(renderer.trail(1).empty());
    EXPECT_EQ(renderer.trail(2).size(), 4u);
    renderer.reset();
    EXPECT_TRUE(renderer.trail(2).empty());
    options.trail_length = 0;
    renderer.set_options(options);
    renderer.draw(f.view, std::vector<OverlayObject>{at(30, 2)});
    EXPECT_TRUE(renderer.trail(2).empty());
}

TEST(Overlay, SegmentsAndTextBlocksAreDrawn) {
    TestFrame f(PixelFormat::nv12, 320, 180);
    f.fill(grey);
    const Snapshot before = f.storage;
    OverlayRenderer renderer;
    const Rgb yellow{255, 255, 0};
    const std::vector<OverlaySegment> segments{{{10, 110}, {310, 110}, yellow, "in 3 / out 1"}};
    const std::vector<OverlayTextBlock> blocks{{{"cars 12", "trucks 2"}, Corner::bottom_right, {255, 255, 255}, {0, 0, 0}}};
    renderer.draw(f.view, OverlayScene{{}, segments, blocks});
    EXPECT_TRUE(f.shows(20, 110, yellow));
    EXPECT_TRUE(f.shows(300, 110, yellow));
    EXPECT_TRUE(f.shows(160, 105, yellow)) << "caption background above the line's middle";
    EXPECT_TRUE(f.shows(318, 178, grey)) << "margin to the corner";
    // The block's box ends `margin` (2 x the auto line thickness) from the bottom-right corner.
    const TextStyle style{auto_font_scale(180), text_thickness(auto_font_scale(180)), {}, {}, false};
    const int margin = 2 * auto_line_thickness(180), line_height = text_box("Ag", {0, 0}, style).y2;
    const int block_width = text_box("trucks 2", {0, 0}, style).x2;
    const PixelRect block{320 - margin - block_width, 180 - margin - 2 * line_height, 320 - margin, 180 - margin};
    EXPECT_TRUE(f.shows(block.x1, block.y1, Rgb{0, 0, 0}));
    EXPECT_TRUE(f.shows(block.x2 - 1, block.y2 - 1, Rgb{0, 0, 0}));
    EXPECT_FALSE(f.shows(block.x1 - 1, block.y1, Rgb{0, 0, 0}));
    int ink = 0;
    for (int y = block.y1; y < block.y2; ++y)
        for (int x = block.x1; x < block.x2; ++x) ink += f.shows(x, y, Rgb{255, 255, 255});
    EXPECT_GT(ink, 40) << "white text in the block";
    expect_untouched(f, before, {0, 0, 320, 80}, "top of the frame");
}

}  // namespace
}  // namespace xmodal
