// One process-wide thread on which the model runtime does its oneDNN work.
//
// Why: oneDNN's CPU runtime here is OpenMP (libgomp). libgomp keeps a pool of worker threads per
// thread that starts parallel regions, and once the workers of all pools outnumber the cores it
// stops spin-waiting between regions, so every one of a model's ~100 primitives pays a futex
// wake-up. A GStreamer element runs its model on a streaming thread after building it on the
// application thread (start()): two pools on a 2-core machine made yolox_nano take 17-20 ms per
// run instead of 7 ms. Running every model on one thread keeps one pool, whatever thread calls.
// The hop costs a few microseconds; runs from several elements are serialised, which on a machine
// whose cores one model run already fills is what they would get anyway.
#pragma once

#include <functional>
#include <future>

namespace xmodal {

// Runs `work` on the compute thread and waits for it; exceptions are rethrown to the caller.
// Called from the compute thread itself (nested use), runs `work` directly.
void run_on_compute_thread(const std::function<void()>& work);

// Queues `work` on the compute thread and returns at once; the future reports its end (and
// rethrows its exception from get()). Jobs run one at a time in the order they were posted.
// Called from the compute thread itself, runs `work` directly.
std::future<void> post_to_compute_thread(std::function<void()> work);

bool on_compute_thread();

}  // namespace xmodal
