// Audio event windows: an audio event model (YAMNet by default) over sliding windows of a mono
// 16 kHz stream, with the window's embedding, loudness and voice activity. This is everything
// xmaudio computes; the element converts any audio/x-raw to mono f32 16 kHz, timestamps the
// windows and attaches them. Contract: docs/FUSION.md §1.
//
//   xmodal::AudioEventDetector detector({.model = "yamnet.tflite", .class_map = "yamnet_class_map.csv"});
//   for (const auto& w : detector.push(samples)) ...   // windows completed by these samples
//   for (const auto& w : detector.flush()) ...         // end of stream: the tail, zero-padded
//
// Models: one f32 input, either the waveform of a window ([1, N] or [N], N = window samples, as
// yamnet.tflite, whose log-mel front end is inside the graph) or a log-mel patch ([1, F, 64] or
// [F, 64], F frames of LogMel's YAMNet front end, audio_features.hpp, computed here). The scores
// are the output whose last dimension is the class map's row count; the embedding is the input of
// the classifier layer (Gemm/MatMul) that computes them — YAMNet's global average pool — added to
// the graph's outputs when the model is loaded.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace xmodal {

constexpr int audio_event_sample_rate = 16000;

struct AudioEventOptions {
    std::string model;      // .tflite/.onnx audio event model (required)
    std::string class_map;  // csv "index,mid,display_name", one row per score (required)
    std::string vad_model;  // Silero VAD .onnx; "" = no voice activity (speech_probability -1)
    std::string device = "cpu";
    std::int64_t window = 15600;  // samples at 16 kHz; must be what the model's input covers
    std::int64_t hop = 7680;      // samples at 16 kHz, 1..window (windows leave no audio out)
    int top_k = 5;                // classes in AudioWindow::top, 1..class count
};

struct ClassScore {
    int index = -1;  // row of the class map
    float score = 0.f;
};

// One window (docs/FUSION.md §1).
struct AudioWindow {
    std::int64_t first_sample = 0;  // in the 16 kHz stream since the detector was made or reset
    std::int64_t samples = 0;       // the window length; fewer for the zero-padded tail flush() returns
    std::vector<float> scores;      // one per class
    std::vector<float> embedding;   // the classifier's input (1024 for YAMNet)
    std::vector<ClassScore> top;    // the top_k scores, highest first
    float loudness_dbfs = -100.f;   // RMS of the window's samples, dB full scale, floor -100
    float speech_probability = -1.f;  // mean VAD probability of the chunks inside the window; -1 without VAD
};

class AudioEventDetector {
public:
    // Loads and checks everything, and runs the model once, all on the compute thread
    // (compute_thread.hpp). Throws xmodal::Error naming the file, option or tensor: missing or
    // unreadable model/class map/VAD model, a model without a waveform or log-mel input, without
    // an output of one score per class-map row, or without a classifier layer before it; a window
    // the model does not take; hop outside 1..window; top_k outside 1..classes.
    explicit AudioEventDetector(const AudioEventOptions& options);
    ~AudioEventDetector();
    AudioEventDetector(const AudioEventDetector&) = delete;
    AudioEventDetector& operator=(const AudioEventDetector&) = delete;

    const AudioEventOptions& options() const;
    const std::vector<std::string>& labels() const;  // the class map's display names
    const std::string& embedding_tensor() const;      // the graph value exposed as the embedding
    std::size_t embedding_size() const;

    // Appends mono samples in [-1, 1] at 16 kHz (any count) and returns the windows they complete,
    // in order: window k covers [k·hop, k·hop + window).
    std::vector<AudioWindow> push(std::span<const float> samples);
    // End of the stream (or of a continuous part of it): if samples after the last window's end
    // arrived, one more window at the next hop position holding them, zero-padded to the model
    // (AudioWindow::samples = the real samples; loudness and speech over those), or a first window
    // when the stream was shorter than one. Then reset().
    std::vector<AudioWindow> flush();
    // Forgets the samples, the window position and the VAD state: the next sample is sample 0.
    void reset();

    std::int64_t samples_pushed() const;  // since the last reset

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// The rows of a YAMNet class map csv (header "index,mid,display_name"; display names may be
// quoted and contain commas): display names in index order. Throws naming the file and line when
// it is missing, the header differs, a row is malformed or its index is not its position.
std::vector<std::string> load_yamnet_class_map(const std::string& path);

// The k highest scores, highest first (ties: lower index first); k is clamped to the score count.
std::vector<ClassScore> top_k(std::span<const float> scores, std::size_t k);

// RMS of `samples` in dB full scale (a full-scale sine is -3.01 dB), never below -100 dB.
float loudness_dbfs(std::span<const float> samples);

}  // namespace xmodal
