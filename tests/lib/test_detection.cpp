#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "support/error_of.hpp"
#include "xmodal/detection.hpp"
#include "xmodal/device.hpp"
#include "xmodal/error.hpp"
#include "xmodal/shared_paths.hpp"

#ifndef XMODAL_SOURCE_DIR
#error "tests/meson.build passes XMODAL_SOURCE_DIR (the source tree, for models/*.json)"
#endif

namespace xmodal {
namespace {

using json = nlohmann::json;
using testing::error_of;

// A small model-info: 128x128 top-left letterbox, three labels, the given output block.
json info_json(json output, int width = 128, int height = 128) {
    return {{"format", "xmodal-detection-model-info"},
            {"version", 1},
            {"input",
             {{"width", width},
              {"height", height},
              {"color_order", "RGB"},
              {"resize", {{"mode", "letterbox"}, {"align", "top-left"}, {"pad_value", 114}}}}},
            {"output", std::move(output)},
            {"labels", json::array({"a", "b", "c"})}};
}

json yolox_output() {
    return {{"head", "yolox"}, {"strides", {8, 16, 32}}, {"sigmoid_applied", {{"objectness", true}, {"classes", true}}}};
}

DetectionModelInfo parse(const json& j) { return parse_detection_model_info(j.dump(), "t.json"); }
std::string parse_error(const json& j) {
    return error_of([&] { parse(j); });
}

std::vector<Detection> decode(const DetectionModelInfo& info, const std::vector<OutputTensorView>& outputs,
                              ImageSize image, DetectionOptions options = {}, std::int64_t batch = 0) {
    return decode_detections(info, outputs, batch, image, options);
}

void expect_box(const Detection& d, float x1, float y1, float x2, float y2, float tolerance = 1e-3f) {
    EXPECT_NEAR(d.x1, x1, tolerance);
    EXPECT_NEAR(d.y1, y1, tolerance);
    EXPECT_NEAR(d.x2, x2, tolerance);
    EXPECT_NEAR(d.y2, y2, tolerance);
}

TEST(DetectionModelInfo, YoloxNanoDescribesTheSharedModel) {
    auto info = load_detection_model_info(XMODAL_SOURCE_DIR "/models/yolox_nano.json");
    EXPECT_EQ(info.model, shared_dir() + "/models/yolox_nano.onnx");
    EXPECT_TRUE(std::filesystem::exists(info.model));
    EXPECT_EQ(info.input.tensor, "images");
    EXPECT_EQ(info.input.width, 416);
    EXPECT_EQ(info.input.height, 416);
    EXPECT_EQ(info.input.layout, ChannelLayout::nchw);
    EXPECT_EQ(info.input.color_order, ColorOrder::bgr);
    EXPECT_EQ(info.input.mean, (std::array<float, 3>{0, 0, 0}));
    EXPECT_EQ(info.input.scale, (std::array<float, 3>{1, 1, 1}));  // raw 0..255 (MANIFEST: no mean/std)
    EXPECT_EQ(info.input.resize, ResizeMode::letterbox);
    EXPECT_EQ(info.input.align, LetterboxAlign::top_left);
    EXPECT_EQ(info.input.pad_value, (std::array<float, 3>{114, 114, 114}));
    EXPECT_EQ(info.output.head, DetectionHead::yolox);
    EXPECT_EQ(info.output_tensor_names(), std::vector<std::string>{"output"});
    EXPECT_EQ(info.output.strides, (std::vector<int>{8, 16, 32}));
    EXPECT_TRUE(info.output.objectness_sigmoid_applied);
    EXPECT_TRUE(info.output.classes_sigmoid_applied);
    ASSERT_EQ(info.output.anchor_points.size(), 3549u);  // 52·52 + 26·26 + 13·13
    const AnchorPoint& last_of_stride8 = info.output.anchor_points[52 * 52 - 1];
    EXPECT_EQ(last_of_stride8.grid_x, 51.f);
    EXPECT_EQ(last_of_stride8.grid_y, 51.f);
    EXPECT_EQ(last_of_stride8.stride, 8.f);
    const AnchorPoint& stride16_row1 = info.output.anchor_points[52 * 52 + 26];  // row-major: y = 1, x = 0
    EXPECT_EQ(stride16_row1.grid_x, 0.f);
    EXPECT_EQ(stride16_row1.grid_y, 1.f);
    EXPECT_EQ(stride16_row1.stride, 16.f);
    EXPECT_EQ(info.output.anchor_points.back().stride, 32.f);
    ASSERT_EQ(info.labels.size(), 80u);
    EXPECT_EQ(info.labels[0], "person");
    EXPECT_EQ(info.labels[2], "car");
    EXPECT_EQ(info.labels[79], "toothbrush");
    EXPECT_EQ(find_label_ids(info, {"car", "bus", "truck"}), (std::vector<int>{2, 5, 7}));
}

// The worked examples in docs/MODEL_INFO.md must stay valid files (labels replaced by an inline
// list, since their labels files are not shipped).
TEST(DetectionModelInfo, DocumentedExamplesParse) {
    std::ifstream in(XMODAL_SOURCE_DIR "/docs/MODEL_INFO.md");
    ASSERT_TRUE(in);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> heads;
    for (std::size_t at = 0; (at = text.find("```json\n{", at)) != std::string::npos;) {
        const std::size_t begin = at + 8, end = text.find("```", begin);
        auto j = json::parse(text.substr(begin, end - begin));
        j["labels"] = std::vector<std::string>(91, "x");
        auto info = parse_detection_model_info(j.dump(), "MODEL_INFO.md example " + std::to_string(heads.size() + 1));
        heads.push_back(j["output"]["head"].get<std::string>());
        at = end;
    }
    EXPECT_EQ(heads, (std::vector<std::string>{"yolox", "yolov5", "yolov8", "ssd"}));
}

TEST(DetectionModelInfo, RelativePathsResolveAgainstTheJsonFolder) {
    const auto dir = std::filesystem::path(::testing::TempDir()) / ("xmodal-detection-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    auto j = info_json(yolox_output());
    j["labels"] = "names.txt";
    j["model"] = "net.onnx";
    std::ofstream(dir / "info.json") << j.dump(2);
    std::ofstream(dir / "names.txt") << "cat\r\n  dog \nbird";  // CRLF, spaces, no final newline
    auto info = load_detection_model_info((dir / "info.json").string());
    EXPECT_EQ(info.labels, (std::vector<std::string>{"cat", "dog", "bird"}));
    EXPECT_EQ(info.model, (dir / "net.onnx").string());
    EXPECT_EQ(info.source, (dir / "info.json").string());

    std::ofstream(dir / "names.txt") << "cat\n\ndog\n";
    EXPECT_EQ(error_of([&] { load_detection_model_info((dir / "info.json").string()); }),
              (dir / "info.json").string() + ": labels: labels file '" + (dir / "names.txt").string() +
                  "' line 2 is empty (each line names the next class id, so an empty line would shift all that follow)");
    std::filesystem::remove_all(dir);

    EXPECT_EQ(error_of([] { load_detection_model_info("/nonexistent/info.json"); }),
              "cannot open detection model info '/nonexistent/info.json'");
    j["labels"] = "missing.txt";
    EXPECT_EQ(error_of([&] { parse_detection_model_info(j.dump(), "t.json", "/models"); }),
              "t.json: labels: cannot open labels file '/models/missing.txt'");
    j["labels"] = "$XMODAL_SHARED/models/missing.txt";
    EXPECT_EQ(error_of([&] { parse_detection_model_info(j.dump(), "t.json", "/models"); }),
              "t.json: labels: cannot open labels file '" + shared_dir() + "/models/missing.txt'");
}

TEST(DetectionModelInfo, ParsesEveryHeadAndInputOption) {
    auto j = info_json({{"head", "yolov5"},
                        {"tensor", "output0"},
                        {"boxes", "raw"},
                        {"strides", {8, 16}},
                        {"anchors", {{{4, 6}, {12, 20}}, {{30, 30}}}},
                        {"sigmoid_applied", {{"objectness", false}, {"classes", false}}}},
                       32, 32);
    j["input"]["tensor"] = "images";
    j["input"]["layout"] = "NHWC";
    j["input"]["mean"] = {123.675, 116.28, 103.53};
    j["input"]["std"] = {58.395, 57.12, 57.375};
    j["input"]["resize"] = {{"mode", "letterbox"}, {"align", "center"}, {"pad_value", {0, 10, 20}}};
    auto info = parse(j);
    EXPECT_EQ(info.input.tensor, "images");
    EXPECT_EQ(info.input.layout, ChannelLayout::nhwc);
    EXPECT_EQ(info.input.color_order, ColorOrder::rgb);
    EXPECT_FLOAT_EQ(info.input.mean[2], 103.53f);
    EXPECT_FLOAT_EQ(info.input.scale[0], 1.f / 58.395f);  // std is stored as its reciprocal
    EXPECT_EQ(info.input.align, LetterboxAlign::center);
    EXPECT_EQ(info.input.pad_value, (std::array<float, 3>{0, 10, 20}));
    EXPECT_FALSE(info.output.boxes_decoded);
    EXPECT_FALSE(info.output.objectness_sigmoid_applied);
    // Rows: stride 8 anchor 0 (16 cells), stride 8 anchor 1 (16), stride 16 anchor 0 (4).
    ASSERT_EQ(info.output.anchor_points.size(), 36u);
    EXPECT_EQ(info.output.anchor_points[25].anchor_w, 12.f);
    EXPECT_EQ(info.output.anchor_points[25].grid_x, 1.f);
    EXPECT_EQ(info.output.anchor_points[25].grid_y, 2.f);
    EXPECT_EQ(info.output.anchor_points[35].anchor_h, 30.f);
    EXPECT_EQ(info.output.anchor_points[35].stride, 16.f);

    auto ssd = info_json({{"head", "ssd"},
                          {"boxes_tensor", "raw_detection_boxes"},
                          {"scores_tensor", "raw_detection_scores"},
                          {"box_order", "y1x1y2x2"},
                          {"box_units", "normalized"},
                          {"background_class", 0},
                          {"sigmoid_applied", {{"classes", true}}}});
    ssd["input"]["resize"] = {{"mode", "stretch"}};
    auto ssd_info = parse(ssd);
    EXPECT_EQ(ssd_info.input.resize, ResizeMode::stretch);
    EXPECT_EQ(ssd_info.output_tensor_names(), (std::vector<std::string>{"raw_detection_boxes", "raw_detection_scores"}));
    EXPECT_EQ(ssd_info.output.background_class, 0);
    EXPECT_TRUE(ssd_info.output.anchor_points.empty());
}

TEST(DetectionModelInfo, ErrorsNameTheFileTheFieldAndTheValue) {
    struct Case {
        std::function<void(json&)> edit;
        std::string message;
    };
    const std::vector<Case> cases = {
        {[](json& j) { j["output"]["strides"] = "8"; },
         R"(t.json: output.strides: expected a non-empty list of positive integers, got "8")"},
        {[](json& j) { j["output"]["strides"] = json::array(); },
         "t.json: output.strides: expected a non-empty list of positive integers, got []"},
        {[](json& j) { j["output"]["strides"] = {8, 0}; },
         "t.json: output.strides: expected a non-empty list of positive integers, got [8,0]"},
        {[](json& j) {
             j["input"]["width"] = j["input"]["height"] = 65536;
             j["output"]["strides"] = {1};
         },
         "t.json: output.strides: 4294967296 anchor points at 65536x65536 is more than a detector produces (at most "
         "16777216)"},
        {[](json& j) { j["output"]["strides"] = {8, 48}; },
         "t.json: output.strides: stride 48 does not divide the input size 128x128 (each stride's grid must have "
         "whole cells)"},
        {[](json& j) { j.erase("output"); }, "t.json: output: missing, expected an object"},
        {[](json& j) { j["output"] = 3; }, "t.json: output: expected a JSON object, got 3"},
        {[](json& j) { j["output"].erase("strides"); },
         "t.json: output.strides: missing, expected a non-empty list of positive integers"},
        {[](json& j) { j["lables"] = j["labels"]; },
         R"(t.json: unknown key "lables" (expected one of: format, version, description, model, input, output, labels))"},
        {[](json& j) { j["output"]["anchors"] = json::array(); },
         R"(t.json: output: unknown key "anchors" (expected one of: head, tensor, strides, sigmoid_applied))"},
        {[](json& j) { j["output"]["sigmoid_applied"] = {{"objectnes", true}, {"classes", true}}; },
         R"(t.json: output.sigmoid_applied: unknown key "objectnes" (expected one of: objectness, classes))"},
        {[](json& j) { j["output"]["sigmoid_applied"].erase("classes"); },
         "t.json: output.sigmoid_applied.classes: missing, expected true or false"},
        {[](json& j) { j["output"]["sigmoid_applied"]["classes"] = 1; },
         "t.json: output.sigmoid_applied.classes: expected true or false, got 1"},
        {[](json& j) { j["output"].erase("sigmoid_applied"); },
         R"(t.json: output.sigmoid_applied: missing, expected an object {"objectness": bool, "classes": bool})"},
        {[](json& j) { j["output"]["head"] = "yolov7"; },
         R"(t.json: output.head: expected one of "yolox", "yolov5", "yolov8", "ssd", got "yolov7")"},
        {[](json& j) { j["version"] = 2; },
         "t.json: version: this build reads version 1 of xmodal-detection-model-info, got 2"},
        {[](json& j) { j.erase("version"); }, "t.json: version: missing, expected 1"},
        {[](json& j) { j["format"] = "yolo"; }, R"(t.json: format: expected "xmodal-detection-model-info", got "yolo")"},
        {[](json& j) { j["input"]["layout"] = "CHW"; },
         R"(t.json: input.layout: expected one of "NCHW", "NHWC", got "CHW")"},
        {[](json& j) { j["input"]["width"] = "416"; }, R"(t.json: input.width: expected a positive integer up to 65536, got "416")"},
        {[](json& j) { j["input"]["height"] = 0; }, "t.json: input.height: expected a positive integer up to 65536, got 0"},
        {[](json& j) { j["input"].erase("color_order"); },
         R"(t.json: input.color_order: missing, expected one of "BGR", "RGB")"},
        {[](json& j) { j["input"]["dtype"] = "u8"; },
         R"(t.json: input.dtype: expected "f32" (the only input type of version 1), got "u8")"},
        {[](json& j) { j["input"]["mean"] = {1, 2}; },
         "t.json: input.mean: expected a number or a list of 3 of them (one per channel, in color_order), got [1,2]"},
        {[](json& j) { j["input"]["std"] = 0; },
         "t.json: input.std: expected a positive number or a list of 3 of them (one per channel, in color_order), got 0"},
        {[](json& j) { j["input"]["std"] = 1;
             j["input"]["scale"] = 1; },
         R"(t.json: input: give either "scale" (value = (pixel - mean) * scale) or "std" (value = (pixel - mean) / std), not both)"},
        {[](json& j) { j["input"]["resize"]["mode"] = "crop"; },
         R"(t.json: input.resize.mode: expected one of "letterbox", "stretch", got "crop")"},
        {[](json& j) { j["input"]["resize"].erase("align"); },
         R"(t.json: input.resize.align: missing, expected one of "top-left", "center")"},
        {[](json& j) { j["input"]["resize"].erase("pad_value"); },
         "t.json: input.resize.pad_value: missing, expected a pixel value 0..255"},
        {[](json& j) { j["input"]["resize"]["pad_value"] = 300; },
         "t.json: input.resize.pad_value: expected a pixel value 0..255 or a list of 3 of them (one per channel, in "
         "color_order), got 300"},
        {[](json& j) { j["input"]["resize"]["mode"] = "stretch"; },
         R"(t.json: input.resize: unknown key "align" (expected one of: mode))"},
        {[](json& j) { j["labels"] = json::array(); },
         "t.json: labels: expected a non-empty list of label strings, or the path of a labels file (one label per "
         "line), got []"},
        {[](json& j) { j["labels"] = "$HOME/labels.txt"; },
         R"(t.json: labels: expected a path (absolute, relative to the model-info file, or starting with "$XMODAL_SHARED/"), got "$HOME/labels.txt")"},
        {[](json& j) { j["model"] = 5; }, "t.json: model: expected a path, got 5"},
        {[](json& j) { j["output"] = {{"head", "yolov5"}, {"sigmoid_applied", {{"objectness", true}, {"classes", true}}}}; },
         R"(t.json: output.boxes: missing, expected one of "decoded", "raw")"},
        {[](json& j) { j["output"]["head"] = "yolov5";
             j["output"]["boxes"] = "decoded"; },
         R"(t.json: output: unknown key "strides" (expected one of: head, tensor, boxes, sigmoid_applied))"},
        {[](json& j) {
             j["output"]["head"] = "yolov5";
             j["output"]["boxes"] = "raw";
             j["output"]["anchors"] = {{{10, 13}}, {{30, 61}}};
         },
         "t.json: output.anchors: expected one list of [w, h] anchor sizes (positive input pixels) per stride, 3 "
         "lists, got [[[10,13]],[[30,61]]]"},
        {[](json& j) {
             j["output"] = {{"head", "ssd"}, {"box_units", "pixels"}, {"sigmoid_applied", {{"classes", true}}}};
         },
         R"(t.json: output.box_order: missing, expected one of "y1x1y2x2", "x1y1x2y2")"},
        {[](json& j) {
             j["output"] = {{"head", "ssd"},
                            {"box_order", "x1y1x2y2"},
                            {"box_units", "pixels"},
                            {"background_class", 3},
                            {"sigmoid_applied", {{"classes", true}}}};
         },
         "t.json: output.background_class: expected a class index below the 3 labels, got 3"},
        {[](json& j) {
             j["output"] = {{"head", "yolov8"}, {"sigmoid_applied", {{"objectness", true}, {"classes", true}}}};
         },
         R"(t.json: output.sigmoid_applied: unknown key "objectness" (expected one of: classes))"},
    };
    for (const auto& c : cases) {
        auto j = info_json(yolox_output());
        c.edit(j);
        EXPECT_EQ(parse_error(j), c.message) << j.dump();
    }
    // A version mismatch is reported even when the newer file has keys this build does not know.
    auto newer = info_json(yolox_output());
    newer["version"] = 2;
    newer["postprocess"] = json::object();
    EXPECT_EQ(parse_error(newer), "t.json: version: this build reads version 1 of xmodal-detection-model-info, got 2");

    EXPECT_EQ(error_of([] { parse_detection_model_info("{\"format\": ", "t.json"); }).rfind("t.json: not valid JSON: ", 0),
              0u);
    EXPECT_EQ(error_of([] { parse_detection_model_info("[1]", "t.json"); }),
              "t.json: expected a JSON object at the top level, got [1]");
}

// ---------------------------------------------------------------------------------------------
// Decoding, head by head, on hand-made tensors.

TEST(DetectionDecode, YoloxOneHotAnchorAtStride16) {
    auto info = parse(info_json(yolox_output()));  // 128x128: 16·16 + 8·8 + 4·4 = 336 rows
    const int rows = 336, row_size = 8;
    std::vector<float> out(rows * row_size, 0.05f);
    auto row = [&](int r) { return out.data() + r * row_size; };
    // Stride 16, cell x = 3, y = 5: row 256 + 5·8 + 3.
    float* hot = row(256 + 5 * 8 + 3);
    hot[0] = 0.5f, hot[1] = 0.25f, hot[2] = std::log(2.f), hot[3] = 0.f, hot[4] = 0.9f;
    hot[5] = 0.1f, hot[6] = 0.2f, hot[7] = 0.8f;
    // Objectness below the threshold with a perfect class score: never a detection.
    float* dim = row(10);
    dim[4] = 0.2f, dim[5] = 1.f;
    // Objectness passes, but obj × class = 0.27 does not.
    float* weak = row(20);
    weak[4] = 0.9f, weak[6] = 0.3f;
    // Rows rejected on objectness are never read further, so garbage there is harmless.
    row(30)[5] = std::nanf("");

    // A 256x256 image: r = 0.5, so input boxes double.
    auto detections = decode(info, {{out, {1, rows, row_size}}}, {256, 256});
    ASSERT_EQ(detections.size(), 1u);
    EXPECT_EQ(detections[0].label_id, 2);
    EXPECT_EQ(detections[0].label, "c");
    EXPECT_NEAR(detections[0].confidence, 0.72f, 1e-6);
    // cx = (0.5 + 3)·16 = 56, cy = (0.25 + 5)·16 = 84, w = 2·16 = 32, h = 16 in input pixels.
    expect_box(detections[0], 80, 152, 144, 184);

    // Named tensors show up in shape errors.
    EXPECT_EQ(error_of([&] { decode(info, {{std::span(out).first(335 * 8), {1, 335, 8}}}, {256, 256}); }),
              "t.json: output #0 has shape [1,335,8], expected [N,336,8] for head yolox: 336 anchor points for strides "
              "8,16,32 at 128x128, 5 + 3 labels");
    auto named = info_json(yolox_output());
    named["output"]["tensor"] = "output";
    EXPECT_EQ(error_of([&] { decode(parse(named), {{out, {1, rows, 9}}}, {256, 256}); }),
              "t.json: output 'output' has shape [1,336,9] but 2688 values");
    EXPECT_EQ(error_of([&] { decode(info, {{out, {1, rows, row_size}}}, {256, 256}, {}, 1); }),
              "t.json: batch index 1 is outside the outputs' batch of 1");
    EXPECT_EQ(error_of([&] { decode(info, {}, {256, 256}); }), "t.json: head yolox decodes 1 output tensor(s), got 0");
    DetectionOptions unknown_class;
    unknown_class.class_filter = {7};
    EXPECT_EQ(error_of([&] { decode(info, {{out, {1, rows, row_size}}}, {256, 256}, unknown_class); }),
              "t.json: class filter id 7 is not a label id (0..2)");
    EXPECT_EQ(error_of([&] { decode(info, {{out, {1, rows, row_size}}}, {0, 256}); }),
              "letterbox_geometry: image size 0x256 is not positive");
}

TEST(DetectionDecode, Yolov5DecodedBoxesInTheSecondImageOfABatch) {
    auto j = info_json({{"head", "yolov5"},
                        {"boxes", "decoded"},
                        {"sigmoid_applied", {{"objectness", true}, {"classes", true}}}},
                       64, 64);
    j["input"]["resize"] = {{"mode", "stretch"}};
    auto info = parse(j);
    // [2 images, 3 rows, 5 + 3]; image 0 has a detection that must not leak into image 1.
    std::vector<float> out = {
        10, 10, 4, 4, 0.9f, 0.9f, 0,    0,     //
        0,  0,  0, 0, 0,    0,    0,    0,     //
        0,  0,  0, 0, 0,    0,    0,    0,     //
        0,  0,  0, 0, 0.1f, 0.9f, 0,    0,     //
        32, 20, 16, 8, 0.8f, 0.1f, 0.9f, 0.2f,  //
        0,  0,  0, 0, 0,    0,    0,    0,     //
    };
    // Image 128x64 stretched to 64x64: x halves, y stays.
    auto detections = decode(info, {{out, {2, 3, 8}}}, {128, 64}, {}, 1);
    ASSERT_EQ(detections.size(), 1u);
    EXPECT_EQ(detections[0].label, "b");
    EXPECT_NEAR(detections[0].confidence, 0.72f, 1e-6);
    expect_box(detections[0], 48, 16, 80, 24);
}

TEST(DetectionDecode, Yolov5RawLogitsUseGridAndAnchors) {
    auto info = parse(info_json({{"head", "yolov5"},
                                 {"boxes", "raw"},
                                 {"strides", {8, 16}},
                                 {"anchors", {{{4, 6}, {12, 20}}, {{30, 30}}}},
                                 {"sigmoid_applied", {{"objectness", false}, {"classes", false}}}},
                                32, 32));
    std::vector<float> out(36 * 8, -10.f);
    // Stride 8, anchor 1 (12x20), cell x = 1, y = 2: row 16 + 2·4 + 1.
    float* hot = out.data() + 25 * 8;
    hot[0] = hot[1] = hot[2] = hot[3] = 0.f;  // sigmoid 0.5: xy offset 2·0.5 − 0.5 = 0.5, wh factor (2·0.5)² = 1
    hot[4] = std::log(4.f);                   // sigmoid = 0.8
    hot[6] = 0.f;                             // class b: sigmoid = 0.5
    auto detections = decode(info, {{out, {1, 36, 8}}}, {32, 32});
    ASSERT_EQ(detections.size(), 1u);
    EXPECT_EQ(detections[0].label_id, 1);
    EXPECT_NEAR(detections[0].confidence, 0.4f, 1e-6);
    // cx = (0.5 + 1)·8 = 12, cy = (0.5 + 2)·8 = 20, w = 12, h = 20.
    expect_box(detections[0], 6, 10, 18, 30);
}

TEST(DetectionDecode, Yolov8TransposedOutputWithoutObjectness) {
    auto info = parse(info_json({{"head", "yolov8"}, {"sigmoid_applied", {{"classes", true}}}}, 100, 100));
    const int anchors = 5;
    std::vector<float> out((4 + 3) * anchors, 0.01f);
    auto at = [&](int channel, int anchor) -> float& { return out[channel * anchors + anchor]; };
    at(0, 3) = 50, at(1, 3) = 40, at(2, 3) = 20, at(3, 3) = 10;
    at(4 + 1, 3) = 0.7f;
    at(4 + 2, 3) = 0.6f;  // a lower class of the same anchor: the best class alone is reported
    auto detections = decode(info, {{out, {1, 7, anchors}}}, {100, 100});
    ASSERT_EQ(detections.size(), 1u);
    EXPECT_EQ(detections[0].label, "b");
    EXPECT_FLOAT_EQ(detections[0].confidence, 0.7f);
    expect_box(detections[0], 40, 35, 60, 45);

    // Logits: the sigmoid is applied by the decoder.
    auto logits = info_json({{"head", "yolov8"}, {"sigmoid_applied", {{"classes", false}}}}, 100, 100);
    std::fill(out.begin() + 4 * anchors, out.end(), -5.f);
    at(4 + 0, 3) = 2.f;
    detections = decode(parse(logits), {{out, {1, 7, anchors}}}, {100, 100});
    ASSERT_EQ(detections.size(), 1u);
    EXPECT_EQ(detections[0].label_id, 0);
    EXPECT_NEAR(detections[0].confidence, 1 / (1 + std::exp(-2.f)), 1e-6);
}

TEST(DetectionDecode, SsdSeparateBoxesAndScores) {
    auto j = info_json({{"head", "ssd"},
                        {"box_order", "y1x1y2x2"},
                        {"box_units", "normalized"},
                        {"background_class", 0},
                        {"sigmoid_applied", {{"classes", true}}}},
                       300, 300);
    j["input"]["resize"] = {{"mode", "stretch"}};
    j["labels"] = {"background", "person", "car"};
    auto info = parse(j);
    std::vector<float> boxes = {0.1f, 0.2f, 0.5f, 0.6f,  //
                                0.2f, 0.2f, 0.4f, 0.4f,  //
                                0.f,  0.f,  1.f,  1.f};
    std::vector<float> scores = {0.05f, 0.1f,  0.85f,  // car
                                 0.95f, 0.02f, 0.03f,  // background: not a detection
                                 0.1f,  0.6f,  0.1f};  // person
    // 600x400 stretched to 300x300: x·2, y·4/3.
    auto detections = decode(info, {{boxes, {1, 3, 4}}, {scores, {1, 3, 3}}}, {600, 400});
    ASSERT_EQ(detections.size(), 2u);
    EXPECT_EQ(detections[0].label, "car");
    EXPECT_FLOAT_EQ(detections[0].confidence, 0.85f);
    expect_box(detections[0], 120, 40, 360, 200);
    EXPECT_EQ(detections[1].label, "person");
    expect_box(detections[1], 0, 0, 600, 400);

    EXPECT_EQ(error_of([&] { decode(info, {{boxes, {1, 3, 4}}, {scores, {1, 1, 9}}}, {600, 400}); }),
              "t.json: output #1 has shape [1,1,9], expected [N,3,3] for head ssd: one row of 3 label scores per box");

    // Pixel x1y1x2y2 boxes, logit scores, no background class.
    j["output"] = {{"head", "ssd"},
                   {"box_order", "x1y1x2y2"},
                   {"box_units", "pixels"},
                   {"sigmoid_applied", {{"classes", false}}}};
    std::vector<float> pixel_box = {30, 60, 150, 180};
    std::vector<float> logits = {0.f, -3.f, 2.f};
    detections = decode(parse(j), {{pixel_box, {1, 1, 4}}, {logits, {1, 1, 3}}}, {600, 400});
    ASSERT_EQ(detections.size(), 1u);
    EXPECT_EQ(detections[0].label, "car");
    EXPECT_NEAR(detections[0].confidence, 1 / (1 + std::exp(-2.f)), 1e-6);
    expect_box(detections[0], 60, 80, 300, 240);
}

// ---------------------------------------------------------------------------------------------
// Threshold, NMS, class filter and the cap, on a YOLOv8 head (boxes given directly) with r = 1.

struct Box {
    float cx, cy, w, h;
    int label;
    float score;
};

std::vector<float> yolov8_tensor(const std::vector<Box>& boxes) {
    const auto n = boxes.size();
    std::vector<float> out(7 * n, 0.f);
    for (std::size_t a = 0; a < n; ++a) {
        out[0 * n + a] = boxes[a].cx, out[1 * n + a] = boxes[a].cy;
        out[2 * n + a] = boxes[a].w, out[3 * n + a] = boxes[a].h;
        out[(4 + static_cast<std::size_t>(boxes[a].label)) * n + a] = boxes[a].score;
    }
    return out;
}

TEST(DetectionDecode, ReadsDeviceTensorsInPlace) {
    auto info = parse(info_json({{"head", "yolov8"}, {"sigmoid_applied", {{"classes", true}}}}, 100, 100));
    auto device = Device::open("cpu");
    auto tensor = Tensor::empty(device, {1, 7, 2}, DataType::f32);
    tensor.copy_from_f32(yolov8_tensor({{50, 40, 20, 10, 2, 0.9f}, {10, 10, 4, 4, 0, 0.1f}}));
    const OutputTensorView view = OutputTensorView::of(tensor);
    EXPECT_EQ(view.values.data(), tensor.data_as<const float>());  // no copy
    auto detections = decode(info, {view}, {100, 100});
    ASSERT_EQ(detections.size(), 1u);
    EXPECT_EQ(detections[0].label, "c");
    expect_box(detections[0], 40, 35, 60, 45);

    auto bf16 = Tensor::empty(device, {1, 7, 2}, DataType::bf16);
    EXPECT_EQ(error_of([&] { OutputTensorView::of(bf16); }),
              "OutputTensorView: expected a dense f32 tensor, got " + bf16.describe());
    auto strided = tensor.view({1, 7, 1}, {14, 2, 1});
    EXPECT_EQ(error_of([&] { OutputTensorView::of(strided); }),
              "OutputTensorView: expected a dense f32 tensor, got " + strided.describe());
}

class DetectionNms : public ::testing::Test {
protected:
    DetectionModelInfo info = parse(info_json({{"head", "yolov8"}, {"sigmoid_applied", {{"classes", true}}}}, 100, 100));
    // A 10x10 box at the origin (class a, 0.9); B overlaps it by IoU 0.6, C by exactly 0.5 (both
    // class a); D is A's box as class b; E is far away.
    std::vector<Box> boxes = {{5, 5, 10, 10, 0, 0.9f}, {5, 3, 10, 6, 0, 0.8f}, {5, 2.5f, 10, 5, 0, 0.7f},
                              {5, 5, 10, 10, 1, 0.6f}, {80, 80, 10, 10, 0, 0.5f}};
    std::vector<float> out = yolov8_tensor(boxes);

    std::vector<float> scores(DetectionOptions options) {
        std::vector<float> s;
        for (const auto& d : decode(info, {{out, {1, 7, static_cast<std::int64_t>(boxes.size())}}}, {100, 100}, options))
            s.push_back(d.confidence);
        return s;
    }
    static DetectionOptions with(float score, float iou, std::size_t max = 100, std::vector<int> classes = {}) {
        DetectionOptions o;
        o.score_threshold = score, o.nms_iou_threshold = iou, o.max_detections = max, o.class_filter = std::move(classes);
        return o;
    }
};

TEST_F(DetectionNms, SuppressesOverlapsOfTheSameClassOnly) {
    // IoU 0.6 > 0.5 suppresses B; C at exactly 0.5 stays (suppression needs IoU above the threshold).
    EXPECT_EQ(scores(with(0.3f, 0.5f)), (std::vector<float>{0.9f, 0.7f, 0.6f, 0.5f}));
    EXPECT_EQ(scores(with(0.3f, 0.45f)), (std::vector<float>{0.9f, 0.6f, 0.5f}));
    // With B suppressed, B's own overlap with C (0.83) does not matter: only kept boxes suppress.
    EXPECT_EQ(scores(with(0.3f, 0.55f)), (std::vector<float>{0.9f, 0.7f, 0.6f, 0.5f}));
    EXPECT_EQ(scores(with(0.3f, 1.f)), (std::vector<float>{0.9f, 0.8f, 0.7f, 0.6f, 0.5f}));
    auto detections = decode(info, {{out, {1, 7, 5}}}, {100, 100}, with(0.3f, 0.5f));
    EXPECT_EQ(detections[2].label, "b");
    expect_box(detections[2], 0, 0, 10, 10, 0);
    expect_box(detections[1], 0, 0, 10, 5, 0);
}

TEST_F(DetectionNms, ScoreThresholdKeepsEqualScores) {
    EXPECT_EQ(scores(with(0.7f, 0.5f)), (std::vector<float>{0.9f, 0.7f}));
    EXPECT_EQ(scores(with(std::nextafter(0.7f, 1.f), 0.5f)), (std::vector<float>{0.9f}));
    EXPECT_EQ(scores(with(0.95f, 0.5f)), (std::vector<float>{}));
    EXPECT_EQ(error_of([&] { scores(with(1.5f, 0.5f)); }), "t.json: score threshold 1.5 is outside [0, 1]");
}

TEST_F(DetectionNms, ClassFilterAndCap) {
    EXPECT_EQ(scores(with(0.3f, 0.5f, 100, {1})), (std::vector<float>{0.6f}));
    EXPECT_EQ(scores(with(0.3f, 0.5f, 100, find_label_ids(info, {"a"}))), (std::vector<float>{0.9f, 0.7f, 0.5f}));
    EXPECT_EQ(scores(with(0.3f, 0.5f, 2)), (std::vector<float>{0.9f, 0.7f}));
    EXPECT_EQ(scores(with(0.3f, 0.5f, 0)), (std::vector<float>{}));
    EXPECT_EQ(error_of([&] { find_label_ids(info, {"a", "truck"}); }), "t.json: no label \"truck\" (labels: a, b, c)");
}

// ---------------------------------------------------------------------------------------------
// Letterbox geometry.

DetectionInputInfo input_416(ResizeMode mode, LetterboxAlign align = LetterboxAlign::top_left) {
    DetectionInputInfo in;
    in.width = in.height = 416;
    in.resize = mode;
    in.align = align;
    return in;
}

TEST(DetectionLetterbox, TopLeftAndCentered) {
    // 832x624 → r = min(416/832, 416/624) = 0.5 → 416x312 inside 416x416.
    auto g = letterbox_geometry(input_416(ResizeMode::letterbox), {832, 624});
    EXPECT_EQ(g.resized_width, 416);
    EXPECT_EQ(g.resized_height, 312);
    EXPECT_EQ(g.pad_x, 0);
    EXPECT_EQ(g.pad_y, 0);
    EXPECT_EQ(g.scale_x, 0.5f);
    EXPECT_EQ(g.scale_y, 0.5f);
    EXPECT_EQ(g.to_image_x(100), 200.f);
    EXPECT_EQ(g.to_image_y(100), 200.f);

    auto c = letterbox_geometry(input_416(ResizeMode::letterbox, LetterboxAlign::center), {832, 624});
    EXPECT_EQ(c.pad_x, 0);
    EXPECT_EQ(c.pad_y, 52);  // (416 − 312) / 2
    EXPECT_EQ(c.to_image_y(52), 0.f);
    EXPECT_EQ(c.to_image_y(152), 200.f);
    EXPECT_EQ(c.to_image_y(364), 624.f);

    // 1200x630: r = 416/1200, 630·r = 218.4 → 218 rows, 198 rows of padding split 99/99; the
    // vertical scale is the realised 218/630, so the bottom edge maps back to exactly 630.
    auto odd = letterbox_geometry(input_416(ResizeMode::letterbox, LetterboxAlign::center), {1200, 630});
    EXPECT_EQ(odd.resized_width, 416);
    EXPECT_EQ(odd.resized_height, 218);
    EXPECT_EQ(odd.pad_y, 99);
    EXPECT_FLOAT_EQ(odd.scale_y, 218.f / 630.f);
    EXPECT_FLOAT_EQ(odd.to_image_y(99 + 218), 630.f);
    EXPECT_FLOAT_EQ(odd.to_image_x(416), 1200.f);

    // An image smaller than the input is scaled up.
    auto up = letterbox_geometry(input_416(ResizeMode::letterbox, LetterboxAlign::center), {208, 104});
    EXPECT_EQ(up.scale_x, 2.f);
    EXPECT_EQ(up.resized_height, 208);
    EXPECT_EQ(up.pad_y, 104);

    auto s = letterbox_geometry(input_416(ResizeMode::stretch), {832, 624});
    EXPECT_EQ(s.pad_x + s.pad_y, 0);
    EXPECT_EQ(s.to_image_x(416), 832.f);
    EXPECT_FLOAT_EQ(s.to_image_y(208), 312.f);
}

TEST(DetectionLetterbox, DecodedBoxesLeaveThePaddingAndAreClipped) {
    auto j = info_json({{"head", "yolov8"}, {"sigmoid_applied", {{"classes", true}}}}, 100, 100);
    j["input"]["resize"]["align"] = "center";
    auto info = parse(j);
    // 200x100 → 100x50 at y = 25..75 of the input.
    auto out = yolov8_tensor({{50, 50, 20, 10, 0, 0.9f},    // inside the image
                              {50, 10, 20, 20, 1, 0.8f},    // entirely in the top padding: dropped
                              {50, 30, 20, 20, 2, 0.7f}});  // straddles the top edge: clipped
    auto detections = decode(info, {{out, {1, 7, 3}}}, {200, 100});
    ASSERT_EQ(detections.size(), 2u);
    expect_box(detections[0], 80, 40, 120, 60);
    EXPECT_EQ(detections[1].label, "c");
    expect_box(detections[1], 80, 0, 120, 30);  // y −10..30 before clipping
}

// ---------------------------------------------------------------------------------------------
// The real yolox_nano description against a naive decoder written from the MANIFEST's recipe.

struct NaiveDetection {
    int label;
    float score, x1, y1, x2, y2;
};

std::vector<NaiveDetection> naive_yolox(const std::vector<float>& out, int classes, float r, int image_w, int image_h,
                                        float score_threshold, float iou_threshold, std::size_t max_detections) {
    std::vector<NaiveDetection> all;
    std::size_t row = 0;
    for (int stride : {8, 16, 32})
        for (int gy = 0; gy < 416 / stride; ++gy)
            for (int gx = 0; gx < 416 / stride; ++gx, ++row) {
                const float* p = out.data() + row * static_cast<std::size_t>(5 + classes);
                int best = 0;
                for (int c = 1; c < classes; ++c)
                    if (p[5 + c] > p[5 + best]) best = c;
                const float score = p[4] * p[5 + best];
                if (score < score_threshold) continue;
                const float cx = (p[0] + static_cast<float>(gx)) * static_cast<float>(stride);
                const float cy = (p[1] + static_cast<float>(gy)) * static_cast<float>(stride);
                const float w = std::exp(p[2]) * static_cast<float>(stride), h = std::exp(p[3]) * static_cast<float>(stride);
                auto clip = [](float v, int hi) { return std::min(std::max(v, 0.f), static_cast<float>(hi)); };
                NaiveDetection d{best, score, clip((cx - w / 2) / r, image_w), clip((cy - h / 2) / r, image_h),
                                 clip((cx + w / 2) / r, image_w), clip((cy + h / 2) / r, image_h)};
                if (d.x2 > d.x1 && d.y2 > d.y1) all.push_back(d);
            }
    std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.score > b.score; });
    std::vector<bool> removed(all.size(), false);
    std::vector<NaiveDetection> kept;
    for (std::size_t i = 0; i < all.size(); ++i) {
        if (removed[i]) continue;
        kept.push_back(all[i]);
        for (std::size_t k = i + 1; k < all.size(); ++k) {
            if (all[k].label != all[i].label) continue;
            const float iw = std::min(all[i].x2, all[k].x2) - std::max(all[i].x1, all[k].x1);
            const float ih = std::min(all[i].y2, all[k].y2) - std::max(all[i].y1, all[k].y1);
            const float inter = std::max(iw, 0.f) * std::max(ih, 0.f);
            const float area_i = (all[i].x2 - all[i].x1) * (all[i].y2 - all[i].y1);
            const float area_k = (all[k].x2 - all[k].x1) * (all[k].y2 - all[k].y1);
            if (inter / (area_i + area_k - inter) > iou_threshold) removed[k] = true;
        }
    }
    if (kept.size() > max_detections) kept.resize(max_detections);
    return kept;
}

TEST(DetectionDecode, YoloxNanoMatchesANaiveDecoderOnRandomOutputs) {
    auto info = load_detection_model_info(XMODAL_SOURCE_DIR "/models/yolox_nano.json");
    const int classes = 80, rows = 3549;
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> unit(0.f, 1.f), offset(-0.5f, 1.5f), log_size(-1.f, 2.5f);
    std::vector<float> out(static_cast<std::size_t>(rows) * (5 + classes));
    for (int a = 0; a < rows; ++a) {
        float* p = out.data() + a * (5 + classes);
        p[0] = offset(rng), p[1] = offset(rng), p[2] = log_size(rng), p[3] = log_size(rng);
        p[4] = std::pow(unit(rng), 6.f);  // mostly background, as real outputs are
        for (int c = 0; c < classes; ++c) p[5 + c] = std::pow(unit(rng), 3.f);
    }
    const HostTensor tensor = HostTensor::from_f32({1, rows, 5 + classes}, out);
    const HostTensor* outputs[] = {&tensor};
    // 768x576 (dog.jpg's size): r = 416/768, realised exactly as 416x312.
    const float r = 416.f / 768.f;
    for (std::size_t cap : {std::size_t{1000}, std::size_t{7}}) {
        DetectionOptions options;
        options.max_detections = cap;
        auto got = decode_detections(info, outputs, 0, {768, 576}, options);
        auto expected = naive_yolox(out, classes, r, 768, 576, 0.3f, 0.45f, cap);
        ASSERT_GT(expected.size(), 5u);  // the test means something only if there are overlaps to resolve
        ASSERT_EQ(got.size(), expected.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
            EXPECT_EQ(got[i].label_id, expected[i].label) << i;
            EXPECT_EQ(got[i].label, info.labels[static_cast<std::size_t>(expected[i].label)]);
            EXPECT_FLOAT_EQ(got[i].confidence, expected[i].score) << i;
            EXPECT_NEAR(got[i].x1, expected[i].x1, 1e-3f) << i;
            EXPECT_NEAR(got[i].y1, expected[i].y1, 1e-3f) << i;
            EXPECT_NEAR(got[i].x2, expected[i].x2, 1e-3f) << i;
            EXPECT_NEAR(got[i].y2, expected[i].y2, 1e-3f) << i;
        }
    }
}

}  // namespace
}  // namespace xmodal

TEST(LabelList, SplitsTrimsAndSkipsEmptyItems) {
    EXPECT_EQ(xmodal::split_label_list(" car, bus ,,person\t"), (std::vector<std::string>{"car", "bus", "person"}));
    EXPECT_EQ(xmodal::split_label_list("traffic light"), (std::vector<std::string>{"traffic light"}));
    EXPECT_TRUE(xmodal::split_label_list("").empty());
    EXPECT_TRUE(xmodal::split_label_list(" , ").empty());
}
