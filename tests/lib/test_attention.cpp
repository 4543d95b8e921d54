#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "support/reference.hpp"
#include "xmodal/attention.hpp"
#include "xmodal/device.hpp"
#include "xmodal/error.hpp"
#include "xmodal/primitive_cache.hpp"

namespace xmodal {
namespace {

using testing::AttentionShape;
using testing::compare;
using testing::random_values;
using testing::reference_attention;

// q, k, v filled with random values and an f32 output, for an attention shape.
struct Qkv {
    Tensor q, k, v, out;
};

Qkv random_qkv(const std::shared_ptr<Device>& device, const AttentionShape& s, std::uint64_t seed) {
    Qkv t{Tensor::empty(device, {s.B, s.H, s.Lq, s.Dh}, DataType::f32), Tensor::empty(device, {s.B, s.H, s.Lkv, s.Dh}, DataType::f32),
          Tensor::empty(device, {s.B, s.H, s.Lkv, s.Dv}, DataType::f32), Tensor::empty(device, {s.B, s.H, s.Lq, s.Dv}, DataType::f32)};
    for (auto* x : {&t.q, &t.k, &t.v}) x->copy_from_f32(random_values(static_cast<std::size_t>(x->numel()), seed++));
    return t;
}

struct Case {
    const char* name;
    AttentionShape shape;
    bool key_padding = false;
    bool causal = false;
    std::size_t tile_bytes = 0;  // 0 = default tiling
};

std::string case_name(const ::testing::TestParamInfo<std::tuple<Case, DataType>>& info) {
    return std::string(std::get<0>(info.param).name) + "_" + std::string(dtype_name(std::get<1>(info.param)));
}

class AttentionVsReference : public ::testing::TestWithParam<std::tuple<Case, DataType>> {};

TEST_P(AttentionVsReference, MatchesNaiveDoublePrecision) {
    const auto& [c, dtype] = GetParam();
    auto device = Device::open("cpu");
    if (dtype == DataType::bf16 && !device->native_bf16()) GTEST_SKIP() << "no native bf16 on " << device->isa();
    const auto& s = c.shape;
    auto qv = random_values(static_cast<std::size_t>(s.B * s.H * s.Lq * s.Dh), 1, -2.f, 2.f);
    auto kv = random_values(static_cast<std::size_t>(s.B * s.H * s.Lkv * s.Dh), 2, -2.f, 2.f);
    auto vv = random_values(static_cast<std::size_t>(s.B * s.H * s.Lkv * s.Dv), 3);
    std::vector<std::uint8_t> keep;
    if (c.key_padding) {
        keep.resize(static_cast<std::size_t>(s.B * s.Lkv));
        for (std::size_t i = 0; i < keep.size(); ++i) keep[i] = (i * 7 + 3) % 5 != 0;
        for (std::int64_t b = 0; b < s.B; ++b) keep[static_cast<std::size_t>(b * s.Lkv)] = 1;  // never all hidden
    }
    const double scale = 1.0 / std::sqrt(static_cast<double>(s.Dh));
    std::vector<double> want_probs;
    auto want = reference_attention(s, qv, kv, vv, keep, c.causal, scale, &want_probs);

    Attention attention(device, dtype);
    if (c.tile_bytes) attention.set_tile_bytes(c.tile_bytes);
    auto q = Tensor::empty(device, {s.B, s.H, s.Lq, s.Dh}, dtype);
    auto k = Tensor::empty(device, {s.B, s.H, s.Lkv, s.Dh}, dtype);
    auto v = Tensor::empty(device, {s.B, s.H, s.Lkv, s.Dv}, dtype);
    auto out = Tensor::empty(device, {s.B, s.H, s.Lq, s.Dv}, DataType::f32);
    auto probs = Tensor::empty(device, {s.B, s.H, s.Lq, s.Lkv}, DataType::f32);
    q.copy_from_f32(qv);
    k.copy_from_f32(kv);
    v.copy_from_f32(vv);
    Tensor mask;
    AttentionMasks masks;
    masks.causal = c.causal;
    if (c.key_padding) {
        mask = Tensor::borrow(device, keep.data(), {s.B, s.Lkv}, DataType::u8);
        masks.key_padding = &mask;
    }

    const double tolerance = dtype == DataType::f32 ? 1e-4 : 2e-2;
    // Without the weights requested, on each softmax path (fused: one-head row tiles only, with
    // row-major or key-major scores), then with the weights requested: four code paths.
    for (auto [fused, key_major] : {std::pair{false, false}, {true, false}, {true, true}}) {
        attention.set_fused_softmax(fused);
        attention.set_key_major_scores(key_major);
        const auto before = attention.path_counts();
        attention.forward(q, k, v, out, masks);
        auto err = compare(out.to_f32(), want);
        const bool one_head_tiles = attention.last_tile().heads == 1 && attention.last_tile().batches == 1;
        const bool takes_key_major = fused && key_major && one_head_tiles && dtype == DataType::f32 && !c.causal;
        const char* path = !(fused && one_head_tiles) ? "primitive" : takes_key_major ? "fused key-major" : "fused";
        RecordProperty(std::string(path) + " max_rel_error", std::to_string(err.relative()));
        std::printf("    %s %s, %s softmax: max abs error %.3g, relative %.3g (tile %lldx%lldx%lld)\n", c.name,
                    std::string(dtype_name(dtype)).c_str(), path, err.max_abs, err.relative(),
                    static_cast<long long>(attention.last_tile().batches),
                    static_cast<long long>(attention.last_tile().heads), static_cast<long long>(attention.last_tile().rows));
        EXPECT_LE(err.relative(), tolerance) << path;
        const auto after = attention.path_counts();
        EXPECT_EQ(after.fallback_tiles, before.fallback_tiles) << "ordinary scores fell back";
        if (fused && one_head_tiles) {
            EXPECT_GT(after.fused_tiles, before.fused_tiles) << "the fused softmax did not run";
        }
        if (!fused) {
            EXPECT_EQ(after.fused_tiles, before.fused_tiles);
        }
        if (takes_key_major) {
            EXPECT_GT(after.key_major_tiles, before.key_major_tiles) << path;
        }
        if (!(fused && key_major) || dtype != DataType::f32 || c.causal) {  // (a one-head tail tile may take it)
            EXPECT_EQ(after.key_major_tiles, before.key_major_tiles) << path;
        }
    }

    attention.forward(q, k, v, out, masks, &probs);
    EXPECT_LE(compare(out.to_f32(), want).relative(), tolerance);
    auto got_probs = probs.to_f32();
    EXPECT_LE(compare(got_probs, want_probs).max_abs, dtype == DataType::f32 ? 1e-5 : 1e-2);
    for (std::int64_t row = 0; row < s.B * s.H * s.Lq; ++row) {
        double sum = 0;
        for (std::int64_t j = 0; j < s.Lkv; ++j) {
            float p = got_probs[static_cast<std::size_t>(row * s.Lkv + j)];
            if (want_probs[static_cast<std::size_t>(row * s.Lkv + j)] == 0.0) {
                ASSERT_EQ(p, 0.f) << "masked key got weight";
            }
            sum += p;
        }
        ASSERT_NEAR(sum, 1.0, 1e-5) << "row " << row;
    }
}

const Case cases[] = {
    {"single_query", {1, 8, 1, 37, 64, 64}},
    {"single_key", {2, 4, 17, 1, 32, 32}},
    {"one_by_one", {1, 1, 1, 1, 8, 8}},
    {"odd_lengths_16_heads", {3, 16, 33, 71, 16, 24}},
    {"batch_key_padding", {3, 2, 19, 45, 32, 32}, true},
    {"causal_self", {2, 4, 50, 50, 32, 32}, false, true},
    {"causal_and_padding", {2, 3, 23, 23, 16, 16}, true, true},
    {"row_tiles_with_tail", {2, 2, 100, 257, 64, 64}, false, false, 20 * 257 * 4},
    {"row_tiles_key_padding", {3, 2, 70, 83, 16, 24}, true, false, 16 * 83 * 4},
    {"head_tiles", {2, 5, 30, 40, 32, 32}, true, false, 2 * 30 * 40 * 4},
    {"row_tiles_causal_padding", {2, 3, 61, 61, 16, 16}, true, true, 7 * 61 * 4},
};

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionVsReference,
                         ::testing::Combine(::testing::ValuesIn(cases), ::testing::Values(DataType::f32, DataType::bf16)),
                         case_name);

TEST(Attention, TilingCoversRowBlocksHeadsAndBatches) {
    auto device = Device::open("cpu");
    Attention attention(device);
    const AttentionShape s{2, 4, 64, 128, 16, 16};
    auto [q, k, v, out] = random_qkv(device, s, 9);
    const std::size_t row = s.Lkv * 4;
    attention.set_tile_bytes(10 * row);  // rows of one head
    attention.forward(q, k, v, out);
    EXPECT_EQ(attention.last_tile().heads, 1);
    EXPECT_LT(attention.last_tile().rows, s.Lq);
    attention.set_tile_bytes(2 * s.Lq * row);  // two heads of one batch item
    attention.forward(q, k, v, out);
    EXPECT_EQ(attention.last_tile().heads, 2);
    EXPECT_EQ(attention.last_tile().rows, s.Lq);
    attention.set_tile_bytes(1 << 30);  // everything at once
    attention.forward(q, k, v, out);
    EXPECT_EQ(attention.last_tile().batches, s.B);
}

TEST(Attention, FusedSoftmaxRecomputesRowsThatWouldUnderflow) {
    // Long queries along d0, long keys along d1: the scores stay within ±2 but the Cauchy-Schwarz
    // bound the fused path shifts by is 20000, so exp would underflow to 0 for whole rows.
    // Those tiles must be recomputed exactly, and rows that do not underflow stay on the fast path.
    auto device = Device::open("cpu");
    for (DataType dtype : {DataType::f32, DataType::bf16}) {
        if (dtype == DataType::bf16 && !device->native_bf16()) continue;
        const AttentionShape s{1, 1, 32, 40, 16, 16};
        auto qv = random_values(static_cast<std::size_t>(s.Lq * s.Dh), 11, -0.01f, 0.01f);
        auto kv = random_values(static_cast<std::size_t>(s.Lkv * s.Dh), 12, -0.01f, 0.01f);
        auto vv = random_values(static_cast<std::size_t>(s.Lkv * s.Dv), 13);
        for (std::int64_t i = 0; i < 16; ++i) qv[static_cast<std::size_t>(i * s.Dh)] = 200.f;   // rows 0-15: long queries along d0
        for (std::int64_t j = 0; j < s.Lkv; ++j) kv[static_cast<std::size_t>(j * s.Dh + 1)] = 400.f;  // keys along d1
        const double scale = 1.0 / std::sqrt(static_cast<double>(s.Dh));
        auto want = reference_attention(s, qv, kv, vv, {}, false, scale);
        auto q = Tensor::empty(device, {1, 1, s.Lq, s.Dh}, dtype), k = Tensor::empty(device, {1, 1, s.Lkv, s.Dh}, dtype);
        auto v = Tensor::empty(device, {1, 1, s.Lkv, s.Dv}, dtype), out = Tensor::empty(device, {1, 1, s.Lq, s.Dv}, DataType::f32);
        q.copy_from_f32(qv);
        k.copy_from_f32(kv);
        v.copy_from_f32(vv);
        for (bool key_major : {false, true}) {
            Attention attention(device, dtype);
            attention.set_fused_softmax(true);
            attention.set_key_major_scores(key_major);
            attention.set_tile_bytes(16 * s.Lkv * 4);  // two row tiles: the long queries, then the short ones
            attention.forward(q, k, v, out);
            const std::string path = std::string(dtype_name(dtype)) + (key_major ? " key-major" : " row-major");
            EXPECT_EQ(attention.path_counts().fallback_tiles, 1u) << path;
            EXPECT_EQ(attention.path_counts().fused_tiles, 1u) << path;
            EXPECT_EQ(attention.path_counts().key_major_tiles, key_major && dtype == DataType::f32 ? 1u : 0u) << path;
            EXPECT_LE(compare(out.to_f32(), want).relative(), dtype == DataType::f32 ? 1e-4 : 2e-2) << path;
        }
    }
}

TEST(Attention, HeadsMergedThroughStridedOutputView) {
    // q/k/v/out as (B, L, H·D) buffers seen as (B, H, L, D): the layout the cross block uses.
    auto device = Device::open("cpu");
    const AttentionShape s{2, 4, 9, 13, 8, 8};
    const auto D = s.H * s.Dh;
    auto qv = random_values(static_cast<std::size_t>(s.B * s.H * s.Lq * s.Dh), 4);
    auto kv = random_values(static_cast<std::size_t>(s.B * s.H * s.Lkv * s.Dh), 5);
    auto vv = random_values(static_cast<std::size_t>(s.B * s.H * s.Lkv * s.Dv), 6);
    auto want = reference_attention(s, qv, kv, vv, {}, false, 1.0 / std::sqrt(8.0));
    auto q = Tensor::empty(device, {s.B, s.Lq, D}, DataType::f32);
    auto k = Tensor::empty(device, {s.B, s.Lkv, D}, DataType::f32);
    auto v = Tensor::empty(device, {s.B, s.Lkv, D}, DataType::f32);
    auto o = Tensor::empty(device, {s.B, s.Lq, D}, DataType::f32);
    auto heads = [&](const Tensor& t, std::int64_t L) { return t.view({s.B, s.H, L, s.Dh}, {L * D, s.Dh, D, 1}); };
    heads(q, s.Lq).copy_from_f32(qv);
    heads(k, s.Lkv).copy_from_f32(kv);
    heads(v, s.Lkv).copy_from_f32(vv);
    Attention attention(device);
    attention.forward(heads(q, s.Lq), heads(k, s.Lkv), heads(v, s.Lkv), heads(o, s.Lq));
    EXPECT_LE(compare(heads(o, s.Lq).to_f32(), want).relative(), 1e-4);
    // One-head row tiles of the same views, on every path: strided Q, K and V reach the packing
    // reorders and the output is written through the strided view.
    attention.set_tile_bytes(4 * s.Lkv * 4);
    for (auto [fused, key_major] : {std::pair{false, false}, {true, false}, {true, true}}) {
        attention.set_fused_softmax(fused);
        attention.set_key_major_scores(key_major);
        o.copy_from_f32(std::vector<float>(static_cast<std::size_t>(o.numel()), 0.f));
        const auto before = attention.path_counts();
        attention.forward(heads(q, s.Lq), heads(k, s.Lkv), heads(v, s.Lkv), heads(o, s.Lq));
        EXPECT_EQ(attention.last_tile().rows, 3);
        EXPECT_EQ(attention.path_counts().key_major_tiles > before.key_major_tiles, fused && key_major);
        EXPECT_LE(compare(heads(o, s.Lq).to_f32(), want).relative(), 1e-4) << "fused " << fused << " key-major " << key_major;
    }
}

TEST(Attention, SteadyStateCreatesNoPrimitivesAndAllocatesNothing) {
    // Every softmax path: the primitive, fused with row-major scores (causal), fused key-major.
    for (auto [fused, causal] : {std::pair{false, true}, {true, true}, {true, false}}) {
        auto device = Device::open("cpu");
        device->primitives().clear();
        Attention attention(device);
        attention.set_fused_softmax(fused);
        attention.set_key_major_scores(true);
        attention.set_tile_bytes(16 * 96 * 4);  // several tiles, including a tail tile
        const AttentionShape s{1, 2, 40, 96, 32, 32};
        auto [q, k, v, out] = random_qkv(device, s, 7);
        AttentionMasks masks;
        masks.causal = causal;
        attention.forward(q, k, v, out, masks);  // warm-up creates primitives and scratch
        auto cache_before = device->primitives().stats();
        auto alloc_before = allocation_stats();
        for (int i = 0; i < 5; ++i) attention.forward(q, k, v, out, masks);
        auto cache_after = device->primitives().stats();
        auto alloc_after = allocation_stats();
        EXPECT_EQ(cache_after.created, cache_before.created) << "fused " << fused << " causal " << causal;
        EXPECT_EQ(alloc_after.count, alloc_before.count) << "fused " << fused << " causal " << causal;
        EXPECT_EQ(attention.path_counts().fused_tiles > 0, fused);
        EXPECT_EQ(attention.path_counts().key_major_tiles > 0, fused && !causal);

        // A second operator with the same shapes reuses the device's primitives.
        Attention second(device);
        second.set_fused_softmax(fused);
        second.set_key_major_scores(true);
        second.set_tile_bytes(16 * 96 * 4);
        second.forward(q, k, v, out, masks);
        EXPECT_EQ(device->primitives().stats().created, cache_before.created) << "fused " << fused << " causal " << causal;
        EXPECT_GT(device->primitives().stats().hits, cache_after.hits) << "fused " << fused << " causal " << causal;
    }
}

TEST(Attention, ScalesThatPrintAlikeGetTheirOwnPrimitives) {
    // 0.125 and 0.1250001 print the same with 6 significant digits; the scale is baked into the
    // Q·Kᵀ primitive, so each must get its own.
    auto device = Device::open("cpu");
    Attention attention(device);
    auto [q, k, v, out] = random_qkv(device, {1, 1, 3, 5, 8, 8}, 3);
    attention.forward(q, k, v, out, {}, nullptr, 0.125f);
    auto created = device->primitives().stats().created;
    attention.forward(q, k, v, out, {}, nullptr, std::nextafter(0.125f, 1.f));
    EXPECT_GT(device->primitives().stats().created, created);
}

TEST(Attention, ErrorsNameTheTensorAndExpectedShape) {
    auto device = Device::open("cpu");
    Attention attention(device);
    auto q = Tensor::empty(device, {1, 2, 3, 8}, DataType::f32);
    auto k = Tensor::empty(device, {1, 2, 5, 4}, DataType::f32);  // wrong head width
    auto v = Tensor::empty(device, {1, 2, 5, 8}, DataType::f32);
    auto out = Tensor::empty(device, {1, 2, 3, 8}, DataType::f32);
    try {
        attention.forward(q, k, v, out);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("k is tensor [1,2,5,4]"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("expected [1,2,Lkv,8]"), std::string::npos) << e.what();
    }
    auto k_ok = Tensor::empty(device, {1, 2, 5, 8}, DataType::f32);
    auto bad_out = Tensor::empty(device, {1, 2, 4, 8}, DataType::f32);
    EXPECT_THROW(attention.forward(q, k_ok, v, bad_out), Error);
    auto q3 = Tensor::empty(device, {2, 3, 8}, DataType::f32);
    EXPECT_THROW(attention.forward(q3, k_ok, v, out), Error);
    auto q16 = Tensor::empty(device, {1, 2, 3, 8}, DataType::bf16);
    EXPECT_THROW(attention.forward(q16, k_ok, v, out), Error);

    std::vector<std::uint8_t> none(5, 0);
    auto mask = Tensor::borrow(device, none.data(), {1, 5}, DataType::u8);
    AttentionMasks masks;
    masks.key_padding = &mask;
    for (auto* t : {&q, &k_ok, &v}) t->copy_from_f32(random_values(static_cast<std::size_t>(t->numel()), 1));
    try {
        attention.forward(q, k_ok, v, out, masks);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("hides every key of batch item 0"), std::string::npos) << e.what();
    }
    auto wrong_mask = Tensor::borrow(device, none.data(), {5, 1}, DataType::u8);
    masks.key_padding = &wrong_mask;
    EXPECT_THROW(attention.forward(q, k_ok, v, out, masks), Error);
}

}  // namespace
}  // namespace xmodal

namespace xmodal {
namespace {

TEST(Attention, Bf16RequestOnACpuWithoutBf16ComputesInF32) {
    auto device = Device::open("cpu");
    if (device->native_bf16()) GTEST_SKIP() << "native bf16 here; run with ONEDNN_MAX_CPU_ISA=AVX2 (meson test lib-without-bf16)";
    Attention attention(device, DataType::bf16);
    ASSERT_EQ(attention.compute_type(), DataType::f32);
    const AttentionShape s{1, 2, 5, 7, 8, 8};
    auto qv = random_values(80, 1), kv = random_values(112, 2), vv = random_values(112, 3);
    auto want = reference_attention(s, qv, kv, vv, {}, false, 1.0 / std::sqrt(8.0));
    auto q = Tensor::empty(device, {1, 2, 5, 8}, DataType::f32), k = Tensor::empty(device, {1, 2, 7, 8}, DataType::f32);
    auto v = Tensor::empty(device, {1, 2, 7, 8}, DataType::f32), out = Tensor::empty(device, {1, 2, 5, 8}, DataType::f32);
    q.copy_from_f32(qv);
    k.copy_from_f32(kv);
    v.copy_from_f32(vv);
    attention.forward(q, k, v, out);
    EXPECT_LE(compare(out.to_f32(), want).relative(), 1e-4);  // f32 accuracy, not bf16
}

}  // namespace
}  // namespace xmodal
