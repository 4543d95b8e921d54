// The model runtime on the real models in ../shared/models, against a reference runtime (OpenCV
// DNN, Debian's libopencv-dnn) on the same input tensors, and against the figures in the
// models' MANIFEST.
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "support/opencv_letterbox.hpp"
#include "support/yamnet_expectations.hpp"
#include "xmodal/audio_file.hpp"
#include "xmodal/detection.hpp"
#include "xmodal/onnx_loader.hpp"
#include "xmodal/runtime.hpp"
#include "xmodal/shared_paths.hpp"
#include "xmodal/voice_activity.hpp"

namespace {

using xmodal::DataType;
using xmodal::HostTensor;

std::string shared(const std::string& rel) { return xmodal::shared_file(rel); }

bool have(const std::string& path) { return std::filesystem::exists(path); }

std::vector<float> opencv_run(const std::string& model, const HostTensor& input) {
    cv::dnn::Net net = cv::dnn::readNetFromONNX(model);
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    std::vector<int> dims(input.shape.begin(), input.shape.end());
    auto values = input.to_f32();
    cv::Mat blob(static_cast<int>(dims.size()), dims.data(), CV_32F, values.data());
    net.setInput(blob);
    cv::Mat out = net.forward();
    return std::vector<float>(out.ptr<float>(), out.ptr<float>() + out.total());
}

struct ManifestDetection {
    const char* label;
    float score;
    float box[4];  // x1, y1, x2, y2 in original pixels
};

struct YoloxCase {
    const char* image;
    std::vector<ManifestDetection> manifest;  // shared/models/MANIFEST.md, "Verified detections"
};

class YoloxVsOpenCV : public ::testing::TestWithParam<YoloxCase> {};

// Raw output against OpenCV DNN on the same tensor; decoded detections against the committed
// golden (made from OpenCV DNN by tools/golden/make-goldens.sh) and the MANIFEST's figures.
TEST_P(YoloxVsOpenCV, RawOutputAndDetections) {
    const YoloxCase& c = GetParam();
    std::string model = shared("models/yolox_nano.onnx"), image = shared(std::string("media/") + c.image);
    if (!have(model) || !have(image)) GTEST_SKIP() << "needs " << model << " and " << image;
    // MANIFEST preprocessing (BGR, bilinear letterbox top-left on 114, CHW 0..255) from the shipped description.
    auto info = xmodal::load_detection_model_info(std::string(XMODAL_SOURCE_DIR) + "/models/yolox_nano.json");
    cv::Mat photo = cv::imread(image, cv::IMREAD_COLOR);
    ASSERT_FALSE(photo.empty()) << "cannot read " << image;
    HostTensor input = HostTensor::from_f32({1, 3, 416, 416}, xmodal::testing::opencv_letterbox_chw(photo, info.input));
    auto reference = opencv_run(model, input);

    xmodal::ModelRunner runner(xmodal::load_onnx(model), xmodal::Device::open("cpu"));
    auto outputs = runner.run({{"images", input}});
    ASSERT_EQ(outputs.size(), 1u);
    EXPECT_EQ(outputs[0].shape, (xmodal::Shape{1, 3549, 85}));
    auto ours = outputs[0].to_f32();
    ASSERT_EQ(ours.size(), reference.size());
    double max_diff = 0;
    std::size_t worst = 0;
    for (std::size_t i = 0; i < ours.size(); ++i) {
        double d = std::abs(static_cast<double>(ours[i]) - reference[i]);
        if (d > max_diff) max_diff = d, worst = i;
    }
    EXPECT_LE(max_diff, 1e-3) << "at " << worst << " (anchor " << worst / 85 << ", channel " << worst % 85 << "): ours " << ours[worst]
                              << ", OpenCV " << reference[worst];
    std::printf("[ yolox %s ] max |ours - OpenCV| = %.3g\n", c.image, max_diff);

    // Steady state: a second run with the same shapes builds no plan.
    runner.run({{"images", input}});
    EXPECT_EQ(runner.stats().plans_built, 1u);

    xmodal::DetectionOptions options;
    options.class_agnostic_nms = true;
    const HostTensor* out = &outputs[0];
    auto detections = xmodal::decode_detections(info, std::span<const HostTensor* const>(&out, 1), 0, {photo.cols, photo.rows}, options);

    std::string stem = std::string(c.image).substr(0, std::string(c.image).find('.'));
    std::ifstream golden_file(std::string(XMODAL_SOURCE_DIR) + "/tests/golden/yolox_nano_" + stem + ".json");
    ASSERT_TRUE(golden_file) << "missing golden for " << c.image;
    auto golden = nlohmann::json::parse(golden_file)["detections"];
    ASSERT_EQ(detections.size(), golden.size());
    for (std::size_t i = 0; i < detections.size(); ++i) {
        const auto& d = detections[i];
        const auto& g = golden[i];
        EXPECT_EQ(d.label, g["label"].get<std::string>()) << "detection " << i;
        EXPECT_NEAR(d.confidence, g["confidence"].get<double>(), 0.01) << "detection " << i;
        float box[4] = {d.x1, d.y1, d.x2, d.y2};
        for (int k = 0; k < 4; ++k) EXPECT_NEAR(box[k], g["box"][k].get<double>(), 2.0) << "detection " << i << " coordinate " << k;
    }
    for (const auto& m : c.manifest) {
        auto it = std::find_if(detections.begin(), detections.end(), [&](const xmodal::Detection& d) {
            return d.label == m.label && std::abs(d.confidence - m.score) <= 0.01f && std::abs(d.x1 - m.box[0]) <= 2 && std::abs(d.y1 - m.box[1]) <= 2 &&
                   std::abs(d.x2 - m.box[2]) <= 2 && std::abs(d.y2 - m.box[3]) <= 2;
        });
        EXPECT_NE(it, detections.end()) << "MANIFEST detection " << m.label << " " << m.score << " not found";
    }
}

INSTANTIATE_TEST_SUITE_P(
    Images, YoloxVsOpenCV,
    ::testing::Values(YoloxCase{"dog.jpg", {{"dog", 0.855f, {133, 207, 326, 543}}, {"bicycle", 0.803f, {52, 137, 572, 424}}, {"car", 0.798f, {466, 78, 693, 171}}}},
                      YoloxCase{"street_nyc_bus_taxi.jpg",
                                {{"bus", 0.915f, {390, 92, 735, 325}}, {"car", 0.875f, {320, 225, 482, 339}},
                                 {"person", 0.798f, {738, 214, 824, 490}}, {"truck", 0.749f, {869, 112, 1202, 349}}}},
                      YoloxCase{"street_intersection_1080p.jpg", {{"car", 0.780f, {1643, 758, 1917, 1030}}, {"bus", 0.726f, {372, 382, 636, 842}}}}),
    [](const auto& info) { return std::string(info.param.image).substr(0, std::string(info.param.image).find('.')); });

// ---- Silero VAD, streaming with state: MANIFEST counts of 32 ms chunks with p > 0.5 ----
struct VadCase {
    const char* model;
    const char* clip;
    int expected_speech_chunks;  // MANIFEST (onnxruntime 1.30)
    int total_chunks;
};

class SileroStreaming : public ::testing::TestWithParam<VadCase> {};

TEST_P(SileroStreaming, SpeechChunkCountsMatchTheManifest) {
    const VadCase& c = GetParam();
    std::string model = shared(std::string("models/") + c.model), clip = shared(std::string("media/") + c.clip);
    if (!have(model) || !have(clip)) GTEST_SKIP() << "needs " << model << " and " << clip;
    auto samples = xmodal::decode_audio_file(clip, 16000);
    xmodal::VoiceActivity vad(model, 16000);
    int speech = 0, chunks = 0;
    float max_p = 0;
    for (std::size_t at = 0; at + vad.chunk_samples() <= samples.size(); at += vad.chunk_samples(), ++chunks) {
        float p = vad.process(std::span<const float>(samples.data() + at, vad.chunk_samples()));
        speech += p > 0.5f;
        max_p = std::max(max_p, p);
    }
    std::printf("[ silero %s %s ] %d of %d chunks with p > 0.5 (MANIFEST %d of %d), max p %.3f\n", c.model, c.clip, speech, chunks,
                c.expected_speech_chunks, c.total_chunks, max_p);
    EXPECT_NEAR(chunks, c.total_chunks, 1);
    EXPECT_NEAR(speech, c.expected_speech_chunks, 2);
}

INSTANTIATE_TEST_SUITE_P(Clips, SileroStreaming,
                         ::testing::Values(VadCase{"silero_vad.onnx", "speech_librivox_austen_0870.wav", 204, 221},
                                           VadCase{"silero_vad.onnx", "speech_jfk_inaugural.wav", 233, 343},
                                           VadCase{"silero_vad.onnx", "street_scene_traffic_45s.wav", 0, 1406},
                                           VadCase{"silero_vad_op18_ifless.onnx", "speech_librivox_austen_0870.wav", 204, 221},
                                           VadCase{"silero_vad_op18_ifless.onnx", "speech_jfk_inaugural.wav", 233, 343},
                                           VadCase{"silero_vad_op18_ifless.onnx", "street_scene_traffic_45s.wav", 0, 1406}),
                         [](const auto& info) {
                             std::string name = std::string(info.param.model).find("ifless") != std::string::npos ? "ifless_" : "if_";
                             std::string clip = info.param.clip;
                             name += clip.substr(0, clip.find('.'));
                             for (auto& ch : name)
                                 if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                             return name;
                         });

// ---- YAMNet (TFLite, int8 weights): 0.975 s windows, hop 0.48 s, scores per class ----
using xmodal::testing::YamnetCase;

class YamnetClips : public ::testing::TestWithParam<YamnetCase> {};

TEST_P(YamnetClips, ScoresMatchTheManifest) {
    const YamnetCase& c = GetParam();
    std::string model = shared("models/yamnet.tflite"), clip = shared(std::string("media/") + c.clip);
    if (!have(model) || !have(clip)) GTEST_SKIP() << "needs " << model << " and " << clip;
    auto samples = xmodal::decode_audio_file(clip, 16000);
    xmodal::ModelRunner runner(xmodal::load_model(model), xmodal::Device::open("cpu"));
    constexpr std::size_t window = 15600, hop = 7680;
    if (samples.size() < window) samples.resize(window, 0.f);  // short clips: one zero-padded window
    xmodal::testing::YamnetSummary summary;
    std::vector<HostTensor> outputs;
    for (std::size_t at = 0; at + window <= samples.size(); at += hop) {
        xmodal::TensorView in{DataType::f32, {1, static_cast<std::int64_t>(window)}, samples.data() + at};
        runner.run({{"input_1", in}}, outputs);
        auto scores = outputs[0].to_f32();
        ASSERT_EQ(scores.size(), 521u);
        summary.add(scores);
    }
    summary.finish();
    std::printf("[ yamnet %s ] %d windows, top class %d (mean %.3f)", c.clip, summary.windows, summary.top,
                summary.mean[static_cast<std::size_t>(summary.top)]);
    for (const auto& s : c.scores)
        std::printf("; %s %s %.3f (MANIFEST %.2f)", s.label, s.max_over_windows ? "max" : "mean", summary.value(s), s.expected);
    std::printf("\n");
    if (c.top_class >= 0) {
        EXPECT_EQ(summary.top, c.top_class);
    }
    for (const auto& s : c.scores) EXPECT_NEAR(summary.value(s), s.expected, xmodal::testing::yamnet_tolerance) << s.label;
}

INSTANTIATE_TEST_SUITE_P(Clips, YamnetClips, ::testing::ValuesIn(xmodal::testing::yamnet_cases()), [](const auto& info) {
    std::string clip = info.param.clip;
    return clip.substr(0, clip.find('.'));
});

}  // namespace
