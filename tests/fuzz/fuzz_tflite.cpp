// libFuzzer target for the TFLite loader: any byte string must load or raise xmodal::Error — never
// crash, hang, leak or raise anything else. Run by meson test (fixed time), seeded with the real
// models and with tflite_seed.json (flatc turns it into a small model using every mapped operator:
// yamnet itself is longer than -max_len, so only its first bytes reach the fuzzer). Run longer by
// hand with: build/tests/xmodal-fuzz-tflite -max_total_time=600 CORPUS build/tests/fuzz-seeds-tflite
#include <cstddef>
#include <cstdint>

#include "xmodal/error.hpp"
#include "xmodal/tflite_loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        auto model = xmodal::load_tflite_bytes(data, size, "fuzz.tflite");
        (void)model.summary();  // walks every node and initializer
    } catch (const xmodal::Error&) {
    }
    return 0;
}
