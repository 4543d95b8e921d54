// Object detection on raw video frames: a model-info description (detection.hpp) + its model on
// the runtime (runtime.hpp) + libswscale preprocessing (video_preprocess.hpp) + decoding and NMS.
// This is everything xmdetect does; the element only maps properties, buffers and metas to it.
//
//   xmodal::ObjectDetector detector({.model_info = "models/yolox_nano.json"});
//   auto per_frame = detector.detect(frames);  // one vector of Detection per frame
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "xmodal/detection.hpp"
#include "xmodal/video_frame.hpp"

namespace xmodal {

enum class PrecisionChoice : std::uint8_t { f32, bf16, automatic };  // automatic: bf16 where native

struct HostTensor;

struct ObjectDetectorOptions {
    std::string model;       // weights (.onnx/.tflite); "" = the "model" of the model-info file
    std::string model_info;  // the JSON description (docs/MODEL_INFO.md); required
    std::string labels;      // labels file overriding the description's labels; "" = keep
    std::string device = "cpu";
    PrecisionChoice precision = PrecisionChoice::automatic;
    float threshold = 0.3f;      // confidence to keep a detection
    float nms_threshold = 0.45f; // IoU above which the lower-scored box is suppressed
    bool class_agnostic_nms = true;  // one object seen as "car" and "truck" is reported once
    std::vector<std::string> classes;  // label names to keep; empty = all
    std::size_t max_detections = 300;
};

class ObjectDetector {
public:
    // Loads and checks everything up front; throws xmodal::Error naming the file, property or
    // tensor: missing model or model-info, invalid description, labels count not matching the
    // model's output, unknown class names, a device that does not exist, thresholds out of [0, 1].
    explicit ObjectDetector(const ObjectDetectorOptions& options);
    ~ObjectDetector();
    ObjectDetector(const ObjectDetector&) = delete;
    ObjectDetector& operator=(const ObjectDetector&) = delete;

    const DetectionModelInfo& info() const;
    const std::string& model_path() const;
    std::string precision_name() const;  // what actually runs: "f32" or "bf16"
    bool batchable() const;              // false: the model takes one image per run

    // Runs the frames as one batch (any count >= 1; frames may differ in size and format). A model
    // whose input is declared with a fixed batch of 1 runs them one after the other instead.
    std::vector<std::vector<Detection>> detect(std::span<const VideoFrameView> frames);

    // Pipelined use (xmdetect's nireq): submit() preprocesses the frames on the calling thread —
    // they may be released once it returns — and queues the model run on the compute thread
    // without waiting for it (the compute thread runs and decodes it); collect() waits for the
    // oldest submitted batch and returns its objects. So the next frames are converted while the model runs the current
    // ones. At most max_in_flight batches may wait uncollected (more is an error). One caller
    // at a time; do not mix with detect() while batches are in flight.
    void set_max_in_flight(int batches);
    void submit(std::span<const VideoFrameView> frames);
    std::vector<std::vector<Detection>> collect();
    std::size_t in_flight() const;

private:
    std::vector<std::vector<Detection>> decode_batch(const std::vector<HostTensor>& outputs,
                                                     const std::vector<ImageSize>& images) const;
    // Runs the model on preprocessed images (one run per image when the model is fixed to batch
    // 1) and decodes each image's objects. On the compute thread.
    std::vector<std::vector<Detection>> run_and_decode(const std::vector<float>& input, const std::vector<ImageSize>& images,
                                                       std::vector<HostTensor>& outputs);
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace xmodal
