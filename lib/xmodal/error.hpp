// Errors thrown by libxmodal. Every message names the thing that is wrong (file, tensor, value)
// and what was expected, so elements can pass it to GST_ELEMENT_ERROR unchanged.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace xmodal {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// fail("tensor 'q': expected 4 dims, got ", n) — concatenates its arguments with operator<<.
template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
    std::ostringstream os;
    (os << ... << parts);
    throw Error(os.str());
}

}  // namespace xmodal
