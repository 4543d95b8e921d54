#include "xmodal/ops.hpp"

#include <sstream>

#include "xmodal/device.hpp"
#include "xmodal/error.hpp"
#include "xmodal/primitive_cache.hpp"

namespace xmodal {
namespace {
using md_t = dnnl::memory::desc;
using dims = dnnl::memory::dims;
using dt = dnnl::memory::data_type;
}  // namespace

Linear::Linear(std::shared_ptr<Device> device, const HostTensor& weight, const HostTensor* bias, DataType compute,
               std::string name)
    : device_(std::move(device)), compute_(compute), name_(std::move(name)) {
    if (weight.shape.size() != 2) fail(name_, ".weight has shape ", shape_string(weight.shape), ", expected (out, in)");
    out_ = weight.shape[0];
    in_ = weight.shape[1];
    if (bias && bias->shape != Shape{out_})
        fail(name_, ".bias has shape ", shape_string(bias->shape), ", expected [", out_, "]");

    // Wᵀ (in, out) in the compute type: write the (out, in) values through a transposed view.
    weight_ = Tensor::empty(device_, {in_, out_}, compute_);
    weight_.view({out_, in_}, {1, out_}).copy_from_f32(weight.to_f32());
    if (bias) {
        bias_ = Tensor::empty(device_, {1, out_}, DataType::f32);
        bias_.copy_from_f32(bias->to_f32());
    }
}

void Linear::forward(dnnl::stream& stream, const Tensor& x, const Tensor& y) {
    if (x.ndim() != 2 || x.dim(1) != in_ || x.dtype() != compute_)
        fail(name_, ": input is ", x.describe(), ", expected [M,", in_, "] ", dtype_name(compute_));
    if (y.ndim() != 2 || y.dim(0) != x.dim(0) || y.dim(1) != out_)
        fail(name_, ": output is ", y.describe(), ", expected [", x.dim(0), ",", out_, "]");
    Bound& b = bound_for(stream, x.desc(), y.desc());
    b.src.set_data_handle(x.memory().get_data_handle());
    b.dst.set_data_handle(y.memory().get_data_handle());
    b.scratchpad.set_data_handle(scratch_.get(0, b.scratchpad.get_desc().get_size()));
    b.primitive.execute(stream, b.args);
}

// Per (input, output) layout: the cached primitive, the weights packed into the layout it chose,
// and memories bound to its arguments. Found without building keys or taking the cache lock, so
// a steady stream (one shape per object count) allocates nothing per call.
Linear::Bound& Linear::bound_for(dnnl::stream& stream, const dnnl::memory::desc& x_md, const dnnl::memory::desc& y_md) {
    for (auto& b : bound_)
        if (b.src_md == x_md && b.dst_md == y_md) return b;

    const auto& eng = device_->engine();
    md_t w_any({in_, out_}, to_dnnl(compute_), dnnl::memory::format_tag::any);
    std::ostringstream key;
    key << "linear|" << key_of(x_md) << '|' << key_of(w_any) << '|' << key_of(y_md) << "|bias=" << bias_.defined();
    auto prim = device_->primitives().get(key.str(), [&] {
        dnnl::primitive_attr attr;
        attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
        auto pd = bias_.defined() ? dnnl::matmul::primitive_desc({x_md, w_any, bias_.desc(), y_md}, attr, eng)
                                  : dnnl::matmul::primitive_desc({x_md, w_any, y_md}, attr, eng);
        auto c = make_cached<dnnl::matmul>(pd);
        c.weights_desc = pd.weights_desc();
        return c;
    });
    Bound b;
    b.src_md = x_md;
    b.dst_md = y_md;
    b.primitive = prim.primitive;
    // Weights are packed once per layout oneDNN picks (usually one layout per Linear).
    for (const auto& other : bound_)
        if (other.args.at(DNNL_ARG_WEIGHTS).get_desc() == prim.weights_desc) b.args[DNNL_ARG_WEIGHTS] = other.args.at(DNNL_ARG_WEIGHTS);
    if (!b.args.contains(DNNL_ARG_WEIGHTS)) {
        dnnl::memory packed(prim.weights_desc, eng);
        dnnl::memory plain = weight_.memory();
        dnnl::reorder(plain, packed).execute(stream, plain, packed);
        b.args[DNNL_ARG_WEIGHTS] = packed;
    }
    b.src = dnnl::memory(x_md, eng, DNNL_MEMORY_NONE);
    b.dst = dnnl::memory(y_md, eng, DNNL_MEMORY_NONE);
    const auto sp_bytes = static_cast<std::int64_t>(std::max<std::size_t>(prim.scratchpad_bytes, 64));
    b.scratchpad = dnnl::memory(md_t({sp_bytes}, dt::u8, dims{1}), eng, DNNL_MEMORY_NONE);
    b.args[DNNL_ARG_SRC] = b.src;
    b.args[DNNL_ARG_DST] = b.dst;
    b.args[DNNL_ARG_SCRATCHPAD] = b.scratchpad;
    if (bias_.defined()) b.args[DNNL_ARG_BIAS] = bias_.memory();
    bound_.push_back(std::move(b));
    return bound_.back();
}

void convert(dnnl::stream& stream, const Tensor& src, const Tensor& dst) {
    if (src.shape() != dst.shape())
        fail("convert: ", src.describe(), " and ", dst.describe(), " differ in shape");
    auto& device = *src.device();
    auto prim = device.primitives().get("reorder|" + key_of(src.desc()) + '|' + key_of(dst.desc()), [&] {
        dnnl::reorder::primitive_desc pd(device.engine(), src.desc(), dst.device()->engine(), dst.desc());
        return make_cached<dnnl::reorder>(pd);
    });
    prim.primitive.execute(stream, {{DNNL_ARG_FROM, src.memory()}, {DNNL_ARG_TO, dst.memory()}});
}

void mean_over_axis(dnnl::stream& stream, const Tensor& src, const Tensor& dst, int axis) {
    Shape expected = src.shape();
    if (axis < 0 || axis >= src.ndim()) fail("mean_over_axis: axis ", axis, " out of range for ", src.describe());
    expected[static_cast<std::size_t>(axis)] = 1;
    if (dst.shape() != expected)
        fail("mean_over_axis: destination is ", dst.describe(), ", expected ", shape_string(expected));
    if (src.dim(axis) == 1) return convert(stream, src, dst);  // oneDNN rejects a no-op reduction
    auto& device = *src.device();
    auto prim = device.primitives().get("reduction.mean|" + key_of(src.desc()) + '|' + key_of(dst.desc()), [&] {
        dnnl::reduction::primitive_desc pd({dnnl::algorithm::reduction_mean, src.desc(), dst.desc(), 0.f, 0.f},
                                           device.engine());
        return make_cached<dnnl::reduction>(pd);
    });
    prim.primitive.execute(stream, {{DNNL_ARG_SRC, src.memory()}, {DNNL_ARG_DST, dst.memory()}});
}

Tensor reuse_buffer(Tensor& buffer, const std::shared_ptr<Device>& device, const Shape& shape, DataType dtype) {
    std::int64_t needed = 1;
    for (auto d : shape) needed *= d;
    const auto needed_bytes = needed * static_cast<std::int64_t>(dtype_size(dtype));
    if (!buffer.defined() || buffer.numel() < needed_bytes || buffer.device() != device)
        buffer = Tensor::empty(device, {std::max<std::int64_t>(needed_bytes, 64)}, DataType::u8);
    return Tensor::borrow(device, buffer.data(), shape, dtype);  // reinterpret the bytes
}

}  // namespace xmodal
