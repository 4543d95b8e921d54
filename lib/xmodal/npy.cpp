#include "xmodal/npy.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <regex>

#include <zlib.h>

#include "xmodal/error.hpp"

namespace xmodal {

namespace {
struct Descr {
    const char* code;
    DataType dtype;
};
constexpr Descr kDescrs[] = {{"<f4", DataType::f32}, {"<f8", DataType::f64}, {"<i8", DataType::s64}, {"<i4", DataType::s32},
                             {"|i1", DataType::s8},  {"|u1", DataType::u8},  {"|b1", DataType::boolean}, {"<f2", DataType::f16}};

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, ": cannot open");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// `path` names the array in messages: a file, or "archive.npz: member.npy".
HostTensor parse_npy(const std::string& bytes, const std::string& path) {
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

std::uint64_t le(const std::string& bytes, std::size_t at, int size) {
    std::uint64_t v = 0;
    for (int i = 0; i < size; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[at + static_cast<std::size_t>(i)])) << (8 * i);
    return v;
}

std::string inflate_member(const std::string& path, const std::string& name, const char* data, std::size_t size, std::size_t expected) {
    std::string out(expected, '\0');
    z_stream z{};
    // Negative window bits: raw deflate, as zip stores it (no zlib header).
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) fail(path, ": ", name, ": cannot start zlib");
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    z.avail_in = static_cast<uInt>(size);
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(expected);
    int rc = inflate(&z, Z_FINISH);
    std::size_t produced = z.total_out;
    inflateEnd(&z);
    if (rc != Z_STREAM_END || produced != expected)
        fail(path, ": ", name, ": corrupt deflate data (zlib ", rc, ", ", produced, " of ", expected, " bytes)");
    return out;
}
}  // namespace

HostTensor load_npy(const std::string& path) { return parse_npy(read_file(path), path); }

std::map<std::string, HostTensor> load_npz(const std::string& path) {
    const std::string bytes = read_file(path);
    // The end-of-central-directory record is the last 22 bytes plus a comment of up to 64 KiB.
    std::size_t eocd = std::string::npos;
    for (std::size_t at = bytes.size() >= 22 ? bytes.size() - 22 : std::string::npos; at != std::string::npos && bytes.size() - at <= 22 + 65535; --at) {
        if (le(bytes, at, 4) == 0x06054b50) {
            eocd = at;
            break;
        }
        if (at == 0) break;
    }
    if (eocd == std::string::npos) fail(path, ": not an .npz file (no zip end-of-central-directory record)");
    const std::uint64_t entries = le(bytes, eocd + 10, 2), cd_size = le(bytes, eocd + 12, 4), cd_at = le(bytes, eocd + 16, 4);
    if (entries == 0xffff || cd_at == 0xffffffff) fail(path, ": zip64 archives (over 4 GiB or 65535 members) are not supported");
    if (cd_at + cd_size > eocd) fail(path, ": central directory lies outside the file");
    std::map<std::string, HostTensor> arrays;
    std::size_t at = cd_at;
    for (std::uint64_t i = 0; i < entries; ++i) {
        if (at + 46 > eocd || le(bytes, at, 4) != 0x02014b50) fail(path, ": central directory entry ", i, " is malformed");
        const auto method = le(bytes, at + 10, 2), flags = le(bytes, at + 8, 2);
        const auto crc = le(bytes, at + 16, 4), name_len = le(bytes, at + 28, 2), extra_len = le(bytes, at + 30, 2), comment_len = le(bytes, at + 32, 2);
        std::uint64_t packed = le(bytes, at + 20, 4), size = le(bytes, at + 24, 4), local = le(bytes, at + 42, 4);
        if (at + 46 + name_len + extra_len > eocd) fail(path, ": central directory entry ", i, " is truncated");
        const std::string name = bytes.substr(at + 46, name_len);
        // Sizes that do not fit 32 bits are in the zip64 extra field (id 1), in this order, only those marked 0xffffffff.
        const std::size_t extra_end = at + 46 + name_len + extra_len;
        for (std::size_t e = at + 46 + name_len; e + 4 <= extra_end;) {
            const auto id = le(bytes, e, 2), len = le(bytes, e + 2, 2);
            std::size_t f = e + 4;
            if (id == 1)
                for (std::uint64_t* v : {&size, &packed, &local})
                    if (*v == 0xffffffff && f + 8 <= std::min<std::size_t>(e + 4 + len, extra_end)) {
                        *v = le(bytes, f, 8);
                        f += 8;
                    }
            e += 4 + len;
        }
        at += 46 + name_len + extra_len + comment_len;
        if (size > 0xffffffffu || packed > 0xffffffffu) fail(path, ": ", name, ": members over 4 GiB are not supported");
        if (flags & 1) fail(path, ": ", name, ": encrypted members are not supported");
        if (local + 30 > bytes.size() || le(bytes, local, 4) != 0x04034b50) fail(path, ": ", name, ": local header missing");
        const std::uint64_t data_at = local + 30 + le(bytes, local + 26, 2) + le(bytes, local + 28, 2);
        if (data_at + packed > bytes.size()) fail(path, ": ", name, ": data runs past the end of the file (truncated?)");
        std::string member;
        if (method == 0) {
            if (packed != size) fail(path, ": ", name, ": stored member with different packed and unpacked sizes");
            member = bytes.substr(data_at, size);
        } else if (method == 8) {
            member = inflate_member(path, name, bytes.data() + data_at, packed, size);
        } else {
            fail(path, ": ", name, ": zip compression method ", method, " is not supported (stored or deflated)");
        }
        if (crc32(0, reinterpret_cast<const Bytef*>(member.data()), static_cast<uInt>(member.size())) != crc) fail(path, ": ", name, ": CRC mismatch (corrupt file)");
        if (name.size() < 4 || name.compare(name.size() - 4, 4, ".npy") != 0) fail(path, ": member '", name, "' is not an .npy array");
        arrays[name.substr(0, name.size() - 4)] = parse_npy(member, path + ": " + name);
    }
    return arrays;
}

namespace {
// The .npy header (magic, version 1.0, length, dict padded to 64 bytes) for `tensor`.
std::string npy_header(const std::string& path, const HostTensor& tensor) {
    const char* code = nullptr;
    for (const auto& d : kDescrs)
        if (d.dtype == tensor.dtype) code = d.code;
    if (!code) fail(path, ": cannot save ", dtype_name(tensor.dtype), " as .npy");
    std::size_t count = 1;
    for (auto d : tensor.shape) count *= static_cast<std::size_t>(d);
    if (count * dtype_size(tensor.dtype) != tensor.bytes.size())
        fail(path, ": shape ", shape_string(tensor.shape), " needs ", count * dtype_size(tensor.dtype), " bytes, the tensor has ",
             tensor.bytes.size());
    // Python tuple syntax: "()", "(3,)", "(2, 3)".
    std::string shape;
    for (std::size_t i = 0; i < tensor.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(tensor.shape[i]);
    if (tensor.shape.size() == 1) shape += ",";
    std::string header = std::string("{'descr': '") + code + "', 'fortran_order': False, 'shape': (" + shape + "), }";
    std::size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header += '\n';
    std::string bytes("\x93NUMPY\x01\x00", 8);
    bytes += static_cast<char>(header.size() & 0xff);
    bytes += static_cast<char>(header.size() >> 8);
    return bytes + header;
}

void put_le(std::string& out, std::uint64_t value, int size) {
    for (int i = 0; i < size; ++i) out += static_cast<char>((value >> (8 * i)) & 0xff);
}
}  // namespace

void save_npy(const std::string& path, const HostTensor& tensor) {
    const std::string header = npy_header(path, tensor);
    std::ofstream out(path, std::ios::binary);
    if (!out) fail(path, ": cannot write");
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(reinterpret_cast<const char*>(tensor.bytes.data()), static_cast<std::streamsize>(tensor.bytes.size()));
    if (!out) fail(path, ": write failed");
}

void save_npz(const std::string& path, const std::map<std::string, HostTensor>& arrays) {
    std::ofstream out(path, std::ios::binary);
    if (!out) fail(path, ": cannot write");
    // Stored members (no compression): a local header, the .npy bytes; then the central directory.
    // The CRC is computed before writing, so no data descriptors are needed.
    constexpr std::uint64_t limit = 0xffffffffu;
    constexpr std::uint16_t dos_date = (0 << 9) | (1 << 5) | 1;  // 1980-01-01, the zip epoch
    std::string directory;
    std::uint64_t offset = 0;
    for (const auto& [key, tensor] : arrays) {
        const std::string name = key + ".npy";
        const std::string header = npy_header(path + ": " + name, tensor);
        const std::uint64_t size = header.size() + tensor.bytes.size();
        if (size > limit || offset + size + 30 + name.size() > limit)
            fail(path, ": member '", name, "' (", size, " bytes) would take the archive past 4 GiB, which needs zip64 (not written): "
                 "export fewer scenes per file");
        uLong crc = crc32(0, reinterpret_cast<const Bytef*>(header.data()), static_cast<uInt>(header.size()));
        for (std::size_t at = 0; at < tensor.bytes.size(); at += 1u << 30) {
            const auto n = std::min<std::size_t>(1u << 30, tensor.bytes.size() - at);
            crc = crc32(crc, tensor.bytes.data() + at, static_cast<uInt>(n));
        }
        std::string local;
        put_le(local, 0x04034b50, 4);
        put_le(local, 20, 2);  // version needed: 2.0
        put_le(local, 0, 2);   // flags
        put_le(local, 0, 2);   // method: stored
        put_le(local, 0, 2);   // time
        put_le(local, dos_date, 2);
        put_le(local, crc, 4);
        put_le(local, size, 4);
        put_le(local, size, 4);
        put_le(local, name.size(), 2);
        put_le(local, 0, 2);  // extra length
        local += name;
        out.write(local.data(), static_cast<std::streamsize>(local.size()));
        out.write(header.data(), static_cast<std::streamsize>(header.size()));
        out.write(reinterpret_cast<const char*>(tensor.bytes.data()), static_cast<std::streamsize>(tensor.bytes.size()));

        put_le(directory, 0x02014b50, 4);
        put_le(directory, 20, 2);  // made by
        put_le(directory, 20, 2);  // needed
        put_le(directory, 0, 2);
        put_le(directory, 0, 2);
        put_le(directory, 0, 2);
        put_le(directory, dos_date, 2);
        put_le(directory, crc, 4);
        put_le(directory, size, 4);
        put_le(directory, size, 4);
        put_le(directory, name.size(), 2);
        put_le(directory, 0, 2);  // extra
        put_le(directory, 0, 2);  // comment
        put_le(directory, 0, 2);  // disk
        put_le(directory, 0, 2);  // internal attributes
        put_le(directory, 0, 4);  // external attributes
        put_le(directory, offset, 4);
        directory += name;
        offset += local.size() + size;
    }
    if (arrays.size() >= 0xffff || offset + directory.size() > limit) fail(path, ": too many members or bytes for a zip without zip64");
    std::string end;
    put_le(end, 0x06054b50, 4);
    put_le(end, 0, 2);
    put_le(end, 0, 2);
    put_le(end, arrays.size(), 2);
    put_le(end, arrays.size(), 2);
    put_le(end, directory.size(), 4);
    put_le(end, offset, 4);
    put_le(end, 0, 2);  // comment length
    out.write(directory.data(), static_cast<std::streamsize>(directory.size()));
    out.write(end.data(), static_cast<std::streamsize>(end.size()));
    if (!out) fail(path, ": write failed");
}

}  // namespace xmodal
