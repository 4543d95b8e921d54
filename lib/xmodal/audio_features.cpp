#include "xmodal/audio_features.hpp"

#include <cmath>
#include <numbers>

extern "C" {
#include <libavutil/mem.h>
#include <libavutil/tx.h>
}

#include "xmodal/error.hpp"

namespace xmodal {
namespace {
double hz_to_mel(double hz) { return 1127.0 * std::log(1.0 + hz / 700.0); }
}  // namespace

// av_tx's SIMD kernels need buffers aligned as av_malloc aligns them (std::vector's 16 bytes are
// not enough for its AVX code paths).
struct LogMel::Fft {
    AVTXContext* ctx = nullptr;
    av_tx_fn fn = nullptr;
    AVComplexFloat* in = nullptr;
    AVComplexFloat* out = nullptr;
    ~Fft() {
        av_tx_uninit(&ctx);
        av_free(in);
        av_free(out);
    }
};

LogMel::LogMel(LogMelConfig config) : config_(config), fft_(std::make_unique<Fft>()) {
    const auto& c = config_;
    if (c.sample_rate <= 0 || c.frame_length <= 0 || c.hop_length <= 0 || c.fft_length < c.frame_length ||
        c.mel_bands <= 0 || !(c.min_hz >= 0 && c.min_hz < c.max_hz && c.max_hz <= c.sample_rate / 2.f))
        fail("log-mel: invalid configuration (rate ", c.sample_rate, ", frame ", c.frame_length, ", hop ",
             c.hop_length, ", fft ", c.fft_length, ", bands ", c.mel_bands, ", ", c.min_hz, "-", c.max_hz, " Hz)");

    window_.resize(static_cast<std::size_t>(c.frame_length));  // periodic Hann, as tf.signal.hann_window
    for (int i = 0; i < c.frame_length; ++i)
        window_[i] = static_cast<float>(0.5 - 0.5 * std::cos(2 * std::numbers::pi * i / c.frame_length));

    const int bins = c.fft_length / 2 + 1;
    mel_matrix_.assign(static_cast<std::size_t>(bins * c.mel_bands), 0.f);
    const double lo = hz_to_mel(c.min_hz), hi = hz_to_mel(c.max_hz);
    for (int k = 1; k < bins; ++k) {  // bin 0 (DC) contributes nothing, as in TensorFlow
        const double mel = hz_to_mel(static_cast<double>(k) * c.sample_rate / 2 / (bins - 1));
        for (int m = 0; m < c.mel_bands; ++m) {
            const double left = lo + (hi - lo) * m / (c.mel_bands + 1);
            const double center = lo + (hi - lo) * (m + 1) / (c.mel_bands + 1);
            const double right = lo + (hi - lo) * (m + 2) / (c.mel_bands + 1);
            const double w = std::min((mel - left) / (center - left), (right - mel) / (right - center));
            mel_matrix_[static_cast<std::size_t>(k * c.mel_bands + m)] = static_cast<float>(std::max(0.0, w));
        }
    }

    float scale = 1.f;
    if (av_tx_init(&fft_->ctx, &fft_->fn, AV_TX_FLOAT_FFT, 0, c.fft_length, &scale, 0) < 0)
        fail("log-mel: libavutil could not create a ", c.fft_length, "-point FFT");
    fft_->in = static_cast<AVComplexFloat*>(av_malloc_array(static_cast<std::size_t>(c.fft_length), sizeof(AVComplexFloat)));
    fft_->out = static_cast<AVComplexFloat*>(av_malloc_array(static_cast<std::size_t>(c.fft_length), sizeof(AVComplexFloat)));
    if (!fft_->in || !fft_->out) fail("log-mel: out of memory for FFT buffers");
}

LogMel::~LogMel() = default;

std::int64_t LogMel::frame_count(std::int64_t samples) const {
    if (samples < config_.frame_length) return 0;
    return 1 + (samples - config_.frame_length) / config_.hop_length;
}

std::vector<float> LogMel::compute(std::span<const float> samples) {
    const auto& c = config_;
    const std::int64_t frames = frame_count(static_cast<std::int64_t>(samples.size()));
    const int bins = c.fft_length / 2 + 1;
    std::vector<float> out(static_cast<std::size_t>(frames * c.mel_bands));
    std::vector<float> magnitude(static_cast<std::size_t>(bins));
    for (std::int64_t f = 0; f < frames; ++f) {
        const float* frame = samples.data() + f * c.hop_length;
        for (int i = 0; i < c.fft_length; ++i)
            fft_->in[i] = {i < c.frame_length ? frame[i] * window_[i] : 0.f, 0.f};
        fft_->fn(fft_->ctx, fft_->out, fft_->in, sizeof(AVComplexFloat));
        for (int k = 0; k < bins; ++k) magnitude[k] = std::hypot(fft_->out[k].re, fft_->out[k].im);
        float* row = out.data() + f * c.mel_bands;
        for (int m = 0; m < c.mel_bands; ++m) {
            double acc = 0;
            for (int k = 1; k < bins; ++k) acc += magnitude[k] * mel_matrix_[static_cast<std::size_t>(k * c.mel_bands + m)];
            row[m] = static_cast<float>(std::log(acc + c.log_offset));
        }
    }
    return out;
}

}  // namespace xmodal
