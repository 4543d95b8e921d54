#include "xmodal/tensor.hpp"

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "xmodal/device.hpp"
#include "xmodal/error.hpp"

namespace xmodal {
namespace {

std::atomic<std::uint64_t> alloc_count{0};
std::atomic<std::uint64_t> alloc_bytes{0};

std::shared_ptr<void> aligned_storage(std::size_t bytes) {
    constexpr std::size_t alignment = 64;
    std::size_t rounded = (bytes + alignment - 1) / alignment * alignment;
    void* p = std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded);
    if (!p) fail("out of memory allocating ", bytes, " bytes");
    alloc_count.fetch_add(1, std::memory_order_relaxed);
    alloc_bytes.fetch_add(bytes, std::memory_order_relaxed);
    return {p, std::free};
}

bool host_only(DataType dt) { return dt == DataType::s64 || dt == DataType::f64; }

dnnl::memory::desc make_desc(const Shape& shape, const Shape& strides, DataType dtype) {
    if (host_only(dtype)) {  // no oneDNN type: the memory is a byte span; shape/strides live in Tensor
        std::int64_t span = 1;
        for (std::size_t i = 0; i < shape.size(); ++i) span += (shape[i] > 0 ? shape[i] - 1 : 0) * strides[i];
        return dnnl::memory::desc({std::max<std::int64_t>(span * static_cast<std::int64_t>(dtype_size(dtype)), 1)},
                                  dnnl::memory::data_type::u8, dnnl::memory::dims{1});
    }
    if (shape.empty())  // oneDNN has no 0-d memory: a scalar is a 1-element vector
        return dnnl::memory::desc({1}, to_dnnl(dtype), dnnl::memory::dims{1});
    return dnnl::memory::desc(dnnl::memory::dims(shape.begin(), shape.end()), to_dnnl(dtype),
                              dnnl::memory::dims(strides.begin(), strides.end()));
}

void check_shape(const Shape& shape, const Shape& strides) {
    if (strides.size() != shape.size())
        fail("tensor shape ", shape_string(shape), " and strides ", shape_string(strides),
             " differ in rank");
    for (auto d : shape)
        if (d < 0) fail("tensor shape ", shape_string(shape), " has a negative dimension");
}

// Element offset of the i-th element in row-major order of `shape`, through `strides`.
std::int64_t strided_offset(std::int64_t linear, const Shape& shape, const Shape& strides) {
    std::int64_t off = 0;
    for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
        off += (linear % shape[d]) * strides[d];
        linear /= shape[d];
    }
    return off;
}

}  // namespace

float f16_to_f32(std::uint16_t h) {
    const int sign = (h >> 15) & 1, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    float magnitude;
    if (exponent == 0)
        magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    else if (exponent == 31)
        magnitude = mantissa ? NAN : INFINITY;
    else
        magnitude = std::ldexp(static_cast<float>(mantissa | 0x400), exponent - 25);
    return sign ? -magnitude : magnitude;
}

std::uint16_t f32_to_f16(float v) {
    std::uint16_t sign = std::signbit(v) ? 0x8000 : 0;
    float a = std::fabs(v);
    if (std::isnan(a)) return sign | 0x7e00;
    if (a >= 65520.f) return sign | 0x7c00;
    if (a < 6.103515625e-05f)  // subnormal: units of 2^-24, rounded to nearest even
        return sign | static_cast<std::uint16_t>(std::nearbyint(a * 16777216.f));
    int exponent;
    float fraction = std::frexp(a, &exponent);  // a = fraction * 2^exponent, fraction in [0.5, 1)
    auto mantissa = static_cast<std::uint32_t>(std::nearbyint((fraction * 2.f - 1.f) * 1024.f));
    if (mantissa == 1024) { mantissa = 0; ++exponent; }
    return sign | static_cast<std::uint16_t>(((exponent + 14) << 10) | mantissa);
}

namespace {

float load_as_f32(const void* base, std::int64_t index, DataType dt) {
    switch (dt) {
        case DataType::f32: return static_cast<const float*>(base)[index];
        case DataType::bf16: return bf16_to_f32(static_cast<const std::uint16_t*>(base)[index]);
        case DataType::s8: return static_cast<const std::int8_t*>(base)[index];
        case DataType::u8: return static_cast<const std::uint8_t*>(base)[index];
        case DataType::f16: return f16_to_f32(static_cast<const std::uint16_t*>(base)[index]);
        case DataType::s32: return static_cast<float>(static_cast<const std::int32_t*>(base)[index]);
        case DataType::s64: return static_cast<float>(static_cast<const std::int64_t*>(base)[index]);
        case DataType::boolean: return static_cast<const std::uint8_t*>(base)[index] != 0 ? 1.f : 0.f;
        case DataType::f64: return static_cast<float>(static_cast<const double*>(base)[index]);
    }
    return 0.f;
}

void store_from_f32(void* base, std::int64_t index, DataType dt, float v) {
    switch (dt) {
        case DataType::f32: static_cast<float*>(base)[index] = v; break;
        case DataType::bf16: static_cast<std::uint16_t*>(base)[index] = f32_to_bf16(v); break;
        case DataType::s8: static_cast<std::int8_t*>(base)[index] = static_cast<std::int8_t>(v); break;
        case DataType::u8: static_cast<std::uint8_t*>(base)[index] = static_cast<std::uint8_t>(v); break;
        case DataType::f16:
            static_cast<std::uint16_t*>(base)[index] = f32_to_f16(v);
            break;
        case DataType::s32: static_cast<std::int32_t*>(base)[index] = static_cast<std::int32_t>(v); break;
        case DataType::s64: static_cast<std::int64_t*>(base)[index] = static_cast<std::int64_t>(v); break;
        case DataType::boolean: static_cast<std::uint8_t*>(base)[index] = v != 0.f; break;
        case DataType::f64: static_cast<double*>(base)[index] = v; break;
    }
}

}  // namespace

std::size_t dtype_size(DataType dt) {
    switch (dt) {
        case DataType::f32: return 4;
        case DataType::bf16:
        case DataType::f16: return 2;
        case DataType::s8:
        case DataType::u8:
        case DataType::boolean: return 1;
        case DataType::s32: return 4;
        case DataType::s64:
        case DataType::f64: return 8;
    }
    return 0;
}

std::string_view dtype_name(DataType dt) {
    switch (dt) {
        case DataType::f32: return "f32";
        case DataType::bf16: return "bf16";
        case DataType::f16: return "f16";
        case DataType::s8: return "s8";
        case DataType::u8: return "u8";
        case DataType::s32: return "s32";
        case DataType::s64: return "s64";
        case DataType::boolean: return "bool";
        case DataType::f64: return "f64";
    }
    return "?";
}

DataType parse_dtype(std::string_view name) {
    for (auto dt : all_dtypes)
        if (dtype_name(dt) == name) return dt;
    fail("unknown data type '", name, "' (expected one of f32, bf16, f16, s8, u8, s32, s64, bool, f64)");
}

dnnl::memory::data_type to_dnnl(DataType dt) {
    using dnnl_dt = dnnl::memory::data_type;
    switch (dt) {
        case DataType::f32: return dnnl_dt::f32;
        case DataType::bf16: return dnnl_dt::bf16;
        case DataType::f16: return dnnl_dt::f16;
        case DataType::s8: return dnnl_dt::s8;
        case DataType::u8:
        case DataType::boolean: return dnnl_dt::u8;
        case DataType::s32: return dnnl_dt::s32;
        case DataType::s64:
        case DataType::f64: fail("data type ", dtype_name(dt), " has no oneDNN equivalent (host-only)");
    }
    return dnnl_dt::undef;
}

std::uint16_t f32_to_bf16(float value) {
    auto bits = std::bit_cast<std::uint32_t>(value);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40);  // quiet NaN
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return static_cast<std::uint16_t>(bits >> 16);
}

float bf16_to_f32(std::uint16_t value) { return std::bit_cast<float>(static_cast<std::uint32_t>(value) << 16); }

std::string shape_string(const Shape& shape) {
    std::ostringstream os;
    os << '[';
    for (std::size_t i = 0; i < shape.size(); ++i) os << (i ? "," : "") << shape[i];
    os << ']';
    return os.str();
}

Shape dense_strides(const Shape& shape) {
    Shape strides(shape.size());
    std::int64_t s = 1;
    for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
        strides[d] = s;
        s *= shape[d];
    }
    return strides;
}

Tensor Tensor::empty(std::shared_ptr<Device> device, Shape shape, DataType dtype) {
    if (!device) fail("Tensor::empty: no device given");
    Tensor t;
    t.strides_ = dense_strides(shape);
    check_shape(shape, t.strides_);
    t.shape_ = std::move(shape);
    t.dtype_ = dtype;
    auto md = make_desc(t.shape_, t.strides_, dtype);
    if (device->kind() == DeviceKind::cpu) {
        t.storage_ = aligned_storage(std::max<std::size_t>(md.get_size(), 1));
        t.memory_ = dnnl::memory(md, device->engine(), t.storage_.get());
    } else {
        t.memory_ = dnnl::memory(md, device->engine());  // device allocation, kept alive by memory_ itself
        alloc_count.fetch_add(1, std::memory_order_relaxed);
        alloc_bytes.fetch_add(md.get_size(), std::memory_order_relaxed);
    }
    t.owned_ = true;
    t.device_ = std::move(device);
    return t;
}

Tensor Tensor::borrow(std::shared_ptr<Device> device, void* data, Shape shape, DataType dtype, Shape strides) {
    if (!device) fail("Tensor::borrow: no device given");
    if (device->kind() != DeviceKind::cpu)
        fail("Tensor::borrow: host memory cannot be borrowed by device '", device->name(),
             "'; allocate with Tensor::empty and copy_from_f32");
    if (!data) fail("Tensor::borrow: null data pointer for shape ", shape_string(shape));
    Tensor t;
    t.strides_ = strides.empty() ? dense_strides(shape) : std::move(strides);
    check_shape(shape, t.strides_);
    t.shape_ = std::move(shape);
    t.dtype_ = dtype;
    t.memory_ = dnnl::memory(make_desc(t.shape_, t.strides_, dtype), device->engine(), data);
    t.device_ = std::move(device);
    return t;
}

std::int64_t Tensor::dim(int axis) const {
    int n = ndim();
    int a = axis < 0 ? axis + n : axis;
    if (a < 0 || a >= n) fail(describe(), ": axis ", axis, " out of range");
    return shape_[a];
}

std::int64_t Tensor::numel() const {
    std::int64_t n = 1;
    for (auto d : shape_) n *= d;
    return n;
}

void* Tensor::data() const {
    if (!defined()) fail("data() of an undefined tensor");
    if (device_->kind() != DeviceKind::cpu)
        fail(describe(), " lives on device '", device_->name(), "': use to_f32()/copy_from_f32() for host access");
    return memory_.get_data_handle();
}

Tensor Tensor::view(Shape shape, Shape strides, std::int64_t offset) const {
    if (!defined()) fail("view() of an undefined tensor");
    if (strides.empty()) strides = dense_strides(shape);
    check_shape(shape, strides);
    if (device_->kind() != DeviceKind::cpu)
        fail(describe(), ": views are CPU-only (device '", device_->name(), "')");
    Tensor t;
    t.device_ = device_;
    t.storage_ = storage_;
    t.owned_ = owned_;
    t.shape_ = std::move(shape);
    t.strides_ = std::move(strides);
    t.dtype_ = dtype_;
    auto* base = static_cast<char*>(memory_.get_data_handle()) + offset * static_cast<std::int64_t>(dtype_size(dtype_));
    t.memory_ = dnnl::memory(make_desc(t.shape_, t.strides_, dtype_), device_->engine(), base);
    return t;
}

// Calls f(host pointer to element 0), mapping device memory for the duration where needed.
template <class F>
void with_host_data(const dnnl::memory& memory, DeviceKind kind, F&& f) {
    if (kind == DeviceKind::cpu) return f(memory.get_data_handle());
    dnnl::memory m = memory;
    void* p = m.map_data<void>();
    f(p);
    m.unmap_data(p);
}

std::vector<float> Tensor::to_f32() const {
    if (!defined()) fail("to_f32() of an undefined tensor");
    std::vector<float> out(static_cast<std::size_t>(numel()));
    with_host_data(memory_, device_->kind(), [&](const void* base) {
        for (std::int64_t i = 0; i < numel(); ++i)
            out[static_cast<std::size_t>(i)] = load_as_f32(base, strided_offset(i, shape_, strides_), dtype_);
    });
    return out;
}

void Tensor::copy_from_f32(std::span<const float> values) {
    if (!defined()) fail("copy_from_f32() into an undefined tensor");
    if (static_cast<std::int64_t>(values.size()) != numel())
        fail(describe(), ": copy_from_f32 got ", values.size(), " values, expected ", numel());
    with_host_data(memory_, device_->kind(), [&](void* base) {
        for (std::int64_t i = 0; i < numel(); ++i)
            store_from_f32(base, strided_offset(i, shape_, strides_), dtype_, values[static_cast<std::size_t>(i)]);
    });
}

std::string Tensor::describe() const {
    std::ostringstream os;
    os << "tensor " << shape_string(shape_) << ' ' << dtype_name(dtype_);
    return os.str();
}

void* Workspace::get(std::size_t slot, std::size_t bytes) {
    if (slot >= slots_.size()) slots_.resize(slot + 1);
    Slot& s = slots_[slot];
    if (s.bytes < bytes) {
        s.data = aligned_storage(bytes);
        s.bytes = bytes;
    }
    return s.data.get();
}

AllocationStats allocation_stats() {
    return {alloc_count.load(std::memory_order_relaxed), alloc_bytes.load(std::memory_order_relaxed)};
}

}  // namespace xmodal
