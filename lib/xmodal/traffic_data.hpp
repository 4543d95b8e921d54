// Traffic-flow series (PeMSD8) and the 12-in/12-out forecasting windows cut from them.
//
// Time is counted in absolute 5-minute steps of the original dataset: PEMS08 step t is
// 2016-07-01 00:00 + 5 min × t (shared/data/MANIFEST.md §2). Staged data covers only t = 10700…17855,
// so every function takes and returns absolute steps and checks them against what was loaded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace xmodal {

constexpr std::int64_t kStepsPerDay = 288;    // 5-minute steps
constexpr std::int64_t kStepsPerWeek = 2016;  // 7 × 288
constexpr std::int64_t kFlowWindowSteps = 12; // the standard 12 in → 12 out (one hour each)

// Rows of consecutive time steps, one value per sensor: values[(t - first_step) * sensors + s].
struct FlowSeries {
    std::int64_t first_step = 0;
    std::int64_t steps = 0;
    std::int64_t sensors = 0;
    std::vector<float> values;  // vehicle counts per 5 min; integers, exact in float

    std::int64_t end_step() const { return first_step + steps; }
    bool contains(std::int64_t step) const { return step >= first_step && step < end_step(); }
    // Throws xmodal::Error naming the step and the range loaded.
    const float* row(std::int64_t step) const;
};

// One window in the STAEformer/BasicTS index convention: x = steps [x_start, y_start),
// y = steps [y_start, y_end). The forecast origin (last observed step) is y_start - 1.
struct FlowWindowIndex {
    std::int64_t x_start = 0, y_start = 0, y_end = 0;
};

// The split index of staeformer_index.npz: keys train, val, test, each (N, 3) int64.
struct FlowSplit {
    std::vector<FlowWindowIndex> train, val, test;
};

// Windows cut from a series: x is [count][in_steps][sensors], y is [count][out_steps][sensors].
struct FlowWindows {
    std::int64_t count = 0, in_steps = 0, out_steps = 0, sensors = 0;
    std::vector<float> x, y;
};

// A (steps, sensors) float64/float32 .npy whose row 0 is absolute step `first_step`. Throws
// naming the file if the rank, dtype or values (NaN, negative) are not a flow series.
FlowSeries load_flow_series(const std::string& path, std::int64_t first_step);
// The staged PEMS08 flow: shared_dir()/data/PEMS08/PEMS08_flow_t10700-17855.npy, first step 10700,
// checked to be 7156 × 170.
FlowSeries load_pems08_flow();

// Reads train/val/test (N, 3) int64 rows (x_start, y_start, y_end). Throws naming the file and key
// if a key is missing, the shape is not (N, 3), or a row is not x_start < y_start < y_end.
FlowSplit load_flow_split(const std::string& path);
FlowSplit load_pems08_staeformer_split();  // shared_dir()/data/PEMS08/staeformer_index.npz

// Every stride-1 window of in_steps + out_steps steps lying entirely inside [first_step, end_step).
// windows_between(14266, 17856, 12, 12) is the DCRNN/LibCity test set (origins 14277…17843).
std::vector<FlowWindowIndex> windows_between(std::int64_t first_step, std::int64_t end_step, std::int64_t in_steps,
                                             std::int64_t out_steps);

// The first step any of `test` reads (its earliest x_start). Training and model selection may use
// the steps before it, and only those: windows_between(series.first_step, first_test_step(test), …).
std::int64_t first_test_step(const std::vector<FlowWindowIndex>& test);

// Copies the windows out of the series. All windows must share their in/out lengths; throws naming
// the window and the steps the series covers if one reaches outside it.
FlowWindows make_windows(const FlowSeries& series, const std::vector<FlowWindowIndex>& index);

// 0…287: the 5-minute slot of the day (step 0 is midnight).
int time_of_day(std::int64_t step);
// 0 = Monday … 6 = Sunday, from the calendar: step 0 is 2016-07-01, a Friday (MANIFEST §2).
int day_of_week(std::int64_t step);

}  // namespace xmodal
