// xmaudio in a GstHarness: negotiation for common rates, channel counts, formats and layouts (the
// downmix checked through the windows' loudness), audio passing through unchanged, window counts
// and timestamps for a given duration and hop, the metas on the buffers in which windows end,
// YAMNet's scores on the staged siren and horn clips pushed as 44.1 kHz stereo S16 against the
// same expectations as the lib test, restarts at timestamp gaps (PTS jump, DISCONT, GAP event)
// and flushes, the partial tail window at EOS, the event messages, and errors at start.
#include <gst/audio/audio.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <numbers>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "element_test_support.hpp"
#include "support/yamnet_expectations.hpp"
#include "xm_objects.hpp"
#include "xmodal/audio_file.hpp"
#include "xmodal/shared_paths.hpp"

namespace {

namespace xg = xmodal::gst;

constexpr GstClockTime window_ns = 975 * GST_MSECOND;
constexpr GstClockTime hop_ns = 480 * GST_MSECOND;

std::string shared_path(const std::string& relative) { return xmodal::shared_dir() + "/" + relative; }
bool have(const std::string& path) { return std::filesystem::exists(path); }
bool have_models() {
    return have(shared_path("models/yamnet.tflite")) && have(shared_path("models/yamnet_class_map.csv")) &&
           have(shared_path("models/silero_vad.onnx"));
}
#define REQUIRE_MODELS()                                                         \
    do {                                                                         \
        if (!have_models()) GTEST_SKIP() << "needs the shared YAMNet and VAD models"; \
    } while (false)

// An audio format as the harness pushes it: caps, and how to write samples in it.
struct Format {
    std::string caps;
    int rate = 16000;
    int channels = 1;
    bool planar = false;
};

Format format_of(const char* caps) {
    Format f;
    f.caps = caps;
    GstCaps* c = gst_caps_from_string(caps);
    const GstStructure* s = gst_caps_get_structure(c, 0);
    gst_structure_get_int(s, "rate", &f.rate);
    gst_structure_get_int(s, "channels", &f.channels);
    const gchar* layout = gst_structure_get_string(s, "layout");
    f.planar = layout != nullptr && std::strcmp(layout, "non-interleaved") == 0;
    gst_caps_unref(c);
    return f;
}

// Writes `frames` x channels float samples ([frame][channel]) in the caps' format with
// GstAudioConverter's packing (no resampling), so any format can be produced from floats.
std::vector<guint8> pack(const Format& f, const std::vector<float>& interleaved) {
    GstCaps* caps = gst_caps_from_string(f.caps.c_str());
    if (f.channels > 2 && !gst_structure_has_field(gst_caps_get_structure(caps, 0), "channel-mask"))  // as xmaudio reads them
        gst_caps_set_simple(caps, "channel-mask", GST_TYPE_BITMASK, G_GUINT64_CONSTANT(0), nullptr);
    GstAudioInfo out;
    EXPECT_TRUE(gst_audio_info_from_caps(&out, caps)) << f.caps;
    gst_caps_unref(caps);
    GstAudioInfo in;
    gst_audio_info_set_format(&in, GST_AUDIO_FORMAT_F32, f.rate, f.channels, out.position);
    if (GST_AUDIO_INFO_IS_UNPOSITIONED(&out)) in.flags = static_cast<GstAudioFlags>(in.flags | GST_AUDIO_FLAG_UNPOSITIONED);
    GstAudioConverter* conv = gst_audio_converter_new(GST_AUDIO_CONVERTER_FLAG_NONE, &in, &out, nullptr);
    EXPECT_NE(conv, nullptr);
    const gsize frames = interleaved.size() / static_cast<gsize>(f.channels);
    std::vector<guint8> bytes(frames * static_cast<gsize>(GST_AUDIO_INFO_BPF(&out)));
    gpointer in_planes[1] = {const_cast<float*>(interleaved.data())};
    std::vector<gpointer> out_planes;
    const gsize plane_bytes = frames * static_cast<gsize>(GST_AUDIO_INFO_WIDTH(&out) / 8);
    for (int c = 0; c < (f.planar ? f.channels : 1); ++c) out_planes.push_back(bytes.data() + static_cast<gsize>(c) * plane_bytes);
    if (conv != nullptr) {
        gst_audio_converter_samples(conv, GST_AUDIO_CONVERTER_FLAG_NONE, in_planes, frames, out_planes.data(), frames);
        gst_audio_converter_free(conv);
    }
    return bytes;
}

struct Harness {
    GstHarness* h;
    GstBus* bus;
    Format format;
    std::vector<guint8> pushed;  // every byte pushed, in order
    std::vector<guint8> pulled;  // every byte that came out
    std::vector<std::pair<GstBuffer*, std::vector<xg::AudioWindowMeta>>> outputs;  // buffers (refs) and their windows

    Harness(const char* properties, const char* caps) : format(format_of(caps)) {
        h = gst_harness_new_parse((std::string("xmaudio ") + properties).c_str());
        bus = gst_bus_new();
        gst_element_set_bus(h->element, bus);
        gst_harness_set_src_caps_str(h, caps);
    }
    ~Harness() {
        for (auto& o : outputs) gst_buffer_unref(o.first);
        for (GstStructure* e : pending_events) gst_structure_free(e);
        gst_harness_teardown(h);
        gst_object_unref(bus);
    }

    // Pushes `interleaved` float frames in buffers of `buffer_frames`, the first at `pts`; pulls
    // whatever comes out. Returns the PTS after the last frame.
    GstClockTime push(const std::vector<float>& interleaved, GstClockTime pts, gsize buffer_frames, bool discont_first = false) {
        const std::vector<guint8> bytes = pack(format, interleaved);
        const gsize frames = interleaved.size() / static_cast<gsize>(format.channels);
        const gsize bytes_per_frame = bytes.size() / std::max<gsize>(frames, 1);
        const gsize sample_bytes = bytes_per_frame / static_cast<gsize>(format.channels);
        for (gsize at = 0; at < frames; at += buffer_frames) {
            const gsize n = std::min(buffer_frames, frames - at);
            GstBuffer* buffer = gst_buffer_new_allocate(nullptr, n * bytes_per_frame, nullptr);
            GstMapInfo map;
            gst_buffer_map(buffer, &map, GST_MAP_WRITE);
            if (format.planar) {  // each channel's plane of this buffer
                for (int c = 0; c < format.channels; ++c)
                    std::memcpy(map.data + static_cast<gsize>(c) * n * sample_bytes,
                                bytes.data() + (static_cast<gsize>(c) * frames + at) * sample_bytes, n * sample_bytes);
            } else {
                std::memcpy(map.data, bytes.data() + at * bytes_per_frame, n * bytes_per_frame);
            }
            pushed.insert(pushed.end(), map.data, map.data + map.size);
            gst_buffer_unmap(buffer, &map);
            if (format.planar) {
                GstAudioInfo info;
                GstCaps* caps = gst_caps_from_string(format.caps.c_str());
                gst_audio_info_from_caps(&info, caps);
                gst_caps_unref(caps);
                gst_buffer_add_audio_meta(buffer, &info, n, nullptr);
            }
            const GstClockTime start = pts + gst_util_uint64_scale_int(at, GST_SECOND, format.rate);
            GST_BUFFER_PTS(buffer) = start;
            GST_BUFFER_DURATION(buffer) = pts + gst_util_uint64_scale_int(at + n, GST_SECOND, format.rate) - start;
            if (discont_first && at == 0) GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_DISCONT);
            EXPECT_EQ(gst_harness_push(h, buffer), GST_FLOW_OK);
            pull_all();
        }
        return pts + gst_util_uint64_scale_int(frames, GST_SECOND, format.rate);
    }

    void pull_all() {
        while (GstBuffer* out = gst_harness_try_pull(h)) {
            GstMapInfo map;
            gst_buffer_map(out, &map, GST_MAP_READ);
            pulled.insert(pulled.end(), map.data, map.data + map.size);
            gst_buffer_unmap(out, &map);
            outputs.emplace_back(out, xg::read_audio_windows(out));
        }
    }

    void eos() {
        EXPECT_TRUE(gst_harness_push_event(h, gst_event_new_eos()));
        pull_all();
    }

    std::vector<xg::AudioWindowMeta> windows() const {
        std::vector<xg::AudioWindowMeta> all;
        for (const auto& o : outputs) all.insert(all.end(), o.second.begin(), o.second.end());
        return all;
    }

    // The "xmaudio-event" messages posted since the last call (copies).
    std::vector<GstStructure*> events() {
        collect();
        return std::exchange(pending_events, {});
    }

    // The text of the ERROR messages posted since the last call.
    std::string error() {
        collect();
        return std::exchange(pending_errors, "");
    }

private:
    std::vector<GstStructure*> pending_events;
    std::string pending_errors;

    // Both kinds from one pass over the bus (popping one kind with a filter would drop the other).
    void collect() {
        while (GstMessage* m = gst_bus_pop(bus)) {
            if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT && gst_structure_has_name(gst_message_get_structure(m), "xmaudio-event")) {
                pending_events.push_back(gst_structure_copy(gst_message_get_structure(m)));
            } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
                GError* e = nullptr;
                gst_message_parse_error(m, &e, nullptr);
                pending_errors += e->message;
                g_error_free(e);
            }
            gst_message_unref(m);
        }
    }
};

void free_all(std::vector<GstStructure*>& v) {
    for (GstStructure* s : v) gst_structure_free(s);
    v.clear();
}

guint64 uint64_of(const GstStructure* s, const char* field) {
    guint64 v = 0;
    EXPECT_TRUE(gst_structure_get_uint64(s, field, &v)) << field;
    return v;
}

bool partial_of(const GstStructure* s) {
    gboolean v = FALSE;
    EXPECT_TRUE(gst_structure_get_boolean(s, "partial", &v));
    return v != FALSE;
}

// `seconds` of a sine per channel: amplitude amplitudes[c] (the last one repeats).
std::vector<float> sine(double seconds, int rate, int channels, std::vector<double> amplitudes, double hz = 1000) {
    const auto frames = static_cast<std::size_t>(std::llround(seconds * rate));
    std::vector<float> s(frames * static_cast<std::size_t>(channels));
    for (std::size_t i = 0; i < frames; ++i)
        for (int c = 0; c < channels; ++c)
            s[i * static_cast<std::size_t>(channels) + static_cast<std::size_t>(c)] =
                static_cast<float>(amplitudes[std::min<std::size_t>(static_cast<std::size_t>(c), amplitudes.size() - 1)] *
                                   std::sin(2 * std::numbers::pi * hz * static_cast<double>(i) / rate));
    return s;
}

double db(double amplitude) { return 20 * std::log10(amplitude / std::numbers::sqrt2); }

struct NegotiationCase {
    const char* name;
    const char* caps;
    std::vector<double> amplitudes;  // per channel
    double mono_amplitude;           // after the downmix (mean of the channels)
};

void PrintTo(const NegotiationCase& c, std::ostream* os) { *os << c.name << " (" << c.caps << ")"; }

class XmAudioFormats : public ::testing::TestWithParam<NegotiationCase> {};

// 2 s of a 1 kHz sine starting at 1 s, in 0.1 s buffers: the bytes come out unchanged; windows at
// 1 s + k·0.48 s for k = 0..2 (the next would end after 2 s), each 0.975 s long, attached to the
// buffer in which it ends; their loudness is the downmix's (mean of the channels).
TEST_P(XmAudioFormats, negotiates_passes_audio_through_and_windows_it) {
    REQUIRE_MODELS();
    const NegotiationCase& c = GetParam();
    Harness t("vad-model=\"\"", c.caps);
    t.push(sine(2.0, t.format.rate, t.format.channels, c.amplitudes), GST_SECOND, static_cast<gsize>(t.format.rate / 10));
    EXPECT_EQ(t.error(), "");
    EXPECT_EQ(t.pulled, t.pushed);  // passthrough, byte for byte
    const auto windows = t.windows();
    ASSERT_EQ(windows.size(), 3u);
    for (std::size_t k = 0; k < windows.size(); ++k) {
        EXPECT_EQ(windows[k].pts, GST_SECOND + k * hop_ns) << k;
        EXPECT_EQ(windows[k].duration, window_ns);
        EXPECT_EQ(windows[k].first_sample, static_cast<std::int64_t>(k) * 7680);
        EXPECT_EQ(windows[k].samples, 15600);
        EXPECT_EQ(windows[k].scores.size(), 521u);
        EXPECT_EQ(windows[k].embedding.size(), 1024u);
        EXPECT_EQ(windows[k].top.size(), 5u);
        EXPECT_EQ(windows[k].speech_probability, -1.0);  // vad-model=""
        // U8 quantises to 1/128 and the resampler passes 1 kHz at unity gain.
        EXPECT_NEAR(windows[k].loudness_dbfs, db(c.mono_amplitude), 0.1) << c.name;
    }
    // Each meta is on the buffer in which its window ends (the resampler holds back < 10 ms).
    for (const auto& [buffer, metas] : t.outputs)
        for (const auto& w : metas) {
            const GstClockTime end = w.pts + w.duration;
            EXPECT_LE(end, GST_BUFFER_PTS(buffer) + GST_BUFFER_DURATION(buffer));
            EXPECT_GT(end + 10 * GST_MSECOND, GST_BUFFER_PTS(buffer));
        }
}

INSTANTIATE_TEST_SUITE_P(
    Caps, XmAudioFormats,
    ::testing::Values(
        NegotiationCase{"s16_44k_stereo", "audio/x-raw,format=S16LE,rate=44100,channels=2,layout=interleaved", {0.8, 0.2}, 0.5},
        NegotiationCase{"f32_48k_5_1", "audio/x-raw,format=F32LE,rate=48000,channels=6,layout=interleaved,channel-mask=(bitmask)0x3f",
                        {0.6}, 0.6},
        NegotiationCase{"f32_48k_6ch_no_mask", "audio/x-raw,format=F32LE,rate=48000,channels=6,layout=interleaved",
                        {0.9, 0.3, 0.9, 0.3, 0.9, 0.3}, 0.6},
        NegotiationCase{"f32_16k_mono", "audio/x-raw,format=F32LE,rate=16000,channels=1,layout=interleaved", {0.7}, 0.7},
        NegotiationCase{"u8_8k_mono", "audio/x-raw,format=U8,rate=8000,channels=1,layout=interleaved", {0.5}, 0.5},
        NegotiationCase{"f32_44k_stereo_planar", "audio/x-raw,format=F32LE,rate=44100,channels=2,layout=non-interleaved",
                        {1.0, 0.0}, 0.5},
        NegotiationCase{"s24_96k_stereo", "audio/x-raw,format=S24LE,rate=96000,channels=2,layout=interleaved", {0.4}, 0.4}),
    [](const auto& info) { return std::string(info.param.name); });

// The hop property: 2 s with hop 0.25 s gives windows at 0, 0.25 .. 1.0 s; at EOS the tail
// (1.25 s .. 2 s, zero-padded) is posted, marked partial, as no buffer is left to carry it.
TEST(XmAudio, hop_sets_the_window_count_and_eos_posts_the_tail) {
    REQUIRE_MODELS();
    Harness t("vad-model=\"\" hop=0.25 threshold=0", "audio/x-raw,format=S16LE,rate=44100,channels=2,layout=interleaved");
    const GstClockTime end = t.push(sine(2.0, 44100, 2, {0.5}), 0, 1024);
    auto windows = t.windows();
    ASSERT_EQ(windows.size(), 5u);
    for (std::size_t k = 0; k < windows.size(); ++k) EXPECT_EQ(windows[k].pts, k * 250 * GST_MSECOND);
    auto events = t.events();
    EXPECT_EQ(events.size(), 5u);  // threshold 0: every window
    free_all(events);
    t.eos();
    EXPECT_EQ(t.windows().size(), 5u);
    events = t.events();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_TRUE(partial_of(events[0]));
    EXPECT_EQ(uint64_of(events[0], "start"), 1250 * GST_MSECOND);
    EXPECT_EQ(uint64_of(events[0], "end"), end);
    free_all(events);
}

// A stream shorter than one window: no meta, and at EOS one partial window over all of it.
TEST(XmAudio, eos_with_only_a_partial_window) {
    REQUIRE_MODELS();
    const std::string clip = shared_path("media/siren_ambulance_4s.wav");
    if (!have(clip)) GTEST_SKIP() << "needs " << clip;
    auto mono = xmodal::decode_audio_file(clip, 44100);
    mono.resize(44100 * 6 / 10);  // 0.6 s
    Harness t("vad-model=\"\" threshold=0.3", "audio/x-raw,format=F32LE,rate=44100,channels=1,layout=interleaved");
    const GstClockTime end = t.push(mono, 2 * GST_SECOND, 4410);
    EXPECT_TRUE(t.windows().empty());
    EXPECT_TRUE(t.events().empty());
    t.eos();
    auto events = t.events();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_TRUE(partial_of(events[0]));
    EXPECT_EQ(uint64_of(events[0], "start"), 2 * GST_SECOND);
    EXPECT_EQ(uint64_of(events[0], "end"), end);
    double score = 0;
    gst_structure_get_double(events[0], "score", &score);
    const std::string label = gst_structure_get_string(events[0], "label");
    std::printf("[ xmaudio 0.6 s of siren ] %s %.3f\n", label.c_str(), score);
    EXPECT_GE(score, 0.3);
    free_all(events);
}

struct ClipWindows {
    xmodal::testing::YamnetSummary summary;
    std::vector<xg::AudioWindowMeta> windows;
    std::vector<GstStructure*> events;
};

// A staged clip decoded at its own rate (44.1 kHz), duplicated to stereo S16 and pushed in 0.1 s
// buffers: YAMNet's summary over the whole windows.
ClipWindows run_clip(const std::string& clip, const char* properties) {
    auto mono = xmodal::decode_audio_file(clip, 44100);
    std::vector<float> stereo(mono.size() * 2);
    for (std::size_t i = 0; i < mono.size(); ++i) stereo[2 * i] = stereo[2 * i + 1] = mono[i];
    Harness t(properties, "audio/x-raw,format=S16LE,rate=44100,channels=2,layout=interleaved");
    t.push(stereo, 0, 4410);
    t.eos();
    EXPECT_EQ(t.error(), "");
    ClipWindows result;
    result.windows = t.windows();
    for (const auto& w : result.windows)
        if (w.samples == 15600) result.summary.add(w.scores);
    result.summary.finish();
    result.events = t.events();
    return result;
}

class XmAudioClips : public ::testing::TestWithParam<const char*> {};

// The same expectations and tolerance as the runtime's and AudioEventDetector's tests.
TEST_P(XmAudioClips, scores_match_the_yamnet_expectations) {
    REQUIRE_MODELS();
    const xmodal::testing::YamnetCase& c = xmodal::testing::yamnet_case(GetParam());
    const std::string clip = shared_path(std::string("media/") + c.clip);
    if (!have(clip)) GTEST_SKIP() << "needs " << clip;
    ClipWindows r = run_clip(clip, "vad-model=\"\" threshold=0.5");
    std::printf("[ xmaudio %s ] %d windows, top %d", c.clip, r.summary.windows, r.summary.top);
    for (const auto& s : c.scores) std::printf("; %s %.3f (expected %.2f)", s.label, r.summary.value(s), s.expected);
    std::printf("\n");
    ASSERT_GT(r.summary.windows, 0);
    if (c.top_class >= 0) {
        EXPECT_EQ(r.summary.top, c.top_class);
    }
    for (const auto& s : c.scores) EXPECT_NEAR(r.summary.value(s), s.expected, xmodal::testing::yamnet_tolerance) << s.label;

    // One event per window whose top score reaches 0.5, with the window's label and times.
    std::size_t above = 0;
    for (const auto& w : r.windows) above += w.samples == 15600 && w.top[0].score >= 0.5;
    std::size_t whole_window_events = 0;
    for (GstStructure* e : r.events) {
        if (partial_of(e)) continue;
        const guint64 start = uint64_of(e, "start");
        for (const auto& w : r.windows)
            if (w.pts == start) {
                EXPECT_EQ(uint64_of(e, "end"), w.pts + w.duration);
                EXPECT_STREQ(gst_structure_get_string(e, "label"), w.top[0].label.c_str());
                int id = -1;
                gst_structure_get_int(e, "label-id", &id);
                EXPECT_EQ(id, w.top[0].id);
                ++whole_window_events;
            }
    }
    EXPECT_GT(above, 0u);
    EXPECT_EQ(whole_window_events, above);
    free_all(r.events);
}

INSTANTIATE_TEST_SUITE_P(Clips, XmAudioClips,
                         ::testing::Values("siren_ambulance_4s.wav", "car_horn_rollsroyce_1s.wav", "car_horn_street_4s.wav"),
                         [](const auto& info) {
                             std::string clip = info.param;
                             return clip.substr(0, clip.find('.'));
                         });

// With the default VAD, speech probability is in [0, 1]; the top classes are sorted and labelled.
TEST(XmAudio, meta_fields_with_the_default_vad) {
    REQUIRE_MODELS();
    const std::string clip = shared_path("media/speech_librivox_austen_0870.wav");
    if (!have(clip)) GTEST_SKIP() << "needs " << clip;
    Harness t("top-k=3", "audio/x-raw,format=S16LE,rate=16000,channels=1,layout=interleaved");
    t.push(xmodal::decode_audio_file(clip, 16000), 0, 1600);
    const auto windows = t.windows();
    ASSERT_GE(windows.size(), 10u);
    double speech = 0;
    for (const auto& w : windows) {
        ASSERT_EQ(w.top.size(), 3u);
        EXPECT_GE(w.top[0].score, w.top[1].score);
        EXPECT_GE(w.top[1].score, w.top[2].score);
        EXPECT_FLOAT_EQ(static_cast<float>(w.top[0].score), w.scores[static_cast<std::size_t>(w.top[0].id)]);
        EXPECT_GE(w.speech_probability, 0.0);
        EXPECT_LE(w.speech_probability, 1.0);
        speech += w.speech_probability;
    }
    EXPECT_EQ(windows[0].top[0].label, "Speech");
    EXPECT_GT(speech / static_cast<double>(windows.size()), 0.7);
}

// A PTS jump restarts the windows at the new PTS; the tail before it is posted (partial).
TEST(XmAudio, timestamp_jump_restarts_windows_at_the_new_pts) {
    REQUIRE_MODELS();
    Harness t("vad-model=\"\" threshold=0", "audio/x-raw,format=S16LE,rate=44100,channels=2,layout=interleaved");
    const auto audio = sine(1.5, 44100, 2, {0.5});
    t.push(audio, 0, 4410);
    ASSERT_EQ(t.windows().size(), 2u);  // 0 and 0.48 s; 0.96 + 0.975 > 1.5
    auto events = t.events();
    EXPECT_EQ(events.size(), 2u);
    free_all(events);
    t.push(audio, 10 * GST_SECOND, 4410);  // 8.5 s later than where the samples end
    events = t.events();
    ASSERT_GE(events.size(), 1u);
    EXPECT_TRUE(partial_of(events[0]));  // the tail before the jump: 0.96 .. 1.5 s
    EXPECT_EQ(uint64_of(events[0], "start"), 960 * GST_MSECOND);
    EXPECT_EQ(uint64_of(events[0], "end"), 1500 * GST_MSECOND);
    free_all(events);
    const auto windows = t.windows();
    ASSERT_EQ(windows.size(), 4u);
    EXPECT_EQ(windows[2].pts, 10 * GST_SECOND);
    EXPECT_EQ(windows[2].first_sample, 0);
    EXPECT_EQ(windows[3].pts, 10 * GST_SECOND + hop_ns);

    // A small jitter (under half a hop) does not restart: 20 ms late continues the count.
    Harness u("vad-model=\"\"", "audio/x-raw,format=F32LE,rate=16000,channels=1,layout=interleaved");
    const auto mono = sine(1.0, 16000, 1, {0.5});
    const GstClockTime next = u.push(mono, 0, 1600);
    u.push(mono, next + 20 * GST_MSECOND, 1600);
    const auto w = u.windows();
    ASSERT_EQ(w.size(), 3u);
    EXPECT_EQ(w[2].pts, 2 * hop_ns);
}

// DISCONT and GAP restart the windows too.
TEST(XmAudio, discont_flag_and_gap_event_restart_windows) {
    REQUIRE_MODELS();
    Harness t("vad-model=\"\"", "audio/x-raw,format=F32LE,rate=16000,channels=1,layout=interleaved");
    const auto audio = sine(1.2, 16000, 1, {0.5});
    GstClockTime next = t.push(audio, 0, 1600);
    ASSERT_EQ(t.windows().size(), 1u);
    next = t.push(audio, next, 1600, /*discont_first=*/true);  // contiguous times, but DISCONT
    auto windows = t.windows();
    ASSERT_EQ(windows.size(), 2u);
    EXPECT_EQ(windows[1].pts, 1200 * GST_MSECOND);  // restarted at the DISCONT buffer
    EXPECT_EQ(windows[1].first_sample, 0);

    EXPECT_TRUE(gst_harness_push_event(t.h, gst_event_new_gap(next, GST_SECOND)));
    t.push(audio, next + GST_SECOND, 1600);
    windows = t.windows();
    ASSERT_EQ(windows.size(), 3u);
    EXPECT_EQ(windows[2].pts, next + GST_SECOND);
}

// A caps change mid-stream ends the old format's stream (its tail posted) and windows the new
// format from the next buffer's PTS.
TEST(XmAudio, caps_change_restarts_windows_in_the_new_format) {
    REQUIRE_MODELS();
    Harness t("vad-model=\"\" threshold=0", "audio/x-raw,format=S16LE,rate=44100,channels=2,layout=interleaved");
    const GstClockTime next = t.push(sine(1.2, 44100, 2, {0.5}), 0, 4410);
    ASSERT_EQ(t.windows().size(), 1u);
    auto events = t.events();
    EXPECT_EQ(events.size(), 1u);
    free_all(events);
    gst_harness_set_src_caps_str(t.h, "audio/x-raw,format=F32LE,rate=16000,channels=1,layout=interleaved");
    t.format = format_of("audio/x-raw,format=F32LE,rate=16000,channels=1,layout=interleaved");
    events = t.events();
    ASSERT_EQ(events.size(), 1u);  // the 44.1 kHz stream's tail: 0.48 .. 1.2 s
    EXPECT_TRUE(partial_of(events[0]));
    EXPECT_EQ(uint64_of(events[0], "start"), hop_ns);
    EXPECT_EQ(uint64_of(events[0], "end"), next);
    free_all(events);
    t.push(sine(1.0, 16000, 1, {0.25}), next, 1600);
    EXPECT_EQ(t.error(), "");
    EXPECT_EQ(t.pulled, t.pushed);
    const auto windows = t.windows();
    ASSERT_EQ(windows.size(), 2u);
    EXPECT_EQ(windows[1].pts, next);
    EXPECT_EQ(windows[1].first_sample, 0);
    EXPECT_NEAR(windows[1].loudness_dbfs, db(0.25), 0.1);
}

// A flush forgets the samples before it: nothing is posted for them, windows restart after it.
TEST(XmAudio, flush_resets_the_windows) {
    REQUIRE_MODELS();
    Harness t("vad-model=\"\" threshold=0", "audio/x-raw,format=F32LE,rate=16000,channels=1,layout=interleaved");
    const auto audio = sine(1.2, 16000, 1, {0.5});
    t.push(audio, 0, 1600);
    auto events = t.events();
    EXPECT_EQ(events.size(), 1u);
    free_all(events);
    EXPECT_TRUE(gst_harness_push_event(t.h, gst_event_new_flush_start()));
    EXPECT_TRUE(gst_harness_push_event(t.h, gst_event_new_flush_stop(TRUE)));
    GstSegment segment;
    gst_segment_init(&segment, GST_FORMAT_TIME);
    EXPECT_TRUE(gst_harness_push_event(t.h, gst_event_new_segment(&segment)));
    t.push(audio, 5 * GST_SECOND, 1600);
    events = t.events();
    ASSERT_EQ(events.size(), 1u);  // the new window only: no tail of the flushed samples
    EXPECT_EQ(uint64_of(events[0], "start"), 5 * GST_SECOND);
    EXPECT_FALSE(partial_of(events[0]));
    free_all(events);
}

std::string start_error_with(const char* properties) {
    GstElement* element = gst_parse_launch((std::string("xmaudio ") + properties).c_str(), nullptr);
    EXPECT_NE(element, nullptr);
    if (element == nullptr) return "";
    const std::string error = xmodal::testing::start_error(element);
    gst_object_unref(element);
    return error;
}

TEST(XmAudio, property_defaults) {
    GstElement* e = gst_element_factory_make("xmaudio", nullptr);
    ASSERT_NE(e, nullptr);
    gdouble window = 0, hop = 0, threshold = 0;
    gint top_k = 0;
    gchar *model = nullptr, *vad = nullptr, *device = nullptr;
    g_object_get(e, "window", &window, "hop", &hop, "threshold", &threshold, "top-k", &top_k, "model", &model, "vad-model", &vad,
                 "device", &device, nullptr);
    EXPECT_DOUBLE_EQ(window, 0.975);
    EXPECT_DOUBLE_EQ(hop, 0.48);
    EXPECT_DOUBLE_EQ(threshold, 0.5);
    EXPECT_EQ(top_k, 5);
    EXPECT_EQ(model, nullptr);  // the shared yamnet.tflite
    EXPECT_EQ(vad, nullptr);    // the shared silero_vad.onnx
    EXPECT_STREQ(device, "cpu");
    g_free(device);
    gst_object_unref(e);
}

TEST(XmAudio, bad_properties_and_files_give_named_errors_at_start) {
    REQUIRE_MODELS();
    std::string e = start_error_with("model=/nonexistent/yamnet.tflite");
    EXPECT_NE(e.find("xmaudio: model: file '/nonexistent/yamnet.tflite' does not exist"), std::string::npos) << e;
    e = start_error_with("labels=/nonexistent/classes.csv");
    EXPECT_NE(e.find("class map '/nonexistent/classes.csv' does not exist"), std::string::npos) << e;
    e = start_error_with("vad-model=/nonexistent/vad.onnx");
    EXPECT_NE(e.find("vad model: file '/nonexistent/vad.onnx' does not exist"), std::string::npos) << e;
    e = start_error_with(("model=" + shared_path("models/silero_vad.onnx")).c_str());
    EXPECT_NE(e.find("expected one f32 input"), std::string::npos) << e;
    // YAMNet takes exactly 0.975 s.
    e = start_error_with("window=0.5 hop=0.25");
    EXPECT_NE(e.find("window: 8000 samples (0.5 s)"), std::string::npos) << e;
    EXPECT_NE(e.find("takes windows of exactly 15600 samples (0.975 s at 16 kHz)"), std::string::npos) << e;
    e = start_error_with("hop=1.2");
    EXPECT_NE(e.find("hop: 1.2 s is longer than the window (0.975 s)"), std::string::npos) << e;
    EXPECT_NE(start_error_with("hop=0").find("hop: 0 s"), std::string::npos);
    EXPECT_NE(start_error_with("window=-1").find("window: -1 s"), std::string::npos);
    e = start_error_with("threshold=1.5");
    EXPECT_NE(e.find("threshold: 1.5, expected a score in 0..1"), std::string::npos) << e;
    e = start_error_with("top-k=0");
    EXPECT_NE(e.find("top-k: 0, expected 1..521"), std::string::npos) << e;
    EXPECT_EQ(start_error_with("vad-model=\"\""), "");
}

TEST(XmAudio, missing_shared_folder_is_named) {
    const char* saved = g_getenv("XMODAL_SHARED");
    const std::string previous = saved != nullptr ? saved : "";
    g_setenv("XMODAL_SHARED", "/nonexistent/shared", TRUE);
    const std::string e = start_error_with("");
    if (saved != nullptr) g_setenv("XMODAL_SHARED", previous.c_str(), TRUE);
    else g_unsetenv("XMODAL_SHARED");
    EXPECT_NE(e.find("/nonexistent/shared/models/yamnet.tflite' does not exist"), std::string::npos) << e;
}

// A truncated interleaved buffer is a stream error naming the sizes.
TEST(XmAudio, truncated_buffer_is_a_stream_error) {
    REQUIRE_MODELS();
    Harness t("vad-model=\"\"", "audio/x-raw,format=S16LE,rate=44100,channels=2,layout=interleaved");
    GstBuffer* buffer = gst_buffer_new_allocate(nullptr, 4 * 100 + 3, nullptr);
    gst_buffer_memset(buffer, 0, 0, gst_buffer_get_size(buffer));
    GST_BUFFER_PTS(buffer) = 0;
    EXPECT_EQ(gst_harness_push(t.h, buffer), GST_FLOW_ERROR);
    const std::string e = t.error();
    EXPECT_NE(e.find("a buffer of 403 bytes is not a whole number of 4-byte frames"), std::string::npos) << e;
}

}  // namespace

int main(int argc, char** argv) {
    gst_init(&argc, &argv);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
