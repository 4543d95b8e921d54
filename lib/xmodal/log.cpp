#include "xmodal/log.hpp"

#include <cstdio>
#include <mutex>

namespace xmodal {
namespace {
std::mutex sink_mutex;
LogSink current_sink;

void default_sink(LogLevel level, const std::string& message) {
    if (level < LogLevel::warning) return;
    std::fprintf(stderr, "xmodal %s: %s\n", level == LogLevel::error ? "error" : "warning", message.c_str());
}
}  // namespace

void set_log_sink(LogSink sink) {
    std::lock_guard lock(sink_mutex);
    current_sink = std::move(sink);
}

void log(LogLevel level, const std::string& message) {
    std::lock_guard lock(sink_mutex);
    if (current_sink)
        current_sink(level, message);
    else
        default_sink(level, message);
}

}  // namespace xmodal
