// The model runtime: executes a loaded Model (ONNX or TFLite, see graph.hpp) on a Device.
//
//   auto model = xmodal::load_onnx("yolox_nano.onnx");
//   xmodal::ModelRunner runner(std::move(model), xmodal::Device::open("cpu"), {.precision = DataType::bf16});
//   auto outputs = runner.run({{"images", image_tensor}});
//
// What happens on the first run with a given set of input shapes (a "plan", cached per shape set):
// shapes are inferred node by node, everything computable from constants and shapes is folded
// (Shape → Gather → Concat → Reshape chains, DequantizeLinear of int8 weights, If branches chosen
// by a constant or scalar-integer input), Conv → Sigmoid·Mul / Relu / Clip / Tanh / Sigmoid become
// oneDNN post-ops, MatMul → scale → [mask] → Softmax → MatMul runs on xmodal's attention operator,
// layouts between oneDNN ops are chosen by oneDNN (reorders only where a plain layout is needed),
// and one arena is laid out for all intermediate values (buffers reused across nodes). Later runs
// with the same shapes allocate nothing and create no primitives.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "xmodal/device.hpp"
#include "xmodal/graph.hpp"
#include "xmodal/safetensors.hpp"

namespace xmodal {

// A read-only view of caller memory: dense row-major.
struct TensorView {
    DataType dtype = DataType::f32;
    Shape shape;
    const void* data = nullptr;

    static TensorView of(const HostTensor& t) { return {t.dtype, t.shape, t.bytes.data()}; }
};

struct RuntimeOptions {
    // f32 or bf16. bf16 runs convolutions and matrix products in bf16 (falling back to f32, with
    // a warning, where the device has no native bf16); other ops compute in f32.
    DataType precision = DataType::f32;
    std::size_t max_cached_plans = 4;  // per distinct input-shape set
};

struct RuntimeStats {
    std::size_t plans_built = 0;
    std::size_t steps = 0;            // kernels in the current plan
    std::size_t folded_nodes = 0;     // nodes evaluated at plan time
    std::size_t fused_nodes = 0;      // nodes absorbed into another op (post-ops, attention)
    std::size_t reorders = 0;         // layout/type conversions inserted
    std::size_t arena_bytes = 0;      // intermediate values, after buffer reuse
    std::size_t unplanned_bytes = 0;  // what they would take without reuse
};

class ModelRunner {
public:
    ModelRunner(Model model, std::shared_ptr<Device> device, RuntimeOptions options = {});
    ~ModelRunner();
    ModelRunner(const ModelRunner&) = delete;
    ModelRunner& operator=(const ModelRunner&) = delete;

    const Model& model() const;
    DataType precision() const;  // after resolving against the device
    const std::vector<ValueInfo>& inputs() const { return model().graph.inputs; }
    const std::vector<ValueInfo>& outputs() const { return model().graph.outputs; }

    // Runs the model. Inputs by name; every graph input must be given once, with the declared
    // type and a shape compatible with the declared one (errors name the input, file and what
    // was expected). Outputs are written in graph order into `outputs`, reusing its buffers.
    void run(const std::vector<std::pair<std::string, TensorView>>& inputs, std::vector<HostTensor>& outputs);
    std::vector<HostTensor> run(const std::map<std::string, HostTensor>& inputs);

    RuntimeStats stats() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Loads .onnx or .tflite by extension; errors name the file.
Model load_model(const std::string& path);

}  // namespace xmodal
