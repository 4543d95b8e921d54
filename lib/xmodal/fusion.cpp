#include "xmodal/fusion.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "xmodal/compute_thread.hpp"
#include "xmodal/error.hpp"

namespace xmodal {

// ---- Configuration -------------------------------------------------------------------------------

std::vector<SoundGroup> FusionConfig::default_groups() {
    // FUSION.md §2, checked against yamnet_class_map.csv.
    return {{"siren", {316, 317, 318, 319, 390, 391}},
            {"horn", {302, 303, 312}},
            {"engine", {337, 338, 342, 343, 345, 346, 347}},
            {"speech", {0, 1, 2, 3, 6}}};
}

std::vector<std::string> FusionConfig::default_classes() {
    return {"person", "bicycle", "car", "motorcycle", "bus", "truck", "other"};
}

std::int64_t FusionConfig::audio_features() const {
    // embedding, group scores, loudness, loudness trend, relative time, loudness curve
    return embedding_dim + static_cast<std::int64_t>(groups.size()) + 3 + curve_points;
}

std::int64_t FusionConfig::object_features() const {
    // class one-hot, box, velocity, size curve, presence
    return static_cast<std::int64_t>(classes.size()) + 4 + 2 + 2 * static_cast<std::int64_t>(curve_points);
}

int FusionConfig::group_index(std::string_view name) const {
    for (std::size_t g = 0; g < groups.size(); ++g)
        if (groups[g].name == name) return static_cast<int>(g);
    return -1;
}

int FusionConfig::class_index(std::string_view label) const {
    for (std::size_t c = 0; c + 1 < classes.size(); ++c)
        if (classes[c] == label) return static_cast<int>(c);
    return static_cast<int>(classes.size()) - 1;
}

void FusionConfig::validate(const std::string& where) const {
    if (!(window > 0)) fail(where, ": audio window is ", window, " s, expected > 0");
    if (curve_points < 2 || curve_points > 1024) fail(where, ": curve_points is ", curve_points, ", expected 2..1024");
    if (model_dim <= 0 || heads < 1 || model_dim % heads != 0)
        fail(where, ": model_dim ", model_dim, " and heads ", heads, ": expected positive, model_dim divisible by heads");
    if (embedding_dim <= 0) fail(where, ": embedding_dim is ", embedding_dim, ", expected > 0");
    if (groups.empty()) fail(where, ": no sound groups");
    for (const auto& g : groups) {
        if (g.classes.empty()) fail(where, ": sound group '", g.name, "' has no classes");
        for (int c : g.classes)
            if (c < 0) fail(where, ": sound group '", g.name, "' has class index ", c, ", expected >= 0");
    }
    if (classes.size() < 2) fail(where, ": ", classes.size(), " object classes, expected at least one plus the catch-all");
    if (!(min_visible_share >= 0 && min_visible_share <= 1))
        fail(where, ": min_visible_share is ", min_visible_share, ", expected 0..1");
    if (!(presence_tolerance >= 0) || !(max_gap >= 0) || !(velocity_lag > 0))
        fail(where, ": presence_tolerance, max_gap must be >= 0 and velocity_lag > 0");
}

FusionConfig FusionConfig::load(const std::string& json_path) {
    std::ifstream in(json_path);
    if (!in) fail(json_path, ": cannot open the fusion model description");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        fail(json_path, ": not valid JSON (", e.what(), ")");
    }
    FusionConfig c;
    auto required = [&](const char* key) -> const nlohmann::json& {
        if (!j.is_object() || !j.contains(key)) fail(json_path, ": key '", key, "' is missing");
        return j.at(key);
    };
    auto number = [&](const char* key, const nlohmann::json& v) {
        if (!v.is_number()) fail(json_path, ": '", key, "' is ", v.dump(), ", expected a number");
        return v.get<double>();
    };
    auto integer = [&](const char* key, const nlohmann::json& v) {
        if (!v.is_number_integer()) fail(json_path, ": '", key, "' is ", v.dump(), ", expected an integer");
        return v.get<std::int64_t>();
    };
    c.window = number("audio_window", required("audio_window"));
    c.curve_points = static_cast<int>(integer("curve_points", required("curve_points")));
    c.model_dim = integer("model_dim", required("model_dim"));
    c.heads = integer("heads", required("heads"));
    if (j.contains("embedding_dim")) c.embedding_dim = integer("embedding_dim", j["embedding_dim"]);
    if (j.contains("event_threshold")) c.event_threshold = static_cast<float>(number("event_threshold", j["event_threshold"]));
    if (j.contains("min_visible_share")) c.min_visible_share = number("min_visible_share", j["min_visible_share"]);
    if (j.contains("presence_tolerance")) c.presence_tolerance = number("presence_tolerance", j["presence_tolerance"]);
    if (j.contains("max_gap")) c.max_gap = number("max_gap", j["max_gap"]);
    if (j.contains("velocity_lag")) c.velocity_lag = number("velocity_lag", j["velocity_lag"]);
    const auto& groups = required("sound_groups");
    if (!groups.is_array()) fail(json_path, ": 'sound_groups' must be a list of {\"name\", \"classes\"}");
    c.groups.clear();
    for (const auto& g : groups) {
        if (!g.is_object() || !g.contains("name") || !g["name"].is_string() || !g.contains("classes") || !g["classes"].is_array())
            fail(json_path, ": sound group ", g.dump(), " must be {\"name\": string, \"classes\": [indices]}");
        SoundGroup group{g["name"].get<std::string>(), {}};
        for (const auto& k : g["classes"]) group.classes.push_back(static_cast<int>(integer("sound_groups[].classes", k)));
        c.groups.push_back(std::move(group));
    }
    const auto& classes = required("object_classes");
    if (!classes.is_array()) fail(json_path, ": 'object_classes' must be a list of labels");
    c.classes.clear();
    for (const auto& k : classes) {
        if (!k.is_string()) fail(json_path, ": object class ", k.dump(), " is not a string");
        c.classes.push_back(k.get<std::string>());
    }
    if (j.contains("ensemble")) {
        // Member files are named relative to the description, like "weights".
        const auto& members = j["ensemble"];
        if (!members.is_array()) fail(json_path, ": 'ensemble' is ", members.dump(), ", expected a list of .safetensors files");
        const auto folder = std::filesystem::path(json_path).parent_path();
        for (const auto& m : members) {
            if (!m.is_string() || m.get<std::string>().empty())
                fail(json_path, ": ensemble member ", m.dump(), " is not a file name");
            const std::filesystem::path file(m.get<std::string>());
            c.ensemble.push_back((file.is_absolute() ? file : folder / file).string());
        }
    }
    c.validate(json_path);
    // Feature sizes written by the trainer, when present, must be what these settings give.
    if (j.contains("audio_features") && integer("audio_features", j["audio_features"]) != c.audio_features())
        fail(json_path, ": 'audio_features' is ", j["audio_features"].dump(), " but the settings give ", c.audio_features());
    if (j.contains("object_features") && integer("object_features", j["object_features"]) != c.object_features())
        fail(json_path, ": 'object_features' is ", j["object_features"].dump(), " but the settings give ", c.object_features());
    return c;
}

// ---- Tracks ----------------------------------------------------------------------------------------

std::optional<TimedBox> box_at(const TimedTrack& track, double t, const FusionConfig& config) {
    const auto& boxes = track.boxes;
    if (boxes.empty()) return std::nullopt;
    auto next = std::lower_bound(boxes.begin(), boxes.end(), t, [](const TimedBox& b, double v) { return b.t < v; });
    auto at = [&](const TimedBox& b) {
        TimedBox r = b;
        r.t = t;
        return r;
    };
    const double tol = config.presence_tolerance;
    if (next == boxes.begin()) return next->t - t <= tol ? std::optional(at(*next)) : std::nullopt;
    auto prev = std::prev(next);
    if (next == boxes.end()) return t - prev->t <= tol ? std::optional(at(*prev)) : std::nullopt;
    if (next->t - prev->t <= config.max_gap) {
        const double a = (t - prev->t) / (next->t - prev->t);
        auto mix = [&](float p, float n) { return static_cast<float>(p + a * (n - p)); };
        TimedBox r;
        r.t = t;
        r.x = mix(prev->x, next->x);
        r.y = mix(prev->y, next->y);
        r.w = mix(prev->w, next->w);
        r.h = mix(prev->h, next->h);
        return r;
    }
    if (t - prev->t <= tol) return at(*prev);
    if (next->t - t <= tol) return at(*next);
    return std::nullopt;  // inside a gap longer than max_gap
}

void TrackHistory::add(std::int64_t id, const std::string& label, const TimedBox& box) {
    auto it = std::find_if(tracks_.begin(), tracks_.end(), [&](const TimedTrack& t) { return t.id == id; });
    if (it == tracks_.end()) {
        tracks_.push_back(TimedTrack{id, label, {}});
        it = std::prev(tracks_.end());
    }
    it->label = label;
    if (!it->boxes.empty()) {
        if (box.t < it->boxes.back().t)
            fail("track history: track ", id, " got a box at ", box.t, " s, before its last box at ", it->boxes.back().t, " s");
        if (box.t == it->boxes.back().t) {
            it->boxes.back() = box;
            return;
        }
    }
    it->boxes.push_back(box);
}

void TrackHistory::prune(double now, double keep) {
    const double cutoff = now - keep;
    for (auto& track : tracks_) {
        auto first_kept = std::find_if(track.boxes.begin(), track.boxes.end(), [&](const TimedBox& b) { return b.t >= cutoff; });
        track.boxes.erase(track.boxes.begin(), first_kept);
    }
    std::erase_if(tracks_, [](const TimedTrack& t) { return t.boxes.empty(); });
}

// ---- Tokens ----------------------------------------------------------------------------------------

namespace {

// Sample time j of the curves: τ_j = t − W + W·(j + 1)/M (the last is t).
double curve_time(const FusionConfig& c, double t, int j) {
    return t - c.window + c.window * static_cast<double>(j + 1) / static_cast<double>(c.curve_points);
}

// 20·log10(sqrt(w·h)) = 10·log10(w·h); boxes of no area are floored at 1e-8 of the frame.
double size_db(const TimedBox& b) {
    return 10.0 * std::log10(std::max(static_cast<double>(b.w) * b.h, 1e-8));
}

}  // namespace

void build_audio_tokens(const FusionConfig& config, std::span<const AudioToken> windows, double t, FusionInputs& out) {
    const auto G = static_cast<std::int64_t>(config.groups.size()), E = config.embedding_dim;
    const int M = config.curve_points;
    const auto Fa = config.audio_features();
    int needed_scores = 0;
    for (const auto& g : config.groups)
        for (int c : g.classes) needed_scores = std::max(needed_scores, c + 1);

    out.time = t;
    out.seen.clear();  // build_fusion_inputs refills it
    auto& rows = out.audio_source;
    rows.clear();
    for (std::size_t i = 0; i < windows.size(); ++i) {
        const double c = windows[i].centre();
        if (c > t - config.window && c <= t) rows.push_back(i);
    }
    std::sort(rows.begin(), rows.end(), [&](std::size_t a, std::size_t b) {
        return windows[a].centre() < windows[b].centre() || (windows[a].centre() == windows[b].centre() && a < b);
    });
    const auto La = static_cast<std::int64_t>(rows.size());
    out.audio_tokens = La;
    out.audio_centre.resize(rows.size());
    out.audio.assign(static_cast<std::size_t>(La * Fa), 0.f);
    out.group_scores.assign(static_cast<std::size_t>(La * G), 0.f);
    out.loudness_curve.assign(static_cast<std::size_t>(M), 0.f);
    if (La == 0) return;

    double mean_loudness = 0;
    for (std::size_t r = 0; r < rows.size(); ++r) {
        const AudioToken& w = windows[rows[r]];
        if (static_cast<std::int64_t>(w.embedding.size()) != E)
            fail("fusion: audio window ", rows[r], " (", w.start, "-", w.end, " s) has an embedding of ", w.embedding.size(),
                 " values, expected ", E);
        if (static_cast<int>(w.scores.size()) < needed_scores)
            fail("fusion: audio window ", rows[r], " (", w.start, "-", w.end, " s) has ", w.scores.size(),
                 " class scores, the sound groups need ", needed_scores);
        out.audio_centre[r] = w.centre();
        mean_loudness += w.loudness_dbfs;
    }
    mean_loudness /= static_cast<double>(La);

    // Loudness curve: linear between token centres, held outside, minus its mean, /10.
    double curve_mean = 0;
    for (int j = 0; j < M; ++j) {
        const double tau = curve_time(config, t, j);
        double v;
        if (tau <= out.audio_centre.front()) {
            v = windows[rows.front()].loudness_dbfs;
        } else if (tau >= out.audio_centre.back()) {
            v = windows[rows.back()].loudness_dbfs;
        } else {
            std::size_t k = 1;
            while (out.audio_centre[k] < tau) ++k;
            const double c0 = out.audio_centre[k - 1], c1 = out.audio_centre[k];
            const double l0 = windows[rows[k - 1]].loudness_dbfs, l1 = windows[rows[k]].loudness_dbfs;
            v = c1 > c0 ? l0 + (tau - c0) / (c1 - c0) * (l1 - l0) : l1;
        }
        out.loudness_curve[static_cast<std::size_t>(j)] = static_cast<float>(v);
        curve_mean += v;
    }
    curve_mean /= M;
    for (auto& v : out.loudness_curve) v = static_cast<float>((v - curve_mean) / 10.0);

    for (std::int64_t r = 0; r < La; ++r) {
        const AudioToken& w = windows[rows[static_cast<std::size_t>(r)]];
        float* f = &out.audio[static_cast<std::size_t>(r * Fa)];
        std::copy(w.embedding.begin(), w.embedding.end(), f);
        f += E;
        for (std::int64_t g = 0; g < G; ++g) {
            float best = 0;
            for (int c : config.groups[static_cast<std::size_t>(g)].classes) best = std::max(best, w.scores[static_cast<std::size_t>(c)]);
            f[g] = best;
            out.group_scores[static_cast<std::size_t>(r * G + g)] = best;
        }
        f += G;
        const double previous = r == 0 ? w.loudness_dbfs : windows[rows[static_cast<std::size_t>(r - 1)]].loudness_dbfs;
        f[0] = static_cast<float>((w.loudness_dbfs - mean_loudness) / 10.0);
        f[1] = static_cast<float>((w.loudness_dbfs - previous) / 10.0);
        f[2] = static_cast<float>((w.centre() - t) / config.window);
        std::copy(out.loudness_curve.begin(), out.loudness_curve.end(), f + 3);
    }
}

void build_object_tokens(const FusionConfig& config, std::span<const TimedTrack> tracks, double t, FusionInputs& out) {
    const auto C = static_cast<std::int64_t>(config.classes.size());
    const int M = config.curve_points;
    const auto Fo = config.object_features();
    out.time = t;
    // Present tracks by increasing id (row order does not depend on the history's insertion order).
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < tracks.size(); ++i)
        if (box_at(tracks[i], t, config)) order.push_back(i);
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return tracks[a].id < tracks[b].id; });
    const auto No = static_cast<std::int64_t>(order.size());
    out.objects = No;
    out.seen.clear();  // build_fusion_inputs refills it
    out.object.assign(static_cast<std::size_t>(No * Fo), 0.f);
    out.track_ids.resize(order.size());
    out.object_source.assign(order.begin(), order.end());
    out.object_class.resize(order.size());
    out.object_area.resize(order.size());
    out.size_curve.assign(static_cast<std::size_t>(No * M), 0.f);
    out.presence.assign(static_cast<std::size_t>(No * M), 0);

    for (std::int64_t r = 0; r < No; ++r) {
        const TimedTrack& track = tracks[order[static_cast<std::size_t>(r)]];
        const TimedBox box = *box_at(track, t, config);
        const int cls = config.class_index(track.label);
        out.track_ids[static_cast<std::size_t>(r)] = track.id;
        out.object_class[static_cast<std::size_t>(r)] = cls;
        out.object_area[static_cast<std::size_t>(r)] = box.w * box.h;

        float* f = &out.object[static_cast<std::size_t>(r * Fo)];
        f[cls] = 1.f;
        f += C;
        const double cx = box.x + 0.5 * box.w, cy = box.y + 0.5 * box.h;
        f[0] = static_cast<float>(cx);
        f[1] = static_cast<float>(cy);
        f[2] = box.w;
        f[3] = box.h;
        if (auto before = box_at(track, t - config.velocity_lag, config)) {
            f[4] = static_cast<float>((cx - (before->x + 0.5 * before->w)) / config.velocity_lag);
            f[5] = static_cast<float>((cy - (before->y + 0.5 * before->h)) / config.velocity_lag);
        }
        float* size = f + 6;
        float* presence = size + M;
        double mean = 0;
        int present = 0;
        for (int j = 0; j < M; ++j)
            if (auto b = box_at(track, curve_time(config, t, j), config)) {
                size[j] = static_cast<float>(size_db(*b));
                presence[j] = 1.f;
                mean += size[j];
                ++present;
            }
        mean /= std::max(present, 1);
        for (int j = 0; j < M; ++j) {
            if (presence[j] > 0) size[j] = static_cast<float>((size[j] - mean) / 10.0);
            out.size_curve[static_cast<std::size_t>(r * M + j)] = size[j];
            out.presence[static_cast<std::size_t>(r * M + j)] = presence[j] > 0 ? 1 : 0;
        }
    }
}

void build_fusion_inputs(const FusionConfig& config, std::span<const AudioToken> windows, std::span<const TimedTrack> tracks,
                         double t, FusionInputs& out) {
    build_audio_tokens(config, windows, t, out);
    build_object_tokens(config, tracks, t, out);
    const auto La = static_cast<std::size_t>(out.audio_tokens);
    out.seen.assign(static_cast<std::size_t>(out.objects) * La, 0);
    for (std::size_t k = 0; k < static_cast<std::size_t>(out.objects); ++k)
        for (std::size_t i = 0; i < La; ++i)
            out.seen[k * La + i] = box_at(tracks[out.object_source[k]], out.audio_centre[i], config) ? 1 : 0;
}

// ---- Model -----------------------------------------------------------------------------------------

std::int64_t attributed_slot(const FusionConfig& config, const FusionInputs& inputs, const FusionResult& result,
                             std::span<const std::int64_t> rows, std::vector<float>& mean) {
    const auto No = result.objects, La = result.audio_tokens, K = No + 1;
    mean.assign(static_cast<std::size_t>(K), 0.f);
    for (auto r : rows) {
        if (r < 0 || r >= La) fail("attributed_slot: row ", r, " outside 0..", La - 1);
        for (std::int64_t k = 0; k < K; ++k) mean[static_cast<std::size_t>(k)] += result.attribution[static_cast<std::size_t>(r * K + k)];
    }
    if (!rows.empty())
        for (auto& v : mean) v /= static_cast<float>(rows.size());
    const bool known = inputs.seen.size() == static_cast<std::size_t>(No * La) && No * La > 0;
    std::int64_t best = No;  // off-screen competes always
    for (std::int64_t k = 0; k < No; ++k) {
        if (known && !rows.empty()) {
            std::size_t seen = 0;
            for (auto r : rows) seen += inputs.seen[static_cast<std::size_t>(k * La + r)];
            if (static_cast<double>(seen) < config.min_visible_share * static_cast<double>(rows.size())) continue;
        }
        // Objects come in order, so a tie goes to the first of them and an object beats off-screen.
        const float m = mean[static_cast<std::size_t>(k)], top = mean[static_cast<std::size_t>(best)];
        if (m > top || (m == top && best == No)) best = k;
    }
    return best;
}

namespace {

std::unique_ptr<Linear> make_linear(const std::shared_ptr<Device>& device, const TensorFile& file, const std::string& name,
                                    std::int64_t out, std::int64_t in) {
    const auto& w = file.require(name + ".weight", {out, in});
    const auto& b = file.require(name + ".bias", {out});
    return std::make_unique<Linear>(device, w, &b, DataType::f32, name);
}

std::unique_ptr<CrossModalAttention> make_attention(const std::shared_ptr<Device>& device, const TensorFile& file,
                                                    const std::string& prefix, const FusionConfig& c) {
    auto w = CrossAttentionWeights::from(file, prefix);
    const auto& got = w.config;
    if (got.query_dim != c.model_dim || got.kv_dim != c.model_dim || got.model_dim != c.model_dim || got.heads != c.heads)
        fail(file.path, ": attention '", prefix, "' has query_dim ", got.query_dim, ", kv_dim ", got.kv_dim, ", model_dim ",
             got.model_dim, ", heads ", got.heads, "; the description says D = ", c.model_dim, ", H = ", c.heads);
    return std::make_unique<CrossModalAttention>(device, w, DataType::f32);
}

void relu(const Tensor& t) {
    float* p = t.data_as<float>();
    for (std::int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = std::max(p[i], 0.f);
}

}  // namespace

FusionModel::FusionModel(FusionConfig config, const TensorFile& weights, std::shared_ptr<Device> device)
    : FusionModel(std::move(config), std::span<const TensorFile>(&weights, 1), std::move(device)) {}

FusionModel::FusionModel(FusionConfig config, std::span<const TensorFile> members, std::shared_ptr<Device> device)
    : config_(std::move(config)), device_(std::move(device)) {
    const std::string where = members.empty() || members[0].path.empty() ? std::string("fusion weights") : members[0].path;
    config_.validate(where);
    if (members.empty()) fail("fusion model: no weights given");
    if (!config_.ensemble.empty() && members.size() != config_.ensemble.size() + 1)
        fail(where, ": the description lists ", config_.ensemble.size(), " further ensemble member(s), but ", members.size(),
             " weight file(s) were given (FusionModel::load_members reads them all)");
    if (device_->kind() != DeviceKind::cpu) fail("fusion model: runs on the CPU only, not on '", device_->name(), "'");
    const auto D = config_.model_dim, G = static_cast<std::int64_t>(config_.groups.size());
    run_on_compute_thread([&] {
        stream_ = dnnl::stream(device_->engine());
        for (const auto& weights : members) {
            Member m;
            m.audio_enc0 = make_linear(device_, weights, "audio_enc.0", D, config_.audio_features());
            m.audio_enc2 = make_linear(device_, weights, "audio_enc.2", D, D);
            m.object_enc0 = make_linear(device_, weights, "object_enc.0", D, config_.object_features());
            m.object_enc2 = make_linear(device_, weights, "object_enc.2", D, D);
            m.emission_head = make_linear(device_, weights, "emission_head", G, D);
            m.offscreen = weights.require("offscreen", {1, D}).to_f32();
            m.attribute = make_attention(device_, weights, "attribute.", config_);
            m.emit = make_attention(device_, weights, "emit.", config_);
            members_.push_back(std::move(m));
        }
    });
    siren_group_ = config_.group_index("siren");
    for (const auto& c : config_.classes)
        vehicle_class_.push_back(c == "car" || c == "bus" || c == "truck" || c == "motorcycle");
}

std::vector<TensorFile> FusionModel::load_members(const std::string& weights_path, const FusionConfig& config) {
    std::vector<TensorFile> files;
    files.push_back(load_safetensors(weights_path));
    for (const auto& path : config.ensemble) files.push_back(load_safetensors(path));
    return files;
}

std::string FusionModel::description_path(const std::string& weights_path) {
    const std::string ext = ".safetensors";
    return weights_path.size() > ext.size() && weights_path.ends_with(ext)
               ? weights_path.substr(0, weights_path.size() - ext.size()) + ".json"
               : weights_path + ".json";
}

std::unique_ptr<FusionModel> FusionModel::load(const std::string& weights_path, const std::string& json_path,
                                               std::shared_ptr<Device> device) {
    const std::string description = json_path.empty() ? description_path(weights_path) : json_path;
    FusionConfig config = FusionConfig::load(description);  // first: a missing description is the likelier mistake
    const auto members = load_members(weights_path, config);
    return std::make_unique<FusionModel>(std::move(config), std::span<const TensorFile>(members), std::move(device));
}

TensorFile FusionModel::random_weights(const FusionConfig& config, std::uint64_t seed) {
    config.validate("FusionModel::random_weights");
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> unit(-1.f, 1.f);
    TensorFile file;
    file.path = "random fusion weights";
    auto linear = [&](const std::string& name, std::int64_t out, std::int64_t in) {
        const float bound = std::sqrt(6.f / static_cast<float>(in + out));
        std::vector<float> w(static_cast<std::size_t>(out * in)), b(static_cast<std::size_t>(out));
        for (auto& v : w) v = unit(rng) * bound;
        for (auto& v : b) v = 0.1f * unit(rng);
        file.tensors[name + ".weight"] = HostTensor::from_f32({out, in}, w);
        file.tensors[name + ".bias"] = HostTensor::from_f32({out}, b);
    };
    const auto D = config.model_dim;
    linear("audio_enc.0", D, config.audio_features());
    linear("audio_enc.2", D, D);
    linear("object_enc.0", D, config.object_features());
    linear("object_enc.2", D, D);
    linear("emission_head", static_cast<std::int64_t>(config.groups.size()), D);
    std::vector<float> off(static_cast<std::size_t>(D));
    for (auto& v : off) v = 0.5f * unit(rng);
    file.tensors["offscreen"] = HostTensor::from_f32({1, D}, off);
    const CrossAttentionConfig attention{D, D, D, config.heads};
    CrossAttentionWeights::random(attention, seed + 1).store(file, "attribute.");
    CrossAttentionWeights::random(attention, seed + 2).store(file, "emit.");
    return file;
}

const FusionResult& FusionModel::run(const FusionInputs& in) {
    const auto La = in.audio_tokens, No = in.objects, G = static_cast<std::int64_t>(config_.groups.size());
    if (La < 0 || No < 0 || in.audio.size() != static_cast<std::size_t>(La * config_.audio_features()) ||
        in.group_scores.size() != static_cast<std::size_t>(La * G) ||
        in.object.size() != static_cast<std::size_t>(No * config_.object_features()) ||
        in.track_ids.size() != static_cast<std::size_t>(No) || in.object_class.size() != static_cast<std::size_t>(No))
        fail("fusion model: inputs with ", La, " audio tokens (", in.audio.size(), " audio values, ", in.group_scores.size(),
             " group scores) and ", No, " objects (", in.object.size(), " values, ", in.track_ids.size(),
             " ids) do not match Fa = ", config_.audio_features(), ", Fo = ", config_.object_features(), ", ", G, " groups");
    run_on_compute_thread([&] { forward(in); });
    aggregate(in);
    return result_;
}

void FusionModel::forward(const FusionInputs& in) {
    const auto La = in.audio_tokens, No = in.objects, G = static_cast<std::int64_t>(config_.groups.size());
    result_.audio_tokens = La;
    result_.objects = No;
    result_.has_audio = La > 0;
    result_.attribution.assign(static_cast<std::size_t>(La * (No + 1)), 0.f);
    result_.emission.assign(static_cast<std::size_t>(No * G), 0.f);
    const float share = 1.f / static_cast<float>(members_.size());
    for (const auto& m : members_) forward_member(m, in, share);
}

// One MLP encoder, Linear · ReLU · Linear, of `rows` × `features` values into `out` (rows × D);
// `input` and `hidden` are the growing buffers it uses.
void FusionModel::encode(Linear& first, Linear& second, const std::vector<float>& values, std::int64_t rows, std::int64_t features,
                         Tensor& input, Tensor& hidden, const Tensor& out) {
    Tensor x = reuse_buffer(input, device_, {rows, features}, DataType::f32);
    std::memcpy(x.data(), values.data(), values.size() * sizeof(float));
    Tensor h = reuse_buffer(hidden, device_, {rows, config_.model_dim}, DataType::f32);
    first.forward(stream_, x, h);
    stream_.wait();
    relu(h);
    second.forward(stream_, h, out);
}

// Adds `share` times this member's attribution and emission probabilities to the result.
void FusionModel::forward_member(const Member& m, const FusionInputs& in, float share) {
    const auto La = in.audio_tokens, No = in.objects, D = config_.model_dim, G = static_cast<std::int64_t>(config_.groups.size());
    const auto Fa = config_.audio_features(), Fo = config_.object_features();
    if (La == 0) return;  // nothing to attribute, nothing emitted
    Tensor audio_enc = reuse_buffer(audio_enc_, device_, {La, D}, DataType::f32);
    encode(*m.audio_enc0, *m.audio_enc2, in.audio, La, Fa, audio_in_, audio_hidden_, audio_enc);
    // Keys/values of the attribution: the object encodings, then the off-screen token.
    Tensor keys = reuse_buffer(keys_, device_, {No + 1, D}, DataType::f32);
    if (No > 0) encode(*m.object_enc0, *m.object_enc2, in.object, No, Fo, object_in_, object_hidden_, keys.view({No, D}, {}));
    std::memcpy(keys.data_as<float>() + No * D, m.offscreen.data(), m.offscreen.size() * sizeof(float));
    stream_.wait();

    const auto& attr = m.attribute->forward(audio_enc.view({1, La, D}, {}), keys.view({1, No + 1, D}, {}), nullptr, true);
    const float* w = attr.mean_weights.data_as<float>();
    for (std::size_t i = 0; i < result_.attribution.size(); ++i) result_.attribution[i] += share * w[i];
    if (No == 0) return;
    const auto& emitted = m.emit->forward(keys.view({1, No, D}, {}), audio_enc.view({1, La, D}, {}));
    Tensor logits = reuse_buffer(logits_, device_, {No, G}, DataType::f32);
    m.emission_head->forward(stream_, emitted.fused.view({No, D}, {}), logits);
    stream_.wait();
    const float* z = logits.data_as<float>();
    for (std::size_t i = 0; i < result_.emission.size(); ++i) result_.emission[i] += share / (1.f + std::exp(-z[i]));
}

void FusionModel::aggregate(const FusionInputs& in) {
    const auto La = in.audio_tokens, No = in.objects, G = static_cast<std::int64_t>(config_.groups.size());
    result_.events.clear();
    std::int64_t r = 0;
    auto best_group = [&](std::int64_t row) {
        const float* s = &in.group_scores[static_cast<std::size_t>(row * G)];
        const auto g = std::max_element(s, s + G) - s;
        return *(s + g) >= config_.event_threshold ? static_cast<int>(g) : -1;
    };
    while (r < La) {
        const int g = best_group(r);
        if (g < 0) {
            ++r;
            continue;
        }
        std::int64_t end = r + 1;
        while (end < La && best_group(end) == g) ++end;
        event_rows_.clear();
        for (std::int64_t i = r; i < end; ++i) event_rows_.push_back(i);
        const auto slot = attributed_slot(config_, in, result_, event_rows_, mean_row_);
        FusionEvent e;
        e.group = g;
        e.first_token = r;
        e.last_token = end - 1;
        e.slot = slot;
        e.track_id = slot < No ? in.track_ids[static_cast<std::size_t>(slot)] : -1;
        e.probability = mean_row_[static_cast<std::size_t>(slot)];
        result_.events.push_back(e);
        r = end;
    }
    result_.labels.resize(static_cast<std::size_t>(No));
    for (std::int64_t k = 0; k < No; ++k) {
        const auto cls = static_cast<std::size_t>(in.object_class[static_cast<std::size_t>(k)]);
        if (cls >= config_.classes.size()) fail("fusion model: object ", k, " has class index ", cls, " of ", config_.classes.size());
        const bool emergency = siren_group_ >= 0 && vehicle_class_[cls] &&
                               result_.emission[static_cast<std::size_t>(k * G + siren_group_)] >= 0.5f;
        result_.labels[static_cast<std::size_t>(k)] = emergency ? kEmergencyVehicle : std::string_view(config_.classes[cls]);
    }
}

}  // namespace xmodal
