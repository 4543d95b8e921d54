#include "xmodal/onnx_loader.hpp"

#include <onnx/onnx_pb.h>

#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "xmodal/error.hpp"

namespace xmodal {
namespace {

using onnx::TensorProto;

DataType onnx_dtype(int type, const std::string& where) {
    switch (type) {
        case TensorProto::FLOAT: return DataType::f32;
        case TensorProto::UINT8: return DataType::u8;
        case TensorProto::INT8: return DataType::s8;
        case TensorProto::INT32: return DataType::s32;
        case TensorProto::INT64: return DataType::s64;
        case TensorProto::BOOL: return DataType::boolean;
        case TensorProto::FLOAT16: return DataType::f16;
        case TensorProto::DOUBLE: return DataType::f64;
        case TensorProto::BFLOAT16: return DataType::bf16;
        default: break;
    }
    const std::string name = TensorProto::DataType_IsValid(type) ? TensorProto::DataType_Name(static_cast<TensorProto::DataType>(type))
                                                                 : std::to_string(type);
    fail(where, " has ONNX element type ", name, " (supported: FLOAT, FLOAT16, BFLOAT16, DOUBLE, INT8, UINT8, INT32, INT64, BOOL)");
}

struct Loader {
    std::string path;  // for messages and external data
    std::filesystem::path dir;

    HostTensor tensor(const TensorProto& t, const std::string& where) {
        const std::string what = where + " tensor '" + t.name() + "'";
        HostTensor out;
        out.dtype = onnx_dtype(t.data_type(), path + ": " + what);
        // Element count with overflow checks: a corrupt file must not make us allocate absurdly.
        constexpr std::uint64_t max_bytes = std::uint64_t{1} << 36;  // 64 GiB: no real weight tensor is larger
        const std::size_t elem = dtype_size(out.dtype);
        std::uint64_t count = 1;
        for (auto d : t.dims()) {
            if (d < 0) fail(path, ": ", what, " has a negative dimension");
            if (d > 0 && count > max_bytes / elem / static_cast<std::uint64_t>(d))
                fail(path, ": ", what, " has dimensions too large to be real (over 64 GiB)");
            count *= static_cast<std::uint64_t>(d);
            out.shape.push_back(d);
        }
        const auto expected = static_cast<std::size_t>(count * elem);

        if (t.data_location() == TensorProto::EXTERNAL) {
            std::string location;
            std::uint64_t offset = 0, length = expected;
            auto number = [&](const std::string& key, const std::string& value) -> std::uint64_t {
                std::uint64_t v = 0;
                auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
                if (ec != std::errc() || end != value.data() + value.size())
                    fail(path, ": ", what, " external_data '", key, "' is '", value, "', expected a byte count");
                return v;
            };
            for (const auto& kv : t.external_data()) {
                if (kv.key() == "location") location = kv.value();
                else if (kv.key() == "offset") offset = number("offset", kv.value());
                else if (kv.key() == "length") length = number("length", kv.value());
            }
            auto file = dir / location;
            std::ifstream in(file, std::ios::binary);
            if (location.empty() || !in) fail(path, ": ", what, " refers to external data '", file.string(), "' that cannot be opened");
            if (length != expected) fail(path, ": ", what, " external length ", length, " differs from its shape's ", expected, " bytes");
            in.seekg(0, std::ios::end);
            if (offset > static_cast<std::uint64_t>(in.tellg()) || length > static_cast<std::uint64_t>(in.tellg()) - offset)
                fail(path, ": ", what, " external data [", offset, ", ", offset + length, ") lies beyond the end of '", file.string(), "'");
            out.bytes.resize(expected);
            in.seekg(static_cast<std::streamoff>(offset));
            in.read(reinterpret_cast<char*>(out.bytes.data()), static_cast<std::streamsize>(expected));
            return out;
        }
        if (t.has_raw_data()) {
            if (t.raw_data().size() != expected)
                fail(path, ": ", what, " ", shape_string(out.shape), " ", dtype_name(out.dtype), " needs ", expected,
                     " bytes, raw_data has ", t.raw_data().size());
            out.bytes.assign(t.raw_data().begin(), t.raw_data().end());
            return out;
        }
        // Typed fields (small tensors and Constant nodes are often stored this way).
        auto fill = [&]<class Field, class T>(const Field& field, T) {
            if (static_cast<std::uint64_t>(field.size()) != count)
                fail(path, ": ", what, " ", shape_string(out.shape), " holds ", field.size(), " values, expected ", count);
            out.bytes.resize(expected);
            for (int i = 0; i < field.size(); ++i) {
                T v = static_cast<T>(field.Get(i));
                std::memcpy(out.bytes.data() + static_cast<std::size_t>(i) * sizeof(T), &v, sizeof(T));
            }
        };
        switch (out.dtype) {
            case DataType::f32: fill(t.float_data(), float{}); break;
            case DataType::f64: fill(t.double_data(), double{}); break;
            case DataType::s64: fill(t.int64_data(), std::int64_t{}); break;
            case DataType::s32: fill(t.int32_data(), std::int32_t{}); break;
            case DataType::s8: fill(t.int32_data(), std::int8_t{}); break;
            case DataType::u8:
            case DataType::boolean: fill(t.int32_data(), std::uint8_t{}); break;
            case DataType::f16:
            case DataType::bf16: fill(t.int32_data(), std::uint16_t{}); break;  // bit patterns in int32 slots
        }
        return out;
    }

    ValueInfo value_info(const onnx::ValueInfoProto& v, const std::string& where) {
        ValueInfo info;
        info.name = v.name();
        if (v.type().value_case() == onnx::TypeProto::VALUE_NOT_SET) {  // untyped: inferred at run time
            info.type_known = false;
            return info;
        }
        if (!v.type().has_tensor_type()) fail(path, ": ", where, " '", v.name(), "' is not a tensor (sequences and maps are not supported)");
        const auto& tt = v.type().tensor_type();
        info.dtype = onnx_dtype(tt.elem_type(), path + ": " + where + " '" + v.name() + "'");
        info.shape_known = tt.has_shape();
        for (const auto& d : tt.shape().dim()) {
            Dim dim;
            if (d.has_dim_value()) dim.value = d.dim_value();
            else dim.param = d.dim_param();
            info.shape.push_back(dim);
        }
        return info;
    }

    Graph graph(const onnx::GraphProto& g, const std::set<std::string>& outer_scope, const std::string& where) {
        Graph out;
        out.name = g.name();
        std::set<std::string> defined = outer_scope;
        for (const auto& t : g.initializer()) {
            out.initializers[t.name()] = tensor(t, where + " initializer");
            defined.insert(t.name());
        }
        for (const auto& v : g.input()) {
            defined.insert(v.name());
            if (!out.initializers.contains(v.name())) out.inputs.push_back(value_info(v, where + " input"));
        }
        for (const auto& n : g.node()) {
            Node node;
            node.name = n.name();
            node.op_type = n.op_type();
            node.domain = n.domain();
            if (node.op_type.empty()) fail(path, ": ", where, " has a node without op_type (node '", n.name(), "')");
            for (const auto& in : n.input()) {
                if (!in.empty() && !defined.contains(in))
                    fail(path, ": ", where, " ", node.describe(), " reads '", in,
                         "', which no graph input, initializer or earlier node defines (graph not topologically sorted, or a dangling name)");
                node.inputs.push_back(in);
            }
            for (const auto& a : n.attribute()) node.attributes[a.name()] = attribute(a, node, defined, where);
            for (const auto& o : n.output()) {
                if (o.empty()) {
                    node.outputs.push_back(o);
                    continue;
                }
                if (outer_scope.contains(o) || !defined.insert(o).second)
                    fail(path, ": ", where, " ", node.describe(), " redefines tensor '", o, "'");
                node.outputs.push_back(o);
            }
            out.nodes.push_back(std::move(node));
        }
        for (const auto& v : g.output()) {
            if (!defined.contains(v.name()))
                fail(path, ": ", where, " output '", v.name(), "' is produced by no node, input or initializer");
            out.outputs.push_back(value_info(v, where + " output"));
        }
        return out;
    }

    Attribute attribute(const onnx::AttributeProto& a, const Node& node, const std::set<std::string>& scope, const std::string& where) {
        using A = onnx::AttributeProto;
        Attribute out;
        switch (a.type()) {
            case A::FLOAT: out.kind = Attribute::Kind::f; out.f = a.f(); break;
            case A::INT: out.kind = Attribute::Kind::i; out.i = a.i(); break;
            case A::STRING: out.kind = Attribute::Kind::s; out.s = a.s(); break;
            case A::TENSOR: out.kind = Attribute::Kind::t; out.t = tensor(a.t(), where + " " + node.describe() + " attribute '" + a.name() + "'"); break;
            case A::GRAPH:
                out.kind = Attribute::Kind::g;
                out.g = std::make_shared<Graph>(graph(a.g(), scope, where + " " + node.describe() + " subgraph '" + a.name() + "'"));
                break;
            case A::FLOATS: out.kind = Attribute::Kind::floats; out.floats.assign(a.floats().begin(), a.floats().end()); break;
            case A::INTS: out.kind = Attribute::Kind::ints; out.ints.assign(a.ints().begin(), a.ints().end()); break;
            case A::STRINGS: out.kind = Attribute::Kind::strings; out.strings.assign(a.strings().begin(), a.strings().end()); break;
            default:
                fail(path, ": ", where, " ", node.describe(), " attribute '", a.name(), "' has unsupported type ",
                     A::AttributeType_IsValid(a.type()) ? A::AttributeType_Name(a.type()) : std::to_string(a.type()));
        }
        return out;
    }
};

Model convert(const onnx::ModelProto& proto, const std::string& path) {
    if (!proto.has_graph()) fail(path, ": not an ONNX model (no graph)");
    Model model;
    model.path = path;
    model.format = "onnx";
    model.producer = proto.producer_name() + (proto.producer_version().empty() ? "" : " " + proto.producer_version());
    for (const auto& op : proto.opset_import())
        if (op.domain().empty() || op.domain() == "ai.onnx") model.opset = op.version();
    if (model.opset == 0) fail(path, ": no ai.onnx opset_import (is this an ONNX model?)");
    Loader loader{path, std::filesystem::path(path).parent_path()};
    model.graph = loader.graph(proto.graph(), {}, "graph '" + proto.graph().name() + "'");
    if (model.graph.nodes.empty()) fail(path, ": graph has no nodes");
    if (model.graph.outputs.empty()) fail(path, ": graph has no outputs");
    return model;
}

}  // namespace

Model load_onnx_bytes(const void* data, std::size_t size, const std::string& name) {
    onnx::ModelProto proto;
    if (size > static_cast<std::size_t>(INT32_MAX)) fail(name, ": ", size, " bytes is larger than protobuf can parse (2 GiB)");
    if (!proto.ParseFromArray(data, static_cast<int>(size)))
        fail(name, ": not a valid ONNX model (protobuf parsing failed: truncated or not an .onnx file, ", size, " bytes)");
    return convert(proto, name);
}

Model load_onnx(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot open model file '", path, "'");
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.empty()) fail(path, ": model file is empty");
    return load_onnx_bytes(bytes.data(), bytes.size(), path);
}

}  // namespace xmodal
