// xmtrack: multi-object tracking of the ROIs a detector put on each frame (xmodal::MultiObjectTracker).
#pragma once

#include <gst/base/gstbasetransform.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include "xmodal/tracker.hpp"

G_BEGIN_DECLS

#define GST_TYPE_XM_TRACK (gst_xm_track_get_type())
G_DECLARE_FINAL_TYPE(GstXmTrack, gst_xm_track, GST, XM_TRACK, GstBaseTransform)

struct _GstXmTrack {
    GstBaseTransform parent;

    // Properties (object lock); start() hands a copy to a new tracker.
    xmodal::TrackerOptions options;
    gboolean output_tentative;

    // Streaming state.
    GstVideoInfo info;
    xmodal::MultiObjectTracker* tracker;  // between start() and stop()
};

GST_ELEMENT_REGISTER_DECLARE(xmtrack);

G_END_DECLS
