// Internal to the model runtime: helpers shared by the host (plain-layout) operators.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>

#include "xmodal/runtime/plan.hpp"

namespace xmodal::rt {

using Bool = std::uint8_t;  // storage of DataType::boolean

// Calls f.template operator()<T>() with T the C++ type of `dt` (bf16/f16 are not host types:
// operators get them as f32 through PlanBuilder::plain).
template <class F>
decltype(auto) dispatch_type(DataType dt, const std::string& where, F&& f) {
    switch (dt) {
        case DataType::f32: return f.template operator()<float>();
        case DataType::f64: return f.template operator()<double>();
        case DataType::s64: return f.template operator()<std::int64_t>();
        case DataType::s32: return f.template operator()<std::int32_t>();
        case DataType::s8: return f.template operator()<std::int8_t>();
        case DataType::u8: return f.template operator()<std::uint8_t>();
        case DataType::boolean: return f.template operator()<Bool>();
        default: break;
    }
    fail(where, ": element type ", dtype_name(dt), " is not supported here");
}

// Row-major strides with 0 on broadcast dimensions: `shape` aligned right against `out`.
inline Shape broadcast_strides(const Shape& shape, const Shape& out) {
    Shape strides(out.size(), 0);
    std::int64_t s = 1;
    for (std::size_t k = 0; k < shape.size(); ++k) {
        std::size_t i = shape.size() - 1 - k, o = out.size() - 1 - k;
        strides[o] = shape[i] == 1 ? 0 : s;
        s *= shape[i];
    }
    return strides;
}

// Visits every output element of a broadcast op with the offsets of each operand:
// f(out_index, offset_0, ..., offset_{N-1}). The innermost dimension is a plain loop.
template <std::size_t N, class F>
void for_each_broadcast(const Shape& out, const std::array<Shape, N>& strides, F&& f) {
    std::size_t rank = out.size();
    std::int64_t total = static_cast<std::int64_t>(element_count(out));
    if (total == 0) return;
    if (rank == 0) {
        std::array<std::int64_t, N> off{};
        std::apply([&](auto... o) { f(0, o...); }, off);
        return;
    }
    std::int64_t inner = out[rank - 1];
    std::int64_t outer = total / inner;
#pragma omp parallel for if (total > (1 << 16)) schedule(static)
    for (std::int64_t row = 0; row < outer; ++row) {
        std::array<std::int64_t, N> base{};
        std::int64_t rem = row;
        for (std::size_t d = rank - 1; d-- > 0;) {
            std::int64_t idx = rem % out[d];
            rem /= out[d];
            for (std::size_t k = 0; k < N; ++k) base[k] += idx * strides[k][d];
        }
        for (std::int64_t x = 0; x < inner; ++x) {
            std::array<std::int64_t, N> off;
            for (std::size_t k = 0; k < N; ++k) off[k] = base[k] + x * strides[k][rank - 1];
            std::apply([&](auto... o) { f(row * inner + x, o...); }, off);
        }
    }
}

}  // namespace xmodal::rt
