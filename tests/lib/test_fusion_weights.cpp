// The committed fusion weights (models/fusion.safetensors and the ensemble members fusion.json
// lists, each learned by tools/fusion/train_fusion.py) as FusionModel reads them: on real
// validation queries stored by the trainer with the exported model's float64 outputs
// (models/<member>_check.safetensors), each member run alone must give the same
// attribution and emission probabilities. This catches a mismatch between PyTorch's
// nn.MultiheadAttention and CrossModalAttention (q/k/v split, head averaging, scale), the folded
// input standardisation, or the names and shapes of the file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>

#include "xmodal/fusion.hpp"
#include "xmodal/safetensors.hpp"

namespace xmodal {
namespace {

const std::string kModels = std::string(XMODAL_SOURCE_DIR) + "/models/";

// "q<n>." (built by appending: GCC 12's -Wrestrict trips on "q" + std::to_string(n)).
std::string query_prefix(int n) {
    std::string prefix("q");
    prefix += std::to_string(n);
    prefix += '.';
    return prefix;
}

// One member's weights, run alone, against the outputs its trainer stored beside it
// (NAME.safetensors → NAME_check.safetensors).
void expect_member_reproduces_its_trainer(FusionConfig config, const std::string& weights_path) {
    SCOPED_TRACE(weights_path);
    config.ensemble.clear();
    auto model = std::make_unique<FusionModel>(config, load_safetensors(weights_path));
    const std::string stem = weights_path.substr(0, weights_path.size() - std::string(".safetensors").size());
    const auto check = load_safetensors(stem + "_check.safetensors");
    const auto G = static_cast<std::int64_t>(config.groups.size());
    int queries = 0;
    // Not a degenerate check: some stored token's attribution is spread (its largest value < 0.95),
    // so agreement means more than both sides saying "certainly this one".
    float least_peak = 1.f;
    for (; check.tensors.count(query_prefix(queries) + "audio"); ++queries) {
        const std::string q = query_prefix(queries);
        const auto& audio = check.require(q + "audio");
        const auto& objects = check.require(q + "objects");
        const auto La = audio.shape[0], No = objects.shape[0];
        ASSERT_EQ(audio.shape[1], config.audio_features());
        ASSERT_EQ(objects.shape[1], config.object_features());
        FusionInputs in;
        in.audio_tokens = La;
        in.objects = No;
        in.audio = audio.to_f32();
        in.object = objects.to_f32();
        for (std::int64_t i = 0; i < La; ++i)  // the group scores follow the embedding (FUSION.md §2)
            for (std::int64_t g = 0; g < G; ++g)
                in.group_scores.push_back(in.audio[static_cast<std::size_t>(i * config.audio_features() + config.embedding_dim + g)]);
        const auto classes = static_cast<std::int64_t>(config.classes.size());
        for (std::int64_t k = 0; k < No; ++k) {
            in.track_ids.push_back(k + 1);
            const auto row = in.object.begin() + k * config.object_features();
            in.object_class.push_back(static_cast<int>(std::max_element(row, row + classes) - row));
        }
        const auto& got = model->run(in);
        const auto want_attr = check.require(q + "attribution", {La, No + 1}).to_f32();
        const auto want_emit = check.require(q + "emission", {No, G}).to_f32();
        ASSERT_EQ(got.attribution.size(), want_attr.size());
        ASSERT_EQ(got.emission.size(), want_emit.size());
        double attr_err = 0, emit_err = 0;
        for (std::size_t i = 0; i < want_attr.size(); ++i) attr_err = std::max(attr_err, std::abs(double(got.attribution[i]) - want_attr[i]));
        for (std::size_t i = 0; i < want_emit.size(); ++i) emit_err = std::max(emit_err, std::abs(double(got.emission[i]) - want_emit[i]));
        EXPECT_LE(attr_err, 1e-4) << q << " La " << La << " No " << No;
        EXPECT_LE(emit_err, 1e-4) << q << " La " << La << " No " << No;
        for (std::int64_t i = 0; i < La; ++i) {
            const auto row = want_attr.begin() + i * (No + 1);
            least_peak = std::min(least_peak, *std::max_element(row, row + No + 1));
        }
    }
    EXPECT_GE(queries, 1);
    EXPECT_LT(least_peak, 0.95f) << "every stored attribution row is nearly one-hot";
}

TEST(FusionWeights, CommittedModelReproducesTheTrainersOutputs) {
    if (!std::filesystem::exists(kModels + "fusion.safetensors")) GTEST_SKIP() << "no models/fusion.safetensors";
    const auto config = FusionConfig::load(kModels + "fusion.json");
    expect_member_reproduces_its_trainer(config, kModels + "fusion.safetensors");
    for (const auto& member : config.ensemble) expect_member_reproduces_its_trainer(config, member);
    EXPECT_EQ(FusionModel::load(kModels + "fusion.safetensors")->members(), config.ensemble.size() + 1);
}

}  // namespace
}  // namespace xmodal
