// Naive double-precision reference of the fusion model (docs/FUSION.md §3): the definition
// FusionModel is checked against (tests) and timed beside (xmodal-bench fuse).
#pragma once

#include <cmath>
#include <span>
#include <vector>

#include "support/reference.hpp"
#include "xmodal/fusion.hpp"

namespace xmodal::testing {

struct FusionReference {
    std::vector<double> attribution;  // La × (No + 1)
    std::vector<double> emission;     // No × groups
};

inline FusionReference reference_fusion(const FusionConfig& c, const TensorFile& w, const FusionInputs& in) {
    const auto La = in.audio_tokens, No = in.objects, D = c.model_dim, G = static_cast<std::int64_t>(c.groups.size());
    auto mlp = [&](const std::string& prefix, const std::vector<float>& x, std::int64_t rows, std::int64_t features) {
        std::vector<double> xd(x.begin(), x.end());
        auto h = reference_linear(xd, rows, features, w.require(prefix + ".0.weight").to_f32(),
                                  w.require(prefix + ".0.bias").to_f32(), D);
        for (auto& v : h) v = std::max(v, 0.0);
        return reference_linear(h, rows, D, w.require(prefix + ".2.weight").to_f32(), w.require(prefix + ".2.bias").to_f32(), D);
    };
    auto to_float = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
    FusionReference r;
    r.emission.assign(static_cast<std::size_t>(No * G), 0.0);
    if (La == 0) return r;
    auto a = mlp("audio_enc", in.audio, La, c.audio_features());
    auto o = No > 0 ? mlp("object_enc", in.object, No, c.object_features()) : std::vector<double>{};
    auto keys = o;
    for (float v : w.require("offscreen").to_f32()) keys.push_back(v);
    auto attr = reference_cross_attention(CrossAttentionWeights::from(w, "attribute."), 1, La, No + 1, to_float(a),
                                          to_float(keys), {});
    r.attribution = attr.mean;
    if (No == 0) return r;
    auto emitted = reference_cross_attention(CrossAttentionWeights::from(w, "emit."), 1, No, La, to_float(o), to_float(a), {});
    auto logits = reference_linear(emitted.out, No, D, w.require("emission_head.weight").to_f32(),
                                   w.require("emission_head.bias").to_f32(), G);
    for (std::size_t i = 0; i < logits.size(); ++i) r.emission[i] = 1.0 / (1.0 + std::exp(-logits[i]));
    return r;
}

// An ensemble (FusionConfig::ensemble): the members' attributions and emission probabilities averaged.
inline FusionReference reference_fusion(const FusionConfig& c, std::span<const TensorFile> members, const FusionInputs& in) {
    FusionReference mean;
    for (const auto& w : members) {
        const auto one = reference_fusion(c, w, in);
        mean.attribution.resize(one.attribution.size(), 0.0);
        mean.emission.resize(one.emission.size(), 0.0);
        for (std::size_t i = 0; i < one.attribution.size(); ++i) mean.attribution[i] += one.attribution[i] / static_cast<double>(members.size());
        for (std::size_t i = 0; i < one.emission.size(); ++i) mean.emission[i] += one.emission[i] / static_cast<double>(members.size());
    }
    return mean;
}

}  // namespace xmodal::testing
