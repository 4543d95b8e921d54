#include "xmodal/object_detector.hpp"

#include <algorithm>
#include <deque>
#include <filesystem>
#include <future>

#include "xmodal/compute_thread.hpp"
#include "xmodal/device.hpp"
#include "xmodal/error.hpp"
#include "xmodal/runtime.hpp"
#include "xmodal/video_preprocess.hpp"

namespace xmodal {

struct ObjectDetector::Impl {
    DetectionModelInfo info;
    std::string model_path;
    DetectionOptions decode_options;
    std::unique_ptr<ModelRunner> runner;
    std::string input_name;
    bool batchable = true;  // false: the model is fixed to batch 1, frames run one by one
    std::vector<std::unique_ptr<DetectionPreprocessor>> preprocessors;  // one per batch slot
    std::vector<float> input;                                           // the batch, model layout
    std::vector<HostTensor> outputs;
    // Per output decode_detections reads (output_tensor_names() order), its index among the
    // model's outputs: resolved once when the detector is made, not per frame.
    std::vector<std::size_t> output_indices;

    // Pipelined batches (submit/collect): each owns its input and outputs while the model runs.
    struct Request {
        std::vector<float> input;
        std::vector<HostTensor> outputs;
        std::vector<ImageSize> images;
        std::vector<std::vector<Detection>> result;  // run and decoded on the compute thread
        std::future<void> done;
        bool busy = false;
    };
    std::vector<std::unique_ptr<Request>> requests;  // max_in_flight of them
    std::deque<Request*> in_flight;                  // submission order

    // Letterboxes and normalises the frames into `input` (one image after the other) and notes
    // their sizes for decoding.
    void preprocess(std::span<const VideoFrameView> frames, std::vector<float>& input, std::vector<ImageSize>& images) {
        while (preprocessors.size() < frames.size()) preprocessors.push_back(std::make_unique<DetectionPreprocessor>(info.input));
        const std::size_t per_image = preprocessors[0]->image_elements();
        input.resize(per_image * frames.size());
        images.clear();
        for (std::size_t i = 0; i < frames.size(); ++i) {
            preprocessors[i]->convert(frames[i], std::span<float>(input).subspan(i * per_image, per_image));
            images.push_back({frames[i].width, frames[i].height});
        }
    }
};

namespace {

void check_unit_interval(float value, const char* name) {
    if (!(value >= 0.f && value <= 1.f)) fail(name, ": expected a value in [0, 1], got ", value);
}

}  // namespace

ObjectDetector::ObjectDetector(const ObjectDetectorOptions& options) : impl_(std::make_unique<Impl>()) {
    check_unit_interval(options.threshold, "threshold");
    check_unit_interval(options.nms_threshold, "nms-threshold");
    if (options.model_info.empty()) fail("model-info: no model description given (a JSON file, see docs/MODEL_INFO.md)");
    Impl& d = *impl_;
    d.info = load_detection_model_info(options.model_info);
    if (!options.labels.empty()) d.info.labels = load_labels_file(options.labels, "labels");
    d.model_path = options.model.empty() ? d.info.model : options.model;
    if (d.model_path.empty())
        fail("model: no model given, and ", d.info.source, " names none (its \"model\" key)");
    if (!std::filesystem::is_regular_file(d.model_path))
        fail("model: file '", d.model_path, "' does not exist or is not a file");
    if (d.info.input.layout != ChannelLayout::nchw && d.info.input.layout != ChannelLayout::nhwc)
        fail(d.info.source, ": input.layout: unsupported");

    d.decode_options.score_threshold = options.threshold;
    d.decode_options.nms_iou_threshold = options.nms_threshold;
    d.decode_options.class_agnostic_nms = options.class_agnostic_nms;
    d.decode_options.max_detections = options.max_detections;
    if (!options.classes.empty()) d.decode_options.class_filter = find_label_ids(d.info, options.classes);

    auto device = Device::open(options.device);
    DataType precision = DataType::f32;
    if (options.precision == PrecisionChoice::bf16 ||
        (options.precision == PrecisionChoice::automatic && device->native_bf16()))
        precision = DataType::bf16;
    d.runner = std::make_unique<ModelRunner>(load_model(d.model_path), device, RuntimeOptions{.precision = precision});

    // The input the description names (or the model's only one), with the declared size.
    const auto& inputs = d.runner->inputs();
    if (d.info.input.tensor.empty()) {
        if (inputs.size() != 1)
            fail(d.info.source, ": input.tensor: the model '", d.model_path, "' has ", inputs.size(),
                 " inputs, so the description must name one");
        d.input_name = inputs[0].name;
    } else {
        d.input_name = d.info.input.tensor;
        bool found = false;
        for (const auto& in : inputs) found = found || in.name == d.input_name;
        if (!found) fail(d.info.source, ": input.tensor: the model '", d.model_path, "' has no input '", d.input_name, "'");
    }

    // decode_detections wants the outputs in the description's order, found by name ("" = the
    // model's k-th output).
    const auto names = d.info.output_tensor_names();
    const auto& graph_outputs = d.runner->outputs();
    for (std::size_t k = 0; k < names.size(); ++k) {
        std::size_t index = k;
        if (!names[k].empty()) {
            index = graph_outputs.size();
            for (std::size_t j = 0; j < graph_outputs.size(); ++j)
                if (graph_outputs[j].name == names[k]) index = j;
        }
        if (index >= graph_outputs.size()) {
            if (names[k].empty()) fail(d.info.source, ": output: the model '", d.model_path, "' has no output #", k);
            fail(d.info.source, ": output: the model '", d.model_path, "' has no output '", names[k], "'");
        }
        d.output_indices.push_back(index);
    }

    // A model exported with a fixed batch of 1 often hard-codes it in later Reshapes too, so a
    // bigger batch would run but mix images; such models get their frames one at a time.
    for (const auto& in : inputs)
        if (in.name == d.input_name && !in.shape.empty() && in.shape[0].known() && in.shape[0].value == 1)
            d.batchable = false;

    // One run on a blank frame now builds the batch-1 plan and checks the model's outputs against
    // the description (label count, strides), so a mismatch is reported when the detector is made
    // (the element's state change), not on the first frame.
    const int w = d.info.input.width, h = d.info.input.height;
    std::vector<std::uint8_t> blank(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3, 114);
    VideoFrameView frame;
    frame.format = PixelFormat::rgb, frame.width = w, frame.height = h;
    frame.planes[0] = blank.data(), frame.strides[0] = w * 3;
    detect(std::span<const VideoFrameView>(&frame, 1));
}

ObjectDetector::~ObjectDetector() {
    // Queued runs use this detector's buffers and model: let them finish first.
    if (impl_)
        for (auto* request : impl_->in_flight)
            if (request->done.valid()) request->done.wait();
}

const DetectionModelInfo& ObjectDetector::info() const { return impl_->info; }
const std::string& ObjectDetector::model_path() const { return impl_->model_path; }
bool ObjectDetector::batchable() const { return impl_->batchable; }
std::string ObjectDetector::precision_name() const { return std::string(dtype_name(impl_->runner->precision())); }

std::vector<std::vector<Detection>> ObjectDetector::detect(std::span<const VideoFrameView> frames) {
    // Preprocessing splits rows over OpenMP threads: it runs where the model runs, so the process
    // keeps one OpenMP pool (compute_thread.hpp).
    if (!on_compute_thread()) {
        std::vector<std::vector<Detection>> result;
        run_on_compute_thread([&] { result = detect(frames); });
        return result;
    }
    Impl& d = *impl_;
    if (frames.empty()) return {};
    std::vector<ImageSize> images;
    d.preprocess(frames, d.input, images);
    return run_and_decode(d.input, images, d.outputs);
}

std::vector<std::vector<Detection>> ObjectDetector::run_and_decode(const std::vector<float>& input,
                                                                   const std::vector<ImageSize>& images,
                                                                   std::vector<HostTensor>& outputs) {
    Impl& d = *impl_;
    const std::int64_t h = d.info.input.height, w = d.info.input.width;
    const std::size_t per_image = input.size() / images.size();
    // A model whose input is fixed to batch 1 runs the images one by one.
    const std::size_t per_run = d.batchable ? images.size() : 1;
    const auto b = static_cast<std::int64_t>(per_run);
    const Shape shape = d.info.input.layout == ChannelLayout::nchw ? Shape{b, 3, h, w} : Shape{b, h, w, 3};
    std::vector<std::vector<Detection>> result;
    for (std::size_t first = 0; first < images.size(); first += per_run) {
        d.runner->run({{d.input_name, TensorView{DataType::f32, shape, input.data() + first * per_image}}}, outputs);
        const std::vector<ImageSize> run_images(images.begin() + static_cast<std::ptrdiff_t>(first),
                                                images.begin() + static_cast<std::ptrdiff_t>(first + per_run));
        for (auto& objects : decode_batch(outputs, run_images)) result.push_back(std::move(objects));
    }
    return result;
}

std::vector<std::vector<Detection>> ObjectDetector::decode_batch(const std::vector<HostTensor>& outputs,
                                                                 const std::vector<ImageSize>& images) const {
    const Impl& d = *impl_;
    std::vector<const HostTensor*> ordered;
    for (std::size_t index : d.output_indices) ordered.push_back(&outputs[index]);
    // f32 outputs are read in place; others (f16/bf16 models) go through the converting overload.
    const bool all_f32 = std::all_of(ordered.begin(), ordered.end(), [](const HostTensor* t) { return t->dtype == DataType::f32; });
    std::vector<OutputTensorView> views;
    if (all_f32)
        for (const HostTensor* t : ordered)
            views.push_back({std::span<const float>(reinterpret_cast<const float*>(t->bytes.data()), static_cast<std::size_t>(t->numel())),
                             t->shape});
    std::vector<std::vector<Detection>> result(images.size());
    for (std::size_t i = 0; i < images.size(); ++i)
        result[i] = all_f32 ? decode_detections(d.info, views, static_cast<std::int64_t>(i), images[i], d.decode_options)
                            : decode_detections(d.info, ordered, static_cast<std::int64_t>(i), images[i], d.decode_options);
    return result;
}

void ObjectDetector::set_max_in_flight(int batches) {
    Impl& d = *impl_;
    if (batches < 1) fail("detector: max in flight must be 1 or more, got ", batches);
    if (!d.in_flight.empty()) fail("detector: cannot change max in flight with ", d.in_flight.size(), " batches in flight");
    d.requests.resize(static_cast<std::size_t>(batches));
    for (auto& r : d.requests)
        if (!r) r = std::make_unique<Impl::Request>();
}

std::size_t ObjectDetector::in_flight() const { return impl_->in_flight.size(); }

void ObjectDetector::submit(std::span<const VideoFrameView> frames) {
    Impl& d = *impl_;
    if (frames.empty()) fail("detector: submit() needs at least one frame");
    if (d.requests.empty()) set_max_in_flight(1);
    Impl::Request* request = nullptr;
    for (auto& r : d.requests)
        if (!r->busy) request = r.get();
    if (request == nullptr)
        fail("detector: ", d.in_flight.size(), " batches already in flight (the maximum); collect() one first");

    // Preprocess here, on the caller's thread (one thread: an OpenMP region off the compute
    // thread would start a second pool), while the compute thread runs earlier batches; the run
    // and the decoding happen there.
    d.preprocess(frames, request->input, request->images);
    request->busy = true;
    request->done = post_to_compute_thread(
        [this, request] { request->result = run_and_decode(request->input, request->images, request->outputs); });
    d.in_flight.push_back(request);
}

std::vector<std::vector<Detection>> ObjectDetector::collect() {
    Impl& d = *impl_;
    if (d.in_flight.empty()) fail("detector: collect() with no batch in flight");
    Impl::Request* request = d.in_flight.front();
    d.in_flight.pop_front();
    request->busy = false;
    request->done.get();  // rethrows the run's error
    return std::move(request->result);
}

}  // namespace xmodal
