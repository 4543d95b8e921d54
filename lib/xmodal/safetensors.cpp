#include "xmodal/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "xmodal/error.hpp"

namespace xmodal {
namespace {

const char* safetensors_dtype(DataType dt) {
    switch (dt) {
        case DataType::f32: return "F32";
        case DataType::bf16: return "BF16";
        case DataType::f16: return "F16";
        case DataType::s8: return "I8";
        case DataType::u8: return "U8";
        case DataType::s32: return "I32";
        case DataType::s64: return "I64";
        case DataType::boolean: return "BOOL";
        case DataType::f64: return "F64";
    }
    return "?";
}

DataType parse_safetensors_dtype(const std::string& name, const std::string& path, const std::string& tensor) {
    for (auto dt : all_dtypes)
        if (name == safetensors_dtype(dt)) return dt;
    fail(path, ": tensor '", tensor, "' has dtype '", name, "' (supported: F32, BF16, F16, I8, U8, I32, I64, BOOL, F64)");
}

}  // namespace

std::int64_t HostTensor::numel() const {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
}

std::vector<float> HostTensor::to_f32() const {
    std::vector<float> out(static_cast<std::size_t>(numel()));
    auto read = [&]<class T>(T) {
        for (std::size_t i = 0; i < out.size(); ++i) {
            T v;
            std::memcpy(&v, bytes.data() + i * sizeof(T), sizeof(T));
            out[i] = static_cast<float>(v);
        }
    };
    switch (dtype) {
        case DataType::f32: read(float{}); break;
        case DataType::f64: read(double{}); break;
        case DataType::s8: read(std::int8_t{}); break;
        case DataType::u8:
        case DataType::boolean: read(std::uint8_t{}); break;
        case DataType::s32: read(std::int32_t{}); break;
        case DataType::s64: read(std::int64_t{}); break;
        case DataType::bf16:
        case DataType::f16:
            for (std::size_t i = 0; i < out.size(); ++i) {
                std::uint16_t h;
                std::memcpy(&h, bytes.data() + 2 * i, 2);
                out[i] = dtype == DataType::bf16 ? bf16_to_f32(h) : f16_to_f32(h);
            }
            break;
    }
    return out;
}

HostTensor HostTensor::from_f32(Shape shape, const std::vector<float>& values) {
    HostTensor t;
    t.shape = std::move(shape);
    if (t.numel() != static_cast<std::int64_t>(values.size()))
        fail("HostTensor::from_f32: shape ", shape_string(t.shape), " needs ", t.numel(), " values, got ",
             values.size());
    t.bytes.resize(values.size() * 4);
    std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
    return t;
}

const HostTensor& TensorFile::require(const std::string& name, const Shape& expected_shape) const {
    auto it = tensors.find(name);
    if (it == tensors.end()) {
        std::string known;
        for (const auto& [n, _] : tensors) known += (known.empty() ? "" : ", ") + n;
        fail(path, ": no tensor '", name, "' (file has: ", known, ")");
    }
    if (!expected_shape.empty() && it->second.shape != expected_shape)
        fail(path, ": tensor '", name, "' has shape ", shape_string(it->second.shape), ", expected ",
             shape_string(expected_shape));
    return it->second;
}

TensorFile load_safetensors(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot open weights file '", path, "'");
    in.seekg(0, std::ios::end);
    const auto file_size = static_cast<std::uint64_t>(in.tellg());
    in.seekg(0);
    if (file_size < 8) fail(path, ": truncated safetensors file (", file_size, " bytes, header length needs 8)");
    unsigned char len_bytes[8];
    in.read(reinterpret_cast<char*>(len_bytes), 8);
    std::uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
    if (header_len > file_size - 8)
        fail(path, ": safetensors header claims ", header_len, " bytes but only ", file_size - 8, " follow");
    std::string header(header_len, '\0');
    in.read(header.data(), static_cast<std::streamsize>(header_len));
    const std::uint64_t data_size = file_size - 8 - header_len;

    nlohmann::json j;
    try {
        j = nlohmann::json::parse(header);
    } catch (const nlohmann::json::exception& e) {
        fail(path, ": safetensors header is not valid JSON: ", e.what());
    }
    if (!j.is_object()) fail(path, ": safetensors header is not a JSON object");

    TensorFile file;
    file.path = path;
    std::vector<char> data(data_size);
    in.read(data.data(), static_cast<std::streamsize>(data_size));
    if (!in) fail(path, ": could not read ", data_size, " bytes of tensor data");

    for (const auto& [name, entry] : j.items()) {
        if (name == "__metadata__") {
            if (!entry.is_object()) fail(path, ": __metadata__ is not an object");
            for (const auto& [key, value] : entry.items()) {
                if (!value.is_string()) fail(path, ": metadata '", key, "' is not a string");
                file.metadata[key] = value.get<std::string>();
            }
            continue;
        }
        try {
            HostTensor t;
            t.dtype = parse_safetensors_dtype(entry.at("dtype").get<std::string>(), path, name);
            t.shape = entry.at("shape").get<Shape>();
            for (auto d : t.shape)
                if (d < 0) fail(path, ": tensor '", name, "' has a negative dimension");
            auto offsets = entry.at("data_offsets").get<std::vector<std::uint64_t>>();
            if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_size)
                fail(path, ": tensor '", name, "' has data_offsets outside the ", data_size, "-byte data section");
            const std::uint64_t expected = static_cast<std::uint64_t>(t.numel()) * dtype_size(t.dtype);
            if (offsets[1] - offsets[0] != expected)
                fail(path, ": tensor '", name, "' ", shape_string(t.shape), " ", dtype_name(t.dtype), " needs ",
                     expected, " bytes, data_offsets give ", offsets[1] - offsets[0]);
            t.bytes.assign(data.begin() + static_cast<std::ptrdiff_t>(offsets[0]),
                           data.begin() + static_cast<std::ptrdiff_t>(offsets[1]));
            file.tensors.emplace(name, std::move(t));
        } catch (const nlohmann::json::exception& e) {
            fail(path, ": tensor '", name, "' entry is malformed: ", e.what());
        }
    }
    return file;
}

void save_safetensors(const std::string& path, const TensorFile& file) {
    nlohmann::json j = nlohmann::json::object();
    if (!file.metadata.empty()) j["__metadata__"] = file.metadata;
    std::uint64_t offset = 0;
    for (const auto& [name, t] : file.tensors) {
        j[name] = {{"dtype", safetensors_dtype(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
        offset += t.bytes.size();
    }
    std::string header = j.dump();
    header.append((8 - header.size() % 8) % 8, ' ');  // keep the data section 8-byte aligned
    std::ofstream out(path, std::ios::binary);
    if (!out) fail("cannot write weights file '", path, "'");
    std::uint64_t len = header.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((len >> (8 * i)) & 0xff));
    out << header;
    for (const auto& [name, t] : file.tensors) out.write(reinterpret_cast<const char*>(t.bytes.data()), static_cast<std::streamsize>(t.bytes.size()));
    if (!out) fail("error writing weights file '", path, "'");
}

}  // namespace xmodal
