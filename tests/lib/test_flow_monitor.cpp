// FlowMonitor: interval boundaries, gaps, the partial flush at EOS, series/class counts, the cold
// start baseline and its switch to an (injected) forecaster with the documented bands.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "support/error_of.hpp"
#include "xmodal/device.hpp"
#include "xmodal/flow_monitor.hpp"
#include "xmodal/runtime.hpp"

namespace {

using xmodal::FlowForecastInput;
using xmodal::FlowMonitor;
using xmodal::FlowMonitorOptions;
using xmodal::IntervalReport;
using xmodal::TrackedPoint;
using xmodal::testing::error_of;

constexpr std::int64_t s = 1'000'000'000;

// Positive side (the arrow's left) is up: moving up the frame counts +1.
std::vector<xmodal::CountingLine> mid_line() { return xmodal::parse_counting_lines("mid:0.1,0.5,0.9,0.5"); }

FlowMonitorOptions options(std::int64_t interval_ns, int horizon = 3) {
    FlowMonitorOptions o;
    o.interval_ns = interval_ns;
    o.horizon = horizon;
    return o;
}

std::vector<TrackedPoint> at(int id, float y, const char* label = "car") { return {{id, 2, label, 0.5f, y}}; }

// Moves track `id` from below the line to above it on two frames at t0 and t0 + 0.1 s.
std::vector<IntervalReport> cross_up(FlowMonitor& m, int id, std::int64_t t0, const char* label = "car") {
    std::vector<IntervalReport> all = m.update(at(id, 0.8f, label), t0);
    for (IntervalReport& r : m.update(at(id, 0.2f, label), t0 + s / 10)) all.push_back(std::move(r));
    return all;
}

TEST(FlowMonitor, interval_closes_when_a_frame_reaches_its_end) {
    FlowMonitor m(mid_line(), options(10 * s));
    EXPECT_TRUE(cross_up(m, 1, 2 * s).empty());  // first frame at 2 s: the interval is [2 s, 12 s)
    EXPECT_TRUE(m.update({}, 12 * s - 1).empty());
    ASSERT_TRUE(m.current().has_value());
    EXPECT_EQ(m.current()->series[0].count, 1);
    EXPECT_TRUE(m.current()->series[0].forecast.empty());

    const std::vector<IntervalReport> reports = m.update({}, 12 * s);
    ASSERT_EQ(reports.size(), 1u);
    const IntervalReport& r = reports[0];
    EXPECT_EQ(r.index, 0);
    EXPECT_EQ(r.start_ns, 2 * s);
    EXPECT_EQ(r.end_ns, 12 * s);
    EXPECT_FALSE(r.partial);
    EXPECT_EQ(r.frames, 3);  // 2 s, 2.1 s, 12 s - 1 ns; the 12 s frame opens the next interval
    ASSERT_EQ(r.series.size(), 2u);
    EXPECT_EQ(r.series[0].line_name, "mid");
    EXPECT_EQ(r.series[0].direction, 1);
    EXPECT_EQ(r.series[0].count, 1);
    EXPECT_EQ(r.series[1].direction, -1);
    EXPECT_EQ(r.series[1].count, 0);
    ASSERT_EQ(r.series[0].classes.size(), 1u);
    EXPECT_EQ(r.series[0].classes[0].label, "car");
    EXPECT_EQ(r.series[0].classes[0].count, 1);
    // Cold start: mean of one interval (1), variance 0 -> Poisson sd 1.
    EXPECT_EQ(r.forecaster, "baseline:history-mean");
    EXPECT_EQ(r.history, 1);
    EXPECT_EQ(r.series[0].forecast, (std::vector<float>{1.f, 1.f, 1.f}));
    EXPECT_FLOAT_EQ(r.series[0].lower[2], 0.f);
    EXPECT_FLOAT_EQ(r.series[0].upper[2], 2.96f);
    EXPECT_FLOAT_EQ(r.series[1].upper[0], 0.f);
    EXPECT_EQ(m.current()->start_ns, 12 * s);
    EXPECT_EQ(m.current()->series[0].count, 0);
}

TEST(FlowMonitor, history_mean_band_widens_to_the_spread) {
    FlowMonitor m(mid_line(), options(10 * s, 1));
    m.update({}, 0);
    // Interval 0: 3 crossings, interval 1: none -> mean 1.5, sample variance 4.5 > mean.
    for (int id = 1; id <= 3; ++id) cross_up(m, id, id * s);
    m.update({}, 10 * s);
    const std::vector<IntervalReport> reports = m.update({}, 20 * s);
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0].history, 2);
    EXPECT_FLOAT_EQ(reports[0].series[0].forecast[0], 1.5f);
    EXPECT_FLOAT_EQ(reports[0].series[0].upper[0], static_cast<float>(1.5 + 1.96 * std::sqrt(4.5)));
    EXPECT_FLOAT_EQ(reports[0].series[0].lower[0], 0.f);
}

TEST(FlowMonitor, gap_closes_the_skipped_intervals_as_empty) {
    FlowMonitor m(mid_line(), options(10 * s));
    cross_up(m, 1, 0);
    const std::vector<IntervalReport> reports = m.update({}, 35 * s);  // a live source stalled
    ASSERT_EQ(reports.size(), 3u);
    EXPECT_EQ(reports[0].start_ns, 0);
    EXPECT_EQ(reports[0].frames, 2);
    EXPECT_EQ(reports[0].series[0].count, 1);
    EXPECT_EQ(reports[1].index, 1);
    EXPECT_EQ(reports[1].start_ns, 10 * s);
    EXPECT_EQ(reports[1].frames, 0);
    EXPECT_EQ(reports[2].end_ns, 30 * s);
    EXPECT_EQ(reports[2].frames, 0);
    EXPECT_EQ(reports[2].history, 3);
    EXPECT_FLOAT_EQ(reports[2].series[0].forecast[0], 1.f / 3.f);
    EXPECT_EQ(m.current()->start_ns, 30 * s);
    EXPECT_EQ(m.current()->frames, 1);
}

TEST(FlowMonitor, long_gap_restarts_cold) {
    FlowMonitor m(mid_line(), options(1 * s));
    m.update({}, 0);
    const std::vector<IntervalReport> reports = m.update({}, 20 * s);  // 19 empty intervals > 12
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0].end_ns, 1 * s);
    EXPECT_EQ(m.history_size(), 0u);
    EXPECT_EQ(m.current()->start_ns, 20 * s);
    EXPECT_EQ(m.current()->index, 0);
}

TEST(FlowMonitor, flush_reports_the_partial_interval) {
    FlowMonitor m(mid_line(), options(10 * s));
    EXPECT_FALSE(m.flush(0).has_value());
    cross_up(m, 1, 1 * s);
    const std::optional<IntervalReport> r = m.flush(5 * s);
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->partial);
    EXPECT_EQ(r->start_ns, 1 * s);
    EXPECT_EQ(r->end_ns, 5 * s);
    EXPECT_EQ(r->series[0].count, 1);
    // No complete interval: the partial count as a rate over a whole interval (1 in 4 s -> 2.5).
    EXPECT_EQ(r->forecaster, "baseline:partial-rate");
    EXPECT_FLOAT_EQ(r->series[0].forecast[0], 2.5f);
    EXPECT_FLOAT_EQ(r->series[0].upper[0], static_cast<float>(2.5 + 1.96 * std::sqrt(2.5)));
    EXPECT_FALSE(m.current().has_value());  // starts over
}

TEST(FlowMonitor, partial_interval_stays_out_of_the_history) {
    FlowMonitor m(mid_line(), options(10 * s));
    cross_up(m, 1, 0);
    m.update({}, 10 * s);
    for (int id = 2; id <= 6; ++id) cross_up(m, id, 10 * s + id * s / 2);
    const std::optional<IntervalReport> r = m.flush(100 * s);  // clamped to the interval's end
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->partial);
    EXPECT_EQ(r->end_ns, 20 * s);
    EXPECT_EQ(r->series[0].count, 5);
    EXPECT_EQ(r->forecaster, "baseline:history-mean");
    EXPECT_EQ(r->history, 1);
    EXPECT_FLOAT_EQ(r->series[0].forecast[0], 1.f);
}

TEST(FlowMonitor, series_per_line_and_direction_with_class_filter) {
    FlowMonitorOptions o = options(10 * s);
    o.counting.classes = {"car", "bus"};
    FlowMonitor m(xmodal::parse_counting_lines("a:0.1,0.5,0.9,0.5;b:0.5,0.1,0.5,0.9"), o);
    cross_up(m, 1, 0);                 // a +1 car
    cross_up(m, 2, 1 * s, "bus");      // a +1 bus
    cross_up(m, 3, 2 * s, "truck");    // not counted
    m.update(at(1, 0.8f), 3 * s);      // car 1 back down: a -1
    // Track 4 moves right across b (vertical, arrow down: its left is +x) -> direction +1.
    m.update(std::vector<TrackedPoint>{{4, 2, "car", 0.3f, 0.5f}}, 4 * s);
    m.update(std::vector<TrackedPoint>{{4, 2, "car", 0.7f, 0.5f}}, 5 * s);
    const std::optional<IntervalReport> r = m.flush(6 * s);
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->series.size(), 4u);
    EXPECT_EQ(r->series[0].line_name, "a");
    EXPECT_EQ(r->series[0].count, 2);
    ASSERT_EQ(r->series[0].classes.size(), 2u);  // classes set: every class listed
    EXPECT_EQ(r->series[0].classes[0].label, "bus");  // by label
    EXPECT_EQ(r->series[0].classes[0].count, 1);
    EXPECT_EQ(r->series[0].classes[1].label, "car");
    EXPECT_EQ(r->series[0].classes[1].count, 1);
    EXPECT_EQ(r->series[1].count, 1);
    EXPECT_EQ(r->series[2].line_name, "b");
    EXPECT_EQ(r->series[2].direction, 1);
    EXPECT_EQ(r->series[2].count, 1);
    EXPECT_EQ(r->series[3].count, 0);
}

TEST(FlowMonitor, cold_start_switches_to_the_forecaster_after_12_intervals) {
    setenv("TZ", "UTC", 1);
    tzset();
    std::vector<FlowForecastInput> seen;
    auto forecaster = [&seen](const FlowForecastInput& input) {
        seen.push_back(input);
        std::vector<float> out;
        for (int h = 0; h < 12; ++h)
            for (int i = 0; i < input.series; ++i) out.push_back(5.f + static_cast<float>(h));
        out[1] = -2.f;  // series 1, lead 1: clamped to 0
        return out;
    };
    FlowMonitorOptions o = options(1 * s, 2);
    o.epoch_ns = 7 * 86400 * s;  // 1970-01-08, a Thursday
    FlowMonitor m(mid_line(), o, forecaster);
    std::vector<IntervalReport> reports;
    for (int k = 0; k <= 13; ++k)
        for (IntervalReport& r : m.update({}, k * s)) reports.push_back(std::move(r));
    ASSERT_EQ(reports.size(), 13u);
    for (int k = 0; k < 11; ++k) EXPECT_EQ(reports[k].forecaster, "baseline:history-mean") << k;
    EXPECT_EQ(reports[11].forecaster, "model");
    EXPECT_EQ(reports[11].history, 12);
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].series, 2);
    EXPECT_EQ(seen[0].flow.size(), 24u);
    ASSERT_EQ(seen[0].time_of_day.size(), 12u);
    EXPECT_FLOAT_EQ(seen[0].time_of_day[3], 3.f / 86400.f);
    EXPECT_EQ(seen[0].day_of_week, std::vector<std::int64_t>(12, 3));
    // First model forecast: no errors known yet -> Poisson band.
    const xmodal::LineSeries& first = reports[11].series[0];
    EXPECT_EQ(first.forecast, (std::vector<float>{5.f, 6.f}));
    EXPECT_FLOAT_EQ(first.upper[0], static_cast<float>(5 + 1.96 * std::sqrt(5.0)));
    EXPECT_FLOAT_EQ(reports[11].series[1].forecast[0], 0.f);
    // Next: the interval came out 0 against a forecast of 5 -> mse 25, sd_h = sqrt(h * 25).
    const xmodal::LineSeries& second = reports[12].series[0];
    EXPECT_FLOAT_EQ(second.upper[0], static_cast<float>(5 + 1.96 * 5.0));
    EXPECT_FLOAT_EQ(second.upper[1], static_cast<float>(6 + 1.96 * std::sqrt(50.0)));
    EXPECT_FLOAT_EQ(second.lower[1], 0.f);
    unsetenv("TZ");
    tzset();
}

TEST(FlowMonitor, forecaster_returning_too_little_is_an_error) {
    FlowMonitor m(mid_line(), options(1 * s, 12), [](const FlowForecastInput&) { return std::vector<float>(3, 1.f); });
    for (int k = 0; k < 12; ++k) m.update({}, k * s);
    EXPECT_NE(error_of([&] { m.update({}, 12 * s); }).find("returned 3 values"), std::string::npos);
}

TEST(FlowMonitor, bad_options_and_timestamps_are_named) {
    EXPECT_NE(error_of([] { FlowMonitor(mid_line(), options(s / 2)); }).find("interval: 0.5 s"), std::string::npos);
    EXPECT_NE(error_of([] { FlowMonitor(mid_line(), options(s, 13)); }).find("horizon: 13"), std::string::npos);
    EXPECT_NE(error_of([] { FlowMonitor(mid_line(), options(s, 0)); }).find("horizon: 0"), std::string::npos);
    FlowMonitor m(mid_line(), options(s));
    m.update({}, 5 * s);
    EXPECT_NE(error_of([&] { m.update({}, 4 * s); }).find("before the previous frame"), std::string::npos);
}

TEST(FlowMonitor, missing_forecaster_file_is_named) {
    EXPECT_NE(error_of([] { xmodal::load_flow_forecaster("/nonexistent/flow.onnx", 2); }).find("/nonexistent/flow.onnx"),
              std::string::npos);
}

// A forecaster in the documented interface that predicts twice the input window: forecast =
// flow + flow; time_of_day and day_of_week are declared but unused. flow's N is fixed to `series`.
// With a series_id input of type `id_type` (0: none), forecast = flow + flow + series_id instead, so
// the ids the caller passes show in the output.
std::string write_doubling_forecaster(const std::string& name, int series, int id_type = 0) {
    onnx::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(13);
    auto* g = m.mutable_graph();
    g->set_name("doubling");
    auto add_value = [](onnx::ValueInfoProto* v, const char* value_name, int type, std::vector<std::int64_t> dims) {
        v->set_name(value_name);
        v->mutable_type()->mutable_tensor_type()->set_elem_type(type);
        for (const std::int64_t d : dims) v->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
    };
    add_value(g->add_input(), "flow", onnx::TensorProto::FLOAT, {1, 12, series});
    add_value(g->add_input(), "time_of_day", onnx::TensorProto::FLOAT, {1, 12});
    add_value(g->add_input(), "day_of_week", onnx::TensorProto::INT64, {1, 12});
    auto* n = g->add_node();
    n->set_op_type("Add");
    n->set_name("double");
    n->add_input("flow");
    n->add_input("flow");
    n->add_output(id_type != 0 ? "doubled" : "forecast");
    if (id_type != 0) {
        add_value(g->add_input(), "series_id", id_type, {series});
        auto* cast = g->add_node();
        cast->set_op_type("Cast");
        cast->set_name("id_as_float");
        cast->add_input("series_id");
        cast->add_output("id_f");
        auto* to = cast->add_attribute();
        to->set_name("to");
        to->set_type(onnx::AttributeProto::INT);
        to->set_i(onnx::TensorProto::FLOAT);
        auto* add = g->add_node();
        add->set_op_type("Add");
        add->set_name("plus_id");
        add->add_input("doubled");
        add->add_input("id_f");
        add->add_output("forecast");
    }
    add_value(g->add_output(), "forecast", onnx::TensorProto::FLOAT, {1, 12, series});
    const std::string path = ::testing::TempDir() + name;
    std::ofstream(path, std::ios::binary) << m.SerializeAsString();
    return path;
}

// Two series of 12 intervals whose flows are 0, 1, ..., 23 (series-major), midday on a Wednesday.
FlowForecastInput two_series_ramp() {
    FlowForecastInput input;
    input.series = 2;
    for (int i = 0; i < 24; ++i) input.flow.push_back(static_cast<float>(i));
    input.time_of_day.assign(12, 0.5f);
    input.day_of_week.assign(12, 2);
    return input;
}

TEST(FlowMonitor, onnx_forecaster_runs_in_the_documented_interface) {
    const std::string path = write_doubling_forecaster("xm_flow_doubling.onnx", 2);
    xmodal::FlowForecaster forecaster = xmodal::load_flow_forecaster(path, 2);
    const std::vector<float> out = forecaster(two_series_ramp());
    ASSERT_EQ(out.size(), 24u);
    EXPECT_FLOAT_EQ(out[0], 0.f);
    EXPECT_FLOAT_EQ(out[23], 46.f);

    // With 12 intervals of 1 positive crossing each, the model forecasts 2 for every lead.
    FlowMonitor m(mid_line(), options(1 * s, 3), forecaster);
    std::vector<IntervalReport> reports;
    for (int k = 0; k <= 12; ++k) {
        for (IntervalReport& r : cross_up(m, k + 1, k * s)) reports.push_back(std::move(r));
    }
    ASSERT_EQ(reports.size(), 12u);
    EXPECT_EQ(reports[11].forecaster, "model");
    EXPECT_EQ(reports[11].series[0].forecast, (std::vector<float>{2.f, 2.f, 2.f}));
    EXPECT_EQ(reports[11].series[1].forecast, (std::vector<float>{0.f, 0.f, 0.f}));
    std::remove(path.c_str());
}

// A model with a per-sensor embedding reads series_id; counting lines are no sensor it knows, so
// every series gets -1 (its "unknown" row).
TEST(FlowMonitor, onnx_forecaster_with_series_id_gets_unknown_ids) {
    const std::string path = write_doubling_forecaster("xm_flow_ids.onnx", 2, onnx::TensorProto::INT64);
    xmodal::FlowForecaster forecaster = xmodal::load_flow_forecaster(path, 2);
    const std::vector<float> out = forecaster(two_series_ramp());
    ASSERT_EQ(out.size(), 24u);
    EXPECT_FLOAT_EQ(out[0], -1.f);
    EXPECT_FLOAT_EQ(out[23], 45.f);
    std::remove(path.c_str());

    const std::string float_ids = write_doubling_forecaster("xm_flow_float_ids.onnx", 2, onnx::TensorProto::FLOAT);
    const std::string error = error_of([&] { xmodal::load_flow_forecaster(float_ids, 2); });
    EXPECT_NE(error.find("input 'series_id' is f32, expected s64"), std::string::npos) << error;
    EXPECT_NE(error.find(float_ids), std::string::npos) << error;
    std::remove(float_ids.c_str());
}

// The committed forecaster (models/flow_forecaster.onnx) through xmflow's path: it reads
// series_id, and load_flow_forecaster passes -1 ("unknown") for the lines' series. The same input
// run directly with ids -1 gives the same forecast; with PEMS08 sensor ids a different one, so
// the comparison sees which ids went in.
TEST(FlowMonitor, committed_model_gets_unknown_series_ids) {
    const std::string model = std::string(XMODAL_SOURCE_DIR) + "/models/flow_forecaster.onnx";
    FlowForecastInput input;
    input.series = 2;
    for (int k = 0; k < 12; ++k) {  // camera-sized counts, 7:00 to 8:00 on a Tuesday
        input.flow.push_back(static_cast<float>(4 + k / 2));
        input.flow.push_back(static_cast<float>(9 - (k % 3)));
        input.time_of_day.push_back(static_cast<float>(7 * 12 + k) / 288.f);
        input.day_of_week.push_back(1);
    }
    const std::vector<float> via_monitor = xmodal::load_flow_forecaster(model, 2)(input);
    ASSERT_EQ(via_monitor.size(), 24u);
    xmodal::ModelRunner runner(xmodal::load_model(model), xmodal::Device::open("cpu"));
    auto run_with = [&](std::vector<std::int64_t> ids) {
        std::vector<xmodal::HostTensor> out;
        runner.run({{"flow", {xmodal::DataType::f32, {1, 12, 2}, input.flow.data()}},
                    {"time_of_day", {xmodal::DataType::f32, {1, 12}, input.time_of_day.data()}},
                    {"day_of_week", {xmodal::DataType::s64, {1, 12}, input.day_of_week.data()}},
                    {"series_id", {xmodal::DataType::s64, {2}, ids.data()}}},
                   out);
        return out.at(0).to_f32();
    };
    const std::vector<float> unknown = run_with({-1, -1}), sensors = run_with({0, 1});
    double differs = 0;
    for (std::size_t i = 0; i < 24; ++i) {
        ASSERT_TRUE(std::isfinite(via_monitor[i])) << i;
        EXPECT_NEAR(via_monitor[i], unknown[i], 1e-4f * std::abs(unknown[i]) + 1e-4f) << i;
        differs = std::max(differs, static_cast<double>(std::abs(sensors[i] - unknown[i])));
    }
    EXPECT_GT(differs, 1e-3);
}

TEST(FlowMonitor, onnx_forecaster_with_other_series_count_is_named) {
    const std::string path = write_doubling_forecaster("xm_flow_three.onnx", 3);
    const std::string error = error_of([&] { xmodal::load_flow_forecaster(path, 2); });
    EXPECT_NE(error.find("has 3 series, but the lines give 2"), std::string::npos) << error;
    EXPECT_NE(error.find(path), std::string::npos) << error;
    std::remove(path.c_str());
}

}  // namespace
