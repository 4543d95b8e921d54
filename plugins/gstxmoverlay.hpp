// xmoverlay: draws the objects (boxes, labels, scores, track ids, trails) and other annotations
// attached to a raw frame onto it, in place. Drawing is libxmodal's OverlayRenderer.
#pragma once

#include <gst/video/gstvideofilter.h>

G_BEGIN_DECLS

#define GST_TYPE_XM_OVERLAY (gst_xm_overlay_get_type())
G_DECLARE_FINAL_TYPE(GstXmOverlay, gst_xm_overlay, GST, XM_OVERLAY, GstVideoFilter)

G_END_DECLS

GST_ELEMENT_REGISTER_DECLARE(xmoverlay)
