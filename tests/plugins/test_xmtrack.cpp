// xmtrack in a GstHarness: caps for the raw formats, property ranges and consistency errors at
// state change, track ids on ROIs of moving boxes, predicted ROIs on frames the detector skipped,
// and a fresh tracker after a flush.
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include "element_test_support.hpp"

#include <string>
#include <vector>

#include "../../plugins/xm_objects.hpp"

namespace {

namespace xg = xmodal::gst;

constexpr int width = 320, height = 240;

// GLib warnings and criticals of the whole process, captured by the log writer main() installs.
std::vector<std::string> glib_warnings;

GLogWriterOutput capture_writer(GLogLevelFlags level, const GLogField* fields, gsize n_fields, gpointer data) {
    if (level & (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL))
        for (gsize i = 0; i < n_fields; ++i)
            if (std::string(fields[i].key) == "MESSAGE")
                glib_warnings.emplace_back(static_cast<const char*>(fields[i].value));
    return g_log_writer_default(level, fields, n_fields, data);
}

std::string caps_string(const char* format) {
    return std::string("video/x-raw,format=") + format + ",width=" + std::to_string(width) +
           ",height=" + std::to_string(height) + ",framerate=30/1";
}

GstHarness* harness_for(GstElement* element, const char* format = "I420") {
    GstHarness* h = gst_harness_new_with_element(element, "sink", "src");
    gst_harness_set_src_caps_str(h, caps_string(format).c_str());
    return h;
}

GstElement* make_track(int min_hits = 2) {
    GstElement* element = gst_element_factory_make("xmtrack", nullptr);
    if (element != nullptr) g_object_set(element, "min-hits", min_hits, nullptr);
    return element;
}

struct Box {
    double x1, y1, x2, y2;
};

// A frame with these detections (label "car", id 2) and optionally the inference marker.
GstBuffer* frame_with(const std::vector<std::pair<Box, double>>& boxes, int inferred = -1) {
    GstVideoInfo info;
    gst_video_info_set_format(&info, GST_VIDEO_FORMAT_I420, width, height);
    GstBuffer* buffer = gst_buffer_new_and_alloc(GST_VIDEO_INFO_SIZE(&info));
    for (const auto& [b, score] : boxes) xg::add_object(buffer, width, height, "car", 2, score, b.x1, b.y1, b.x2, b.y2);
    if (inferred >= 0) xg::mark_inference(buffer, inferred != 0, "test-model");
    return buffer;
}

// A 40x30 box moving (+3, +1) px per frame from (20, 40).
Box moving_box(int frame) {
    const double x = 20 + 3.0 * frame, y = 40 + 1.0 * frame;
    return {x, y, x + 40, y + 30};
}

std::vector<xg::FrameObject> push_pull(GstHarness* h, GstBuffer* in) {
    EXPECT_EQ(gst_harness_push(h, in), GST_FLOW_OK);
    GstBuffer* out = gst_harness_pull(h);
    EXPECT_NE(out, nullptr);
    if (out == nullptr) return {};
    std::vector<xg::FrameObject> objects = xg::read_objects(out, width, height);
    for (auto& o : objects) o.meta = nullptr;  // the buffer goes away
    gst_buffer_unref(out);
    return objects;
}

class XmTrack : public ::testing::Test {
protected:
    void SetUp() override { glib_warnings.clear(); }
    void TearDown() override {
        if (!expect_warnings_) {
            EXPECT_TRUE(glib_warnings.empty()) << glib_warnings.front();
        }
    }
    bool expect_warnings_ = false;
};

TEST_F(XmTrack, NegotiatesEveryRawFormatAndPassesPixels) {
    for (const char* format : {"I420", "NV12", "RGB", "BGR", "RGBx", "BGRx", "RGBA", "BGRA", "GRAY8"}) {
        GstElement* element = make_track();
        ASSERT_NE(element, nullptr) << "xmtrack not found; GST_PLUGIN_PATH=" << g_getenv("GST_PLUGIN_PATH");
        GstHarness* h = harness_for(element, format);
        GstVideoInfo info;
        ASSERT_TRUE(gst_video_info_from_caps(&info, gst_caps_from_string(caps_string(format).c_str())));
        GstBuffer* in = gst_buffer_new_and_alloc(GST_VIDEO_INFO_SIZE(&info));
        gst_buffer_memset(in, 0, 0x5a, GST_VIDEO_INFO_SIZE(&info));
        ASSERT_EQ(gst_harness_push(h, in), GST_FLOW_OK) << format;
        GstBuffer* out = gst_harness_pull(h);
        ASSERT_NE(out, nullptr);
        GstCaps* caps = gst_pad_get_current_caps(h->sinkpad);
        ASSERT_NE(caps, nullptr);
        EXPECT_STREQ(gst_structure_get_string(gst_caps_get_structure(caps, 0), "format"), format);
        gst_caps_unref(caps);
        guint8 byte = 0;
        gst_buffer_extract(out, GST_VIDEO_INFO_SIZE(&info) - 1, &byte, 1);
        EXPECT_EQ(byte, 0x5a);
        gst_buffer_unref(out);
        gst_harness_teardown(h);
        gst_object_unref(element);
    }
}

TEST_F(XmTrack, RefusesNonVideoCaps) {
    GstElement* element = make_track();
    GstHarness* h = gst_harness_new_with_element(element, "sink", "src");
    gst_harness_set_src_caps_str(h, "audio/x-raw,format=S16LE,rate=16000,channels=1,layout=interleaved");
    EXPECT_EQ(gst_harness_push(h, gst_buffer_new_and_alloc(64)), GST_FLOW_NOT_NEGOTIATED);
    gst_harness_teardown(h);
    gst_object_unref(element);
}

TEST_F(XmTrack, PropertyDefaults) {
    GstElement* element = make_track();
    gint max_age = 0;
    gdouble track = 0, low = 0, fresh = 0, iou = 0, distance = 0;
    gboolean class_aware = TRUE, tentative = TRUE;
    g_object_get(element, "max-age", &max_age, "track-threshold", &track, "low-threshold", &low, "new-track-threshold",
                 &fresh, "iou-threshold", &iou, "distance-threshold", &distance, "class-aware", &class_aware,
                 "output-tentative", &tentative, nullptr);
    EXPECT_EQ(max_age, 30);
    EXPECT_NEAR(track, 0.5, 1e-6);
    EXPECT_NEAR(low, 0.1, 1e-6);
    EXPECT_NEAR(fresh, 0.6, 1e-6);
    EXPECT_NEAR(iou, 0.3, 1e-6);
    EXPECT_NEAR(distance, 1.0, 1e-6);
    EXPECT_FALSE(class_aware);
    EXPECT_FALSE(tentative);
    gst_object_unref(element);
}

std::string state_change_error(const char* property, double value);

// Out-of-range numbers are accepted by GLib (no silent fallback to the old value) and refused when
// the element starts, with the property, the value and the range in the message.
TEST_F(XmTrack, OutOfRangeValuesFailAtStateChange) {
    EXPECT_NE(state_change_error("track-threshold", 1.5).find("track-threshold 1.5 is out of range, expected 0..1"), std::string::npos);
    EXPECT_NE(state_change_error("low-threshold", -0.1).find("low-threshold -0.1 is out of range, expected 0..1"), std::string::npos);
    EXPECT_NE(state_change_error("iou-threshold", 0.0).find("iou-threshold 0 is out of range"), std::string::npos);
    EXPECT_NE(state_change_error("distance-threshold", 11.0).find("distance-threshold 11 is out of range"), std::string::npos);
    EXPECT_NE(state_change_error("min-hits", 0).find("min-hits 0 is out of range, expected 1..1000"), std::string::npos);
    EXPECT_NE(state_change_error("max-age", -1).find("max-age -1 is out of range, expected 0..100000"), std::string::npos);
}

// Inconsistent thresholds: going to PAUSED fails with an ERROR message naming both properties.
std::string state_change_error(const char* property, double value) {
    GstElement* element = make_track();
    GParamSpec* spec = g_object_class_find_property(G_OBJECT_GET_CLASS(element), property);
    if (spec->value_type == G_TYPE_INT)
        g_object_set(element, property, static_cast<gint>(value), nullptr);
    else
        g_object_set(element, property, value, nullptr);
    const std::string text = xmodal::testing::start_error(element);
    gst_object_unref(element);
    return text;
}

TEST_F(XmTrack, InconsistentThresholdsFailAtStateChange) {
    const std::string low = state_change_error("low-threshold", 0.7);
    EXPECT_NE(low.find("low-threshold 0.7 is above track-threshold 0.5"), std::string::npos) << low;
    const std::string fresh = state_change_error("new-track-threshold", 0.3);
    EXPECT_NE(fresh.find("new-track-threshold 0.3 is below track-threshold 0.5"), std::string::npos) << fresh;
}

TEST_F(XmTrack, WritesStableIdsOnMovingBoxes) {
    GstElement* element = make_track(2);
    GstHarness* h = harness_for(element);
    for (int f = 0; f < 12; ++f) {
        const Box a = moving_box(f);
        const Box b{250.0 - 3 * f, 150, 290.0 - 3 * f, 200};
        const auto objects = push_pull(h, frame_with({{a, 0.9}, {b, 0.8}}));
        if (f == 0) {  // both tentative: not output by default
            EXPECT_TRUE(objects.empty());
            continue;
        }
        ASSERT_EQ(objects.size(), 2u) << "frame " << f;
        // xmtrack keeps the detector's boxes and order.
        EXPECT_NEAR(objects[0].x_min * width, a.x1, 1.0);
        EXPECT_EQ(objects[0].track_id, 1) << "frame " << f;
        EXPECT_EQ(objects[1].track_id, 2) << "frame " << f;
        EXPECT_EQ(objects[0].track_state, "confirmed");
        EXPECT_EQ(objects[0].label, "car");
        EXPECT_EQ(objects[0].label_id, 2);
    }
    gst_harness_teardown(h);
    gst_object_unref(element);
}

TEST_F(XmTrack, DropsDiscardedDetectionsAndOutputsTentativeOnRequest) {
    GstElement* element = make_track(3);
    g_object_set(element, "output-tentative", TRUE, nullptr);
    GstHarness* h = harness_for(element);
    // A strong box (starts a track), a 0.55 box (high, but below new-track-threshold 0.6) and a
    // 0.05 box (below low-threshold): only the first survives, as tentative.
    const auto objects = push_pull(h, frame_with({{moving_box(0), 0.9},
                                                  {{200, 100, 240, 140}, 0.55},
                                                  {{100, 180, 140, 220}, 0.05}}));
    ASSERT_EQ(objects.size(), 1u);
    EXPECT_EQ(objects[0].track_id, 1);
    EXPECT_EQ(objects[0].track_state, "tentative");
    EXPECT_NEAR(objects[0].confidence, 0.9, 1e-9);
    gst_harness_teardown(h);
    gst_object_unref(element);
}

TEST_F(XmTrack, SkippedFramesCarryPredictedBoxes) {
    GstElement* element = make_track(2);
    GstHarness* h = harness_for(element);
    // inference-interval 3: the detector runs on frames 0, 3, 6, ... and marks the others.
    int predicted_frames = 0;
    for (int f = 0; f < 30; ++f) {
        const bool inferred = f % 3 == 0;
        // A skipped frame may still carry stale ROIs (from an upstream element): they are replaced.
        GstBuffer* in = inferred ? frame_with({{moving_box(f), 0.9}}, 1) : frame_with({{{0, 0, 10, 10}, 0.9}}, 0);
        const auto objects = push_pull(h, in);
        if (f < 3) continue;  // frame 0 tentative, 1-2 nothing followed yet
        ASSERT_EQ(objects.size(), 1u) << "frame " << f;
        EXPECT_EQ(objects[0].track_id, 1);
        EXPECT_EQ(objects[0].label, "car");
        EXPECT_EQ(objects[0].label_id, 2);
        if (inferred) {
            EXPECT_EQ(objects[0].track_state, "confirmed");
            continue;
        }
        ++predicted_frames;
        EXPECT_EQ(objects[0].track_state, "predicted") << "frame " << f;
        const Box truth = moving_box(f);
        // Predicted where the box has moved to (the velocity is learnt from frames 3 apart).
        EXPECT_NEAR(objects[0].x_min * width, truth.x1, f < 9 ? 8.0 : 2.0) << "frame " << f;
        EXPECT_NEAR(objects[0].y_min * height, truth.y1, f < 9 ? 4.0 : 2.0) << "frame " << f;
        EXPECT_NEAR((objects[0].x_max - objects[0].x_min) * width, 40.0, 2.0);
    }
    EXPECT_EQ(predicted_frames, 18);
    gst_harness_teardown(h);
    gst_object_unref(element);
}

TEST_F(XmTrack, PredictionsThatLeaveThePictureAreNotOutput) {
    GstElement* element = make_track(2);
    GstHarness* h = harness_for(element);
    // 40x30, +8 px per frame: x1 = 200 + 8 f reaches the right edge (320) at frame 15.
    auto box_at = [](int f) { return Box{200.0 + 8 * f, 100, 240.0 + 8 * f, 130}; };
    for (int f = 0; f < 10; ++f) push_pull(h, frame_with({{box_at(f), 0.9}}, 1));
    for (int f = 10; f <= 20; ++f) {
        const auto objects = push_pull(h, frame_with({}, 0));
        if (f <= 13) {
            ASSERT_EQ(objects.size(), 1u) << "frame " << f;
            // The velocity estimate still lags a little after 10 frames: a few px behind.
            EXPECT_NEAR(objects[0].x_min * width, box_at(f).x1, 4.0) << "frame " << f;
            if (f >= 11) {
                EXPECT_EQ(objects[0].x_max * width, width) << "frame " << f;  // clamped to the picture
            }
        } else if (f >= 16) {
            EXPECT_TRUE(objects.empty()) << "frame " << f;
        }
    }
    gst_harness_teardown(h);
    gst_object_unref(element);
}

TEST_F(XmTrack, ResolutionChangeResetsTheTracker) {
    GstElement* element = make_track(2);
    GstHarness* h = harness_for(element);
    for (int f = 0; f < 3; ++f) push_pull(h, frame_with({{moving_box(f), 0.9}}, 1));
    EXPECT_EQ(push_pull(h, frame_with({}, 0)).size(), 1u);
    gst_harness_set_src_caps_str(h, caps_string("I420").c_str());  // same size: tracks stay
    EXPECT_EQ(push_pull(h, frame_with({}, 0)).size(), 1u);
    gst_harness_set_src_caps_str(h, "video/x-raw,format=I420,width=640,height=480,framerate=30/1");
    EXPECT_TRUE(push_pull(h, frame_with({}, 0)).empty());
    gst_harness_teardown(h);
    gst_object_unref(element);
}

TEST_F(XmTrack, FlushResetsTheTracker) {
    GstElement* element = make_track(2);
    GstHarness* h = harness_for(element);
    for (int f = 0; f < 3; ++f) push_pull(h, frame_with({{moving_box(f), 0.9}}));
    EXPECT_EQ(push_pull(h, frame_with({}, 0)).size(), 1u);  // followed: predicted
    ASSERT_TRUE(gst_harness_push_event(h, gst_event_new_flush_start()));
    ASSERT_TRUE(gst_harness_push_event(h, gst_event_new_flush_stop(TRUE)));
    GstSegment segment;
    gst_segment_init(&segment, GST_FORMAT_TIME);
    ASSERT_TRUE(gst_harness_push_event(h, gst_event_new_segment(&segment)));
    // Nothing is followed any more, and the same box starts a new track with a new id.
    EXPECT_TRUE(push_pull(h, frame_with({}, 0)).empty());
    EXPECT_TRUE(push_pull(h, frame_with({{moving_box(0), 0.9}})).empty());  // tentative
    const auto objects = push_pull(h, frame_with({{moving_box(1), 0.9}}));
    ASSERT_EQ(objects.size(), 1u);
    EXPECT_EQ(objects[0].track_id, 2);
    gst_harness_teardown(h);
    gst_object_unref(element);
}

}  // namespace

int main(int argc, char** argv) {
    g_log_set_writer_func(capture_writer, nullptr, nullptr);
    gst_init(&argc, &argv);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
