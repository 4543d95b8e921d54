// Fusion tokens (FUSION.md §2) on hand-computed cases, and FusionModel (§3) against a naive
// double-precision reference.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/fusion_reference.hpp"
#include "xmodal/error.hpp"
#include "xmodal/fusion.hpp"
#include "xmodal/primitive_cache.hpp"

namespace xmodal {
namespace {

using testing::compare;
using testing::random_values;

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TimedBox box(double t, float x, float y, float w, float h) {
    TimedBox b;
    b.t = t;
    b.x = x;
    b.y = y;
    b.w = w;
    b.h = h;
    return b;
}

// An audio window centred at `centre` (1 s long, so centres are exact) with a 2-value embedding
// and chosen scores.
AudioToken window(double centre, float loudness, std::vector<std::pair<int, float>> scores = {}) {
    AudioToken w;
    w.start = centre - 0.5;
    w.end = centre + 0.5;
    w.scores.assign(521, 0.f);
    for (auto [k, v] : scores) w.scores[static_cast<std::size_t>(k)] = v;
    w.embedding = {static_cast<float>(centre), -static_cast<float>(centre)};
    w.loudness_dbfs = loudness;
    return w;
}

FusionConfig small_embedding() {
    FusionConfig c;
    c.embedding_dim = 2;
    return c;
}

TEST(FusionConfig, DefaultsFollowTheContract) {
    FusionConfig c;
    EXPECT_EQ(c.audio_features(), 1024 + 4 + 3 + 8);
    EXPECT_EQ(c.object_features(), 7 + 4 + 2 + 8 + 8);
    EXPECT_EQ(c.group_index("siren"), 0);
    EXPECT_EQ(c.group_index("speech"), 3);
    EXPECT_EQ(c.group_index("dog"), -1);
    EXPECT_EQ(c.class_index("person"), 0);
    EXPECT_EQ(c.class_index("motorcycle"), 3);
    EXPECT_EQ(c.class_index("truck"), 5);
    EXPECT_EQ(c.class_index("dog"), 6);    // the catch-all
    EXPECT_EQ(c.class_index("other"), 6);
    EXPECT_EQ(c.groups[0].classes, (std::vector<int>{316, 317, 318, 319, 390, 391}));
}

class FusionFiles : public ::testing::Test {
protected:
    std::filesystem::path dir = std::filesystem::temp_directory_path() / ("xmodal_fusion_" + std::to_string(::getpid()));
    void SetUp() override { std::filesystem::create_directories(dir); }
    void TearDown() override { std::filesystem::remove_all(dir); }
    std::string write(const std::string& name, const std::string& text) {
        auto path = (dir / name).string();
        std::ofstream(path) << text;
        return path;
    }
    static std::string description(const std::string& extra = "") {
        return R"({"schema": "xmodal-fusion-1", "audio_window": 4.0, "curve_points": 8, "model_dim": 16, "heads": 2,
                   "sound_groups": [{"name": "siren", "classes": [316, 390]}, {"name": "speech", "classes": [0]}],
                   "object_classes": ["person", "car", "other"])" + extra + "}";
    }
};

TEST_F(FusionFiles, ConfigLoadsAndNamesWhatIsWrong) {
    auto c = FusionConfig::load(write("ok.json", description(R"(, "event_threshold": 0.5, "audio_features": 1037)")));
    EXPECT_EQ(c.model_dim, 16);
    EXPECT_EQ(c.groups.size(), 2u);
    EXPECT_EQ(c.groups[0].classes, (std::vector<int>{316, 390}));
    EXPECT_EQ(c.class_index("bus"), 2);
    EXPECT_FLOAT_EQ(c.event_threshold, 0.5f);
    EXPECT_EQ(c.audio_features(), 1024 + 2 + 3 + 8);

    auto missing = write("missing.json", R"({"audio_window": 4.0, "curve_points": 8, "heads": 2})");
    EXPECT_NE(error_of([&] { FusionConfig::load(missing); }).find("missing.json: key 'model_dim' is missing"), std::string::npos);
    auto wrong = write("wrong.json", description(R"(, "object_features": 99)"));
    EXPECT_NE(error_of([&] { FusionConfig::load(wrong); }).find("'object_features' is 99 but the settings give 25"), std::string::npos)
        << error_of([&] { FusionConfig::load(wrong); });
    auto heads = write("heads.json", R"({"audio_window": 4.0, "curve_points": 8, "model_dim": 16, "heads": 3,
        "sound_groups": [{"name": "siren", "classes": [316]}], "object_classes": ["car", "other"]})");
    EXPECT_NE(error_of([&] { FusionConfig::load(heads); }).find("model_dim 16 and heads 3"), std::string::npos);
    EXPECT_NE(error_of([&] { FusionConfig::load(write("bad.json", "{")); }).find("not valid JSON"), std::string::npos);
}

TEST(FusionTracks, BoxAtInterpolatesAndKnowsWhenATrackIsThere) {
    FusionConfig c;  // tolerance 0.1 s, max gap 0.5 s
    TimedTrack track{3, "car", {box(1.0, 0.1f, 0.2f, 0.1f, 0.1f), box(1.5, 0.3f, 0.2f, 0.3f, 0.1f), box(3.0, 0.5f, 0.5f, 0.1f, 0.1f)}};
    auto mid = box_at(track, 1.25, c);
    ASSERT_TRUE(mid);
    EXPECT_FLOAT_EQ(mid->x, 0.2f);
    EXPECT_FLOAT_EQ(mid->w, 0.2f);
    EXPECT_DOUBLE_EQ(mid->t, 1.25);
    ASSERT_TRUE(box_at(track, 1.0, c));
    ASSERT_TRUE(box_at(track, 0.95, c));   // within the tolerance before the first box
    EXPECT_FALSE(box_at(track, 0.85, c));
    ASSERT_TRUE(box_at(track, 1.58, c));   // held after a box, before a long gap
    EXPECT_FLOAT_EQ(box_at(track, 1.58, c)->x, 0.3f);
    EXPECT_FALSE(box_at(track, 2.2, c));   // inside a 1.5 s gap
    ASSERT_TRUE(box_at(track, 2.95, c));
    EXPECT_FLOAT_EQ(box_at(track, 2.95, c)->x, 0.5f);
    EXPECT_TRUE(box_at(track, 3.08, c));
    EXPECT_FALSE(box_at(track, 3.12, c));
    EXPECT_FALSE(box_at(TimedTrack{}, 1.0, c));
}

TEST(FusionTracks, HistoryAppendsReplacesAndPrunes) {
    TrackHistory h;
    h.add(7, "car", box(1.0, 0, 0, 0.1f, 0.1f));
    h.add(4, "person", box(1.5, 0, 0, 0.1f, 0.1f));
    h.add(7, "truck", box(2.0, 0, 0, 0.1f, 0.1f));
    h.add(7, "truck", box(2.0, 0.5f, 0, 0.1f, 0.1f));  // same time: replaces
    ASSERT_EQ(h.tracks().size(), 2u);
    EXPECT_EQ(h.tracks()[0].id, 7);
    EXPECT_EQ(h.tracks()[0].label, "truck");
    ASSERT_EQ(h.tracks()[0].boxes.size(), 2u);
    EXPECT_FLOAT_EQ(h.tracks()[0].boxes[1].x, 0.5f);
    EXPECT_NE(error_of([&] { h.add(7, "car", box(1.5, 0, 0, 1, 1)); }).find("track 7 got a box at 1.5 s, before its last box at 2 s"),
              std::string::npos);
    h.prune(6.6, 5.0);  // keep boxes from 1.6 s on: track 4 goes, track 7 keeps its 2.0 s box
    ASSERT_EQ(h.tracks().size(), 1u);
    EXPECT_EQ(h.tracks()[0].boxes.size(), 1u);
    h.prune(10.0, 5.0);
    EXPECT_TRUE(h.tracks().empty());
}

TEST(FusionTokens, AudioTokensByHand) {
    FusionConfig c = small_embedding();  // W = 4, M = 8: τ = 6.5, 7, ..., 10 for t = 10
    // Given out of order; centres 6.0 (not in (6, 10]) and 10.5 (after t) are left out.
    std::vector<AudioToken> windows = {window(9.0, -20.f), window(6.0, -50.f), window(7.0, -30.f, {{390, 0.7f}, {316, 0.2f}, {6, 0.9f}}),
                                       window(10.5, 0.f), window(10.0, -10.f, {{303, 0.4f}}), window(8.0, -20.f)};
    FusionInputs in;
    build_audio_tokens(c, windows, 10.0, in);
    ASSERT_EQ(in.audio_tokens, 4);
    EXPECT_EQ(in.audio_source, (std::vector<std::size_t>{2, 5, 0, 4}));
    const std::vector<float> curve = {-0.875f, -0.875f, -0.375f, 0.125f, 0.125f, 0.125f, 0.625f, 1.125f};
    for (int j = 0; j < 8; ++j) EXPECT_NEAR(in.loudness_curve[static_cast<std::size_t>(j)], curve[static_cast<std::size_t>(j)], 1e-6);
    const auto Fa = c.audio_features();
    ASSERT_EQ(Fa, 2 + 4 + 3 + 8);
    const float loudness[] = {-1.f, 0.f, 0.f, 1.f}, trend[] = {0.f, 1.f, 0.f, 1.f}, when[] = {-0.75f, -0.5f, -0.25f, 0.f};
    for (std::int64_t r = 0; r < 4; ++r) {
        const float* f = &in.audio[static_cast<std::size_t>(r * Fa)];
        EXPECT_FLOAT_EQ(f[0], 7.f + static_cast<float>(r));  // the embedding, as given
        EXPECT_FLOAT_EQ(f[6], loudness[r]) << r;
        EXPECT_FLOAT_EQ(f[7], trend[r]) << r;
        EXPECT_FLOAT_EQ(f[8], when[r]) << r;
        for (int j = 0; j < 8; ++j) EXPECT_NEAR(f[9 + j], curve[static_cast<std::size_t>(j)], 1e-6);
    }
    // Group scores: siren = max(0.7, 0.2), speech from class 6; horn from class 303 on the last token.
    EXPECT_FLOAT_EQ(in.audio[2], 0.7f);
    EXPECT_FLOAT_EQ(in.audio[5], 0.9f);
    EXPECT_FLOAT_EQ(in.audio[3], 0.f);
    EXPECT_FLOAT_EQ(in.group_scores[3 * 4 + 1], 0.4f);
    EXPECT_FLOAT_EQ(in.audio[static_cast<std::size_t>(3 * Fa + 3)], 0.4f);
    EXPECT_DOUBLE_EQ(in.audio_centre[1], 8.0);

    // No window in range: no tokens, a zero curve.
    build_audio_tokens(c, windows, 3.0, in);
    EXPECT_EQ(in.audio_tokens, 0);
    EXPECT_TRUE(in.audio.empty());
    EXPECT_EQ(in.loudness_curve, std::vector<float>(8, 0.f));

    // A window with a short embedding is named.
    windows[0].embedding.push_back(1.f);
    EXPECT_NE(error_of([&] { build_audio_tokens(c, windows, 10.0, in); }).find("embedding of 3 values, expected 2"), std::string::npos);
}

TEST(FusionTokens, ObjectTokensByHand) {
    FusionConfig c;
    TimedTrack car{5, "car", {}};
    for (double t : {8.0, 8.5, 9.0}) car.boxes.push_back(box(t, 0.2f, 0.3f, 0.1f, 0.1f));
    car.boxes.push_back(box(9.5, 0.3f, 0.4f, 0.1f, 0.1f));
    car.boxes.push_back(box(10.0, 0.f, 0.f, 1.f, 1.f));
    TimedTrack dog{2, "dog", {box(9.95, 0.5f, 0.5f, 0.2f, 0.1f)}};  // one box, 0.05 s before t
    TimedTrack gone{9, "person", {box(4.0, 0, 0, 0.1f, 0.1f), box(5.0, 0, 0, 0.1f, 0.1f)}};
    std::vector<TimedTrack> tracks = {car, dog, gone};
    FusionInputs in;
    build_object_tokens(c, tracks, 10.0, in);
    ASSERT_EQ(in.objects, 2);
    EXPECT_EQ(in.track_ids, (std::vector<std::int64_t>{2, 5}));  // by id
    EXPECT_EQ(in.object_class, (std::vector<int>{6, 2}));
    const auto Fo = c.object_features();
    const float* d = &in.object[0];
    const float* k = &in.object[static_cast<std::size_t>(Fo)];
    // dog: class "other", box centre (0.6, 0.55), no velocity, present only at τ = 10, size curve 0.
    EXPECT_EQ(std::vector<float>(d, d + 7), (std::vector<float>{0, 0, 0, 0, 0, 0, 1}));
    EXPECT_FLOAT_EQ(d[7], 0.6f);
    EXPECT_FLOAT_EQ(d[8], 0.55f);
    EXPECT_FLOAT_EQ(d[9], 0.2f);
    EXPECT_FLOAT_EQ(d[10], 0.1f);
    EXPECT_FLOAT_EQ(d[11], 0.f);
    EXPECT_FLOAT_EQ(d[12], 0.f);
    EXPECT_EQ(std::vector<float>(d + 13, d + 21), std::vector<float>(8, 0.f));
    EXPECT_EQ(std::vector<float>(d + 21, d + 29), (std::vector<float>{0, 0, 0, 0, 0, 0, 0, 1}));
    // car: velocity (0.5 − 0.35, 0.5 − 0.45) / 0.5; sizes 20·log10(0.1) = −20 four times then 0 at t:
    // mean −16, curve (−20 + 16)/10 = −0.4 and (0 + 16)/10 = 1.6 where present (τ = 8 .. 10).
    EXPECT_EQ(std::vector<float>(k, k + 7), (std::vector<float>{0, 0, 1, 0, 0, 0, 0}));
    EXPECT_FLOAT_EQ(k[7], 0.5f);
    EXPECT_FLOAT_EQ(k[9], 1.f);
    EXPECT_NEAR(k[11], 0.3f, 1e-6);
    EXPECT_NEAR(k[12], 0.1f, 1e-6);
    const std::vector<float> size = {0, 0, 0, -0.4f, -0.4f, -0.4f, -0.4f, 1.6f};
    for (int j = 0; j < 8; ++j) EXPECT_NEAR(k[13 + j], size[static_cast<std::size_t>(j)], 1e-5) << j;
    EXPECT_EQ(std::vector<float>(k + 21, k + 29), (std::vector<float>{0, 0, 0, 1, 1, 1, 1, 1}));
    EXPECT_FLOAT_EQ(in.object_area[1], 1.f);
    EXPECT_NEAR(in.size_curve[8 + 7], 1.6f, 1e-5);
    EXPECT_EQ(in.presence[8 + 2], 0);
    EXPECT_EQ(in.presence[8 + 3], 1);

    // Velocity and size between boxes: at t = 9.25 the car's box is interpolated (0.25, 0.35).
    build_object_tokens(c, tracks, 9.25, in);
    ASSERT_EQ(in.objects, 1);
    k = &in.object[0];
    EXPECT_FLOAT_EQ(k[7], 0.3f);
    EXPECT_FLOAT_EQ(k[8], 0.4f);
    EXPECT_NEAR(k[11], 0.1f, 1e-6);  // (0.3 − 0.25) / 0.5 with cx(8.75) = 0.25

    build_object_tokens(c, {}, 10.0, in);
    EXPECT_EQ(in.objects, 0);
    EXPECT_TRUE(in.object.empty());
}

TEST(FusionTokens, SeenSaysWhichObjectsExistAtEachAudioToken) {
    auto c = small_embedding();
    // Windows centred at 7, 8, 9, 10; the car is there throughout, the person only from 8.9 s, the
    // bus from 7.0 to 8.0 and again at 10 (a gap longer than max_gap between).
    std::vector<AudioToken> windows = {window(7, -30), window(8, -30), window(9, -30), window(10, -30)};
    TimedTrack car{1, "car", {}}, person{2, "person", {}}, bus{3, "bus", {}};
    for (double t = 6.0; t <= 10.0; t += 0.25) car.boxes.push_back(box(t, 0.1f, 0.1f, 0.1f, 0.1f));
    for (double t = 8.9; t <= 10.0; t += 0.1) person.boxes.push_back(box(t, 0.5f, 0.5f, 0.05f, 0.1f));
    bus.boxes = {box(7.0, 0, 0, 0.3f, 0.3f), box(8.0, 0, 0, 0.3f, 0.3f), box(10.0, 0, 0, 0.3f, 0.3f)};
    std::vector<TimedTrack> tracks = {person, bus, car};
    FusionInputs in;
    build_fusion_inputs(c, windows, tracks, 10.0, in);
    ASSERT_EQ(in.audio_tokens, 4);
    ASSERT_EQ(in.track_ids, (std::vector<std::int64_t>{1, 2, 3}));
    EXPECT_EQ(in.object_source, (std::vector<std::size_t>{2, 0, 1}));
    EXPECT_EQ(in.seen, (std::vector<std::uint8_t>{1, 1, 1, 1,    // car
                                                  0, 0, 1, 1,    // person: from 8.9 s
                                                  1, 1, 0, 1}));  // bus: lost between 8 and 10 s
    // Object tokens alone know no audio: the matrix is dropped, and attribution treats that as unknown.
    build_object_tokens(c, tracks, 10.0, in);
    EXPECT_EQ(in.objects, 3);
    EXPECT_TRUE(in.seen.empty());
    build_fusion_inputs(c, windows, tracks, 10.0, in);
    build_audio_tokens(c, windows, 10.0, in);
    EXPECT_TRUE(in.seen.empty());
}

// ---- Model ---------------------------------------------------------------------------------------

FusionConfig tiny_config() {
    FusionConfig c;
    c.embedding_dim = 12;
    c.model_dim = 16;
    c.heads = 2;
    c.curve_points = 4;
    return c;
}

// Inputs with random features (the model does not care what they mean) and chosen counts.
FusionInputs random_inputs(const FusionConfig& c, std::int64_t La, std::int64_t No, std::uint64_t seed) {
    FusionInputs in;
    const auto G = static_cast<std::int64_t>(c.groups.size());
    in.audio_tokens = La;
    in.objects = No;
    in.audio = random_values(static_cast<std::size_t>(La * c.audio_features()), seed);
    in.group_scores = random_values(static_cast<std::size_t>(La * G), seed + 1, 0.f, 1.f);
    in.object = random_values(static_cast<std::size_t>(No * c.object_features()), seed + 2);
    for (std::int64_t k = 0; k < No; ++k) {
        in.track_ids.push_back(100 + k);
        in.object_class.push_back(static_cast<int>(k % static_cast<std::int64_t>(c.classes.size())));
    }
    return in;
}

void expect_matches_reference(FusionModel& model, const TensorFile& weights, const FusionInputs& in) {
    const auto& got = model.run(in);
    auto want = testing::reference_fusion(model.config(), weights, in);
    ASSERT_EQ(got.attribution.size(), want.attribution.size());
    ASSERT_EQ(got.emission.size(), want.emission.size());
    const auto attr = compare(got.attribution, want.attribution), emit = compare(got.emission, want.emission);
    EXPECT_LE(attr.relative(), 1e-4) << "La " << in.audio_tokens << " No " << in.objects;
    EXPECT_LE(emit.relative(), 1e-4) << "La " << in.audio_tokens << " No " << in.objects;
    const auto K = in.objects + 1;
    for (std::int64_t i = 0; i < in.audio_tokens; ++i) {
        double sum = 0;
        for (std::int64_t k = 0; k < K; ++k) sum += got.attribution[static_cast<std::size_t>(i * K + k)];
        EXPECT_NEAR(sum, 1.0, 1e-5);
    }
}

TEST(FusionModel, MatchesTheNaiveReference) {
    // The tiny model on edge counts, the default-size model (Fa 1039, D 64, H 4) on a busy street.
    using Counts = std::vector<std::pair<std::int64_t, std::int64_t>>;
    for (const auto& [c, counts] : {std::pair{tiny_config(), Counts{{9, 5}, {1, 1}, {3, 0}}}, {FusionConfig{}, Counts{{8, 50}}}}) {
        auto weights = FusionModel::random_weights(c, 3);
        FusionModel model(c, weights);
        for (auto [La, No] : counts) {
            auto in = random_inputs(c, La, No, static_cast<std::uint64_t>(La * 100 + No));
            expect_matches_reference(model, weights, in);
            EXPECT_TRUE(model.run(in).has_audio);
        }
    }
}

TEST(FusionModel, AnEnsembleAveragesItsMembersAttributionAndEmission) {
    // Each member against the naive reference alone, the ensemble against their mean: the same
    // buffers serve every member, so a member that read another's encodings would show here.
    const auto c = tiny_config();
    const std::vector<TensorFile> members = {FusionModel::random_weights(c, 11), FusionModel::random_weights(c, 12),
                                             FusionModel::random_weights(c, 13)};
    FusionModel ensemble(c, std::span<const TensorFile>(members));
    EXPECT_EQ(ensemble.members(), 3u);
    for (auto [La, No] : {std::pair<std::int64_t, std::int64_t>{6, 4}, {2, 0}, {5, 7}}) {
        const auto in = random_inputs(c, La, No, static_cast<std::uint64_t>(La * 10 + No));
        const auto want = testing::reference_fusion(c, std::span<const TensorFile>(members), in);
        const auto& attribution = want.attribution;
        const auto& emission = want.emission;
        const auto& got = ensemble.run(in);
        ASSERT_EQ(got.attribution.size(), attribution.size());
        ASSERT_EQ(got.emission.size(), emission.size());
        for (std::size_t i = 0; i < attribution.size(); ++i) EXPECT_NEAR(got.attribution[i], attribution[i], 1e-5) << i;
        for (std::size_t i = 0; i < emission.size(); ++i) EXPECT_NEAR(got.emission[i], emission[i], 1e-5) << i;
        // Events take the argmax of the averaged rows.
        std::vector<float> mean;
        for (const auto& e : got.events) {
            std::vector<std::int64_t> rows;
            for (auto r = e.first_token; r <= e.last_token; ++r) rows.push_back(r);
            EXPECT_EQ(e.slot, attributed_slot(c, in, got, rows, mean));
        }
    }
}

TEST_F(FusionFiles, EnsembleMembersAreListedBesideTheDescriptionAndChecked) {
    auto c = FusionConfig::load(write("fusion.json", description(R"(, "ensemble": ["second.safetensors"])")));
    ASSERT_EQ(c.ensemble.size(), 1u);
    EXPECT_EQ(c.ensemble[0], (dir / "second.safetensors").string());  // relative to the description
    save_safetensors((dir / "fusion.safetensors").string(), FusionModel::random_weights(c, 1));
    const auto path = (dir / "fusion.safetensors").string();
    EXPECT_NE(error_of([&] { FusionModel::load(path); }).find("second.safetensors"), std::string::npos)
        << error_of([&] { FusionModel::load(path); });  // a missing member is named
    save_safetensors((dir / "second.safetensors").string(), FusionModel::random_weights(c, 2));
    EXPECT_EQ(FusionModel::load(path)->members(), 2u);
    // Weights that do not match the description are named, whichever member they are.
    auto narrow = c;
    narrow.model_dim = 8;
    save_safetensors((dir / "second.safetensors").string(), FusionModel::random_weights(narrow, 2));
    EXPECT_NE(error_of([&] { FusionModel::load(path); }).find("second.safetensors: tensor 'audio_enc.0.weight' has shape"),
              std::string::npos)
        << error_of([&] { FusionModel::load(path); });
    // One weight file for a description that lists two is refused, not run as half an ensemble.
    EXPECT_NE(error_of([&] { FusionModel(c, FusionModel::random_weights(c, 1)); }).find("lists 1 further ensemble member"),
              std::string::npos);
    EXPECT_NE(error_of([&] { FusionConfig::load(write("bad.json", description(R"(, "ensemble": "second.safetensors")"))); })
                  .find("bad.json: 'ensemble' is \"second.safetensors\", expected a list"),
              std::string::npos);
    EXPECT_NE(error_of([&] { FusionConfig::load(write("bad.json", description(R"(, "ensemble": [3])"))); })
                  .find("ensemble member 3 is not a file name"),
              std::string::npos);
}

TEST(FusionModel, NoObjectsOnlyTheOffscreenTokenNoAudioNoEmission) {
    auto c = tiny_config();
    FusionModel model(c, FusionModel::random_weights(c, 4));
    const auto& none = model.run(random_inputs(c, 4, 0, 1));
    EXPECT_EQ(none.attribution, std::vector<float>(4, 1.f));
    EXPECT_TRUE(none.emission.empty());
    ASSERT_FALSE(none.events.empty());
    EXPECT_EQ(none.events[0].track_id, -1);

    const auto& silent = model.run(random_inputs(c, 0, 3, 2));
    EXPECT_FALSE(silent.has_audio);
    EXPECT_TRUE(silent.attribution.empty());
    EXPECT_EQ(silent.emission, std::vector<float>(12, 0.f));
    EXPECT_TRUE(silent.events.empty());
    EXPECT_EQ(silent.labels.size(), 3u);
}

TEST(FusionModel, EventsAreRunsOfOneGroupAboveTheThreshold) {
    auto c = tiny_config();  // threshold 0.3; groups siren, horn, engine, speech
    FusionModel model(c, FusionModel::random_weights(c, 5));
    auto in = random_inputs(c, 7, 3, 9);
    in.group_scores = {0.8f, 0, 0, 0,  0.9f, 0.1f, 0, 0,  0, 0.5f, 0, 0,  0.1f, 0.2f, 0.1f, 0.25f,
                       0.6f, 0, 0, 0,  0, 0, 0, 0.4f,  0, 0, 0, 0.35f};
    const auto& r = model.run(in);
    ASSERT_EQ(r.events.size(), 4u);
    const std::int64_t first[] = {0, 2, 4, 5}, last[] = {1, 2, 4, 6};
    const int group[] = {0, 1, 0, 3};
    for (std::size_t e = 0; e < 4; ++e) {
        EXPECT_EQ(r.events[e].first_token, first[e]);
        EXPECT_EQ(r.events[e].last_token, last[e]);
        EXPECT_EQ(r.events[e].group, group[e]);
        // Without a visibility matrix every object competes: the plain argmax of the mean rows.
        std::vector<float> mean(4, 0.f);
        for (auto i = first[e]; i <= last[e]; ++i)
            for (std::size_t k = 0; k < 4; ++k)
                mean[k] += r.attribution[static_cast<std::size_t>(i) * 4 + k] / static_cast<float>(last[e] - first[e] + 1);
        auto slot = std::max_element(mean.begin(), mean.end()) - mean.begin();
        EXPECT_EQ(r.events[e].slot, slot);
        EXPECT_EQ(r.events[e].track_id, slot < 3 ? 100 + slot : -1);
        EXPECT_NEAR(r.events[e].probability, mean[static_cast<std::size_t>(slot)], 1e-6);
    }
}

TEST(FusionModel, EventsGoOnlyToObjectsSeenForMostOfThem) {
    // Three objects and off-screen over four tokens; object 0 has the highest mean attribution but
    // is on the frame at one token of the event (rows 1..3) only, object 1 at two of three.
    FusionConfig c;
    FusionInputs in;
    in.audio_tokens = 4;
    in.objects = 3;
    in.seen = {1, 1, 0, 0,  0, 1, 1, 0,  1, 1, 1, 1};
    FusionResult r;
    r.audio_tokens = 4;
    r.objects = 3;
    r.attribution = {0.1f, 0.2f, 0.3f, 0.4f,  0.7f, 0.1f, 0.05f, 0.15f,  0.6f, 0.2f, 0.05f, 0.15f,  0.5f, 0.3f, 0.05f, 0.15f};
    const std::vector<std::int64_t> rows = {1, 2, 3};
    std::vector<float> mean;
    c.min_visible_share = 0;
    EXPECT_EQ(attributed_slot(c, in, r, rows, mean), 0);
    ASSERT_EQ(mean.size(), 4u);
    EXPECT_NEAR(mean[0], 0.6f, 1e-6);
    EXPECT_NEAR(mean[1], 0.2f, 1e-6);
    c.min_visible_share = 0.5;  // object 0 seen at 1/3 of the rows: out; object 1 (2/3) wins
    EXPECT_EQ(attributed_slot(c, in, r, rows, mean), 1);
    EXPECT_NEAR(mean[0], 0.6f, 1e-6);  // the mean itself is unchanged
    c.min_visible_share = 0.7;  // object 1 out too; object 2 (0.05) loses to off-screen (0.15)
    EXPECT_EQ(attributed_slot(c, in, r, rows, mean), 3);
    in.seen.clear();  // unknown: every object competes
    EXPECT_EQ(attributed_slot(c, in, r, rows, mean), 0);
    EXPECT_NE(error_of([&] { attributed_slot(c, in, r, std::vector<std::int64_t>{4}, mean); }).find("row 4 outside 0..3"),
              std::string::npos);
}

TEST(FusionModel, VehiclesWithASirenAreEmergencyVehicles) {
    auto c = tiny_config();
    auto weights = FusionModel::random_weights(c, 6);
    // Emission head: siren always on (bias 50), the rest off.
    std::vector<float> zero(static_cast<std::size_t>(4 * c.model_dim), 0.f);
    weights.tensors["emission_head.weight"] = HostTensor::from_f32({4, c.model_dim}, zero);
    weights.tensors["emission_head.bias"] = HostTensor::from_f32({4}, {50.f, -50.f, -50.f, -50.f});
    FusionModel model(c, weights);
    auto in = random_inputs(c, 5, 4, 3);
    in.object_class = {0, 2, 5, 6};  // person, car, truck, other
    const auto& r = model.run(in);
    EXPECT_EQ(r.labels, (std::vector<std::string_view>{"person", kEmergencyVehicle, kEmergencyVehicle, "other"}));
    EXPECT_NEAR(r.emission[4], 1.f, 1e-6);
    EXPECT_NEAR(r.emission[5], 0.f, 1e-6);
}

TEST(FusionModel, VaryingCountsReachASteadyState) {
    auto c = FusionConfig{};
    FusionModel model(c, FusionModel::random_weights(c, 7));
    std::vector<FusionInputs> inputs;
    for (std::int64_t n = 0; n <= 5; ++n) inputs.push_back(random_inputs(c, 6 + n % 3, n, static_cast<std::uint64_t>(n)));
    for (const auto& in : inputs) model.run(in);
    auto device = Device::open("cpu");
    const auto created = device->primitives().stats().created;
    const auto before = allocation_stats();
    for (int rep = 0; rep < 3; ++rep)
        for (const auto& in : inputs) model.run(in);
    EXPECT_EQ(device->primitives().stats().created, created);
    EXPECT_EQ(allocation_stats().count, before.count);
}

TEST_F(FusionFiles, BrokenWeightsAreNamed) {
    auto c = FusionConfig::load(write("fusion.json", description()));
    auto good = FusionModel::random_weights(c, 1);
    auto save = [&](TensorFile f) {
        auto path = (dir / "fusion.safetensors").string();
        save_safetensors(path, f);
        return path;
    };
    auto load_error = [&](TensorFile f) {
        auto path = save(std::move(f));
        return error_of([&] { FusionModel::load(path); });
    };
    EXPECT_EQ(load_error(good), "");  // finds fusion.json beside the weights

    auto missing = good;
    missing.tensors.erase("offscreen");
    EXPECT_NE(load_error(missing).find("fusion.safetensors: no tensor 'offscreen'"), std::string::npos) << load_error(missing);
    auto shape = good;
    shape.tensors["audio_enc.0.weight"] = HostTensor::from_f32({16, 20}, std::vector<float>(320, 0.f));
    EXPECT_NE(load_error(shape).find("tensor 'audio_enc.0.weight' has shape [16,20], expected [16,1037]"), std::string::npos)
        << load_error(shape);
    auto head = good;
    head.tensors["emission_head.bias"] = HostTensor::from_f32({4}, std::vector<float>(4, 0.f));
    EXPECT_NE(load_error(head).find("tensor 'emission_head.bias' has shape [4], expected [2]"), std::string::npos) << load_error(head);
    auto heads = good;
    heads.metadata["emit.heads"] = "4";
    EXPECT_NE(load_error(heads).find("attention 'emit.' has query_dim 16, kv_dim 16, model_dim 16, heads 4; the description says D = 16, H = 2"),
              std::string::npos)
        << load_error(heads);
    auto width = good;
    width.tensors["attribute.k_proj.weight"] = HostTensor::from_f32({16, 8}, std::vector<float>(128, 0.f));
    // k_proj sets the key width, so the v_proj that no longer matches it is the one named.
    EXPECT_NE(load_error(width).find("fusion.safetensors: tensor 'attribute.v_proj.weight' has shape [16,16], expected [16,8]"),
              std::string::npos)
        << load_error(width);

    save(good);
    std::filesystem::remove(dir / "fusion.json");
    EXPECT_NE(error_of([&] { FusionModel::load((dir / "fusion.safetensors").string()); }).find("fusion.json: cannot open"),
              std::string::npos);
}

}  // namespace
}  // namespace xmodal
