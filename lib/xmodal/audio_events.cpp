#include "xmodal/audio_events.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>

#include "xmodal/audio_features.hpp"
#include "xmodal/compute_thread.hpp"
#include "xmodal/error.hpp"
#include "xmodal/runtime.hpp"
#include "xmodal/voice_activity.hpp"

namespace xmodal {

namespace {

constexpr float loudness_floor_db = -100.f;

// One csv record: fields split on commas outside double quotes, "" inside quotes is a quote.
bool split_csv_record(const std::string& line, std::vector<std::string>& fields) {
    fields.assign(1, "");
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
                fields.back() += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                fields.back() += c;
            }
        } else if (c == '"' && fields.back().empty()) {
            quoted = true;
        } else if (c == ',') {
            fields.emplace_back();
        } else {
            fields.back() += c;
        }
    }
    return !quoted;
}

std::string describe_outputs(const std::vector<ValueInfo>& outputs) {
    std::string text;
    for (const ValueInfo& o : outputs) {
        if (!text.empty()) text += ", ";
        text += o.name;
        text += ' ';
        text += o.shape_known ? describe_shape(o.shape) : "[?]";
    }
    return text;
}

// The classifier layer that computes `scores`: walking back from it through activations and
// reshapes to a Gemm or MatMul, whose first input is the embedding. YAMNet:
// global_average_pooling2d/Mean -> Gemm (FULLY_CONNECTED) -> Sigmoid (LOGISTIC) -> Identity.
std::string find_classifier_input(const Model& model, const std::string& scores) {
    std::map<std::string, const Node*> producer;
    for (const Node& n : model.graph.nodes)
        for (const std::string& out : n.outputs) producer[out] = &n;
    static const char* passing[] = {"Sigmoid", "Softmax", "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze"};
    std::string value = scores;
    for (int depth = 0; depth < 16; ++depth) {
        auto it = producer.find(value);
        if (it == producer.end()) break;
        const Node& n = *it->second;
        if ((n.op_type == "Gemm" || n.op_type == "MatMul") && !n.inputs.empty()) return n.inputs[0];
        if (std::find(std::begin(passing), std::end(passing), n.op_type) == std::end(passing) || n.inputs.empty()) break;
        value = n.inputs[0];
    }
    fail(model.path, ": cannot find the classifier layer (Gemm or MatMul, through activations and reshapes) that "
         "computes the scores '", scores, "', whose input is the embedding");
}

struct InputLayout {
    bool log_mel = false;
    Shape shape;  // concrete, for the configured window
};

}  // namespace

std::vector<std::string> load_yamnet_class_map(const std::string& path) {
    std::ifstream in(path);
    if (!in) fail("class map '", path, "' does not exist or cannot be read");
    std::string line;
    std::vector<std::string> fields, labels;
    int line_number = 0;
    while (std::getline(in, line)) {
        ++line_number;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line_number == 1) {
            if (line != "index,mid,display_name")
                fail("class map '", path, "' line 1: expected the header \"index,mid,display_name\", got \"", line, "\"");
            continue;
        }
        if (line.empty()) continue;
        if (!split_csv_record(line, fields) || fields.size() != 3)
            fail("class map '", path, "' line ", line_number, ": expected index,mid,display_name, got \"", line, "\"");
        char* end = nullptr;
        const long index = std::strtol(fields[0].c_str(), &end, 10);
        if (fields[0].empty() || *end != '\0' || index != static_cast<long>(labels.size()))
            fail("class map '", path, "' line ", line_number, ": index '", fields[0], "', expected ", labels.size());
        labels.push_back(fields[2]);
    }
    if (line_number == 0) fail("class map '", path, "' is empty");
    if (labels.empty()) fail("class map '", path, "' has a header but no classes");
    return labels;
}

std::vector<ClassScore> top_k(std::span<const float> scores, std::size_t k) {
    std::vector<ClassScore> all(scores.size());
    for (std::size_t i = 0; i < scores.size(); ++i) all[i] = {static_cast<int>(i), scores[i]};
    k = std::min(k, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(),
                      [](const ClassScore& a, const ClassScore& b) { return a.score > b.score || (a.score == b.score && a.index < b.index); });
    all.resize(k);
    return all;
}

float loudness_dbfs(std::span<const float> samples) {
    if (samples.empty()) return loudness_floor_db;
    double sum = 0;
    for (const float s : samples) sum += static_cast<double>(s) * s;
    const double mean_square = sum / static_cast<double>(samples.size());
    // 10·log10(mean square) = 20·log10(RMS); the floor also covers digital silence (log of 0).
    if (!(mean_square > 1e-10)) return loudness_floor_db;
    return std::max(loudness_floor_db, static_cast<float>(10.0 * std::log10(mean_square)));
}

struct AudioEventDetector::Impl {
    AudioEventOptions options;
    std::vector<std::string> labels;
    std::unique_ptr<ModelRunner> runner;
    std::unique_ptr<VoiceActivity> vad;
    std::unique_ptr<LogMel> log_mel;  // only for models whose input is a log-mel patch
    std::string input_name, embedding_name;
    InputLayout input;
    std::size_t scores_index = 0, embedding_index = 0, embedding_size = 0;
    std::vector<HostTensor> outputs;
    std::vector<float> features;  // log-mel patch of the current window

    // The stream since the last reset: samples [buffer_start, buffer_start + buffer.size()).
    std::vector<float> buffer;
    std::int64_t buffer_start = 0;
    std::int64_t next_window = 0;      // first sample of the next window
    std::int64_t covered_until = 0;    // end of the last window returned
    std::int64_t vad_next = 0;         // first sample of the next VAD chunk
    std::deque<float> vad_probs;       // probabilities of chunks vad_first_chunk, ...
    std::int64_t vad_first_chunk = 0;

    std::int64_t total() const { return buffer_start + static_cast<std::int64_t>(buffer.size()); }
    const float* at(std::int64_t sample) const { return buffer.data() + (sample - buffer_start); }

    void run_vad_until(std::int64_t end) {
        if (!vad) return;
        const auto chunk = static_cast<std::int64_t>(vad->chunk_samples());
        while (vad_next + chunk <= end) {
            vad_probs.push_back(vad->process(std::span<const float>(at(vad_next), static_cast<std::size_t>(chunk))));
            vad_next += chunk;
        }
    }

    // Mean probability of the chunks that start in [first, real_end) and end by first + window.
    float speech_probability(std::int64_t first, std::int64_t real_end) const {
        if (!vad) return -1.f;
        const auto chunk = static_cast<std::int64_t>(vad->chunk_samples());
        const std::int64_t window_end = first + options.window;
        double sum = 0;
        int count = 0;
        for (std::int64_t k = (first + chunk - 1) / chunk; k * chunk < real_end && (k + 1) * chunk <= window_end; ++k) {
            const std::int64_t i = k - vad_first_chunk;
            if (i < 0 || i >= static_cast<std::int64_t>(vad_probs.size())) continue;
            sum += vad_probs[static_cast<std::size_t>(i)];
            ++count;
        }
        return count > 0 ? static_cast<float>(sum / count) : -1.f;
    }

    // Runs the model on the window starting at `first` (the buffer holds it whole) whose real
    // samples end at `real_end`.
    AudioWindow run_window(std::int64_t first, std::int64_t real_end) {
        const float* samples = at(first);
        TensorView view{DataType::f32, input.shape, samples};
        if (log_mel) {
            features = log_mel->compute(std::span<const float>(samples, static_cast<std::size_t>(options.window)));
            view.data = features.data();
        }
        runner->run({{input_name, view}}, outputs);
        AudioWindow w;
        w.first_sample = first;
        w.samples = real_end - first;
        w.scores = outputs[scores_index].to_f32();
        w.embedding = outputs[embedding_index].to_f32();
        if (w.scores.size() != labels.size())
            fail(options.model, ": the scores output has ", w.scores.size(), " values, the class map '", options.class_map,
                 "' ", labels.size(), " rows");
        w.top = top_k(w.scores, static_cast<std::size_t>(options.top_k));
        w.loudness_dbfs = loudness_dbfs(std::span<const float>(samples, static_cast<std::size_t>(w.samples)));
        w.speech_probability = speech_probability(first, real_end);
        return w;
    }

    // Drops samples and VAD probabilities no future window reads.
    void trim() {
        const std::int64_t keep_from = std::min(next_window, vad ? vad_next : next_window);
        const std::int64_t drop = keep_from - buffer_start;
        if (drop > 0 && drop >= options.window) {  // amortised: not on every push
            buffer.erase(buffer.begin(), buffer.begin() + drop);
            buffer_start = keep_from;
        }
        if (vad) {
            const auto chunk = static_cast<std::int64_t>(vad->chunk_samples());
            while (!vad_probs.empty() && vad_first_chunk * chunk < next_window) {  // starts before any future window
                vad_probs.pop_front();
                ++vad_first_chunk;
            }
        }
    }

    std::vector<AudioWindow> push(std::span<const float> samples) {
        buffer.insert(buffer.end(), samples.begin(), samples.end());
        run_vad_until(total());
        std::vector<AudioWindow> windows;
        while (next_window + options.window <= total()) {
            windows.push_back(run_window(next_window, next_window + options.window));
            covered_until = next_window + options.window;
            next_window += options.hop;
        }
        trim();
        return windows;
    }

    std::vector<AudioWindow> flush() {
        std::vector<AudioWindow> windows;
        const std::int64_t end = total();
        if (end > covered_until) {
            // next_window <= covered_until < end: the tail lies in [next_window, end).
            buffer.resize(static_cast<std::size_t>(next_window + options.window - buffer_start), 0.f);
            run_vad_until(next_window + options.window);
            windows.push_back(run_window(next_window, end));
        }
        reset();
        return windows;
    }

    void reset() {
        buffer.clear();
        buffer_start = next_window = covered_until = vad_next = vad_first_chunk = 0;
        vad_probs.clear();
        if (vad) vad->reset();
    }
};

AudioEventDetector::AudioEventDetector(const AudioEventOptions& options) : impl_(std::make_unique<Impl>()) {
    Impl& d = *impl_;
    d.options = options;
    const AudioEventOptions& o = d.options;
    if (o.model.empty()) fail("model: no audio event model given");
    if (!std::filesystem::is_regular_file(o.model)) fail("model: file '", o.model, "' does not exist or is not a file");
    if (o.class_map.empty()) fail("class map: none given (a csv \"index,mid,display_name\" with one row per score)");
    if (!o.vad_model.empty() && !std::filesystem::is_regular_file(o.vad_model))
        fail("vad model: file '", o.vad_model, "' does not exist or is not a file");
    d.labels = load_yamnet_class_map(o.class_map);
    if (o.window < 1) fail("window: ", o.window, " samples, expected at least 1");
    if (o.hop < 1 || o.hop > o.window)
        fail("hop: ", o.hop, " samples, expected 1..", o.window, " (the window; a longer hop would leave audio out)");
    if (o.top_k < 1 || o.top_k > static_cast<int>(d.labels.size()))
        fail("top-k: ", o.top_k, ", expected 1..", d.labels.size(), " (the classes of '", o.class_map, "')");

    // Loading, planning and the first run all on the compute thread: one OpenMP pool per process.
    run_on_compute_thread([&] {
        Model model = load_model(o.model);
        const Graph& g = model.graph;
        std::vector<const ValueInfo*> inputs;
        for (const ValueInfo& in : g.inputs)
            if (!g.initializers.count(in.name)) inputs.push_back(&in);
        if (inputs.size() != 1 || inputs[0]->dtype != DataType::f32 || !inputs[0]->shape_known)
            fail(o.model, ": expected one f32 input (a waveform [1,N] or a log-mel patch [1,F,64]), the model has ",
                 inputs.size(), " inputs");
        const ValueInfo& in = *inputs[0];
        d.input_name = in.name;
        // Waveform: [N] or [batch, N]. Log-mel patch: [F, 64] (F known, not 1) or [batch, F, 64].
        const std::vector<Dim>& shape = in.shape;
        const auto mel_bands = static_cast<std::int64_t>(LogMelConfig{}.mel_bands);
        const bool last_is_mel = !shape.empty() && shape.back().known() && shape.back().value == mel_bands;
        d.input.log_mel = (shape.size() == 3 && last_is_mel) ||
                          (shape.size() == 2 && last_is_mel && shape[0].known() && shape[0].value > 1);
        if (!d.input.log_mel && shape.size() != 1 && shape.size() != 2)
            fail(o.model, ": input '", in.name, "' ", describe_shape(shape),
                 " is neither a waveform [1,N] nor a log-mel patch [1,F,64]");
        const bool batched = shape.size() == (d.input.log_mel ? 3u : 2u);
        if (batched && shape[0].known() && shape[0].value != 1)
            fail(o.model, ": input '", in.name, "' ", describe_shape(shape), " has a batch of ", shape[0].value, ", expected 1");
        const Dim& length = shape[batched ? 1 : 0];  // samples, or log-mel frames
        const auto seconds = [](std::int64_t n) { return static_cast<double>(n) / audio_event_sample_rate; };
        std::int64_t length_value = o.window;
        if (!d.input.log_mel) {
            if (length.known() && length.value != o.window)
                fail("window: ", o.window, " samples (", seconds(o.window), " s), but the model '", o.model,
                     "' takes windows of exactly ", length.value, " samples (", seconds(length.value), " s at 16 kHz)");
        } else {
            // F frames of 25 ms every 10 ms: the window must be exactly what they cover.
            d.log_mel = std::make_unique<LogMel>();
            const LogMelConfig& c = d.log_mel->config();
            length_value = d.log_mel->frame_count(o.window);
            if (length_value < 1) fail("window: ", o.window, " samples is shorter than one log-mel frame (", c.frame_length, ")");
            const std::int64_t frames = length.known() ? length.value : length_value;
            const std::int64_t want = c.frame_length + (frames - 1) * c.hop_length;
            if (o.window != want)
                fail("window: ", o.window, " samples, but the model '", o.model, "' takes ", frames,
                     " log-mel frames, i.e. windows of exactly ", want, " samples (", seconds(want), " s at 16 kHz)");
        }
        d.input.shape.clear();
        if (batched) d.input.shape.push_back(1);
        d.input.shape.push_back(length_value);
        if (d.input.log_mel) d.input.shape.push_back(mel_bands);

        // Scores: the output with one value per class-map row.
        const auto& outs = g.outputs;
        d.scores_index = outs.size();
        for (std::size_t k = 0; k < outs.size() && d.scores_index == outs.size(); ++k)
            if (outs[k].shape_known && !outs[k].shape.empty() && outs[k].shape.back().known() &&
                outs[k].shape.back().value == static_cast<std::int64_t>(d.labels.size()))
                d.scores_index = k;
        if (d.scores_index == outs.size())
            fail(o.model, ": no output has ", d.labels.size(), " scores, one per row of the class map '", o.class_map,
                 "' (outputs: ", describe_outputs(outs), ")");
        d.embedding_name = find_classifier_input(model, outs[d.scores_index].name);
        d.embedding_index = outs.size();
        for (std::size_t k = 0; k < outs.size(); ++k)
            if (outs[k].name == d.embedding_name) d.embedding_index = k;
        if (d.embedding_index == outs.size()) {
            // Not an output of the file: expose it (the runtime plans any produced value as an output).
            ValueInfo embedding;
            embedding.name = d.embedding_name;
            embedding.dtype = DataType::f32;
            model.graph.outputs.push_back(embedding);
        }

        d.runner = std::make_unique<ModelRunner>(std::move(model), Device::open(o.device));
        if (!o.vad_model.empty()) d.vad = std::make_unique<VoiceActivity>(o.vad_model, audio_event_sample_rate, Device::open(o.device));

        // One run on silence builds the plan and checks the outputs now, not on the first window.
        d.buffer.assign(static_cast<std::size_t>(o.window), 0.f);
        const AudioWindow w = d.run_window(0, o.window);
        if (w.embedding.empty()) fail(o.model, ": the embedding '", d.embedding_name, "' is empty");
        d.embedding_size = w.embedding.size();
        if (d.vad) d.vad->process(std::span<const float>(d.buffer.data(), d.vad->chunk_samples()));
        d.reset();
    });
}

AudioEventDetector::~AudioEventDetector() = default;

const AudioEventOptions& AudioEventDetector::options() const { return impl_->options; }
const std::vector<std::string>& AudioEventDetector::labels() const { return impl_->labels; }
const std::string& AudioEventDetector::embedding_tensor() const { return impl_->embedding_name; }
std::size_t AudioEventDetector::embedding_size() const { return impl_->embedding_size; }
std::int64_t AudioEventDetector::samples_pushed() const { return impl_->total(); }

std::vector<AudioWindow> AudioEventDetector::push(std::span<const float> samples) {
    // The VAD and the model run chunk by chunk: one hop to the compute thread for all of them.
    if (!on_compute_thread()) {
        std::vector<AudioWindow> windows;
        run_on_compute_thread([&] { windows = push(samples); });
        return windows;
    }
    return impl_->push(samples);
}

std::vector<AudioWindow> AudioEventDetector::flush() {
    if (!on_compute_thread()) {
        std::vector<AudioWindow> windows;
        run_on_compute_thread([&] { windows = flush(); });
        return windows;
    }
    return impl_->flush();
}

void AudioEventDetector::reset() { impl_->reset(); }

}  // namespace xmodal
