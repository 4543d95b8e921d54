// Detection on raw video frames: libswscale preprocessing against OpenCV's letterbox (the
// reference the goldens were made with), YUV formats against a naive BT.601/BT.709 conversion,
// and ObjectDetector's detections on the staged photos against the runtime's goldens.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "support/opencv_letterbox.hpp"
#include "xmodal/error.hpp"
#include "xmodal/object_detector.hpp"
#include "xmodal/shared_paths.hpp"
#include "xmodal/video_preprocess.hpp"

namespace {

using xmodal::PixelFormat;
using xmodal::VideoFrameView;

const std::string model_info_path = std::string(XMODAL_SOURCE_DIR) + "/models/yolox_nano.json";

bool have(const std::string& path) { return std::filesystem::exists(path); }

// The shipped YOLOX-Nano description, f32, with one change applied.
xmodal::ObjectDetectorOptions yolox_options(const std::function<void(xmodal::ObjectDetectorOptions&)>& change = {}) {
    xmodal::ObjectDetectorOptions options;
    options.model_info = model_info_path;
    options.precision = xmodal::PrecisionChoice::f32;
    if (change) change(options);
    return options;
}

VideoFrameView packed_view(cv::Mat& image, PixelFormat format) {
    VideoFrameView v;
    v.format = format, v.width = image.cols, v.height = image.rows;
    v.planes[0] = image.data, v.strides[0] = static_cast<int>(image.step);
    return v;
}

struct Diff {
    double max = 0, mean = 0;
};
Diff compare(const std::vector<float>& a, std::span<const float> b) {
    Diff d;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double e = std::abs(static_cast<double>(a[i]) - b[i]);
        d.max = std::max(d.max, e), d.mean += e;
    }
    d.mean /= static_cast<double>(a.size());
    return d;
}

// A smooth synthetic picture (gradients and discs) in RGB, so subsampled chroma loses little.
cv::Mat synthetic_rgb(int width, int height) {
    cv::Mat rgb(height, width, CV_8UC3);
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            const double dx = x - width * 0.4, dy = y - height * 0.6;
            const bool disc = dx * dx + dy * dy < (height * 0.2) * (height * 0.2);
            rgb.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>(disc ? 200 : 255 * x / width),
                                                static_cast<uchar>(disc ? 40 : 255 * y / height),
                                                static_cast<uchar>(disc ? 90 : 128));
        }
    return rgb;
}

// Naive RGB -> limited-range YUV (Kr/Kb of BT.601 or BT.709), chroma averaged over 2x2 blocks.
struct Yuv420 {
    std::vector<std::uint8_t> y, u, v, uv;
    int width, height, cw, ch;
};
Yuv420 to_yuv420(const cv::Mat& rgb, bool bt709) {
    const double kr = bt709 ? 0.2126 : 0.299, kb = bt709 ? 0.0722 : 0.114, kg = 1 - kr - kb;
    Yuv420 out{{}, {}, {}, {}, rgb.cols, rgb.rows, (rgb.cols + 1) / 2, (rgb.rows + 1) / 2};
    out.y.resize(static_cast<std::size_t>(rgb.cols) * rgb.rows);
    std::vector<double> cb(out.y.size()), cr(out.y.size());
    for (int y = 0; y < rgb.rows; ++y)
        for (int x = 0; x < rgb.cols; ++x) {
            const auto p = rgb.at<cv::Vec3b>(y, x);
            const double r = p[0] / 255.0, g = p[1] / 255.0, b = p[2] / 255.0;
            const double luma = kr * r + kg * g + kb * b;
            const std::size_t i = static_cast<std::size_t>(y) * rgb.cols + x;
            out.y[i] = static_cast<std::uint8_t>(std::lround(16 + 219 * luma));
            cb[i] = (b - luma) / (2 * (1 - kb)), cr[i] = (r - luma) / (2 * (1 - kr));
        }
    for (int y = 0; y < out.ch; ++y)
        for (int x = 0; x < out.cw; ++x) {
            double su = 0, sv = 0;
            int n = 0;
            for (int yy = 2 * y; yy < std::min(2 * y + 2, rgb.rows); ++yy)
                for (int xx = 2 * x; xx < std::min(2 * x + 2, rgb.cols); ++xx, ++n) {
                    su += cb[static_cast<std::size_t>(yy) * rgb.cols + xx], sv += cr[static_cast<std::size_t>(yy) * rgb.cols + xx];
                }
            const auto u = static_cast<std::uint8_t>(std::lround(128 + 224 * su / n));
            const auto v = static_cast<std::uint8_t>(std::lround(128 + 224 * sv / n));
            out.u.push_back(u), out.v.push_back(v), out.uv.push_back(u), out.uv.push_back(v);
        }
    return out;
}

// libswscale's letterbox equals OpenCV's (INTER_LINEAR) up to small resampling differences.
TEST(DetectionPreprocessor, MatchesOpenCVLetterboxOnPhotos) {
    auto info = xmodal::load_detection_model_info(model_info_path);
    for (const char* name : {"dog.jpg", "street_nyc_bus_taxi.jpg", "street_intersection_1080p.jpg"}) {
        const std::string path = xmodal::shared_file(std::string("media/") + name);
        if (!have(path)) GTEST_SKIP() << "needs " << path;
        cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
        const auto reference = xmodal::testing::opencv_letterbox_chw(bgr, info.input);
        xmodal::DetectionPreprocessor pre(info.input);
        std::vector<float> ours(pre.image_elements());
        auto geometry = pre.convert(packed_view(bgr, PixelFormat::bgr), ours);
        auto expected = xmodal::letterbox_geometry(info.input, {bgr.cols, bgr.rows});
        EXPECT_EQ(geometry.resized_width, expected.resized_width);
        EXPECT_EQ(geometry.resized_height, expected.resized_height);
        const Diff d = compare(reference, ours);
        std::printf("[ preprocess %s ] |ours - OpenCV|: mean %.3f, max %.0f (0..255)\n", name, d.mean, d.max);
        EXPECT_LT(d.mean, 0.05) << name;
        EXPECT_LE(d.max, 1.0) << name;  // OpenCV fixed-point arithmetic reproduced, up to its SIMD rounding
        // The padding is exact.
        EXPECT_EQ(ours.back(), 114.f);
    }
}

// Every packed RGB layout gives the same tensor as BGR; NCHW and NHWC hold the same values.
TEST(DetectionPreprocessor, PackedFormatsAgree) {
    auto info = xmodal::load_detection_model_info(model_info_path);
    cv::Mat rgb = synthetic_rgb(322, 181), bgr, rgbx, bgrx;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    cv::cvtColor(rgb, rgbx, cv::COLOR_RGB2RGBA);
    cv::cvtColor(rgb, bgrx, cv::COLOR_RGB2BGRA);
    xmodal::DetectionPreprocessor pre(info.input);
    std::vector<float> reference(pre.image_elements()), ours(pre.image_elements());
    pre.convert(packed_view(bgr, PixelFormat::bgr), reference);
    const std::pair<cv::Mat*, PixelFormat> cases[] = {{&rgb, PixelFormat::rgb},   {&rgbx, PixelFormat::rgbx},
                                                      {&bgrx, PixelFormat::bgrx}, {&rgbx, PixelFormat::rgba},
                                                      {&bgrx, PixelFormat::bgra}};
    for (auto [image, format] : cases) {
        pre.convert(packed_view(*image, format), ours);
        EXPECT_LE(compare(reference, ours).max, 1.0) << xmodal::pixel_format_name(format);
    }
    auto nhwc_input = info.input;
    nhwc_input.layout = xmodal::ChannelLayout::nhwc;
    xmodal::DetectionPreprocessor nhwc(nhwc_input);
    std::vector<float> hwc(nhwc.image_elements());
    nhwc.convert(packed_view(bgr, PixelFormat::bgr), hwc);
    for (int c = 0; c < 3; ++c)
        for (int i = 0; i < 416 * 416; i += 997)
            ASSERT_EQ(hwc[static_cast<std::size_t>(i) * 3 + c], reference[static_cast<std::size_t>(c) * 416 * 416 + i]);
}

// I420 and NV12 (odd sizes, padded strides) decode to the RGB they were made from, with the matrix asked for.
TEST(DetectionPreprocessor, YuvFormatsMatchTheirRgbSource) {
    auto info = xmodal::load_detection_model_info(model_info_path);
    info.input.color_order = xmodal::ColorOrder::rgb;
    cv::Mat rgb = synthetic_rgb(333, 201);
    xmodal::DetectionPreprocessor pre(info.input);
    std::vector<float> reference(pre.image_elements()), ours(pre.image_elements());
    pre.convert(packed_view(rgb, PixelFormat::rgb), reference);
    for (bool bt709 : {false, true}) {
        auto yuv = to_yuv420(rgb, bt709);
        // Copy into padded rows to exercise strides.
        const int ys = yuv.width + 13, cs = yuv.cw + 7, uvs = 2 * yuv.cw + 5;
        std::vector<std::uint8_t> y(static_cast<std::size_t>(ys) * yuv.height), u(static_cast<std::size_t>(cs) * yuv.ch),
            v(u.size()), uv(static_cast<std::size_t>(uvs) * yuv.ch);
        for (int r = 0; r < yuv.height; ++r) std::copy_n(&yuv.y[static_cast<std::size_t>(r) * yuv.width], yuv.width, &y[static_cast<std::size_t>(r) * ys]);
        for (int r = 0; r < yuv.ch; ++r) {
            std::copy_n(&yuv.u[static_cast<std::size_t>(r) * yuv.cw], yuv.cw, &u[static_cast<std::size_t>(r) * cs]);
            std::copy_n(&yuv.v[static_cast<std::size_t>(r) * yuv.cw], yuv.cw, &v[static_cast<std::size_t>(r) * cs]);
            std::copy_n(&yuv.uv[static_cast<std::size_t>(r) * 2 * yuv.cw], 2 * yuv.cw, &uv[static_cast<std::size_t>(r) * uvs]);
        }
        VideoFrameView i420{PixelFormat::i420, yuv.width, yuv.height, {y.data(), u.data(), v.data()}, {ys, cs, cs},
                            bt709 ? xmodal::YuvMatrix::bt709 : xmodal::YuvMatrix::bt601, false};
        VideoFrameView nv12{PixelFormat::nv12, yuv.width, yuv.height, {y.data(), uv.data(), nullptr}, {ys, uvs, 0},
                            i420.yuv_matrix, false};
        for (const auto& frame : {i420, nv12}) {
            pre.convert(frame, ours);
            const Diff d = compare(reference, ours);
            std::printf("[ preprocess %s %s ] |yuv - rgb|: mean %.2f, max %.0f\n",
                        std::string(xmodal::pixel_format_name(frame.format)).c_str(), bt709 ? "bt709" : "bt601", d.mean, d.max);
            EXPECT_LT(d.mean, 2.5) << xmodal::pixel_format_name(frame.format) << (bt709 ? " bt709" : " bt601");
        }
        // The wrong matrix is visibly wrong: the test can tell them apart.
        VideoFrameView wrong = i420;
        wrong.yuv_matrix = bt709 ? xmodal::YuvMatrix::bt601 : xmodal::YuvMatrix::bt709;
        pre.convert(wrong, ours);
        EXPECT_GT(compare(reference, ours).mean, 3.0);
    }
}

TEST(DetectionPreprocessor, RejectsBadFrames) {
    auto info = xmodal::load_detection_model_info(model_info_path);
    xmodal::DetectionPreprocessor pre(info.input);
    std::vector<float> out(pre.image_elements());
    std::vector<std::uint8_t> pixels(64 * 64 * 3);
    VideoFrameView v{PixelFormat::rgb, 64, 64, {pixels.data(), nullptr, nullptr}, {100, 0, 0}, {}, false};
    v.strides[0] = 10;
    EXPECT_THROW(pre.convert(v, out), xmodal::Error);
    v.strides[0] = 192, v.format = PixelFormat::i420;
    try {
        pre.convert(v, out);
        FAIL();
    } catch (const xmodal::Error& e) {
        EXPECT_NE(std::string(e.what()).find("I420 plane 1 is null"), std::string::npos) << e.what();
    }
    v.format = PixelFormat::rgb;
    std::vector<float> small(10);
    EXPECT_THROW(pre.convert(v, small), xmodal::Error);
}

// ObjectDetector on the photos as BGR frames gives the runtime's goldens (OpenCV preprocessing):
// the only difference is libswscale's resampling.
TEST(ObjectDetector, PhotosMatchTheRuntimeGoldens) {
    const std::string model = xmodal::shared_file("models/yolox_nano.onnx");
    if (!have(model)) GTEST_SKIP() << "needs " << model;
    xmodal::ObjectDetector detector(yolox_options());
    for (const char* stem : {"dog", "street_nyc_bus_taxi", "street_intersection_1080p"}) {
        cv::Mat bgr = cv::imread(xmodal::shared_file(std::string("media/") + stem + ".jpg"), cv::IMREAD_COLOR);
        ASSERT_FALSE(bgr.empty());
        VideoFrameView frame = packed_view(bgr, PixelFormat::bgr);
        auto detections = detector.detect(std::span<const VideoFrameView>(&frame, 1))[0];
        std::ifstream golden_file(std::string(XMODAL_SOURCE_DIR) + "/tests/golden/yolox_nano_" + stem + ".json");
        auto golden = nlohmann::json::parse(golden_file)["detections"];
        double worst_score = 0, worst_box = 0;
        ASSERT_EQ(detections.size(), golden.size()) << stem;
        // Pair each golden with the same-label detection nearest to its box (near-equal scores may swap order).
        for (const auto& g : golden) {
            double best = 1e9, best_score = 1;
            for (const auto& d : detections) {
                if (d.label != g["label"].get<std::string>()) continue;
                const float box[4] = {d.x1, d.y1, d.x2, d.y2};
                double distance = 0;
                for (int k = 0; k < 4; ++k) distance = std::max(distance, std::abs(box[k] - g["box"][k].get<double>()));
                if (distance < best) best = distance, best_score = std::abs(d.confidence - g["confidence"].get<double>());
            }
            worst_box = std::max(worst_box, best), worst_score = std::max(worst_score, best_score);
        }
        std::printf("[ detector %s ] %zu detections; vs golden: max |score| %.4f, max |box| %.2f px\n", stem,
                    detections.size(), worst_score, worst_box);
        EXPECT_LE(worst_score, 0.01) << stem;
        EXPECT_LE(worst_box, 2.0) << stem;
    }
}

TEST(ObjectDetector, ClearErrorsForBadConfiguration) {
    const std::string model = xmodal::shared_file("models/yolox_nano.onnx");
    if (!have(model)) GTEST_SKIP() << "needs " << model;
    auto message_of = [](const xmodal::ObjectDetectorOptions& options) -> std::string {
        try {
            xmodal::ObjectDetector detector(options);
        } catch (const xmodal::Error& e) {
            return e.what();
        }
        return "(no error)";
    };
    auto contains = [](const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; };
    EXPECT_PRED2(contains, message_of(yolox_options([](auto& o) { o.model = "/nonexistent/m.onnx"; })),
                 "model: file '/nonexistent/m.onnx' does not exist");
    EXPECT_PRED2(contains, message_of(yolox_options([](auto& o) { o.model_info = "/nonexistent/info.json"; })), "/nonexistent/info.json");
    EXPECT_PRED2(contains, message_of(yolox_options([](auto& o) { o.threshold = 1.5f; })), "threshold: expected a value in [0, 1], got 1.5");
    EXPECT_PRED2(contains, message_of(yolox_options([](auto& o) { o.classes = {"car", "zebra crossing"}; })),
                 "no label \"zebra crossing\"");
    EXPECT_PRED2(contains, message_of(yolox_options([](auto& o) { o.device = "tpu"; })), "tpu");
    // A labels file with the wrong number of classes is caught when the detector is made.
    const auto labels = std::filesystem::temp_directory_path() / "xmodal_three_labels.txt";
    std::ofstream(labels) << "a\nb\nc\n";
    EXPECT_PRED2(contains, message_of(yolox_options([&](auto& o) { o.labels = labels.string(); })), "3 labels");
}

// A batch of frames of different sizes and formats gives what single frames give.
TEST(ObjectDetector, BatchEqualsSingleFrames) {
    const std::string model = xmodal::shared_file("models/yolox_nano.onnx");
    const std::string photo = xmodal::shared_file("media/dog.jpg"), street = xmodal::shared_file("media/street_nyc_bus_taxi.jpg");
    if (!have(model) || !have(photo) || !have(street)) GTEST_SKIP() << "needs the model and photos";
    xmodal::ObjectDetector detector(yolox_options());
    cv::Mat a = cv::imread(photo, cv::IMREAD_COLOR), b = cv::imread(street, cv::IMREAD_COLOR), b_rgbx;
    cv::cvtColor(b, b_rgbx, cv::COLOR_BGR2RGBA);
    const VideoFrameView frames[] = {packed_view(a, PixelFormat::bgr), packed_view(b_rgbx, PixelFormat::rgbx)};
    auto batch = detector.detect(frames);
    ASSERT_EQ(batch.size(), 2u);
    for (int i = 0; i < 2; ++i) {
        auto single = detector.detect(std::span<const VideoFrameView>(&frames[i], 1))[0];
        ASSERT_EQ(single.size(), batch[static_cast<std::size_t>(i)].size());
        ASSERT_FALSE(single.empty());
        for (std::size_t k = 0; k < single.size(); ++k) {
            EXPECT_EQ(single[k].label, batch[static_cast<std::size_t>(i)][k].label);
            EXPECT_NEAR(single[k].confidence, batch[static_cast<std::size_t>(i)][k].confidence, 1e-4);
            EXPECT_NEAR(single[k].x1, batch[static_cast<std::size_t>(i)][k].x1, 0.05);
        }
    }
}

// submit/collect (xmdetect's nireq): frames preprocessed on the caller's thread, runs queued on
// the compute thread; results come back in submission order and equal detect()'s exactly, even
// when the caller's frame memory is overwritten right after submit() returns.
TEST(ObjectDetector, SubmittedBatchesEqualDetectInOrder) {
    const std::string model = xmodal::shared_file("models/yolox_nano.onnx");
    const std::string photo = xmodal::shared_file("media/dog.jpg"), street = xmodal::shared_file("media/street_nyc_bus_taxi.jpg");
    if (!have(model) || !have(photo) || !have(street)) GTEST_SKIP() << "needs the model and photos";
    xmodal::ObjectDetector detector(yolox_options());
    cv::Mat a = cv::imread(photo, cv::IMREAD_COLOR), b;
    cv::resize(cv::imread(street, cv::IMREAD_COLOR), b, a.size());  // same size: b is copied over a's memory below
    const VideoFrameView view_a = packed_view(a, PixelFormat::bgr), view_b = packed_view(b, PixelFormat::bgr);
    const auto want_a = detector.detect(std::span<const VideoFrameView>(&view_a, 1))[0];
    const auto want_b = detector.detect(std::span<const VideoFrameView>(&view_b, 1))[0];
    ASSERT_NE(want_a.size(), want_b.size());

    auto same = [](const std::vector<xmodal::Detection>& got, const std::vector<xmodal::Detection>& want) {
        if (got.size() != want.size()) return false;
        for (std::size_t k = 0; k < got.size(); ++k)
            if (got[k].label != want[k].label || got[k].confidence != want[k].confidence || got[k].x1 != want[k].x1 ||
                got[k].y2 != want[k].y2)
                return false;
        return true;
    };
    detector.set_max_in_flight(2);
    cv::Mat scratch = a.clone();  // the caller's frame: overwritten once submitted
    const VideoFrameView view_scratch = packed_view(scratch, PixelFormat::bgr);
    detector.submit(std::span<const VideoFrameView>(&view_scratch, 1));
    b.copyTo(scratch);
    detector.submit(std::span<const VideoFrameView>(&view_scratch, 1));
    EXPECT_EQ(detector.in_flight(), 2u);
    EXPECT_THROW(detector.submit(std::span<const VideoFrameView>(&view_a, 1)), xmodal::Error);  // a third
    EXPECT_TRUE(same(detector.collect()[0], want_a));
    const VideoFrameView both[] = {view_b, view_a};
    detector.submit(both);  // a batch of two behind the one in flight
    EXPECT_TRUE(same(detector.collect()[0], want_b));
    const auto batch = detector.collect();
    ASSERT_EQ(batch.size(), 2u);
    EXPECT_EQ(batch[0].size(), want_b.size());
    EXPECT_EQ(batch[1].size(), want_a.size());
    EXPECT_EQ(detector.in_flight(), 0u);
    EXPECT_THROW(detector.collect(), xmodal::Error);
    detector.submit(std::span<const VideoFrameView>(&view_a, 1));  // left in flight: the destructor waits
}

}  // namespace
