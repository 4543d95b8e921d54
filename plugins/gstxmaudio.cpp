// xmaudio — audio event windows on raw audio: an audio event model (YAMNet by default) over
// sliding windows, with the window's embedding, loudness and speech probability, one custom meta
// "XmodalAudioMeta" per window on the buffer in which it ends (plugins/xm_objects.hpp), and an
// element message "xmaudio-event" per window whose top score reaches `threshold`.
//
//   gst-launch-1.0 -m filesrc location=siren.wav ! decodebin ! xmaudio ! fakesink
//
// The windows, the model, the VAD and loudness are lib/xmodal/audio_events.hpp; this file adapts:
//  - any audio/x-raw (8–192 kHz, 1–8 channels, every GstAudioConverter format, interleaved or
//    planar as AAC decoders give it) is converted inside to mono F32 at 16 kHz with
//    GstAudioConverter; the downmix is set explicitly
//    to the mean of the channels (0.5·L + 0.5·R for stereo, what the YAMNet goldens assume), so
//    it does not depend on channel positions (unpositioned 6-channel input mixes like 5.1);
//  - the audio itself passes through untouched (in place, metas added only);
//  - time: the 16 kHz stream restarts at the PTS of the first buffer after start, a flush, a gap
//    (GAP event, DISCONT flag, or a PTS more than half a hop away from where the samples so far
//    end), a caps change or EOS; a window's pts is that PTS plus its first sample's time;
//  - before such a restart (not a flush) the resampler is drained and the stream's tail is run as
//    a last, zero-padded window (partial); no buffer is left to carry the windows these complete,
//    so they are posted as messages only (when above threshold), without a meta.
#include "gstxmaudio.hpp"

#include <gst/audio/audio.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "xm_objects.hpp"
#include "xmodal/audio_events.hpp"
#include "xmodal/error.hpp"
#include "xmodal/shared_paths.hpp"

GST_DEBUG_CATEGORY_STATIC(gst_xm_audio_debug);
#define GST_CAT_DEFAULT gst_xm_audio_debug

namespace {

enum Property {
    PROP_0,
    PROP_MODEL,
    PROP_LABELS,
    PROP_VAD_MODEL,
    PROP_DEVICE,
    PROP_WINDOW,
    PROP_HOP,
    PROP_TOP_K,
    PROP_THRESHOLD,
};

constexpr double default_window_s = 0.975;  // YAMNet's own patch: 15600 samples at 16 kHz
constexpr double default_hop_s = 0.48;
constexpr int default_top_k = 5;
constexpr double default_threshold = 0.5;
constexpr int rate = xmodal::audio_event_sample_rate;
constexpr const char* event_message_name = "xmaudio-event";

#define XM_AUDIO_CAPS                                                                                  \
    "audio/x-raw, format = (string) " GST_AUDIO_FORMATS_ALL ", rate = (int) [ 8000, 192000 ], "        \
    "channels = (int) [ 1, 8 ], layout = (string) { interleaved, non-interleaved }"

GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(XM_AUDIO_CAPS));
GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(XM_AUDIO_CAPS));

// What one run (start .. stop) of the element holds; streaming thread.
struct Stream {
    std::unique_ptr<xmodal::AudioEventDetector> detector;
    double threshold = default_threshold;
    GstClockTime hop_ns = 0;
    GstAudioInfo info{};
    GstAudioConverter* converter = nullptr;
    std::vector<float> converted;
    // The 16 kHz stream since the last restart.
    bool started = false;
    GstClockTime base_pts = 0;  // PTS of its first sample
    guint64 in_frames = 0;      // input frames converted since then
    guint64 out_samples = 0;    // 16 kHz samples given to the detector since then

    ~Stream() {
        if (converter != nullptr) gst_audio_converter_free(converter);
    }
};

}  // namespace

struct _GstXmAudio {
    GstBaseTransform parent;

    // Properties (under the object lock).
    gchar* model;
    gchar* labels;
    gchar* vad_model;
    gchar* device;
    gdouble window_s;
    gdouble hop_s;
    gint top_k;
    gdouble threshold;

    Stream* stream;  // between start() and stop()
};

G_DEFINE_TYPE(GstXmAudio, gst_xm_audio, GST_TYPE_BASE_TRANSFORM)
GST_ELEMENT_REGISTER_DEFINE(xmaudio, "xmaudio", GST_RANK_NONE, GST_TYPE_XM_AUDIO)

namespace {

GstClockTime samples_to_ns(std::int64_t samples) {
    return gst_util_uint64_scale_int(static_cast<guint64>(samples), GST_SECOND, rate);
}

xmodal::gst::AudioWindowMeta to_meta(const Stream& s, const xmodal::AudioWindow& w) {
    xmodal::gst::AudioWindowMeta m;
    m.pts = s.base_pts + samples_to_ns(w.first_sample);
    m.duration = samples_to_ns(w.samples);
    m.first_sample = w.first_sample;
    m.samples = w.samples;
    const auto& labels = s.detector->labels();
    for (const xmodal::ClassScore& c : w.top) m.top.push_back({c.index, labels[static_cast<std::size_t>(c.index)], c.score});
    m.scores = w.scores;
    m.embedding = w.embedding;
    m.loudness_dbfs = w.loudness_dbfs;
    m.speech_probability = w.speech_probability;
    return m;
}

// The element message of a window whose top score reaches the threshold; partial: a zero-padded
// tail window (fewer samples than the window).
void post_event(GstXmAudio* self, const xmodal::gst::AudioWindowMeta& m) {
    if (m.top.empty() || m.top[0].score < self->stream->threshold) return;
    const bool partial = m.samples < self->stream->detector->options().window;
    GstStructure* s = gst_structure_new(event_message_name,                                   //
                                        "label", G_TYPE_STRING, m.top[0].label.c_str(),       //
                                        "label-id", G_TYPE_INT, m.top[0].id,                  //
                                        "score", G_TYPE_DOUBLE, m.top[0].score,               //
                                        "start", G_TYPE_UINT64, static_cast<guint64>(m.pts),  //
                                        "end", G_TYPE_UINT64, static_cast<guint64>(m.pts + m.duration),  //
                                        "partial", G_TYPE_BOOLEAN, partial, nullptr);
    GST_LOG_OBJECT(self, "event %s %.3f at %" GST_TIME_FORMAT, m.top[0].label.c_str(), m.top[0].score, GST_TIME_ARGS(m.pts));
    gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

// Converts `frames` input frames (`planes`: one for interleaved audio, one per channel otherwise;
// nullptr: silence, to drain the resampler) and runs the detector on at most `limit` of the
// resulting samples.
std::vector<xmodal::AudioWindow> convert_and_detect(Stream& s, gpointer* planes, gsize frames, guint64 limit = G_MAXUINT64) {
    const gsize out_frames = gst_audio_converter_get_out_frames(s.converter, frames);
    s.converted.resize(out_frames);
    gpointer out[1] = {s.converted.data()};
    gst_audio_converter_samples(s.converter, GST_AUDIO_CONVERTER_FLAG_NONE, planes, frames, out, out_frames);
    const auto n = static_cast<std::size_t>(std::min<guint64>(out_frames, limit));
    s.out_samples += n;
    return s.detector->push(std::span<const float>(s.converted.data(), n));
}

// End of a continuous part of the stream: drains the resampler, runs the windows that completes and
// the tail as a last window (posted, not attached: the buffers they came from are gone) and
// forgets the position. A flush (discard) skips the tail.
void end_continuous_part(GstXmAudio* self, const char* why, bool discard) {
    Stream& s = *self->stream;
    if (s.started && !discard && s.converter != nullptr) {
        try {
            // Samples the input so far accounts for at 16 kHz; the resampler holds the last of them back.
            const guint64 expected = gst_util_uint64_scale_int_round(s.in_frames, rate, GST_AUDIO_INFO_RATE(&s.info));
            std::vector<xmodal::AudioWindow> windows;
            const gsize latency = gst_audio_converter_get_max_latency(s.converter);
            if (latency > 0 && expected > s.out_samples)
                windows = convert_and_detect(s, nullptr, latency, expected - s.out_samples);
            for (auto& w : s.detector->flush()) windows.push_back(std::move(w));
            GST_DEBUG_OBJECT(self, "%s: %" G_GUINT64_FORMAT " samples at 16 kHz since %" GST_TIME_FORMAT ", %zu tail window(s)",
                             why, s.out_samples, GST_TIME_ARGS(s.base_pts), windows.size());
            for (const auto& w : windows) post_event(self, to_meta(s, w));
        } catch (const std::exception& e) {
            GST_ELEMENT_ERROR(self, STREAM, FAILED, ("xmaudio: %s (%s)", e.what(), why), (nullptr));
        }
    }
    s.detector->reset();
    if (s.converter != nullptr) gst_audio_converter_reset(s.converter);
    s.started = false;
    s.in_frames = s.out_samples = 0;
}

GstAudioConverter* make_converter(const GstAudioInfo& in) {
    GstAudioInfo out;
    gst_audio_info_init(&out);
    gst_audio_info_set_format(&out, GST_AUDIO_FORMAT_F32, rate, 1, nullptr);
    // Downmix: every input channel weighs 1/channels into the mono output (GStreamer 1.22 reads the
    // coefficients as G_TYPE_FLOAT only).
    GValue matrix = G_VALUE_INIT, row = G_VALUE_INIT;
    gst_value_array_init(&matrix, 1);
    gst_value_array_init(&row, static_cast<guint>(GST_AUDIO_INFO_CHANNELS(&in)));
    for (int c = 0; c < GST_AUDIO_INFO_CHANNELS(&in); ++c) {
        GValue weight = G_VALUE_INIT;
        g_value_init(&weight, G_TYPE_FLOAT);
        g_value_set_float(&weight, 1.0f / static_cast<float>(GST_AUDIO_INFO_CHANNELS(&in)));
        gst_value_array_append_and_take_value(&row, &weight);
    }
    gst_value_array_append_and_take_value(&matrix, &row);
    GstStructure* config = gst_structure_new_empty("config");
    gst_structure_take_value(config, GST_AUDIO_CONVERTER_OPT_MIX_MATRIX, &matrix);
    // Resampling at the resampler's highest quality: its passband reaches 0.96 of the 8 kHz
    // Nyquist frequency, above YAMNet's top mel band (7.5 kHz). The default quality cuts at 0.85
    // (6.8 kHz): the siren clip's samples then differed from FFmpeg's resampler (the goldens') by
    // 4.7 % RMS instead of 1.2 %, and its mean "Emergency vehicle" score moved by 0.025.
    gst_structure_set(config, GST_AUDIO_CONVERTER_OPT_RESAMPLER_METHOD, GST_TYPE_AUDIO_RESAMPLER_METHOD,
                      GST_AUDIO_RESAMPLER_METHOD_BLACKMAN_NUTTALL, nullptr);
    gst_audio_resampler_options_set_quality(GST_AUDIO_RESAMPLER_METHOD_BLACKMAN_NUTTALL, GST_AUDIO_RESAMPLER_QUALITY_MAX,
                                            GST_AUDIO_INFO_RATE(&in), rate, config);
    GstAudioInfo in_copy = in;
    return gst_audio_converter_new(GST_AUDIO_CONVERTER_FLAG_NONE, &in_copy, &out, config);  // takes config
}

gboolean xm_audio_start(GstBaseTransform* trans) {
    auto* self = GST_XM_AUDIO(trans);
    GST_OBJECT_LOCK(self);
    const std::string model = self->model != nullptr ? self->model : "";
    const std::string labels = self->labels != nullptr ? self->labels : "";
    const bool vad_default = self->vad_model == nullptr;
    const std::string vad_model = self->vad_model != nullptr ? self->vad_model : "";
    const std::string device = self->device != nullptr ? self->device : "cpu";
    const double window_s = self->window_s, hop_s = self->hop_s, threshold = self->threshold;
    const int top_k = self->top_k;
    GST_OBJECT_UNLOCK(self);

    auto stream = std::make_unique<Stream>();
    try {
        if (!std::isfinite(window_s) || window_s <= 0)
            xmodal::fail("window: ", window_s, " s, expected a positive duration (the model's: 0.975 s for YAMNet)");
        if (!std::isfinite(hop_s) || hop_s <= 0) xmodal::fail("hop: ", hop_s, " s, expected a positive duration");
        if (hop_s > window_s)
            xmodal::fail("hop: ", hop_s, " s is longer than the window (", window_s, " s): audio between windows would not be analysed");
        if (!(threshold >= 0 && threshold <= 1)) xmodal::fail("threshold: ", threshold, ", expected a score in 0..1");
        xmodal::AudioEventOptions options;
        options.model = model.empty() ? xmodal::shared_file("models/yamnet.tflite") : model;
        options.class_map = labels.empty() ? xmodal::shared_file("models/yamnet_class_map.csv") : labels;
        options.vad_model = vad_default ? xmodal::shared_file("models/silero_vad.onnx") : vad_model;
        options.device = device;
        options.window = std::llround(window_s * rate);
        options.hop = std::llround(hop_s * rate);
        options.top_k = top_k;
        stream->detector = std::make_unique<xmodal::AudioEventDetector>(options);
        stream->threshold = threshold;
        stream->hop_ns = samples_to_ns(options.hop);
        GST_INFO_OBJECT(self, "model %s (%zu classes, embedding %s, %zu values), window %" G_GINT64_FORMAT " hop %" G_GINT64_FORMAT
                        " samples at 16 kHz, VAD %s", options.model.c_str(), stream->detector->labels().size(),
                        stream->detector->embedding_tensor().c_str(), stream->detector->embedding_size(), options.window,
                        options.hop, options.vad_model.empty() ? "off" : options.vad_model.c_str());
    } catch (const std::exception& e) {
        const std::string message = e.what();
        if (message.find("does not exist") != std::string::npos || message.find("cannot be read") != std::string::npos)
            GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND, ("xmaudio: %s", message.c_str()), (nullptr));
        else
            GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("xmaudio: %s", message.c_str()), (nullptr));
        return FALSE;
    }
    gst_audio_info_init(&stream->info);
    delete self->stream;
    self->stream = stream.release();
    return TRUE;
}

gboolean xm_audio_stop(GstBaseTransform* trans) {
    auto* self = GST_XM_AUDIO(trans);
    delete self->stream;
    self->stream = nullptr;
    return TRUE;
}

gboolean xm_audio_set_caps(GstBaseTransform* trans, GstCaps* incaps, GstCaps* /*outcaps*/) {
    auto* self = GST_XM_AUDIO(trans);
    GstAudioInfo info;
    gboolean parsed = gst_audio_info_from_caps(&info, incaps);
    if (!parsed && gst_caps_get_size(incaps) == 1 && !gst_structure_has_field(gst_caps_get_structure(incaps, 0), "channel-mask")) {
        // More than 2 channels without a channel-mask: GStreamer wants positions, the downmix does
        // not (every channel weighs the same), so read them as unpositioned.
        GstCaps* unpositioned = gst_caps_copy(incaps);
        gst_caps_set_simple(unpositioned, "channel-mask", GST_TYPE_BITMASK, G_GUINT64_CONSTANT(0), nullptr);
        parsed = gst_audio_info_from_caps(&info, unpositioned);
        gst_caps_unref(unpositioned);
    }
    if (!parsed) {
        gchar* text = gst_caps_to_string(incaps);
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("xmaudio: cannot read the audio format from caps %s", text), (nullptr));
        g_free(text);
        return FALSE;
    }
    if (self->stream == nullptr) return FALSE;  // not started
    Stream& s = *self->stream;
    if (s.converter != nullptr) {
        end_continuous_part(self, "caps change", false);  // the old converter holds the old format's tail
        gst_audio_converter_free(s.converter);
        s.converter = nullptr;
    }
    s.converter = make_converter(info);
    if (s.converter == nullptr) {
        gchar* text = gst_caps_to_string(incaps);
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("xmaudio: GstAudioConverter cannot convert %s to mono F32 at 16 kHz", text),
                          (nullptr));
        g_free(text);
        return FALSE;
    }
    s.info = info;
    GST_INFO_OBJECT(self, "%s %d Hz, %d channels -> mono F32 16 kHz (resampler latency %" G_GSIZE_FORMAT " frames)",
                    GST_AUDIO_INFO_NAME(&info), GST_AUDIO_INFO_RATE(&info), GST_AUDIO_INFO_CHANNELS(&info),
                    gst_audio_converter_get_max_latency(s.converter));
    return TRUE;
}

gboolean xm_audio_sink_event(GstBaseTransform* trans, GstEvent* event) {
    auto* self = GST_XM_AUDIO(trans);
    if (self->stream != nullptr) {
        switch (GST_EVENT_TYPE(event)) {
            case GST_EVENT_FLUSH_STOP: end_continuous_part(self, "flush", true); break;
            case GST_EVENT_GAP: end_continuous_part(self, "gap event", false); break;
            case GST_EVENT_EOS: end_continuous_part(self, "EOS", false); break;
            default: break;
        }
    }
    return GST_BASE_TRANSFORM_CLASS(gst_xm_audio_parent_class)->sink_event(trans, event);
}

GstFlowReturn xm_audio_transform_ip(GstBaseTransform* trans, GstBuffer* buffer) {
    auto* self = GST_XM_AUDIO(trans);
    if (self->stream == nullptr || self->stream->converter == nullptr) {
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("xmaudio: a buffer arrived before its caps"), (nullptr));
        return GST_FLOW_NOT_NEGOTIATED;
    }
    Stream& s = *self->stream;
    const gsize size = gst_buffer_get_size(buffer);
    const gint bpf = GST_AUDIO_INFO_BPF(&s.info);
    if (GST_AUDIO_INFO_LAYOUT(&s.info) == GST_AUDIO_LAYOUT_INTERLEAVED && size % static_cast<gsize>(bpf) != 0) {
        GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("xmaudio: a buffer of %" G_GSIZE_FORMAT " bytes is not a whole number of %d-byte frames", size, bpf),
                          ("%s, %d channels", GST_AUDIO_INFO_NAME(&s.info), GST_AUDIO_INFO_CHANNELS(&s.info)));
        return GST_FLOW_ERROR;
    }
    const GstClockTime pts = GST_BUFFER_PTS(buffer);

    if (s.started && GST_CLOCK_TIME_IS_VALID(pts)) {
        const GstClockTime expected = s.base_pts + gst_util_uint64_scale_int(s.in_frames, GST_SECOND, GST_AUDIO_INFO_RATE(&s.info));
        const GstClockTime off = pts > expected ? pts - expected : expected - pts;
        if (GST_BUFFER_IS_DISCONT(buffer) || off > s.hop_ns / 2) {
            GST_INFO_OBJECT(self, "discontinuity at %" GST_TIME_FORMAT " (expected %" GST_TIME_FORMAT "%s): windows restart there",
                            GST_TIME_ARGS(pts), GST_TIME_ARGS(expected), GST_BUFFER_IS_DISCONT(buffer) ? ", DISCONT" : "");
            end_continuous_part(self, "discontinuity", false);
        }
    }
    if (!s.started) {
        // Without a timestamp the stream starts at its segment's start.
        s.base_pts = GST_CLOCK_TIME_IS_VALID(pts) ? pts : trans->segment.format == GST_FORMAT_TIME ? trans->segment.start : 0;
        s.started = true;
    }

    // Planar (non-interleaved) audio, as AAC decoders output, comes with a GstAudioMeta that
    // gst_audio_buffer_map reads; interleaved audio is one plane.
    GstAudioBuffer audio;
    if (!gst_audio_buffer_map(&audio, &s.info, buffer, GST_MAP_READ)) {
        GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("xmaudio: cannot map a buffer of %" G_GSIZE_FORMAT " bytes as %s audio", size,
                                                 GST_AUDIO_INFO_NAME(&s.info)),
                          ("%d channels, %s", GST_AUDIO_INFO_CHANNELS(&s.info),
                           GST_AUDIO_INFO_LAYOUT(&s.info) == GST_AUDIO_LAYOUT_INTERLEAVED ? "interleaved" : "non-interleaved without a usable audio meta"));
        return GST_FLOW_ERROR;
    }
    const gsize frames = GST_AUDIO_BUFFER_N_SAMPLES(&audio);
    std::vector<xmodal::AudioWindow> windows;
    try {
        windows = convert_and_detect(s, audio.planes, frames);
    } catch (const std::exception& e) {
        gst_audio_buffer_unmap(&audio);
        GST_ELEMENT_ERROR(self, STREAM, FAILED, ("xmaudio: %s", e.what()), (nullptr));
        return GST_FLOW_ERROR;
    }
    gst_audio_buffer_unmap(&audio);
    s.in_frames += frames;

    for (const xmodal::AudioWindow& w : windows) {
        const xmodal::gst::AudioWindowMeta meta = to_meta(s, w);
        xmodal::gst::add_audio_window(buffer, meta);
        post_event(self, meta);
    }
    return GST_FLOW_OK;
}

void xm_audio_set_property(GObject* object, guint id, const GValue* value, GParamSpec* pspec) {
    auto* self = GST_XM_AUDIO(object);
    auto set_string = [&](gchar*& field) {
        g_free(field);
        field = g_value_dup_string(value);
    };
    GST_OBJECT_LOCK(self);
    switch (id) {
        case PROP_MODEL: set_string(self->model); break;
        case PROP_LABELS: set_string(self->labels); break;
        case PROP_VAD_MODEL: set_string(self->vad_model); break;
        case PROP_DEVICE: set_string(self->device); break;
        case PROP_WINDOW: self->window_s = g_value_get_double(value); break;
        case PROP_HOP: self->hop_s = g_value_get_double(value); break;
        case PROP_TOP_K: self->top_k = g_value_get_int(value); break;
        case PROP_THRESHOLD: self->threshold = g_value_get_double(value); break;
        default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
    }
    GST_OBJECT_UNLOCK(self);
}

void xm_audio_get_property(GObject* object, guint id, GValue* value, GParamSpec* pspec) {
    auto* self = GST_XM_AUDIO(object);
    GST_OBJECT_LOCK(self);
    switch (id) {
        case PROP_MODEL: g_value_set_string(value, self->model); break;
        case PROP_LABELS: g_value_set_string(value, self->labels); break;
        case PROP_VAD_MODEL: g_value_set_string(value, self->vad_model); break;
        case PROP_DEVICE: g_value_set_string(value, self->device); break;
        case PROP_WINDOW: g_value_set_double(value, self->window_s); break;
        case PROP_HOP: g_value_set_double(value, self->hop_s); break;
        case PROP_TOP_K: g_value_set_int(value, self->top_k); break;
        case PROP_THRESHOLD: g_value_set_double(value, self->threshold); break;
        default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
    }
    GST_OBJECT_UNLOCK(self);
}

void xm_audio_finalize(GObject* object) {
    auto* self = GST_XM_AUDIO(object);
    delete self->stream;
    g_free(self->model), g_free(self->labels), g_free(self->vad_model), g_free(self->device);
    G_OBJECT_CLASS(gst_xm_audio_parent_class)->finalize(object);
}

}  // namespace

static void gst_xm_audio_class_init(GstXmAudioClass* klass) {
    auto* gobject_class = G_OBJECT_CLASS(klass);
    auto* element_class = GST_ELEMENT_CLASS(klass);
    auto* trans_class = GST_BASE_TRANSFORM_CLASS(klass);
    GST_DEBUG_CATEGORY_INIT(gst_xm_audio_debug, "xmaudio", 0, "xmodal audio event windows");

    gobject_class->set_property = xm_audio_set_property;
    gobject_class->get_property = xm_audio_get_property;
    gobject_class->finalize = xm_audio_finalize;
    const auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

    g_object_class_install_property(gobject_class, PROP_MODEL,
        g_param_spec_string("model", "Model",
                            "Audio event model (.tflite/.onnx) taking a 16 kHz mono waveform window or a log-mel patch "
                            "(default: models/yamnet.tflite in the shared folder, $XMODAL_SHARED)", nullptr, flags));
    g_object_class_install_property(gobject_class, PROP_LABELS,
        g_param_spec_string("labels", "Labels",
                            "Class map csv \"index,mid,display_name\", one row per score "
                            "(default: models/yamnet_class_map.csv in the shared folder)", nullptr, flags));
    g_object_class_install_property(gobject_class, PROP_VAD_MODEL,
        g_param_spec_string("vad-model", "VAD model",
                            "Silero VAD model (.onnx) for the speech probability; \"\" disables it (speech-probability -1) "
                            "(default: models/silero_vad.onnx in the shared folder)", nullptr, flags));
    g_object_class_install_property(gobject_class, PROP_DEVICE,
        g_param_spec_string("device", "Device", "Where the models run: cpu (the model runtime is CPU-only for now)", "cpu", flags));
    // Ranges are checked when the element starts (an error naming the value) rather than by GLib,
    // which only warns and keeps the old value.
    g_object_class_install_property(gobject_class, PROP_WINDOW,
        g_param_spec_double("window", "Window",
                            "Window length in seconds; must be what the model takes: 0.975 for YAMNet (15600 samples "
                            "at 16 kHz)", -G_MAXDOUBLE, G_MAXDOUBLE, default_window_s, flags));
    g_object_class_install_property(gobject_class, PROP_HOP,
        g_param_spec_double("hop", "Hop", "Seconds between window starts, > 0 and <= window (default 0.48)", -G_MAXDOUBLE,
                            G_MAXDOUBLE, default_hop_s, flags));
    g_object_class_install_property(gobject_class, PROP_TOP_K,
        g_param_spec_int("top-k", "Top k", "Classes per window in the meta, highest score first, 1..classes (default 5)",
                         G_MININT, G_MAXINT, default_top_k, flags));
    g_object_class_install_property(gobject_class, PROP_THRESHOLD,
        g_param_spec_double("threshold", "Threshold",
                            "Top score from which a window is posted as an \"xmaudio-event\" message, 0..1 (default 0.5)",
                            -G_MAXDOUBLE, G_MAXDOUBLE, default_threshold, flags));

    gst_element_class_set_static_metadata(element_class, "xmodal audio events", "Filter/Analyzer/Audio",
                                          "Classifies sliding audio windows (YAMNet) and attaches per window the top classes, "
                                          "all scores, the embedding, loudness and speech probability; audio passes unchanged",
                                          "xmodal");
    gst_element_class_add_static_pad_template(element_class, &sink_template);
    gst_element_class_add_static_pad_template(element_class, &src_template);

    trans_class->start = GST_DEBUG_FUNCPTR(xm_audio_start);
    trans_class->stop = GST_DEBUG_FUNCPTR(xm_audio_stop);
    trans_class->set_caps = GST_DEBUG_FUNCPTR(xm_audio_set_caps);
    trans_class->sink_event = GST_DEBUG_FUNCPTR(xm_audio_sink_event);
    trans_class->transform_ip = GST_DEBUG_FUNCPTR(xm_audio_transform_ip);
    // Metas change, samples never: in place, and never passthrough (that would skip transform_ip).
    trans_class->passthrough_on_same_caps = FALSE;
    trans_class->transform_ip_on_passthrough = FALSE;
}

static void gst_xm_audio_init(GstXmAudio* self) {
    self->model = nullptr;
    self->labels = nullptr;
    self->vad_model = nullptr;
    self->device = g_strdup("cpu");
    self->window_s = default_window_s;
    self->hop_s = default_hop_s;
    self->top_k = default_top_k;
    self->threshold = default_threshold;
    self->stream = nullptr;
    gst_base_transform_set_in_place(GST_BASE_TRANSFORM(self), TRUE);
}
