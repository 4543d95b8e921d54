// Loads a TFLite model (flatbuffer, schema version 3) into xmodal's Graph, the same IR the ONNX
// loader produces: TFLite operators become ONNX operators with ONNX (opset 18) semantics, so the
// engine has one operator set to implement. docs/DESIGN.md ("TFLite loading") gives the mapping:
// activations stay NHWC (Conv carries channels_last = 1), conv filters are permuted to OIHW at
// load, int8 weights stay int8 behind a DequantizeLinear node, fused activations become nodes.
// Operators without an ONNX mapping load as nodes of domain "tflite" (custom ops:
// "tflite.custom") named by their TFLite name, so they show in the op histogram.
#pragma once

#include <cstddef>
#include <string>

#include "xmodal/graph.hpp"

namespace xmodal {

// Throws xmodal::Error naming the file and what is wrong: unreadable, empty, not a TFLite
// flatbuffer (wrong identifier, truncated, failed verification), an unsupported schema version,
// an out-of-range tensor/buffer/opcode index (naming the operator), constant data whose size
// does not match its shape, quantization scales that do not match the channel count, operator
// parameters the mapping cannot express (e.g. STRIDED_SLICE ellipsis masks).
Model load_tflite(const std::string& path);
// Same, from bytes already in memory (`name` is used in messages). Used by the fuzzer.
Model load_tflite_bytes(const void* data, std::size_t size, const std::string& name);

}  // namespace xmodal
