#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>

#include "support/error_of.hpp"
#include "xmodal/error.hpp"
#include "xmodal/onnx_loader.hpp"
#include "xmodal/shared_paths.hpp"

namespace xmodal {
namespace {

using testing::error_of;

TEST(OnnxLoader, YoloxNanoMatchesItsManifest) {
    auto model = load_onnx(shared_file("models/yolox_nano.onnx"));
    EXPECT_EQ(model.opset, 11);
    ASSERT_EQ(model.graph.inputs.size(), 1u);
    EXPECT_EQ(model.graph.inputs[0].name, "images");
    EXPECT_EQ(model.graph.inputs[0].dtype, DataType::f32);
    EXPECT_EQ(describe_shape(model.graph.inputs[0].shape), "[1,3,416,416]");
    ASSERT_EQ(model.graph.outputs.size(), 1u);
    EXPECT_EQ(describe_shape(model.graph.outputs[0].shape), "[1,3549,85]");
    auto ops = model.op_histogram();
    EXPECT_EQ(ops.size(), 10u);  // Add, Concat, Conv, MaxPool, Mul, Reshape, Resize, Sigmoid, Slice, Transpose
    EXPECT_EQ(ops["Conv"], 113);
    EXPECT_EQ(ops["MaxPool"], 3);
    EXPECT_EQ(ops["Resize"], 2);
    EXPECT_EQ(ops["Slice"], 8);
    std::int64_t parameters = 0;
    for (const auto& [name, t] : model.graph.initializers) parameters += t.numel();
    EXPECT_EQ(parameters, 904481);  // as the MANIFEST counts: 904,467 f32 weights + 14 int64 shape constants
    // Attributes come through typed: the SPP max-pools have kernels 5, 9, 13 with "same" pads.
    std::vector<std::int64_t> kernels;
    for (const auto& n : model.graph.nodes)
        if (n.op_type == "MaxPool") kernels.push_back(n.attr_ints("kernel_shape").at(0));
    EXPECT_EQ(kernels, (std::vector<std::int64_t>{5, 9, 13}));
}

TEST(OnnxLoader, SileroVadKeepsItsIfSubgraphs) {
    auto model = load_onnx(shared_file("models/silero_vad.onnx"));
    EXPECT_EQ(model.opset, 16);
    std::map<std::string, std::string> inputs;
    for (const auto& v : model.graph.inputs) inputs[v.name] = std::string(dtype_name(v.dtype)) + describe_shape(v.shape);
    EXPECT_EQ(inputs["input"], "f32[?,?]");  // this export leaves dynamic dims anonymous
    EXPECT_EQ(inputs["sr"], "s64[]");
    EXPECT_EQ(inputs["state"], "f32[2,?,128]");
    auto ops = model.op_histogram();  // counts ops inside the If branches too
    EXPECT_EQ(ops.size(), 25u);
    EXPECT_GT(ops["If"], 0);
    EXPECT_GT(ops["LSTM"], 0);
    bool found_branch = false;
    for (const auto& n : model.graph.nodes)
        if (n.op_type == "If") found_branch = !n.attr_graph("then_branch").nodes.empty();
    EXPECT_TRUE(found_branch);

    auto ifless = load_onnx(shared_file("models/silero_vad_op18_ifless.onnx"));
    EXPECT_EQ(ifless.opset, 18);
    std::vector<std::string> ifless_inputs;  // order input, sr, state (MANIFEST), named dims
    for (const auto& v : ifless.graph.inputs) ifless_inputs.push_back(v.name + describe_shape(v.shape));
    EXPECT_EQ(ifless_inputs, (std::vector<std::string>{"input[batch,sequence]", "sr[]", "state[2,batch,128]"}));
    EXPECT_EQ(ifless.op_histogram().size(), 20u);
    EXPECT_EQ(ifless.op_histogram().count("LSTM"), 0u);
}

// Tiny models built in the test: one error class each.
onnx::ModelProto tiny_model() {
    onnx::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(13);
    auto* g = m.mutable_graph();
    g->set_name("tiny");
    auto* in = g->add_input();
    in->set_name("x");
    in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(4);
    auto* w = g->add_initializer();
    w->set_name("w");
    w->set_data_type(onnx::TensorProto::FLOAT);
    w->add_dims(4);
    w->set_raw_data(std::string(16, '\0'));
    auto* n = g->add_node();
    n->set_op_type("Add");
    n->set_name("add0");
    n->add_input("x");
    n->add_input("w");
    n->add_output("y");
    auto* out = g->add_output();
    out->set_name("y");
    out->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    return m;
}

std::string load_error(const onnx::ModelProto& m) {
    std::string bytes = m.SerializeAsString();
    return error_of([&] { load_onnx_bytes(bytes.data(), bytes.size(), "tiny.onnx"); });
}

TEST(OnnxLoader, TinyModelLoads) {
    auto m = tiny_model();
    std::string bytes = m.SerializeAsString();
    auto model = load_onnx_bytes(bytes.data(), bytes.size(), "tiny.onnx");
    EXPECT_EQ(model.graph.nodes.size(), 1u);
    EXPECT_EQ(model.graph.initializers.at("w").shape, (Shape{4}));
}

TEST(OnnxLoader, ErrorsNameTheFileNodeAndTensor) {
    auto m = tiny_model();
    m.mutable_graph()->mutable_node(0)->set_input(1, "missing");
    auto msg = load_error(m);
    EXPECT_NE(msg.find("tiny.onnx"), std::string::npos) << msg;
    EXPECT_NE(msg.find("node 'add0' (Add) reads 'missing'"), std::string::npos) << msg;

    m = tiny_model();
    m.mutable_graph()->mutable_initializer(0)->set_raw_data(std::string(12, '\0'));
    msg = load_error(m);
    EXPECT_NE(msg.find("tensor 'w' [4] f32 needs 16 bytes, raw_data has 12"), std::string::npos) << msg;

    m = tiny_model();
    m.mutable_graph()->mutable_initializer(0)->set_data_type(onnx::TensorProto::STRING);
    msg = load_error(m);
    EXPECT_NE(msg.find("element type STRING"), std::string::npos) << msg;

    m = tiny_model();
    m.mutable_graph()->mutable_output(0)->set_name("nowhere");
    msg = load_error(m);
    EXPECT_NE(msg.find("output 'nowhere' is produced by no node"), std::string::npos) << msg;

    m = tiny_model();
    m.mutable_graph()->mutable_node(0)->set_output(0, "x");
    msg = load_error(m);
    EXPECT_NE(msg.find("redefines tensor 'x'"), std::string::npos) << msg;

    m = tiny_model();
    m.clear_opset_import();
    msg = load_error(m);
    EXPECT_NE(msg.find("no ai.onnx opset_import"), std::string::npos) << msg;

    m = tiny_model();
    auto* attr = m.mutable_graph()->mutable_node(0)->add_attribute();
    attr->set_name("alpha");
    attr->set_type(onnx::AttributeProto::INT);
    attr->set_i(3);
    std::string bytes = m.SerializeAsString();
    auto model = load_onnx_bytes(bytes.data(), bytes.size(), "tiny.onnx");
    msg = error_of([&] { model.graph.nodes[0].attr_float("alpha", 0.f); });
    EXPECT_NE(msg.find("node 'add0' (Add): attribute 'alpha' is int, expected float"), std::string::npos) << msg;
}

TEST(OnnxLoader, BrokenFilesAreErrorsNotCrashes) {
    EXPECT_NE(error_of([] { load_onnx("/nonexistent/model.onnx"); }).find("cannot open model file"), std::string::npos);
    const std::string real = shared_file("models/yolox_nano.onnx");
    std::ifstream in(real, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Truncations at many points: each either parses to a consistent graph or is a named error.
    for (std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{17}, std::size_t{1000}, bytes.size() / 3,
                            bytes.size() / 2, bytes.size() - 1}) {
        auto msg = error_of([&] { load_onnx_bytes(bytes.data(), cut, "cut.onnx"); });
        EXPECT_NE(msg.find("cut.onnx"), std::string::npos) << "cut at " << cut << ": " << msg;
    }
    std::string garbage(4096, '\x5a');
    EXPECT_NE(error_of([&] { load_onnx_bytes(garbage.data(), garbage.size(), "garbage.onnx"); }).find("garbage.onnx"),
              std::string::npos);
}

}  // namespace
}  // namespace xmodal
