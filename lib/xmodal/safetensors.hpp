// Reading and writing the safetensors format (https://huggingface.co/docs/safetensors): an 8-byte
// little-endian header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__":
// {string: string}}, then raw little-endian tensor data. Chosen for learned weights because our
// PyTorch/NumPy tools can write it with a few lines and no extra package, and it is self-describing.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "xmodal/tensor.hpp"

namespace xmodal {

struct HostTensor {
    DataType dtype = DataType::f32;
    Shape shape;
    std::vector<std::uint8_t> bytes;  // dense row-major, little-endian

    std::int64_t numel() const;
    std::vector<float> to_f32() const;
    static HostTensor from_f32(Shape shape, const std::vector<float>& values);
};

struct TensorFile {
    std::map<std::string, HostTensor> tensors;
    std::map<std::string, std::string> metadata;

    // Throws xmodal::Error naming `name` and the file if the tensor is missing or has another shape.
    const HostTensor& require(const std::string& name, const Shape& expected_shape = {}) const;
    std::string path;  // where it was loaded from, for messages
};

// Throws xmodal::Error naming the file and what is malformed (truncated, bad header, overlapping
// or out-of-range data offsets, unsupported dtype, shape/size mismatch).
TensorFile load_safetensors(const std::string& path);
void save_safetensors(const std::string& path, const TensorFile& file);

}  // namespace xmodal
