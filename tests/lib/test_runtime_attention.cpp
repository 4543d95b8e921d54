// The runtime routes MatMul(Q, Kᵀ) → Div → Softmax → MatMul(·, V), as PyTorch exports attention,
// to xmodal's attention operator; results must equal the naive reference, fused or not.
#include <cmath>

#include <gtest/gtest.h>

#include "support/reference.hpp"
#include "xmodal/runtime.hpp"

namespace {

using xmodal::DataType;
using xmodal::HostTensor;

xmodal::ValueInfo input(const std::string& name, const xmodal::Shape& shape) {
    xmodal::ValueInfo v;
    v.name = name;
    v.shape_known = true;
    for (auto d : shape) v.shape.push_back(xmodal::Dim{d, ""});
    return v;
}

xmodal::Node node(const std::string& op, std::vector<std::string> in, std::vector<std::string> out) {
    xmodal::Node n;
    n.op_type = op;
    n.name = op + "_" + out[0];
    n.inputs = std::move(in);
    n.outputs = std::move(out);
    return n;
}

// Q, K, V [B,H,L,D]; `scores_as_output` also exposes Q·Kᵀ, which must stop the fusion.
xmodal::Model attention_model(const xmodal::testing::AttentionShape& s, bool scores_as_output, bool multiply) {
    xmodal::Model m;
    m.path = "attention.onnx";
    m.format = "onnx";
    m.opset = 17;
    auto& g = m.graph;
    g.inputs = {input("q", {s.B, s.H, s.Lq, s.Dh}), input("k", {s.B, s.H, s.Lkv, s.Dh}), input("v", {s.B, s.H, s.Lkv, s.Dv})};
    float scale = multiply ? 1.f / std::sqrt(static_cast<float>(s.Dh)) : std::sqrt(static_cast<float>(s.Dh));
    g.initializers["scale"] = HostTensor::from_f32({}, {scale});
    auto transpose = node("Transpose", {"k"}, {"kt"});
    transpose.attributes["perm"].kind = xmodal::Attribute::Kind::ints;
    transpose.attributes["perm"].ints = {0, 1, 3, 2};
    auto softmax = node("Softmax", {"scaled"}, {"p"});
    softmax.attributes["axis"].i = -1;
    g.nodes = {transpose, node("MatMul", {"q", "kt"}, {"scores"}), node(multiply ? "Mul" : "Div", {"scores", "scale"}, {"scaled"}), softmax,
               node("MatMul", {"p", "v"}, {"y"})};
    g.outputs = {input("y", {s.B, s.H, s.Lq, s.Dv})};
    if (scores_as_output) g.outputs.push_back(input("scores", {s.B, s.H, s.Lq, s.Lkv}));
    return m;
}

struct Case {
    bool scores_as_output, multiply;
    DataType precision;
};

class RuntimeAttention : public ::testing::TestWithParam<Case> {};

TEST_P(RuntimeAttention, MatchesTheNaiveReference) {
    const Case& c = GetParam();
    xmodal::testing::AttentionShape s{2, 3, 37, 45, 16, 24};
    auto q = xmodal::testing::random_values(static_cast<std::size_t>(s.B * s.H * s.Lq * s.Dh), 1);
    auto k = xmodal::testing::random_values(static_cast<std::size_t>(s.B * s.H * s.Lkv * s.Dh), 2);
    auto v = xmodal::testing::random_values(static_cast<std::size_t>(s.B * s.H * s.Lkv * s.Dv), 3);
    xmodal::ModelRunner runner(attention_model(s, c.scores_as_output, c.multiply), xmodal::Device::open("cpu"), {.precision = c.precision});
    auto out = runner.run({{"q", HostTensor::from_f32({s.B, s.H, s.Lq, s.Dh}, q)},
                           {"k", HostTensor::from_f32({s.B, s.H, s.Lkv, s.Dh}, k)},
                           {"v", HostTensor::from_f32({s.B, s.H, s.Lkv, s.Dv}, v)}});
    auto expected = xmodal::testing::reference_attention(s, q, k, v, {}, false, 1.0 / std::sqrt(static_cast<double>(s.Dh)));
    auto got = out[0].to_f32();
    ASSERT_EQ(got.size(), expected.size());
    double tolerance = runner.precision() == DataType::bf16 ? 2e-2 : 2e-5, worst = 0;
    for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - expected[i]));
    EXPECT_LE(worst, tolerance);
    // Fused: Div/Mul, Softmax and the second MatMul are absorbed into the first MatMul.
    EXPECT_EQ(runner.stats().fused_nodes, c.scores_as_output ? 0u : 3u);
}

INSTANTIATE_TEST_SUITE_P(Patterns, RuntimeAttention,
                         ::testing::Values(Case{false, false, DataType::f32}, Case{false, true, DataType::f32},
                                           Case{true, false, DataType::f32}, Case{false, false, DataType::bf16}),
                         [](const auto& info) {
                             return std::string(info.param.scores_as_output ? "unfused" : "fused") + (info.param.multiply ? "_mul" : "_div") +
                                    "_" + std::string(xmodal::dtype_name(info.param.precision));
                         });

}  // namespace
