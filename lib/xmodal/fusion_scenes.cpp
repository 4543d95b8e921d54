#include "xmodal/fusion_scenes.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "xmodal/audio_events.hpp"
#include "xmodal/audio_file.hpp"
#include "xmodal/error.hpp"

namespace xmodal {

// ---- Scenes ----------------------------------------------------------------------------------------

namespace {

const nlohmann::json& field(const nlohmann::json& j, const char* key, const std::string& where) {
    if (!j.is_object() || !j.contains(key)) fail(where, ": '", key, "' is missing");
    return j.at(key);
}

double number(const nlohmann::json& v, const std::string& where) {
    if (!v.is_number()) fail(where, " is ", v.dump(), ", expected a number");
    return v.get<double>();
}

std::int64_t integer(const nlohmann::json& v, const std::string& where) {
    if (!v.is_number_integer()) fail(where, " is ", v.dump(), ", expected an integer");
    return v.get<std::int64_t>();
}

std::string text(const nlohmann::json& v, const std::string& where) {
    if (!v.is_string()) fail(where, " is ", v.dump(), ", expected a string");
    return v.get<std::string>();
}

}  // namespace

FusionScene load_scene(const std::string& path) {
    std::ifstream in(path);
    if (!in) fail(path, ": cannot open the scene file");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        fail(path, ": not valid JSON (", e.what(), ")");
    }
    FusionScene s;
    s.path = path;
    const std::string schema = text(field(j, "schema", path), path + ": 'schema'");
    if (schema != "xmodal-scene-1") fail(path, ": schema is '", schema, "', expected 'xmodal-scene-1'");
    s.id = text(field(j, "id", path), path + ": 'id'");
    s.split = text(field(j, "split", path), path + ": 'split'");
    const std::filesystem::path audio = text(field(j, "audio", path), path + ": 'audio'");
    s.audio = audio.is_absolute() ? audio.string() : (std::filesystem::path(path).parent_path() / audio).string();
    s.duration = number(field(j, "duration", path), path + ": 'duration'");
    if (!(s.duration > 0)) fail(path, ": 'duration' is ", s.duration, ", expected > 0");
    if (j.contains("video")) {
        const auto& v = j["video"];
        if (v.contains("width")) s.width = static_cast<int>(integer(v["width"], path + ": 'video.width'"));
        if (v.contains("height")) s.height = static_cast<int>(integer(v["height"], path + ": 'video.height'"));
    }
    const auto& tracks = field(j, "tracks", path);
    if (!tracks.is_array()) fail(path, ": 'tracks' must be a list");
    for (std::size_t i = 0; i < tracks.size(); ++i) {
        const std::string where = path + ": tracks[" + std::to_string(i) + "]";
        TimedTrack t;
        t.id = integer(field(tracks[i], "id", where), where + ".id");
        t.label = text(field(tracks[i], "label", where), where + ".label");
        for (const auto& other : s.tracks)
            if (other.id == t.id) fail(where, ": track id ", t.id, " appears twice");
        const auto& boxes = field(tracks[i], "boxes", where);
        if (!boxes.is_array()) fail(where, ".boxes must be a list of [t, x, y, w, h]");
        for (std::size_t b = 0; b < boxes.size(); ++b) {
            const std::string bw = where + ".boxes[" + std::to_string(b) + "]";
            if (!boxes[b].is_array() || boxes[b].size() != 5) fail(bw, " is ", boxes[b].dump(), ", expected [t, x, y, w, h]");
            TimedBox box;
            box.t = number(boxes[b][0], bw + "[0]");
            box.x = static_cast<float>(number(boxes[b][1], bw + "[1]"));
            box.y = static_cast<float>(number(boxes[b][2], bw + "[2]"));
            box.w = static_cast<float>(number(boxes[b][3], bw + "[3]"));
            box.h = static_cast<float>(number(boxes[b][4], bw + "[4]"));
            if (box.w < 0 || box.h < 0) fail(bw, " has a negative size");
            if (!t.boxes.empty() && box.t <= t.boxes.back().t)
                fail(bw, " at ", box.t, " s is not after the previous box (", t.boxes.back().t, " s)");
            t.boxes.push_back(box);
        }
        s.tracks.push_back(std::move(t));
    }
    const auto& events = field(j, "events", path);
    if (!events.is_array()) fail(path, ": 'events' must be a list");
    for (std::size_t i = 0; i < events.size(); ++i) {
        const std::string where = path + ": events[" + std::to_string(i) + "]";
        FusionSceneEvent e;
        e.group = text(field(events[i], "group", where), where + ".group");
        e.start = number(field(events[i], "start", where), where + ".start");
        e.end = number(field(events[i], "end", where), where + ".end");
        e.source = integer(field(events[i], "source", where), where + ".source");
        if (!(e.end > e.start)) fail(where, ": ends at ", e.end, " s, not after its start ", e.start, " s");
        if (e.source != -1 && std::none_of(s.tracks.begin(), s.tracks.end(), [&](const TimedTrack& t) { return t.id == e.source; }))
            fail(where, ": source ", e.source, " is neither -1 (off-screen) nor a track id of the scene");
        s.events.push_back(e);
    }
    return s;
}

std::vector<std::string> find_scenes(const std::string& dir) {
    if (!std::filesystem::is_directory(dir)) fail(dir, ": not a directory of scene files");
    std::vector<std::string> paths;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
        if (entry.is_regular_file() && entry.path().extension() == ".json") paths.push_back(entry.path().string());
    if (paths.empty()) fail(dir, ": no scene files (*.json)");
    std::sort(paths.begin(), paths.end());
    return paths;
}

std::int64_t event_of_window(const FusionScene& scene, const AudioToken& window) {
    const double length = window.end - window.start;
    std::int64_t best = -1;
    double best_overlap = 0;
    for (std::size_t e = 0; e < scene.events.size(); ++e) {
        const auto& ev = scene.events[e];
        const double overlap = std::min(window.end, ev.end) - std::max(window.start, ev.start);
        if (overlap > best_overlap) {
            best_overlap = overlap;
            best = static_cast<std::int64_t>(e);
        }
    }
    return length > 0 && best_overlap >= 0.5 * length ? best : -1;
}

std::int64_t source_row(const FusionInputs& inputs, std::int64_t source) {
    if (source < 0) return -1;
    for (std::size_t k = 0; k < inputs.track_ids.size(); ++k)
        if (inputs.track_ids[k] == source) return static_cast<std::int64_t>(k);
    return -1;
}

std::vector<AudioToken> detect_audio_tokens(AudioEventDetector& detector, std::span<const float> samples) {
    detector.reset();
    auto windows = detector.push(samples);
    for (auto& w : detector.flush()) windows.push_back(std::move(w));
    std::vector<AudioToken> tokens;
    tokens.reserve(windows.size());
    constexpr double rate = audio_event_sample_rate;
    for (auto& w : windows) {
        AudioToken t;
        t.start = static_cast<double>(w.first_sample) / rate;
        t.end = static_cast<double>(w.first_sample + w.samples) / rate;
        t.scores = std::move(w.scores);
        t.embedding = std::move(w.embedding);
        t.loudness_dbfs = w.loudness_dbfs;
        tokens.push_back(std::move(t));
    }
    return tokens;
}

std::vector<AudioToken> scene_audio_tokens(AudioEventDetector& detector, const FusionScene& scene) {
    return detect_audio_tokens(detector, decode_audio_file(scene.audio, audio_event_sample_rate));
}

// ---- Dataset ---------------------------------------------------------------------------------------

std::vector<double> query_times(const FusionConfig& config, const FusionScene& scene, double every) {
    if (!(every > 0)) fail("query interval is ", every, " s, expected > 0");
    std::vector<double> times;
    for (std::int64_t k = 0;; ++k) {
        const double t = 0.5 * config.window + static_cast<double>(k) * every;
        if (t > scene.duration + 1e-9) break;
        times.push_back(t);
    }
    return times;
}

namespace {

HostTensor zeros(DataType dtype, Shape shape) {
    HostTensor t;
    t.dtype = dtype;
    t.shape = std::move(shape);
    t.bytes.assign(static_cast<std::size_t>(t.numel()) * dtype_size(dtype), 0);
    return t;
}

template <class T>
T* values(HostTensor& t) {
    return reinterpret_cast<T*>(t.bytes.data());
}

std::int64_t split_code(const std::string& split) {
    if (split == "train") return 0;
    if (split == "val" || split == "validation") return 1;
    if (split == "test") return 2;
    return -1;
}

}  // namespace

std::map<std::string, HostTensor> fusion_dataset(const FusionConfig& config, std::span<const FusionScene> scenes,
                                                 std::span<const std::vector<AudioToken>> audio, double every) {
    if (audio.size() != scenes.size()) fail("fusion dataset: ", scenes.size(), " scenes but audio for ", audio.size());
    for (const auto& scene : scenes)
        for (const auto& e : scene.events)
            if (config.group_index(e.group) < 0) fail(scene.path, ": event group '", e.group, "' is not one of the model's sound groups");
    // Pass 1: how many queries and the largest token counts, to size the padded arrays.
    FusionInputs in;
    std::int64_t Q = 0, La = 0, No = 0;
    for (std::size_t s = 0; s < scenes.size(); ++s)
        for (double t : query_times(config, scenes[s], every)) {
            build_fusion_inputs(config, audio[s], scenes[s].tracks, t, in);
            La = std::max(La, in.audio_tokens);
            No = std::max(No, in.objects);
            ++Q;
        }
    const auto Fa = config.audio_features(), Fo = config.object_features(), G = static_cast<std::int64_t>(config.groups.size());
    std::map<std::string, HostTensor> out;
    out["audio"] = zeros(DataType::f32, {Q, La, Fa});
    out["audio_mask"] = zeros(DataType::u8, {Q, La});
    out["objects"] = zeros(DataType::f32, {Q, No, Fo});
    out["object_mask"] = zeros(DataType::u8, {Q, No});
    out["attr_target"] = zeros(DataType::s64, {Q, La});
    out["emit_target"] = zeros(DataType::f32, {Q, No, G});
    out["event_id"] = zeros(DataType::s64, {Q, La});
    out["scene"] = zeros(DataType::s64, {Q});
    out["time"] = zeros(DataType::f32, {Q});
    out["object_track"] = zeros(DataType::s64, {Q, No});
    out["split"] = zeros(DataType::s64, {Q});
    auto* audio_v = values<float>(out["audio"]);
    auto* audio_mask = values<std::uint8_t>(out["audio_mask"]);
    auto* objects = values<float>(out["objects"]);
    auto* object_mask = values<std::uint8_t>(out["object_mask"]);
    auto* attr_target = values<std::int64_t>(out["attr_target"]);
    auto* emit_target = values<float>(out["emit_target"]);
    auto* event_id = values<std::int64_t>(out["event_id"]);
    auto* scene_v = values<std::int64_t>(out["scene"]);
    auto* time_v = values<float>(out["time"]);
    auto* object_track = values<std::int64_t>(out["object_track"]);
    auto* split_v = values<std::int64_t>(out["split"]);
    std::fill(attr_target, attr_target + Q * La, -2);
    std::fill(event_id, event_id + Q * La, -1);
    std::fill(object_track, object_track + Q * No, -1);

    // Pass 2: fill.
    std::int64_t q = 0;
    for (std::size_t s = 0; s < scenes.size(); ++s) {
        const FusionScene& scene = scenes[s];
        for (double t : query_times(config, scene, every)) {
            build_fusion_inputs(config, audio[s], scene.tracks, t, in);
            scene_v[q] = static_cast<std::int64_t>(s);
            time_v[q] = static_cast<float>(t);
            split_v[q] = split_code(scene.split);
            std::copy(in.audio.begin(), in.audio.end(), audio_v + q * La * Fa);
            std::copy(in.object.begin(), in.object.end(), objects + q * No * Fo);
            for (std::int64_t i = 0; i < in.audio_tokens; ++i) {
                audio_mask[q * La + i] = 1;
                const std::int64_t e = event_of_window(scene, audio[s][in.audio_source[static_cast<std::size_t>(i)]]);
                event_id[q * La + i] = e;
                if (e >= 0) attr_target[q * La + i] = source_row(in, scene.events[static_cast<std::size_t>(e)].source);
            }
            for (std::int64_t k = 0; k < in.objects; ++k) {
                object_mask[q * No + k] = 1;
                object_track[q * No + k] = in.track_ids[static_cast<std::size_t>(k)];
            }
            // Emission: the object is the source of an event of that group overlapping [t − W, t].
            for (const auto& e : scene.events) {
                if (!(e.start < t && e.end > t - config.window)) continue;
                const std::int64_t k = source_row(in, e.source);
                if (k >= 0) emit_target[(q * No + k) * G + config.group_index(e.group)] = 1.f;
            }
            ++q;
        }
    }
    return out;
}

// ---- Evaluation ------------------------------------------------------------------------------------

std::vector<AttributionCase> attribution_cases(const FusionConfig& config, const FusionScene& scene, std::size_t scene_index,
                                               std::span<const AudioToken> audio) {
    std::vector<AttributionCase> cases;
    std::vector<std::int64_t> owner(audio.size());  // each window's event, decided once per scene
    for (std::size_t i = 0; i < audio.size(); ++i) owner[i] = event_of_window(scene, audio[i]);
    for (std::size_t e = 0; e < scene.events.size(); ++e) {
        const FusionSceneEvent& ev = scene.events[e];
        AttributionCase c;
        c.scene = scene_index;
        c.event = e;
        c.group = config.group_index(ev.group);
        if (c.group < 0) fail(scene.path, ": events[", e, "] has group '", ev.group, "', not one of the model's sound groups");
        c.query = ev.end;
        for (std::size_t i = 0; i < audio.size(); ++i)
            if (owner[i] == static_cast<std::int64_t>(e)) c.query = std::max(c.query, audio[i].end);
        c.query = std::min(c.query, scene.duration);
        build_fusion_inputs(config, audio, scene.tracks, c.query, c.inputs);
        double best_overlap = 0;
        std::int64_t best_row = -1;
        for (std::int64_t r = 0; r < c.inputs.audio_tokens; ++r) {
            const std::size_t source = c.inputs.audio_source[static_cast<std::size_t>(r)];
            const AudioToken& w = audio[source];
            if (owner[source] == static_cast<std::int64_t>(e)) c.rows.push_back(r);
            const double overlap = std::min(w.end, ev.end) - std::max(w.start, ev.start);
            if (overlap > best_overlap) {
                best_overlap = overlap;
                best_row = r;
            }
        }
        if (c.rows.empty() && best_row >= 0) c.rows.push_back(best_row);
        c.expected = source_row(c.inputs, ev.source) >= 0 ? ev.source : -1;
        cases.push_back(std::move(c));
    }
    return cases;
}

std::int64_t largest_object(const FusionInputs& in) {
    if (in.objects == 0) return -1;
    const auto k = std::max_element(in.object_area.begin(), in.object_area.end()) - in.object_area.begin();
    return in.track_ids[static_cast<std::size_t>(k)];
}

std::int64_t class_prior(const FusionConfig& config, const FusionInputs& in, int group) {
    const std::string& name = config.groups.at(static_cast<std::size_t>(group)).name;
    auto can_make = [&](int cls) {
        const std::string& label = config.classes[static_cast<std::size_t>(cls)];
        if (name == "speech") return label == "person";
        if (name == "siren" || name == "horn" || name == "engine")
            return label == "car" || label == "motorcycle" || label == "bus" || label == "truck";
        return true;
    };
    std::int64_t best = -1;
    float best_area = -1;
    for (std::int64_t k = 0; k < in.objects; ++k)
        if (can_make(in.object_class[static_cast<std::size_t>(k)]) && in.object_area[static_cast<std::size_t>(k)] > best_area) {
            best_area = in.object_area[static_cast<std::size_t>(k)];
            best = in.track_ids[static_cast<std::size_t>(k)];
        }
    return best;
}

double size_loudness_correlation(const FusionInputs& in, std::int64_t row) {
    const auto M = static_cast<std::int64_t>(in.loudness_curve.size());
    double sx = 0, sy = 0;
    int n = 0;
    for (std::int64_t j = 0; j < M; ++j)
        if (in.presence[static_cast<std::size_t>(row * M + j)]) {
            sx += in.size_curve[static_cast<std::size_t>(row * M + j)];
            sy += in.loudness_curve[static_cast<std::size_t>(j)];
            ++n;
        }
    if (n < 3) return -1;
    const double mx = sx / n, my = sy / n;
    double cxy = 0, cxx = 0, cyy = 0;
    for (std::int64_t j = 0; j < M; ++j)
        if (in.presence[static_cast<std::size_t>(row * M + j)]) {
            const double dx = in.size_curve[static_cast<std::size_t>(row * M + j)] - mx, dy = in.loudness_curve[static_cast<std::size_t>(j)] - my;
            cxy += dx * dy;
            cxx += dx * dx;
            cyy += dy * dy;
        }
    if (cxx < 1e-12 || cyy < 1e-12) return -1;
    return cxy / std::sqrt(cxx * cyy);
}

CorrelationChoice best_correlated_object(const FusionInputs& in) {
    CorrelationChoice best;
    for (std::int64_t k = 0; k < in.objects; ++k) {
        const double r = size_loudness_correlation(in, k);
        if (best.track < 0 || r > best.correlation) {
            best.track = in.track_ids[static_cast<std::size_t>(k)];
            best.correlation = r;
        }
    }
    return best;
}

double choose_correlation_threshold(std::span<const AttributionCase> cases) {
    std::vector<CorrelationChoice> choices;
    std::vector<double> values;
    for (const auto& c : cases) {
        choices.push_back(best_correlated_object(c.inputs));
        if (choices.back().track >= 0) values.push_back(choices.back().correlation);
    }
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    // Candidates: below everything (always the object), between neighbours, above everything.
    std::vector<double> candidates = {-std::numeric_limits<double>::infinity()};
    for (std::size_t i = 0; i + 1 < values.size(); ++i) candidates.push_back(0.5 * (values[i] + values[i + 1]));
    if (!values.empty()) candidates.push_back(values.back() + 1e-6);
    double best = candidates.front();
    std::int64_t best_correct = -1;
    for (double threshold : candidates) {
        std::int64_t correct = 0;
        for (std::size_t i = 0; i < cases.size(); ++i) {
            const auto answer = choices[i].track >= 0 && choices[i].correlation >= threshold ? choices[i].track : -1;
            correct += answer == cases[i].expected;
        }
        if (correct > best_correct) {
            best_correct = correct;
            best = threshold;
        }
    }
    return best;
}

std::vector<MethodScore> evaluate_attribution(const FusionConfig& config, std::span<const AttributionCase> cases,
                                              FusionModel* model, double correlation_threshold) {
    const auto G = config.groups.size();
    std::vector<MethodScore> scores;
    std::vector<float> mean;
    for (const char* method : {"model", "largest", "loudness-correlation", "class-prior"}) {
        if (!model && std::strcmp(method, "model") == 0) continue;
        MethodScore s;
        s.method = method;
        s.group_events.assign(G, 0);
        s.group_correct.assign(G, 0);
        for (const auto& c : cases) {
            std::int64_t answer = -1;
            if (s.method == "model") {
                const FusionResult& r = model->run(c.inputs);
                if (!c.rows.empty()) {
                    const auto slot = attributed_slot(config, c.inputs, r, c.rows, mean);
                    answer = slot < r.objects ? c.inputs.track_ids[static_cast<std::size_t>(slot)] : -1;
                }
                s.offscreen.push_back(c.rows.empty() ? 1.f : mean.back());
            } else if (s.method == "largest") {
                answer = largest_object(c.inputs);
            } else if (s.method == "loudness-correlation") {
                const auto best = best_correlated_object(c.inputs);
                answer = best.track >= 0 && best.correlation >= correlation_threshold ? best.track : -1;
            } else {
                answer = class_prior(config, c.inputs, c.group);
            }
            s.answers.push_back(answer);
            const bool correct = answer == c.expected;
            ++s.events;
            s.correct += correct;
            ++s.group_events[static_cast<std::size_t>(c.group)];
            s.group_correct[static_cast<std::size_t>(c.group)] += correct;
        }
        scores.push_back(std::move(s));
    }
    return scores;
}

}  // namespace xmodal
