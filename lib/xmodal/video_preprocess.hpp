// Raw video frame -> detector input tensor. Whatever raw format GStreamer delivers (I420, NV12,
// RGB, BGR, RGBx, BGRx, RGBA, BGRA) is handled here, so no videoconvert/videoscale is needed
// upstream:
//  - YUV frames are converted to packed RGB/BGR (the model's colour order) by FFmpeg's libswscale
//    at the frame's own size, honouring the BT.601/BT.709 matrix and range; packed RGB frames are
//    read in place;
//  - one pass then resizes into the letterbox (or stretch) box and writes (pixel - mean) * scale as
//    f32 in the model's layout, padding included. The resize is OpenCV's INTER_LINEAR, bit for bit
//    in its fixed-point arithmetic: the detectors we ship were trained on cv2.resize inputs, and
//    libswscale's bilinear (an anti-aliased filter when shrinking) moves YOLOX-Nano's scores by up
//    to 0.03 and flips near-threshold objects (see docs/DESIGN.md).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "xmodal/detection.hpp"
#include "xmodal/video_frame.hpp"

struct SwsContext;

namespace xmodal {

class DetectionPreprocessor {
public:
    explicit DetectionPreprocessor(const DetectionInputInfo& input);
    ~DetectionPreprocessor();
    DetectionPreprocessor(const DetectionPreprocessor&) = delete;
    DetectionPreprocessor& operator=(const DetectionPreprocessor&) = delete;

    // Elements in one image of the model input (3 * width * height).
    std::size_t image_elements() const;

    // Writes `frame` into `destination` (image_elements() floats, the model's layout) and returns
    // where the image landed (for decode_detections, through the frame's size). The scaler is
    // created on the first frame and again only when the format, size or colorimetry change.
    // Throws xmodal::Error for an unusable frame view or a too small destination.
    LetterboxGeometry convert(const VideoFrameView& frame, std::span<float> destination);

private:
    DetectionInputInfo input_;
    SwsContext* scaler_ = nullptr;
    // What scaler_ was made for.
    PixelFormat scaler_format_ = PixelFormat::i420;
    int scaler_width_ = 0, scaler_height_ = 0;
    YuvMatrix scaler_matrix_ = YuvMatrix::bt601;
    bool scaler_full_range_ = false;
    std::vector<std::uint8_t> converted_;  // YUV frames as packed 3-byte pixels, frame size

    // OpenCV INTER_LINEAR taps for the current frame size -> resized size.
    struct Taps {
        std::vector<int> index;       // first source pixel (second is index + 1, clamped)
        std::vector<short> weight0, weight1;  // in 1/2048
    };
    Taps x_taps_, y_taps_;
    std::vector<int> column_offsets_;  // per resized column, byte offsets of its two source pixels
    std::vector<int> row_slot_;        // per source row, its slot in horizontal_ (-1: not needed)
    std::vector<int> source_rows_;     // per slot, the source row
    std::vector<std::int32_t> horizontal_;  // per slot, 3 planar rows of horizontally resized values x2048
    int taps_source_width_ = 0, taps_source_height_ = 0, taps_width_ = 0, taps_height_ = 0;
};

}  // namespace xmodal
