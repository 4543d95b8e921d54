#include "xmodal/primitive_cache.hpp"

#include <sstream>

namespace xmodal {

CachedPrimitive PrimitiveCache::get(const std::string& key, const std::function<CachedPrimitive()>& make) {
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(key); it != entries_.end()) {
        ++stats_.hits;
        return it->second;
    }
    CachedPrimitive made = make();
    ++stats_.created;
    entries_.emplace(key, made);
    stats_.entries = entries_.size();
    return made;
}

PrimitiveCache::Stats PrimitiveCache::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

void PrimitiveCache::clear() {
    std::lock_guard lock(mutex_);
    entries_.clear();
    stats_.entries = 0;
}

std::string key_of(const dnnl::memory::desc& md) {
    const dnnl_memory_desc_t& d = md.data;
    std::ostringstream os;
    os << static_cast<int>(d.data_type) << '[';
    for (int i = 0; i < d.ndims; ++i) os << (i ? "x" : "") << d.dims[i];
    os << ']';
    if (d.format_kind == dnnl_format_kind_any) {
        os << "any";
    } else if (d.format_kind == dnnl_blocked) {
        os << "s(";
        for (int i = 0; i < d.ndims; ++i) os << (i ? "," : "") << d.format_desc.blocking.strides[i];
        os << ')';
        for (int i = 0; i < d.format_desc.blocking.inner_nblks; ++i)
            os << 'b' << d.format_desc.blocking.inner_idxs[i] << ':' << d.format_desc.blocking.inner_blks[i];
    } else {
        os << "fk" << static_cast<int>(d.format_kind);
    }
    return os.str();
}

}  // namespace xmodal
