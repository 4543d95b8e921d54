// Object detectors described by data instead of code: a "model-info" JSON file says how to prepare
// the input (size, layout, colours, normalisation, letterbox) and how to read the outputs (head
// kind, strides/anchors, which scores are already sigmoided, labels). A new detector of a known
// head family then needs a JSON file, not a custom parser. docs/MODEL_INFO.md is the schema.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "xmodal/safetensors.hpp"
#include "xmodal/tensor.hpp"

namespace xmodal {

inline constexpr const char* detection_model_info_format = "xmodal-detection-model-info";
inline constexpr int detection_model_info_version = 1;

enum class ChannelLayout : std::uint8_t { nchw, nhwc };
enum class ColorOrder : std::uint8_t { bgr, rgb };
enum class ResizeMode : std::uint8_t { letterbox, stretch };
enum class LetterboxAlign : std::uint8_t { top_left, center };
enum class DetectionHead : std::uint8_t { yolox, yolov5, yolov8, ssd };
enum class BoxOrder : std::uint8_t { y1x1y2x2, x1y1x2y2 };
enum class BoxUnits : std::uint8_t { normalized, pixels };

struct DetectionInputInfo {
    std::string tensor;  // "" = the model's only input
    int width = 0, height = 0;
    ChannelLayout layout = ChannelLayout::nchw;
    ColorOrder color_order = ColorOrder::rgb;
    // value = (pixel - mean[c]) * scale[c], pixel in 0..255, c in the model's channel order
    // (color_order). A JSON "std" is stored here as scale = 1 / std.
    std::array<float, 3> mean{0.f, 0.f, 0.f};
    std::array<float, 3> scale{1.f, 1.f, 1.f};
    ResizeMode resize = ResizeMode::letterbox;
    LetterboxAlign align = LetterboxAlign::top_left;  // letterbox only
    std::array<float, 3> pad_value{0.f, 0.f, 0.f};    // letterbox only; pixel value (0..255) of the padding
};

// Where a grid head's anchor point sits: cell (x, y) of the feature map with this stride, and for
// YOLOv5 raw outputs the anchor box size in input pixels.
struct AnchorPoint {
    float grid_x = 0.f, grid_y = 0.f, stride = 0.f;
    float anchor_w = 0.f, anchor_h = 0.f;
};

struct DetectionOutputInfo {
    DetectionHead head = DetectionHead::yolox;
    std::string tensor;         // yolox/yolov5/yolov8: "" = the model's only output
    std::string boxes_tensor;   // ssd: "" = the model's first output
    std::string scores_tensor;  // ssd: "" = the model's second output
    std::vector<int> strides;   // yolox; yolov5 with raw boxes
    // yolov5 with raw boxes: per stride, the (w, h) anchor sizes in input pixels.
    std::vector<std::vector<std::array<float, 2>>> anchors;
    bool boxes_decoded = true;  // yolov5: false = raw logits decoded with the grid and anchors
    bool objectness_sigmoid_applied = true;  // yolox/yolov5
    bool classes_sigmoid_applied = true;
    BoxOrder box_order = BoxOrder::y1x1y2x2;     // ssd
    BoxUnits box_units = BoxUnits::normalized;   // ssd; normalized = fractions of the input size
    int background_class = -1;                   // ssd; -1 = none
    // Derived when loading (yolox; yolov5 raw): one entry per row of the output, in output order.
    std::vector<AnchorPoint> anchor_points;
};

struct DetectionModelInfo {
    std::string source;       // the JSON file (or the name given for a string), for messages
    std::string description;  // free text, optional
    std::string model;        // resolved path of the weights ("" if not given); not checked to exist
    DetectionInputInfo input;
    DetectionOutputInfo output;
    std::vector<std::string> labels;  // labels[i] names class column i of the output

    // The output tensors decode_detections expects, in its order: {tensor} or {boxes, scores}.
    std::vector<std::string> output_tensor_names() const;
};

// Throws xmodal::Error naming the file, the field (e.g. "output.strides") and what was expected:
// malformed JSON, wrong format or version, unknown keys, wrong types or values, a missing or empty
// labels file. Relative paths ("labels", "model") are resolved against the JSON file's folder, a
// path starting with "$XMODAL_SHARED/" against xmodal::shared_dir().
DetectionModelInfo load_detection_model_info(const std::string& path);
// Same from JSON text; `source` names it in messages, relative paths resolve against `base_dir`.
DetectionModelInfo parse_detection_model_info(const std::string& json_text, const std::string& source,
                                              const std::string& base_dir = ".");

// How the image was placed in the model input, and back: input = image * scale + pad, per axis.
// For letterbox, scale_x and scale_y are the ratio r = min(W / w, H / h) as realised by whole-pixel
// resized sizes (round(w * r), round(h * r)), so they can differ from r (and each other) by less
// than a pixel's worth; using the realised ratio undoes the resize exactly.
struct LetterboxGeometry {
    int resized_width = 0, resized_height = 0;  // the image's size inside the model input
    int pad_x = 0, pad_y = 0;                   // where it starts (top-left corner), input pixels
    float scale_x = 1.f, scale_y = 1.f;         // input pixels per image pixel

    float to_image_x(float input_x) const { return (input_x - static_cast<float>(pad_x)) / scale_x; }
    float to_image_y(float input_y) const { return (input_y - static_cast<float>(pad_y)) / scale_y; }
};

struct ImageSize {
    int width = 0, height = 0;
};

LetterboxGeometry letterbox_geometry(const DetectionInputInfo& input, ImageSize image);

// Intersection over union of two boxes given by corners (0 when either is empty). NMS, the
// tracker and the MOT evaluator all use this one definition.
float corner_iou(float ax1, float ay1, float ax2, float ay2, float bx1, float by1, float bx2, float by2);

struct Detection {
    int label_id = 0;
    std::string label;
    float confidence = 0.f;
    float x1 = 0.f, y1 = 0.f, x2 = 0.f, y2 = 0.f;  // original image pixels, clipped to the image
};

struct DetectionOptions {
    float score_threshold = 0.3f;    // keep score >= threshold
    float nms_iou_threshold = 0.45f; // suppress a lower-scored box of the same class with IoU > threshold
    std::size_t max_detections = 100;
    std::vector<int> class_filter;   // label ids to report; empty = all
    // Suppress overlapping boxes whatever their classes (YOLOX's demo and OpenCV's NMSBoxes over
    // all boxes do this): one object seen as "car" and "truck" is reported once.
    bool class_agnostic_nms = false;
};

// One dense row-major f32 output tensor in host memory (not owned).
struct OutputTensorView {
    std::span<const float> values;
    Shape shape;

    // Views a CPU tensor's memory; throws unless it is dense f32.
    static OutputTensorView of(const Tensor& tensor);
};

// Decodes image `batch_index` of the outputs (in output_tensor_names() order) into detections in
// `image` pixels: per anchor the best class (score = objectness x class score where the head has
// objectness), score threshold, class filter, mapping back through the letterbox, clipping,
// greedy per-class NMS; sorted by confidence, highest first, at most options.max_detections.
// Throws xmodal::Error naming the model-info file and the tensor if shapes do not match the info.
std::vector<Detection> decode_detections(const DetectionModelInfo& info, std::span<const OutputTensorView> outputs,
                                         std::int64_t batch_index, ImageSize image, const DetectionOptions& options);
// Same for host tensors of any floating dtype (converted to f32, so it copies).
std::vector<Detection> decode_detections(const DetectionModelInfo& info, std::span<const HostTensor* const> outputs,
                                         std::int64_t batch_index, ImageSize image, const DetectionOptions& options);

// A labels file: one label per line, line i names class i (empty lines are errors: they would
// shift every following class). Errors start with `who` (e.g. "xmdetect0: labels").
std::vector<std::string> load_labels_file(const std::string& path, const std::string& who);

// A comma-separated list of labels ("car, bus,person"), as the elements' `classes` properties
// take it: items trimmed of blanks, empty items skipped.
std::vector<std::string> split_label_list(std::string_view text);

// Label ids for label names (e.g. a "classes=car,bus" property); throws naming an unknown name.
std::vector<int> find_label_ids(const DetectionModelInfo& info, const std::vector<std::string>& names);

}  // namespace xmodal
