#include "xmodal/flow_metrics.hpp"

#include <cmath>

#include "xmodal/error.hpp"

namespace xmodal {

namespace {
struct Sums {
    double abs = 0, sq = 0, rel = 0, all_abs = 0, all_sq = 0;
    std::int64_t counted = 0, total = 0;

    void add(double truth, double pred) {
        const double e = pred - truth;
        all_abs += std::abs(e);
        all_sq += e * e;
        ++total;
        if (truth == 0) return;
        abs += std::abs(e);
        sq += e * e;
        rel += std::abs(e / truth);
        ++counted;
    }
    void add(const Sums& o) {
        abs += o.abs, sq += o.sq, rel += o.rel, all_abs += o.all_abs, all_sq += o.all_sq;
        counted += o.counted, total += o.total;
    }
    FlowErrors errors() const {
        // With every truth masked there is nothing to average: NaN says so instead of a fake 0.
        const double n = counted ? static_cast<double>(counted) : NAN, all = total ? static_cast<double>(total) : NAN;
        return {abs / n, std::sqrt(sq / n), 100 * rel / n, all_abs / all, std::sqrt(all_sq / all), counted, total};
    }
};
}  // namespace

FlowReport evaluate_flow(const FlowWindows& truth, const std::vector<float>& predicted) {
    if (predicted.size() != truth.y.size())
        fail("evaluate_flow: ", predicted.size(), " predictions for ", truth.count, " windows × ", truth.out_steps, " steps × ",
             truth.sensors, " sensors (", truth.y.size(), " expected)");
    std::vector<Sums> per_horizon(static_cast<std::size_t>(truth.out_steps));
    std::size_t i = 0;
    for (std::int64_t w = 0; w < truth.count; ++w)
        for (std::int64_t h = 0; h < truth.out_steps; ++h)
            for (std::int64_t s = 0; s < truth.sensors; ++s, ++i) {
                if (!std::isfinite(predicted[i]))
                    fail("evaluate_flow: prediction for window ", w, " horizon ", h + 1, " sensor ", s, " is ", predicted[i]);
                per_horizon[static_cast<std::size_t>(h)].add(truth.y[i], predicted[i]);
            }
    FlowReport report;
    Sums all;
    for (const Sums& h : per_horizon) {
        report.horizon.push_back(h.errors());
        all.add(h);
    }
    report.average = all.errors();
    return report;
}

std::string_view naive_forecast_name(NaiveForecast kind) {
    switch (kind) {
        case NaiveForecast::last_value: return "last_value";
        case NaiveForecast::repeat_input: return "repeat_input";
        case NaiveForecast::input_mean: return "input_mean";
        case NaiveForecast::previous_day: return "previous_day";
        case NaiveForecast::previous_week: return "previous_week";
    }
    return "?";
}

std::vector<float> naive_forecast(NaiveForecast kind, const FlowSeries& series, const std::vector<FlowWindowIndex>& index) {
    const std::int64_t sensors = series.sensors;
    std::vector<float> out;
    for (std::size_t i = 0; i < index.size(); ++i) {
        const FlowWindowIndex& r = index[i];
        const std::int64_t in_steps = r.y_start - r.x_start, out_steps = r.y_end - r.y_start;
        // Every baseline reads history only: steps before y_start.
        auto source_step = [&](std::int64_t h) -> std::int64_t {  // h = 0…out_steps-1
            switch (kind) {
                case NaiveForecast::last_value: return r.y_start - 1;
                case NaiveForecast::repeat_input: return r.x_start + h;
                case NaiveForecast::previous_day: return r.y_start + h - kStepsPerDay;
                case NaiveForecast::previous_week: return r.y_start + h - kStepsPerWeek;
                case NaiveForecast::input_mean: break;
            }
            return -1;
        };
        if (kind == NaiveForecast::repeat_input && in_steps < out_steps)
            fail("naive_forecast repeat_input: window ", i, " has ", in_steps, " inputs for ", out_steps, " outputs");
        const std::int64_t lag = kind == NaiveForecast::previous_day ? kStepsPerDay : kind == NaiveForecast::previous_week ? kStepsPerWeek : 0;
        if (out_steps > lag && lag)
            fail("naive_forecast ", naive_forecast_name(kind), ": window ", i, " forecasts ", out_steps, " steps, more than the lag ", lag);
        const std::int64_t earliest = kind == NaiveForecast::input_mean ? r.x_start : source_step(0);
        if (!series.contains(earliest) || !series.contains(r.y_start - 1))
            fail("naive_forecast ", naive_forecast_name(kind), ": window ", i, " (y from step ", r.y_start, ") needs step ", earliest,
                 ", the series has ", series.first_step, "…", series.end_step() - 1);
        if (kind == NaiveForecast::input_mean) {
            std::vector<double> mean(static_cast<std::size_t>(sensors), 0.0);
            for (std::int64_t t = r.x_start; t < r.y_start; ++t)
                for (std::int64_t s = 0; s < sensors; ++s) mean[static_cast<std::size_t>(s)] += series.row(t)[s];
            for (std::int64_t h = 0; h < out_steps; ++h)
                for (double m : mean) out.push_back(static_cast<float>(m / static_cast<double>(in_steps)));
        } else {
            for (std::int64_t h = 0; h < out_steps; ++h) {
                const float* row = series.row(source_step(h));
                out.insert(out.end(), row, row + sensors);
            }
        }
    }
    return out;
}

}  // namespace xmodal
