#include "xmodal/video_frame.hpp"

#include "xmodal/error.hpp"

namespace xmodal {

namespace {
struct FormatName {
    PixelFormat format;
    std::string_view name;
};
constexpr FormatName format_names[] = {
    {PixelFormat::i420, "I420"}, {PixelFormat::nv12, "NV12"}, {PixelFormat::rgb, "RGB"},   {PixelFormat::bgr, "BGR"},
    {PixelFormat::rgbx, "RGBx"}, {PixelFormat::bgrx, "BGRx"}, {PixelFormat::rgba, "RGBA"}, {PixelFormat::bgra, "BGRA"},
};
}  // namespace

std::string_view pixel_format_name(PixelFormat format) {
    for (const auto& entry : format_names)
        if (entry.format == format) return entry.name;
    return "unknown";
}

bool parse_pixel_format(std::string_view name, PixelFormat& format) {
    for (const auto& entry : format_names)
        if (entry.name == name) {
            format = entry.format;
            return true;
        }
    return false;
}

int plane_count(PixelFormat format) {
    switch (format) {
        case PixelFormat::i420: return 3;
        case PixelFormat::nv12: return 2;
        default: return 1;
    }
}

int packed_pixel_bytes(PixelFormat format) {
    switch (format) {
        case PixelFormat::i420:
        case PixelFormat::nv12: return 1;
        case PixelFormat::rgb:
        case PixelFormat::bgr: return 3;
        default: return 4;
    }
}

void check_frame_view(const VideoFrameView& frame, std::string_view what) {
    if (frame.width <= 0 || frame.height <= 0)
        fail(what, ": frame size ", frame.width, "x", frame.height, " is not positive");
    const int planes = plane_count(frame.format);
    for (int p = 0; p < planes; ++p) {
        const bool chroma = p > 0;
        const int row_bytes = frame.format == PixelFormat::nv12 && chroma ? (frame.width + 1) / 2 * 2
                              : chroma                                   ? (frame.width + 1) / 2
                                                                         : frame.width * packed_pixel_bytes(frame.format);
        if (frame.planes[static_cast<std::size_t>(p)] == nullptr)
            fail(what, ": ", pixel_format_name(frame.format), " plane ", p, " is null");
        if (frame.strides[static_cast<std::size_t>(p)] < row_bytes)
            fail(what, ": ", pixel_format_name(frame.format), " plane ", p, " stride ",
                 frame.strides[static_cast<std::size_t>(p)], " is less than a row (", row_bytes, " bytes)");
    }
}

}  // namespace xmodal
