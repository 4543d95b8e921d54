#include "xmodal/shared_paths.hpp"

#include <cstdlib>
#include <filesystem>

#include "xmodal/error.hpp"

#ifndef XMODAL_DEFAULT_SHARED_DIR
#define XMODAL_DEFAULT_SHARED_DIR "../shared"
#endif

namespace xmodal {

std::string shared_dir() {
    if (const char* env = std::getenv("XMODAL_SHARED"); env && *env) return env;
    return XMODAL_DEFAULT_SHARED_DIR;
}

std::string shared_file(const std::string& relative) {
    std::string path = shared_dir() + "/" + relative;
    if (!std::filesystem::exists(path))
        fail("shared file '", path, "' does not exist (set XMODAL_SHARED to the folder holding models/, media/, data/)");
    return path;
}

}  // namespace xmodal
