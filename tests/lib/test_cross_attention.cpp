#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "support/reference.hpp"
#include "xmodal/cross_attention.hpp"
#include "xmodal/device.hpp"
#include "xmodal/error.hpp"
#include "xmodal/primitive_cache.hpp"

namespace xmodal {
namespace {

using testing::compare;
using testing::random_values;

struct CrossCase {
    const char* name;
    CrossAttentionConfig config;
    std::int64_t B, Lq, Lkv;
    bool padding;
};

class CrossVsReference : public ::testing::TestWithParam<std::tuple<CrossCase, DataType>> {};

TEST_P(CrossVsReference, MatchesNaiveDoublePrecision) {
    const auto& [c, dtype] = GetParam();
    auto device = Device::open("cpu");
    if (dtype == DataType::bf16 && !device->native_bf16()) GTEST_SKIP() << "no native bf16";
    auto weights = CrossAttentionWeights::random(c.config, 42);
    auto av = random_values(static_cast<std::size_t>(c.B * c.Lq * c.config.query_dim), 11);
    auto bv = random_values(static_cast<std::size_t>(c.B * c.Lkv * c.config.kv_dim), 12);
    std::vector<std::uint8_t> keep;
    if (c.padding) {
        keep.assign(static_cast<std::size_t>(c.B * c.Lkv), 1);
        for (std::int64_t b = 0; b < c.B; ++b)  // batch item b has its last b keys padded
            for (std::int64_t j = c.Lkv - b; j < c.Lkv; ++j) keep[static_cast<std::size_t>(b * c.Lkv + j)] = 0;
    }
    auto want = testing::reference_cross_attention(weights, c.B, c.Lq, c.Lkv, av, bv, keep);

    CrossModalAttention block(device, weights, dtype);
    auto a = Tensor::empty(device, {c.B, c.Lq, c.config.query_dim}, DataType::f32);
    auto b = Tensor::empty(device, {c.B, c.Lkv, c.config.kv_dim}, DataType::f32);
    a.copy_from_f32(av);
    b.copy_from_f32(bv);
    Tensor mask;
    if (c.padding) mask = Tensor::borrow(device, keep.data(), {c.B, c.Lkv}, DataType::u8);
    const auto& result = block.forward(a, b, c.padding ? &mask : nullptr, true);
    const double tolerance = dtype == DataType::f32 ? 1e-4 : 2e-2;
    auto err = compare(result.fused.to_f32(), want.out);
    std::printf("    %s %s: max abs error %.3g, relative %.3g\n", c.name, std::string(dtype_name(dtype)).c_str(),
                err.max_abs, err.relative());
    EXPECT_LE(err.relative(), tolerance);
    EXPECT_EQ(result.fused.shape(), (Shape{c.B, c.Lq, c.config.model_dim}));
    EXPECT_LE(compare(result.head_weights.to_f32(), want.probs).max_abs, dtype == DataType::f32 ? 1e-5 : 1e-2);
    EXPECT_LE(compare(result.mean_weights.to_f32(), want.mean).max_abs, dtype == DataType::f32 ? 1e-5 : 1e-2);
    auto mean = result.mean_weights.to_f32();
    for (std::int64_t row = 0; row < c.B * c.Lq; ++row) {
        double sum = 0;
        for (std::int64_t j = 0; j < c.Lkv; ++j) sum += mean[static_cast<std::size_t>(row * c.Lkv + j)];
        EXPECT_NEAR(sum, 1.0, 1e-5);
    }

    // Without weights the fused output is the same.
    const auto& again = block.forward(a, b, c.padding ? &mask : nullptr, false);
    EXPECT_FALSE(again.head_weights.defined());
    EXPECT_LE(compare(again.fused.to_f32(), want.out).relative(), tolerance);
}

const CrossCase cross_cases[] = {
    {"fusion_size", {96, 128, 256, 8}, 1, 32, 64, false},
    {"one_object_one_sound", {24, 40, 64, 4}, 1, 1, 1, false},
    {"batched_padded", {20, 36, 48, 3}, 3, 7, 13, true},
    {"sixteen_heads", {64, 64, 128, 16}, 2, 5, 9, false},
    {"single_head", {10, 12, 16, 1}, 2, 3, 4, false},
};

INSTANTIATE_TEST_SUITE_P(Shapes, CrossVsReference,
                         ::testing::Combine(::testing::ValuesIn(cross_cases),
                                            ::testing::Values(DataType::f32, DataType::bf16)),
                         [](const auto& info) {
                             return std::string(std::get<0>(info.param).name) + "_" +
                                    std::string(dtype_name(std::get<1>(info.param)));
                         });

TEST(CrossModalAttention, VaryingTokenCountsReachASteadyState) {
    auto device = Device::open("cpu");
    CrossModalAttention block(device, CrossAttentionWeights::random({16, 24, 32, 4}, 1));
    auto run = [&](std::int64_t objects, std::int64_t sounds) {
        auto a = Tensor::empty(device, {1, objects, 16}, DataType::f32);
        auto b = Tensor::empty(device, {1, sounds, 24}, DataType::f32);
        a.copy_from_f32(random_values(static_cast<std::size_t>(a.numel()), 1));
        b.copy_from_f32(random_values(static_cast<std::size_t>(b.numel()), 2));
        block.forward(a, b, nullptr, true);
    };
    for (std::int64_t n = 1; n <= 6; ++n) run(n, 8);  // objects per frame vary
    auto created = device->primitives().stats().created;
    auto before = allocation_stats();
    for (int rep = 0; rep < 3; ++rep)
        for (std::int64_t n = 1; n <= 6; ++n) run(n, 8);
    EXPECT_EQ(device->primitives().stats().created, created);
    // Only the test's own input tensors (2 per call) are allocated; the block itself allocates nothing.
    EXPECT_EQ(allocation_stats().count - before.count, 2u * 18u);
}

TEST(CrossModalAttention, RejectsMismatchedInputs) {
    auto device = Device::open("cpu");
    CrossModalAttention block(device, CrossAttentionWeights::random({16, 24, 32, 4}, 1));
    auto a = Tensor::empty(device, {1, 3, 15}, DataType::f32);
    auto b = Tensor::empty(device, {1, 5, 24}, DataType::f32);
    try {
        block.forward(a, b);
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("expected [B,Lq,16] f32"), std::string::npos) << e.what();
    }
    auto a_ok = Tensor::empty(device, {2, 3, 16}, DataType::f32);
    EXPECT_THROW(block.forward(a_ok, b), Error);  // batch mismatch
    EXPECT_THROW(CrossAttentionWeights::random({16, 24, 30, 4}, 1), Error);  // 30 % 4 != 0
}

class WeightsFile : public ::testing::Test {
protected:
    std::string path = (std::filesystem::temp_directory_path() /
                        ("xmodal_weights_" + std::to_string(::getpid()) + ".safetensors")).string();
    void TearDown() override { std::filesystem::remove(path); }
    void write_raw(const std::string& header, std::size_t data_bytes, bool declare_full_length = true) {
        std::ofstream out(path, std::ios::binary);
        std::uint64_t len = declare_full_length ? header.size() : header.size() + 100;
        for (int i = 0; i < 8; ++i) out.put(static_cast<char>((len >> (8 * i)) & 0xff));
        out << header << std::string(data_bytes, '\0');
    }
    std::string load_error() {
        try {
            load_safetensors(path);
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    }
};

TEST_F(WeightsFile, RoundTripAndSameOutputs) {
    auto device = Device::open("cpu");
    auto weights = CrossAttentionWeights::random({12, 20, 24, 3}, 5);
    TensorFile file;
    weights.store(file, "fuse.");
    save_safetensors(path, file);
    auto loaded = CrossAttentionWeights::load(path, "fuse.");
    EXPECT_EQ(loaded.config.heads, 3);
    EXPECT_EQ(loaded.config.kv_dim, 20);
    CrossModalAttention from_memory(device, weights), from_file(device, loaded);
    auto a = Tensor::empty(device, {1, 4, 12}, DataType::f32);
    auto b = Tensor::empty(device, {1, 6, 20}, DataType::f32);
    a.copy_from_f32(random_values(48, 3));
    b.copy_from_f32(random_values(120, 4));
    EXPECT_EQ(from_memory.forward(a, b).fused.to_f32(), from_file.forward(a, b).fused.to_f32());
}

TEST_F(WeightsFile, MalformedFilesAreNamedErrors) {
    EXPECT_NE(load_error().find("cannot open weights file"), std::string::npos);
    { std::ofstream(path) << "abc"; }
    EXPECT_NE(load_error().find("truncated"), std::string::npos) << load_error();
    write_raw("{\"a\":", 0);
    EXPECT_NE(load_error().find("not valid JSON"), std::string::npos) << load_error();
    write_raw("{}", 0, false);
    EXPECT_NE(load_error().find("only 2 follow"), std::string::npos) << load_error();
    write_raw(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}})", 8);
    EXPECT_NE(load_error().find("needs 16 bytes"), std::string::npos) << load_error();
    write_raw(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4);
    EXPECT_NE(load_error().find("outside the 4-byte data section"), std::string::npos) << load_error();
    write_raw(R"({"w":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})", 8);
    EXPECT_NE(load_error().find("dtype 'C64'"), std::string::npos) << load_error();
    write_raw(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4);
    EXPECT_NE(load_error().find("tensor 'w' entry is malformed"), std::string::npos) << load_error();

    // Well-formed file, wrong contents for a cross-attention block.
    write_raw(R"({"__metadata__":{"heads":"2"},"q_proj.weight":{"dtype":"F32","shape":[4,3],"data_offsets":[0,48]}})", 48);
    try {
        CrossAttentionWeights::load(path);
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("no tensor 'k_proj.weight'"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace xmodal
