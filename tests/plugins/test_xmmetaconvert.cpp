// xmmetaconvert in a GstHarness: caps negotiation (video pass-through, application/x-json,
// text/x-raw), the document of a buffer carrying objects, tracking and user fields, one document per
// frame, the JSON Lines file, bus messages, and configuration errors at state change.
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "xm_objects.hpp"
#include "xmodal/shared_paths.hpp"

namespace {

using json = nlohmann::json;
namespace xg = xmodal::gst;

constexpr int width = 640, height = 360;
constexpr const char* video_caps = "video/x-raw, format=RGB, width=640, height=360, framerate=30/1";

GstHarness* harness(const char* properties = "") {
    std::string launch = "xmmetaconvert name=convert ";
    launch += properties;
    GstElement* element = gst_parse_launch(launch.c_str(), nullptr);
    EXPECT_NE(element, nullptr) << launch;
    gst_object_ref_sink(element);
    GstHarness* h = gst_harness_new_with_element(element, "sink", "src");
    gst_object_unref(element);
    return h;
}

GstBuffer* frame(GstHarness* h, GstClockTime pts) {
    GstBuffer* buffer = gst_harness_create_buffer(h, static_cast<gsize>(width) * height * 3);
    GST_BUFFER_PTS(buffer) = pts;
    GST_BUFFER_DURATION(buffer) = GST_SECOND / 30;
    return buffer;
}

// A car tracked as id 7 with a user structure of every field kind, a bus found by the detector
// only, and the detector's inference marker plus a user custom meta on the frame.
GstBuffer* frame_with_objects(GstHarness* h, GstClockTime pts) {
    GstBuffer* buffer = frame(h, pts);
    GstVideoRegionOfInterestMeta* car = xg::add_object(buffer, width, height, "car", 2, 0.875, 64, 36, 192, 108);
    xg::set_tracking(car, 7, "confirmed");
    GstStructure* color = gst_structure_new("color", "label", G_TYPE_STRING, "red",  //
                                            "confidence", G_TYPE_DOUBLE, 0.5,        //
                                            "votes", G_TYPE_UINT, 3u,                //
                                            "big", G_TYPE_INT64, G_GINT64_CONSTANT(1234567890123),
                                            "checked", G_TYPE_BOOLEAN, TRUE,  //
                                            "fps", GST_TYPE_FRACTION, 30, 1,  //
                                            nullptr);
    GValue array = G_VALUE_INIT, item = G_VALUE_INIT;
    g_value_init(&array, GST_TYPE_ARRAY);
    g_value_init(&item, G_TYPE_INT);
    for (int v : {1, 2, 3}) {
        g_value_set_int(&item, v);
        gst_value_array_append_value(&array, &item);
    }
    gst_structure_take_value(color, "hues", &array);
    g_value_unset(&item);
    GstStructure* inner = gst_structure_new("shade", "name", G_TYPE_STRING, "dark \"cherry\"", "level", G_TYPE_INT, 2, nullptr);
    gst_structure_set(color, "shade", GST_TYPE_STRUCTURE, inner, nullptr);
    gst_structure_free(inner);
    gst_video_region_of_interest_meta_add_param(car, color);

    xg::add_object(buffer, width, height, "bus", 5, 0.5, 320, 180, 640, 360);

    xg::mark_inference(buffer, true, "yolox_nano");
    static const bool registered = [] {
        static const gchar* tags[] = {nullptr};
        gst_meta_register_custom("XmTestWeatherMeta", tags, nullptr, nullptr, nullptr);
        return true;
    }();
    (void)registered;
    GstStructure* weather = gst_custom_meta_get_structure(gst_buffer_add_custom_meta(buffer, "XmTestWeatherMeta"));
    gst_structure_set_name(weather, "weather");
    gst_structure_set(weather, "rain", G_TYPE_BOOLEAN, FALSE, "lux", G_TYPE_DOUBLE, 1200.0, nullptr);
    return buffer;
}

std::string text_of(GstBuffer* buffer) {
    GstMapInfo map;
    EXPECT_TRUE(gst_buffer_map(buffer, &map, GST_MAP_READ));
    std::string text(reinterpret_cast<const char*>(map.data), map.size);
    gst_buffer_unmap(buffer, &map);
    return text;
}

std::string src_caps_name(GstHarness* h) {
    GstCaps* caps = gst_pad_get_current_caps(h->sinkpad);
    if (caps == nullptr) return "(none)";
    std::string name = gst_structure_get_name(gst_caps_get_structure(caps, 0));
    gst_caps_unref(caps);
    return name;
}

// Pushes the frame with objects and returns the one JSON buffer's document.
json pushed_document(GstHarness* h) {
    EXPECT_EQ(gst_harness_push(h, frame_with_objects(h, GST_SECOND)), GST_FLOW_OK);
    GstBuffer* out = gst_harness_pull(h);
    EXPECT_NE(out, nullptr);
    if (out == nullptr) return nullptr;
    EXPECT_EQ(GST_BUFFER_PTS(out), GST_SECOND);
    EXPECT_EQ(GST_BUFFER_DURATION(out), GST_SECOND / 30);
    const std::string text = text_of(out);
    gst_buffer_unref(out);
    EXPECT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\n');
    EXPECT_EQ(text.find('\n'), text.size() - 1) << "one line per buffer: " << text;
    return json::parse(text);
}

std::string temp_path(const std::string& name) {
    return (std::filesystem::path(::testing::TempDir()) / ("xmmetaconvert-" + std::to_string(getpid()) + "-" + name))
        .string();
}

std::vector<json> read_lines(const std::string& path) {
    std::vector<json> lines;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
    return lines;
}

// The first error message on `bus` ("" if none).
std::string error_on(GstBus* bus) {
    GstMessage* message = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    if (message == nullptr) return "";
    GError* error = nullptr;
    gst_message_parse_error(message, &error, nullptr);
    std::string text = error->message;
    g_error_free(error);
    gst_message_unref(message);
    return text;
}

TEST(XmMetaConvert, PassesVideoThroughByDefault) {
    GstHarness* h = harness();
    gst_harness_set_src_caps_str(h, video_caps);
    GstBuffer* in = frame_with_objects(h, 0);
    const GstBuffer* in_address = in;
    ASSERT_EQ(gst_harness_push(h, in), GST_FLOW_OK);
    GstBuffer* out = gst_harness_pull(h);
    EXPECT_EQ(out, in_address) << "the frame itself goes on, untouched";
    EXPECT_EQ(xg::read_objects(out, width, height).size(), 2u);
    EXPECT_EQ(src_caps_name(h), "video/x-raw");
    gst_buffer_unref(out);
    gst_harness_teardown(h);
}

TEST(XmMetaConvert, PushesJsonWhenDownstreamTakesApplicationJson) {
    GstHarness* h = harness();
    gst_harness_set_sink_caps_str(h, "application/x-json");
    gst_harness_set_src_caps_str(h, video_caps);
    const json j = pushed_document(h);
    EXPECT_EQ(src_caps_name(h), "application/x-json");

    EXPECT_EQ(j["schema"], "xmodal-frame-1");
    EXPECT_EQ(j["source"], "convert");  // no upstream URI in a harness: the element's name
    EXPECT_EQ(j["frame_number"], 0);
    EXPECT_EQ(j["timestamp"], GST_SECOND);
    EXPECT_EQ(j["resolution"], json({{"width", width}, {"height", height}}));
    ASSERT_EQ(j["objects"].size(), 2u);

    const json& car = j["objects"][0];
    EXPECT_EQ(car["region_id"], 0);
    EXPECT_EQ(car["id"], 7);
    EXPECT_EQ(car["tracking"], json({{"state", "confirmed"}}));
    EXPECT_EQ(car["roi_type"], "car");
    EXPECT_EQ(car["x"], 64);
    EXPECT_EQ(car["y"], 36);
    EXPECT_EQ(car["w"], 128);
    EXPECT_EQ(car["h"], 72);
    EXPECT_EQ(car["detection"]["label"], "car");
    EXPECT_EQ(car["detection"]["label_id"], 2);
    EXPECT_DOUBLE_EQ(car["detection"]["confidence"].get<double>(), 0.875);
    EXPECT_DOUBLE_EQ(car["detection"]["bounding_box"]["x_min"].get<double>(), 0.1);
    EXPECT_DOUBLE_EQ(car["detection"]["bounding_box"]["y_min"].get<double>(), 0.1);
    EXPECT_DOUBLE_EQ(car["detection"]["bounding_box"]["x_max"].get<double>(), 0.3);
    EXPECT_DOUBLE_EQ(car["detection"]["bounding_box"]["y_max"].get<double>(), 0.3);
    // The user's structure, every field kind: int/uint/int64/double/boolean/string, an array, a
    // nested structure, and a fraction as GStreamer writes it.
    EXPECT_EQ(car["color"], json({{"label", "red"},
                                  {"confidence", 0.5},
                                  {"votes", 3},
                                  {"big", 1234567890123},
                                  {"checked", true},
                                  {"fps", "30/1"},
                                  {"hues", {1, 2, 3}},
                                  {"shade", {{"name", "dark \"cherry\""}, {"level", 2}}}}))
        << car.dump();
    EXPECT_EQ(car.size(), 10u) << "no other keys (the detection/tracking structures are not repeated)";

    const json& bus = j["objects"][1];
    EXPECT_EQ(bus["region_id"], 1);
    EXPECT_FALSE(bus.contains("id"));
    EXPECT_FALSE(bus.contains("tracking"));
    EXPECT_EQ(bus["detection"]["label"], "bus");
    EXPECT_EQ(bus["w"], 320);

    // Frame-level custom metas under their structure names.
    EXPECT_EQ(j["xmodal-inference"], json({{"inferred", true}, {"model", "yolox_nano"}}));
    EXPECT_EQ(j["weather"], json({{"rain", false}, {"lux", 1200.0}}));
    gst_harness_teardown(h);
}

TEST(XmMetaConvert, PushesJsonAsUtf8Text) {
    GstHarness* h = harness("source=cam-7");
    gst_harness_set_sink_caps_str(h, "text/x-raw, format=utf8");
    gst_harness_set_src_caps_str(h, video_caps);
    const json j = pushed_document(h);
    EXPECT_EQ(src_caps_name(h), "text/x-raw");
    EXPECT_EQ(j["source"], "cam-7");
    EXPECT_EQ(j["objects"].size(), 2u);
    gst_harness_teardown(h);
}

TEST(XmMetaConvert, RefusesDownstreamThatTakesNeitherVideoNorJson) {
    GstHarness* h = harness();
    gst_harness_set_sink_caps_str(h, "audio/x-raw");
    gst_harness_set_src_caps_str(h, video_caps);
    EXPECT_EQ(gst_harness_push(h, frame(h, 0)), GST_FLOW_NOT_NEGOTIATED);
    gst_harness_teardown(h);
}

TEST(XmMetaConvert, OneDocumentPerFrameIncludingEmptyOnes) {
    GstHarness* h = harness();
    gst_harness_set_sink_caps_str(h, "application/x-json");
    gst_harness_set_src_caps_str(h, video_caps);
    ASSERT_EQ(gst_harness_push(h, frame(h, 0)), GST_FLOW_OK);
    ASSERT_EQ(gst_harness_push(h, frame_with_objects(h, GST_SECOND / 30)), GST_FLOW_OK);
    ASSERT_EQ(gst_harness_push(h, frame(h, 2 * GST_SECOND / 30)), GST_FLOW_OK);
    ASSERT_EQ(gst_harness_buffers_in_queue(h), 3u);
    for (std::uint64_t i = 0; i < 3; ++i) {
        GstBuffer* out = gst_harness_pull(h);
        const json j = json::parse(text_of(out));
        EXPECT_EQ(j["frame_number"], i);
        EXPECT_EQ(j["timestamp"], i * GST_SECOND / 30);
        EXPECT_EQ(j["objects"].size(), i == 1 ? 2u : 0u);
        gst_buffer_unref(out);
    }
    gst_harness_teardown(h);
}

TEST(XmMetaConvert, IncludeEmptyOffSkipsFramesWithoutObjects) {
    GstHarness* h = harness("include-empty=false");
    gst_harness_set_sink_caps_str(h, "application/x-json");
    gst_harness_set_src_caps_str(h, video_caps);
    ASSERT_EQ(gst_harness_push(h, frame(h, 0)), GST_FLOW_OK);
    ASSERT_EQ(gst_harness_push(h, frame_with_objects(h, GST_SECOND / 30)), GST_FLOW_OK);
    ASSERT_EQ(gst_harness_push(h, frame(h, 2 * GST_SECOND / 30)), GST_FLOW_OK);
    ASSERT_EQ(gst_harness_buffers_in_queue(h), 1u);
    GstBuffer* out = gst_harness_pull(h);
    EXPECT_EQ(json::parse(text_of(out))["frame_number"], 1) << "frame numbers count every frame";
    gst_buffer_unref(out);
    gst_harness_teardown(h);
}

TEST(XmMetaConvert, IndentPrettyPrintsPushedJsonOnly) {
    const std::string path = temp_path("indent.jsonl");
    GstHarness* h = harness(("json-indent=2 location=" + path).c_str());
    gst_harness_set_sink_caps_str(h, "application/x-json");
    gst_harness_set_src_caps_str(h, video_caps);
    ASSERT_EQ(gst_harness_push(h, frame_with_objects(h, 0)), GST_FLOW_OK);
    GstBuffer* out = gst_harness_pull(h);
    const std::string pushed = text_of(out);
    gst_buffer_unref(out);
    EXPECT_NE(pushed.find("\n  \"frame_number\": 0"), std::string::npos) << pushed;
    gst_harness_push_event(h, gst_event_new_eos());
    const std::vector<json> lines = read_lines(path);  // parses each line alone: the file stays compact
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0], json::parse(pushed));
    gst_harness_teardown(h);
    std::filesystem::remove(path);
}

TEST(XmMetaConvert, WritesOneLinePerFrameToTheFile) {
    const std::string path = temp_path("frames.jsonl");
    GstHarness* h = harness(("location=" + path).c_str());
    gst_harness_set_src_caps_str(h, video_caps);
    for (int i = 0; i < 5; ++i)
        ASSERT_EQ(gst_harness_push(h, i % 2 == 1 ? frame_with_objects(h, i * GST_SECOND / 30) : frame(h, i * GST_SECOND / 30)),
                  GST_FLOW_OK);
    EXPECT_EQ(gst_harness_buffers_in_queue(h), 5u) << "the video passes through";
    gst_harness_push_event(h, gst_event_new_eos());  // flushes the file
    const std::vector<json> lines = read_lines(path);
    ASSERT_EQ(lines.size(), 5u);
    for (std::size_t i = 0; i < lines.size(); ++i) {
        EXPECT_EQ(lines[i]["frame_number"], i);
        EXPECT_EQ(lines[i]["objects"].size(), i % 2 == 1 ? 2u : 0u);
    }
    gst_harness_teardown(h);
    std::filesystem::remove(path);
}

TEST(XmMetaConvert, PostsAnElementMessagePerFrame) {
    GstHarness* h = harness("post-messages=true");
    GstBus* bus = gst_bus_new();
    gst_element_set_bus(h->element, bus);
    gst_harness_set_src_caps_str(h, video_caps);
    ASSERT_EQ(gst_harness_push(h, frame_with_objects(h, GST_SECOND)), GST_FLOW_OK);
    ASSERT_EQ(gst_harness_push(h, frame(h, GST_SECOND + GST_SECOND / 30)), GST_FLOW_OK);
    for (int i = 0; i < 2; ++i) {
        GstMessage* message = gst_bus_pop_filtered(bus, GST_MESSAGE_ELEMENT);
        ASSERT_NE(message, nullptr) << "message " << i;
        const GstStructure* s = gst_message_get_structure(message);
        EXPECT_TRUE(gst_structure_has_name(s, "xmodal-frame"));
        const json j = json::parse(gst_structure_get_string(s, "json"));
        EXPECT_EQ(j["frame_number"], i);
        EXPECT_EQ(j["objects"].size(), i == 0 ? 2u : 0u);
        guint64 stream_time = 0, running_time = 0;
        EXPECT_TRUE(gst_structure_get_uint64(s, "stream-time", &stream_time));
        EXPECT_TRUE(gst_structure_get_uint64(s, "running-time", &running_time));
        EXPECT_EQ(stream_time, GST_SECOND + i * GST_SECOND / 30);
        EXPECT_EQ(running_time, stream_time);
        gst_message_unref(message);
    }
    EXPECT_EQ(gst_bus_pop_filtered(bus, GST_MESSAGE_ELEMENT), nullptr);
    gst_bus_set_flushing(bus, TRUE);  // drops queued messages: they hold the element
    gst_harness_teardown(h);
    gst_object_unref(bus);
}

TEST(XmMetaConvert, NoMessagesByDefault) {
    GstHarness* h = harness();
    GstBus* bus = gst_bus_new();
    gst_element_set_bus(h->element, bus);
    gst_harness_set_src_caps_str(h, video_caps);
    ASSERT_EQ(gst_harness_push(h, frame_with_objects(h, 0)), GST_FLOW_OK);
    EXPECT_EQ(gst_bus_pop_filtered(bus, GST_MESSAGE_ELEMENT), nullptr);
    gst_bus_set_flushing(bus, TRUE);  // drops queued messages: they hold the element
    gst_harness_teardown(h);
    gst_object_unref(bus);
}

TEST(XmMetaConvert, UserStructureNamedLikeASchemaKeyIsAStreamError) {
    GstHarness* h = harness();
    GstBus* bus = gst_bus_new();
    gst_element_set_bus(h->element, bus);
    gst_harness_set_src_caps_str(h, video_caps);
    GstBuffer* buffer = frame(h, 0);
    GstVideoRegionOfInterestMeta* car = xg::add_object(buffer, width, height, "car", 2, 0.9, 0, 0, 10, 10);
    gst_video_region_of_interest_meta_add_param(car, gst_structure_new("x", "value", G_TYPE_INT, 1, nullptr));
    EXPECT_EQ(gst_harness_push(h, buffer), GST_FLOW_ERROR);
    EXPECT_EQ(error_on(bus),
              "frame JSON object 0 (\"car\"): user field \"x\" has the name of a schema key (xmodal-frame-1); rename "
              "the structure that carries it");
    gst_bus_set_flushing(bus, TRUE);  // drops queued messages: they hold the element
    gst_harness_teardown(h);
    gst_object_unref(bus);
}

// Starts the element alone with `location` and returns the error posted ("" if it started).
std::string start_error(const std::string& location) {
    GstElement* element = gst_element_factory_make("xmmetaconvert", nullptr);
    g_object_set(element, "location", location.c_str(), nullptr);
    GstBus* bus = gst_bus_new();
    gst_element_set_bus(element, bus);
    const GstStateChangeReturn ret = gst_element_set_state(element, GST_STATE_PAUSED);
    std::string error = error_on(bus);
    EXPECT_EQ(ret == GST_STATE_CHANGE_FAILURE, !error.empty()) << error;
    gst_element_set_state(element, GST_STATE_NULL);
    gst_bus_set_flushing(bus, TRUE);  // drops queued messages: they hold the element
    gst_object_unref(element);
    gst_object_unref(bus);
    return error;
}

TEST(XmMetaConvert, UnwritableLocationFailsAtStateChange) {
    EXPECT_EQ(start_error("/nonexistent-dir/frames.jsonl"),
              "xmmetaconvert location: cannot open JSON lines file \"/nonexistent-dir/frames.jsonl\" for writing: No "
              "such file or directory");
    const std::string dir = ::testing::TempDir();
    EXPECT_EQ(start_error(dir),
              "xmmetaconvert location: cannot open JSON lines file \"" + dir + "\" for writing: Is a directory");
    const std::string ok = temp_path("ok.jsonl");
    EXPECT_EQ(start_error(ok), "");
    std::filesystem::remove(ok);
}

TEST(XmMetaConvert, FullDiskIsAnErrorNamingTheFile) {
    ASSERT_TRUE(std::filesystem::exists("/dev/full"));
    GstHarness* h = harness("location=/dev/full");
    GstBus* bus = gst_bus_new();
    gst_element_set_bus(h->element, bus);
    gst_harness_set_src_caps_str(h, video_caps);
    ASSERT_EQ(gst_harness_push(h, frame(h, 0)), GST_FLOW_OK);  // buffered: the flush at EOS finds out
    gst_harness_push_event(h, gst_event_new_eos());
    EXPECT_EQ(error_on(bus),
              "xmmetaconvert location: cannot write to JSON lines file \"/dev/full\": No space left on device");
    gst_bus_set_flushing(bus, TRUE);  // drops queued messages: they hold the element
    gst_harness_teardown(h);
    gst_object_unref(bus);
}

TEST(XmMetaConvert, PropertiesAreDocumentedWithRangesAndDefaults) {
    GstElement* element = gst_element_factory_make("xmmetaconvert", nullptr);
    ASSERT_NE(element, nullptr);
    GObjectClass* klass = G_OBJECT_GET_CLASS(element);
    for (const char* name : {"source", "location", "post-messages", "include-empty", "json-indent"}) {
        GParamSpec* spec = g_object_class_find_property(klass, name);
        ASSERT_NE(spec, nullptr) << name;
        EXPECT_NE(std::string(g_param_spec_get_blurb(spec)).find("efault"), std::string::npos) << name;
    }
    auto* indent = G_PARAM_SPEC_INT(g_object_class_find_property(klass, "json-indent"));
    EXPECT_EQ(indent->minimum, 0);
    EXPECT_EQ(indent->maximum, 10);
    EXPECT_EQ(indent->default_value, 0);
    // GLib refuses out-of-range values before the element sees them: validation clamps them.
    for (int bad : {-1, 11}) {
        GValue v = G_VALUE_INIT;
        g_value_init(&v, G_TYPE_INT);
        g_value_set_int(&v, bad);
        EXPECT_TRUE(g_param_value_validate(&indent->parent_instance, &v)) << bad << " should be out of range";
        g_value_unset(&v);
    }
    gboolean include_empty = FALSE, post_messages = TRUE;
    gchar* location = nullptr;
    g_object_get(element, "include-empty", &include_empty, "post-messages", &post_messages, "location", &location, nullptr);
    EXPECT_TRUE(include_empty);
    EXPECT_FALSE(post_messages);
    EXPECT_STREQ(location, "");
    g_free(location);
    gst_object_unref(element);
}

// A real source: the document's "source" is the URI filesrc answers, the size the decoded photo's.
TEST(XmMetaConvert, SourceDefaultsToTheUpstreamUri) {
    const std::string photo = xmodal::shared_dir() + "/media/dog.jpg";
    ASSERT_TRUE(std::filesystem::exists(photo)) << photo;
    const std::string launch = "filesrc location=\"" + photo + "\" ! jpegdec ! xmmetaconvert post-messages=true ! fakesink";
    GError* error = nullptr;
    GstElement* pipeline = gst_parse_launch(launch.c_str(), &error);
    ASSERT_NE(pipeline, nullptr) << (error != nullptr ? error->message : launch);
    ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    GstBus* bus = gst_element_get_bus(pipeline);
    std::vector<json> documents;
    for (;;) {
        GstMessage* m = gst_bus_timed_pop_filtered(bus, 20 * GST_SECOND,
                                                   static_cast<GstMessageType>(GST_MESSAGE_ELEMENT | GST_MESSAGE_EOS |
                                                                               GST_MESSAGE_ERROR));
        ASSERT_NE(m, nullptr) << "no EOS within 20 s";
        const GstMessageType type = GST_MESSAGE_TYPE(m);
        if (type == GST_MESSAGE_ELEMENT && gst_structure_has_name(gst_message_get_structure(m), "xmodal-frame"))
            documents.push_back(json::parse(gst_structure_get_string(gst_message_get_structure(m), "json")));
        gst_message_unref(m);
        ASSERT_NE(type, GST_MESSAGE_ERROR);
        if (type == GST_MESSAGE_EOS) break;
    }
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(bus);
    gst_object_unref(pipeline);
    ASSERT_EQ(documents.size(), 1u);
    gchar* uri = gst_filename_to_uri(photo.c_str(), nullptr);
    EXPECT_EQ(documents[0]["source"], uri);
    g_free(uri);
    EXPECT_GT(documents[0]["resolution"]["width"].get<int>(), 0);
    EXPECT_TRUE(documents[0]["objects"].empty());
}

}  // namespace

int main(int argc, char** argv) {
    gst_init(&argc, &argv);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
