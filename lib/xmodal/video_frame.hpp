// A raw video frame as the elements receive it: pixel format, size and planes, not owned. The
// GStreamer-free core (preprocessing, overlay) works on this view; elements fill it from a
// mapped GstVideoFrame (one plane pointer and stride per plane).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace xmodal {

// The raw formats the video elements accept, named as GStreamer names them.
//  i420: Y plane, then U and V planes at half width and height.
//  nv12: Y plane, then one interleaved UV plane at half width and height.
//  rgb/bgr: 3 bytes per pixel; rgbx/bgrx/rgba/bgra: 4 bytes per pixel (x: padding byte, a: alpha).
enum class PixelFormat : std::uint8_t { i420, nv12, rgb, bgr, rgbx, bgrx, rgba, bgra };

// How YUV formats encode colour (GStreamer's colorimetry matrix and range); ignored for RGB formats.
enum class YuvMatrix : std::uint8_t { bt601, bt709 };

struct VideoFrameView {
    PixelFormat format = PixelFormat::i420;
    int width = 0, height = 0;
    std::array<std::uint8_t*, 3> planes{};  // unused planes are null
    std::array<int, 3> strides{};           // bytes per row of each plane
    YuvMatrix yuv_matrix = YuvMatrix::bt601;
    bool yuv_full_range = false;  // false: Y in 16..235, UV in 16..240 (what decoders deliver)
};

// "I420", "NV12", "RGB", "BGR", "RGBx", "BGRx", "RGBA", "BGRA" (GStreamer's format strings).
std::string_view pixel_format_name(PixelFormat format);
// The inverse; returns false for a format the video elements do not take.
bool parse_pixel_format(std::string_view name, PixelFormat& format);
// Number of planes (1 for packed formats, 2 for NV12, 3 for I420).
int plane_count(PixelFormat format);
// Bytes per pixel of a packed format (3 or 4); 1 for the luma plane of I420/NV12.
int packed_pixel_bytes(PixelFormat format);

// Throws xmodal::Error naming `what` (e.g. "xmdetect input frame") if the view is not usable:
// non-positive size, a null plane the format needs, a stride smaller than a row.
void check_frame_view(const VideoFrameView& frame, std::string_view what);

}  // namespace xmodal
