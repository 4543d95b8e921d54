// Traffic-flow forecast errors and the naive baselines every forecaster is compared against
// (shared/data/MANIFEST.md §5).
//
// "Masked" follows BasicTS/STAEformer/PDFormer/STSGCN: entries whose truth is 0 (PeMS's marker for
// a missing reading) are left out of MAE, RMSE and MAPE. "Unmasked" MAE/RMSE count every entry
// (AGCRN). Figures pool all windows × sensors (per horizon) or all windows × horizons × sensors
// (average), as the MANIFEST's reference numbers do.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "xmodal/traffic_data.hpp"

namespace xmodal {

struct FlowErrors {
    double mae = 0, rmse = 0, mape_percent = 0;  // masked
    double unmasked_mae = 0, unmasked_rmse = 0;
    std::int64_t counted = 0;  // entries with truth != 0
    std::int64_t total = 0;
};

struct FlowReport {
    std::vector<FlowErrors> horizon;  // horizon[h - 1], h = 1…out_steps; h = 3/6/12 are 15/30/60 min
    FlowErrors average;
};

// `predicted` is laid out like truth.y ([window][horizon][sensor]). Throws xmodal::Error if the
// sizes differ or a prediction is not finite (naming window, horizon and sensor).
FlowReport evaluate_flow(const FlowWindows& truth, const std::vector<float>& predicted);

enum class NaiveForecast {
    last_value,     // the last observed value, repeated
    repeat_input,   // ŷ[t+h] = x[t−12+h]: the input window copied ("historical inertia")
    input_mean,     // the mean of the inputs, per sensor
    previous_day,   // ŷ[t+h] = series[t+h−288]
    previous_week,  // ŷ[t+h] = series[t+h−2016]
};
inline constexpr NaiveForecast all_naive_forecasts[] = {NaiveForecast::last_value, NaiveForecast::repeat_input,
                                                        NaiveForecast::input_mean, NaiveForecast::previous_day,
                                                        NaiveForecast::previous_week};
std::string_view naive_forecast_name(NaiveForecast kind);

// Predictions for `index`, laid out like make_windows(series, index).y. They read only steps
// before each window's y_start; repeat_input needs in_steps >= out_steps. Throws naming the window
// if a lag reaches before the loaded series.
std::vector<float> naive_forecast(NaiveForecast kind, const FlowSeries& series, const std::vector<FlowWindowIndex>& index);

}  // namespace xmodal
