#include "xmodal/compute_thread.hpp"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

namespace xmodal {

namespace {

struct Job {
    const std::function<void()>* work;
    std::exception_ptr error;
    bool done = false;
};

class ComputeThread {
public:
    ComputeThread() : thread_([this] { loop(); }) {
        id_ = thread_.get_id();  // before anyone can ask: set here, not by the thread
        thread_.detach();
    }

    void run(const std::function<void()>& work) {
        Job job{&work, nullptr, false};
        {
            std::lock_guard lock(mutex_);
            queue_.push_back(&job);
        }
        wake_.notify_one();
        std::unique_lock lock(mutex_);
        finished_.wait(lock, [&] { return job.done; });
        if (job.error) std::rethrow_exception(job.error);
    }

    bool is_current() const { return std::this_thread::get_id() == id_; }

private:
    void loop() {
        for (;;) {
            Job* job;
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [&] { return !queue_.empty(); });
                job = queue_.front();
                queue_.pop_front();
            }
            try {
                (*job->work)();
            } catch (...) {
                job->error = std::current_exception();
            }
            {
                std::lock_guard lock(mutex_);
                job->done = true;
            }
            finished_.notify_all();
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_, finished_;
    std::deque<Job*> queue_;
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
    thread.run(work);
}

bool on_compute_thread() { return compute_thread().is_current(); }

}  // namespace xmodal
