// libFuzzer target for the ONNX loader: any byte string must load or raise xmodal::Error — never
// crash, hang, leak or raise anything else. Run by meson test (fixed time, seeded with the real
// models); run longer by hand with: build/tests/xmodal-fuzz-onnx -max_total_time=600 CORPUS SEEDS
#include <cstddef>
#include <cstdint>

#include "xmodal/error.hpp"
#include "xmodal/onnx_loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        auto model = xmodal::load_onnx_bytes(data, size, "fuzz.onnx");
        (void)model.summary();  // walks every node, attribute and subgraph
    } catch (const xmodal::Error&) {
    }
    return 0;
}
