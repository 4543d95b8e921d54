#include "xmodal/flow_monitor.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <utility>

#include "xmodal/device.hpp"
#include "xmodal/error.hpp"
#include "xmodal/runtime.hpp"

namespace xmodal {

namespace {

constexpr double band_z = 1.96;         // ~95% two-sided
constexpr std::size_t error_window = 48;  // one-step errors kept per series for the model's band
constexpr std::int64_t ns_per_s = 1'000'000'000;

const ValueInfo* find_value(const std::vector<ValueInfo>& values, const std::string& name) {
    for (const ValueInfo& v : values)
        if (v.name == name) return &v;
    return nullptr;
}

void check_value(const std::string& path, const char* kind, const ValueInfo* v, const char* name, DataType dtype,
                 std::size_t rank) {
    if (v == nullptr) fail("flow forecaster ", path, ": no ", kind, " '", name, "' (expected flow, time_of_day, "
                           "day_of_week [, series_id] -> forecast)");
    if (v->type_known && v->dtype != dtype)
        fail("flow forecaster ", path, ": ", kind, " '", name, "' is ", dtype_name(v->dtype), ", expected ",
             dtype_name(dtype));
    if (v->shape_known && v->shape.size() != rank)
        fail("flow forecaster ", path, ": ", kind, " '", name, "' has shape ", describe_shape(v->shape), ", expected rank ",
             rank);
}

// Local calendar of a unix time in ns: fraction of the day and weekday (0 = Monday).
std::pair<float, std::int64_t> calendar(std::int64_t unix_ns) {
    const std::time_t seconds = static_cast<std::time_t>(unix_ns / ns_per_s);
    std::tm local{};
    localtime_r(&seconds, &local);
    const double day_seconds = local.tm_hour * 3600.0 + local.tm_min * 60.0 + local.tm_sec +
                               static_cast<double>(unix_ns % ns_per_s) / 1e9;
    return {static_cast<float>(day_seconds / 86400.0), (local.tm_wday + 6) % 7};
}

void poisson_band(LineSeries& s, float value, double variance, int horizon) {
    const double sd = std::sqrt(std::max(static_cast<double>(value), variance));
    s.forecast.assign(static_cast<std::size_t>(horizon), value);
    s.lower.assign(s.forecast.size(), static_cast<float>(std::max(0.0, value - band_z * sd)));
    s.upper.assign(s.forecast.size(), static_cast<float>(value + band_z * sd));
}

}  // namespace

FlowForecaster load_flow_forecaster(const std::string& path, int series) {
    if (series < 1) fail("flow forecaster ", path, ": needs at least one series, got ", series);
    Model model = load_model(path);
    const std::vector<ValueInfo>& in = model.graph.inputs;
    const ValueInfo* flow = find_value(in, "flow");
    check_value(path, "input", flow, "flow", DataType::f32, 3);
    check_value(path, "input", find_value(in, "time_of_day"), "time_of_day", DataType::f32, 2);
    check_value(path, "input", find_value(in, "day_of_week"), "day_of_week", DataType::s64, 2);
    check_value(path, "output", find_value(model.graph.outputs, "forecast"), "forecast", DataType::f32, 3);
    // Optional: a model with a per-sensor embedding reads which sensor each series is. Counting
    // lines are no sensor it was trained on: every series is -1, the embedding's "unknown" row.
    const ValueInfo* series_id = find_value(in, "series_id");
    if (series_id != nullptr) check_value(path, "input", series_id, "series_id", DataType::s64, 1);
    if (flow->shape_known) {
        const Dim& steps = flow->shape[1];
        const Dim& n = flow->shape[2];
        if (steps.known() && steps.value != flow_history_steps)
            fail("flow forecaster ", path, ": input 'flow' reads ", steps.value, " intervals, expected ",
                 flow_history_steps);
        if (n.known() && n.value != series)
            fail("flow forecaster ", path, ": input 'flow' has ", n.value, " series, but the lines give ", series,
                 " (2 per line: positive and negative direction)");
    }
    std::size_t forecast_index = 0;
    while (model.graph.outputs[forecast_index].name != "forecast") ++forecast_index;

    auto runner = std::make_shared<ModelRunner>(std::move(model), Device::open("cpu"));
    auto outputs = std::make_shared<std::vector<HostTensor>>();
    auto unknown_ids = series_id != nullptr ? std::make_shared<std::vector<std::int64_t>>(static_cast<std::size_t>(series), -1)
                                            : nullptr;
    return [runner, outputs, unknown_ids, forecast_index, path](const FlowForecastInput& input) {
        const std::int64_t n = input.series, t = flow_history_steps;
        std::vector<std::pair<std::string, TensorView>> inputs = {
            {"flow", {DataType::f32, {1, t, n}, input.flow.data()}},
            {"time_of_day", {DataType::f32, {1, t}, input.time_of_day.data()}},
            {"day_of_week", {DataType::s64, {1, t}, input.day_of_week.data()}}};
        if (unknown_ids) {
            if (static_cast<std::int64_t>(unknown_ids->size()) != n)
                fail("flow forecaster ", path, ": made for ", unknown_ids->size(), " series, called with ", n);
            inputs.push_back({"series_id", {DataType::s64, {n}, unknown_ids->data()}});
        }
        runner->run(inputs, *outputs);
        const HostTensor& out = (*outputs)[forecast_index];
        if (out.shape.size() != 3 || out.shape[0] != 1 || out.shape[2] != n)
            fail("flow forecaster ", path, ": output 'forecast' has shape ", shape_string(out.shape), ", expected [1,12,",
                 n, "]");
        return out.to_f32();
    };
}

void validate_flow_options(const FlowMonitorOptions& options) {
    if (options.interval_ns < ns_per_s)
        fail("interval: ", static_cast<double>(options.interval_ns) / 1e9, " s is below the minimum of 1 s");
    if (options.horizon < 1 || options.horizon > flow_max_horizon)
        fail("horizon: ", options.horizon, " is out of range 1..", flow_max_horizon, " intervals");
    validate_line_counter_options(options.counting);
}

FlowMonitor::FlowMonitor(std::vector<CountingLine> lines, FlowMonitorOptions options, FlowForecaster forecaster)
    : counter_((validate_flow_options(options), std::move(lines)), options.counting),
      options_(std::move(options)),
      forecaster_(std::move(forecaster)),
      errors_(counter_.lines().size() * 2) {}

void FlowMonitor::reset() {
    counter_.reset();
    started_ = false;
    start_ns_ = index_ = frames_ = last_timestamp_ = 0;
    history_.clear();
    pending_one_step_.clear();
    for (auto& e : errors_) e.clear();
}

std::vector<LineSeries> FlowMonitor::series_counts(const std::vector<LineCount>& counts) const {
    std::vector<LineSeries> series;
    for (std::size_t line = 0; line < lines().size(); ++line) {
        for (const int direction : {+1, -1}) {
            LineSeries s;
            s.line = line;
            s.line_name = lines()[line].name;
            s.direction = direction;
            for (const LineCount& c : counts) {
                if (c.line != line) continue;
                const std::int64_t n = direction > 0 ? c.positive : c.negative;
                s.count += n;
                s.classes.push_back({c.label, n});
            }
            series.push_back(std::move(s));
        }
    }
    return series;
}

std::optional<IntervalReport> FlowMonitor::current() const {
    if (!started_) return std::nullopt;
    IntervalReport report;
    report.index = index_;
    report.start_ns = start_ns_;
    report.end_ns = start_ns_ + options_.interval_ns;
    report.frames = frames_;
    report.history = static_cast<int>(history_.size());
    report.series = series_counts(counter_.counts());
    return report;
}

void FlowMonitor::forecast(IntervalReport& report, double partial_scale) {
    const int horizon = options_.horizon;
    const std::size_t n = report.series.size();
    report.history = static_cast<int>(history_.size());
    if (forecaster_ && history_.size() >= static_cast<std::size_t>(flow_history_steps)) {
        FlowForecastInput input;
        input.series = static_cast<int>(n);
        for (const Past& p : history_) {
            input.flow.insert(input.flow.end(), p.counts.begin(), p.counts.end());
            const auto [time_of_day, weekday] = calendar(options_.epoch_ns + p.start_ns);
            input.time_of_day.push_back(time_of_day);
            input.day_of_week.push_back(weekday);
        }
        const std::vector<float> out = forecaster_(input);
        if (out.size() < static_cast<std::size_t>(horizon) * n)
            fail("flow forecaster: returned ", out.size(), " values, expected at least ", horizon, " intervals x ", n,
                 " series");
        report.forecaster = "model";
        pending_one_step_.assign(n, 0.f);
        for (std::size_t i = 0; i < n; ++i) {
            LineSeries& s = report.series[i];
            double mse = 0;
            for (const float e : errors_[i]) mse += static_cast<double>(e) * e;
            if (!errors_[i].empty()) mse /= static_cast<double>(errors_[i].size());
            for (int h = 0; h < horizon; ++h) {
                const float raw = out[static_cast<std::size_t>(h) * n + i];
                if (!std::isfinite(raw))
                    fail("flow forecaster: value for interval +", h + 1, " of series ", i, " is not finite");
                const float value = std::max(0.f, raw);  // a count is never negative
                const double sd = std::sqrt(std::max(static_cast<double>(value), (h + 1) * mse));
                s.forecast.push_back(value);
                s.lower.push_back(static_cast<float>(std::max(0.0, value - band_z * sd)));
                s.upper.push_back(static_cast<float>(value + band_z * sd));
            }
            pending_one_step_[i] = s.forecast[0];
        }
        return;
    }
    pending_one_step_.clear();  // the baseline's errors say nothing about the model's
    if (history_.empty()) {
        report.forecaster = "baseline:partial-rate";
        for (LineSeries& s : report.series)
            poisson_band(s, static_cast<float>(static_cast<double>(s.count) * partial_scale), 0.0, horizon);
        return;
    }
    report.forecaster = "baseline:history-mean";
    const double count = static_cast<double>(history_.size());
    for (std::size_t i = 0; i < n; ++i) {
        double mean = 0, variance = 0;
        for (const Past& p : history_) mean += p.counts[i];
        mean /= count;
        for (const Past& p : history_) variance += (p.counts[i] - mean) * (p.counts[i] - mean);
        if (history_.size() > 1) variance /= count - 1;
        poisson_band(report.series[i], static_cast<float>(mean), variance, horizon);
    }
}

IntervalReport FlowMonitor::close_interval(bool partial, std::int64_t end_ns) {
    IntervalReport report;
    report.index = index_;
    report.start_ns = start_ns_;
    report.end_ns = partial ? std::clamp(end_ns, start_ns_, start_ns_ + options_.interval_ns)
                            : start_ns_ + options_.interval_ns;
    report.partial = partial;
    report.frames = frames_;
    report.series = series_counts(counter_.take_counts());
    double partial_scale = 0;
    if (!partial) {
        Past past{start_ns_, {}};
        for (std::size_t i = 0; i < report.series.size(); ++i) {
            const float count = static_cast<float>(report.series[i].count);
            past.counts.push_back(count);
            if (!pending_one_step_.empty()) {
                errors_[i].push_back(count - pending_one_step_[i]);
                if (errors_[i].size() > error_window) errors_[i].pop_front();
            }
        }
        history_.push_back(std::move(past));
        if (history_.size() > static_cast<std::size_t>(flow_history_steps)) history_.pop_front();
    } else if (report.end_ns > report.start_ns) {
        partial_scale = static_cast<double>(options_.interval_ns) / static_cast<double>(report.end_ns - report.start_ns);
    }
    forecast(report, partial_scale);
    ++index_;
    start_ns_ += options_.interval_ns;
    frames_ = 0;
    return report;
}

std::vector<IntervalReport> FlowMonitor::update(std::span<const TrackedPoint> points, std::int64_t timestamp_ns) {
    std::vector<IntervalReport> reports;
    if (!started_) {
        started_ = true;
        start_ns_ = last_timestamp_ = timestamp_ns;
    }
    if (timestamp_ns < last_timestamp_)
        fail("flow: timestamp ", timestamp_ns, " ns is before the previous frame's ", last_timestamp_, " ns");
    last_timestamp_ = timestamp_ns;
    if (timestamp_ns >= start_ns_ + options_.interval_ns) {
        const std::int64_t to_close = (timestamp_ns - start_ns_) / options_.interval_ns;
        if (to_close - 1 > flow_history_steps) {
            // A long gap: zeros would swamp the history. Report what was open and start cold.
            reports.push_back(close_interval(false, 0));
            history_.clear();
            pending_one_step_.clear();
            for (auto& e : errors_) e.clear();
            index_ = 0;
            start_ns_ = timestamp_ns;
        } else {
            for (std::int64_t k = 0; k < to_close; ++k) reports.push_back(close_interval(false, 0));
        }
    }
    ++frames_;
    counter_.update(points, timestamp_ns);
    return reports;
}

std::optional<IntervalReport> FlowMonitor::flush(std::int64_t end_ns) {
    if (!started_) return std::nullopt;
    IntervalReport report = close_interval(true, end_ns);
    reset();
    return report;
}

}  // namespace xmodal
