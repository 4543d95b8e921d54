// AudioEventDetector (audio_events.hpp): window positions and counts however samples arrive, the
// zero-padded tail, loudness, the class map, top-k, YAMNet's scores on the staged clips against
// the shared expectations, the exposed embedding (it is what the classifier reads: the scores
// follow from it and the classifier's weights), voice activity, the log-mel input path with a
// small ONNX model, and the errors for wrong models, class maps and windows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numbers>

#include <onnx/onnx_pb.h>

#include "support/error_of.hpp"
#include "support/yamnet_expectations.hpp"
#include "xmodal/audio_events.hpp"
#include "xmodal/audio_features.hpp"
#include "xmodal/audio_file.hpp"
#include "xmodal/error.hpp"
#include "xmodal/runtime.hpp"
#include "xmodal/shared_paths.hpp"

namespace xmodal {
namespace {

using testing::error_of;

std::string shared_path(const std::string& relative) { return shared_dir() + "/" + relative; }
const std::string yamnet = shared_path("models/yamnet.tflite");
const std::string class_map = shared_path("models/yamnet_class_map.csv");
const std::string vad = shared_path("models/silero_vad.onnx");

bool have(const std::string& path) { return std::filesystem::exists(path); }

#define REQUIRE_YAMNET()                                                                              \
    do {                                                                                              \
        if (!have(yamnet) || !have(class_map)) GTEST_SKIP() << "needs " << yamnet << " and " << class_map; \
    } while (false)

AudioEventOptions yamnet_options(std::string vad_model = "") {
    AudioEventOptions o;
    o.model = yamnet;
    o.class_map = class_map;
    o.vad_model = std::move(vad_model);
    return o;
}

std::string write_file(const std::string& name, const std::string& text) {
    const std::string path = ::testing::TempDir() + name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
}

std::vector<float> sine(std::size_t n, double hz, double amplitude) {
    std::vector<float> s(n);
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<float>(amplitude * std::sin(2 * std::numbers::pi * hz * static_cast<double>(i) / 16000));
    return s;
}

// ---- helpers: class map, top-k, loudness ----

TEST(AudioEvents, class_map_reads_quoted_names_in_index_order) {
    if (!have(class_map)) GTEST_SKIP() << "needs " << class_map;
    const auto labels = load_yamnet_class_map(class_map);
    ASSERT_EQ(labels.size(), 521u);
    EXPECT_EQ(labels[0], "Speech");
    EXPECT_EQ(labels[1], "Child speech, kid speaking");
    EXPECT_EQ(labels[302], "Vehicle horn, car horn, honking");
    EXPECT_EQ(labels[316], "Emergency vehicle");
    EXPECT_EQ(labels[390], "Siren");

    const std::string path = write_file("xm_classes.csv", "index,mid,display_name\r\n0,/m/a,\"Say \"\"hi\"\", now\"\r\n1,/m/b,Two\r\n\r\n");
    EXPECT_EQ(load_yamnet_class_map(path), (std::vector<std::string>{"Say \"hi\", now", "Two"}));
    std::remove(path.c_str());
}

TEST(AudioEvents, class_map_errors_name_the_file_and_line) {
    const std::string missing = ::testing::TempDir() + "xm_no_such_classes.csv";
    EXPECT_NE(error_of([&] { load_yamnet_class_map(missing); }).find(missing + "' does not exist"), std::string::npos);
    const std::string header = write_file("xm_bad_header.csv", "id,name\n0,x\n");
    EXPECT_NE(error_of([&] { load_yamnet_class_map(header); }).find("line 1: expected the header"), std::string::npos);
    const std::string gap = write_file("xm_bad_index.csv", "index,mid,display_name\n0,/m/a,A\n2,/m/c,C\n");
    EXPECT_NE(error_of([&] { load_yamnet_class_map(gap); }).find("line 3: index '2', expected 1"), std::string::npos);
    const std::string fields = write_file("xm_bad_fields.csv", "index,mid,display_name\n0,/m/a\n");
    EXPECT_NE(error_of([&] { load_yamnet_class_map(fields); }).find("line 2: expected index,mid,display_name"), std::string::npos);
    const std::string quote = write_file("xm_bad_quote.csv", "index,mid,display_name\n0,/m/a,\"open\n");
    EXPECT_NE(error_of([&] { load_yamnet_class_map(quote); }).find(quote + "' line 2"), std::string::npos);
    const std::string empty = write_file("xm_empty.csv", "index,mid,display_name\n");
    EXPECT_NE(error_of([&] { load_yamnet_class_map(empty); }).find("no classes"), std::string::npos);
    for (const auto& p : {header, gap, fields, quote, empty}) std::remove(p.c_str());
}

TEST(AudioEvents, top_k_orders_by_score_then_index) {
    const std::vector<float> scores{0.1f, 0.7f, 0.3f, 0.7f, 0.05f};
    const auto top = top_k(scores, 3);
    ASSERT_EQ(top.size(), 3u);
    EXPECT_EQ(top[0].index, 1);
    EXPECT_EQ(top[1].index, 3);  // tie with 1: lower index first
    EXPECT_EQ(top[2].index, 2);
    EXPECT_FLOAT_EQ(top[2].score, 0.3f);
    EXPECT_EQ(top_k(scores, 9).size(), 5u);
    EXPECT_TRUE(top_k(scores, 0).empty());
}

TEST(AudioEvents, loudness_of_sines_and_silence) {
    // RMS in dB full scale: a full-scale sine has RMS 1/sqrt(2), -3.01 dB; half amplitude -6.02 dB less.
    EXPECT_NEAR(loudness_dbfs(sine(16000, 1000, 1.0)), -3.0103, 1e-3);
    EXPECT_NEAR(loudness_dbfs(sine(16000, 440, 0.5)), -9.0309, 1e-3);
    EXPECT_NEAR(loudness_dbfs(std::vector<float>(100, 1.f)), 0.0, 1e-6);
    EXPECT_EQ(loudness_dbfs(std::vector<float>(16000, 0.f)), -100.f);
    EXPECT_EQ(loudness_dbfs(std::vector<float>(16000, 1e-7f)), -100.f);  // -140 dB, floored
    EXPECT_EQ(loudness_dbfs({}), -100.f);
}

// ---- the detector on YAMNet ----

TEST(AudioEvents, windows_start_every_hop_however_samples_arrive) {
    REQUIRE_YAMNET();
    AudioEventDetector d(yamnet_options());
    EXPECT_EQ(d.embedding_tensor(), "yamnet_frames/global_average_pooling2d/Mean");
    EXPECT_EQ(d.embedding_size(), 1024u);
    const std::vector<float> audio = sine(36000, 700, 0.3);  // 2.25 s: windows at 0, 7680, 15360; 23040 + 15600 > 36000

    // All at once.
    const auto whole = d.push(audio);
    ASSERT_EQ(whole.size(), 3u);
    for (std::size_t k = 0; k < whole.size(); ++k) {
        EXPECT_EQ(whole[k].first_sample, static_cast<std::int64_t>(k) * 7680);
        EXPECT_EQ(whole[k].samples, 15600);
        EXPECT_EQ(whole[k].scores.size(), 521u);
        EXPECT_EQ(whole[k].top.size(), 5u);
        EXPECT_EQ(whole[k].speech_probability, -1.f);  // no VAD model
    }
    EXPECT_EQ(d.samples_pushed(), 36000);
    // The tail: one more window at the next hop holding the samples after the last window's end.
    const auto tail = d.flush();
    ASSERT_EQ(tail.size(), 1u);
    EXPECT_EQ(tail[0].first_sample, 23040);
    EXPECT_EQ(tail[0].samples, 36000 - 23040);
    EXPECT_EQ(d.samples_pushed(), 0);  // flush resets

    // The same audio in uneven pieces (1 sample, 1000, 7679, ...) gives the same windows, bit for bit.
    std::vector<AudioWindow> pieces;
    std::size_t at = 0, step = 1;
    while (at < audio.size()) {
        const std::size_t n = std::min(step, audio.size() - at);
        for (auto& w : d.push(std::span<const float>(audio.data() + at, n))) pieces.push_back(std::move(w));
        at += n;
        step = step * 7 + 3;
    }
    ASSERT_EQ(pieces.size(), whole.size());
    for (std::size_t k = 0; k < whole.size(); ++k) {
        EXPECT_EQ(pieces[k].first_sample, whole[k].first_sample);
        EXPECT_EQ(pieces[k].scores, whole[k].scores);
        EXPECT_EQ(pieces[k].embedding, whole[k].embedding);
        EXPECT_EQ(pieces[k].loudness_dbfs, whole[k].loudness_dbfs);
    }

    // reset(): positions restart at 0, and nothing of the earlier samples is left to flush.
    d.reset();
    EXPECT_TRUE(d.push(std::vector<float>(15599, 0.f)).empty());
    const auto one = d.push(std::vector<float>(1, 0.f));
    ASSERT_EQ(one.size(), 1u);
    EXPECT_EQ(one[0].first_sample, 0);
    EXPECT_TRUE(d.flush().empty());  // no samples after the last window's end
}

TEST(AudioEvents, hop_equal_to_window_and_short_streams) {
    REQUIRE_YAMNET();
    AudioEventOptions o = yamnet_options();
    o.hop = 15600;
    o.top_k = 2;
    AudioEventDetector d(o);
    const auto w = d.push(std::vector<float>(15600 * 3 + 100, 0.f));
    ASSERT_EQ(w.size(), 3u);
    EXPECT_EQ(w[2].first_sample, 31200);
    EXPECT_EQ(w[0].top.size(), 2u);
    const auto tail = d.flush();
    ASSERT_EQ(tail.size(), 1u);
    EXPECT_EQ(tail[0].first_sample, 46800);
    EXPECT_EQ(tail[0].samples, 100);

    // A stream shorter than one window: one zero-padded window at 0 when it ends.
    EXPECT_TRUE(d.push(sine(8000, 1000, 1.0)).empty());
    const auto short_stream = d.flush();
    ASSERT_EQ(short_stream.size(), 1u);
    EXPECT_EQ(short_stream[0].first_sample, 0);
    EXPECT_EQ(short_stream[0].samples, 8000);
    EXPECT_NEAR(short_stream[0].loudness_dbfs, -3.0103, 1e-3);  // over the real samples, not the padding
    EXPECT_TRUE(d.flush().empty());
}

TEST(AudioEvents, window_loudness_of_a_full_scale_sine_and_of_silence) {
    REQUIRE_YAMNET();
    AudioEventDetector d(yamnet_options());
    const auto loud = d.push(sine(15600, 1000, 1.0));
    ASSERT_EQ(loud.size(), 1u);
    EXPECT_NEAR(loud[0].loudness_dbfs, -3.0103, 1e-3);
    d.reset();
    const auto quiet = d.push(std::vector<float>(15600, 0.f));
    ASSERT_EQ(quiet.size(), 1u);
    EXPECT_EQ(quiet[0].loudness_dbfs, -100.f);
}

class AudioEventClips : public ::testing::TestWithParam<testing::YamnetCase> {};

// The detector's windows are the runtime test's windows: the same expectations, same tolerance.
TEST_P(AudioEventClips, scores_match_the_yamnet_expectations) {
    REQUIRE_YAMNET();
    const testing::YamnetCase& c = GetParam();
    const std::string clip = shared_path(std::string("media/") + c.clip);
    if (!have(clip)) GTEST_SKIP() << "needs " << clip;
    auto samples = decode_audio_file(clip, 16000);
    AudioEventDetector d(yamnet_options());
    testing::YamnetSummary summary;
    for (std::size_t at = 0; at < samples.size(); at += 4410)  // 0.28 s pieces, as a stream would come
        for (const auto& w : d.push(std::span<const float>(samples.data() + at, std::min<std::size_t>(4410, samples.size() - at))))
            summary.add(w.scores);
    for (const auto& w : d.flush())
        if (summary.windows == 0) summary.add(w.scores);  // only a clip shorter than a window counts its padded tail
    summary.finish();
    std::printf("[ xmaudio lib %s ] %d windows, top %d", c.clip, summary.windows, summary.top);
    for (const auto& s : c.scores) std::printf("; %s %.3f (expected %.2f)", s.label, summary.value(s), s.expected);
    std::printf("\n");
    if (c.top_class >= 0) {
        EXPECT_EQ(summary.top, c.top_class);
    }
    for (const auto& s : c.scores) EXPECT_NEAR(summary.value(s), s.expected, testing::yamnet_tolerance) << s.label;
}

INSTANTIATE_TEST_SUITE_P(Clips, AudioEventClips, ::testing::ValuesIn(testing::yamnet_cases()), [](const auto& info) {
    std::string clip = info.param.clip;
    return clip.substr(0, clip.find('.'));
});

// Exposing the embedding as an output changes nothing in the scores: the same numbers as the
// model run as the file declares it.
TEST(AudioEvents, scores_equal_the_plain_model_run) {
    REQUIRE_YAMNET();
    const auto audio = sine(15600, 523, 0.4);
    ModelRunner runner(load_model(yamnet), Device::open("cpu"));
    std::vector<HostTensor> outputs;
    runner.run({{"input_1", TensorView{DataType::f32, {1, 15600}, audio.data()}}}, outputs);
    AudioEventDetector d(yamnet_options());
    const auto w = d.push(audio);
    ASSERT_EQ(w.size(), 1u);
    EXPECT_EQ(w[0].scores, outputs[0].to_f32());
}

// Dense (classifier) weights of the Gemm reading `embedding`, dequantized: W [classes, K], b.
struct Classifier {
    std::vector<float> weights, bias;
    std::int64_t classes = 0, inputs = 0;
};

Classifier classifier_reading(const Model& model, const std::string& embedding) {
    const Graph& g = model.graph;
    for (const Node& n : g.nodes) {
        if (n.op_type != "Gemm" || n.inputs.size() < 3 || n.inputs[0] != embedding) continue;
        EXPECT_EQ(n.attr_int("transB", 0), 1);
        Classifier c;
        c.bias = g.initializers.at(n.inputs[2]).to_f32();
        for (const Node& q : g.nodes) {
            if (q.outputs.empty() || q.outputs[0] != n.inputs[1] || q.op_type != "DequantizeLinear") continue;
            const HostTensor& w = g.initializers.at(q.inputs[0]);
            const auto scale = g.initializers.at(q.inputs[1]).to_f32();
            EXPECT_EQ(w.dtype, DataType::s8);
            EXPECT_EQ(scale.size(), 1u);  // yamnet: per-tensor scales (docs/DESIGN.md)
            c.classes = w.shape[0], c.inputs = w.shape[1];
            for (const std::uint8_t byte : w.bytes) c.weights.push_back(static_cast<float>(static_cast<std::int8_t>(byte)) * scale[0]);
        }
        return c;
    }
    ADD_FAILURE() << "no Gemm reads " << embedding;
    return {};
}

float cosine(const std::vector<float>& a, const std::vector<float>& b) {
    double ab = 0, aa = 0, bb = 0;
    for (std::size_t i = 0; i < a.size(); ++i) ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i];
    return static_cast<float>(ab / std::sqrt(aa * bb));
}

// The embedding is the classifier's input: sigmoid(W·e + b) gives back the scores. It is finite,
// non-negative (a mean of ReLU outputs), and differs between speech and a siren.
TEST(AudioEvents, embedding_is_what_the_classifier_reads) {
    REQUIRE_YAMNET();
    const std::string speech = shared_path("media/speech_jfk_inaugural.wav"), siren = shared_path("media/siren_ambulance_4s.wav");
    if (!have(speech) || !have(siren)) GTEST_SKIP() << "needs the staged clips";
    AudioEventDetector d(yamnet_options());
    const auto speech_windows = d.push(decode_audio_file(speech, 16000));
    d.reset();
    const auto siren_windows = d.push(decode_audio_file(siren, 16000));
    ASSERT_FALSE(speech_windows.empty());
    ASSERT_FALSE(siren_windows.empty());

    const Classifier c = classifier_reading(load_model(yamnet), d.embedding_tensor());
    ASSERT_EQ(c.classes, 521);
    ASSERT_EQ(c.inputs, 1024);
    for (const auto* windows : {&speech_windows, &siren_windows}) {
        const AudioWindow& w = windows->front();
        ASSERT_EQ(w.embedding.size(), 1024u);
        for (const float e : w.embedding) {
            ASSERT_TRUE(std::isfinite(e));
            ASSERT_GE(e, 0.f);
        }
        double worst = 0;
        for (std::int64_t k = 0; k < c.classes; ++k) {
            double logit = c.bias[static_cast<std::size_t>(k)];
            for (std::int64_t i = 0; i < c.inputs; ++i)
                logit += static_cast<double>(c.weights[static_cast<std::size_t>(k * c.inputs + i)]) * w.embedding[static_cast<std::size_t>(i)];
            worst = std::max(worst, std::abs(1 / (1 + std::exp(-logit)) - w.scores[static_cast<std::size_t>(k)]));
        }
        EXPECT_LT(worst, 1e-4);
    }
    const float across = cosine(speech_windows.front().embedding, siren_windows.front().embedding);
    const float within = cosine(siren_windows[0].embedding, siren_windows[1].embedding);
    std::printf("[ embedding ] cosine speech/siren %.3f, siren/siren %.3f\n", across, within);
    EXPECT_LT(across, 0.6f);
    EXPECT_GT(within, across + 0.2f);
}

TEST(AudioEvents, speech_probability_from_the_vad) {
    REQUIRE_YAMNET();
    const std::string speech = shared_path("media/speech_librivox_austen_0870.wav"), siren = shared_path("media/siren_ambulance_4s.wav");
    if (!have(vad) || !have(speech) || !have(siren)) GTEST_SKIP() << "needs " << vad << " and the staged clips";
    AudioEventDetector d(yamnet_options(vad));
    auto mean_speech = [&](const std::string& clip) {
        double sum = 0;
        const auto windows = d.push(decode_audio_file(clip, 16000));
        for (const auto& w : windows) {
            EXPECT_GE(w.speech_probability, 0.f);
            EXPECT_LE(w.speech_probability, 1.f);
            sum += w.speech_probability;
        }
        d.reset();
        return sum / static_cast<double>(windows.size());
    };
    const double on_speech = mean_speech(speech), on_siren = mean_speech(siren);
    std::printf("[ vad ] mean speech probability: speech clip %.3f, siren clip %.3f\n", on_speech, on_siren);
    EXPECT_GT(on_speech, 0.7);
    EXPECT_LT(on_siren, 0.1);
}

TEST(AudioEvents, errors_name_the_model_class_map_and_values) {
    REQUIRE_YAMNET();
    AudioEventOptions o = yamnet_options();
    o.model = ::testing::TempDir() + "xm_no_such_model.tflite";
    EXPECT_NE(error_of([&] { AudioEventDetector{o}; }).find("model: file '" + o.model + "' does not exist"), std::string::npos);

    if (have(vad)) {  // a model of another kind: silero's three inputs
        o = yamnet_options();
        o.model = vad;
        const std::string e = error_of([&] { AudioEventDetector{o}; });
        EXPECT_NE(e.find(vad + ": expected one f32 input"), std::string::npos) << e;
    }

    o = yamnet_options();
    o.class_map = ::testing::TempDir() + "xm_no_such_map.csv";
    EXPECT_NE(error_of([&] { AudioEventDetector{o}; }).find("class map '" + o.class_map + "' does not exist"), std::string::npos);

    // A class map one row short: no output has 520 scores.
    std::string csv = "index,mid,display_name\n";
    for (int k = 0; k < 520; ++k) csv += std::to_string(k) + ",/m/x,class\n";
    o = yamnet_options();
    o.class_map = write_file("xm_520.csv", csv);
    std::string e = error_of([&] { AudioEventDetector{o}; });
    EXPECT_NE(e.find("no output has 520 scores, one per row of the class map '" + o.class_map + "'"), std::string::npos) << e;
    EXPECT_NE(e.find("Identity [1,521]"), std::string::npos) << e;
    std::remove(o.class_map.c_str());

    o = yamnet_options();
    o.window = 16000;
    e = error_of([&] { AudioEventDetector{o}; });
    EXPECT_NE(e.find("window: 16000 samples"), std::string::npos) << e;
    EXPECT_NE(e.find("takes windows of exactly 15600 samples (0.975 s at 16 kHz)"), std::string::npos) << e;
    o = yamnet_options();
    o.hop = 0;
    EXPECT_NE(error_of([&] { AudioEventDetector{o}; }).find("hop: 0 samples, expected 1..15600"), std::string::npos);
    o.hop = 15601;
    EXPECT_NE(error_of([&] { AudioEventDetector{o}; }).find("hop: 15601 samples"), std::string::npos);
    o = yamnet_options();
    o.top_k = 0;
    EXPECT_NE(error_of([&] { AudioEventDetector{o}; }).find("top-k: 0, expected 1..521"), std::string::npos);
    o = yamnet_options(::testing::TempDir() + "xm_no_such_vad.onnx");
    EXPECT_NE(error_of([&] { AudioEventDetector{o}; }).find("vad model: file '" + o.vad_model + "' does not exist"), std::string::npos);
}

// ---- a model that takes a log-mel patch: the detector computes LogMel itself ----

// patch [1,96,64] -> ReduceMean over frames -> "embedding" [1,64] -> Gemm (W [classes,64]) -> Sigmoid -> scores.
std::string write_log_mel_model(const std::string& name, int classes, std::vector<float>& weights) {
    onnx::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(13);
    auto* g = m.mutable_graph();
    g->set_name("log_mel_classifier");
    auto add_value = [](onnx::ValueInfoProto* v, const char* value_name, std::vector<std::int64_t> dims) {
        v->set_name(value_name);
        v->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
        for (const std::int64_t d : dims) v->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
    };
    add_value(g->add_input(), "patch", {1, 96, 64});
    add_value(g->add_output(), "scores", {1, classes});
    auto add_tensor = [&](const char* tensor_name, std::vector<std::int64_t> dims, const std::vector<float>& values) {
        auto* t = g->add_initializer();
        t->set_name(tensor_name);
        t->set_data_type(onnx::TensorProto::FLOAT);
        for (const std::int64_t d : dims) t->add_dims(d);
        t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
    };
    weights.resize(static_cast<std::size_t>(classes) * 64);
    for (std::size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<float>(0.05 * std::sin(0.37 * static_cast<double>(i)));
    add_tensor("W", {classes, 64}, weights);
    add_tensor("B", {classes}, std::vector<float>(static_cast<std::size_t>(classes), 0.f));
    auto* mean = g->add_node();
    mean->set_op_type("ReduceMean");
    mean->set_name("pool");
    mean->add_input("patch");
    mean->add_output("embedding");
    auto* axes = mean->add_attribute();
    axes->set_name("axes");
    axes->set_type(onnx::AttributeProto::INTS);
    axes->add_ints(1);
    auto* keep = mean->add_attribute();
    keep->set_name("keepdims");
    keep->set_type(onnx::AttributeProto::INT);
    keep->set_i(0);
    auto* gemm = g->add_node();
    gemm->set_op_type("Gemm");
    gemm->set_name("classifier");
    gemm->add_input("embedding");
    gemm->add_input("W");
    gemm->add_input("B");
    gemm->add_output("logits");
    auto* trans = gemm->add_attribute();
    trans->set_name("transB");
    trans->set_type(onnx::AttributeProto::INT);
    trans->set_i(1);
    auto* sigmoid = g->add_node();
    sigmoid->set_op_type("Sigmoid");
    sigmoid->set_name("probabilities");
    sigmoid->add_input("logits");
    sigmoid->add_output("scores");
    const std::string path = ::testing::TempDir() + name;
    std::ofstream(path, std::ios::binary) << m.SerializeAsString();
    return path;
}

TEST(AudioEvents, log_mel_models_get_the_yamnet_front_end) {
    std::string csv = "index,mid,display_name\n";
    for (int k = 0; k < 3; ++k) csv += std::to_string(k) + ",/m/x,class " + std::to_string(k) + "\n";
    std::vector<float> weights;
    AudioEventOptions o;
    o.model = write_log_mel_model("xm_log_mel.onnx", 3, weights);
    o.class_map = write_file("xm_3.csv", csv);
    o.top_k = 3;
    AudioEventDetector d(o);
    EXPECT_EQ(d.embedding_tensor(), "embedding");
    EXPECT_EQ(d.embedding_size(), 64u);

    std::vector<float> audio = sine(15600, 1000, 0.5);
    const auto mixed = sine(15600, 3000, 0.2);
    for (std::size_t i = 0; i < audio.size(); ++i) audio[i] += mixed[i];
    const auto windows = d.push(audio);
    ASSERT_EQ(windows.size(), 1u);
    // The embedding is the mean over the 96 frames of LogMel's features of the window.
    LogMel log_mel;
    const auto features = log_mel.compute(audio);
    ASSERT_EQ(features.size(), 96u * 64u);
    for (std::size_t b = 0; b < 64; ++b) {
        double mean = 0;
        for (std::size_t f = 0; f < 96; ++f) mean += features[f * 64 + b];
        EXPECT_NEAR(windows[0].embedding[b], mean / 96, 1e-4) << "band " << b;
    }
    for (std::size_t k = 0; k < 3; ++k) {
        double logit = 0;
        for (std::size_t b = 0; b < 64; ++b) logit += static_cast<double>(weights[k * 64 + b]) * windows[0].embedding[b];
        EXPECT_NEAR(windows[0].scores[k], 1 / (1 + std::exp(-logit)), 1e-5);
    }

    o.window = 16000;
    const std::string e = error_of([&] { AudioEventDetector{o}; });
    EXPECT_NE(e.find("takes 96 log-mel frames, i.e. windows of exactly 15600 samples"), std::string::npos) << e;
    std::remove(o.model.c_str());
    std::remove(o.class_map.c_str());
}

}  // namespace
}  // namespace xmodal
