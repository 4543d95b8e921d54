#include "xmodal/video_preprocess.hpp"

#include <algorithm>
#include <cmath>

extern "C" {
#include <libswscale/swscale.h>
}

#include "xmodal/compute_thread.hpp"
#include "xmodal/error.hpp"

namespace xmodal {

namespace {

AVPixelFormat av_format(PixelFormat format) {
    switch (format) {
        case PixelFormat::i420: return AV_PIX_FMT_YUV420P;
        case PixelFormat::nv12: return AV_PIX_FMT_NV12;
        case PixelFormat::rgb: return AV_PIX_FMT_RGB24;
        case PixelFormat::bgr: return AV_PIX_FMT_BGR24;
        case PixelFormat::rgbx: return AV_PIX_FMT_RGB0;
        case PixelFormat::bgrx: return AV_PIX_FMT_BGR0;
        case PixelFormat::rgba: return AV_PIX_FMT_RGBA;
        case PixelFormat::bgra: return AV_PIX_FMT_BGRA;
    }
    return AV_PIX_FMT_NONE;
}

}  // namespace

DetectionPreprocessor::DetectionPreprocessor(const DetectionInputInfo& input) : input_(input) {
    if (input_.width <= 0 || input_.height <= 0)
        fail("detection preprocessing: model input size ", input_.width, "x", input_.height, " is not positive");
}

DetectionPreprocessor::~DetectionPreprocessor() { sws_freeContext(scaler_); }

std::size_t DetectionPreprocessor::image_elements() const {
    return 3 * static_cast<std::size_t>(input_.width) * static_cast<std::size_t>(input_.height);
}

namespace {

// OpenCV's cv::resize INTER_LINEAR coefficients along one axis (resizeGeneric / computeResizeAreaTab's
// sibling in imgproc/resize.cpp): source position (d + 0.5) * ratio - 0.5 in float, clamped at the
// borders with the fraction zeroed, weights rounded to 1/2048 each.
void linear_taps(int source_size, int resized_size, std::vector<int>& index, std::vector<short>& weight0,
                 std::vector<short>& weight1) {
    const double ratio = 1.0 / (static_cast<double>(resized_size) / source_size);
    index.resize(static_cast<std::size_t>(resized_size));
    weight0.resize(index.size()), weight1.resize(index.size());
    for (int d = 0; d < resized_size; ++d) {
        float f = static_cast<float>((d + 0.5) * ratio - 0.5);
        int s = static_cast<int>(std::floor(f));
        f -= static_cast<float>(s);
        if (s < 0) f = 0, s = 0;
        if (s >= source_size - 1) f = 0, s = source_size - 1;
        index[static_cast<std::size_t>(d)] = s;
        weight0[static_cast<std::size_t>(d)] = static_cast<short>(std::lround((1.f - f) * 2048));
        weight1[static_cast<std::size_t>(d)] = static_cast<short>(std::lround(f * 2048));
    }
}

}  // namespace

LetterboxGeometry DetectionPreprocessor::convert(const VideoFrameView& frame, std::span<float> destination) {
    check_frame_view(frame, "detection preprocessing: input frame");
    if (destination.size() < image_elements())
        fail("detection preprocessing: destination holds ", destination.size(), " floats, the model input needs ",
             image_elements(), " (3x", input_.height, "x", input_.width, ")");
    const LetterboxGeometry geometry = letterbox_geometry(input_, {frame.width, frame.height});
    const int rw = geometry.resized_width, rh = geometry.resized_height;

    // Source pixels as packed bytes: where channel c of the model (in its colour order) sits.
    const std::uint8_t* source = frame.planes[0];
    int source_stride = frame.strides[0], pixel_bytes = packed_pixel_bytes(frame.format);
    std::array<int, 3> channel_offset{0, 1, 2};
    const bool model_rgb = input_.color_order == ColorOrder::rgb;
    switch (frame.format) {
        case PixelFormat::rgb:
        case PixelFormat::rgbx:
        case PixelFormat::rgba: channel_offset = model_rgb ? std::array{0, 1, 2} : std::array{2, 1, 0}; break;
        case PixelFormat::bgr:
        case PixelFormat::bgrx:
        case PixelFormat::bgra: channel_offset = model_rgb ? std::array{2, 1, 0} : std::array{0, 1, 2}; break;
        case PixelFormat::i420:
        case PixelFormat::nv12: {
            if (scaler_ == nullptr || scaler_format_ != frame.format || scaler_width_ != frame.width ||
                scaler_height_ != frame.height || scaler_matrix_ != frame.yuv_matrix ||
                scaler_full_range_ != frame.yuv_full_range) {
                sws_freeContext(scaler_);
                // Same size: a colour conversion only, on swscale's SIMD path. ACCURATE_RND and
                // FULL_CHR_H_INT would take it off that path (1080p: 4.3 ms instead of 0.7) for no
                // measurable change here (tests/lib/test_video_detection.cpp, YuvFormats...).
                scaler_ = sws_getContext(frame.width, frame.height, av_format(frame.format), frame.width, frame.height,
                                         model_rgb ? AV_PIX_FMT_RGB24 : AV_PIX_FMT_BGR24,
                                         SWS_BILINEAR, nullptr, nullptr, nullptr);
                if (scaler_ == nullptr)
                    fail("detection preprocessing: libswscale cannot convert ", pixel_format_name(frame.format), " ",
                         frame.width, "x", frame.height, " to packed RGB");
                const int* coefficients =
                    sws_getCoefficients(frame.yuv_matrix == YuvMatrix::bt709 ? SWS_CS_ITU709 : SWS_CS_ITU601);
                sws_setColorspaceDetails(scaler_, coefficients, frame.yuv_full_range ? 1 : 0, coefficients, 1, 0,
                                         1 << 16, 1 << 16);
                scaler_format_ = frame.format, scaler_width_ = frame.width, scaler_height_ = frame.height;
                scaler_matrix_ = frame.yuv_matrix, scaler_full_range_ = frame.yuv_full_range;
            }
            converted_.resize(static_cast<std::size_t>(frame.width) * static_cast<std::size_t>(frame.height) * 3);
            const std::uint8_t* const source_planes[4] = {frame.planes[0], frame.planes[1], frame.planes[2], nullptr};
            const int source_strides[4] = {frame.strides[0], frame.strides[1], frame.strides[2], 0};
            std::uint8_t* const converted_planes[4] = {converted_.data(), nullptr, nullptr, nullptr};
            const int converted_strides[4] = {frame.width * 3, 0, 0, 0};
            if (sws_scale(scaler_, source_planes, source_strides, 0, frame.height, converted_planes, converted_strides) !=
                frame.height)
                fail("detection preprocessing: libswscale did not convert the ", pixel_format_name(frame.format), " ",
                     frame.width, "x", frame.height, " frame");
            source = converted_.data(), source_stride = frame.width * 3, pixel_bytes = 3;
            break;
        }
    }

    if (taps_source_width_ != frame.width || taps_source_height_ != frame.height || taps_width_ != rw || taps_height_ != rh) {
        linear_taps(frame.width, rw, x_taps_.index, x_taps_.weight0, x_taps_.weight1);
        linear_taps(frame.height, rh, y_taps_.index, y_taps_.weight0, y_taps_.weight1);
        taps_source_width_ = frame.width, taps_source_height_ = frame.height, taps_width_ = rw, taps_height_ = rh;
    }

    // value = (pixel - mean) * scale per model channel; padding pixels take pad_value.
    const int W = input_.width, H = input_.height;
    std::array<float, 3> padded{};
    for (std::size_t c = 0; c < 3; ++c) {
        padded[c] = (input_.pad_value[c] - input_.mean[c]) * input_.scale[c];
    }
    // Byte offsets of the two horizontal taps, per resized column (x_taps_ in source pixels).
    column_offsets_.resize(static_cast<std::size_t>(rw) * 2);
    for (int rx = 0; rx < rw; ++rx) {
        const int sx = x_taps_.index[static_cast<std::size_t>(rx)];
        column_offsets_[static_cast<std::size_t>(rx) * 2] = sx * pixel_bytes;
        column_offsets_[static_cast<std::size_t>(rx) * 2 + 1] = std::min(sx + 1, frame.width - 1) * pixel_bytes;
    }
    // Pass 1, horizontal: each source row the vertical taps use, once (neighbouring output rows
    // share source rows), into planar int rows: horizontal_[slot][c][rx] = sum of taps x2048.
    row_slot_.assign(static_cast<std::size_t>(frame.height), -1);
    source_rows_.clear();
    for (int ry = 0; ry < rh; ++ry)
        for (int sy : {y_taps_.index[static_cast<std::size_t>(ry)], std::min(y_taps_.index[static_cast<std::size_t>(ry)] + 1, frame.height - 1)})
            if (row_slot_[static_cast<std::size_t>(sy)] < 0) {
                row_slot_[static_cast<std::size_t>(sy)] = static_cast<int>(source_rows_.size());
                source_rows_.push_back(sy);
            }
    const std::size_t row_values = static_cast<std::size_t>(rw) * 3;
    horizontal_.resize(source_rows_.size() * row_values);
    // Rows are independent: split them over the OpenMP pool, but only on the runtime's compute
    // thread (ObjectDetector calls from there), whose pool the models use. Anywhere else a parallel
    // region would start a second pool and slow every later model run (compute_thread.hpp).
    const bool parallel = on_compute_thread();
    const int source_row_count = static_cast<int>(source_rows_.size());
#pragma omp parallel for schedule(static) if (parallel)
    for (int k = 0; k < source_row_count; ++k) {
        const std::uint8_t* row = source + static_cast<std::ptrdiff_t>(source_rows_[static_cast<std::size_t>(k)]) * source_stride;
        std::int32_t* h = horizontal_.data() + static_cast<std::size_t>(k) * row_values;
        for (std::size_t c = 0; c < 3; ++c) {
            const int o = channel_offset[c];
            std::int32_t* hc = h + c * static_cast<std::size_t>(rw);
            for (int rx = 0; rx < rw; ++rx) {
                const std::size_t i = static_cast<std::size_t>(rx);
                hc[i] = row[column_offsets_[2 * i] + o] * x_taps_.weight0[i] + row[column_offsets_[2 * i + 1] + o] * x_taps_.weight1[i];
            }
        }
    }

    // Pass 2, vertical + normalisation + layout, per model row; padding rows and columns.
    const int x0 = geometry.pad_x, y0 = geometry.pad_y;
    // Element (x, y, c) lives at out[c * channel_step + (y * W + x) * pixel_step].
    const bool planar = input_.layout == ChannelLayout::nchw;
    const std::size_t channel_step = planar ? static_cast<std::size_t>(W) * static_cast<std::size_t>(H) : 1;
    const std::size_t pixel_step = planar ? 1 : 3;
    float* const out = destination.data();
    auto pad_span = [&](std::size_t first_pixel, std::size_t count) {
        for (std::size_t c = 0; c < 3; ++c) {
            float* o = out + c * channel_step + first_pixel * pixel_step;
            for (std::size_t i = 0; i < count; ++i) o[i * pixel_step] = padded[c];
        }
    };
    const std::size_t row_pixels = static_cast<std::size_t>(W);
#pragma omp parallel for schedule(static) if (parallel)
    for (int y = 0; y < H; ++y) {
        const std::size_t row_start = static_cast<std::size_t>(y) * row_pixels;
        const int ry = y - y0;
        if (ry < 0 || ry >= rh) {
            pad_span(row_start, row_pixels);
            continue;
        }
        pad_span(row_start, static_cast<std::size_t>(x0));
        pad_span(row_start + static_cast<std::size_t>(x0 + rw), row_pixels - static_cast<std::size_t>(x0 + rw));
        const int sy = y_taps_.index[static_cast<std::size_t>(ry)];
        const std::int32_t* h0 = horizontal_.data() + static_cast<std::size_t>(row_slot_[static_cast<std::size_t>(sy)]) * row_values;
        const std::int32_t* h1 =
            horizontal_.data() + static_cast<std::size_t>(row_slot_[static_cast<std::size_t>(std::min(sy + 1, frame.height - 1))]) * row_values;
        const int b0 = y_taps_.weight0[static_cast<std::size_t>(ry)], b1 = y_taps_.weight1[static_cast<std::size_t>(ry)];
        for (std::size_t c = 0; c < 3; ++c) {
            const std::int32_t* s0 = h0 + c * static_cast<std::size_t>(rw);
            const std::int32_t* s1 = h1 + c * static_cast<std::size_t>(rw);
            const float mean = input_.mean[c], scale = input_.scale[c];
            float* dst = out + c * channel_step + (row_start + static_cast<std::size_t>(x0)) * pixel_step;
            for (std::size_t i = 0; i < static_cast<std::size_t>(rw); ++i) {
                // OpenCV's vertical pass for 8-bit (VResizeLinearVec_32s8u): x2048 again, rounded.
                const int v = std::clamp((((b0 * (s0[i] >> 4)) >> 16) + ((b1 * (s1[i] >> 4)) >> 16) + 2) >> 2, 0, 255);
                dst[i * pixel_step] = (static_cast<float>(v) - mean) * scale;
            }
        }
    }
    return geometry;
}

}  // namespace xmodal
