// xmodal-golden: writes the reference detections our tests compare against, from OpenCV DNN (the
// reference runtime) — never from xmodal's own runtime, so the goldens can catch its errors.
//
//   xmodal-golden yolox MODEL_INFO.json IMAGE > tests/golden/yolox_nano_<image>.json
//
// Preprocessing is the MANIFEST's (OpenCV bilinear resize, letterbox per the model-info file),
// decoding and NMS are libxmodal's decoder with thresholds 0.3 / 0.45, class-agnostic NMS. Regenerate with
// tools/golden/make-goldens.sh after changing the decoder or the model description.
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "support/opencv_letterbox.hpp"
#include "xmodal/detection.hpp"
#include "xmodal/error.hpp"

int main(int argc, char** argv) {
    if (argc != 4 || std::string(argv[1]) != "yolox") {
        std::fprintf(stderr, "usage: xmodal-golden yolox MODEL_INFO.json IMAGE\n");
        return 2;
    }
    try {
        auto info = xmodal::load_detection_model_info(argv[2]);
        cv::Mat image = cv::imread(argv[3], cv::IMREAD_COLOR);
        if (image.empty()) xmodal::fail(argv[3], ": cannot read the image");
        xmodal::ImageSize size{image.cols, image.rows};
        auto chw = xmodal::testing::opencv_letterbox_chw(image, info.input);
        int dims[] = {1, 3, info.input.height, info.input.width};
        cv::Mat blob(4, dims, CV_32F, chw.data());
        cv::dnn::Net net = cv::dnn::readNetFromONNX(info.model);
        net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
        net.setInput(blob);
        cv::Mat out = net.forward();
        xmodal::OutputTensorView view{{out.ptr<float>(), out.total()}, {out.size[0], out.size[1], out.size[2]}};
        // Class-agnostic NMS, as the MANIFEST's verified detections (and YOLOX's own demo) use.
        xmodal::DetectionOptions options;
        options.class_agnostic_nms = true;
        auto detections = xmodal::decode_detections(info, std::span<const xmodal::OutputTensorView>(&view, 1), 0, size, options);
        nlohmann::json j;
        j["image"] = std::filesystem::path(argv[3]).filename().string();
        j["model"] = std::filesystem::path(info.model).filename().string();
        j["reference"] = std::string("OpenCV DNN ") + CV_VERSION;
        j["score_threshold"] = 0.3;
        j["nms_iou_threshold"] = 0.45;
        j["class_agnostic_nms"] = true;
        j["detections"] = nlohmann::json::array();
        for (const auto& d : detections)
            j["detections"].push_back({{"label", d.label}, {"label_id", d.label_id}, {"confidence", std::round(double(d.confidence) * 1e4) / 1e4},
                                       {"box", {std::round(double(d.x1) * 10) / 10, std::round(double(d.y1) * 10) / 10, std::round(double(d.x2) * 10) / 10, std::round(double(d.y2) * 10) / 10}}});
        std::printf("%s\n", j.dump().c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "xmodal-golden: %s\n", e.what());
        return 1;
    }
}
