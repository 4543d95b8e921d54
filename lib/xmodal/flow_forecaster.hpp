// Running the traffic-flow forecaster (models/flow_forecaster.onnx, trained by
// tools/train/train_flow_forecaster.py) on windows of a flow series.
//
// The model's interface (docs/DESIGN.md "Flow forecaster"; the xmflow element feeds it too):
//   flow         f32 [B, 12, N]  raw counts per 5-minute interval, any scale, any N >= 1
//   time_of_day  f32 [B, 12]     fraction of the day (0..1) at each input step
//   day_of_week  s64 [B, 12]     0 = Monday .. 6 = Sunday at each input step
//   forecast     f32 [B, 12, N]  counts for the next 12 intervals, same scale as flow
#pragma once

#include <cstdint>
#include <vector>

#include "xmodal/runtime.hpp"
#include "xmodal/traffic_data.hpp"

namespace xmodal {

// Forecasts for `index` (12 in, 12 out), laid out like make_windows(series, index).y, running
// `batch` windows per model call. Throws xmodal::Error if a window is not 12 in / 12 out, reaches
// outside the series, or the model's output is not [B, 12, N].
std::vector<float> forecast_flow(ModelRunner& runner, const FlowSeries& series, const std::vector<FlowWindowIndex>& index,
                                 std::int64_t batch = 64);

}  // namespace xmodal
