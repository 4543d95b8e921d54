// Tensor: a shape, a data type, strides, and memory on a device (owned or borrowed).
//
// A Tensor is a thin, copyable handle around a dnnl::memory, so it can be passed straight to oneDNN
// primitives. Owned tensors share their storage between copies (like a shared_ptr); borrowed tensors
// point at memory the caller keeps alive (GStreamer buffer maps, caller arrays).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

namespace xmodal {

class Device;

// f32/bf16/f16/s8/u8/s32 are oneDNN types; s64, boolean and f64 exist for model graphs (shapes,
// indices, masks) and are handled on the host.
enum class DataType : std::uint8_t { f32, bf16, f16, s8, u8, s32, s64, boolean, f64 };
inline constexpr DataType all_dtypes[] = {DataType::f32, DataType::bf16, DataType::f16, DataType::s8, DataType::u8,
                                          DataType::s32, DataType::s64, DataType::boolean, DataType::f64};

std::size_t dtype_size(DataType dt);
std::string_view dtype_name(DataType dt);
DataType parse_dtype(std::string_view name);  // "f32", "bf16", ...; throws naming the value
dnnl::memory::data_type to_dnnl(DataType dt);    // throws for s64, boolean, f64 (no oneDNN type)

// bf16 <-> f32 with round-to-nearest-even, as oneDNN and PyTorch convert.
std::uint16_t f32_to_bf16(float value);
float bf16_to_f32(std::uint16_t value);
// IEEE binary16 <-> f32 on the host (oneDNN converts on the device path).
std::uint16_t f32_to_f16(float value);
float f16_to_f32(std::uint16_t value);

using Shape = std::vector<std::int64_t>;
std::string shape_string(const Shape& shape);  // "[1,8,1024,64]"
Shape dense_strides(const Shape& shape);        // row-major strides in elements

class Tensor {
public:
    Tensor() = default;

    // Dense row-major tensor allocated on the device (64-byte aligned on CPU).
    static Tensor empty(std::shared_ptr<Device> device, Shape shape, DataType dtype);
    // Borrows caller memory; strides in elements (empty = dense). CPU devices only.
    static Tensor borrow(std::shared_ptr<Device> device, void* data, Shape shape, DataType dtype,
                         Shape strides = {});

    bool defined() const { return static_cast<bool>(memory_); }
    const Shape& shape() const { return shape_; }
    const Shape& strides() const { return strides_; }
    int ndim() const { return static_cast<int>(shape_.size()); }
    std::int64_t dim(int axis) const;  // negative axes count from the end
    std::int64_t numel() const;
    DataType dtype() const { return dtype_; }
    bool owns_memory() const { return owned_; }
    bool is_dense() const { return strides_ == dense_strides(shape_); }
    const std::shared_ptr<Device>& device() const { return device_; }

    // Host pointer to element 0 (CPU devices only; throws on GPU).
    void* data() const;
    template <class T>
    T* data_as() const { return static_cast<T*>(data()); }

    // oneDNN descriptor (for s64/f64, which oneDNN lacks, a byte span: use shape()/strides()).
    dnnl::memory::desc desc() const { return memory_.get_desc(); }
    const dnnl::memory& memory() const { return memory_; }

    // A view of the same memory: other shape/strides, starting `offset` elements in. Keeps owned
    // storage alive. CPU only.
    Tensor view(Shape shape, Shape strides, std::int64_t offset = 0) const;

    // Copies out to a dense f32 vector / in from one (any dtype, strides, device).
    std::vector<float> to_f32() const;
    void copy_from_f32(std::span<const float> values);

    // "tensor [1,8,32,64] bf16"
    std::string describe() const;

private:
    std::shared_ptr<Device> device_;
    std::shared_ptr<void> storage_;  // CPU allocation this tensor (or the tensor it views) made
    bool owned_ = false;             // allocated by Tensor::empty rather than borrowed
    dnnl::memory memory_;
    Shape shape_, strides_;
    DataType dtype_ = DataType::f32;
};

// Growing scratch buffers for operators: steady state reuses them, so a forward pass allocates
// nothing once the largest shape has been seen. CPU memory, 64-byte aligned.
class Workspace {
public:
    void* get(std::size_t slot, std::size_t bytes);

private:
    struct Slot {
        std::shared_ptr<void> data;
        std::size_t bytes = 0;
    };
    std::vector<Slot> slots_;
};

// Process-wide counters of large allocations made by Tensor::empty and Workspace growth; tests
// use them to check that steady-state execution allocates nothing.
struct AllocationStats {
    std::uint64_t count;
    std::uint64_t bytes;
};
AllocationStats allocation_stats();

}  // namespace xmodal
