// Internal to the model runtime: the plan builder that operators register against.
//
// A plan is built once per input-shape set. Every value is a Slot with a concrete shape; an
// operator's builder reads its input slots, creates output slots and adds a Step whose Binder is
// called once the arena is laid out and returns the Runner executed on every run. A step whose
// inputs are all constant is bound and run immediately (constant folding) and its outputs become
// constants. oneDNN-capable operators may leave outputs in a oneDNN-chosen layout (Slot::md);
// host operators ask for plain(), which inserts a reorder only when needed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "xmodal/device.hpp"
#include "xmodal/error.hpp"
#include "xmodal/graph.hpp"

namespace xmodal::rt {

struct Slot {
    std::string name;
    DataType dtype = DataType::f32;
    Shape shape;
    // Empty (zero ndims): plain dense row-major. Otherwise the oneDNN layout the data is in.
    dnnl::memory::desc md;
    // With md set: the logical shape is N[D]HWC (TFLite) while md's dims are in oneDNN's NC[D]HW
    // order; its plain form is md's dims in an n[d]hwc layout.
    bool channels_last = false;
    bool constant = false;
    std::shared_ptr<void> storage;  // constants: owned, 64-byte aligned
    int alias_of = -1;              // a plain view of another slot's bytes (Reshape, Squeeze, ...)
    std::size_t bytes = 0;
    std::size_t arena_offset = 0;
    int defined_at = -1, last_use = -1;  // step indices (-1: before the first step)
    void* ptr = nullptr;                 // resolved data pointer (constants: at once; others: after layout)
    int plain_version = -1;              // cached plain f32/dtype conversion of a laid-out slot

    std::int64_t numel() const;
    bool plain() const { return md.data.ndims == 0; }
    template <class T>
    T* data() const { return static_cast<T*>(ptr); }
};

using Runner = std::function<void()>;
class PlanBuilder;
using Binder = std::function<Runner(PlanBuilder&)>;

struct Step {
    std::string what;  // node description, for errors and profiling
    std::vector<int> inputs, outputs;
    Binder binder;
    Runner runner;
};

class PlanBuilder {
public:
    PlanBuilder(std::shared_ptr<Device> device, DataType precision, std::string model_path);

    const std::shared_ptr<Device>& device() const { return device_; }
    const dnnl::engine& engine() const { return device_->engine(); }
    dnnl::stream& stream() { return stream_; }
    DataType precision() const { return precision_; }
    std::int64_t opset = 18;  // ai.onnx opset the graph follows (TFLite graphs are loaded with 18's semantics)
    const std::string& model_path() const { return model_path_; }

    Slot& slot(int id) { return slots_.at(static_cast<std::size_t>(id)); }
    const Slot& slot(int id) const { return slots_.at(static_cast<std::size_t>(id)); }
    std::size_t slot_count() const { return slots_.size(); }

    // A new non-constant value, plain unless `md` is given.
    int new_slot(const std::string& name, DataType dtype, Shape shape, dnnl::memory::desc md = {});
    // A constant holding `bytes` (dense row-major).
    int constant(const std::string& name, DataType dtype, Shape shape, const void* bytes);
    int constant(const std::string& name, const HostTensor& t);
    // A plain view of `base` (same bytes, another shape); base must be plain.
    int alias(int base, const std::string& name, Shape shape);
    // `base`'s bytes read through another oneDNN descriptor (strides, or NC(spatial) dims over
    // NHWC bytes when `channels_last`); same shape as base.
    int view(int base, const std::string& name, const dnnl::memory::desc& md, bool channels_last = false);

    // The slot with `id`'s data in plain dense layout and type `dtype` (default: the slot's own
    // type, with bf16 widened to f32), adding one reorder step (cached per slot) when needed.
    int plain(int id, DataType dtype);
    int plain(int id);
    // The slot's data in exactly layout `md` (reorder added when it differs).
    int in_layout(int id, const dnnl::memory::desc& md, const std::string& why);

    // Adds a step, or folds it when every input is constant (outputs become constants).
    void add_step(const std::string& what, std::vector<int> inputs, std::vector<int> outputs, Binder binder);

    // Reads a constant's values as int64 / f32 (any integer / float type); errors name `what`.
    std::vector<std::int64_t> const_ints(int id, const std::string& what) const;
    std::vector<float> const_floats(int id, const std::string& what) const;

    // Lays out the arena and binds every step. Call once, after the last add_step.
    void finish(const std::vector<int>& graph_outputs);

    std::vector<Step>& steps() { return steps_; }
    const std::vector<Step>& steps() const { return steps_; }
    std::size_t arena_bytes() const { return arena_bytes_; }
    std::size_t unplanned_bytes() const { return unplanned_bytes_; }
    std::size_t folded = 0, fused = 0, reorders = 0;

    static dnnl::memory::desc plain_md(DataType dtype, const Shape& shape);
    // The descriptor of a slot's bytes when (or once) plain, in the dims order its md uses.
    dnnl::memory::desc plain_md_of(int id, DataType dtype) const;

private:
    void share_bytes(int id, int base);  // makes slot `id` read `base`'s bytes

    std::shared_ptr<Device> device_;
    dnnl::stream stream_;
    DataType precision_;
    std::string model_path_;
    std::deque<Slot> slots_;  // deque: slot references stay valid while builders add slots
    std::vector<Step> steps_;
    std::shared_ptr<void> arena_;
    std::size_t arena_bytes_ = 0, unplanned_bytes_ = 0;
};

// Everything an operator builder sees of its node.
struct NodeContext {
    PlanBuilder& b;
    const Node& node;
    std::vector<int> in;  // slot ids; -1 for omitted optional inputs
    // Pattern matching for fusions: the not-yet-planned nodes that read `value` (empty when it is
    // also a graph output, so it can't be fused away), and absorbing such a node: it is skipped
    // and its first output is bound to `slot`.
    std::function<std::vector<const Node*>(const std::string& value)> consumers;
    std::function<void(const Node& absorbed, int slot)> absorb;
    // The slot a value name refers to in the current scope (-1 if none), for patterns that need
    // the other operands of absorbed nodes.
    std::function<int(const std::string& value)> lookup;
    std::string where() const { return b.model_path() + ": " + node.describe(); }
    int input(std::size_t i) const;      // required input; error naming the node when absent
    bool has(std::size_t i) const { return i < in.size() && in[i] >= 0; }
    const Slot& slot_in(std::size_t i) const { return b.slot(input(i)); }
    // Output name i (or a derived name when the node lists fewer outputs).
    std::string out_name(std::size_t i) const;
};

// Outputs (slot ids, one per node output).
using OpBuilder = std::function<std::vector<int>(NodeContext&)>;
const OpBuilder* find_op(const std::string& op_type);
void register_host_ops(std::map<std::string, OpBuilder>& ops);
void register_dnnl_ops(std::map<std::string, OpBuilder>& ops);

// The xmodal type of a oneDNN data type (f32, bf16, f16, s8, u8, s32).
DataType data_type_of(dnnl::memory::data_type dt);
// oneDNN's channels-last tag for 3-5 dims: nwc, nhwc, ndhwc.
dnnl::memory::format_tag channels_last_tag(int ndims);

// Allocation helpers shared by operators.
std::shared_ptr<void> aligned_bytes(std::size_t bytes);
std::size_t element_count(const Shape& shape);
std::int64_t normalize_axis(std::int64_t axis, std::int64_t rank, const std::string& where);
// numpy broadcasting of two shapes; error naming `where` when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& where);

}  // namespace xmodal::rt
