// PrimitiveCache: every oneDNN primitive is created once per (op, shapes, types, attributes) and
// reused. Keys are strings built by the operator from everything that determines the primitive
// (see key_of); creation happens under the cache's lock, execution does not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <oneapi/dnnl/dnnl.hpp>

namespace xmodal {

struct CachedPrimitive {
    dnnl::primitive primitive;
    std::size_t scratchpad_bytes = 0;     // user scratchpad this primitive needs
    dnnl::memory::desc weights_desc;      // layout chosen by oneDNN for weights, where relevant
};

class PrimitiveCache {
public:
    struct Stats {
        std::uint64_t created = 0;  // primitives constructed
        std::uint64_t hits = 0;     // lookups served from the cache
        std::size_t entries = 0;
    };

    // Returns the primitive for `key`, calling `make` only the first time the key is seen.
    CachedPrimitive get(const std::string& key, const std::function<CachedPrimitive()>& make);
    Stats stats() const;
    void clear();

private:
    mutable std::mutex mutex_;
    std::unordered_map<std::string, CachedPrimitive> entries_;
    Stats stats_;
};

// Everything in a memory descriptor that a primitive depends on: dims, data type, format and
// strides (or "any"), e.g. "f32[4x8x32x64]s(16384,2048,64,1)".
std::string key_of(const dnnl::memory::desc& md);

// Creates the primitive for `pd` and records its user-scratchpad size.
template <class Primitive, class PrimitiveDesc>
CachedPrimitive make_cached(const PrimitiveDesc& pd) {
    CachedPrimitive c;
    c.primitive = Primitive(pd);
    c.scratchpad_bytes = pd.scratchpad_desc().get_size();
    return c;
}

}  // namespace xmodal
