#include "xmodal/voice_activity.hpp"

#include <algorithm>
#include <cstring>

#include "xmodal/error.hpp"

namespace xmodal {

VoiceActivity::VoiceActivity(const std::string& model_path, int sample_rate, std::shared_ptr<Device> device)
    : sample_rate_(sample_rate), context_samples_(sample_rate == 16000 ? 64 : 32) {
    if (sample_rate != 16000 && sample_rate != 8000) fail(model_path, ": Silero VAD runs at 16000 or 8000 Hz, got ", sample_rate);
    runner_ = std::make_unique<ModelRunner>(load_model(model_path), std::move(device));
    auto has_input = [&](const char* name) {
        return std::any_of(runner_->inputs().begin(), runner_->inputs().end(), [&](const ValueInfo& v) { return v.name == name; });
    };
    for (const char* name : {"input", "state", "sr"})
        if (!has_input(name)) fail(model_path, ": not a Silero VAD model: no input '", name, "'");
    const auto& outs = runner_->outputs();
    auto find_output = [&](const char* name) {
        for (std::size_t i = 0; i < outs.size(); ++i)
            if (outs[i].name == name) return i;
        fail(model_path, ": not a Silero VAD model: no output '", name, "'");
    };
    output_index_ = find_output("output");
    state_index_ = find_output("stateN");
    std::size_t total = chunk_samples() + context_samples_;
    input_ = HostTensor::from_f32({1, static_cast<std::int64_t>(total)}, std::vector<float>(total, 0.f));
    state_ = HostTensor::from_f32({2, 1, 128}, std::vector<float>(256, 0.f));
    sr_.dtype = DataType::s64;
    sr_.shape = {};
    std::int64_t rate = sample_rate;
    sr_.bytes.resize(8);
    std::memcpy(sr_.bytes.data(), &rate, 8);
    views_ = {{"input", TensorView::of(input_)}, {"state", TensorView::of(state_)}, {"sr", TensorView::of(sr_)}};
}

void VoiceActivity::reset() {
    std::fill(input_.bytes.begin(), input_.bytes.end(), 0);
    std::fill(state_.bytes.begin(), state_.bytes.end(), 0);
}

float VoiceActivity::process(std::span<const float> chunk) {
    if (chunk.size() != chunk_samples()) fail("voice activity: chunks must have ", chunk_samples(), " samples, got ", chunk.size());
    auto* samples = reinterpret_cast<float*>(input_.bytes.data());
    // Context: the last samples of the previous chunk, then the new chunk.
    std::memmove(samples, samples + chunk_samples(), context_samples_ * sizeof(float));
    std::memcpy(samples + context_samples_, chunk.data(), chunk.size() * sizeof(float));
    runner_->run(views_, outputs_);
    const HostTensor& state = outputs_[state_index_];
    if (state.bytes.size() != state_.bytes.size()) fail("voice activity: the model returned a state of shape ", shape_string(state.shape), ", expected [2,1,128]");
    std::memcpy(state_.bytes.data(), state.bytes.data(), state_.bytes.size());
    float p = 0;
    std::memcpy(&p, outputs_[output_index_].bytes.data(), sizeof p);
    return p;
}

}  // namespace xmodal
