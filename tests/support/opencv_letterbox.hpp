// Model input prepared the way the MANIFEST's reference runs did it, with OpenCV: bilinear resize
// into the letterbox geometry of a model-info input description (libxmodal's letterbox_geometry,
// so decoding maps boxes back exactly), padding, channel order, (pixel - mean) * scale, CHW f32.
// Shared by the model tests, xmodal-bench model and xmodal-golden, which must agree on inputs.
#pragma once

#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "xmodal/detection.hpp"
#include "xmodal/error.hpp"

namespace xmodal::testing {

inline std::vector<float> opencv_letterbox_chw(const cv::Mat& bgr, const DetectionInputInfo& input) {
    if (bgr.empty() || bgr.type() != CV_8UC3) fail("opencv_letterbox_chw: expected a BGR 8-bit image");
    if (input.layout != ChannelLayout::nchw) fail("opencv_letterbox_chw: only NCHW inputs");
    auto geometry = letterbox_geometry(input, {bgr.cols, bgr.rows});
    cv::Mat canvas(input.height, input.width, CV_8UC3,
                   cv::Scalar(input.pad_value[0], input.pad_value[1], input.pad_value[2]));  // pad values are in model channel order
    cv::Mat resized;
    cv::resize(bgr, resized, cv::Size(geometry.resized_width, geometry.resized_height), 0, 0, cv::INTER_LINEAR);
    if (input.color_order == ColorOrder::rgb) cv::cvtColor(resized, resized, cv::COLOR_BGR2RGB);
    resized.copyTo(canvas(cv::Rect(geometry.pad_x, geometry.pad_y, resized.cols, resized.rows)));
    std::vector<float> chw(3 * static_cast<std::size_t>(input.width) * static_cast<std::size_t>(input.height));
    for (int y = 0; y < input.height; ++y)
        for (int x = 0; x < input.width; ++x)
            for (int c = 0; c < 3; ++c)
                chw[(static_cast<std::size_t>(c) * input.height + y) * input.width + x] =
                    (canvas.at<cv::Vec3b>(y, x)[c] - input.mean[c]) * input.scale[c];
    return chw;
}

}  // namespace xmodal::testing
