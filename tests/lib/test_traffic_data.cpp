// Traffic-flow data (PEMS08 series, split index, windows), the .npz reader, masked metrics and the
// naive baselines. The baselines must reproduce shared/data/MANIFEST.md §5 to its printed precision;
// the windows must equal the staged DCRNN-style test.npz. Tests on staged data skip without ../shared.
#include <gtest/gtest.h>

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

#include "support/error_of.hpp"
#include "xmodal/flow_metrics.hpp"
#include "xmodal/npy.hpp"
#include "xmodal/shared_paths.hpp"
#include "xmodal/traffic_data.hpp"

namespace {

using namespace xmodal;
using xmodal::testing::error_of;

std::string pems08(const std::string& name) { return shared_dir() + "/data/PEMS08/" + name; }
bool have_pems08() {
    return std::filesystem::exists(pems08("PEMS08_flow_t10700-17855.npy")) && std::filesystem::exists(pems08("staeformer_index.npz"));
}

std::string temp_path(const std::string& name) { return (std::filesystem::temp_directory_path() / ("xmodal_test_flow_" + name)).string(); }

std::string file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

void put_le(std::string& out, std::uint64_t v, int size) {
    for (int i = 0; i < size; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

// A minimal zip (what np.savez writes, without compression) of name → member bytes.
std::string make_zip(const std::map<std::string, std::string>& members) {
    std::string zip, directory;
    for (const auto& [name, data] : members) {
        const auto crc = crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size()));
        const std::size_t local = zip.size();
        put_le(zip, 0x04034b50, 4), put_le(zip, 20, 2), put_le(zip, 0, 2), put_le(zip, 0, 2), put_le(zip, 0, 4);
        put_le(zip, crc, 4), put_le(zip, data.size(), 4), put_le(zip, data.size(), 4), put_le(zip, name.size(), 2), put_le(zip, 0, 2);
        zip += name + data;
        put_le(directory, 0x02014b50, 4), put_le(directory, 20, 2), put_le(directory, 20, 2), put_le(directory, 0, 2);
        put_le(directory, 0, 2), put_le(directory, 0, 4), put_le(directory, crc, 4), put_le(directory, data.size(), 4);
        put_le(directory, data.size(), 4), put_le(directory, name.size(), 2), put_le(directory, 0, 2), put_le(directory, 0, 2);
        put_le(directory, 0, 2), put_le(directory, 0, 2), put_le(directory, 0, 4), put_le(directory, local, 4);
        directory += name;
    }
    const std::size_t directory_at = zip.size();
    zip += directory;
    put_le(zip, 0x06054b50, 4), put_le(zip, 0, 4), put_le(zip, members.size(), 2), put_le(zip, members.size(), 2);
    put_le(zip, directory.size(), 4), put_le(zip, directory_at, 4), put_le(zip, 0, 2);
    return zip;
}

std::string npy_bytes(const HostTensor& t) {
    const std::string path = temp_path("member.npy");
    save_npy(path, t);
    std::string bytes = file_bytes(path);
    std::filesystem::remove(path);
    return bytes;
}

HostTensor int64_rows(const std::vector<std::int64_t>& values) {
    HostTensor t;
    t.dtype = DataType::s64;
    t.shape = {static_cast<std::int64_t>(values.size() / 3), 3};
    t.bytes.resize(values.size() * 8);
    std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
    return t;
}

TEST(Npz, ReadsStoredMembersAndNamesWhatIsWrong) {
    const std::string path = temp_path("split.npz");
    const HostTensor rows = int64_rows({0, 2, 3, 1, 3, 4});
    write_bytes(path, make_zip({{"train.npy", npy_bytes(rows)}, {"val.npy", npy_bytes(int64_rows({4, 6, 7}))},
                                {"test.npy", npy_bytes(int64_rows({5, 7, 8}))}}));
    auto arrays = load_npz(path);
    ASSERT_EQ(arrays.size(), 3u);
    EXPECT_EQ(arrays.at("train").shape, (Shape{2, 3}));
    EXPECT_EQ(arrays.at("train").bytes, rows.bytes);
    const FlowSplit split = load_flow_split(path);
    ASSERT_EQ(split.train.size(), 2u);
    EXPECT_EQ(split.train[1].x_start, 1);
    EXPECT_EQ(split.train[1].y_start, 3);
    EXPECT_EQ(split.train[1].y_end, 4);
    EXPECT_EQ(split.test[0].y_end, 8);

    std::string bytes = file_bytes(path);
    std::string corrupt = bytes;
    corrupt[40 + 20] ^= 1;  // inside the first member's data (after the 30-byte header and its name)
    write_bytes(path, corrupt);
    EXPECT_EQ(error_of([&] { load_npz(path); }), path + ": test.npy: CRC mismatch (corrupt file)");
    write_bytes(path, bytes.substr(0, bytes.size() - 30));
    EXPECT_EQ(error_of([&] { load_npz(path); }), path + ": not an .npz file (no zip end-of-central-directory record)");
    write_bytes(path, make_zip({{"notes.txt", "hello"}}));
    EXPECT_EQ(error_of([&] { load_npz(path); }), path + ": member 'notes.txt' is not an .npy array");
    write_bytes(path, make_zip({{"train.npy", npy_bytes(rows)}}));
    EXPECT_EQ(error_of([&] { load_flow_split(path); }), path + ": no 'val' array (expected train, val, test)");
    write_bytes(path, make_zip({{"train.npy", npy_bytes(int64_rows({0, 2, 2}))}, {"val.npy", npy_bytes(rows)}, {"test.npy", npy_bytes(rows)}}));
    EXPECT_EQ(error_of([&] { load_flow_split(path); }),
              path + ": 'train' row 0 is (0, 2, 2), expected 0 <= x_start < y_start < y_end");
    write_bytes(path, make_zip({{"train.npy", npy_bytes(HostTensor::from_f32({1, 3}, {0, 1, 2}))}, {"val.npy", npy_bytes(rows)},
                                {"test.npy", npy_bytes(rows)}}));
    EXPECT_EQ(error_of([&] { load_flow_split(path); }),
              path + ": 'train' must be (N, 3) int64 rows (x_start, y_start, y_end), got f32 [1,3]");
    std::filesystem::remove(path);
}

// A 30-step, 2-sensor series starting at absolute step 100: sensor 0 counts the step, sensor 1 is 0
// on even steps.
FlowSeries tiny_series() {
    FlowSeries s{100, 30, 2, {}};
    for (std::int64_t t = 100; t < 130; ++t) s.values.insert(s.values.end(), {static_cast<float>(t), t % 2 ? 7.0f : 0.0f});
    return s;
}

TEST(TrafficData, FlowSeriesFileErrorsNameTheFile) {
    const std::string path = temp_path("series.npy");
    save_npy(path, HostTensor::from_f32({2, 2, 1}, {1, 2, 3, 4}));
    EXPECT_EQ(error_of([&] { load_flow_series(path, 0); }), path + ": expected a (steps, sensors) flow array, got shape [2,2,1]");
    save_npy(path, HostTensor::from_f32({2, 2}, {1, 2, NAN, 4}));
    EXPECT_EQ(error_of([&] { load_flow_series(path, 50); }), path + ": step 51 sensor 0 has flow nan, expected a count >= 0");
    save_npy(path, HostTensor::from_f32({2, 2}, {1, 2, 3, 4}));
    const FlowSeries s = load_flow_series(path, 50);
    EXPECT_EQ(s.first_step, 50);
    EXPECT_EQ(s.end_step(), 52);
    EXPECT_EQ(s.row(51)[1], 4.0f);
    EXPECT_EQ(error_of([&] { s.row(52); }), "flow series: step 52 is outside the loaded steps 50…51");
    write_bytes(path, "not numpy");
    EXPECT_EQ(error_of([&] { load_flow_series(path, 0); }), path + ": not a .npy file (no \\x93NUMPY magic)");
    std::filesystem::remove(path);
    EXPECT_EQ(error_of([&] { load_flow_series(path, 0); }), path + ": cannot open");
}

TEST(TrafficData, WindowsAndTrainingRange) {
    const FlowSeries s = tiny_series();
    const auto index = windows_between(100, 130, 3, 2);
    ASSERT_EQ(index.size(), 26u);  // x_start 100…125
    EXPECT_EQ(index.back().y_end, 130);
    const FlowWindows w = make_windows(s, {index[0], index[5]});
    EXPECT_EQ(w.count, 2);
    EXPECT_EQ(w.in_steps, 3);
    EXPECT_EQ(w.out_steps, 2);
    // Window 1 starts at step 105: x = steps 105,106,107, y = 108,109; [window][step][sensor].
    EXPECT_EQ(w.x[6 + 0], 105.0f);
    EXPECT_EQ(w.x[6 + 5], 7.0f);  // step 107, sensor 1
    EXPECT_EQ(w.y[4 + 2], 109.0f);
    EXPECT_EQ(error_of([&] { make_windows(s, {{120, 123, 131}}); }), "make_windows: window 0 needs steps 120…130, the series has 100…129");
    EXPECT_EQ(error_of([&] { make_windows(s, {{100, 103, 105}, {101, 103, 105}}); }),
              "make_windows: window 1 (101, 103, 105) is not 3 in / 2 out like window 0");
    // Training windows end before the first step a test window reads.
    const std::vector<FlowWindowIndex> test = {{120, 123, 125}, {118, 121, 123}};
    EXPECT_EQ(first_test_step(test), 118);
    const auto train = windows_between(s.first_step, first_test_step(test), 3, 2);
    ASSERT_FALSE(train.empty());
    EXPECT_EQ(train.back().y_end, 118);
}

TEST(TrafficData, CalendarFromJuly1st2016AFriday) {
    EXPECT_EQ(time_of_day(0), 0);
    EXPECT_EQ(time_of_day(287), 287);
    EXPECT_EQ(time_of_day(288 * 5 + 12), 12);
    EXPECT_EQ(day_of_week(0), 4);        // Friday 2016-07-01
    EXPECT_EQ(day_of_week(288 * 3), 0);  // Monday 2016-07-04
    EXPECT_EQ(day_of_week(17855), 2);    // Wednesday 2016-08-31 23:55
    EXPECT_EQ(time_of_day(17855), 287);
    EXPECT_EQ(error_of([] { day_of_week(-1); }), "day_of_week: step -1 is before the series start");
}

TEST(FlowMetrics, HandMadeCaseMasksZeroTruths) {
    // 1 window, 2 horizons, 2 sensors. Truth [[10, 0], [20, 5]], prediction [[12, 3], [14, 5]].
    FlowWindows truth{1, 1, 2, 2, {0, 0}, {10, 0, 20, 5}};
    const FlowReport r = evaluate_flow(truth, {12, 3, 14, 5});
    ASSERT_EQ(r.horizon.size(), 2u);
    // Horizon 1: only the 10 counts (error 2): MAE 2, RMSE 2, MAPE 20 %; unmasked (2 + 3) / 2, sqrt((4 + 9) / 2).
    EXPECT_DOUBLE_EQ(r.horizon[0].mae, 2);
    EXPECT_DOUBLE_EQ(r.horizon[0].rmse, 2);
    EXPECT_DOUBLE_EQ(r.horizon[0].mape_percent, 20);
    EXPECT_DOUBLE_EQ(r.horizon[0].unmasked_mae, 2.5);
    EXPECT_DOUBLE_EQ(r.horizon[0].unmasked_rmse, std::sqrt(6.5));
    EXPECT_EQ(r.horizon[0].counted, 1);
    // Horizon 2: errors 6 and 0: MAE 3, RMSE sqrt(18), MAPE (30 % + 0) / 2.
    EXPECT_DOUBLE_EQ(r.horizon[1].mae, 3);
    EXPECT_DOUBLE_EQ(r.horizon[1].rmse, std::sqrt(18.0));
    EXPECT_DOUBLE_EQ(r.horizon[1].mape_percent, 15);
    // Average pools the 3 counted entries (errors 2, 6, 0), not the two horizon means.
    EXPECT_DOUBLE_EQ(r.average.mae, 8.0 / 3);
    EXPECT_DOUBLE_EQ(r.average.rmse, std::sqrt(40.0 / 3));
    EXPECT_DOUBLE_EQ(r.average.mape_percent, 50.0 / 3);
    EXPECT_DOUBLE_EQ(r.average.unmasked_mae, 11.0 / 4);
    EXPECT_EQ(r.average.total, 4);

    EXPECT_EQ(error_of([&] { evaluate_flow(truth, {1, 2, 3}); }),
              "evaluate_flow: 3 predictions for 1 windows × 2 steps × 2 sensors (4 expected)");
    EXPECT_EQ(error_of([&] { evaluate_flow(truth, {1, 2, NAN, 4}); }), "evaluate_flow: prediction for window 0 horizon 2 sensor 0 is nan");
    // All truths zero: masked figures are undefined, not 0.
    FlowWindows zeros{1, 1, 1, 1, {0}, {0}};
    EXPECT_TRUE(std::isnan(evaluate_flow(zeros, {3}).average.mae));
    EXPECT_DOUBLE_EQ(evaluate_flow(zeros, {3}).average.unmasked_mae, 3);
}

TEST(FlowMetrics, NaiveForecastsReadOnlyHistory) {
    const FlowSeries s = tiny_series();
    const std::vector<FlowWindowIndex> index = {{110, 113, 115}};  // x = 110,111,112; y = 113,114
    auto sensor0 = [&](NaiveForecast kind) {
        const auto p = naive_forecast(kind, s, index);
        EXPECT_EQ(p.size(), 4u);
        return std::vector<float>{p[0], p[2]};
    };
    EXPECT_EQ(sensor0(NaiveForecast::last_value), (std::vector<float>{112, 112}));
    EXPECT_EQ(sensor0(NaiveForecast::repeat_input), (std::vector<float>{110, 111}));
    EXPECT_EQ(sensor0(NaiveForecast::input_mean), (std::vector<float>{111, 111}));
    EXPECT_EQ(naive_forecast(NaiveForecast::input_mean, s, index)[1], 7.0f / 3);  // sensor 1: 0, 7, 0
    // The series starts at step 100: lag 288 reaches before it.
    EXPECT_EQ(error_of([&] { naive_forecast(NaiveForecast::previous_day, s, index); }),
              "naive_forecast previous_day: window 0 (y from step 113) needs step -175, the series has 100…129");
    FlowSeries long_series{0, 600, 1, {}};
    for (int t = 0; t < 600; ++t) long_series.values.push_back(static_cast<float>(t));
    const auto day = naive_forecast(NaiveForecast::previous_day, long_series, {{500, 512, 515}});
    EXPECT_EQ(day, (std::vector<float>{224, 225, 226}));
}

// The staged PEMS08 data, loaded once for the tests below.
class Pems08 : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (!have_pems08()) return;
        series = new FlowSeries(load_pems08_flow());
        split = new FlowSplit(load_pems08_staeformer_split());
    }
    static void TearDownTestSuite() {
        delete series;
        delete split;
    }
    void SetUp() override {
        if (!have_pems08()) GTEST_SKIP() << "needs " << pems08("");
    }
    static inline FlowSeries* series = nullptr;
    static inline FlowSplit* split = nullptr;
};

TEST_F(Pems08, SeriesAndIndexAsTheManifestDescribes) {
    EXPECT_EQ(series->first_step, 10700);
    EXPECT_EQ(series->steps, 7156);
    EXPECT_EQ(series->sensors, 170);
    double sum = 0;
    std::int64_t zeros = 0;
    float top = 0;
    for (float v : series->values) sum += v, zeros += v == 0, top = std::max(top, v);
    EXPECT_EQ(zeros, 4361);
    EXPECT_EQ(top, 1147.0f);
    EXPECT_NEAR(sum / static_cast<double>(series->values.size()), 231.90, 0.005);

    ASSERT_EQ(split->train.size(), 10700u);
    ASSERT_EQ(split->val.size(), 3567u);
    ASSERT_EQ(split->test.size(), 3566u);
    EXPECT_EQ(split->val[0].x_start, 10700);
    EXPECT_EQ(split->test[0].x_start, 14267);
    EXPECT_EQ(split->test[0].y_start, 14279);
    EXPECT_EQ(split->test.back().y_end, 17856);
    // Training and selection get steps 10700…14266: 3544 windows, none touching a test step.
    const std::int64_t end = first_test_step(split->test);
    EXPECT_EQ(end, 14267);
    const auto train = windows_between(series->first_step, end, kFlowWindowSteps, kFlowWindowSteps);
    EXPECT_EQ(train.size(), 3544u);
    EXPECT_LE(train.back().y_end, split->test[0].x_start);
}

TEST_F(Pems08, WindowsEqualTheStagedDcrnnTestWindows) {
    const std::string path = pems08("windows_622_dcrnn_style/test.npz");
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "needs " << path;
    const auto staged = load_npz(path);  // deflated members: exercises the zlib path
    const HostTensor& x = staged.at("x");
    const HostTensor& y = staged.at("y");
    ASSERT_EQ(x.shape, (Shape{3567, 12, 170, 1}));
    ASSERT_EQ(y.shape, (Shape{3567, 12, 170, 1}));
    EXPECT_EQ(staged.at("x_offsets").to_f32().front(), -11.0f);
    // Test origin t = 14277 + i: x = t-11…t, y = t+1…t+12.
    const FlowWindows ours = make_windows(*series, windows_between(14266, 17856, 12, 12));
    ASSERT_EQ(ours.count, 3567);
    EXPECT_EQ(ours.x, x.to_f32());
    EXPECT_EQ(ours.y, y.to_f32());
}

struct ManifestRow {
    NaiveForecast kind;
    double mae, rmse, mape, unmasked_mae, unmasked_rmse;
};

// Printed to 3 decimals (MAPE to 2): ours must round to the same figures.
void expect_manifest(const FlowReport& r, const ManifestRow& m, bool unmasked) {
    SCOPED_TRACE(std::string(naive_forecast_name(m.kind)));
    EXPECT_NEAR(r.average.mae, m.mae, 0.0005);
    EXPECT_NEAR(r.average.rmse, m.rmse, 0.0005);
    EXPECT_NEAR(r.average.mape_percent, m.mape, 0.005);
    if (!unmasked) return;
    EXPECT_NEAR(r.average.unmasked_mae, m.unmasked_mae, 0.0005);
    EXPECT_NEAR(r.average.unmasked_rmse, m.unmasked_rmse, 0.0005);
}

TEST_F(Pems08, BaselinesReproduceManifestOnStaeformerTest) {
    const ManifestRow rows[] = {{NaiveForecast::last_value, 25.281, 38.637, 15.62, 0, 0},
                                {NaiveForecast::repeat_input, 34.661, 50.452, 21.63, 0, 0},
                                {NaiveForecast::input_mean, 32.000, 47.444, 20.29, 0, 0},
                                {NaiveForecast::previous_day, 36.548, 60.752, 24.56, 0, 0},
                                {NaiveForecast::previous_week, 22.008, 44.363, 14.79, 0, 0}};
    const FlowWindows truth = make_windows(*series, split->test);
    for (const ManifestRow& m : rows) expect_manifest(evaluate_flow(truth, naive_forecast(m.kind, *series, split->test)), m, false);
}

TEST_F(Pems08, BaselinesReproduceManifestOnDcrnnTest) {
    const ManifestRow rows[] = {{NaiveForecast::last_value, 25.279, 38.634, 15.62, 25.219, 38.653},
                                {NaiveForecast::repeat_input, 34.658, 50.448, 21.63, 34.569, 50.426},
                                {NaiveForecast::input_mean, 31.997, 47.440, 20.28, 31.916, 47.421},
                                {NaiveForecast::previous_day, 36.546, 60.749, 24.56, 36.458, 60.718},
                                {NaiveForecast::previous_week, 22.010, 44.368, 14.79, 21.968, 44.375}};
    const auto index = windows_between(14266, 17856, 12, 12);
    const FlowWindows truth = make_windows(*series, index);
    for (const ManifestRow& m : rows) expect_manifest(evaluate_flow(truth, naive_forecast(m.kind, *series, index)), m, true);
}

}  // namespace
