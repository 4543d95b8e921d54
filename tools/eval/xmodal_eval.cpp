// xmodal-eval: accuracy of xmodal's predictors on the staged benchmarks.
//
//   xmodal-eval flow [--baselines] [--model models/flow_forecaster.onnx [--unknown-series]] [--windows staeformer|dcrnn]
//                    [--split test|val]
//   xmodal-eval fusion-dataset --scenes DIR --out FILE.npz [--query-every 0.5] [--config models/fusion.json]
//   xmodal-eval fusion --scenes DIR [--model models/fusion.safetensors] [--train-scenes DIR | --threshold R]
//                      [--min-visible-share S] [--events FILE.jsonl]
//
// flow: PEMS08 traffic-flow forecasting, 12 steps (1 h) in → 12 out, on the test windows of the
// STAEformer/BasicTS index (default; 3566 windows) or the DCRNN/LibCity test set (3567), rebuilt
// from shared/data/PEMS08/PEMS08_flow_t10700-17855.npy. Prints one JSON line per predictor: masked
// MAE / RMSE / MAPE (%) averaged over all horizons and at 15/30/60 min (horizons 3/6/12), plus the
// unmasked MAE / RMSE. shared/data/MANIFEST.md §2, §3, §5 define the windows and metrics. --model runs
// the forecaster with xmodal::ModelRunner (f32, CPU) and prints its line, named after the file; a model
// with a series_id input is told which PEMS08 sensor each series is, or with --unknown-series that
// none is known (-1, what xmflow's counting lines get).
//
// fusion-dataset: the training arrays of docs/FUSION.md §6 for every scene file in DIR (YAMNet from
// the shared folder runs once per wav); prints one JSON line describing what was written.
// fusion: the attribution evaluation of docs/FUSION.md §5 on the scenes in DIR, one JSON line per
// method (model, largest, loudness-correlation, class-prior): accuracy, events, per sound group.
// The model defaults to models/fusion.safetensors of the source tree when it exists (else the
// baselines only). The loudness-correlation threshold is chosen on --train-scenes, else --threshold,
// else 0.5. --events writes one JSON line per event (scene file, event, group, times, the expected
// answer and each method's), for looking at the errors.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "xmodal/error.hpp"
#include "xmodal/flow_forecaster.hpp"
#include "xmodal/flow_metrics.hpp"
#include "xmodal/audio_events.hpp"
#include "xmodal/fusion.hpp"
#include "xmodal/fusion_scenes.hpp"
#include "xmodal/npy.hpp"
#include "xmodal/shared_paths.hpp"
#include "xmodal/runtime.hpp"
#include "xmodal/traffic_data.hpp"

namespace {

int usage() {
    std::fprintf(stderr,
                 "usage: xmodal-eval flow [--baselines] [--model FILE.onnx [--unknown-series]] [--windows staeformer|dcrnn] [--split test|val]\n"
                 "       xmodal-eval fusion-dataset --scenes DIR --out FILE.npz [--query-every 0.5] [--config FILE.json]\n"
                 "       xmodal-eval fusion --scenes DIR [--model FILE.safetensors] [--train-scenes DIR | --threshold R]\n"
                 "                          [--min-visible-share S] [--events FILE.jsonl]\n");
    return 2;
}

double rounded(double v) { return std::round(v * 1000) / 1000; }

nlohmann::ordered_json errors_json(const xmodal::FlowErrors& e) {
    return {{"mae", rounded(e.mae)}, {"rmse", rounded(e.rmse)}, {"mape_percent", rounded(e.mape_percent)}};
}

nlohmann::ordered_json report_json(const std::string& name, const std::string& windows_name, const xmodal::FlowWindows& truth,
                           const xmodal::FlowReport& r) {
    nlohmann::ordered_json j = {{"name", name}, {"windows", windows_name}, {"count", truth.count}};
    j["masked"] = errors_json(r.average);
    j["unmasked"] = {{"mae", rounded(r.average.unmasked_mae)}, {"rmse", rounded(r.average.unmasked_rmse)}};
    // 5-minute steps: horizon 3 is 15 min, 6 is 30 min, 12 is 60 min.
    for (int h : {3, 6, 12})
        if (h <= truth.out_steps) j["at_" + std::to_string(5 * h) + "min"] = errors_json(r.horizon[static_cast<std::size_t>(h - 1)]);
    return j;
}

int flow(int argc, char** argv) {
    bool baselines = false, unknown_series = false;
    std::string windows_name = "staeformer", split = "test", model_path;
    for (int i = 0; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--baselines") baselines = true;
        else if (arg == "--windows" && i + 1 < argc) windows_name = argv[++i];
        else if (arg == "--split" && i + 1 < argc) split = argv[++i];
        else if (arg == "--model" && i + 1 < argc) model_path = argv[++i];
        else if (arg == "--unknown-series") unknown_series = true;
        else return usage();
    }
    if (windows_name != "staeformer" && windows_name != "dcrnn") xmodal::fail("--windows: expected staeformer or dcrnn, got '", windows_name, "'");
    if (split != "test" && split != "val") xmodal::fail("--split: expected test or val, got '", split, "'");
    if (!baselines && model_path.empty()) return usage();
    if (unknown_series && model_path.empty()) xmodal::fail("--unknown-series: needs --model");

    const xmodal::FlowSeries series = xmodal::load_pems08_flow();
    std::vector<xmodal::FlowWindowIndex> index;
    if (windows_name == "staeformer") {
        xmodal::FlowSplit s = xmodal::load_pems08_staeformer_split();
        index = split == "test" ? s.test : s.val;
    } else {
        // DCRNN's generate_training_data (MANIFEST §2): val origins 10711…14276, test 14277…17843.
        index = split == "test" ? xmodal::windows_between(14266, 17856, 12, 12) : xmodal::windows_between(10700, 14289, 12, 12);
    }
    const xmodal::FlowWindows truth = xmodal::make_windows(series, index);
    if (!model_path.empty()) {
        xmodal::ModelRunner runner(xmodal::load_model(model_path), xmodal::Device::open("cpu"));
        const std::vector<std::int64_t> ids = unknown_series ? std::vector<std::int64_t>{} : xmodal::sensor_series_ids(series.sensors);
        const xmodal::FlowReport r = xmodal::evaluate_flow(truth, xmodal::forecast_flow(runner, series, index, 64, ids));
        std::string name = model_path.substr(model_path.find_last_of('/') + 1);  // npos + 1 == 0
        if (unknown_series && xmodal::flow_model_reads_series_id(runner)) name += " (series unknown)";
        std::printf("%s\n", report_json(name, windows_name + " " + split, truth, r).dump().c_str());
    }
    for (xmodal::NaiveForecast kind : xmodal::all_naive_forecasts) {
        if (!baselines) break;
        const xmodal::FlowReport r = xmodal::evaluate_flow(truth, xmodal::naive_forecast(kind, series, index));
        std::printf("%s\n", report_json(std::string(xmodal::naive_forecast_name(kind)), windows_name + " " + split, truth, r).dump().c_str());
    }
    return 0;
}

// ---- fusion ----------------------------------------------------------------------------------------

// Scenes of a folder with their audio tokens; YAMNet runs once per distinct wav.
struct LoadedScenes {
    std::vector<xmodal::FusionScene> scenes;
    std::vector<std::vector<xmodal::AudioToken>> audio;
};

std::unique_ptr<xmodal::AudioEventDetector> make_detector() {
    xmodal::AudioEventOptions options;
    options.model = xmodal::shared_file("models/yamnet.tflite");
    options.class_map = xmodal::shared_file("models/yamnet_class_map.csv");
    return std::make_unique<xmodal::AudioEventDetector>(options);
}

LoadedScenes load_scenes(const std::string& dir, xmodal::AudioEventDetector& detector) {
    LoadedScenes loaded;
    std::map<std::string, std::size_t> by_wav;  // first scene that used the wav
    for (const auto& path : xmodal::find_scenes(dir)) {
        loaded.scenes.push_back(xmodal::load_scene(path));
        const auto& wav = loaded.scenes.back().audio;
        auto seen = by_wav.find(wav);
        if (seen != by_wav.end()) {
            loaded.audio.push_back(loaded.audio[seen->second]);
        } else {
            by_wav[wav] = loaded.audio.size();
            loaded.audio.push_back(xmodal::scene_audio_tokens(detector, loaded.scenes.back()));
        }
    }
    return loaded;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int fusion_dataset(int argc, char** argv) {
    std::string scenes_dir, out, config_path;
    double every = 0.5;
    for (int i = 0; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--scenes" && i + 1 < argc) scenes_dir = argv[++i];
        else if (arg == "--out" && i + 1 < argc) out = argv[++i];
        else if (arg == "--query-every" && i + 1 < argc) every = std::atof(argv[++i]);
        else if (arg == "--config" && i + 1 < argc) config_path = argv[++i];
        else return usage();
    }
    if (scenes_dir.empty() || out.empty()) return usage();
    const auto start = std::chrono::steady_clock::now();
    const xmodal::FusionConfig config = config_path.empty() ? xmodal::FusionConfig{} : xmodal::FusionConfig::load(config_path);
    const LoadedScenes loaded = load_scenes(scenes_dir, *make_detector());
    const auto arrays = xmodal::fusion_dataset(config, loaded.scenes, loaded.audio, every);
    xmodal::save_npz(out, arrays);
    std::size_t events = 0;
    for (const auto& s : loaded.scenes) events += s.events.size();
    const auto& audio = arrays.at("audio").shape;
    const auto& objects = arrays.at("objects").shape;
    nlohmann::ordered_json j = {{"out", out},
                                {"scenes", loaded.scenes.size()},
                                {"events", events},
                                {"queries", audio[0]},
                                {"max_audio_tokens", audio[1]},
                                {"audio_features", audio[2]},
                                {"max_objects", objects[1]},
                                {"object_features", objects[2]},
                                {"query_every", every},
                                {"seconds", rounded(seconds_since(start))}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
}

// One JSON line per case: what each method answered (track id, -1 = off-screen).
void write_event_answers(const std::string& path, const xmodal::FusionConfig& config, const LoadedScenes& loaded,
                         std::span<const xmodal::AttributionCase> cases, std::span<const xmodal::MethodScore> scores) {
    std::FILE* out = std::fopen(path.c_str(), "w");
    if (!out) xmodal::fail(path, ": cannot write the per-event answers (--events)");
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const auto& c = cases[i];
        const auto& scene = loaded.scenes[c.scene];
        const auto& ev = scene.events[c.event];
        nlohmann::ordered_json j = {{"scene", std::filesystem::path(scene.path).filename().string()},
                                    {"event", c.event},
                                    {"group", config.groups[static_cast<std::size_t>(c.group)].name},
                                    {"start", rounded(ev.start)},
                                    {"end", rounded(ev.end)},
                                    {"query", rounded(c.query)},
                                    {"tokens", c.rows.size()},
                                    {"objects", c.inputs.objects},
                                    {"expected", c.expected}};
        for (const auto& s : scores) {
            j[s.method] = s.answers[i];
            if (!s.offscreen.empty()) j[s.method + "_offscreen"] = rounded(s.offscreen[i]);
        }
        std::fprintf(out, "%s\n", j.dump().c_str());
    }
    if (std::fclose(out) != 0) xmodal::fail(path, ": write failed (--events)");
}

int fusion(int argc, char** argv) {
    std::string scenes_dir, model_path, train_dir, events_path;
    double threshold = xmodal::kDefaultCorrelationThreshold, min_visible_share = 0;
    bool threshold_given = false, share_given = false;
    for (int i = 0; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--scenes" && i + 1 < argc) scenes_dir = argv[++i];
        else if (arg == "--model" && i + 1 < argc) model_path = argv[++i];
        else if (arg == "--train-scenes" && i + 1 < argc) train_dir = argv[++i];
        else if (arg == "--threshold" && i + 1 < argc) threshold = std::atof(argv[++i]), threshold_given = true;
        else if (arg == "--min-visible-share" && i + 1 < argc) min_visible_share = std::atof(argv[++i]), share_given = true;
        else if (arg == "--events" && i + 1 < argc) events_path = argv[++i];
        else return usage();
    }
    if (scenes_dir.empty()) return usage();
    if (model_path.empty()) {
        const std::string fallback = std::string(XMODAL_SOURCE_DIR) + "/models/fusion.safetensors";
        if (std::filesystem::exists(fallback)) model_path = fallback;
        else std::fprintf(stderr, "xmodal-eval: %s not found, scoring the baselines only (--model FILE to give one)\n", fallback.c_str());
    }
    const auto start = std::chrono::steady_clock::now();
    std::unique_ptr<xmodal::FusionModel> model;
    if (!model_path.empty()) model = xmodal::FusionModel::load(model_path);
    xmodal::FusionConfig config = model ? model->config() : xmodal::FusionConfig{};
    if (share_given) {
        if (!(min_visible_share >= 0 && min_visible_share <= 1))
            xmodal::fail("--min-visible-share: expected 0..1, got ", min_visible_share);
        config.min_visible_share = min_visible_share;
    }
    auto cases_of = [&](const LoadedScenes& loaded) {
        std::vector<xmodal::AttributionCase> cases;
        for (std::size_t s = 0; s < loaded.scenes.size(); ++s)
            for (auto& c : xmodal::attribution_cases(config, loaded.scenes[s], s, loaded.audio[s])) cases.push_back(std::move(c));
        return cases;
    };
    auto detector = make_detector();
    std::string threshold_from = threshold_given ? "--threshold" : "default";
    if (!train_dir.empty()) {
        threshold = xmodal::choose_correlation_threshold(cases_of(load_scenes(train_dir, *detector)));
        threshold_from = "train-scenes " + train_dir;
    }
    const LoadedScenes loaded = load_scenes(scenes_dir, *detector);
    const auto cases = cases_of(loaded);
    const auto scores = xmodal::evaluate_attribution(config, cases, model.get(), threshold);
    if (!events_path.empty()) write_event_answers(events_path, config, loaded, cases, scores);
    for (const auto& score : scores) {
        nlohmann::ordered_json j = {{"method", score.method},
                                    {"accuracy", rounded(score.accuracy())},
                                    {"correct", score.correct},
                                    {"events", score.events},
                                    {"scenes", loaded.scenes.size()}};
        nlohmann::ordered_json groups = nlohmann::ordered_json::object();
        for (std::size_t g = 0; g < config.groups.size(); ++g) {
            const auto n = score.group_events[g];
            groups[config.groups[g].name] = {{"accuracy", n ? rounded(static_cast<double>(score.group_correct[g]) / static_cast<double>(n)) : 0.0},
                                             {"events", n}};
        }
        j["per_group"] = groups;
        if (score.method == "model") j["model"] = model_path, j["min_visible_share"] = config.min_visible_share;
        if (score.method == "loudness-correlation") {
            j["threshold"] = std::isfinite(threshold) ? nlohmann::ordered_json(rounded(threshold)) : nlohmann::ordered_json("-inf");
            j["threshold_from"] = threshold_from;
        }
        std::printf("%s\n", j.dump().c_str());
    }
    std::fprintf(stderr, "xmodal-eval: %zu events in %zu scenes, %.1f s\n", cases.size(), loaded.scenes.size(), seconds_since(start));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    try {
        if (std::strcmp(argv[1], "flow") == 0) return flow(argc - 2, argv + 2);
        if (std::strcmp(argv[1], "fusion-dataset") == 0) return fusion_dataset(argc - 2, argv + 2);
        if (std::strcmp(argv[1], "fusion") == 0) return fusion(argc - 2, argv + 2);
    } catch (const xmodal::Error& e) {
        std::fprintf(stderr, "xmodal-eval: %s\n", e.what());
        return 1;
    }
    return usage();
}
