// Streaming voice activity with a Silero VAD model (silero_vad.onnx or its If-less op18 variant):
// 512 new samples per step at 16 kHz (256 at 8 kHz), the previous step's last 64 (32) samples
// prepended as context, the LSTM state fed back — the chunking of upstream's Python wrapper.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "xmodal/runtime.hpp"

namespace xmodal {

class VoiceActivity {
public:
    // Throws naming the file when the model lacks the inputs input/state/sr or the outputs
    // output/stateN, or when sample_rate is not 16000 or 8000.
    VoiceActivity(const std::string& model_path, int sample_rate = 16000, std::shared_ptr<Device> device = Device::open("cpu"));

    int sample_rate() const { return sample_rate_; }
    std::size_t chunk_samples() const { return sample_rate_ == 16000 ? 512 : 256; }

    // Speech probability of the next chunk (exactly chunk_samples() samples in [-1, 1]).
    float process(std::span<const float> chunk);
    // Forget the state and context (a new stream).
    void reset();

private:
    int sample_rate_;
    std::size_t context_samples_;
    std::unique_ptr<ModelRunner> runner_;
    HostTensor input_, state_, sr_;
    std::vector<HostTensor> outputs_;
    std::size_t output_index_ = 0, state_index_ = 1;
    std::vector<std::pair<std::string, TensorView>> views_;
};

}  // namespace xmodal
