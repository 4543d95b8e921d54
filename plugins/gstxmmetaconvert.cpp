// xmmetaconvert: an adapter from buffer metas to xmodal::FrameRecord; the document itself, its
// schema and the JSON Lines file are lib/xmodal/frame_json.hpp's.
//
// Two modes, chosen by caps negotiation:
//  - video pass-through (src caps = sink caps, the default): buffers go on untouched; the JSON goes
//    to `location` and/or the bus (`post-messages`);
//  - JSON out (downstream takes application/x-json or text/x-raw,format=utf8): each frame becomes a
//    buffer holding its document and a newline, with the frame's timestamps.
#include "gstxmmetaconvert.hpp"

#include <gst/video/video.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "xm_objects.hpp"
#include "xmodal/error.hpp"
#include "xmodal/frame_json.hpp"

GST_DEBUG_CATEGORY_STATIC(gst_xm_meta_convert_debug);
#define GST_CAT_DEFAULT gst_xm_meta_convert_debug

namespace {

using json = nlohmann::json;

constexpr int max_json_indent = 10;
constexpr const char* message_name = "xmodal-frame";

struct Settings {
    std::string source;
    std::string location;
    bool post_messages = false;
    bool include_empty = true;
    int json_indent = 0;
};

// What one run (start .. stop) of the element holds.
struct Stream {
    GstVideoInfo info{};
    bool json_out = false;
    std::optional<std::string> source;  // resolved on the first frame
    std::uint64_t frame_number = 0;
    std::unique_ptr<xmodal::JsonLinesFile> file;
};

}  // namespace

struct _GstXmMetaConvert {
    GstBaseTransform parent;
    Settings* settings;  // under the object lock
    Stream* stream;      // streaming thread, and start/stop
};

G_DEFINE_TYPE(GstXmMetaConvert, gst_xm_meta_convert, GST_TYPE_BASE_TRANSFORM)
GST_ELEMENT_REGISTER_DEFINE(xmmetaconvert, "xmmetaconvert", GST_RANK_NONE, GST_TYPE_XM_METACONVERT)

namespace {

enum { PROP_0, PROP_SOURCE, PROP_LOCATION, PROP_POST_MESSAGES, PROP_INCLUDE_EMPTY, PROP_JSON_INDENT };

#define JSON_CAPS "application/x-json; text/x-raw, format = (string) utf8"

GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS("video/x-raw(ANY)"));
GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS("video/x-raw(ANY); " JSON_CAPS));

GstXmMetaConvert* self_of(gpointer object) { return GST_XM_METACONVERT(object); }

Settings settings_snapshot(GstXmMetaConvert* self) {
    GST_OBJECT_LOCK(self);
    Settings copy = *self->settings;
    GST_OBJECT_UNLOCK(self);
    return copy;
}

// --- GstStructure fields -> JSON: numbers, booleans, strings, arrays/lists and nested structures
// as themselves; anything else as GStreamer's serialisation of it (e.g. a fraction "30/1").

json value_to_json(const GValue* value);

json structure_to_json(const GstStructure* s) {
    json object = json::object();
    gst_structure_foreach(
        s,
        [](GQuark field, const GValue* value, gpointer user_data) -> gboolean {
            (*static_cast<json*>(user_data))[g_quark_to_string(field)] = value_to_json(value);
            return TRUE;
        },
        &object);
    return object;
}

json value_to_json(const GValue* value) {
    const GType type = G_VALUE_TYPE(value);
    if (type == G_TYPE_BOOLEAN) return g_value_get_boolean(value) != FALSE;
    if (type == G_TYPE_INT) return g_value_get_int(value);
    if (type == G_TYPE_UINT) return g_value_get_uint(value);
    if (type == G_TYPE_INT64) return g_value_get_int64(value);
    if (type == G_TYPE_UINT64) return g_value_get_uint64(value);
    if (type == G_TYPE_LONG) return g_value_get_long(value);
    if (type == G_TYPE_ULONG) return g_value_get_ulong(value);
    if (type == G_TYPE_DOUBLE) return g_value_get_double(value);  // NaN/inf: null when dumped
    if (type == G_TYPE_FLOAT) return g_value_get_float(value);
    if (type == G_TYPE_STRING) {
        const gchar* s = g_value_get_string(value);
        return s != nullptr ? json(s) : json(nullptr);
    }
    if (type == GST_TYPE_ARRAY || type == GST_TYPE_LIST) {
        json array = json::array();
        const guint n = type == GST_TYPE_ARRAY ? gst_value_array_get_size(value) : gst_value_list_get_size(value);
        for (guint i = 0; i < n; ++i)
            array.push_back(value_to_json(type == GST_TYPE_ARRAY ? gst_value_array_get_value(value, i)
                                                                 : gst_value_list_get_value(value, i)));
        return array;
    }
    if (type == GST_TYPE_STRUCTURE) {
        const GstStructure* s = gst_value_get_structure(value);
        return s != nullptr ? structure_to_json(s) : json(nullptr);
    }
    gchar* serialized = gst_value_serialize(value);
    if (serialized == nullptr) return nullptr;
    json text = serialized;
    g_free(serialized);
    return text;
}

// --- the frame record

// The URI of the upstream source (filesrc, uridecodebin, rtspsrc... answer the URI query), else
// the element's name: a stable id without configuration.
std::string default_source(GstXmMetaConvert* self) {
    std::string source;
    GstQuery* query = gst_query_new_uri();
    if (gst_pad_peer_query(GST_BASE_TRANSFORM_SINK_PAD(self), query)) {
        gchar* uri = nullptr;
        gst_query_parse_uri(query, &uri);
        if (uri != nullptr) source = uri;
        g_free(uri);
    }
    gst_query_unref(query);
    if (source.empty()) {
        gchar* name = gst_object_get_name(GST_OBJECT(self));
        source = name;
        g_free(name);
    }
    GST_INFO_OBJECT(self, "source id \"%s\"", source.c_str());
    return source;
}

xmodal::FrameRecord frame_record(GstXmMetaConvert* self, GstBuffer* buffer, const Settings& settings) {
    Stream& stream = *self->stream;
    if (!stream.source) stream.source = settings.source.empty() ? default_source(self) : settings.source;

    xmodal::FrameRecord frame;
    frame.source = *stream.source;
    frame.frame_number = stream.frame_number;
    frame.width = GST_VIDEO_INFO_WIDTH(&stream.info);
    frame.height = GST_VIDEO_INFO_HEIGHT(&stream.info);
    const GstSegment& segment = GST_BASE_TRANSFORM(self)->segment;
    if (segment.format == GST_FORMAT_TIME && GST_BUFFER_PTS_IS_VALID(buffer)) {
        const GstClockTime stream_time = gst_segment_to_stream_time(&segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buffer));
        if (GST_CLOCK_TIME_IS_VALID(stream_time)) frame.timestamp_ns = stream_time;
    }

    int region_id = 0;
    for (const xmodal::gst::FrameObject& o : xmodal::gst::read_objects(buffer, frame.width, frame.height)) {
        xmodal::ObjectRecord object;
        object.region_id = region_id++;
        object.track_id = o.track_id;
        object.track_state = o.track_state;
        object.label = o.label;
        object.label_id = o.label_id;
        object.confidence = o.confidence;
        object.x = static_cast<int>(o.meta->x), object.y = static_cast<int>(o.meta->y);
        object.w = static_cast<int>(o.meta->w), object.h = static_cast<int>(o.meta->h);
        object.x_min = o.x_min, object.y_min = o.y_min, object.x_max = o.x_max, object.y_max = o.y_max;
        for (GList* l = o.meta->params; l != nullptr; l = l->next) {
            const auto* s = static_cast<const GstStructure*>(l->data);
            if (gst_structure_has_name(s, xmodal::gst::detection_structure_name) ||
                gst_structure_has_name(s, xmodal::gst::tracking_structure_name))
                continue;
            object.extra.emplace_back(gst_structure_get_name(s), structure_to_json(s));
        }
        frame.objects.push_back(std::move(object));
    }

    // Frame-level fields: every custom meta (gst_buffer_add_custom_meta), under its structure's name;
    // xmdetect's "xmodal-inference" marker arrives this way.
    gpointer state = nullptr;
    while (GstMeta* meta = gst_buffer_iterate_meta(buffer, &state)) {
        if (!gst_meta_info_is_custom(meta->info)) continue;
        const GstStructure* s = gst_custom_meta_get_structure(reinterpret_cast<GstCustomMeta*>(meta));
        frame.extra.emplace_back(gst_structure_get_name(s), structure_to_json(s));
    }
    return frame;
}

// Writes/posts the frame's document and, when `json_out` is given, appends it to that buffer.
// GST_BASE_TRANSFORM_FLOW_DROPPED: a frame without objects while include-empty is off.
GstFlowReturn convert_frame(GstXmMetaConvert* self, GstBuffer* in, GstBuffer* json_out) {
    const Settings settings = settings_snapshot(self);
    Stream& stream = *self->stream;
    try {
        const xmodal::FrameRecord frame = frame_record(self, in, settings);
        ++stream.frame_number;
        if (frame.objects.empty() && !settings.include_empty) return GST_BASE_TRANSFORM_FLOW_DROPPED;

        const std::string line = xmodal::frame_json_line(frame);
        const std::string text = settings.json_indent > 0 ? xmodal::frame_json_line(frame, settings.json_indent) : line;
        if (stream.file) stream.file->write_line(line);  // always compact: one document per line
        if (settings.post_messages) {
            const GstSegment& segment = GST_BASE_TRANSFORM(self)->segment;
            const bool timed = segment.format == GST_FORMAT_TIME && GST_BUFFER_PTS_IS_VALID(in);
            const GstClockTime pts = GST_BUFFER_PTS(in);
            const GstClockTime running_time =
                timed ? gst_segment_to_running_time(&segment, GST_FORMAT_TIME, pts) : GST_CLOCK_TIME_NONE;
            GstStructure* s = gst_structure_new(
                message_name, "json", G_TYPE_STRING, text.c_str(),                                                 //
                "stream-time", G_TYPE_UINT64, frame.timestamp_ns.value_or(GST_CLOCK_TIME_NONE),  //
                "running-time", G_TYPE_UINT64, running_time, nullptr);
            gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
        }
        if (json_out != nullptr) {
            const gsize size = text.size() + 1;
            auto* data = static_cast<char*>(g_malloc(size));
            std::memcpy(data, text.data(), text.size());
            data[text.size()] = '\n';
            gst_buffer_append_memory(json_out,
                                     gst_memory_new_wrapped(GST_MEMORY_FLAG_READONLY, data, size, 0, size, data, g_free));
        }
    } catch (const xmodal::Error& e) {
        GST_ELEMENT_ERROR(self, STREAM, FAILED, ("%s", e.what()), ("frame %" G_GUINT64_FORMAT, stream.frame_number));
        return GST_FLOW_ERROR;
    }
    return GST_FLOW_OK;
}

// --- GstBaseTransform

GstCaps* transform_caps(GstBaseTransform* trans, GstPadDirection direction, GstCaps* caps, GstCaps* filter) {
    GstCaps* result = gst_caps_new_empty();
    if (direction == GST_PAD_SINK) {
        // Video first: with a downstream that takes anything (filesink, fakesink) the frames pass through.
        result = gst_caps_merge(result, gst_caps_copy(caps));
        result = gst_caps_merge(result, gst_caps_from_string(JSON_CAPS));
    } else {
        for (guint i = 0; i < gst_caps_get_size(caps); ++i) {
            if (gst_structure_has_name(gst_caps_get_structure(caps, i), "video/x-raw"))
                result = gst_caps_merge(result, gst_caps_copy_nth(caps, i));
            else  // any video gives the JSON
                result = gst_caps_merge(result, gst_static_pad_template_get_caps(&sink_template));
        }
    }
    if (filter != nullptr) {
        GstCaps* filtered = gst_caps_intersect_full(filter, result, GST_CAPS_INTERSECT_FIRST);
        gst_caps_unref(result);
        result = filtered;
    }
    GST_DEBUG_OBJECT(trans, "%s caps %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT, direction == GST_PAD_SINK ? "sink" : "src",
                     static_cast<gpointer>(caps), static_cast<gpointer>(result));
    return result;
}

gboolean set_caps(GstBaseTransform* trans, GstCaps* incaps, GstCaps* outcaps) {
    GstXmMetaConvert* self = self_of(trans);
    if (!gst_video_info_from_caps(&self->stream->info, incaps)) {
        gchar* text = gst_caps_to_string(incaps);
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("xmmetaconvert: cannot read the video size from caps %s", text),
                          (nullptr));
        g_free(text);
        return FALSE;
    }
    self->stream->json_out = !gst_structure_has_name(gst_caps_get_structure(outcaps, 0), "video/x-raw");
    gst_base_transform_set_passthrough(trans, !self->stream->json_out);
    gst_base_transform_set_in_place(trans, !self->stream->json_out);
    GST_INFO_OBJECT(self, "%s", self->stream->json_out ? "pushing JSON" : "passing video through");
    return TRUE;
}

gboolean start(GstBaseTransform* trans) {
    GstXmMetaConvert* self = self_of(trans);
    const Settings settings = settings_snapshot(self);
    *self->stream = Stream{};
    if (!settings.location.empty()) {
        try {
            self->stream->file = std::make_unique<xmodal::JsonLinesFile>(settings.location);
        } catch (const xmodal::Error& e) {
            GST_ELEMENT_ERROR(self, RESOURCE, OPEN_WRITE, ("xmmetaconvert location: %s", e.what()), (nullptr));
            return FALSE;
        }
    }
    return TRUE;
}

bool flush_file(GstXmMetaConvert* self) {
    if (!self->stream->file) return true;
    try {
        self->stream->file->flush();
    } catch (const xmodal::Error& e) {
        GST_ELEMENT_ERROR(self, RESOURCE, WRITE, ("xmmetaconvert location: %s", e.what()), (nullptr));
        return false;
    }
    return true;
}

gboolean stop(GstBaseTransform* trans) {
    GstXmMetaConvert* self = self_of(trans);
    const bool flushed = flush_file(self);
    *self->stream = Stream{};  // closes the file
    return flushed;
}

gboolean sink_event(GstBaseTransform* trans, GstEvent* event) {
    if (GST_EVENT_TYPE(event) == GST_EVENT_EOS) flush_file(self_of(trans));  // readers see every line at EOS
    return GST_BASE_TRANSFORM_CLASS(gst_xm_meta_convert_parent_class)->sink_event(trans, event);
}

GstFlowReturn prepare_output_buffer(GstBaseTransform* trans, GstBuffer* in, GstBuffer** out) {
    if (!self_of(trans)->stream->json_out)
        return GST_BASE_TRANSFORM_CLASS(gst_xm_meta_convert_parent_class)->prepare_output_buffer(trans, in, out);
    *out = gst_buffer_new();  // transform() appends the document
    gst_buffer_copy_into(*out, in, GST_BUFFER_COPY_TIMESTAMPS, 0, static_cast<gsize>(-1));
    if (GST_BUFFER_FLAG_IS_SET(in, GST_BUFFER_FLAG_DISCONT)) GST_BUFFER_FLAG_SET(*out, GST_BUFFER_FLAG_DISCONT);
    return GST_FLOW_OK;
}

GstFlowReturn transform(GstBaseTransform* trans, GstBuffer* in, GstBuffer* out) {
    return convert_frame(self_of(trans), in, out);
}

GstFlowReturn transform_ip(GstBaseTransform* trans, GstBuffer* buffer) {
    const GstFlowReturn ret = convert_frame(self_of(trans), buffer, nullptr);
    return ret == GST_BASE_TRANSFORM_FLOW_DROPPED ? GST_FLOW_OK : ret;  // the video goes on regardless
}

// --- GObject

void set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
    GstXmMetaConvert* self = self_of(object);
    GST_OBJECT_LOCK(self);
    Settings& s = *self->settings;
    switch (prop_id) {
        case PROP_SOURCE: s.source = g_value_get_string(value) != nullptr ? g_value_get_string(value) : ""; break;
        case PROP_LOCATION: s.location = g_value_get_string(value) != nullptr ? g_value_get_string(value) : ""; break;
        case PROP_POST_MESSAGES: s.post_messages = g_value_get_boolean(value) != FALSE; break;
        case PROP_INCLUDE_EMPTY: s.include_empty = g_value_get_boolean(value) != FALSE; break;
        case PROP_JSON_INDENT: s.json_indent = g_value_get_int(value); break;
        default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
    }
    GST_OBJECT_UNLOCK(self);
}

void get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
    GstXmMetaConvert* self = self_of(object);
    GST_OBJECT_LOCK(self);
    const Settings& s = *self->settings;
    switch (prop_id) {
        case PROP_SOURCE: g_value_set_string(value, s.source.c_str()); break;
        case PROP_LOCATION: g_value_set_string(value, s.location.c_str()); break;
        case PROP_POST_MESSAGES: g_value_set_boolean(value, s.post_messages); break;
        case PROP_INCLUDE_EMPTY: g_value_set_boolean(value, s.include_empty); break;
        case PROP_JSON_INDENT: g_value_set_int(value, s.json_indent); break;
        default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
    }
    GST_OBJECT_UNLOCK(self);
}

void finalize(GObject* object) {
    GstXmMetaConvert* self = self_of(object);
    delete self->stream;
    delete self->settings;
    G_OBJECT_CLASS(gst_xm_meta_convert_parent_class)->finalize(object);
}

}  // namespace

static void gst_xm_meta_convert_class_init(GstXmMetaConvertClass* klass) {
    auto* gobject_class = G_OBJECT_CLASS(klass);
    auto* element_class = GST_ELEMENT_CLASS(klass);
    auto* trans_class = GST_BASE_TRANSFORM_CLASS(klass);
    GST_DEBUG_CATEGORY_INIT(gst_xm_meta_convert_debug, "xmmetaconvert", 0, "xmodal frame metadata to JSON");

    gobject_class->set_property = set_property;
    gobject_class->get_property = get_property;
    gobject_class->finalize = finalize;

    const auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
    const auto ready_flags = static_cast<GParamFlags>(flags | GST_PARAM_MUTABLE_READY);
    const auto playing_flags = static_cast<GParamFlags>(flags | GST_PARAM_MUTABLE_PLAYING);
    g_object_class_install_property(
        gobject_class, PROP_SOURCE,
        g_param_spec_string("source", "Source",
                            "Stream/source id written as \"source\" in every document. Default \"\": the URI of the "
                            "upstream source (URI query, e.g. file:///path/clip.mp4), else this element's name",
                            "", ready_flags));
    g_object_class_install_property(
        gobject_class, PROP_LOCATION,
        g_param_spec_string("location", "Location",
                            "File to write JSON Lines to: one compact document per frame, truncated at start, flushed "
                            "at EOS and stop. Default \"\": no file. An unwritable path fails the state change",
                            "", ready_flags));
    g_object_class_install_property(
        gobject_class, PROP_POST_MESSAGES,
        g_param_spec_boolean("post-messages", "Post messages",
                             "Post an element message \"xmodal-frame\" per frame on the bus, fields json (string), "
                             "stream-time and running-time (guint64, ns). Default false",
                             FALSE, playing_flags));
    g_object_class_install_property(
        gobject_class, PROP_INCLUDE_EMPTY,
        g_param_spec_boolean("include-empty", "Include empty frames",
                             "Produce a document for frames without objects too (one per frame). When false, such "
                             "frames are not written, posted or pushed as JSON (video still passes). Default true",
                             TRUE, playing_flags));
    g_object_class_install_property(
        gobject_class, PROP_JSON_INDENT,
        g_param_spec_int("json-indent", "JSON indent",
                         "Spaces per level when pretty-printing pushed and posted documents, for debugging "
                         "(0..10; 0 = one compact line, default). The location file is always compact",
                         0, max_json_indent, 0, playing_flags));

    gst_element_class_set_static_metadata(element_class, "xmodal metadata to JSON", "Filter/Metadata/Video",
                                          "Turns each frame's objects (ROI metas, tracking, user fields) into one JSON "
                                          "document: to a JSON Lines file, a bus message, or downstream",
                                          "xmodal");
    gst_element_class_add_static_pad_template(element_class, &sink_template);
    gst_element_class_add_static_pad_template(element_class, &src_template);

    trans_class->transform_caps = GST_DEBUG_FUNCPTR(transform_caps);
    trans_class->set_caps = GST_DEBUG_FUNCPTR(set_caps);
    trans_class->start = GST_DEBUG_FUNCPTR(start);
    trans_class->stop = GST_DEBUG_FUNCPTR(stop);
    trans_class->sink_event = GST_DEBUG_FUNCPTR(sink_event);
    trans_class->prepare_output_buffer = GST_DEBUG_FUNCPTR(prepare_output_buffer);
    trans_class->transform = GST_DEBUG_FUNCPTR(transform);
    trans_class->transform_ip = GST_DEBUG_FUNCPTR(transform_ip);
    trans_class->transform_ip_on_passthrough = TRUE;  // the video passes, but its metas are read
    trans_class->passthrough_on_same_caps = FALSE;
}

static void gst_xm_meta_convert_init(GstXmMetaConvert* self) {
    self->settings = new Settings();
    self->stream = new Stream();
}
