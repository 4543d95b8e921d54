// YAMNet's expected scores on the staged clips (shared/models/MANIFEST.md, from a NumPy reference
// interpreter of yamnet.tflite): the runtime test, AudioEventDetector's test and xmaudio's test
// all check against this one table. Clips are decoded to 16 kHz mono; windows of 15600 samples
// every 7680, only whole windows (a clip shorter than one window is one zero-padded window).
#pragma once

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace xmodal::testing {

inline constexpr double yamnet_tolerance = 0.02;

struct YamnetScore {
    int class_index;
    const char* label;
    bool max_over_windows;  // else the mean over windows
    float expected;         // MANIFEST (NumPy reference interpreter, weights dequantized per channel)
};

struct YamnetCase {
    const char* clip;  // in shared/media
    int top_class;     // the class with the highest mean score (-1: the MANIFEST does not say)
    std::vector<YamnetScore> scores;
};

inline const std::vector<YamnetCase>& yamnet_cases() {
    static const std::vector<YamnetCase> cases = {
        {"speech_jfk_inaugural.wav", 0, {{0, "Speech", false, 0.94f}}},
        {"speech_librivox_austen_0870.wav", 0, {{0, "Speech", false, 1.00f}}},
        {"car_horn_rollsroyce_1s.wav", 302, {{302, "Vehicle horn", false, 0.98f}}},
        {"car_horn_street_4s.wav", -1, {{302, "Vehicle horn", true, 0.88f}, {294, "Vehicle", true, 0.71f}}},
        {"siren_ambulance_4s.wav", 316,
         {{316, "Emergency vehicle", false, 0.85f}, {390, "Siren", false, 0.64f}, {318, "Ambulance (siren)", false, 0.63f}}},
        {"car_engine_idling_14s.wav", 337, {{337, "Engine", false, 0.42f}, {346, "Idling", false, 0.27f}}},
        {"street_scene_traffic_45s.wav", -1,
         {{294, "Vehicle", true, 0.44f}, {300, "Motor vehicle (road)", true, 0.27f}, {301, "Car", true, 0.26f},
          {321, "Traffic noise, roadway noise", true, 0.16f}, {0, "Speech", true, 0.72f}}},
    };
    return cases;
}

inline const YamnetCase& yamnet_case(const std::string& clip) {
    for (const YamnetCase& c : yamnet_cases())
        if (clip == c.clip) return c;
    throw std::out_of_range("no YAMNet expectations for " + clip);
}

// Mean and max of every class over the windows' scores, and the class with the highest mean.
struct YamnetSummary {
    std::vector<double> mean, max;
    int windows = 0;
    int top = -1;

    void add(const std::vector<float>& scores) {
        if (mean.empty()) mean.assign(scores.size(), 0.0), max.assign(scores.size(), 0.0);
        for (std::size_t k = 0; k < scores.size() && k < mean.size(); ++k) {
            mean[k] += scores[k];
            max[k] = std::max<double>(max[k], scores[k]);
        }
        ++windows;
    }
    void finish() {
        for (auto& m : mean) m /= std::max(windows, 1);
        top = mean.empty() ? -1 : static_cast<int>(std::max_element(mean.begin(), mean.end()) - mean.begin());
    }
    double value(const YamnetScore& s) const {
        const auto& v = s.max_over_windows ? max : mean;
        return static_cast<std::size_t>(s.class_index) < v.size() ? v[static_cast<std::size_t>(s.class_index)] : -1.0;
    }
};

}  // namespace xmodal::testing
