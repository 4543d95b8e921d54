#include "xmodal/graph.hpp"

#include <sstream>

#include "xmodal/error.hpp"

namespace xmodal {
namespace {

const char* kind_name(Attribute::Kind k) {
    switch (k) {
        case Attribute::Kind::f: return "float";
        case Attribute::Kind::i: return "int";
        case Attribute::Kind::s: return "string";
        case Attribute::Kind::t: return "tensor";
        case Attribute::Kind::g: return "graph";
        case Attribute::Kind::floats: return "floats";
        case Attribute::Kind::ints: return "ints";
        case Attribute::Kind::strings: return "strings";
    }
    return "?";
}

void count_ops(const Graph& g, std::map<std::string, int>& histogram) {
    for (const auto& n : g.nodes) {
        ++histogram[n.op_type];
        for (const auto& [_, a] : n.attributes)
            if (a.kind == Attribute::Kind::g && a.g) count_ops(*a.g, histogram);
    }
}

}  // namespace

std::string describe_shape(const std::vector<Dim>& shape) {
    std::ostringstream os;
    os << '[';
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i) os << ',';
        if (shape[i].known())
            os << shape[i].value;
        else
            os << (shape[i].param.empty() ? "?" : shape[i].param);
    }
    os << ']';
    return os.str();
}

std::string Node::describe() const {
    return "node '" + (name.empty() ? (outputs.empty() ? std::string("?") : outputs[0]) : name) + "' (" + op_type + ")";
}

namespace {
const Attribute* find_attr(const Node& n, const std::string& key, Attribute::Kind kind) {
    auto it = n.attributes.find(key);
    if (it == n.attributes.end()) return nullptr;
    if (it->second.kind != kind)
        fail(n.describe(), ": attribute '", key, "' is ", kind_name(it->second.kind), ", expected ", kind_name(kind));
    return &it->second;
}
}  // namespace

std::int64_t Node::attr_int(const std::string& key, std::int64_t fallback) const {
    const Attribute* a = find_attr(*this, key, Attribute::Kind::i);
    return a ? a->i : fallback;
}

float Node::attr_float(const std::string& key, float fallback) const {
    const Attribute* a = find_attr(*this, key, Attribute::Kind::f);
    return a ? a->f : fallback;
}

std::string Node::attr_string(const std::string& key, const std::string& fallback) const {
    const Attribute* a = find_attr(*this, key, Attribute::Kind::s);
    return a ? a->s : fallback;
}

std::vector<std::int64_t> Node::attr_ints(const std::string& key, std::vector<std::int64_t> fallback) const {
    const Attribute* a = find_attr(*this, key, Attribute::Kind::ints);
    return a ? a->ints : fallback;
}

const Graph& Node::attr_graph(const std::string& key) const {
    const Attribute* a = find_attr(*this, key, Attribute::Kind::g);
    if (!a || !a->g) fail(describe(), ": graph attribute '", key, "' is missing");
    return *a->g;
}

std::map<std::string, int> Model::op_histogram() const {
    std::map<std::string, int> histogram;
    count_ops(graph, histogram);
    return histogram;
}

std::string Model::summary() const {
    std::ostringstream os;
    os << path << ": " << format << " model";
    if (!producer.empty()) os << " from " << producer;
    os << ", " << (format == "onnx" ? "opset " : "schema ") << opset << '\n';
    os << "inputs:\n";
    auto line = [&](const ValueInfo& v) {
        os << "  " << v.name << "  " << (v.type_known ? dtype_name(v.dtype) : "?") << ' '
           << (v.shape_known ? describe_shape(v.shape) : "[?]") << '\n';
    };
    for (const auto& v : graph.inputs) line(v);
    os << "outputs:\n";
    for (const auto& v : graph.outputs) line(v);
    std::int64_t parameters = 0;
    for (const auto& [_, t] : graph.initializers) parameters += t.numel();
    auto histogram = op_histogram();
    int nodes = 0;
    for (const auto& [_, c] : histogram) nodes += c;
    os << "weights: " << graph.initializers.size() << " tensors, " << parameters << " parameters\n";
    os << "ops: " << nodes << " nodes, " << histogram.size() << " types\n";
    for (const auto& [op, count] : histogram) os << "  " << op << ' ' << count << '\n';
    return os.str();
}

}  // namespace xmodal
