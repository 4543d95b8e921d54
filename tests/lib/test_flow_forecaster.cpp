// The committed traffic-flow forecaster (models/flow_forecaster.onnx) through xmodal's runtime:
// shapes for the 170 PEMS08 sensors and for the few lines xmflow feeds, finite outputs, the
// per-series normalisation (scaling the counts scales the forecast), series_id checks, and its
// masked MAE (with sensor ids and with every series unknown) on a fixed subset of the STAEformer
// test windows pinned to the values xmodal-eval's code path gives, so a runtime change that moves
// the numbers fails. Skips without ../shared.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "support/error_of.hpp"
#include "xmodal/flow_forecaster.hpp"
#include "xmodal/flow_metrics.hpp"
#include "xmodal/shared_paths.hpp"

namespace {

using namespace xmodal;

// forecast_flow (xmodal-eval's code path, f32 CPU) on the committed model and test_subset(), with
// the PEMS08 sensor ids and with every series unknown (-1, what xmflow passes). On the whole test
// set C++ and PyTorch agree: 15.794 vs 15.7937, unknown 18.187 vs 18.1874
// (models/flow_forecaster.json).
constexpr double kPinnedMae = 15.4976;
constexpr double kPinnedMaeUnknown = 17.7187;

const std::string kModel = std::string(XMODAL_SOURCE_DIR) + "/models/flow_forecaster.onnx";

bool have_data() {
    return std::filesystem::exists(shared_dir() + "/data/PEMS08/PEMS08_flow_t10700-17855.npy") &&
           std::filesystem::exists(shared_dir() + "/data/PEMS08/staeformer_index.npz");
}

// 48 test windows spread over the whole test period (every 74th: origins across all 12 days).
std::vector<FlowWindowIndex> test_subset() {
    const FlowSplit split = load_pems08_staeformer_split();
    std::vector<FlowWindowIndex> subset;
    for (std::size_t i = 0; i < split.test.size() && subset.size() < 48; i += 74) subset.push_back(split.test[i]);
    return subset;
}

FlowSeries first_sensors(const FlowSeries& full, std::int64_t sensors, float scale) {
    FlowSeries s{full.first_step, full.steps, sensors, {}};
    for (std::int64_t t = 0; t < full.steps; ++t)
        for (std::int64_t k = 0; k < sensors; ++k) s.values.push_back(scale * full.values[static_cast<std::size_t>(t * full.sensors + k)]);
    return s;
}

void expect_finite(const std::vector<float>& v) {
    for (std::size_t i = 0; i < v.size(); ++i) ASSERT_TRUE(std::isfinite(v[i])) << "forecast value " << i;
}

TEST(FlowForecaster, MaskedMaeOnTestSubsetIsPinned) {
    if (!have_data()) GTEST_SKIP() << "needs shared/data/PEMS08";
    const FlowSeries series = load_pems08_flow();
    const std::vector<FlowWindowIndex> subset = test_subset();
    ModelRunner runner(load_model(kModel), Device::open("cpu"));
    const std::vector<float> predicted = forecast_flow(runner, series, subset, 16, sensor_series_ids(series.sensors));
    const std::vector<float> predicted_unknown = forecast_flow(runner, series, subset, 16);
    const FlowWindows truth = make_windows(series, subset);
    ASSERT_EQ(predicted.size(), truth.y.size());  // [48][12][170]
    ASSERT_EQ(predicted_unknown.size(), truth.y.size());
    expect_finite(predicted);
    expect_finite(predicted_unknown);
    const FlowReport r = evaluate_flow(truth, predicted), unknown = evaluate_flow(truth, predicted_unknown);
    std::printf("[ flow forecaster ] 48 test windows: masked MAE %.4f, series unknown %.4f (last value %.4f)\n",
                r.average.mae, unknown.average.mae,
                evaluate_flow(truth, naive_forecast(NaiveForecast::last_value, series, subset)).average.mae);
    EXPECT_NEAR(r.average.mae, kPinnedMae, 1e-3);
    EXPECT_NEAR(unknown.average.mae, kPinnedMaeUnknown, 1e-3);
}

TEST(FlowForecaster, ThreeSeriesAnyScale) {
    if (!have_data()) GTEST_SKIP() << "needs shared/data/PEMS08";
    const FlowSeries full = load_pems08_flow();
    const std::vector<FlowWindowIndex> subset = test_subset();
    const std::vector<FlowWindowIndex> few(subset.begin(), subset.begin() + 5);
    ModelRunner runner(load_model(kModel), Device::open("cpu"));
    // Camera-sized counts: a tenth of the loop detectors'. The per-series normalisation makes the
    // forecast scale with the input (up to the variance floor, negligible at these counts).
    const FlowSeries three = first_sensors(full, 3, 1.f), small = first_sensors(full, 3, 0.1f);
    const std::vector<float> predicted = forecast_flow(runner, three, few, 2);  // batches of 2, 2, 1
    const std::vector<float> predicted_small = forecast_flow(runner, small, few, 5);
    ASSERT_EQ(predicted.size(), 5u * 12u * 3u);
    ASSERT_EQ(predicted_small.size(), predicted.size());
    expect_finite(predicted);
    for (std::size_t i = 0; i < predicted.size(); ++i)
        EXPECT_NEAR(predicted_small[i], 0.1f * predicted[i], 1e-3f * std::abs(predicted[i]) + 1e-3f) << "value " << i;
    // Three sensors alone still forecast: better than repeating the last value on these windows.
    const FlowWindows truth = make_windows(three, few);
    EXPECT_LT(evaluate_flow(truth, predicted).average.mae,
              evaluate_flow(truth, naive_forecast(NaiveForecast::last_value, three, few)).average.mae * 1.2);
}

TEST(FlowForecaster, FlatSeriesForecastsItsLevel) {
    const FlowSeries flat{0, 30, 1, std::vector<float>(30, 7.f)};
    ModelRunner runner(load_model(kModel), Device::open("cpu"));
    const std::vector<float> predicted = forecast_flow(runner, flat, {{0, 12, 24}});
    ASSERT_EQ(predicted.size(), 12u);
    expect_finite(predicted);
}

TEST(FlowForecaster, RefusesSeriesIdsThatDoNotFit) {
    const FlowSeries flat{0, 30, 2, std::vector<float>(60, 7.f)};
    ModelRunner runner(load_model(kModel), Device::open("cpu"));
    const std::string count = xmodal::testing::error_of([&] { forecast_flow(runner, flat, {{0, 12, 24}}, 1, {0}); });
    EXPECT_NE(count.find("1 series ids for 2 series"), std::string::npos) << count;
    const std::string below = xmodal::testing::error_of([&] { forecast_flow(runner, flat, {{0, 12, 24}}, 1, {0, -2}); });
    EXPECT_NE(below.find("series id 1 is -2"), std::string::npos) << below;
    // Past the model's table (170 sensors + unknown): the runtime's Gather names the index.
    const std::string past = xmodal::testing::error_of([&] { forecast_flow(runner, flat, {{0, 12, 24}}, 1, {0, 500}); });
    EXPECT_NE(past.find("index 500 is out of range"), std::string::npos) << past;
}

TEST(FlowForecaster, RefusesWindowsThatAreNotTwelveInTwelveOut) {
    const FlowSeries flat{0, 30, 1, std::vector<float>(30, 7.f)};
    ModelRunner runner(load_model(kModel), Device::open("cpu"));
    const std::string e = xmodal::testing::error_of([&] { forecast_flow(runner, flat, {{0, 12, 24}, {0, 6, 18}}); });
    EXPECT_NE(e.find("window 1"), std::string::npos) << e;
    EXPECT_NE(e.find("12 in / 12 out"), std::string::npos) << e;
}

}  // namespace
