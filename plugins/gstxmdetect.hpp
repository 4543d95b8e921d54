// xmdetect: object detection on raw video frames (logic in lib/xmodal/object_detector.hpp).
#pragma once

#include <gst/base/gstbasetransform.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_XM_DETECT (gst_xm_detect_get_type())
G_DECLARE_FINAL_TYPE(GstXmDetect, gst_xm_detect, GST, XM_DETECT, GstBaseTransform)

GST_ELEMENT_REGISTER_DECLARE(xmdetect);

G_END_DECLS
