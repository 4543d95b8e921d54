// Operators executed by oneDNN primitives: Conv (with activation post-ops fused), MatMul, Gemm,
// pooling, integer-factor nearest Resize, and — on values already in a oneDNN-chosen layout —
// Concat, binary arithmetic and activations, so that chains of them never go back to plain
// layouts. Primitives come from the device's cache; weights are reordered into the layout the
// primitive chose once, at plan time (they are constants, so the reorder is folded).
#include <cmath>
#include <optional>
#include <unordered_map>

#include "xmodal/attention.hpp"
#include "xmodal/primitive_cache.hpp"
#include "xmodal/runtime/host_kernels.hpp"
#include "xmodal/runtime/ops.hpp"

namespace xmodal::rt {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using dims = dnnl::memory::dims;

bool is_float_type(DataType t) { return t == DataType::f32 || t == DataType::bf16; }

dt compute_dt(const PlanBuilder& b) { return b.precision() == DataType::bf16 ? dt::bf16 : dt::f32; }

// A primitive step: the primitive is made once (cached by key) and run with the bound memories.
template <class Primitive, class Pd>
Runner bind_primitive(PlanBuilder& b, const std::string& key, const Pd& pd, std::vector<std::pair<int, int>> args_slots,
                      std::vector<std::pair<int, dnnl::memory::desc>> arg_descs) {
    auto prim = b.device()->primitives().get(key, [&] { return make_cached<Primitive>(pd); }).primitive;
    std::unordered_map<int, dnnl::memory> args;
    for (std::size_t i = 0; i < args_slots.size(); ++i) {
        auto [arg, id] = args_slots[i];
        args[arg] = dnnl::memory(arg_descs[i].second, b.engine(), b.slot(id).ptr);
    }
    dnnl::stream* stream = &b.stream();
    return [prim, args, stream] { prim.execute(*stream, args); };
}

std::string attr_key(const dnnl::primitive_attr& attr) {
    std::string k;
    auto po = attr.get_post_ops();
    for (int i = 0; i < po.len(); ++i) {
        if (po.kind(i) == dnnl::primitive::kind::eltwise) {
            float scale, alpha, beta;
            dnnl::algorithm alg;
            po.get_params_eltwise(i, scale, alg, alpha, beta);
            k += " elt" + std::to_string(static_cast<int>(alg)) + "(" + std::to_string(alpha) + "," + std::to_string(beta) + ")";
        } else if (po.kind(i) == dnnl::primitive::kind::binary) {
            dnnl::algorithm alg;
            dnnl::memory::desc md;
            po.get_params_binary(i, alg, md);
            k += " bin" + std::to_string(static_cast<int>(alg)) + key_of(md);
        }
    }
    int mask;
    std::vector<float> scales;
    attr.get_output_scales(mask, scales);
    for (float s : scales) k += " os" + std::to_string(s);
    return k;
}

// ---- activations that can be a post-op (and, on laid-out values, an eltwise primitive) ----
struct Activation {
    dnnl::algorithm alg = dnnl::algorithm::undef;
    float alpha = 0, beta = 0;
};

std::optional<Activation> activation_of(const PlanBuilder& b, const Node& n, const std::vector<int>& in) {
    const std::string& op = n.op_type;
    if (op == "Relu") return Activation{dnnl::algorithm::eltwise_relu, 0, 0};
    if (op == "LeakyRelu") return Activation{dnnl::algorithm::eltwise_relu, n.attr_float("alpha", 0.01f), 0};
    if (op == "Sigmoid") return Activation{dnnl::algorithm::eltwise_logistic, 0, 0};
    if (op == "Tanh") return Activation{dnnl::algorithm::eltwise_tanh, 0, 0};
    if (op == "Elu") return Activation{dnnl::algorithm::eltwise_elu, n.attr_float("alpha", 1.f), 0};
    if (op == "HardSwish") return Activation{dnnl::algorithm::eltwise_hardswish, 0, 0};
    if (op == "Exp") return Activation{dnnl::algorithm::eltwise_exp, 0, 0};
    if (op == "Abs") return Activation{dnnl::algorithm::eltwise_abs, 0, 0};
    if (op == "Sqrt") return Activation{dnnl::algorithm::eltwise_sqrt, 0, 0};
    if (op == "Log") return Activation{dnnl::algorithm::eltwise_log, 0, 0};
    if (op == "Softplus") return Activation{dnnl::algorithm::eltwise_soft_relu, 0, 0};
    if (op == "Gelu") {
        return Activation{n.attr_string("approximate", "none") == "tanh" ? dnnl::algorithm::eltwise_gelu_tanh : dnnl::algorithm::eltwise_gelu_erf, 0, 0};
    }
    if (op == "Clip") {
        float lo = -INFINITY, hi = INFINITY;
        if (n.attributes.count("min")) lo = n.attr_float("min", 0);
        if (n.attributes.count("max")) hi = n.attr_float("max", 0);
        // Bounds given as inputs must be constants to become a post-op.
        for (std::size_t i = 1; i < 3 && i < in.size(); ++i) {
            if (in[i] < 0) continue;
            if (!b.slot(in[i]).constant) return std::nullopt;
            (i == 1 ? lo : hi) = b.const_floats(in[i], "Clip bound")[0];
        }
        return Activation{dnnl::algorithm::eltwise_clip_v2, lo, hi};
    }
    return std::nullopt;
}

// Looks at the consumers of `value` for an activation to fuse: Sigmoid·Mul (SiLU) or a single
// activation node. Absorbs the matched nodes and returns the activation.
std::optional<Activation> take_activation(NodeContext& c, const std::string& value, const std::function<int()>& output_slot) {
    auto readers = c.consumers(value);
    if (readers.size() == 2) {
        const Node* sig = readers[0]->op_type == "Sigmoid" ? readers[0] : readers[1]->op_type == "Sigmoid" ? readers[1] : nullptr;
        const Node* mul = sig == readers[0] ? readers[1] : readers[0];
        if (sig && mul->op_type == "Mul" && sig->inputs.size() == 1 && sig->outputs.size() == 1 && mul->inputs.size() == 2) {
            bool pair = (mul->inputs[0] == value && mul->inputs[1] == sig->outputs[0]) || (mul->inputs[1] == value && mul->inputs[0] == sig->outputs[0]);
            auto sig_readers = c.consumers(sig->outputs[0]);
            if (pair && sig_readers.size() == 1 && sig_readers[0] == mul) {
                int slot = output_slot();
                c.absorb(*sig, slot);
                c.absorb(*mul, slot);
                return Activation{dnnl::algorithm::eltwise_swish, 1.f, 0};
            }
        }
    }
    // A single activation reading only `value` (Clip with bounds as inputs is left alone: their
    // values are not visible from here).
    if (readers.size() == 1 && readers[0]->inputs.size() == 1 && readers[0]->inputs[0] == value) {
        if (auto act = activation_of(c.b, *readers[0], {-1})) {
            c.absorb(*readers[0], output_slot());
            return act;
        }
    }
    return std::nullopt;
}

// ---- Conv ----
// ONNX auto_pad for one spatial axis (input `in`, effective kernel `k`, stride `s`): SAME_* pads
// so that out = ceil(in / s), the odd pixel at the end (UPPER) or start (LOWER); VALID pads none;
// NOTSET keeps the explicit pads.
void apply_auto_pad(const std::string& auto_pad, std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t& begin, std::int64_t& end) {
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
        std::int64_t total = std::max<std::int64_t>((in + s - 1) / s * s - s + k - in, 0);
        begin = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
        end = total - begin;
    } else if (auto_pad == "VALID") {
        begin = end = 0;
    }
}

std::vector<int> conv_op(NodeContext& c) {
    PlanBuilder& b = c.b;
    bool channels_last = c.node.attr_int("channels_last", 0) != 0;
    int x = c.input(0), w = c.input(1);
    const Slot &sx = b.slot(x), &sw = b.slot(w);
    if (!is_float_type(sx.dtype)) fail(c.where(), ": X '", sx.name, "' is ", dtype_name(sx.dtype), ", expected float");
    std::size_t rank = sx.shape.size();
    if (rank < 3 || rank > 5) fail(c.where(), ": X must be [N,C,spatial...] with 1 to 3 spatial dims, got ", shape_string(sx.shape));
    if (sw.shape.size() != rank) fail(c.where(), ": weights '", sw.name, "' ", shape_string(sw.shape), " must have rank ", rank);
    if (!sw.constant) fail(c.where(), ": weights '", sw.name, "' must be constant");
    std::size_t sp = rank - 2;
    // Logical NC(spatial) dims of X.
    dims xd(rank);
    if (channels_last) {
        xd[0] = sx.shape[0];
        xd[1] = sx.shape[rank - 1];
        for (std::size_t i = 0; i < sp; ++i) xd[2 + i] = sx.shape[1 + i];
    } else {
        xd.assign(sx.shape.begin(), sx.shape.end());
    }
    std::int64_t group = c.node.attr_int("group", 1), out_ch = sw.shape[0];
    if (group <= 0 || xd[1] % group || out_ch % group || sw.shape[1] * group != xd[1])
        fail(c.where(), ": weights ", shape_string(sw.shape), " with group ", group, " do not match ", xd[1], " input channels");
    auto kernel = c.node.attr_ints("kernel_shape");
    for (std::size_t i = 0; i < kernel.size() && i < sp; ++i)
        if (kernel[i] != sw.shape[2 + i]) fail(c.where(), ": kernel_shape ", shape_string(kernel), " does not match weights ", shape_string(sw.shape));
    auto strides = c.node.attr_ints("strides", std::vector<std::int64_t>(sp, 1));
    auto dil = c.node.attr_ints("dilations", std::vector<std::int64_t>(sp, 1));
    auto pads = c.node.attr_ints("pads", std::vector<std::int64_t>(2 * sp, 0));
    if (strides.size() != sp || dil.size() != sp || pads.size() != 2 * sp)
        fail(c.where(), ": strides/dilations/pads do not match ", sp, " spatial dims");
    std::string auto_pad = c.node.attr_string("auto_pad", "NOTSET");
    dims out_dims{xd[0], out_ch}, d_strides, d_dil, pad_l, pad_r;
    for (std::size_t i = 0; i < sp; ++i) {
        std::int64_t in = xd[2 + i], k = (sw.shape[2 + i] - 1) * dil[i] + 1, s = strides[i];
        if (s <= 0 || dil[i] <= 0) fail(c.where(), ": strides and dilations must be positive");
        std::int64_t pl = pads[i], pr = pads[sp + i];
        apply_auto_pad(auto_pad, in, k, s, pl, pr);
        std::int64_t o = (in + pl + pr - k) / s + 1;
        if (o <= 0) fail(c.where(), ": kernel ", k, " does not fit input ", in, " with pads ", pl, "+", pr);
        out_dims.push_back(o);
        d_strides.push_back(s);
        d_dil.push_back(dil[i] - 1);
        pad_l.push_back(pl);
        pad_r.push_back(pr);
    }

    dt cdt = compute_dt(b);
    dims wd(sw.shape.begin(), sw.shape.end());
    if (group > 1) {
        wd = {group, out_ch / group};
        wd.insert(wd.end(), sw.shape.begin() + 1, sw.shape.end());
    }
    dnnl::memory::desc src_any(xd, cdt, tag::any), w_any(wd, cdt, tag::any), dst_any(out_dims, cdt, tag::any);
    bool has_bias = c.has(2);
    dnnl::memory::desc bias_md = has_bias ? dnnl::memory::desc({out_ch}, dt::f32, tag::a) : dnnl::memory::desc();
    if (has_bias && b.slot(c.input(2)).numel() != out_ch) fail(c.where(), ": bias must have ", out_ch, " values");

    // Output shape as the graph sees it.
    Shape y_shape(out_dims.begin(), out_dims.end());
    if (channels_last) {
        y_shape = {out_dims[0]};
        y_shape.insert(y_shape.end(), out_dims.begin() + 2, out_dims.end());
        y_shape.push_back(out_ch);
    }
    int y = -1;
    auto make_y = [&] {
        if (y < 0) y = b.new_slot(c.out_name(0), b.precision(), y_shape);  // md set below
        return y;
    };
    dnnl::post_ops po;
    std::string y_value = c.node.outputs.empty() ? "" : c.node.outputs[0];
    if (auto act = take_activation(c, y_value, make_y)) po.append_eltwise(1.f, act->alg, act->alpha, act->beta);
    dnnl::primitive_attr attr;
    attr.set_post_ops(po);
    auto pd = dnnl::convolution_forward::primitive_desc(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_any, w_any,
                                        bias_md, dst_any, d_strides, d_dil, pad_l, pad_r),
        attr, b.engine());

    // Inputs in the layouts the primitive chose. X from a plain NHWC slot is read in place.
    int xin = x;
    if (channels_last && sx.plain()) {
        xin = b.view(x, sx.name + "/nchw_view", dnnl::memory::desc(xd, to_dnnl(sx.dtype), channels_last_tag(static_cast<int>(rank))), true);
    }
    xin = b.in_layout(xin, pd.src_desc(), c.node.describe() + " input");
    int win = w;
    if (group > 1) win = b.alias(b.plain(w, DataType::f32), sw.name + "/grouped", Shape(wd.begin(), wd.end()));
    win = b.in_layout(b.plain(win, DataType::f32), pd.weights_desc(), c.node.describe() + " weights");
    int bin = has_bias ? b.in_layout(b.plain(c.input(2), DataType::f32), bias_md, "bias") : -1;

    make_y();
    Slot& ys = b.slot(y);
    ys.md = pd.dst_desc();
    ys.bytes = ys.md.get_size();
    ys.dtype = data_type_of(ys.md.data_type());
    ys.channels_last = channels_last;

    std::vector<int> ins{xin, win};
    if (bin >= 0) ins.push_back(bin);
    std::string key = "conv " + key_of(pd.src_desc()) + key_of(pd.weights_desc()) + key_of(pd.dst_desc()) + (has_bias ? "b" : "") +
                      " s" + shape_string(d_strides) + " d" + shape_string(d_dil) + " p" + shape_string(pad_l) + shape_string(pad_r) + attr_key(attr);
    b.add_step(c.node.describe(), ins, {y}, [pd, key, xin, win, bin, y](PlanBuilder& pb) -> Runner {
        std::vector<std::pair<int, int>> slots{{DNNL_ARG_SRC, xin}, {DNNL_ARG_WEIGHTS, win}, {DNNL_ARG_DST, y}};
        std::vector<std::pair<int, dnnl::memory::desc>> descs{{DNNL_ARG_SRC, pd.src_desc()}, {DNNL_ARG_WEIGHTS, pd.weights_desc()}, {DNNL_ARG_DST, pd.dst_desc()}};
        if (bin >= 0) {
            slots.emplace_back(DNNL_ARG_BIAS, bin);
            descs.emplace_back(DNNL_ARG_BIAS, pd.bias_desc());
        }
        return bind_primitive<dnnl::convolution_forward>(pb, key, pd, slots, descs);
    });
    return {y};
}

// ---- MatMul and Gemm ----
// Y = A·B (+ bias row) with numpy batch broadcasting; A and B plain, B constant gets packed.
int matmul(NodeContext& c, int a, int bmat, Shape a_shape, Shape b_shape, bool trans_a, bool trans_b, int bias, float alpha,
           const std::string& name) {
    PlanBuilder& b = c.b;
    a = b.plain(a);
    bmat = b.plain(bmat);
    for (int id : {a, bmat})
        if (!is_float_type(b.slot(id).dtype) && b.slot(id).dtype != DataType::f32)
            fail(c.where(), ": '", b.slot(id).name, "' is ", dtype_name(b.slot(id).dtype), ", expected float");
    bool a_vec = a_shape.size() == 1, b_vec = b_shape.size() == 1;
    if (a_vec) a_shape.insert(a_shape.begin(), 1);
    if (b_vec) b_shape.push_back(1);
    std::size_t rank = std::max(a_shape.size(), b_shape.size());
    a_shape.insert(a_shape.begin(), rank - a_shape.size(), 1);
    b_shape.insert(b_shape.begin(), rank - b_shape.size(), 1);
    // Logical [.., M, K] and [.., K, N] dims with strides for the transposed cases.
    auto logical = [&](const Shape& s, bool trans) {
        dims d(s.begin(), s.end()), st(rank);
        Shape dense = dense_strides(s);
        for (std::size_t i = 0; i < rank; ++i) st[i] = dense[i];
        if (trans) {
            std::swap(d[rank - 1], d[rank - 2]);
            std::swap(st[rank - 1], st[rank - 2]);
        }
        return std::pair{d, st};
    };
    auto [ad, ast] = logical(a_shape, trans_a);
    auto [bd, bst] = logical(b_shape, trans_b);
    if (ad[rank - 1] != bd[rank - 2])
        fail(c.where(), ": inner dimensions differ: ", shape_string(Shape(ad.begin(), ad.end())), " · ", shape_string(Shape(bd.begin(), bd.end())));
    dims yd(rank);
    for (std::size_t i = 0; i + 2 < rank; ++i) {
        if (ad[i] != bd[i] && ad[i] != 1 && bd[i] != 1) fail(c.where(), ": batch dims ", ad[i], " and ", bd[i], " do not broadcast");
        yd[i] = std::max(ad[i], bd[i]);
    }
    yd[rank - 2] = ad[rank - 2];
    yd[rank - 1] = bd[rank - 1];
    dt cdt = compute_dt(b);
    bool b_const = b.slot(bmat).constant;
    dnnl::memory::desc a_md(ad, cdt, ast), b_md = b_const ? dnnl::memory::desc(bd, cdt, tag::any) : dnnl::memory::desc(bd, cdt, bst),
        y_md = PlanBuilder::plain_md(DataType::f32, Shape(yd.begin(), yd.end()));
    dnnl::memory::desc bias_md;
    if (bias >= 0) {
        dims bias_d(rank, 1);
        bias_d[rank - 1] = yd[rank - 1];
        bias_md = PlanBuilder::plain_md(DataType::f32, Shape(bias_d.begin(), bias_d.end()));
    }
    dnnl::primitive_attr attr;
    if (alpha != 1.f) attr.set_output_scales(0, {alpha});
    auto pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_md, bias_md, y_md), attr, b.engine());
    // A in the compute type with its (maybe transposed) strides: a view of the plain bytes, or a
    // converted copy for bf16.
    int ain = a;
    if (b.slot(a).dtype != b.precision()) ain = b.plain(a, b.precision());
    int bin = bmat;
    if (b_const) {
        int src = b.plain(bmat, b.precision());
        int view = b.view(src, b.slot(src).name + "/view", dnnl::memory::desc(bd, cdt, bst));
        bin = b.in_layout(view, pd.weights_desc(), c.node.describe() + " weights");
    } else if (b.slot(bmat).dtype != b.precision()) {
        bin = b.plain(bmat, b.precision());
    }
    int biasin = bias >= 0 ? b.plain(bias, DataType::f32) : -1;
    Shape y_shape(yd.begin(), yd.end());
    if (a_vec) y_shape.erase(y_shape.end() - 2);
    if (b_vec) y_shape.pop_back();
    int y = b.new_slot(name, DataType::f32, y_shape);
    std::vector<int> ins{ain, bin};
    if (biasin >= 0) ins.push_back(biasin);
    std::string key = "matmul " + key_of(a_md) + key_of(pd.weights_desc()) + key_of(y_md) + (bias >= 0 ? key_of(bias_md) : "") + attr_key(attr);
    b.add_step(c.node.describe(), ins, {y}, [pd, key, ain, bin, biasin, y, a_md, bias_md](PlanBuilder& pb) -> Runner {
        std::vector<std::pair<int, int>> slots{{DNNL_ARG_SRC, ain}, {DNNL_ARG_WEIGHTS, bin}, {DNNL_ARG_DST, y}};
        std::vector<std::pair<int, dnnl::memory::desc>> descs{{DNNL_ARG_SRC, a_md}, {DNNL_ARG_WEIGHTS, pd.weights_desc()}, {DNNL_ARG_DST, pd.dst_desc()}};
        if (biasin >= 0) {
            slots.emplace_back(DNNL_ARG_BIAS, biasin);
            descs.emplace_back(DNNL_ARG_BIAS, bias_md);
        }
        return bind_primitive<dnnl::matmul>(pb, key, pd, slots, descs);
    });
    return y;
}

// MatMul(Q, Kᵀ) → Mul|Div by a constant scalar → Softmax(last axis) → MatMul(·, V), as exported
// from PyTorch attention, runs on xmodal's attention operator (tiled, fused scale; attention.hpp).
// Returns -1 (nothing absorbed) when the graph does not have exactly that shape.
int try_attention(NodeContext& c) {
    PlanBuilder& b = c.b;
    if (c.node.outputs.empty() || !c.lookup) return -1;
    auto single = [&](const std::string& value, const char* op) -> const Node* {
        auto readers = c.consumers(value);
        return readers.size() == 1 && readers[0]->op_type == op ? readers[0] : nullptr;
    };
    auto readers = c.consumers(c.node.outputs[0]);
    if (readers.size() != 1 || (readers[0]->op_type != "Mul" && readers[0]->op_type != "Div") || readers[0]->inputs.size() != 2) return -1;
    const Node* scale_node = readers[0];
    bool divide = scale_node->op_type == "Div";
    int operand = -1;
    if (scale_node->inputs[0] == c.node.outputs[0]) operand = c.lookup(scale_node->inputs[1]);
    else if (!divide && scale_node->inputs[1] == c.node.outputs[0]) operand = c.lookup(scale_node->inputs[0]);
    if (operand < 0 || !b.slot(operand).constant || b.slot(operand).numel() != 1) return -1;
    const Node* softmax = single(scale_node->outputs.at(0), "Softmax");
    if (!softmax) return -1;
    const Slot &q = b.slot(c.input(0)), &kt = b.slot(c.input(1));
    auto rank = static_cast<std::int64_t>(q.shape.size());
    if ((rank != 3 && rank != 4) || kt.shape.size() != q.shape.size()) return -1;
    if (normalize_axis(softmax->attr_int("axis", -1), rank, c.where()) != rank - 1) return -1;
    const Node* pv = single(softmax->outputs.at(0), "MatMul");
    if (!pv || pv->inputs.size() != 2 || pv->inputs[0] != softmax->outputs[0]) return -1;
    int v_id = c.lookup(pv->inputs[1]);
    if (v_id < 0) return -1;
    const Slot& v = b.slot(v_id);
    if (v.shape.size() != q.shape.size()) return -1;
    // Exact shapes only (no batch broadcasting): Q [.., Lq, D], Kᵀ [.., D, Lk], V [.., Lk, Dv].
    for (std::size_t d = 0; d + 2 < q.shape.size(); ++d)
        if (kt.shape[d] != q.shape[d] || v.shape[d] != q.shape[d]) return -1;
    std::int64_t lq = q.shape[rank - 2], dh = q.shape[rank - 1], lk = kt.shape[rank - 1], dv = v.shape[rank - 1];
    if (kt.shape[rank - 2] != dh || v.shape[rank - 2] != lk) return -1;
    for (int id : {c.input(0), c.input(1), v_id})
        if (!is_float_type(b.slot(id).dtype)) return -1;

    float s = b.const_floats(operand, "attention scale")[0];
    float scale = divide ? 1.f / s : s;
    if (!(scale > 0.f)) return -1;  // the operator's scale 0 means "default"; negative is unusual
    DataType compute = b.precision();
    int qi = b.plain(c.input(0), compute), ki = b.plain(c.input(1), compute), vi = b.plain(v_id, compute);
    std::int64_t batch = rank == 4 ? q.shape[0] : 1, heads = rank == 4 ? q.shape[1] : q.shape[0];
    Shape out_shape = q.shape;
    out_shape[static_cast<std::size_t>(rank - 1)] = dv;
    int y = b.new_slot(pv->outputs.empty() ? c.out_name(0) : pv->outputs[0], DataType::f32, out_shape);
    c.absorb(*scale_node, y);
    c.absorb(*softmax, y);
    c.absorb(*pv, y);
    b.add_step(c.node.describe() + " (attention)", {qi, ki, vi}, {y}, [=](PlanBuilder& pb) -> Runner {
        auto attention = std::make_shared<Attention>(pb.device(), compute);
        auto dev = pb.device();
        Tensor tq = Tensor::borrow(dev, pb.slot(qi).ptr, {batch, heads, lq, dh}, compute);
        // K is read through Kᵀ's memory with the last two strides swapped: no transpose copy.
        Tensor tk = Tensor::borrow(dev, pb.slot(ki).ptr, {batch, heads, lk, dh}, compute, {heads * dh * lk, dh * lk, 1, lk});
        Tensor tv = Tensor::borrow(dev, pb.slot(vi).ptr, {batch, heads, lk, dv}, compute);
        Tensor to = Tensor::borrow(dev, pb.slot(y).ptr, {batch, heads, lq, dv}, DataType::f32);
        return [attention, tq, tk, tv, to, scale] { attention->forward(tq, tk, tv, to, {}, nullptr, scale); };
    });
    return y;
}

std::vector<int> matmul_op(NodeContext& c) {
    if (int y = try_attention(c); y >= 0) return {y};
    int a = c.input(0), bm = c.input(1);
    return {matmul(c, a, bm, c.b.slot(a).shape, c.b.slot(bm).shape, false, false, -1, 1.f, c.out_name(0))};
}

std::vector<int> gemm_op(NodeContext& c) {
    int a = c.input(0), bm = c.input(1);
    const Slot &sa = c.b.slot(a), &sb = c.b.slot(bm);
    if (sa.shape.size() != 2 || sb.shape.size() != 2)
        fail(c.where(), ": A and B must be matrices, got ", shape_string(sa.shape), " and ", shape_string(sb.shape));
    bool ta = c.node.attr_int("transA", 0) != 0, tb = c.node.attr_int("transB", 0) != 0;
    float alpha = c.node.attr_float("alpha", 1.f), beta = c.node.attr_float("beta", 1.f);
    std::int64_t n = tb ? sb.shape[0] : sb.shape[1];
    int bias = -1;
    bool add_after = false;
    if (c.has(2)) {
        const Slot& sc = c.b.slot(c.input(2));
        Shape cs = sc.shape;
        bool row = (cs.size() == 1 && cs[0] == n) || (cs.size() == 2 && cs[0] == 1 && cs[1] == n);
        if (row && sc.constant && beta != 0 && alpha != 0) {
            // oneDNN applies the output scale (alpha) to the bias too: pass beta·C / alpha.
            auto v = c.b.const_floats(c.input(2), "Gemm C");
            for (auto& x : v) x = x * beta / alpha;
            bias = c.b.constant(sc.name + "/bias", DataType::f32, {n}, v.data());
        } else if (beta != 0) {
            add_after = true;
        }
    }
    int y = matmul(c, a, bm, sa.shape, sb.shape, ta, tb, bias, alpha, add_after ? c.out_name(0) + "/ab" : c.out_name(0));
    if (add_after) {
        // General C (not a constant row): Y = AB + beta·C on the host.
                int cc = c.input(2);
        if (beta != 1.f) {
            float bv = beta;
            int beta_id = c.b.constant(c.out_name(0) + "/beta", DataType::f32, {}, &bv);
            Node mul;
            mul.op_type = "Mul";
            mul.name = c.node.name + "/beta";
            NodeContext mc{c.b, mul, {c.b.plain(cc, DataType::f32), beta_id}, c.consumers, c.absorb, c.lookup};
            cc = (*find_op("Mul"))(mc)[0];
        }
        Node add;
        add.op_type = "Add";
        add.name = c.node.name + "/C";
        add.outputs = {c.out_name(0)};
        NodeContext ac{c.b, add, {y, cc}, c.consumers, c.absorb, c.lookup};
        return (*find_op("Add"))(ac);
    }
    return {y};
}

// ---- pooling ----
std::vector<int> pool_op(NodeContext& c, bool max, bool global) {
    PlanBuilder& b = c.b;
    int x = c.input(0);
    const Slot& sx = b.slot(x);
    if (!is_float_type(sx.dtype)) fail(c.where(), ": X is ", dtype_name(sx.dtype), ", expected float");
    if (sx.channels_last) x = b.plain(x, b.precision());
    const Slot& s = b.slot(x);
    std::size_t rank = s.shape.size();
    if (rank < 3 || rank > 5) fail(c.where(), ": X must be [N,C,spatial...], got ", shape_string(s.shape));
    std::size_t sp = rank - 2;
    if (c.node.outputs.size() > 1 && !c.node.outputs[1].empty()) fail(c.where(), ": the Indices output is not supported");
    std::vector<std::int64_t> kernel, strides, pads, dil;
    if (global) {
        kernel.assign(s.shape.begin() + 2, s.shape.end());
        strides.assign(sp, 1);
        pads.assign(2 * sp, 0);
        dil.assign(sp, 1);
    } else {
        kernel = c.node.attr_ints("kernel_shape");
        strides = c.node.attr_ints("strides", std::vector<std::int64_t>(sp, 1));
        pads = c.node.attr_ints("pads", std::vector<std::int64_t>(2 * sp, 0));
        dil = c.node.attr_ints("dilations", std::vector<std::int64_t>(sp, 1));
        if (kernel.size() != sp || strides.size() != sp || pads.size() != 2 * sp || dil.size() != sp)
            fail(c.where(), ": kernel_shape/strides/pads/dilations do not match ", sp, " spatial dims");
    }
    bool ceil_mode = c.node.attr_int("ceil_mode", 0) != 0;
    std::string auto_pad = c.node.attr_string("auto_pad", "NOTSET");
    dims out{s.shape[0], s.shape[1]}, d_k, d_s, d_d, pl, pr, given_r;
    for (std::size_t i = 0; i < sp; ++i) {
        std::int64_t in = s.shape[2 + i], k = (kernel[i] - 1) * dil[i] + 1, st = strides[i], a = pads[i], e = pads[sp + i];
        if (st <= 0 || kernel[i] <= 0 || dil[i] <= 0) fail(c.where(), ": kernel, strides and dilations must be positive");
        apply_auto_pad(auto_pad, in, k, st, a, e);
        std::int64_t span = in + a + e - k;
        std::int64_t o = (ceil_mode ? (span + st - 1) / st : span / st) + 1;
        if (ceil_mode && (o - 1) * st >= in + a) --o;  // the last window must start inside the input or left pad
        if (o <= 0) fail(c.where(), ": kernel ", k, " does not fit input ", in);
        out.push_back(o);
        d_k.push_back(kernel[i]);
        d_s.push_back(st);
        d_d.push_back(dil[i] - 1);
        pl.push_back(a);
        pr.push_back(std::max(e, (o - 1) * st + k - in - a));  // ceil_mode reads past the given pad
        given_r.push_back(e);
    }
    auto alg = max ? dnnl::algorithm::pooling_max
                   : (c.node.attr_int("count_include_pad", 0) ? dnnl::algorithm::pooling_avg_include_padding : dnnl::algorithm::pooling_avg_exclude_padding);
    // count_include_pad counts the given pads but not what ceil_mode reads past them (as ONNX
    // Runtime and PyTorch do); oneDNN would count both. Then the given pads become explicit zeros
    // (host Pad) and the average excludes only the overhang.
    if (alg == dnnl::algorithm::pooling_avg_include_padding && pr != given_r) {
        Attribute pads_attr;
        pads_attr.kind = Attribute::Kind::ints;
        pads_attr.ints.assign(2 * rank, 0);
        for (std::size_t i = 0; i < sp; ++i) {
            pads_attr.ints[2 + i] = pl[i];
            pads_attr.ints[rank + 2 + i] = given_r[i];
            pr[i] -= given_r[i];
            pl[i] = 0;
        }
        Node pad;
        pad.op_type = "Pad";
        pad.name = c.node.name + "/pads";
        pad.attributes["pads"] = pads_attr;
        NodeContext pc{b, pad, {x}, c.consumers, c.absorb, c.lookup};
        x = (*find_op("Pad"))(pc)[0];
        alg = dnnl::algorithm::pooling_avg_exclude_padding;
    }
    const Slot& ps = b.slot(x);
    dnnl::memory::desc src_md = ps.plain() ? PlanBuilder::plain_md(ps.dtype, ps.shape) : ps.md;
    dnnl::memory::desc dst_any(out, src_md.data_type(), tag::any);
    auto pd = dnnl::pooling_v2_forward::primitive_desc(
        dnnl::pooling_v2_forward::desc(dnnl::prop_kind::forward_inference, alg, src_md, dst_any, d_s, d_k, d_d, pl, pr), b.engine());
    int y = b.new_slot(c.out_name(0), data_type_of(pd.dst_desc().data_type()), Shape(out.begin(), out.end()), pd.dst_desc());
    std::string key = "pool " + std::to_string(static_cast<int>(alg)) + key_of(src_md) + key_of(pd.dst_desc()) + shape_string(d_k) + shape_string(d_s) +
                      shape_string(d_d) + shape_string(pl) + shape_string(pr);
    b.add_step(c.node.describe(), {x}, {y}, [pd, key, x, y, src_md](PlanBuilder& pb) -> Runner {
        return bind_primitive<dnnl::pooling_v2_forward>(pb, key, pd, {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, y}}, {{DNNL_ARG_SRC, src_md}, {DNNL_ARG_DST, pd.dst_desc()}});
    });
    return {y};
}

// ---- nearest Resize by integer factors: oneDNN resampling keeps blocked layouts ----
std::vector<int> resize_op(NodeContext& c, const OpBuilder& host) {
    PlanBuilder& b = c.b;
    int x = c.input(0);
    const Slot& s = b.slot(x);
    if (!is_float_type(s.dtype) || s.channels_last || s.shape.size() < 3 || s.shape.size() > 5) return host(c);
    ResizeSpec r = resize_spec(c, s.shape);
    bool integer = r.mode == "nearest" && r.out_shape[0] == s.shape[0] && r.out_shape[1] == s.shape[1];
    for (std::size_t d = 2; integer && d < s.shape.size(); ++d) integer = s.shape[d] > 0 && r.out_shape[d] % s.shape[d] == 0;
    // For integer factors oneDNN's nearest rule equals floor(dst/f) (asymmetric + floor) and the
    // half-pixel transform with either round-to-nearest mode (floor and ceil pick other pixels).
    bool rounds = r.nearest_mode == "round_prefer_floor" || r.nearest_mode == "round_prefer_ceil";
    bool same_rule = (r.transform == "asymmetric" && r.nearest_mode == "floor") ||
                     ((r.transform == "half_pixel" || r.transform == "pytorch_half_pixel") && rounds);
    if (!integer || !same_rule) return host(c);
    dnnl::memory::desc src_md = s.plain() ? PlanBuilder::plain_md(s.dtype, s.shape) : s.md;
    dims out(r.out_shape.begin(), r.out_shape.end());
    auto pd = dnnl::resampling_forward::primitive_desc(
        dnnl::resampling_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::resampling_nearest, src_md,
                                       dnnl::memory::desc(out, src_md.data_type(), tag::any)),
        b.engine());
    int y = b.new_slot(c.out_name(0), s.dtype, r.out_shape, pd.dst_desc());
    std::string key = "resample " + key_of(src_md) + key_of(pd.dst_desc());
    b.add_step(c.node.describe(), {x}, {y}, [pd, key, x, y, src_md](PlanBuilder& pb) -> Runner {
        return bind_primitive<dnnl::resampling_forward>(pb, key, pd, {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, y}}, {{DNNL_ARG_SRC, src_md}, {DNNL_ARG_DST, pd.dst_desc()}});
    });
    return {y};
}

// Values in a oneDNN-chosen layout: ops that oneDNN also has keep them there.
bool laid_out(const PlanBuilder& b, int id) { return id >= 0 && !b.slot(id).plain() && !b.slot(id).channels_last && is_float_type(b.slot(id).dtype); }

std::vector<int> concat_op(NodeContext& c, const OpBuilder& host) {
    PlanBuilder& b = c.b;
    bool any_laid_out = false, all_float = true;
    for (int id : c.in) {
        if (id < 0) continue;
        any_laid_out |= laid_out(b, id);
        all_float &= is_float_type(b.slot(id).dtype) && !b.slot(id).channels_last && b.slot(id).shape.size() >= 2;
    }
    if (!any_laid_out || !all_float) return host(c);
    const Slot& first = b.slot(c.input(0));
    auto rank = static_cast<std::int64_t>(first.shape.size());
    int axis = static_cast<int>(normalize_axis(c.node.attr_int("axis", 0), rank, c.where()));
    dt cdt = b.slot(c.input(0)).md.data.ndims ? b.slot(c.input(0)).md.data_type() : compute_dt(b);
    std::vector<dnnl::memory::desc> srcs;
    std::vector<int> ins;
    Shape out = first.shape;
    out[static_cast<std::size_t>(axis)] = 0;
    for (std::size_t i = 0; i < c.in.size(); ++i) {
        int id = c.input(i);
        const Slot& s = b.slot(id);
        if (s.shape.size() != first.shape.size()) return host(c);
        for (std::size_t d = 0; d < s.shape.size(); ++d)
            if (static_cast<int>(d) != axis && s.shape[d] != first.shape[d])
                fail(c.where(), ": input '", s.name, "' ", shape_string(s.shape), " does not concatenate with ", shape_string(first.shape), " on axis ", axis);
        out[static_cast<std::size_t>(axis)] += s.shape[static_cast<std::size_t>(axis)];
        if (s.plain() || s.md.data_type() != cdt) id = b.plain(id, data_type_of(cdt));
        ins.push_back(id);
        srcs.push_back(b.slot(id).plain() ? PlanBuilder::plain_md(b.slot(id).dtype, b.slot(id).shape) : b.slot(id).md);
    }
    auto pd = dnnl::concat::primitive_desc(dnnl::memory::desc(dims(out.begin(), out.end()), cdt, tag::any), axis, srcs, b.engine());
    int y = b.new_slot(c.out_name(0), data_type_of(cdt), out, pd.dst_desc());
    std::string key = "concat " + std::to_string(axis);
    for (auto& m : srcs) key += key_of(m);
    key += key_of(pd.dst_desc());
    b.add_step(c.node.describe(), ins, {y}, [pd, key, ins, srcs, y](PlanBuilder& pb) -> Runner {
        auto prim = pb.device()->primitives().get(key, [&] { return make_cached<dnnl::concat>(pd); }).primitive;
        std::unordered_map<int, dnnl::memory> args;
        for (std::size_t i = 0; i < ins.size(); ++i) args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i)] = dnnl::memory(srcs[i], pb.engine(), pb.slot(ins[i]).ptr);
        args[DNNL_ARG_DST] = dnnl::memory(pd.dst_desc(), pb.engine(), pb.slot(y).ptr);
        dnnl::stream* stream = &pb.stream();
        return [prim, args, stream] { prim.execute(*stream, args); };
    });
    return {y};
}

std::vector<int> binary_dnnl(NodeContext& c, dnnl::algorithm alg, const OpBuilder& host) {
    PlanBuilder& b = c.b;
    int a = c.input(0), bb = c.input(1);
    if (!(laid_out(b, a) || laid_out(b, bb)) || b.slot(a).shape != b.slot(bb).shape || !is_float_type(b.slot(a).dtype) ||
        !is_float_type(b.slot(bb).dtype) || b.slot(a).channels_last || b.slot(bb).channels_last)
        return host(c);
    int lead = laid_out(b, a) ? a : bb;
    dnnl::memory::desc md = b.slot(lead).md;
    a = b.in_layout(a, md, c.node.describe() + " input");
    bb = b.in_layout(bb, md, c.node.describe() + " input");
    auto pd = dnnl::binary::primitive_desc(dnnl::binary::desc(alg, md, md, md), b.engine());
    int y = b.new_slot(c.out_name(0), b.slot(lead).dtype, b.slot(lead).shape, md);
    std::string key = "binary " + std::to_string(static_cast<int>(alg)) + key_of(md);
    b.add_step(c.node.describe(), {a, bb}, {y}, [pd, key, a, bb, y, md](PlanBuilder& pb) -> Runner {
        return bind_primitive<dnnl::binary>(pb, key, pd, {{DNNL_ARG_SRC_0, a}, {DNNL_ARG_SRC_1, bb}, {DNNL_ARG_DST, y}},
                                            {{DNNL_ARG_SRC_0, md}, {DNNL_ARG_SRC_1, md}, {DNNL_ARG_DST, md}});
    });
    return {y};
}

std::vector<int> eltwise_dnnl(NodeContext& c, const OpBuilder& host) {
    PlanBuilder& b = c.b;
    int x = c.input(0);
    auto act = activation_of(b, c.node, c.in);
    if (!laid_out(b, x) || !act) return host(c);
    dnnl::memory::desc md = b.slot(x).md;
    auto pd = dnnl::eltwise_forward::primitive_desc(dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, act->alg, md, act->alpha, act->beta), b.engine());
    int y = b.new_slot(c.out_name(0), b.slot(x).dtype, b.slot(x).shape, md);
    std::string key = "eltwise " + std::to_string(static_cast<int>(act->alg)) + " " + std::to_string(act->alpha) + " " + std::to_string(act->beta) + key_of(md);
    b.add_step(c.node.describe(), {x}, {y}, [pd, key, x, y, md](PlanBuilder& pb) -> Runner {
        return bind_primitive<dnnl::eltwise_forward>(pb, key, pd, {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, y}}, {{DNNL_ARG_SRC, md}, {DNNL_ARG_DST, md}});
    });
    return {y};
}

}  // namespace

void register_dnnl_ops(std::map<std::string, OpBuilder>& ops) {
    ops["Conv"] = conv_op;
    ops["MatMul"] = matmul_op;
    ops["Gemm"] = gemm_op;
    ops["MaxPool"] = [](NodeContext& c) { return pool_op(c, true, false); };
    ops["AveragePool"] = [](NodeContext& c) { return pool_op(c, false, false); };
    ops["GlobalMaxPool"] = [](NodeContext& c) { return pool_op(c, true, true); };
    ops["GlobalAveragePool"] = [](NodeContext& c) { return pool_op(c, false, true); };
    OpBuilder host_resize = ops.at("Resize");
    ops["Resize"] = [host_resize](NodeContext& c) { return resize_op(c, host_resize); };
    OpBuilder host_concat = ops.at("Concat");
    ops["Concat"] = [host_concat](NodeContext& c) { return concat_op(c, host_concat); };
    for (auto [name, alg] : {std::pair{"Add", dnnl::algorithm::binary_add}, {"Sub", dnnl::algorithm::binary_sub},
                             {"Mul", dnnl::algorithm::binary_mul}, {"Div", dnnl::algorithm::binary_div},
                             {"Max", dnnl::algorithm::binary_max}, {"Min", dnnl::algorithm::binary_min}}) {
        OpBuilder host = ops.at(name);
        auto a = alg;
        ops[name] = [host, a](NodeContext& c) { return c.in.size() == 2 ? binary_dnnl(c, a, host) : host(c); };
    }
    for (const char* name : {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "HardSwish", "Exp", "Abs", "Sqrt", "Log", "Softplus", "Gelu", "Clip"}) {
        OpBuilder host = ops.at(name);
        ops[name] = [host](NodeContext& c) { return eltwise_dnnl(c, host); };
    }
}

}  // namespace xmodal::rt
