#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "support/error_of.hpp"
#include "xmodal/frame_json.hpp"

namespace xmodal {
namespace {

using json = nlohmann::json;
using testing::error_of;

ObjectRecord car() {
    ObjectRecord o;
    o.region_id = 0;
    o.track_id = 7;
    o.track_state = "confirmed";
    o.label = "car";
    o.label_id = 2;
    o.confidence = 0.875;
    o.x = 64, o.y = 36, o.w = 128, o.h = 72;
    o.x_min = 0.1, o.y_min = 0.1, o.x_max = 0.3, o.y_max = 0.3;
    return o;
}

FrameRecord frame_with(std::vector<ObjectRecord> objects) {
    FrameRecord f;
    f.timestamp_ns = 1'500'000'000;
    f.source = "file:///clips/traffic.mp4";
    f.frame_number = 45;
    f.width = 640, f.height = 360;
    f.objects = std::move(objects);
    return f;
}

TEST(FrameJson, EveryFieldReadsBack) {
    ObjectRecord bus = car();
    bus.region_id = 1, bus.track_id = 0, bus.track_state = "", bus.label = "bus", bus.label_id = 5;
    const std::string line = frame_json_line(frame_with({car(), bus}));
    const json j = json::parse(line);

    EXPECT_EQ(j.size(), 6u) << line;
    EXPECT_EQ(j["schema"], "xmodal-frame-1");
    EXPECT_EQ(j["source"], "file:///clips/traffic.mp4");
    EXPECT_EQ(j["frame_number"], 45);
    EXPECT_EQ(j["timestamp"].get<std::uint64_t>(), 1'500'000'000u);
    EXPECT_EQ(j["resolution"], json({{"width", 640}, {"height", 360}}));
    ASSERT_EQ(j["objects"].size(), 2u);

    const json& o = j["objects"][0];
    EXPECT_EQ(o.size(), 9u) << o.dump();
    EXPECT_EQ(o["region_id"], 0);
    EXPECT_EQ(o["id"], 7);
    EXPECT_EQ(o["tracking"], json({{"state", "confirmed"}}));
    EXPECT_EQ(o["roi_type"], "car");
    EXPECT_EQ(o["x"], 64);
    EXPECT_EQ(o["y"], 36);
    EXPECT_EQ(o["w"], 128);
    EXPECT_EQ(o["h"], 72);
    const json& d = o["detection"];
    EXPECT_EQ(d.size(), 4u);
    EXPECT_EQ(d["label"], "car");
    EXPECT_EQ(d["label_id"], 2);
    EXPECT_DOUBLE_EQ(d["confidence"].get<double>(), 0.875);
    EXPECT_DOUBLE_EQ(d["bounding_box"]["x_min"].get<double>(), 0.1);
    EXPECT_DOUBLE_EQ(d["bounding_box"]["y_min"].get<double>(), 0.1);
    EXPECT_DOUBLE_EQ(d["bounding_box"]["x_max"].get<double>(), 0.3);
    EXPECT_DOUBLE_EQ(d["bounding_box"]["y_max"].get<double>(), 0.3);
    EXPECT_EQ(d["bounding_box"].size(), 4u);

    // Untracked: no "id" and no "tracking", as DL Streamer leaves out "id" before a tracker.
    const json& b = j["objects"][1];
    EXPECT_EQ(b["region_id"], 1);
    EXPECT_FALSE(b.contains("id"));
    EXPECT_FALSE(b.contains("tracking"));
    EXPECT_EQ(b["detection"]["label"], "bus");
    EXPECT_EQ(b["detection"]["label_id"], 5);
}

TEST(FrameJson, OneCompactLineWithKeysInDlStreamerOrder) {
    const std::string line = frame_json_line(frame_with({car()}));
    EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_EQ(line.find(' '), std::string::npos) << "no spaces outside strings here: " << line;
    // Sorted keys, the same text every time: DL Streamer's documents are sorted the same way.
    EXPECT_EQ(line,
              R"({"frame_number":45,"objects":[{"detection":{"bounding_box":{"x_max":0.3,"x_min":0.1,"y_max":0.3,)"
              R"("y_min":0.1},"confidence":0.875,"label":"car","label_id":2},"h":72,"id":7,"region_id":0,)"
              R"("roi_type":"car","tracking":{"state":"confirmed"},"w":128,"x":64,"y":36}],)"
              R"("resolution":{"height":360,"width":640},"schema":"xmodal-frame-1",)"
              R"("source":"file:///clips/traffic.mp4","timestamp":1500000000})");
    EXPECT_EQ(frame_json_line(frame_with({car()})), line);
}

TEST(FrameJson, IndentPrettyPrintsTheSameDocument) {
    const std::string pretty = frame_json_line(frame_with({car()}), 2);
    EXPECT_NE(pretty.find("\n  \"frame_number\": 45"), std::string::npos) << pretty;
    EXPECT_EQ(json::parse(pretty), json::parse(frame_json_line(frame_with({car()}))));
}

TEST(FrameJson, EmptyFrameHasAnEmptyObjectList) {
    FrameRecord f = frame_with({});
    f.timestamp_ns.reset();
    f.source = "";
    const json j = json::parse(frame_json_line(f));
    ASSERT_TRUE(j["objects"].is_array());
    EXPECT_TRUE(j["objects"].empty());
    EXPECT_TRUE(j["timestamp"].is_null());  // a buffer without a timestamp: the key stays, as null
    EXPECT_EQ(j["source"], "");
}

TEST(FrameJson, OddLabelsAreEscapedAndStayOnOneLine) {
    ObjectRecord o = car();
    o.label = "a \"quoted\"\\label\nwith\ttabs, \x01 control, ünïcødé 車";
    const std::string line = frame_json_line(frame_with({o}));
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    EXPECT_NE(line.find(R"(a \"quoted\"\\label\nwith\ttabs, \u0001 control)"), std::string::npos) << line;
    const json j = json::parse(line);
    EXPECT_EQ(j["objects"][0]["detection"]["label"], o.label);
    EXPECT_EQ(j["objects"][0]["roi_type"], o.label);
}

TEST(FrameJson, InvalidUtf8IsReplacedNotFatal) {
    ObjectRecord o = car();
    o.label = "bad\xff\xfe";
    FrameRecord f = frame_with({o});
    f.source = "cam\xc3";  // a truncated two-byte sequence
    const json j = json::parse(frame_json_line(f));
    EXPECT_EQ(j["objects"][0]["detection"]["label"], "bad\xEF\xBF\xBD\xEF\xBF\xBD");  // U+FFFD twice
    EXPECT_EQ(j["source"], "cam\xEF\xBF\xBD");
}

TEST(FrameJson, NonFiniteNumbersBecomeNull) {
    ObjectRecord o = car();
    o.confidence = std::numeric_limits<double>::quiet_NaN();
    o.x_min = std::numeric_limits<double>::infinity();
    o.y_max = -std::numeric_limits<double>::infinity();
    o.extra = {{"score", json{{"value", std::nan("")}}}};
    const std::string line = frame_json_line(frame_with({o}));
    const json j = json::parse(line);  // throws on NaN/Infinity tokens, which are not JSON
    const json& d = j["objects"][0]["detection"];
    EXPECT_TRUE(d["confidence"].is_null());
    EXPECT_TRUE(d["bounding_box"]["x_min"].is_null());
    EXPECT_TRUE(d["bounding_box"]["y_max"].is_null());
    EXPECT_DOUBLE_EQ(d["bounding_box"]["x_max"].get<double>(), 0.3);
    EXPECT_TRUE(j["objects"][0]["score"]["value"].is_null());
}

TEST(FrameJson, UserFieldsPassThroughUnderTheirNames) {
    ObjectRecord o = car();
    o.extra = {{"color", {{"label", "red"}, {"confidence", 0.5}}}, {"plate", {{"text", "AB-123"}, {"chars", {1, 2}}}}};
    FrameRecord f = frame_with({o});
    f.extra = {{"xmodal-inference", {{"inferred", true}, {"model", "yolox_nano"}}}, {"weather", {{"rain", false}}}};
    const json j = json::parse(frame_json_line(f));
    EXPECT_EQ(j["xmodal-inference"], json({{"inferred", true}, {"model", "yolox_nano"}}));
    EXPECT_EQ(j["weather"], json({{"rain", false}}));
    EXPECT_EQ(j["objects"][0]["color"], json({{"label", "red"}, {"confidence", 0.5}}));
    EXPECT_EQ(j["objects"][0]["plate"]["chars"], json({1, 2}));
    EXPECT_EQ(j["objects"][0]["detection"]["label"], "car");  // the schema's fields are untouched
}

TEST(FrameJson, UserFieldNamedLikeASchemaKeyIsAnError) {
    ObjectRecord o = car();
    o.extra = {{"x", 1}};
    EXPECT_EQ(error_of([&] { frame_json_line(frame_with({o})); }),
              "frame JSON object 0 (\"car\"): user field \"x\" has the name of a schema key (xmodal-frame-1); "
              "rename the structure that carries it");
    FrameRecord f = frame_with({});
    f.extra = {{"objects", json::array()}};
    EXPECT_EQ(error_of([&] { frame_json_line(f); }),
              "frame JSON (frame 45): user field \"objects\" has the name of a schema key (xmodal-frame-1); "
              "rename the structure that carries it");
    f.extra = {{"weather", 1}, {"weather", 2}};
    EXPECT_EQ(error_of([&] { frame_json_line(f); }),
              "frame JSON (frame 45): user field \"weather\" appears twice; rename one of them");
}

TEST(FrameJson, ResolutionMustBePositive) {
    FrameRecord f = frame_with({});
    f.height = 0;
    EXPECT_EQ(error_of([&] { frame_to_json(f); }),
              "frame JSON: resolution 640x0 is not positive (frame 45 of source \"file:///clips/traffic.mp4\")");
}

TEST(JsonLinesFile, WritesOneLinePerDocument) {
    const auto path = std::filesystem::path(::testing::TempDir()) /
                      ("xmodal-frame-json-" + std::to_string(getpid()) + ".jsonl");
    {
        JsonLinesFile file(path.string());
        for (std::uint64_t i = 0; i < 3; ++i) {
            FrameRecord f = frame_with(i == 1 ? std::vector<ObjectRecord>{} : std::vector<ObjectRecord>{car()});
            f.frame_number = i;
            file.write_line(frame_json_line(f));
        }
        file.flush();
    }
    std::ifstream in(path);
    std::string line;
    std::uint64_t n = 0;
    while (std::getline(in, line)) {
        const json j = json::parse(line);
        EXPECT_EQ(j["frame_number"], n);
        EXPECT_EQ(j["objects"].size(), n == 1 ? 0u : 1u);
        ++n;
    }
    EXPECT_EQ(n, 3u);
    std::filesystem::remove(path);
}

TEST(JsonLinesFile, UnwritablePathNamesPathAndReason) {
    EXPECT_EQ(error_of([] { JsonLinesFile("/nonexistent-dir/frames.jsonl"); }),
              "cannot open JSON lines file \"/nonexistent-dir/frames.jsonl\" for writing: No such file or directory");
    EXPECT_EQ(error_of([] { JsonLinesFile(""); }), "JSON lines file: empty path");
}

}  // namespace
}  // namespace xmodal
