// xmfuse in GstHarness: what it attaches equals xmodal::FusionModel on the same windows and tracks
// (so alignment by running time is exact), frames without an audio pad, an audio branch that ends
// early, a stalled audio branch in a live pipeline (bounded by the test clock), a timestamp gap,
// and the errors at state change. A random-weights model is written by the test.
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include "element_test_support.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../../plugins/xm_objects.hpp"
#include "xmodal/fusion.hpp"
#include "xmodal/safetensors.hpp"

namespace {

namespace xg = xmodal::gst;

constexpr int width = 320, height = 240;
constexpr GstClockTime frame_ns = 250 * GST_MSECOND;   // 4 fps keeps the suite short
constexpr GstClockTime audio_ns = 480 * GST_MSECOND;   // one audio buffer per YAMNet hop
constexpr GstClockTime window_ns = 975 * GST_MSECOND;  // YAMNet's window

// A model of the default shape with random weights, and its description, in a temp folder; beside
// it a second member and a description of the two as an ensemble (FUSION.md §3).
struct ModelFiles {
    std::string dir, weights, json, ensemble_json;
    ModelFiles() {
        dir = (std::filesystem::temp_directory_path() / ("xmfuse-test-" + std::to_string(::getpid()))).string();
        std::filesystem::create_directories(dir);
        weights = dir + "/fusion.safetensors";
        json = dir + "/fusion.json";
        ensemble_json = dir + "/ensemble.json";
        xmodal::FusionConfig config;
        xmodal::save_safetensors(weights, xmodal::FusionModel::random_weights(config, 7));
        xmodal::save_safetensors(dir + "/member.safetensors", xmodal::FusionModel::random_weights(config, 8));
        const std::string settings = R"("audio_window": 4.0, "curve_points": 8, "model_dim": 64, "heads": 4, "event_threshold": 0.3,
                  "sound_groups": [{"name": "siren", "classes": [316, 317, 318, 319, 390, 391]},
                                   {"name": "horn", "classes": [302, 303, 312]},
                                   {"name": "engine", "classes": [337, 338, 342, 343, 345, 346, 347]},
                                   {"name": "speech", "classes": [0, 1, 2, 3, 6]}],
                  "object_classes": ["person", "bicycle", "car", "motorcycle", "bus", "truck", "other"])";
        std::ofstream(json) << "{" << settings << "}";
        std::ofstream(ensemble_json) << "{" << settings << R"(, "ensemble": ["member.safetensors"]})";
        std::ofstream(dir + "/lost-member.json") << "{" << settings << R"(, "ensemble": ["gone.safetensors"]})";
    }
    ~ModelFiles() { std::filesystem::remove_all(dir); }
};

const ModelFiles& model_files() {
    static ModelFiles files;
    return files;
}

// The window ending at `end`: siren scores that rise with time, an embedding from a fixed seed,
// loudness that follows the approaching car.
xg::AudioWindowMeta make_window(GstClockTime end) {
    xg::AudioWindowMeta w;
    w.pts = end - window_ns;
    w.duration = window_ns;
    w.first_sample = static_cast<std::int64_t>(w.pts / 62500);
    w.samples = 15600;
    w.scores.assign(521, 0.01f);
    const float s = static_cast<float>(end) / 1e9f;
    w.scores[390] = std::min(0.95f, 0.2f + 0.1f * s);
    w.scores[0] = 0.05f;
    std::mt19937 rng(static_cast<unsigned>(end / GST_MSECOND));
    std::uniform_real_distribution<float> u(0.f, 1.f);
    w.embedding.resize(1024);
    for (auto& v : w.embedding) v = u(rng);
    w.loudness_dbfs = -40.0 + 3.0 * s;
    w.speech_probability = 0.1;
    w.top.push_back({390, "Siren", w.scores[390]});
    return w;
}

// Audio buffer k covers [k·audio_ns, (k+1)·audio_ns) and carries the windows that end inside it.
GstBuffer* audio_buffer(int k, std::vector<xg::AudioWindowMeta>* windows = nullptr) {
    GstBuffer* b = gst_buffer_new_allocate(nullptr, 480 * 2 * 16, nullptr);  // 16 kHz mono S16, 0.48 s
    gst_buffer_memset(b, 0, 0, gst_buffer_get_size(b));
    const GstClockTime start = static_cast<GstClockTime>(k) * audio_ns, end = start + audio_ns;
    GST_BUFFER_PTS(b) = start;
    GST_BUFFER_DURATION(b) = audio_ns;
    for (GstClockTime e = window_ns; e < end; e += audio_ns)
        if (e >= start) {
            xg::AudioWindowMeta w = make_window(e);
            xg::add_audio_window(b, w);
            if (windows) windows->push_back(w);
        }
    return b;
}

// A car (track 3) approaching from far away and a person (track 8) standing still.
struct Box {
    int id;
    const char* label;
    double x, y, w, h;
};
std::vector<Box> scene_at(GstClockTime pts) {
    const double s = static_cast<double>(pts) / 1e9, size = 0.05 + 0.05 * s;
    return {{3, "car", 0.2 + 0.05 * s, 0.4, size, 0.7 * size}, {8, "person", 0.8, 0.5, 0.05, 0.15}};
}

GstBuffer* video_buffer(GstClockTime pts, bool tracked = true) {
    GstVideoInfo info;
    gst_video_info_set_format(&info, GST_VIDEO_FORMAT_RGB, width, height);
    GstBuffer* b = xmodal::testing::make_video_buffer(info, nullptr, pts, frame_ns);
    for (const Box& o : scene_at(pts)) {
        auto* roi = xg::add_object(b, width, height, o.label, o.label[0] == 'c' ? 2 : 0, 0.9, o.x * width, o.y * height,
                                   (o.x + o.w) * width, (o.y + o.h) * height);
        if (tracked) xg::set_tracking(roi, o.id, "confirmed");
    }
    return b;
}

// The audio branch runs in its own thread, as in a pipeline: xmfuse holds audio beyond what the
// next frame needs (a latency's worth), so pushing it all from the test thread would block.
struct Fuse {
    GstElement* element;
    GstHarness* video;
    GstHarness* audio = nullptr;
    std::thread feeder;

    // The first buffer goes before this returns, so the audio pad is active when frames come.
    void feed(std::vector<GstBuffer*> buffers, bool eos) {
        EXPECT_EQ(gst_harness_push(audio, buffers.front()), GST_FLOW_OK);
        buffers.erase(buffers.begin());
        feeder = std::thread([this, buffers, eos] {
            for (GstBuffer* b : buffers)
                if (gst_harness_push(audio, b) != GST_FLOW_OK) return;  // flushing at teardown
            if (eos) gst_harness_push_event(audio, gst_event_new_eos());
        });
    }
    explicit Fuse(bool with_audio, bool live = false, const std::string& model_info = "") {
        element = gst_element_factory_make("xmfuse", nullptr);
        g_object_set(element, "model", model_files().weights.c_str(), nullptr);
        if (!model_info.empty()) g_object_set(element, "model-info", model_info.c_str(), nullptr);
        video = gst_harness_new_with_element(element, "video", "src");
        gst_harness_set_live(video, live);
        gst_harness_set_src_caps_str(video, "video/x-raw,format=RGB,width=320,height=240,framerate=4/1");
        if (with_audio) {
            audio = gst_harness_new_with_element(element, "audio", nullptr);
            gst_harness_set_live(audio, live);
            gst_harness_set_src_caps_str(audio, "audio/x-raw,format=S16LE,rate=16000,channels=1,layout=interleaved");
        }
    }
    ~Fuse() {
        gst_element_set_state(element, GST_STATE_NULL);  // unblocks a feeder still pushing
        if (feeder.joinable()) feeder.join();
        if (audio) gst_harness_teardown(audio);
        gst_harness_teardown(video);
        gst_object_unref(element);
    }
};

struct FusionOut {
    std::string audio;
    int tokens = 0, objects = 0;
    std::vector<std::vector<double>> attention;
    std::vector<gint64> track_ids;
    GstStructure* copy = nullptr;
    ~FusionOut() {
        if (copy) gst_structure_free(copy);
    }
};

void read_fusion(GstBuffer* b, FusionOut& out) {
    const GstStructure* s = xg::fusion_structure(b);
    ASSERT_NE(s, nullptr) << "no XmodalFusionMeta on the frame";
    out.copy = gst_structure_copy(s);
    out.audio = gst_structure_get_string(s, "audio");
    gst_structure_get_int(s, "audio-tokens", &out.tokens);
    gst_structure_get_int(s, "objects", &out.objects);
    const GValue* rows = gst_structure_get_value(s, "attention");
    for (guint i = 0; i < gst_value_array_get_size(rows); ++i) {
        const GValue* row = gst_value_array_get_value(rows, i);
        out.attention.emplace_back();
        for (guint j = 0; j < gst_value_array_get_size(row); ++j)
            out.attention.back().push_back(g_value_get_double(gst_value_array_get_value(row, j)));
    }
    const GValue* ids = gst_structure_get_value(s, "track-ids");
    for (guint j = 0; j < gst_value_array_get_size(ids); ++j)
        out.track_ids.push_back(g_value_get_int64(gst_value_array_get_value(ids, j)));
}

// xmfuse's metas against FusionModel run by hand on the same windows and tracks; model_info
// chooses the description (the default beside the weights, or an ensemble).
void expect_fuse_attaches_what_the_model_computes(const std::string& model_info) {
    Fuse f(true, false, model_info);
    std::vector<xg::AudioWindowMeta> pushed;
    std::vector<int> buffer_of;  // per pushed window: the audio buffer it came in
    std::vector<GstBuffer*> buffers;
    for (int k = 0; k < 14; ++k) {
        buffers.push_back(audio_buffer(k, &pushed));
        buffer_of.resize(pushed.size(), k);
    }
    f.feed(buffers, true);

    auto reference = xmodal::FusionModel::load(model_files().weights, model_info);
    EXPECT_EQ(reference->members(), model_info.empty() ? 1u : 2u);
    xmodal::TrackHistory history;
    xmodal::FusionInputs inputs;
    int with_events = 0;
    for (int n = 0; n < 24; ++n) {
        const GstClockTime pts = static_cast<GstClockTime>(n) * frame_ns + frame_ns;
        ASSERT_EQ(gst_harness_push(f.video, video_buffer(pts)), GST_FLOW_OK);
        GstBuffer* out = gst_harness_pull(f.video);
        ASSERT_NE(out, nullptr);
        EXPECT_EQ(GST_BUFFER_PTS(out), pts);
        if (n == 0) {  // the frames leave with the video caps, whatever the template allows
            GstCaps* caps = gst_pad_get_current_caps(f.video->sinkpad);
            GstCaps* want = gst_caps_from_string("video/x-raw,format=RGB,width=320,height=240,framerate=4/1");
            EXPECT_TRUE(caps && gst_caps_is_equal(caps, want));
            if (caps) gst_caps_unref(caps);
            gst_caps_unref(want);
        }

        // The reference: windows of the audio buffers that start by t + half a window.
        const double t = static_cast<double>(pts) / 1e9;
        std::vector<xmodal::AudioToken> windows;
        for (std::size_t i = 0; i < pushed.size(); ++i) {
            if (static_cast<GstClockTime>(buffer_of[i]) * audio_ns > pts + window_ns / 2) continue;
            xmodal::AudioToken tok;
            tok.start = static_cast<double>(pushed[i].pts) / 1e9;
            tok.end = static_cast<double>(pushed[i].pts + pushed[i].duration) / 1e9;
            tok.scores = pushed[i].scores;
            tok.embedding = pushed[i].embedding;
            tok.loudness_dbfs = static_cast<float>(pushed[i].loudness_dbfs);
            windows.push_back(tok);
        }
        for (const Box& o : scene_at(pts)) {
            xmodal::TimedBox box;
            box.t = t;
            box.x = static_cast<float>(o.x), box.y = static_cast<float>(o.y), box.w = static_cast<float>(o.w),
            box.h = static_cast<float>(o.h);
            history.add(o.id, o.label, box);
        }
        history.prune(t, 5.0);
        xmodal::build_fusion_inputs(reference->config(), windows, history.tracks(), t, inputs);

        FusionOut got;
        read_fusion(out, got);
        ASSERT_EQ(got.tokens, inputs.audio_tokens) << "frame " << n;
        ASSERT_EQ(got.objects, inputs.objects);
        EXPECT_EQ(got.audio, inputs.audio_tokens > 0 ? "ok" : "silent") << "frame " << n;
        if (inputs.audio_tokens > 0) {
            const xmodal::FusionResult& r = reference->run(inputs);
            ASSERT_EQ(got.attention.size(), static_cast<std::size_t>(r.audio_tokens));
            for (std::int64_t i = 0; i < r.audio_tokens; ++i) {
                double sum = 0;
                for (std::int64_t c = 0; c <= r.objects; ++c) {
                    EXPECT_NEAR(got.attention[static_cast<std::size_t>(i)][static_cast<std::size_t>(c)],
                                r.attribution[static_cast<std::size_t>(i * (r.objects + 1) + c)], 1e-6);
                    sum += got.attention[static_cast<std::size_t>(i)][static_cast<std::size_t>(c)];
                }
                EXPECT_NEAR(sum, 1.0, 1e-5);
            }
            EXPECT_EQ(got.track_ids, (std::vector<gint64>{3, 8, -1}));
            // Every tracked object carries its emission probabilities, equal to the model's.
            auto objects = xg::read_objects(out, width, height);
            ASSERT_EQ(objects.size(), 2u);
            for (const auto& o : objects) {
                const GstStructure* a = gst_video_region_of_interest_meta_get_param(o.meta, "audio");
                ASSERT_NE(a, nullptr) << "track " << o.track_id;
                const std::size_t row = o.track_id == 3 ? 0 : 1;
                double siren = -1;
                ASSERT_TRUE(gst_structure_get_double(a, "siren", &siren));
                EXPECT_NEAR(siren, r.emission[row * 4 + 0], 1e-6);
                EXPECT_STREQ(gst_structure_get_string(a, "label"), std::string(r.labels[row]).c_str());
            }
            const GValue* events = gst_structure_get_value(got.copy, "events");
            EXPECT_EQ(gst_value_array_get_size(events), r.events.size());
            if (!r.events.empty()) {
                ++with_events;
                const GstStructure* e = gst_value_get_structure(gst_value_array_get_value(events, 0));
                EXPECT_STREQ(gst_structure_get_string(e, "sound"), "siren");
                gint64 track = 0;
                gst_structure_get_int64(e, "track-id", &track);
                EXPECT_EQ(track, r.events[0].track_id);
            }
        }
        gst_buffer_unref(out);
    }
    EXPECT_GT(with_events, 10);
}

TEST(XmFuse, AttachesWhatTheFusionModelComputesOnTheSameWindowsAndTracks) {
    expect_fuse_attaches_what_the_model_computes("");
}

TEST(XmFuse, RunsEveryMemberOfAnEnsemble) {
    expect_fuse_attaches_what_the_model_computes(model_files().ensemble_json);
}

TEST(XmFuse, WithoutAnAudioPadFramesPassWithTheFlagNone) {
    Fuse f(false);
    for (int n = 0; n < 5; ++n) {
        const GstClockTime pts = static_cast<GstClockTime>(n) * frame_ns;
        ASSERT_EQ(gst_harness_push(f.video, video_buffer(pts)), GST_FLOW_OK);
        GstBuffer* out = gst_harness_pull(f.video);
        FusionOut got;
        read_fusion(out, got);
        EXPECT_EQ(got.audio, "none");
        EXPECT_EQ(got.tokens, 0);
        EXPECT_EQ(got.objects, 2);
        EXPECT_TRUE(got.attention.empty());
        EXPECT_EQ(xg::read_objects(out, width, height).size(), 2u);  // objects pass untouched
        gst_buffer_unref(out);
    }
}

TEST(XmFuse, AnAudioPadThatNeverGetsDataDoesNotHoldTheVideo) {
    Fuse f(true, true);  // live; requested and linked, but nothing ever comes
    for (int n = 0; n < 5; ++n) {
        ASSERT_EQ(gst_harness_push(f.video, video_buffer(static_cast<GstClockTime>(n) * frame_ns)), GST_FLOW_OK);
        // The first frame waits for the audio pad until its deadline (on the harness' test clock),
        // later ones do not wait for a pad that never had data.
        if (n == 0) {
            EXPECT_EQ(gst_harness_try_pull(f.video), nullptr);
            ASSERT_TRUE(gst_harness_crank_single_clock_wait(f.video));
        }
        GstBuffer* out = gst_harness_pull(f.video);
        ASSERT_NE(out, nullptr);
        FusionOut got;
        read_fusion(out, got);
        EXPECT_EQ(got.audio, "none");
        gst_buffer_unref(out);
    }
}

TEST(XmFuse, AnAudioBranchThatEndsEarlyDoesNotHoldTheVideo) {
    Fuse f(true);
    f.feed({audio_buffer(0), audio_buffer(1), audio_buffer(2), audio_buffer(3)}, true);  // audio ends at 1.92 s
    std::vector<std::string> flags;
    for (int n = 0; n < 40; ++n) {  // video goes on to 10 s
        ASSERT_EQ(gst_harness_push(f.video, video_buffer(static_cast<GstClockTime>(n) * frame_ns)), GST_FLOW_OK);
        GstBuffer* out = gst_harness_pull(f.video);
        ASSERT_NE(out, nullptr) << "frame " << n << " held";
        FusionOut got;
        read_fusion(out, got);
        flags.push_back(got.audio);
        if (n >= 30) {
            EXPECT_EQ(got.tokens, 0) << "frame " << n;  // the last window is more than W old
        }
        gst_buffer_unref(out);
    }
    EXPECT_EQ(flags.back(), "ended");
    EXPECT_EQ(flags[6], "ended");  // 1.5 s: windows there, but the branch has ended
}

TEST(XmFuse, AStalledAudioBranchHoldsALiveFrameOnlyUntilItsDeadline) {
    Fuse f(true, true);
    ASSERT_EQ(gst_harness_push(f.audio, audio_buffer(0)), GST_FLOW_OK);  // then nothing
    ASSERT_EQ(gst_harness_push(f.video, video_buffer(2 * GST_SECOND)), GST_FLOW_OK);
    EXPECT_EQ(gst_harness_try_pull(f.video), nullptr);  // waiting for audio up to its deadline
    // The deadline is a clock wait on the harness' test clock: let it pass.
    ASSERT_TRUE(gst_harness_crank_single_clock_wait(f.video));
    GstBuffer* out = gst_harness_pull(f.video);
    ASSERT_NE(out, nullptr);
    FusionOut got;
    read_fusion(out, got);
    EXPECT_EQ(got.audio, "late");
    gst_buffer_unref(out);
}

TEST(XmFuse, AudioAfterATimestampGapIsAlignedByItsOwnTimes) {
    Fuse f(true);
    // Audio for 0..1.92 s, then a gap, then audio from 5.76 s on (buffers 12..17).
    std::vector<GstBuffer*> buffers;
    for (int k = 0; k < 4; ++k) buffers.push_back(audio_buffer(k));
    for (int k = 12; k < 18; ++k) {
        buffers.push_back(audio_buffer(k));
        if (k == 12) GST_BUFFER_FLAG_SET(buffers.back(), GST_BUFFER_FLAG_DISCONT);
    }
    f.feed(buffers, true);
    auto tokens_at = [&](GstClockTime pts) {
        EXPECT_EQ(gst_harness_push(f.video, video_buffer(pts)), GST_FLOW_OK);
        GstBuffer* out = gst_harness_pull(f.video);
        FusionOut got;
        read_fusion(out, got);
        gst_buffer_unref(out);
        return got.tokens;
    };
    EXPECT_GT(tokens_at(1500 * GST_MSECOND), 0);
    EXPECT_EQ(tokens_at(5000 * GST_MSECOND), 0);  // windows before the gap are older than W = 4 s, after it later
    EXPECT_GT(tokens_at(7500 * GST_MSECOND), 0);  // windows after the gap, at their own times
}

TEST(XmFuse, UntrackedObjectsAreNotFused) {
    Fuse f(true);
    std::vector<GstBuffer*> buffers;
    for (int k = 0; k < 8; ++k) buffers.push_back(audio_buffer(k));
    f.feed(buffers, false);
    ASSERT_EQ(gst_harness_push(f.video, video_buffer(2 * GST_SECOND, false)), GST_FLOW_OK);
    GstBuffer* out = gst_harness_pull(f.video);
    FusionOut got;
    read_fusion(out, got);
    EXPECT_EQ(got.objects, 0);
    ASSERT_FALSE(got.attention.empty());
    for (const auto& row : got.attention) EXPECT_EQ(row, std::vector<double>{1.0});  // only off-screen
    gst_buffer_unref(out);
}

TEST(XmFuse, BadSettingsAreErrorsAtStateChange) {
    struct Case {
        const char* model;
        const char* property;
        double value;
        const char* expected;
    };
    const std::string weights = model_files().weights;
    const std::string broken = model_files().dir + "/broken.safetensors";
    { std::ofstream(broken) << "not a safetensors file"; }
    { std::ofstream(model_files().dir + "/broken.json") << std::ifstream(model_files().json).rdbuf(); }
    const std::string no_json = model_files().dir + "/lonely.safetensors";
    std::filesystem::copy_file(weights, no_json, std::filesystem::copy_options::overwrite_existing);
    const std::vector<Case> cases = {
        {nullptr, nullptr, 0, "no model set"},
        {"/nonexistent/fusion.safetensors", nullptr, 0, "fusion.safetensors"},
        {broken.c_str(), nullptr, 0, "broken.safetensors"},
        {no_json.c_str(), nullptr, 0, "lonely.json"},
        {"lost-member", nullptr, 0, "gone.safetensors"},  // an ensemble member that is not there
        {weights.c_str(), "audio-window", 0.2, "audio-window"},
        {weights.c_str(), "audio-window", 100, "audio-window"},
        {weights.c_str(), "event-threshold", 1.5, "event-threshold"},
        {weights.c_str(), "event-threshold", 0, "event-threshold"},
        {weights.c_str(), "min-visible-share", 1.5, "min-visible-share"},
        {weights.c_str(), "min-visible-share", -0.1, "min-visible-share"},
    };
    for (const Case& c : cases) {
        GstElement* e = gst_element_factory_make("xmfuse", nullptr);
        if (c.model && std::string(c.model) == "lost-member")
            g_object_set(e, "model", weights.c_str(), "model-info", (model_files().dir + "/lost-member.json").c_str(), nullptr);
        else if (c.model)
            g_object_set(e, "model", c.model, nullptr);
        if (c.property) g_object_set(e, c.property, c.value, nullptr);
        const std::string error = xmodal::testing::start_error(e);
        EXPECT_NE(error.find(c.expected), std::string::npos) << "expected '" << c.expected << "' in: " << error;
        gst_object_unref(e);
    }
    GstElement* e = gst_element_factory_make("xmfuse", nullptr);
    g_object_set(e, "model", weights.c_str(), "device", "gpu:7", nullptr);
    EXPECT_NE(xmodal::testing::start_error(e).find("gpu"), std::string::npos);
    gst_object_unref(e);
}

TEST(XmFuse, HasOneAudioPadAtMost) {
    GstElement* e = gst_element_factory_make("xmfuse", nullptr);
    GstPad* a = gst_element_request_pad_simple(e, "audio");
    ASSERT_NE(a, nullptr);
    EXPECT_STREQ(GST_PAD_NAME(a), "audio");
    GstPadTemplate* templ = gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(e), "audio");
    EXPECT_EQ(gst_element_request_pad(e, templ, nullptr, nullptr), nullptr);
    gst_element_release_request_pad(e, a);
    gst_object_unref(a);
    GstPad* again = gst_element_request_pad_simple(e, "audio");
    EXPECT_NE(again, nullptr);  // released, so it can be requested again
    if (again) gst_object_unref(again);
    gst_object_unref(e);
}

}  // namespace

int main(int argc, char** argv) {
    gst_init(&argc, &argv);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
