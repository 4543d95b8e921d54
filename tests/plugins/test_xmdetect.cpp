// xmdetect with GstHarness: caps, properties and their errors at state change, ROI metas on the
// staged photos against the runtime's goldens, inference-interval markers, batching.
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "element_test_support.hpp"
#include "xm_objects.hpp"
#include "xmodal/shared_paths.hpp"

namespace {

using xmodal::testing::make_video_buffer;
using xmodal::testing::start_error;

const std::string model_info = std::string(XMODAL_SOURCE_DIR) + "/models/yolox_nano.json";

bool have_model() { return std::filesystem::exists(xmodal::shared_file("models/yolox_nano.onnx")); }

#define REQUIRE_MODEL() \
    if (!have_model()) GTEST_SKIP() << "needs " << xmodal::shared_file("models/yolox_nano.onnx")

GstElement* make_detect() {
    GstElement* e = gst_element_factory_make("xmdetect", nullptr);
    EXPECT_NE(e, nullptr) << "xmdetect not found; GST_PLUGIN_PATH=" << g_getenv("GST_PLUGIN_PATH");
    g_object_set(e, "model-info", model_info.c_str(), nullptr);
    return e;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

GstHarness* harness_for(const std::string& properties, const std::string& caps) {
    GstHarness* h = gst_harness_new_parse(("xmdetect model-info=" + model_info + " " + properties).c_str());
    gst_harness_set_src_caps_str(h, caps.c_str());
    return h;
}

TEST(XmDetect, NegotiatesEveryRawFormat) {
    REQUIRE_MODEL();
    for (const char* format : {"I420", "NV12", "RGB", "BGR", "RGBx", "BGRx", "RGBA", "BGRA"}) {
        const std::string caps = std::string("video/x-raw,format=") + format + ",width=322,height=181,framerate=30/1";
        GstHarness* h = harness_for("", caps);
        GstVideoInfo info;
        GstCaps* c = gst_caps_from_string(caps.c_str());
        gst_video_info_from_caps(&info, c);
        gst_caps_unref(c);
        ASSERT_EQ(gst_harness_push(h, make_video_buffer(info, nullptr, 0, GST_SECOND / 30)), GST_FLOW_OK) << format;
        GstBuffer* out = gst_harness_pull(h);
        ASSERT_NE(out, nullptr) << format;
        EXPECT_EQ(xmodal::gst::inference_ran(out), std::optional<bool>(true)) << format;
        GstCaps* negotiated = gst_pad_get_current_caps(h->srcpad);
        EXPECT_TRUE(contains(gst_caps_to_string(negotiated), format));
        gst_caps_unref(negotiated);
        gst_buffer_unref(out);
        gst_harness_teardown(h);
    }
}

TEST(XmDetect, RefusesFormatsItCannotRead) {
    GstElement* e = make_detect();
    GstPad* sink = gst_element_get_static_pad(e, "sink");
    GstCaps* yuy2 = gst_caps_from_string("video/x-raw,format=YUY2,width=64,height=64,framerate=30/1");
    EXPECT_FALSE(gst_pad_query_accept_caps(sink, yuy2));
    gst_caps_unref(yuy2);
    gst_object_unref(sink);
    gst_object_unref(e);
}

TEST(XmDetect, PropertiesRoundTrip) {
    GstElement* e = make_detect();
    g_object_set(e, "model", "/m.onnx", "labels", "/l.txt", "device", "gpu:1", "threshold", 0.6, "nms-threshold", 0.3,
                 "classes", "car,bus", "inference-interval", 3, "batch-size", 4, "class-agnostic-nms", FALSE, "nireq", 2, nullptr);
    gst_util_set_object_arg(G_OBJECT(e), "precision", "bf16");
    gchar *model, *labels, *device, *classes;
    gdouble threshold, nms;
    gint interval, batch, precision, nireq;
    gboolean agnostic;
    g_object_get(e, "model", &model, "labels", &labels, "device", &device, "classes", &classes, "threshold", &threshold,
                 "nms-threshold", &nms, "inference-interval", &interval, "batch-size", &batch, "precision", &precision,
                 "class-agnostic-nms", &agnostic, "nireq", &nireq, nullptr);
    EXPECT_EQ(nireq, 2);
    EXPECT_STREQ(model, "/m.onnx");
    EXPECT_STREQ(labels, "/l.txt");
    EXPECT_STREQ(device, "gpu:1");
    EXPECT_STREQ(classes, "car,bus");
    EXPECT_DOUBLE_EQ(threshold, 0.6);
    EXPECT_DOUBLE_EQ(nms, 0.3);
    EXPECT_EQ(interval, 3);
    EXPECT_EQ(batch, 4);
    EXPECT_EQ(precision, 1);
    EXPECT_FALSE(agnostic);
    g_free(model), g_free(labels), g_free(device), g_free(classes);
    gst_object_unref(e);
}

// Every bad setting is an ERROR message at the state change that names the value, not a crash
// and not a silently ignored property.
TEST(XmDetect, BadSettingsFailAtStateChangeWithClearErrors) {
    REQUIRE_MODEL();
    const auto temp = std::filesystem::temp_directory_path();
    const auto broken_info = (temp / "xmdetect_broken_info.json").string();
    std::ofstream(broken_info) << "{\"format\": \"xmodal-detection-model-info\", \"version\": 1, \"input\": {\"width\": 416}";
    const auto wrong_info = (temp / "xmdetect_wrong_info.json").string();
    std::ofstream(wrong_info) << "{\"format\": \"xmodal-detection-model-info\", \"version\": 1, \"input\": {\"width\": 416, "
                                 "\"height\": 416, \"layout\": \"NCHW\", \"color_order\": \"BGR\", \"resize\": {\"mode\": \"stretch\"}}, \"output\": {\"head\": \"yolo-nas\"}, \"labels\": [\"a\"]}";
    const auto two_labels = (temp / "xmdetect_two_labels.txt").string();
    std::ofstream(two_labels) << "car\nbus\n";

    auto check = [](const char* what, const std::function<void(GstElement*)>& configure, const std::string& expected) {
        GstElement* e = make_detect();
        configure(e);
        const std::string error = start_error(e);
        EXPECT_TRUE(contains(error, expected)) << what << ": got \"" << error << "\", expected it to contain \"" << expected << "\"";
        gst_object_unref(e);
    };
    check("missing model file", [](GstElement* e) { g_object_set(e, "model", "/nonexistent/detector.onnx", nullptr); },
          "model: file '/nonexistent/detector.onnx' does not exist");
    check("no model-info", [](GstElement* e) { g_object_set(e, "model-info", nullptr, nullptr); }, "model-info: no model description given");
    check("missing model-info", [](GstElement* e) { g_object_set(e, "model-info", "/nonexistent/info.json", nullptr); },
          "/nonexistent/info.json");
    check("malformed model-info", [&](GstElement* e) { g_object_set(e, "model-info", broken_info.c_str(), nullptr); }, broken_info);
    check("invalid model-info", [&](GstElement* e) { g_object_set(e, "model-info", wrong_info.c_str(), nullptr); }, "yolo-nas");
    check("unknown device", [](GstElement* e) { g_object_set(e, "device", "tpu", nullptr); }, "tpu");
    check("absent gpu", [](GstElement* e) { g_object_set(e, "device", "gpu:7", nullptr); }, "gpu");
    check("threshold above 1", [](GstElement* e) { g_object_set(e, "threshold", 1.5, nullptr); }, "threshold: expected a value in [0, 1], got 1.5");
    check("threshold below 0", [](GstElement* e) { g_object_set(e, "threshold", -0.1, nullptr); }, "threshold: expected a value in [0, 1], got -0.1");
    check("nms-threshold", [](GstElement* e) { g_object_set(e, "nms-threshold", 2.0, nullptr); }, "nms-threshold: expected a value in [0, 1], got 2");
    check("inference-interval 0", [](GstElement* e) { g_object_set(e, "inference-interval", 0, nullptr); },
          "inference-interval 0 is out of range: expected 1 or more");
    check("batch-size 0", [](GstElement* e) { g_object_set(e, "batch-size", 0, nullptr); }, "batch-size 0 is out of range: expected 1..64");
    check("batch-size 65", [](GstElement* e) { g_object_set(e, "batch-size", 65, nullptr); }, "batch-size 65 is out of range");
    check("nireq 0", [](GstElement* e) { g_object_set(e, "nireq", 0, nullptr); }, "nireq 0 is out of range: expected 1..8");
    check("nireq 9", [](GstElement* e) { g_object_set(e, "nireq", 9, nullptr); }, "nireq 9 is out of range: expected 1..8");
    check("unknown class", [](GstElement* e) { g_object_set(e, "classes", "car, unicorn", nullptr); }, "no label \"unicorn\"");
    check("labels count", [&](GstElement* e) { g_object_set(e, "labels", two_labels.c_str(), nullptr); }, "2 labels");
    check("missing labels", [](GstElement* e) { g_object_set(e, "labels", "/nonexistent/labels.txt", nullptr); },
          "cannot open labels file '/nonexistent/labels.txt'");
    // And a good configuration starts.
    GstElement* e = make_detect();
    EXPECT_EQ(start_error(e), "");
    gst_object_unref(e);
}

struct Photo {
    cv::Mat bgr;
    GstVideoInfo info;
};

Photo load_photo(const std::string& stem) {
    Photo p;
    p.bgr = cv::imread(xmodal::shared_file("media/" + stem + ".jpg"), cv::IMREAD_COLOR);
    gst_video_info_set_format(&p.info, GST_VIDEO_FORMAT_BGR, static_cast<guint>(p.bgr.cols), static_cast<guint>(p.bgr.rows));
    return p;
}

std::string caps_of(const GstVideoInfo& info) {
    GstCaps* caps = gst_video_info_to_caps(&info);
    gchar* text = gst_caps_to_string(caps);
    std::string s = text;
    g_free(text);
    gst_caps_unref(caps);
    return s;
}

// The ROI metas on the staged photos are the runtime's goldens (tests/golden, made from OpenCV DNN).
TEST(XmDetect, RoiMetasOnPhotosMatchTheRuntimeGoldens) {
    REQUIRE_MODEL();
    for (const char* stem : {"dog", "street_nyc_bus_taxi", "street_intersection_1080p"}) {
        Photo photo = load_photo(stem);
        ASSERT_FALSE(photo.bgr.empty()) << stem;
        GstHarness* h = harness_for("precision=f32", caps_of(photo.info));
        GstBuffer* out = gst_harness_push_and_pull(h, make_video_buffer(photo.info, photo.bgr.data, 0, GST_SECOND));
        ASSERT_NE(out, nullptr);
        const auto objects = xmodal::gst::read_objects(out, photo.bgr.cols, photo.bgr.rows);
        std::ifstream golden_file(std::string(XMODAL_SOURCE_DIR) + "/tests/golden/yolox_nano_" + stem + ".json");
        const auto golden = nlohmann::json::parse(golden_file)["detections"];
        ASSERT_EQ(objects.size(), golden.size()) << stem;
        for (const auto& g : golden) {
            // The same-label object nearest the golden box.
            const xmodal::gst::FrameObject* best = nullptr;
            double best_distance = 1e9;
            for (const auto& o : objects) {
                if (o.label != g["label"].get<std::string>()) continue;
                const double box[4] = {o.x_min * photo.bgr.cols, o.y_min * photo.bgr.rows, o.x_max * photo.bgr.cols, o.y_max * photo.bgr.rows};
                double distance = 0;
                for (int k = 0; k < 4; ++k) distance = std::max(distance, std::abs(box[k] - g["box"][k].get<double>()));
                if (distance < best_distance) best_distance = distance, best = &o;
            }
            ASSERT_NE(best, nullptr) << stem << ": no " << g["label"];
            EXPECT_LE(best_distance, 2.0) << stem << " " << g["label"];
            EXPECT_NEAR(best->confidence, g["confidence"].get<double>(), 0.01) << stem << " " << g["label"];
            EXPECT_EQ(best->label_id, g["label_id"].get<int>());
            // DL Streamer's layout: roi_type is the label, x/y/w/h the box in pixels.
            EXPECT_STREQ(g_quark_to_string(best->meta->roi_type), best->label.c_str());
            EXPECT_NEAR(best->meta->x, best->x_min * photo.bgr.cols, 1.0);
            EXPECT_NEAR(best->meta->w, (best->x_max - best->x_min) * photo.bgr.cols, 1.5);
            EXPECT_EQ(best->track_id, 0);
        }
        gst_buffer_unref(out);
        gst_harness_teardown(h);
    }
}

// The photo as I420 (as a decoder delivers it) finds the same objects as BGR, within chroma subsampling.
TEST(XmDetect, I420FramesFindTheSameObjects) {
    REQUIRE_MODEL();
    Photo photo = load_photo("street_nyc_bus_taxi");
    GstHarness* h = gst_harness_new_parse(("videoconvert ! video/x-raw,format=I420 ! xmdetect precision=f32 model-info=" + model_info).c_str());
    gst_harness_set_src_caps_str(h, caps_of(photo.info).c_str());
    GstBuffer* out = gst_harness_push_and_pull(h, make_video_buffer(photo.info, photo.bgr.data, 0, GST_SECOND));
    const auto objects = xmodal::gst::read_objects(out, photo.bgr.cols, photo.bgr.rows);
    std::ifstream golden_file(std::string(XMODAL_SOURCE_DIR) + "/tests/golden/yolox_nano_street_nyc_bus_taxi.json");
    const auto golden = nlohmann::json::parse(golden_file)["detections"];
    int found = 0;
    for (const auto& g : golden)
        for (const auto& o : objects)
            if (o.label == g["label"].get<std::string>() && std::abs(o.x_min * photo.bgr.cols - g["box"][0].get<double>()) < 8 &&
                std::abs(o.y_max * photo.bgr.rows - g["box"][3].get<double>()) < 8) {
                ++found;
                break;
            }
    EXPECT_GE(found, static_cast<int>(golden.size()) - 1) << "of " << golden.size() << " golden objects";
    gst_buffer_unref(out);
    gst_harness_teardown(h);
}

// inference-interval 3: frames 0, 3, 6 are inferred and carry objects; all frames carry the marker.
TEST(XmDetect, InferenceIntervalMarksEveryFrame) {
    REQUIRE_MODEL();
    Photo photo = load_photo("dog");
    GstHarness* h = harness_for("inference-interval=3", caps_of(photo.info));
    for (int i = 0; i < 7; ++i) {
        GstBuffer* out = gst_harness_push_and_pull(h, make_video_buffer(photo.info, photo.bgr.data, i * GST_SECOND / 10, GST_SECOND / 10));
        ASSERT_NE(out, nullptr);
        const bool expected = i % 3 == 0;
        EXPECT_EQ(xmodal::gst::inference_ran(out), std::optional<bool>(expected)) << "frame " << i;
        EXPECT_EQ(xmodal::gst::read_objects(out, photo.bgr.cols, photo.bgr.rows).empty(), !expected) << "frame " << i;
        gst_buffer_unref(out);
    }
    gst_harness_teardown(h);
}

// inference-interval 3 with xmtrack behind: every frame carries the objects — detected on frames
// 0, 3, 6, predicted by the tracker in between, under the same track ids.
TEST(XmDetect, InferenceIntervalThreeWithTrackerGivesObjectsOnEveryFrame) {
    REQUIRE_MODEL();
    Photo photo = load_photo("street_nyc_bus_taxi");
    GstHarness* h = gst_harness_new_parse(("xmdetect inference-interval=3 model-info=" + model_info + " ! xmtrack min-hits=1").c_str());
    gst_harness_set_src_caps_str(h, caps_of(photo.info).c_str());
    std::vector<int> first_ids;
    for (int i = 0; i < 9; ++i) {
        GstBuffer* out = gst_harness_push_and_pull(h, make_video_buffer(photo.info, photo.bgr.data, i * GST_SECOND / 10, GST_SECOND / 10));
        const auto objects = xmodal::gst::read_objects(out, photo.bgr.cols, photo.bgr.rows);
        // The four golden objects scoring above new-track-threshold 0.6: bus, car, person, truck.
        EXPECT_EQ(objects.size(), 4u) << "frame " << i;
        std::vector<int> ids;
        for (const auto& o : objects) {
            EXPECT_GT(o.track_id, 0) << "frame " << i;
            EXPECT_EQ(o.track_state, i % 3 == 0 ? "confirmed" : "predicted") << "frame " << i;
            ids.push_back(o.track_id);
        }
        std::sort(ids.begin(), ids.end());
        if (i == 0) first_ids = ids;
        // A still picture: the same objects keep their ids (predicted frames list only followed tracks).
        for (int id : ids) EXPECT_TRUE(std::binary_search(first_ids.begin(), first_ids.end(), id)) << "frame " << i << " id " << id;
        gst_buffer_unref(out);
    }
    gst_harness_teardown(h);
}

// A buffer smaller than its caps say is a stream error naming the sizes, not a crash or a read
// past the end.
TEST(XmDetect, TruncatedBufferIsAStreamError) {
    REQUIRE_MODEL();
    GstHarness* h = harness_for("", "video/x-raw,format=BGRx,width=64,height=48,framerate=25/1");
    GstBus* bus = gst_bus_new();
    gst_element_set_bus(h->element, bus);
    GstBuffer* truncated = gst_buffer_new_allocate(nullptr, 100, nullptr);
    EXPECT_EQ(gst_harness_push(h, truncated), GST_FLOW_ERROR);
    GstMessage* message = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    ASSERT_NE(message, nullptr);
    GError* error = nullptr;
    gchar* debug = nullptr;
    gst_message_parse_error(message, &error, &debug);
    EXPECT_TRUE(contains(error->message, "cannot map a video frame")) << error->message;
    EXPECT_TRUE(contains(debug, "buffer of 100 bytes for caps of 12288")) << debug;
    g_error_free(error), g_free(debug);
    gst_message_unref(message);
    gst_element_set_bus(h->element, nullptr);
    gst_object_unref(bus);
    gst_harness_teardown(h);
}

// Caps may change mid-stream (a camera switching resolution, a decoder reconfiguring): held frames
// finish with the old caps, and later frames are read with the new format and size.
TEST(XmDetect, CapsChangeMidStreamUsesTheNewFormatAndSize) {
    REQUIRE_MODEL();
    Photo photo = load_photo("dog");
    GstHarness* h = harness_for("batch-size=2 precision=f32", caps_of(photo.info));
    ASSERT_EQ(gst_harness_push(h, make_video_buffer(photo.info, photo.bgr.data, 0, GST_SECOND / 10)), GST_FLOW_OK);
    // The same picture at half size as RGBx.
    cv::Mat half, half_rgbx;
    cv::resize(photo.bgr, half, cv::Size(photo.bgr.cols / 2, photo.bgr.rows / 2), 0, 0, cv::INTER_AREA);
    cv::cvtColor(half, half_rgbx, cv::COLOR_BGR2RGBA);
    GstVideoInfo small;
    gst_video_info_set_format(&small, GST_VIDEO_FORMAT_RGBx, static_cast<guint>(half.cols), static_cast<guint>(half.rows));
    gst_harness_set_src_caps_str(h, caps_of(small).c_str());  // drains the held 768x576 frame first
    ASSERT_EQ(gst_harness_buffers_in_queue(h), 1u);
    GstBuffer* first = gst_harness_pull(h);
    EXPECT_EQ(xmodal::gst::read_objects(first, photo.bgr.cols, photo.bgr.rows).size(), 3u);
    gst_buffer_unref(first);
    for (int i = 1; i <= 2; ++i)
        gst_harness_push(h, make_video_buffer(small, half_rgbx.data, i * GST_SECOND / 10, GST_SECOND / 10));
    for (int i = 1; i <= 2; ++i) {
        GstBuffer* out = gst_harness_pull(h);
        const auto objects = xmodal::gst::read_objects(out, half.cols, half.rows);
        ASSERT_GE(objects.size(), 2u) << "frame " << i;
        // The dog is still where it was, in the new frame's pixels: its box left edge near 133 / 2.
        bool dog = false;
        for (const auto& o : objects)
            dog = dog || (o.label == "dog" && std::abs(o.meta->x - 66.0) < 6 && o.meta->x + o.meta->w <= static_cast<guint>(half.cols));
        EXPECT_TRUE(dog) << "frame " << i;
        gst_buffer_unref(out);
    }
    gst_harness_teardown(h);
}

// batch-size 4: frames are held until four have arrived, come out in order, and EOS flushes the rest.
TEST(XmDetect, BatchesHoldFramesAndDrainAtEos) {
    REQUIRE_MODEL();
    Photo photo = load_photo("dog");
    GstHarness* h = harness_for("batch-size=4", caps_of(photo.info));
    for (int i = 0; i < 6; ++i) {
        ASSERT_EQ(gst_harness_push(h, make_video_buffer(photo.info, photo.bgr.data, i * GST_SECOND / 10, GST_SECOND / 10)), GST_FLOW_OK);
        EXPECT_EQ(gst_harness_buffers_in_queue(h), i < 3 ? 0u : 4u) << "after frame " << i;
    }
    ASSERT_TRUE(gst_harness_push_event(h, gst_event_new_eos()));
    ASSERT_EQ(gst_harness_buffers_in_queue(h), 6u);
    for (int i = 0; i < 6; ++i) {
        GstBuffer* out = gst_harness_pull(h);
        EXPECT_EQ(GST_BUFFER_PTS(out), i * GST_SECOND / 10);
        EXPECT_EQ(xmodal::gst::read_objects(out, photo.bgr.cols, photo.bgr.rows).size(), 3u) << "frame " << i;
        gst_buffer_unref(out);
    }
    gst_harness_teardown(h);
}

// Pushes `frames` 64x48 frames at 25 fps into xmdetect with `properties`, expects all of them
// held, flushes, sends EOS, expects nothing out; returns the minimum latency xmdetect then reports
// downstream (its upstream answering 0).
GstClockTime held_frames_flushed_then_latency(const std::string& properties, int frames) {
    GstHarness* h = harness_for(properties, "video/x-raw,format=BGRx,width=64,height=48,framerate=25/1");
    GstVideoInfo info;
    gst_video_info_set_format(&info, GST_VIDEO_FORMAT_BGRx, 64, 48);
    for (int i = 0; i < frames; ++i) gst_harness_push(h, make_video_buffer(info, nullptr, i * GST_SECOND / 25, GST_SECOND / 25));
    EXPECT_EQ(gst_harness_buffers_in_queue(h), 0u) << properties;
    gst_harness_push_event(h, gst_event_new_flush_start());
    gst_harness_push_event(h, gst_event_new_flush_stop(TRUE));
    gst_harness_push_event(h, gst_event_new_eos());
    EXPECT_EQ(gst_harness_buffers_in_queue(h), 0u) << properties;
    gst_harness_set_upstream_latency(h, 0);
    GstQuery* latency = gst_query_new_latency();
    GstClockTime min_latency = GST_CLOCK_TIME_NONE;
    if (gst_pad_peer_query(h->sinkpad, latency)) gst_query_parse_latency(latency, nullptr, &min_latency, nullptr);
    gst_query_unref(latency);
    gst_harness_teardown(h);
    return min_latency;
}

// A flush drops held frames; the latency query counts the frames a batch holds (two at 25 fps).
TEST(XmDetect, FlushDropsHeldFramesAndLatencyCountsThem) {
    REQUIRE_MODEL();
    EXPECT_EQ(held_frames_flushed_then_latency("batch-size=3", 2), 2 * GST_SECOND / 25);
}

// nireq 2: each frame leaves when the next is submitted, with exactly the objects the
// synchronous element finds on it (frames differ, so results landing on the wrong frame show),
// also with skipped frames between and batches of two; EOS drains the last batch.
TEST(XmDetect, NireqTwoGivesEveryFrameItsOwnObjectsOneFrameLater) {
    REQUIRE_MODEL();
    Photo photo = load_photo("dog");
    cv::Mat flipped, blank(photo.bgr.size(), photo.bgr.type(), cv::Scalar(114, 114, 114));
    cv::flip(photo.bgr, flipped, 1);
    const std::vector<const cv::Mat*> sequence = {&photo.bgr, &blank, &flipped, &photo.bgr, &flipped, &blank, &photo.bgr};
    auto objects_per_frame = [&](const std::string& properties, bool check_timing) {
        GstHarness* h = harness_for(properties, caps_of(photo.info));
        std::vector<std::vector<std::string>> result;
        auto pull_all = [&] {
            while (gst_harness_buffers_in_queue(h) > 0) {
                GstBuffer* out = gst_harness_pull(h);
                EXPECT_EQ(GST_BUFFER_PTS(out), static_cast<GstClockTime>(result.size()) * GST_SECOND / 10) << "order";
                std::vector<std::string> frame;
                for (const auto& o : xmodal::gst::read_objects(out, photo.bgr.cols, photo.bgr.rows))
                    frame.push_back(o.label + "@" + std::to_string(o.meta->x) + "," + std::to_string(o.meta->y) + "," +
                                    std::to_string(o.meta->w) + "," + std::to_string(o.meta->h));
                std::sort(frame.begin(), frame.end());
                result.push_back(frame);
                gst_buffer_unref(out);
            }
        };
        for (std::size_t i = 0; i < sequence.size(); ++i) {
            EXPECT_EQ(gst_harness_push(h, make_video_buffer(photo.info, sequence[i]->data, static_cast<GstClockTime>(i) * GST_SECOND / 10,
                                                            GST_SECOND / 10)),
                      GST_FLOW_OK);
            if (check_timing) {
                EXPECT_EQ(gst_harness_buffers_in_queue(h), i == 0 ? 0u : 1u) << "after frame " << i;
            }
            pull_all();
        }
        EXPECT_TRUE(gst_harness_push_event(h, gst_event_new_eos()));
        pull_all();
        gst_harness_teardown(h);
        return result;
    };
    const auto want = objects_per_frame("nireq=1", false);
    ASSERT_EQ(want.size(), sequence.size());
    EXPECT_EQ(want[0].size(), 3u);
    EXPECT_TRUE(want[1].empty());
    EXPECT_NE(want[0], want[2]);  // the flipped photo's boxes differ
    EXPECT_EQ(objects_per_frame("nireq=2", true), want);
    EXPECT_EQ(objects_per_frame("nireq=3 batch-size=2", false), want);
    // Skipped frames carry no detector objects; the inferred ones match.
    const auto skipping = objects_per_frame("nireq=2 inference-interval=2", false);
    ASSERT_EQ(skipping.size(), sequence.size());
    for (std::size_t i = 0; i < sequence.size(); ++i) {
        if (i % 2 == 0) {
            EXPECT_EQ(skipping[i], want[i]) << "frame " << i;
        } else {
            EXPECT_TRUE(skipping[i].empty()) << "frame " << i;
        }
    }
}

// A flush with a batch in flight waits for it and drops it; the latency counts the frame held.
TEST(XmDetect, NireqFlushDropsTheBatchInFlightAndLatencyCountsIt) {
    REQUIRE_MODEL();
    EXPECT_EQ(held_frames_flushed_then_latency("nireq=2", 1), GST_SECOND / 25);
}

}  // namespace

int main(int argc, char** argv) {
    gst_init(&argc, &argv);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
