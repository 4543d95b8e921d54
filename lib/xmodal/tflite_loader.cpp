#include "xmodal/tflite_loader.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <span>
#include <vector>

#include "tflite_schema_generated.h"  // flatc output for xmodal/tflite_schema.fbs (in the build folder)
#include "xmodal/error.hpp"

namespace xmodal {
namespace {

namespace fb = xmodal::tfl;

constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t int64_min = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t onnx_float = 1;  // TensorProto::FLOAT and INT64, for Cast's `to`
constexpr std::int64_t onnx_int64 = 7;

// Filter layouts: IR dim i is TFLite dim perm[i].
using Perm = std::array<int, 4>;
constexpr Perm conv_perm{0, 3, 1, 2};  // CONV_2D [O,H,W,I] -> [O,I,H,W]
constexpr Perm dw_perm{3, 0, 1, 2};    // DEPTHWISE_CONV_2D [1,H,W,C*m] -> [C*m,1,H,W]
enum FilterUse : std::uint8_t { conv_filter = 1, dw_filter = 2, other_use = 4 };

// "a" + std::to_string(b) without GCC 12's -Wrestrict false positive on operator+(const char*, string&&).
template <class... Parts>
std::string concat(const Parts&... parts) {
    std::ostringstream os;
    (os << ... << parts);
    return os.str();
}

std::optional<DataType> map_type(fb::TensorType t) {
    switch (t) {
        case fb::TensorType_FLOAT32: return DataType::f32;
        case fb::TensorType_FLOAT16: return DataType::f16;
        case fb::TensorType_FLOAT64: return DataType::f64;
        case fb::TensorType_INT8: return DataType::s8;
        case fb::TensorType_UINT8: return DataType::u8;
        case fb::TensorType_INT32: return DataType::s32;
        case fb::TensorType_INT64: return DataType::s64;
        case fb::TensorType_BOOL: return DataType::boolean;
        default: return std::nullopt;
    }
}

std::string type_name(fb::TensorType t) {
    const char* name = fb::EnumNameTensorType(t);
    return *name ? std::string(name) : concat("code ", static_cast<int>(t));
}

std::string shape_text(const std::vector<std::int64_t>& dims) {
    std::ostringstream os;
    os << '[';
    for (std::size_t i = 0; i < dims.size(); ++i) {
        if (i) os << ',';
        if (dims[i] < 0) os << '?';
        else os << dims[i];
    }
    os << ']';
    return os.str();
}

template <class T>
HostTensor make_tensor(DataType dtype, Shape shape, const std::vector<T>& values) {
    HostTensor t;
    t.dtype = dtype;
    t.shape = std::move(shape);
    t.bytes.resize(values.size() * sizeof(T));
    if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
    return t;
}

// Copies a rank-4 tensor into the layout `perm` describes (any element size).
HostTensor permute(const HostTensor& in, const Perm& perm) {
    const std::size_t es = dtype_size(in.dtype);
    const Shape& s = in.shape;
    const std::array<std::int64_t, 4> stride{s[1] * s[2] * s[3], s[2] * s[3], s[3], 1};
    HostTensor out;
    out.dtype = in.dtype;
    out.shape = {s[perm[0]], s[perm[1]], s[perm[2]], s[perm[3]]};
    out.bytes.resize(in.bytes.size());
    std::size_t o = 0;
    for (std::int64_t a = 0; a < out.shape[0]; ++a)
        for (std::int64_t b = 0; b < out.shape[1]; ++b)
            for (std::int64_t c = 0; c < out.shape[2]; ++c)
                for (std::int64_t d = 0; d < out.shape[3]; ++d, o += es) {
                    const std::int64_t i = a * stride[perm[0]] + b * stride[perm[1]] + c * stride[perm[2]] + d * stride[perm[3]];
                    std::memcpy(out.bytes.data() + o, in.bytes.data() + static_cast<std::size_t>(i) * es, es);
                }
    return out;
}

Attribute int_attr(std::int64_t v) {
    Attribute a;
    a.kind = Attribute::Kind::i;
    a.i = v;
    return a;
}

Attribute ints_attr(std::vector<std::int64_t> v) {
    Attribute a;
    a.kind = Attribute::Kind::ints;
    a.ints = std::move(v);
    return a;
}

Attribute string_attr(std::string v) {
    Attribute a;
    a.kind = Attribute::Kind::s;
    a.s = std::move(v);
    return a;
}

class Converter {
public:
    Converter(const std::uint8_t* data, std::size_t size, const std::string& path) : data_(data), size_(size), path_(path) {}

    Model convert() {
        verify();
        fbm_ = fb::GetModel(data_);
        if (fbm_->version() != 3) fail(path_, ": TFLite schema version ", fbm_->version(), " (only version 3 is supported)");
        if (!fbm_->subgraphs() || fbm_->subgraphs()->size() == 0) fail(path_, ": TFLite model has no subgraphs");
        sg_ = fbm_->subgraphs()->Get(0);
        tensor_count_ = sg_->tensors() ? sg_->tensors()->size() : 0;
        buffer_count_ = fbm_->buffers() ? fbm_->buffers()->size() : 0;
        codes_ = fbm_->operator_codes();
        // A non-converter file can point many vectors at the same data; every name, reference and
        // constant byte the IR holds must therefore be paid for by bytes of the file.
        budget_ = size_ / 4 + 1024;
        byte_budget_ = 3 * static_cast<std::uint64_t>(size_) + (std::uint64_t{16} << 20);

        Model model;
        model.path = path_;
        model.format = "tflite";
        model.opset = fbm_->version();
        if (fbm_->description()) model.producer = fbm_->description()->str();
        g_ = &model.graph;
        g_->name = sg_->name() && sg_->name()->size() ? sg_->name()->str() : "main";

        scan_tensors();
        plan_filters();
        graph_inputs();
        if (!sg_->operators() || sg_->operators()->size() == 0) fail(path_, ": subgraph 0 has no operators");
        for (op_index_ = 0; op_index_ < sg_->operators()->size(); ++op_index_) convert_operator();
        graph_outputs();
        return model;
    }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::string path_;
    const fb::Model* fbm_ = nullptr;
    const fb::SubGraph* sg_ = nullptr;
    const flatbuffers::Vector<flatbuffers::Offset<fb::OperatorCode>>* codes_ = nullptr;
    std::size_t tensor_count_ = 0, buffer_count_ = 0;
    Graph* g_ = nullptr;
    std::uint64_t budget_ = 0, byte_budget_ = 0;

    std::vector<std::string> names_;        // IR name of each TFLite tensor (unique)
    std::vector<char> constant_;            // has data in a buffer
    std::vector<char> defined_;             // a graph input or an earlier operator wrote it
    std::vector<std::uint8_t> prepermuted_; // DEQUANTIZE output produced already in OIHW (conv_filter/dw_filter)
    std::set<std::string> taken_;           // every tensor name in the IR
    std::map<std::string, int> suffix_;     // last "#n" handed out by fresh() per base name
    std::map<std::string, std::string> cache_;  // conversions done once per tensor -> IR name

    // The operator being converted, for messages and generated names.
    std::size_t op_index_ = 0;
    const fb::Operator* op_ = nullptr;
    std::string op_kind_;  // "CONV_2D", or the custom code
    std::string node_;     // "<op_kind_>_<index>"

    template <class... Parts>
    [[noreturn]] void op_fail(const Parts&... parts) const {
        fail(path_, ": operator ", op_index_, " (", op_kind_, "): ", parts...);
    }

    void spend(std::uint64_t units, const char* what) {
        if (units > budget_)
            fail(path_, ": the file reuses its data for more ", what, " than its ", size_,
                 " bytes could hold (not a TFLite converter's output; refusing to expand it)");
        budget_ -= units;
    }

    // --- The flatbuffer ---

    void verify() {
        if (size_ == 0) fail(path_, ": model file is empty");
        if (size_ < 8) fail(path_, ": ", size_, " bytes is too short for a TFLite model");
        if (!fb::ModelBufferHasIdentifier(data_)) {
            std::string id;
            for (int i = 4; i < 8; ++i) {
                const unsigned char c = data_[i];
                if (c >= 0x20 && c < 0x7f) id += static_cast<char>(c);
                else id += concat("\\x", "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]);
            }
            fail(path_, ": not a TFLite model (file identifier '", id, "', expected '", fb::ModelIdentifier(), "')");
        }
        if (size_ >= FLATBUFFERS_MAX_BUFFER_SIZE) fail(path_, ": ", size_, " bytes is larger than a flatbuffer can address (2 GiB)");
        flatbuffers::Verifier verifier(data_, size_, 64, static_cast<flatbuffers::uoffset_t>(size_ / 4 + 1024));
        if (!fb::VerifyModelBuffer(verifier))
            fail(path_, ": not a valid TFLite model (flatbuffer verification failed: truncated or corrupt, ", size_, " bytes)");
    }

    const fb::Tensor& tensor(std::size_t i) const { return *sg_->tensors()->Get(static_cast<flatbuffers::uoffset_t>(i)); }
    std::string tname(std::size_t i) const { return "tensor '" + names_[i] + "'"; }

    // The constant data of tensor i (empty for activations); checked against the file in scan_tensors().
    std::span<const std::uint8_t> buffer_bytes(std::size_t i) const {
        const std::uint32_t b = tensor(i).buffer();
        if (b >= buffer_count_) return {};
        const fb::Buffer* buffer = fbm_->buffers()->Get(b);
        if (buffer->data() && buffer->data()->size()) return {buffer->data()->data(), buffer->data()->size()};
        if (buffer->offset() > 1 && buffer->offset() <= size_ && buffer->size() <= size_ - buffer->offset())
            return {data_ + buffer->offset(), static_cast<std::size_t>(buffer->size())};
        return {};
    }

    DataType dtype_of(std::size_t i, const char* role = "") const {
        const auto type = tensor(i).type();
        if (auto dt = map_type(type)) return *dt;
        fail(path_, ": ", role, tname(i), " has TFLite type ", type_name(type),
             " (supported: FLOAT32, FLOAT16, FLOAT64, INT8, UINT8, INT32, INT64, BOOL)");
    }

    // Declared dims of tensor i, -1 where shape_signature marks a dim dynamic.
    std::vector<std::int64_t> dims(std::size_t i) const {
        std::vector<std::int64_t> out;
        const auto* shape = tensor(i).shape();
        if (!shape) return out;
        const auto* sig = tensor(i).shape_signature();
        const bool use_sig = sig && sig->size() == shape->size();
        for (flatbuffers::uoffset_t k = 0; k < shape->size(); ++k)
            out.push_back(shape->Get(k) < 0 || (use_sig && sig->Get(k) < 0) ? -1 : shape->Get(k));
        return out;
    }

    bool quantized(std::size_t i) const {
        const auto type = tensor(i).type();
        const auto* q = tensor(i).quantization();
        return (type == fb::TensorType_INT8 || type == fb::TensorType_UINT8) && q && q->scale() && q->scale()->size() > 0;
    }

    // Tensor i's data as a HostTensor, its size checked against its shape and type.
    HostTensor host_tensor(std::size_t i) {
        HostTensor out;
        out.dtype = dtype_of(i, "constant ");
        const auto bytes = buffer_bytes(i);
        const std::size_t elem = dtype_size(out.dtype);
        bool zero = false, too_big = false;
        if (const auto* shape = tensor(i).shape())
            for (auto d : *shape) {
                if (d < 0) fail(path_, ": constant ", tname(i), " has a negative dimension ", d);
                out.shape.push_back(d);
                zero = zero || d == 0;
            }
        // Element count, overflow-checked: dims from a corrupt file must not wrap around to the buffer's size.
        constexpr std::uint64_t max_bytes = std::uint64_t{1} << 62;
        std::uint64_t count = zero ? 0 : 1;
        for (auto d : out.shape) {
            if (zero) break;
            if (count > max_bytes / elem / static_cast<std::uint64_t>(d)) {
                too_big = true;
                break;
            }
            count *= static_cast<std::uint64_t>(d);
        }
        if (too_big || count * elem != bytes.size())
            fail(path_, ": ", tname(i), " ", shape_string(out.shape), " ", dtype_name(out.dtype), " needs ",
                 too_big ? concat("over ", max_bytes) : std::to_string(count * elem), " bytes, its buffer ",
                 tensor(i).buffer(), " has ", bytes.size());
        if (bytes.size() > byte_budget_)
            fail(path_, ": the file's constants add up to more than ", 3 * static_cast<std::uint64_t>(size_) + (std::uint64_t{16} << 20),
                 " bytes (buffers reused far more than a converter would)");
        byte_budget_ -= bytes.size();
        out.bytes.assign(bytes.begin(), bytes.end());
        return out;
    }

    // --- Names and IR building ---

    // `base`, or "base#2", "base#3"... if taken: generated names never collide with TFLite ones.
    std::string fresh(const std::string& base) {
        if (taken_.insert(base).second) return base;
        for (int& n = suffix_[base];;) {
            std::string candidate = base + "#" + std::to_string(++n + 1);
            if (taken_.insert(candidate).second) return candidate;
        }
    }

    std::string add_initializer(const std::string& base, HostTensor t) {
        std::string name = fresh(base);
        g_->initializers.emplace(name, std::move(t));
        return name;
    }

    std::string add_i64(const std::string& base, const std::vector<std::int64_t>& values) {
        return add_initializer(base, make_tensor(DataType::s64, {static_cast<std::int64_t>(values.size())}, values));
    }

    std::string add_f32_scalar(const std::string& base, float value) {
        return add_initializer(base, make_tensor(DataType::f32, {}, std::vector<float>{value}));
    }

    // Appends a node; trailing omitted inputs are dropped. The reference is valid until the next emit.
    Node& emit(const std::string& op_type, const std::string& name, std::vector<std::string> inputs, std::vector<std::string> outputs) {
        Node n;
        n.name = name;
        n.op_type = op_type;
        n.inputs = std::move(inputs);
        while (!n.inputs.empty() && n.inputs.back().empty()) n.inputs.pop_back();
        n.outputs = std::move(outputs);
        g_->nodes.push_back(std::move(n));
        return g_->nodes.back();
    }

    // --- Tensors, inputs, outputs ---

    void scan_tensors() {
        names_.resize(tensor_count_);
        constant_.assign(tensor_count_, 0);
        defined_.assign(tensor_count_, 0);
        prepermuted_.assign(tensor_count_, 0);
        for (std::size_t i = 0; i < tensor_count_; ++i) {
            const auto& t = tensor(i);
            std::string base = t.name() && t.name()->size() ? t.name()->str() : concat("tensor_", i);
            spend(base.size() / 4 + 1, "tensor names");
            names_[i] = fresh(base);
            if (t.buffer() >= buffer_count_ && !(t.buffer() == 0 && buffer_count_ == 0))
                fail(path_, ": ", tname(i), " (index ", i, ") refers to buffer ", t.buffer(), ", but the model has ", buffer_count_, " buffers");
            if (t.sparsity()) fail(path_, ": ", tname(i), " is sparse (sparsity parameters); sparse tensors are not supported");
            if (t.buffer() < buffer_count_) {
                const fb::Buffer* b = fbm_->buffers()->Get(t.buffer());
                if (!(b->data() && b->data()->size()) && b->offset() > 1 && (b->offset() > size_ || b->size() > size_ - b->offset()))
                    fail(path_, ": ", tname(i), " refers to buffer ", t.buffer(), " at bytes [", b->offset(), ", +", b->size(),
                         "), beyond the end of the ", size_, "-byte file");
            }
            constant_[i] = !buffer_bytes(i).empty();
        }
    }

    std::int32_t code_of(const fb::Operator* op) const {
        if (!codes_ || op->opcode_index() >= codes_->size()) return -1;
        const fb::OperatorCode* c = codes_->Get(op->opcode_index());
        // Old files only set the byte; new ones set builtin_code (and the byte to 127 for codes above).
        return std::max<std::int32_t>(c->builtin_code(), c->deprecated_builtin_code());
    }

    // Which DEQUANTIZE outputs feed only conv/depthwise filters: those are emitted in OIHW directly
    // (their int8 constant permuted at load), so the filter needs no run-time Transpose.
    void plan_filters() {
        std::vector<std::uint8_t> uses(tensor_count_, 0);
        auto valid = [&](std::int32_t i) { return i >= 0 && static_cast<std::size_t>(i) < tensor_count_; };
        const auto* ops = sg_->operators();
        if (!ops) return;
        for (const fb::Operator* op : *ops) {
            const std::int32_t code = code_of(op);
            const std::size_t n_in = op->inputs() ? op->inputs()->size() : 0, n_out = op->outputs() ? op->outputs()->size() : 0;
            spend(n_in + n_out + 1, "operator inputs and outputs");
            for (std::size_t k = 0; k < n_in; ++k) {
                const std::int32_t i = op->inputs()->Get(static_cast<flatbuffers::uoffset_t>(k));
                if (!valid(i)) continue;
                uses[i] |= k == 1 && code == fb::BuiltinOperator_CONV_2D ? conv_filter
                         : k == 1 && code == fb::BuiltinOperator_DEPTHWISE_CONV_2D ? dw_filter
                                                                                    : other_use;
            }
        }
        if (const auto* outs = sg_->outputs())
            for (auto i : *outs)
                if (valid(i)) uses[i] |= other_use;
        for (const fb::Operator* op : *ops) {
            if (code_of(op) != fb::BuiltinOperator_DEQUANTIZE || !op->inputs() || op->inputs()->size() < 1 || !op->outputs() ||
                op->outputs()->size() < 1)
                continue;
            const std::int32_t in = op->inputs()->Get(0), out = op->outputs()->Get(0);
            if (!valid(in) || !valid(out) || !constant_[in] || !tensor(in).shape() || tensor(in).shape()->size() != 4) continue;
            if (uses[out] == conv_filter || uses[out] == dw_filter) prepermuted_[out] = uses[out];
        }
    }

    ValueInfo value_info(std::size_t i, const char* role) {
        ValueInfo v;
        v.name = names_[i];
        v.dtype = dtype_of(i, role);
        v.shape_known = true;
        const auto d = dims(i);
        spend(d.size() + 1, "graph input/output dims");
        for (std::size_t k = 0; k < d.size(); ++k) {
            Dim dim;
            if (d[k] >= 0) dim.value = d[k];
            else dim.param = k == 0 ? std::string("batch") : concat("d", k);
            v.shape.push_back(dim);
        }
        return v;
    }

    void graph_inputs() {
        const auto* ins = sg_->inputs();
        if (!ins) return;
        for (flatbuffers::uoffset_t k = 0; k < ins->size(); ++k) {
            const std::int32_t i = ins->Get(k);
            if (i < 0 || static_cast<std::size_t>(i) >= tensor_count_)
                fail(path_, ": subgraph input ", k, " is tensor index ", i, ", but the subgraph has ", tensor_count_, " tensors");
            if (constant_[i]) continue;  // a constant is an initializer, not something to feed
            if (defined_[i]) fail(path_, ": subgraph lists ", tname(i), " as an input twice");
            defined_[i] = 1;
            g_->inputs.push_back(value_info(i, "graph input "));
        }
    }

    void graph_outputs() {
        const auto* outs = sg_->outputs();
        if (!outs || outs->size() == 0) fail(path_, ": subgraph 0 has no outputs");
        for (flatbuffers::uoffset_t k = 0; k < outs->size(); ++k) {
            const std::int32_t i = outs->Get(k);
            if (i < 0 || static_cast<std::size_t>(i) >= tensor_count_)
                fail(path_, ": subgraph output ", k, " is tensor index ", i, ", but the subgraph has ", tensor_count_, " tensors");
            if (constant_[i]) materialize(i);
            else if (!defined_[i]) fail(path_, ": graph output ", tname(i), " is written by no operator");
            g_->outputs.push_back(value_info(i, "graph output "));
        }
    }

    // --- Operator inputs and outputs ---

    void check_indices() {
        auto check = [&](const flatbuffers::Vector<std::int32_t>* v, const char* what, bool optional) {
            if (!v) return;
            for (flatbuffers::uoffset_t k = 0; k < v->size(); ++k) {
                const std::int32_t i = v->Get(k);
                if (optional && i == -1) continue;
                if (i < 0 || static_cast<std::size_t>(i) >= tensor_count_)
                    op_fail(what, " ", k, " is tensor index ", i, ", but the subgraph has ", tensor_count_, " tensors");
            }
        };
        check(op_->inputs(), "input", true);
        check(op_->outputs(), "output", false);
    }

    // Tensor index of input k, or -1 where it is absent (past the end, or -1 = omitted).
    std::int64_t input_index(std::size_t k) const {
        const auto* v = op_->inputs();
        if (!v || k >= v->size()) return -1;
        return v->Get(static_cast<flatbuffers::uoffset_t>(k));
    }

    std::size_t required(std::size_t k, const char* what) const {
        const std::int64_t i = input_index(k);
        if (i < 0) op_fail("needs input ", k, " (", what, ")");
        return static_cast<std::size_t>(i);
    }

    std::string materialize(std::size_t i) {
        const std::string& name = names_[i];
        if (!g_->initializers.contains(name)) g_->initializers.emplace(name, host_tensor(i));
        return name;
    }

    // The IR name to read tensor i by: constants become initializers on first use.
    std::string use(std::size_t i) {
        if (constant_[i]) return materialize(i);
        if (!defined_[i]) op_fail("reads ", tname(i), ", which no graph input, constant or earlier operator defines");
        return names_[i];
    }

    std::string input(std::size_t k) {
        const std::int64_t i = input_index(k);
        return i < 0 ? std::string() : use(static_cast<std::size_t>(i));
    }

    std::size_t output_index(std::size_t k) const {
        const auto* v = op_->outputs();
        if (!v || k >= v->size()) op_fail("needs output ", k);
        return static_cast<std::size_t>(v->Get(static_cast<flatbuffers::uoffset_t>(k)));
    }

    std::string output(std::size_t k) const { return names_[output_index(k)]; }

    void define_outputs() {
        const auto* v = op_->outputs();
        if (!v) return;
        for (const std::int32_t i : *v) {
            if (constant_[i]) op_fail("writes ", tname(i), ", which is a constant");
            if (defined_[i]) op_fail("writes ", tname(i), " again (a graph input, or written by an earlier operator)");
            defined_[i] = 1;
        }
    }

    // Constant integer operand (INT32 or INT64), any shape, as a flat list.
    std::vector<std::int64_t> const_ints(std::size_t i, const char* what) {
        if (!constant_[i]) op_fail(what, " ", tname(i), " must be a constant");
        const auto type = tensor(i).type();
        if (type != fb::TensorType_INT32 && type != fb::TensorType_INT64)
            op_fail(what, " ", tname(i), " has type ", type_name(type), ", expected INT32 or INT64");
        const HostTensor h = host_tensor(i);
        std::vector<std::int64_t> out(static_cast<std::size_t>(h.numel()));
        for (std::size_t k = 0; k < out.size(); ++k) {
            if (type == fb::TensorType_INT32) {
                std::int32_t v;
                std::memcpy(&v, h.bytes.data() + 4 * k, 4);
                out[k] = v;
            } else {
                std::memcpy(&out[k], h.bytes.data() + 8 * k, 8);
            }
        }
        return out;
    }

    // Tensor i as an int64 operand: a constant is converted at load, a computed INT32 tensor is Cast.
    std::string int64_operand(std::size_t i, const char* what, const std::string& suffix) {
        if (constant_[i]) return add_i64(node_ + "/" + suffix, const_ints(i, what));
        const auto type = tensor(i).type();
        if (type == fb::TensorType_INT64) return use(i);
        if (type != fb::TensorType_INT32) op_fail(what, " ", tname(i), " has type ", type_name(type), ", expected INT32 or INT64");
        const std::string in = use(i), out = fresh(node_ + "/" + suffix);
        emit("Cast", node_ + "/" + suffix + "_cast", {in}, {out}).attributes["to"] = int_attr(onnx_int64);
        return out;
    }

    // --- Fused activations ---

    void check_activation(fb::ActivationFunctionType a) const {
        switch (a) {
            case fb::ActivationFunctionType_NONE:
            case fb::ActivationFunctionType_RELU:
            case fb::ActivationFunctionType_RELU_N1_TO_1:
            case fb::ActivationFunctionType_RELU6:
            case fb::ActivationFunctionType_TANH: return;
            default: break;
        }
        const char* name = fb::EnumNameActivationFunctionType(a);
        op_fail("fused activation ", *name ? std::string(name) : concat("code ", static_cast<int>(a)),
                " is not supported (NONE, RELU, RELU_N1_TO_1, RELU6, TANH)");
    }

    // The name the operator's main node writes: the output itself, or "<out>/pre_act".
    std::string pre_activation(const std::string& out, fb::ActivationFunctionType a) {
        return a == fb::ActivationFunctionType_NONE ? out : fresh(out + "/pre_act");
    }

    void emit_activation(fb::ActivationFunctionType a, const std::string& pre, const std::string& out) {
        switch (a) {
            case fb::ActivationFunctionType_RELU: emit("Relu", node_ + "/relu", {pre}, {out}); break;
            case fb::ActivationFunctionType_TANH: emit("Tanh", node_ + "/tanh", {pre}, {out}); break;
            case fb::ActivationFunctionType_RELU6:
            case fb::ActivationFunctionType_RELU_N1_TO_1: {
                const bool six = a == fb::ActivationFunctionType_RELU6;
                const std::string lo = add_f32_scalar(node_ + "/clip_min", six ? 0.f : -1.f);
                const std::string hi = add_f32_scalar(node_ + "/clip_max", six ? 6.f : 1.f);
                emit("Clip", node_ + (six ? "/relu6" : "/relu_n1_to_1"), {pre, lo, hi}, {out});
                break;
            }
            default: break;  // NONE (others were refused by check_activation)
        }
    }

    // --- Quantized weights ---

    // DequantizeLinear of `x` (IR dims `x_dims`; tensor q's data, laid out by `perm` or as stored
    // when perm is null) with tensor q's scales and zero points, writing `out`.
    void emit_dequantize(const std::string& x, std::size_t q, const std::vector<std::int64_t>& x_dims, const Perm* perm,
                         const std::string& node_name, const std::string& prefix, const std::string& out) {
        const auto& t = tensor(q);
        const DataType dt = dtype_of(q);
        const auto* qp = t.quantization();
        const std::size_t n = qp && qp->scale() ? qp->scale()->size() : 0;
        if (n == 0) fail(path_, ": ", tname(q), " is ", dtype_name(dt), " without quantization scales");
        const auto* zps = qp->zero_point();
        if (zps && zps->size() != 0 && zps->size() != n)
            fail(path_, ": ", tname(q), " has ", n, " quantization scales but ", zps->size(), " zero points");
        const std::int32_t qdim = qp->quantized_dimension();
        const bool qdim_valid = qdim >= 0 && static_cast<std::size_t>(qdim) < x_dims.size();
        std::int64_t axis = 0;
        if (qdim_valid) {
            axis = qdim;
            if (perm) axis = std::find(perm->begin(), perm->end(), qdim) - perm->begin();
        }
        if (n > 1) {
            if (!qdim_valid)
                fail(path_, ": ", tname(q), " has ", n, " quantization scales along dimension ", qdim, ", outside its ",
                     x_dims.size(), " dims");
            const std::int64_t channels = x_dims[static_cast<std::size_t>(axis)];
            if (channels >= 0 && static_cast<std::uint64_t>(channels) != n)
                fail(path_, ": ", tname(q), " has ", n, " quantization scales, expected 1 or ", channels,
                     " (one per channel of dimension ", qdim, ")");
        }
        const Shape shape = n == 1 ? Shape{} : Shape{static_cast<std::int64_t>(n)};
        const std::vector<float> scales(qp->scale()->begin(), qp->scale()->end());
        const std::int64_t lo = dt == DataType::s8 ? -128 : 0, hi = dt == DataType::s8 ? 127 : 255;
        std::vector<std::uint8_t> zero_points(n, 0);  // s8 or u8 bit patterns
        for (std::size_t k = 0; zps && k < zps->size(); ++k) {
            // memcpy, not Get(): the verifier aligns a vector's length to 4 bytes, not its int64s to 8.
            std::int64_t z;
            std::memcpy(&z, zps->Data() + 8 * k, 8);
            if (z < lo || z > hi) fail(path_, ": ", tname(q), " zero point ", z, " does not fit ", dtype_name(dt));
            zero_points[k] = static_cast<std::uint8_t>(z);
        }
        const std::string scale = add_initializer(prefix + "/scale", make_tensor(DataType::f32, shape, scales));
        const std::string zero_point = add_initializer(prefix + "/zero_point", make_tensor(dt, shape, zero_points));
        emit("DequantizeLinear", node_name, {x, scale, zero_point}, {out}).attributes["axis"] = int_attr(axis);
    }

    // f32 weights from initializer `init` holding tensor w (permuted by perm): `init` itself, or,
    // for int8/uint8 weights with quantization scales, a DequantizeLinear of it (once per initializer).
    std::string weights(const std::string& init, std::size_t w, const Perm* perm) {
        if (!quantized(w)) return init;
        const std::string key = "dequantized:" + init;
        if (auto it = cache_.find(key); it != cache_.end()) return it->second;
        const std::string out = fresh(init + "/dequantized");
        emit_dequantize(init, w, g_->initializers.at(init).shape, perm, init + "/dequantize", init, out);
        return cache_[key] = out;
    }

    // The OIHW filter for a conv: a constant permuted at load (once per tensor and layout), a
    // DEQUANTIZE output planned to be OIHW already, or else a Transpose at run time.
    std::string filter(std::size_t w, bool depthwise) {
        const Perm& perm = depthwise ? dw_perm : conv_perm;
        const std::string suffix = depthwise ? "dw:" : "conv:";
        if (constant_[w]) {
            std::string& init = cache_[suffix + std::to_string(w)];
            if (init.empty()) {
                HostTensor h = host_tensor(w);
                if (h.shape.size() != 4) op_fail("filter ", tname(w), " has shape ", shape_string(h.shape), ", expected 4 dims");
                init = add_initializer(names_[w] + "/oihw", permute(h, perm));
            }
            return weights(init, w, &perm);
        }
        if (prepermuted_[w] == (depthwise ? dw_filter : conv_filter)) return use(w);
        std::string& out = cache_["transposed:" + suffix + std::to_string(w)];
        if (out.empty()) {
            const std::string in = use(w);
            out = fresh(names_[w] + "/oihw");
            emit("Transpose", node_ + "/filter_oihw", {in}, {out}).attributes["perm"] =
                ints_attr({perm[0], perm[1], perm[2], perm[3]});
        }
        return out;
    }

    // --- Operators ---

    void convert_operator() {
        op_ = sg_->operators()->Get(static_cast<flatbuffers::uoffset_t>(op_index_));
        op_kind_ = "?";
        if (!codes_ || op_->opcode_index() >= codes_->size())
            fail(path_, ": operator ", op_index_, ": opcode index ", op_->opcode_index(), " is out of range (the model has ",
                 codes_ ? codes_->size() : 0, " operator codes)");
        const std::int32_t code = code_of(op_);
        if (code == fb::BuiltinOperator_CUSTOM) {
            const auto* custom = codes_->Get(op_->opcode_index())->custom_code();
            op_kind_ = custom && custom->size() ? custom->str() : "CUSTOM";
        } else {
            const char* name = fb::EnumNameBuiltinOperator(static_cast<fb::BuiltinOperator>(code));
            op_kind_ = *name ? std::string(name) : concat("BUILTIN_", code);
        }
        node_ = concat(op_kind_, "_", op_index_);
        check_indices();
        switch (code) {
            case fb::BuiltinOperator_CONV_2D: conv(false); break;
            case fb::BuiltinOperator_DEPTHWISE_CONV_2D: conv(true); break;
            case fb::BuiltinOperator_DEQUANTIZE: dequantize(); break;
            case fb::BuiltinOperator_FULLY_CONNECTED: fully_connected(); break;
            case fb::BuiltinOperator_ADD: {
                const auto* o = op_->builtin_options_as_AddOptions();
                binary("Add", o ? o->fused_activation_function() : fb::ActivationFunctionType_NONE);
                break;
            }
            case fb::BuiltinOperator_MUL: {
                const auto* o = op_->builtin_options_as_MulOptions();
                binary("Mul", o ? o->fused_activation_function() : fb::ActivationFunctionType_NONE);
                break;
            }
            case fb::BuiltinOperator_LOG: unary("Log"); break;
            case fb::BuiltinOperator_LOGISTIC: unary("Sigmoid"); break;
            case fb::BuiltinOperator_SQRT: unary("Sqrt"); break;
            case fb::BuiltinOperator_RESHAPE: reshape(); break;
            case fb::BuiltinOperator_GATHER: gather(); break;
            case fb::BuiltinOperator_PAD: pad(); break;
            case fb::BuiltinOperator_MEAN: mean(); break;
            case fb::BuiltinOperator_SLICE: slice(); break;
            case fb::BuiltinOperator_STRIDED_SLICE: strided_slice(); break;
            case fb::BuiltinOperator_CUSTOM: passthrough("tflite.custom"); break;
            default: passthrough("tflite"); break;
        }
        define_outputs();
    }

    // Operators without an ONNX mapping: kept by TFLite name, so they are listed and the engine
    // can name them when it refuses the model.
    void passthrough(const char* domain) {
        std::vector<std::string> ins, outs;
        const auto* v = op_->inputs();
        for (std::size_t k = 0; v && k < v->size(); ++k) ins.push_back(input(k));
        for (std::size_t k = 0; op_->outputs() && k < op_->outputs()->size(); ++k) outs.push_back(output(k));
        emit(op_kind_, node_, std::move(ins), std::move(outs)).domain = domain;
    }

    void unary(const char* onnx) {
        const std::string x = use(required(0, "input"));
        emit(onnx, node_, {x}, {output(0)});
    }

    void binary(const char* onnx, fb::ActivationFunctionType act) {
        check_activation(act);
        const std::string a = use(required(0, "first operand")), b = use(required(1, "second operand"));
        const std::string out = output(0), pre = pre_activation(out, act);
        emit(onnx, node_, {a, b}, {pre});
        emit_activation(act, pre, out);
    }

    void conv(bool depthwise) {
        const std::size_t x = required(0, "input"), w = required(1, "filter");
        fb::Padding padding;
        fb::ActivationFunctionType act;
        std::int64_t sh, sw, dh, dw, multiplier = 0;
        if (depthwise) {
            const auto* o = op_->builtin_options_as_DepthwiseConv2DOptions();
            if (!o) op_fail("has no DepthwiseConv2DOptions");
            padding = o->padding(), act = o->fused_activation_function(), multiplier = o->depth_multiplier();
            sh = o->stride_h(), sw = o->stride_w(), dh = o->dilation_h_factor(), dw = o->dilation_w_factor();
        } else {
            const auto* o = op_->builtin_options_as_Conv2DOptions();
            if (!o) op_fail("has no Conv2DOptions");
            padding = o->padding(), act = o->fused_activation_function();
            sh = o->stride_h(), sw = o->stride_w(), dh = o->dilation_h_factor(), dw = o->dilation_w_factor();
        }
        if (sh < 1 || sw < 1) op_fail("strides [", sh, ",", sw, "] must be at least 1");
        if (dh < 1 || dw < 1) op_fail("dilations [", dh, ",", dw, "] must be at least 1");
        if (padding != fb::Padding_SAME && padding != fb::Padding_VALID)
            op_fail("padding code ", static_cast<int>(padding), " is neither SAME nor VALID");
        check_activation(act);
        const auto xd = dims(x), wd = dims(w);
        if (xd.size() != 4) op_fail("input ", tname(x), " has shape ", shape_text(xd), ", expected 4 dims (NHWC)");
        if (wd.size() != 4 || wd[1] < 1 || wd[2] < 1 || (depthwise && wd[0] != 1))
            op_fail("filter ", tname(w), " has shape ", shape_text(wd), ", expected ", depthwise ? "[1,H,W,C*multiplier]" : "[O,H,W,I]");
        std::int64_t group = 1;
        if (depthwise) {
            const std::int64_t oc = wd[3];
            std::int64_t c = xd[3];
            if (c < 1 && multiplier > 0 && oc > 0 && oc % multiplier == 0) c = oc / multiplier;
            if (c < 1) op_fail("needs the input's channel count for its groups, but ", tname(x), " has shape ", shape_text(xd));
            if (oc < 1 || oc % c != 0)
                op_fail("filter ", tname(w), " has ", oc, " output channels, not a multiple of the input's ", c, " channels");
            group = c;
        } else if (xd[3] > 0 && xd[3] != wd[3]) {  // grouped CONV_2D: the filter sees C / groups channels
            if (wd[3] < 1 || xd[3] % wd[3] != 0)
                op_fail("filter ", tname(w), " has ", wd[3], " input channels, not a divisor of the input's ", xd[3], " channels");
            group = xd[3] / wd[3];
        }
        std::vector<std::int64_t> pads(4, 0);  // top, left, bottom, right
        if (padding == fb::Padding_SAME) {
            if (xd[1] < 1 || xd[2] < 1)
                op_fail("SAME padding needs a static input height and width, but ", tname(x), " has shape ", shape_text(xd));
            // TensorFlow's rule: the output has ceil(in / stride) positions; any odd pixel goes at the end.
            auto same = [](std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t d, std::int64_t& lo, std::int64_t& hi) {
                const std::int64_t out = (in + s - 1) / s;
                const std::int64_t total = std::max<std::int64_t>((out - 1) * s + (k - 1) * d + 1 - in, 0);
                lo = total / 2;
                hi = total - lo;
            };
            same(xd[1], wd[1], sh, dh, pads[0], pads[2]);
            same(xd[2], wd[2], sw, dw, pads[1], pads[3]);
        }
        const std::string xin = use(x), filt = filter(w, depthwise), bias = input(2);
        const std::string out = output(0), pre = pre_activation(out, act);
        Node& n = emit("Conv", node_, {xin, filt, bias}, {pre});
        n.attributes["strides"] = ints_attr({sh, sw});
        n.attributes["dilations"] = ints_attr({dh, dw});
        n.attributes["pads"] = ints_attr(pads);
        n.attributes["kernel_shape"] = ints_attr({wd[1], wd[2]});
        n.attributes["group"] = int_attr(group);
        n.attributes["channels_last"] = int_attr(1);
        emit_activation(act, pre, out);
    }

    // DEQUANTIZE: int8/uint8 -> DequantizeLinear along quantized_dimension; float16 -> Cast. A
    // constant feeding only conv filters is permuted to OIHW here (and the axis with it).
    void dequantize() {
        const std::size_t x = required(0, "input");
        const std::string out = output(0);
        const std::uint8_t planned = prepermuted_[output_index(0)];
        const Perm* perm = planned == conv_filter ? &conv_perm : planned == dw_filter ? &dw_perm : nullptr;
        const auto type = tensor(x).type();
        if (type != fb::TensorType_INT8 && type != fb::TensorType_UINT8 && type != fb::TensorType_FLOAT16)
            op_fail("input ", tname(x), " has type ", type_name(type), ", expected INT8, UINT8 or FLOAT16");
        if (type != fb::TensorType_FLOAT16 && !quantized(x)) op_fail("input ", tname(x), " has no quantization scales");
        std::string xin;
        std::vector<std::int64_t> xd;
        if (perm) {
            HostTensor h = host_tensor(x);  // rank 4: plan_filters checked
            HostTensor p = permute(h, *perm);
            xd = p.shape;
            xin = add_initializer(names_[x] + "/oihw", std::move(p));
        } else {
            xin = use(x);
            xd = constant_[x] ? g_->initializers.at(xin).shape : dims(x);
        }
        if (type == fb::TensorType_FLOAT16) {
            emit("Cast", node_, {xin}, {out}).attributes["to"] = int_attr(onnx_float);
            return;
        }
        emit_dequantize(xin, x, xd, perm, node_, node_, out);
    }

    void fully_connected() {
        const std::size_t x = required(0, "input"), w = required(1, "weights");
        const auto* o = op_->builtin_options_as_FullyConnectedOptions();
        const auto act = o ? o->fused_activation_function() : fb::ActivationFunctionType_NONE;
        check_activation(act);
        if (o && o->weights_format() != fb::FullyConnectedOptionsWeightsFormat_DEFAULT)
            op_fail("weights_format ", static_cast<int>(o->weights_format()), " (",
                    fb::EnumNameFullyConnectedOptionsWeightsFormat(o->weights_format()), ") is not supported (only DEFAULT)");
        const auto wd = dims(w), xd = dims(x);
        if (wd.size() != 2 || wd[1] < 1) op_fail("weights ", tname(w), " have shape ", shape_text(wd), ", expected [units, input size]");
        std::string xin = use(x);
        if (xd.size() != 2) {  // Gemm takes a matrix: [-1, input size]
            const std::string shape = add_i64(node_ + "/input_shape", {-1, wd[1]}), flat = fresh(node_ + "/input_2d");
            emit("Reshape", node_ + "/reshape_input", {xin, shape}, {flat});
            xin = flat;
        }
        const std::string wname = constant_[w] ? weights(materialize(w), w, nullptr) : use(w);
        const std::string bias = input(2);
        // keep_num_dims: the output keeps the input's leading dims, [..., units].
        const bool keep = o && o->keep_num_dims() && xd.size() != 2;
        std::vector<std::int64_t> keep_shape;
        if (keep) {
            keep_shape.assign(xd.begin(), xd.empty() ? xd.end() : xd.end() - 1);
            keep_shape.push_back(wd[0]);
            if (std::count_if(keep_shape.begin(), keep_shape.end(), [](std::int64_t d) { return d < 0; }) > 1)
                op_fail("keep_num_dims needs at most one dynamic dim, but ", tname(x), " has shape ", shape_text(xd));
        }
        const std::string out = output(0), pre = pre_activation(out, act);
        const std::string gemm_out = keep ? fresh(node_ + "/output_2d") : pre;
        emit("Gemm", node_, {xin, wname, bias}, {gemm_out}).attributes["transB"] = int_attr(1);
        if (keep) {
            const std::string shape = add_i64(node_ + "/output_shape", keep_shape);
            emit("Reshape", node_ + "/reshape_output", {gemm_out, shape}, {pre});
        }
        emit_activation(act, pre, out);
    }

    void reshape() {
        const std::string x = use(required(0, "data"));
        const std::int64_t s = input_index(1);
        const auto* o = op_->builtin_options_as_ReshapeOptions();
        std::vector<std::int64_t> values;
        bool known = true;
        std::string shape;
        if (s >= 0 && !constant_[s]) {
            known = false;
            shape = int64_operand(static_cast<std::size_t>(s), "shape", "shape");
        } else {
            if (s >= 0) {
                values = const_ints(static_cast<std::size_t>(s), "shape");
            } else if (o && o->new_shape()) {
                values.assign(o->new_shape()->begin(), o->new_shape()->end());
            } else {
                values = dims(output_index(0));
                if (std::any_of(values.begin(), values.end(), [](std::int64_t d) { return d < 0; }))
                    op_fail("has no shape input or new_shape option, and its output ", tname(output_index(0)), " has the dynamic shape ",
                            shape_text(values));
            }
            shape = add_i64(node_ + "/shape", values);
        }
        Node& n = emit("Reshape", node_, {x, shape}, {output(0)});
        // TFLite's 0 is an empty dim; ONNX's 0 copies the input's dim unless allowzero is set.
        if (known && std::find(values.begin(), values.end(), 0) != values.end()) n.attributes["allowzero"] = int_attr(1);
    }

    void gather() {
        const auto* o = op_->builtin_options_as_GatherOptions();
        if (o && o->batch_dims() != 0) op_fail("batch_dims ", o->batch_dims(), " is not supported (ONNX Gather has none)");
        const std::string data = use(required(0, "params")), indices = use(required(1, "indices"));
        emit("Gather", node_, {data, indices}, {output(0)}).attributes["axis"] = int_attr(o ? o->axis() : 0);
    }

    void pad() {
        const std::size_t x = required(0, "input"), p = required(1, "paddings");
        const auto values = const_ints(p, "paddings");  // [rank, 2]: (before, after) per dim
        const auto xd = dims(x);
        if (values.size() % 2 != 0 || (tensor(x).shape() && values.size() != 2 * xd.size()))
            op_fail("paddings ", tname(p), " has ", values.size(), " values, expected [rank, 2] = ", 2 * xd.size(), " for ", tname(x),
                    " ", shape_text(xd));
        const std::size_t rank = values.size() / 2;
        std::vector<std::int64_t> pads(values.size());
        for (std::size_t i = 0; i < rank; ++i) {
            pads[i] = values[2 * i];
            pads[rank + i] = values[2 * i + 1];
        }
        const std::string xin = use(x), pads_name = add_i64(node_ + "/pads", pads);
        emit("Pad", node_, {xin, pads_name}, {output(0)}).attributes["mode"] = string_attr("constant");
    }

    void mean() {
        const std::size_t x = required(0, "input"), a = required(1, "axes");
        const auto* o = op_->builtin_options_as_ReducerOptions();
        const std::string xin = use(x);
        bool empty_axes = false;
        std::string axes;
        if (constant_[a]) {
            const auto values = const_ints(a, "axes");
            empty_axes = values.empty();
            axes = add_i64(node_ + "/axes", values);
        } else {
            axes = int64_operand(a, "axes", "axes");
        }
        Node& n = emit("ReduceMean", node_, {xin, axes}, {output(0)});
        n.attributes["keepdims"] = int_attr(o && o->keep_dims() ? 1 : 0);
        if (empty_axes) n.attributes["noop_with_empty_axes"] = int_attr(1);  // TFLite: no axes, no reduction
    }

    void slice() {
        const std::size_t x = required(0, "input"), b = required(1, "begin"), s = required(2, "size");
        const auto begin = const_ints(b, "begin"), size = const_ints(s, "size");
        if (begin.size() != size.size()) op_fail("begin ", tname(b), " has ", begin.size(), " values but size ", tname(s), " has ", size.size());
        std::vector<std::int64_t> ends(begin.size()), axes(begin.size());
        for (std::size_t i = 0; i < begin.size(); ++i) {
            if (begin[i] < 0) op_fail("begin[", i, "] is ", begin[i], ", expected >= 0");
            if (size[i] < -1) op_fail("size[", i, "] is ", size[i], ", expected -1 (to the end) or a count");
            if (size[i] >= 0 && begin[i] > int64_max - size[i]) op_fail("begin[", i, "] + size[", i, "] overflows");
            ends[i] = size[i] == -1 ? int64_max : begin[i] + size[i];
            axes[i] = static_cast<std::int64_t>(i);
        }
        const std::string xin = use(x), starts_name = add_i64(node_ + "/starts", begin), ends_name = add_i64(node_ + "/ends", ends),
                          axes_name = add_i64(node_ + "/axes", axes);
        emit("Slice", node_, {xin, starts_name, ends_name, axes_name}, {output(0)});
    }

    void strided_slice() {
        const std::size_t x = required(0, "input"), b = required(1, "begin"), e = required(2, "end");
        const std::int64_t s = input_index(3);
        const auto begin = const_ints(b, "begin"), end = const_ints(e, "end");
        const auto strides = s >= 0 ? const_ints(static_cast<std::size_t>(s), "strides") : std::vector<std::int64_t>(begin.size(), 1);
        if (begin.size() != end.size() || begin.size() != strides.size())
            op_fail("begin, end and strides have ", begin.size(), ", ", end.size(), " and ", strides.size(), " values, expected the same count");
        const auto* o = op_->builtin_options_as_StridedSliceOptions();
        const std::uint32_t begin_mask = o ? static_cast<std::uint32_t>(o->begin_mask()) : 0;
        const std::uint32_t end_mask = o ? static_cast<std::uint32_t>(o->end_mask()) : 0;
        const std::uint32_t shrink_mask = o ? static_cast<std::uint32_t>(o->shrink_axis_mask()) : 0;
        if (o && (o->ellipsis_mask() != 0 || o->new_axis_mask() != 0))
            op_fail("ellipsis_mask ", o->ellipsis_mask(), " and new_axis_mask ", o->new_axis_mask(), " are not supported (must be 0)");
        const bool offset = o && o->offset();
        auto bit = [](std::uint32_t mask, std::size_t i) { return i < 32 && ((mask >> i) & 1u); };
        const std::size_t n = begin.size();
        std::vector<std::int64_t> starts(n), ends(n), axes(n), steps(n), squeeze;
        for (std::size_t i = 0; i < n; ++i) {
            const std::int64_t step = strides[i];
            if (step == 0) op_fail("stride ", i, " is 0");
            axes[i] = static_cast<std::int64_t>(i);
            if (bit(shrink_mask, i)) {  // one element at begin, dim removed by the Squeeze below
                const std::int64_t start = bit(begin_mask, i) ? (step > 0 ? 0 : -1) : begin[i];
                starts[i] = start;
                ends[i] = start == -1 || start == int64_max ? int64_max : start + 1;
                steps[i] = 1;
                squeeze.push_back(static_cast<std::int64_t>(i));
                continue;
            }
            starts[i] = bit(begin_mask, i) ? (step > 0 ? 0 : int64_max) : begin[i];
            if (bit(end_mask, i)) {
                ends[i] = step > 0 ? int64_max : int64_min;
            } else if (offset) {
                if ((end[i] > 0 && begin[i] > int64_max - end[i]) || (end[i] < 0 && begin[i] < int64_min - end[i]))
                    op_fail("begin[", i, "] + end[", i, "] overflows");
                ends[i] = begin[i] + end[i];
            } else {
                ends[i] = end[i];
            }
            steps[i] = step;
        }
        const std::string xin = use(x), starts_name = add_i64(node_ + "/starts", starts), ends_name = add_i64(node_ + "/ends", ends),
                          axes_name = add_i64(node_ + "/axes", axes), steps_name = add_i64(node_ + "/steps", steps);
        const std::string out = output(0), sliced = squeeze.empty() ? out : fresh(out + "/pre_squeeze");
        emit("Slice", node_, {xin, starts_name, ends_name, axes_name, steps_name}, {sliced});
        if (!squeeze.empty()) {
            const std::string squeeze_axes = add_i64(node_ + "/squeeze_axes", squeeze);
            emit("Squeeze", node_ + "/squeeze", {sliced, squeeze_axes}, {out});
        }
    }
};

}  // namespace

Model load_tflite_bytes(const void* data, std::size_t size, const std::string& name) {
    // Flatbuffers reads scalars in place: make sure the buffer is aligned like a heap allocation.
    std::vector<std::uint8_t> copy;
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    if (reinterpret_cast<std::uintptr_t>(data) % 16 != 0) {
        copy.assign(bytes, bytes + size);
        bytes = copy.data();
    }
    return Converter(bytes, size, name).convert();
}

Model load_tflite(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot open model file '", path, "'");
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.empty()) fail(path, ": model file is empty");
    return load_tflite_bytes(bytes.data(), bytes.size(), path);
}

}  // namespace xmodal
