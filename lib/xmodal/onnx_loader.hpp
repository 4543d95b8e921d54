// Loads an ONNX model (protobuf, Debian's libonnx_proto) into xmodal's Graph.
#pragma once

#include <string>

#include "xmodal/graph.hpp"

namespace xmodal {

// Throws xmodal::Error naming the file and what is wrong: unreadable, truncated or not a model,
// unsupported tensor type, weights whose byte size does not match their shape, external data out
// of range, a node input that no input, initializer or earlier node defines.
Model load_onnx(const std::string& path);
// Same, from bytes already in memory (`name` is used in messages). Used by the fuzzer.
Model load_onnx_bytes(const void* data, std::size_t size, const std::string& name);

}  // namespace xmodal
