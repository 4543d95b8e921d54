// Traffic flow per interval: counts of tracked objects crossing named lines (LineCounter),
// aggregated into fixed intervals, with a forecast of the next `horizon` intervals and an
// uncertainty band. The element xmflow feeds it; docs/elements/xmflow.md describes the output.
//
// Time: timestamps are nanoseconds on one monotonic time line chosen by the caller (xmflow passes
// the buffer's running time, so live and non-live streams and pauses behave alike). The first
// interval starts at the first frame's timestamp; interval k is [start + k*interval, start +
// (k+1)*interval). An interval closes when a frame at or past its end arrives (that frame belongs
// to the next interval), or by flush() at the end of the stream (the report is then "partial").
//
// Series: one per line x direction (positive, negative), summed over the counted classes; the
// per-class counts are reported beside them but not forecast (few vehicles per class per interval
// make noisy series). The forecaster sees the series in that order: line 0 positive, line 0
// negative, line 1 positive, ...
//
// Gaps: intervals no frame fell into (a live source that stalled, a timestamp jump) are closed as
// empty (frames = 0, counts 0) and enter the history as zeros, so the history stays one value per
// interval. A gap longer than history_steps intervals restarts: history and the grid start again at
// the new frame (cold start), and only the interval that was open is reported.
//
// Forecasts (per series, `horizon` values, lower/upper = a ~95% band, never below 0):
//  - with a forecaster and at least history_steps (12) complete intervals of history: the
//    forecaster's values; band = value +- 1.96 * sd_h, sd_h = sqrt(max(value, h * mse)), where mse
//    is the mean squared error of the forecaster's own one-interval-ahead forecasts of this series
//    over the last 48 intervals (Poisson spread until errors are known; sqrt(h) growth with the lead);
//    forecaster name "model";
//  - otherwise ("cold start") the baseline "baseline:history-mean": the mean of the complete
//    intervals so far (at most the last 12), for every lead; band = mean +- 1.96 * sqrt(max(mean, variance)), i.e. a
//    Poisson band widened to the history's own spread when it is overdispersed;
//  - with no complete interval yet (a stream shorter than one interval), "baseline:partial-rate":
//    the partial interval's count scaled to a whole interval, Poisson band.
// Partial intervals are reported but never enter the history (their counts cover less time).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "xmodal/line_counter.hpp"

namespace xmodal {

inline constexpr int flow_history_steps = 12;  // intervals the forecaster reads
inline constexpr int flow_max_horizon = 12;    // intervals it predicts

// What a forecaster reads: the last 12 complete intervals, oldest first.
struct FlowForecastInput {
    int series = 0;                      // N
    std::vector<float> flow;             // [12][N] counts per interval
    std::vector<float> time_of_day;      // [12] fraction of the day (local time) at each interval's start
    std::vector<std::int64_t> day_of_week;  // [12] 0 = Monday
};
// Returns [12][N] (or at least horizon rows) forecast counts for the next intervals.
using FlowForecaster = std::function<std::vector<float>(const FlowForecastInput&)>;

// The ONNX (or TFLite) forecaster: inputs flow f32 [B,12,N], time_of_day f32 [B,12], day_of_week
// s64 [B,12]; output forecast f32 [B,12,N]; run with B = 1. Throws xmodal::Error naming the file
// and the input/output that does not fit (including a fixed N other than `series`).
FlowForecaster load_flow_forecaster(const std::string& path, int series);

struct FlowMonitorOptions {
    std::int64_t interval_ns = 60'000'000'000;  // >= 1 s
    int horizon = flow_max_horizon;             // 1..12 intervals forecast
    LineCounterOptions counting;
    // Unix time (ns) of timestamp 0, for the forecaster's time of day and day of week; 0: the
    // timestamps are unix times themselves.
    std::int64_t epoch_ns = 0;
};

// Throws xmodal::Error naming the option (as the element names its property), value and range.
void validate_flow_options(const FlowMonitorOptions& options);

struct FlowClassCount {
    std::string label;
    std::int64_t count = 0;
};

// One counting line in one direction over an interval (not traffic_data.hpp's FlowSeries: two
// definitions of one name in one library break the ODR).
struct LineSeries {
    std::size_t line = 0;
    std::string line_name;
    int direction = 0;  // +1 positive, -1 negative (docs/COUNTING.md)
    std::int64_t count = 0;
    std::vector<FlowClassCount> classes;     // the count per label
    std::vector<float> forecast, lower, upper;  // `horizon` values each; empty in running counts
};

struct IntervalReport {
    std::int64_t index = 0;  // 0 = the first interval since the start (or a restart)
    std::int64_t start_ns = 0, end_ns = 0;  // end: start + interval, or the flush time if partial
    bool partial = false;
    std::int64_t frames = 0;                // frames that fell into the interval
    std::string forecaster;                 // "model", "baseline:history-mean", "baseline:partial-rate"
    int history = 0;                        // complete intervals of history the forecast read
    std::vector<LineSeries> series;         // line 0 positive, line 0 negative, line 1 ...
};

class FlowMonitor {
public:
    // Throws xmodal::Error on invalid lines or options. forecaster may be empty (baseline only).
    FlowMonitor(std::vector<CountingLine> lines, FlowMonitorOptions options, FlowForecaster forecaster = {});

    // One frame: first closes every interval that ends at or before timestamp_ns (their reports
    // are returned, oldest first), then counts the frame's crossings into the open interval.
    // Timestamps must not go backwards (throws xmodal::Error naming both).
    std::vector<IntervalReport> update(std::span<const TrackedPoint> points, std::int64_t timestamp_ns);

    // End of stream: reports the open interval as partial, ending at end_ns (clamped to the
    // interval; pass the end of the last frame), then forgets everything like reset(): a new
    // stream starts cold. nullopt when no frame came.
    std::optional<IntervalReport> flush(std::int64_t end_ns);

    // Running counts of the open interval (no forecast); nullopt before the first frame.
    std::optional<IntervalReport> current() const;

    // Forgets everything: counts, tracks, history (flush events, seeks).
    void reset();

    const std::vector<CountingLine>& lines() const { return counter_.lines(); }
    const FlowMonitorOptions& options() const { return options_; }
    std::size_t history_size() const { return history_.size(); }

private:
    struct Past {
        std::int64_t start_ns;
        std::vector<float> counts;  // per series
    };
    IntervalReport close_interval(bool partial, std::int64_t end_ns);
    std::vector<LineSeries> series_counts(const std::vector<LineCount>& counts) const;
    void forecast(IntervalReport& report, double partial_scale);

    LineCounter counter_;
    FlowMonitorOptions options_;
    FlowForecaster forecaster_;
    bool started_ = false;
    std::int64_t start_ns_ = 0;     // of the open interval
    std::int64_t index_ = 0;
    std::int64_t frames_ = 0;
    std::int64_t last_timestamp_ = 0;
    std::deque<Past> history_;      // complete intervals, oldest first, at most history_steps
    std::vector<float> pending_one_step_;    // forecaster's values for the open interval, per series
    std::vector<std::deque<float>> errors_;  // per series: its one-step errors, newest last
};

}  // namespace xmodal
