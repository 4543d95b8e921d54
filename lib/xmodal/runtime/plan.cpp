// The plan builder (slots, folding, reorders, arena layout) and the ModelRunner that walks a graph
// into plans, one per input-shape set.
#include "xmodal/runtime/plan.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <set>

#include "xmodal/onnx_loader.hpp"
#include "xmodal/primitive_cache.hpp"
#include "xmodal/compute_thread.hpp"
#include "xmodal/runtime.hpp"
#include "xmodal/tflite_loader.hpp"

namespace xmodal::rt {

namespace {
constexpr std::size_t kAlign = 64;
std::size_t round_up(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
bool is_dnnl_type(DataType dt) {
    return dt == DataType::f32 || dt == DataType::bf16 || dt == DataType::f16 || dt == DataType::s8 ||
           dt == DataType::u8 || dt == DataType::s32;
}
}  // namespace

std::int64_t Slot::numel() const { return static_cast<std::int64_t>(element_count(shape)); }

std::shared_ptr<void> aligned_bytes(std::size_t bytes) {
    void* p = std::aligned_alloc(kAlign, round_up(std::max<std::size_t>(bytes, 1)));
    if (!p) fail("out of memory allocating ", bytes, " bytes");
    return std::shared_ptr<void>(p, std::free);
}

std::size_t element_count(const Shape& shape) {
    std::size_t n = 1;
    for (auto d : shape) n *= static_cast<std::size_t>(d);
    return n;
}

std::int64_t normalize_axis(std::int64_t axis, std::int64_t rank, const std::string& where) {
    if (axis < -rank || axis >= std::max<std::int64_t>(rank, 1)) fail(where, ": axis ", axis, " is out of range for rank ", rank);
    return axis < 0 ? axis + rank : axis;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& where) {
    Shape out(std::max(a.size(), b.size()));
    for (std::size_t i = 0; i < out.size(); ++i) {
        std::int64_t da = i < out.size() - a.size() ? 1 : a[i - (out.size() - a.size())];
        std::int64_t db = i < out.size() - b.size() ? 1 : b[i - (out.size() - b.size())];
        if (da != db && da != 1 && db != 1)
            fail(where, ": shapes ", shape_string(a), " and ", shape_string(b), " do not broadcast (dim ", i, ": ", da, " vs ", db, ")");
        out[i] = da == 1 ? db : da;
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
PlanBuilder::PlanBuilder(std::shared_ptr<Device> device, DataType precision, std::string model_path)
    : device_(std::move(device)), stream_(device_->engine()), precision_(precision), model_path_(std::move(model_path)) {}

int PlanBuilder::new_slot(const std::string& name, DataType dtype, Shape shape, dnnl::memory::desc md) {
    for (auto d : shape)
        if (d < 0) fail(model_path_, ": value '", name, "' would have a negative dimension ", shape_string(shape));
    Slot s;
    s.name = name;
    s.dtype = dtype;
    s.shape = std::move(shape);
    s.md = md;
    s.bytes = s.plain() ? element_count(s.shape) * dtype_size(dtype) : md.get_size();
    slots_.push_back(std::move(s));
    return static_cast<int>(slots_.size() - 1);
}

int PlanBuilder::constant(const std::string& name, DataType dtype, Shape shape, const void* bytes) {
    int id = new_slot(name, dtype, std::move(shape));
    Slot& s = slot(id);
    s.constant = true;
    s.storage = aligned_bytes(s.bytes);
    s.ptr = s.storage.get();
    if (s.bytes) std::memcpy(s.ptr, bytes, s.bytes);
    return id;
}

int PlanBuilder::constant(const std::string& name, const HostTensor& t) {
    if (t.bytes.size() != element_count(t.shape) * dtype_size(t.dtype))
        fail(model_path_, ": constant '", name, "' has ", t.bytes.size(), " bytes for shape ", shape_string(t.shape));
    return constant(name, t.dtype, t.shape, t.bytes.data());
}

void PlanBuilder::share_bytes(int id, int base) {
    const Slot& b = slot(base);
    Slot& s = slot(id);
    s.alias_of = b.alias_of >= 0 ? b.alias_of : base;
    s.constant = b.constant;
    s.storage = b.storage;
    s.ptr = b.ptr;
}

int PlanBuilder::alias(int base, const std::string& name, Shape shape) {
    const Slot& b = slot(base);
    if (!b.plain()) fail("internal: alias of a non-plain value '", b.name, "'");
    if (element_count(shape) != element_count(b.shape))
        fail(model_path_, ": '", name, "' ", shape_string(shape), " cannot view '", b.name, "' ", shape_string(b.shape));
    int id = new_slot(name, b.dtype, std::move(shape));
    share_bytes(id, base);
    return id;
}

int PlanBuilder::view(int base, const std::string& name, const dnnl::memory::desc& md, bool channels_last) {
    int id = new_slot(name, data_type_of(md.data_type()), slot(base).shape, md);
    share_bytes(id, base);
    slot(id).channels_last = channels_last;
    return id;
}

DataType data_type_of(dnnl::memory::data_type dt) {
    switch (dt) {
        case dnnl::memory::data_type::f32: return DataType::f32;
        case dnnl::memory::data_type::bf16: return DataType::bf16;
        case dnnl::memory::data_type::f16: return DataType::f16;
        case dnnl::memory::data_type::s8: return DataType::s8;
        case dnnl::memory::data_type::u8: return DataType::u8;
        case dnnl::memory::data_type::s32: return DataType::s32;
        default: fail("internal: oneDNN data type ", static_cast<int>(dt), " has no xmodal type");
    }
}

dnnl::memory::format_tag channels_last_tag(int ndims) {
    using tag = dnnl::memory::format_tag;
    return ndims == 3 ? tag::nwc : ndims == 4 ? tag::nhwc : tag::ndhwc;
}

dnnl::memory::desc PlanBuilder::plain_md(DataType dtype, const Shape& shape) {
    dnnl::memory::dims dims(std::max<std::size_t>(shape.size(), 1), 1), strides(dims.size(), 1);
    for (std::size_t i = 0; i < shape.size(); ++i) dims[i] = shape[i];
    for (std::size_t i = dims.size() - 1; i-- > 0;) strides[i] = strides[i + 1] * std::max<dnnl::memory::dim>(dims[i + 1], 1);
    return dnnl::memory::desc(dims, to_dnnl(dtype), strides);
}

dnnl::memory::desc PlanBuilder::plain_md_of(int id, DataType dtype) const {
    const Slot& s = slot(id);
    if (s.plain() || !s.channels_last) return plain_md(dtype, s.shape);
    return dnnl::memory::desc(s.md.dims(), to_dnnl(dtype), channels_last_tag(s.md.data.ndims));
}

int PlanBuilder::in_layout(int id, const dnnl::memory::desc& md, const std::string& why) {
    const Slot& s = slot(id);
    auto current = s.plain() ? plain_md(s.dtype, s.shape) : s.md;
    if (current == md) return id;
    if (!is_dnnl_type(s.dtype)) fail(model_path_, ": ", why, ": value '", s.name, "' is ", dtype_name(s.dtype), ", expected a numeric tensor");
    DataType dt = data_type_of(md.data_type());
    int out = new_slot(s.name + "/reorder", dt, s.shape, md);
    slot(out).channels_last = s.channels_last && !s.plain();
    ++reorders;
    // Descriptors captured now: plain() later marks `out` plain in its logical (maybe NHWC) dims.
    add_step("reorder '" + s.name + "' (" + why + ")", {id}, {out}, [id, out, current, md](PlanBuilder& b) -> Runner {
        dnnl::memory src(current, b.engine(), b.slot(id).ptr), dst(md, b.engine(), b.slot(out).ptr);
        auto key = "reorder " + key_of(src.get_desc()) + " " + key_of(dst.get_desc());
        auto prim = b.device()->primitives()
                        .get(key, [&] { return CachedPrimitive{dnnl::reorder(src, dst), 0, {}}; })
                        .primitive;
        dnnl::stream* stream = &b.stream();
        return [prim, src, dst, stream] { prim.execute(*stream, {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}}); };
    });
    return out;
}

int PlanBuilder::plain(int id, DataType dtype) {
    const Slot& s = slot(id);
    if (s.plain() && s.dtype == dtype) return id;
    if (s.plain_version >= 0 && slot(s.plain_version).dtype == dtype) return s.plain_version;
    if (!is_dnnl_type(s.dtype) || !is_dnnl_type(dtype))
        fail(model_path_, ": value '", s.name, "' is ", dtype_name(s.dtype), ", expected ", dtype_name(dtype));
    int out = in_layout(id, plain_md_of(id, dtype), "plain layout");
    // Record it as plain (in_layout stored the md; a plain slot has none).
    Slot& o = slot(out);
    o.md = dnnl::memory::desc();
    o.channels_last = false;
    o.bytes = element_count(o.shape) * dtype_size(dtype);
    slot(id).plain_version = out;
    return out;
}

int PlanBuilder::plain(int id) {
    DataType dt = slot(id).dtype;
    return plain(id, dt == DataType::bf16 || dt == DataType::f16 ? DataType::f32 : dt);
}

void PlanBuilder::add_step(const std::string& what, std::vector<int> inputs, std::vector<int> outputs, Binder binder) {
    bool all_constant = std::all_of(inputs.begin(), inputs.end(), [&](int i) { return i < 0 || slot(i).constant; });
    if (all_constant) {
        // Constant folding: give the outputs storage now, bind and run once.
        for (int o : outputs) {
            Slot& s = slot(o);
            if (s.alias_of >= 0) continue;
            s.constant = true;
            s.storage = aligned_bytes(s.bytes);
            s.ptr = s.storage.get();
        }
        try {
            binder(*this)();
            stream_.wait();
        } catch (const dnnl::error& e) {
            fail(model_path_, ": ", what, ": oneDNN: ", e.what());
        }
        ++folded;
        return;
    }
    int index = static_cast<int>(steps_.size());
    for (int i : inputs) {
        if (i < 0) continue;
        Slot& s = slot(i);
        Slot& root = s.alias_of >= 0 ? slot(s.alias_of) : s;
        root.last_use = std::max(root.last_use, index);
    }
    for (int o : outputs) slot(o).defined_at = index;
    steps_.push_back(Step{what, std::move(inputs), std::move(outputs), std::move(binder), {}});
}

std::vector<std::int64_t> PlanBuilder::const_ints(int id, const std::string& what) const {
    const Slot& s = slot(id);
    if (!s.constant) fail(model_path_, ": ", what, " must be known when the model is planned (a constant or computed from shapes); '", s.name, "' depends on input data");
    std::vector<std::int64_t> v(static_cast<std::size_t>(s.numel()));
    for (std::size_t i = 0; i < v.size(); ++i) {
        switch (s.dtype) {
            case DataType::s64: v[i] = s.data<std::int64_t>()[i]; break;
            case DataType::s32: v[i] = s.data<std::int32_t>()[i]; break;
            case DataType::s8: v[i] = s.data<std::int8_t>()[i]; break;
            case DataType::u8: case DataType::boolean: v[i] = s.data<std::uint8_t>()[i]; break;
            default: fail(model_path_, ": ", what, ": expected an integer tensor, '", s.name, "' is ", dtype_name(s.dtype));
        }
    }
    return v;
}

std::vector<float> PlanBuilder::const_floats(int id, const std::string& what) const {
    const Slot& s = slot(id);
    if (!s.constant) fail(model_path_, ": ", what, " must be a constant; '", s.name, "' depends on input data");
    std::vector<float> v(static_cast<std::size_t>(s.numel()));
    for (std::size_t i = 0; i < v.size(); ++i) {
        switch (s.dtype) {
            case DataType::f32: v[i] = s.data<float>()[i]; break;
            case DataType::f64: v[i] = static_cast<float>(s.data<double>()[i]); break;
            case DataType::bf16: v[i] = bf16_to_f32(s.data<std::uint16_t>()[i]); break;
            case DataType::f16: v[i] = f16_to_f32(s.data<std::uint16_t>()[i]); break;
            case DataType::s64: v[i] = static_cast<float>(s.data<std::int64_t>()[i]); break;
            case DataType::s32: v[i] = static_cast<float>(s.data<std::int32_t>()[i]); break;
            default: fail(model_path_, ": ", what, ": expected a numeric tensor, '", s.name, "' is ", dtype_name(s.dtype));
        }
    }
    return v;
}

void PlanBuilder::finish(const std::vector<int>& graph_outputs) {
    int end = static_cast<int>(steps_.size());
    for (int o : graph_outputs) {
        Slot& s = slot(o);
        Slot& root = s.alias_of >= 0 ? slot(s.alias_of) : s;
        root.last_use = end;
    }
    // Greedy interval packing: biggest buffers first, each at the lowest offset that does not
    // overlap a placed buffer whose lifetime overlaps its own.
    std::vector<int> order;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        const Slot& s = slots_[i];
        if (!s.constant && s.alias_of < 0 && s.bytes > 0) order.push_back(static_cast<int>(i));
    }
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return slot(a).bytes > slot(b).bytes; });
    std::vector<int> placed;
    arena_bytes_ = 0;
    unplanned_bytes_ = 0;
    for (int id : order) {
        Slot& s = slot(id);
        int first = s.defined_at, last = std::max(s.last_use, s.defined_at);
        std::vector<std::pair<std::size_t, std::size_t>> busy;
        for (int p : placed) {
            const Slot& o = slot(p);
            int of = o.defined_at, ol = std::max(o.last_use, o.defined_at);
            if (first <= ol && of <= last) busy.emplace_back(o.arena_offset, o.arena_offset + round_up(o.bytes));
        }
        std::sort(busy.begin(), busy.end());
        std::size_t offset = 0, need = round_up(s.bytes);
        for (auto [b, e] : busy) {
            if (offset + need <= b) break;
            offset = std::max(offset, e);
        }
        s.arena_offset = offset;
        arena_bytes_ = std::max(arena_bytes_, offset + need);
        unplanned_bytes_ += need;
        placed.push_back(id);
    }
    arena_ = aligned_bytes(arena_bytes_);
    auto* base = static_cast<std::uint8_t*>(arena_.get());
    for (auto& s : slots_)
        if (!s.constant && s.alias_of < 0) s.ptr = base + s.arena_offset;
    for (auto& s : slots_)
        if (s.alias_of >= 0) s.ptr = slots_[static_cast<std::size_t>(s.alias_of)].ptr;
    for (auto& step : steps_) {
        try {
            step.runner = step.binder(*this);
        } catch (const dnnl::error& e) {
            fail(model_path_, ": ", step.what, ": oneDNN: ", e.what());
        }
        step.binder = nullptr;
    }
}

// ---------------------------------------------------------------------------------------------
int NodeContext::input(std::size_t i) const {
    if (!has(i)) fail(where(), ": input ", i, " is required");
    return in[i];
}

std::string NodeContext::out_name(std::size_t i) const {
    if (i < node.outputs.size() && !node.outputs[i].empty()) return node.outputs[i];
    return (node.name.empty() ? node.op_type : node.name) + "/out" + std::to_string(i);
}

const OpBuilder* find_op(const std::string& op_type) {
    static const std::map<std::string, OpBuilder> ops = [] {
        std::map<std::string, OpBuilder> m;
        register_host_ops(m);
        register_dnnl_ops(m);
        return m;
    }();
    auto it = ops.find(op_type);
    return it == ops.end() ? nullptr : &it->second;
}

// ---------------------------------------------------------------------------------------------
// Walks a graph (and inlined If branches) into a PlanBuilder.
namespace {

struct Scope {
    const Scope* parent = nullptr;
    std::map<std::string, int> values;
    int find(const std::string& name) const {
        for (const Scope* s = this; s; s = s->parent) {
            auto it = s->values.find(name);
            if (it != s->values.end()) return it->second;
        }
        return -1;
    }
};

// Names a graph's nodes read from enclosing scopes, recursively (they must not be fused away).
void collect_reads(const Graph& g, std::set<std::string>& names) {
    for (const auto& n : g.nodes) {
        for (const auto& i : n.inputs) names.insert(i);
        for (const auto& [k, a] : n.attributes)
            if (a.kind == Attribute::Kind::g && a.g) collect_reads(*a.g, names);
    }
    for (const auto& o : g.outputs) names.insert(o.name);
}

class GraphPlanner {
public:
    explicit GraphPlanner(PlanBuilder& b) : b_(b) {}

    // Plans `g` in `scope` (which already holds its inputs); returns the slots of its outputs.
    std::vector<int> plan(const Graph& g, Scope& scope) {
        for (const auto& [name, t] : g.initializers)
            if (scope.values.find(name) == scope.values.end()) scope.values[name] = b_.constant(name, t);

        std::map<std::string, std::vector<std::size_t>> readers;
        std::set<std::string> pinned;  // graph outputs and values captured by subgraphs
        for (std::size_t i = 0; i < g.nodes.size(); ++i) {
            for (const auto& in : g.nodes[i].inputs)
                if (!in.empty()) readers[in].push_back(i);
            for (const auto& [k, a] : g.nodes[i].attributes)
                if (a.kind == Attribute::Kind::g && a.g) collect_reads(*a.g, pinned);
        }
        for (const auto& o : g.outputs) pinned.insert(o.name);
        std::vector<bool> skipped(g.nodes.size(), false);

        for (std::size_t i = 0; i < g.nodes.size(); ++i) {
            if (skipped[i]) continue;
            const Node& node = g.nodes[i];
            std::vector<int> in;
            for (const auto& name : node.inputs) {
                if (name.empty()) {
                    in.push_back(-1);
                    continue;
                }
                int id = scope.find(name);
                if (id < 0) fail(b_.model_path(), ": ", node.describe(), ": input '", name, "' is not defined before it");
                in.push_back(id);
            }
            std::vector<int> outs;
            if (!node.domain.empty() && node.domain != "ai.onnx")
                fail(b_.model_path(), ": ", node.describe(), ": operators of domain '", node.domain, "' are not supported");
            if (node.op_type == "If") {
                outs = plan_if(node, in, scope);
            } else {
                const OpBuilder* op = find_op(node.op_type);
                if (!op) fail(b_.model_path(), ": ", node.describe(), ": operator '", node.op_type, "' is not supported by xmodal's runtime");
                NodeContext ctx{b_, node, in, {}, {}, {}};
                ctx.consumers = [&, i](const std::string& value) {
                    std::vector<const Node*> r;
                    if (pinned.count(value)) return r;
                    auto it = readers.find(value);
                    if (it == readers.end()) return r;
                    for (auto k : it->second) {
                        if (k <= i || skipped[k]) return std::vector<const Node*>{};
                        r.push_back(&g.nodes[k]);
                    }
                    return r;
                };
                ctx.absorb = [&](const Node& absorbed, int slot) {
                    auto k = static_cast<std::size_t>(&absorbed - g.nodes.data());
                    skipped.at(k) = true;
                    if (!absorbed.outputs.empty()) scope.values[absorbed.outputs[0]] = slot;
                    ++b_.fused;
                };
                ctx.lookup = [&](const std::string& value) { return scope.find(value); };
                outs = (*op)(ctx);
            }
            for (std::size_t k = 0; k < node.outputs.size(); ++k) {
                if (node.outputs[k].empty()) continue;
                if (k >= outs.size()) {
                    if (readers.count(node.outputs[k]) || pinned.count(node.outputs[k]))
                        fail(b_.model_path(), ": ", node.describe(), ": output ", k, " ('", node.outputs[k], "') is not supported");
                    continue;
                }
                b_.slot(outs[k]);  // bounds check
                scope.values[node.outputs[k]] = outs[k];
            }
        }
        std::vector<int> result;
        for (const auto& o : g.outputs) {
            int id = scope.find(o.name);
            if (id < 0) fail(b_.model_path(), ": graph '", g.name, "' output '", o.name, "' is not produced by any node");
            result.push_back(id);
        }
        return result;
    }

private:
    // If whose condition is known at plan time (a constant, or computed from shapes or scalar
    // integer inputs, which plans specialise on): the chosen branch is inlined.
    std::vector<int> plan_if(const Node& node, const std::vector<int>& in, Scope& scope) {
        if (in.empty() || in[0] < 0) fail(b_.model_path(), ": ", node.describe(), ": missing condition input");
        if (!b_.slot(in[0]).constant)
            fail(b_.model_path(), ": ", node.describe(), ": the condition depends on tensor data; xmodal plans If only when the condition "
                 "follows from constants, shapes or scalar integer inputs");
        auto cond = b_.const_ints(in[0], node.describe() + " condition");
        if (cond.size() != 1) fail(b_.model_path(), ": ", node.describe(), ": condition has ", cond.size(), " elements, expected 1");
        const Graph& branch = node.attr_graph(cond[0] ? "then_branch" : "else_branch");
        Scope inner;
        inner.parent = &scope;
        auto outs = plan(branch, inner);
        if (outs.size() != node.outputs.size())
            fail(b_.model_path(), ": ", node.describe(), ": branch '", branch.name, "' has ", outs.size(), " outputs, the node ", node.outputs.size());
        ++b_.folded;
        return outs;
    }

    PlanBuilder& b_;
};

}  // namespace
}  // namespace xmodal::rt

// ---------------------------------------------------------------------------------------------
namespace xmodal {

using namespace rt;

Model load_model(const std::string& path) {
    if (path.ends_with(".onnx")) return load_onnx(path);
    if (path.ends_with(".tflite")) return load_tflite(path);
    fail(path, ": unknown model format (expected a .onnx or .tflite file)");
}

namespace {
struct Plan {
    std::vector<Shape> input_shapes;
    std::vector<std::int64_t> specialised_values;  // scalar integer inputs the plan was built for
    std::unique_ptr<PlanBuilder> builder;
    std::vector<int> input_slots, output_slots;
    std::uint64_t last_used = 0;
};

bool specialises_on(const ValueInfo& v) {
    return v.dtype == DataType::s64 || v.dtype == DataType::s32 || v.dtype == DataType::boolean;
}
}  // namespace

struct ModelRunner::Impl {
    Model model;
    std::shared_ptr<Device> device;
    RuntimeOptions options;
    DataType precision = DataType::f32;
    std::vector<const ValueInfo*> required;  // graph inputs without a default initializer
    std::vector<std::unique_ptr<Plan>> plans;
    std::uint64_t clock = 0;
    std::size_t plans_built = 0;
    Plan* current = nullptr;
    std::vector<TensorView> ordered;  // inputs in `required` order, reused per run
    std::vector<char> given;          // which of them this run supplied

    std::string who() const { return model.path.empty() ? std::string("model") : model.path; }

    bool scalar_integer(const ValueInfo& v, const TensorView& t) const {
        return specialises_on(v) && element_count(t.shape) == 1;
    }
    std::int64_t scalar_value(const TensorView& t) const {
        switch (t.dtype) {
            case DataType::s64: return *static_cast<const std::int64_t*>(t.data);
            case DataType::s32: return *static_cast<const std::int32_t*>(t.data);
            default: return *static_cast<const std::uint8_t*>(t.data);
        }
    }

    Plan* find_plan() {
        for (auto& p : plans) {
            bool same = true;
            std::size_t sv = 0;
            for (std::size_t i = 0; i < required.size() && same; ++i) {
                same = p->input_shapes[i] == ordered[i].shape;
                if (same && scalar_integer(*required[i], ordered[i])) same = p->specialised_values[sv++] == scalar_value(ordered[i]);
            }
            if (same) return p.get();
        }
        return nullptr;
    }

    Plan* build_plan() {
        auto plan = std::make_unique<Plan>();
        plan->builder = std::make_unique<PlanBuilder>(device, precision, who());
        PlanBuilder& b = *plan->builder;
        if (model.format == "onnx" && model.opset > 0) b.opset = model.opset;
        Scope scope;
        for (std::size_t i = 0; i < required.size(); ++i) {
            const TensorView& t = ordered[i];
            plan->input_shapes.push_back(t.shape);
            int id;
            if (scalar_integer(*required[i], t)) {
                id = b.constant(required[i]->name, t.dtype, t.shape, t.data);
                plan->specialised_values.push_back(scalar_value(t));
            } else {
                id = b.new_slot(required[i]->name, t.dtype, t.shape);
            }
            plan->input_slots.push_back(id);
            scope.values[required[i]->name] = id;
        }
        GraphPlanner planner(b);
        auto outs = planner.plan(model.graph, scope);
        for (auto& o : outs) o = b.plain(o);
        plan->output_slots = outs;
        b.finish(outs);
        ++plans_built;
        if (plans.size() >= options.max_cached_plans) {
            auto oldest = std::min_element(plans.begin(), plans.end(), [](auto& a, auto& c) { return a->last_used < c->last_used; });
            plans.erase(oldest);
        }
        plans.push_back(std::move(plan));
        return plans.back().get();
    }

    void check_input(const ValueInfo& v, const TensorView& t) const {
        if (t.dtype != v.dtype)
            fail(who(), ": input '", v.name, "' must be ", dtype_name(v.dtype), ", got ", dtype_name(t.dtype));
        if (!v.shape_known) return;
        bool ok = v.shape.size() == t.shape.size();
        // A declared batch of 1 is how most exporters write "one image"; like OpenVINO's and
        // OpenCV's reshape, any batch is accepted there (a graph that hard-codes the batch then
        // fails at the node that does, with its name).
        for (std::size_t d = 0; ok && d < v.shape.size(); ++d)
            ok = !v.shape[d].known() || v.shape[d].value == t.shape[d] || (d == 0 && v.shape[d].value == 1 && t.shape[d] >= 1);
        if (!ok) fail(who(), ": input '", v.name, "' must have shape ", describe_shape(v.shape), ", got ", shape_string(t.shape));
        if (!t.data && element_count(t.shape) > 0) fail(who(), ": input '", v.name, "' has no data");
    }
};

ModelRunner::ModelRunner(Model model, std::shared_ptr<Device> device, RuntimeOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->model = std::move(model);
    impl_->device = std::move(device);
    impl_->options = options;
    if (options.precision != DataType::f32 && options.precision != DataType::bf16)
        fail(impl_->who(), ": precision must be f32 or bf16, got ", dtype_name(options.precision));
    if (impl_->device->kind() != DeviceKind::cpu)
        fail(impl_->who(), ": the model runtime runs on CPU devices only for now, got '", impl_->device->name(), "'");
    impl_->precision = resolve_compute_type(*impl_->device, options.precision, "model runtime");
    if (impl_->options.max_cached_plans == 0) impl_->options.max_cached_plans = 1;
    for (const auto& in : impl_->model.graph.inputs)
        if (!impl_->model.graph.initializers.count(in.name)) impl_->required.push_back(&in);
}

ModelRunner::~ModelRunner() = default;

const Model& ModelRunner::model() const { return impl_->model; }
DataType ModelRunner::precision() const { return impl_->precision; }

void ModelRunner::run(const std::vector<std::pair<std::string, TensorView>>& inputs, std::vector<HostTensor>& outputs) {
    // One OpenMP pool for the whole process, whatever thread calls (compute_thread.hpp).
    if (!on_compute_thread()) {
        run_on_compute_thread([&] { run(inputs, outputs); });
        return;
    }
    Impl& m = *impl_;
    m.ordered.resize(m.required.size());
    m.given.assign(m.required.size(), 0);
    for (const auto& [name, view] : inputs) {
        auto it = std::find_if(m.required.begin(), m.required.end(), [&](const ValueInfo* v) { return v->name == name; });
        if (it == m.required.end()) {
            std::string expected;
            for (auto* v : m.required) expected += (expected.empty() ? "'" : ", '") + v->name + "'";
            fail(m.who(), ": no input named '", name, "' (inputs: ", expected, ")");
        }
        auto k = static_cast<std::size_t>(it - m.required.begin());
        if (m.given[k]) fail(m.who(), ": input '", name, "' given twice");
        m.check_input(**it, view);
        m.ordered[k] = view;
        m.given[k] = 1;
    }
    for (std::size_t k = 0; k < m.required.size(); ++k)
        if (!m.given[k]) fail(m.who(), ": input '", m.required[k]->name, "' was not given");

    Plan* plan = m.find_plan();
    if (!plan) plan = m.build_plan();
    plan->last_used = ++m.clock;
    m.current = plan;
    PlanBuilder& b = *plan->builder;
    for (std::size_t k = 0; k < m.required.size(); ++k) {
        Slot& s = b.slot(plan->input_slots[k]);
        if (!s.constant && s.bytes) std::memcpy(s.ptr, m.ordered[k].data, s.bytes);
    }
    for (auto& step : b.steps()) {
        try {
            step.runner();
        } catch (const dnnl::error& e) {
            fail(m.who(), ": ", step.what, ": oneDNN: ", e.what());
        }
    }
    b.stream().wait();
    outputs.resize(plan->output_slots.size());
    for (std::size_t k = 0; k < outputs.size(); ++k) {
        const Slot& s = b.slot(plan->output_slots[k]);
        HostTensor& o = outputs[k];
        o.dtype = s.dtype;
        o.shape = s.shape;
        o.bytes.resize(s.bytes);
        if (s.bytes) std::memcpy(o.bytes.data(), s.ptr, s.bytes);
    }
}

std::vector<HostTensor> ModelRunner::run(const std::map<std::string, HostTensor>& inputs) {
    std::vector<std::pair<std::string, TensorView>> views;
    for (const auto& [name, t] : inputs) {
        if (t.bytes.size() != element_count(t.shape) * dtype_size(t.dtype))
            fail(impl_->who(), ": input '", name, "' has ", t.bytes.size(), " bytes for ", dtype_name(t.dtype), " ", shape_string(t.shape));
        views.emplace_back(name, TensorView::of(t));
    }
    std::vector<HostTensor> outputs;
    run(views, outputs);
    return outputs;
}

RuntimeStats ModelRunner::stats() const {
    RuntimeStats s;
    s.plans_built = impl_->plans_built;
    if (const Plan* p = impl_->current) {
        const PlanBuilder& b = *p->builder;
        s.steps = b.steps().size();
        s.folded_nodes = b.folded;
        s.fused_nodes = b.fused;
        s.reorders = b.reorders;
        s.arena_bytes = b.arena_bytes();
        s.unplanned_bytes = b.unplanned_bytes();
    }
    return s;
}

}  // namespace xmodal
