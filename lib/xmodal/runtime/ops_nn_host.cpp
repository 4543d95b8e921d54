// Host neural-network operators on plain f32: reductions, Softmax, LayerNormalization,
// BatchNormalization, LSTM, DequantizeLinear and the general Resize. The heavy ops (Conv, Gemm,
// MatMul, pooling, integer-factor Resize) run on oneDNN (ops_dnnl.cpp).
#include <cmath>
#include <limits>

#include "xmodal/runtime/host_kernels.hpp"
#include "xmodal/runtime/ops.hpp"

namespace xmodal::rt {

namespace {

int plain_f32(NodeContext& c, std::size_t i) {
    int x = c.b.plain(c.input(i));
    DataType dt = c.b.slot(x).dtype;
    if (dt != DataType::f32) {
        if (dt != DataType::f64) fail(c.where(), ": input ", i, " ('", c.b.slot(x).name, "') is ", dtype_name(dt), ", expected float");
        x = cast_slot(c.b, x, DataType::f32, c.b.slot(x).name + "/f32", c.where());
    }
    return x;
}

// ---- reductions ----
enum class Reduce { mean, sum, max, min, prod, sum_square, l2, log_sum_exp };

std::vector<int> reduce_op(NodeContext& c, Reduce kind) {
    int x = plain_f32(c, 0);
    const Slot& s = c.b.slot(x);
    auto rank = static_cast<std::int64_t>(s.shape.size());
    // Axes moved from attribute to input in opset 13 (ReduceSum) and 18 (the others).
    std::vector<std::int64_t> axes = c.has(1) ? c.b.const_ints(c.input(1), "reduce axes") : c.node.attr_ints("axes");
    bool keepdims = c.node.attr_int("keepdims", 1) != 0;
    // noop_with_empty_axes: a reduction over no axes, i.e. each element alone (the identity, except
    // for ReduceSumSquare (x²) and ReduceL2 (|x|), as ONNX's function bodies define them).
    bool noop = axes.empty() && c.node.attr_int("noop_with_empty_axes", 0);
    if (noop && kind != Reduce::sum_square && kind != Reduce::l2) return {x};
    std::vector<bool> reduced(s.shape.size(), axes.empty() && !noop);
    for (auto a : axes) reduced[static_cast<std::size_t>(normalize_axis(a, rank, c.where()))] = true;
    Shape out_shape, kept_shape;
    for (std::size_t d = 0; d < s.shape.size(); ++d) {
        if (!reduced[d] || keepdims) out_shape.push_back(reduced[d] ? 1 : s.shape[d]);
        kept_shape.push_back(reduced[d] ? 1 : s.shape[d]);
    }
    int y = c.b.new_slot(c.out_name(0), DataType::f32, out_shape);
    c.b.add_step(c.node.describe(), {x}, {y}, [x, y, kind, kept_shape](PlanBuilder& b) -> Runner {
        const Slot &in = b.slot(x), &out = b.slot(y);
        const float* src = in.data<float>();
        float* dst = out.data<float>();
        Shape shape = in.shape;
        std::array<Shape, 1> strides{broadcast_strides(kept_shape, shape)};
        auto acc = std::make_shared<std::vector<double>>(element_count(kept_shape));
        std::int64_t count = in.numel() / std::max<std::int64_t>(static_cast<std::int64_t>(acc->size()), 1);
        auto index = std::make_shared<std::vector<std::int64_t>>(shape.size());  // bound once: runs allocate nothing
        return [=] {
            double init = kind == Reduce::max ? -INFINITY : kind == Reduce::min ? INFINITY : kind == Reduce::prod ? 1 : 0;
            std::fill(acc->begin(), acc->end(), init);
            double* a = acc->data();
            // Serial: outputs are shared between input rows (the parallel visitor would race).
            std::size_t rank = shape.size();
            std::int64_t total = static_cast<std::int64_t>(element_count(shape));
            auto& idx = *index;
            std::fill(idx.begin(), idx.end(), 0);
            std::int64_t off = 0;
            for (std::int64_t i = 0; i < total; ++i) {
                double v = src[i];
                double& r = a[off];
                switch (kind) {
                    case Reduce::mean: case Reduce::sum: r += v; break;
                    case Reduce::max: r = std::max(r, v); break;
                    case Reduce::min: r = std::min(r, v); break;
                    case Reduce::prod: r *= v; break;
                    case Reduce::sum_square: case Reduce::l2: r += v * v; break;
                    case Reduce::log_sum_exp: r += std::exp(v); break;
                }
                for (std::size_t d = rank; d-- > 0;) {
                    off += strides[0][d];
                    if (++idx[d] < shape[d]) break;
                    off -= strides[0][d] * shape[d];
                    idx[d] = 0;
                }
            }
            for (std::size_t k = 0; k < acc->size(); ++k) {
                double r = a[k];
                if (kind == Reduce::mean) r /= static_cast<double>(count);
                if (kind == Reduce::l2) r = std::sqrt(r);
                if (kind == Reduce::log_sum_exp) r = std::log(r);
                dst[k] = static_cast<float>(r);
            }
        };
    });
    return {y};
}

// ---- Softmax / LogSoftmax over one axis (opset >= 13) or the flattened tail (older opsets) ----
std::vector<int> softmax_op(NodeContext& c, bool log) {
    int x = plain_f32(c, 0);
    const Slot& s = c.b.slot(x);
    auto rank = static_cast<std::int64_t>(s.shape.size());
    auto axis = static_cast<std::size_t>(normalize_axis(c.node.attr_int("axis", c.b.opset >= 13 ? -1 : 1), rank, c.where()));
    std::int64_t outer = 1, n = 1, inner = 1;
    for (std::size_t d = 0; d < s.shape.size(); ++d) {
        if (d < axis) outer *= s.shape[d];
        else if (d == axis || c.b.opset < 13) n *= s.shape[d];
        else inner *= s.shape[d];
    }
    int y = c.b.new_slot(c.out_name(0), DataType::f32, s.shape);
    c.b.add_step(c.node.describe(), {x}, {y}, [x, y, outer, n, inner, log](PlanBuilder& b) -> Runner {
        const float* src = b.slot(x).data<float>();
        float* dst = b.slot(y).data<float>();
        return [=] {
#pragma omp parallel for if (outer * inner > 64) schedule(static)
            for (std::int64_t oi = 0; oi < outer * inner; ++oi) {
                std::int64_t o = oi / inner, i = oi % inner;
                const float* in = src + o * n * inner + i;
                float* out = dst + o * n * inner + i;
                float m = -INFINITY;
                for (std::int64_t k = 0; k < n; ++k) m = std::max(m, in[k * inner]);
                double sum = 0;
                for (std::int64_t k = 0; k < n; ++k) sum += std::exp(static_cast<double>(in[k * inner] - m));
                for (std::int64_t k = 0; k < n; ++k) {
                    double v = static_cast<double>(in[k * inner] - m);
                    out[k * inner] = static_cast<float>(log ? v - std::log(sum) : std::exp(v) / sum);
                }
            }
        };
    });
    return {y};
}

std::vector<int> layer_norm_op(NodeContext& c) {
    int x = plain_f32(c, 0);
    const Slot& s = c.b.slot(x);
    auto rank = static_cast<std::int64_t>(s.shape.size());
    auto axis = static_cast<std::size_t>(normalize_axis(c.node.attr_int("axis", -1), rank, c.where()));
    float eps = c.node.attr_float("epsilon", 1e-5f);
    Shape norm_shape(s.shape.begin() + static_cast<std::ptrdiff_t>(axis), s.shape.end());
    std::int64_t n = static_cast<std::int64_t>(element_count(norm_shape)), rows = s.numel() / std::max<std::int64_t>(n, 1);
    // Scale and bias broadcast over the normalised dims: expanded to full rows once.
    auto expand = [&](std::size_t i, const char* what) -> int {
        if (!c.has(i)) return -1;
        int v = plain_f32(c, i);
        Shape shape = c.b.slot(v).shape;
        if (broadcast_shapes(shape, norm_shape, c.where()) != norm_shape)
            fail(c.where(), ": ", what, " ", shape_string(shape), " does not broadcast to the normalised shape ", shape_string(norm_shape));
        return v;
    };
    int scale = expand(1, "scale"), bias = expand(2, "bias");
    int y = c.b.new_slot(c.out_name(0), DataType::f32, s.shape);
    std::vector<int> ins{x};
    if (scale >= 0) ins.push_back(scale);
    if (bias >= 0) ins.push_back(bias);
    c.b.add_step(c.node.describe(), ins, {y}, [x, y, scale, bias, n, rows, eps, norm_shape](PlanBuilder& b) -> Runner {
        const float* src = b.slot(x).data<float>();
        float* dst = b.slot(y).data<float>();
        auto full = [&](int id, float fill) {
            auto v = std::make_shared<std::vector<float>>(static_cast<std::size_t>(n), fill);
            if (id >= 0) {
                const Slot& p = b.slot(id);
                std::array<Shape, 1> st{broadcast_strides(p.shape, norm_shape)};
                const float* pp = p.data<float>();
                for_each_broadcast<1>(norm_shape, st, [&](std::int64_t i, std::int64_t o) { (*v)[static_cast<std::size_t>(i)] = pp[o]; });
            }
            return v;
        };
        auto g = full(scale, 1.f), bb = full(bias, 0.f);
        return [=] {
#pragma omp parallel for if (rows * n > (1 << 15)) schedule(static)
            for (std::int64_t r = 0; r < rows; ++r) {
                const float* in = src + r * n;
                float* out = dst + r * n;
                double mean = 0, var = 0;
                for (std::int64_t k = 0; k < n; ++k) mean += in[k];
                mean /= static_cast<double>(n);
                for (std::int64_t k = 0; k < n; ++k) var += (in[k] - mean) * (in[k] - mean);
                var /= static_cast<double>(n);
                double inv = 1 / std::sqrt(var + eps);
                for (std::int64_t k = 0; k < n; ++k) out[k] = static_cast<float>((in[k] - mean) * inv * (*g)[k] + (*bb)[k]);
            }
        };
    });
    return {y};
}

std::vector<int> batch_norm_op(NodeContext& c) {
    int x = plain_f32(c, 0);
    const Slot& s = c.b.slot(x);
    if (s.shape.size() < 2) fail(c.where(), ": input must have a channel axis, got ", shape_string(s.shape));
    std::int64_t channels = s.shape[1];
    auto scale = c.b.const_floats(c.input(1), "BatchNormalization scale"), bias = c.b.const_floats(c.input(2), "BatchNormalization B"),
         mean = c.b.const_floats(c.input(3), "BatchNormalization mean"), var = c.b.const_floats(c.input(4), "BatchNormalization var");
    for (auto* v : {&scale, &bias, &mean, &var})
        if (static_cast<std::int64_t>(v->size()) != channels) fail(c.where(), ": parameters must have ", channels, " values (one per channel)");
    float eps = c.node.attr_float("epsilon", 1e-5f);
    std::vector<float> a(static_cast<std::size_t>(channels)), k(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        a[i] = scale[i] / std::sqrt(var[i] + eps);
        k[i] = bias[i] - mean[i] * a[i];
    }
    std::int64_t inner = s.numel() / std::max<std::int64_t>(s.shape[0] * channels, 1), outer = s.shape[0];
    int y = c.b.new_slot(c.out_name(0), DataType::f32, s.shape);
    c.b.add_step(c.node.describe(), {x}, {y}, [x, y, a, k, inner, outer, channels](PlanBuilder& b) -> Runner {
        const float* src = b.slot(x).data<float>();
        float* dst = b.slot(y).data<float>();
        return [=] {
            for (std::int64_t o = 0; o < outer; ++o)
                for (std::int64_t ch = 0; ch < channels; ++ch) {
                    std::int64_t base = (o * channels + ch) * inner;
                    for (std::int64_t i = 0; i < inner; ++i) dst[base + i] = src[base + i] * a[static_cast<std::size_t>(ch)] + k[static_cast<std::size_t>(ch)];
                }
        };
    });
    return {y};
}

// ---- LSTM (ONNX: gates i, o, f, c; default activations sigmoid/tanh/tanh; layout 0) ----
std::vector<int> lstm_op(NodeContext& c) {
    if (c.node.attr_int("layout", 0) != 0) fail(c.where(), ": only layout 0 ([seq, batch, input]) is supported");
    if (c.node.attr_int("input_forget", 0) != 0) fail(c.where(), ": input_forget is not supported");
    if (c.node.attributes.count("activations")) {
        const auto& acts = c.node.attributes.at("activations").strings;
        for (std::size_t i = 0; i < acts.size(); ++i)
            if (acts[i] != (i % 3 == 0 ? "Sigmoid" : "Tanh")) fail(c.where(), ": activation '", acts[i], "' is not supported (Sigmoid, Tanh, Tanh)");
    }
    if (c.node.attributes.count("clip")) fail(c.where(), ": cell clipping is not supported");
    std::string direction = c.node.attr_string("direction", "forward");
    int dirs = direction == "bidirectional" ? 2 : 1;
    if (direction != "forward" && direction != "reverse" && direction != "bidirectional") fail(c.where(), ": direction '", direction, "'");
    int x = plain_f32(c, 0);
    const Slot& sx = c.b.slot(x);
    if (sx.shape.size() != 3) fail(c.where(), ": X must be [seq, batch, input], got ", shape_string(sx.shape));
    std::int64_t seq = sx.shape[0], batch = sx.shape[1], input = sx.shape[2];
    std::int64_t hidden = c.node.attr_int("hidden_size", 0);
    auto W = c.b.const_floats(c.input(1), "LSTM W"), R = c.b.const_floats(c.input(2), "LSTM R");
    if (hidden <= 0 && !c.slot_in(2).shape.empty()) hidden = c.slot_in(2).shape.back();  // R is [dirs, 4·hidden, hidden]
    hidden = std::max<std::int64_t>(hidden, 1);
    if (static_cast<std::int64_t>(W.size()) != dirs * 4 * hidden * input) fail(c.where(), ": W must be [", dirs, ",", 4 * hidden, ",", input, "]");
    if (static_cast<std::int64_t>(R.size()) != dirs * 4 * hidden * hidden) fail(c.where(), ": R must be [", dirs, ",", 4 * hidden, ",", hidden, "]");
    std::vector<float> B(static_cast<std::size_t>(dirs * 8 * hidden), 0.f);
    if (c.has(3)) {
        B = c.b.const_floats(c.input(3), "LSTM B");
        if (static_cast<std::int64_t>(B.size()) != dirs * 8 * hidden) fail(c.where(), ": B must be [", dirs, ",", 8 * hidden, "]");
    }
    if (c.has(4)) fail(c.where(), ": sequence_lens is not supported (all sequences run full length)");
    if (c.has(7)) fail(c.where(), ": peephole weights (P) are not supported");
    int h0 = c.has(5) ? plain_f32(c, 5) : -1, c0 = c.has(6) ? plain_f32(c, 6) : -1;
    Shape state{dirs, batch, hidden};
    for (int id : {h0, c0})
        if (id >= 0 && c.b.slot(id).shape != state) fail(c.where(), ": initial state '", c.b.slot(id).name, "' must be ", shape_string(state), ", got ", shape_string(c.b.slot(id).shape));
    int y = c.b.new_slot(c.out_name(0), DataType::f32, {seq, dirs, batch, hidden});
    int yh = c.b.new_slot(c.out_name(1), DataType::f32, state);
    int yc = c.b.new_slot(c.out_name(2), DataType::f32, state);
    std::vector<int> ins{x};
    if (h0 >= 0) ins.push_back(h0);
    if (c0 >= 0) ins.push_back(c0);
    bool reverse = direction == "reverse";
    c.b.add_step(c.node.describe(), ins, {y, yh, yc}, [=](PlanBuilder& b) -> Runner {
        const float* px = b.slot(x).data<float>();
        const float* ph0 = h0 >= 0 ? b.slot(h0).data<float>() : nullptr;
        const float* pc0 = c0 >= 0 ? b.slot(c0).data<float>() : nullptr;
        float *py = b.slot(y).data<float>(), *pyh = b.slot(yh).data<float>(), *pyc = b.slot(yc).data<float>();
        auto gates = std::make_shared<std::vector<float>>(static_cast<std::size_t>(4 * hidden));
        auto h = std::make_shared<std::vector<float>>(static_cast<std::size_t>(hidden)), cell = std::make_shared<std::vector<float>>(h->size());
        return [=] {
            auto sigmoid = [](float v) { return 1.f / (1.f + std::exp(-v)); };
            std::int64_t H = hidden;
            for (int d = 0; d < dirs; ++d) {
                const float* w = W.data() + d * 4 * H * input;
                const float* r = R.data() + d * 4 * H * H;
                const float* wb = B.data() + d * 8 * H;
                bool backwards = reverse || d == 1;
                for (std::int64_t n = 0; n < batch; ++n) {
                    for (std::int64_t k = 0; k < H; ++k) {
                        (*h)[k] = ph0 ? ph0[(d * batch + n) * H + k] : 0.f;
                        (*cell)[k] = pc0 ? pc0[(d * batch + n) * H + k] : 0.f;
                    }
                    for (std::int64_t step = 0; step < seq; ++step) {
                        std::int64_t t = backwards ? seq - 1 - step : step;
                        const float* xt = px + (t * batch + n) * input;
                        for (std::int64_t g = 0; g < 4 * H; ++g) {
                            float acc = wb[g] + wb[4 * H + g];
                            for (std::int64_t i = 0; i < input; ++i) acc += w[g * input + i] * xt[i];
                            for (std::int64_t i = 0; i < H; ++i) acc += r[g * H + i] * (*h)[i];
                            (*gates)[g] = acc;
                        }
                        for (std::int64_t k = 0; k < H; ++k) {
                            float ig = sigmoid((*gates)[k]), og = sigmoid((*gates)[H + k]), fg = sigmoid((*gates)[2 * H + k]), cg = std::tanh((*gates)[3 * H + k]);
                            (*cell)[k] = fg * (*cell)[k] + ig * cg;
                            (*h)[k] = og * std::tanh((*cell)[k]);
                            py[((t * dirs + d) * batch + n) * H + k] = (*h)[k];
                        }
                    }
                    for (std::int64_t k = 0; k < H; ++k) {
                        pyh[(d * batch + n) * H + k] = (*h)[k];
                        pyc[(d * batch + n) * H + k] = (*cell)[k];
                    }
                }
            }
        };
    });
    return {y, yh, yc};
}

// ---- DequantizeLinear: y = (x - zero_point) * scale, per tensor or per channel along `axis` ----
std::vector<int> dequantize_op(NodeContext& c) {
    int x = c.b.plain(c.input(0));
    const Slot& s = c.b.slot(x);
    if (s.dtype != DataType::s8 && s.dtype != DataType::u8 && s.dtype != DataType::s32)
        fail(c.where(), ": input '", s.name, "' is ", dtype_name(s.dtype), ", expected int8, uint8 or int32");
    auto scale = c.b.const_floats(c.input(1), "DequantizeLinear scale");
    std::vector<std::int64_t> zero(scale.size(), 0);
    if (c.has(2)) zero = c.b.const_ints(c.input(2), "DequantizeLinear zero_point");
    if (zero.size() != scale.size()) fail(c.where(), ": zero_point has ", zero.size(), " values, scale ", scale.size());
    if (c.node.attributes.count("block_size") && c.node.attr_int("block_size", 0) != 0) fail(c.where(), ": blocked quantization is not supported");
    std::int64_t channels = static_cast<std::int64_t>(scale.size()), inner = 1;
    if (channels > 1 || c.b.slot(c.input(1)).shape.size() == 1) {
        auto rank = static_cast<std::int64_t>(s.shape.size());
        auto axis = static_cast<std::size_t>(normalize_axis(c.node.attr_int("axis", 1), rank, c.where()));
        if (s.shape[axis] != channels)
            fail(c.where(), ": ", channels, " scales for axis ", axis, " of '", s.name, "' ", shape_string(s.shape), " (", s.shape[axis], " channels)");
        for (std::size_t d = axis + 1; d < s.shape.size(); ++d) inner *= s.shape[d];
    } else {
        inner = s.numel();
    }
    int y = c.b.new_slot(c.out_name(0), DataType::f32, s.shape);
    c.b.add_step(c.node.describe(), {x}, {y}, [x, y, scale, zero, channels, inner, where = c.where()](PlanBuilder& b) -> Runner {
        const Slot &in = b.slot(x), &out = b.slot(y);
        return dispatch_type(in.dtype, where, [&]<class T>() -> Runner {
            const T* src = in.data<T>();
            float* dst = out.data<float>();
            std::int64_t n = in.numel();
            return [=] {
                for (std::int64_t i = 0; i < n; ++i) {
                    auto ch = static_cast<std::size_t>((i / std::max<std::int64_t>(inner, 1)) % channels);
                    dst[i] = static_cast<float>(static_cast<std::int64_t>(src[i]) - zero[ch]) * scale[ch];
                }
            };
        });
    });
    return {y};
}

}  // namespace

// ---- Resize (nearest / linear) on plain f32, any axes ----
ResizeSpec resize_spec(NodeContext& c, const Shape& in_shape) {
    ResizeSpec r;
    r.mode = c.node.attr_string("mode", "nearest");
    r.transform = c.node.attr_string("coordinate_transformation_mode", c.b.opset >= 11 ? "half_pixel" : "asymmetric");
    r.nearest_mode = c.node.attr_string("nearest_mode", "round_prefer_floor");
    if (r.mode != "nearest" && r.mode != "linear") fail(c.where(), ": mode '", r.mode, "' is not supported (nearest, linear)");
    if (r.transform != "asymmetric" && r.transform != "half_pixel" && r.transform != "pytorch_half_pixel" && r.transform != "align_corners")
        fail(c.where(), ": coordinate_transformation_mode '", r.transform, "' is not supported");
    std::size_t rank = in_shape.size();
    // opset 10: (X, scales); opset 11+: (X, roi, scales, sizes).
    std::size_t scales_at = c.b.opset >= 11 ? 2 : 1, sizes_at = 3;
    std::vector<float> scales;
    if (c.has(scales_at)) scales = c.b.const_floats(c.input(scales_at), "Resize scales");
    if (scales.empty() && c.has(sizes_at)) {
        auto sizes = c.b.const_ints(c.input(sizes_at), "Resize sizes");
        if (sizes.size() != rank) fail(c.where(), ": sizes ", shape_string(sizes), " do not match rank ", rank);
        r.out_shape = sizes;
        for (std::size_t d = 0; d < rank; ++d) r.scales.push_back(static_cast<double>(sizes[d]) / static_cast<double>(std::max<std::int64_t>(in_shape[d], 1)));
    } else {
        if (scales.size() != rank) fail(c.where(), ": needs ", rank, " scales (or sizes), got ", scales.size());
        for (std::size_t d = 0; d < rank; ++d) {
            if (scales[d] <= 0) fail(c.where(), ": scale ", scales[d], " must be positive");
            r.scales.push_back(scales[d]);
            r.out_shape.push_back(static_cast<std::int64_t>(std::floor(static_cast<double>(in_shape[d]) * scales[d])));
        }
    }
    return r;
}

namespace {
std::vector<int> resize_host(NodeContext& c) {
    int x = plain_f32(c, 0);
    const Slot& s = c.b.slot(x);
    ResizeSpec r = resize_spec(c, s.shape);
    int y = c.b.new_slot(c.out_name(0), DataType::f32, r.out_shape);
    c.b.add_step(c.node.describe(), {x}, {y}, [x, y, r](PlanBuilder& b) -> Runner {
        const Slot &in = b.slot(x), &out = b.slot(y);
        std::size_t rank = in.shape.size();
        Shape istrides = dense_strides(in.shape);
        // Per axis and output index: two source indices and the weight of the second.
        struct Tap { std::int64_t i0, i1; float w; };
        std::vector<std::vector<Tap>> taps(rank);
        for (std::size_t d = 0; d < rank; ++d) {
            std::int64_t n_in = in.shape[d], n_out = out.shape[d];
            for (std::int64_t o = 0; o < n_out; ++o) {
                double src;
                if (r.transform == "asymmetric") src = static_cast<double>(o) / r.scales[d];
                else if (r.transform == "align_corners") src = n_out > 1 ? static_cast<double>(o) * static_cast<double>(n_in - 1) / static_cast<double>(n_out - 1) : 0;
                else if (r.transform == "pytorch_half_pixel" && n_out == 1) src = 0;
                else src = (static_cast<double>(o) + 0.5) / r.scales[d] - 0.5;
                Tap t{};
                if (r.mode == "nearest") {
                    double v = r.nearest_mode == "floor" ? std::floor(src)
                               : r.nearest_mode == "ceil" ? std::ceil(src)
                               : r.nearest_mode == "round_prefer_ceil" ? std::floor(src + 0.5)
                                                                        : std::ceil(src - 0.5);
                    t.i0 = t.i1 = std::clamp<std::int64_t>(static_cast<std::int64_t>(v), 0, n_in - 1);
                } else {
                    src = std::clamp(src, 0.0, static_cast<double>(n_in - 1));
                    t.i0 = static_cast<std::int64_t>(std::floor(src));
                    t.i1 = std::min(t.i0 + 1, n_in - 1);
                    t.w = static_cast<float>(src - static_cast<double>(t.i0));
                }
                taps[d].push_back(t);
            }
        }
        const float* src = in.data<float>();
        float* dst = out.data<float>();
        Shape oshape = out.shape;
        std::vector<std::size_t> resized;
        for (std::size_t d = 0; d < rank; ++d)
            if (in.shape[d] != out.shape[d] || r.mode == "linear") resized.push_back(d);
        auto index = std::make_shared<std::vector<std::int64_t>>(rank);  // bound once: runs allocate nothing
        return [=] {
            std::int64_t total = static_cast<std::int64_t>(element_count(oshape));
            auto& idx = *index;
            std::fill(idx.begin(), idx.end(), 0);
            for (std::int64_t i = 0; i < total; ++i) {
                // Sum over the 2^k corners of the resized axes (k is 2 for images).
                float acc = 0;
                std::size_t corners = std::size_t{1} << resized.size();
                for (std::size_t corner = 0; corner < corners; ++corner) {
                    std::int64_t off = 0;
                    float w = 1;
                    for (std::size_t d = 0, k = 0; d < rank; ++d) {
                        const Tap& t = taps[d][static_cast<std::size_t>(idx[d])];
                        if (k < resized.size() && resized[k] == d) {
                            bool second = (corner >> k) & 1;
                            off += (second ? t.i1 : t.i0) * istrides[d];
                            w *= second ? t.w : 1 - t.w;
                            ++k;
                        } else {
                            off += t.i0 * istrides[d];
                        }
                    }
                    if (w != 0) acc += w * src[off];
                }
                dst[i] = acc;
                for (std::size_t d = rank; d-- > 0;) {
                    if (++idx[d] < oshape[d]) break;
                    idx[d] = 0;
                }
            }
        };
    });
    return {y};
}
}  // namespace

void register_nn_host_ops(std::map<std::string, OpBuilder>& ops) {
    ops["ReduceMean"] = [](NodeContext& c) { return reduce_op(c, Reduce::mean); };
    ops["ReduceSum"] = [](NodeContext& c) { return reduce_op(c, Reduce::sum); };
    ops["ReduceMax"] = [](NodeContext& c) { return reduce_op(c, Reduce::max); };
    ops["ReduceMin"] = [](NodeContext& c) { return reduce_op(c, Reduce::min); };
    ops["ReduceProd"] = [](NodeContext& c) { return reduce_op(c, Reduce::prod); };
    ops["ReduceSumSquare"] = [](NodeContext& c) { return reduce_op(c, Reduce::sum_square); };
    ops["ReduceL2"] = [](NodeContext& c) { return reduce_op(c, Reduce::l2); };
    ops["ReduceLogSumExp"] = [](NodeContext& c) { return reduce_op(c, Reduce::log_sum_exp); };
    ops["Softmax"] = [](NodeContext& c) { return softmax_op(c, false); };
    ops["LogSoftmax"] = [](NodeContext& c) { return softmax_op(c, true); };
    ops["LayerNormalization"] = layer_norm_op;
    ops["BatchNormalization"] = batch_norm_op;
    ops["LSTM"] = lstm_op;
    ops["DequantizeLinear"] = dequantize_op;
    ops["Resize"] = resize_host;
}

}  // namespace xmodal::rt
