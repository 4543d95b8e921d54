// A tiny logging hook: the library never prints on its own; the default sink writes warnings and
// errors to stderr, and the GStreamer plugin installs a sink that forwards to GST_* debug logging.
#pragma once

#include <functional>
#include <string>

namespace xmodal {

enum class LogLevel { debug, info, warning, error };

using LogSink = std::function<void(LogLevel, const std::string&)>;

// Replaces the sink for the whole process; pass nullptr to restore the default.
void set_log_sink(LogSink sink);
void log(LogLevel level, const std::string& message);

}  // namespace xmodal
