// xmodal-model: inspect models with xmodal's runtime.
//
//   xmodal-model info MODEL      inputs, outputs (with symbolic dims), weights, op histogram
//
// `run` and `time` join as the runtime's execution lands.
#include <cstdio>
#include <cstring>
#include <string>

#include "xmodal/error.hpp"
#include "xmodal/onnx_loader.hpp"

namespace {

xmodal::Model load_model(const std::string& path) {
    if (path.ends_with(".onnx")) return xmodal::load_onnx(path);
    if (path.ends_with(".tflite")) xmodal::fail(path, ": TFLite loading is not implemented yet (ONNX only for now)");
    xmodal::fail(path, ": unknown model format (expected a .onnx or .tflite file)");
}

int usage() {
    std::fprintf(stderr, "usage: xmodal-model info MODEL.onnx\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) return usage();
    try {
        if (std::strcmp(argv[1], "info") == 0) {
            std::fputs(load_model(argv[2]).summary().c_str(), stdout);
            return 0;
        }
        return usage();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "xmodal-model: %s\n", e.what());
        return 1;
    }
}
