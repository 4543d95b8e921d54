#include "xmodal/detection.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "xmodal/error.hpp"
#include "xmodal/shared_paths.hpp"

namespace xmodal {
namespace {

using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Reading the JSON: every message is "<source>: <field>: expected <what>, got <value as JSON>".

std::string join(const auto& items, const char* separator) {
    std::ostringstream os;
    bool first = true;
    for (const auto& item : items) {
        os << (first ? "" : separator) << item;
        first = false;
    }
    return os.str();
}

// One JSON object of the model-info, with its dotted field path ("input.resize") for messages.
// Constructing it rejects keys outside `known`, so a typo is an error instead of a silent default.
class Object {
public:
    Object(const json& value, std::string field, const std::string& source, const std::vector<const char*>& known)
        : value_(value), field_(std::move(field)), source_(source) {
        if (!value.is_object()) fail(where(), "expected a JSON object, got ", value.dump());
        for (const auto& [key, _] : value.items()) {
            bool is_known = false;
            for (const char* k : known) is_known = is_known || key == k;
            if (!is_known)
                fail(where(), "unknown key ", json(key).dump(), " (expected one of: ", join(known, ", "), ")");
        }
    }

    const std::string& source() const { return source_; }
    std::string field(const char* key) const { return field_.empty() ? key : field_ + "." + key; }
    // "<source>: " or "<source>: <field>: "
    std::string where() const { return source_ + ": " + (field_.empty() ? "" : field_ + ": "); }

    const json* find(const char* key) const {
        auto it = value_.find(key);
        return it == value_.end() ? nullptr : &*it;
    }
    const json& require(const char* key, const std::string& expected) const {
        const json* v = find(key);
        if (!v) fail(source_, ": ", field(key), ": missing, expected ", expected);
        return *v;
    }

private:
    const json& value_;
    std::string field_;
    const std::string& source_;
};

[[noreturn]] void bad(const Object& o, const char* key, const std::string& expected, const json& got) {
    fail(o.source(), ": ", o.field(key), ": expected ", expected, ", got ", got.dump());
}

// Optional strings (tensor names, description) default to "".
std::string read_optional_string(const Object& o, const char* key) {
    const json* v = o.find(key);
    if (!v) return "";
    if (!v->is_string()) bad(o, key, "a string", *v);
    return v->get<std::string>();
}

bool read_bool(const Object& o, const char* key) {
    const json& v = o.require(key, "true or false");
    if (!v.is_boolean()) bad(o, key, "true or false", v);
    return v.get<bool>();
}

int read_input_size(const Object& o, const char* key) {
    const char* expected = "a positive integer up to 65536";
    const json& v = o.require(key, expected);
    if (!v.is_number_integer() || v.get<std::int64_t>() <= 0 || v.get<std::int64_t>() > 1 << 16) bad(o, key, expected, v);
    return v.get<int>();
}

template <class E>
using Choices = std::initializer_list<std::pair<const char*, E>>;

template <class E>
std::string describe_choices(Choices<E> choices) {
    std::vector<std::string> quoted;
    for (const auto& [name, _] : choices) quoted.push_back(json(name).dump());
    return "one of " + join(quoted, ", ");
}

template <class E>
E read_choice(const Object& o, const char* key, Choices<E> choices) {
    const std::string expected = describe_choices(choices);
    const json& v = o.require(key, expected);
    if (v.is_string())
        for (const auto& [name, value] : choices)
            if (v.get<std::string>() == name) return value;
    bad(o, key, expected, v);
}

template <class E>
E read_choice(const Object& o, const char* key, Choices<E> choices, E fallback) {
    return o.find(key) ? read_choice(o, key, choices) : fallback;
}

// Reads the key that decides which other keys belong to an object (output.head, input.resize.mode),
// ahead of the object's unknown-key check.
template <class E>
E read_discriminator(const json& value, const std::string& field, const std::string& source, const char* key,
                     Choices<E> choices) {
    if (!value.is_object()) fail(source, ": ", field, ": expected a JSON object, got ", value.dump());
    json only = json::object();
    if (auto it = value.find(key); it != value.end()) only[key] = *it;
    return read_choice(Object(only, field, source, {key}), key, choices);
}

// A number for all three channels, or a list of three; `accept` checks each value.
template <class Accept>
std::array<float, 3> read_channels(const Object& o, const char* key, const std::string& what, Accept accept,
                                   std::array<float, 3> fallback) {
    const json* v = o.find(key);
    if (!v) return fallback;
    const std::string expected = what + " or a list of 3 of them (one per channel, in color_order)";
    auto value = [&](const json& x) {
        if (!x.is_number() || !std::isfinite(x.get<double>()) || !accept(x.get<double>())) bad(o, key, expected, *v);
        return x.get<float>();
    };
    if (v->is_number()) {
        float x = value(*v);
        return {x, x, x};
    }
    if (!v->is_array() || v->size() != 3) bad(o, key, expected, *v);
    return {value((*v)[0]), value((*v)[1]), value((*v)[2])};
}

std::vector<int> read_strides(const Object& o) {
    const char* expected = "a non-empty list of positive integers";
    const json& v = o.require("strides", expected);
    if (!v.is_array() || v.empty()) bad(o, "strides", expected, v);
    std::vector<int> strides;
    for (const auto& s : v) {
        if (!s.is_number_integer() || s.get<std::int64_t>() <= 0 || s.get<std::int64_t>() > 4096)
            bad(o, "strides", expected, v);
        strides.push_back(s.get<int>());
    }
    return strides;
}

std::vector<std::vector<std::array<float, 2>>> read_anchors(const Object& o, std::size_t levels) {
    const std::string expected = "one list of [w, h] anchor sizes (positive input pixels) per stride, " +
                                 std::to_string(levels) + " lists";
    const json& v = o.require("anchors", expected);
    if (!v.is_array() || v.size() != levels) bad(o, "anchors", expected, v);
    std::vector<std::vector<std::array<float, 2>>> anchors;
    for (const auto& level : v) {
        if (!level.is_array() || level.empty()) bad(o, "anchors", expected, v);
        auto& sizes = anchors.emplace_back();
        for (const auto& wh : level) {
            if (!wh.is_array() || wh.size() != 2) bad(o, "anchors", expected, v);
            for (const auto& x : wh)
                if (!x.is_number() || !(x.get<double>() > 0) || !std::isfinite(x.get<double>()))
                    bad(o, "anchors", expected, v);
            sizes.push_back({wh[0].get<float>(), wh[1].get<float>()});
        }
    }
    return anchors;
}

// "$XMODAL_SHARED/x" -> shared_dir()/x; absolute paths stay; relative ones join base_dir.
std::string resolve_path(const Object& o, const char* key, const std::string& value, const std::string& base_dir) {
    const std::string shared_prefix = "$XMODAL_SHARED/";
    if (value.rfind(shared_prefix, 0) == 0) return shared_dir() + "/" + value.substr(shared_prefix.size());
    if (value.empty() || value[0] == '$')
        bad(o, key, "a path (absolute, relative to the model-info file, or starting with \"$XMODAL_SHARED/\")",
            json(value));
    std::filesystem::path p(value);
    return p.is_absolute() ? value : (std::filesystem::path(base_dir) / p).string();
}

std::vector<std::string> read_labels_file(const Object& o, const std::string& path) {
    return load_labels_file(path, o.source() + ": labels");
}

std::vector<std::string> read_labels(const Object& o, const std::string& base_dir) {
    const char* expected = "a non-empty list of label strings, or the path of a labels file (one label per line)";
    const json& v = o.require("labels", expected);
    if (v.is_string()) return read_labels_file(o, resolve_path(o, "labels", v.get<std::string>(), base_dir));
    if (!v.is_array() || v.empty()) bad(o, "labels", expected, v);
    std::vector<std::string> labels;
    for (const auto& label : v) {
        if (!label.is_string() || label.get<std::string>().empty()) bad(o, "labels", expected, v);
        labels.push_back(label.get<std::string>());
    }
    return labels;
}

DetectionInputInfo read_input(const Object& top) {
    Object o(top.require("input", "an object"), "input", top.source(),
             {"tensor", "width", "height", "layout", "color_order", "dtype", "mean", "scale", "std", "resize"});
    DetectionInputInfo in;
    in.tensor = read_optional_string(o, "tensor");
    in.width = read_input_size(o, "width");
    in.height = read_input_size(o, "height");
    in.layout = read_choice<ChannelLayout>(o, "layout", {{"NCHW", ChannelLayout::nchw}, {"NHWC", ChannelLayout::nhwc}},
                                           ChannelLayout::nchw);
    in.color_order = read_choice<ColorOrder>(o, "color_order", {{"BGR", ColorOrder::bgr}, {"RGB", ColorOrder::rgb}});
    if (const json* dtype = o.find("dtype"); dtype && *dtype != "f32")
        bad(o, "dtype", "\"f32\" (the only input type of version 1)", *dtype);
    in.mean = read_channels(o, "mean", "a number", [](double) { return true; }, {0.f, 0.f, 0.f});
    if (o.find("scale") && o.find("std"))
        fail(o.where(), "give either \"scale\" (value = (pixel - mean) * scale) or \"std\" (value = (pixel - mean) / std), not both");
    in.scale = read_channels(o, "scale", "a non-zero number", [](double x) { return x != 0; }, {1.f, 1.f, 1.f});
    if (o.find("std")) {
        auto std_dev = read_channels(o, "std", "a positive number", [](double x) { return x > 0; }, {1.f, 1.f, 1.f});
        for (int c = 0; c < 3; ++c) in.scale[c] = 1.f / std_dev[c];
    }

    const json& resize = o.require("resize", "an object with \"mode\": \"letterbox\" or \"stretch\"");
    in.resize = read_discriminator<ResizeMode>(resize, "input.resize", top.source(), "mode",
                                               {{"letterbox", ResizeMode::letterbox}, {"stretch", ResizeMode::stretch}});
    if (in.resize == ResizeMode::letterbox) {
        Object r(resize, "input.resize", top.source(), {"mode", "align", "pad_value"});
        in.align = read_choice<LetterboxAlign>(r, "align", {{"top-left", LetterboxAlign::top_left},
                                                            {"center", LetterboxAlign::center}});
        const std::string pixel = "a pixel value 0..255";
        r.require("pad_value", pixel);
        in.pad_value = read_channels(r, "pad_value", pixel, [](double x) { return x >= 0 && x <= 255; }, {0.f, 0.f, 0.f});
    } else {
        Object only_mode(resize, "input.resize", top.source(), {"mode"});  // stretch takes no other key
    }
    return in;
}

// A bound on grid rows, so a typo (stride 1 on a large input) is an error, not gigabytes of table.
constexpr std::int64_t max_anchor_points = std::int64_t{1} << 24;

// Grid heads need whole cells: the feature map of stride s is (width / s) x (height / s).
void check_strides_divide(const Object& o, const std::vector<int>& strides, const DetectionInputInfo& in) {
    for (int s : strides)
        if (in.width % s != 0 || in.height % s != 0)
            fail(o.source(), ": output.strides: stride ", s, " does not divide the input size ", in.width, "x",
                 in.height, " (each stride's grid must have whole cells)");
}

DetectionOutputInfo read_output(const Object& top, const DetectionInputInfo& in) {
    const json& value = top.require("output", "an object");
    const Choices<DetectionHead> heads{{"yolox", DetectionHead::yolox}, {"yolov5", DetectionHead::yolov5},
                                       {"yolov8", DetectionHead::yolov8}, {"ssd", DetectionHead::ssd}};
    DetectionOutputInfo out;
    out.head = read_discriminator(value, "output", top.source(), "head", heads);
    const bool raw_boxes =
        out.head == DetectionHead::yolov5 &&
        !read_discriminator<bool>(value, "output", top.source(), "boxes", {{"decoded", true}, {"raw", false}});

    auto keys = [&]() -> std::vector<const char*> {
        switch (out.head) {
            case DetectionHead::yolox: return {"head", "tensor", "strides", "sigmoid_applied"};
            case DetectionHead::yolov5:
                if (raw_boxes) return {"head", "tensor", "boxes", "strides", "anchors", "sigmoid_applied"};
                return {"head", "tensor", "boxes", "sigmoid_applied"};
            case DetectionHead::yolov8: return {"head", "tensor", "sigmoid_applied"};
            case DetectionHead::ssd:
                return {"head", "boxes_tensor", "scores_tensor", "box_order", "box_units", "background_class",
                        "sigmoid_applied"};
        }
        return {};
    }();
    Object o(value, "output", top.source(), keys);

    const bool has_objectness = out.head == DetectionHead::yolox || out.head == DetectionHead::yolov5;
    {
        const json& flags = o.require("sigmoid_applied", has_objectness
                                                             ? "an object {\"objectness\": bool, \"classes\": bool}"
                                                             : "an object {\"classes\": bool}");
        Object f(flags, "output.sigmoid_applied", top.source(),
                 has_objectness ? std::vector<const char*>{"objectness", "classes"} : std::vector<const char*>{"classes"});
        if (has_objectness) out.objectness_sigmoid_applied = read_bool(f, "objectness");
        out.classes_sigmoid_applied = read_bool(f, "classes");
    }

    if (out.head == DetectionHead::ssd) {
        out.boxes_tensor = read_optional_string(o, "boxes_tensor");
        out.scores_tensor = read_optional_string(o, "scores_tensor");
        out.box_order = read_choice<BoxOrder>(o, "box_order", {{"y1x1y2x2", BoxOrder::y1x1y2x2},
                                                               {"x1y1x2y2", BoxOrder::x1y1x2y2}});
        out.box_units = read_choice<BoxUnits>(o, "box_units", {{"normalized", BoxUnits::normalized},
                                                               {"pixels", BoxUnits::pixels}});
        if (const json* bg = o.find("background_class")) {
            if (!bg->is_number_integer() || bg->get<std::int64_t>() < 0 || bg->get<std::int64_t>() > 1 << 20)
                bad(o, "background_class", "a class index (integer >= 0)", *bg);
            out.background_class = bg->get<int>();
        }
        return out;
    }

    out.tensor = read_optional_string(o, "tensor");
    out.boxes_decoded = !raw_boxes;
    if (out.head == DetectionHead::yolox || raw_boxes) {
        out.strides = read_strides(o);
        check_strides_divide(o, out.strides, in);
        if (raw_boxes) out.anchors = read_anchors(o, out.strides.size());
        std::int64_t points = 0;
        for (std::size_t level = 0; level < out.strides.size(); ++level)
            points += std::int64_t{in.width / out.strides[level]} * (in.height / out.strides[level]) *
                      static_cast<std::int64_t>(raw_boxes ? out.anchors[level].size() : 1);
        if (points > max_anchor_points)
            fail(o.source(), ": output.strides: ", points, " anchor points at ", in.width, "x", in.height,
                 " is more than a detector produces (at most ", max_anchor_points, ")");
        // Output rows: strides in order; YOLOv5 then anchors of that stride; then row-major cells.
        for (std::size_t level = 0; level < out.strides.size(); ++level) {
            const int s = out.strides[level];
            const std::size_t anchors_here = raw_boxes ? out.anchors[level].size() : 1;
            for (std::size_t a = 0; a < anchors_here; ++a)
                for (int y = 0; y < in.height / s; ++y)
                    for (int x = 0; x < in.width / s; ++x) {
                        AnchorPoint p{static_cast<float>(x), static_cast<float>(y), static_cast<float>(s), 0.f, 0.f};
                        if (raw_boxes) p.anchor_w = out.anchors[level][a][0], p.anchor_h = out.anchors[level][a][1];
                        out.anchor_points.push_back(p);
                    }
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding.

float sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }

struct Candidate {
    float x1, y1, x2, y2;  // image pixels, clipped
    float score;
    int label_id;
};

float iou(const Candidate& a, const Candidate& b) { return corner_iou(a.x1, a.y1, a.x2, a.y2, b.x1, b.y1, b.x2, b.y2); }

std::string tensor_label(const std::string& name, std::size_t index) {
    return name.empty() ? "output #" + std::to_string(index) : "output '" + name + "'";
}

const char* head_name(DetectionHead head) {
    switch (head) {
        case DetectionHead::yolox: return "yolox";
        case DetectionHead::yolov5: return "yolov5";
        case DetectionHead::yolov8: return "yolov8";
        case DetectionHead::ssd: return "ssd";
    }
    return "?";
}

// Checks one output's shape against [N, d1, d2] (-1 = any size) and returns it.
const OutputTensorView& check_output(const DetectionModelInfo& info, std::span<const OutputTensorView> outputs,
                                     std::size_t index, std::array<std::int64_t, 2> dims, const std::string& why) {
    const auto names = info.output_tensor_names();
    const OutputTensorView& t = outputs[index];
    std::int64_t numel = 1;
    for (auto d : t.shape) numel *= d;
    if (numel != static_cast<std::int64_t>(t.values.size()))
        fail(info.source, ": ", tensor_label(names[index], index), " has shape ", shape_string(t.shape), " but ",
             t.values.size(), " values");
    const bool ok = t.shape.size() == 3 && t.shape[0] > 0 && (dims[0] < 0 || t.shape[1] == dims[0]) &&
                    (dims[1] < 0 || t.shape[2] == dims[1]);
    if (!ok) {
        auto dim = [](std::int64_t d) { return d < 0 ? std::string("?") : std::to_string(d); };
        fail(info.source, ": ", tensor_label(names[index], index), " has shape ", shape_string(t.shape), ", expected [N,",
             dim(dims[0]), ",", dim(dims[1]), "] for head ", head_name(info.output.head), ": ", why);
    }
    return t;
}

}  // namespace

// One label per line; line i names class i, so an empty line (other than a final newline) is an
// error: it would shift every following class.
std::vector<std::string> load_labels_file(const std::string& path, const std::string& who) {
    std::ifstream in(path);
    if (!in) fail(who, ": cannot open labels file '", path, "'");
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        const auto first = line.find_first_not_of(" \t\r");
        const auto last = line.find_last_not_of(" \t\r");
        lines.push_back(first == std::string::npos ? "" : line.substr(first, last - first + 1));
    }
    if (lines.empty()) fail(who, ": labels file '", path, "' is empty");
    for (std::size_t i = 0; i < lines.size(); ++i)
        if (lines[i].empty())
            fail(who, ": labels file '", path, "' line ", i + 1,
                 " is empty (each line names the next class id, so an empty line would shift all that follow)");
    return lines;
}

float corner_iou(float ax1, float ay1, float ax2, float ay2, float bx1, float by1, float bx2, float by2) {
    const float w = std::min(ax2, bx2) - std::max(ax1, bx1);
    const float h = std::min(ay2, by2) - std::max(ay1, by1);
    if (w <= 0 || h <= 0) return 0.f;
    const float inter = w * h;
    const float uni = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter;
    return uni > 0 ? inter / uni : 0.f;
}

std::vector<std::string> DetectionModelInfo::output_tensor_names() const {
    if (output.head == DetectionHead::ssd) return {output.boxes_tensor, output.scores_tensor};
    return {output.tensor};
}

DetectionModelInfo parse_detection_model_info(const std::string& json_text, const std::string& source,
                                              const std::string& base_dir) {
    json j;
    try {
        j = json::parse(json_text);
    } catch (const json::exception& e) {
        fail(source, ": not valid JSON: ", e.what());
    }
    if (!j.is_object()) fail(source, ": expected a JSON object at the top level, got ", j.dump());

    // Format and version first: a newer file's new keys should read as a version mismatch.
    if (!j.contains("format"))
        fail(source, ": format: missing, expected \"", detection_model_info_format, "\"");
    if (j["format"] != detection_model_info_format)
        fail(source, ": format: expected \"", detection_model_info_format, "\", got ", j["format"].dump());
    if (!j.contains("version")) fail(source, ": version: missing, expected ", detection_model_info_version);
    if (j["version"] != detection_model_info_version)
        fail(source, ": version: this build reads version ", detection_model_info_version, " of ",
             detection_model_info_format, ", got ", j["version"].dump());

    Object top(j, "", source, {"format", "version", "description", "model", "input", "output", "labels"});
    DetectionModelInfo info;
    info.source = source;
    info.description = read_optional_string(top, "description");
    if (const json* model = top.find("model")) {
        if (!model->is_string()) bad(top, "model", "a path", *model);
        info.model = resolve_path(top, "model", model->get<std::string>(), base_dir);
    }
    info.input = read_input(top);
    info.output = read_output(top, info.input);
    info.labels = read_labels(top, base_dir);
    if (info.output.background_class >= static_cast<int>(info.labels.size()))
        fail(source, ": output.background_class: expected a class index below the ", info.labels.size(),
             " labels, got ", info.output.background_class);
    return info;
}

DetectionModelInfo load_detection_model_info(const std::string& path) {
    std::ifstream in(path);
    if (!in) fail("cannot open detection model info '", path, "'");
    std::stringstream text;
    text << in.rdbuf();
    std::string base_dir = std::filesystem::path(path).parent_path().string();
    return parse_detection_model_info(text.str(), path, base_dir.empty() ? "." : base_dir);
}

LetterboxGeometry letterbox_geometry(const DetectionInputInfo& input, ImageSize image) {
    if (image.width <= 0 || image.height <= 0)
        fail("letterbox_geometry: image size ", image.width, "x", image.height, " is not positive");
    LetterboxGeometry g;
    if (input.resize == ResizeMode::stretch) {
        g.resized_width = input.width;
        g.resized_height = input.height;
    } else {
        const double r = std::min(static_cast<double>(input.width) / image.width,
                                  static_cast<double>(input.height) / image.height);
        g.resized_width = std::clamp(static_cast<int>(std::lround(image.width * r)), 1, input.width);
        g.resized_height = std::clamp(static_cast<int>(std::lround(image.height * r)), 1, input.height);
        if (input.align == LetterboxAlign::center) {
            g.pad_x = (input.width - g.resized_width) / 2;
            g.pad_y = (input.height - g.resized_height) / 2;
        }
    }
    g.scale_x = static_cast<float>(g.resized_width) / static_cast<float>(image.width);
    g.scale_y = static_cast<float>(g.resized_height) / static_cast<float>(image.height);
    return g;
}

OutputTensorView OutputTensorView::of(const Tensor& tensor) {
    if (tensor.dtype() != DataType::f32 || !tensor.is_dense())
        fail("OutputTensorView: expected a dense f32 tensor, got ", tensor.describe());
    return {std::span<const float>(tensor.data_as<const float>(), static_cast<std::size_t>(tensor.numel())),
            tensor.shape()};
}

std::vector<Detection> decode_detections(const DetectionModelInfo& info, std::span<const OutputTensorView> outputs,
                                         std::int64_t batch_index, ImageSize image, const DetectionOptions& options) {
    const auto& out = info.output;
    const std::size_t expected_outputs = out.head == DetectionHead::ssd ? 2 : 1;
    if (outputs.size() != expected_outputs)
        fail(info.source, ": head ", head_name(out.head), " decodes ", expected_outputs, " output tensor(s), got ",
             outputs.size());
    if (!(options.score_threshold >= 0.f && options.score_threshold <= 1.f))
        fail(info.source, ": score threshold ", options.score_threshold, " is outside [0, 1]");
    if (!(options.nms_iou_threshold >= 0.f && options.nms_iou_threshold <= 1.f))
        fail(info.source, ": NMS IoU threshold ", options.nms_iou_threshold, " is outside [0, 1]");

    const auto classes = static_cast<std::int64_t>(info.labels.size());
    std::vector<char> wanted(info.labels.size(), options.class_filter.empty() ? 1 : 0);
    for (int id : options.class_filter) {
        if (id < 0 || id >= classes)
            fail(info.source, ": class filter id ", id, " is not a label id (0..", classes - 1, ")");
        wanted[static_cast<std::size_t>(id)] = 1;
    }

    const LetterboxGeometry geometry = letterbox_geometry(info.input, image);
    const float threshold = options.score_threshold;
    const auto image_w = static_cast<float>(image.width), image_h = static_cast<float>(image.height);
    std::vector<Candidate> candidates;
    // Boxes arrive in model-input pixels; map them through the letterbox, clip, and drop the ones
    // left without area (entirely in the padding, or NaN).
    auto add = [&](float x1, float y1, float x2, float y2, float score, int label_id) {
        if (!wanted[static_cast<std::size_t>(label_id)]) return;
        Candidate c{std::clamp(geometry.to_image_x(x1), 0.f, image_w), std::clamp(geometry.to_image_y(y1), 0.f, image_h),
                    std::clamp(geometry.to_image_x(x2), 0.f, image_w), std::clamp(geometry.to_image_y(y2), 0.f, image_h),
                    score, label_id};
        if (c.x2 > c.x1 && c.y2 > c.y1) candidates.push_back(c);
    };
    auto check_batch = [&](const OutputTensorView& t) {
        if (batch_index < 0 || batch_index >= t.shape[0])
            fail(info.source, ": batch index ", batch_index, " is outside the outputs' batch of ", t.shape[0]);
    };

    switch (out.head) {
        case DetectionHead::yolox:
        case DetectionHead::yolov5: {
            const bool grid = out.head == DetectionHead::yolox || !out.boxes_decoded;
            std::ostringstream why;
            if (grid)
                why << out.anchor_points.size() << " anchor points for strides " << join(out.strides, ",") << " at "
                    << info.input.width << "x" << info.input.height << ", ";
            why << "5 + " << classes << " labels";
            const auto& t = check_output(info, outputs, 0,
                                         {grid ? static_cast<std::int64_t>(out.anchor_points.size()) : -1, 5 + classes},
                                         why.str());
            check_batch(t);
            const std::int64_t rows = t.shape[1], row_size = t.shape[2];
            const float* base = t.values.data() + batch_index * rows * row_size;
            for (std::int64_t a = 0; a < rows; ++a) {
                const float* p = base + a * row_size;
                // Class scores are at most 1, so score <= objectness: most rows end here.
                const float objectness = out.objectness_sigmoid_applied ? p[4] : sigmoid(p[4]);
                if (!(objectness >= threshold)) continue;
                const float* class_scores = p + 5;
                const auto best = std::max_element(class_scores, class_scores + classes) - class_scores;
                const float class_score = out.classes_sigmoid_applied ? class_scores[best] : sigmoid(class_scores[best]);
                const float score = objectness * class_score;
                if (!(score >= threshold)) continue;
                float cx, cy, w, h;
                if (out.head == DetectionHead::yolox) {
                    const AnchorPoint& g = out.anchor_points[static_cast<std::size_t>(a)];
                    cx = (p[0] + g.grid_x) * g.stride;
                    cy = (p[1] + g.grid_y) * g.stride;
                    w = std::exp(p[2]) * g.stride;
                    h = std::exp(p[3]) * g.stride;
                } else if (!out.boxes_decoded) {
                    // YOLOv5's Detect layer: xy = (2 sigmoid(t) - 0.5 + cell) * stride, wh = (2 sigmoid(t))^2 * anchor.
                    const AnchorPoint& g = out.anchor_points[static_cast<std::size_t>(a)];
                    cx = (2.f * sigmoid(p[0]) - 0.5f + g.grid_x) * g.stride;
                    cy = (2.f * sigmoid(p[1]) - 0.5f + g.grid_y) * g.stride;
                    const float sw = 2.f * sigmoid(p[2]), sh = 2.f * sigmoid(p[3]);
                    w = sw * sw * g.anchor_w;
                    h = sh * sh * g.anchor_h;
                } else {
                    cx = p[0], cy = p[1], w = p[2], h = p[3];
                }
                add(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, score, static_cast<int>(best));
            }
            break;
        }
        case DetectionHead::yolov8: {
            const auto& t = check_output(info, outputs, 0, {4 + classes, -1},
                                         "4 box values + " + std::to_string(classes) + " labels, then the anchors");
            check_batch(t);
            const std::int64_t anchors = t.shape[2];
            const float* base = t.values.data() + batch_index * (4 + classes) * anchors;
            // Channels are rows of `anchors` values: walk class rows so reads stay contiguous.
            std::vector<float> best_score(base + 4 * anchors, base + 5 * anchors);
            std::vector<int> best_class(static_cast<std::size_t>(anchors), 0);
            for (std::int64_t c = 1; c < classes; ++c) {
                const float* row = base + (4 + c) * anchors;
                for (std::int64_t a = 0; a < anchors; ++a)
                    if (row[a] > best_score[static_cast<std::size_t>(a)])
                        best_score[static_cast<std::size_t>(a)] = row[a], best_class[static_cast<std::size_t>(a)] = static_cast<int>(c);
            }
            for (std::int64_t a = 0; a < anchors; ++a) {
                const auto i = static_cast<std::size_t>(a);
                const float score = out.classes_sigmoid_applied ? best_score[i] : sigmoid(best_score[i]);
                if (!(score >= threshold)) continue;
                const float cx = base[a], cy = base[anchors + a], w = base[2 * anchors + a], h = base[3 * anchors + a];
                add(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, score, best_class[i]);
            }
            break;
        }
        case DetectionHead::ssd: {
            const auto& boxes = check_output(info, outputs, 0, {-1, 4}, "K boxes of 4 coordinates");
            const auto& scores = check_output(info, outputs, 1, {boxes.shape[1], classes},
                                              "one row of " + std::to_string(classes) + " label scores per box");
            if (scores.shape[0] != boxes.shape[0])
                fail(info.source, ": ssd boxes batch ", boxes.shape[0], " differs from scores batch ", scores.shape[0]);
            check_batch(boxes);
            const std::int64_t count = boxes.shape[1];
            const float* box_base = boxes.values.data() + batch_index * count * 4;
            const float* score_base = scores.values.data() + batch_index * count * classes;
            const float unit_x = out.box_units == BoxUnits::normalized ? static_cast<float>(info.input.width) : 1.f;
            const float unit_y = out.box_units == BoxUnits::normalized ? static_cast<float>(info.input.height) : 1.f;
            for (std::int64_t k = 0; k < count; ++k) {
                const float* s = score_base + k * classes;
                std::int64_t best = -1;
                for (std::int64_t c = 0; c < classes; ++c)
                    if (c != out.background_class && (best < 0 || s[c] > s[best])) best = c;
                if (best < 0) continue;  // the only class is the background
                const float score = out.classes_sigmoid_applied ? s[best] : sigmoid(s[best]);
                if (!(score >= threshold)) continue;
                const float* b = box_base + k * 4;
                const bool yx = out.box_order == BoxOrder::y1x1y2x2;
                add((yx ? b[1] : b[0]) * unit_x, (yx ? b[0] : b[1]) * unit_y, (yx ? b[3] : b[2]) * unit_x,
                    (yx ? b[2] : b[3]) * unit_y, score, static_cast<int>(best));
            }
            break;
        }
    }

    // Greedy NMS per class (or over all classes when class-agnostic), all classes in one pass by descending score: a box survives unless a
    // kept box of its class overlaps it by more than the threshold. Walking in global score order
    // lets the cap stop the pass early with the same result as NMS-then-truncate.
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
    std::vector<std::vector<std::size_t>> kept_by_class(info.labels.size());
    std::vector<Detection> detections;
    for (std::size_t i = 0; i < candidates.size() && detections.size() < options.max_detections; ++i) {
        const Candidate& c = candidates[i];
        auto& kept = kept_by_class[options.class_agnostic_nms ? 0 : static_cast<std::size_t>(c.label_id)];
        bool suppressed = false;
        for (std::size_t k : kept)
            if (iou(candidates[k], c) > options.nms_iou_threshold) {
                suppressed = true;
                break;
            }
        if (suppressed) continue;
        kept.push_back(i);
        detections.push_back({c.label_id, info.labels[static_cast<std::size_t>(c.label_id)], c.score, c.x1, c.y1, c.x2, c.y2});
    }
    return detections;
}

std::vector<Detection> decode_detections(const DetectionModelInfo& info, std::span<const HostTensor* const> outputs,
                                         std::int64_t batch_index, ImageSize image, const DetectionOptions& options) {
    std::vector<std::vector<float>> values;
    std::vector<OutputTensorView> views;
    values.reserve(outputs.size());
    for (const HostTensor* t : outputs) {
        values.push_back(t->to_f32());
        views.push_back({values.back(), t->shape});
    }
    return decode_detections(info, views, batch_index, image, options);
}

std::vector<std::string> split_label_list(std::string_view text) {
    std::vector<std::string> names;
    while (!text.empty()) {
        const auto comma = text.find(',');
        std::string_view item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        const auto first = item.find_first_not_of(" \t");
        if (first != std::string_view::npos) names.emplace_back(item.substr(first, item.find_last_not_of(" \t") - first + 1));
    }
    return names;
}

std::vector<int> find_label_ids(const DetectionModelInfo& info, const std::vector<std::string>& names) {
    std::vector<int> ids;
    for (const auto& name : names) {
        auto it = std::find(info.labels.begin(), info.labels.end(), name);
        if (it == info.labels.end())
            fail(info.source, ": no label \"", name, "\" (labels: ", join(info.labels, ", "), ")");
        ids.push_back(static_cast<int>(it - info.labels.begin()));
    }
    return ids;
}

}  // namespace xmodal
