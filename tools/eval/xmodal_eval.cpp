// xmodal-eval: accuracy of xmodal's predictors on the staged benchmarks.
//
//   xmodal-eval flow [--baselines] [--model models/flow_forecaster.onnx [--unknown-series]] [--windows staeformer|dcrnn]
//                    [--split test|val]
//
// flow: PEMS08 traffic-flow forecasting, 12 steps (1 h) in → 12 out, on the test windows of the
// STAEformer/BasicTS index (default; 3566 windows) or the DCRNN/LibCity test set (3567), rebuilt
// from shared/data/PEMS08/PEMS08_flow_t10700-17855.npy. Prints one JSON line per predictor: masked
// MAE / RMSE / MAPE (%) averaged over all horizons and at 15/30/60 min (horizons 3/6/12), plus the
// unmasked MAE / RMSE. shared/data/MANIFEST.md §2, §3, §5 define the windows and metrics. --model runs
// the forecaster with xmodal::ModelRunner (f32, CPU) and prints its line, named after the file; a model
// with a series_id input is told which PEMS08 sensor each series is, or with --unknown-series that
// none is known (-1, what xmflow's counting lines get).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "xmodal/error.hpp"
#include "xmodal/flow_forecaster.hpp"
#include "xmodal/flow_metrics.hpp"
#include "xmodal/runtime.hpp"
#include "xmodal/traffic_data.hpp"

namespace {

int usage() {
    std::fprintf(stderr, "usage: xmodal-eval flow [--baselines] [--model FILE.onnx [--unknown-series]] [--windows staeformer|dcrnn] [--split test|val]\n");
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

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    try {
        if (std::strcmp(argv[1], "flow") == 0) return flow(argc - 2, argv + 2);
    } catch (const xmodal::Error& e) {
        std::fprintf(stderr, "xmodal-eval: %s\n", e.what());
        return 1;
    }
    return usage();
}
