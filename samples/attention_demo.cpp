// xmodal-attention-demo: cross-modal attention on real features from real media.
//
// Until the elements land, this is the README's main job. It decodes a real fixed-camera traffic
// clip and a real street recording with GStreamer (appsink), turns video frames into tokens
// (32x18 grey thumbnails plus frame-difference motion, z-scored) and audio into YAMNet-style
// log-mel tokens (libxmodal's LogMel, averaged over 100 ms), then lets every video frame attend to
// the audio with xmodal's oneDNN cross-modal attention block. It prints, per frame, where its
// attention goes, checks the fused output against a naive double-precision reference, and times it.
//
// The projection weights are seeded random (--weights loads learned ones in safetensors format);
// the learned fusion weights come with the xmfuse element.
#include <gst/app/gstappsink.h>
#include <gst/gst.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "xmodal/audio_features.hpp"
#include "xmodal/cross_attention.hpp"
#include "xmodal/device.hpp"
#include "xmodal/error.hpp"
#include "xmodal/shared_paths.hpp"
#include "support/reference.hpp"

namespace {

using namespace xmodal;

// Runs `launch` (which must end in "appsink name=sink") to EOS and returns every buffer's bytes.
std::vector<std::vector<std::uint8_t>> decode_all(const std::string& launch, const std::string& what) {
    GError* error = nullptr;
    GstElement* pipeline = gst_parse_launch(launch.c_str(), &error);
    if (!pipeline) {
        std::string msg = error ? error->message : "unknown error";
        g_clear_error(&error);
        fail("cannot build the ", what, " pipeline: ", msg);
    }
    GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
    gst_element_set_state(pipeline, GST_STATE_PLAYING);
    std::vector<std::vector<std::uint8_t>> buffers;
    while (GstSample* sample = gst_app_sink_pull_sample(GST_APP_SINK(sink))) {
        GstBuffer* buffer = gst_sample_get_buffer(sample);
        GstMapInfo map;
        if (gst_buffer_map(buffer, &map, GST_MAP_READ)) {
            buffers.emplace_back(map.data, map.data + map.size);
            gst_buffer_unmap(buffer, &map);
        }
        gst_sample_unref(sample);
    }
    // EOS or error: report an error message if there is one.
    GstBus* bus = gst_element_get_bus(pipeline);
    GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    std::string failure;
    if (msg) {
        GError* err = nullptr;
        gst_message_parse_error(msg, &err, nullptr);
        failure = err ? err->message : "error";
        g_clear_error(&err);
        gst_message_unref(msg);
    }
    gst_object_unref(bus);
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(sink);
    gst_object_unref(pipeline);
    if (!failure.empty()) fail("decoding ", what, " failed: ", failure);
    if (buffers.empty()) fail("decoding ", what, " produced no data");
    return buffers;
}

// Standardises each column of a (rows, cols) matrix to zero mean and unit variance.
void zscore_columns(std::vector<float>& m, std::int64_t rows, std::int64_t cols) {
    for (std::int64_t c = 0; c < cols; ++c) {
        double mean = 0, var = 0;
        for (std::int64_t r = 0; r < rows; ++r) mean += m[static_cast<std::size_t>(r * cols + c)];
        mean /= static_cast<double>(rows);
        for (std::int64_t r = 0; r < rows; ++r) var += std::pow(m[static_cast<std::size_t>(r * cols + c)] - mean, 2);
        const double inv = 1.0 / std::sqrt(var / static_cast<double>(rows) + 1e-6);
        for (std::int64_t r = 0; r < rows; ++r) {
            float& x = m[static_cast<std::size_t>(r * cols + c)];
            x = static_cast<float>((x - mean) * inv);
        }
    }
}

struct Options {
    std::string video = "media/traffic_street_fixedcam.mp4";
    std::string audio = "media/street_scene_traffic_45s.wav";
    std::string weights, device = "cpu", precision = "f32";
    double seconds = 20;
    int video_fps = 2;
    bool check = true;
};

constexpr int thumb_w = 32, thumb_h = 18, audio_token_ms = 100;

int run(const Options& o) {
    const std::string video_path = o.video.starts_with("/") ? o.video : shared_file(o.video);
    const std::string audio_path = o.audio.starts_with("/") ? o.audio : shared_file(o.audio);

    // Video tokens: grey thumbnails at video_fps, plus |difference| to the previous thumbnail.
    auto frames = decode_all("filesrc location=\"" + video_path + "\" ! decodebin ! videoconvert ! videoscale ! videorate ! "
                             "video/x-raw,format=GRAY8,width=" + std::to_string(thumb_w) + ",height=" + std::to_string(thumb_h) +
                             ",framerate=" + std::to_string(o.video_fps) + "/1,pixel-aspect-ratio=1/1 ! appsink name=sink sync=false",
                             video_path);
    const std::int64_t pixels = thumb_w * thumb_h, Da = 2 * pixels;
    const auto Lq = std::min<std::int64_t>(static_cast<std::int64_t>(frames.size()), static_cast<std::int64_t>(o.seconds * o.video_fps));
    std::vector<float> video(static_cast<std::size_t>(Lq * Da));
    for (std::int64_t f = 0; f < Lq; ++f) {
        const auto& cur = frames[static_cast<std::size_t>(f)];
        const auto& prev = frames[static_cast<std::size_t>(f > 0 ? f - 1 : 0)];
        if (static_cast<std::int64_t>(cur.size()) < pixels) fail(video_path, ": frame ", f, " has ", cur.size(), " bytes, expected ", pixels);
        for (std::int64_t p = 0; p < pixels; ++p) {
            video[static_cast<std::size_t>(f * Da + p)] = cur[static_cast<std::size_t>(p)] / 255.f;
            video[static_cast<std::size_t>(f * Da + pixels + p)] = std::abs(cur[static_cast<std::size_t>(p)] - prev[static_cast<std::size_t>(p)]) / 255.f;
        }
    }
    zscore_columns(video, Lq, Da);

    // Audio tokens: 16 kHz mono log-mel (YAMNet front end), averaged over 100 ms.
    auto chunks = decode_all("filesrc location=\"" + audio_path + "\" ! decodebin ! audioconvert ! audioresample ! "
                             "audio/x-raw,format=F32LE,rate=16000,channels=1 ! appsink name=sink sync=false", audio_path);
    std::vector<float> samples;
    for (const auto& c : chunks) {
        const auto* f = reinterpret_cast<const float*>(c.data());
        samples.insert(samples.end(), f, f + c.size() / sizeof(float));
    }
    samples.resize(std::min<std::size_t>(samples.size(), static_cast<std::size_t>(o.seconds * 16000)));
    LogMel logmel;
    auto mel = logmel.compute(samples);
    const std::int64_t bands = logmel.config().mel_bands, frames_per_token = audio_token_ms / 10;
    const std::int64_t Lkv = logmel.frame_count(static_cast<std::int64_t>(samples.size())) / frames_per_token;
    if (Lkv == 0) fail(audio_path, ": shorter than one ", audio_token_ms, " ms audio token");
    std::vector<float> audio(static_cast<std::size_t>(Lkv * bands), 0.f);
    for (std::int64_t t = 0; t < Lkv; ++t)
        for (std::int64_t f = 0; f < frames_per_token; ++f)
            for (std::int64_t b = 0; b < bands; ++b)
                audio[static_cast<std::size_t>(t * bands + b)] += mel[static_cast<std::size_t>((t * frames_per_token + f) * bands + b)] / frames_per_token;
    zscore_columns(audio, Lkv, bands);

    // Cross-modal attention: video frames (queries) attend to audio tokens (keys/values).
    auto device = Device::open(o.device);
    const CrossAttentionConfig config{Da, bands, 128, 4};
    CrossAttentionWeights weights = o.weights.empty() ? CrossAttentionWeights::random(config, 2026) : CrossAttentionWeights::load(o.weights);
    if (weights.config.query_dim != Da || weights.config.kv_dim != bands)
        fail(o.weights, ": weights expect query width ", weights.config.query_dim, " and key width ", weights.config.kv_dim,
             ", this demo's tokens are ", Da, " and ", bands);
    CrossModalAttention block(device, weights, parse_dtype(o.precision));
    auto a = Tensor::borrow(device, video.data(), {1, Lq, Da}, DataType::f32);
    auto b = Tensor::borrow(device, audio.data(), {1, Lkv, bands}, DataType::f32);
    block.forward(a, b, nullptr, true);  // warm-up: primitives are created once here
    const int reps = 20;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) block.forward(a, b, nullptr, true);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
    const auto& result = block.forward(a, b, nullptr, true);
    auto fused = result.fused.to_f32();
    auto mean = result.mean_weights.to_f32();

    std::printf("video  %s: %lld frames at %d fps -> tokens of %lld (32x18 grey + motion)\n", video_path.c_str(),
                static_cast<long long>(Lq), o.video_fps, static_cast<long long>(Da));
    std::printf("audio  %s: %zu samples at 16 kHz -> %lld tokens of %lld log-mel bands (%d ms each)\n", audio_path.c_str(),
                samples.size(), static_cast<long long>(Lkv), static_cast<long long>(bands), audio_token_ms);
    std::printf("fusion cross attention D=%lld H=%lld on %s (%s, compute %s), weights %s: %.3f ms per forward\n",
                static_cast<long long>(config.model_dim), static_cast<long long>(config.heads), device->name().c_str(),
                device->isa().c_str(), std::string(dtype_name(block.compute_type())).c_str(),
                o.weights.empty() ? "seeded random (untrained)" : o.weights.c_str(), ms);
    std::printf("\n  frame    peak audio   weight   entropy/uniform   |fused|\n");
    const double uniform = std::log(static_cast<double>(Lkv));
    for (std::int64_t f = 0; f < Lq; ++f) {
        const float* w = &mean[static_cast<std::size_t>(f * Lkv)];
        auto peak = std::max_element(w, w + Lkv) - w;
        double entropy = 0, norm = 0;
        for (std::int64_t j = 0; j < Lkv; ++j) entropy -= w[j] > 0 ? w[j] * std::log(w[j]) : 0.0;
        for (std::int64_t d = 0; d < config.model_dim; ++d) norm += std::pow(fused[static_cast<std::size_t>(f * config.model_dim + d)], 2);
        std::printf("  %5.1fs   %6.1fs     %.4f     %.3f         %.3f\n", static_cast<double>(f) / o.video_fps,
                    static_cast<double>(peak) * audio_token_ms / 1000.0, w[peak], entropy / uniform, std::sqrt(norm));
    }

    if (o.check) {
        // The naive double-precision reference of the whole block (tests/support/reference.hpp).
        auto want = testing::reference_cross_attention(weights, 1, Lq, Lkv, video, audio, {});
        auto err = testing::compare(fused, want.out);
        const double tolerance = block.compute_type() == DataType::f32 ? 1e-4 : 2e-2;
        const bool ok = err.relative() <= tolerance;
        std::printf("\ncheck  fused output vs naive double-precision reference: max abs error %.3g, relative %.3g (limit %.0e): %s\n",
                    err.max_abs, err.relative(), tolerance, ok ? "ok" : "FAILED");
        if (!ok) return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    gst_init(&argc, &argv);
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "xmodal-attention-demo: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--video") o.video = value();
        else if (a == "--audio") o.audio = value();
        else if (a == "--weights") o.weights = value();
        else if (a == "--device") o.device = value();
        else if (a == "--precision") o.precision = value();
        else if (a == "--seconds") o.seconds = std::atof(value().c_str());
        else if (a == "--no-check") o.check = false;
        else {
            std::fprintf(stderr,
                         "usage: xmodal-attention-demo [--video FILE] [--audio FILE] [--seconds S] [--device cpu|gpu[:N]]\n"
                         "                             [--precision f32|bf16] [--weights FILE.safetensors] [--no-check]\n"
                         "Relative paths are looked up in the shared folder (%s).\n", shared_dir().c_str());
            return 2;
        }
    }
    if (!(o.seconds > 0)) {
        std::fprintf(stderr, "xmodal-attention-demo: --seconds must be > 0\n");
        return 2;
    }
    try {
        return run(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "xmodal-attention-demo: %s\n", e.what());
        return 1;
    }
}
