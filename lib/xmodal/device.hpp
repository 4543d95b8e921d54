// Device: a oneDNN engine chosen by a string ("cpu", "gpu", "gpu:N"), plus the primitive cache
// shared by everything that runs on it. Opening the same spec twice returns the same Device.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <oneapi/dnnl/dnnl.hpp>

#include "xmodal/tensor.hpp"

namespace xmodal {

class PrimitiveCache;

enum class DeviceKind { cpu, gpu };

class Device {
public:
    // "cpu" (default), "gpu" (= "gpu:0"), "gpu:N". Throws xmodal::Error saying what was found
    // when the device does not exist.
    static std::shared_ptr<Device> open(std::string_view spec = "cpu");

    DeviceKind kind() const { return kind_; }
    int index() const { return index_; }
    const std::string& name() const { return name_; }  // canonical: "cpu", "gpu:0"
    const dnnl::engine& engine() const { return engine_; }
    PrimitiveCache& primitives() const { return *cache_; }

    // True where oneDNN has native bf16 kernels on this device (AVX512-BF16/AMX CPUs, GPUs).
    bool native_bf16() const;
    // oneDNN's effective instruction set on CPU ("avx512_core_amx", ...), "gpu" otherwise.
    std::string isa() const;

    // Every device this process can open, e.g. "cpu (avx512_core_amx, 2 threads); gpu: none
    // (oneDNN GPU runtime: OpenCL, 0 devices)".
    static std::string inventory();

    Device(DeviceKind kind, int index, dnnl::engine engine);
    ~Device();
    Device(const Device&) = delete;
    Device& operator=(const Device&) = delete;

private:
    DeviceKind kind_;
    int index_;
    std::string name_;
    dnnl::engine engine_;
    std::unique_ptr<PrimitiveCache> cache_;
};

// The type an operator should compute in when `requested` is asked for on `device`: bf16 stays
// bf16 only where native_bf16(); otherwise f32, with a warning logged that says why.
DataType resolve_compute_type(const Device& device, DataType requested, std::string_view who);

}  // namespace xmodal
