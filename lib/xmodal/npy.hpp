// NumPy .npy files (format version 1.0/2.0, little-endian, C order): how users hand tensors to
// `xmodal-model run` and how tools exchange reference outputs with NumPy/PyTorch scripts.
#pragma once

#include <map>
#include <string>

#include "xmodal/safetensors.hpp"

namespace xmodal {

// Throws xmodal::Error naming the file: not an .npy, unsupported dtype ("<f4", "<f8", "<i8",
// "<i4", "|i1", "|u1", "|b1", "<f2" are read), Fortran order, truncated data.
HostTensor load_npy(const std::string& path);
// NumPy .npz archives (np.savez / np.savez_compressed): a zip of .npy members, stored or deflated.
// Keys are the member names without ".npy". Throws xmodal::Error naming the archive and member:
// not a zip, zip64, encryption, other compression methods, CRC mismatch, a member that is not .npy.
std::map<std::string, HostTensor> load_npz(const std::string& path);
void save_npy(const std::string& path, const HostTensor& tensor);
// An uncompressed .npz (as np.savez): one stored .npy member per array, named "<key>.npy". Throws
// naming the file when it cannot be written or would need zip64 (a member or the archive past 4 GiB).
void save_npz(const std::string& path, const std::map<std::string, HostTensor>& arrays);

}  // namespace xmodal
