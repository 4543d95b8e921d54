// Naive double-precision references for the kernels under test. Deliberately simple loops: they
// are the definition the optimised oneDNN paths are checked against.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

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
