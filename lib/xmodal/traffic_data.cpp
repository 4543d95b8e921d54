#include "xmodal/traffic_data.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "xmodal/error.hpp"
#include "xmodal/npy.hpp"
#include "xmodal/shared_paths.hpp"

namespace xmodal {

const float* FlowSeries::row(std::int64_t step) const {
    if (!contains(step)) fail("flow series: step ", step, " is outside the loaded steps ", first_step, "…", end_step() - 1);
    return values.data() + (step - first_step) * sensors;
}

FlowSeries load_flow_series(const std::string& path, std::int64_t first_step) {
    const HostTensor t = load_npy(path);
    if (t.shape.size() != 2) fail(path, ": expected a (steps, sensors) flow array, got shape ", shape_string(t.shape));
    if (t.dtype != DataType::f64 && t.dtype != DataType::f32)
        fail(path, ": expected float64 or float32 flow, got ", dtype_name(t.dtype));
    if (first_step < 0) fail(path, ": first step must be >= 0, got ", first_step);
    FlowSeries s{first_step, t.shape[0], t.shape[1], t.to_f32()};
    for (std::size_t i = 0; i < s.values.size(); ++i)
        if (!(s.values[i] >= 0))  // also catches NaN
            fail(path, ": step ", first_step + static_cast<std::int64_t>(i) / s.sensors, " sensor ",
                 static_cast<std::int64_t>(i) % s.sensors, " has flow ", s.values[i], ", expected a count >= 0");
    return s;
}

FlowSeries load_pems08_flow() {
    const std::string path = shared_file("data/PEMS08/PEMS08_flow_t10700-17855.npy");
    FlowSeries s = load_flow_series(path, 10700);
    if (s.steps != 7156 || s.sensors != 170) fail(path, ": expected 7156 steps × 170 sensors, got ", s.steps, " × ", s.sensors);
    return s;
}

FlowSplit load_flow_split(const std::string& path) {
    const auto arrays = load_npz(path);
    auto read = [&](const char* key) {
        auto it = arrays.find(key);
        if (it == arrays.end()) fail(path, ": no '", key, "' array (expected train, val, test)");
        const HostTensor& t = it->second;
        if (t.dtype != DataType::s64 || t.shape.size() != 2 || t.shape[1] != 3)
            fail(path, ": '", key, "' must be (N, 3) int64 rows (x_start, y_start, y_end), got ", dtype_name(t.dtype), " ",
                 shape_string(t.shape));
        std::vector<FlowWindowIndex> rows(static_cast<std::size_t>(t.shape[0]));
        for (std::size_t i = 0; i < rows.size(); ++i) {
            std::int64_t v[3];
            std::memcpy(v, t.bytes.data() + i * sizeof v, sizeof v);
            rows[i] = {v[0], v[1], v[2]};
            if (!(0 <= v[0] && v[0] < v[1] && v[1] < v[2]))
                fail(path, ": '", key, "' row ", i, " is (", v[0], ", ", v[1], ", ", v[2], "), expected 0 <= x_start < y_start < y_end");
        }
        return rows;
    };
    return {read("train"), read("val"), read("test")};
}

FlowSplit load_pems08_staeformer_split() { return load_flow_split(shared_file("data/PEMS08/staeformer_index.npz")); }

std::vector<FlowWindowIndex> windows_between(std::int64_t first_step, std::int64_t end_step, std::int64_t in_steps,
                                             std::int64_t out_steps) {
    if (in_steps < 1 || out_steps < 1) fail("windows_between: in/out steps must be >= 1, got ", in_steps, "/", out_steps);
    std::vector<FlowWindowIndex> windows;
    for (std::int64_t x = first_step; x + in_steps + out_steps <= end_step; ++x) windows.push_back({x, x + in_steps, x + in_steps + out_steps});
    return windows;
}

std::int64_t first_test_step(const std::vector<FlowWindowIndex>& test) {
    if (test.empty()) fail("first_test_step: no test windows");
    return std::min_element(test.begin(), test.end(), [](auto& a, auto& b) { return a.x_start < b.x_start; })->x_start;
}

FlowWindows make_windows(const FlowSeries& series, const std::vector<FlowWindowIndex>& index) {
    FlowWindows w;
    w.count = static_cast<std::int64_t>(index.size());
    w.sensors = series.sensors;
    if (index.empty()) return w;
    w.in_steps = index[0].y_start - index[0].x_start;
    w.out_steps = index[0].y_end - index[0].y_start;
    const auto row_bytes = static_cast<std::size_t>(series.sensors) * sizeof(float);
    w.x.resize(static_cast<std::size_t>(w.count * w.in_steps * w.sensors));
    w.y.resize(static_cast<std::size_t>(w.count * w.out_steps * w.sensors));
    for (std::size_t i = 0; i < index.size(); ++i) {
        const FlowWindowIndex& r = index[i];
        if (r.y_start - r.x_start != w.in_steps || r.y_end - r.y_start != w.out_steps)
            fail("make_windows: window ", i, " (", r.x_start, ", ", r.y_start, ", ", r.y_end, ") is not ", w.in_steps, " in / ",
                 w.out_steps, " out like window 0");
        if (!series.contains(r.x_start) || !series.contains(r.y_end - 1))
            fail("make_windows: window ", i, " needs steps ", r.x_start, "…", r.y_end - 1, ", the series has ", series.first_step,
                 "…", series.end_step() - 1);
        std::memcpy(w.x.data() + i * static_cast<std::size_t>(w.in_steps * w.sensors), series.row(r.x_start),
                    row_bytes * static_cast<std::size_t>(w.in_steps));
        std::memcpy(w.y.data() + i * static_cast<std::size_t>(w.out_steps * w.sensors), series.row(r.y_start),
                    row_bytes * static_cast<std::size_t>(w.out_steps));
    }
    return w;
}

int time_of_day(std::int64_t step) {
    if (step < 0) fail("time_of_day: step ", step, " is before the series start");
    return static_cast<int>(step % kStepsPerDay);
}

int day_of_week(std::int64_t step) {
    if (step < 0) fail("day_of_week: step ", step, " is before the series start");
    constexpr std::int64_t kFridayMonday0 = 4;  // 2016-07-01
    return static_cast<int>((kFridayMonday0 + step / kStepsPerDay) % 7);
}

}  // namespace xmodal
