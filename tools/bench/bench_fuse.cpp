// xmodal-bench fuse: the fusion model's cost per query (docs/FUSION.md §3) for 1, 10, 50 objects
// × 8, 32 audio tokens — FusionModel::run (oneDNN, on the compute thread) beside the naive
// double-precision reference of the same computation (tests/support/fusion_reference.hpp), and the
// cost of building the tokens from window and track histories. Inputs are synthetic but shaped like
// a street: windows with random embeddings and scores, tracks boxed at 30 fps over the last W + 1 s.
// Random weights of the default size unless --model is given.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>

#include <nlohmann/json.hpp>

#include "support/fusion_reference.hpp"
#include "xmodal/error.hpp"
#include "xmodal/fusion.hpp"

namespace {

using namespace xmodal;
using clock_type = std::chrono::steady_clock;

double median_ms(int reps, const std::function<void()>& run) {
    run();  // warm-up: primitives, buffers
    std::vector<double> ms;
    for (int i = 0; i < reps; ++i) {
        auto t0 = clock_type::now();
        run();
        ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
    }
    std::nth_element(ms.begin(), ms.begin() + static_cast<long>(ms.size() / 2), ms.end());
    return ms[ms.size() / 2];
}

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
std::vector<Track> synthetic_tracks(const FusionConfig& c, double t, std::int64_t count, std::mt19937& rng) {
    std::uniform_real_distribution<float> unit(0.f, 1.f);
    const char* labels[] = {"car", "person", "bus", "truck", "bicycle", "motorcycle"};
    std::vector<Track> tracks;
    for (std::int64_t k = 0; k < count; ++k) {
        Track track{k + 1, labels[k % 6], {}};
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

int fuse_command(int argc, char** argv) {
    int reps = 200;
    std::string model_path;
    for (int i = 0; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--reps" && i + 1 < argc) reps = std::max(1, std::atoi(argv[++i]));
        else if (a == "--model" && i + 1 < argc) model_path = argv[++i];
        else fail("xmodal-bench fuse: unknown argument '", a, "' (expected --reps N, --model FILE.safetensors)");
    }
    FusionConfig config;
    TensorFile weights;
    if (model_path.empty()) {
        weights = FusionModel::random_weights(config, 1);
    } else {
        const std::string ext = ".safetensors";
        const std::string json = model_path.ends_with(ext) ? model_path.substr(0, model_path.size() - ext.size()) + ".json" : model_path + ".json";
        config = FusionConfig::load(json);
        weights = load_safetensors(model_path);
    }
    FusionModel model(config, weights);
    std::mt19937 rng(5);
    const double t = 10.0;
    for (std::int64_t audio_tokens : {8, 32})
        for (std::int64_t objects : {1, 10, 50}) {
            const auto windows = synthetic_windows(config, t, audio_tokens, rng);
            const auto tracks = synthetic_tracks(config, t, objects, rng);
            FusionInputs inputs;
            const double tokens_ms = median_ms(reps, [&] { build_fusion_inputs(config, windows, tracks, t, inputs); });
            if (inputs.audio_tokens != audio_tokens || inputs.objects != objects)
                fail("xmodal-bench fuse: built ", inputs.audio_tokens, " audio tokens and ", inputs.objects, " objects, expected ",
                     audio_tokens, " and ", objects);
            const double ms = median_ms(reps, [&] { model.run(inputs); });
            const double reference_ms = median_ms(std::max(3, reps / 20), [&] { testing::reference_fusion(config, weights, inputs); });
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
                                        {"threads", omp_get_max_threads()}};
            std::printf("%s\n", j.dump().c_str());
            std::fflush(stdout);
        }
    return 0;
}
