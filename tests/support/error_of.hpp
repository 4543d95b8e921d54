// Test helper: the message of the xmodal::Error that f throws ("" if it throws none).
#pragma once

#include <functional>
#include <string>

#include "xmodal/error.hpp"

namespace xmodal::testing {

inline std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace xmodal::testing
