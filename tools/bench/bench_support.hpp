// What the xmodal-bench subcommands share: the median of timed runs, and running a gst-launch
// description to EOS with its sink's buffers timed.
#pragma once

#include <gst/gst.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "xmodal/error.hpp"

namespace xmodal::bench {

using clock_type = std::chrono::steady_clock;

// Median wall time of `reps` runs in milliseconds, after one warm-up run (primitive creation,
// first touch of buffers).
inline double median_ms(int reps, const std::function<void()>& run) {
    run();
    std::vector<double> ms;
    for (int i = 0; i < reps; ++i) {
        const auto t0 = clock_type::now();
        run();
        ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
    }
    std::nth_element(ms.begin(), ms.begin() + static_cast<long>(ms.size() / 2), ms.end());
    return ms[ms.size() / 2];
}

struct PipelineRun {
    double wall_s = 0;        // PLAYING to EOS
    double steady_s = 0;      // first buffer at the sink to the last: no start-up
    double media_end_s = 0;   // end (PTS + duration) of the last buffer at the sink
    guint64 buffers = 0;
    clock_type::time_point first, last;
};

// Runs `description` (gst-launch syntax, sinks sync=false) to EOS and times the buffers reaching
// the sink named "out" (a fakesink). An ERROR fails, naming `who` and the description.
inline PipelineRun run_to_eos(const std::string& description, const std::string& who) {
    GError* error = nullptr;
    GstElement* pipeline = gst_parse_launch(description.c_str(), &error);
    if (pipeline == nullptr || error != nullptr) {
        const std::string message = error ? error->message : "unknown";
        if (error) g_error_free(error);
        if (pipeline) gst_object_unref(pipeline);
        fail(who, ": cannot build '", description, "': ", message);
    }
    PipelineRun run;
    GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "out");
    if (sink == nullptr) fail(who, ": no sink named 'out' in '", description, "'");
    g_object_set(sink, "signal-handoffs", TRUE, nullptr);
    g_signal_connect(sink, "handoff", G_CALLBACK(+[](GstElement*, GstBuffer* b, GstPad*, gpointer data) {
                         auto* r = static_cast<PipelineRun*>(data);
                         r->last = clock_type::now();
                         if (r->buffers++ == 0) r->first = r->last;
                         if (GST_BUFFER_PTS_IS_VALID(b)) {
                             const GstClockTime end = GST_BUFFER_PTS(b) + (GST_BUFFER_DURATION_IS_VALID(b) ? GST_BUFFER_DURATION(b) : 0);
                             r->media_end_s = std::max(r->media_end_s, static_cast<double>(end) / 1e9);
                         }
                     }),
                     &run);
    const auto start = clock_type::now();
    gst_element_set_state(pipeline, GST_STATE_PLAYING);
    GstBus* bus = gst_element_get_bus(pipeline);
    GstMessage* message = gst_bus_timed_pop_filtered(bus, GST_CLOCK_TIME_NONE,
                                                     static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    run.wall_s = std::chrono::duration<double>(clock_type::now() - start).count();
    run.steady_s = std::chrono::duration<double>(run.last - run.first).count();
    std::string failure;
    if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
        GError* e = nullptr;
        gst_message_parse_error(message, &e, nullptr);
        failure = e->message;
        g_error_free(e);
    }
    gst_message_unref(message);
    gst_object_unref(bus);
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(sink);
    gst_object_unref(pipeline);
    if (!failure.empty()) fail(who, ": ", failure, " in '", description, "'");
    return run;
}

}  // namespace xmodal::bench
