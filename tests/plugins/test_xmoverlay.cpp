// xmoverlay in a GstHarness: caps for every supported format and refusal of others, drawing where
// ROI metas are, untouched frames without them, properties, trails over buffers and their reset
// on flush, colorimetry from the caps.
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "xm_objects.hpp"
#include "xmodal/overlay.hpp"

namespace {

using xmodal::Rgb;

// GObject warnings (an unknown property name, a value out of range) fail the test that caused
// them unless it takes them out of this list.
std::vector<std::string> glib_warnings;
void record_glib_warning(const gchar*, GLogLevelFlags, const gchar* message, gpointer) { glib_warnings.emplace_back(message); }

class XmOverlay : public ::testing::Test {
protected:
    void TearDown() override {
        for (const std::string& warning : glib_warnings) ADD_FAILURE() << "GLib warning: " << warning;
        glib_warnings.clear();
    }
};

struct Harness {
    GstHarness* h;
    Harness() : h(gst_harness_new("xmoverlay")) {}
    ~Harness() { gst_harness_teardown(h); }
    Harness(const Harness&) = delete;
    GstElement* element() const { return h->element; }
};

std::string caps_string(const char* format, int width, int height, const char* extra = "") {
    return std::string("video/x-raw,format=") + format + ",width=" + std::to_string(width) + ",height=" + std::to_string(height) +
           ",framerate=30/1" + extra;
}

// A buffer of the caps' size, every byte `value` (mid grey in every format at 128).
GstBuffer* blank_buffer(const std::string& caps_str, guint8 value = 128) {
    GstCaps* caps = gst_caps_from_string(caps_str.c_str());
    GstVideoInfo info;
    EXPECT_TRUE(gst_video_info_from_caps(&info, caps));
    gst_caps_unref(caps);
    GstBuffer* buffer = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
    gst_buffer_memset(buffer, 0, value, GST_VIDEO_INFO_SIZE(&info));
    gst_buffer_add_video_meta_full(buffer, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_INFO_FORMAT(&info), info.width, info.height,
                                   GST_VIDEO_INFO_N_PLANES(&info), info.offset, info.stride);
    return buffer;
}

bool same_bytes(GstBuffer* a, GstBuffer* b) {
    GstMapInfo ma, mb;
    gst_buffer_map(a, &ma, GST_MAP_READ);
    gst_buffer_map(b, &mb, GST_MAP_READ);
    const bool same = ma.size == mb.size && std::memcmp(ma.data, mb.data, ma.size) == 0;
    gst_buffer_unmap(a, &ma);
    gst_buffer_unmap(b, &mb);
    return same;
}

// Reads pixels of an output buffer through GstVideoFrame (strides and offsets from the caps).
struct MappedFrame {
    GstVideoInfo info;
    GstVideoFrame frame;
    MappedFrame(GstBuffer* buffer, const std::string& caps_str) {
        GstCaps* caps = gst_caps_from_string(caps_str.c_str());
        gst_video_info_from_caps(&info, caps);
        gst_caps_unref(caps);
        EXPECT_TRUE(gst_video_frame_map(&frame, &info, buffer, GST_MAP_READ));
    }
    ~MappedFrame() { gst_video_frame_unmap(&frame); }
    const guint8* at(guint plane, int x, int y, int bytes_per_pixel = 1) const {
        return static_cast<const guint8*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, plane)) + y * GST_VIDEO_FRAME_PLANE_STRIDE(&frame, plane) +
               x * bytes_per_pixel;
    }
    guint8 luma(int x, int y) const { return *at(0, x, y); }
    Rgb bgrx(int x, int y) const {
        const guint8* p = at(0, x, y, 4);
        return {p[2], p[1], p[0]};
    }
};

const char* const supported_formats[] = {"I420", "NV12", "RGB", "BGR", "RGBx", "BGRx", "RGBA", "BGRA"};

TEST_F(XmOverlay, NegotiatesEverySupportedFormatAndDrawsOnIt) {
    for (const char* format : supported_formats) {
        SCOPED_TRACE(format);
        Harness harness;
        const std::string caps = caps_string(format, 64, 48);
        gst_harness_set_src_caps_str(harness.h, caps.c_str());
        GstBuffer* buffer = blank_buffer(caps);
        GstBuffer* original = gst_buffer_copy_deep(buffer);
        xmodal::gst::add_object(buffer, 64, 48, "car", 2, 0.9, 10, 8, 50, 40);
        ASSERT_EQ(gst_harness_push(harness.h, buffer), GST_FLOW_OK);
        GstBuffer* out = gst_harness_pull(harness.h);
        ASSERT_NE(out, nullptr);
        EXPECT_FALSE(same_bytes(out, original)) << "the box should be drawn";
        GstCaps* out_caps = gst_pad_get_current_caps(harness.h->sinkpad);
        GstCaps* want = gst_caps_from_string(caps.c_str());
        EXPECT_TRUE(gst_caps_is_equal(out_caps, want)) << gst_caps_to_string(out_caps);
        gst_caps_unref(want);
        gst_caps_unref(out_caps);
        gst_buffer_unref(out);
        gst_buffer_unref(original);
    }
}

TEST_F(XmOverlay, RefusesUnsupportedFormatsAsNotNegotiated) {
    for (const char* format : {"YUY2", "GRAY8", "P010_10LE"}) {
        SCOPED_TRACE(format);
        Harness harness;
        const std::string caps = caps_string(format, 64, 48);
        gst_harness_set_src_caps_str(harness.h, caps.c_str());
        EXPECT_EQ(gst_harness_push(harness.h, blank_buffer(caps)), GST_FLOW_NOT_NEGOTIATED);
    }
}

TEST_F(XmOverlay, FramesWithoutObjectsComeOutBitIdentical) {
    for (const char* format : supported_formats) {
        SCOPED_TRACE(format);
        Harness harness;
        const std::string caps = caps_string(format, 50, 31);  // odd height, padded strides
        gst_harness_set_src_caps_str(harness.h, caps.c_str());
        for (int i = 0; i < 3; ++i) {
            GstBuffer* buffer = blank_buffer(caps, static_cast<guint8>(40 + 50 * i));
            GstBuffer* original = gst_buffer_copy_deep(buffer);
            ASSERT_EQ(gst_harness_push(harness.h, buffer), GST_FLOW_OK);
            GstBuffer* out = gst_harness_pull(harness.h);
            EXPECT_TRUE(same_bytes(out, original)) << "buffer " << i;
            gst_buffer_unref(out);
            gst_buffer_unref(original);
        }
    }
}

TEST_F(XmOverlay, DrawsWhereTheObjectsAreAndNowhereElse) {
    Harness harness;
    const std::string caps = caps_string("I420", 160, 120);
    gst_harness_set_src_caps_str(harness.h, caps.c_str());
    g_object_set(harness.element(), "line-thickness", 3, nullptr);
    GstBuffer* buffer = blank_buffer(caps, 128);
    xmodal::gst::add_object(buffer, 160, 120, "bus", 5, 0.8, 40, 50, 120, 110);
    ASSERT_EQ(gst_harness_push(harness.h, buffer), GST_FLOW_OK);
    GstBuffer* out = gst_harness_pull(harness.h);
    {
        MappedFrame frame(out, caps);
        const xmodal::Yuv box = xmodal::yuv_from_rgb(xmodal::class_colour(5, "bus"), {});
        for (const auto& [x, y] : {std::pair{40, 80}, {119, 80}, {80, 50}, {80, 109}, {42, 52}})
            EXPECT_NEAR(frame.luma(x, y), box.y, 2) << x << "," << y;
        EXPECT_EQ(frame.luma(80, 80), 128) << "inside the box";
        EXPECT_EQ(frame.luma(10, 80), 128) << "left of the box";
        EXPECT_EQ(frame.luma(80, 115), 128) << "below the box";
        int label = 0;  // the label sits above the box: rows 30..49
        for (int y = 30; y < 50; ++y)
            for (int x = 40; x < 120; ++x) label += frame.luma(x, y) != 128;
        EXPECT_GT(label, 200);
    }
    gst_buffer_unref(out);
}

TEST_F(XmOverlay, ColoursFollowTheCapsColorimetry) {
    for (const auto& [colorimetry, matrix] :
         {std::pair{",colorimetry=bt709", xmodal::YuvMatrix::bt709}, {",colorimetry=bt601", xmodal::YuvMatrix::bt601}}) {
        SCOPED_TRACE(colorimetry);
        Harness harness;
        const std::string caps = caps_string("NV12", 64, 48, colorimetry);
        gst_harness_set_src_caps_str(harness.h, caps.c_str());
        g_object_set(harness.element(), "show-labels", FALSE, "show-confidence", FALSE, "line-thickness", 4, nullptr);
        GstBuffer* buffer = blank_buffer(caps);
        xmodal::gst::add_object(buffer, 64, 48, "car", 0, 0.9, 8, 8, 56, 40);
        ASSERT_EQ(gst_harness_push(harness.h, buffer), GST_FLOW_OK);
        GstBuffer* out = gst_harness_pull(harness.h);
        {
            MappedFrame frame(out, caps);
            const xmodal::Yuv want = xmodal::yuv_from_rgb(xmodal::class_colour(0, "car"), {matrix, false});
            EXPECT_EQ(frame.luma(9, 20), want.y);
            const guint8* uv = frame.at(1, 4, 10, 2);
            EXPECT_EQ(uv[0], want.u);
            EXPECT_EQ(uv[1], want.v);
        }
        gst_buffer_unref(out);
    }
}

GParamSpec* property(GstElement* element, const char* name) {
    return g_object_class_find_property(G_OBJECT_GET_CLASS(element), name);
}

TEST_F(XmOverlay, PropertiesHaveDocumentedRangesAndRejectValuesOutside) {
    Harness harness;
    GstElement* element = harness.element();
    for (const char* name : {"show-labels", "show-confidence", "show-track-ids"}) {
        GParamSpec* spec = property(element, name);
        ASSERT_NE(spec, nullptr) << name;
        EXPECT_TRUE(G_IS_PARAM_SPEC_BOOLEAN(spec));
        EXPECT_TRUE(G_PARAM_SPEC_BOOLEAN(spec)->default_value) << name;
        EXPECT_NE(std::string(g_param_spec_get_blurb(spec)).find("default: true"), std::string::npos) << name;
    }
    struct IntRange {
        const char* name;
        int min, max, def;
    };
    for (const IntRange& r : {IntRange{"trail-length", 0, 1000, 30}, IntRange{"line-thickness", 0, 100, 0}}) {
        auto* spec = G_PARAM_SPEC_INT(property(element, r.name));
        ASSERT_NE(spec, nullptr) << r.name;
        EXPECT_EQ(spec->minimum, r.min);
        EXPECT_EQ(spec->maximum, r.max);
        EXPECT_EQ(spec->default_value, r.def);
        const std::string blurb = g_param_spec_get_blurb(G_PARAM_SPEC(spec));
        EXPECT_NE(blurb.find("range " + std::to_string(r.min) + "-" + std::to_string(r.max)), std::string::npos) << blurb;
    }
    auto* font = G_PARAM_SPEC_DOUBLE(property(element, "font-scale"));
    ASSERT_NE(font, nullptr);
    EXPECT_EQ(font->minimum, 0.0);
    EXPECT_EQ(font->maximum, 20.0);
    EXPECT_EQ(font->default_value, 0.0);

    g_object_set(element, "trail-length", 120, "line-thickness", 7, "font-scale", 1.5, "show-labels", FALSE, nullptr);
    gint trail = 0, thickness = 0;
    gdouble scale = 0;
    gboolean labels = TRUE;
    g_object_get(element, "trail-length", &trail, "line-thickness", &thickness, "font-scale", &scale, "show-labels", &labels, nullptr);
    EXPECT_EQ(trail, 120);
    EXPECT_EQ(thickness, 7);
    EXPECT_EQ(scale, 1.5);
    EXPECT_FALSE(labels);

    // GObject refuses values outside a property's range with a warning and keeps the old value.
    g_object_set(element, "trail-length", 1001, nullptr);
    g_object_set(element, "trail-length", -1, nullptr);
    g_object_set(element, "line-thickness", 101, nullptr);
    g_object_set(element, "font-scale", -0.5, nullptr);
    g_object_set(element, "font-scale", 20.5, nullptr);
    ASSERT_EQ(glib_warnings.size(), 5u);
    for (const std::string& warning : glib_warnings) EXPECT_NE(warning.find("out of range"), std::string::npos) << warning;
    glib_warnings.clear();
    g_object_get(element, "trail-length", &trail, "line-thickness", &thickness, "font-scale", &scale, nullptr);
    EXPECT_EQ(trail, 120);
    EXPECT_EQ(thickness, 7);
    EXPECT_EQ(scale, 1.5);
}

// One tracked object moving right by 25 px per buffer along y = 32 on BGRx.
GstBuffer* tracked_buffer(const std::string& caps, float centre_x, int track_id) {
    GstBuffer* buffer = blank_buffer(caps, 60);
    GstVideoRegionOfInterestMeta* meta =
        xmodal::gst::add_object(buffer, 160, 64, "car", 2, 0.9, centre_x - 6, 26, centre_x + 6, 38);
    xmodal::gst::set_tracking(meta, track_id, "confirmed");
    return buffer;
}

TEST_F(XmOverlay, DrawsTrailsOfTrackedObjectsAndForgetsThemOnFlush) {
    Harness harness;
    const std::string caps = caps_string("BGRx", 160, 64);
    gst_harness_set_src_caps_str(harness.h, caps.c_str());
    g_object_set(harness.element(), "show-labels", FALSE, "show-confidence", FALSE, "show-track-ids", FALSE, "line-thickness", 2,
                 "trail-length", 10, nullptr);
    const Rgb colour = xmodal::track_colour(7);
    for (int i = 0; i < 5; ++i) {
        ASSERT_EQ(gst_harness_push(harness.h, tracked_buffer(caps, 20.f + 25.f * static_cast<float>(i), 7)), GST_FLOW_OK);
        GstBuffer* out = gst_harness_pull(harness.h);
        if (i == 4) {
            MappedFrame frame(out, caps);
            // Centres went 20, 45, ..., 120; the last box spans x 114..126.
            for (const int x : {24, 50, 70, 95}) EXPECT_EQ(frame.bgrx(x, 32), colour) << x;
        }
        gst_buffer_unref(out);
    }

    gst_harness_push_event(harness.h, gst_event_new_flush_start());
    gst_harness_push_event(harness.h, gst_event_new_flush_stop(TRUE));
    gst_harness_push_event(harness.h, gst_event_new_segment([] {
                               static GstSegment segment;
                               gst_segment_init(&segment, GST_FORMAT_TIME);
                               return &segment;
                           }()));
    ASSERT_EQ(gst_harness_push(harness.h, tracked_buffer(caps, 120.f, 7)), GST_FLOW_OK);
    GstBuffer* out = gst_harness_pull(harness.h);
    {
        MappedFrame frame(out, caps);
        for (const int x : {24, 50, 70, 95}) EXPECT_EQ(frame.bgrx(x, 32), (Rgb{60, 60, 60})) << "after flush, x " << x;
    }
    gst_buffer_unref(out);

    // trail-length 0 turns trails off.
    g_object_set(harness.element(), "trail-length", 0, nullptr);
    for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(gst_harness_push(harness.h, tracked_buffer(caps, 20.f + 25.f * static_cast<float>(i), 7)), GST_FLOW_OK);
        GstBuffer* last = gst_harness_pull(harness.h);
        if (i == 2) {
            MappedFrame frame(last, caps);
            EXPECT_EQ(frame.bgrx(33, 32), (Rgb{60, 60, 60}));
        }
        gst_buffer_unref(last);
    }
}

// xmfuse's meta: an event attributed to a track gets a captioned marker above its box (and the
// refined label), and the events are listed in a block at the bottom left.
TEST_F(XmOverlay, DrawsSoundAttributionsFromXmfuse) {
    const std::string caps = caps_string("BGRx", 320, 240);
    auto render = [&](bool with_fusion) {
        Harness harness;
        gst_harness_set_src_caps_str(harness.h, caps.c_str());
        GstBuffer* buffer = blank_buffer(caps, 128);
        auto* roi = xmodal::gst::add_object(buffer, 320, 240, "car", 2, 0.9, 100, 150, 200, 200);
        xmodal::gst::set_tracking(roi, 4, "confirmed");
        if (with_fusion) {
            gst_video_region_of_interest_meta_add_param(
                roi, gst_structure_new("audio", "sound", G_TYPE_STRING, "siren", "probability", G_TYPE_DOUBLE, 0.9, "label",
                                       G_TYPE_STRING, "emergency-vehicle", nullptr));
            GstStructure* fusion = xmodal::gst::add_fusion_structure(buffer);
            gst_structure_set(fusion, "audio", G_TYPE_STRING, "ok", "audio-tokens", G_TYPE_INT, 8, nullptr);
            GValue events = G_VALUE_INIT, v = G_VALUE_INIT;
            gst_value_array_init(&events, 1);
            g_value_init(&v, GST_TYPE_STRUCTURE);
            g_value_take_boxed(&v, gst_structure_new("event", "sound", G_TYPE_STRING, "siren", "score", G_TYPE_DOUBLE, 0.8,
                                                     "track-id", G_TYPE_INT64, G_GINT64_CONSTANT(4), "probability",
                                                     G_TYPE_DOUBLE, 0.9, nullptr));
            gst_value_array_append_and_take_value(&events, &v);
            gst_structure_take_value(fusion, "events", &events);
        }
        EXPECT_EQ(gst_harness_push(harness.h, buffer), GST_FLOW_OK);
        return gst_harness_pull(harness.h);
    };
    GstBuffer* plain = render(false);
    GstBuffer* fused = render(true);
    {
        MappedFrame a(plain, caps), b(fused, caps);
        auto differing = [&](int x0, int y0, int x1, int y1) {
            int n = 0;
            for (int y = y0; y < y1; ++y)
                for (int x = x0; x < x1; ++x) n += !(a.bgrx(x, y) == b.bgrx(x, y));
            return n;
        };
        EXPECT_GT(differing(0, 200, 160, 240), 100) << "the event list at the bottom left";
        EXPECT_GT(differing(100, 100, 260, 150), 100) << "marker, caption and refined label above the box";
        EXPECT_EQ(differing(210, 0, 320, 100), 0) << "nothing elsewhere";
    }
    gst_buffer_unref(plain);
    gst_buffer_unref(fused);
}

}  // namespace

int main(int argc, char** argv) {
    gst_init(&argc, &argv);
    g_log_set_handler("GLib-GObject", static_cast<GLogLevelFlags>(G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL), record_glib_warning, nullptr);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
