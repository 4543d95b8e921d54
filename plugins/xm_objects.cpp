#include "xm_objects.hpp"

#include <algorithm>
#include <cmath>

namespace xmodal::gst {

namespace {

double clamp01(double v) { return std::clamp(v, 0.0, 1.0); }

bool get_double(const GstStructure* s, const char* field, double& out) {
    return s != nullptr && gst_structure_get_double(s, field, &out);
}

void register_custom_meta(const char* name) {
    // The plugin and a test program each carry a copy of this file: register only once per process.
    if (gst_meta_get_info(name) != nullptr) return;
    static const gchar* tags[] = {nullptr};
    gst_meta_register_custom(name, tags, nullptr, nullptr, nullptr);
}

void register_inference_meta_once() {
    static const bool registered = (register_custom_meta(inference_meta_name), true);
    (void)registered;
}

void register_flow_meta_once() {
    static const bool registered = (register_custom_meta(flow_meta_name), true);
    (void)registered;
}

void register_fusion_meta_once() {
    static const bool registered = (register_custom_meta(fusion_meta_name), true);
    (void)registered;
}

void register_audio_meta_once() {
    static const bool registered = (register_custom_meta(audio_meta_name), true);
    (void)registered;
}

void set_floats_as_bytes(GstStructure* s, const char* field, const std::vector<float>& values) {
    GBytes* bytes = g_bytes_new(values.data(), values.size() * sizeof(float));
    gst_structure_set(s, field, G_TYPE_BYTES, bytes, nullptr);
    g_bytes_unref(bytes);
}

std::vector<float> floats_from_bytes(const GstStructure* s, const char* field) {
    const GValue* value = gst_structure_get_value(s, field);
    if (value == nullptr || !G_VALUE_HOLDS(value, G_TYPE_BYTES)) return {};
    auto* bytes = static_cast<GBytes*>(g_value_get_boxed(value));
    if (bytes == nullptr) return {};
    gsize size = 0;
    const auto* data = static_cast<const float*>(g_bytes_get_data(bytes, &size));
    return std::vector<float>(data, data + size / sizeof(float));
}

}  // namespace

std::vector<FrameObject> read_objects(GstBuffer* buffer, int width, int height) {
    std::vector<FrameObject> objects;
    gpointer state = nullptr;
    while (GstMeta* meta = gst_buffer_iterate_meta_filtered(buffer, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE)) {
        auto* roi = reinterpret_cast<GstVideoRegionOfInterestMeta*>(meta);
        FrameObject object;
        object.meta = roi;
        object.track_id = roi->id;
        const GstStructure* detection = gst_video_region_of_interest_meta_get_param(roi, detection_structure_name);
        if (detection != nullptr) {
            if (const gchar* label = gst_structure_get_string(detection, "label")) object.label = label;
            gst_structure_get_int(detection, "label_id", &object.label_id);
            get_double(detection, "confidence", object.confidence);
        }
        if (object.label.empty() && roi->roi_type != 0) object.label = g_quark_to_string(roi->roi_type);
        if (!(get_double(detection, "x_min", object.x_min) && get_double(detection, "y_min", object.y_min) &&
              get_double(detection, "x_max", object.x_max) && get_double(detection, "y_max", object.y_max))) {
            object.x_min = clamp01(static_cast<double>(roi->x) / width);
            object.y_min = clamp01(static_cast<double>(roi->y) / height);
            object.x_max = clamp01(static_cast<double>(roi->x + roi->w) / width);
            object.y_max = clamp01(static_cast<double>(roi->y + roi->h) / height);
        }
        if (const GstStructure* tracking = gst_video_region_of_interest_meta_get_param(roi, tracking_structure_name))
            if (const gchar* s = gst_structure_get_string(tracking, "state")) object.track_state = s;
        objects.push_back(std::move(object));
    }
    return objects;
}

GstVideoRegionOfInterestMeta* add_object(GstBuffer* buffer, int width, int height, const std::string& label,
                                         int label_id, double confidence, double x1, double y1, double x2, double y2) {
    const double w = width, h = height;
    x1 = std::clamp(x1, 0.0, w), x2 = std::clamp(x2, 0.0, w);
    y1 = std::clamp(y1, 0.0, h), y2 = std::clamp(y2, 0.0, h);
    const auto px = [](double v) { return static_cast<guint>(std::lround(v)); };
    GstVideoRegionOfInterestMeta* roi = gst_buffer_add_video_region_of_interest_meta(
        buffer, label.c_str(), px(x1), px(y1), px(x2) - px(x1), px(y2) - px(y1));
    GstStructure* detection = gst_structure_new(detection_structure_name,                                   //
                                                "label", G_TYPE_STRING, label.c_str(),                      //
                                                "label_id", G_TYPE_INT, label_id,                           //
                                                "confidence", G_TYPE_DOUBLE, confidence,                    //
                                                "x_min", G_TYPE_DOUBLE, x1 / w, "y_min", G_TYPE_DOUBLE, y1 / h,  //
                                                "x_max", G_TYPE_DOUBLE, x2 / w, "y_max", G_TYPE_DOUBLE, y2 / h,  //
                                                nullptr);
    gst_video_region_of_interest_meta_add_param(roi, detection);  // takes ownership
    return roi;
}

void set_tracking(GstVideoRegionOfInterestMeta* meta, int track_id, const char* state) {
    meta->id = track_id;
    for (GList* l = meta->params; l != nullptr; l = l->next) {
        auto* s = static_cast<GstStructure*>(l->data);
        if (gst_structure_has_name(s, tracking_structure_name)) {
            gst_structure_set(s, "id", G_TYPE_INT, track_id, "state", G_TYPE_STRING, state, nullptr);
            return;
        }
    }
    gst_video_region_of_interest_meta_add_param(
        meta, gst_structure_new(tracking_structure_name, "id", G_TYPE_INT, track_id, "state", G_TYPE_STRING, state, nullptr));
}

void remove_objects(GstBuffer* buffer) {
    gst_buffer_foreach_meta(
        buffer,
        [](GstBuffer*, GstMeta** meta, gpointer) -> gboolean {
            if ((*meta)->info->api == GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE) *meta = nullptr;  // removes it
            return TRUE;
        },
        nullptr);
}

void mark_inference(GstBuffer* buffer, bool inferred, const std::string& model) {
    register_inference_meta_once();
    GstCustomMeta* meta = gst_buffer_add_custom_meta(buffer, inference_meta_name);
    GstStructure* s = gst_custom_meta_get_structure(meta);
    gst_structure_set_name(s, inference_structure_name);
    gst_structure_set(s, "inferred", G_TYPE_BOOLEAN, inferred, "model", G_TYPE_STRING, model.c_str(), nullptr);
}

std::optional<bool> inference_ran(GstBuffer* buffer) {
    register_inference_meta_once();
    GstCustomMeta* meta = gst_buffer_get_custom_meta(buffer, inference_meta_name);
    if (meta == nullptr) return std::nullopt;
    gboolean inferred = FALSE;
    if (!gst_structure_get_boolean(gst_custom_meta_get_structure(meta), "inferred", &inferred)) return std::nullopt;
    return inferred != FALSE;
}

GstStructure* add_flow_structure(GstBuffer* buffer) {
    register_flow_meta_once();
    GstStructure* s = gst_custom_meta_get_structure(gst_buffer_add_custom_meta(buffer, flow_meta_name));
    gst_structure_set_name(s, flow_structure_name);
    return s;
}

const GstStructure* flow_structure(GstBuffer* buffer) {
    register_flow_meta_once();
    GstCustomMeta* meta = gst_buffer_get_custom_meta(buffer, flow_meta_name);
    return meta != nullptr ? gst_custom_meta_get_structure(meta) : nullptr;
}

GstStructure* add_fusion_structure(GstBuffer* buffer) {
    register_fusion_meta_once();
    GstStructure* s = gst_custom_meta_get_structure(gst_buffer_add_custom_meta(buffer, fusion_meta_name));
    gst_structure_set_name(s, fusion_structure_name);
    return s;
}

const GstStructure* fusion_structure(GstBuffer* buffer) {
    register_fusion_meta_once();
    GstCustomMeta* meta = gst_buffer_get_custom_meta(buffer, fusion_meta_name);
    return meta != nullptr ? gst_custom_meta_get_structure(meta) : nullptr;
}

void add_audio_window(GstBuffer* buffer, const AudioWindowMeta& window) {
    register_audio_meta_once();
    GstStructure* s = gst_custom_meta_get_structure(gst_buffer_add_custom_meta(buffer, audio_meta_name));
    gst_structure_set_name(s, audio_structure_name);
    gst_structure_set(s, "pts", G_TYPE_UINT64, static_cast<guint64>(window.pts),                //
                      "duration", G_TYPE_UINT64, static_cast<guint64>(window.duration),          //
                      "first-sample", G_TYPE_INT64, static_cast<gint64>(window.first_sample),    //
                      "samples", G_TYPE_INT64, static_cast<gint64>(window.samples),              //
                      "loudness", G_TYPE_DOUBLE, window.loudness_dbfs,                           //
                      "speech-probability", G_TYPE_DOUBLE, window.speech_probability, nullptr);
    GValue top = G_VALUE_INIT;
    gst_value_array_init(&top, static_cast<guint>(window.top.size()));
    for (const AudioClass& c : window.top) {
        GValue item = G_VALUE_INIT;
        g_value_init(&item, GST_TYPE_STRUCTURE);
        g_value_take_boxed(&item, gst_structure_new("class", "id", G_TYPE_INT, c.id, "label", G_TYPE_STRING, c.label.c_str(),
                                                    "score", G_TYPE_DOUBLE, c.score, nullptr));
        gst_value_array_append_and_take_value(&top, &item);
    }
    gst_structure_take_value(s, "top", &top);
    set_floats_as_bytes(s, "scores", window.scores);
    set_floats_as_bytes(s, "embedding", window.embedding);
}

std::vector<AudioWindowMeta> read_audio_windows(GstBuffer* buffer) {
    register_audio_meta_once();
    std::vector<AudioWindowMeta> windows;
    const GstMetaInfo* info = gst_meta_get_info(audio_meta_name);
    gpointer state = nullptr;
    while (GstMeta* meta = gst_buffer_iterate_meta_filtered(buffer, &state, info->api)) {
        const GstStructure* s = gst_custom_meta_get_structure(reinterpret_cast<GstCustomMeta*>(meta));
        if (!gst_structure_has_name(s, audio_structure_name)) continue;
        AudioWindowMeta w;
        guint64 time = 0;
        if (gst_structure_get_uint64(s, "pts", &time)) w.pts = time;
        if (gst_structure_get_uint64(s, "duration", &time)) w.duration = time;
        gint64 count = 0;
        if (gst_structure_get_int64(s, "first-sample", &count)) w.first_sample = count;
        if (gst_structure_get_int64(s, "samples", &count)) w.samples = count;
        get_double(s, "loudness", w.loudness_dbfs);
        get_double(s, "speech-probability", w.speech_probability);
        if (const GValue* top = gst_structure_get_value(s, "top"); top != nullptr && GST_VALUE_HOLDS_ARRAY(top)) {
            for (guint i = 0; i < gst_value_array_get_size(top); ++i) {
                const GValue* item = gst_value_array_get_value(top, i);
                if (!GST_VALUE_HOLDS_STRUCTURE(item)) continue;
                const GstStructure* c = gst_value_get_structure(item);
                AudioClass entry;
                gst_structure_get_int(c, "id", &entry.id);
                if (const gchar* label = gst_structure_get_string(c, "label")) entry.label = label;
                get_double(c, "score", entry.score);
                w.top.push_back(std::move(entry));
            }
        }
        w.scores = floats_from_bytes(s, "scores");
        w.embedding = floats_from_bytes(s, "embedding");
        windows.push_back(std::move(w));
    }
    return windows;
}

}  // namespace xmodal::gst
