#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>

#include "support/error_of.hpp"
#include "tflite_schema_generated.h"  // flatc output (build folder): builds the small models below
#include "xmodal/error.hpp"
#include "xmodal/shared_paths.hpp"
#include "xmodal/tflite_loader.hpp"

namespace xmodal {
namespace {

using testing::error_of;
constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t int64_min = std::numeric_limits<std::int64_t>::min();

// yamnet.tflite's path, or "" when the shared folder does not have it (the test then skips).
std::string yamnet_path() {
    try {
        return shared_file("models/yamnet.tflite");
    } catch (const Error&) {
        return "";
    }
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

const Node& node_named(const Graph& g, const std::string& name) {
    auto it = std::find_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.name == name; });
    if (it == g.nodes.end()) throw std::runtime_error("no node '" + name + "'");
    return *it;
}

const Node& producer_of(const Graph& g, const std::string& tensor) {
    for (const auto& n : g.nodes)
        if (std::find(n.outputs.begin(), n.outputs.end(), tensor) != n.outputs.end()) return n;
    throw std::runtime_error("no node writes '" + tensor + "'");
}

template <class T>
std::vector<T> values(const HostTensor& t) {
    std::vector<T> out(t.bytes.size() / sizeof(T));
    if (!out.empty()) std::memcpy(out.data(), t.bytes.data(), t.bytes.size());
    return out;
}

template <class T>
std::vector<std::uint8_t> bytes_of(const std::vector<T>& v) {
    std::vector<std::uint8_t> out(v.size() * sizeof(T));
    if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
    return out;
}

std::vector<std::int64_t> i64(const Graph& g, const std::string& initializer) {
    const HostTensor& t = g.initializers.at(initializer);
    EXPECT_EQ(t.dtype, DataType::s64) << initializer;
    return values<std::int64_t>(t);
}

// Every node input is a graph input, an initializer or an earlier node's output, and every
// initializer is read by some node: the IR is consistent and holds no dead weights.
void expect_consistent(const Model& model) {
    const Graph& g = model.graph;
    std::set<std::string> defined, read;
    for (const auto& v : g.inputs) defined.insert(v.name);
    for (const auto& [name, _] : g.initializers) defined.insert(name);
    for (const auto& n : g.nodes) {
        for (const auto& in : n.inputs) {
            if (in.empty()) continue;
            EXPECT_TRUE(defined.contains(in)) << n.describe() << " reads '" << in << "' before it is defined";
            read.insert(in);
        }
        for (const auto& out : n.outputs) EXPECT_TRUE(defined.insert(out).second) << n.describe() << " redefines '" << out << "'";
    }
    for (const auto& v : g.outputs) EXPECT_TRUE(defined.contains(v.name)) << "output '" << v.name << "'";
    for (const auto& [name, _] : g.initializers) EXPECT_TRUE(read.contains(name)) << "initializer '" << name << "' is never read";
}

// A small TFLite model written with the builder API flatc generates from our schema.
class TinyModel {
public:
    TinyModel() { buffers_.push_back(tfl::CreateBuffer(fbb_)); }  // buffer 0: the empty sentinel

    flatbuffers::Offset<tfl::QuantizationParameters> quant(std::vector<float> scales, std::vector<std::int64_t> zero_points, int dim) {
        return tfl::CreateQuantizationParametersDirect(fbb_, nullptr, nullptr, &scales, &zero_points, tfl::QuantizationDetails_NONE, 0, dim);
    }

    int tensor(const std::string& name, std::vector<std::int32_t> shape, tfl::TensorType type = tfl::TensorType_FLOAT32,
               const std::vector<std::uint8_t>& data = {}, flatbuffers::Offset<tfl::QuantizationParameters> q = 0) {
        std::uint32_t buffer = 0;
        if (!data.empty()) {
            buffers_.push_back(tfl::CreateBufferDirect(fbb_, &data));
            buffer = static_cast<std::uint32_t>(buffers_.size() - 1);
        }
        if (buffer_override >= 0) buffer = static_cast<std::uint32_t>(buffer_override);
        tensors_.push_back(tfl::CreateTensorDirect(fbb_, &shape, type, buffer, name.c_str(), q));
        return static_cast<int>(tensors_.size() - 1);
    }

    template <class T>
    int constant(const std::string& name, std::vector<std::int32_t> shape, tfl::TensorType type, const std::vector<T>& v) {
        return tensor(name, std::move(shape), type, bytes_of(v));
    }

    void op(tfl::BuiltinOperator code, std::vector<std::int32_t> in, std::vector<std::int32_t> out,
            tfl::BuiltinOptions options_type = tfl::BuiltinOptions_NONE, flatbuffers::Offset<void> options = 0,
            const char* custom = nullptr) {
        const std::string key = custom ? custom : std::to_string(code);
        if (!codes_by_key_.contains(key)) {
            codes_by_key_[key] = static_cast<std::uint32_t>(codes_.size());
            codes_.push_back(tfl::CreateOperatorCodeDirect(fbb_, static_cast<std::int8_t>(std::min<int>(code, 127)), custom, 1, code));
        }
        const std::uint32_t index = opcode_override >= 0 ? static_cast<std::uint32_t>(opcode_override) : codes_by_key_[key];
        ops_.push_back(tfl::CreateOperatorDirect(fbb_, index, &in, &out, options_type, options));
    }

    std::string finish(std::uint32_t version = 3) {
        auto sg = tfl::CreateSubGraphDirect(fbb_, &tensors_, &inputs, &outputs, &ops_, "main");
        std::vector<flatbuffers::Offset<tfl::SubGraph>> subgraphs{sg};
        auto model = tfl::CreateModelDirect(fbb_, version, &codes_, &subgraphs, "tiny test model", &buffers_);
        tfl::FinishModelBuffer(fbb_, model);
        return std::string(reinterpret_cast<const char*>(fbb_.GetBufferPointer()), fbb_.GetSize());
    }

    flatbuffers::FlatBufferBuilder& fbb() { return fbb_; }
    // Lists the last operator n more times: flatbuffers lets a vector point at one table repeatedly.
    void repeat_last_op(std::size_t n) { ops_.insert(ops_.end(), n, ops_.back()); }

    std::vector<std::int32_t> inputs, outputs;
    int buffer_override = -1;  // next tensor() refers to this buffer index instead
    int opcode_override = -1;  // next op() uses this opcode index

private:
    flatbuffers::FlatBufferBuilder fbb_;
    std::vector<flatbuffers::Offset<tfl::Buffer>> buffers_;
    std::vector<flatbuffers::Offset<tfl::Tensor>> tensors_;
    std::vector<flatbuffers::Offset<tfl::OperatorCode>> codes_;
    std::vector<flatbuffers::Offset<tfl::Operator>> ops_;
    std::map<std::string, std::uint32_t> codes_by_key_;
};

Model load(const std::string& bytes) { return load_tflite_bytes(bytes.data(), bytes.size(), "tiny.tflite"); }
std::string load_error(const std::string& bytes) {
    return error_of([&] { load(bytes); });
}

TEST(TfliteLoader, YamnetLoadsIntoOnnxOperators) {
    const std::string path = yamnet_path();
    if (path.empty()) GTEST_SKIP() << "models/yamnet.tflite is not in the shared folder";
    const Model model = load_tflite(path);
    EXPECT_EQ(model.format, "tflite");
    EXPECT_EQ(model.opset, 3);
    EXPECT_EQ(model.producer, "MLIR Converted.");
    const Graph& g = model.graph;
    ASSERT_EQ(g.inputs.size(), 1u);
    EXPECT_EQ(g.inputs[0].name, "input_1");
    EXPECT_EQ(g.inputs[0].dtype, DataType::f32);
    EXPECT_EQ(describe_shape(g.inputs[0].shape), "[1,15600]");
    ASSERT_EQ(g.outputs.size(), 2u);
    EXPECT_EQ(g.outputs[0].name, "Identity");
    EXPECT_EQ(describe_shape(g.outputs[0].shape), "[1,521]");
    EXPECT_EQ(g.outputs[1].name, "Identity_1");
    EXPECT_EQ(describe_shape(g.outputs[1].shape), "[96,64]");

    // 60 TFLite operators (MANIFEST): 14 CONV_2D + 13 DEPTHWISE_CONV_2D -> 27 Conv, each with its
    // fused RELU as a Relu; 11 DEQUANTIZE + 13 int8 pointwise filters + 4 int8 FC weights -> 28
    // DequantizeLinear; SLICE and STRIDED_SLICE -> 2 Slice.
    const std::map<std::string, int> expected{
        {"Add", 1},  {"Conv", 27},       {"DequantizeLinear", 28}, {"Gather", 2}, {"Gemm", 4},    {"Log", 1},     {"Mul", 3},
        {"Pad", 1},  {"ReduceMean", 1}, {"Relu", 27},             {"Reshape", 5}, {"Sigmoid", 1}, {"Slice", 2},  {"Sqrt", 1}};
    EXPECT_EQ(model.op_histogram(), expected);
    for (const auto& n : g.nodes) EXPECT_EQ(n.domain, "") << n.describe();
    expect_consistent(model);

    // First conv: 3x3 stride 2, SAME on 96x64 -> one extra row and column at the end.
    const Node& conv = node_named(g, "CONV_2D_19");
    EXPECT_EQ(conv.op_type, "Conv");
    EXPECT_EQ(conv.attr_ints("strides"), (std::vector<std::int64_t>{2, 2}));
    EXPECT_EQ(conv.attr_ints("pads"), (std::vector<std::int64_t>{0, 0, 1, 1}));
    EXPECT_EQ(conv.attr_ints("kernel_shape"), (std::vector<std::int64_t>{3, 3}));
    EXPECT_EQ(conv.attr_ints("dilations"), (std::vector<std::int64_t>{1, 1}));
    EXPECT_EQ(conv.attr_int("group", 0), 1);
    EXPECT_EQ(conv.attr_int("channels_last", 0), 1);
    ASSERT_EQ(conv.inputs.size(), 3u);
    EXPECT_TRUE(conv.inputs[1].ends_with("/oihw")) << conv.inputs[1];
    EXPECT_EQ(g.initializers.at(conv.inputs[1]).shape, (Shape{32, 1, 3, 3}));  // float filter, [32,3,3,1] OHWI in the file
    EXPECT_EQ(g.initializers.at(conv.inputs[2]).shape, (Shape{32}));
    EXPECT_EQ(producer_of(g, conv.outputs[0]).op_type, "Conv");
    EXPECT_TRUE(conv.outputs[0].ends_with("/pre_act"));
    EXPECT_EQ(node_named(g, "CONV_2D_19/relu").inputs, conv.outputs);

    // Depthwise with a float filter: groups = channels, 3x3 stride 1 SAME -> 1 all round.
    const Node& dw = node_named(g, "DEPTHWISE_CONV_2D_20");
    EXPECT_EQ(dw.attr_int("group", 0), 32);
    EXPECT_EQ(dw.attr_ints("pads"), (std::vector<std::int64_t>{1, 1, 1, 1}));
    EXPECT_EQ(g.initializers.at(dw.inputs[1]).shape, (Shape{32, 1, 3, 3}));

    // Pointwise conv with int8 weights: s8 OIHW initializer -> DequantizeLinear -> Conv.
    const Node& pw = node_named(g, "CONV_2D_21");
    const Node& pw_dq = producer_of(g, pw.inputs[1]);
    EXPECT_EQ(pw_dq.op_type, "DequantizeLinear");
    ASSERT_EQ(pw_dq.inputs.size(), 3u);
    EXPECT_EQ(g.initializers.at(pw_dq.inputs[0]).dtype, DataType::s8);
    EXPECT_EQ(g.initializers.at(pw_dq.inputs[0]).shape, (Shape{64, 32, 1, 1}));
    EXPECT_EQ(pw_dq.attr_int("axis", -1), 0);
    // This file's weights are quantized per tensor (one scale each, zero point 0), not per channel.
    EXPECT_EQ(g.initializers.at(pw_dq.inputs[1]).dtype, DataType::f32);
    EXPECT_EQ(g.initializers.at(pw_dq.inputs[1]).shape, Shape{});
    EXPECT_NEAR(values<float>(g.initializers.at(pw_dq.inputs[1])).at(0), 0.009358f, 1e-6f);
    EXPECT_EQ(g.initializers.at(pw_dq.inputs[2]).dtype, DataType::s8);
    EXPECT_EQ(values<std::int8_t>(g.initializers.at(pw_dq.inputs[2])), std::vector<std::int8_t>{0});

    // DEQUANTIZE feeding a depthwise filter: its int8 constant is permuted to [C,1,3,3] at load.
    const Node& dw4 = node_named(g, "DEPTHWISE_CONV_2D_25");
    EXPECT_EQ(dw4.attr_int("group", 0), 128);
    const Node& dq = producer_of(g, dw4.inputs[1]);
    EXPECT_EQ(dq.name, "DEQUANTIZE_24");
    EXPECT_EQ(dq.op_type, "DequantizeLinear");
    EXPECT_EQ(g.initializers.at(dq.inputs[0]).dtype, DataType::s8);
    EXPECT_EQ(g.initializers.at(dq.inputs[0]).shape, (Shape{128, 1, 3, 3}));

    // FC layers: Gemm with transB; the classifier has a bias and int8 weights [521,1024].
    int gemms_with_bias = 0;
    for (const auto& n : g.nodes) {
        if (n.op_type != "Gemm") continue;
        EXPECT_EQ(n.attr_int("transB", 0), 1) << n.describe();
        EXPECT_EQ(producer_of(g, n.inputs[1]).op_type, "DequantizeLinear") << n.describe();
        gemms_with_bias += n.inputs.size() == 3;
    }
    EXPECT_EQ(gemms_with_bias, 2);  // the mel matrix (bias 0.001) and the classifier

    const Node& mean = node_named(g, "MEAN_57");
    EXPECT_EQ(mean.op_type, "ReduceMean");
    EXPECT_EQ(i64(g, mean.inputs[1]), (std::vector<std::int64_t>{1, 2}));
    EXPECT_EQ(mean.attr_int("keepdims", -1), 0);

    const Node& framing = node_named(g, "SLICE_1");
    EXPECT_EQ(i64(g, framing.inputs[1]), std::vector<std::int64_t>{0});
    EXPECT_EQ(i64(g, framing.inputs[2]), std::vector<std::int64_t>{15600});
    const Node& gather = node_named(g, "GATHER_3");
    EXPECT_EQ(gather.attr_int("axis", -1), 0);
    EXPECT_EQ(g.initializers.at(gather.inputs[1]).dtype, DataType::s32);
    EXPECT_EQ(g.initializers.at(gather.inputs[1]).shape, (Shape{96, 5}));
    const Node& pad = node_named(g, "PAD_6");
    EXPECT_EQ(i64(g, pad.inputs[1]), (std::vector<std::int64_t>{0, 56, 0, 56}));  // [96,400] -> [96,512], centred
    EXPECT_EQ(pad.attr_string("mode", ""), "constant");
}

TEST(TfliteLoader, Conv2dSamePaddingAndOihwWeights) {
    TinyModel m;
    const int x = m.tensor("x", {1, 6, 7, 3});
    std::vector<float> w(2 * 3 * 3 * 3);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i);
    const int wt = m.constant("w", {2, 3, 3, 3}, tfl::TensorType_FLOAT32, w);
    const int b = m.constant("b", {2}, tfl::TensorType_FLOAT32, std::vector<float>{0.5f, -0.5f});
    const int y = m.tensor("y", {1, 3, 7, 2});
    auto options = tfl::CreateConv2DOptions(m.fbb(), tfl::Padding_SAME, /*stride_w*/ 1, /*stride_h*/ 2,
                                            tfl::ActivationFunctionType_RELU6, /*dilation_w*/ 2, /*dilation_h*/ 1);
    m.op(tfl::BuiltinOperator_CONV_2D, {x, wt, b}, {y}, tfl::BuiltinOptions_Conv2DOptions, options.Union());
    m.inputs = {x};
    m.outputs = {y};
    const Model model = load(m.finish());
    expect_consistent(model);
    const Graph& g = model.graph;
    EXPECT_EQ(model.producer, "tiny test model");
    ASSERT_EQ(g.nodes.size(), 2u);
    const Node& conv = g.nodes[0];
    EXPECT_EQ(conv.name, "CONV_2D_0");
    EXPECT_EQ(conv.op_type, "Conv");
    EXPECT_EQ(conv.domain, "");
    EXPECT_EQ(conv.inputs, (std::vector<std::string>{"x", "w/oihw", "b"}));
    EXPECT_EQ(conv.outputs, std::vector<std::string>{"y/pre_act"});
    // H: in 6, stride 2, k 3 -> out 3, total (3-1)*2+3-6 = 1 -> 0 top, 1 bottom.
    // W: in 7, stride 1, k 3 dilated 2 -> out 7, total 6+5-7 = 4 -> 2 left, 2 right.
    EXPECT_EQ(conv.attr_ints("pads"), (std::vector<std::int64_t>{0, 2, 1, 2}));
    EXPECT_EQ(conv.attr_ints("strides"), (std::vector<std::int64_t>{2, 1}));
    EXPECT_EQ(conv.attr_ints("dilations"), (std::vector<std::int64_t>{1, 2}));
    EXPECT_EQ(conv.attr_ints("kernel_shape"), (std::vector<std::int64_t>{3, 3}));
    EXPECT_EQ(conv.attr_int("group", 0), 1);
    EXPECT_EQ(conv.attr_int("channels_last", 0), 1);
    const HostTensor& oihw = g.initializers.at("w/oihw");
    EXPECT_EQ(oihw.dtype, DataType::f32);
    ASSERT_EQ(oihw.shape, (Shape{2, 3, 3, 3}));
    const auto permuted = values<float>(oihw);
    for (int o = 0; o < 2; ++o)
        for (int i = 0; i < 3; ++i)
            for (int h = 0; h < 3; ++h)
                for (int ww = 0; ww < 3; ++ww)
                    ASSERT_EQ(permuted[((o * 3 + i) * 3 + h) * 3 + ww], w[((o * 3 + h) * 3 + ww) * 3 + i]) << o << i << h << ww;
    EXPECT_FALSE(g.initializers.contains("w"));  // only the form the graph reads is kept
    const Node& clip = g.nodes[1];
    EXPECT_EQ(clip.op_type, "Clip");
    ASSERT_EQ(clip.inputs.size(), 3u);
    EXPECT_EQ(clip.inputs[0], "y/pre_act");
    EXPECT_EQ(values<float>(g.initializers.at(clip.inputs[1])), std::vector<float>{0.f});
    EXPECT_EQ(values<float>(g.initializers.at(clip.inputs[2])), std::vector<float>{6.f});
    EXPECT_EQ(clip.outputs, std::vector<std::string>{"y"});
}

TEST(TfliteLoader, GroupedConv2dSetsGroup) {
    TinyModel m;
    const int x = m.tensor("x", {1, 4, 4, 4});
    const int w = m.constant("w", {6, 1, 1, 2}, tfl::TensorType_FLOAT32, std::vector<float>(12, 1.f));
    const int y = m.tensor("y", {1, 4, 4, 6});
    auto options = tfl::CreateConv2DOptions(m.fbb(), tfl::Padding_VALID, 1, 1);
    m.op(tfl::BuiltinOperator_CONV_2D, {x, w, -1}, {y}, tfl::BuiltinOptions_Conv2DOptions, options.Union());
    m.inputs = {x};
    m.outputs = {y};
    const Model model = load(m.finish());
    ASSERT_EQ(model.graph.nodes.size(), 1u);
    EXPECT_EQ(model.graph.nodes[0].attr_int("group", 0), 2);  // 4 input channels, filters see 2
    EXPECT_EQ(model.graph.initializers.at("w/oihw").shape, (Shape{6, 2, 1, 1}));
}

TEST(TfliteLoader, DepthwiseFilterFromDequantizeIsPermutedWithItsAxis) {
    TinyModel m;
    const int x = m.tensor("x", {1, 4, 4, 2});
    std::vector<std::int8_t> q(3 * 3 * 4);
    for (std::size_t i = 0; i < q.size(); ++i) q[i] = static_cast<std::int8_t>(i - 10);
    const auto quant = m.quant({0.5f, 0.25f, 0.125f, 2.f}, {0, 1, -1, 3}, 3);
    const int wq = m.tensor("wq", {1, 3, 3, 4}, tfl::TensorType_INT8, bytes_of(q), quant);
    const int wdq = m.tensor("wdq", {1, 3, 3, 4});
    const int y = m.tensor("y", {1, 2, 2, 4});
    m.op(tfl::BuiltinOperator_DEQUANTIZE, {wq}, {wdq});
    auto options = tfl::CreateDepthwiseConv2DOptions(m.fbb(), tfl::Padding_VALID, 1, 1, /*depth_multiplier*/ 2);
    m.op(tfl::BuiltinOperator_DEPTHWISE_CONV_2D, {x, wdq, -1}, {y}, tfl::BuiltinOptions_DepthwiseConv2DOptions, options.Union());
    m.inputs = {x};
    m.outputs = {y};
    const Model model = load(m.finish());
    expect_consistent(model);
    const Graph& g = model.graph;
    ASSERT_EQ(g.nodes.size(), 2u);
    const Node& dq = g.nodes[0];
    EXPECT_EQ(dq.name, "DEQUANTIZE_0");
    EXPECT_EQ(dq.op_type, "DequantizeLinear");
    EXPECT_EQ(dq.inputs, (std::vector<std::string>{"wq/oihw", "DEQUANTIZE_0/scale", "DEQUANTIZE_0/zero_point"}));
    EXPECT_EQ(dq.outputs, std::vector<std::string>{"wdq"});
    EXPECT_EQ(dq.attr_int("axis", -1), 0);  // quantized_dimension 3 of [1,3,3,4] is dim 0 of [4,1,3,3]
    const HostTensor& w = g.initializers.at("wq/oihw");
    EXPECT_EQ(w.dtype, DataType::s8);
    ASSERT_EQ(w.shape, (Shape{4, 1, 3, 3}));
    const auto permuted = values<std::int8_t>(w);
    for (int c = 0; c < 4; ++c)
        for (int k = 0; k < 9; ++k) ASSERT_EQ(permuted[c * 9 + k], q[k * 4 + c]) << c << "," << k;
    EXPECT_EQ(g.initializers.at("DEQUANTIZE_0/scale").shape, Shape{4});
    EXPECT_EQ(values<float>(g.initializers.at("DEQUANTIZE_0/scale")), (std::vector<float>{0.5f, 0.25f, 0.125f, 2.f}));
    EXPECT_EQ(g.initializers.at("DEQUANTIZE_0/zero_point").dtype, DataType::s8);
    EXPECT_EQ(values<std::int8_t>(g.initializers.at("DEQUANTIZE_0/zero_point")), (std::vector<std::int8_t>{0, 1, -1, 3}));
    const Node& conv = g.nodes[1];
    EXPECT_EQ(conv.op_type, "Conv");
    EXPECT_EQ(conv.inputs, (std::vector<std::string>{"x", "wdq"}));  // omitted bias dropped
    EXPECT_EQ(conv.outputs, std::vector<std::string>{"y"});           // no fused activation
    EXPECT_EQ(conv.attr_int("group", 0), 2);
    EXPECT_EQ(conv.attr_ints("pads"), (std::vector<std::int64_t>{0, 0, 0, 0}));
}

TEST(TfliteLoader, FullyConnectedInt8PerChannelWeights) {
    auto build = [](std::vector<float> scales) {
        TinyModel m;
        const int x = m.tensor("x", {2, 2, 4});
        std::vector<std::int8_t> w(12);
        for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<std::int8_t>(3 * i);
        const std::vector<std::int64_t> zero_points(scales.size(), 0);
        const auto quant = m.quant(scales, zero_points, 0);
        const int wt = m.tensor("w", {3, 4}, tfl::TensorType_INT8, bytes_of(w), quant);
        const int b = m.constant("b", {3}, tfl::TensorType_FLOAT32, std::vector<float>{1, 2, 3});
        const int y = m.tensor("y", {4, 3});
        auto options = tfl::CreateFullyConnectedOptions(m.fbb(), tfl::ActivationFunctionType_RELU);
        m.op(tfl::BuiltinOperator_FULLY_CONNECTED, {x, wt, b}, {y}, tfl::BuiltinOptions_FullyConnectedOptions, options.Union());
        m.inputs = {x};
        m.outputs = {y};
        return m.finish();
    };
    const Model model = load(build({0.1f, 0.2f, 0.3f}));
    expect_consistent(model);
    const Graph& g = model.graph;
    std::vector<std::string> ops;
    for (const auto& n : g.nodes) ops.push_back(n.op_type);
    EXPECT_EQ(ops, (std::vector<std::string>{"Reshape", "DequantizeLinear", "Gemm", "Relu"}));
    const Node& flatten = g.nodes[0];
    EXPECT_EQ(flatten.inputs[0], "x");
    EXPECT_EQ(i64(g, flatten.inputs[1]), (std::vector<std::int64_t>{-1, 4}));
    const Node& dq = g.nodes[1];
    EXPECT_EQ(dq.inputs, (std::vector<std::string>{"w", "w/scale", "w/zero_point"}));
    EXPECT_EQ(dq.attr_int("axis", -1), 0);
    EXPECT_EQ(g.initializers.at("w").dtype, DataType::s8);
    EXPECT_EQ(g.initializers.at("w").shape, (Shape{3, 4}));
    EXPECT_EQ(g.initializers.at("w/scale").shape, Shape{3});
    EXPECT_EQ(values<float>(g.initializers.at("w/scale")), (std::vector<float>{0.1f, 0.2f, 0.3f}));
    EXPECT_EQ(g.initializers.at("w/zero_point").dtype, DataType::s8);
    EXPECT_EQ(g.initializers.at("w/zero_point").shape, Shape{3});
    const Node& gemm = g.nodes[2];
    EXPECT_EQ(gemm.name, "FULLY_CONNECTED_0");
    EXPECT_EQ(gemm.inputs, (std::vector<std::string>{flatten.outputs[0], dq.outputs[0], "b"}));
    EXPECT_EQ(gemm.attr_int("transB", 0), 1);
    EXPECT_EQ(gemm.outputs, std::vector<std::string>{"y/pre_act"});
    EXPECT_EQ(g.nodes[3].outputs, std::vector<std::string>{"y"});

    auto msg = load_error(build({0.1f, 0.2f}));
    EXPECT_NE(msg.find("tiny.tflite: tensor 'w' has 2 quantization scales, expected 1 or 3 (one per channel of dimension 0)"),
              std::string::npos)
        << msg;
}

TEST(TfliteLoader, SlicesBecomeOnnxSliceWithInputs) {
    TinyModel m;
    const int x = m.tensor("x", {4, 6});
    const int begin = m.constant("begin", {2}, tfl::TensorType_INT32, std::vector<std::int32_t>{1, 0});
    const int size = m.constant("size", {2}, tfl::TensorType_INT32, std::vector<std::int32_t>{2, -1});
    const int s1 = m.tensor("s1", {2, 6});
    m.op(tfl::BuiltinOperator_SLICE, {x, begin, size}, {s1});
    // x[::2, 5::-1] (end_mask on dim 1, negative stride)
    const int b2 = m.constant("b2", {2}, tfl::TensorType_INT32, std::vector<std::int32_t>{0, 5});
    const int e2 = m.constant("e2", {2}, tfl::TensorType_INT32, std::vector<std::int32_t>{4, 0});
    const int st2 = m.constant("st2", {2}, tfl::TensorType_INT32, std::vector<std::int32_t>{2, -1});
    const int s2 = m.tensor("s2", {2, 6});
    auto o2 = tfl::CreateStridedSliceOptions(m.fbb(), /*begin_mask*/ 0, /*end_mask*/ 2);
    m.op(tfl::BuiltinOperator_STRIDED_SLICE, {x, b2, e2, st2}, {s2}, tfl::BuiltinOptions_StridedSliceOptions, o2.Union());
    // x[-1, 1:] (shrink dim 0)
    const int b3 = m.constant("b3", {2}, tfl::TensorType_INT32, std::vector<std::int32_t>{-1, 1});
    const int e3 = m.constant("e3", {2}, tfl::TensorType_INT32, std::vector<std::int32_t>{0, 6});
    const int st3 = m.constant("st3", {2}, tfl::TensorType_INT32, std::vector<std::int32_t>{1, 1});
    const int s3 = m.tensor("s3", {5});
    auto o3 = tfl::CreateStridedSliceOptions(m.fbb(), 0, 0, 0, 0, /*shrink_axis_mask*/ 1);
    m.op(tfl::BuiltinOperator_STRIDED_SLICE, {x, b3, e3, st3}, {s3}, tfl::BuiltinOptions_StridedSliceOptions, o3.Union());
    m.inputs = {x};
    m.outputs = {s1, s2, s3};
    const Model model = load(m.finish());
    expect_consistent(model);
    const Graph& g = model.graph;
    ASSERT_EQ(g.nodes.size(), 4u);
    const Node& slice = g.nodes[0];
    EXPECT_EQ(slice.op_type, "Slice");
    ASSERT_EQ(slice.inputs.size(), 4u);
    EXPECT_EQ(slice.inputs[1], "SLICE_0/starts");
    EXPECT_EQ(i64(g, slice.inputs[1]), (std::vector<std::int64_t>{1, 0}));
    EXPECT_EQ(i64(g, slice.inputs[2]), (std::vector<std::int64_t>{3, int64_max}));
    EXPECT_EQ(i64(g, slice.inputs[3]), (std::vector<std::int64_t>{0, 1}));
    const Node& strided = g.nodes[1];
    ASSERT_EQ(strided.inputs.size(), 5u);
    EXPECT_EQ(i64(g, strided.inputs[1]), (std::vector<std::int64_t>{0, 5}));
    EXPECT_EQ(i64(g, strided.inputs[2]), (std::vector<std::int64_t>{4, int64_min}));
    EXPECT_EQ(i64(g, strided.inputs[4]), (std::vector<std::int64_t>{2, -1}));
    const Node& shrink = g.nodes[2];
    EXPECT_EQ(i64(g, shrink.inputs[1]), (std::vector<std::int64_t>{-1, 1}));
    EXPECT_EQ(i64(g, shrink.inputs[2]), (std::vector<std::int64_t>{int64_max, 6}));
    EXPECT_EQ(shrink.outputs, std::vector<std::string>{"s3/pre_squeeze"});
    const Node& squeeze = g.nodes[3];
    EXPECT_EQ(squeeze.op_type, "Squeeze");
    EXPECT_EQ(squeeze.inputs[0], "s3/pre_squeeze");
    EXPECT_EQ(i64(g, squeeze.inputs[1]), std::vector<std::int64_t>{0});
    EXPECT_EQ(squeeze.outputs, std::vector<std::string>{"s3"});
}

TEST(TfliteLoader, ShapeOperandsBecomeInt64Inputs) {
    TinyModel m;
    const int x = m.tensor("x", {2, 3});
    const int paddings = m.constant("paddings", {2, 2}, tfl::TensorType_INT32, std::vector<std::int32_t>{1, 2, 3, 4});
    const int p = m.tensor("p", {5, 10});
    m.op(tfl::BuiltinOperator_PAD, {x, paddings}, {p});
    const int axes = m.constant("axes", {1}, tfl::TensorType_INT32, std::vector<std::int32_t>{1});
    const int mean = m.tensor("mean", {5, 1});
    m.op(tfl::BuiltinOperator_MEAN, {p, axes}, {mean}, tfl::BuiltinOptions_ReducerOptions, tfl::CreateReducerOptions(m.fbb(), true).Union());
    const std::vector<std::int32_t> new_shape{1, 5};
    const int r = m.tensor("r", {1, 5});
    m.op(tfl::BuiltinOperator_RESHAPE, {mean}, {r}, tfl::BuiltinOptions_ReshapeOptions,
         tfl::CreateReshapeOptionsDirect(m.fbb(), &new_shape).Union());
    const int idx = m.constant("idx", {2}, tfl::TensorType_INT32, std::vector<std::int32_t>{4, 0});
    const int gth = m.tensor("g", {1, 2});
    m.op(tfl::BuiltinOperator_GATHER, {r, idx}, {gth}, tfl::BuiltinOptions_GatherOptions, tfl::CreateGatherOptions(m.fbb(), 1).Union());
    m.inputs = {x};
    m.outputs = {gth};
    const Model model = load(m.finish());
    expect_consistent(model);
    const Graph& g = model.graph;
    ASSERT_EQ(g.nodes.size(), 4u);
    EXPECT_EQ(g.nodes[0].op_type, "Pad");
    EXPECT_EQ(i64(g, "PAD_0/pads"), (std::vector<std::int64_t>{1, 3, 2, 4}));  // begins, then ends
    EXPECT_EQ(g.nodes[1].op_type, "ReduceMean");
    EXPECT_EQ(i64(g, g.nodes[1].inputs[1]), std::vector<std::int64_t>{1});
    EXPECT_EQ(g.nodes[1].attr_int("keepdims", 0), 1);
    EXPECT_EQ(g.nodes[2].op_type, "Reshape");
    EXPECT_EQ(i64(g, g.nodes[2].inputs[1]), (std::vector<std::int64_t>{1, 5}));
    EXPECT_EQ(g.nodes[3].op_type, "Gather");
    EXPECT_EQ(g.nodes[3].attr_int("axis", 0), 1);
    EXPECT_EQ(g.initializers.at("idx").dtype, DataType::s32);  // indices as stored
}

TEST(TfliteLoader, OtherOperatorsKeepTheirTfliteNames) {
    TinyModel m;
    const int x = m.tensor("x", {1, 10});
    const int s = m.tensor("s", {1, 10});
    const int c = m.tensor("c", {1, 10});
    m.op(tfl::BuiltinOperator_SOFTMAX, {x}, {s});
    m.op(tfl::BuiltinOperator_CUSTOM, {s}, {c}, tfl::BuiltinOptions_NONE, 0, "MyPostprocess");
    m.inputs = {x};
    m.outputs = {c};
    const Model model = load(m.finish());
    const auto ops = model.op_histogram();
    EXPECT_EQ(ops, (std::map<std::string, int>{{"SOFTMAX", 1}, {"MyPostprocess", 1}}));
    EXPECT_EQ(model.graph.nodes[0].domain, "tflite");
    EXPECT_EQ(model.graph.nodes[0].name, "SOFTMAX_0");
    EXPECT_EQ(model.graph.nodes[1].domain, "tflite.custom");
    EXPECT_EQ(model.graph.nodes[1].inputs, std::vector<std::string>{"s"});
    const std::string summary = model.summary();
    EXPECT_NE(summary.find("  SOFTMAX 1\n"), std::string::npos) << summary;
    EXPECT_NE(summary.find("  MyPostprocess 1\n"), std::string::npos) << summary;
}

// A valid two-op model, with one thing broken per case.
struct Broken {
    int buffer_index = -1, opcode_index = -1, add_input = 1;
    std::uint32_t version = 3;
    std::vector<float> w = {1, 2, 3, 4};
    bool dangling = false, ellipsis = false;
};

std::string broken_model(const Broken& b) {
    TinyModel m;
    const int x = m.tensor("x", {4});
    m.buffer_override = b.buffer_index;
    const int w = m.constant("w", {4}, tfl::TensorType_FLOAT32, b.w);
    m.buffer_override = -1;
    const int y = m.tensor("y", {4});
    const int z = m.tensor("z", {4});
    const int u = m.tensor("u", {4});
    m.opcode_override = b.opcode_index;
    m.op(tfl::BuiltinOperator_ADD, {x, b.add_input == 1 ? w : b.add_input}, {y});
    m.opcode_override = -1;
    const int begin = m.constant("begin", {1}, tfl::TensorType_INT32, std::vector<std::int32_t>{0});
    auto options = tfl::CreateStridedSliceOptions(m.fbb(), 0, 0, b.ellipsis ? 1 : 0);
    m.op(tfl::BuiltinOperator_STRIDED_SLICE, {b.dangling ? u : y, begin, begin, -1}, {z}, tfl::BuiltinOptions_StridedSliceOptions,
         options.Union());
    m.inputs = {x};
    m.outputs = {z};
    return m.finish(b.version);
}

TEST(TfliteLoader, ErrorsNameTheFileOperatorAndTensor) {
    EXPECT_EQ(load_error(broken_model({})), "");  // the unbroken model loads

    auto msg = load_error(broken_model({.buffer_index = 7}));
    EXPECT_NE(msg.find("tiny.tflite: tensor 'w' (index 1) refers to buffer 7, but the model has 3 buffers"), std::string::npos) << msg;

    msg = load_error(broken_model({.add_input = 42}));
    EXPECT_NE(msg.find("tiny.tflite: operator 0 (ADD): input 1 is tensor index 42, but the subgraph has 6 tensors"), std::string::npos)
        << msg;

    msg = load_error(broken_model({.opcode_index = 9}));
    EXPECT_NE(msg.find("tiny.tflite: operator 0: opcode index 9 is out of range (the model has 2 operator codes)"), std::string::npos)
        << msg;

    msg = load_error(broken_model({.dangling = true}));
    EXPECT_NE(msg.find("operator 1 (STRIDED_SLICE): reads tensor 'u', which no graph input, constant or earlier operator defines"),
              std::string::npos)
        << msg;

    msg = load_error(broken_model({.w = {1, 2, 3}}));
    EXPECT_NE(msg.find("tiny.tflite: tensor 'w' [4] f32 needs 16 bytes, its buffer 1 has 12"), std::string::npos) << msg;

    msg = load_error(broken_model({.version = 2}));
    EXPECT_NE(msg.find("tiny.tflite: TFLite schema version 2 (only version 3 is supported)"), std::string::npos) << msg;

    msg = load_error(broken_model({.ellipsis = true}));
    EXPECT_NE(msg.find("operator 1 (STRIDED_SLICE): ellipsis_mask 1 and new_axis_mask 0 are not supported"), std::string::npos) << msg;

    // A constant of a type the IR has no dtype for.
    TinyModel m;
    const int x = m.tensor("x", {2});
    const int names = m.tensor("names", {2}, tfl::TensorType_STRING, std::vector<std::uint8_t>(16, 1));
    const int y = m.tensor("y", {2});
    m.op(tfl::BuiltinOperator_ADD, {x, names}, {y});
    m.inputs = {x};
    m.outputs = {y};
    msg = load_error(m.finish());
    EXPECT_NE(msg.find("tiny.tflite: constant tensor 'names' has TFLite type STRING"), std::string::npos) << msg;
}

TEST(TfliteLoader, ReusedDataIsRefusedNotExpanded) {
    // 5000 operators that are all the same table with 1000 inputs: ~25 KB of file, 5 million
    // references if expanded. The loader refuses before building anything.
    TinyModel m;
    const int x = m.tensor("x", {1});
    const int y = m.tensor("y", {1});
    m.op(tfl::BuiltinOperator_ADD_N, std::vector<std::int32_t>(1000, x), {y});
    m.repeat_last_op(4999);
    m.inputs = {x};
    m.outputs = {y};
    const std::string bytes = m.finish();
    EXPECT_LT(bytes.size(), 30000u);
    const auto msg = load_error(bytes);
    EXPECT_NE(msg.find("tiny.tflite: the file reuses its data for more operator inputs and outputs than its"), std::string::npos) << msg;
}

TEST(TfliteLoader, BrokenFilesAreErrorsNotCrashes) {
    EXPECT_NE(error_of([] { load_tflite("/nonexistent/model.tflite"); }).find("cannot open model file"), std::string::npos);
    EXPECT_NE(error_of([] { load_tflite_bytes("", 0, "empty.tflite"); }).find("empty.tflite: model file is empty"), std::string::npos);

    std::string bytes = yamnet_path().empty() ? broken_model({}) : read_file(yamnet_path());
    ASSERT_GT(bytes.size(), 100u);
    std::string wrong = bytes;
    std::memcpy(wrong.data() + 4, "ONNX", 4);
    auto msg = error_of([&] { load_tflite_bytes(wrong.data(), wrong.size(), "wrong.tflite"); });
    EXPECT_NE(msg.find("wrong.tflite: not a TFLite model (file identifier 'ONNX', expected 'TFL3')"), std::string::npos) << msg;

    // Truncations at many points: every one is a named error.
    for (std::size_t cut : {std::size_t{1}, std::size_t{7}, std::size_t{8}, std::size_t{17}, std::size_t{1000}, bytes.size() / 3,
                            bytes.size() / 2, bytes.size() - 1}) {
        msg = error_of([&] { load_tflite_bytes(bytes.data(), cut, "cut.tflite"); });
        EXPECT_NE(msg.find("cut.tflite: "), std::string::npos) << "cut at " << cut << ": " << msg;
        if (cut >= 8) {
            EXPECT_NE(msg.find("flatbuffer verification failed"), std::string::npos) << "cut at " << cut << ": " << msg;
        }
    }
    // Misaligned bytes load the same (copied to an aligned buffer first).
    std::string shifted = broken_model({});
    shifted.insert(shifted.begin(), ' ');
    EXPECT_EQ(error_of([&] { load_tflite_bytes(shifted.data() + 1, shifted.size() - 1, "shifted.tflite"); }), "");

    std::string garbage(4096, '\x5a');
    msg = error_of([&] { load_tflite_bytes(garbage.data(), garbage.size(), "garbage.tflite"); });
    EXPECT_NE(msg.find("garbage.tflite: not a TFLite model (file identifier 'ZZZZ'"), std::string::npos) << msg;
}

}  // namespace
}  // namespace xmodal
