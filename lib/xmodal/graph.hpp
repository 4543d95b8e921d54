// The model runtime's internal graph: what ONNX and TFLite files are loaded into. Plain data:
// named, typed inputs/outputs (with symbolic dims), weights as HostTensors, nodes with typed
// attributes, and subgraphs for control flow (If). Execution planning works on this form.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "xmodal/safetensors.hpp"
#include "xmodal/tensor.hpp"

namespace xmodal {

struct Dim {
    std::int64_t value = -1;  // >= 0 when known
    std::string param;        // symbolic name ("batch") when not
    bool known() const { return value >= 0; }
};

struct ValueInfo {
    std::string name;
    DataType dtype = DataType::f32;
    bool type_known = true;    // false: the file gives no type (common for If-branch outputs)
    std::vector<Dim> shape;
    bool shape_known = false;  // false: rank unknown
};

std::string describe_shape(const std::vector<Dim>& shape);  // "[batch,3,416,416]"

struct Graph;

struct Attribute {
    enum class Kind { f, i, s, t, g, floats, ints, strings };
    Kind kind = Kind::i;
    float f = 0.f;
    std::int64_t i = 0;
    std::string s;
    HostTensor t;
    std::shared_ptr<Graph> g;
    std::vector<float> floats;
    std::vector<std::int64_t> ints;
    std::vector<std::string> strings;
};

struct Node {
    std::string name, op_type, domain;
    std::vector<std::string> inputs, outputs;  // "" marks an omitted optional input
    std::map<std::string, Attribute> attributes;

    // Typed attribute access; a present attribute of another kind is an error naming node and attribute.
    std::int64_t attr_int(const std::string& key, std::int64_t fallback) const;
    float attr_float(const std::string& key, float fallback) const;
    std::string attr_string(const std::string& key, const std::string& fallback) const;
    std::vector<std::int64_t> attr_ints(const std::string& key, std::vector<std::int64_t> fallback = {}) const;
    const Graph& attr_graph(const std::string& key) const;
    std::string describe() const;  // "node 'Conv_0' (Conv)"
};

struct Graph {
    std::string name;
    std::vector<ValueInfo> inputs, outputs;
    std::map<std::string, HostTensor> initializers;
    std::vector<Node> nodes;  // topologically sorted
};

struct Model {
    std::string path, format;  // format: "onnx" or "tflite"
    std::string producer;
    std::int64_t opset = 0;    // ai.onnx opset (ONNX) or schema version (TFLite)
    Graph graph;

    // Op type -> count, over the main graph and all subgraphs.
    std::map<std::string, int> op_histogram() const;
    // Inputs/outputs/op histogram as text (xmodal-model info).
    std::string summary() const;
};

}  // namespace xmodal
