// xmflow in a GstHarness: properties and their errors at state change, counts of synthetic tracked
// ROIs crossing a line (only matched tracked objects, class filter), intervals closing on running
// time for non-live timestamps, a live-style jump and a live source on a GstTestClock, the EOS
// partial report, the cold-start baseline named in the meta and the messages.
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "element_test_support.hpp"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "../../plugins/xm_objects.hpp"

namespace {

namespace xg = xmodal::gst;

constexpr int width = 64, height = 48;
constexpr GstClockTime frame_ns = 100 * GST_MSECOND;

struct Object {
    int track_id;
    double y;  // bottom of the box, normalised; x centre is 0.5
    const char* label = "car";
    const char* state = "confirmed";
};

// Bus attached so the test reads the element's messages; caps GRAY8 (any raw format passes).
struct Harness {
    GstHarness* h;
    GstBus* bus;

    explicit Harness(const char* properties, const char* downstream = "", const char* format = "GRAY8") {
        h = gst_harness_new_parse((std::string("xmflow ") + properties + downstream).c_str());
        bus = gst_bus_new();
        gst_element_set_bus(h->element, bus);
        info_format = gst_video_format_from_string(format);
        gst_harness_set_src_caps_str(
            h, (std::string("video/x-raw,format=") + format + ",width=64,height=48,framerate=10/1").c_str());
    }
    GstVideoFormat info_format;
    ~Harness() {
        gst_harness_teardown(h);
        gst_object_unref(bus);
    }

    // Pushes a frame at `pts` with the objects and returns a copy of its flow structure; `pixels`
    // (optional) receives the output frame's bytes.
    GstStructure* push(GstClockTime pts, const std::vector<Object>& objects, std::vector<guint8>* pixels = nullptr) {
        GstVideoInfo info;
        gst_video_info_set_format(&info, info_format, width, height);
        GstBuffer* buffer = xmodal::testing::make_video_buffer(info, nullptr, pts, frame_ns);
        for (const Object& o : objects) {
            GstVideoRegionOfInterestMeta* roi = xg::add_object(buffer, width, height, o.label, o.label[0] == 'b' ? 5 : 2,
                                                               0.9, 0.4 * width, (o.y - 0.2) * height, 0.6 * width,
                                                               o.y * height);
            if (o.track_id > 0) xg::set_tracking(roi, o.track_id, o.state);
        }
        EXPECT_EQ(gst_harness_push(h, buffer), GST_FLOW_OK);
        GstBuffer* out = gst_harness_pull(h);
        EXPECT_NE(out, nullptr);
        if (out != nullptr && pixels != nullptr) {
            pixels->resize(gst_buffer_get_size(out));
            gst_buffer_extract(out, 0, pixels->data(), pixels->size());
        }
        const GstStructure* s = out != nullptr ? xg::flow_structure(out) : nullptr;
        GstStructure* copy = s != nullptr ? gst_structure_copy(s) : nullptr;
        if (out != nullptr) gst_buffer_unref(out);
        EXPECT_NE(copy, nullptr);
        return copy;
    }

    // The element messages of that name posted so far (copies).
    std::vector<GstStructure*> messages(const char* name = "xmodal-flow") {
        std::vector<GstStructure*> out;
        while (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ELEMENT)) {
            const GstStructure* s = gst_message_get_structure(m);
            if (gst_structure_has_name(s, name)) out.push_back(gst_structure_copy(s));
            gst_message_unref(m);
        }
        return out;
    }
};

const GstStructure* nth_structure(const GstStructure* s, const char* field, guint i) {
    const GValue* array = gst_structure_get_value(s, field);
    if (array == nullptr || i >= gst_value_array_get_size(array)) return nullptr;
    return gst_value_get_structure(gst_value_array_get_value(array, i));
}

const GstStructure* sub(const GstStructure* s, const char* field) {
    const GValue* v = gst_structure_get_value(s, field);
    return v != nullptr && G_VALUE_HOLDS(v, GST_TYPE_STRUCTURE) ? gst_value_get_structure(v) : nullptr;
}

gint64 count_of(const GstStructure* report, const char* field, guint series) {
    const GstStructure* s = nth_structure(report, field, series);
    gint64 n = -1;
    if (s != nullptr) gst_structure_get_int64(s, "count", &n);
    return n;
}

guint64 uint64_of(const GstStructure* s, const char* field) {
    guint64 v = 0;
    gst_structure_get_uint64(s, field, &v);
    return v;
}

std::string string_of(const GstStructure* s, const char* field) {
    const gchar* v = gst_structure_get_string(s, field);
    return v != nullptr ? v : "";
}

bool partial_of(const GstStructure* s) {
    gboolean v = FALSE;
    EXPECT_TRUE(gst_structure_get_boolean(s, "partial", &v));
    return v != FALSE;
}

void free_all(std::vector<GstStructure*>& v) {
    for (GstStructure* s : v) gst_structure_free(s);
    v.clear();
}

std::string start_error_with(const char* properties) {
    GstElement* element = gst_parse_launch((std::string("xmflow ") + properties).c_str(), nullptr);
    EXPECT_NE(element, nullptr);
    if (element == nullptr) return "";
    const std::string error = xmodal::testing::start_error(element);
    gst_object_unref(element);
    return error;
}

TEST(XmFlow, property_defaults_and_round_trip) {
    GstElement* e = gst_element_factory_make("xmflow", nullptr);
    ASSERT_NE(e, nullptr);
    gdouble interval = 0, hysteresis = 0;
    gint horizon = 0;
    gchar* lines = nullptr;
    g_object_get(e, "interval", &interval, "horizon", &horizon, "hysteresis", &hysteresis, "lines", &lines, nullptr);
    EXPECT_DOUBLE_EQ(interval, 60.0);
    EXPECT_EQ(horizon, 12);
    EXPECT_NEAR(hysteresis, 0.01, 1e-7);
    EXPECT_EQ(lines, nullptr);
    g_object_set(e, "lines", "a:0,0.5,1,0.5", "interval", 2.5, "horizon", 3, "classes", "car,bus", nullptr);
    gchar* classes = nullptr;
    g_object_get(e, "interval", &interval, "horizon", &horizon, "lines", &lines, "classes", &classes, nullptr);
    EXPECT_DOUBLE_EQ(interval, 2.5);
    EXPECT_EQ(horizon, 3);
    EXPECT_STREQ(lines, "a:0,0.5,1,0.5");
    EXPECT_STREQ(classes, "car,bus");
    g_free(lines);
    g_free(classes);
    EXPECT_EQ(xmodal::testing::start_error(e), "");
    gst_object_unref(e);
}

TEST(XmFlow, bad_properties_give_named_errors_at_start) {
    const std::string bad_line = start_error_with("lines=\"mid:0.1,0.5,0.9\"");
    EXPECT_NE(bad_line.find("lines"), std::string::npos) << bad_line;
    EXPECT_NE(bad_line.find("'mid'"), std::string::npos) << bad_line;
    const std::string second = start_error_with("lines=\"a:0,0.5,1,0.5;b:0,0.2,2,0.2\"");
    EXPECT_NE(second.find("'b'"), std::string::npos) << second;
    EXPECT_NE(start_error_with("").find("no counting lines"), std::string::npos);
    EXPECT_NE(start_error_with("lines=\"a:0,0.5,1,0.5\" lines-file=/x.txt").find("both set"), std::string::npos);
    const std::string missing = start_error_with("lines-file=/nonexistent/lines.txt");
    EXPECT_NE(missing.find("/nonexistent/lines.txt"), std::string::npos) << missing;
    EXPECT_NE(start_error_with("lines=\"a:0,0.5,1,0.5\" interval=0.5").find("interval: 0.5 s"), std::string::npos);
    EXPECT_NE(start_error_with("lines=\"a:0,0.5,1,0.5\" horizon=13").find("horizon: 13"), std::string::npos);
    EXPECT_NE(start_error_with("lines=\"a:0,0.5,1,0.5\" hysteresis=0.7").find("hysteresis"), std::string::npos);
    const std::string model = start_error_with("lines=\"a:0,0.5,1,0.5\" model=/nonexistent/flow.onnx");
    EXPECT_NE(model.find("model: "), std::string::npos) << model;
    EXPECT_NE(model.find("/nonexistent/flow.onnx"), std::string::npos) << model;
}

TEST(XmFlow, lines_file_is_read) {
    const std::string path = ::testing::TempDir() + "xmflow_lines.txt";
    std::ofstream(path) << "# street\nnorth:0.1,0.5,0.9,0.5\n";
    Harness t(("lines-file=" + path + " interval=1").c_str());
    GstStructure* s = t.push(0, {});
    EXPECT_EQ(string_of(s, "lines"), "north:0.1,0.5,0.9,0.5");
    gst_structure_free(s);
    std::remove(path.c_str());
}

// Frames every 100 ms; car 1 crosses up at 0.3 s, car 2 crosses down at 1.2 s; a predicted box
// and an untracked box crossing count nothing.
TEST(XmFlow, intervals_close_on_time_with_counts_and_cold_start_baseline) {
    Harness t("lines=\"mid:0.1,0.5,0.9,0.5\" interval=1 horizon=2");
    const std::vector<double> up = {0.8, 0.8, 0.7, 0.3, 0.2};
    std::vector<GstStructure*> metas;
    for (int f = 0; f < 15; ++f) {
        std::vector<Object> objects;
        if (f < 5) objects.push_back({1, up[f]});
        if (f >= 10) objects.push_back({2, f < 12 ? 0.2 : 0.8});
        objects.push_back({3, f % 2 ? 0.2 : 0.8, "car", "predicted"});
        objects.push_back({0, f % 2 ? 0.2 : 0.8});
        metas.push_back(t.push(f * frame_ns, objects));
    }
    // Running counts: car 1 counted from the frame it is seen above the line.
    EXPECT_EQ(count_of(sub(metas[2], "running"), "counts", 0), 0);
    EXPECT_EQ(count_of(sub(metas[3], "running"), "counts", 0), 1);
    EXPECT_EQ(count_of(sub(metas[9], "running"), "counts", 0), 1);
    EXPECT_EQ(gst_structure_get_value(metas[9], "reports"), nullptr);
    EXPECT_EQ(gst_structure_get_value(metas[9], "latest"), nullptr);
    // The frame at 1.0 s closes [0, 1 s) and opens the next interval.
    const GstStructure* report = nth_structure(metas[10], "reports", 0);
    ASSERT_NE(report, nullptr);
    EXPECT_EQ(uint64_of(report, "start"), 0u);
    EXPECT_EQ(uint64_of(report, "end"), GST_SECOND);
    EXPECT_FALSE(partial_of(report));
    EXPECT_EQ(count_of(report, "series", 0), 1);
    EXPECT_EQ(count_of(report, "series", 1), 0);
    EXPECT_EQ(string_of(report, "forecaster"), "baseline:history-mean");
    EXPECT_EQ(count_of(sub(metas[10], "running"), "counts", 0), 0);
    EXPECT_NE(sub(metas[11], "latest"), nullptr);
    EXPECT_EQ(count_of(sub(metas[12], "running"), "counts", 1), 1);
    const GstStructure* series = nth_structure(report, "series", 0);
    const GValue* forecast = gst_structure_get_value(series, "forecast");
    ASSERT_NE(forecast, nullptr);
    ASSERT_EQ(gst_value_array_get_size(forecast), 2u);
    EXPECT_DOUBLE_EQ(g_value_get_double(gst_value_array_get_value(forecast, 0)), 1.0);
    free_all(metas);

    std::vector<GstStructure*> messages = t.messages();
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(count_of(messages[0], "series", 0), 1);
    EXPECT_EQ(string_of(messages[0], "forecaster"), "baseline:history-mean");

    // EOS: the open interval [1 s, 1.5 s) with car 2's crossing, reported as partial.
    EXPECT_TRUE(gst_harness_push_event(t.h, gst_event_new_eos()));
    free_all(messages);
    messages = t.messages();
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_TRUE(partial_of(messages[0]));
    EXPECT_EQ(uint64_of(messages[0], "start"), GST_SECOND);
    EXPECT_EQ(uint64_of(messages[0], "end"), 1500 * GST_MSECOND);
    EXPECT_EQ(count_of(messages[0], "series", 1), 1);
    free_all(messages);
}

// A live source: timestamps on the pipeline clock (segment from 100 s), a 2.5 s stall. Intervals
// are in running time and the stall closes the skipped intervals as empty.
TEST(XmFlow, live_style_gap_closes_skipped_intervals) {
    Harness t("lines=\"mid:0.1,0.5,0.9,0.5\" interval=1");
    GstSegment segment;
    gst_segment_init(&segment, GST_FORMAT_TIME);
    segment.start = 100 * GST_SECOND;
    segment.time = 0;
    ASSERT_TRUE(gst_harness_push_event(t.h, gst_event_new_segment(&segment)));
    const GstClockTime base = 100 * GST_SECOND;
    gst_structure_free(t.push(base + 200 * GST_MSECOND, {{1, 0.8}}));
    gst_structure_free(t.push(base + 300 * GST_MSECOND, {{1, 0.2}}));
    GstStructure* after = t.push(base + 3500 * GST_MSECOND, {});
    const GValue* reports = gst_structure_get_value(after, "reports");
    ASSERT_NE(reports, nullptr);
    ASSERT_EQ(gst_value_array_get_size(reports), 3u);
    const GstStructure* first = nth_structure(after, "reports", 0);
    EXPECT_EQ(uint64_of(first, "start"), 200 * GST_MSECOND);  // the first frame's running time
    EXPECT_EQ(count_of(first, "series", 0), 1);
    const GstStructure* empty = nth_structure(after, "reports", 2);
    gint64 frames = -1;
    gst_structure_get_int64(empty, "frames", &frames);
    EXPECT_EQ(frames, 0);
    EXPECT_EQ(uint64_of(empty, "end"), 3200 * GST_MSECOND);
    EXPECT_EQ(uint64_of(sub(after, "running"), "start"), 3200 * GST_MSECOND);
    gst_structure_free(after);
    std::vector<GstStructure*> messages = t.messages();
    EXPECT_EQ(messages.size(), 3u);
    free_all(messages);
}

// A live source stamping frames with the running time of a live clock: appsrc is-live with
// do-timestamp on a GstTestClock, the clock already at 100 s when it starts (a source joining a
// running pipeline). Frames are pushed at chosen clock times, so the intervals must follow the
// clock: the first starts at the first frame (100.2 s), a frame at 101.2 s closes it, a camera
// stall until 103.9 s closes the two intervals nothing arrived in as empty, and EOS reports the
// open interval as partial, ending with the last frame.
TEST(XmFlow, live_source_intervals_follow_the_running_time_of_its_clock) {
    GstHarness* h = gst_harness_new_parse("xmflow lines=\"mid:0.1,0.5,0.9,0.5\" interval=1 horizon=1");
    GstBus* bus = gst_bus_new();
    gst_element_set_bus(h->element, bus);
    gst_harness_set_live(h, TRUE);
    gst_harness_add_src_parse(
        h,
        "appsrc name=camera is-live=true do-timestamp=true format=time "
        "caps=video/x-raw,format=GRAY8,width=64,height=48,framerate=10/1",
        FALSE);
    GstHarness* src = h->src_harness;
    GstElement* camera = gst_bin_get_by_name(GST_BIN(src->element), "camera");  // parse wraps it in a bin
    ASSERT_NE(camera, nullptr);
    GstTestClock* clock = gst_harness_get_testclock(src);
    ASSERT_NE(clock, nullptr);
    gst_test_clock_set_time(clock, 100 * GST_SECOND);
    gst_harness_play(src);

    // Pushes a frame from the live source at clock time `t_ms` (ms) with the objects; returns the
    // frame's flow structure and its timestamp.
    auto frame_at = [&](int t_ms, const std::vector<Object>& objects, GstClockTime* pts = nullptr) {
        gst_test_clock_set_time(clock, 100 * GST_SECOND + static_cast<GstClockTime>(t_ms) * GST_MSECOND);
        GstFlowReturn ret = GST_FLOW_ERROR;
        GstBuffer* frame = gst_buffer_new_allocate(nullptr, width * height, nullptr);
        g_signal_emit_by_name(camera, "push-buffer", frame, &ret);  // the signal takes its own reference
        gst_buffer_unref(frame);
        EXPECT_EQ(ret, GST_FLOW_OK);
        GstBuffer* buffer = gst_buffer_make_writable(gst_harness_pull(src));
        if (pts != nullptr) *pts = GST_BUFFER_PTS(buffer);
        for (const Object& o : objects) {
            GstVideoRegionOfInterestMeta* roi =
                xg::add_object(buffer, width, height, o.label, 2, 0.9, 0.4 * width, (o.y - 0.2) * height, 0.6 * width, o.y * height);
            xg::set_tracking(roi, o.track_id, o.state);
        }
        EXPECT_EQ(gst_harness_push(h, buffer), GST_FLOW_OK);
        GstBuffer* out = gst_harness_pull(h);
        const GstStructure* s = out != nullptr ? xg::flow_structure(out) : nullptr;
        GstStructure* copy = s != nullptr ? gst_structure_copy(s) : nullptr;
        if (out != nullptr) gst_buffer_unref(out);
        return copy;
    };

    GstClockTime first_pts = 0;
    gst_structure_free(frame_at(200, {{1, 0.8}}, &first_pts));
    EXPECT_EQ(first_pts, 100 * GST_SECOND + 200 * GST_MSECOND);  // stamped from the live clock
    gst_structure_free(frame_at(300, {{1, 0.2}}));  // car 1 crosses up
    GstStructure* before = frame_at(1100, {});
    EXPECT_EQ(gst_structure_get_value(before, "reports"), nullptr);  // 1.1 s: the interval is still open
    gst_structure_free(before);
    GstStructure* closing = frame_at(1200, {});
    const GstStructure* first = nth_structure(closing, "reports", 0);
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(uint64_of(first, "start"), 100 * GST_SECOND + 200 * GST_MSECOND);
    EXPECT_EQ(uint64_of(first, "end"), 101 * GST_SECOND + 200 * GST_MSECOND);
    EXPECT_EQ(count_of(first, "series", 0), 1);
    EXPECT_FALSE(partial_of(first));
    gst_structure_free(closing);

    // The camera stalls: the next frame comes at 103.9 s and closes [101.2, 102.2) and
    // [102.2, 103.2), nothing in them, before opening [103.2, 104.2).
    GstStructure* after_stall = frame_at(3900, {{2, 0.2}});
    const GValue* reports = gst_structure_get_value(after_stall, "reports");
    ASSERT_NE(reports, nullptr);
    ASSERT_EQ(gst_value_array_get_size(reports), 2u);
    for (guint i = 0; i < 2; ++i) {
        const GstStructure* empty = nth_structure(after_stall, "reports", i);
        gint64 frames = -1;
        gst_structure_get_int64(empty, "frames", &frames);
        EXPECT_EQ(frames, i == 0 ? 1 : 0) << i;  // the 1.2 s frame opened the first of them
        EXPECT_EQ(uint64_of(empty, "start"), (101 + i) * GST_SECOND + 200 * GST_MSECOND) << i;
        EXPECT_EQ(count_of(empty, "series", 0) + count_of(empty, "series", 1), 0) << i;
    }
    EXPECT_EQ(uint64_of(sub(after_stall, "running"), "start"), 103 * GST_SECOND + 200 * GST_MSECOND);
    gst_structure_free(after_stall);
    gst_structure_free(frame_at(4000, {{2, 0.8}}));  // car 2 crosses down

    std::vector<GstStructure*> messages;
    while (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ELEMENT)) {
        messages.push_back(gst_structure_copy(gst_message_get_structure(m)));
        gst_message_unref(m);
    }
    EXPECT_EQ(messages.size(), 3u);  // one per closed interval
    free_all(messages);
    // EOS: the open interval is reported as partial, ending with the last frame: its time plus a
    // frame period of the caps (do-timestamp gives live buffers no duration).
    EXPECT_TRUE(gst_harness_push_event(h, gst_event_new_eos()));
    GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ELEMENT);
    ASSERT_NE(m, nullptr);
    const GstStructure* partial = gst_message_get_structure(m);
    EXPECT_TRUE(partial_of(partial));
    EXPECT_EQ(uint64_of(partial, "start"), 103 * GST_SECOND + 200 * GST_MSECOND);
    EXPECT_EQ(uint64_of(partial, "end"), 104 * GST_SECOND + 100 * GST_MSECOND);
    EXPECT_EQ(count_of(partial, "series", 1), 1);
    gst_message_unref(m);

    gst_object_unref(camera);
    gst_object_unref(clock);
    gst_harness_teardown(h);
    gst_object_unref(bus);
}

TEST(XmFlow, class_filter_counts_only_the_listed_labels) {
    Harness t("lines=\"mid:0.1,0.5,0.9,0.5\" interval=1 classes=bus");
    gst_structure_free(t.push(0, {{1, 0.8}, {2, 0.8, "bus"}}));
    GstStructure* s = t.push(frame_ns, {{1, 0.2}, {2, 0.2, "bus"}});
    const GstStructure* running = sub(s, "running");
    EXPECT_EQ(count_of(running, "counts", 0), 1);
    const GstStructure* bus = nth_structure(nth_structure(running, "counts", 0), "classes", 0);
    ASSERT_NE(bus, nullptr);
    EXPECT_EQ(string_of(bus, "label"), "bus");
    gst_structure_free(s);
}

TEST(XmFlow, frames_without_timestamps_are_an_error) {
    Harness t("lines=\"mid:0.1,0.5,0.9,0.5\"");
    GstVideoInfo info;
    gst_video_info_set_format(&info, GST_VIDEO_FORMAT_GRAY8, width, height);
    EXPECT_EQ(gst_harness_push(t.h, xmodal::testing::make_video_buffer(info, nullptr, GST_CLOCK_TIME_NONE, frame_ns)),
              GST_FLOW_ERROR);
    GstMessage* m = gst_bus_pop_filtered(t.bus, GST_MESSAGE_ERROR);
    ASSERT_NE(m, nullptr);
    GError* error = nullptr;
    gst_message_parse_error(m, &error, nullptr);
    EXPECT_NE(std::string(error->message).find("no timestamp"), std::string::npos);
    g_error_free(error);
    gst_message_unref(m);
}

// xmmetaconvert writes the flow meta into each frame's JSON under "xmodal-flow".
TEST(XmFlow, meta_reaches_the_json_of_xmmetaconvert) {
    Harness t("lines=\"mid:0.1,0.5,0.9,0.5\" interval=1 horizon=2", " ! xmmetaconvert post-messages=true");
    for (int f = 0; f <= 10; ++f) gst_structure_free(t.push(f * frame_ns, {{1, f < 3 ? 0.8 : 0.2}}));
    std::vector<GstStructure*> frames = t.messages("xmodal-frame");
    ASSERT_EQ(frames.size(), 11u);
    const nlohmann::json first = nlohmann::json::parse(gst_structure_get_string(frames[5], "json"));
    const nlohmann::json& flow = first.at("xmodal-flow");
    EXPECT_EQ(flow.at("lines"), "mid:0.1,0.5,0.9,0.5");
    EXPECT_EQ(flow.at("running").at("counts").at(0).at("count"), 1);
    EXPECT_EQ(flow.at("running").at("counts").at(0).at("direction"), "positive");
    EXPECT_FALSE(flow.contains("reports"));
    const nlohmann::json closing = nlohmann::json::parse(gst_structure_get_string(frames[10], "json")).at("xmodal-flow");
    const nlohmann::json& report = closing.at("reports").at(0);
    EXPECT_EQ(report.at("partial"), false);
    EXPECT_EQ(report.at("forecaster"), "baseline:history-mean");
    EXPECT_EQ(report.at("series").at(0).at("count"), 1);
    EXPECT_EQ(report.at("series").at(0).at("forecast"), nlohmann::json::array({1.0, 1.0}));
    EXPECT_EQ(report.at("series").at(0).at("upper").size(), 2u);
    EXPECT_EQ(closing.at("latest"), report);
    free_all(frames);
}

// xmoverlay draws the line and the text block from the flow meta; without xmflow it draws nothing.
TEST(XmFlow, overlay_draws_lines_and_forecast) {
    std::vector<guint8> with_flow, without_flow;
    {
        Harness t("lines=\"mid:0.1,0.5,0.9,0.5\" interval=1", " ! xmoverlay", "RGB");
        gst_structure_free(t.push(0, {}, &with_flow));
    }
    {
        GstHarness* h = gst_harness_new_parse("identity ! xmoverlay");
        gst_harness_set_src_caps_str(h, "video/x-raw,format=RGB,width=64,height=48,framerate=10/1");
        GstVideoInfo info;
        gst_video_info_set_format(&info, GST_VIDEO_FORMAT_RGB, width, height);
        ASSERT_EQ(gst_harness_push(h, xmodal::testing::make_video_buffer(info, nullptr, 0, frame_ns)), GST_FLOW_OK);
        GstBuffer* out = gst_harness_pull(h);
        ASSERT_NE(out, nullptr);
        without_flow.resize(gst_buffer_get_size(out));
        gst_buffer_extract(out, 0, without_flow.data(), without_flow.size());
        gst_buffer_unref(out);
        gst_harness_teardown(h);
    }
    const int stride = (width * 3 + 3) / 4 * 4;
    auto changed_in = [&](const std::vector<guint8>& px, int x0, int x1, int y0, int y1) {
        int n = 0;
        for (int y = y0; y < y1; ++y)
            for (int x = x0; x < x1; ++x) n += px[static_cast<std::size_t>(y * stride + x * 3)] != 100;
        return n;
    };
    // Along the line left of its caption (x 0.1..0.2 of the width, rows around y = 0.5).
    EXPECT_GT(changed_in(with_flow, 7, 12, 22, 26), 0);
    EXPECT_EQ(changed_in(without_flow, 7, 12, 22, 26), 0);
    // The text block at the top right.
    EXPECT_GT(changed_in(with_flow, 40, 64, 0, 6), 0);
    EXPECT_EQ(changed_in(without_flow, 0, 64, 0, 48), 0);
}

}  // namespace

int main(int argc, char** argv) {
    gst_init(&argc, &argv);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
