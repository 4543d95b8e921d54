#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "xmodal/device.hpp"
#include "support/error_of.hpp"
#include "xmodal/error.hpp"
#include "xmodal/log.hpp"
#include "xmodal/primitive_cache.hpp"
#include "xmodal/safetensors.hpp"
#include "xmodal/tensor.hpp"

namespace xmodal {
namespace {

using testing::error_of;

TEST(Device, CpuIsDefaultAndShared) {
    auto a = Device::open();
    auto b = Device::open("cpu");
    EXPECT_EQ(a, b);
    EXPECT_EQ(a->kind(), DeviceKind::cpu);
    EXPECT_EQ(a->name(), "cpu");
    EXPECT_NE(Device::inventory().find("cpu ("), std::string::npos);
}

TEST(Device, UnknownSpecsSayWhatIsAvailable) {
    auto msg = error_of([] { Device::open("tpu"); });
    EXPECT_NE(msg.find("unknown device 'tpu'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("available: cpu"), std::string::npos) << msg;
    msg = error_of([] { Device::open("gpu:x"); });
    EXPECT_NE(msg.find("expected gpu:N"), std::string::npos) << msg;
    msg = error_of([] { Device::open("gpu:-1"); });
    EXPECT_NE(msg.find("expected gpu:N"), std::string::npos) << msg;
}

TEST(Device, MissingGpuIsAnErrorThatSaysWhatWasFound) {
    if (Device::inventory().find("gpu: none") == std::string::npos) GTEST_SKIP() << "a GPU is present";
    auto msg = error_of([] { Device::open("gpu"); });
    EXPECT_NE(msg.find("device 'gpu' is not available"), std::string::npos) << msg;
    EXPECT_NE(msg.find("0 GPU devices"), std::string::npos) << msg;
    msg = error_of([] { Device::open("gpu:3"); });
    EXPECT_NE(msg.find("device 'gpu:3' is not available"), std::string::npos) << msg;
}

TEST(Device, Bf16ResolvesToF32WithAWarningWithoutNativeSupport) {
    auto device = Device::open("cpu");
    std::vector<std::string> warnings;
    set_log_sink([&](LogLevel level, const std::string& m) {
        if (level == LogLevel::warning) warnings.push_back(m);
    });
    DataType got = resolve_compute_type(*device, DataType::bf16, "test");
    set_log_sink(nullptr);
    if (device->native_bf16()) {
        EXPECT_EQ(got, DataType::bf16);
        EXPECT_TRUE(warnings.empty());
    } else {
        EXPECT_EQ(got, DataType::f32);
        ASSERT_EQ(warnings.size(), 1u);
        EXPECT_NE(warnings[0].find("no native bf16"), std::string::npos) << warnings[0];
    }
    EXPECT_THROW(resolve_compute_type(*device, DataType::s8, "test"), Error);
}

TEST(Device, ForcedIsaWithoutBf16FallsBack) {
    // Run by meson with ONEDNN_MAX_CPU_ISA=AVX2 (see tests/meson.build); otherwise nothing to force.
    const char* isa = std::getenv("ONEDNN_MAX_CPU_ISA");
    if (!isa || std::string(isa) != "AVX2") GTEST_SKIP() << "needs ONEDNN_MAX_CPU_ISA=AVX2";
    auto device = Device::open("cpu");
    EXPECT_FALSE(device->native_bf16());
    EXPECT_EQ(resolve_compute_type(*device, DataType::bf16, "test"), DataType::f32);
}

TEST(Tensor, DtypesNamesAndSizes) {
    EXPECT_EQ(parse_dtype("bf16"), DataType::bf16);
    EXPECT_EQ(dtype_size(DataType::f16), 2u);
    EXPECT_EQ(dtype_size(DataType::u8), 1u);
    auto msg = error_of([] { parse_dtype("c64"); });
    EXPECT_NE(msg.find("unknown data type 'c64'"), std::string::npos) << msg;
    EXPECT_EQ(parse_dtype("s64"), DataType::s64);
    EXPECT_EQ(dtype_size(DataType::s64), 8u);
    EXPECT_THROW(to_dnnl(DataType::s64), Error);  // host-only type
}

TEST(Tensor, Bf16RoundsToNearestEven) {
    EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(bf16_to_f32(f32_to_bf16(3.140625f)), 3.140625f);  // exactly representable
    // 1 + 2^-8 is half-way between two bf16 values: ties go to the even mantissa (1.0).
    EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + std::ldexp(1.0f, -8))), 1.0f);
    EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8))), 1.0f + std::ldexp(1.0f, -6));
    EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

TEST(Tensor, RoundTripsEveryDtype) {
    auto device = Device::open("cpu");
    std::vector<float> values = {0.f, 1.f, -2.f, 3.f, 100.f, 7.f};
    for (auto dt : {DataType::f32, DataType::bf16, DataType::f16, DataType::s8, DataType::s32, DataType::s64, DataType::f64}) {
        auto t = Tensor::empty(device, {2, 3}, dt);
        t.copy_from_f32(values);
        EXPECT_EQ(t.to_f32(), values) << dtype_name(dt);
    }
    auto h = Tensor::empty(device, {3}, DataType::f16);
    h.copy_from_f32(std::vector<float>{0.1f, 65504.f, 1e-6f});
    auto back = h.to_f32();
    EXPECT_NEAR(back[0], 0.1f, 1e-4);
    EXPECT_EQ(back[1], 65504.f);
    EXPECT_NEAR(back[2], 1e-6f, 1e-7);
}

TEST(Tensor, F16WeightsReadBack) {
    HostTensor t;
    t.dtype = DataType::f16;
    t.shape = {3};
    for (float v : {1.5f, -2.f, 0.0999755859375f}) {  // the last is exactly representable in f16
        std::uint16_t h = f32_to_f16(v);
        t.bytes.push_back(static_cast<std::uint8_t>(h & 0xff));
        t.bytes.push_back(static_cast<std::uint8_t>(h >> 8));
    }
    EXPECT_EQ(t.bytes[0], 0x00);
    EXPECT_EQ(t.bytes[1], 0x3e);  // 1.5 = 0x3e00
    EXPECT_EQ(t.to_f32(), (std::vector<float>{1.5f, -2.f, 0.0999755859375f}));
}

TEST(Tensor, BorrowedStridedViews) {
    auto device = Device::open("cpu");
    std::vector<float> storage = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    auto t = Tensor::borrow(device, storage.data(), {3, 4}, DataType::f32);
    EXPECT_FALSE(t.owns_memory());
    EXPECT_TRUE(t.is_dense());
    auto transposed = t.view({4, 3}, {1, 4});
    EXPECT_FALSE(transposed.is_dense());
    EXPECT_EQ(transposed.to_f32(), (std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
    auto column2 = t.view({3}, {4}, 2);
    EXPECT_EQ(column2.to_f32(), (std::vector<float>{2, 6, 10}));
    column2.copy_from_f32(std::vector<float>{-1, -2, -3});
    EXPECT_EQ(storage[2], -1);
    EXPECT_EQ(storage[10], -3);
    auto msg = error_of([&] { t.copy_from_f32(std::vector<float>{1, 2}); });
    EXPECT_NE(msg.find("got 2 values, expected 12"), std::string::npos) << msg;
}

TEST(Tensor, OwnedStorageOutlivesTheOriginalHandle) {
    auto device = Device::open("cpu");
    Tensor view;
    {
        auto t = Tensor::empty(device, {4}, DataType::f32);
        EXPECT_TRUE(t.owns_memory());
        t.copy_from_f32(std::vector<float>{1, 2, 3, 4});
        view = t.view({2}, {2}, 1);
    }
    EXPECT_EQ(view.to_f32(), (std::vector<float>{2, 4}));
}

TEST(PrimitiveCache, CreatesOncePerKey) {
    PrimitiveCache cache;
    auto device = Device::open("cpu");
    int made = 0;
    auto make = [&] {
        ++made;
        dnnl::memory::desc md({4}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::a);
        dnnl::reorder::primitive_desc pd(device->engine(), md, device->engine(), md);
        return make_cached<dnnl::reorder>(pd);
    };
    cache.get("a", make);
    cache.get("a", make);
    cache.get("b", make);
    EXPECT_EQ(made, 2);
    EXPECT_EQ(cache.stats().created, 2u);
    EXPECT_EQ(cache.stats().hits, 1u);
    EXPECT_EQ(cache.stats().entries, 2u);
}

TEST(PrimitiveCache, KeysDistinguishLayoutsAndTypes) {
    using dt = dnnl::memory::data_type;
    dnnl::memory::desc a({2, 3}, dt::f32, dnnl::memory::format_tag::ab);
    dnnl::memory::desc b({2, 3}, dt::f32, dnnl::memory::format_tag::ba);
    dnnl::memory::desc c({2, 3}, dt::bf16, dnnl::memory::format_tag::ab);
    dnnl::memory::desc d({2, 3}, dt::f32, dnnl::memory::format_tag::any);
    EXPECT_NE(key_of(a), key_of(b));
    EXPECT_NE(key_of(a), key_of(c));
    EXPECT_NE(key_of(a), key_of(d));
    EXPECT_EQ(key_of(a), key_of(dnnl::memory::desc({2, 3}, dt::f32, dnnl::memory::dims{3, 1})));
}

}  // namespace
}  // namespace xmodal
