// xmtrack: gives the detector's objects stable track ids (ByteTrack-style tracker in libxmodal).
//  - frames a detector ran on (inference marker inferred=true, or no marker): the ROIs are the
//    detections; those assigned to a confirmed track get meta->id and a "tracking" structure
//    (state "confirmed"); ROIs of tentative tracks are kept (state "tentative") only with
//    output-tentative; ROIs the tracker discarded (low-score boxes that continued nothing,
//    boxes below new-track-threshold) are removed, so downstream sees tracked objects only.
//  - frames the detector skipped (inferred=false): any ROIs are replaced by the predicted boxes
//    of the followed tracks (state "predicted").
// The pixels are not touched: any raw video format passes.
#include "gstxmtrack.hpp"

#include <exception>
#include <new>
#include <vector>

#include "xm_objects.hpp"

GST_DEBUG_CATEGORY_STATIC(gst_xm_track_debug);
#define GST_CAT_DEFAULT gst_xm_track_debug

enum {
    PROP_0,
    PROP_MAX_AGE,
    PROP_MIN_HITS,
    PROP_TRACK_THRESHOLD,
    PROP_LOW_THRESHOLD,
    PROP_NEW_TRACK_THRESHOLD,
    PROP_IOU_THRESHOLD,
    PROP_DISTANCE_THRESHOLD,
    PROP_CLASS_AWARE,
    PROP_OUTPUT_TENTATIVE,
};

namespace {

const xmodal::TrackerOptions defaults{};

GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(GST_VIDEO_FORMATS_ALL)));
GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(GST_VIDEO_FORMATS_ALL)));

}  // namespace

G_DEFINE_TYPE(GstXmTrack, gst_xm_track, GST_TYPE_BASE_TRANSFORM)
GST_ELEMENT_REGISTER_DEFINE(xmtrack, "xmtrack", GST_RANK_NONE, GST_TYPE_XM_TRACK)

static void gst_xm_track_set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
    GstXmTrack* self = GST_XM_TRACK(object);
    GST_OBJECT_LOCK(self);
    xmodal::TrackerOptions& o = self->options;
    switch (prop_id) {
        case PROP_MAX_AGE: o.max_age = g_value_get_int(value); break;
        case PROP_MIN_HITS: o.min_hits = g_value_get_int(value); break;
        case PROP_TRACK_THRESHOLD: o.track_threshold = static_cast<float>(g_value_get_double(value)); break;
        case PROP_LOW_THRESHOLD: o.low_threshold = static_cast<float>(g_value_get_double(value)); break;
        case PROP_NEW_TRACK_THRESHOLD: o.new_track_threshold = static_cast<float>(g_value_get_double(value)); break;
        case PROP_IOU_THRESHOLD: o.iou_threshold = static_cast<float>(g_value_get_double(value)); break;
        case PROP_DISTANCE_THRESHOLD: o.distance_threshold = static_cast<float>(g_value_get_double(value)); break;
        case PROP_CLASS_AWARE: o.class_aware = g_value_get_boolean(value); break;
        case PROP_OUTPUT_TENTATIVE: self->output_tentative = g_value_get_boolean(value); break;
        default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
    }
    GST_OBJECT_UNLOCK(self);
}

static void gst_xm_track_get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
    GstXmTrack* self = GST_XM_TRACK(object);
    GST_OBJECT_LOCK(self);
    const xmodal::TrackerOptions& o = self->options;
    switch (prop_id) {
        case PROP_MAX_AGE: g_value_set_int(value, o.max_age); break;
        case PROP_MIN_HITS: g_value_set_int(value, o.min_hits); break;
        case PROP_TRACK_THRESHOLD: g_value_set_double(value, o.track_threshold); break;
        case PROP_LOW_THRESHOLD: g_value_set_double(value, o.low_threshold); break;
        case PROP_NEW_TRACK_THRESHOLD: g_value_set_double(value, o.new_track_threshold); break;
        case PROP_IOU_THRESHOLD: g_value_set_double(value, o.iou_threshold); break;
        case PROP_DISTANCE_THRESHOLD: g_value_set_double(value, o.distance_threshold); break;
        case PROP_CLASS_AWARE: g_value_set_boolean(value, o.class_aware); break;
        case PROP_OUTPUT_TENTATIVE: g_value_set_boolean(value, self->output_tentative); break;
        default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
    }
    GST_OBJECT_UNLOCK(self);
}

static gboolean gst_xm_track_start(GstBaseTransform* trans) {
    GstXmTrack* self = GST_XM_TRACK(trans);
    GST_OBJECT_LOCK(self);
    const xmodal::TrackerOptions options = self->options;
    GST_OBJECT_UNLOCK(self);
    try {
        delete self->tracker;
        self->tracker = nullptr;
        self->tracker = new xmodal::MultiObjectTracker(options);  // validates the properties
    } catch (const std::exception& e) {
        GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("xmtrack: invalid properties: %s", e.what()), (nullptr));
        return FALSE;
    }
    return TRUE;
}

static gboolean gst_xm_track_stop(GstBaseTransform* trans) {
    GstXmTrack* self = GST_XM_TRACK(trans);
    delete self->tracker;
    self->tracker = nullptr;
    return TRUE;
}

static gboolean gst_xm_track_set_caps(GstBaseTransform* trans, GstCaps* incaps, GstCaps* /*outcaps*/) {
    GstXmTrack* self = GST_XM_TRACK(trans);
    GstVideoInfo info;
    if (!gst_video_info_from_caps(&info, incaps)) {
        gchar* text = gst_caps_to_string(incaps);
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("xmtrack: caps %s are not raw video with a size", text), (nullptr));
        g_free(text);
        return FALSE;
    }
    // Tracks live in pixels: after a resolution change their boxes mean nothing.
    const bool resized = GST_VIDEO_INFO_WIDTH(&self->info) != GST_VIDEO_INFO_WIDTH(&info) ||
                         GST_VIDEO_INFO_HEIGHT(&self->info) != GST_VIDEO_INFO_HEIGHT(&info);
    if (resized && self->tracker != nullptr) self->tracker->reset();
    self->info = info;
    return TRUE;
}

static gboolean gst_xm_track_sink_event(GstBaseTransform* trans, GstEvent* event) {
    GstXmTrack* self = GST_XM_TRACK(trans);
    // After a flush (seek) the next frame is unrelated to the last one: start over.
    if (GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_STOP && self->tracker != nullptr) {
        GST_DEBUG_OBJECT(self, "flush: resetting the tracker");
        self->tracker->reset();
    }
    return GST_BASE_TRANSFORM_CLASS(gst_xm_track_parent_class)->sink_event(trans, event);
}

static GstFlowReturn gst_xm_track_transform_ip(GstBaseTransform* trans, GstBuffer* buffer) {
    GstXmTrack* self = GST_XM_TRACK(trans);
    const int width = GST_VIDEO_INFO_WIDTH(&self->info), height = GST_VIDEO_INFO_HEIGHT(&self->info);
    GST_OBJECT_LOCK(self);
    const bool output_tentative = self->output_tentative;
    GST_OBJECT_UNLOCK(self);

    const std::optional<bool> inferred = xmodal::gst::inference_ran(buffer);
    if (inferred.has_value() && !*inferred) {
        xmodal::gst::remove_objects(buffer);
        for (const xmodal::Track& t : self->tracker->predict_frame()) {
            // A track predicted out of the picture has left it: no empty ROI for it.
            if (t.box.x2 <= 0.f || t.box.y2 <= 0.f || t.box.x1 >= static_cast<float>(width) ||
                t.box.y1 >= static_cast<float>(height))
                continue;
            GstVideoRegionOfInterestMeta* roi = xmodal::gst::add_object(
                buffer, width, height, t.label, t.label_id, t.confidence, t.box.x1, t.box.y1, t.box.x2, t.box.y2);
            xmodal::gst::set_tracking(roi, t.id, "predicted");
        }
        return GST_FLOW_OK;
    }

    const std::vector<xmodal::gst::FrameObject> objects = xmodal::gst::read_objects(buffer, width, height);
    std::vector<xmodal::Detection> detections;
    detections.reserve(objects.size());
    for (const xmodal::gst::FrameObject& o : objects)
        detections.push_back({o.label_id, o.label, static_cast<float>(o.confidence), static_cast<float>(o.x_min * width),
                              static_cast<float>(o.y_min * height), static_cast<float>(o.x_max * width),
                              static_cast<float>(o.y_max * height)});
    const xmodal::TrackerUpdate update = self->tracker->update(detections);
    for (std::size_t i = 0; i < objects.size(); ++i) {
        const xmodal::TrackAssignment& a = update.detections[i];
        const bool keep = a.track_id > 0 && (a.state == xmodal::TrackState::confirmed ||
                                             (output_tentative && a.state == xmodal::TrackState::tentative));
        if (keep)
            xmodal::gst::set_tracking(objects[i].meta, a.track_id, xmodal::track_state_name(a.state));
        else
            gst_buffer_remove_meta(buffer, reinterpret_cast<GstMeta*>(objects[i].meta));
    }
    GST_LOG_OBJECT(self, "%zu objects in, %zu live tracks", objects.size(), update.tracks.size());
    return GST_FLOW_OK;
}

static void gst_xm_track_finalize(GObject* object) {
    GstXmTrack* self = GST_XM_TRACK(object);
    delete self->tracker;
    self->tracker = nullptr;
    G_OBJECT_CLASS(gst_xm_track_parent_class)->finalize(object);
}

static void gst_xm_track_class_init(GstXmTrackClass* klass) {
    GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
    GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
    GstBaseTransformClass* trans_class = GST_BASE_TRANSFORM_CLASS(klass);

    gobject_class->set_property = gst_xm_track_set_property;
    gobject_class->get_property = gst_xm_track_get_property;
    gobject_class->finalize = gst_xm_track_finalize;

    const auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
    // Numeric ranges are checked when the element starts (an ERROR naming the property and value,
    // lib's validate_tracker_options) rather than by GLib, which only warns and keeps the old value.
    g_object_class_install_property(
        gobject_class, PROP_MAX_AGE,
        g_param_spec_int("max-age", "Max age",
                         "Frames a confirmed track survives without a matching detection before it is deleted "
                         "(0..100000; counts frames the detector skipped too, so keep it above inference-interval)",
                         G_MININT, G_MAXINT, defaults.max_age, flags));
    g_object_class_install_property(
        gobject_class, PROP_MIN_HITS,
        g_param_spec_int("min-hits", "Min hits",
                         "Consecutive matched detector frames that confirm a new track (1..1000; 1 = at once)", G_MININT,
                         G_MAXINT, defaults.min_hits, flags));
    g_object_class_install_property(
        gobject_class, PROP_TRACK_THRESHOLD,
        g_param_spec_double("track-threshold", "Track threshold",
                            "Detections scoring at least this are high-score: matched first, to every track "
                            "(0..1; <= new-track-threshold)",
                            -G_MAXDOUBLE, G_MAXDOUBLE, defaults.track_threshold, flags));
    g_object_class_install_property(
        gobject_class, PROP_LOW_THRESHOLD,
        g_param_spec_double("low-threshold", "Low threshold",
                            "Detections scoring at least this but below track-threshold only continue tracks "
                            "followed on the previous frame; lower ones are dropped (0..1; <= track-threshold)",
                            -G_MAXDOUBLE, G_MAXDOUBLE, defaults.low_threshold, flags));
    g_object_class_install_property(
        gobject_class, PROP_NEW_TRACK_THRESHOLD,
        g_param_spec_double("new-track-threshold", "New track threshold",
                            "An unmatched detection scoring at least this starts a tentative track "
                            "(0..1; >= track-threshold)",
                            -G_MAXDOUBLE, G_MAXDOUBLE, defaults.new_track_threshold, flags));
    g_object_class_install_property(
        gobject_class, PROP_IOU_THRESHOLD,
        g_param_spec_double("iou-threshold", "IoU threshold",
                            "A detection and a track's predicted box can match when their IoU is at least this "
                            "(0.01..1)",
                            -G_MAXDOUBLE, G_MAXDOUBLE, defaults.iou_threshold, flags));
    g_object_class_install_property(
        gobject_class, PROP_DISTANCE_THRESHOLD,
        g_param_spec_double("distance-threshold", "Distance threshold",
                            "Third stage for fast objects: a high-score detection no track overlaps may continue an "
                            "unmatched track of similar size (square root of the area within 2x) whose predicted centre is at most this many "
                            "box diagonals away (0..10; 0 = off)",
                            -G_MAXDOUBLE, G_MAXDOUBLE, defaults.distance_threshold, flags));
    g_object_class_install_property(
        gobject_class, PROP_CLASS_AWARE,
        g_param_spec_boolean("class-aware", "Class aware",
                             "Match a detection only to tracks of its label id; when false a track takes the label "
                             "its detections had most often",
                             defaults.class_aware, flags));
    g_object_class_install_property(
        gobject_class, PROP_OUTPUT_TENTATIVE,
        g_param_spec_boolean("output-tentative", "Output tentative",
                             "Keep the ROIs of tentative (not yet confirmed) tracks, with tracking state "
                             "\"tentative\"; when false only confirmed tracks are output",
                             FALSE, flags));

    gst_element_class_set_static_metadata(element_class, "xmodal tracker", "Filter/Analyzer/Video",
                                          "Multi-object tracking (Kalman filter, ByteTrack two-stage IoU matching): "
                                          "writes stable track ids into the ROI metas and predicts boxes on frames "
                                          "the detector skipped",
                                          "xmodal");
    gst_element_class_add_static_pad_template(element_class, &sink_template);
    gst_element_class_add_static_pad_template(element_class, &src_template);

    trans_class->start = GST_DEBUG_FUNCPTR(gst_xm_track_start);
    trans_class->stop = GST_DEBUG_FUNCPTR(gst_xm_track_stop);
    trans_class->set_caps = GST_DEBUG_FUNCPTR(gst_xm_track_set_caps);
    trans_class->sink_event = GST_DEBUG_FUNCPTR(gst_xm_track_sink_event);
    trans_class->transform_ip = GST_DEBUG_FUNCPTR(gst_xm_track_transform_ip);
    // Metas change, pixels never: in place, and never passthrough (that would skip transform_ip).
    trans_class->passthrough_on_same_caps = FALSE;
    trans_class->transform_ip_on_passthrough = FALSE;

    GST_DEBUG_CATEGORY_INIT(gst_xm_track_debug, "xmtrack", 0, "xmodal multi-object tracker");
}

static void gst_xm_track_init(GstXmTrack* self) {
    self->options = defaults;
    self->output_tentative = FALSE;
    gst_video_info_init(&self->info);
    self->tracker = nullptr;
    gst_base_transform_set_in_place(GST_BASE_TRANSFORM(self), TRUE);
}
