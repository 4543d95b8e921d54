// xmflow: traffic flow from tracked objects: counts per counting line and direction per interval,
// with a forecast of the next intervals (xmodal::FlowMonitor). docs/elements/xmflow.md.
#pragma once

#include <gst/base/gstbasetransform.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <string>

#include "xmodal/flow_monitor.hpp"

G_BEGIN_DECLS

#define GST_TYPE_XM_FLOW (gst_xm_flow_get_type())
G_DECLARE_FINAL_TYPE(GstXmFlow, gst_xm_flow, GST, XM_FLOW, GstBaseTransform)

struct _GstXmFlow {
    GstBaseTransform parent;

    // Properties (object lock); start() builds a monitor from a copy.
    gchar* lines;
    gchar* lines_file;
    gdouble interval_s;
    gint horizon;
    gchar* model;
    gchar* classes;
    gdouble hysteresis;

    // Streaming state, between start() and stop().
    GstVideoInfo info;
    xmodal::FlowMonitor* monitor;
    std::string* lines_text;           // the lines in their string form, for the meta
    GstStructure* latest;              // the latest interval report, repeated on every frame
    GstClockTime last_end;             // running time at the end of the last frame
};

GST_ELEMENT_REGISTER_DECLARE(xmflow);

G_END_DECLS
