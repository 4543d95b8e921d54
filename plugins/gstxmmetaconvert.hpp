// xmmetaconvert: the objects of each frame (plugins/xm_objects.hpp) as one JSON document
// (lib/xmodal/frame_json.hpp, schema in docs/METADATA_JSON.md), written to a JSON Lines file,
// posted as an element message and/or pushed downstream; the video passes through unchanged
// unless downstream asks for the JSON itself (application/x-json or text/x-raw).
#pragma once

#include <gst/base/gstbasetransform.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_XM_METACONVERT (gst_xm_meta_convert_get_type())
G_DECLARE_FINAL_TYPE(GstXmMetaConvert, gst_xm_meta_convert, GST, XM_METACONVERT, GstBaseTransform)

GST_ELEMENT_REGISTER_DECLARE(xmmetaconvert);

G_END_DECLS
