#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <numbers>

#include "xmodal/audio_features.hpp"
#include "xmodal/error.hpp"

namespace xmodal {
namespace {

TEST(LogMel, MatchesNaiveDftReference) {
    LogMel logmel;
    const auto& c = logmel.config();
    std::vector<float> samples(1600);
    for (std::size_t i = 0; i < samples.size(); ++i)
        samples[i] = static_cast<float>(0.3 * std::sin(2 * std::numbers::pi * 440.0 * i / c.sample_rate) +
                                        0.1 * std::sin(2 * std::numbers::pi * 3000.0 * i / c.sample_rate));
    auto got = logmel.compute(samples);
    ASSERT_EQ(logmel.frame_count(1600), 8);
    ASSERT_EQ(got.size(), 8u * 64u);
    const int bins = c.fft_length / 2 + 1;
    for (int f = 0; f < 8; ++f) {
        std::vector<double> mag(static_cast<std::size_t>(bins));
        for (int k = 0; k < bins; ++k) {
            std::complex<double> acc = 0;
            for (int n = 0; n < c.frame_length; ++n) {
                double w = 0.5 - 0.5 * std::cos(2 * std::numbers::pi * n / c.frame_length);
                acc += samples[static_cast<std::size_t>(f * c.hop_length + n)] * w *
                       std::polar(1.0, -2 * std::numbers::pi * k * n / c.fft_length);
            }
            mag[static_cast<std::size_t>(k)] = std::abs(acc);
        }
        for (int m = 0; m < c.mel_bands; ++m) {
            double mel = 0;
            for (int k = 0; k < bins; ++k) mel += mag[static_cast<std::size_t>(k)] * logmel.mel_matrix()[static_cast<std::size_t>(k * c.mel_bands + m)];
            // Compared in the linear domain: the log magnifies float FFT rounding in near-silent bands.
            const double want = mel + c.log_offset;
            ASSERT_NEAR(std::exp(got[static_cast<std::size_t>(f * c.mel_bands + m)]), want, 1e-4 * want + 1e-6)
                << "frame " << f << " band " << m;
        }
    }
}

TEST(LogMel, ToneLandsInTheRightBand) {
    LogMel logmel;
    std::vector<float> tone(4000);
    for (std::size_t i = 0; i < tone.size(); ++i) tone[i] = static_cast<float>(std::sin(2 * std::numbers::pi * 1000.0 * i / 16000));
    auto features = logmel.compute(tone);
    int best = 0;
    for (int m = 1; m < 64; ++m)
        if (features[static_cast<std::size_t>(m)] > features[static_cast<std::size_t>(best)]) best = m;
    // Band centres are evenly spaced in HTK mel between 125 and 7500 Hz: 1000 Hz is near band 16.
    const double lo = 1127 * std::log(1 + 125.0 / 700), hi = 1127 * std::log(1 + 7500.0 / 700);
    const double expected = (1127 * std::log(1 + 1000.0 / 700) - lo) / (hi - lo) * 65 - 1;
    EXPECT_NEAR(best, expected, 1.0);
}

TEST(LogMel, RejectsBadConfigAndShortInput) {
    LogMelConfig bad;
    bad.max_hz = 9000;  // above Nyquist at 16 kHz
    EXPECT_THROW(LogMel{bad}, Error);
    LogMel logmel;
    EXPECT_EQ(logmel.compute(std::vector<float>(100)).size(), 0u);
}

}  // namespace
}  // namespace xmodal
