// Where the real models, media and data live: ../shared next to the source tree, or $XMODAL_SHARED.
#pragma once

#include <string>

namespace xmodal {

// The shared folder ($XMODAL_SHARED if set, else the build-time default); never checks existence.
std::string shared_dir();
// shared_dir() + "/" + relative; throws xmodal::Error naming the path if the file is missing.
std::string shared_file(const std::string& relative);

}  // namespace xmodal
