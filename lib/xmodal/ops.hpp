// Small oneDNN-backed building blocks shared by operators: a fully-connected layer with weights
// packed once into the layout oneDNN prefers, type/layout conversion, and a mean over one axis.
// Each owns no state beyond cached primitives and packed weights; callers pass the stream.
#pragma once

#include <deque>
#include <unordered_map>
#include <memory>
#include <string>

#include <oneapi/dnnl/dnnl.hpp>

#include "xmodal/safetensors.hpp"
#include "xmodal/tensor.hpp"

namespace xmodal {

class Device;

// y = x·Wᵀ + b, with W given as (out, in) like PyTorch's nn.Linear.
class Linear {
public:
    Linear(std::shared_ptr<Device> device, const HostTensor& weight, const HostTensor* bias, DataType compute,
           std::string name);

    std::int64_t in_features() const { return in_; }
    std::int64_t out_features() const { return out_; }

    // x: (M, in) in the compute type, any strides; y: (M, out), f32 or the compute type, any strides.
    void forward(dnnl::stream& stream, const Tensor& x, const Tensor& y);

private:
    std::shared_ptr<Device> device_;
    DataType compute_;
    std::string name_;
    std::int64_t in_, out_;
    struct Bound {
        dnnl::memory::desc src_md, dst_md;
        dnnl::primitive primitive;
        dnnl::memory src, dst, scratchpad;
        std::unordered_map<int, dnnl::memory> args;
    };
    Bound& bound_for(dnnl::stream& stream, const dnnl::memory::desc& x_md, const dnnl::memory::desc& y_md);

    Tensor weight_;  // Wᵀ, (in, out) in the compute type, plain layout
    Tensor bias_;    // (1, out) f32, or undefined
    std::deque<Bound> bound_;  // one per (input, output) layout seen; deque keeps references stable
    Workspace scratch_;
};

// Converts/relayouts src into dst (same shape, any dtypes and strides) with a cached reorder.
void convert(dnnl::stream& stream, const Tensor& src, const Tensor& dst);

// dst = mean of src over `axis`; dst has src's shape with that axis set to 1.
void mean_over_axis(dnnl::stream& stream, const Tensor& src, const Tensor& dst, int axis);

// Returns a view of shape `shape` into `buffer`, regrowing buffer (dense, 1-D) only when it is too
// small, so operators whose shapes vary from call to call (objects per frame) stop allocating.
Tensor reuse_buffer(Tensor& buffer, const std::shared_ptr<Device>& device, const Shape& shape, DataType dtype);

}  // namespace xmodal
