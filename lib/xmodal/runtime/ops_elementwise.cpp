// Host elementwise operators on plain layouts: unary math, numpy-broadcast binary arithmetic and
// comparisons, Where, Cast, Clip. Large tensors are split across OpenMP threads.
#include <cmath>

#include "xmodal/runtime/host_kernels.hpp"
#include "xmodal/runtime/ops.hpp"

namespace xmodal::rt {

namespace {

constexpr std::int64_t kParallelMin = 1 << 15;

bool is_float(DataType dt) { return dt == DataType::f32 || dt == DataType::f64; }
bool is_integer(DataType dt) {
    return dt == DataType::s64 || dt == DataType::s32 || dt == DataType::s8 || dt == DataType::u8;
}

// y = f(x) elementwise. `floats_only`: integer inputs are an error naming the node.
template <class F>
std::vector<int> unary(NodeContext& c, F f, bool floats_only = true) {
    int x = c.b.plain(c.input(0));
    const Slot& s = c.b.slot(x);
    DataType dt = s.dtype;
    if (floats_only ? !is_float(dt) : !(is_float(dt) || is_integer(dt)))
        fail(c.where(), ": input '", s.name, "' is ", dtype_name(dt), ", expected a ", floats_only ? "float" : "numeric", " tensor");
    int y = c.b.new_slot(c.out_name(0), dt, s.shape);
    c.b.add_step(c.node.describe(), {x}, {y}, [x, y, f, where = c.where()](PlanBuilder& b) -> Runner {
        const Slot &in = b.slot(x), &out = b.slot(y);
        std::int64_t n = in.numel();
        return dispatch_type(in.dtype, where, [&]<class T>() -> Runner {
            if constexpr (std::is_same_v<T, Bool>) {
                return {};
            } else {
                const T* src = in.data<T>();
                T* dst = out.data<T>();
                return [=] {
#pragma omp parallel for if (n > kParallelMin) schedule(static)
                    for (std::int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(f(src[i]));
                };
            }
        });
    });
    return {y};
}

enum class Operands { numeric, floats, integers, booleans, any };

void check_operands(const NodeContext& c, DataType dt, Operands kind) {
    bool ok = kind == Operands::any || (kind == Operands::numeric && (is_float(dt) || is_integer(dt))) ||
              (kind == Operands::floats && is_float(dt)) || (kind == Operands::integers && is_integer(dt)) ||
              (kind == Operands::booleans && dt == DataType::boolean);
    if (!ok) fail(c.where(), ": operands are ", dtype_name(dt), ", which this operator does not take");
}

// out = f(a, b) with numpy broadcasting; `boolean_result` for comparisons.
template <class F>
int broadcast_binary(NodeContext& c, int a_in, int b_in, F f, Operands kind, bool boolean_result, const std::string& out_name) {
    int a = c.b.plain(a_in), b = c.b.plain(b_in);
    const Slot &sa = c.b.slot(a), &sb = c.b.slot(b);
    if (sa.dtype != sb.dtype)
        fail(c.where(), ": operand types differ ('", sa.name, "' is ", dtype_name(sa.dtype), ", '", sb.name, "' is ", dtype_name(sb.dtype), ")");
    check_operands(c, sa.dtype, kind);
    Shape shape = broadcast_shapes(sa.shape, sb.shape, c.where());
    int y = c.b.new_slot(out_name, boolean_result ? DataType::boolean : sa.dtype, shape);
    c.b.add_step(c.node.describe(), {a, b}, {y}, [a, b, y, f, boolean_result, where = c.where()](PlanBuilder& pb) -> Runner {
        const Slot &A = pb.slot(a), &B = pb.slot(b), &Y = pb.slot(y);
        return dispatch_type(A.dtype, where, [&]<class T>() -> Runner {
            auto run = [&]<class Out>() -> Runner {
                const T* pa = A.data<T>();
                const T* pb2 = B.data<T>();
                Out* py = Y.data<Out>();
                std::int64_t n = Y.numel();
                if (A.shape == Y.shape && B.shape == Y.shape)
                    return [=] {
#pragma omp parallel for if (n > kParallelMin) schedule(static)
                        for (std::int64_t i = 0; i < n; ++i) py[i] = static_cast<Out>(f(pa[i], pb2[i]));
                    };
                if (A.shape == Y.shape && B.numel() == 1)
                    return [=] {
                        T v = pb2[0];
#pragma omp parallel for if (n > kParallelMin) schedule(static)
                        for (std::int64_t i = 0; i < n; ++i) py[i] = static_cast<Out>(f(pa[i], v));
                    };
                if (B.shape == Y.shape && A.numel() == 1)
                    return [=] {
                        T v = pa[0];
#pragma omp parallel for if (n > kParallelMin) schedule(static)
                        for (std::int64_t i = 0; i < n; ++i) py[i] = static_cast<Out>(f(v, pb2[i]));
                    };
                std::array<Shape, 2> strides{broadcast_strides(A.shape, Y.shape), broadcast_strides(B.shape, Y.shape)};
                Shape shape = Y.shape;
                return [=] {
                    for_each_broadcast<2>(shape, strides, [&](std::int64_t i, std::int64_t oa, std::int64_t ob) {
                        py[i] = static_cast<Out>(f(pa[oa], pb2[ob]));
                    });
                };
            };
            if (boolean_result) return run.template operator()<Bool>();
            return run.template operator()<T>();
        });
    });
    return y;
}

template <class F>
OpBuilder binary_op(F f, Operands kind, bool boolean_result = false) {
    return [f, kind, boolean_result](NodeContext& c) -> std::vector<int> {
        return {broadcast_binary(c, c.input(0), c.input(1), f, kind, boolean_result, c.out_name(0))};
    };
}

// Max/Min/Sum/Mean take any number of inputs: folded pairwise.
template <class F>
OpBuilder variadic_op(F f, bool mean = false) {
    return [f, mean](NodeContext& c) -> std::vector<int> {
        if (c.in.empty()) fail(c.where(), ": needs at least one input");
        int acc = c.input(0);
        for (std::size_t i = 1; i < c.in.size(); ++i) {
            std::string name = c.out_name(0);
            if (i + 1 < c.in.size() || mean) name.append("/").append(std::to_string(i));
            acc = broadcast_binary(c, acc, c.input(i), f, Operands::numeric, false, name);
        }
        if (mean) {
            float n = static_cast<float>(c.in.size());
            int count = c.b.constant(c.out_name(0) + "/count", DataType::f32, {}, &n);
            acc = broadcast_binary(c, acc, count, [](auto x, auto y) { return x / y; }, Operands::floats, false, c.out_name(0));
        }
        if (c.in.size() == 1) acc = c.b.plain(acc);
        return {acc};
    };
}

template <class To, class From>
To convert_value(From v) {
    if constexpr (std::is_same_v<To, Bool>) return static_cast<Bool>(v != From{});
    else return static_cast<To>(v);
}

}  // namespace

int cast_slot(PlanBuilder& b, int id, DataType to, const std::string& name, const std::string& where) {
    int x = b.plain(id);
    const Slot& s = b.slot(x);
    if (s.dtype == to) return x;
    if (to == DataType::bf16 || to == DataType::f16) return b.plain(x, to);
    int y = b.new_slot(name, to, s.shape);
    b.add_step("Cast '" + s.name + "' to " + std::string(dtype_name(to)), {x}, {y}, [x, y, where](PlanBuilder& pb) -> Runner {
        const Slot &in = pb.slot(x), &out = pb.slot(y);
        std::int64_t n = in.numel();
        return dispatch_type(in.dtype, where, [&]<class From>() -> Runner {
            return dispatch_type(out.dtype, where, [&]<class To>() -> Runner {
                const From* src = in.data<From>();
                To* dst = out.data<To>();
                return [=] {
                    for (std::int64_t i = 0; i < n; ++i) dst[i] = convert_value<To>(src[i]);
                };
            });
        });
    });
    return y;
}

void register_elementwise_ops(std::map<std::string, OpBuilder>& ops) {
    auto f = [](auto fn) { return [fn](NodeContext& c) { return unary(c, fn); }; };
    ops["Sigmoid"] = f([](auto x) { return 1 / (1 + std::exp(-x)); });
    ops["Tanh"] = f([](auto x) { return std::tanh(x); });
    ops["Exp"] = f([](auto x) { return std::exp(x); });
    ops["Log"] = f([](auto x) { return std::log(x); });
    ops["Sqrt"] = f([](auto x) { return std::sqrt(x); });
    ops["Reciprocal"] = f([](auto x) { return 1 / x; });
    ops["Erf"] = f([](auto x) { return std::erf(x); });
    ops["Floor"] = f([](auto x) { return std::floor(x); });
    ops["Ceil"] = f([](auto x) { return std::ceil(x); });
    ops["Round"] = f([](auto x) { return std::nearbyint(x); });
    ops["Sin"] = f([](auto x) { return std::sin(x); });
    ops["Cos"] = f([](auto x) { return std::cos(x); });
    ops["Softplus"] = f([](auto x) { return x > 20 ? x : std::log1p(std::exp(x)); });
    ops["Softsign"] = f([](auto x) { return x / (1 + std::abs(x)); });
    ops["HardSwish"] = f([](auto x) { return x * std::clamp<decltype(x)>(x / 6 + decltype(x)(0.5), 0, 1); });
    ops["Relu"] = [](NodeContext& c) { return unary(c, [](auto x) { return x > 0 ? x : decltype(x){}; }, false); };
    ops["Neg"] = [](NodeContext& c) { return unary(c, [](auto x) { return -x; }, false); };
    ops["Abs"] = [](NodeContext& c) { return unary(c, [](auto x) { return x < 0 ? -x : x; }, false); };
    ops["Sign"] = [](NodeContext& c) { return unary(c, [](auto x) { return decltype(x)((x > 0) - (x < 0)); }, false); };
    ops["LeakyRelu"] = [](NodeContext& c) {
        double alpha = c.node.attr_float("alpha", 0.01f);
        return unary(c, [alpha](auto x) { return x >= 0 ? x : decltype(x)(x * alpha); });
    };
    ops["Elu"] = [](NodeContext& c) {
        double alpha = c.node.attr_float("alpha", 1.f);
        return unary(c, [alpha](auto x) { return x >= 0 ? x : decltype(x)(alpha * (std::exp(x) - 1)); });
    };
    ops["HardSigmoid"] = [](NodeContext& c) {
        double alpha = c.node.attr_float("alpha", 0.2f), beta = c.node.attr_float("beta", 0.5f);
        return unary(c, [alpha, beta](auto x) { return decltype(x)(std::clamp(alpha * x + beta, 0.0, 1.0)); });
    };
    ops["Gelu"] = [](NodeContext& c) {
        if (c.node.attr_string("approximate", "none") == "tanh")
            return unary(c, [](auto x) {
                return decltype(x)(0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))));
            });
        return unary(c, [](auto x) { return decltype(x)(0.5 * x * (1 + std::erf(x * 0.7071067811865476))); });
    };
    ops["Not"] = [](NodeContext& c) -> std::vector<int> {
        int x = c.b.plain(c.input(0));
        if (c.b.slot(x).dtype != DataType::boolean) fail(c.where(), ": expected a bool tensor");
        int y = c.b.new_slot(c.out_name(0), DataType::boolean, c.b.slot(x).shape);
        c.b.add_step(c.node.describe(), {x}, {y}, [x, y](PlanBuilder& b) -> Runner {
            const Bool* src = b.slot(x).data<Bool>();
            Bool* dst = b.slot(y).data<Bool>();
            std::int64_t n = b.slot(x).numel();
            return [=] {
                for (std::int64_t i = 0; i < n; ++i) dst[i] = !src[i];
            };
        });
        return {y};
    };

    ops["Add"] = binary_op([](auto a, auto b) { return a + b; }, Operands::numeric);
    ops["Sub"] = binary_op([](auto a, auto b) { return a - b; }, Operands::numeric);
    ops["Mul"] = binary_op([](auto a, auto b) { return a * b; }, Operands::numeric);
    ops["Div"] = binary_op([](auto a, auto b) { return a / b; }, Operands::numeric);
    ops["Equal"] = binary_op([](auto a, auto b) { return a == b; }, Operands::any, true);
    ops["Less"] = binary_op([](auto a, auto b) { return a < b; }, Operands::numeric, true);
    ops["Greater"] = binary_op([](auto a, auto b) { return a > b; }, Operands::numeric, true);
    ops["LessOrEqual"] = binary_op([](auto a, auto b) { return a <= b; }, Operands::numeric, true);
    ops["GreaterOrEqual"] = binary_op([](auto a, auto b) { return a >= b; }, Operands::numeric, true);
    ops["And"] = binary_op([](auto a, auto b) { return a && b; }, Operands::booleans, true);
    ops["Or"] = binary_op([](auto a, auto b) { return a || b; }, Operands::booleans, true);
    ops["Xor"] = binary_op([](auto a, auto b) { return bool(a) != bool(b); }, Operands::booleans, true);
    ops["Max"] = variadic_op([](auto a, auto b) { return a > b ? a : b; });
    ops["Min"] = variadic_op([](auto a, auto b) { return a < b ? a : b; });
    ops["Sum"] = variadic_op([](auto a, auto b) { return a + b; });
    ops["Mean"] = variadic_op([](auto a, auto b) { return a + b; }, true);
    ops["Pow"] = [](NodeContext& c) -> std::vector<int> {
        int base = c.b.plain(c.input(0));
        DataType dt = c.b.slot(base).dtype;
        if (!is_float(dt)) fail(c.where(), ": base is ", dtype_name(dt), ", expected a float tensor");
        int exponent = cast_slot(c.b, c.input(1), dt, c.out_name(0) + "/exponent", c.where());
        // x^2 and x^0.5 are common (variance, norms): exact fast paths.
        if (c.b.slot(exponent).constant && c.b.slot(exponent).numel() == 1) {
            double e = c.b.const_floats(exponent, "exponent")[0];
            if (e == 2) return {broadcast_binary(c, base, base, [](auto a, auto b) { return a * b; }, Operands::floats, false, c.out_name(0))};
        }
        return {broadcast_binary(c, base, exponent, [](auto a, auto b) { return std::pow(a, b); }, Operands::floats, false, c.out_name(0))};
    };
    ops["Mod"] = [](NodeContext& c) -> std::vector<int> {
        if (c.node.attr_int("fmod", 0))
            return {broadcast_binary(c, c.input(0), c.input(1), [](auto a, auto b) { return std::fmod(a, b); }, Operands::floats, false, c.out_name(0))};
        return {broadcast_binary(c, c.input(0), c.input(1), [](auto a, auto b) {
            using T = decltype(a);
            if constexpr (std::is_floating_point_v<T>) { T r = std::fmod(a, b); return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r; }
            else { T r = static_cast<T>(a % b); return (r != 0 && ((r < 0) != (b < 0))) ? static_cast<T>(r + b) : r; }
        }, Operands::integers, false, c.out_name(0))};
    };

    ops["Where"] = [](NodeContext& c) -> std::vector<int> {
        int cond = c.b.plain(c.input(0)), x = c.b.plain(c.input(1)), y = c.b.plain(c.input(2));
        const Slot &sc = c.b.slot(cond), &sx = c.b.slot(x), &sy = c.b.slot(y);
        if (sc.dtype != DataType::boolean) fail(c.where(), ": condition is ", dtype_name(sc.dtype), ", expected bool");
        if (sx.dtype != sy.dtype) fail(c.where(), ": X is ", dtype_name(sx.dtype), " but Y is ", dtype_name(sy.dtype));
        Shape shape = broadcast_shapes(broadcast_shapes(sc.shape, sx.shape, c.where()), sy.shape, c.where());
        int out = c.b.new_slot(c.out_name(0), sx.dtype, shape);
        c.b.add_step(c.node.describe(), {cond, x, y}, {out}, [cond, x, y, out, where = c.where()](PlanBuilder& b) -> Runner {
            const Slot &C = b.slot(cond), &X = b.slot(x), &Y = b.slot(y), &O = b.slot(out);
            std::array<Shape, 3> strides{broadcast_strides(C.shape, O.shape), broadcast_strides(X.shape, O.shape), broadcast_strides(Y.shape, O.shape)};
            return dispatch_type(X.dtype, where, [&]<class T>() -> Runner {
                const Bool* pc = C.data<Bool>();
                const T* px = X.data<T>();
                const T* py = Y.data<T>();
                T* po = O.data<T>();
                Shape shape = O.shape;
                return [=] {
                    for_each_broadcast<3>(shape, strides, [&](std::int64_t i, std::int64_t oc, std::int64_t ox, std::int64_t oy) {
                        po[i] = pc[oc] ? px[ox] : py[oy];
                    });
                };
            });
        });
        return {out};
    };

    ops["Cast"] = [](NodeContext& c) -> std::vector<int> {
        auto to = c.node.attr_int("to", -1);
        // ONNX TensorProto.DataType numbers.
        DataType dt;
        switch (to) {
            case 1: dt = DataType::f32; break;
            case 2: dt = DataType::u8; break;
            case 3: dt = DataType::s8; break;
            case 6: dt = DataType::s32; break;
            case 7: dt = DataType::s64; break;
            case 9: dt = DataType::boolean; break;
            case 10: dt = DataType::f16; break;
            case 11: dt = DataType::f64; break;
            case 16: dt = DataType::bf16; break;
            default: fail(c.where(), ": attribute 'to' = ", to, " is not a supported type");
        }
        int y = cast_slot(c.b, c.input(0), dt, c.out_name(0), c.where());
        return {y == c.input(0) ? c.b.alias(y, c.out_name(0), c.b.slot(y).shape) : y};
    };

    ops["Clip"] = [](NodeContext& c) -> std::vector<int> {
        double lo = -INFINITY, hi = INFINITY;
        if (c.node.attributes.count("min")) lo = c.node.attr_float("min", 0);
        if (c.node.attributes.count("max")) hi = c.node.attr_float("max", 0);
        if (c.has(1)) lo = c.b.const_floats(c.input(1), "Clip min")[0];
        if (c.has(2)) hi = c.b.const_floats(c.input(2), "Clip max")[0];
        return unary(c, [lo, hi](auto x) { return x < lo ? decltype(x)(lo) : x > hi ? decltype(x)(hi) : x; }, false);
    };
}

}  // namespace xmodal::rt
