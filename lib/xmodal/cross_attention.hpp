// Cross-modal attention block: queries from modality A attend to keys/values from modality B.
//
//   Q = Xa·Wqᵀ + bq,  K = Xb·Wkᵀ + bk,  V = Xb·Wvᵀ + bv      (projections to model width D)
//   ctx = MultiHeadAttention(Q, K, V) with H heads of D/H    (xmodal::Attention, oneDNN)
//   out = ctx·Woᵀ + bo
//
// The same computation as PyTorch's nn.MultiheadAttention(D, H, kdim=Db, vdim=Db, batch_first=True)
// with separate projection weights. Heads are split and merged through strided views, never copied.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "xmodal/attention.hpp"
#include "xmodal/ops.hpp"
#include "xmodal/safetensors.hpp"

namespace xmodal {

struct CrossAttentionConfig {
    std::int64_t query_dim = 0;  // Da
    std::int64_t kv_dim = 0;     // Db
    std::int64_t model_dim = 0;  // D, divisible by heads
    std::int64_t heads = 1;      // H, 1..64
};

// Weights in PyTorch's nn.Linear convention (weight is (out, in)).
// File layout (safetensors): "<prefix>q_proj.weight" (D,Da), "<prefix>q_proj.bias" (D),
// k_proj (D,Db), v_proj (D,Db), out_proj (D,D) likewise; metadata "<prefix>heads" = H.
struct CrossAttentionWeights {
    CrossAttentionConfig config;
    HostTensor q_weight, q_bias, k_weight, k_bias, v_weight, v_bias, out_weight, out_bias;

    static CrossAttentionWeights load(const std::string& path, const std::string& prefix = "");
    static CrossAttentionWeights from(const TensorFile& file, const std::string& prefix = "");
    void store(TensorFile& file, const std::string& prefix = "") const;
    // Xavier-uniform weights and zero biases from a fixed seed (tests, benchmarks, untrained demos).
    static CrossAttentionWeights random(const CrossAttentionConfig& config, std::uint64_t seed);
};

class CrossModalAttention {
public:
    CrossModalAttention(std::shared_ptr<Device> device, const CrossAttentionWeights& weights,
                        DataType compute = DataType::f32);

    const CrossAttentionConfig& config() const { return config_; }
    DataType compute_type() const { return compute_; }

    struct Result {
        Tensor fused;                  // (B, Lq, D) f32
        Tensor head_weights;           // (B, H, Lq, Lkv) f32 — only when weights were requested
        Tensor mean_weights;           // (B, Lq, Lkv) f32, averaged over heads — likewise
    };

    // a: (B, Lq, Da) f32, b: (B, Lkv, Db) f32, key_padding: optional (B, Lkv) u8 (0 = padding).
    // The result's tensors are views into buffers reused by the next call: copy what must outlive it.
    const Result& forward(const Tensor& a, const Tensor& b, const Tensor* key_padding = nullptr,
                          bool want_weights = false);

private:
    std::shared_ptr<Device> device_;
    CrossAttentionConfig config_;
    DataType compute_;
    Linear q_proj_, k_proj_, v_proj_, out_proj_;
    Attention attention_;
    dnnl::stream stream_;
    // Growing buffers (see reuse_buffer): inputs in the compute type, projections, context, outputs.
    Tensor a_buf_, b_buf_, q_buf_, k_buf_, v_buf_, ctx_buf_, out_buf_, probs_buf_, mean_buf_;
    Result result_;
};

}  // namespace xmodal
