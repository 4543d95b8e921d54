// Multi-head scaled dot-product attention on oneDNN:  out = softmax(Q·Kᵀ·scale + mask)·V
//
// Batch and heads are matmul batch dimensions. Q·Kᵀ and P·V are oneDNN matmul primitives (the
// scale is the Q·Kᵀ primitive's output scale, masks are its binary-add post-ops) and the softmax is
// computed by oneDNN: exp in the Q·Kᵀ primitive's epilogue and normalisation in P·V's (see
// set_fused_softmax; single-threaded f32 computes the scores transposed, K·Qᵀ, see
// set_key_major_scores), or oneDNN's softmax_v2 primitive where the weights are requested. On CPU
// the work is tiled so that one tile's score block stays in L2 between the primitives: a tile is a 4-D sub-block (batches × heads × query rows) of the problem, so
// small problems run as a single tile and large ones (long sequences) as row blocks of one head.
// All primitives are cached per tile shape; scratch memory is reused across calls.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "xmodal/tensor.hpp"

namespace xmodal {

class Device;
struct CachedPrimitive;

struct AttentionMasks {
    // Optional (B, Lkv) u8: nonzero marks a real key, 0 a padding key that gets no weight.
    // Every batch item needs at least one real key.
    const Tensor* key_padding = nullptr;
    // Query row i sees keys 0..i only (top-left aligned, as PyTorch's is_causal).
    bool causal = false;
};

// Not thread-safe: one Attention per streaming thread (it owns its scratch memory and stream).
class Attention {
public:
    // `compute` is f32 or bf16; bf16 falls back to f32 (with a logged warning) on devices
    // without native bf16 kernels — see compute_type().
    explicit Attention(std::shared_ptr<Device> device, DataType compute = DataType::f32);
    ~Attention();
    Attention(const Attention&) = delete;
    Attention& operator=(const Attention&) = delete;

    DataType compute_type() const { return compute_; }
    const std::shared_ptr<Device>& device() const { return device_; }

    // q (B,H,Lq,Dh), k (B,H,Lkv,Dh), v (B,H,Lkv,Dv): compute type, any strides.
    // out (B,H,Lq,Dv): f32 or the compute type, any strides (e.g. a (B,Lq,H·Dv) buffer seen as
    // (B,H,Lq,Dv), so heads are merged without a copy).
    // probs, if given: dense (B,H,Lq,Lkv) f32 receiving the attention weights.
    // scale 0 means 1/sqrt(Dh).
    void forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                 const AttentionMasks& masks = {}, const Tensor* probs = nullptr, float scale = 0.f);

    // Bytes of f32 scores one CPU tile may hold. 0 (the default, unless XMODAL_ATTENTION_TILE_BYTES
    // is set) chooses per call: a quarter of the L2 cache on the key-major path (its transposed
    // scores are read twice, and K and Vᵀ stay in L2 beside them: 128 rows at Lkv = 1024 run
    // 5 % faster than 256), half the L2 per thread times the thread count otherwise; at least
    // 256 KiB. Exposed for benchmarks and tests of the tiling.
    void set_tile_bytes(std::size_t bytes) { tile_bytes_ = bytes; }
    std::size_t tile_bytes() const { return tile_bytes_; }

    // Softmax on the fused path: the Q·Kᵀ primitive's epilogue computes exp(s - shift) with a
    // per-tile shift from the Cauchy-Schwarz bound of the scores, a one-column matmul P·1 sums
    // the rows and the P·V primitive divides by the sums. Only one-head row tiles (long sequences) take it; a
    // tile whose rows would underflow (a query nearly orthogonal to every key, both long) is
    // recomputed with oneDNN's softmax primitive, which also serves calls that request the
    // weights. Default: on for bf16 (1.5x faster than the softmax primitive at L=1024, where the
    // primitive costs more than both AMX matmuls); for f32 on where the scores are key-major
    // (one thread: 1.06x), off otherwise (row-major f32 is 2 % slower than the primitive;
    // docs/PERFORMANCE.md).
    void set_fused_softmax(bool on) { fused_softmax_ = on; }
    bool fused_softmax() const { return fused_softmax_; }
    // Key-major scores on the fused path (f32 tiles without a causal mask): Pᵀ = exp(K·Qᵀ - shift),
    // so the sums over keys are column sums, which oneDNN's matmul computes with whole-vector
    // loads (6x faster than the row sums P·1), and Oᵀ = Vᵀ·Pᵀ / sums. Default: on when oneDNN runs
    // one thread, where it beats the row-major fused path by 8 %; with more threads its small
    // per-tile primitives (column sums, Qᵀ and Oᵀ reorders) pay more in synchronisation than
    // they save, so it is off.
    void set_key_major_scores(bool on) { key_major_scores_ = on; }
    bool key_major_scores() const { return key_major_scores_; }
    struct PathCounts {
        std::uint64_t fused_tiles = 0, exact_tiles = 0, fallback_tiles = 0;
        std::uint64_t key_major_tiles = 0;  // of the fused tiles, those computed key-major
    };
    PathCounts path_counts() const { return path_counts_; }

    // The tile shape (batches, heads, rows) the last forward used.
    struct Tile {
        std::int64_t batches, heads, rows;
    };
    Tile last_tile() const { return last_tile_; }

private:
    struct TilePrimitives;
    TilePrimitives& tile_primitives(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                          const Tensor* probs, std::int64_t tb, std::int64_t th, std::int64_t tr,
                                          bool key_mask, bool causal, float scale);
    void prepare_masks(const AttentionMasks& masks, std::int64_t B, std::int64_t Lq, std::int64_t Lkv);
    // Whether one-head row tiles of a call take the key-major fused path (set_key_major_scores).
    bool key_major_tiles(bool causal, bool probs_requested) const {
        return fused_softmax_ && key_major_scores_ && compute_ == DataType::f32 && !causal && !probs_requested;
    }

    std::shared_ptr<Device> device_;
    DataType compute_;
    dnnl::stream stream_;
    std::size_t tile_bytes_;
    Tile last_tile_{0, 0, 0};
    bool fused_softmax_;
    bool key_major_scores_;
    PathCounts path_counts_;
    std::array<std::int64_t, 4> key_norm_group_{-1, -1, -1, -1};  // (b0, batches, h0, heads) of key_norm_
    float key_norm_ = 0.f;
    Workspace workspace_;
    std::vector<std::unique_ptr<TilePrimitives>> tiles_;  // small: one per tile shape seen
    std::vector<std::int64_t> call_signature_;            // of the current forward() call
    std::int64_t causal_rows_ = -1, causal_cols_ = -1;     // shape of the cached causal mask
    // Which (batch, head) group, in which layout, the packed K / V buffers currently hold.
    struct PackedOperand {
        std::pair<std::int64_t, std::int64_t> group{-1, -1};
        dnnl::memory::desc layout;
    };
    PackedOperand packed_k_, packed_v_;
};

}  // namespace xmodal
