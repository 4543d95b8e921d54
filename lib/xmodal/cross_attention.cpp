#include "xmodal/cross_attention.hpp"

#include <cmath>
#include <random>

#include "xmodal/device.hpp"
#include "xmodal/error.hpp"

namespace xmodal {
namespace {

void check_config(const CrossAttentionConfig& c, const std::string& where) {
    if (c.query_dim <= 0 || c.kv_dim <= 0 || c.model_dim <= 0)
        fail(where, ": dimensions must be positive (query_dim ", c.query_dim, ", kv_dim ", c.kv_dim, ", model_dim ",
             c.model_dim, ")");
    if (c.heads < 1 || c.heads > 64) fail(where, ": heads is ", c.heads, ", expected 1..64");
    if (c.model_dim % c.heads != 0)
        fail(where, ": model_dim ", c.model_dim, " is not divisible by heads ", c.heads);
}

// Rows of a 3-D (B, L, C) tensor as a 2-D (B·L, C) view; needs rows that are evenly spaced.
Tensor as_rows(const Tensor& t, const char* name) {
    const auto& s = t.strides();
    if (s[0] != t.dim(1) * s[1] && t.dim(0) > 1)
        fail("cross attention: '", name, "' ", t.describe(), " has batch stride ", s[0], ", rows must be evenly spaced");
    return t.view({t.dim(0) * t.dim(1), t.dim(2)}, {s[1], s[2]});
}

}  // namespace

CrossAttentionWeights CrossAttentionWeights::from(const TensorFile& file, const std::string& prefix) {
    CrossAttentionWeights w;
    auto heads = file.metadata.find(prefix + "heads");
    if (heads == file.metadata.end())
        fail(file.path, ": metadata '", prefix, "heads' (number of attention heads) is missing");
    try {
        w.config.heads = std::stoll(heads->second);
    } catch (const std::exception&) {
        fail(file.path, ": metadata '", prefix, "heads' is '", heads->second, "', expected an integer");
    }
    const auto& qw = file.require(prefix + "q_proj.weight");
    const auto& kw = file.require(prefix + "k_proj.weight");
    if (qw.shape.size() != 2 || kw.shape.size() != 2)
        fail(file.path, ": ", prefix, "q_proj.weight and k_proj.weight must be 2-D (out, in)");
    w.config.model_dim = qw.shape[0];
    w.config.query_dim = qw.shape[1];
    w.config.kv_dim = kw.shape[1];
    check_config(w.config, file.path);
    const auto D = w.config.model_dim, Db = w.config.kv_dim;
    w.q_weight = qw;
    w.q_bias = file.require(prefix + "q_proj.bias", {D});
    w.k_weight = file.require(prefix + "k_proj.weight", {D, Db});
    w.k_bias = file.require(prefix + "k_proj.bias", {D});
    w.v_weight = file.require(prefix + "v_proj.weight", {D, Db});
    w.v_bias = file.require(prefix + "v_proj.bias", {D});
    w.out_weight = file.require(prefix + "out_proj.weight", {D, D});
    w.out_bias = file.require(prefix + "out_proj.bias", {D});
    return w;
}

CrossAttentionWeights CrossAttentionWeights::load(const std::string& path, const std::string& prefix) {
    return from(load_safetensors(path), prefix);
}

void CrossAttentionWeights::store(TensorFile& file, const std::string& prefix) const {
    file.metadata[prefix + "heads"] = std::to_string(config.heads);
    file.tensors[prefix + "q_proj.weight"] = q_weight;
    file.tensors[prefix + "q_proj.bias"] = q_bias;
    file.tensors[prefix + "k_proj.weight"] = k_weight;
    file.tensors[prefix + "k_proj.bias"] = k_bias;
    file.tensors[prefix + "v_proj.weight"] = v_weight;
    file.tensors[prefix + "v_proj.bias"] = v_bias;
    file.tensors[prefix + "out_proj.weight"] = out_weight;
    file.tensors[prefix + "out_proj.bias"] = out_bias;
}

CrossAttentionWeights CrossAttentionWeights::random(const CrossAttentionConfig& config, std::uint64_t seed) {
    check_config(config, "CrossAttentionWeights::random");
    std::mt19937_64 rng(seed);
    auto xavier = [&](std::int64_t out, std::int64_t in) {
        std::uniform_real_distribution<float> dist(-1.f, 1.f);
        const float bound = std::sqrt(6.f / static_cast<float>(in + out));
        std::vector<float> v(static_cast<std::size_t>(out * in));
        for (auto& x : v) x = dist(rng) * bound;
        return HostTensor::from_f32({out, in}, v);
    };
    auto small_bias = [&](std::int64_t n) {
        std::uniform_real_distribution<float> dist(-0.1f, 0.1f);
        std::vector<float> v(static_cast<std::size_t>(n));
        for (auto& x : v) x = dist(rng);
        return HostTensor::from_f32({n}, v);
    };
    const auto D = config.model_dim;
    CrossAttentionWeights w;
    w.config = config;
    w.q_weight = xavier(D, config.query_dim);
    w.q_bias = small_bias(D);
    w.k_weight = xavier(D, config.kv_dim);
    w.k_bias = small_bias(D);
    w.v_weight = xavier(D, config.kv_dim);
    w.v_bias = small_bias(D);
    w.out_weight = xavier(D, D);
    w.out_bias = small_bias(D);
    return w;
}

CrossModalAttention::CrossModalAttention(std::shared_ptr<Device> device, const CrossAttentionWeights& weights,
                                         DataType compute)
    : device_(std::move(device)),
      config_(weights.config),
      compute_(resolve_compute_type(*device_, compute, "cross attention")),
      q_proj_(device_, weights.q_weight, &weights.q_bias, compute_, "q_proj"),
      k_proj_(device_, weights.k_weight, &weights.k_bias, compute_, "k_proj"),
      v_proj_(device_, weights.v_weight, &weights.v_bias, compute_, "v_proj"),
      out_proj_(device_, weights.out_weight, &weights.out_bias, compute_, "out_proj"),
      attention_(device_, compute_),
      stream_(device_->engine()) {
    check_config(config_, "cross attention");
}

const CrossModalAttention::Result& CrossModalAttention::forward(const Tensor& a, const Tensor& b,
                                                                const Tensor* key_padding, bool want_weights) {
    const auto Da = config_.query_dim, Db = config_.kv_dim, D = config_.model_dim, H = config_.heads, Dh = D / H;
    if (a.ndim() != 3 || a.dim(2) != Da || a.dtype() != DataType::f32)
        fail("cross attention: queries (modality A) are ", a.describe(), ", expected [B,Lq,", Da, "] f32");
    if (b.ndim() != 3 || b.dim(2) != Db || b.dtype() != DataType::f32)
        fail("cross attention: keys/values (modality B) are ", b.describe(), ", expected [B,Lkv,", Db, "] f32");
    if (a.dim(0) != b.dim(0))
        fail("cross attention: batch of queries ", a.dim(0), " differs from batch of keys/values ", b.dim(0));
    const auto B = a.dim(0), Lq = a.dim(1), Lkv = b.dim(1);
    if (Lkv == 0) fail("cross attention: modality B has no tokens (", b.describe(), ")");
    const DataType cdt = compute_;

    Tensor a_rows = as_rows(a, "a"), b_rows = as_rows(b, "b");
    if (cdt != DataType::f32) {
        Tensor a_c = reuse_buffer(a_buf_, device_, {B * Lq, Da}, cdt);
        Tensor b_c = reuse_buffer(b_buf_, device_, {B * Lkv, Db}, cdt);
        convert(stream_, a_rows, a_c);
        convert(stream_, b_rows, b_c);
        a_rows = a_c;
        b_rows = b_c;
    }
    Tensor q = reuse_buffer(q_buf_, device_, {B * Lq, D}, cdt);
    Tensor k = reuse_buffer(k_buf_, device_, {B * Lkv, D}, cdt);
    Tensor v = reuse_buffer(v_buf_, device_, {B * Lkv, D}, cdt);
    Tensor ctx = reuse_buffer(ctx_buf_, device_, {B * Lq, D}, cdt);
    q_proj_.forward(stream_, a_rows, q);
    k_proj_.forward(stream_, b_rows, k);
    v_proj_.forward(stream_, b_rows, v);

    // (B·L, H·Dh) rows seen as (B, H, L, Dh): head h is columns h·Dh .. h·Dh+Dh-1.
    auto heads_view = [&](const Tensor& rows, std::int64_t L) { return rows.view({B, H, L, Dh}, {L * D, Dh, D, 1}); };
    Tensor probs;
    if (want_weights) probs = reuse_buffer(probs_buf_, device_, {B, H, Lq, Lkv}, DataType::f32);
    AttentionMasks masks;
    masks.key_padding = key_padding;
    stream_.wait();
    attention_.forward(heads_view(q, Lq), heads_view(k, Lkv), heads_view(v, Lkv), heads_view(ctx, Lq), masks,
                       want_weights ? &probs : nullptr);

    Tensor out = reuse_buffer(out_buf_, device_, {B, Lq, D}, DataType::f32);
    out_proj_.forward(stream_, ctx, out.view({B * Lq, D}, {}));
    result_.fused = out;
    result_.head_weights = Tensor();
    result_.mean_weights = Tensor();
    if (want_weights) {
        Tensor mean = reuse_buffer(mean_buf_, device_, {B, 1, Lq, Lkv}, DataType::f32);
        mean_over_axis(stream_, probs, mean, 1);
        result_.head_weights = probs;
        result_.mean_weights = mean.view({B, Lq, Lkv}, {});
    }
    stream_.wait();
    return result_;
}

}  // namespace xmodal
