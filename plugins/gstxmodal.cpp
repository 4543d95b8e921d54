// The xmodal GStreamer plugin: registers the elements (one source pair per element in this
// folder) and routes libxmodal's log messages into GStreamer's debug log (category "xmodal").
// Elements are thin adapters; their logic lives in lib/.
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gstxmdetect.hpp"
#include "gstxmmetaconvert.hpp"
#include "gstxmtrack.hpp"
#include "gstxmoverlay.hpp"
#include "gstxmflow.hpp"
#include "gstxmaudio.hpp"
#include "gstxmfuse.hpp"
#include "xmodal/log.hpp"

GST_DEBUG_CATEGORY_STATIC(xmodal_debug);
#define GST_CAT_DEFAULT xmodal_debug

namespace {

void forward_to_gst_log(xmodal::LogLevel level, const std::string& message) {
    switch (level) {
        case xmodal::LogLevel::debug: GST_DEBUG("%s", message.c_str()); break;
        case xmodal::LogLevel::info: GST_INFO("%s", message.c_str()); break;
        case xmodal::LogLevel::warning: GST_WARNING("%s", message.c_str()); break;
        case xmodal::LogLevel::error: GST_ERROR("%s", message.c_str()); break;
    }
}

gboolean plugin_init(GstPlugin* plugin) {
    GST_DEBUG_CATEGORY_INIT(xmodal_debug, "xmodal", 0, "xmodal core library");
    xmodal::set_log_sink(forward_to_gst_log);
    // Elements are registered here as they land (xmdetect, xmtrack, xmoverlay, xmmetaconvert,
    // xmaudio, xmfuse, xmflow): GST_ELEMENT_REGISTER(name, plugin) for each.
    gboolean ok = TRUE;
    ok &= GST_ELEMENT_REGISTER(xmdetect, plugin);
    ok &= GST_ELEMENT_REGISTER(xmmetaconvert, plugin);
    ok &= GST_ELEMENT_REGISTER(xmtrack, plugin);
    ok &= GST_ELEMENT_REGISTER(xmoverlay, plugin);
    ok &= GST_ELEMENT_REGISTER(xmflow, plugin);
    ok &= GST_ELEMENT_REGISTER(xmaudio, plugin);
    ok &= GST_ELEMENT_REGISTER(xmfuse, plugin);
    return ok;
}

}  // namespace

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, xmodal,
                  "Multimodal stream analytics: detection, tracking, audio events, cross-modal attention fusion, "
                  "captions and traffic-flow forecasting on oneDNN",
                  plugin_init, XMODAL_VERSION, "Proprietary", "xmodal", "https://xmodal.invalid")
