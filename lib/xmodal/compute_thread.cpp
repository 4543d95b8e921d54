#include "xmodal/compute_thread.hpp"

#include <condition_variable>
#include <deque>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

namespace xmodal {

namespace {

struct Job {
    std::function<void()> work;
    std::promise<void> done;
};

class ComputeThread {
public:
    ComputeThread() : thread_([this] { loop(); }) {
        id_ = thread_.get_id();  // before anyone can ask: set here, not by the thread
        thread_.detach();
    }

    std::future<void> post(std::function<void()> work) {
        auto job = std::make_unique<Job>();
        job->work = std::move(work);
        std::future<void> done = job->done.get_future();
        {
            std::lock_guard lock(mutex_);
            queue_.push_back(std::move(job));
        }
        wake_.notify_one();
        return done;
    }

    bool is_current() const { return std::this_thread::get_id() == id_; }

private:
    void loop() {
        for (;;) {
            std::unique_ptr<Job> job;
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [&] { return !queue_.empty(); });
                job = std::move(queue_.front());
                queue_.pop_front();
            }
            try {
                job->work();
                job->done.set_value();
            } catch (...) {
                job->done.set_exception(std::current_exception());
            }
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::unique_ptr<Job>> queue_;
    std::thread::id id_;
    std::thread thread_;  // last: starts after the members it uses exist
};

// Never destroyed: GStreamer threads may still run models while static destructors run at exit.
ComputeThread& compute_thread() {
    static ComputeThread* instance = new ComputeThread();
    return *instance;
}

}  // namespace

void run_on_compute_thread(const std::function<void()>& work) {
    ComputeThread& thread = compute_thread();
    if (thread.is_current()) {
        work();
        return;
    }
    thread.post([&work] { work(); }).get();  // rethrows the work's exception
}

std::future<void> post_to_compute_thread(std::function<void()> work) {
    ComputeThread& thread = compute_thread();
    if (thread.is_current()) {  // nested: run now, a queued job would wait for its own caller
        std::promise<void> done;
        try {
            work();
            done.set_value();
        } catch (...) {
            done.set_exception(std::current_exception());
        }
        return done.get_future();
    }
    return thread.post(std::move(work));
}

bool on_compute_thread() { return compute_thread().is_current(); }

}  // namespace xmodal
