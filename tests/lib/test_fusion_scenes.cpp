// Scene files, the fusion training dataset (FUSION.md §6) and the attribution evaluation (§5) on
// hand-written scenes and hand-made audio windows; the .npz writer.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "xmodal/error.hpp"
#include "xmodal/fusion_scenes.hpp"
#include "xmodal/npy.hpp"

namespace xmodal {
namespace {

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

class SceneFiles : public ::testing::Test {
protected:
    std::filesystem::path dir = std::filesystem::temp_directory_path() / ("xmodal_scenes_" + std::to_string(::getpid()));
    void SetUp() override { std::filesystem::create_directories(dir); }
    void TearDown() override { std::filesystem::remove_all(dir); }
    std::string write(const std::string& name, const std::string& text) {
        auto path = (dir / name).string();
        std::ofstream(path) << text;
        return path;
    }
};

// Boxes every 0.25 s over [from, to] as JSON rows, constant box.
std::string boxes_json(double from, double to, double x = 0.1, double size = 0.1) {
    std::ostringstream rows;
    rows << std::fixed << '[';
    for (double t = from; t <= to + 1e-9; t += 0.25)
        rows << (t > from ? "," : "") << '[' << t << ',' << x << ",0.2," << size << ',' << size << ']';
    rows << ']';
    return rows.str();
}

// A 5 s scene: a car (7) all along, a person (3) until 2.5 s; a siren from the car 0.6-3.5 s,
// speech from the person 3-5 s (after it left the frame), an off-screen horn 4.2-4.5 s.
std::string scene_json(const std::string& id = "test-00001", const std::string& split = "test") {
    return R"({"schema": "xmodal-scene-1", "id": ")" + id + R"(", "split": ")" + split + R"(", "audio": ")" + id +
           R"(.wav", "duration": 5.0,
      "video": {"clip": "traffic_street_fixedcam.mp4", "offset": 3.2, "width": 640, "height": 360},
      "tracks": [{"id": 7, "label": "car", "synthetic": false, "boxes": )" + boxes_json(0, 5, 0.5, 0.2) + R"(},
                 {"id": 3, "label": "person", "synthetic": true, "boxes": )" + boxes_json(0, 2.5) + R"(}],
      "events": [{"group": "siren", "sound": "siren_ambulance_4s.wav", "sound_offset": 0.0, "start": 0.6, "end": 3.5, "source": 7},
                 {"group": "speech", "sound": "x.wav", "sound_offset": 0.0, "start": 3.0, "end": 5.0, "source": 3},
                 {"group": "horn", "sound": "y.wav", "sound_offset": 0.0, "start": 4.2, "end": 4.5, "source": -1}],
      "background": {"sound": "street_scene_traffic_45s.wav", "offset": 12.0, "snr_db": 6.0}})";
}

// 1 s windows starting every 0.5 s over [0, 5], 2-value embeddings.
std::vector<AudioToken> hand_windows() {
    std::vector<AudioToken> windows;
    for (int k = 0; k <= 8; ++k) {
        AudioToken w;
        w.start = 0.5 * k;
        w.end = w.start + 1.0;
        w.scores.assign(521, 0.f);
        w.embedding = {static_cast<float>(k), 1.f};
        w.loudness_dbfs = -30.f + static_cast<float>(k);
        windows.push_back(w);
    }
    return windows;
}

FusionConfig small_config() {
    FusionConfig c;
    c.embedding_dim = 2;
    return c;
}

TEST_F(SceneFiles, LoadsAndNamesWhatIsWrong) {
    auto path = write("test-00001.json", scene_json());
    FusionScene s = load_scene(path);
    EXPECT_EQ(s.id, "test-00001");
    EXPECT_EQ(s.split, "test");
    EXPECT_EQ(s.audio, (dir / "test-00001.wav").string());
    EXPECT_DOUBLE_EQ(s.duration, 5.0);
    EXPECT_EQ(s.width, 640);
    ASSERT_EQ(s.tracks.size(), 2u);
    EXPECT_EQ(s.tracks[0].id, 7);
    EXPECT_EQ(s.tracks[0].boxes.size(), 21u);
    EXPECT_FLOAT_EQ(s.tracks[0].boxes[4].x, 0.5f);
    EXPECT_DOUBLE_EQ(s.tracks[0].boxes[4].t, 1.0);
    ASSERT_EQ(s.events.size(), 3u);
    EXPECT_EQ(s.events[1].group, "speech");
    EXPECT_EQ(s.events[2].source, -1);
    write("a-00000.json", scene_json("a-00000", "train"));
    EXPECT_EQ(find_scenes(dir.string()), (std::vector<std::string>{(dir / "a-00000.json").string(), path}));

    auto broken = [&](const std::string& from, const std::string& to) {
        std::string text = scene_json();
        auto at = text.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        text.replace(at, from.size(), to);
        auto p = write("broken.json", text);
        return error_of([&] { load_scene(p); });
    };
    EXPECT_NE(broken("xmodal-scene-1", "xmodal-scene-0").find("broken.json: schema is 'xmodal-scene-0', expected 'xmodal-scene-1'"),
              std::string::npos);
    EXPECT_NE(broken("\"source\": 7", "\"source\": 8").find("events[0]: source 8 is neither -1"), std::string::npos);
    EXPECT_NE(broken("\"end\": 3.5", "\"end\": 0.5").find("events[0]: ends at 0.5 s, not after its start 0.6 s"), std::string::npos);
    EXPECT_NE(broken("\"id\": 3", "\"id\": 7").find("tracks[1]: track id 7 appears twice"), std::string::npos);
    EXPECT_NE(broken("[0.250000,", "[0.0,").find("tracks[0].boxes[1] at 0 s is not after the previous box"), std::string::npos)
        << broken("[0.250000,", "[0.0,");
    EXPECT_NE(broken("\"duration\": 5.0", "\"duration\": \"5\"").find("'duration' is \"5\", expected a number"), std::string::npos);
    EXPECT_NE(broken("\"label\": \"car\",", "").find("tracks[0]: 'label' is missing"), std::string::npos);
    std::filesystem::remove_all(dir / "none");
    std::filesystem::create_directories(dir / "none");
    EXPECT_NE(error_of([&] { find_scenes((dir / "none").string()); }).find("no scene files"), std::string::npos);
}

TEST(FusionScenes, WindowsBelongToTheEventCoveringHalfOfThem) {
    FusionScene s;
    s.events = {{"siren", 1.4, 3.0, 7}, {"horn", 0.0, 1.45, -1}};
    AudioToken w;
    w.start = 1.0;
    w.end = 2.0;
    EXPECT_EQ(event_of_window(s, w), 0);  // 0.6 of the window vs 0.45
    s.events[0].start = 1.6;
    EXPECT_EQ(event_of_window(s, w), -1);  // 0.4 and 0.45: neither half
    s.events[1].end = 1.5;
    EXPECT_EQ(event_of_window(s, w), 1);
    FusionScene five;
    five.duration = 5.0;
    EXPECT_EQ(query_times(FusionConfig{}, five, 0.5), (std::vector<double>{2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0}));
    five.duration = 1.0;
    EXPECT_TRUE(query_times(FusionConfig{}, five, 0.5).empty());
}

TEST_F(SceneFiles, DatasetTargetsByHand) {
    const FusionScene scene = load_scene(write("s.json", scene_json()));
    const FusionConfig c = small_config();
    std::vector<FusionScene> scenes = {scene};
    std::vector<std::vector<AudioToken>> audio = {hand_windows()};
    auto data = fusion_dataset(c, scenes, audio, 1.0);  // queries at 2, 3, 4, 5 s
    const std::int64_t Q = 4, La = 8, No = 2, Fa = c.audio_features(), Fo = c.object_features();
    EXPECT_EQ(data.size(), 11u);
    EXPECT_EQ(data["audio"].shape, (Shape{Q, La, Fa}));
    EXPECT_EQ(data["objects"].shape, (Shape{Q, No, Fo}));
    EXPECT_EQ(data["emit_target"].shape, (Shape{Q, No, 4}));
    EXPECT_EQ(data["attr_target"].dtype, DataType::s64);
    EXPECT_EQ(data["audio_mask"].dtype, DataType::u8);
    auto i64 = [&](const char* name) {
        const auto& t = data[name];
        return std::vector<std::int64_t>(reinterpret_cast<const std::int64_t*>(t.bytes.data()),
                                         reinterpret_cast<const std::int64_t*>(t.bytes.data()) + t.numel());
    };
    auto u8 = [&](const char* name) { return std::vector<int>(data[name].bytes.begin(), data[name].bytes.end()); };
    EXPECT_EQ(data["time"].to_f32(), (std::vector<float>{2, 3, 4, 5}));
    EXPECT_EQ(i64("scene"), (std::vector<std::int64_t>(4, 0)));
    EXPECT_EQ(i64("split"), (std::vector<std::int64_t>(4, 2)));
    // Tokens per query: centres in (t − 4, t]: 4, 6, 8, 7. Objects: both at 2 s, the car after.
    EXPECT_EQ(u8("audio_mask"), (std::vector<int>{1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0,  //
                                                  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0}));
    EXPECT_EQ(u8("object_mask"), (std::vector<int>{1, 1, 1, 0, 1, 0, 1, 0}));
    EXPECT_EQ(i64("object_track"), (std::vector<std::int64_t>{3, 7, 7, -1, 7, -1, 7, -1}));
    // t = 2: window [0, 1] is 0.4 in the siren (no event), the rest are the siren's, source the
    // car in row 1. t = 4: windows from 3 s on are mostly speech, whose person has left: off-screen.
    // t = 5: the horn (0.3 s) never covers half a window; the last window is speech.
    EXPECT_EQ(i64("attr_target"), (std::vector<std::int64_t>{-2, 1, 1, 1, -2, -2, -2, -2,  //
                                                             -2, 0, 0, 0, 0, 0, -2, -2,    //
                                                             -2, 0, 0, 0, 0, 0, -1, -1,    //
                                                             0, 0, 0, 0, -1, -1, -1, -2}));
    EXPECT_EQ(i64("event_id"), (std::vector<std::int64_t>{-1, 0, 0, 0, -1, -1, -1, -1,  //
                                                          -1, 0, 0, 0, 0, 0, -1, -1,    //
                                                          -1, 0, 0, 0, 0, 0, 1, 1,      //
                                                          0, 0, 0, 0, 1, 1, 1, -1}));
    // Emission: the car emits the siren in every window ([t − 4, t] overlaps 0.6-3.5 s); the
    // person's speech starts after it left.
    std::vector<float> emit(static_cast<std::size_t>(Q * No * 4), 0.f);
    emit[1 * 4 + 0] = emit[(1 * No + 0) * 4] = emit[(2 * No + 0) * 4] = emit[(3 * No + 0) * 4] = 1.f;
    EXPECT_EQ(data["emit_target"].to_f32(), emit);
    // Features are the builders' (query 1 = t 3 s, its third token is window 2).
    FusionInputs in;
    build_fusion_inputs(c, audio[0], scene.tracks, 3.0, in);
    auto audio_values = data["audio"].to_f32();
    EXPECT_EQ(std::vector<float>(audio_values.begin() + (1 * La + 2) * Fa, audio_values.begin() + (1 * La + 3) * Fa),
              std::vector<float>(in.audio.begin() + 2 * Fa, in.audio.begin() + 3 * Fa));
    auto object_values = data["objects"].to_f32();
    EXPECT_EQ(std::vector<float>(object_values.begin() + (1 * No) * Fo, object_values.begin() + (1 * No + 1) * Fo), in.object);

    // Written as .npz and read back.
    const auto path = (dir / "dataset.npz").string();
    save_npz(path, data);
    auto back = load_npz(path);
    ASSERT_EQ(back.size(), data.size());
    for (const auto& [name, t] : data) {
        EXPECT_EQ(back[name].shape, t.shape) << name;
        EXPECT_EQ(back[name].dtype, t.dtype) << name;
        EXPECT_EQ(back[name].bytes, t.bytes) << name;
    }
    EXPECT_NE(error_of([&] { fusion_dataset(c, scenes, {}, 1.0); }).find("1 scenes but audio for 0"), std::string::npos);
    scenes[0].events[0].group = "bark";
    EXPECT_NE(error_of([&] { fusion_dataset(c, scenes, audio, 1.0); }).find("event group 'bark' is not one of the model's"),
              std::string::npos);
}

// Inputs with chosen objects for the baselines: areas, classes, size curves over M = 4 points.
FusionInputs baseline_inputs(const std::vector<std::vector<float>>& size_curves, const std::vector<float>& areas,
                             const std::vector<int>& classes) {
    FusionInputs in;
    in.objects = static_cast<std::int64_t>(areas.size());
    in.loudness_curve = {0, 1, 2, 3};
    for (std::size_t k = 0; k < areas.size(); ++k) {
        in.track_ids.push_back(static_cast<std::int64_t>(10 + k));
        in.object_area.push_back(areas[k]);
        in.object_class.push_back(classes[k]);
        in.size_curve.insert(in.size_curve.end(), size_curves[k].begin(), size_curves[k].end());
        for (float v : size_curves[k]) in.presence.push_back(std::isnan(v) ? 0 : 1);
    }
    for (auto& v : in.size_curve)
        if (std::isnan(v)) v = 0;
    return in;
}

TEST(FusionBaselines, LargestClassPriorAndCorrelation) {
    const FusionConfig c;  // person 0, car 2, bus 4; siren 0, speech 3
    const float gap = std::nanf("");
    auto in = baseline_inputs({{0, 1, 2, 3}, {3, 2, 1, 0}, {gap, gap, 0, 1}}, {0.01f, 0.04f, 0.02f}, {2, 4, 0});
    EXPECT_EQ(largest_object(in), 11);
    EXPECT_EQ(class_prior(c, in, 0), 11);  // siren: the largest vehicle
    EXPECT_EQ(class_prior(c, in, 3), 12);  // speech: the only person
    EXPECT_NEAR(size_loudness_correlation(in, 0), 1.0, 1e-12);
    EXPECT_NEAR(size_loudness_correlation(in, 1), -1.0, 1e-12);
    EXPECT_EQ(size_loudness_correlation(in, 2), -1.0);  // two points only
    auto best = best_correlated_object(in);
    EXPECT_EQ(best.track, 10);
    EXPECT_NEAR(best.correlation, 1.0, 1e-12);
    auto people_only = baseline_inputs({{0, 1, 2, 3}}, {0.01f}, {0});
    EXPECT_EQ(class_prior(c, people_only, 0), -1);
    FusionInputs empty;
    EXPECT_EQ(largest_object(empty), -1);
    EXPECT_EQ(best_correlated_object(empty).track, -1);

    // Threshold: correlations 1 (source visible), 0.447 (off-screen), 0.8 (visible): the best
    // threshold lies between 0.447 and 0.8, where all three are right.
    std::vector<AttributionCase> cases(3);
    cases[0].inputs = baseline_inputs({{0, 1, 2, 3}}, {0.01f}, {2});
    cases[0].expected = 10;
    cases[1].inputs = baseline_inputs({{0, 1, 0, 1}}, {0.01f}, {2});
    cases[1].expected = -1;
    cases[2].inputs = baseline_inputs({{0, 2, 1, 3}}, {0.01f}, {2});
    cases[2].expected = 10;
    EXPECT_NEAR(size_loudness_correlation(cases[1].inputs, 0), 0.4472136, 1e-6);
    EXPECT_NEAR(size_loudness_correlation(cases[2].inputs, 0), 0.8, 1e-6);
    const double threshold = choose_correlation_threshold(cases);
    EXPECT_NEAR(threshold, 0.5 * (0.4472136 + 0.8), 1e-6);
    auto scores = evaluate_attribution(c, cases, nullptr, threshold);
    ASSERT_EQ(scores.size(), 3u);
    EXPECT_EQ(scores[0].method, "largest");
    EXPECT_EQ(scores[0].correct, 2);
    EXPECT_EQ(scores[1].method, "loudness-correlation");
    EXPECT_EQ(scores[1].correct, 3);
    EXPECT_EQ(scores[2].method, "class-prior");  // group 0 (siren), cars: like largest
    EXPECT_EQ(scores[2].correct, 2);
    EXPECT_EQ(scores[2].group_events, (std::vector<std::int64_t>{3, 0, 0, 0}));
    EXPECT_EQ(evaluate_attribution(c, cases, nullptr, 0.9)[1].correct, 2);
}

TEST_F(SceneFiles, EvaluationCasesAndAModelThatAttendsUniformly) {
    const FusionScene scene = load_scene(write("s.json", scene_json()));
    const FusionConfig c = small_config();
    const auto windows = hand_windows();
    auto cases = attribution_cases(c, scene, 4, windows);
    ASSERT_EQ(cases.size(), 3u);
    // Siren queried at 3.5 s: the car is the source, windows from 0.5 s (row 1) to [2.5, 3.5].
    EXPECT_EQ(cases[0].scene, 4u);
    EXPECT_EQ(cases[0].group, 0);
    EXPECT_EQ(cases[0].expected, 7);
    EXPECT_DOUBLE_EQ(cases[0].query, 3.5);
    EXPECT_DOUBLE_EQ(cases[0].inputs.time, 3.5);
    EXPECT_EQ(cases[0].rows, (std::vector<std::int64_t>{1, 2, 3, 4, 5}));
    // The query waits for the event's last window: a siren that ends at 3.3 s still owns [2.5, 3.5]
    // (0.8 of it), so it is asked at 3.5 s with the same windows.
    FusionScene earlier = scene;
    earlier.events[0].end = 3.3;
    const auto late = attribution_cases(c, earlier, 4, windows);
    EXPECT_DOUBLE_EQ(late[0].query, 3.5);
    EXPECT_DOUBLE_EQ(late[0].inputs.time, 3.5);
    EXPECT_EQ(late[0].rows, (std::vector<std::int64_t>{1, 2, 3, 4, 5}));
    // Speech queried at 5 s: its person left the frame, so off-screen is right.
    EXPECT_DOUBLE_EQ(cases[1].query, 5.0);
    EXPECT_EQ(cases[1].expected, -1);
    EXPECT_EQ(cases[1].group, 3);
    // The horn (0.3 s, queried at 4.5 s: windows from [0.5, 1.5] on) covers no half window: it
    // takes the window it overlaps most ([3.5, 4.5] and [4, 5] tie at 0.3; the first, row 6, wins).
    EXPECT_EQ(cases[2].expected, -1);
    EXPECT_EQ(cases[2].rows, (std::vector<std::int64_t>{6}));

    // With zero query projections every key gets the same weight, so the model's answer is the
    // first slot: the first object by id, or off-screen when there is none.
    auto weights = FusionModel::random_weights(c, 11);
    for (const char* name : {"attribute.q_proj.weight", "attribute.q_proj.bias"}) {
        auto& t = weights.tensors[name];
        t = HostTensor::from_f32(t.shape, std::vector<float>(static_cast<std::size_t>(t.numel()), 0.f));
    }
    FusionModel model(c, weights);
    auto scores = evaluate_attribution(c, cases, &model, kDefaultCorrelationThreshold);
    ASSERT_EQ(scores.size(), 4u);
    EXPECT_EQ(scores[0].method, "model");
    EXPECT_EQ(scores[0].events, 3);
    EXPECT_EQ(scores[0].correct, 1);  // the siren (car, the only object); speech and horn get the car too
    EXPECT_EQ(scores[0].group_correct, (std::vector<std::int64_t>{1, 0, 0, 0}));
    EXPECT_EQ(scores[0].group_events, (std::vector<std::int64_t>{1, 1, 0, 1}));
    EXPECT_EQ(scores[0].answers, (std::vector<std::int64_t>{7, 7, 7}));
    ASSERT_EQ(scores[0].offscreen.size(), 3u);
    for (float p : scores[0].offscreen) EXPECT_NEAR(p, 0.5f, 1e-5f);  // two keys (the car, off-screen), equal weights
    EXPECT_TRUE(scores[1].offscreen.empty());
    EXPECT_EQ(scores[1].correct, 1);  // largest: the car, always
    EXPECT_EQ(scores[3].correct, 2);  // class-prior: the car for the siren (right) and the horn (wrong), off-screen for speech (right)
}

// ---- xmodal-eval fusion / fusion-dataset end to end --------------------------------------------

#ifdef XMODAL_EVAL_BINARY
void write_wav(const std::string& path, const std::vector<float>& samples) {
    std::ofstream out(path, std::ios::binary);
    auto le = [&](std::uint32_t v, int bytes) {
        for (int i = 0; i < bytes; ++i) out.put(static_cast<char>((v >> (8 * i)) & 0xff));
    };
    const auto data = static_cast<std::uint32_t>(samples.size() * 2);
    out << "RIFF";
    le(36 + data, 4);
    out << "WAVEfmt ";
    le(16, 4);
    le(1, 2);  // PCM
    le(1, 2);  // mono
    le(16000, 4);
    le(32000, 4);
    le(2, 2);
    le(16, 2);
    out << "data";
    le(data, 4);
    for (float s : samples) le(static_cast<std::uint32_t>(static_cast<std::int16_t>(std::lround(std::clamp(s, -1.f, 1.f) * 32767))), 2);
}

// 5 s: low noise, a wailing tone 0.6-3.5 s (the siren), a buzz 3-5 s (the speech), a click 4.2-4.5 s.
std::vector<float> scene_audio() {
    std::vector<float> s(80000);
    std::uint32_t noise = 1;
    double phase = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const double t = static_cast<double>(i) / 16000;
        noise = noise * 1664525u + 1013904223u;
        double v = 0.01 * (static_cast<double>(noise >> 8) / (1 << 24) - 0.5);
        phase += 2 * M_PI * (1100 + 450 * std::sin(2 * M_PI * 0.5 * t)) / 16000;
        if (t >= 0.6 && t < 3.5) v += 0.3 * std::sin(phase);
        if (t >= 3.0) v += 0.1 * std::sin(2 * M_PI * 160 * t) * (std::sin(2 * M_PI * 4 * t) > 0 ? 1 : 0.2);
        if (t >= 4.2 && t < 4.5) v += 0.2 * std::sin(2 * M_PI * 420 * t);
        s[i] = static_cast<float>(v);
    }
    return s;
}

// One OpenMP thread: the models here are tiny, and on a loaded machine a second thread that is
// not scheduled makes every primitive wait (10x slower here with the load of parallel builds).
std::pair<int, std::string> run_tool(const std::string& args) {
    const std::string command = "OMP_NUM_THREADS=1 " + std::string(XMODAL_EVAL_BINARY) + " " + args + " 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    std::string out;
    char buffer[4096];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
    const int status = ::pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
    std::vector<nlohmann::json> lines;
    std::size_t at = 0;
    while (at < text.size()) {
        auto end = text.find('\n', at);
        const auto line = text.substr(at, end - at);
        if (!line.empty() && line[0] == '{') lines.push_back(nlohmann::json::parse(line));
        at = end == std::string::npos ? text.size() : end + 1;
    }
    return lines;
}

TEST_F(SceneFiles, EvalToolWithRandomWeightsOnHandWrittenScenes) {
    for (const char* file : {"models/yamnet.tflite", "models/yamnet_class_map.csv"})
        if (!std::filesystem::exists(std::string(std::getenv("XMODAL_SHARED") ? std::getenv("XMODAL_SHARED") : "") + "/" + file))
            GTEST_SKIP() << "needs " << file << " in $XMODAL_SHARED";
    std::filesystem::create_directories(dir / "test");
    std::filesystem::create_directories(dir / "train");
    const auto audio = scene_audio();
    for (const char* id : {"test-00001", "test-00002"}) {
        write("test/" + std::string(id) + ".json", scene_json(id, "test"));
        write_wav((dir / "test" / (std::string(id) + ".wav")).string(), audio);
    }
    write("train/train-00001.json", scene_json("train-00001", "train"));
    write_wav((dir / "train" / "train-00001.wav").string(), audio);
    const FusionConfig c;
    save_safetensors((dir / "fusion.safetensors").string(), FusionModel::random_weights(c, 5));
    write("fusion.json", R"({"schema": "xmodal-fusion-1", "audio_window": 4.0, "curve_points": 8, "model_dim": 64, "heads": 4,
        "sound_groups": [{"name": "siren", "classes": [316, 317, 318, 319, 390, 391]}, {"name": "horn", "classes": [302, 303, 312]},
                         {"name": "engine", "classes": [337, 338, 342, 343, 345, 346, 347]}, {"name": "speech", "classes": [0, 1, 2, 3, 6]}],
        "object_classes": ["person", "bicycle", "car", "motorcycle", "bus", "truck", "other"], "audio_features": 1039, "object_features": 29})");

    const auto events_path = (dir / "events.jsonl").string();
    auto [rc, out] = run_tool("fusion --scenes " + (dir / "test").string() + " --model " + (dir / "fusion.safetensors").string() +
                              " --train-scenes " + (dir / "train").string() + " --events " + events_path);
    ASSERT_EQ(rc, 0) << out;
    // --events: one line per event with every method's answer.
    std::ifstream events_file(events_path);
    std::vector<nlohmann::json> events;
    for (std::string line; std::getline(events_file, line);) events.push_back(nlohmann::json::parse(line));
    ASSERT_EQ(events.size(), 6u);
    EXPECT_EQ(events[0]["scene"], "test-00001.json");
    EXPECT_EQ(events[0]["group"], "siren");
    EXPECT_EQ(events[0]["expected"], 7);
    EXPECT_EQ(events[0]["largest"], 7);
    EXPECT_EQ(events[1]["expected"], -1);  // speech of the person who left
    EXPECT_EQ(events[5]["event"], 2);
    for (const auto& e : events) {
        EXPECT_GE(e["query"].get<double>(), e["end"].get<double>() - 1e-9);
        EXPECT_TRUE(e.contains("model") && e.contains("model_offscreen") && e.contains("class-prior")) << e.dump();
    }
    auto lines = json_lines(out);
    ASSERT_EQ(lines.size(), 4u) << out;
    const char* methods[] = {"model", "largest", "loudness-correlation", "class-prior"};
    for (std::size_t m = 0; m < 4; ++m) {
        EXPECT_EQ(lines[m]["method"], methods[m]);
        EXPECT_EQ(lines[m]["events"], 6);
        EXPECT_EQ(lines[m]["scenes"], 2);
        EXPECT_EQ(lines[m]["per_group"]["siren"]["events"], 2);
        EXPECT_EQ(lines[m]["per_group"]["horn"]["events"], 2);
        EXPECT_EQ(lines[m]["per_group"]["engine"]["events"], 0);
        EXPECT_EQ(lines[m]["per_group"]["speech"]["events"], 2);
        EXPECT_GE(lines[m]["accuracy"].get<double>(), 0.0);
        EXPECT_LE(lines[m]["accuracy"].get<double>(), 1.0);
    }
    // The baselines do not hear: the car is the largest object (right for the siren only), and
    // the class prior is also right for the speech of a person who has left (off-screen).
    EXPECT_EQ(lines[1]["correct"], 2);
    EXPECT_EQ(lines[3]["correct"], 4);
    EXPECT_EQ(lines[3]["per_group"]["speech"]["accuracy"], 1.0);
    EXPECT_EQ(lines[2]["threshold_from"], "train-scenes " + (dir / "train").string());
    EXPECT_EQ(lines[0]["model"], (dir / "fusion.safetensors").string());

    std::tie(rc, out) = run_tool("fusion-dataset --scenes " + (dir / "test").string() + " --out " + (dir / "d.npz").string() +
                                 " --query-every 1.0");
    ASSERT_EQ(rc, 0) << out;
    lines = json_lines(out);
    ASSERT_EQ(lines.size(), 1u) << out;
    EXPECT_EQ(lines[0]["queries"], 8);  // 2, 3, 4, 5 s in each scene
    EXPECT_EQ(lines[0]["scenes"], 2);
    auto data = load_npz((dir / "d.npz").string());
    const auto La = data["audio"].shape[1];
    EXPECT_EQ(data["audio"].shape, (Shape{8, La, 1039}));
    EXPECT_GE(La, 8);  // YAMNet windows every 0.48 s: 8 or 9 centres in 4 s
    EXPECT_EQ(data["objects"].shape, (Shape{8, 2, 29}));
    EXPECT_EQ(data["scene"].to_f32(), (std::vector<float>{0, 0, 0, 0, 1, 1, 1, 1}));
    // The siren (0.6-3.5 s) from the car: at t = 3 s (query 1) the car is the only object.
    const auto attr = data["attr_target"];
    const auto* a = reinterpret_cast<const std::int64_t*>(attr.bytes.data());
    EXPECT_EQ(std::count(a + La, a + 2 * La, 0), 5) << "windows [0.48, 1.455] .. [2.4, 3.375] are half in the siren";

    std::tie(rc, out) = run_tool("fusion --scenes " + (dir / "missing").string());
    EXPECT_EQ(rc, 1);
    EXPECT_NE(out.find("missing: not a directory of scene files"), std::string::npos) << out;
    std::tie(rc, out) = run_tool("fusion --scenes " + (dir / "test").string() + " --model " + (dir / "none.safetensors").string());
    EXPECT_EQ(rc, 1);
    EXPECT_NE(out.find("none.json: cannot open the fusion model description"), std::string::npos) << out;
}
#endif

}  // namespace
}  // namespace xmodal
