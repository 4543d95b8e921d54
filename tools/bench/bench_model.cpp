// xmodal-bench model: yolox_nano at 416x416, batch 1 and 4 — xmodal's runtime in f32 and bf16
// against OpenCV DNN (Debian's libopencv-dnn, its default CPU backend) on the same input tensor
// and thread count, measured round-robin in the same run so the ratios see the same machine.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <random>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "support/opencv_letterbox.hpp"
#include "xmodal/error.hpp"
#include "xmodal/runtime.hpp"
#include "xmodal/shared_paths.hpp"

namespace {

using namespace xmodal;

// The MANIFEST's preprocessing of a real photo (models/yolox_nano.json: letterbox top-left on 114,
// BGR, CHW, 0..255), repeated `batch` times; random pixels where the photo is missing.
std::vector<float> yolox_batch(int batch) {
    std::vector<float> one(3 * 416 * 416);
    cv::Mat image = cv::imread(shared_file("media/dog.jpg"), cv::IMREAD_COLOR);
    if (image.empty()) {
        std::mt19937 rng(7);
        std::uniform_real_distribution<float> pixel(0.f, 255.f);
        for (auto& v : one) v = std::round(pixel(rng));
    } else {
        DetectionInputInfo input;
        input.width = input.height = 416;
        input.color_order = ColorOrder::bgr;
        input.pad_value = {114.f, 114.f, 114.f};
        one = testing::opencv_letterbox_chw(image, input);
    }
    std::vector<float> all;
    for (int b = 0; b < batch; ++b) all.insert(all.end(), one.begin(), one.end());
    return all;
}

}  // namespace

int model_command(int argc, char** argv) {
    int reps = 15;
    std::string model = shared_file("models/yolox_nano.onnx");
    for (int i = 0; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--reps" && i + 1 < argc) reps = std::max(1, std::atoi(argv[++i]));
        else if (a == "--model" && i + 1 < argc) model = argv[++i];
        else fail("xmodal-bench model: unknown argument '", a, "' (expected --reps N, --model PATH)");
    }
    if (!std::filesystem::exists(model)) fail("xmodal-bench model: ", model, " not found (set XMODAL_SHARED)");
    int threads = omp_get_max_threads();
    cv::setNumThreads(threads);
    auto device = Device::open("cpu");

    for (int batch : {1, 4}) {
        std::vector<float> input = yolox_batch(batch);
        TensorView view{DataType::f32, {batch, 3, 416, 416}, input.data()};

        cv::dnn::Net net = cv::dnn::readNetFromONNX(model);
        net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
        net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
        int dims[] = {batch, 3, 416, 416};
        cv::Mat blob(4, dims, CV_32F, input.data());
        cv::Mat opencv_out;

        ModelRunner f32(load_model(model), device, {.precision = DataType::f32});
        ModelRunner bf16(load_model(model), device, {.precision = DataType::bf16});
        std::vector<HostTensor> out_f32, out_bf16;

        struct Candidate {
            const char* runtime;
            std::string dtype;
            std::function<void()> run;
            std::vector<double> ms;
        };
        std::vector<Candidate> candidates = {
            {"opencv-dnn", "f32", [&] { net.setInput(blob); opencv_out = net.forward(); }, {}},
            {"xmodal", "f32", [&] { f32.run({{"images", view}}, out_f32); }, {}},
            {"xmodal", std::string(dtype_name(bf16.precision())), [&] { bf16.run({{"images", view}}, out_bf16); }, {}},
        };
        for (auto& c : candidates) c.run(), c.run();  // warm-up: plans, primitives, first touch
        for (int r = 0; r < reps; ++r)
            for (auto& c : candidates) {
                auto t0 = std::chrono::steady_clock::now();
                c.run();
                c.ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
            }
        // Agreement on this input, so a fast wrong answer cannot pass unnoticed.
        auto ours = out_f32[0].to_f32();
        double max_diff = 0;
        for (std::size_t i = 0; i < ours.size() && i < opencv_out.total(); ++i)
            max_diff = std::max<double>(max_diff, std::abs(ours[i] - opencv_out.ptr<float>()[i]));
        double reference_ms = 0;
        for (auto& c : candidates) {
            std::sort(c.ms.begin(), c.ms.end());
            double median = c.ms[c.ms.size() / 2];
            if (std::string(c.runtime) == "opencv-dnn") reference_ms = median;
            nlohmann::json j = {{"model", std::filesystem::path(model).filename().string()}, {"runtime", c.runtime}, {"dtype", c.dtype},
                                {"batch", batch}, {"ms", median}, {"fps", 1000.0 * batch / median}, {"threads", threads}, {"reps", reps}};
            if (std::string(c.runtime) != "opencv-dnn") j["speedup_vs_opencv"] = reference_ms / median;
            if (c.dtype == "f32" && std::string(c.runtime) == "xmodal") j["max_abs_diff_vs_opencv"] = max_diff;
            std::printf("%s\n", j.dump().c_str());
            std::fflush(stdout);
        }
    }
    return 0;
}
