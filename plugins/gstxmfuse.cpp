// xmfuse: which visible object makes each sound (xmodal::FusionModel; tokens, model and outputs in
// docs/FUSION.md, element reference in docs/elements/xmfuse.md).
//  - time: everything is on running time. A frame's query time t is its running time; an audio
//    window's times are its own PTS (XmodalAudioMeta) converted with the audio pad's segment. The
//    output keeps the video segment, so frames leave with their own timestamps.
//  - alignment: a window counts at t when its centre is at or before t, so before a frame goes out
//    every audio buffer that starts at or before t + half a window is consumed (its windows kept
//    for W + 1 s). When the audio branch has not reached that far yet the
//    element waits for it. In a live pipeline (or with force-live=true) only until the frame's
//    deadline (its running time + the upstream latency + `latency`, 550 ms by default, on the
//    pipeline clock); then the frame goes with the audio there is and `audio` = "late", and an
//    audio pad that never had data is not waited for again (ignore-inactive-pads). Non-live input
//    is waited for, as every aggregator does, so results do not depend on speed. A finished audio
//    branch (EOS) never holds video.
//  - without an audio pad, or with no audio window in [t − W, t], frames pass with video-only
//    results: no attribution, and the flag says why ("none", "ended", "late", "silent").
//  - outputs: a frame custom meta "XmodalFusionMeta" (structure "xmodal-fusion": flag, events with
//    their attributed track or off-screen, the attention matrix) and, on each tracked object's ROI
//    meta, an "audio" structure (emission probability per sound group, the refined label).
// The pixels are not touched; the audio buffers are consumed (tee before xmfuse to keep them).
#include "gstxmfuse.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <string>
#include <vector>

#include "xm_objects.hpp"
#include "xmodal/device.hpp"
#include "xmodal/error.hpp"
#include "xmodal/fusion.hpp"
#include "xmodal/safetensors.hpp"

GST_DEBUG_CATEGORY_STATIC(gst_xm_fuse_debug);
#define GST_CAT_DEFAULT gst_xm_fuse_debug

enum {
    PROP_0,
    PROP_MODEL,
    PROP_MODEL_INFO,
    PROP_DEVICE,
    PROP_AUDIO_WINDOW,
    PROP_EVENT_THRESHOLD,
    PROP_MIN_VISIBLE_SHARE,
};

struct XmFuseState {
    std::unique_ptr<xmodal::FusionModel> model;
    xmodal::TrackHistory history;
    std::vector<xmodal::AudioToken> windows;  // audio windows of the last W + 1 s, by arrival
    xmodal::FusionInputs inputs;
    GstVideoInfo info;
    bool have_info = false;
    GstClockTime audio_end = GST_CLOCK_TIME_NONE;  // running time up to which audio was consumed
    // A window counts at t when its centre is at or before t (FUSION.md §2), so audio is needed up
    // to t + half a window: its last window ends there. Half of YAMNet's 0.975 s until a meta says.
    GstClockTime reach = 487500 * GST_USECOND;
};

namespace {

constexpr double default_event_threshold = 0.3;
constexpr double default_min_visible_share = 0.5;  // FusionConfig's default
constexpr double max_audio_window = 60.0;

GstStaticPadTemplate video_template = GST_STATIC_PAD_TEMPLATE(
    "video", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(GST_VIDEO_FORMATS_ALL)));
GstStaticPadTemplate audio_template =
    GST_STATIC_PAD_TEMPLATE("audio", GST_PAD_SINK, GST_PAD_REQUEST, GST_STATIC_CAPS("audio/x-raw"));
GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(GST_VIDEO_FORMATS_ALL)));

double seconds(GstClockTime t) { return static_cast<double>(t) / 1e9; }

GstClockTime running_time(GstAggregatorPad* pad, GstClockTime pts) {
    if (!GST_CLOCK_TIME_IS_VALID(pts)) return GST_CLOCK_TIME_NONE;
    return gst_segment_to_running_time(&pad->segment, GST_FORMAT_TIME, pts);
}

GstClockTime to_clock_time(double s) { return s <= 0 ? 0 : static_cast<GstClockTime>(std::llround(s * 1e9)); }

void append_double(GValue* array, double d) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_TYPE_DOUBLE);
    g_value_set_double(&v, d);
    gst_value_array_append_and_take_value(array, &v);
}

void append_int(GValue* array, gint64 i) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_TYPE_INT64);
    g_value_set_int64(&v, i);
    gst_value_array_append_and_take_value(array, &v);
}

GstAggregatorPad* audio_pad_ref(GstXmFuse* self) {
    GST_OBJECT_LOCK(self);
    GstAggregatorPad* pad = self->audio_pad ? GST_AGGREGATOR_PAD(gst_object_ref(self->audio_pad)) : nullptr;
    GST_OBJECT_UNLOCK(self);
    return pad;
}

// Keeps the windows of an audio buffer as tokens on the running-time clock.
void consume_audio(XmFuseState& st, GstAggregatorPad* pad, GstBuffer* buffer) {
    for (const xmodal::gst::AudioWindowMeta& w : xmodal::gst::read_audio_windows(buffer)) {
        const GstClockTime start = running_time(pad, w.pts);
        if (!GST_CLOCK_TIME_IS_VALID(start) || !GST_CLOCK_TIME_IS_VALID(w.duration)) continue;  // outside the segment
        xmodal::AudioToken token;
        token.start = seconds(start);
        token.end = seconds(start + w.duration);
        token.scores = w.scores;
        token.embedding = w.embedding;
        token.loudness_dbfs = static_cast<float>(w.loudness_dbfs);
        st.windows.push_back(std::move(token));
        st.reach = w.duration / 2;
    }
    const GstClockTime start = running_time(pad, GST_BUFFER_PTS(buffer));
    if (GST_CLOCK_TIME_IS_VALID(start)) {
        const GstClockTime end = start + (GST_BUFFER_DURATION_IS_VALID(buffer) ? GST_BUFFER_DURATION(buffer) : 0);
        if (!GST_CLOCK_TIME_IS_VALID(st.audio_end) || end > st.audio_end) st.audio_end = end;
    }
}

// The "audio" structure of one tracked object: emission per group, the best group, the label.
void annotate_object(GstVideoRegionOfInterestMeta* roi, const xmodal::FusionConfig& config,
                     const xmodal::FusionResult& r, std::int64_t row) {
    GstStructure* s = gst_structure_new_empty("audio");
    std::size_t best = 0;
    const std::size_t groups = config.groups.size();
    for (std::size_t g = 0; g < groups; ++g) {
        const float p = r.emission[static_cast<std::size_t>(row) * groups + g];
        gst_structure_set(s, config.groups[g].name.c_str(), G_TYPE_DOUBLE, static_cast<double>(p), nullptr);
        if (p > r.emission[static_cast<std::size_t>(row) * groups + best]) best = g;
    }
    gst_structure_set(s, "sound", G_TYPE_STRING, config.groups[best].name.c_str(), "probability", G_TYPE_DOUBLE,
                      static_cast<double>(r.emission[static_cast<std::size_t>(row) * groups + best]), "label",
                      G_TYPE_STRING, std::string(r.labels[static_cast<std::size_t>(row)]).c_str(), nullptr);
    gst_video_region_of_interest_meta_add_param(roi, s);
}

// Fills the frame's "xmodal-fusion" structure.
void fill_fusion_structure(GstStructure* s, const XmFuseState& st, const char* flag, double t,
                           const xmodal::FusionResult* r) {
    const xmodal::FusionConfig& config = st.model->config();
    const xmodal::FusionInputs& in = st.inputs;
    gst_structure_set(s, "audio", G_TYPE_STRING, flag, "audio-tokens", G_TYPE_INT, static_cast<int>(in.audio_tokens),
                      "objects", G_TYPE_INT, static_cast<int>(in.objects), "window", G_TYPE_DOUBLE, config.window,
                      nullptr);
    GValue events = G_VALUE_INIT, ids = G_VALUE_INIT, times = G_VALUE_INIT, attention = G_VALUE_INIT;
    gst_value_array_init(&events, 0);
    gst_value_array_init(&ids, 0);
    gst_value_array_init(&times, 0);
    gst_value_array_init(&attention, 0);
    for (std::int64_t k = 0; k < in.objects; ++k) append_int(&ids, in.track_ids[static_cast<std::size_t>(k)]);
    append_int(&ids, -1);  // the off-screen column
    if (r) {
        const std::size_t cols = static_cast<std::size_t>(r->objects + 1);
        const std::size_t groups = config.groups.size();
        for (std::int64_t i = 0; i < r->audio_tokens; ++i) {
            append_double(&times, in.audio_centre[static_cast<std::size_t>(i)] - t);
            GValue row = G_VALUE_INIT;
            gst_value_array_init(&row, static_cast<guint>(cols));
            for (std::size_t c = 0; c < cols; ++c) append_double(&row, r->attribution[static_cast<std::size_t>(i) * cols + c]);
            gst_value_array_append_and_take_value(&attention, &row);
        }
        for (const xmodal::FusionEvent& e : r->events) {
            const auto& first = in.audio_centre[static_cast<std::size_t>(e.first_token)];
            const auto& last = in.audio_centre[static_cast<std::size_t>(e.last_token)];
            double score = 0;
            for (std::int64_t i = e.first_token; i <= e.last_token; ++i)
                score += in.group_scores[static_cast<std::size_t>(i) * groups + static_cast<std::size_t>(e.group)];
            score /= static_cast<double>(e.last_token - e.first_token + 1);
            GstStructure* item = gst_structure_new(
                "event", "sound", G_TYPE_STRING, config.groups[static_cast<std::size_t>(e.group)].name.c_str(), "score",
                G_TYPE_DOUBLE, score, "start", G_TYPE_UINT64, static_cast<guint64>(to_clock_time(first)), "end",
                G_TYPE_UINT64, static_cast<guint64>(to_clock_time(last)), "track-id", G_TYPE_INT64,
                static_cast<gint64>(e.track_id), "off-screen", G_TYPE_BOOLEAN, e.track_id < 0, "probability",
                G_TYPE_DOUBLE, static_cast<double>(e.probability), nullptr);
            GValue v = G_VALUE_INIT;
            g_value_init(&v, GST_TYPE_STRUCTURE);
            g_value_take_boxed(&v, item);
            gst_value_array_append_and_take_value(&events, &v);
        }
    }
    gst_structure_take_value(s, "events", &events);
    gst_structure_take_value(s, "track-ids", &ids);
    gst_structure_take_value(s, "token-times", &times);
    gst_structure_take_value(s, "attention", &attention);
}

}  // namespace

G_DEFINE_TYPE(GstXmFuse, gst_xm_fuse, GST_TYPE_AGGREGATOR)
GST_ELEMENT_REGISTER_DEFINE(xmfuse, "xmfuse", GST_RANK_NONE, GST_TYPE_XM_FUSE)

static void gst_xm_fuse_set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
    GstXmFuse* self = GST_XM_FUSE(object);
    GST_OBJECT_LOCK(self);
    auto set_string = [&](gchar*& field) {
        g_free(field);
        field = g_value_dup_string(value);
    };
    switch (prop_id) {
        case PROP_MODEL: set_string(self->model); break;
        case PROP_MODEL_INFO: set_string(self->model_info); break;
        case PROP_DEVICE: set_string(self->device); break;
        case PROP_AUDIO_WINDOW: self->audio_window = g_value_get_double(value); break;
        case PROP_EVENT_THRESHOLD: self->event_threshold = g_value_get_double(value); break;
        case PROP_MIN_VISIBLE_SHARE: self->min_visible_share = g_value_get_double(value); break;
        default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
    }
    GST_OBJECT_UNLOCK(self);
}

static void gst_xm_fuse_get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
    GstXmFuse* self = GST_XM_FUSE(object);
    GST_OBJECT_LOCK(self);
    switch (prop_id) {
        case PROP_MODEL: g_value_set_string(value, self->model); break;
        case PROP_MODEL_INFO: g_value_set_string(value, self->model_info); break;
        case PROP_DEVICE: g_value_set_string(value, self->device); break;
        case PROP_AUDIO_WINDOW: g_value_set_double(value, self->audio_window); break;
        case PROP_EVENT_THRESHOLD: g_value_set_double(value, self->event_threshold); break;
        case PROP_MIN_VISIBLE_SHARE: g_value_set_double(value, self->min_visible_share); break;
        default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
    }
    GST_OBJECT_UNLOCK(self);
}

static void gst_xm_fuse_finalize(GObject* object) {
    GstXmFuse* self = GST_XM_FUSE(object);
    g_free(self->model), g_free(self->model_info), g_free(self->device);
    delete self->state;
    G_OBJECT_CLASS(gst_xm_fuse_parent_class)->finalize(object);
}

static gboolean gst_xm_fuse_start(GstAggregator* agg) {
    GstXmFuse* self = GST_XM_FUSE(agg);
    GST_OBJECT_LOCK(self);
    const std::string model = self->model ? self->model : "", model_info = self->model_info ? self->model_info : "",
                      device = self->device ? self->device : "cpu";
    const double audio_window = self->audio_window, event_threshold = self->event_threshold,
                 min_visible_share = self->min_visible_share;
    GST_OBJECT_UNLOCK(self);

    if (model.empty()) {
        GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND, ("xmfuse: no model set"),
                          ("set model= to the fusion weights (.safetensors), e.g. models/fusion.safetensors"));
        return FALSE;
    }
    if (audio_window != 0 && (audio_window < 0.5 || audio_window > max_audio_window)) {
        GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("xmfuse: audio-window %g s is out of range", audio_window),
                          ("expected 0 (the model's window) or 0.5 .. %g seconds", max_audio_window));
        return FALSE;
    }
    if (!(event_threshold > 0 && event_threshold < 1)) {
        GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("xmfuse: event-threshold %g is out of range", event_threshold),
                          ("expected a group score in (0, 1)"));
        return FALSE;
    }
    if (!(min_visible_share >= 0 && min_visible_share <= 1)) {
        GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("xmfuse: min-visible-share %g is out of range", min_visible_share),
                          ("expected a share of an event's audio windows in 0 .. 1"));
        return FALSE;
    }
    try {
        const std::string description = model_info.empty() ? xmodal::FusionModel::description_path(model) : model_info;
        std::vector<xmodal::TensorFile> members;
        members.push_back(xmodal::load_safetensors(model));
        xmodal::FusionConfig config = xmodal::FusionConfig::load(description);
        for (const auto& path : config.ensemble) members.push_back(xmodal::load_safetensors(path));  // FUSION.md §3
        if (audio_window > 0) config.window = audio_window;
        config.event_threshold = static_cast<float>(event_threshold);
        config.min_visible_share = min_visible_share;
        auto st = std::make_unique<XmFuseState>();
        st->model = std::make_unique<xmodal::FusionModel>(std::move(config), std::span<const xmodal::TensorFile>(members),
                                                          xmodal::Device::open(device));
        delete self->state;
        self->state = st.release();
    } catch (const std::exception& e) {
        GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ, ("xmfuse: cannot load the fusion model: %s", e.what()),
                          ("model=%s model-info=%s device=%s", model.c_str(), model_info.c_str(), device.c_str()));
        return FALSE;
    }
    return TRUE;
}

static gboolean gst_xm_fuse_stop(GstAggregator* agg) {
    GstXmFuse* self = GST_XM_FUSE(agg);
    delete self->state;
    self->state = nullptr;
    return TRUE;
}

static GstAggregatorPad* gst_xm_fuse_create_new_pad(GstAggregator* agg, GstPadTemplate* templ, const gchar*,
                                                    const GstCaps*) {
    GstXmFuse* self = GST_XM_FUSE(agg);
    if (GST_PAD_TEMPLATE_DIRECTION(templ) != GST_PAD_SINK ||
        std::string(GST_PAD_TEMPLATE_NAME_TEMPLATE(templ)) != "audio")
        return nullptr;
    GST_OBJECT_LOCK(self);
    if (self->audio_pad) {
        GST_OBJECT_UNLOCK(self);
        GST_WARNING_OBJECT(self, "xmfuse has one audio pad; it was already requested");
        return nullptr;
    }
    auto* pad = GST_AGGREGATOR_PAD(
        g_object_new(GST_TYPE_AGGREGATOR_PAD, "name", "audio", "direction", GST_PAD_SINK, "template", templ, nullptr));
    self->audio_pad = pad;  // the element's pad list holds the reference
    GST_OBJECT_UNLOCK(self);
    return pad;
}

static void gst_xm_fuse_release_pad(GstElement* element, GstPad* pad) {
    GstXmFuse* self = GST_XM_FUSE(element);
    GST_OBJECT_LOCK(self);
    if (GST_PAD(self->audio_pad) == pad) self->audio_pad = nullptr;
    GST_OBJECT_UNLOCK(self);
    GST_ELEMENT_CLASS(gst_xm_fuse_parent_class)->release_pad(element, pad);
}

static gboolean gst_xm_fuse_sink_event(GstAggregator* agg, GstAggregatorPad* pad, GstEvent* event) {
    GstXmFuse* self = GST_XM_FUSE(agg);
    if (pad == self->video_pad) {
        if (GST_EVENT_TYPE(event) == GST_EVENT_CAPS) {
            GstCaps* caps = nullptr;
            gst_event_parse_caps(event, &caps);
            GstVideoInfo info;
            if (!gst_video_info_from_caps(&info, caps)) {
                gchar* text = gst_caps_to_string(caps);
                GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("xmfuse: video caps are not raw video"), ("caps %s", text));
                g_free(text);
                gst_event_unref(event);
                return FALSE;
            }
            if (self->state) {
                self->state->info = info;
                self->state->have_info = true;
            }
        } else if (GST_EVENT_TYPE(event) == GST_EVENT_SEGMENT) {
            const GstSegment* segment = nullptr;
            gst_event_parse_segment(event, &segment);
            if (segment->format != GST_FORMAT_TIME) {
                GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("xmfuse: video segment is not in time"),
                                  ("got a %s segment", gst_format_get_name(segment->format)));
                gst_event_unref(event);
                return FALSE;
            }
            gst_aggregator_update_segment(agg, segment);
        }
    } else if (self->state && (GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_STOP || GST_EVENT_TYPE(event) == GST_EVENT_STREAM_START)) {
        // A new audio stream or a seek: earlier windows belong to another timeline.
        self->state->windows.clear();
        self->state->audio_end = GST_CLOCK_TIME_NONE;
    }
    return GST_AGGREGATOR_CLASS(gst_xm_fuse_parent_class)->sink_event(agg, pad, event);
}

// The output caps are the video pad's: frames pass through. (GstAggregator's default would fixate
// the template against downstream instead.)
static GstFlowReturn gst_xm_fuse_update_src_caps(GstAggregator* agg, GstCaps* downstream, GstCaps** ret) {
    GstXmFuse* self = GST_XM_FUSE(agg);
    GstCaps* video = gst_pad_get_current_caps(GST_PAD(self->video_pad));
    if (video == nullptr) return GST_AGGREGATOR_FLOW_NEED_DATA;
    if (!gst_caps_can_intersect(video, downstream)) {
        gchar* ours = gst_caps_to_string(video);
        gchar* theirs = gst_caps_to_string(downstream);
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("xmfuse: downstream does not accept the video caps"),
                          ("video %s, downstream %s", ours, theirs));
        g_free(ours), g_free(theirs);
        gst_caps_unref(video);
        return GST_FLOW_NOT_NEGOTIATED;
    }
    *ret = video;
    return GST_FLOW_OK;
}

static GstFlowReturn gst_xm_fuse_flush(GstAggregator* agg) {
    GstXmFuse* self = GST_XM_FUSE(agg);
    if (self->state) {
        self->state->history.clear();
        self->state->windows.clear();
        self->state->audio_end = GST_CLOCK_TIME_NONE;
    }
    return GST_FLOW_OK;
}

// The deadline of live aggregation: the running time of the next frame.
static GstClockTime gst_xm_fuse_get_next_time(GstAggregator* agg) {
    GstXmFuse* self = GST_XM_FUSE(agg);
    GstBuffer* frame = gst_aggregator_pad_peek_buffer(self->video_pad);
    if (!frame) return GST_CLOCK_TIME_NONE;
    const GstClockTime t = running_time(self->video_pad, GST_BUFFER_PTS(frame));
    gst_buffer_unref(frame);
    return t;
}

static GstFlowReturn gst_xm_fuse_aggregate(GstAggregator* agg, gboolean timeout) {
    GstXmFuse* self = GST_XM_FUSE(agg);
    XmFuseState* st = self->state;
    if (!st) return GST_FLOW_FLUSHING;

    GstBuffer* peeked = gst_aggregator_pad_peek_buffer(self->video_pad);
    if (!peeked) return gst_aggregator_pad_is_eos(self->video_pad) ? GST_FLOW_EOS : GST_AGGREGATOR_FLOW_NEED_DATA;
    const GstClockTime t_rt = running_time(self->video_pad, GST_BUFFER_PTS(peeked));
    gst_buffer_unref(peeked);
    if (!GST_CLOCK_TIME_IS_VALID(t_rt)) {
        GST_ELEMENT_ERROR(self, STREAM, FAILED, ("xmfuse: a video frame has no timestamp (or lies outside its segment)"),
                          ("fusion aligns audio to frames by running time"));
        return GST_FLOW_ERROR;
    }
    if (!st->have_info) {
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("xmfuse: a video frame arrived before its caps"), (nullptr));
        return GST_FLOW_NOT_NEGOTIATED;
    }

    // Consume the audio up to the frame, or decide not to wait for it.
    const char* flag = "none";
    GstAggregatorPad* audio = audio_pad_ref(self);
    if (audio && gst_aggregator_pad_is_inactive(audio)) {  // requested, but no data ever came: no audio
        gst_object_unref(audio);
        audio = nullptr;
    }
    if (audio) {
        for (;;) {
            GstBuffer* buffer = gst_aggregator_pad_peek_buffer(audio);
            if (buffer) {
                const GstClockTime start = running_time(audio, GST_BUFFER_PTS(buffer));
                if (GST_CLOCK_TIME_IS_VALID(start) && start > t_rt + st->reach) {
                    gst_buffer_unref(buffer);
                    flag = "ok";
                    break;
                }
                consume_audio(*st, audio, buffer);
                gst_buffer_unref(buffer);
                gst_aggregator_pad_drop_buffer(audio);
                continue;
            }
            if (gst_aggregator_pad_is_eos(audio)) {
                flag = "ended";
                break;
            }
            if (GST_CLOCK_TIME_IS_VALID(st->audio_end) && st->audio_end >= t_rt + st->reach) {
                flag = "ok";
                break;
            }
            if (timeout) {
                flag = "late";
                GST_DEBUG_OBJECT(self, "audio has not reached %" GST_TIME_FORMAT ", the frame goes without it",
                                 GST_TIME_ARGS(t_rt));
                break;
            }
            gst_object_unref(audio);
            return GST_AGGREGATOR_FLOW_NEED_DATA;
        }
        gst_object_unref(audio);
    }

    GstBuffer* frame = gst_aggregator_pad_pop_buffer(self->video_pad);
    if (!frame) return GST_AGGREGATOR_FLOW_NEED_DATA;  // flushed meanwhile
    frame = gst_buffer_make_writable(frame);

    const double t = seconds(t_rt);
    const xmodal::FusionConfig& config = st->model->config();
    const int width = GST_VIDEO_INFO_WIDTH(&st->info), height = GST_VIDEO_INFO_HEIGHT(&st->info);
    std::vector<xmodal::gst::FrameObject> objects = xmodal::gst::read_objects(frame, width, height);
    for (const auto& o : objects) {
        if (o.track_id <= 0) continue;  // fusion reasons about tracks: it needs their history
        xmodal::TimedBox box;
        box.t = t;
        box.x = static_cast<float>(o.x_min), box.y = static_cast<float>(o.y_min);
        box.w = static_cast<float>(o.x_max - o.x_min), box.h = static_cast<float>(o.y_max - o.y_min);
        st->history.add(o.track_id, o.label, box);
    }
    const double keep = config.window + 1.0;
    st->history.prune(t, keep);
    std::erase_if(st->windows, [&](const xmodal::AudioToken& w) { return w.end < t - keep; });

    const xmodal::FusionResult* result = nullptr;
    try {
        xmodal::build_fusion_inputs(config, st->windows, st->history.tracks(), t, st->inputs);
        if (st->inputs.audio_tokens > 0) result = &st->model->run(st->inputs);
    } catch (const std::exception& e) {
        gst_buffer_unref(frame);
        GST_ELEMENT_ERROR(self, STREAM, FAILED, ("xmfuse: fusion failed at %" GST_TIME_FORMAT, GST_TIME_ARGS(t_rt)),
                          ("%s", e.what()));
        return GST_FLOW_ERROR;
    }
    if (!result && std::string(flag) == "ok") flag = "silent";  // audio is there, but no window in [t − W, t]

    if (result) {
        for (std::int64_t k = 0; k < result->objects; ++k) {
            const std::int64_t id = st->inputs.track_ids[static_cast<std::size_t>(k)];
            for (const auto& o : objects)
                if (o.track_id == id) annotate_object(o.meta, config, *result, k);
        }
    }
    fill_fusion_structure(xmodal::gst::add_fusion_structure(frame), *st, flag, t, result);
    return gst_aggregator_finish_buffer(agg, frame);
}

static void gst_xm_fuse_class_init(GstXmFuseClass* klass) {
    GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
    GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
    GstAggregatorClass* agg_class = GST_AGGREGATOR_CLASS(klass);
    GST_DEBUG_CATEGORY_INIT(gst_xm_fuse_debug, "xmfuse", 0, "xmodal audio-visual fusion");

    gobject_class->set_property = gst_xm_fuse_set_property;
    gobject_class->get_property = gst_xm_fuse_get_property;
    gobject_class->finalize = gst_xm_fuse_finalize;

    const auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
    g_object_class_install_property(
        gobject_class, PROP_MODEL,
        g_param_spec_string("model", "Model", "Fusion weights (.safetensors, e.g. models/fusion.safetensors); required",
                            nullptr, flags));
    g_object_class_install_property(
        gobject_class, PROP_MODEL_INFO,
        g_param_spec_string("model-info", "Model info",
                            "The model's description (JSON: window, curve points, sound groups, classes); default: "
                            "the model path with .json for .safetensors",
                            nullptr, flags));
    g_object_class_install_property(
        gobject_class, PROP_DEVICE,
        g_param_spec_string("device", "Device", "Where the attention runs: cpu, gpu or gpu:N", "cpu", flags));
    g_object_class_install_property(
        gobject_class, PROP_AUDIO_WINDOW,
        g_param_spec_double("audio-window", "Audio window",
                            "Seconds of audio before each frame that fusion looks at (0 = the window the model was "
                            "trained with, else 0.5 .. 60)",
                            0.0, G_MAXDOUBLE, 0.0, flags));
    g_object_class_install_property(
        gobject_class, PROP_EVENT_THRESHOLD,
        g_param_spec_double("event-threshold", "Event threshold",
                            "Sound-group score (0..1, exclusive) from which an audio window is part of a sound event",
                            -G_MAXDOUBLE, G_MAXDOUBLE, default_event_threshold, flags));
    g_object_class_install_property(
        gobject_class, PROP_MIN_VISIBLE_SHARE,
        g_param_spec_double("min-visible-share", "Min visible share",
                            "Share of an event's audio windows (0..1) at which a track must be on the frame to be "
                            "attributed the sound; 0 lets every tracked object compete",
                            -G_MAXDOUBLE, G_MAXDOUBLE, default_min_visible_share, flags));

    gst_element_class_add_static_pad_template_with_gtype(element_class, &video_template, GST_TYPE_AGGREGATOR_PAD);
    gst_element_class_add_static_pad_template_with_gtype(element_class, &audio_template, GST_TYPE_AGGREGATOR_PAD);
    gst_element_class_add_static_pad_template_with_gtype(element_class, &src_template, GST_TYPE_AGGREGATOR_PAD);
    gst_element_class_set_static_metadata(
        element_class, "xmodal audio-visual fusion", "Filter/Analyzer/Video/Audio",
        "Attributes sound events to tracked objects or off-screen with cross-modal attention (xmodal::FusionModel)",
        "xmodal");
    element_class->release_pad = gst_xm_fuse_release_pad;

    agg_class->start = gst_xm_fuse_start;
    agg_class->stop = gst_xm_fuse_stop;
    agg_class->create_new_pad = gst_xm_fuse_create_new_pad;
    agg_class->sink_event = gst_xm_fuse_sink_event;
    agg_class->flush = gst_xm_fuse_flush;
    agg_class->update_src_caps = gst_xm_fuse_update_src_caps;
    agg_class->get_next_time = gst_xm_fuse_get_next_time;
    agg_class->aggregate = gst_xm_fuse_aggregate;
}

static void gst_xm_fuse_init(GstXmFuse* self) {
    GstPadTemplate* templ = gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(self), "video");
    self->video_pad = GST_AGGREGATOR_PAD(
        g_object_new(GST_TYPE_AGGREGATOR_PAD, "name", "video", "direction", GST_PAD_SINK, "template", templ, nullptr));
    gst_element_add_pad(GST_ELEMENT(self), GST_PAD(self->video_pad));
    self->audio_pad = nullptr;
    self->model = nullptr;
    self->model_info = nullptr;
    self->device = g_strdup("cpu");
    self->audio_window = 0.0;
    self->event_threshold = default_event_threshold;
    self->min_visible_share = default_min_visible_share;
    self->state = nullptr;
    // Live: a stalled or never-fed audio branch costs frames their audio after `latency`, never the
    // pipeline. The window centred on a frame ends half a YAMNet window (487.5 ms) after it, plus
    // xmaudio's inference time: 550 ms covers both. Non-live input waits for audio like every
    // aggregator (exact results however slow the pipeline is); force-live=true bounds that too.
    gst_aggregator_set_ignore_inactive_pads(GST_AGGREGATOR(self), TRUE);
    g_object_set(self, "latency", static_cast<guint64>(550 * GST_MSECOND), nullptr);
}
