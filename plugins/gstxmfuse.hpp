// xmfuse: audio-visual fusion (xmodal::FusionModel, docs/FUSION.md). A GstAggregator with a
// "video" sink pad (frames with tracked ROI metas from xmdetect ! xmtrack) and a requested "audio"
// sink pad (buffers with xmaudio's XmodalAudioMeta windows); it outputs the video frames, each
// with which object emits which sound and which track every sound event is attributed to.
// docs/elements/xmfuse.md.
#pragma once

#include <gst/base/gstaggregator.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <memory>

G_BEGIN_DECLS

#define GST_TYPE_XM_FUSE (gst_xm_fuse_get_type())
G_DECLARE_FINAL_TYPE(GstXmFuse, gst_xm_fuse, GST, XM_FUSE, GstAggregator)

struct XmFuseState;  // streaming state (gstxmfuse.cpp), between start() and stop()

struct _GstXmFuse {
    GstAggregator parent;

    GstAggregatorPad* video_pad;  // always there
    GstAggregatorPad* audio_pad;  // requested; nullptr when not (object lock)

    // Properties (object lock); start() reads a copy.
    gchar* model;
    gchar* model_info;
    gchar* device;
    gdouble audio_window;     // seconds; 0 = the model's W
    gdouble event_threshold;  // group score that makes a token part of an event
    gdouble min_visible_share;  // share of an event's tokens an object must be seen at to get it

    XmFuseState* state;
};

GST_ELEMENT_REGISTER_DECLARE(xmfuse);

G_END_DECLS
