// Every operator of the model runtime against a naive double-precision reference written from the
// ONNX operator specifications, on small graphs built in code with fixed-seed random inputs. Also
// the planner's fusions (Conv post-ops, oneDNN layouts kept across ops), If specialisation, plan
// caching, arena reuse, and the runtime's error messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "support/error_of.hpp"
#include "xmodal/device.hpp"
#include "xmodal/error.hpp"
#include "xmodal/graph.hpp"
#include "xmodal/runtime.hpp"

namespace xmodal {
namespace {

using testing::error_of;
using Attrs = std::map<std::string, Attribute>;
using Values = std::vector<double>;
using Ints = std::vector<std::int64_t>;
constexpr std::int64_t kMaxInt = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMinInt = std::numeric_limits<std::int64_t>::min();

// ---- attributes ------------------------------------------------------------------------------
Attribute ai(std::int64_t v) {
    Attribute a;
    a.kind = Attribute::Kind::i;
    a.i = v;
    return a;
}
Attribute af(float v) {
    Attribute a;
    a.kind = Attribute::Kind::f;
    a.f = v;
    return a;
}
Attribute as(std::string v) {
    Attribute a;
    a.kind = Attribute::Kind::s;
    a.s = std::move(v);
    return a;
}
Attribute aints(Ints v) {
    Attribute a;
    a.kind = Attribute::Kind::ints;
    a.ints = std::move(v);
    return a;
}
Attribute afloats(std::vector<float> v) {
    Attribute a;
    a.kind = Attribute::Kind::floats;
    a.floats = std::move(v);
    return a;
}
Attribute at(HostTensor v) {
    Attribute a;
    a.kind = Attribute::Kind::t;
    a.t = std::move(v);
    return a;
}
Attribute ag(Graph g) {
    Attribute a;
    a.kind = Attribute::Kind::g;
    a.g = std::make_shared<Graph>(std::move(g));
    return a;
}

// ---- tensors ---------------------------------------------------------------------------------
std::int64_t count(const Shape& s) {
    std::int64_t n = 1;
    for (auto d : s) n *= d;
    return n;
}

template <class T>
HostTensor typed(DataType dt, Shape shape, const std::vector<T>& v) {
    HostTensor t;
    t.dtype = dt;
    t.shape = std::move(shape);
    if (count(t.shape) != static_cast<std::int64_t>(v.size())) throw std::logic_error("test tensor: value count does not match shape");
    t.bytes.resize(v.size() * sizeof(T));
    if (!v.empty()) std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
    return t;
}
HostTensor f32(Shape s, const std::vector<float>& v) { return typed(DataType::f32, std::move(s), v); }
HostTensor i64(Shape s, const Ints& v) { return typed(DataType::s64, std::move(s), v); }
HostTensor boolean(Shape s, const std::vector<std::uint8_t>& v) { return typed(DataType::boolean, std::move(s), v); }
HostTensor s8(Shape s, const std::vector<std::int8_t>& v) { return typed(DataType::s8, std::move(s), v); }
HostTensor u8(Shape s, const std::vector<std::uint8_t>& v) { return typed(DataType::u8, std::move(s), v); }

Values values(const HostTensor& t) {
    Values out(static_cast<std::size_t>(count(t.shape)));
    auto read = [&]<class T>(T) {
        for (std::size_t i = 0; i < out.size(); ++i) {
            T v;
            std::memcpy(&v, t.bytes.data() + i * sizeof(T), sizeof(T));
            out[i] = static_cast<double>(v);
        }
    };
    switch (t.dtype) {
        case DataType::f32: read(float{}); break;
        case DataType::f64: read(double{}); break;
        case DataType::s64: read(std::int64_t{}); break;
        case DataType::s32: read(std::int32_t{}); break;
        case DataType::s8: read(std::int8_t{}); break;
        case DataType::u8: case DataType::boolean: read(std::uint8_t{}); break;
        case DataType::bf16:
            for (std::size_t i = 0; i < out.size(); ++i) {
                std::uint16_t h;
                std::memcpy(&h, t.bytes.data() + 2 * i, 2);
                out[i] = bf16_to_f32(h);
            }
            break;
        default: throw std::logic_error("test: unexpected dtype");
    }
    return out;
}

template <class T>
Values as_values(const std::vector<T>& v) {
    return Values(v.begin(), v.end());
}

struct Rng {
    std::mt19937 gen;
    explicit Rng(unsigned seed) : gen(seed) {}
    std::vector<float> uniform(std::int64_t n, float lo = -1.f, float hi = 1.f) {
        std::uniform_real_distribution<float> d(lo, hi);
        std::vector<float> v(static_cast<std::size_t>(n));
        for (auto& x : v) x = d(gen);
        return v;
    }
    Ints ints(std::int64_t n, std::int64_t lo, std::int64_t hi) {
        std::uniform_int_distribution<std::int64_t> d(lo, hi);
        Ints v(static_cast<std::size_t>(n));
        for (auto& x : v) x = d(gen);
        return v;
    }
    HostTensor tensor(Shape s, float lo = -1.f, float hi = 1.f) {
        auto v = uniform(count(s), lo, hi);
        return f32(std::move(s), v);
    }
};

// ---- index helpers for the references --------------------------------------------------------
Shape unravel(std::int64_t flat, const Shape& shape) {
    Shape idx(shape.size());
    for (std::size_t d = shape.size(); d-- > 0;) {
        idx[d] = flat % shape[d];
        flat /= shape[d];
    }
    return idx;
}
std::int64_t ravel(const Shape& idx, const Shape& shape) {
    std::int64_t off = 0;
    for (std::size_t d = 0; d < shape.size(); ++d) off = off * shape[d] + idx[d];
    return off;
}
Shape broadcast(const Shape& a, const Shape& b) {
    std::size_t r = std::max(a.size(), b.size());
    Shape out(r);
    for (std::size_t i = 0; i < r; ++i) {
        std::int64_t da = i + a.size() >= r ? a[i + a.size() - r] : 1, db = i + b.size() >= r ? b[i + b.size() - r] : 1;
        out[i] = da == 1 ? db : da;
    }
    return out;
}
// The element of `in` (shape `s`, broadcast against an output) at output index `idx`.
double at_broadcast(const Values& in, const Shape& s, const Shape& idx) {
    std::int64_t off = 0;
    std::size_t lead = idx.size() - s.size();
    for (std::size_t d = 0; d < s.size(); ++d) off = off * s[d] + (s[d] == 1 ? 0 : idx[lead + d]);
    return in[static_cast<std::size_t>(off)];
}
double max_abs(const Values& v) {
    double m = 0;
    for (double x : v) m = std::max(m, std::abs(x));
    return m;
}

// ---- graphs ----------------------------------------------------------------------------------
struct GraphBuilder {
    Graph g;
    GraphBuilder& input(const std::string& name, DataType dt, const Shape& shape) {
        ValueInfo v;
        v.name = name;
        v.dtype = dt;
        v.shape_known = true;
        for (auto d : shape) v.shape.push_back(Dim{d, ""});
        g.inputs.push_back(v);
        return *this;
    }
    GraphBuilder& input_dims(const std::string& name, DataType dt, std::vector<Dim> dims) {
        ValueInfo v;
        v.name = name;
        v.dtype = dt;
        v.shape_known = true;
        v.shape = std::move(dims);
        g.inputs.push_back(v);
        return *this;
    }
    GraphBuilder& init(const std::string& name, HostTensor t) {
        g.initializers[name] = std::move(t);
        return *this;
    }
    GraphBuilder& node(const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs, Attrs attrs = {},
                       std::string name = "") {
        Node n;
        n.op_type = op;
        n.name = name.empty() ? op + "_" + std::to_string(g.nodes.size()) : std::move(name);
        n.inputs = std::move(inputs);
        n.outputs = std::move(outputs);
        n.attributes = std::move(attrs);
        g.nodes.push_back(std::move(n));
        return *this;
    }
    GraphBuilder& output(const std::string& name) {
        ValueInfo v;
        v.name = name;
        v.type_known = false;
        g.outputs.push_back(v);
        return *this;
    }
};

struct TestModel : GraphBuilder {
    std::int64_t opset;
    explicit TestModel(std::int64_t opset_ = 18) : opset(opset_) { g.name = "test"; }
    Model build() const {
        Model m;
        m.path = "test.onnx";
        m.format = "onnx";
        m.opset = opset;
        m.graph = g;
        return m;
    }
};

std::shared_ptr<Device> cpu() {
    static auto device = Device::open("cpu");
    return device;
}

std::vector<HostTensor> run(const TestModel& t, const std::map<std::string, HostTensor>& inputs, DataType precision = DataType::f32) {
    ModelRunner runner(t.build(), cpu(), {.precision = precision});
    return runner.run(inputs);
}

// Elementwise |got - want| <= atol + rtol·|want| (NaN matches NaN), and the shape.
::testing::AssertionResult close(const HostTensor& got, const Shape& shape, const Values& want, double atol, double rtol) {
    if (got.shape != shape)
        return ::testing::AssertionFailure() << "shape " << shape_string(got.shape) << ", expected " << shape_string(shape);
    if (count(shape) != static_cast<std::int64_t>(want.size()))
        return ::testing::AssertionFailure() << "test bug: " << want.size() << " reference values for " << shape_string(shape);
    Values g = values(got);
    std::ostringstream msg;
    int bad = 0;
    for (std::size_t i = 0; i < g.size(); ++i) {
        bool ok = (std::isnan(g[i]) && std::isnan(want[i])) || std::abs(g[i] - want[i]) <= atol + rtol * std::abs(want[i]) ||
                  (std::isinf(want[i]) && g[i] == want[i]);
        if (!ok && bad++ < 6) msg << " [" << i << "] got " << g[i] << " want " << want[i] << ";";
    }
    if (bad) return ::testing::AssertionFailure() << bad << " of " << g.size() << " elements differ:" << msg.str();
    return ::testing::AssertionSuccess();
}
// f32: tight; bf16: 2e-2 relative to the output's magnitude (or `magnitude`, that of the values
// before an activation: bf16 errors are those of the convolution's sums).
::testing::AssertionResult close_at(const HostTensor& got, const Shape& shape, const Values& want, DataType precision, double scale = 1,
                                    double magnitude = 0) {
    if (magnitude <= 0) magnitude = std::max(max_abs(want), 1e-3);
    if (precision == DataType::bf16) return close(got, shape, want, 2e-2 * scale * magnitude, 2e-2);
    return close(got, shape, want, 2e-5 * scale, 2e-5 * scale);
}
::testing::AssertionResult exact(const HostTensor& got, const Shape& shape, const Values& want) { return close(got, shape, want, 0, 0); }

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// =============================================================================================
// Unary
// =============================================================================================
struct UnaryCase {
    std::string name, op;
    Attrs attrs;
    std::function<double(double)> ref;
    float lo, hi;
    std::int64_t opset = 18;
};

class RuntimeOpsUnary : public ::testing::TestWithParam<UnaryCase> {};

TEST_P(RuntimeOpsUnary, MatchesReference) {
    const UnaryCase& c = GetParam();
    Rng rng(11);
    Shape shape{2, 3, 4};
    auto x = rng.uniform(count(shape), c.lo, c.hi);
    if (c.lo <= 0 && c.hi >= 0) x[0] = 0;  // the boundary of Relu, Sign, Abs, ...
    x[1] = c.lo;
    x[2] = c.hi;
    TestModel t(c.opset);
    t.input("x", DataType::f32, shape).node(c.op, {"x"}, {"y"}, c.attrs).output("y");
    auto out = run(t, {{"x", f32(shape, x)}});
    Values want;
    for (float v : x) want.push_back(c.ref(v));
    EXPECT_TRUE(close(out.at(0), shape, want, 1e-5, 1e-5));
}

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

INSTANTIATE_TEST_SUITE_P(
    Ops, RuntimeOpsUnary,
    ::testing::Values(
        UnaryCase{"Sigmoid", "Sigmoid", {}, sigmoid, -6, 6},
        UnaryCase{"Tanh", "Tanh", {}, [](double x) { return std::tanh(x); }, -3, 3},
        UnaryCase{"Relu", "Relu", {}, [](double x) { return std::max(x, 0.0); }, -2, 2},
        UnaryCase{"Exp", "Exp", {}, [](double x) { return std::exp(x); }, -3, 3},
        UnaryCase{"Log", "Log", {}, [](double x) { return std::log(x); }, 0.05f, 5},
        UnaryCase{"Sqrt", "Sqrt", {}, [](double x) { return std::sqrt(x); }, 0, 5},
        UnaryCase{"Erf", "Erf", {}, [](double x) { return std::erf(x); }, -2.5, 2.5},
        UnaryCase{"Neg", "Neg", {}, [](double x) { return -x; }, -2, 2},
        UnaryCase{"Abs", "Abs", {}, [](double x) { return std::abs(x); }, -2, 2},
        UnaryCase{"Reciprocal", "Reciprocal", {}, [](double x) { return 1 / x; }, 0.25f, 4},
        UnaryCase{"Floor", "Floor", {}, [](double x) { return std::floor(x); }, -3, 3},
        UnaryCase{"Ceil", "Ceil", {}, [](double x) { return std::ceil(x); }, -3, 3},
        UnaryCase{"Softplus", "Softplus", {}, [](double x) { return std::log(1 + std::exp(x)); }, -8, 25},
        UnaryCase{"LeakyRelu", "LeakyRelu", {{"alpha", af(0.1f)}}, [](double x) { return x >= 0 ? x : 0.1f * x; }, -2, 2},
        UnaryCase{"LeakyReluDefault", "LeakyRelu", {}, [](double x) { return x >= 0 ? x : 0.01f * x; }, -2, 2},
        UnaryCase{"Elu", "Elu", {{"alpha", af(0.5f)}}, [](double x) { return x >= 0 ? x : 0.5f * (std::exp(x) - 1); }, -3, 3},
        UnaryCase{"HardSigmoid", "HardSigmoid", {{"alpha", af(0.3f)}, {"beta", af(0.4f)}},
                  [](double x) { return std::clamp(double(0.3f) * x + double(0.4f), 0.0, 1.0); }, -4, 4},
        UnaryCase{"HardSigmoidDefault", "HardSigmoid", {}, [](double x) { return std::clamp(double(0.2f) * x + 0.5, 0.0, 1.0); }, -4, 4},
        UnaryCase{"HardSwish", "HardSwish", {}, [](double x) { return x * std::clamp(x / 6 + 0.5, 0.0, 1.0); }, -5, 5},
        UnaryCase{"Gelu", "Gelu", {}, [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }, -3, 3},
        UnaryCase{"GeluTanh", "Gelu", {{"approximate", as("tanh")}},
                  [](double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }, -3, 3},
        UnaryCase{"Sign", "Sign", {}, [](double x) { return double((x > 0) - (x < 0)); }, -2, 2},
        UnaryCase{"ClipAttributesOpset6", "Clip", {{"min", af(-0.5f)}, {"max", af(0.25f)}},
                  [](double x) { return std::clamp(x, -0.5, 0.25); }, -1, 1, 6},
        UnaryCase{"ClipMaxAttributeOpset6", "Clip", {{"max", af(0.25f)}}, [](double x) { return std::min(x, 0.25); }, -1, 1, 6},
        UnaryCase{"ClipNoBounds", "Clip", {}, [](double x) { return x; }, -1, 1}),
    [](const auto& info) { return info.param.name; });

// Clip in opset 11+: bounds as (optional) inputs.
TEST(RuntimeOps, ClipWithBoundInputs) {
    Rng rng(12);
    Shape shape{3, 5};
    auto x = rng.uniform(15, -2, 2);
    for (int variant = 0; variant < 3; ++variant) {
        SCOPED_TRACE(variant);
        TestModel t(13);
        t.input("x", DataType::f32, shape).init("lo", f32({}, {-0.75f})).init("hi", f32({}, {0.5f}));
        std::vector<std::string> ins = variant == 0 ? std::vector<std::string>{"x", "lo", "hi"}
                                       : variant == 1 ? std::vector<std::string>{"x", "", "hi"}
                                                      : std::vector<std::string>{"x", "lo"};
        t.node("Clip", ins, {"y"}).output("y");
        double lo = variant == 1 ? -INFINITY : -0.75, hi = variant == 2 ? INFINITY : 0.5;
        Values want;
        for (float v : x) want.push_back(std::clamp<double>(v, lo, hi));
        EXPECT_TRUE(close(run(t, {{"x", f32(shape, x)}}).at(0), shape, want, 0, 0));
    }
}

TEST(RuntimeOps, Not) {
    TestModel t;
    t.input("x", DataType::boolean, {2, 3}).node("Not", {"x"}, {"y"}).output("y");
    auto out = run(t, {{"x", boolean({2, 3}, {1, 0, 0, 1, 1, 0})}});
    EXPECT_EQ(out.at(0).dtype, DataType::boolean);
    EXPECT_TRUE(exact(out.at(0), {2, 3}, {0, 1, 1, 0, 0, 1}));
}

TEST(RuntimeOps, IntegerUnary) {
    TestModel t;
    t.input("x", DataType::s64, {5}).node("Abs", {"x"}, {"a"}).node("Neg", {"x"}, {"n"}).node("Relu", {"x"}, {"r"}).node("Sign", {"x"}, {"s"});
    t.output("a").output("n").output("r").output("s");
    auto out = run(t, {{"x", i64({5}, {-3, 0, 7, -1, 2})}});
    EXPECT_EQ(out.at(0).dtype, DataType::s64);
    EXPECT_TRUE(exact(out.at(0), {5}, {3, 0, 7, 1, 2}));
    EXPECT_TRUE(exact(out.at(1), {5}, {3, 0, -7, 1, -2}));
    EXPECT_TRUE(exact(out.at(2), {5}, {0, 0, 7, 0, 2}));
    EXPECT_TRUE(exact(out.at(3), {5}, {-1, 0, 1, -1, 1}));
}

// =============================================================================================
// Binary with numpy broadcasting
// =============================================================================================
enum class Gen { uniform, small_ints, positive, nonzero, bools };

std::vector<float> generate(Rng& rng, Gen g, std::int64_t n) {
    switch (g) {
        case Gen::uniform: return rng.uniform(n, -2, 2);
        case Gen::positive: return rng.uniform(n, 0.5f, 2);
        case Gen::nonzero: {
            auto v = rng.uniform(n, 0.5f, 2);
            auto s = rng.ints(n, 0, 1);
            for (std::size_t i = 0; i < v.size(); ++i)
                if (s[i]) v[i] = -v[i];
            return v;
        }
        case Gen::small_ints: case Gen::bools: {
            auto v = rng.ints(n, g == Gen::bools ? 0 : -2, g == Gen::bools ? 1 : 2);
            return std::vector<float>(v.begin(), v.end());
        }
    }
    return {};
}

struct BinaryCase {
    std::string op;
    Gen a, b;
    std::function<double(double, double)> ref;
    bool boolean_out = false;
    std::string label = "";  // test name when the op repeats
};

const std::vector<std::pair<Shape, Shape>> kBroadcastPairs = {
    {{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {4}}, {{2, 1, 4}, {3, 1}}, {{}, {2, 3}}, {{5, 1, 1, 3}, {1, 4, 2, 1}}};

class RuntimeOpsBinary : public ::testing::TestWithParam<std::tuple<BinaryCase, std::size_t>> {};

TEST_P(RuntimeOpsBinary, BroadcastsLikeNumpy) {
    const auto& [c, pair] = GetParam();
    const auto& [sa, sb] = kBroadcastPairs[pair];
    Rng rng(static_cast<unsigned>(100 + pair));
    auto a = generate(rng, c.a, count(sa)), b = generate(rng, c.b, count(sb));
    DataType dt = c.a == Gen::bools ? DataType::boolean : DataType::f32;
    auto make = [&](const Shape& s, const std::vector<float>& v) {
        if (dt == DataType::f32) return f32(s, v);
        return boolean(s, std::vector<std::uint8_t>(v.begin(), v.end()));
    };
    TestModel t;
    t.input("a", dt, sa).input("b", dt, sb).node(c.op, {"a", "b"}, {"y"}).output("y");
    auto out = run(t, {{"a", make(sa, a)}, {"b", make(sb, b)}});
    Shape so = broadcast(sa, sb);
    Values want(static_cast<std::size_t>(count(so)));
    for (std::int64_t i = 0; i < count(so); ++i) {
        Shape idx = unravel(i, so);
        want[static_cast<std::size_t>(i)] = c.ref(at_broadcast(as_values(a), sa, idx), at_broadcast(as_values(b), sb, idx));
    }
    EXPECT_EQ(out.at(0).dtype, c.boolean_out ? DataType::boolean : dt);
    EXPECT_TRUE(close(out.at(0), so, want, 1e-6, 1e-6));
}

INSTANTIATE_TEST_SUITE_P(
    Ops, RuntimeOpsBinary,
    ::testing::Combine(
        ::testing::Values(BinaryCase{"Add", Gen::uniform, Gen::uniform, [](double a, double b) { return a + b; }},
                          BinaryCase{"Sub", Gen::uniform, Gen::uniform, [](double a, double b) { return a - b; }},
                          BinaryCase{"Mul", Gen::uniform, Gen::uniform, [](double a, double b) { return a * b; }},
                          BinaryCase{"Div", Gen::uniform, Gen::nonzero, [](double a, double b) { return a / b; }},
                          BinaryCase{"Pow", Gen::positive, Gen::uniform, [](double a, double b) { return std::pow(a, b); }},
                          BinaryCase{"Equal", Gen::small_ints, Gen::small_ints, [](double a, double b) { return double(a == b); }, true},
                          BinaryCase{"Less", Gen::small_ints, Gen::small_ints, [](double a, double b) { return double(a < b); }, true},
                          BinaryCase{"Greater", Gen::small_ints, Gen::small_ints, [](double a, double b) { return double(a > b); }, true},
                          BinaryCase{"LessOrEqual", Gen::small_ints, Gen::small_ints, [](double a, double b) { return double(a <= b); }, true},
                          BinaryCase{"GreaterOrEqual", Gen::small_ints, Gen::small_ints, [](double a, double b) { return double(a >= b); }, true},
                          BinaryCase{"And", Gen::bools, Gen::bools, [](double a, double b) { return double(a != 0 && b != 0); }, true},
                          BinaryCase{"Or", Gen::bools, Gen::bools, [](double a, double b) { return double(a != 0 || b != 0); }, true},
                          BinaryCase{"Xor", Gen::bools, Gen::bools, [](double a, double b) { return double((a != 0) != (b != 0)); }, true},
                          BinaryCase{"Equal", Gen::bools, Gen::bools, [](double a, double b) { return double(a == b); }, true, "EqualBool"}),
        ::testing::Range<std::size_t>(0, kBroadcastPairs.size())),
    [](const auto& info) {
        const BinaryCase& c = std::get<0>(info.param);
        return (c.label.empty() ? c.op : c.label) + "_" + std::to_string(std::get<1>(info.param));
    });

TEST(RuntimeOps, BinaryInt64Add) {
    for (const auto& [sa, sb] : kBroadcastPairs) {
        SCOPED_TRACE(shape_string(sa) + " + " + shape_string(sb));
        Rng rng(7);
        auto a = rng.ints(count(sa), -1000000000000LL, 1000000000000LL), b = rng.ints(count(sb), -50, 50);
        TestModel t;
        t.input("a", DataType::s64, sa).input("b", DataType::s64, sb).node("Add", {"a", "b"}, {"y"}).output("y");
        auto out = run(t, {{"a", i64(sa, a)}, {"b", i64(sb, b)}});
        Shape so = broadcast(sa, sb);
        ASSERT_EQ(out.at(0).dtype, DataType::s64);
        ASSERT_EQ(out.at(0).shape, so);
        for (std::int64_t i = 0; i < count(so); ++i) {
            Shape idx = unravel(i, so);
            std::int64_t ia = 0, ib = 0;
            for (std::size_t d = 0; d < sa.size(); ++d) ia = ia * sa[d] + (sa[d] == 1 ? 0 : idx[idx.size() - sa.size() + d]);
            for (std::size_t d = 0; d < sb.size(); ++d) ib = ib * sb[d] + (sb[d] == 1 ? 0 : idx[idx.size() - sb.size() + d]);
            std::int64_t got;
            std::memcpy(&got, out.at(0).bytes.data() + 8 * i, 8);
            ASSERT_EQ(got, a[static_cast<std::size_t>(ia)] + b[static_cast<std::size_t>(ib)]) << "at " << i;
        }
    }
}

TEST(RuntimeOps, PowWithIntegerExponent) {
    Rng rng(8);
    Shape shape{2, 3};
    auto x = rng.uniform(6, -2, 2);
    auto ref = [&](const Ints& e, const Shape& es) {
        Values want;
        for (std::int64_t i = 0; i < 6; ++i) want.push_back(std::pow(double(x[static_cast<std::size_t>(i)]), double(at_broadcast(as_values(e), es, unravel(i, shape)))));
        return want;
    };
    {  // constant int64 exponent vector (cast to float at plan time)
        TestModel t;
        t.input("x", DataType::f32, shape).init("e", i64({3}, {2, 3, -1})).node("Pow", {"x", "e"}, {"y"}).output("y");
        EXPECT_TRUE(close(run(t, {{"x", f32(shape, x)}}).at(0), shape, ref({2, 3, -1}, {3}), 1e-5, 1e-5));
    }
    {  // scalar int64 exponent 2 (x·x fast path) and 3
        for (std::int64_t e : {2, 3}) {
            TestModel t;
            t.input("x", DataType::f32, shape).init("e", i64({}, {e})).node("Pow", {"x", "e"}, {"y"}).output("y");
            EXPECT_TRUE(close(run(t, {{"x", f32(shape, x)}}).at(0), shape, ref({e}, {}), 1e-5, 1e-5));
        }
    }
    {  // int64 exponent as a run-time input
        TestModel t;
        t.input("x", DataType::f32, shape).input("e", DataType::s64, {2, 1}).node("Pow", {"x", "e"}, {"y"}).output("y");
        EXPECT_TRUE(close(run(t, {{"x", f32(shape, x)}, {"e", i64({2, 1}, {3, 0})}}).at(0), shape, ref({3, 0}, {2, 1}), 1e-5, 1e-5));
    }
}

TEST(RuntimeOps, VariadicMaxMinSumMean) {
    Rng rng(9);
    Shape s0{2, 3, 4}, s1{4}, s2{3, 1};
    auto a = rng.uniform(24), b = rng.uniform(4), c = rng.uniform(3);
    struct V {
        const char* op;
        std::function<double(double, double, double)> ref;
    };
    for (const V& v : {V{"Max", [](double x, double y, double z) { return std::max({x, y, z}); }},
                       V{"Min", [](double x, double y, double z) { return std::min({x, y, z}); }},
                       V{"Sum", [](double x, double y, double z) { return x + y + z; }},
                       V{"Mean", [](double x, double y, double z) { return (x + y + z) / 3; }}}) {
        SCOPED_TRACE(v.op);
        TestModel t;
        t.input("a", DataType::f32, s0).input("b", DataType::f32, s1).input("c", DataType::f32, s2).node(v.op, {"a", "b", "c"}, {"y"}).output("y");
        auto out = run(t, {{"a", f32(s0, a)}, {"b", f32(s1, b)}, {"c", f32(s2, c)}});
        Values want;
        for (std::int64_t i = 0; i < 24; ++i) {
            Shape idx = unravel(i, s0);
            want.push_back(v.ref(a[static_cast<std::size_t>(i)], at_broadcast(as_values(b), s1, idx), at_broadcast(as_values(c), s2, idx)));
        }
        EXPECT_TRUE(close(out.at(0), s0, want, 1e-6, 1e-6));
        // One input: the input itself.
        TestModel one;
        one.input("a", DataType::f32, s0).node(v.op, {"a"}, {"y"}).output("y");
        EXPECT_TRUE(close(run(one, {{"a", f32(s0, a)}}).at(0), s0, as_values(a), 0, 0));
    }
}

TEST(RuntimeOps, ModIntegerAndFmod) {
    {  // fmod = 0 on int64: the result takes the divisor's sign (Python %).
        Shape sa{2, 4}, sb{4};
        Ints a{7, -7, 7, -7, 0, 13, -13, 5}, b{3, 3, -3, -3};
        TestModel t;
        t.input("a", DataType::s64, sa).input("b", DataType::s64, sb).node("Mod", {"a", "b"}, {"y"}).output("y");
        auto out = run(t, {{"a", i64(sa, a)}, {"b", i64(sb, b)}});
        Values want;
        for (std::size_t i = 0; i < a.size(); ++i) {
            std::int64_t d = b[i % 4], r = a[i] - d * static_cast<std::int64_t>(std::floor(double(a[i]) / double(d)));
            want.push_back(double(r));
        }
        EXPECT_EQ(out.at(0).dtype, DataType::s64);
        EXPECT_TRUE(exact(out.at(0), sa, want));
        EXPECT_EQ(want[1], 2);   // -7 mod 3
        EXPECT_EQ(want[2], -2);  // 7 mod -3
    }
    {  // fmod = 1 on floats: C fmod, the dividend's sign.
        Rng rng(10);
        Shape sa{3, 4}, sb{3, 1};
        auto a = rng.uniform(12, -5, 5), b = generate(rng, Gen::nonzero, 3);
        TestModel t;
        t.input("a", DataType::f32, sa).input("b", DataType::f32, sb).node("Mod", {"a", "b"}, {"y"}, {{"fmod", ai(1)}}).output("y");
        auto out = run(t, {{"a", f32(sa, a)}, {"b", f32(sb, b)}});
        Values want;
        for (std::size_t i = 0; i < a.size(); ++i) want.push_back(std::fmod(double(a[i]), double(b[i / 4])));
        EXPECT_TRUE(close(out.at(0), sa, want, 1e-6, 1e-6));
    }
}

TEST(RuntimeOps, WhereBroadcastsThreeWays) {
    Rng rng(13);
    Shape sc{2, 1, 4}, sx{3, 1}, sy{};
    auto cond = rng.ints(8, 0, 1);
    auto x = rng.uniform(3), y = rng.uniform(1);
    TestModel t;
    t.input("c", DataType::boolean, sc).input("x", DataType::f32, sx).input("y", DataType::f32, sy).node("Where", {"c", "x", "y"}, {"o"}).output("o");
    auto out = run(t, {{"c", boolean(sc, std::vector<std::uint8_t>(cond.begin(), cond.end()))}, {"x", f32(sx, x)}, {"y", f32(sy, y)}});
    Shape so{2, 3, 4};
    Values want;
    for (std::int64_t i = 0; i < 24; ++i) {
        Shape idx = unravel(i, so);
        want.push_back(at_broadcast(as_values(cond), sc, idx) != 0 ? at_broadcast(as_values(x), sx, idx) : y[0]);
    }
    EXPECT_TRUE(exact(out.at(0), so, want));
}

TEST(RuntimeOps, BroadcastMismatchNamesNodeAndShapes) {
    TestModel t;
    t.input("a", DataType::f32, {2, 3}).input("b", DataType::f32, {4}).node("Add", {"a", "b"}, {"y"}, {}, "add_bad").output("y");
    auto msg = error_of([&] { run(t, {{"a", f32({2, 3}, std::vector<float>(6))}, {"b", f32({4}, std::vector<float>(4))}}); });
    EXPECT_TRUE(contains(msg, "test.onnx: node 'add_bad' (Add)")) << msg;
    EXPECT_TRUE(contains(msg, "[2,3]")) << msg;
    EXPECT_TRUE(contains(msg, "[4]")) << msg;
    EXPECT_TRUE(contains(msg, "do not broadcast")) << msg;
}

TEST(RuntimeOps, ConstantOperandsFold) {
    TestModel t;
    t.input("x", DataType::f32, {3}).init("a", f32({3}, {1, 2, 3})).init("b", f32({}, {0.5f}));
    t.node("Mul", {"a", "b"}, {"ab"}).node("Add", {"x", "ab"}, {"y"}).output("y");
    ModelRunner runner(t.build(), cpu());
    auto out = runner.run({{"x", f32({3}, {10, 20, 30})}});
    EXPECT_TRUE(exact(out.at(0), {3}, {10.5, 21, 31.5}));
    EXPECT_EQ(runner.stats().folded_nodes, 1u);
    EXPECT_EQ(runner.stats().steps, 1u);
}


// =============================================================================================
// Data movement
// =============================================================================================
// out[i0, i1, ...] = x[sel[0][i0], sel[1][i1], ...]: the reference for Slice, Split, Gather, Tile.
Values pick(const Values& x, const Shape& xs, const std::vector<Ints>& sel, Shape& out_shape) {
    out_shape.clear();
    for (const auto& s : sel) out_shape.push_back(static_cast<std::int64_t>(s.size()));
    Values out(static_cast<std::size_t>(count(out_shape)));
    for (std::int64_t i = 0; i < count(out_shape); ++i) {
        Shape idx = unravel(i, out_shape), src(idx.size());
        for (std::size_t d = 0; d < idx.size(); ++d) src[d] = sel[d][static_cast<std::size_t>(idx[d])];
        std::int64_t off = 0;
        for (std::size_t d = 0; d < xs.size(); ++d) off = off * xs[d] + src[d];
        out[static_cast<std::size_t>(i)] = x[static_cast<std::size_t>(off)];
    }
    return out;
}
std::vector<Ints> all_of(const Shape& s) {
    std::vector<Ints> sel;
    for (auto d : s) {
        Ints v;
        for (std::int64_t i = 0; i < d; ++i) v.push_back(i);
        sel.push_back(v);
    }
    return sel;
}

TEST(RuntimeOps, Reshape) {
    Rng rng(20);
    auto x = rng.tensor({2, 3, 4});
    auto want = values(x);
    struct C {
        Ints spec;
        Shape out;
    };
    for (const C& c : {C{{0, -1}, {2, 12}}, C{{-1, 0}, {8, 3}}, C{{4, 0, -1}, {4, 3, 2}}, C{{24}, {24}}, C{{2, 3, 2, 2}, {2, 3, 2, 2}}}) {
        SCOPED_TRACE(shape_string(c.spec));
        TestModel t;
        t.input("x", DataType::f32, {2, 3, 4}).init("s", i64({static_cast<std::int64_t>(c.spec.size())}, c.spec)).node("Reshape", {"x", "s"}, {"y"}).output("y");
        EXPECT_TRUE(exact(run(t, {{"x", x}}).at(0), c.out, want));
    }
    // allowzero = 1: a 0 in the shape is a zero-sized dim, not a copy of the input's.
    TestModel z;
    z.input("x", DataType::f32, {0, 3}).init("s", i64({2}, {3, 0})).node("Reshape", {"x", "s"}, {"y"}, {{"allowzero", ai(1)}}).output("y");
    EXPECT_TRUE(exact(run(z, {{"x", f32({0, 3}, {})}}).at(0), {3, 0}, {}));
    // ... and with allowzero = 0 the same shape copies dim 1 (3), which does not fit 0 elements.
    TestModel nz;
    nz.input("x", DataType::f32, {0, 3}).init("s", i64({2}, {3, 0})).node("Reshape", {"x", "s"}, {"y"}, {}, "r").output("y");
    EXPECT_TRUE(contains(error_of([&] { run(nz, {{"x", f32({0, 3}, {})}}); }), "cannot reshape [0,3]"));
}

TEST(RuntimeOps, Transpose) {
    Rng rng(21);
    Shape xs{2, 3, 4};
    auto x = rng.tensor(xs);
    auto xv = values(x);
    for (const Ints& perm : {Ints{2, 0, 1}, Ints{1, 0, 2}, Ints{0, 1, 2}, Ints{}}) {
        SCOPED_TRACE(shape_string(perm));
        TestModel t;
        Attrs attrs;
        if (!perm.empty()) attrs["perm"] = aints(perm);
        t.input("x", DataType::f32, xs).node("Transpose", {"x"}, {"y"}, attrs).output("y");
        Ints p = perm.empty() ? Ints{2, 1, 0} : perm;
        Shape ys{xs[p[0]], xs[p[1]], xs[p[2]]};
        Values want(24);
        for (std::int64_t i = 0; i < 24; ++i) {
            Shape oi = unravel(i, ys), ii(3);
            for (int d = 0; d < 3; ++d) ii[static_cast<std::size_t>(p[d])] = oi[d];
            want[static_cast<std::size_t>(i)] = xv[static_cast<std::size_t>(ravel(ii, xs))];
        }
        EXPECT_TRUE(exact(run(t, {{"x", x}}).at(0), ys, want));
    }
}

// The indices ONNX Slice selects on one axis (the spec's clamping rules).
Ints slice_indices(std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step) {
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    if (step > 0) {
        start = std::clamp<std::int64_t>(start, 0, dim);
        end = std::clamp<std::int64_t>(end, 0, dim);
    } else {
        start = std::clamp<std::int64_t>(start, 0, dim - 1);
        end = std::clamp<std::int64_t>(end, -1, dim - 1);
    }
    Ints v;
    for (std::int64_t i = start; step > 0 ? i < end : i > end; i += step) v.push_back(i);
    return v;
}

TEST(RuntimeOps, Slice) {
    Rng rng(22);
    Shape xs{4, 5, 6};
    auto x = rng.tensor(xs);
    struct C {
        Ints starts, ends, axes, steps;
    };
    for (const C& c : {C{{-3, 1}, {-1, kMaxInt}, {0, 2}, {}},  // negative starts/ends, INT64_MAX end, axes subset
                       C{{0}, {5}, {1}, {2}},                   // step 2
                       C{{-1}, {kMinInt}, {2}, {-1}},           // step -1: reversed
                       C{{4, 5}, {0, -7}, {1, -1}, {-2, -2}},   // negative steps, clamped start, negative axis
                       C{{1, 0}, {3, 4}, {}, {}},               // axes omitted: the leading axes
                       C{{-100}, {100}, {-2}, {3}},             // out-of-range bounds clamp
                       C{{3}, {1}, {0}, {1}}}) {                // empty result
        SCOPED_TRACE(shape_string(c.starts) + shape_string(c.ends) + shape_string(c.axes) + shape_string(c.steps));
        TestModel t;
        auto n = static_cast<std::int64_t>(c.starts.size());
        t.input("x", DataType::f32, xs).init("st", i64({n}, c.starts)).init("en", i64({n}, c.ends));
        std::vector<std::string> ins{"x", "st", "en"};
        if (!c.axes.empty()) t.init("ax", i64({n}, c.axes));
        if (!c.steps.empty()) t.init("sp", i64({n}, c.steps));
        ins.push_back(c.axes.empty() ? "" : "ax");
        if (!c.steps.empty()) ins.push_back("sp");
        t.node("Slice", ins, {"y"}).output("y");
        auto sel = all_of(xs);
        for (std::size_t i = 0; i < c.starts.size(); ++i) {
            std::int64_t axis = c.axes.empty() ? static_cast<std::int64_t>(i) : c.axes[i];
            if (axis < 0) axis += 3;
            sel[static_cast<std::size_t>(axis)] = slice_indices(xs[static_cast<std::size_t>(axis)], c.starts[i], c.ends[i], c.steps.empty() ? 1 : c.steps[i]);
        }
        Shape ys;
        auto want = pick(values(x), xs, sel, ys);
        EXPECT_TRUE(exact(run(t, {{"x", x}}).at(0), ys, want));
    }
    // Opset 9: starts/ends/axes are attributes.
    TestModel t9(9);
    t9.input("x", DataType::f32, xs).node("Slice", {"x"}, {"y"}, {{"starts", aints({1, -4})}, {"ends", aints({kMaxInt, -1})}, {"axes", aints({0, 2})}}).output("y");
    auto sel = all_of(xs);
    sel[0] = slice_indices(4, 1, kMaxInt, 1);
    sel[2] = slice_indices(6, -4, -1, 1);
    Shape ys;
    auto want = pick(values(x), xs, sel, ys);
    EXPECT_TRUE(exact(run(t9, {{"x", x}}).at(0), ys, want));
}

TEST(RuntimeOps, ConcatThreeInputsOnLastAxis) {
    Rng rng(23);
    Shape s0{2, 3, 1}, s1{2, 3, 4}, s2{2, 3, 2};
    auto a = rng.tensor(s0), b = rng.tensor(s1), c = rng.tensor(s2);
    TestModel t;
    t.input("a", DataType::f32, s0).input("b", DataType::f32, s1).init("c", c).node("Concat", {"a", "b", "c"}, {"y"}, {{"axis", ai(-1)}}).output("y");
    auto out = run(t, {{"a", a}, {"b", b}});
    Values want;
    auto av = values(a), bv = values(b), cv = values(c);
    for (int i = 0; i < 6; ++i) {
        want.push_back(av[static_cast<std::size_t>(i)]);
        for (int k = 0; k < 4; ++k) want.push_back(bv[static_cast<std::size_t>(i * 4 + k)]);
        for (int k = 0; k < 2; ++k) want.push_back(cv[static_cast<std::size_t>(i * 2 + k)]);
    }
    EXPECT_TRUE(exact(out.at(0), {2, 3, 7}, want));
    // int64 on axis 0.
    TestModel ti;
    ti.input("a", DataType::s64, {2}).init("b", i64({1}, {9})).node("Concat", {"a", "b", "a"}, {"y"}, {{"axis", ai(0)}}).output("y");
    EXPECT_TRUE(exact(run(ti, {{"a", i64({2}, {4, -5})}}).at(0), {5}, {4, -5, 9, 4, -5}));
}

TEST(RuntimeOps, Split) {
    Rng rng(24);
    Shape xs{2, 7};
    auto x = rng.tensor(xs);
    auto xv = values(x);
    auto check = [&](const TestModel& t, std::int64_t axis, const Ints& sizes) {
        auto out = run(t, {{"x", x}});
        ASSERT_EQ(out.size(), sizes.size());
        std::int64_t offset = 0;
        for (std::size_t k = 0; k < sizes.size(); ++k) {
            auto sel = all_of(xs);
            sel[static_cast<std::size_t>(axis)].clear();
            for (std::int64_t i = 0; i < sizes[k]; ++i) sel[static_cast<std::size_t>(axis)].push_back(offset + i);
            offset += sizes[k];
            Shape ys;
            auto want = pick(xv, xs, sel, ys);
            EXPECT_TRUE(exact(out[k], ys, want)) << "output " << k;
        }
    };
    {  // split input
        TestModel t;
        t.input("x", DataType::f32, xs).init("s", i64({3}, {2, 4, 1})).node("Split", {"x", "s"}, {"a", "b", "c"}, {{"axis", ai(-1)}}).output("a").output("b").output("c");
        check(t, 1, {2, 4, 1});
    }
    {  // num_outputs (opset 18), uneven: ceil(7/3) = 3, 3, 1
        TestModel t;
        t.input("x", DataType::f32, xs).node("Split", {"x"}, {"a", "b", "c"}, {{"axis", ai(1)}, {"num_outputs", ai(3)}}).output("a").output("b").output("c");
        check(t, 1, {3, 3, 1});
    }
    {  // neither: equal parts by output count
        TestModel t(13);
        t.input("x", DataType::f32, xs).node("Split", {"x"}, {"a", "b"}).output("a").output("b");
        check(t, 0, {1, 1});
    }
    {  // opset 11: split attribute
        TestModel t(11);
        t.input("x", DataType::f32, xs).node("Split", {"x"}, {"a", "b"}, {{"axis", ai(1)}, {"split", aints({5, 2})}}).output("a").output("b");
        check(t, 1, {5, 2});
    }
}

TEST(RuntimeOps, Gather) {
    Rng rng(25);
    Shape xs{3, 4, 5};
    auto x = rng.tensor(xs);
    auto xv = values(x);
    struct C {
        std::int64_t axis;
        Shape is;
        Ints idx;
        bool runtime_indices;
    };
    for (const C& c : {C{0, {2}, {2, -1}, false}, C{1, {2, 2}, {0, -4, 3, 1}, false}, C{1, {}, {-2}, false}, C{2, {3}, {4, 0, -5}, true},
                       C{0, {1, 2}, {1, 1}, true}}) {
        SCOPED_TRACE("axis " + std::to_string(c.axis) + " indices " + shape_string(c.is));
        TestModel t;
        t.input("x", DataType::f32, xs);
        if (c.runtime_indices) t.input("i", DataType::s64, c.is);
        else t.init("i", i64(c.is, c.idx));
        t.node("Gather", {"x", "i"}, {"y"}, {{"axis", ai(c.axis)}}).output("y");
        std::map<std::string, HostTensor> in{{"x", x}};
        if (c.runtime_indices) in["i"] = i64(c.is, c.idx);
        auto out = run(t, in);
        if (c.runtime_indices) {  // the same with int32 indices
            TestModel t32;
            t32.input("x", DataType::f32, xs).input("i", DataType::s32, c.is).node("Gather", {"x", "i"}, {"y"}, {{"axis", ai(c.axis)}}).output("y");
            auto o32 = run(t32, {{"x", x}, {"i", typed(DataType::s32, c.is, std::vector<std::int32_t>(c.idx.begin(), c.idx.end()))}});
            EXPECT_EQ(o32.at(0).bytes, out.at(0).bytes);
        }
        // out[pre..., idx..., post...] = x[pre..., indices[idx...], post...]
        auto a = static_cast<std::size_t>(c.axis);
        Shape ys(xs.begin(), xs.begin() + static_cast<std::ptrdiff_t>(a));
        ys.insert(ys.end(), c.is.begin(), c.is.end());
        ys.insert(ys.end(), xs.begin() + static_cast<std::ptrdiff_t>(a) + 1, xs.end());
        Values want;
        for (std::int64_t i = 0; i < count(ys); ++i) {
            Shape oi = unravel(i, ys), ii(xs.size());
            for (std::size_t d = 0; d < a; ++d) ii[d] = oi[d];
            Shape ki(oi.begin() + static_cast<std::ptrdiff_t>(a), oi.begin() + static_cast<std::ptrdiff_t>(a + c.is.size()));
            std::int64_t k = c.idx[static_cast<std::size_t>(ravel(ki, c.is))];
            ii[a] = k < 0 ? k + xs[a] : k;
            for (std::size_t d = a + 1; d < xs.size(); ++d) ii[d] = oi[d - 1 + c.is.size()];
            want.push_back(xv[static_cast<std::size_t>(ravel(ii, xs))]);
        }
        EXPECT_TRUE(exact(out.at(0), ys, want));
    }
}

TEST(RuntimeOps, ExpandAndTile) {
    Rng rng(26);
    Shape xs{3, 1};
    auto x = rng.tensor(xs);
    auto xv = values(x);
    for (const Ints& target : {Ints{2, 1, 4}, Ints{3, 5}, Ints{1}, Ints{2, 3, 1}}) {
        SCOPED_TRACE(shape_string(target));
        TestModel t;
        t.input("x", DataType::f32, xs).init("s", i64({static_cast<std::int64_t>(target.size())}, target)).node("Expand", {"x", "s"}, {"y"}).output("y");
        Shape ys = broadcast(xs, target);
        Values want;
        for (std::int64_t i = 0; i < count(ys); ++i) want.push_back(at_broadcast(xv, xs, unravel(i, ys)));
        EXPECT_TRUE(exact(run(t, {{"x", x}}).at(0), ys, want));
    }
    Shape ts{2, 3};
    auto y = rng.tensor(ts);
    auto yv = values(y);
    for (const Ints& reps : {Ints{2, 3}, Ints{1, 1}, Ints{3, 1}, Ints{0, 2}}) {
        SCOPED_TRACE(shape_string(reps));
        TestModel t;
        t.input("x", DataType::f32, ts).init("r", i64({2}, reps)).node("Tile", {"x", "r"}, {"y"}).output("y");
        std::vector<Ints> sel(2);
        for (std::size_t d = 0; d < 2; ++d)
            for (std::int64_t i = 0; i < ts[d] * reps[d]; ++i) sel[d].push_back(i % ts[d]);
        Shape os;
        auto want = pick(yv, ts, sel, os);
        EXPECT_TRUE(exact(run(t, {{"x", y}}).at(0), os, want));
    }
}

// Pad reference: constant / reflect / edge, pads [begin..., end...] per axis (may be negative).
Values pad_ref(const Values& x, const Shape& xs, const Ints& before, const Ints& after, const std::string& mode, double value, Shape& ys) {
    ys = xs;
    for (std::size_t d = 0; d < xs.size(); ++d) ys[d] += before[d] + after[d];
    Values out;
    for (std::int64_t i = 0; i < count(ys); ++i) {
        Shape oi = unravel(i, ys), ii(xs.size());
        bool inside = true;
        for (std::size_t d = 0; d < xs.size(); ++d) {
            std::int64_t j = oi[d] - before[d], n = xs[d];
            if (j < 0 || j >= n) {
                if (mode == "constant") inside = false;
                else if (mode == "edge") j = std::clamp<std::int64_t>(j, 0, n - 1);
                else j = j < 0 ? -j : 2 * (n - 1) - j;
            }
            ii[d] = j;
        }
        out.push_back(inside ? x[static_cast<std::size_t>(ravel(ii, xs))] : value);
    }
    return out;
}

TEST(RuntimeOps, Pad) {
    Rng rng(27);
    Shape xs{3, 4};
    auto x = rng.tensor(xs);
    auto xv = values(x);
    struct C {
        std::string mode;
        Ints pads, axes;
        float value;
    };
    for (const C& c : {C{"constant", {1, 2, 0, 1}, {}, 1.5f}, C{"constant", {0, 0, 2, 0}, {}, 0.f}, C{"reflect", {2, 1, 1, 3}, {}, 0.f},
                       C{"edge", {1, 3, 2, 0}, {}, 0.f}, C{"constant", {-1, 1, 0, -2}, {}, -3.f}, C{"reflect", {2, 1}, {1}, 0.f},
                       C{"constant", {1, 2}, {-2}, 7.f}, C{"edge", {-1, 2, 1, -2}, {}, 0.f}}) {
        SCOPED_TRACE(c.mode + " " + shape_string(c.pads) + " axes " + shape_string(c.axes));
        TestModel t;
        t.input("x", DataType::f32, xs).init("p", i64({static_cast<std::int64_t>(c.pads.size())}, c.pads)).init("v", f32({}, {c.value}));
        std::vector<std::string> ins{"x", "p", c.mode == "constant" ? "v" : ""};
        if (!c.axes.empty()) {
            t.init("a", i64({static_cast<std::int64_t>(c.axes.size())}, c.axes));
            ins.push_back("a");
        }
        t.node("Pad", ins, {"y"}, {{"mode", as(c.mode)}}).output("y");
        Ints before(2, 0), after(2, 0);
        Ints axes = c.axes.empty() ? Ints{0, 1} : c.axes;
        for (std::size_t i = 0; i < axes.size(); ++i) {
            auto a = static_cast<std::size_t>(axes[i] < 0 ? axes[i] + 2 : axes[i]);
            before[a] = c.pads[i];
            after[a] = c.pads[i + axes.size()];
        }
        Shape ys;
        auto want = pad_ref(xv, xs, before, after, c.mode, c.value, ys);
        EXPECT_TRUE(exact(run(t, {{"x", x}}).at(0), ys, want));
    }
    // Opset 2: pads and value are attributes.
    TestModel t2(2);
    t2.input("x", DataType::f32, xs).node("Pad", {"x"}, {"y"}, {{"pads", aints({0, 1, 1, 0})}, {"value", af(2.5f)}}).output("y");
    Shape ys;
    auto want = pad_ref(xv, xs, {0, 1}, {1, 0}, "constant", 2.5, ys);
    EXPECT_TRUE(exact(run(t2, {{"x", x}}).at(0), ys, want));
}

TEST(RuntimeOps, SqueezeUnsqueezeFlatten) {
    Rng rng(28);
    Shape xs{1, 3, 1, 2};
    auto x = rng.tensor(xs);
    auto xv = values(x);
    struct C {
        std::int64_t opset;
        std::string op;
        Ints axes;
        bool as_attribute;
        Shape out;
    };
    for (const C& c : {C{13, "Squeeze", {0, -2}, false, {3, 2}}, C{13, "Squeeze", {}, false, {3, 2}}, C{11, "Squeeze", {2}, true, {1, 3, 2}},
                       C{13, "Unsqueeze", {0, 5}, false, {1, 1, 3, 1, 2, 1}}, C{13, "Unsqueeze", {-1}, false, {1, 3, 1, 2, 1}},
                       C{11, "Unsqueeze", {1}, true, {1, 1, 3, 1, 2}}}) {
        SCOPED_TRACE(c.op + " " + shape_string(c.axes) + " opset " + std::to_string(c.opset));
        TestModel t(c.opset);
        t.input("x", DataType::f32, xs);
        Attrs attrs;
        std::vector<std::string> ins{"x"};
        if (c.as_attribute) attrs["axes"] = aints(c.axes);
        else if (!c.axes.empty()) {
            t.init("a", i64({static_cast<std::int64_t>(c.axes.size())}, c.axes));
            ins.push_back("a");
        }
        t.node(c.op, ins, {"y"}, attrs).output("y");
        EXPECT_TRUE(exact(run(t, {{"x", x}}).at(0), c.out, xv));
    }
    Shape fs{2, 3, 4};
    auto f = rng.tensor(fs);
    for (auto [axis, out] : {std::pair{std::int64_t{2}, Shape{6, 4}}, {0, Shape{1, 24}}, {-1, Shape{6, 4}}, {3, Shape{24, 1}}, {-3, Shape{1, 24}}}) {
        SCOPED_TRACE(axis);
        TestModel t;
        t.input("x", DataType::f32, fs).node("Flatten", {"x"}, {"y"}, {{"axis", ai(axis)}}).output("y");
        EXPECT_TRUE(exact(run(t, {{"x", f}}).at(0), out, values(f)));
    }
    TestModel t;
    t.input("x", DataType::f32, fs).node("Flatten", {"x"}, {"y"}).output("y");
    EXPECT_TRUE(exact(run(t, {{"x", f}}).at(0), {2, 12}, values(f)));
}

TEST(RuntimeOps, ShapeSizeConstantOfShape) {
    Shape xs{2, 3, 4, 5};
    auto x = f32(xs, std::vector<float>(120, 1.f));
    TestModel t;
    t.input("x", DataType::f32, xs);
    t.node("Shape", {"x"}, {"s"}).node("Shape", {"x"}, {"s1"}, {{"start", ai(1)}, {"end", ai(-1)}}).node("Shape", {"x"}, {"s2"}, {{"start", ai(-2)}});
    t.node("Shape", {"x"}, {"s3"}, {{"start", ai(-10)}, {"end", ai(10)}}).node("Size", {"x"}, {"n"});
    t.node("Slice", {"s", "zero", "two"}, {"hw"}).init("zero", i64({1}, {0})).init("two", i64({1}, {2}));
    t.node("ConstantOfShape", {"hw"}, {"zeros"}).node("ConstantOfShape", {"s1"}, {"sevens"}, {{"value", at(i64({1}, {7}))}});
    t.node("ConstantOfShape", {"s2"}, {"halves"}, {{"value", at(f32({1}, {0.5f}))}});
    for (const char* o : {"s", "s1", "s2", "s3", "n", "zeros", "sevens", "halves"}) t.output(o);
    auto out = run(t, {{"x", x}});
    EXPECT_EQ(out.at(0).dtype, DataType::s64);
    EXPECT_TRUE(exact(out.at(0), {4}, {2, 3, 4, 5}));
    EXPECT_TRUE(exact(out.at(1), {2}, {3, 4}));
    EXPECT_TRUE(exact(out.at(2), {2}, {4, 5}));
    EXPECT_TRUE(exact(out.at(3), {4}, {2, 3, 4, 5}));
    EXPECT_EQ(out.at(4).dtype, DataType::s64);
    EXPECT_TRUE(exact(out.at(4), {}, {120}));
    EXPECT_EQ(out.at(5).dtype, DataType::f32);
    EXPECT_TRUE(exact(out.at(5), {2, 3}, Values(6, 0.0)));
    EXPECT_EQ(out.at(6).dtype, DataType::s64);
    EXPECT_TRUE(exact(out.at(6), {3, 4}, Values(12, 7.0)));
    EXPECT_TRUE(exact(out.at(7), {4, 5}, Values(20, 0.5)));
}

TEST(RuntimeOps, Range) {
    auto range = [](double start, double limit, double delta) {
        Values v;
        auto n = static_cast<std::int64_t>(std::max(std::ceil((limit - start) / delta), 0.0));
        for (std::int64_t i = 0; i < n; ++i) v.push_back(start + static_cast<double>(i) * delta);
        return v;
    };
    for (auto [s, l, d] : {std::tuple{2, 11, 3}, {10, 2, -3}, {0, 5, 1}, {5, 0, 1}, {-4, 4, 4}}) {
        SCOPED_TRACE(std::to_string(s) + ":" + std::to_string(l) + ":" + std::to_string(d));
        TestModel t;
        t.input("x", DataType::f32, {1}).init("s", i64({}, {s})).init("l", i64({}, {l})).init("d", i64({}, {d}));
        t.node("Range", {"s", "l", "d"}, {"y"}).output("y");
        auto want = range(s, l, d);
        auto out = run(t, {{"x", f32({1}, {0})}});
        EXPECT_EQ(out.at(0).dtype, DataType::s64);
        EXPECT_TRUE(exact(out.at(0), {static_cast<std::int64_t>(want.size())}, want));
    }
    for (auto [s, l, d] : {std::tuple{0.5f, 2.f, 0.4f}, {1.f, -1.f, -0.5f}, {0.f, 1.f, 0.3f}}) {
        SCOPED_TRACE(std::to_string(s) + ":" + std::to_string(l) + ":" + std::to_string(d));
        TestModel t;
        t.input("x", DataType::f32, {1}).init("s", f32({}, {s})).init("l", f32({}, {l})).init("d", f32({}, {d}));
        t.node("Range", {"s", "l", "d"}, {"y"}).output("y");
        auto want = range(s, l, d);
        auto out = run(t, {{"x", f32({1}, {0})}});
        EXPECT_EQ(out.at(0).dtype, DataType::f32);
        EXPECT_TRUE(close(out.at(0), {static_cast<std::int64_t>(want.size())}, want, 1e-6, 1e-6));
    }
    // Limit from a scalar int64 input (plans specialise on it).
    TestModel t;
    t.input("n", DataType::s64, {}).init("s", i64({}, {0})).init("d", i64({}, {1})).node("Range", {"s", "n", "d"}, {"y"}).output("y");
    ModelRunner runner(t.build(), cpu());
    EXPECT_TRUE(exact(runner.run({{"n", i64({}, {3})}}).at(0), {3}, {0, 1, 2}));
    EXPECT_TRUE(exact(runner.run({{"n", i64({}, {5})}}).at(0), {5}, {0, 1, 2, 3, 4}));
}

TEST(RuntimeOps, Cast) {
    Shape xs{6};
    std::vector<float> x{2.7f, -2.7f, 0.4f, -0.f, 100.f, -1.f};
    TestModel t;
    t.input("x", DataType::f32, xs).node("Cast", {"x"}, {"i"}, {{"to", ai(7)}}).node("Cast", {"i"}, {"f"}, {{"to", ai(1)}});
    t.node("Cast", {"x"}, {"b"}, {{"to", ai(9)}}).node("Cast", {"b"}, {"bf"}, {{"to", ai(1)}}).node("Cast", {"x"}, {"same"}, {{"to", ai(1)}});
    t.node("Cast", {"i"}, {"i32"}, {{"to", ai(6)}});
    t.output("i").output("f").output("b").output("bf").output("same").output("i32");
    auto out = run(t, {{"x", f32(xs, x)}});
    EXPECT_EQ(out.at(0).dtype, DataType::s64);
    EXPECT_TRUE(exact(out.at(0), xs, {2, -2, 0, 0, 100, -1}));  // truncation toward zero
    EXPECT_EQ(out.at(1).dtype, DataType::f32);
    EXPECT_TRUE(exact(out.at(1), xs, {2, -2, 0, 0, 100, -1}));
    EXPECT_EQ(out.at(2).dtype, DataType::boolean);
    EXPECT_TRUE(exact(out.at(2), xs, {1, 1, 1, 0, 1, 1}));
    EXPECT_TRUE(exact(out.at(3), xs, {1, 1, 1, 0, 1, 1}));
    EXPECT_TRUE(exact(out.at(4), xs, as_values(x)));
    EXPECT_EQ(out.at(5).dtype, DataType::s32);
    EXPECT_TRUE(exact(out.at(5), xs, {2, -2, 0, 0, 100, -1}));
}

TEST(RuntimeOps, ConstantAndIdentity) {
    TestModel t;
    t.input("x", DataType::f32, {3});
    t.node("Constant", {}, {"c"}, {{"value", at(f32({3}, {1, 2, 3}))}}).node("Add", {"x", "c"}, {"y"});
    t.node("Constant", {}, {"cf"}, {{"value_float", af(0.25f)}}).node("Constant", {}, {"ci"}, {{"value_ints", aints({4, 5})}});
    t.node("Constant", {}, {"cfs"}, {{"value_floats", afloats({1.5f, -1.5f})}}).node("Constant", {}, {"c1"}, {{"value_int", ai(-9)}});
    t.node("Identity", {"y"}, {"id"}).node("Identity", {"x"}, {"idx"});
    for (const char* o : {"id", "cf", "ci", "cfs", "c1", "idx"}) t.output(o);
    auto out = run(t, {{"x", f32({3}, {10, 20, 30})}});
    EXPECT_TRUE(exact(out.at(0), {3}, {11, 22, 33}));
    EXPECT_TRUE(exact(out.at(1), {}, {0.25}));
    EXPECT_EQ(out.at(2).dtype, DataType::s64);
    EXPECT_TRUE(exact(out.at(2), {2}, {4, 5}));
    EXPECT_TRUE(exact(out.at(3), {2}, {1.5, -1.5}));
    EXPECT_TRUE(exact(out.at(4), {}, {-9}));
    EXPECT_TRUE(exact(out.at(5), {3}, {10, 20, 30}));
}


// =============================================================================================
// Reductions and normalisations
// =============================================================================================
struct ReduceCase {
    std::string op;
    std::function<double(const Values&)> ref;  // over the reduced elements
    float lo, hi;
};

class RuntimeOpsReduce : public ::testing::TestWithParam<ReduceCase> {};

TEST_P(RuntimeOpsReduce, AxesKeepdimsAndEmptyAxes) {
    const ReduceCase& c = GetParam();
    Rng rng(30);
    Shape xs{2, 3, 4};
    auto x = rng.uniform(24, c.lo, c.hi);
    auto xv = as_values(x);
    struct Variant {
        Ints axes;
        bool axes_input;  // false: omitted
        std::int64_t keepdims, noop;
    };
    for (const Variant& v : {Variant{{1}, true, 1, 0}, Variant{{0, -1}, true, 0, 0}, Variant{{-1}, true, 1, 0}, Variant{{}, false, 1, 0},
                             Variant{{}, true, 0, 0}, Variant{{}, false, 0, 1}, Variant{{}, true, 1, 1}, Variant{{2, 0, 1}, true, 0, 1}}) {
        SCOPED_TRACE("axes " + shape_string(v.axes) + (v.axes_input ? " (input)" : " (omitted)") + " keepdims " + std::to_string(v.keepdims) +
                     " noop_with_empty_axes " + std::to_string(v.noop));
        TestModel t;
        t.input("x", DataType::f32, xs);
        std::vector<std::string> ins{"x"};
        if (v.axes_input) {
            t.init("a", i64({static_cast<std::int64_t>(v.axes.size())}, v.axes));
            ins.push_back("a");
        }
        t.node(c.op, ins, {"y"}, {{"keepdims", ai(v.keepdims)}, {"noop_with_empty_axes", ai(v.noop)}}).output("y");
        auto out = run(t, {{"x", f32(xs, x)}});
        // Empty axes reduce everything, or, with noop_with_empty_axes, reduce over the empty set of
        // axes: each element alone (the ONNX function bodies: ReduceSumSquare gives x², ReduceL2 |x|).
        std::vector<bool> reduced(3, v.axes.empty() && !v.noop);
        for (auto a : v.axes) reduced[static_cast<std::size_t>(a < 0 ? a + 3 : a)] = true;
        Shape kept, ys;
        for (std::size_t d = 0; d < 3; ++d) {
            kept.push_back(reduced[d] ? 1 : xs[d]);
            if (!reduced[d] || v.keepdims) ys.push_back(reduced[d] ? 1 : xs[d]);
        }
        std::vector<Values> groups(static_cast<std::size_t>(count(kept)));
        for (std::int64_t i = 0; i < 24; ++i) {
            Shape idx = unravel(i, xs);
            for (std::size_t d = 0; d < 3; ++d)
                if (reduced[d]) idx[d] = 0;
            groups[static_cast<std::size_t>(ravel(idx, kept))].push_back(xv[static_cast<std::size_t>(i)]);
        }
        Values want;
        for (const auto& g : groups) want.push_back(c.ref(g));
        EXPECT_TRUE(close(out.at(0), ys, want, 1e-5, 1e-5));
    }
}

INSTANTIATE_TEST_SUITE_P(
    Ops, RuntimeOpsReduce,
    ::testing::Values(
        ReduceCase{"ReduceMean", [](const Values& g) { double s = 0; for (double v : g) s += v; return s / static_cast<double>(g.size()); }, -1, 1},
        ReduceCase{"ReduceSum", [](const Values& g) { double s = 0; for (double v : g) s += v; return s; }, -1, 1},
        ReduceCase{"ReduceMax", [](const Values& g) { return *std::max_element(g.begin(), g.end()); }, -1, 1},
        ReduceCase{"ReduceMin", [](const Values& g) { return *std::min_element(g.begin(), g.end()); }, -1, 1},
        ReduceCase{"ReduceProd", [](const Values& g) { double s = 1; for (double v : g) s *= v; return s; }, 0.6f, 1.5f},
        ReduceCase{"ReduceSumSquare", [](const Values& g) { double s = 0; for (double v : g) s += v * v; return s; }, -1, 1},
        ReduceCase{"ReduceL2", [](const Values& g) { double s = 0; for (double v : g) s += v * v; return std::sqrt(s); }, -1, 1},
        ReduceCase{"ReduceLogSumExp", [](const Values& g) { double s = 0; for (double v : g) s += std::exp(v); return std::log(s); }, -3, 3}),
    [](const auto& info) { return info.param.op; });

// Before opset 18 (13 for ReduceSum) the axes are an attribute.
TEST(RuntimeOps, ReduceAxesAttributeOpset13) {
    Rng rng(31);
    Shape xs{2, 3, 4};
    auto x = rng.tensor(xs);
    auto xv = values(x);
    TestModel t(13);
    t.input("x", DataType::f32, xs).node("ReduceMean", {"x"}, {"m"}, {{"axes", aints({1, 2})}, {"keepdims", ai(0)}});
    t.init("a", i64({1}, {0})).node("ReduceSum", {"x", "a"}, {"s"}).output("m").output("s");
    auto out = run(t, {{"x", x}});
    Values mean(2, 0), sum(12, 0);
    for (std::size_t i = 0; i < 24; ++i) {
        mean[i / 12] += xv[i] / 12;
        sum[i % 12] += xv[i];
    }
    EXPECT_TRUE(close(out.at(0), {2}, mean, 1e-6, 1e-6));
    EXPECT_TRUE(close(out.at(1), {1, 3, 4}, sum, 1e-6, 1e-6));
}

// Softmax over `axis` alone (opset 13) or over the flattened dims [axis, rank) (opset < 13).
Values softmax_ref(const Values& x, const Shape& xs, std::size_t axis, bool flatten, bool log) {
    std::int64_t outer = 1, n = 1, inner = 1;
    for (std::size_t d = 0; d < xs.size(); ++d) (d < axis ? outer : (d == axis || flatten) ? n : inner) *= xs[d];
    Values out(x.size());
    for (std::int64_t o = 0; o < outer; ++o)
        for (std::int64_t i = 0; i < inner; ++i) {
            double m = -INFINITY, s = 0;
            for (std::int64_t k = 0; k < n; ++k) m = std::max(m, x[static_cast<std::size_t>((o * n + k) * inner + i)]);
            for (std::int64_t k = 0; k < n; ++k) s += std::exp(x[static_cast<std::size_t>((o * n + k) * inner + i)] - m);
            for (std::int64_t k = 0; k < n; ++k) {
                double v = x[static_cast<std::size_t>((o * n + k) * inner + i)] - m;
                out[static_cast<std::size_t>((o * n + k) * inner + i)] = log ? v - std::log(s) : std::exp(v) / s;
            }
        }
    return out;
}

TEST(RuntimeOps, SoftmaxAndLogSoftmax) {
    Rng rng(32);
    Shape xs{2, 3, 4};
    auto x = rng.tensor(xs, -3, 3);
    auto xv = values(x);
    struct C {
        std::string op;
        std::int64_t opset;
        std::optional<std::int64_t> axis;
        std::size_t ref_axis;
        bool flatten;
    };
    for (const C& c : {C{"Softmax", 13, 1, 1, false}, C{"Softmax", 13, {}, 2, false}, C{"Softmax", 18, -3, 0, false}, C{"Softmax", 11, 1, 1, true},
                       C{"Softmax", 11, {}, 1, true}, C{"Softmax", 11, 0, 0, true}, C{"LogSoftmax", 13, -1, 2, false}, C{"LogSoftmax", 13, 1, 1, false},
                       C{"LogSoftmax", 11, {}, 1, true}}) {
        SCOPED_TRACE(c.op + " opset " + std::to_string(c.opset) + " axis " + (c.axis ? std::to_string(*c.axis) : "default"));
        TestModel t(c.opset);
        Attrs attrs;
        if (c.axis) attrs["axis"] = ai(*c.axis);
        t.input("x", DataType::f32, xs).node(c.op, {"x"}, {"y"}, attrs).output("y");
        EXPECT_TRUE(close(run(t, {{"x", x}}).at(0), xs, softmax_ref(xv, xs, c.ref_axis, c.flatten, c.op == "LogSoftmax"), 1e-6, 1e-5));
    }
}

TEST(RuntimeOps, LayerNormalization) {
    Rng rng(33);
    Shape xs{2, 3, 4};
    auto x = rng.tensor(xs, -2, 3);
    auto xv = values(x);
    struct C {
        std::int64_t axis;
        Shape scale, bias;  // empty: omitted
        float eps;
    };
    for (const C& c : {C{-1, {4}, {4}, 1e-5f}, C{-2, {3, 4}, {3, 4}, 1e-5f}, C{-2, {4}, {1, 4}, 1e-3f}, C{1, {3, 1}, {}, 1e-5f}, C{2, {4}, {}, 0.1f},
                       C{0, {1}, {3, 4}, 1e-5f}}) {
        SCOPED_TRACE("axis " + std::to_string(c.axis) + " scale " + shape_string(c.scale) + " bias " + shape_string(c.bias));
        auto scale = rng.uniform(count(c.scale), 0.5f, 1.5f), bias = rng.uniform(c.bias.empty() ? 0 : count(c.bias));
        TestModel t;
        t.input("x", DataType::f32, xs).init("g", f32(c.scale, scale));
        std::vector<std::string> ins{"x", "g"};
        if (!c.bias.empty()) {
            t.init("b", f32(c.bias, bias));
            ins.push_back("b");
        }
        t.node("LayerNormalization", ins, {"y"}, {{"axis", ai(c.axis)}, {"epsilon", af(c.eps)}}).output("y");
        auto axis = static_cast<std::size_t>(c.axis < 0 ? c.axis + 3 : c.axis);
        Shape norm(xs.begin() + static_cast<std::ptrdiff_t>(axis), xs.end());
        std::int64_t n = count(norm), rows = 24 / n;
        Values want(24);
        for (std::int64_t r = 0; r < rows; ++r) {
            double mean = 0, var = 0;
            for (std::int64_t k = 0; k < n; ++k) mean += xv[static_cast<std::size_t>(r * n + k)] / static_cast<double>(n);
            for (std::int64_t k = 0; k < n; ++k) var += std::pow(xv[static_cast<std::size_t>(r * n + k)] - mean, 2) / static_cast<double>(n);
            for (std::int64_t k = 0; k < n; ++k) {
                Shape idx = unravel(k, norm);
                double g = at_broadcast(as_values(scale), c.scale, idx), b = c.bias.empty() ? 0 : at_broadcast(as_values(bias), c.bias, idx);
                want[static_cast<std::size_t>(r * n + k)] = (xv[static_cast<std::size_t>(r * n + k)] - mean) / std::sqrt(var + double(c.eps)) * g + b;
            }
        }
        EXPECT_TRUE(close(run(t, {{"x", x}}).at(0), xs, want, 1e-5, 1e-5));
    }
}

TEST(RuntimeOps, BatchNormalization) {
    Rng rng(34);
    for (const Shape& xs : {Shape{2, 3, 4, 5}, Shape{2, 3}, Shape{1, 3, 7}}) {
        SCOPED_TRACE(shape_string(xs));
        auto x = rng.tensor(xs, -2, 2);
        auto scale = rng.uniform(3, 0.5f, 2), bias = rng.uniform(3), mean = rng.uniform(3), var = rng.uniform(3, 0.1f, 2);
        TestModel t;
        t.input("x", DataType::f32, xs).init("s", f32({3}, scale)).init("b", f32({3}, bias)).init("m", f32({3}, mean)).init("v", f32({3}, var));
        t.node("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"}, {{"epsilon", af(1e-3f)}}).output("y");
        auto xv = values(x);
        Values want;
        for (std::int64_t i = 0; i < count(xs); ++i) {
            auto ch = static_cast<std::size_t>(unravel(i, xs)[1]);
            want.push_back((xv[static_cast<std::size_t>(i)] - mean[ch]) / std::sqrt(double(var[ch]) + double(1e-3f)) * scale[ch] + bias[ch]);
        }
        EXPECT_TRUE(close(run(t, {{"x", x}}).at(0), xs, want, 1e-5, 1e-5));
    }
}


// =============================================================================================
// MatMul and Gemm
// =============================================================================================
// numpy matmul: 1-D operands promoted (and the added dim removed), batch dims broadcast.
Values matmul_ref(const Values& a, Shape as, const Values& b, Shape bs, Shape& ys) {
    bool av = as.size() == 1, bv = bs.size() == 1;
    if (av) as.insert(as.begin(), 1);
    if (bv) bs.push_back(1);
    std::int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
    Shape ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2), batch = broadcast(ab, bb);
    Values out;
    for (std::int64_t p = 0; p < count(batch); ++p) {
        Shape idx = unravel(p, batch);
        auto offset = [&](const Shape& s) {
            std::int64_t off = 0;
            for (std::size_t d = 0; d < s.size(); ++d) off = off * s[d] + (s[d] == 1 ? 0 : idx[idx.size() - s.size() + d]);
            return off;
        };
        std::int64_t ao = offset(ab) * M * K, bo = offset(bb) * K * N;
        for (std::int64_t m = 0; m < M; ++m)
            for (std::int64_t n = 0; n < N; ++n) {
                double acc = 0;
                for (std::int64_t k = 0; k < K; ++k) acc += a[static_cast<std::size_t>(ao + m * K + k)] * b[static_cast<std::size_t>(bo + k * N + n)];
                out.push_back(acc);
            }
    }
    ys = batch;
    if (!av) ys.push_back(M);
    if (!bv) ys.push_back(N);
    return out;
}

struct MatMulCase {
    std::string name;
    Shape a, b;
    bool b_constant;
};

class RuntimeOpsMatMul : public ::testing::TestWithParam<std::tuple<MatMulCase, DataType>> {};

TEST_P(RuntimeOpsMatMul, MatchesReference) {
    const auto& [c, precision] = GetParam();
    Rng rng(40);
    auto a = rng.tensor(c.a), b = rng.tensor(c.b);
    TestModel t;
    t.input("a", DataType::f32, c.a);
    if (c.b_constant) t.init("b", b);
    else t.input("b", DataType::f32, c.b);
    t.node("MatMul", {"a", "b"}, {"y"}).output("y");
    std::map<std::string, HostTensor> in{{"a", a}};
    if (!c.b_constant) in["b"] = b;
    auto out = run(t, in, precision);
    Shape ys;
    auto want = matmul_ref(values(a), c.a, values(b), c.b, ys);
    EXPECT_EQ(out.at(0).dtype, DataType::f32);
    EXPECT_TRUE(close_at(out.at(0), ys, want, precision));
}

INSTANTIATE_TEST_SUITE_P(
    Ops, RuntimeOpsMatMul,
    ::testing::Combine(::testing::Values(MatMulCase{"Mat", {3, 4}, {4, 5}, false}, MatMulCase{"MatConstB", {3, 4}, {4, 5}, true},
                                         MatMulCase{"Batch3dConstB", {2, 3, 4}, {4, 5}, true}, MatMulCase{"Batch3d", {2, 3, 4}, {4, 5}, false},
                                         MatMulCase{"BatchBroadcast", {2, 1, 3, 4}, {1, 5, 4, 6}, false},
                                         MatMulCase{"BatchBroadcastConstB", {2, 1, 3, 4}, {1, 5, 4, 6}, true},
                                         MatMulCase{"VectorLeft", {4}, {4, 5}, true}, MatMulCase{"VectorLeftInput", {4}, {2, 4, 5}, false},
                                         MatMulCase{"VectorRight", {2, 3, 4}, {4}, false}, MatMulCase{"VectorRightConst", {2, 3, 4}, {4}, true},
                                         MatMulCase{"VectorBoth", {4}, {4}, false}, MatMulCase{"BatchBoth", {3, 2, 4}, {3, 4, 2}, false}),
                       ::testing::Values(DataType::f32, DataType::bf16)),
    [](const auto& info) { return std::get<0>(info.param).name + "_" + std::string(dtype_name(std::get<1>(info.param))); });

struct GemmCase {
    std::string name;
    bool ta, tb;
    float alpha, beta;
    std::optional<Shape> c;  // nullopt: no C
    bool c_constant = true;
    bool b_constant = true;
};

class RuntimeOpsGemm : public ::testing::TestWithParam<std::tuple<GemmCase, DataType>> {};

TEST_P(RuntimeOpsGemm, MatchesReference) {
    const auto& [g, precision] = GetParam();
    const std::int64_t M = 3, K = 4, N = 5;
    Rng rng(41);
    Shape as = g.ta ? Shape{K, M} : Shape{M, K}, bs = g.tb ? Shape{N, K} : Shape{K, N};
    auto a = rng.tensor(as), b = rng.tensor(bs);
    HostTensor cm = g.c ? rng.tensor(*g.c) : HostTensor{};
    TestModel t;
    t.input("a", DataType::f32, as);
    std::vector<std::string> ins{"a", "b"};
    std::map<std::string, HostTensor> in{{"a", a}};
    if (g.b_constant) t.init("b", b);
    else {
        t.input("b", DataType::f32, bs);
        in["b"] = b;
    }
    if (g.c) {
        if (g.c_constant) t.init("c", cm);
        else {
            t.input("c", DataType::f32, *g.c);
            in["c"] = cm;
        }
        ins.push_back("c");
    }
    t.node("Gemm", ins, {"y"}, {{"transA", ai(g.ta)}, {"transB", ai(g.tb)}, {"alpha", af(g.alpha)}, {"beta", af(g.beta)}}).output("y");
    auto out = run(t, in, precision);
    auto av = values(a), bv = values(b), cv = g.c ? values(cm) : Values{};
    Values want;
    for (std::int64_t m = 0; m < M; ++m)
        for (std::int64_t n = 0; n < N; ++n) {
            double acc = 0;
            for (std::int64_t k = 0; k < K; ++k)
                acc += av[static_cast<std::size_t>(g.ta ? k * M + m : m * K + k)] * bv[static_cast<std::size_t>(g.tb ? n * K + k : k * N + n)];
            double c = g.c ? at_broadcast(cv, *g.c, {m, n}) : 0;
            want.push_back(double(g.alpha) * acc + double(g.beta) * c);
        }
    EXPECT_TRUE(close_at(out.at(0), {M, N}, want, precision));
}

INSTANTIATE_TEST_SUITE_P(
    Ops, RuntimeOpsGemm,
    ::testing::Combine(::testing::Values(GemmCase{"Plain", false, false, 1.f, 1.f, std::nullopt},
                                         GemmCase{"RowC", false, false, 1.f, 1.f, Shape{5}},
                                         GemmCase{"RowCAlphaBeta", false, true, 0.5f, 2.f, Shape{5}},
                                         GemmCase{"Row2dC", true, false, 1.5f, 0.5f, Shape{1, 5}},
                                         GemmCase{"FullC", false, true, 1.f, 1.f, Shape{3, 5}},
                                         GemmCase{"FullCBeta", true, true, 2.f, -0.5f, Shape{3, 5}},
                                         GemmCase{"ScalarC", true, true, 0.5f, 3.f, Shape{}},
                                         GemmCase{"ColumnC", false, false, 1.f, 2.f, Shape{3, 1}},
                                         GemmCase{"InputRowC", false, false, 0.5f, 2.f, Shape{5}, false},
                                         GemmCase{"BetaZero", false, false, 1.f, 0.f, Shape{3, 5}},
                                         GemmCase{"AlphaZero", false, false, 0.f, 1.5f, Shape{5}},
                                         GemmCase{"InputB", false, false, 2.f, 0.5f, Shape{5}, true, false},
                                         GemmCase{"InputBTransposed", true, true, 1.f, 1.f, Shape{3, 5}, true, false}),
                       ::testing::Values(DataType::f32, DataType::bf16)),
    [](const auto& info) { return std::get<0>(info.param).name + "_" + std::string(dtype_name(std::get<1>(info.param))); });

// =============================================================================================
// Conv
// =============================================================================================
struct Conv2d {
    std::int64_t group = 1, sh = 1, sw = 1, pt = 0, pl = 0, pb = 0, pr = 0, dh = 1, dw = 1;
};

// x [N,C,H,W], w [O,C/group,KH,KW] -> [N,O,OH,OW].
Values conv2d_ref(const Values& x, const Shape& xs, const Values& w, const Shape& ws, const Values* bias, const Conv2d& p, Shape& ys) {
    std::int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], O = ws[0], CG = ws[1], KH = ws[2], KW = ws[3];
    if (C != CG * p.group) throw std::logic_error("conv2d_ref: channels do not match the groups");
    std::int64_t OH = (H + p.pt + p.pb - ((KH - 1) * p.dh + 1)) / p.sh + 1, OW = (W + p.pl + p.pr - ((KW - 1) * p.dw + 1)) / p.sw + 1;
    std::int64_t og = O / p.group;
    ys = {N, O, OH, OW};
    Values out;
    for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t o = 0; o < O; ++o)
            for (std::int64_t oh = 0; oh < OH; ++oh)
                for (std::int64_t ow = 0; ow < OW; ++ow) {
                    double acc = bias ? (*bias)[static_cast<std::size_t>(o)] : 0;
                    std::int64_t g = o / og;
                    for (std::int64_t ci = 0; ci < CG; ++ci)
                        for (std::int64_t kh = 0; kh < KH; ++kh)
                            for (std::int64_t kw = 0; kw < KW; ++kw) {
                                std::int64_t ih = oh * p.sh - p.pt + kh * p.dh, iw = ow * p.sw - p.pl + kw * p.dw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                std::int64_t c = g * CG + ci;
                                acc += x[static_cast<std::size_t>(((n * C + c) * H + ih) * W + iw)] * w[static_cast<std::size_t>(((o * CG + ci) * KH + kh) * KW + kw)];
                            }
                    out.push_back(acc);
                }
    return out;
}

// NHWC <-> NCHW for the channels_last references.
Values to_nchw(const Values& v, const Shape& nhwc) {
    Values out(v.size());
    std::int64_t N = nhwc[0], H = nhwc[1], W = nhwc[2], C = nhwc[3];
    for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t h = 0; h < H; ++h)
            for (std::int64_t w = 0; w < W; ++w)
                for (std::int64_t c = 0; c < C; ++c) out[static_cast<std::size_t>(((n * C + c) * H + h) * W + w)] = v[static_cast<std::size_t>(((n * H + h) * W + w) * C + c)];
    return out;
}
Values to_nhwc(const Values& v, const Shape& nchw) {
    Values out(v.size());
    std::int64_t N = nchw[0], C = nchw[1], H = nchw[2], W = nchw[3];
    for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t c = 0; c < C; ++c)
            for (std::int64_t h = 0; h < H; ++h)
                for (std::int64_t w = 0; w < W; ++w) out[static_cast<std::size_t>(((n * H + h) * W + w) * C + c)] = v[static_cast<std::size_t>(((n * C + c) * H + h) * W + w)];
    return out;
}

struct ConvCase {
    std::string name;
    Shape x, w;  // rank 3 (1-D conv) or 4
    std::int64_t group = 1;
    Ints strides, pads, dilations;  // empty: attribute omitted
    std::string auto_pad;           // "" = NOTSET
    bool bias = true;
};

class RuntimeOpsConv : public ::testing::TestWithParam<std::tuple<ConvCase, DataType>> {};

TEST_P(RuntimeOpsConv, MatchesNaiveConv) {
    const auto& [c, precision] = GetParam();
    Rng rng(50);
    auto x = rng.tensor(c.x), w = rng.tensor(c.w);
    auto bias = rng.uniform(c.w[0]);
    TestModel t;
    t.input("x", DataType::f32, c.x).init("w", w);
    std::vector<std::string> ins{"x", "w"};
    if (c.bias) {
        t.init("b", f32({c.w[0]}, bias));
        ins.push_back("b");
    }
    Attrs attrs{{"group", ai(c.group)}};
    Ints kernel(c.w.begin() + 2, c.w.end());
    attrs["kernel_shape"] = aints(kernel);
    if (!c.strides.empty()) attrs["strides"] = aints(c.strides);
    if (!c.pads.empty()) attrs["pads"] = aints(c.pads);
    if (!c.dilations.empty()) attrs["dilations"] = aints(c.dilations);
    if (!c.auto_pad.empty()) attrs["auto_pad"] = as(c.auto_pad);
    t.node("Conv", ins, {"y"}, attrs).output("y");
    ModelRunner runner(t.build(), cpu(), {.precision = precision});
    auto out = runner.run({{"x", x}});

    // The reference in 2-D: a 1-D conv is one with H = 1.
    bool one_d = c.x.size() == 3;
    Shape xs = one_d ? Shape{c.x[0], c.x[1], 1, c.x[2]} : c.x, ws = one_d ? Shape{c.w[0], c.w[1], 1, c.w[2]} : c.w;
    std::size_t sp = one_d ? 1 : 2;
    auto get = [&](const Ints& v, std::size_t i, std::int64_t fallback) { return v.empty() ? fallback : v[i]; };
    Conv2d p;
    p.group = c.group;
    std::vector<std::int64_t*> s{&p.sh, &p.sw}, d{&p.dh, &p.dw}, b{&p.pt, &p.pl}, e{&p.pb, &p.pr};
    std::size_t first = one_d ? 1 : 0;  // which of (h, w) the spatial dims map to
    for (std::size_t i = 0; i < sp; ++i) {
        std::size_t k = first + i;
        *s[k] = get(c.strides, i, 1);
        *d[k] = get(c.dilations, i, 1);
        *b[k] = get(c.pads, i, 0);
        *e[k] = get(c.pads, sp + i, 0);
        if (c.auto_pad == "VALID") *b[k] = *e[k] = 0;
        if (c.auto_pad == "SAME_UPPER" || c.auto_pad == "SAME_LOWER") {
            std::int64_t in = xs[2 + k], kd = (ws[2 + k] - 1) * *d[k] + 1, outn = (in + *s[k] - 1) / *s[k];
            std::int64_t total = std::max<std::int64_t>((outn - 1) * *s[k] + kd - in, 0);
            *b[k] = c.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
            *e[k] = total - *b[k];
        }
    }
    auto bv = as_values(bias);
    Shape ys;
    auto want = conv2d_ref(values(x), xs, values(w), ws, c.bias ? &bv : nullptr, p, ys);
    if (one_d) ys = {ys[0], ys[1], ys[3]};
    EXPECT_EQ(out.at(0).dtype, DataType::f32);
    EXPECT_TRUE(close_at(out.at(0), ys, want, precision));
}

INSTANTIATE_TEST_SUITE_P(
    Ops, RuntimeOpsConv,
    ::testing::Combine(
        ::testing::Values(ConvCase{"Pad1", {2, 4, 7, 8}, {6, 4, 3, 3}, 1, {}, {1, 1, 1, 1}, {}, ""},
                          ConvCase{"Stride2", {2, 4, 9, 8}, {6, 4, 3, 3}, 1, {2, 2}, {1, 1, 1, 1}, {}, ""},
                          ConvCase{"AsymmetricPads", {1, 4, 7, 8}, {6, 4, 3, 3}, 1, {1, 2}, {0, 1, 2, 0}, {}, ""},
                          ConvCase{"Dilation2", {1, 4, 9, 10}, {5, 4, 3, 3}, 1, {}, {2, 1, 2, 1}, {2, 2}, ""},
                          ConvCase{"Group1NoBias", {1, 4, 6, 6}, {6, 4, 3, 3}, 1, {}, {}, {}, "", false},
                          ConvCase{"Group2", {2, 4, 7, 8}, {6, 2, 3, 3}, 2, {}, {1, 1, 1, 1}, {}, ""},
                          ConvCase{"Depthwise", {2, 4, 7, 8}, {4, 1, 3, 3}, 4, {2, 2}, {1, 1, 1, 1}, {}, ""},
                          ConvCase{"DepthwiseMultiplier2", {1, 4, 7, 8}, {8, 1, 3, 3}, 4, {}, {1, 1, 1, 1}, {}, "", false},
                          ConvCase{"SameUpperStride2", {2, 4, 7, 8}, {6, 4, 3, 3}, 1, {2, 2}, {}, {}, "SAME_UPPER"},
                          ConvCase{"SameUpperEvenKernel", {1, 4, 7, 8}, {6, 4, 2, 4}, 1, {}, {}, {}, "SAME_UPPER"},
                          ConvCase{"SameLowerEvenKernel", {1, 4, 7, 8}, {6, 4, 2, 4}, 1, {}, {}, {}, "SAME_LOWER"},
                          ConvCase{"Valid", {1, 4, 7, 8}, {6, 4, 3, 2}, 1, {2, 1}, {}, {}, "VALID"},
                          ConvCase{"Pointwise", {2, 8, 5, 5}, {16, 8, 1, 1}, 1, {}, {}, {}, ""},
                          ConvCase{"Conv1d", {2, 4, 16}, {6, 4, 5}, 1, {2}, {2, 1}, {}, ""},
                          ConvCase{"Conv1dDilatedGrouped", {1, 4, 20}, {4, 2, 3}, 2, {}, {2, 2}, {2}, ""},
                          ConvCase{"Conv1dDepthwise", {1, 4, 12}, {4, 1, 3}, 4, {}, {1, 1}, {}, ""}),
        ::testing::Values(DataType::f32, DataType::bf16)),
    [](const auto& info) { return std::get<0>(info.param).name + "_" + std::string(dtype_name(std::get<1>(info.param))); });

// channels_last = 1 (TFLite graphs): X and Y are NHWC, W stays OIHW.
TEST(RuntimeOps, ConvChannelsLast) {
    for (DataType precision : {DataType::f32, DataType::bf16}) {
        SCOPED_TRACE(dtype_name(precision));
        Rng rng(51);
        Shape xs{1, 7, 8, 4};
        auto x = rng.tensor(xs);
        auto w1 = rng.tensor({6, 4, 3, 3}), w2 = rng.tensor({6, 1, 3, 3}), w3 = rng.tensor({5, 6, 1, 1});
        auto b1 = rng.uniform(6), b2 = rng.uniform(6), addend = rng.uniform(5);
        TestModel t;
        t.input("x", DataType::f32, xs).init("w1", w1).init("b1", f32({6}, b1)).init("w2", w2).init("b2", f32({6}, b2)).init("w3", w3);
        t.init("k", f32({5}, addend));
        Attrs cl{{"channels_last", ai(1)}};
        Attrs a1 = cl, a2 = cl, a3 = cl;
        a1["strides"] = aints({2, 2});
        a1["pads"] = aints({1, 1, 1, 1});
        a2["group"] = ai(6);
        a2["pads"] = aints({1, 1, 1, 1});
        t.node("Conv", {"x", "w1", "b1"}, {"c1"}, a1).node("Relu", {"c1"}, {"r1"});       // strided conv, fused Relu
        t.node("Conv", {"r1", "w2", "b2"}, {"c2"}, a2);                                   // depthwise on a laid-out NHWC value
        t.node("Conv", {"c2", "w3"}, {"c3"}, a3).node("Add", {"c3", "k"}, {"y"});          // host Add broadcasting over C
        t.output("c2").output("y");
        ModelRunner runner(t.build(), cpu(), {.precision = precision});
        auto out = runner.run({{"x", x}});
        auto bv1 = as_values(b1), bv2 = as_values(b2);
        Shape s1, s2, s3;
        Conv2d p1;
        p1.sh = p1.sw = 2;
        p1.pt = p1.pl = p1.pb = p1.pr = 1;
        auto r1 = conv2d_ref(to_nchw(values(x), xs), {1, 4, 7, 8}, values(w1), {6, 4, 3, 3}, &bv1, p1, s1);
        for (auto& v : r1) v = std::max(v, 0.0);
        Conv2d p2;
        p2.group = 6;
        p2.pt = p2.pl = p2.pb = p2.pr = 1;
        auto c2 = conv2d_ref(r1, s1, values(w2), {6, 1, 3, 3}, &bv2, p2, s2);
        auto c3 = conv2d_ref(c2, s2, values(w3), {5, 6, 1, 1}, nullptr, Conv2d{}, s3);
        auto y = to_nhwc(c3, s3);
        for (std::size_t i = 0; i < y.size(); ++i) y[i] += addend[i % 5];
        EXPECT_TRUE(close_at(out.at(0), {1, 4, 4, 6}, to_nhwc(c2, s2), precision, 2));
        EXPECT_TRUE(close_at(out.at(1), {1, 4, 4, 5}, y, precision, 2));
    }
}

// Activations as the Conv's post-op, on one Conv model: fused when the Conv output has no other
// reader, kept apart (and still right) when it is also a graph output or read by another node.
struct Activation {
    std::string name, op;
    Attrs attrs;
    std::function<double(double)> ref;
    std::int64_t opset = 18;
};

class RuntimeOpsConvActivation : public ::testing::TestWithParam<std::tuple<Activation, DataType>> {};

TEST_P(RuntimeOpsConvActivation, FusedOrNotMatchesReference) {
    const auto& [act, precision] = GetParam();
    Rng rng(52);
    Shape xs{1, 4, 6, 7}, ws{8, 4, 3, 3};
    auto x = rng.tensor(xs, -2, 2), w = rng.tensor(ws);
    auto bias = rng.uniform(8);
    auto bv = as_values(bias);
    Conv2d p;
    p.pt = p.pl = p.pb = p.pr = 1;
    Shape ys;
    auto conv = conv2d_ref(values(x), xs, values(w), ws, &bv, p, ys);
    Values activated;
    for (double v : conv) activated.push_back(act.ref(v));
    Values negated;
    for (double v : conv) negated.push_back(-v);
    for (int variant = 0; variant < 3; ++variant) {
        SCOPED_TRACE(variant == 0 ? "fused" : variant == 1 ? "conv output is also a graph output" : "conv output also read by Neg");
        TestModel t(act.opset);
        t.input("x", DataType::f32, xs).init("w", w).init("b", f32({8}, bias));
        t.node("Conv", {"x", "w", "b"}, {"c"}, {{"pads", aints({1, 1, 1, 1})}});
        if (act.op == "SiLU") t.node("Sigmoid", {"c"}, {"s"}).node("Mul", {"c", "s"}, {"y"});
        else t.node(act.op, {"c"}, {"y"}, act.attrs);
        t.output("y");
        if (variant == 1) t.output("c");
        if (variant == 2) t.node("Neg", {"c"}, {"n"}).output("n");
        ModelRunner runner(t.build(), cpu(), {.precision = precision});
        auto out = runner.run({{"x", x}});
        EXPECT_TRUE(close_at(out.at(0), ys, activated, precision, 1, std::max(max_abs(activated), max_abs(conv))));
        if (variant > 0) {
            EXPECT_TRUE(close_at(out.at(1), ys, variant == 1 ? conv : negated, precision));
        }
        std::size_t absorbed = act.op == "SiLU" ? 2 : 1;
        EXPECT_EQ(runner.stats().fused_nodes, variant == 0 ? absorbed : 0u);
    }
}

INSTANTIATE_TEST_SUITE_P(
    Ops, RuntimeOpsConvActivation,
    ::testing::Combine(
        ::testing::Values(Activation{"SiLU", "SiLU", {}, [](double v) { return v * sigmoid(v); }},
                          Activation{"Relu", "Relu", {}, [](double v) { return std::max(v, 0.0); }},
                          Activation{"ClipAttributes", "Clip", {{"min", af(0.f)}, {"max", af(6.f)}}, [](double v) { return std::clamp(v, 0.0, 6.0); }, 6},
                          Activation{"ClipNarrow", "Clip", {{"min", af(-0.5f)}, {"max", af(0.5f)}}, [](double v) { return std::clamp(v, -0.5, 0.5); }, 6},
                          Activation{"LeakyRelu", "LeakyRelu", {{"alpha", af(0.2f)}}, [](double v) { return v >= 0 ? v : double(0.2f) * v; }},
                          Activation{"Sigmoid", "Sigmoid", {}, sigmoid},
                          Activation{"Tanh", "Tanh", {}, [](double v) { return std::tanh(v); }},
                          Activation{"Elu", "Elu", {{"alpha", af(0.7f)}}, [](double v) { return v >= 0 ? v : double(0.7f) * (std::exp(v) - 1); }},
                          Activation{"HardSwish", "HardSwish", {}, [](double v) { return v * std::clamp(v / 6 + 0.5, 0.0, 1.0); }},
                          Activation{"Exp", "Exp", {}, [](double v) { return std::exp(v); }},
                          Activation{"Abs", "Abs", {}, [](double v) { return std::abs(v); }},
                          Activation{"Softplus", "Softplus", {}, [](double v) { return std::log1p(std::exp(v)); }},
                          Activation{"Gelu", "Gelu", {}, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }},
                          Activation{"GeluTanh", "Gelu", {{"approximate", as("tanh")}},
                                     [](double v) { return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))); }}),
        ::testing::Values(DataType::f32, DataType::bf16)),
    [](const auto& info) { return std::get<0>(info.param).name + "_" + std::string(dtype_name(std::get<1>(info.param))); });

// SiLU's pattern with extra readers: Sigmoid output also an output / Mul operands swapped /
// a third reader of the Conv output. Clip with its bounds as inputs after a Conv.
TEST(RuntimeOps, ConvSiluPatternVariants) {
    Rng rng(53);
    Shape xs{1, 3, 5, 6}, ws{4, 3, 3, 3};
    auto x = rng.tensor(xs, -2, 2), w = rng.tensor(ws);
    Conv2d p;
    p.pt = p.pl = p.pb = p.pr = 1;
    Shape ys;
    auto conv = conv2d_ref(values(x), xs, values(w), ws, nullptr, p, ys);
    Values sig, silu, clipped;
    for (double v : conv) {
        sig.push_back(sigmoid(v));
        silu.push_back(v * sigmoid(v));
        clipped.push_back(std::clamp(v, -0.25, 1.0));
    }
    Attrs pads{{"pads", aints({1, 1, 1, 1})}};
    for (DataType precision : {DataType::f32, DataType::bf16}) {
        SCOPED_TRACE(dtype_name(precision));
        {  // Sigmoid output also a graph output: no fusion
            TestModel t;
            t.input("x", DataType::f32, xs).init("w", w).node("Conv", {"x", "w"}, {"c"}, pads).node("Sigmoid", {"c"}, {"s"}).node("Mul", {"c", "s"}, {"y"});
            t.output("y").output("s");
            ModelRunner runner(t.build(), cpu(), {.precision = precision});
            auto out = runner.run({{"x", x}});
            EXPECT_TRUE(close_at(out.at(0), ys, silu, precision));
            EXPECT_TRUE(close_at(out.at(1), ys, sig, precision));
            EXPECT_EQ(runner.stats().fused_nodes, 0u);
        }
        {  // Mul(s, c): fused
            TestModel t;
            t.input("x", DataType::f32, xs).init("w", w).node("Conv", {"x", "w"}, {"c"}, pads).node("Sigmoid", {"c"}, {"s"}).node("Mul", {"s", "c"}, {"y"});
            t.output("y");
            ModelRunner runner(t.build(), cpu(), {.precision = precision});
            EXPECT_TRUE(close_at(runner.run({{"x", x}}).at(0), ys, silu, precision));
            EXPECT_EQ(runner.stats().fused_nodes, 2u);
        }
        {  // Conv output read by Sigmoid, Mul and Add: no fusion
            TestModel t;
            t.input("x", DataType::f32, xs).init("w", w).node("Conv", {"x", "w"}, {"c"}, pads).node("Sigmoid", {"c"}, {"s"}).node("Mul", {"c", "s"}, {"m"});
            t.node("Add", {"m", "c"}, {"y"}).output("y");
            ModelRunner runner(t.build(), cpu(), {.precision = precision});
            Values want;
            for (std::size_t i = 0; i < conv.size(); ++i) want.push_back(silu[i] + conv[i]);
            EXPECT_TRUE(close_at(runner.run({{"x", x}}).at(0), ys, want, precision));
            EXPECT_EQ(runner.stats().fused_nodes, 0u);
        }
        {  // Sigmoid → Mul of something else: not SiLU
            TestModel t;
            t.input("x", DataType::f32, xs).init("w", w).init("k", f32({}, {3.f})).node("Conv", {"x", "w"}, {"c"}, pads);
            t.node("Sigmoid", {"c"}, {"s"}).node("Mul", {"s", "k"}, {"y"}).output("y");
            ModelRunner runner(t.build(), cpu(), {.precision = precision});
            Values want;
            for (double v : sig) want.push_back(3 * v);
            EXPECT_TRUE(close_at(runner.run({{"x", x}}).at(0), ys, want, precision));
            EXPECT_EQ(runner.stats().fused_nodes, 1u);  // the Sigmoid alone is a post-op
        }
        {  // Clip (opset 13) with bound inputs: an eltwise step on the laid-out value
            TestModel t(13);
            t.input("x", DataType::f32, xs).init("w", w).init("lo", f32({}, {-0.25f})).init("hi", f32({}, {1.f}));
            t.node("Conv", {"x", "w"}, {"c"}, pads).node("Clip", {"c", "lo", "hi"}, {"y"}).output("y");
            ModelRunner runner(t.build(), cpu(), {.precision = precision});
            EXPECT_TRUE(close_at(runner.run({{"x", x}}).at(0), ys, clipped, precision));
        }
    }
}

// Chains that stay in oneDNN's layouts: Conv → Add(another Conv) → Conv, and
// Conv → Concat(another Conv) → MaxPool → Resize (nearest 2x) → Conv.
TEST(RuntimeOps, ConvChainsInOneDnnLayouts) {
    Rng rng(54);
    Shape xs{1, 8, 8, 8};
    auto x = rng.tensor(xs);
    auto w1 = rng.tensor({16, 8, 3, 3}), w2 = rng.tensor({16, 8, 1, 1}), w3 = rng.tensor({8, 16, 3, 3}), w4 = rng.tensor({8, 32, 3, 3});
    auto b1 = rng.uniform(16), b2 = rng.uniform(16);
    auto bv1 = as_values(b1), bv2 = as_values(b2);
    Conv2d pad1;
    pad1.pt = pad1.pl = pad1.pb = pad1.pr = 1;
    Shape s1, s2, s3;
    auto c1 = conv2d_ref(values(x), xs, values(w1), {16, 8, 3, 3}, &bv1, pad1, s1);
    auto c2 = conv2d_ref(values(x), xs, values(w2), {16, 8, 1, 1}, &bv2, Conv2d{}, s2);
    for (auto& v : c1) v = std::max(v, 0.0);  // Relu fused into the first conv
    Values sum(c1.size());
    for (std::size_t i = 0; i < sum.size(); ++i) sum[i] = c1[i] + c2[i];
    auto add_chain = conv2d_ref(sum, s1, values(w3), {8, 16, 3, 3}, nullptr, pad1, s3);

    // Concat on channels -> [1,32,8,8]; MaxPool 2x2 stride 2 -> [1,32,4,4]; nearest 2x -> [1,32,8,8].
    Values cat;
    cat.insert(cat.end(), c1.begin(), c1.end());
    cat.insert(cat.end(), c2.begin(), c2.end());
    Values pooled(32 * 16), up(32 * 64);
    for (std::int64_t c = 0; c < 32; ++c)
        for (std::int64_t h = 0; h < 4; ++h)
            for (std::int64_t w = 0; w < 4; ++w) {
                double m = -INFINITY;
                for (int i = 0; i < 2; ++i)
                    for (int j = 0; j < 2; ++j) m = std::max(m, cat[static_cast<std::size_t>((c * 8 + 2 * h + i) * 8 + 2 * w + j)]);
                pooled[static_cast<std::size_t>((c * 4 + h) * 4 + w)] = m;
            }
    for (std::int64_t c = 0; c < 32; ++c)
        for (std::int64_t h = 0; h < 8; ++h)
            for (std::int64_t w = 0; w < 8; ++w) up[static_cast<std::size_t>((c * 8 + h) * 8 + w)] = pooled[static_cast<std::size_t>((c * 4 + h / 2) * 4 + w / 2)];
    Shape s4;
    auto cat_chain = conv2d_ref(up, {1, 32, 8, 8}, values(w4), {8, 32, 3, 3}, nullptr, pad1, s4);

    for (DataType precision : {DataType::f32, DataType::bf16}) {
        SCOPED_TRACE(dtype_name(precision));
        TestModel t;
        t.input("x", DataType::f32, xs).init("w1", w1).init("b1", f32({16}, b1)).init("w2", w2).init("b2", f32({16}, b2)).init("w3", w3).init("w4", w4);
        t.init("scales", f32({4}, {1, 1, 2, 2}));
        Attrs pads{{"pads", aints({1, 1, 1, 1})}};
        t.node("Conv", {"x", "w1", "b1"}, {"c1"}, pads).node("Relu", {"c1"}, {"r1"}).node("Conv", {"x", "w2", "b2"}, {"c2"});
        t.node("Add", {"r1", "c2"}, {"sum"}).node("Conv", {"sum", "w3"}, {"y1"}, pads);
        t.node("Concat", {"r1", "c2"}, {"cat"}, {{"axis", ai(1)}}).node("MaxPool", {"cat"}, {"pool"}, {{"kernel_shape", aints({2, 2})}, {"strides", aints({2, 2})}});
        t.node("Resize", {"pool", "", "scales"}, {"up"}, {{"mode", as("nearest")}, {"coordinate_transformation_mode", as("asymmetric")}, {"nearest_mode", as("floor")}});
        t.node("Conv", {"up", "w4"}, {"y2"}, pads).output("y1").output("y2");
        ModelRunner runner(t.build(), cpu(), {.precision = precision});
        auto out = runner.run({{"x", x}});
        EXPECT_TRUE(close_at(out.at(0), s3, add_chain, precision, 1.5));
        EXPECT_TRUE(close_at(out.at(1), s4, cat_chain, precision, 1.5));
        EXPECT_EQ(runner.stats().fused_nodes, 1u);  // the Relu
    }
}


// Conv outputs (in oneDNN's layouts) meeting plain values: binary ops with a plain input or a
// constant of the same shape (either operand order), broadcasting host ops, Concat with plain
// inputs and on other axes, views, and a pooled classifier head.
TEST(RuntimeOps, ConvOutputsMeetPlainValues) {
    Rng rng(55);
    Shape xs{1, 4, 6, 6}, cs{1, 8, 6, 6};
    auto x = rng.tensor(xs), z = rng.tensor(cs), k = rng.tensor(cs, 0.5f, 2.f);
    auto w1 = rng.tensor({8, 4, 3, 3}), w2 = rng.tensor({8, 4, 3, 3}), fc = rng.tensor({8, 3});
    auto chb = rng.uniform(8), fcb = rng.uniform(3);
    Conv2d pad1;
    pad1.pt = pad1.pl = pad1.pb = pad1.pr = 1;
    Shape s;
    auto c1 = conv2d_ref(values(x), xs, values(w1), {8, 4, 3, 3}, nullptr, pad1, s);
    auto c2 = conv2d_ref(values(x), xs, values(w2), {8, 4, 3, 3}, nullptr, pad1, s);
    auto zv = values(z), kv = values(k);
    auto each = [&](const std::function<double(std::size_t)>& f) {
        Values v(c1.size());
        for (std::size_t i = 0; i < v.size(); ++i) v[i] = f(i);
        return v;
    };
    Values add = each([&](std::size_t i) { return c1[i] + zv[i]; }), sub = each([&](std::size_t i) { return zv[i] - c1[i]; });
    Values div = each([&](std::size_t i) { return c1[i] / kv[i]; }), mx = each([&](std::size_t i) { return std::max(c1[i], zv[i]); });
    Values mn = each([&](std::size_t i) { return std::min(kv[i], c2[i]); }), mul = each([&](std::size_t i) { return c1[i] * c2[i]; });
    Values bias = each([&](std::size_t i) { return c1[i] + chb[i / 36]; });
    // Concat on channels with a plain input, on H and on W with the other conv.
    Values both1;
    both1.insert(both1.end(), c1.begin(), c1.end());
    both1.insert(both1.end(), zv.begin(), zv.end());
    Values cat2, cat3;
    for (std::int64_t c = 0; c < 8; ++c) {
        for (std::int64_t h = 0; h < 12; ++h)
            for (std::int64_t w = 0; w < 6; ++w) cat2.push_back((h < 6 ? c1 : c2)[static_cast<std::size_t>((c * 6 + h % 6) * 6 + w)]);
        for (std::int64_t h = 0; h < 6; ++h)
            for (std::int64_t w = 0; w < 12; ++w) cat3.push_back((w < 6 ? c1 : c2)[static_cast<std::size_t>((c * 6 + h) * 6 + w % 6)]);
    }
    // Classifier head: GlobalAveragePool(c1) → Flatten → Gemm.
    Values pooled(8, 0), logits;
    for (std::size_t i = 0; i < c1.size(); ++i) pooled[i / 36] += c1[i] / 36;
    auto fv = values(fc);
    for (std::int64_t j = 0; j < 3; ++j) {
        double acc = fcb[static_cast<std::size_t>(j)];
        for (std::int64_t i = 0; i < 8; ++i) acc += pooled[static_cast<std::size_t>(i)] * fv[static_cast<std::size_t>(i * 3 + j)];
        logits.push_back(acc);
    }
    for (DataType precision : {DataType::f32, DataType::bf16}) {
        SCOPED_TRACE(dtype_name(precision));
        TestModel t;
        Attrs pads{{"pads", aints({1, 1, 1, 1})}};
        t.input("x", DataType::f32, xs).input("z", DataType::f32, cs).init("k", k).init("w1", w1).init("w2", w2).init("chb", f32({8, 1, 1}, chb));
        t.init("fc", fc).init("fcb", f32({3}, fcb)).init("flat", i64({2}, {1, -1}));
        t.node("Conv", {"x", "w1"}, {"c1"}, pads).node("Conv", {"x", "w2"}, {"c2"}, pads);
        t.node("Add", {"c1", "z"}, {"add"}).node("Sub", {"z", "c1"}, {"sub"}).node("Div", {"c1", "k"}, {"div"}).node("Max", {"c1", "z"}, {"max"});
        t.node("Min", {"k", "c2"}, {"min"}).node("Mul", {"c1", "c2"}, {"mul"}).node("Add", {"c1", "chb"}, {"bias"});
        t.node("Concat", {"c1", "z"}, {"cat1"}, {{"axis", ai(1)}}).node("Concat", {"c1", "c2"}, {"cat2"}, {{"axis", ai(2)}});
        t.node("Concat", {"c1", "c2"}, {"cat3"}, {{"axis", ai(-1)}}).node("Reshape", {"c2", "flat"}, {"flat_c2"});
        t.node("GlobalAveragePool", {"c1"}, {"gap"}).node("Flatten", {"gap"}, {"f"}).node("Gemm", {"f", "fc", "fcb"}, {"logits"});
        for (const char* o : {"add", "sub", "div", "max", "min", "mul", "bias", "cat1", "cat2", "cat3", "flat_c2", "logits"}) t.output(o);
        ModelRunner runner(t.build(), cpu(), {.precision = precision});
        auto out = runner.run({{"x", x}, {"z", z}});
        double m = max_abs(c1);
        EXPECT_TRUE(close_at(out.at(0), cs, add, precision, 1, m)) << "add";
        EXPECT_TRUE(close_at(out.at(1), cs, sub, precision, 1, m)) << "sub";
        EXPECT_TRUE(close_at(out.at(2), cs, div, precision, 1, m)) << "div";
        EXPECT_TRUE(close_at(out.at(3), cs, mx, precision, 1, m)) << "max";
        EXPECT_TRUE(close_at(out.at(4), cs, mn, precision, 1, m)) << "min";
        EXPECT_TRUE(close_at(out.at(5), cs, mul, precision, 1, m * m)) << "mul";
        EXPECT_TRUE(close_at(out.at(6), cs, bias, precision, 1, m)) << "bias";
        EXPECT_TRUE(close_at(out.at(7), {1, 16, 6, 6}, both1, precision, 1, m)) << "cat1";
        EXPECT_TRUE(close_at(out.at(8), {1, 8, 12, 6}, cat2, precision, 1, m)) << "cat2";
        EXPECT_TRUE(close_at(out.at(9), {1, 8, 6, 12}, cat3, precision, 1, m)) << "cat3";
        EXPECT_TRUE(close_at(out.at(10), {1, 288}, c2, precision, 1, m)) << "flat";
        EXPECT_TRUE(close_at(out.at(11), {1, 3}, logits, precision, 1, m)) << "logits";
    }
}

// int8 weights through DequantizeLinear (per output channel), folded at plan time into the Conv.
TEST(RuntimeOps, ConvWithDequantizedInt8Weights) {
    Rng rng(56);
    Shape xs{1, 3, 5, 5}, ws{4, 3, 3, 3};
    auto x = rng.tensor(xs);
    auto q = rng.ints(count(ws), -127, 127);
    std::vector<float> scale{0.01f, 0.02f, 0.005f, 0.015f};
    Values w;
    for (std::size_t i = 0; i < q.size(); ++i) w.push_back(double(q[i]) * double(scale[i / 27]));
    TestModel t;
    t.input("x", DataType::f32, xs).init("q", s8(ws, std::vector<std::int8_t>(q.begin(), q.end()))).init("s", f32({4}, scale));
    t.node("DequantizeLinear", {"q", "s"}, {"w"}, {{"axis", ai(0)}}).node("Conv", {"x", "w"}, {"y"}).output("y");
    ModelRunner runner(t.build(), cpu());
    auto out = runner.run({{"x", x}});
    Shape ys;
    auto want = conv2d_ref(values(x), xs, w, ws, nullptr, Conv2d{}, ys);
    EXPECT_TRUE(close(out.at(0), ys, want, 2e-5, 2e-5));
    EXPECT_GE(runner.stats().folded_nodes, 1u);
}

// =============================================================================================
// Pooling
// =============================================================================================
struct Pool2d {
    std::int64_t kh, kw, sh = 1, sw = 1, pt = 0, pl = 0, pb = 0, pr = 0, dh = 1, dw = 1;
    bool ceil = false;
};
enum class PoolKind { max, avg_include_pad, avg_exclude_pad };

Values pool2d_ref(const Values& x, const Shape& xs, const Pool2d& p, PoolKind kind, Shape& ys) {
    std::int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3];
    auto out_dim = [&](std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t a, std::int64_t e, std::int64_t d) {
        double span = static_cast<double>(in + a + e - ((k - 1) * d + 1)) / static_cast<double>(s);
        return static_cast<std::int64_t>(p.ceil ? std::ceil(span) : std::floor(span)) + 1;
    };
    std::int64_t OH = out_dim(H, p.kh, p.sh, p.pt, p.pb, p.dh), OW = out_dim(W, p.kw, p.sw, p.pl, p.pr, p.dw);
    ys = {N, C, OH, OW};
    Values out;
    for (std::int64_t nc = 0; nc < N * C; ++nc)
        for (std::int64_t oh = 0; oh < OH; ++oh)
            for (std::int64_t ow = 0; ow < OW; ++ow) {
                double acc = kind == PoolKind::max ? -INFINITY : 0;
                std::int64_t n_in = 0, n_padded = 0;
                for (std::int64_t i = 0; i < p.kh; ++i)
                    for (std::int64_t j = 0; j < p.kw; ++j) {
                        std::int64_t ih = oh * p.sh - p.pt + i * p.dh, iw = ow * p.sw - p.pl + j * p.dw;
                        if (ih >= -p.pt && ih < H + p.pb && iw >= -p.pl && iw < W + p.pr) ++n_padded;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                        double v = x[static_cast<std::size_t>((nc * H + ih) * W + iw)];
                        acc = kind == PoolKind::max ? std::max(acc, v) : acc + v;
                        ++n_in;
                    }
                if (kind == PoolKind::avg_include_pad) acc /= static_cast<double>(n_padded);
                if (kind == PoolKind::avg_exclude_pad) acc /= static_cast<double>(n_in);
                out.push_back(acc);
            }
    return out;
}

TEST(RuntimeOps, Pooling) {
    Rng rng(60);
    Shape xs{2, 3, 10, 11};
    auto x = rng.tensor(xs, -2, 2);
    auto xv = values(x);
    struct C {
        std::string name, op;
        Pool2d p;
        PoolKind kind;
        std::int64_t count_include_pad = 0;
    };
    for (const C& c : {C{"max k3 s2 p1", "MaxPool", {3, 3, 2, 2, 1, 1, 1, 1}, PoolKind::max},
                       C{"max ceil_mode", "MaxPool", {3, 3, 2, 2, 0, 0, 0, 0, 1, 1, true}, PoolKind::max},
                       C{"max ceil_mode pads", "MaxPool", {2, 3, 3, 2, 1, 0, 0, 1, 1, 1, true}, PoolKind::max},
                       C{"max dilations", "MaxPool", {3, 2, 1, 2, 0, 1, 0, 1, 2, 3}, PoolKind::max},
                       C{"max asymmetric pads", "MaxPool", {2, 2, 2, 2, 0, 1, 1, 0}, PoolKind::max},
                       C{"avg exclude pad", "AveragePool", {3, 3, 2, 2, 1, 1, 1, 1}, PoolKind::avg_exclude_pad, 0},
                       C{"avg include pad", "AveragePool", {3, 3, 2, 2, 1, 1, 1, 1}, PoolKind::avg_include_pad, 1},
                       C{"avg no pad", "AveragePool", {2, 3, 2, 1}, PoolKind::avg_exclude_pad},
                       C{"avg asymmetric pads include", "AveragePool", {3, 3, 1, 2, 2, 0, 0, 1}, PoolKind::avg_include_pad, 1},
                       C{"avg ceil_mode exclude pad", "AveragePool", {3, 3, 2, 2, 1, 0, 1, 0, 1, 1, true}, PoolKind::avg_exclude_pad, 0},
                       C{"avg ceil_mode include pad", "AveragePool", {3, 3, 2, 2, 1, 0, 1, 0, 1, 1, true}, PoolKind::avg_include_pad, 1}}) {
        SCOPED_TRACE(c.name);
        TestModel t;
        Attrs attrs{{"kernel_shape", aints({c.p.kh, c.p.kw})}, {"strides", aints({c.p.sh, c.p.sw})}, {"pads", aints({c.p.pt, c.p.pl, c.p.pb, c.p.pr})}};
        if (c.p.ceil) attrs["ceil_mode"] = ai(1);
        if (c.p.dh != 1 || c.p.dw != 1) attrs["dilations"] = aints({c.p.dh, c.p.dw});
        if (c.op == "AveragePool") attrs["count_include_pad"] = ai(c.count_include_pad);
        t.input("x", DataType::f32, xs).node(c.op, {"x"}, {"y"}, attrs).output("y");
        Shape ys;
        auto want = pool2d_ref(xv, xs, c.p, c.kind, ys);
        EXPECT_TRUE(close(run(t, {{"x", x}}).at(0), ys, want, 1e-6, 1e-6));
    }
    // auto_pad SAME_UPPER: output ceil(in / stride), the odd pad at the end.
    for (const char* op : {"MaxPool", "AveragePool"}) {
        SCOPED_TRACE(std::string(op) + " SAME_UPPER");
        TestModel t;
        t.input("x", DataType::f32, xs).node(op, {"x"}, {"y"}, {{"kernel_shape", aints({3, 3})}, {"strides", aints({2, 2})}, {"auto_pad", as("SAME_UPPER")}});
        t.output("y");
        Shape ys;
        auto want = pool2d_ref(xv, xs, {3, 3, 2, 2, 0, 1, 1, 1}, std::string(op) == "MaxPool" ? PoolKind::max : PoolKind::avg_exclude_pad, ys);
        EXPECT_TRUE(close(run(t, {{"x", x}}).at(0), ys, want, 1e-6, 1e-6));
    }
    // Global pools.
    TestModel t;
    t.input("x", DataType::f32, xs).node("GlobalAveragePool", {"x"}, {"avg"}).node("GlobalMaxPool", {"x"}, {"max"}).output("avg").output("max");
    auto out = run(t, {{"x", x}});
    Values avg(6, 0), mx(6, -INFINITY);
    for (std::size_t i = 0; i < xv.size(); ++i) {
        avg[i / 110] += xv[i] / 110;
        mx[i / 110] = std::max(mx[i / 110], xv[i]);
    }
    EXPECT_TRUE(close(out.at(0), {2, 3, 1, 1}, avg, 1e-6, 1e-6));
    EXPECT_TRUE(close(out.at(1), {2, 3, 1, 1}, mx, 0, 0));
    // 1-D MaxPool.
    TestModel t1;
    t1.input("x", DataType::f32, {2, 3, 10}).node("MaxPool", {"x"}, {"y"}, {{"kernel_shape", aints({3})}, {"strides", aints({2})}, {"pads", aints({1, 1})}}).output("y");
    auto x1 = rng.tensor({2, 3, 10});
    Shape ys;
    Pool2d p{1, 3, 1, 2, 0, 1, 0, 1};
    auto want = pool2d_ref(values(x1), {2, 3, 1, 10}, p, PoolKind::max, ys);
    EXPECT_TRUE(close(run(t1, {{"x", x1}}).at(0), {2, 3, 5}, want, 0, 0));
}

// =============================================================================================
// Resize
// =============================================================================================
struct ResizeRef {
    std::string mode = "nearest", transform = "half_pixel", nearest_mode = "round_prefer_floor";
};

Values resize_ref(const Values& x, const Shape& xs, const Shape& ys, const std::vector<double>& scales, const ResizeRef& r) {
    std::size_t rank = xs.size();
    Values out;
    for (std::int64_t i = 0; i < count(ys); ++i) {
        Shape oi = unravel(i, ys);
        std::vector<std::int64_t> i0(rank), i1(rank);
        std::vector<double> w1(rank, 0);
        for (std::size_t d = 0; d < rank; ++d) {
            double o = static_cast<double>(oi[d]), in = static_cast<double>(xs[d]), on = static_cast<double>(ys[d]), src;
            if (r.transform == "asymmetric") src = o / scales[d];
            else if (r.transform == "align_corners") src = on > 1 ? o * (in - 1) / (on - 1) : 0;
            else if (r.transform == "pytorch_half_pixel") src = on > 1 ? (o + 0.5) / scales[d] - 0.5 : 0;
            else src = (o + 0.5) / scales[d] - 0.5;
            if (r.mode == "nearest") {
                double v;
                if (r.nearest_mode == "floor") v = std::floor(src);
                else if (r.nearest_mode == "ceil") v = std::ceil(src);
                else if (r.nearest_mode == "round_prefer_ceil") v = src - std::floor(src) == 0.5 ? std::ceil(src) : std::round(src);
                else v = src - std::floor(src) == 0.5 ? std::floor(src) : std::round(src);
                i0[d] = i1[d] = std::clamp<std::int64_t>(static_cast<std::int64_t>(v), 0, xs[d] - 1);
            } else {  // linear: edge values beyond the ends
                src = std::clamp(src, 0.0, in - 1);
                i0[d] = static_cast<std::int64_t>(std::floor(src));
                i1[d] = std::min<std::int64_t>(i0[d] + 1, xs[d] - 1);
                w1[d] = src - static_cast<double>(i0[d]);
            }
        }
        double acc = 0;
        for (std::size_t corner = 0; corner < (std::size_t{1} << rank); ++corner) {
            double w = 1;
            Shape ii(rank);
            for (std::size_t d = 0; d < rank; ++d) {
                bool second = (corner >> d) & 1;
                ii[d] = second ? i1[d] : i0[d];
                w *= second ? w1[d] : 1 - w1[d];
            }
            if (w != 0) acc += w * x[static_cast<std::size_t>(ravel(ii, xs))];
        }
        out.push_back(acc);
    }
    return out;
}

TEST(RuntimeOps, Resize) {
    Rng rng(61);
    struct C {
        std::string name;
        std::int64_t opset;
        Shape x;
        std::vector<float> scales;  // or
        Ints sizes;
        ResizeRef r;
    };
    for (const C& c : {C{"nearest asymmetric floor 2x (oneDNN)", 18, {1, 2, 3, 4}, {1, 1, 2, 2}, {}, {"nearest", "asymmetric", "floor"}},
                       C{"nearest half_pixel round_prefer_floor 1.5x", 18, {1, 2, 4, 6}, {1, 1, 1.5f, 1.5f}, {}, {"nearest", "half_pixel", "round_prefer_floor"}},
                       C{"nearest half_pixel 1.5x floor(5·1.5) = 7", 18, {1, 1, 5, 3}, {1, 1, 1.5f, 1.5f}, {}, {"nearest", "half_pixel", "round_prefer_ceil"}},
                       C{"linear half_pixel 1.5x floor(5·1.5) = 7", 18, {1, 1, 5, 3}, {1, 1, 1.5f, 1.5f}, {}, {"linear", "half_pixel", ""}},
                       C{"nearest half_pixel default 2x", 18, {1, 2, 3, 4}, {1, 1, 2, 2}, {}, {"nearest", "half_pixel", "round_prefer_floor"}},
                       C{"nearest half_pixel floor 2x", 18, {1, 2, 3, 4}, {1, 1, 2, 2}, {}, {"nearest", "half_pixel", "floor"}},
                       C{"nearest half_pixel ceil 3x", 18, {1, 2, 3, 4}, {1, 1, 3, 3}, {}, {"nearest", "half_pixel", "ceil"}},
                       C{"nearest asymmetric round_prefer_floor 3x", 18, {1, 2, 3, 4}, {1, 1, 3, 3}, {}, {"nearest", "asymmetric", "round_prefer_floor"}},
                       C{"nearest asymmetric round_prefer_ceil 0.5x", 18, {1, 2, 6, 8}, {1, 1, 0.5f, 0.5f}, {}, {"nearest", "asymmetric", "round_prefer_ceil"}},
                       C{"nearest align_corners sizes", 18, {1, 2, 3, 4}, {}, {1, 2, 5, 7}, {"nearest", "align_corners", "round_prefer_floor"}},
                       C{"linear half_pixel sizes", 18, {1, 2, 3, 4}, {}, {1, 2, 5, 7}, {"linear", "half_pixel", ""}},
                       C{"linear align_corners sizes", 18, {1, 2, 3, 4}, {}, {1, 2, 7, 5}, {"linear", "align_corners", ""}},
                       C{"linear asymmetric 2x", 13, {2, 3, 4}, {1, 2, 2}, {}, {"linear", "asymmetric", ""}},
                       C{"linear pytorch_half_pixel downscale", 18, {1, 1, 6, 5}, {}, {1, 1, 4, 1}, {"linear", "pytorch_half_pixel", ""}},
                       C{"opset 11 sizes with empty scales", 11, {1, 2, 3, 4}, {}, {1, 2, 6, 6}, {"linear", "half_pixel", ""}},
                       C{"opset 11 nearest scales", 11, {1, 2, 3, 4}, {1, 1, 2, 3}, {}, {"nearest", "asymmetric", "floor"}}}) {
        SCOPED_TRACE(c.name);
        auto x = rng.tensor(c.x);
        TestModel t(c.opset);
        t.input("x", DataType::f32, c.x);
        std::vector<std::string> ins{"x", "", c.scales.empty() ? "" : "scales"};
        if (!c.scales.empty()) t.init("scales", f32({static_cast<std::int64_t>(c.scales.size())}, c.scales));
        if (!c.sizes.empty()) {
            t.init("sizes", i64({static_cast<std::int64_t>(c.sizes.size())}, c.sizes));
            ins.push_back("sizes");
        }
        if (c.opset == 11) {  // roi and scales are required inputs in opset 11 (empty tensors when unused)
            t.init("roi", f32({0}, {}));
            ins[1] = "roi";
            if (c.scales.empty()) {
                t.init("no_scales", f32({0}, {}));
                ins[2] = "no_scales";
            }
        }
        Attrs attrs{{"mode", as(c.r.mode)}, {"coordinate_transformation_mode", as(c.r.transform)}};
        if (!c.r.nearest_mode.empty()) attrs["nearest_mode"] = as(c.r.nearest_mode);
        t.node("Resize", ins, {"y"}, attrs).output("y");
        Shape ys;
        std::vector<double> scales;
        for (std::size_t d = 0; d < c.x.size(); ++d) {
            if (!c.scales.empty()) {
                scales.push_back(c.scales[d]);
                ys.push_back(static_cast<std::int64_t>(std::floor(static_cast<double>(c.x[d]) * c.scales[d])));
            } else {
                scales.push_back(static_cast<double>(c.sizes[d]) / static_cast<double>(c.x[d]));
                ys.push_back(c.sizes[d]);
            }
        }
        auto want = resize_ref(values(x), c.x, ys, scales, c.r);
        EXPECT_TRUE(close(run(t, {{"x", x}}).at(0), ys, want, 1e-6, 1e-6));
    }
}

// =============================================================================================
// LSTM
// =============================================================================================
struct LstmRef {
    Values y, yh, yc;
};

LstmRef lstm_ref(const Values& x, std::int64_t seq, std::int64_t batch, std::int64_t input, std::int64_t H, int dirs, bool reverse, const Values& W,
                 const Values& R, const Values* B, const Values* h0, const Values* c0) {
    LstmRef r;
    r.y.assign(static_cast<std::size_t>(seq * dirs * batch * H), 0);
    r.yh.assign(static_cast<std::size_t>(dirs * batch * H), 0);
    r.yc = r.yh;
    for (int d = 0; d < dirs; ++d)
        for (std::int64_t n = 0; n < batch; ++n) {
            Values h(static_cast<std::size_t>(H)), c(static_cast<std::size_t>(H));
            for (std::int64_t k = 0; k < H; ++k) {
                auto at = static_cast<std::size_t>((d * batch + n) * H + k);
                h[static_cast<std::size_t>(k)] = h0 ? (*h0)[at] : 0;
                c[static_cast<std::size_t>(k)] = c0 ? (*c0)[at] : 0;
            }
            for (std::int64_t s = 0; s < seq; ++s) {
                std::int64_t t = (reverse || d == 1) ? seq - 1 - s : s;
                Values gate(static_cast<std::size_t>(4 * H));  // i, o, f, c
                for (std::int64_t g = 0; g < 4 * H; ++g) {
                    double acc = B ? (*B)[static_cast<std::size_t>(d * 8 * H + g)] + (*B)[static_cast<std::size_t>(d * 8 * H + 4 * H + g)] : 0;
                    for (std::int64_t i = 0; i < input; ++i)
                        acc += W[static_cast<std::size_t>((d * 4 * H + g) * input + i)] * x[static_cast<std::size_t>((t * batch + n) * input + i)];
                    for (std::int64_t i = 0; i < H; ++i) acc += R[static_cast<std::size_t>((d * 4 * H + g) * H + i)] * h[static_cast<std::size_t>(i)];
                    gate[static_cast<std::size_t>(g)] = acc;
                }
                for (std::int64_t k = 0; k < H; ++k) {
                    auto K = static_cast<std::size_t>(k), HH = static_cast<std::size_t>(H);
                    double i = sigmoid(gate[K]), o = sigmoid(gate[HH + K]), f = sigmoid(gate[2 * HH + K]), g = std::tanh(gate[3 * HH + K]);
                    c[K] = f * c[K] + i * g;
                    h[K] = o * std::tanh(c[K]);
                    r.y[static_cast<std::size_t>(((t * dirs + d) * batch + n) * H + k)] = h[K];
                }
            }
            for (std::int64_t k = 0; k < H; ++k) {
                r.yh[static_cast<std::size_t>((d * batch + n) * H + k)] = h[static_cast<std::size_t>(k)];
                r.yc[static_cast<std::size_t>((d * batch + n) * H + k)] = c[static_cast<std::size_t>(k)];
            }
        }
    return r;
}

TEST(RuntimeOps, Lstm) {
    const std::int64_t seq = 5, batch = 2, input = 3, H = 4;
    struct C {
        std::string direction;
        bool initial_state, bias, hidden_size_attr;
    };
    for (const C& c : {C{"forward", false, true, true}, C{"forward", true, true, true}, C{"reverse", false, true, true}, C{"reverse", true, true, true},
                       C{"bidirectional", false, true, true}, C{"bidirectional", true, true, true}, C{"forward", true, false, true},
                       C{"bidirectional", true, true, false}}) {
        SCOPED_TRACE(c.direction + (c.initial_state ? " with h0/c0" : " without h0/c0") + (c.bias ? " with B" : " without B") +
                     (c.hidden_size_attr ? "" : " without hidden_size"));
        Rng rng(70);
        int dirs = c.direction == "bidirectional" ? 2 : 1;
        auto x = rng.tensor({seq, batch, input}), w = rng.tensor({dirs, 4 * H, input}, -0.7f, 0.7f), r = rng.tensor({dirs, 4 * H, H}, -0.7f, 0.7f);
        auto b = rng.tensor({dirs, 8 * H}, -0.5f, 0.5f), h0 = rng.tensor({dirs, batch, H}), c0 = rng.tensor({dirs, batch, H});
        TestModel t;
        t.input("x", DataType::f32, {seq, batch, input}).init("w", w).init("r", r);
        std::vector<std::string> ins{"x", "w", "r", c.bias ? "b" : "", "", c.initial_state ? "h0" : "", c.initial_state ? "c0" : ""};
        if (c.bias) t.init("b", b);
        std::map<std::string, HostTensor> in{{"x", x}};
        if (c.initial_state) {
            t.input("h0", DataType::f32, {dirs, batch, H}).input("c0", DataType::f32, {dirs, batch, H});
            in["h0"] = h0;
            in["c0"] = c0;
        }
        while (ins.back().empty()) ins.pop_back();
        Attrs attrs{{"direction", as(c.direction)}};
        if (c.hidden_size_attr) attrs["hidden_size"] = ai(H);
        t.node("LSTM", ins, {"y", "yh", "yc"}, attrs).output("y").output("yh").output("yc");
        auto out = run(t, in);
        auto bv = values(b), h0v = values(h0), c0v = values(c0);
        auto want = lstm_ref(values(x), seq, batch, input, H, dirs, c.direction == "reverse", values(w), values(r), c.bias ? &bv : nullptr,
                             c.initial_state ? &h0v : nullptr, c.initial_state ? &c0v : nullptr);
        EXPECT_TRUE(close(out.at(0), {seq, dirs, batch, H}, want.y, 1e-5, 1e-5));
        EXPECT_TRUE(close(out.at(1), {dirs, batch, H}, want.yh, 1e-5, 1e-5));
        EXPECT_TRUE(close(out.at(2), {dirs, batch, H}, want.yc, 1e-5, 1e-5));
    }
}

// =============================================================================================
// DequantizeLinear
// =============================================================================================
TEST(RuntimeOps, DequantizeLinear) {
    Shape xs{2, 3, 4};
    std::mt19937 gen(80);
    std::vector<std::int8_t> q8(24);
    std::vector<std::uint8_t> qu(24);
    for (auto& v : q8) v = static_cast<std::int8_t>(std::uniform_int_distribution<int>(-128, 127)(gen));
    for (auto& v : qu) v = static_cast<std::uint8_t>(std::uniform_int_distribution<int>(0, 255)(gen));
    q8[0] = -128;
    q8[1] = 127;
    qu[0] = 0;
    qu[1] = 255;
    struct C {
        std::string name;
        bool unsigned_;
        std::optional<std::int64_t> axis;  // nullopt: per tensor
        std::vector<float> scale;
        Ints zero;  // empty: no zero point
        bool constant_x = false;
    };
    for (const C& c : {C{"int8 per tensor", false, std::nullopt, {0.05f}, {-3}}, C{"int8 per tensor no zero point", false, std::nullopt, {0.1f}, {}},
                       C{"uint8 per tensor", true, std::nullopt, {0.02f}, {128}}, C{"int8 axis 1", false, 1, {0.1f, 0.2f, 0.05f}, {-1, 0, 5}},
                       C{"int8 axis 0", false, 0, {0.5f, 0.01f}, {2, -2}}, C{"uint8 axis 1 default", true, std::nullopt, {0.1f, 0.3f, 0.2f}, {0, 128, 255}},
                       C{"int8 axis -1", false, -1, {0.1f, 0.2f, 0.3f, 0.4f}, {}}, C{"int8 constant (folded)", false, 1, {1.f, 2.f, 3.f}, {1, 2, 3}, true}}) {
        SCOPED_TRACE(c.name);
        DataType dt = c.unsigned_ ? DataType::u8 : DataType::s8;
        HostTensor x = c.unsigned_ ? u8(xs, qu) : s8(xs, q8);
        auto n = static_cast<std::int64_t>(c.scale.size());
        bool per_channel = n > 1 || c.axis;
        Shape ps = per_channel ? Shape{n} : Shape{};
        TestModel t;
        if (c.constant_x) t.init("x", x).input("dummy", DataType::f32, {1});
        else t.input("x", dt, xs);
        t.init("s", f32(ps, c.scale));
        std::vector<std::string> ins{"x", "s"};
        if (!c.zero.empty()) {
            if (c.unsigned_) t.init("z", u8(ps, std::vector<std::uint8_t>(c.zero.begin(), c.zero.end())));
            else t.init("z", s8(ps, std::vector<std::int8_t>(c.zero.begin(), c.zero.end())));
            ins.push_back("z");
        }
        Attrs attrs;
        if (c.axis) attrs["axis"] = ai(*c.axis);
        t.node("DequantizeLinear", ins, {"y"}, attrs).output("y");
        std::int64_t axis = per_channel ? (c.axis ? (*c.axis < 0 ? *c.axis + 3 : *c.axis) : 1) : 0;
        auto xv = values(x);
        Values want;
        for (std::int64_t i = 0; i < 24; ++i) {
            auto ch = per_channel ? static_cast<std::size_t>(unravel(i, xs)[static_cast<std::size_t>(axis)]) : 0;
            double z = c.zero.empty() ? 0 : double(c.zero[ch]);
            want.push_back((xv[static_cast<std::size_t>(i)] - z) * double(c.scale[ch]));
        }
        auto out = c.constant_x ? run(t, {{"dummy", f32({1}, {0})}}) : run(t, {{"x", x}});
        EXPECT_EQ(out.at(0).dtype, DataType::f32);
        EXPECT_TRUE(close(out.at(0), xs, want, 1e-6, 1e-6));
    }
}

// =============================================================================================
// If
// =============================================================================================
Graph branch(const std::string& name, const std::string& op, float k) {
    GraphBuilder g;
    g.g.name = name;
    g.init(name + "_k", f32({}, {k})).node(op, {"x", name + "_k"}, {name + "_out"}).output(name + "_out");
    return g.g;
}

TEST(RuntimeOps, IfOnConstantCondition) {
    for (bool cond : {true, false}) {
        SCOPED_TRACE(cond);
        TestModel t;
        t.input("x", DataType::f32, {3}).init("cond", boolean({}, {static_cast<std::uint8_t>(cond)}));
        t.node("If", {"cond"}, {"y"}, {{"then_branch", ag(branch("then", "Add", 1.f))}, {"else_branch", ag(branch("else", "Mul", 2.f))}}).output("y");
        ModelRunner runner(t.build(), cpu());
        auto out = runner.run({{"x", f32({3}, {1, 2, 3})}});
        EXPECT_TRUE(exact(out.at(0), {3}, cond ? Values{2, 3, 4} : Values{2, 4, 6}));
    }
}

TEST(RuntimeOps, IfOnScalarIntegerInputSpecialisesPlans) {
    TestModel t;
    t.input("x", DataType::f32, {3}).input("mode", DataType::s64, {}).init("one", i64({}, {1}));
    t.node("Equal", {"mode", "one"}, {"cond"});
    t.node("If", {"cond"}, {"y"}, {{"then_branch", ag(branch("then", "Add", 1.f))}, {"else_branch", ag(branch("else", "Mul", 2.f))}}, "if_mode").output("y");
    ModelRunner runner(t.build(), cpu());
    auto x = f32({3}, {1, 2, 3});
    EXPECT_TRUE(exact(runner.run({{"x", x}, {"mode", i64({}, {1})}}).at(0), {3}, {2, 3, 4}));
    EXPECT_EQ(runner.stats().plans_built, 1u);
    EXPECT_TRUE(exact(runner.run({{"x", x}, {"mode", i64({}, {0})}}).at(0), {3}, {2, 4, 6}));
    EXPECT_EQ(runner.stats().plans_built, 2u);
    EXPECT_TRUE(exact(runner.run({{"x", x}, {"mode", i64({}, {1})}}).at(0), {3}, {2, 3, 4}));
    EXPECT_EQ(runner.stats().plans_built, 2u);  // both plans cached
}

// A value read inside a branch is not fused away: the Conv → Relu here stays two steps, and the
// branch sees the Conv output before the activation.
TEST(RuntimeOps, IfBranchReadsAValueThatCouldBeFused) {
    Rng rng(71);
    Shape xs{1, 2, 4, 4}, ws{3, 2, 1, 1};
    auto x = rng.tensor(xs), w = rng.tensor(ws);
    GraphBuilder then_branch;
    then_branch.g.name = "then";
    then_branch.node("Neg", {"c"}, {"neg_c"}).output("neg_c");
    TestModel t;
    t.input("x", DataType::f32, xs).init("w", w).init("cond", boolean({}, {1}));
    t.node("Conv", {"x", "w"}, {"c"}).node("Relu", {"c"}, {"r"});
    t.node("If", {"cond"}, {"b"}, {{"then_branch", ag(then_branch.g)}, {"else_branch", ag(then_branch.g)}}).output("r").output("b");
    ModelRunner runner(t.build(), cpu());
    auto out = runner.run({{"x", x}});
    Shape ys;
    auto conv = conv2d_ref(values(x), xs, values(w), ws, nullptr, Conv2d{}, ys);
    Values relu, neg;
    for (double v : conv) {
        relu.push_back(std::max(v, 0.0));
        neg.push_back(-v);
    }
    EXPECT_TRUE(close(out.at(0), ys, relu, 1e-5, 1e-5));
    EXPECT_TRUE(close(out.at(1), ys, neg, 1e-5, 1e-5));
    EXPECT_EQ(runner.stats().fused_nodes, 0u);
}

TEST(RuntimeOps, IfOnTensorDataIsAnError) {
    TestModel t;
    t.input("x", DataType::f32, {3}).init("zero", f32({}, {0.f}));
    t.node("ReduceSum", {"x"}, {"s"}, {{"keepdims", ai(0)}}).node("Greater", {"s", "zero"}, {"cond"});
    t.node("If", {"cond"}, {"y"}, {{"then_branch", ag(branch("then", "Add", 1.f))}, {"else_branch", ag(branch("else", "Mul", 2.f))}}, "data_if").output("y");
    auto msg = error_of([&] { run(t, {{"x", f32({3}, {1, 2, 3})}}); });
    EXPECT_TRUE(contains(msg, "test.onnx: node 'data_if' (If): the condition depends on tensor data")) << msg;
}

// =============================================================================================
// Errors
// =============================================================================================
TEST(RuntimeOps, Errors) {
    auto x23 = f32({2, 3}, std::vector<float>(6, 1.f));
    {
        TestModel t;
        t.input("x", DataType::f32, {2, 3}).node("Frobnicate", {"x"}, {"y"}, {}, "frob").output("y");
        EXPECT_EQ(error_of([&] { run(t, {{"x", x23}}); }), "test.onnx: node 'frob' (Frobnicate): operator 'Frobnicate' is not supported by xmodal's runtime");
    }
    TestModel two;
    two.input("x", DataType::f32, {2, 3}).input("y", DataType::f32, {3}).node("Add", {"x", "y"}, {"z"}).output("z");
    EXPECT_EQ(error_of([&] { run(two, {{"x", x23}, {"w", x23}}); }), "test.onnx: no input named 'w' (inputs: 'x', 'y')");
    EXPECT_EQ(error_of([&] { run(two, {{"x", x23}}); }), "test.onnx: input 'y' was not given");
    EXPECT_EQ(error_of([&] { run(two, {{"x", i64({2, 3}, Ints(6, 0))}, {"y", f32({3}, {1, 2, 3})}}); }), "test.onnx: input 'x' must be f32, got s64");
    EXPECT_EQ(error_of([&] { run(two, {{"x", f32({3, 2}, std::vector<float>(6))}, {"y", f32({3}, {1, 2, 3})}}); }),
              "test.onnx: input 'x' must have shape [2,3], got [3,2]");
    {
        TestModel t;
        t.input("x", DataType::f32, {2, 3}).init("s", i64({2}, {4, 2})).node("Reshape", {"x", "s"}, {"y"}, {}, "reshape").output("y");
        EXPECT_EQ(error_of([&] { run(t, {{"x", x23}}); }), "test.onnx: node 'reshape' (Reshape): cannot reshape [2,3] (6 elements) to [4,2]");
        TestModel t2;
        t2.input("x", DataType::f32, {2, 3}).init("s", i64({2}, {-1, 4})).node("Reshape", {"x", "s"}, {"y"}, {}, "reshape").output("y");
        EXPECT_EQ(error_of([&] { run(t2, {{"x", x23}}); }), "test.onnx: node 'reshape' (Reshape): cannot reshape [2,3] (6 elements) to [-1,4]");
    }
    {
        TestModel t;
        t.input("a", DataType::f32, {2, 3}).input("b", DataType::f32, {3, 3}).node("Concat", {"a", "b"}, {"y"}, {{"axis", ai(1)}}, "concat").output("y");
        EXPECT_EQ(error_of([&] { run(t, {{"a", x23}, {"b", f32({3, 3}, std::vector<float>(9))}}); }),
                  "test.onnx: node 'concat' (Concat): input 'b' f32[3,3] does not concatenate with 'a' f32[2,3] on axis 1");
    }
    {
        TestModel t;
        t.input("x", DataType::f32, {3, 2}).input("i", DataType::s64, {2}).node("Gather", {"x", "i"}, {"y"}, {}, "gather").output("y");
        ModelRunner runner(t.build(), cpu());
        auto x = f32({3, 2}, {1, 2, 3, 4, 5, 6});
        EXPECT_TRUE(exact(runner.run({{"x", x}, {"i", i64({2}, {2, -3})}}).at(0), {2, 2}, {5, 6, 1, 2}));
        EXPECT_EQ(error_of([&] { runner.run({{"x", x}, {"i", i64({2}, {0, 3})}}); }),
                  "test.onnx: node 'gather' (Gather): index 3 is out of range for a dimension of 3");
        EXPECT_EQ(error_of([&] { runner.run({{"x", x}, {"i", i64({2}, {-4, 0})}}); }),
                  "test.onnx: node 'gather' (Gather): index -4 is out of range for a dimension of 3");
        EXPECT_EQ(runner.stats().plans_built, 1u);  // the run-time error leaves the plan usable
        EXPECT_TRUE(exact(runner.run({{"x", x}, {"i", i64({2}, {1, 1})}}).at(0), {2, 2}, {3, 4, 3, 4}));
    }
}

// =============================================================================================
// Steady state: plan reuse and arena reuse
// =============================================================================================
TEST(RuntimeOps, PlansAreReusedAndBuiltPerShape) {
    TestModel t;
    t.input_dims("x", DataType::f32, {Dim{-1, "batch"}, Dim{4, ""}}).init("w", f32({4, 2}, {1, 0, 0, 1, 1, 0, 0, 1}));
    t.node("MatMul", {"x", "w"}, {"m"}).node("Relu", {"m"}, {"y"}).output("y");
    ModelRunner runner(t.build(), cpu());
    auto x2 = f32({2, 4}, {1, 2, 3, 4, -1, -2, -3, -4});
    EXPECT_TRUE(exact(runner.run({{"x", x2}}).at(0), {2, 2}, {4, 6, 0, 0}));
    EXPECT_TRUE(exact(runner.run({{"x", x2}}).at(0), {2, 2}, {4, 6, 0, 0}));
    EXPECT_EQ(runner.stats().plans_built, 1u);
    auto x3 = f32({3, 4}, {1, 1, 1, 1, 0, 1, 0, 1, 2, 0, 0, -5});
    EXPECT_TRUE(exact(runner.run({{"x", x3}}).at(0), {3, 2}, {2, 2, 0, 2, 2, 0}));
    EXPECT_EQ(runner.stats().plans_built, 2u);
    EXPECT_TRUE(exact(runner.run({{"x", x2}}).at(0), {2, 2}, {4, 6, 0, 0}));
    EXPECT_EQ(runner.stats().plans_built, 2u);
    // Outputs written into caller buffers, reused across runs.
    std::vector<HostTensor> outputs;
    runner.run({{"x", TensorView::of(x3)}}, outputs);
    runner.run({{"x", TensorView::of(x3)}}, outputs);
    EXPECT_TRUE(exact(outputs.at(0), {3, 2}, {2, 2, 0, 2, 2, 0}));
    EXPECT_EQ(runner.stats().plans_built, 2u);
}

TEST(RuntimeOps, PlanCacheEvictsTheLeastRecentlyUsed) {
    TestModel t;
    t.input_dims("x", DataType::f32, {Dim{-1, "n"}}).node("Neg", {"x"}, {"y"}).output("y");
    ModelRunner runner(t.build(), cpu(), {.max_cached_plans = 2});
    auto x = [](std::int64_t n) { return f32({n}, std::vector<float>(static_cast<std::size_t>(n), 2.f)); };
    for (std::int64_t n : {1, 2, 1, 3, 1, 2}) {
        auto out = runner.run({{"x", x(n)}});
        EXPECT_TRUE(exact(out.at(0), {n}, Values(static_cast<std::size_t>(n), -2.0)));
    }
    // 1, 2 built; 1 reused; 3 evicts 2; 1 reused; 2 rebuilt (evicting 3).
    EXPECT_EQ(runner.stats().plans_built, 4u);
}

TEST(RuntimeOps, ArenaReusesBuffersAlongAChain) {
    Rng rng(90);
    Shape xs{32, 64};
    auto x = rng.tensor(xs);
    TestModel t;
    t.input("x", DataType::f32, xs).node("Sigmoid", {"x"}, {"a"}).node("Neg", {"a"}, {"b"}).node("Exp", {"b"}, {"c"}).node("Abs", {"c"}, {"d"});
    t.node("Tanh", {"d"}, {"y"}).output("y");
    ModelRunner runner(t.build(), cpu());
    auto out = runner.run({{"x", x}});
    Values want;
    for (double v : values(x)) want.push_back(std::tanh(std::abs(std::exp(-sigmoid(v)))));
    EXPECT_TRUE(close(out.at(0), xs, want, 1e-6, 1e-6));
    auto stats = runner.stats();
    EXPECT_EQ(stats.steps, 5u);
    EXPECT_LT(stats.arena_bytes, stats.unplanned_bytes);
    EXPECT_LE(stats.arena_bytes, 3 * 32 * 64 * 4u);  // input + two alternating buffers
    // Running again gives the same result from the same buffers.
    EXPECT_TRUE(close(runner.run({{"x", x}}).at(0), xs, want, 1e-6, 1e-6));
    EXPECT_EQ(runner.stats().plans_built, 1u);
}

}  // namespace
}  // namespace xmodal
