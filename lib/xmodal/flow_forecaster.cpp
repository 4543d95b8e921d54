#include "xmodal/flow_forecaster.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string>

#include "xmodal/error.hpp"

namespace xmodal {

bool flow_model_reads_series_id(const ModelRunner& runner) {
    return std::any_of(runner.inputs().begin(), runner.inputs().end(), [](const ValueInfo& v) { return v.name == "series_id"; });
}

std::vector<std::int64_t> sensor_series_ids(std::int64_t sensors) {
    std::vector<std::int64_t> ids(static_cast<std::size_t>(std::max<std::int64_t>(sensors, 0)));
    std::iota(ids.begin(), ids.end(), std::int64_t{0});
    return ids;
}

std::vector<float> forecast_flow(ModelRunner& runner, const FlowSeries& series, const std::vector<FlowWindowIndex>& index,
                                 std::int64_t batch, const std::vector<std::int64_t>& series_id) {
    if (batch < 1) fail("forecast_flow: batch must be >= 1, got ", batch);
    const std::int64_t n = series.sensors, t = kFlowWindowSteps;
    if (!series_id.empty() && static_cast<std::int64_t>(series_id.size()) != n)
        fail("forecast_flow: ", series_id.size(), " series ids for ", n, " series (one each, -1 = unknown)");
    for (std::size_t i = 0; i < series_id.size(); ++i)
        if (series_id[i] < -1) fail("forecast_flow: series id ", i, " is ", series_id[i], ", expected a sensor >= 0 or -1 (unknown)");
    // Unknown (-1) unless given; the model's own table bounds the known ids (its Gather names a bad one).
    const std::vector<std::int64_t> ids = series_id.empty() ? std::vector<std::int64_t>(static_cast<std::size_t>(n), -1) : series_id;
    const bool reads_ids = flow_model_reads_series_id(runner);
    for (std::size_t w = 0; w < index.size(); ++w)
        if (index[w].y_start - index[w].x_start != t || index[w].y_end - index[w].y_start != t)
            fail("forecast_flow: window ", w, " (steps ", index[w].x_start, "..", index[w].y_end, ") is not ", t, " in / ", t, " out");
    std::vector<float> predicted;
    predicted.reserve(index.size() * static_cast<std::size_t>(t * n));
    std::vector<float> flow, time_of_day_fraction;
    std::vector<std::int64_t> weekday;
    std::vector<HostTensor> outputs;
    for (std::size_t first = 0; first < index.size(); first += static_cast<std::size_t>(batch)) {
        const std::size_t count = std::min(index.size() - first, static_cast<std::size_t>(batch));
        const auto b = static_cast<std::int64_t>(count);
        flow.resize(count * static_cast<std::size_t>(t * n));
        time_of_day_fraction.resize(count * static_cast<std::size_t>(t));
        weekday.resize(time_of_day_fraction.size());
        for (std::size_t w = 0; w < count; ++w)
            for (std::int64_t s = 0; s < t; ++s) {
                const std::int64_t step = index[first + w].x_start + s;
                const std::size_t at = w * static_cast<std::size_t>(t) + static_cast<std::size_t>(s);
                std::memcpy(flow.data() + at * static_cast<std::size_t>(n), series.row(step), static_cast<std::size_t>(n) * sizeof(float));
                time_of_day_fraction[at] = static_cast<float>(time_of_day(step)) / static_cast<float>(kStepsPerDay);
                weekday[at] = day_of_week(step);
            }
        std::vector<std::pair<std::string, TensorView>> inputs = {
            {"flow", {DataType::f32, {b, t, n}, flow.data()}},
            {"time_of_day", {DataType::f32, {b, t}, time_of_day_fraction.data()}},
            {"day_of_week", {DataType::s64, {b, t}, weekday.data()}}};
        if (reads_ids) inputs.push_back({"series_id", {DataType::s64, {n}, ids.data()}});
        runner.run(inputs, outputs);
        if (outputs.empty() || outputs[0].shape != Shape{b, t, n})
            fail("forecast_flow: model output must be forecast [", b, ", ", t, ", ", n, "], got ",
                 outputs.empty() ? std::string("nothing") : std::to_string(outputs[0].shape.size()) + " dims");
        const std::vector<float> out = outputs[0].to_f32();
        predicted.insert(predicted.end(), out.begin(), out.end());
    }
    return predicted;
}

}  // namespace xmodal
