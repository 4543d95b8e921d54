// Log-mel spectrogram with the YAMNet/VGGish front end: 25 ms periodic-Hann frames every 10 ms,
// magnitude spectrum of a 512-point FFT (FFmpeg libavutil av_tx), a 64-band HTK mel filterbank
// from 125 to 7500 Hz (TensorFlow's linear_to_mel_weight_matrix), then log(mel + 0.001).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace xmodal {

struct LogMelConfig {
    int sample_rate = 16000;
    int frame_length = 400;  // samples (25 ms)
    int hop_length = 160;    // samples (10 ms)
    int fft_length = 512;
    int mel_bands = 64;
    float min_hz = 125.f;
    float max_hz = 7500.f;
    float log_offset = 0.001f;
};

class LogMel {
public:
    explicit LogMel(LogMelConfig config = {});
    ~LogMel();
    LogMel(const LogMel&) = delete;
    LogMel& operator=(const LogMel&) = delete;

    const LogMelConfig& config() const { return config_; }
    // Number of whole frames in `samples` samples (0 if shorter than one frame).
    std::int64_t frame_count(std::int64_t samples) const;
    // Mono samples in [-1, 1] at config().sample_rate -> frame_count × mel_bands, row-major.
    std::vector<float> compute(std::span<const float> samples);
    // The (fft_length/2+1) × mel_bands filterbank, row-major (for tests and tools).
    const std::vector<float>& mel_matrix() const { return mel_matrix_; }

private:
    LogMelConfig config_;
    std::vector<float> window_, mel_matrix_;
    struct Fft;
    std::unique_ptr<Fft> fft_;
};

}  // namespace xmodal
