#include "xmodal/npy.hpp"

#include <cstring>
#include <fstream>
#include <iterator>
#include <regex>

#include "xmodal/error.hpp"

namespace xmodal {

namespace {
struct Descr {
    const char* code;
    DataType dtype;
};
constexpr Descr kDescrs[] = {{"<f4", DataType::f32}, {"<f8", DataType::f64}, {"<i8", DataType::s64}, {"<i4", DataType::s32},
                             {"|i1", DataType::s8},  {"|u1", DataType::u8},  {"|b1", DataType::boolean}, {"<f2", DataType::f16}};
}  // namespace

HostTensor load_npy(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, ": cannot open");
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) fail(path, ": not a .npy file (no \\x93NUMPY magic)");
    int major = static_cast<unsigned char>(bytes[6]);
    std::size_t header_len, header_at;
    if (major == 1) {
        header_len = static_cast<unsigned char>(bytes[8]) | static_cast<std::size_t>(static_cast<unsigned char>(bytes[9])) << 8;
        header_at = 10;
    } else if (major == 2 || major == 3) {
        if (bytes.size() < 12) fail(path, ": truncated header");
        header_len = 0;
        for (int i = 0; i < 4; ++i) header_len |= static_cast<std::size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
        header_at = 12;
    } else {
        fail(path, ": .npy format version ", major, " is not supported");
    }
    if (header_at + header_len > bytes.size()) fail(path, ": truncated header");
    std::string header = bytes.substr(header_at, header_len);
    std::smatch m;
    if (!std::regex_search(header, m, std::regex("'descr'\\s*:\\s*'([^']*)'"))) fail(path, ": header has no 'descr'");
    std::string descr = m[1];
    HostTensor t;
    bool known = false;
    for (const auto& d : kDescrs)
        if (descr == d.code) {
            t.dtype = d.dtype;
            known = true;
        }
    if (!known) fail(path, ": dtype '", descr, "' is not supported (float32/64, float16, int64/32/8, uint8, bool, little-endian)");
    if (std::regex_search(header, m, std::regex("'fortran_order'\\s*:\\s*True"))) fail(path, ": Fortran-ordered arrays are not supported");
    if (!std::regex_search(header, m, std::regex("'shape'\\s*:\\s*\\(([^)]*)\\)"))) fail(path, ": header has no 'shape'");
    std::string dims = m[1];
    std::regex number("[0-9]+");
    for (auto it = std::sregex_iterator(dims.begin(), dims.end(), number); it != std::sregex_iterator(); ++it) t.shape.push_back(std::stoll(it->str()));
    std::size_t count = 1;
    for (auto d : t.shape) count *= static_cast<std::size_t>(d);
    std::size_t need = count * dtype_size(t.dtype), at = header_at + header_len;
    if (bytes.size() - at < need) fail(path, ": has ", bytes.size() - at, " data bytes, shape ", shape_string(t.shape), " needs ", need);
    t.bytes.assign(bytes.begin() + static_cast<std::ptrdiff_t>(at), bytes.begin() + static_cast<std::ptrdiff_t>(at + need));
    return t;
}

void save_npy(const std::string& path, const HostTensor& tensor) {
    const char* code = nullptr;
    for (const auto& d : kDescrs)
        if (d.dtype == tensor.dtype) code = d.code;
    if (!code) fail(path, ": cannot save ", dtype_name(tensor.dtype), " as .npy");
    // Python tuple syntax: "()", "(3,)", "(2, 3)".
    std::string shape;
    for (std::size_t i = 0; i < tensor.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(tensor.shape[i]);
    if (tensor.shape.size() == 1) shape += ",";
    std::string header = std::string("{'descr': '") + code + "', 'fortran_order': False, 'shape': (" + shape + "), }";
    std::size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header += '\n';
    std::ofstream out(path, std::ios::binary);
    if (!out) fail(path, ": cannot write");
    out.write("\x93NUMPY\x01\x00", 8);
    char len[2] = {static_cast<char>(header.size() & 0xff), static_cast<char>(header.size() >> 8)};
    out.write(len, 2);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(reinterpret_cast<const char*>(tensor.bytes.data()), static_cast<std::streamsize>(tensor.bytes.size()));
    if (!out) fail(path, ": write failed");
}

}  // namespace xmodal
