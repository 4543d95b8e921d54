// Host operators that move data without arithmetic: shape queries, views (Reshape, Squeeze, ...),
// copies (Transpose, Concat, Slice, Split, Gather, Expand, Tile, Pad) and constants. Copies work
// on element bytes, so they serve every type.
#include <algorithm>
#include <climits>
#include <cmath>

#include "xmodal/runtime/host_kernels.hpp"
#include "xmodal/runtime/ops.hpp"

namespace xmodal::rt {

namespace {

// Calls f.template operator()<U>() with an unsigned integer type of the element size.
template <class F>
decltype(auto) dispatch_bytes(std::size_t size, F&& f) {
    switch (size) {
        case 1: return f.template operator()<std::uint8_t>();
        case 2: return f.template operator()<std::uint16_t>();
        case 4: return f.template operator()<std::uint32_t>();
        default: return f.template operator()<std::uint64_t>();
    }
}

int int64_constant(PlanBuilder& b, const std::string& name, const std::vector<std::int64_t>& values, Shape shape) {
    return b.constant(name, DataType::s64, std::move(shape), values.data());
}

// Axes from input `index` (newer opsets) or attribute "axes" (older ones).
std::vector<std::int64_t> axes_of(NodeContext& c, std::size_t index, const char* what) {
    if (c.has(index)) return c.b.const_ints(c.input(index), what);
    return c.node.attr_ints("axes");
}

// out[i] = in[offset(i)] where offset is an affine function of the output index: Transpose,
// Slice and Expand are all this copy with other strides.
int strided_copy(NodeContext& c, int x, Shape out_shape, Shape strides, std::int64_t base, const std::string& name) {
    const Slot& s = c.b.slot(x);
    int y = c.b.new_slot(name, s.dtype, out_shape);
    c.b.add_step(c.node.describe(), {x}, {y}, [x, y, strides, base](PlanBuilder& b) -> Runner {
        const Slot &in = b.slot(x), &out = b.slot(y);
        return dispatch_bytes(dtype_size(in.dtype), [&]<class U>() -> Runner {
            const U* src = in.data<U>() + base;
            U* dst = out.data<U>();
            Shape shape = out.shape;
            std::array<Shape, 1> st{strides};
            return [=] { for_each_broadcast<1>(shape, st, [&](std::int64_t i, std::int64_t o) { dst[i] = src[o]; }); };
        });
    });
    return y;
}

std::vector<int> reshape_to(NodeContext& c, Shape shape) {
    int x = c.b.plain(c.input(0));
    return {c.b.alias(x, c.out_name(0), std::move(shape))};
}

std::vector<int> op_reshape(NodeContext& c) {
    const Slot& s = c.slot_in(0);
    std::vector<std::int64_t> spec = c.has(1) ? c.b.const_ints(c.input(1), "Reshape shape") : c.node.attr_ints("shape");
    bool allowzero = c.node.attr_int("allowzero", 0) != 0;
    Shape shape(spec.size());
    std::int64_t known = 1;
    int infer = -1;
    for (std::size_t i = 0; i < spec.size(); ++i) {
        if (spec[i] == -1) {
            if (infer >= 0) fail(c.where(), ": shape ", shape_string(spec), " has more than one -1");
            infer = static_cast<int>(i);
            continue;
        }
        if (spec[i] == 0 && !allowzero) {
            if (i >= s.shape.size()) fail(c.where(), ": shape ", shape_string(spec), " copies dim ", i, " of a rank-", s.shape.size(), " input");
            shape[i] = s.shape[i];
        } else if (spec[i] < 0) {
            fail(c.where(), ": shape ", shape_string(spec), " has a negative dim");
        } else {
            shape[i] = spec[i];
        }
        known *= shape[i];
    }
    if (infer >= 0) {
        if (known == 0 || s.numel() % known != 0)
            fail(c.where(), ": cannot reshape ", shape_string(s.shape), " (", s.numel(), " elements) to ", shape_string(spec));
        shape[static_cast<std::size_t>(infer)] = s.numel() / known;
    }
    if (static_cast<std::int64_t>(element_count(shape)) != s.numel())
        fail(c.where(), ": cannot reshape ", shape_string(s.shape), " (", s.numel(), " elements) to ", shape_string(shape));
    return reshape_to(c, shape);
}

std::vector<int> op_transpose(NodeContext& c) {
    int x = c.b.plain(c.input(0));
    const Slot& s = c.b.slot(x);
    auto rank = static_cast<std::int64_t>(s.shape.size());
    auto perm = c.node.attr_ints("perm");
    if (perm.empty())
        for (std::int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
    if (static_cast<std::int64_t>(perm.size()) != rank) fail(c.where(), ": perm ", shape_string(perm), " does not match rank ", rank);
    Shape in_strides = dense_strides(s.shape), out_shape(perm.size()), strides(perm.size());
    std::vector<bool> seen(perm.size(), false);
    for (std::size_t d = 0; d < perm.size(); ++d) {
        auto p = normalize_axis(perm[d], rank, c.where());
        if (seen[static_cast<std::size_t>(p)]) fail(c.where(), ": perm ", shape_string(perm), " repeats axis ", p);
        seen[static_cast<std::size_t>(p)] = true;
        out_shape[d] = s.shape[static_cast<std::size_t>(p)];
        strides[d] = in_strides[static_cast<std::size_t>(p)];
    }
    return {strided_copy(c, x, out_shape, strides, 0, c.out_name(0))};
}

std::vector<int> op_slice(NodeContext& c) {
    int x = c.b.plain(c.input(0));
    const Slot& s = c.b.slot(x);
    auto rank = static_cast<std::int64_t>(s.shape.size());
    std::vector<std::int64_t> starts, ends, axes, steps;
    if (c.has(1)) {
        starts = c.b.const_ints(c.input(1), "Slice starts");
        ends = c.b.const_ints(c.input(2), "Slice ends");
        if (c.has(3)) axes = c.b.const_ints(c.input(3), "Slice axes");
        if (c.has(4)) steps = c.b.const_ints(c.input(4), "Slice steps");
    } else {  // opset < 10
        starts = c.node.attr_ints("starts");
        ends = c.node.attr_ints("ends");
        axes = c.node.attr_ints("axes");
    }
    if (axes.empty())
        for (std::size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<std::int64_t>(i));
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
        fail(c.where(), ": starts, ends, axes and steps must have the same length (", starts.size(), ", ", ends.size(), ", ", axes.size(), ", ", steps.size(), ")");
    Shape out_shape = s.shape, in_strides = dense_strides(s.shape), strides = in_strides;
    std::int64_t base = 0;
    for (std::size_t i = 0; i < starts.size(); ++i) {
        auto a = static_cast<std::size_t>(normalize_axis(axes[i], rank, c.where()));
        std::int64_t dim = s.shape[a], step = steps[i];
        if (step == 0) fail(c.where(), ": step 0 on axis ", a);
        auto clampi = [&](std::int64_t v, std::int64_t lo, std::int64_t hi) {
            if (v < 0) v += dim;
            return std::clamp(v, lo, hi);
        };
        std::int64_t start, end, n;
        if (step > 0) {
            start = clampi(starts[i], 0, dim);
            end = clampi(ends[i] < -dim ? 0 : ends[i], 0, dim);
            if (ends[i] > dim) end = dim;
            n = end > start ? (end - start + step - 1) / step : 0;
        } else {
            start = clampi(starts[i], 0, dim - 1);
            end = ends[i] < -dim ? -1 : clampi(ends[i], -1, dim - 1);
            n = start > end ? (start - end - step - 1) / -step : 0;
        }
        out_shape[a] = n;
        strides[a] = in_strides[a] * step;
        if (n > 0) base += start * in_strides[a];
    }
    return {strided_copy(c, x, out_shape, strides, base, c.out_name(0))};
}

std::vector<int> op_concat(NodeContext& c) {
    if (c.in.empty()) fail(c.where(), ": needs at least one input");
    std::vector<int> xs;
    for (std::size_t i = 0; i < c.in.size(); ++i) xs.push_back(c.b.plain(c.input(i)));
    const Slot& first = c.b.slot(xs[0]);
    auto rank = static_cast<std::int64_t>(first.shape.size());
    auto axis = static_cast<std::size_t>(normalize_axis(c.node.attr_int("axis", 0), rank, c.where()));
    Shape out_shape = first.shape;
    out_shape[axis] = 0;
    for (int x : xs) {
        const Slot& s = c.b.slot(x);
        bool ok = s.dtype == first.dtype && s.shape.size() == first.shape.size();
        for (std::size_t d = 0; ok && d < s.shape.size(); ++d) ok = d == axis || s.shape[d] == first.shape[d];
        if (!ok) fail(c.where(), ": input '", s.name, "' ", dtype_name(s.dtype), shape_string(s.shape), " does not concatenate with '", first.name, "' ",
                      dtype_name(first.dtype), shape_string(first.shape), " on axis ", axis);
        out_shape[axis] += s.shape[axis];
    }
    int y = c.b.new_slot(c.out_name(0), first.dtype, out_shape);
    c.b.add_step(c.node.describe(), xs, {y}, [xs, y, axis](PlanBuilder& b) -> Runner {
        const Slot& out = b.slot(y);
        std::size_t esize = dtype_size(out.dtype);
        std::int64_t outer = 1;
        for (std::size_t d = 0; d < axis; ++d) outer *= out.shape[d];
        std::size_t out_row = element_count(out.shape) / std::max<std::int64_t>(outer, 1) * esize;
        std::vector<std::pair<const std::uint8_t*, std::size_t>> parts;
        for (int x : xs) {
            const Slot& s = b.slot(x);
            parts.emplace_back(s.data<std::uint8_t>(), element_count(s.shape) / std::max<std::int64_t>(outer, 1) * esize);
        }
        auto* dst = out.data<std::uint8_t>();
        return [=] {
            for (std::int64_t o = 0; o < outer; ++o) {
                std::uint8_t* row = dst + static_cast<std::size_t>(o) * out_row;
                for (auto [src, bytes] : parts) {
                    std::memcpy(row, src + static_cast<std::size_t>(o) * bytes, bytes);
                    row += bytes;
                }
            }
        };
    });
    return {y};
}

std::vector<int> op_split(NodeContext& c) {
    int x = c.b.plain(c.input(0));
    const Slot& s = c.b.slot(x);
    auto rank = static_cast<std::int64_t>(s.shape.size());
    auto axis = static_cast<std::size_t>(normalize_axis(c.node.attr_int("axis", 0), rank, c.where()));
    std::vector<std::int64_t> sizes = c.has(1) ? c.b.const_ints(c.input(1), "Split sizes") : c.node.attr_ints("split");
    std::size_t count = c.node.outputs.size();
    if (sizes.empty()) {
        auto n = static_cast<std::int64_t>(c.node.attr_int("num_outputs", static_cast<std::int64_t>(count)));
        if (n <= 0) fail(c.where(), ": needs at least one output");
        std::int64_t chunk = (s.shape[axis] + n - 1) / n;
        for (std::int64_t i = 0; i < n; ++i) sizes.push_back(std::min(chunk, s.shape[axis] - i * chunk));
    }
    std::int64_t total = 0;
    for (auto v : sizes) total += v;
    if (total != s.shape[axis] || sizes.size() != count)
        fail(c.where(), ": split ", shape_string(sizes), " does not divide axis ", axis, " of ", shape_string(s.shape), " into ", count, " outputs");
    std::vector<int> outs;
    Shape strides = dense_strides(s.shape);
    std::int64_t offset = 0;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        Shape shape = s.shape;
        shape[axis] = sizes[i];
        outs.push_back(strided_copy(c, x, shape, strides, offset * strides[axis], c.out_name(i)));
        offset += sizes[i];
    }
    return outs;
}

std::vector<int> op_gather(NodeContext& c) {
    int x = c.b.plain(c.input(0)), idx = c.b.plain(c.input(1));
    const Slot &s = c.b.slot(x), &si = c.b.slot(idx);
    if (si.dtype != DataType::s64 && si.dtype != DataType::s32)
        fail(c.where(), ": indices '", si.name, "' are ", dtype_name(si.dtype), ", expected int64 or int32");
    auto rank = static_cast<std::int64_t>(s.shape.size());
    auto axis = static_cast<std::size_t>(normalize_axis(c.node.attr_int("axis", 0), rank, c.where()));
    Shape out_shape(s.shape.begin(), s.shape.begin() + static_cast<std::ptrdiff_t>(axis));
    out_shape.insert(out_shape.end(), si.shape.begin(), si.shape.end());
    out_shape.insert(out_shape.end(), s.shape.begin() + static_cast<std::ptrdiff_t>(axis) + 1, s.shape.end());
    int y = c.b.new_slot(c.out_name(0), s.dtype, out_shape);
    c.b.add_step(c.node.describe(), {x, idx}, {y}, [x, idx, y, axis, where = c.where()](PlanBuilder& b) -> Runner {
        const Slot &in = b.slot(x), &ind = b.slot(idx), &out = b.slot(y);
        std::size_t esize = dtype_size(in.dtype);
        std::int64_t outer = 1, inner = 1, dim = in.shape[axis];
        for (std::size_t d = 0; d < axis; ++d) outer *= in.shape[d];
        for (std::size_t d = axis + 1; d < in.shape.size(); ++d) inner *= in.shape[d];
        std::int64_t n = ind.numel();
        const auto* src = in.data<std::uint8_t>();
        auto* dst = out.data<std::uint8_t>();
        const void* indices = ind.ptr;
        bool wide = ind.dtype == DataType::s64;
        std::size_t row = static_cast<std::size_t>(inner) * esize;
        return [=] {
            for (std::int64_t k = 0; k < n; ++k) {
                std::int64_t i = wide ? static_cast<const std::int64_t*>(indices)[k] : static_cast<const std::int32_t*>(indices)[k];
                if (i < -dim || i >= dim) fail(where, ": index ", i, " is out of range for a dimension of ", dim);
                if (i < 0) i += dim;
                for (std::int64_t o = 0; o < outer; ++o)
                    std::memcpy(dst + (static_cast<std::size_t>(o * n + k)) * row, src + static_cast<std::size_t>(o * dim + i) * row, row);
            }
        };
    });
    return {y};
}

std::vector<int> op_expand(NodeContext& c) {
    int x = c.b.plain(c.input(0));
    const Slot& s = c.b.slot(x);
    auto target = c.b.const_ints(c.input(1), "Expand shape");
    Shape out = broadcast_shapes(s.shape, target, c.where());
    return {strided_copy(c, x, out, broadcast_strides(s.shape, out), 0, c.out_name(0))};
}

std::vector<int> op_tile(NodeContext& c) {
    int x = c.b.plain(c.input(0));
    const Slot& s = c.b.slot(x);
    auto reps = c.b.const_ints(c.input(1), "Tile repeats");
    if (reps.size() != s.shape.size()) fail(c.where(), ": repeats ", shape_string(reps), " do not match rank ", s.shape.size());
    // Tiling = expanding a view with an extra repeat axis before every axis, then merging.
    Shape view_shape, expanded, strides_in = dense_strides(s.shape), strides;
    for (std::size_t d = 0; d < reps.size(); ++d) {
        if (reps[d] < 0) fail(c.where(), ": negative repeat ", reps[d]);
        expanded.push_back(reps[d]);
        expanded.push_back(s.shape[d]);
        strides.push_back(0);
        strides.push_back(strides_in[d]);
    }
    int y = strided_copy(c, x, expanded, strides, 0, c.out_name(0) + "/expanded");
    Shape out_shape;
    for (std::size_t d = 0; d < reps.size(); ++d) out_shape.push_back(reps[d] * s.shape[d]);
    return {c.b.alias(y, c.out_name(0), out_shape)};
}

std::vector<int> op_pad(NodeContext& c) {
    int x = c.b.plain(c.input(0));
    const Slot& s = c.b.slot(x);
    auto rank = static_cast<std::int64_t>(s.shape.size());
    std::vector<std::int64_t> pads = c.has(1) ? c.b.const_ints(c.input(1), "Pad pads") : c.node.attr_ints("pads");
    std::string mode = c.node.attr_string("mode", "constant");
    if (mode != "constant" && mode != "reflect" && mode != "edge")
        fail(c.where(), ": mode '", mode, "' is not supported (constant, reflect, edge)");
    std::vector<std::int64_t> axes;
    if (c.has(3)) axes = c.b.const_ints(c.input(3), "Pad axes");
    if (axes.empty())
        for (std::int64_t i = 0; i < rank; ++i) axes.push_back(i);
    if (pads.size() != 2 * axes.size()) fail(c.where(), ": pads ", shape_string(pads), " need 2 values per padded axis (", axes.size(), " axes)");
    std::vector<std::int64_t> before(static_cast<std::size_t>(rank), 0), after(static_cast<std::size_t>(rank), 0);
    for (std::size_t i = 0; i < axes.size(); ++i) {
        auto a = static_cast<std::size_t>(normalize_axis(axes[i], rank, c.where()));
        before[a] = pads[i];
        after[a] = pads[i + axes.size()];
    }
    Shape out_shape = s.shape;
    for (std::size_t d = 0; d < out_shape.size(); ++d) {
        out_shape[d] += before[d] + after[d];
        if (out_shape[d] < 0) fail(c.where(), ": pads ", shape_string(pads), " remove more than the input has");
        if (mode == "reflect" && (before[d] >= std::max<std::int64_t>(s.shape[d], 1) || after[d] >= std::max<std::int64_t>(s.shape[d], 1)))
            fail(c.where(), ": reflect padding of ", std::max(before[d], after[d]), " needs a dimension larger than ", s.shape[d]);
        if (mode != "constant" && s.shape[d] == 0 && out_shape[d] > 0) fail(c.where(), ": cannot ", mode, "-pad an empty dimension");
    }
    double value = 0;
    if (c.has(2)) {
        auto v = c.b.const_floats(c.input(2), "Pad constant_value");
        if (!v.empty()) value = v[0];
    } else if (c.node.attributes.count("value")) {
        value = c.node.attr_float("value", 0);
    }
    int y = c.b.new_slot(c.out_name(0), s.dtype, out_shape);
    c.b.add_step(c.node.describe(), {x}, {y}, [x, y, before, mode, value, where = c.where()](PlanBuilder& b) -> Runner {
        const Slot &in = b.slot(x), &out = b.slot(y);
        return dispatch_type(in.dtype, where, [&]<class T>() -> Runner {
            const T* src = in.data<T>();
            T* dst = out.data<T>();
            Shape ishape = in.shape, oshape = out.shape, istrides = dense_strides(in.shape);
            int m = mode == "constant" ? 0 : mode == "reflect" ? 1 : 2;
            T fill = static_cast<T>(value);
            auto index = std::make_shared<std::vector<std::int64_t>>(oshape.size());  // bound once: runs allocate nothing
            return [=] {
                std::size_t rank = oshape.size();
                std::int64_t total = static_cast<std::int64_t>(element_count(oshape));
                auto& idx = *index;
                std::fill(idx.begin(), idx.end(), 0);
                for (std::int64_t i = 0; i < total; ++i) {
                    std::int64_t off = 0;
                    bool inside = true;
                    for (std::size_t d = 0; d < rank; ++d) {
                        std::int64_t j = idx[d] - before[d], n = ishape[d];
                        if (j < 0 || j >= n) {
                            if (m == 0) { inside = false; break; }
                            if (m == 1) j = j < 0 ? -j : 2 * (n - 1) - j;
                            else j = j < 0 ? 0 : n - 1;
                        }
                        off += j * istrides[d];
                    }
                    dst[i] = inside ? src[off] : fill;
                    for (std::size_t d = rank; d-- > 0;) {
                        if (++idx[d] < oshape[d]) break;
                        idx[d] = 0;
                    }
                }
            };
        });
    });
    return {y};
}

std::vector<int> op_squeeze(NodeContext& c) {
    const Slot& s = c.slot_in(0);
    auto rank = static_cast<std::int64_t>(s.shape.size());
    auto axes = axes_of(c, 1, "Squeeze axes");
    std::vector<bool> drop(s.shape.size(), false);
    if (axes.empty()) {
        for (std::size_t d = 0; d < s.shape.size(); ++d) drop[d] = s.shape[d] == 1;
    } else {
        for (auto a : axes) {
            auto d = static_cast<std::size_t>(normalize_axis(a, rank, c.where()));
            if (s.shape[d] != 1) fail(c.where(), ": cannot squeeze axis ", d, " of ", shape_string(s.shape), " (size ", s.shape[d], ")");
            drop[d] = true;
        }
    }
    Shape shape;
    for (std::size_t d = 0; d < s.shape.size(); ++d)
        if (!drop[d]) shape.push_back(s.shape[d]);
    return reshape_to(c, shape);
}

std::vector<int> op_unsqueeze(NodeContext& c) {
    const Slot& s = c.slot_in(0);
    auto axes = axes_of(c, 1, "Unsqueeze axes");
    auto rank = static_cast<std::int64_t>(s.shape.size() + axes.size());
    std::vector<bool> added(static_cast<std::size_t>(rank), false);
    for (auto a : axes) {
        auto d = static_cast<std::size_t>(normalize_axis(a, rank, c.where()));
        if (added[d]) fail(c.where(), ": axis ", a, " given twice");
        added[d] = true;
    }
    Shape shape;
    std::size_t k = 0;
    for (std::size_t d = 0; d < added.size(); ++d) shape.push_back(added[d] ? 1 : s.shape[k++]);
    return reshape_to(c, shape);
}

std::vector<int> op_flatten(NodeContext& c) {
    const Slot& s = c.slot_in(0);
    auto rank = static_cast<std::int64_t>(s.shape.size());
    auto axis = c.node.attr_int("axis", 1);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis > rank) fail(c.where(), ": axis ", c.node.attr_int("axis", 1), " is out of range for rank ", rank);
    std::int64_t a = 1, bdim = 1;
    for (std::int64_t d = 0; d < rank; ++d) (d < axis ? a : bdim) *= s.shape[static_cast<std::size_t>(d)];
    return reshape_to(c, {a, bdim});
}

int constant_from_attribute(NodeContext& c) {
    const auto& attrs = c.node.attributes;
    std::string name = c.out_name(0);
    if (auto it = attrs.find("value"); it != attrs.end()) return c.b.constant(name, it->second.t);
    if (attrs.count("value_float")) {
        float v = c.node.attr_float("value_float", 0);
        return c.b.constant(name, DataType::f32, {}, &v);
    }
    if (attrs.count("value_int")) {
        std::int64_t v = c.node.attr_int("value_int", 0);
        return c.b.constant(name, DataType::s64, {}, &v);
    }
    if (auto it = attrs.find("value_floats"); it != attrs.end())
        return c.b.constant(name, DataType::f32, {static_cast<std::int64_t>(it->second.floats.size())}, it->second.floats.data());
    if (auto it = attrs.find("value_ints"); it != attrs.end())
        return c.b.constant(name, DataType::s64, {static_cast<std::int64_t>(it->second.ints.size())}, it->second.ints.data());
    fail(c.where(), ": needs one of the attributes value, value_float, value_int, value_floats, value_ints");
}

std::vector<int> op_constant_of_shape(NodeContext& c) {
    auto shape = c.b.const_ints(c.input(0), "ConstantOfShape shape");
    for (auto d : shape)
        if (d < 0) fail(c.where(), ": negative dim in ", shape_string(shape));
    HostTensor value;
    value.dtype = DataType::f32;
    value.bytes.resize(4, 0);
    if (auto it = c.node.attributes.find("value"); it != c.node.attributes.end()) value = it->second.t;
    if (value.bytes.size() != dtype_size(value.dtype)) fail(c.where(), ": attribute 'value' must hold one element");
    std::size_t n = element_count(shape);
    std::vector<std::uint8_t> bytes(n * value.bytes.size());
    for (std::size_t i = 0; i < n; ++i) std::memcpy(bytes.data() + i * value.bytes.size(), value.bytes.data(), value.bytes.size());
    return {c.b.constant(c.out_name(0), value.dtype, shape, bytes.data())};
}

std::vector<int> op_range(NodeContext& c) {
    DataType dt = c.slot_in(0).dtype;
    if (dt == DataType::f32 || dt == DataType::f64) {
        double start = c.b.const_floats(c.input(0), "Range start")[0], limit = c.b.const_floats(c.input(1), "Range limit")[0],
               delta = c.b.const_floats(c.input(2), "Range delta")[0];
        if (delta == 0) fail(c.where(), ": delta is 0");
        auto n = static_cast<std::int64_t>(std::max(std::ceil((limit - start) / delta), 0.0));
        std::vector<float> v;
        for (std::int64_t i = 0; i < n; ++i) v.push_back(static_cast<float>(start + static_cast<double>(i) * delta));
        int id = c.b.constant(c.out_name(0), DataType::f32, Shape{n}, v.data());
        return {dt == DataType::f32 ? id : cast_slot(c.b, id, dt, c.out_name(0) + "/cast", c.where())};
    }
    std::int64_t start = c.b.const_ints(c.input(0), "Range start")[0], limit = c.b.const_ints(c.input(1), "Range limit")[0],
                 delta = c.b.const_ints(c.input(2), "Range delta")[0];
    if (delta == 0) fail(c.where(), ": delta is 0");
    std::vector<std::int64_t> v;
    for (std::int64_t x = start; delta > 0 ? x < limit : x > limit; x += delta) v.push_back(x);
    int id = int64_constant(c.b, c.out_name(0), v, {static_cast<std::int64_t>(v.size())});
    return {dt == DataType::s64 ? id : cast_slot(c.b, id, dt, c.out_name(0) + "/cast", c.where())};
}

}  // namespace

void register_shape_ops(std::map<std::string, OpBuilder>& ops) {
    ops["Reshape"] = op_reshape;
    ops["Transpose"] = op_transpose;
    ops["Slice"] = op_slice;
    ops["Concat"] = op_concat;
    ops["Split"] = op_split;
    ops["Gather"] = op_gather;
    ops["Expand"] = op_expand;
    ops["Tile"] = op_tile;
    ops["Pad"] = op_pad;
    ops["Squeeze"] = op_squeeze;
    ops["Unsqueeze"] = op_unsqueeze;
    ops["Flatten"] = op_flatten;
    ops["Identity"] = [](NodeContext& c) -> std::vector<int> { return {c.input(0)}; };
    ops["Dropout"] = [](NodeContext& c) -> std::vector<int> { return {c.input(0)}; };  // inference: identity
    ops["Constant"] = [](NodeContext& c) -> std::vector<int> { return {constant_from_attribute(c)}; };
    ops["ConstantOfShape"] = op_constant_of_shape;
    ops["Range"] = op_range;
    ops["Shape"] = [](NodeContext& c) -> std::vector<int> {
        const Shape& shape = c.slot_in(0).shape;
        auto rank = static_cast<std::int64_t>(shape.size());
        auto start = c.node.attr_int("start", 0), end = c.node.attr_int("end", rank);
        if (start < 0) start += rank;
        if (end < 0) end += rank;
        start = std::clamp<std::int64_t>(start, 0, rank);
        end = std::clamp<std::int64_t>(end, start, rank);
        std::vector<std::int64_t> v(shape.begin() + start, shape.begin() + end);
        return {int64_constant(c.b, c.out_name(0), v, {static_cast<std::int64_t>(v.size())})};
    };
    ops["Size"] = [](NodeContext& c) -> std::vector<int> {
        std::vector<std::int64_t> v{c.slot_in(0).numel()};
        return {int64_constant(c.b, c.out_name(0), v, {})};
    };
}

void register_host_ops(std::map<std::string, OpBuilder>& ops) {
    register_elementwise_ops(ops);
    register_shape_ops(ops);
    register_nn_host_ops(ops);
}

}  // namespace xmodal::rt
