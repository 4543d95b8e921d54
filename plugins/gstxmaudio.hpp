// xmaudio: audio event windows on raw audio (logic in lib/xmodal/audio_events.hpp);
// docs/elements/xmaudio.md.
#pragma once

#include <gst/base/gstbasetransform.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_XM_AUDIO (gst_xm_audio_get_type())
G_DECLARE_FINAL_TYPE(GstXmAudio, gst_xm_audio, GST, XM_AUDIO, GstBaseTransform)

GST_ELEMENT_REGISTER_DECLARE(xmaudio);

G_END_DECLS
