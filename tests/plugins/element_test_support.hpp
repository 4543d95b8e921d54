// Helpers shared by the GstHarness suites of the xmodal elements.
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>

#include <cstring>
#include <string>

namespace xmodal::testing {

// Brings `element` from NULL to PAUSED on its own bus and returns the text of the first ERROR
// message ("" if it started). The element is back in NULL afterwards and keeps its reference.
inline std::string start_error(GstElement* element) {
    GstBus* bus = gst_bus_new();
    gst_element_set_bus(element, bus);
    const GstStateChangeReturn ret = gst_element_set_state(element, GST_STATE_PAUSED);
    std::string text;
    if (GstMessage* message = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
        GError* error = nullptr;
        gst_message_parse_error(message, &error, nullptr);
        text = error->message;
        g_error_free(error);
        gst_message_unref(message);
    } else if (ret == GST_STATE_CHANGE_FAILURE) {
        text = "(state change failed without an error message)";
    }
    gst_element_set_state(element, GST_STATE_NULL);
    gst_element_set_bus(element, nullptr);
    gst_object_unref(bus);
    return text;
}

// A video buffer of `info` filled row by row from tightly packed `pixels` (packed formats) or a
// constant grey (`pixels` null).
inline GstBuffer* make_video_buffer(const GstVideoInfo& info, const std::uint8_t* pixels, GstClockTime pts,
                                    GstClockTime duration) {
    GstBuffer* buffer = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
    GstVideoFrame frame;
    gst_video_frame_map(&frame, &info, buffer, GST_MAP_WRITE);
    for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES(&frame); ++p) {
        auto* data = static_cast<std::uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, p));
        const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, p);
        const int rows = GST_VIDEO_FRAME_COMP_HEIGHT(&frame, p);
        const int row_bytes = GST_VIDEO_FRAME_COMP_WIDTH(&frame, p) * GST_VIDEO_FRAME_COMP_PSTRIDE(&frame, p);
        for (int r = 0; r < rows; ++r) {
            if (pixels != nullptr && GST_VIDEO_FRAME_N_PLANES(&frame) == 1)
                std::memcpy(data + static_cast<std::ptrdiff_t>(r) * stride, pixels + static_cast<std::ptrdiff_t>(r) * row_bytes,
                            static_cast<std::size_t>(row_bytes));
            else
                std::memset(data + static_cast<std::ptrdiff_t>(r) * stride, p == 0 ? 100 : 128, static_cast<std::size_t>(stride));
        }
    }
    gst_video_frame_unmap(&frame);
    GST_BUFFER_PTS(buffer) = pts;
    GST_BUFFER_DURATION(buffer) = duration;
    return buffer;
}

}  // namespace xmodal::testing
