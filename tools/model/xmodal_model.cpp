// xmodal-model: inspect, run and time models with xmodal's runtime.
//
//   xmodal-model info MODEL                      inputs, outputs (with symbolic dims), op histogram
//   xmodal-model run MODEL [options]             runs once; prints output summaries (or saves .npy)
//   xmodal-model time MODEL [options]            median latency over repeated runs
//
// Options:
//   --input NAME=FILE.npy     input from a NumPy file (others get random data)
//   --value NAME=V            a scalar input (e.g. --value sr=16000)
//   --shape NAME=D0,D1,...    shape for a random input with symbolic dims (default: batch, 1 elsewhere)
//   --batch N                 the first dim of inputs whose first dim is symbolic or 1 (default 1)
//   --dtype f32|bf16          compute precision (default f32)
//   --save DIR                run: write every output as DIR/<name>.npy
//   --reps N                  time: timed runs (default 20, after 3 warm-up runs)
//   --device cpu              device
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "xmodal/error.hpp"
#include "xmodal/npy.hpp"
#include "xmodal/runtime.hpp"

namespace {

int usage() {
    std::fprintf(stderr,
                 "usage: xmodal-model info MODEL\n"
                 "       xmodal-model run MODEL [--input NAME=FILE.npy] [--value NAME=V] [--shape NAME=D0,D1,..] [--batch N] [--dtype f32|bf16] [--save DIR]\n"
                 "       xmodal-model time MODEL [same options] [--reps N]\n");
    return 2;
}

struct Options {
    std::map<std::string, std::string> input_files, values, shapes;
    std::int64_t batch = 1;
    std::string dtype = "f32", save_dir, device = "cpu";
    int reps = 20;
};

std::pair<std::string, std::string> split_assignment(const std::string& arg, const char* flag) {
    auto eq = arg.find('=');
    if (eq == std::string::npos || eq == 0) xmodal::fail(flag, " expects NAME=VALUE, got '", arg, "'");
    return {arg.substr(0, eq), arg.substr(eq + 1)};
}

xmodal::Shape parse_dims(const std::string& text, const std::string& name) {
    xmodal::Shape dims;
    std::size_t at = 0;
    while (true) {
        auto comma = text.find(',', at);
        std::string part = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
        try {
            dims.push_back(std::stoll(part));
        } catch (...) {
            xmodal::fail("--shape ", name, ": '", part, "' is not a dimension");
        }
        if (comma == std::string::npos) return dims;
        at = comma + 1;
    }
}

xmodal::HostTensor make_input(const xmodal::ValueInfo& v, const Options& o, std::mt19937& rng) {
    using xmodal::DataType;
    if (auto it = o.input_files.find(v.name); it != o.input_files.end()) return xmodal::load_npy(it->second);
    xmodal::HostTensor t;
    t.dtype = v.dtype;
    if (auto it = o.values.find(v.name); it != o.values.end()) {
        double value = std::stod(it->second);
        t.bytes.resize(xmodal::dtype_size(v.dtype));
        switch (v.dtype) {
            case DataType::s64: { auto x = static_cast<std::int64_t>(value); std::memcpy(t.bytes.data(), &x, 8); break; }
            case DataType::s32: { auto x = static_cast<std::int32_t>(value); std::memcpy(t.bytes.data(), &x, 4); break; }
            case DataType::f32: { auto x = static_cast<float>(value); std::memcpy(t.bytes.data(), &x, 4); break; }
            default: xmodal::fail("--value ", v.name, ": input type ", xmodal::dtype_name(v.dtype), " is not supported");
        }
        return t;
    }
    if (auto it = o.shapes.find(v.name); it != o.shapes.end()) {
        t.shape = parse_dims(it->second, v.name);
    } else {
        for (std::size_t d = 0; d < v.shape.size(); ++d)
            t.shape.push_back(d == 0 && (!v.shape[d].known() || v.shape[d].value == 1) ? o.batch : v.shape[d].known() ? v.shape[d].value : 1);
    }
    std::size_t n = 1;
    for (auto d : t.shape) n *= static_cast<std::size_t>(d);
    t.bytes.resize(n * xmodal::dtype_size(v.dtype));
    std::uniform_real_distribution<float> uniform(-1.f, 1.f);
    switch (v.dtype) {
        case DataType::f32: {
            auto* p = reinterpret_cast<float*>(t.bytes.data());
            for (std::size_t i = 0; i < n; ++i) p[i] = uniform(rng);
            break;
        }
        case DataType::s64: case DataType::s32: case DataType::u8: case DataType::s8: case DataType::boolean:
            break;  // zeros
        default: xmodal::fail("input '", v.name, "': random ", xmodal::dtype_name(v.dtype), " inputs are not supported; pass --input");
    }
    return t;
}

void print_output(const std::string& name, const xmodal::HostTensor& t) {
    std::printf("%s: %s %s", name.c_str(), std::string(xmodal::dtype_name(t.dtype)).c_str(), xmodal::shape_string(t.shape).c_str());
    if (t.dtype == xmodal::DataType::f32 && !t.bytes.empty()) {
        auto v = t.to_f32();
        double lo = v[0], hi = v[0], sum = 0;
        for (float x : v) {
            lo = std::min<double>(lo, x);
            hi = std::max<double>(hi, x);
            sum += x;
        }
        std::printf("  min %.6g max %.6g mean %.6g  first:", lo, hi, sum / static_cast<double>(v.size()));
        for (std::size_t i = 0; i < std::min<std::size_t>(v.size(), 6); ++i) std::printf(" %.6g", v[i]);
    }
    std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) return usage();
    std::string command = argv[1], path = argv[2];
    try {
        Options o;
        for (int i = 3; i < argc; ++i) {
            std::string flag = argv[i];
            if (i + 1 >= argc) xmodal::fail(flag, " needs a value");
            std::string value = argv[++i];
            if (flag == "--input") o.input_files.insert(split_assignment(value, "--input"));
            else if (flag == "--value") o.values.insert(split_assignment(value, "--value"));
            else if (flag == "--shape") o.shapes.insert(split_assignment(value, "--shape"));
            else if (flag == "--batch") o.batch = std::stoll(value);
            else if (flag == "--dtype") o.dtype = value;
            else if (flag == "--save") o.save_dir = value;
            else if (flag == "--reps") o.reps = std::stoi(value);
            else if (flag == "--device") o.device = value;
            else return usage();
        }
        xmodal::Model model = xmodal::load_model(path);
        if (command == "info") {
            std::fputs(model.summary().c_str(), stdout);
            return 0;
        }
        if (command != "run" && command != "time") return usage();
        xmodal::ModelRunner runner(std::move(model), xmodal::Device::open(o.device), {.precision = xmodal::parse_dtype(o.dtype)});
        std::mt19937 rng(1234);
        std::map<std::string, xmodal::HostTensor> inputs;
        for (const auto& v : runner.inputs())
            if (!runner.model().graph.initializers.count(v.name)) inputs[v.name] = make_input(v, o, rng);
        for (const auto& [name, file] : o.input_files)
            if (!inputs.count(name)) xmodal::fail("--input ", name, ": the model has no such input");
        std::vector<std::pair<std::string, xmodal::TensorView>> views;
        for (const auto& [name, t] : inputs) views.emplace_back(name, xmodal::TensorView::of(t));
        std::vector<xmodal::HostTensor> outputs;
        auto t0 = std::chrono::steady_clock::now();
        runner.run(views, outputs);
        double first_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        auto stats = runner.stats();
        if (command == "run") {
            for (std::size_t k = 0; k < outputs.size(); ++k) {
                const std::string& name = runner.outputs()[k].name;
                print_output(name, outputs[k]);
                if (!o.save_dir.empty()) xmodal::save_npy(o.save_dir + "/" + name + ".npy", outputs[k]);
            }
            std::printf("plan: %zu steps, %zu nodes folded, %zu fused, %zu reorders, arena %.2f MiB (%.2f MiB without reuse); first run %.1f ms\n",
                        stats.steps, stats.folded_nodes, stats.fused_nodes, stats.reorders, static_cast<double>(stats.arena_bytes) / 1048576.0,
                        static_cast<double>(stats.unplanned_bytes) / 1048576.0, first_ms);
            return 0;
        }
        for (int i = 0; i < 2; ++i) runner.run(views, outputs);
        std::vector<double> ms;
        for (int i = 0; i < std::max(o.reps, 1); ++i) {
            auto t = std::chrono::steady_clock::now();
            runner.run(views, outputs);
            ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
        }
        std::sort(ms.begin(), ms.end());
        std::printf("{\"model\": \"%s\", \"dtype\": \"%s\", \"batch\": %lld, \"ms_median\": %.3f, \"ms_min\": %.3f, \"runs\": %zu, \"first_run_ms\": %.1f}\n",
                    path.c_str(), std::string(xmodal::dtype_name(runner.precision())).c_str(), static_cast<long long>(o.batch), ms[ms.size() / 2], ms[0],
                    ms.size(), first_ms);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "xmodal-model: %s\n", e.what());
        return 1;
    }
}
