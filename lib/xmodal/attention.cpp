#include "xmodal/attention.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "xmodal/device.hpp"
#include "xmodal/error.hpp"
#include "xmodal/primitive_cache.hpp"

namespace xmodal {
namespace {

using dims = dnnl::memory::dims;
using dt = dnnl::memory::data_type;
using md_t = dnnl::memory::desc;

enum WorkspaceSlot : std::size_t {
    slot_scores,
    slot_probs_lowp,
    slot_key_mask,
    slot_causal,
    slot_scratchpad,
    slot_k_packed,
    slot_v_packed,
    slot_shift,
    slot_row_sums,
    slot_ones,
    slot_q_packed,
    slot_out_t
};

// Fused path (see Attention::forward): exp(s - shift) must stay finite for every score s, and a
// row's sum must stay clear of underflow. The shift sits this far below the Cauchy-Schwarz bound
// of the scores, so exp(s - shift) <= e^40 (sums of up to 1e20 keys stay finite in f32 and
// bf16), and a row is accepted when its sum is at least kMinRowSum (e^-46); otherwise the tile
// is recomputed exactly. A row therefore falls back only when its largest score is more than
// 86 below the bound, i.e. when the query is nearly orthogonal to every key and both are long.
constexpr float kShiftHeadroom = 40.f;
constexpr float kMinRowSum = 1e-20f;

int compute_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

std::size_t tile_bytes_from_environment() {  // tuning knob; 0 = choose per call
    if (const char* env = std::getenv("XMODAL_ATTENTION_TILE_BYTES"); env && *env)
        return static_cast<std::size_t>(std::max(1L, std::atol(env)));
    return 0;
}

// See Attention::set_tile_bytes.
std::size_t default_tile_bytes(bool key_major) {
    long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (l2 <= 0) l2 = 1 << 20;
    const auto per_thread = static_cast<std::size_t>(l2) / (key_major ? 4 : 2);
    return std::max<std::size_t>(256 << 10, per_thread * static_cast<std::size_t>(compute_threads()));
}

// Splits n into ceil(n/chunk) near-equal pieces; returns the piece size (the last piece may be smaller).
std::int64_t balanced(std::int64_t n, std::int64_t chunk) {
    chunk = std::clamp<std::int64_t>(chunk, 1, n);
    std::int64_t pieces = (n + chunk - 1) / chunk;
    return (n + pieces - 1) / pieces;
}

void check_rank4(const Tensor& t, const char* name) {
    if (!t.defined()) fail("attention: tensor '", name, "' is undefined");
    if (t.ndim() != 4) fail("attention: '", name, "' is ", t.describe(), ", expected 4 dims (B,H,L,D)");
}

// A strided 4-D descriptor whose size-1 dims carry dense strides: oneDNN 2.6 only dispatches its
// brgemm/AMX matmul kernels for operands it sees as plain-dense, and a one-head tile of a
// (B,H,L,D) tensor is dense apart from the strides of its size-1 dims.
md_t view_md(const dims& shape, dims strides, dt type) {
    for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i)
        if (shape[i] == 1) strides[i] = i + 1 < static_cast<int>(shape.size()) ? strides[i + 1] * shape[i + 1] : 1;
    return md_t(shape, type, strides);
}

void* offset_ptr(const void* base, std::int64_t offset_elems, std::size_t elem_size) {
    return const_cast<char*>(static_cast<const char*>(base) + offset_elems * static_cast<std::int64_t>(elem_size));
}

float element_as_f32(const void* p, DataType type) {
    if (type == DataType::bf16)
        return std::bit_cast<float>(static_cast<std::uint32_t>(*static_cast<const std::uint16_t*>(p)) << 16);
    return *static_cast<const float*>(p);
}

// Largest Euclidean norm among the rows x[b0:b0+nb, h0:h0+nh, r0:r0+nr, :] of a (B,H,L,D) tensor
// in the compute type: with the keys' it bounds every score of a tile (Cauchy-Schwarz).
float max_row_norm(const Tensor& x, std::int64_t b0, std::int64_t nb, std::int64_t h0, std::int64_t nh,
                   std::int64_t r0, std::int64_t nr) {
    const auto& st = x.strides();
    const std::size_t esize = dtype_size(x.dtype());
    const std::int64_t D = x.dim(3);
    float largest = 0.f;
    for (std::int64_t b = b0; b < b0 + nb; ++b)
        for (std::int64_t h = h0; h < h0 + nh; ++h)
            for (std::int64_t r = r0; r < r0 + nr; ++r) {
                const char* row = static_cast<const char*>(x.data()) +
                                  static_cast<std::int64_t>(esize) * (b * st[0] + h * st[1] + r * st[2]);
                float sum = 0.f;
                if (st[3] == 1 && x.dtype() == DataType::f32) {  // the usual layouts: vectorised
                    const auto* values = reinterpret_cast<const float*>(row);
#pragma omp simd reduction(+ : sum)
                    for (std::int64_t d = 0; d < D; ++d) sum += values[d] * values[d];
                } else if (st[3] == 1 && x.dtype() == DataType::bf16) {
                    const auto* bits = reinterpret_cast<const std::uint16_t*>(row);
#pragma omp simd reduction(+ : sum)
                    for (std::int64_t d = 0; d < D; ++d) {
                        float value = std::bit_cast<float>(static_cast<std::uint32_t>(bits[d]) << 16);
                        sum += value * value;
                    }
                } else {
                    for (std::int64_t d = 0; d < D; ++d) {
                        float value = element_as_f32(row + static_cast<std::int64_t>(esize) * d * st[3], x.dtype());
                        sum += value * value;
                    }
                }
                largest = std::max(largest, sum);
            }
    return std::sqrt(largest);
}

}  // namespace

struct Attention::TilePrimitives {
    std::array<std::int64_t, 3> tile;                 // batches, heads, rows
    std::vector<std::int64_t> call_signature;         // shapes, strides, types, masks, scale of the call
    CachedPrimitive qk, softmax, to_lowp, pv, pack_k, pack_v;
    // Fused path: Q·Kᵀ with exp in its epilogue, row sums as P·1, P·V divided by the sums.
    bool fused = false;
    CachedPrimitive qk_exp, row_sum, pv_normalised;
    md_t q_md, kt_md, s_md, p_md, v_md, o_md, key_mask_md, causal_md, shift_md, sums_md;
    md_t ones_md, sums_2d_md;  // row sums as P · ones
    md_t pv_p_md;  // P as P·V reads it: p_md, or p_md with a leading unit batch dim (see tile_primitives)
    md_t kt_packed_md, v_packed_md;  // layouts oneDNN chose for Kᵀ and V (format_tag::any)
    // Key-major fused path (f32 without a causal mask): the scores are computed transposed,
    // Pᵀ = exp(K·Qᵀ·scale - shift), so a query's sum is a column sum ones·Pᵀ, which brgemm runs
    // with full-width vector loads (0.007 ms for a 1024 x 256 tile, against 0.046 for the row
    // sums P·1 of the row-major layout, whose kernel broadcasts every element of P). The output
    // comes out transposed too, Oᵀ = Vᵀ·Pᵀ / sums, and one small reorder writes it to `out`.
    bool key_major = false;
    bool km_k_dense = false;  // the tile's keys are already a dense (Lkv, Dh) block: no packing
    CachedPrimitive km_pack_q, km_pack_k, km_pack_v, km_scores, km_sums, km_out_t, km_unpack;
    md_t km_q_md, km_q_packed_md, km_k_md, km_k_dense_md, km_v_md, km_vt_md, km_pt_md, km_key_mask_md, km_shift_md,
        km_ones_md, km_sums_md, km_ot_md, km_out_md;
    bool lowp_probs = false;  // P is stored in bf16 for the P·V matmul
    bool has_reorder = false;
    std::size_t scratchpad_bytes = 0;

    // Memory objects bound to the primitives' arguments; forward() only moves their data handles.
    struct Bound {
        dnnl::memory q, k_plain, k_packed, scores, probs, probs_pv, v_plain, v_packed, out, key_mask, causal, scratchpad, shift, sums;
        std::unordered_map<int, dnnl::memory> qk_args, softmax_args, to_lowp_args, pv_args, pack_k_args, pack_v_args;
        dnnl::memory ones, sums_2d;
        std::unordered_map<int, dnnl::memory> qk_exp_args, row_sum_args, pv_normalised_args;
        dnnl::memory km_q, km_q_packed, km_k, km_k_dense, km_v, km_vt, km_pt, km_key_mask, km_shift, km_ones, km_sums,
            km_ot, km_out;
        std::unordered_map<int, dnnl::memory> km_pack_q_args, km_pack_k_args, km_pack_v_args, km_scores_args,
            km_sums_args, km_out_t_args, km_unpack_args;
    } bound;

    void bind(const dnnl::engine& eng, bool key_mask, bool causal, bool probs_requested) {
        auto unbound = [&](const md_t& md) { return dnnl::memory(md, eng, DNNL_MEMORY_NONE); };
        auto& b = bound;
        b.q = unbound(q_md);
        b.k_plain = unbound(kt_md);
        b.k_packed = unbound(kt_packed_md);
        b.scores = unbound(s_md);
        b.probs = unbound(p_md);
        b.probs_pv = unbound(pv_p_md);
        b.v_plain = unbound(v_md);
        b.v_packed = unbound(v_packed_md);
        b.out = unbound(o_md);
        b.scratchpad = unbound(md_t({static_cast<std::int64_t>(std::max<std::size_t>(scratchpad_bytes, 64))}, dt::u8, dims{1}));
        b.qk_args = {{DNNL_ARG_SRC, b.q}, {DNNL_ARG_WEIGHTS, b.k_packed}, {DNNL_ARG_DST, b.scores}, {DNNL_ARG_SCRATCHPAD, b.scratchpad}};
        int post_op = 0;
        if (key_mask) {
            b.key_mask = unbound(key_mask_md);
            b.qk_args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(post_op++) | DNNL_ARG_SRC_1] = b.key_mask;
        }
        if (causal) {
            b.causal = unbound(causal_md);
            b.qk_args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(post_op++) | DNNL_ARG_SRC_1] = b.causal;
        }
        // Requested weights stay f32 in `scores` (the caller's probs); P·V then reads a bf16 copy.
        const dnnl::memory& softmax_dst = (lowp_probs && !probs_requested) ? b.probs : b.scores;
        b.softmax_args = {{DNNL_ARG_SRC, b.scores}, {DNNL_ARG_DST, softmax_dst}, {DNNL_ARG_SCRATCHPAD, b.scratchpad}};
        b.to_lowp_args = {{DNNL_ARG_FROM, b.scores}, {DNNL_ARG_TO, b.probs}, {DNNL_ARG_SCRATCHPAD, b.scratchpad}};
        b.pv_args = {{DNNL_ARG_SRC, b.probs_pv}, {DNNL_ARG_WEIGHTS, b.v_packed}, {DNNL_ARG_DST, b.out}, {DNNL_ARG_SCRATCHPAD, b.scratchpad}};
        b.pack_k_args = {{DNNL_ARG_FROM, b.k_plain}, {DNNL_ARG_TO, b.k_packed}, {DNNL_ARG_SCRATCHPAD, b.scratchpad}};
        b.pack_v_args = {{DNNL_ARG_FROM, b.v_plain}, {DNNL_ARG_TO, b.v_packed}, {DNNL_ARG_SCRATCHPAD, b.scratchpad}};
        if (key_major) {
            auto reorder_args = [&](dnnl::memory& from, dnnl::memory& to) {
                return std::unordered_map<int, dnnl::memory>{
                    {DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}, {DNNL_ARG_SCRATCHPAD, b.scratchpad}};
            };
            b.km_q = unbound(km_q_md);
            b.km_q_packed = unbound(km_q_packed_md);
            b.km_k = unbound(km_k_md);
            b.km_k_dense = unbound(km_k_dense_md);
            b.km_v = unbound(km_v_md);
            b.km_vt = unbound(km_vt_md);
            b.km_pt = unbound(km_pt_md);
            b.km_shift = unbound(km_shift_md);
            b.km_ones = unbound(km_ones_md);
            b.km_sums = unbound(km_sums_md);
            b.km_ot = unbound(km_ot_md);
            b.km_out = unbound(km_out_md);
            b.km_pack_q_args = reorder_args(b.km_q, b.km_q_packed);
            b.km_pack_k_args = reorder_args(b.km_k, b.km_k_dense);
            b.km_pack_v_args = reorder_args(b.km_v, b.km_vt);
            b.km_scores_args = {{DNNL_ARG_SRC, b.km_k_dense}, {DNNL_ARG_WEIGHTS, b.km_q_packed}, {DNNL_ARG_DST, b.km_pt},
                                {DNNL_ARG_SCRATCHPAD, b.scratchpad}};
            int km_post_op = 0;
            if (key_mask) {
                b.km_key_mask = unbound(km_key_mask_md);
                b.km_scores_args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(km_post_op++) | DNNL_ARG_SRC_1] = b.km_key_mask;
            }
            b.km_scores_args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(km_post_op) | DNNL_ARG_SRC_1] = b.km_shift;
            b.km_sums_args = {{DNNL_ARG_SRC, b.km_ones}, {DNNL_ARG_WEIGHTS, b.km_pt}, {DNNL_ARG_DST, b.km_sums},
                              {DNNL_ARG_SCRATCHPAD, b.scratchpad}};
            b.km_out_t_args = {{DNNL_ARG_SRC, b.km_vt}, {DNNL_ARG_WEIGHTS, b.km_pt}, {DNNL_ARG_DST, b.km_ot},
                               {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, b.km_sums},
                               {DNNL_ARG_SCRATCHPAD, b.scratchpad}};
            b.km_unpack_args = reorder_args(b.km_ot, b.km_out);
        }
        if (!fused || key_major) return;
        // Same post-op numbering as qk, plus the shift after the masks.
        b.shift = unbound(shift_md);
        b.sums = unbound(sums_md);
        b.qk_exp_args = b.qk_args;
        b.qk_exp_args[DNNL_ARG_DST] = b.probs;
        b.qk_exp_args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(post_op) | DNNL_ARG_SRC_1] = b.shift;
        b.ones = unbound(ones_md);
        b.sums_2d = unbound(sums_2d_md);
        b.row_sum_args = {{DNNL_ARG_SRC, b.probs}, {DNNL_ARG_WEIGHTS, b.ones}, {DNNL_ARG_DST, b.sums_2d}, {DNNL_ARG_SCRATCHPAD, b.scratchpad}};
        b.pv_normalised_args = b.pv_args;
        b.pv_normalised_args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = b.sums;
    }
};

Attention::Attention(std::shared_ptr<Device> device, DataType compute)
    : device_(std::move(device)),
      compute_(resolve_compute_type(*device_, compute, "attention")),
      stream_(device_->engine()),
      tile_bytes_(tile_bytes_from_environment()),
      fused_softmax_(compute_ != DataType::f32 || compute_threads() == 1),
      key_major_scores_(compute_threads() == 1) {}

Attention::~Attention() = default;

void Attention::prepare_masks(const AttentionMasks& masks, std::int64_t B, std::int64_t Lq, std::int64_t Lkv) {
    constexpr float blocked = -std::numeric_limits<float>::infinity();
    if (masks.key_padding) {
        const Tensor& m = *masks.key_padding;
        if (m.ndim() != 2 || m.dim(0) != B || m.dim(1) != Lkv || m.dtype() != DataType::u8)
            fail("attention: key_padding mask is ", m.describe(), ", expected [", B, ",", Lkv, "] u8");
        auto* additive = static_cast<float*>(workspace_.get(slot_key_mask, sizeof(float) * B * Lkv));
        const auto* src = m.data_as<const std::uint8_t>();
        for (std::int64_t b = 0; b < B; ++b) {
            bool any = false;
            for (std::int64_t j = 0; j < Lkv; ++j) {
                bool keep = src[b * m.strides()[0] + j * m.strides()[1]] != 0;
                additive[b * Lkv + j] = keep ? 0.f : blocked;
                any |= keep;
            }
            if (!any) fail("attention: key_padding mask hides every key of batch item ", b, " (", Lkv, " keys)");
        }
    }
    if (masks.causal && (causal_rows_ != Lq || causal_cols_ != Lkv)) {
        auto* additive = static_cast<float*>(workspace_.get(slot_causal, sizeof(float) * Lq * Lkv));
        for (std::int64_t i = 0; i < Lq; ++i)
            for (std::int64_t j = 0; j < Lkv; ++j) additive[i * Lkv + j] = j <= i ? 0.f : blocked;
        causal_rows_ = Lq;
        causal_cols_ = Lkv;
    }
}

Attention::TilePrimitives& Attention::tile_primitives(const Tensor& q, const Tensor& k, const Tensor& v,
                                                            const Tensor& out, const Tensor* probs, std::int64_t tb,
                                                            std::int64_t th, std::int64_t tr, bool key_mask,
                                                            bool causal, float scale) {
    const std::int64_t Lq = q.dim(2), Dh = q.dim(3), Lkv = k.dim(2), Dv = v.dim(3);
    for (auto& t : tiles_)  // no allocation here: this runs once per tile
        if (t->tile[0] == tb && t->tile[1] == th && t->tile[2] == tr && t->call_signature == call_signature_) return *t;

    auto tp = std::make_unique<TilePrimitives>();
    tp->tile = {tb, th, tr};
    tp->call_signature = call_signature_;
    const auto& eng = device_->engine();
    const dt cdt = to_dnnl(compute_);
    const auto &qs = q.strides(), &ks = k.strides(), &vs = v.strides(), &os = out.strides();

    // One-head tiles are plain 2-D problems: without batch dims oneDNN may also choose blocked
    // (VNNI for bf16) weight layouts for Kᵀ and V. Larger tiles keep (batch, head) as matmul batch dims.
    const bool two_d = tb == 1 && th == 1;
    auto make_md = [&](std::int64_t a, std::int64_t b, dims strides, dt type) {
        if (two_d) return view_md({a, b}, {strides[2], strides[3]}, type);
        return view_md({tb, th, a, b}, strides, type);
    };
    auto any_md = [&](std::int64_t a, std::int64_t b) {
        return two_d ? md_t({a, b}, cdt, dnnl::memory::format_tag::any)
                     : md_t({tb, th, a, b}, cdt, dnnl::memory::format_tag::any);
    };
    tp->q_md = make_md(tr, Dh, {qs[0], qs[1], qs[2], qs[3]}, cdt);
    tp->kt_md = make_md(Dh, Lkv, {ks[0], ks[1], ks[3], ks[2]}, cdt);  // Kᵀ as a strided view
    tp->s_md = probs ? make_md(tr, Lkv, {q.dim(1) * Lq * Lkv, Lq * Lkv, Lkv, 1}, dt::f32)
                     : make_md(tr, Lkv, {th * tr * Lkv, tr * Lkv, Lkv, 1}, dt::f32);
    tp->lowp_probs = compute_ != DataType::f32;
    tp->p_md = tp->lowp_probs ? make_md(tr, Lkv, {th * tr * Lkv, tr * Lkv, Lkv, 1}, cdt) : tp->s_md;
    tp->v_md = make_md(Lkv, Dv, {vs[0], vs[1], vs[2], vs[3]}, cdt);
    tp->o_md = make_md(tr, Dv, {os[0], os[1], os[2], os[3]}, to_dnnl(out.dtype()));
    tp->pv_p_md = tp->p_md;
    // The fused softmax runs on one-head tiles: there oneDNN's brgemm takes the per-row division
    // (on multi-head tiles it falls to the reference matmul). Small problems, which run as one
    // multi-head tile, are dominated by dispatch, not by the softmax.
    tp->fused = fused_softmax_ && probs == nullptr && two_d;
    tp->key_major = two_d && key_major_tiles(causal, probs != nullptr);
    if (tp->fused && !tp->key_major) {
        // oneDNN 2.6's brgemm matmul takes a per-row (M×1) binary post-op only as the middle dim of
        // a 3-D problem (2-D falls to its reference kernel), so the fused P·V of a one-head tile
        // runs as a (1, rows, Dv) problem; V then stays plain and the kernel blocks it itself.
        tp->pv_p_md = view_md({1, tr, Lkv}, {tr * Lkv, Lkv, 1}, tp->lowp_probs ? cdt : dt::f32);
        tp->v_md = view_md({1, Lkv, Dv}, {Lkv * vs[2], vs[2], vs[3]}, cdt);
        tp->o_md = view_md({1, tr, Dv}, {tr * os[2], os[2], os[3]}, to_dnnl(out.dtype()));
        tp->sums_md = md_t({1, tr, 1}, dt::f32, dims{tr, 1, 1});
        tp->shift_md = md_t({1, 1}, dt::f32, dims{1, 1});
    }
    tp->key_mask_md = two_d ? md_t({1, Lkv}, dt::f32, dims{Lkv, 1}) : md_t({tb, 1, 1, Lkv}, dt::f32, dims{Lkv, Lkv, Lkv, 1});
    tp->causal_md = two_d ? md_t({tr, Lkv}, dt::f32, dims{Lkv, 1})
                          : view_md({1, 1, tr, Lkv}, {Lq * Lkv, Lq * Lkv, Lkv, 1}, dt::f32);  // broadcast over tile
    const int row_axis = two_d ? 1 : 3;

    auto& cache = device_->primitives();
    dnnl::primitive_attr plain;
    plain.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    // Weight layouts: chosen by oneDNN (format_tag::any) for the primitives of the path that runs
    // normally, and imposed on the other so both read the same packed K and V.
    const md_t kt_any = any_md(Dh, Lkv);
    const md_t v_any = tp->v_md.dims().size() == 3 ? md_t({1, Lkv, Dv}, cdt, dnnl::memory::format_tag::any) : any_md(Lkv, Dv);

    // scale·(Q·Kᵀ) + masks, then, on the fused path, - shift and exp: the softmax numerators.
    auto make_qk = [&](const md_t& dst, const md_t& weights, bool exp_epilogue) {
        std::ostringstream key;
        key << "attention.qk|" << key_of(tp->q_md) << '|' << key_of(weights) << '|' << key_of(dst)
            << "|scale=" << std::bit_cast<std::uint32_t>(scale)  // exact bits: the scale is baked into the primitive
            << "|mask=" << key_mask << causal << "|exp=" << exp_epilogue;
        return cache.get(key.str(), [&] {
            dnnl::primitive_attr attr;
            attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
            attr.set_output_scales(0, {scale});
            dnnl::post_ops ops;
            if (key_mask) ops.append_binary(dnnl::algorithm::binary_add, tp->key_mask_md);
            if (causal) ops.append_binary(dnnl::algorithm::binary_add, tp->causal_md);
            if (exp_epilogue) {
                ops.append_binary(dnnl::algorithm::binary_sub, tp->shift_md);
                ops.append_eltwise(1.f, dnnl::algorithm::eltwise_exp, 0.f, 0.f);
            }
            attr.set_post_ops(ops);
            dnnl::matmul::primitive_desc pd({tp->q_md, weights, dst}, attr, eng);
            auto c = make_cached<dnnl::matmul>(pd);
            c.weights_desc = pd.weights_desc();
            return c;
        });
    };
    // P·V, on the fused path divided row by row by the numerators' sums.
    auto make_pv = [&](const md_t& weights, bool divide) {
        return cache.get("attention.pv|" + key_of(tp->pv_p_md) + '|' + key_of(weights) + '|' + key_of(tp->o_md) +
                             "|divide=" + std::to_string(divide),
                         [&] {
                             dnnl::primitive_attr attr;
                             attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
                             if (divide) {
                                 dnnl::post_ops ops;
                                 ops.append_binary(dnnl::algorithm::binary_div, tp->sums_md);
                                 attr.set_post_ops(ops);
                             }
                             dnnl::matmul::primitive_desc pd({tp->pv_p_md, weights, tp->o_md}, attr, eng);
                             auto c = make_cached<dnnl::matmul>(pd);
                             c.weights_desc = pd.weights_desc();
                             return c;
                         });
    };
    if (tp->fused && !tp->key_major) {
        tp->qk_exp = make_qk(tp->p_md, kt_any, true);
        tp->kt_packed_md = tp->qk_exp.weights_desc;
        tp->pv_normalised = make_pv(v_any, true);
        tp->v_packed_md = tp->pv_normalised.weights_desc;
        tp->ones_md = md_t({Lkv, 1}, tp->lowp_probs ? cdt : dt::f32, dims{1, 1});
        tp->sums_2d_md = md_t({tr, 1}, dt::f32, dims{1, 1});
        tp->row_sum = cache.get("attention.rowsum|" + key_of(tp->p_md) + '|' + key_of(tp->ones_md), [&] {
            dnnl::matmul::primitive_desc pd({tp->p_md, tp->ones_md, tp->sums_2d_md}, plain, eng);
            return make_cached<dnnl::matmul>(pd);
        });
        // The exact path below is the fallback for tiles whose rows underflow.
        tp->qk = make_qk(tp->s_md, tp->kt_packed_md, false);
        tp->pv = make_pv(tp->v_packed_md, false);
    } else {
        tp->qk = make_qk(tp->s_md, kt_any, false);
        tp->kt_packed_md = tp->qk.weights_desc;
        tp->pv = make_pv(v_any, false);
        tp->v_packed_md = tp->pv.weights_desc;
    }

    // With probs requested the f32 weights are kept and converted separately for P·V.
    const md_t& softmax_dst = (tp->lowp_probs && !probs) ? tp->p_md : tp->s_md;
    tp->softmax = cache.get("attention.softmax|" + key_of(tp->s_md) + '|' + key_of(softmax_dst), [&] {
        dnnl::softmax_v2_forward::primitive_desc pd(
            {dnnl::prop_kind::forward_inference, dnnl::algorithm::softmax_accurate, tp->s_md, softmax_dst, row_axis}, plain,
            eng);
        return make_cached<dnnl::softmax_v2_forward>(pd);
    });
    auto reorder_to = [&](const md_t& from, const md_t& to) {
        return cache.get("attention.reorder|" + key_of(from) + '|' + key_of(to), [&] {
            dnnl::reorder::primitive_desc pd(eng, from, eng, to, plain);
            return make_cached<dnnl::reorder>(pd);
        });
    };
    tp->has_reorder = tp->lowp_probs && probs;
    if (tp->has_reorder) tp->to_lowp = reorder_to(tp->s_md, tp->p_md);
    // K and V are packed once per (batch, head) group into the layouts above; every row tile of
    // the group reuses them (AMX/brgemm kernels would otherwise repack them inside each call).
    tp->pack_k = reorder_to(tp->kt_md, tp->kt_packed_md);
    tp->pack_v = reorder_to(tp->v_md, tp->v_packed_md);

    if (tp->key_major) {
        // All 3-D with a unit batch dim: oneDNN 2.6's brgemm takes the key mask, a per-row (M×1)
        // post-op, only as the middle dim of a 3-D problem.
        const dt f32 = dt::f32;
        tp->km_q_md = view_md({1, Dh, tr}, {Dh * tr, qs[3], qs[2]}, f32);  // this tile's Qᵀ, a strided view
        tp->km_k_md = view_md({1, Lkv, Dh}, {Lkv * Dh, ks[2], ks[3]}, f32);
        tp->km_k_dense_md = md_t({1, Lkv, Dh}, f32, dims{Lkv * Dh, Dh, 1});
        tp->km_k_dense = ks[3] == 1 && (ks[2] == Dh || Lkv == 1);
        tp->km_v_md = view_md({1, Dv, Lkv}, {Dv * Lkv, vs[3], vs[2]}, f32);  // Vᵀ, a strided view
        tp->km_vt_md = md_t({1, Dv, Lkv}, f32, dims{Dv * Lkv, Lkv, 1});
        tp->km_pt_md = md_t({1, Lkv, tr}, f32, dims{Lkv * tr, tr, 1});
        tp->km_key_mask_md = md_t({1, Lkv, 1}, f32, dims{Lkv, 1, 1});
        tp->km_shift_md = md_t({1, 1, 1}, f32, dims{1, 1, 1});
        tp->km_ones_md = md_t({1, 1, Lkv}, f32, dims{Lkv, Lkv, 1});
        tp->km_sums_md = md_t({1, 1, tr}, f32, dims{tr, tr, 1});
        tp->km_ot_md = md_t({1, Dv, tr}, f32, dims{Dv * tr, tr, 1});
        tp->km_out_md = view_md({1, Dv, tr}, {Dv * tr, os[3], os[2]}, to_dnnl(out.dtype()));  // out tile, transposed
        std::ostringstream key;
        key << "attention.km_scores|" << key_of(tp->km_k_dense_md) << '|' << key_of(tp->km_pt_md)
            << "|scale=" << std::bit_cast<std::uint32_t>(scale) << "|mask=" << key_mask;
        tp->km_scores = cache.get(key.str(), [&] {
            dnnl::primitive_attr attr;
            attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
            attr.set_output_scales(0, {scale});
            dnnl::post_ops ops;
            if (key_mask) ops.append_binary(dnnl::algorithm::binary_add, tp->km_key_mask_md);
            ops.append_binary(dnnl::algorithm::binary_sub, tp->km_shift_md);
            ops.append_eltwise(1.f, dnnl::algorithm::eltwise_exp, 0.f, 0.f);
            attr.set_post_ops(ops);
            dnnl::matmul::primitive_desc pd(
                {tp->km_k_dense_md, md_t({1, Dh, tr}, f32, dnnl::memory::format_tag::any), tp->km_pt_md}, attr, eng);
            auto c = make_cached<dnnl::matmul>(pd);
            c.weights_desc = pd.weights_desc();
            return c;
        });
        tp->km_q_packed_md = tp->km_scores.weights_desc;
        tp->km_sums = cache.get("attention.km_sums|" + key_of(tp->km_pt_md), [&] {
            dnnl::matmul::primitive_desc pd({tp->km_ones_md, tp->km_pt_md, tp->km_sums_md}, plain, eng);
            return make_cached<dnnl::matmul>(pd);
        });
        tp->km_out_t = cache.get("attention.km_out|" + key_of(tp->km_vt_md) + '|' + key_of(tp->km_pt_md), [&] {
            dnnl::primitive_attr attr;
            attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
            dnnl::post_ops ops;
            ops.append_binary(dnnl::algorithm::binary_div, tp->km_sums_md);
            attr.set_post_ops(ops);
            dnnl::matmul::primitive_desc pd({tp->km_vt_md, tp->km_pt_md, tp->km_ot_md}, attr, eng);
            return make_cached<dnnl::matmul>(pd);
        });
        tp->km_pack_q = reorder_to(tp->km_q_md, tp->km_q_packed_md);
        tp->km_pack_k = reorder_to(tp->km_k_md, tp->km_k_dense_md);
        tp->km_pack_v = reorder_to(tp->km_v_md, tp->km_vt_md);
        tp->km_unpack = reorder_to(tp->km_ot_md, tp->km_out_md);
    }
    tp->scratchpad_bytes = std::max({tp->qk.scratchpad_bytes, tp->softmax.scratchpad_bytes, tp->to_lowp.scratchpad_bytes,
                                     tp->pv.scratchpad_bytes, tp->pack_k.scratchpad_bytes, tp->pack_v.scratchpad_bytes,
                                     tp->qk_exp.scratchpad_bytes, tp->row_sum.scratchpad_bytes,
                                     tp->pv_normalised.scratchpad_bytes, tp->km_pack_q.scratchpad_bytes,
                                     tp->km_pack_k.scratchpad_bytes, tp->km_pack_v.scratchpad_bytes,
                                     tp->km_scores.scratchpad_bytes, tp->km_sums.scratchpad_bytes,
                                     tp->km_out_t.scratchpad_bytes, tp->km_unpack.scratchpad_bytes});
    tp->bind(eng, key_mask, causal, probs != nullptr);
    tiles_.push_back(std::move(tp));
    return *tiles_.back();
}

void Attention::forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                        const AttentionMasks& masks, const Tensor* probs, float scale) {
    check_rank4(q, "q");
    check_rank4(k, "k");
    check_rank4(v, "v");
    check_rank4(out, "out");
    const std::int64_t B = q.dim(0), H = q.dim(1), Lq = q.dim(2), Dh = q.dim(3);
    const std::int64_t Lkv = k.dim(2), Dv = v.dim(3);
    for (const auto* t : {&q, &k, &v, &out})
        if (t->device() != device_)
            fail("attention: ", t->describe(), " is on device '", t->device()->name(), "', attention runs on '",
                 device_->name(), "'");
    for (auto [t, name] : {std::pair{&q, "q"}, {&k, "k"}, {&v, "v"}})
        if (t->dtype() != compute_)
            fail("attention: '", name, "' is ", t->describe(), " but attention computes in ", dtype_name(compute_),
                 " (convert inputs to the compute type)");
    if (k.dim(0) != B || k.dim(1) != H || k.dim(3) != Dh)
        fail("attention: k is ", k.describe(), ", expected [", B, ",", H, ",Lkv,", Dh, "] to match q ",
             shape_string(q.shape()));
    if (v.dim(0) != B || v.dim(1) != H || v.dim(2) != Lkv)
        fail("attention: v is ", v.describe(), ", expected [", B, ",", H, ",", Lkv, ",Dv] to match k ",
             shape_string(k.shape()));
    if (out.shape() != Shape{B, H, Lq, Dv})
        fail("attention: out is ", out.describe(), ", expected ", shape_string({B, H, Lq, Dv}));
    if (out.dtype() != DataType::f32 && out.dtype() != compute_)
        fail("attention: out is ", out.describe(), ", expected f32 or ", dtype_name(compute_));
    if (probs && (probs->shape() != Shape{B, H, Lq, Lkv} || probs->dtype() != DataType::f32 || !probs->is_dense()))
        fail("attention: probs is ", probs->describe(), ", expected dense ", shape_string({B, H, Lq, Lkv}), " f32");
    if (Lkv == 0) fail("attention: no keys (k is ", k.describe(), ")");
    if (B == 0 || H == 0 || Lq == 0 || Dv == 0) return;
    if (device_->kind() != DeviceKind::cpu)
        fail("attention: device '", device_->name(), "' is not supported yet; use device 'cpu'");
    if (scale == 0.f) scale = 1.f / std::sqrt(static_cast<float>(Dh));

    prepare_masks(masks, B, Lq, Lkv);
    // Everything besides the tile shape that the tile primitives depend on, computed once per call.
    call_signature_.assign({Lq, Lkv, Dh, Dv, masks.key_padding != nullptr, masks.causal, probs != nullptr,
                            static_cast<std::int64_t>(out.dtype()), std::bit_cast<std::int32_t>(scale), fused_softmax_,
                            key_major_scores_});
    for (const Tensor* t : {&q, &k, &v, &out})
        call_signature_.insert(call_signature_.end(), t->strides().begin(), t->strides().end());

    // Tile so one tile's f32 scores fit the budget: whole batches when they fit, else heads, else
    // row blocks of one head. One-head tiles are dense 2-D problems, which oneDNN runs with its
    // fastest (brgemm/AMX) kernels.
    const std::int64_t row_bytes = Lkv * static_cast<std::int64_t>(sizeof(float));
    // Key-major tiles are smaller (see set_tile_bytes); only one-head row tiles are key-major.
    const bool key_major = key_major_tiles(masks.causal, probs != nullptr);
    auto budget = static_cast<std::int64_t>(tile_bytes_ ? tile_bytes_ : default_tile_bytes(false));
    if (!tile_bytes_ && key_major && Lq * row_bytes > budget) budget = static_cast<std::int64_t>(default_tile_bytes(true));
    std::int64_t tr = Lq, th = H, tb = B;
    if (Lq * row_bytes > budget) {
        tr = balanced(Lq, budget / row_bytes);
        th = tb = 1;
    } else if (H * Lq * row_bytes > budget) {
        th = balanced(H, budget / (Lq * row_bytes));
        tb = 1;
    } else {
        tb = balanced(B, budget / (H * Lq * row_bytes));
    }
    last_tile_ = {tb, th, tr};

    const std::size_t csize = dtype_size(compute_), osize = dtype_size(out.dtype());
    const auto &qs = q.strides(), &ks = k.strides(), &vs = v.strides(), &os = out.strides();
    const bool key_mask = masks.key_padding != nullptr;

    // The fused path sums rows as P · ones: a 1-column matmul takes 0.044 ms for a 256 x 1024
    // tile where oneDNN 2.6's reduction primitive takes 0.060 (bf16: far more).
    void* ones = nullptr;
    if (fused_softmax_ && probs == nullptr) {
        ones = workspace_.get(slot_ones, dtype_size(compute_) * static_cast<std::size_t>(Lkv));
        if (compute_ == DataType::bf16)
            std::fill_n(static_cast<std::uint16_t*>(ones), Lkv, std::uint16_t{0x3F80});
        else
            std::fill_n(static_cast<float*>(ones), Lkv, 1.f);
    }
    packed_k_ = packed_v_ = {};  // inputs change between calls: pack afresh
    key_norm_group_ = {-1, -1, -1, -1};
    for (std::int64_t b0 = 0; b0 < B; b0 += tb) {
        for (std::int64_t h0 = 0; h0 < H; h0 += th) {
            for (std::int64_t r0 = 0; r0 < Lq; r0 += tr) {
                const std::int64_t cb = std::min(tb, B - b0), ch = std::min(th, H - h0), cr = std::min(tr, Lq - r0);
                auto& tp = tile_primitives(q, k, v, out, probs, cb, ch, cr, key_mask, masks.causal, scale);
                const std::size_t tile_elems = static_cast<std::size_t>(cb * ch * cr * Lkv);
                void* scores = probs ? static_cast<char*>(probs->data()) +
                                           sizeof(float) * static_cast<std::size_t>(((b0 * H + h0) * Lq + r0) * Lkv)
                                     : workspace_.get(slot_scores, sizeof(float) * tile_elems);
                void* lowp = tp.lowp_probs ? workspace_.get(slot_probs_lowp, csize * tile_elems) : scores;

                // Memory objects and argument lists live with the tile's primitives; per tile only
                // the data handles move (no allocation in the loop).
                auto& m = tp.bound;
                const auto sp_bytes = std::max<std::size_t>(tp.scratchpad_bytes, 64);
                m.scratchpad.set_data_handle(workspace_.get(slot_scratchpad, sp_bytes));
                void* k_group = offset_ptr(k.data(), b0 * ks[0] + h0 * ks[1], csize);
                void* v_group = offset_ptr(v.data(), b0 * vs[0] + h0 * vs[1], csize);
                void* q_tile = offset_ptr(q.data(), b0 * qs[0] + h0 * qs[1] + r0 * qs[2], csize);
                void* out_tile = offset_ptr(out.data(), b0 * os[0] + h0 * os[1] + r0 * os[2], osize);
                void* key_mask_rows = key_mask ? offset_ptr(workspace_.get(slot_key_mask, 0), b0 * Lkv, sizeof(float)) : nullptr;
                // Repack K / V only when the (batch, head) group or the layout changes.
                auto repack = [&](PackedOperand& held, const md_t& layout, dnnl::memory& plain, void* source,
                                  const CachedPrimitive& pack, const std::unordered_map<int, dnnl::memory>& args) {
                    if (held.group == std::pair{b0, h0} && held.layout == layout) return;
                    plain.set_data_handle(source);
                    pack.primitive.execute(stream_, args);
                    held = {{b0, h0}, layout};
                };
                auto* shift = static_cast<float*>(workspace_.get(slot_shift, sizeof(float)));
                auto set_shift = [&] {  // the tile's bound on its scores, less the headroom
                    if (key_norm_group_ != std::array{b0, cb, h0, ch}) {
                        key_norm_ = max_row_norm(k, b0, cb, h0, ch, 0, Lkv);
                        key_norm_group_ = {b0, cb, h0, ch};
                    }
                    *shift = std::abs(scale) * max_row_norm(q, b0, cb, h0, ch, r0, cr) * key_norm_ - kShiftHeadroom;
                };
                const auto rows = static_cast<std::size_t>(cb * ch * cr);
                auto* sums = tp.fused ? static_cast<float*>(workspace_.get(slot_row_sums, sizeof(float) * rows)) : nullptr;
                // A fused tile: the numerators and their sums, then, when every sum is representable,
                // the normalised output. False: the tile is to be recomputed exactly.
                using Args = std::unordered_map<int, dnnl::memory>;
                auto run_fused = [&](const CachedPrimitive& numerators, const Args& numerator_args, const CachedPrimitive& sum,
                                     const Args& sum_args, auto&& normalised_output) {
                    numerators.primitive.execute(stream_, numerator_args);
                    sum.primitive.execute(stream_, sum_args);
                    stream_.wait();
                    bool representable = true;
                    for (std::size_t r = 0; r < rows; ++r) representable &= sums[r] >= kMinRowSum && std::isfinite(sums[r]);
                    if (!representable) {
                        ++path_counts_.fallback_tiles;
                        return false;
                    }
                    normalised_output();
                    ++path_counts_.fused_tiles;
                    return true;
                };
                if (tp.key_major) {
                    // Pᵀ = exp(K·Qᵀ·scale - shift), column sums, Oᵀ = Vᵀ·Pᵀ / sums, Oᵀ -> out.
                    if (tp.km_k_dense) {
                        m.km_k_dense.set_data_handle(k_group);
                    } else {
                        m.km_k_dense.set_data_handle(workspace_.get(slot_k_packed, tp.km_k_dense_md.get_size()));
                        repack(packed_k_, tp.km_k_dense_md, m.km_k, k_group, tp.km_pack_k, m.km_pack_k_args);
                    }
                    m.km_vt.set_data_handle(workspace_.get(slot_v_packed, tp.km_vt_md.get_size()));
                    repack(packed_v_, tp.km_vt_md, m.km_v, v_group, tp.km_pack_v, m.km_pack_v_args);
                    m.km_q.set_data_handle(q_tile);
                    m.km_q_packed.set_data_handle(workspace_.get(slot_q_packed, tp.km_q_packed_md.get_size()));
                    tp.km_pack_q.primitive.execute(stream_, m.km_pack_q_args);
                    set_shift();
                    m.km_shift.set_data_handle(shift);
                    if (key_mask) m.km_key_mask.set_data_handle(key_mask_rows);
                    m.km_pt.set_data_handle(workspace_.get(slot_scores, sizeof(float) * tile_elems));
                    m.km_ones.set_data_handle(ones);
                    m.km_sums.set_data_handle(sums);
                    if (run_fused(tp.km_scores, m.km_scores_args, tp.km_sums, m.km_sums_args, [&] {
                            m.km_ot.set_data_handle(workspace_.get(slot_out_t, tp.km_ot_md.get_size()));
                            m.km_out.set_data_handle(out_tile);
                            tp.km_out_t.primitive.execute(stream_, m.km_out_t_args);
                            tp.km_unpack.primitive.execute(stream_, m.km_unpack_args);
                            ++path_counts_.key_major_tiles;
                        }))
                        continue;
                    // else recomputed exactly below
                }
                // (The key-major path shares these slots in its own layouts: the handles are set here.)
                m.k_packed.set_data_handle(workspace_.get(slot_k_packed, tp.kt_packed_md.get_size()));
                m.v_packed.set_data_handle(workspace_.get(slot_v_packed, tp.v_packed_md.get_size()));
                repack(packed_k_, tp.kt_packed_md, m.k_plain, k_group, tp.pack_k, m.pack_k_args);
                repack(packed_v_, tp.v_packed_md, m.v_plain, v_group, tp.pack_v, m.pack_v_args);
                m.q.set_data_handle(q_tile);
                m.scores.set_data_handle(scores);
                m.probs.set_data_handle(lowp);
                m.probs_pv.set_data_handle(lowp);
                m.out.set_data_handle(out_tile);
                if (key_mask) m.key_mask.set_data_handle(key_mask_rows);
                if (masks.causal) m.causal.set_data_handle(offset_ptr(workspace_.get(slot_causal, 0), r0 * Lkv, sizeof(float)));
                if (tp.fused && !tp.key_major) {
                    // Numerators exp(s - shift) straight from the Q·Kᵀ epilogue, their row sums,
                    // then P·V divided by the sums: the softmax without its three passes over the
                    // scores (oneDNN 2.6's softmax primitive costs as much as half a matmul here).
                    set_shift();
                    m.shift.set_data_handle(shift);
                    m.sums.set_data_handle(sums);
                    m.sums_2d.set_data_handle(sums);
                    m.ones.set_data_handle(ones);
                    if (run_fused(tp.qk_exp, m.qk_exp_args, tp.row_sum, m.row_sum_args,
                                  [&] { tp.pv_normalised.primitive.execute(stream_, m.pv_normalised_args); }))
                        continue;
                    // else recomputed exactly below
                } else if (!tp.fused) {
                    ++path_counts_.exact_tiles;
                }
                tp.qk.primitive.execute(stream_, m.qk_args);
                tp.softmax.primitive.execute(stream_, m.softmax_args);
                if (tp.has_reorder) tp.to_lowp.primitive.execute(stream_, m.to_lowp_args);
                tp.pv.primitive.execute(stream_, m.pv_args);
            }
        }
    }
    stream_.wait();
}

}  // namespace xmodal
