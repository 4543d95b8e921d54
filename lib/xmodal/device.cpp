#include "xmodal/device.hpp"

#include <charconv>
#include <map>
#include <mutex>
#include <sstream>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "xmodal/error.hpp"
#include "xmodal/log.hpp"
#include "xmodal/primitive_cache.hpp"

namespace xmodal {
namespace {

const char* gpu_runtime_name() {
#if DNNL_GPU_RUNTIME == DNNL_RUNTIME_OCL
    return "OpenCL";
#elif DNNL_GPU_RUNTIME == DNNL_RUNTIME_SYCL
    return "SYCL";
#else
    return "none";
#endif
}

std::size_t gpu_count() {
#if DNNL_GPU_RUNTIME == DNNL_RUNTIME_NONE
    return 0;
#else
    try {
        return dnnl::engine::get_count(dnnl::engine::kind::gpu);
    } catch (const dnnl::error&) {
        return 0;
    }
#endif
}

const char* isa_name(dnnl::cpu_isa isa) {
    using I = dnnl::cpu_isa;
    switch (isa) {
        case I::sse41: return "sse41";
        case I::avx: return "avx";
        case I::avx2: return "avx2";
        case I::avx2_vnni: return "avx2_vnni";
        case I::avx512_mic: return "avx512_mic";
        case I::avx512_mic_4ops: return "avx512_mic_4ops";
        case I::avx512_core: return "avx512_core";
        case I::avx512_core_vnni: return "avx512_core_vnni";
        case I::avx512_core_bf16: return "avx512_core_bf16";
        case I::avx512_core_amx: return "avx512_core_amx";
        default: return "unknown";
    }
}

int cpu_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

}  // namespace

Device::Device(DeviceKind kind, int index, dnnl::engine engine)
    : kind_(kind),
      index_(index),
      name_(kind == DeviceKind::cpu ? "cpu" : "gpu:" + std::to_string(index)),
      engine_(std::move(engine)),
      cache_(std::make_unique<PrimitiveCache>()) {}

Device::~Device() = default;

std::shared_ptr<Device> Device::open(std::string_view spec) {
    DeviceKind kind;
    int index = 0;
    if (spec.empty() || spec == "cpu") {
        kind = DeviceKind::cpu;
    } else if (spec == "gpu") {
        kind = DeviceKind::gpu;
    } else if (spec.starts_with("gpu:")) {
        kind = DeviceKind::gpu;
        auto digits = spec.substr(4);
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
        if (ec != std::errc() || end != digits.data() + digits.size() || index < 0)
            fail("device '", spec, "': expected gpu:N with N a GPU index >= 0");
    } else {
        fail("unknown device '", spec, "' (expected cpu, gpu or gpu:N); available: ", inventory());
    }

    static std::mutex registry_mutex;
    static std::map<std::string, std::weak_ptr<Device>> registry;
    std::string key = kind == DeviceKind::cpu ? "cpu" : "gpu:" + std::to_string(index);
    std::lock_guard lock(registry_mutex);
    if (auto existing = registry[key].lock()) return existing;

    if (kind == DeviceKind::gpu && static_cast<std::size_t>(index) >= gpu_count())
        fail("device '", spec, "' is not available: ", inventory());
    auto device = std::make_shared<Device>(
        kind, index, dnnl::engine(kind == DeviceKind::cpu ? dnnl::engine::kind::cpu : dnnl::engine::kind::gpu, index));
    registry[key] = device;
    return device;
}

bool Device::native_bf16() const {
    if (kind_ == DeviceKind::gpu) return true;
    auto isa = dnnl::get_effective_cpu_isa();
    return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

std::string Device::isa() const { return kind_ == DeviceKind::cpu ? isa_name(dnnl::get_effective_cpu_isa()) : "gpu"; }

std::string Device::inventory() {
    std::ostringstream os;
    os << "cpu (" << isa_name(dnnl::get_effective_cpu_isa()) << ", " << cpu_threads() << " threads); gpu: ";
    std::size_t n = gpu_count();
    if (n == 0)
        os << "none";
    else
        os << "gpu:0" << (n > 1 ? " .. gpu:" + std::to_string(n - 1) : std::string());
    os << " (oneDNN " << dnnl_version()->major << '.' << dnnl_version()->minor << '.' << dnnl_version()->patch
       << " GPU runtime: " << gpu_runtime_name() << ", " << n << " GPU device" << (n == 1 ? "" : "s") << ")";
    return os.str();
}

DataType resolve_compute_type(const Device& device, DataType requested, std::string_view who) {
    if (requested == DataType::f32) return DataType::f32;
    if (requested == DataType::bf16) {
        if (device.native_bf16()) return DataType::bf16;
        log(LogLevel::warning, std::string(who) + ": bf16 requested but device '" + device.name() + "' (" + device.isa() +
                                   ") has no native bf16 kernels (needs AVX512-BF16 or AMX); computing in f32");
        return DataType::f32;
    }
    fail(who, ": compute type ", dtype_name(requested), " is not supported (expected f32 or bf16)");
}

}  // namespace xmodal
