// Naive double-precision references for the kernels under test. Deliberately simple loops: they
// are the definition the optimised oneDNN paths are checked against.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "xmodal/cross_attention.hpp"

namespace xmodal::testing {

struct AttentionShape {
    std::int64_t B, H, Lq, Lkv, Dh, Dv;
};

inline std::vector<float> random_values(std::size_t n, std::uint64_t seed, float lo = -1.f, float hi = 1.f) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

// q (B,H,Lq,Dh), k (B,H,Lkv,Dh), v (B,H,Lkv,Dv) dense; key_keep (B,Lkv) or empty; returns
// out (B,H,Lq,Dv) and, if probs != nullptr, the weights (B,H,Lq,Lkv).
inline std::vector<double> reference_attention(const AttentionShape& s, const std::vector<float>& q,
                                               const std::vector<float>& k, const std::vector<float>& v,
                                               const std::vector<std::uint8_t>& key_keep, bool causal,
                                               double scale, std::vector<double>* probs = nullptr) {
    std::vector<double> out(static_cast<std::size_t>(s.B * s.H * s.Lq * s.Dv));
    if (probs) probs->assign(static_cast<std::size_t>(s.B * s.H * s.Lq * s.Lkv), 0.0);
    std::vector<double> p(static_cast<std::size_t>(s.Lkv));
    for (std::int64_t b = 0; b < s.B; ++b)
        for (std::int64_t h = 0; h < s.H; ++h)
            for (std::int64_t i = 0; i < s.Lq; ++i) {
                const float* qi = &q[static_cast<std::size_t>(((b * s.H + h) * s.Lq + i) * s.Dh)];
                double mx = -std::numeric_limits<double>::infinity();
                for (std::int64_t j = 0; j < s.Lkv; ++j) {
                    bool keep = (key_keep.empty() || key_keep[static_cast<std::size_t>(b * s.Lkv + j)]) &&
                                (!causal || j <= i);
                    if (!keep) {
                        p[j] = -std::numeric_limits<double>::infinity();
                        continue;
                    }
                    const float* kj = &k[static_cast<std::size_t>(((b * s.H + h) * s.Lkv + j) * s.Dh)];
                    double dot = 0;
                    for (std::int64_t d = 0; d < s.Dh; ++d) dot += static_cast<double>(qi[d]) * kj[d];
                    p[j] = dot * scale;
                    mx = std::max(mx, p[j]);
                }
                double sum = 0;
                for (std::int64_t j = 0; j < s.Lkv; ++j) sum += p[j] = std::exp(p[j] - mx);
                for (std::int64_t j = 0; j < s.Lkv; ++j) p[j] /= sum;
                double* oi = &out[static_cast<std::size_t>(((b * s.H + h) * s.Lq + i) * s.Dv)];
                for (std::int64_t j = 0; j < s.Lkv; ++j) {
                    const float* vj = &v[static_cast<std::size_t>(((b * s.H + h) * s.Lkv + j) * s.Dv)];
                    for (std::int64_t d = 0; d < s.Dv; ++d) oi[d] += p[j] * vj[d];
                    if (probs) (*probs)[static_cast<std::size_t>(((b * s.H + h) * s.Lq + i) * s.Lkv + j)] = p[j];
                }
            }
    return out;
}

// y (M, out) = x (M, in) · Wᵀ + b with W (out, in).
inline std::vector<double> reference_linear(const std::vector<double>& x, std::int64_t M, std::int64_t in,
                                            const std::vector<float>& w, const std::vector<float>& bias,
                                            std::int64_t out) {
    std::vector<double> y(static_cast<std::size_t>(M * out));
    for (std::int64_t m = 0; m < M; ++m)
        for (std::int64_t o = 0; o < out; ++o) {
            double acc = bias.empty() ? 0.0 : bias[static_cast<std::size_t>(o)];
            for (std::int64_t i = 0; i < in; ++i)
                acc += x[static_cast<std::size_t>(m * in + i)] * w[static_cast<std::size_t>(o * in + i)];
            y[static_cast<std::size_t>(m * out + o)] = acc;
        }
    return y;
}

// Cross-modal block reference: projections, per-head attention, output projection, all in double.
struct CrossReference {
    std::vector<double> out, probs, mean;
};

inline CrossReference reference_cross_attention(const CrossAttentionWeights& w, std::int64_t B, std::int64_t Lq, std::int64_t Lkv,
                                const std::vector<float>& a, const std::vector<float>& b,
                                const std::vector<std::uint8_t>& keep) {
    const auto& c = w.config;
    const auto D = c.model_dim, H = c.heads, Dh = D / H;
    std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end());
    auto q = reference_linear(ad, B * Lq, c.query_dim, w.q_weight.to_f32(), w.q_bias.to_f32(), D);
    auto k = reference_linear(bd, B * Lkv, c.kv_dim, w.k_weight.to_f32(), w.k_bias.to_f32(), D);
    auto v = reference_linear(bd, B * Lkv, c.kv_dim, w.v_weight.to_f32(), w.v_bias.to_f32(), D);
    // Split heads: (B, L, H, Dh) -> (B, H, L, Dh) as floats for reference_attention.
    auto split = [&](const std::vector<double>& x, std::int64_t L) {
        std::vector<float> y(x.size());
        for (std::int64_t bb = 0; bb < B; ++bb)
            for (std::int64_t l = 0; l < L; ++l)
                for (std::int64_t h = 0; h < H; ++h)
                    for (std::int64_t d = 0; d < Dh; ++d)
                        y[static_cast<std::size_t>(((bb * H + h) * L + l) * Dh + d)] =
                            static_cast<float>(x[static_cast<std::size_t>((bb * L + l) * D + h * Dh + d)]);
        return y;
    };
    CrossReference r;
    AttentionShape s{B, H, Lq, Lkv, Dh, Dh};
    auto ctx = reference_attention(s, split(q, Lq), split(k, Lkv), split(v, Lkv), keep, false,
                                            1.0 / std::sqrt(static_cast<double>(Dh)), &r.probs);
    std::vector<double> merged(static_cast<std::size_t>(B * Lq * D));
    for (std::int64_t bb = 0; bb < B; ++bb)
        for (std::int64_t h = 0; h < H; ++h)
            for (std::int64_t l = 0; l < Lq; ++l)
                for (std::int64_t d = 0; d < Dh; ++d)
                    merged[static_cast<std::size_t>((bb * Lq + l) * D + h * Dh + d)] =
                        ctx[static_cast<std::size_t>(((bb * H + h) * Lq + l) * Dh + d)];
    r.out = reference_linear(merged, B * Lq, D, w.out_weight.to_f32(), w.out_bias.to_f32(), D);
    r.mean.assign(static_cast<std::size_t>(B * Lq * Lkv), 0.0);
    for (std::int64_t bb = 0; bb < B; ++bb)
        for (std::int64_t h = 0; h < H; ++h)
            for (std::int64_t i = 0; i < Lq * Lkv; ++i)
                r.mean[static_cast<std::size_t>(bb * Lq * Lkv + i)] +=
                    r.probs[static_cast<std::size_t>((bb * H + h) * Lq * Lkv + i)] / static_cast<double>(H);
    return r;
}

struct ErrorReport {
    double max_abs = 0, max_ref = 0;
    double relative() const { return max_ref > 0 ? max_abs / max_ref : max_abs; }
};

// Max absolute error and its size relative to the largest reference magnitude.
template <class A, class B>
ErrorReport compare(const std::vector<A>& got, const std::vector<B>& want) {
    ErrorReport r;
    for (std::size_t i = 0; i < want.size(); ++i) {
        r.max_abs = std::max(r.max_abs, std::abs(static_cast<double>(got[i]) - static_cast<double>(want[i])));
        r.max_ref = std::max(r.max_ref, std::abs(static_cast<double>(want[i])));
    }
    return r;
}

}  // namespace xmodal::testing
