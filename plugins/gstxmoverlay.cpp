// xmoverlay: reads what earlier elements attached to a frame (see collect_scene) and hands it to
// xmodal::OverlayRenderer, which draws in place on any of the element's raw formats.
//
//   ... ! xmdetect ! xmtrack ! xmoverlay ! videoconvert ! x264enc ! mp4mux ! filesink
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstxmoverlay.hpp"

#include <gst/video/video.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "xm_objects.hpp"
#include "xmodal/error.hpp"
#include "xmodal/line_counter.hpp"
#include "xmodal/overlay.hpp"

GST_DEBUG_CATEGORY_STATIC(gst_xm_overlay_debug);
#define GST_CAT_DEFAULT gst_xm_overlay_debug

namespace {

constexpr gboolean default_show_labels = TRUE;
constexpr gboolean default_show_confidence = TRUE;
constexpr gboolean default_show_track_ids = TRUE;
constexpr int default_trail_length = 30;
constexpr int max_trail_length = 1000;
constexpr int default_line_thickness = 0;
constexpr int max_line_thickness = 100;
constexpr double default_font_scale = 0.0;
constexpr double max_font_scale = 20.0;

enum {
    PROP_0,
    PROP_SHOW_LABELS,
    PROP_SHOW_CONFIDENCE,
    PROP_SHOW_TRACK_IDS,
    PROP_TRAIL_LENGTH,
    PROP_LINE_THICKNESS,
    PROP_FONT_SCALE,
};

#define XM_OVERLAY_FORMATS "{ I420, NV12, RGB, BGR, RGBx, BGRx, RGBA, BGRA }"

GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(XM_OVERLAY_FORMATS)));
GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(XM_OVERLAY_FORMATS)));

// What one frame shows, owning the data the renderer's OverlayScene spans point to.
struct CollectedScene {
    std::vector<xmodal::OverlayObject> objects;
    std::vector<xmodal::OverlaySegment> segments;
    std::vector<xmodal::OverlayTextBlock> text_blocks;

    xmodal::OverlayScene view() const { return {objects, segments, text_blocks}; }
};

const GstStructure* nth_structure(const GstStructure* s, const char* field, guint i) {
    const GValue* array = s != nullptr ? gst_structure_get_value(s, field) : nullptr;
    if (array == nullptr || !GST_VALUE_HOLDS_ARRAY(array) || i >= gst_value_array_get_size(array)) return nullptr;
    const GValue* v = gst_value_array_get_value(array, i);
    return G_VALUE_HOLDS(v, GST_TYPE_STRUCTURE) ? gst_value_get_structure(v) : nullptr;
}

const GstStructure* sub_structure(const GstStructure* s, const char* field) {
    const GValue* v = gst_structure_get_value(s, field);
    return v != nullptr && G_VALUE_HOLDS(v, GST_TYPE_STRUCTURE) ? gst_value_get_structure(v) : nullptr;
}

double nth_double(const GstStructure* s, const char* field, guint i) {
    const GValue* array = s != nullptr ? gst_structure_get_value(s, field) : nullptr;
    if (array == nullptr || !GST_VALUE_HOLDS_ARRAY(array) || i >= gst_value_array_get_size(array)) return -1;
    const GValue* v = gst_value_array_get_value(array, i);
    return G_VALUE_HOLDS_DOUBLE(v) ? g_value_get_double(v) : -1;
}

// xmflow's meta (docs/elements/xmflow.md): each counting line with its name and running counts
// at its middle and an arrow towards its positive side; a text block with the running count and
// the next interval's forecast [band] per line and direction, and which forecaster made it.
void add_flow(CollectedScene& scene, const GstStructure* flow, int width, int height) {
    const gchar* lines_text = gst_structure_get_string(flow, "lines");
    if (lines_text == nullptr) return;
    std::vector<xmodal::CountingLine> lines;
    try {
        lines = xmodal::parse_counting_lines(lines_text);
    } catch (const xmodal::Error& e) {
        GST_WARNING("XmodalFlowMeta with unreadable lines: %s", e.what());
        return;
    }
    const GstStructure* running = sub_structure(flow, "running");
    const GstStructure* latest = sub_structure(flow, "latest");
    auto count = [](const GstStructure* series) {
        gint64 n = 0;
        if (series != nullptr) gst_structure_get_int64(series, "count", &n);
        return n;
    };
    const xmodal::Rgb colour{255, 255, 0};
    xmodal::OverlayTextBlock block;
    block.corner = xmodal::Corner::top_right;
    const gchar* forecaster = latest != nullptr ? gst_structure_get_string(latest, "forecaster") : nullptr;
    block.lines.push_back(forecaster != nullptr ? std::string("flow, forecast by ") + forecaster
                                                : std::string("flow, forecast after the first interval"));
    for (std::size_t l = 0; l < lines.size(); ++l) {
        const xmodal::CountingLine& line = lines[l];
        const xmodal::Point a{static_cast<int>(std::lround(line.x1 * width)), static_cast<int>(std::lround(line.y1 * height))};
        const xmodal::Point b{static_cast<int>(std::lround(line.x2 * width)), static_cast<int>(std::lround(line.y2 * height))};
        const gint64 positive = count(nth_structure(running, "counts", static_cast<guint>(2 * l)));
        const gint64 negative = count(nth_structure(running, "counts", static_cast<guint>(2 * l + 1)));
        scene.segments.push_back({a, b, colour,
                                  line.name + " +" + std::to_string(positive) + " -" + std::to_string(negative)});
        // The arrow: from the middle towards the positive side (the left of a -> b on screen).
        const double dx = b.x - a.x, dy = b.y - a.y, length = std::max(1.0, std::hypot(dx, dy));
        const double size = std::max(8.0, 0.04 * height);
        const double nx = dy / length, ny = -dx / length;  // unit normal to the left of a -> b
        const xmodal::Point mid{(a.x + b.x) / 2, (a.y + b.y) / 2};
        const xmodal::Point tip{mid.x + static_cast<int>(nx * size * 2), mid.y + static_cast<int>(ny * size * 2)};
        scene.segments.push_back({mid, tip, colour, ""});
        for (const double side : {-1.0, 1.0}) {
            const xmodal::Point barb{tip.x - static_cast<int>(nx * size * 0.7 - side * dx / length * size * 0.5),
                                     tip.y - static_cast<int>(ny * size * 0.7 - side * dy / length * size * 0.5)};
            scene.segments.push_back({tip, barb, colour, ""});
        }
        for (guint d = 0; d < 2; ++d) {
            const guint i = static_cast<guint>(2 * l) + d;
            char text[160];
            const GstStructure* predicted = nth_structure(latest, "series", i);
            const gint64 now = d == 0 ? positive : negative;
            if (predicted != nullptr && nth_double(predicted, "forecast", 0) >= 0)
                std::snprintf(text, sizeof text, "%s %s now %lld next %.1f [%.1f-%.1f]", line.name.c_str(), d == 0 ? "+" : "-",
                              static_cast<long long>(now), nth_double(predicted, "forecast", 0),
                              nth_double(predicted, "lower", 0), nth_double(predicted, "upper", 0));
            else
                std::snprintf(text, sizeof text, "%s %s now %lld", line.name.c_str(), d == 0 ? "+" : "-",
                              static_cast<long long>(now));
            block.lines.emplace_back(text);
        }
    }
    scene.text_blocks.push_back(std::move(block));
}

// xmfuse's meta (docs/elements/xmfuse.md): every sound event attributed to a visible track is a
// marker rising from the top of its box, captioned with the sound and its probability; a text
// block lists the events (track or off-screen) and the audio state. Objects whose "audio"
// structure refines their label (emergency-vehicle) are drawn with it.
void add_fusion(CollectedScene& scene, const GstStructure* fusion, int height) {
    const gchar* audio = gst_structure_get_string(fusion, "audio");
    const GValue* events = gst_structure_get_value(fusion, "events");
    const guint n = events != nullptr && GST_VALUE_HOLDS_ARRAY(events) ? gst_value_array_get_size(events) : 0;
    xmodal::OverlayTextBlock block;
    block.corner = xmodal::Corner::bottom_left;
    block.colour = {255, 200, 120};
    int tokens = 0;
    gst_structure_get_int(fusion, "audio-tokens", &tokens);
    block.lines.push_back(std::string("audio ") + (audio ? audio : "?") + ", " + std::to_string(tokens) + " windows");
    for (guint i = 0; i < n; ++i) {
        const GstStructure* e = nth_structure(fusion, "events", i);
        if (e == nullptr) continue;
        const gchar* sound = gst_structure_get_string(e, "sound");
        gint64 track = -1;
        double p = 0, score = 0;
        gst_structure_get_int64(e, "track-id", &track);
        gst_structure_get_double(e, "probability", &p);
        gst_structure_get_double(e, "score", &score);
        char text[160];
        if (track > 0)
            std::snprintf(text, sizeof text, "%s %.2f -> #%lld (p %.2f)", sound ? sound : "?", score,
                          static_cast<long long>(track), p);
        else
            std::snprintf(text, sizeof text, "%s %.2f -> off-screen (p %.2f)", sound ? sound : "?", score, p);
        block.lines.emplace_back(text);
        for (const xmodal::OverlayObject& o : scene.objects) {
            if (track <= 0 || o.track_id != track) continue;
            const int x = static_cast<int>(std::lround((o.x1 + o.x2) / 2)), y = static_cast<int>(std::lround(o.y1));
            char caption[96];
            std::snprintf(caption, sizeof caption, "%s %.2f", sound ? sound : "?", p);
            scene.segments.push_back({{x, y}, {x, y - std::max(12, height / 12)}, {255, 140, 0}, caption});
        }
    }
    scene.text_blocks.push_back(std::move(block));
}

// The one place where metas become things to draw. A later meta kind (counting lines, counts,
// captions, forecasts) adds a block here that reads its meta into segments / text_blocks (or into
// a new OverlayScene member; lib/xmodal/overlay.hpp says how).
CollectedScene collect_scene(GstBuffer* buffer, const GstVideoInfo& info) {
    CollectedScene scene;
    const int width = GST_VIDEO_INFO_WIDTH(&info), height = GST_VIDEO_INFO_HEIGHT(&info);
    for (const xmodal::gst::FrameObject& o : xmodal::gst::read_objects(buffer, width, height)) {
        scene.objects.push_back({static_cast<float>(o.x_min * width), static_cast<float>(o.y_min * height),
                                 static_cast<float>(o.x_max * width), static_cast<float>(o.y_max * height), o.label,
                                 o.label_id, static_cast<float>(o.confidence), o.track_id, o.track_state});
        const GstStructure* audio = gst_video_region_of_interest_meta_get_param(o.meta, "audio");
        const gchar* refined = audio != nullptr ? gst_structure_get_string(audio, "label") : nullptr;
        if (refined != nullptr && o.label != refined) scene.objects.back().label = refined;
    }
    if (const GstStructure* flow = xmodal::gst::flow_structure(buffer)) add_flow(scene, flow, width, height);
    if (const GstStructure* fusion = xmodal::gst::fusion_structure(buffer)) add_fusion(scene, fusion, height);
    return scene;
}

}  // namespace

struct _GstXmOverlay {
    GstVideoFilter parent;

    // Properties, under the object lock.
    gboolean show_labels;
    gboolean show_confidence;
    gboolean show_track_ids;
    gint trail_length;
    gint line_thickness;
    gdouble font_scale;

    // Streaming thread only (and start/stop/flush, when it is not running).
    xmodal::YuvEncoding encoding;  // from the caps' colorimetry
    xmodal::OverlayRenderer* renderer;
};

G_DEFINE_TYPE(GstXmOverlay, gst_xm_overlay, GST_TYPE_VIDEO_FILTER)

GST_ELEMENT_REGISTER_DEFINE(xmoverlay, "xmoverlay", GST_RANK_NONE, GST_TYPE_XM_OVERLAY)

namespace {

void set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
    GstXmOverlay* self = GST_XM_OVERLAY(object);
    GST_OBJECT_LOCK(self);
    switch (prop_id) {
        case PROP_SHOW_LABELS: self->show_labels = g_value_get_boolean(value); break;
        case PROP_SHOW_CONFIDENCE: self->show_confidence = g_value_get_boolean(value); break;
        case PROP_SHOW_TRACK_IDS: self->show_track_ids = g_value_get_boolean(value); break;
        case PROP_TRAIL_LENGTH: self->trail_length = g_value_get_int(value); break;
        case PROP_LINE_THICKNESS: self->line_thickness = g_value_get_int(value); break;
        case PROP_FONT_SCALE: self->font_scale = g_value_get_double(value); break;
        default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
    }
    GST_OBJECT_UNLOCK(self);
}

void get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
    GstXmOverlay* self = GST_XM_OVERLAY(object);
    GST_OBJECT_LOCK(self);
    switch (prop_id) {
        case PROP_SHOW_LABELS: g_value_set_boolean(value, self->show_labels); break;
        case PROP_SHOW_CONFIDENCE: g_value_set_boolean(value, self->show_confidence); break;
        case PROP_SHOW_TRACK_IDS: g_value_set_boolean(value, self->show_track_ids); break;
        case PROP_TRAIL_LENGTH: g_value_set_int(value, self->trail_length); break;
        case PROP_LINE_THICKNESS: g_value_set_int(value, self->line_thickness); break;
        case PROP_FONT_SCALE: g_value_set_double(value, self->font_scale); break;
        default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
    }
    GST_OBJECT_UNLOCK(self);
}

void finalize(GObject* object) {
    GstXmOverlay* self = GST_XM_OVERLAY(object);
    delete self->renderer;
    G_OBJECT_CLASS(gst_xm_overlay_parent_class)->finalize(object);
}

// The properties as renderer options; they may change while playing, so they are read per frame.
xmodal::OverlayOptions current_options(GstXmOverlay* self) {
    xmodal::OverlayOptions options;
    GST_OBJECT_LOCK(self);
    options.show_labels = self->show_labels;
    options.show_confidence = self->show_confidence;
    options.show_track_ids = self->show_track_ids;
    options.trail_length = self->trail_length;
    options.line_thickness = self->line_thickness;
    options.font_scale = self->font_scale;
    GST_OBJECT_UNLOCK(self);
    options.encoding = self->encoding;
    return options;
}

gboolean start(GstBaseTransform* trans) {
    GST_XM_OVERLAY(trans)->renderer->reset();
    return TRUE;
}

gboolean sink_event(GstBaseTransform* trans, GstEvent* event) {
    // A flush (seek) or a new stream breaks the motion trails follow.
    if (GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_STOP || GST_EVENT_TYPE(event) == GST_EVENT_STREAM_START) {
        GST_DEBUG_OBJECT(trans, "%s: forgetting trails", GST_EVENT_TYPE_NAME(event));
        GST_XM_OVERLAY(trans)->renderer->reset();
    }
    return GST_BASE_TRANSFORM_CLASS(gst_xm_overlay_parent_class)->sink_event(trans, event);
}

gboolean set_info(GstVideoFilter* filter, GstCaps* /*incaps*/, GstVideoInfo* in_info, GstCaps* /*outcaps*/,
                  GstVideoInfo* /*out_info*/) {
    GstXmOverlay* self = GST_XM_OVERLAY(filter);
    // Colours for YUV frames are encoded as the caps say; BT.601 unless they name BT.709.
    const GstVideoColorimetry& colorimetry = in_info->colorimetry;
    self->encoding.matrix =
        colorimetry.matrix == GST_VIDEO_COLOR_MATRIX_BT709 ? xmodal::YuvMatrix::bt709 : xmodal::YuvMatrix::bt601;
    self->encoding.full_range = colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255;
    GST_DEBUG_OBJECT(self, "%s %dx%d, colours as %s %s range", GST_VIDEO_INFO_NAME(in_info), GST_VIDEO_INFO_WIDTH(in_info),
                     GST_VIDEO_INFO_HEIGHT(in_info), self->encoding.matrix == xmodal::YuvMatrix::bt709 ? "BT.709" : "BT.601",
                     self->encoding.full_range ? "full" : "limited");
    return TRUE;
}

GstFlowReturn transform_frame_ip(GstVideoFilter* filter, GstVideoFrame* frame) {
    GstXmOverlay* self = GST_XM_OVERLAY(filter);
    xmodal::VideoFrameView view;
    const char* format = gst_video_format_to_string(GST_VIDEO_FRAME_FORMAT(frame));
    if (format == nullptr || !xmodal::parse_pixel_format(format, view.format)) {
        // The pad templates only admit supported formats; reaching this is a bug, not bad input.
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, (nullptr), ("unexpected format %s", format ? format : "(none)"));
        return GST_FLOW_NOT_NEGOTIATED;
    }
    view.width = GST_VIDEO_FRAME_WIDTH(frame);
    view.height = GST_VIDEO_FRAME_HEIGHT(frame);
    for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES(frame) && p < view.planes.size(); ++p) {
        view.planes[p] = static_cast<std::uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(frame, p));
        view.strides[p] = GST_VIDEO_FRAME_PLANE_STRIDE(frame, p);
    }
    const CollectedScene scene = collect_scene(frame->buffer, frame->info);
    try {
        self->renderer->set_options(current_options(self));
        self->renderer->draw(view, scene.view());
    } catch (const xmodal::Error& e) {
        GST_ELEMENT_ERROR(self, STREAM, FAILED, ("xmoverlay could not draw on the frame"), ("%s", e.what()));
        return GST_FLOW_ERROR;
    }
    return GST_FLOW_OK;
}

}  // namespace

static void gst_xm_overlay_class_init(GstXmOverlayClass* klass) {
    GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
    GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
    GstBaseTransformClass* transform_class = GST_BASE_TRANSFORM_CLASS(klass);
    GstVideoFilterClass* filter_class = GST_VIDEO_FILTER_CLASS(klass);

    gobject_class->set_property = set_property;
    gobject_class->get_property = get_property;
    gobject_class->finalize = finalize;

    const auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);
    g_object_class_install_property(
        gobject_class, PROP_SHOW_LABELS,
        g_param_spec_boolean("show-labels", "Show labels", "Write each object's class label above its box (default: true)",
                             default_show_labels, flags));
    g_object_class_install_property(
        gobject_class, PROP_SHOW_CONFIDENCE,
        g_param_spec_boolean("show-confidence", "Show confidence",
                             "Write each object's detection confidence (0.00-1.00) in its label; objects without a "
                             "confidence show none (default: true)",
                             default_show_confidence, flags));
    g_object_class_install_property(
        gobject_class, PROP_SHOW_TRACK_IDS,
        g_param_spec_boolean("show-track-ids", "Show track ids",
                             "Write the track id (\"#12\") of tracked objects in their label (default: true)",
                             default_show_track_ids, flags));
    g_object_class_install_property(
        gobject_class, PROP_TRAIL_LENGTH,
        g_param_spec_int("trail-length", "Trail length",
                         "Frames of motion trail (box centres) drawn behind each tracked object; 0 = no trails "
                         "(range 0-1000, default 30)",
                         0, max_trail_length, default_trail_length, flags));
    g_object_class_install_property(
        gobject_class, PROP_LINE_THICKNESS,
        g_param_spec_int("line-thickness", "Line thickness",
                         "Box outline thickness in pixels; 0 = automatic from the frame height (2 px at 360p, 4 px "
                         "at 1080p) (range 0-100, default 0)",
                         0, max_line_thickness, default_line_thickness, flags));
    g_object_class_install_property(
        gobject_class, PROP_FONT_SCALE,
        g_param_spec_double("font-scale", "Font scale",
                            "Label text scale (1.0: letters about 22 px tall); 0 = automatic from the frame height "
                            "(0.45 at 360p, 1.35 at 1080p) (range 0-20, default 0)",
                            0.0, max_font_scale, default_font_scale, flags));

    gst_element_class_set_static_metadata(element_class, "xmodal overlay", "Filter/Effect/Video",
                                          "Draws detected and tracked objects (boxes, labels, confidences, track ids, "
                                          "trails) onto raw video in place",
                                          "xmodal");
    gst_element_class_add_static_pad_template(element_class, &sink_template);
    gst_element_class_add_static_pad_template(element_class, &src_template);

    transform_class->start = start;
    transform_class->sink_event = sink_event;
    filter_class->set_info = set_info;
    filter_class->transform_frame_ip = transform_frame_ip;

    GST_DEBUG_CATEGORY_INIT(gst_xm_overlay_debug, "xmoverlay", 0, "xmodal overlay");
}

static void gst_xm_overlay_init(GstXmOverlay* self) {
    self->show_labels = default_show_labels;
    self->show_confidence = default_show_confidence;
    self->show_track_ids = default_show_track_ids;
    self->trail_length = default_trail_length;
    self->line_thickness = default_line_thickness;
    self->font_scale = default_font_scale;
    self->encoding = {};
    self->renderer = new xmodal::OverlayRenderer();
}
