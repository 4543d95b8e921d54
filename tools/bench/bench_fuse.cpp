// xmodal-bench fuse: the fusion model's cost per query (docs/FUSION.md §3) for 1, 10, 50 objects
// × 8, 32 audio tokens — FusionModel::run (oneDNN, on the compute thread) beside the naive
// double-precision reference of the same computation (tests/support/fusion_reference.hpp), and the
// cost of building the tokens from window and track histories. Inputs are synthetic but shaped like
// a street: windows with random embeddings and scores, tracks boxed at 30 fps over the last W + 1 s.
// Random weights of the default size unless --model is given (an ensemble description runs all
// its members); --members N times N random members.
//
// With --clip MEDIA (a clip with video and audio, e.g. one written by tools/fusion/build_scenes.py
// --write-media) it also runs the whole audio-visual pipeline (decode, xmdetect ! xmtrack, xmaudio,
// xmfuse) to EOS as fast as it can and prints its real-time factor (wall time / media time), beside
// the video-only pipeline (decode, xmdetect ! xmtrack) on the same clip in the same run.
#include <gst/gst.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <random>

#include <nlohmann/json.hpp>

#include "bench_support.hpp"
#include "support/fusion_reference.hpp"
#include "xmodal/error.hpp"
#include "xmodal/fusion.hpp"

namespace {

using namespace xmodal;


// `count` windows whose centres are evenly spread over (t − W, t].
std::vector<AudioToken> synthetic_windows(const FusionConfig& c, double t, std::int64_t count, std::mt19937& rng) {
    std::uniform_real_distribution<float> unit(0.f, 1.f);
    std::vector<AudioToken> windows;
    for (std::int64_t i = 0; i < count; ++i) {
        AudioToken w;
        const double centre = t - c.window + c.window * static_cast<double>(i + 1) / static_cast<double>(count);
        w.start = centre - 0.4875;
        w.end = centre + 0.4875;
        w.scores.resize(521);
        for (auto& v : w.scores) v = unit(rng);
        w.embedding.resize(static_cast<std::size_t>(c.embedding_dim));
        for (auto& v : w.embedding) v = unit(rng);
        w.loudness_dbfs = -40.f + 20.f * unit(rng);
        windows.push_back(std::move(w));
    }
    return windows;
}

// `count` tracks boxed every 1/30 s over [t − W − 1, t], moving and growing at random rates.
std::vector<TimedTrack> synthetic_tracks(const FusionConfig& c, double t, std::int64_t count, std::mt19937& rng) {
    std::uniform_real_distribution<float> unit(0.f, 1.f);
    const char* labels[] = {"car", "person", "bus", "truck", "bicycle", "motorcycle"};
    std::vector<TimedTrack> tracks;
    for (std::int64_t k = 0; k < count; ++k) {
        TimedTrack track{k + 1, labels[k % 6], {}};
        const float x0 = unit(rng), y0 = unit(rng), vx = 0.1f * (unit(rng) - 0.5f), size = 0.05f + 0.2f * unit(rng);
        for (double s = t - c.window - 1.0; s <= t + 1e-9; s += 1.0 / 30) {
            const auto a = static_cast<float>(s - t);
            TimedBox b;
            b.t = s;
            b.x = x0 + vx * a;
            b.y = y0;
            b.w = size * (1.f + 0.05f * a);
            b.h = b.w;
            track.boxes.push_back(b);
        }
        tracks.push_back(std::move(track));
    }
    return tracks;
}

}  // namespace

void pipeline_rtf(const std::string& clip, const std::string& model_path, int reps) {
    gst_init(nullptr, nullptr);
    GstElementFactory* factory = gst_element_factory_find("xmfuse");
    if (factory == nullptr) fail("xmodal-bench fuse: the xmodal plugin is not found (GST_PLUGIN_PATH=build/plugins)");
    gst_object_unref(factory);
    // A file URI must be absolute: a relative clip path is taken from the working directory.
    const std::string uri = gst_uri_is_valid(clip.c_str()) ? clip : "file://" + std::filesystem::absolute(clip).string();
    const std::string info = std::string(XMODAL_SOURCE_DIR) + "/models/yolox_nano.json";
    const std::string video = "d. ! video/x-raw ! queue ! xmdetect model-info=" + info + " ! xmtrack";
    const std::string av = "uridecodebin uri=" + uri + " name=d xmfuse name=f model=" + model_path +
                           " ! fakesink name=out sync=false " + video + " ! f.video d. ! audio/x-raw ! queue ! xmaudio ! f.audio";
    const std::string video_only = "uridecodebin uri=" + uri + " caps=video/x-raw(ANY) expose-all-streams=false name=d " +
                                   video + " ! fakesink name=out sync=false";
    std::vector<double> av_wall, video_wall;
    xmodal::bench::PipelineRun last;
    for (int r = 0; r < reps; ++r) {  // interleaved, so both see the same machine load
        last = xmodal::bench::run_to_eos(av, "xmodal-bench fuse");
        av_wall.push_back(last.wall_s);
        video_wall.push_back(xmodal::bench::run_to_eos(video_only, "xmodal-bench fuse").wall_s);
    }
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    const double av_s = median(av_wall), video_s = median(video_wall);
    nlohmann::ordered_json j = {{"op", "av_pipeline"},
                                {"clip", clip},
                                {"frames", last.buffers},
                                {"media_s", last.media_end_s},
                                {"wall_s", av_s},
                                {"real_time_factor", av_s / last.media_end_s},
                                {"video_only_wall_s", video_s},
                                {"video_only_real_time_factor", video_s / last.media_end_s},
                                {"audio_and_fusion_share", (av_s - video_s) / av_s},
                                {"reps", reps},
                                {"threads", omp_get_max_threads()}};
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
}

int fuse_command(int argc, char** argv) {
    int reps = 200, pipeline_reps = 3, random_members = 1;
    std::string model_path, clip;
    for (int i = 0; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--reps" && i + 1 < argc) reps = std::max(1, std::atoi(argv[++i]));
        else if (a == "--model" && i + 1 < argc) model_path = argv[++i];
        else if (a == "--clip" && i + 1 < argc) clip = argv[++i];
        else if (a == "--pipeline-reps" && i + 1 < argc) pipeline_reps = std::max(1, std::atoi(argv[++i]));
        else if (a == "--members" && i + 1 < argc) random_members = std::clamp(std::atoi(argv[++i]), 1, 8);
        else
            fail("xmodal-bench fuse: unknown argument '", a,
                 "' (expected --reps N, --model FILE.safetensors, --members N (random weights), --clip MEDIA, --pipeline-reps N)");
    }
    if (!clip.empty() && model_path.empty())
        fail("xmodal-bench fuse: --clip needs --model (the pipeline loads the weights from a file)");
    FusionConfig config;
    std::vector<TensorFile> members;  // the weights, then any ensemble members (FUSION.md §3)
    if (model_path.empty()) {
        for (int m = 0; m < random_members; ++m) members.push_back(FusionModel::random_weights(config, 1 + 10 * static_cast<std::uint64_t>(m)));
    } else {
        config = FusionConfig::load(FusionModel::description_path(model_path));
        members = FusionModel::load_members(model_path, config);
    }
    const std::span<const TensorFile> weights(members);
    FusionModel model(config, weights);
    std::mt19937 rng(5);
    const double t = 10.0;
    for (std::int64_t audio_tokens : {8, 32})
        for (std::int64_t objects : {1, 10, 50}) {
            const auto windows = synthetic_windows(config, t, audio_tokens, rng);
            const auto tracks = synthetic_tracks(config, t, objects, rng);
            FusionInputs inputs;
            const double tokens_ms = xmodal::bench::median_ms(reps, [&] { build_fusion_inputs(config, windows, tracks, t, inputs); });
            if (inputs.audio_tokens != audio_tokens || inputs.objects != objects)
                fail("xmodal-bench fuse: built ", inputs.audio_tokens, " audio tokens and ", inputs.objects, " objects, expected ",
                     audio_tokens, " and ", objects);
            const double ms = xmodal::bench::median_ms(reps, [&] { model.run(inputs); });
            const double reference_ms = xmodal::bench::median_ms(std::max(3, reps / 20), [&] { testing::reference_fusion(config, weights, inputs); });
            // The two must agree, or the timing compares different computations.
            const auto want = testing::reference_fusion(config, weights, inputs);
            const auto& got = model.run(inputs);
            const double error = std::max(testing::compare(got.attribution, want.attribution).relative(),
                                          testing::compare(got.emission, want.emission).relative());
            nlohmann::ordered_json j = {{"op", "fuse"},
                                        {"audio_tokens", audio_tokens},
                                        {"objects", objects},
                                        {"ms", ms},
                                        {"reference_ms", reference_ms},
                                        {"speedup_vs_reference", reference_ms / ms},
                                        {"tokens_ms", tokens_ms},
                                        {"max_relative_error", error},
                                        {"D", config.model_dim},
                                        {"H", config.heads},
                                        {"Fa", config.audio_features()},
                                        {"Fo", config.object_features()},
                                        {"weights", model_path.empty() ? "random" : model_path},
                                        {"members", model.members()},
                                        {"threads", omp_get_max_threads()}};
            std::printf("%s\n", j.dump().c_str());
            std::fflush(stdout);
        }
    if (!clip.empty()) pipeline_rtf(clip, model_path, pipeline_reps);
    return 0;
}
