// Running the traffic-flow forecaster (models/flow_forecaster.onnx, trained by
// tools/train/train_flow_forecaster.py) on windows of a flow series.
//
// The model's interface (docs/DESIGN.md "Flow forecaster"; the xmflow element feeds it too):
//   flow         f32 [B, 12, N]  raw counts per 5-minute interval, any scale, any N >= 1
//   time_of_day  f32 [B, 12]     fraction of the day (0..1) at each input step
//   day_of_week  s64 [B, 12]     0 = Monday .. 6 = Sunday at each input step
//   series_id    s64 [N]         optional (models trained with a per-sensor embedding): the PEMS08
//                                sensor each series is (0..169), -1 = a series the model does not know
//   forecast     f32 [B, 12, N]  counts for the next 12 intervals, same scale as flow
#pragma once

#include <cstdint>
#include <vector>

#include "xmodal/runtime.hpp"
#include "xmodal/traffic_data.hpp"

namespace xmodal {

// True if the model reads series_id (it was trained with a per-sensor embedding).
bool flow_model_reads_series_id(const ModelRunner& runner);

// Forecasts for `index` (12 in, 12 out), laid out like make_windows(series, index).y, running
// `batch` windows per model call. `series_id` (one per series: the sensor, or -1 = unknown) is fed
// to a model that reads it; empty = every series unknown. Throws xmodal::Error if a window is not
// 12 in / 12 out, reaches outside the series, series_id has the wrong length or a value below -1,
// or the model's output is not [B, 12, N].
std::vector<float> forecast_flow(ModelRunner& runner, const FlowSeries& series, const std::vector<FlowWindowIndex>& index,
                                 std::int64_t batch = 64, const std::vector<std::int64_t>& series_id = {});

// 0, 1, ..., sensors - 1: the series_id of a FlowSeries holding every PEMS08 sensor in file order.
std::vector<std::int64_t> sensor_series_ids(std::int64_t sensors);

}  // namespace xmodal
