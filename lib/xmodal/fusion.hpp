// Audio-visual fusion (docs/FUSION.md §2-3): which visible object, if any, makes each sound.
//
// At a query time t, audio windows whose centre lies in (t − W, t] become audio tokens and the
// objects tracked on the frame at t become object tokens (features in FUSION.md §2, built here by
// pure functions of the windows and the track histories). The learned model encodes both with
// small MLPs (xmodal::Linear), lets every audio token attend over the objects plus a learned
// off-screen token (attribution: the head-averaged attention weights are the probabilities), and
// lets every object attend over the audio tokens to say which sound groups it emits. Both
// attentions are the foundation's CrossModalAttention. Weights: models/fusion.safetensors +
// models/fusion.json (FUSION.md §3).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "xmodal/cross_attention.hpp"
#include "xmodal/device.hpp"
#include "xmodal/ops.hpp"
#include "xmodal/safetensors.hpp"

namespace xmodal {

// A sound class fusion reasons about: a set of YAMNet classes; its score is their max.
struct SoundGroup {
    std::string name;
    std::vector<int> classes;  // indices into yamnet_class_map.csv
};

struct FusionConfig {
    double window = 4.0;        // W: seconds of audio before the query time
    int curve_points = 8;       // M: samples of the loudness/size curves
    std::int64_t model_dim = 64;  // D
    std::int64_t heads = 4;       // H
    std::int64_t embedding_dim = 1024;  // YAMNet's penultimate layer
    std::vector<SoundGroup> groups = default_groups();
    std::vector<std::string> classes = default_classes();  // object classes; the last is the catch-all
    float event_threshold = 0.3f;  // a token belongs to an event when its best group score reaches it
    // An event is attributed to an object only when the object was on the frame at this share of
    // the event's token centres (FUSION.md §3): fusion names an object it saw while it sounded.
    // 0 lets every object of the query compete.
    double min_visible_share = 0.5;
    // When a track "exists" at a time τ (§2: box at t, presence, size curve): τ lies within
    // `presence_tolerance` of one of its boxes, or between two consecutive boxes at most `max_gap`
    // apart (then the box is interpolated linearly). Scene files sample boxes at frame times and
    // queries fall between frames; a tracker that loses an object for longer leaves a gap.
    double presence_tolerance = 0.1;
    double max_gap = 0.5;
    double velocity_lag = 0.5;  // seconds back for the velocity feature
    // Further weight files of the same shapes (paths; fusion.json's "ensemble", relative to the
    // description's folder): the model runs every member and averages their attributions and
    // emission probabilities (FUSION.md §3). Empty: one set of weights.
    std::vector<std::string> ensemble;

    static std::vector<SoundGroup> default_groups();     // siren, horn, engine, speech (FUSION.md §2)
    static std::vector<std::string> default_classes();   // person, bicycle, car, motorcycle, bus, truck, other

    std::int64_t audio_features() const;   // Fa = embedding + groups + 3 + M
    std::int64_t object_features() const;  // Fo = classes + 4 + 2 + 2·M
    // Index of a group / class by name; -1 for an unknown group, the catch-all for an unknown class.
    int group_index(std::string_view name) const;
    int class_index(std::string_view label) const;
    // Throws naming `where` and the value when something is out of range.
    void validate(const std::string& where) const;

    // models/fusion.json (keys in FUSION.md §3). Throws naming the file and the key.
    static FusionConfig load(const std::string& json_path);
};

// ---- Tokens (FUSION.md §2) -------------------------------------------------------------------

// One audio window as fusion sees it (AudioEventDetector's AudioWindow, its times converted to
// seconds on the clock of the query times).
struct AudioToken {
    double start = 0, end = 0;     // seconds
    std::vector<float> scores;     // YAMNet class scores (521)
    std::vector<float> embedding;  // embedding_dim floats
    float loudness_dbfs = -100.f;

    double centre() const { return 0.5 * (start + end); }
};

// A box normalised to the frame (x, y top-left), at a time in seconds.
struct TimedBox {
    double t = 0;
    float x = 0, y = 0, w = 0, h = 0;
};

struct TimedTrack {
    std::int64_t id = 0;
    std::string label;
    std::vector<TimedBox> boxes;  // by increasing time
};

// The box of `track` at time t (interpolated), or nothing when the track does not exist then
// (see FusionConfig::presence_tolerance / max_gap).
std::optional<TimedBox> box_at(const TimedTrack& track, double t, const FusionConfig& config);

// The last seconds of boxes per track id, as a live caller (xmfuse) keeps them.
class TrackHistory {
public:
    // Appends a box; times per track must not decrease (an equal time replaces the last box).
    // The label is the track's latest one.
    void add(std::int64_t id, const std::string& label, const TimedBox& box);
    // Forgets boxes older than now − keep (FUSION.md: W + 1 s) and tracks left without boxes.
    void prune(double now, double keep);
    void clear() { tracks_.clear(); }
    const std::vector<TimedTrack>& tracks() const { return tracks_; }

private:
    std::vector<TimedTrack> tracks_;  // in order of first appearance
};

// The features of one query. Builders overwrite every field and keep the vectors' capacity, so a
// caller that reuses one FusionInputs stops allocating.
struct FusionInputs {
    double time = 0;
    std::int64_t audio_tokens = 0;        // La
    std::vector<float> audio;             // La × Fa, row-major
    std::vector<float> group_scores;      // La × groups (also inside `audio`; events are read from here)
    std::vector<std::size_t> audio_source;  // per row: index of the AudioToken it came from
    std::vector<double> audio_centre;       // per row: the window centre (s)
    std::vector<float> loudness_curve;    // M values (§2 item 6); zeros without audio tokens
    std::int64_t objects = 0;             // No
    std::vector<float> object;            // No × Fo, row-major
    std::vector<std::int64_t> track_ids;  // per row, by increasing id
    std::vector<std::size_t> object_source;  // per row: index of the TimedTrack it came from
    std::vector<int> object_class;        // per row: index into FusionConfig::classes
    std::vector<float> object_area;       // per row: w·h of the box at t (normalised)
    std::vector<float> size_curve;        // No × M: the size curve feature (§2 item 4)
    std::vector<std::uint8_t> presence;   // No × M
    // No × La: 1 when object k exists at audio token i's centre. Only build_fusion_inputs knows
    // both and fills it; the separate builders empty it. Empty means unknown, and every object
    // counts as seen.
    std::vector<std::uint8_t> seen;
};

// The audio tokens at t: windows whose centre lies in (t − W, t], ordered by centre. `windows`
// may be in any order. Throws naming the window when its scores or embedding are too short.
void build_audio_tokens(const FusionConfig& config, std::span<const AudioToken> windows, double t, FusionInputs& out);
// The object tokens at t: tracks that exist at t, by increasing id.
void build_object_tokens(const FusionConfig& config, std::span<const TimedTrack> tracks, double t, FusionInputs& out);
void build_fusion_inputs(const FusionConfig& config, std::span<const AudioToken> windows, std::span<const TimedTrack> tracks,
                         double t, FusionInputs& out);

// ---- The model (FUSION.md §3) ------------------------------------------------------------------

// A run of consecutive audio tokens whose best group score reaches the event threshold, same group.
struct FusionEvent {
    int group = 0;                          // index into FusionConfig::groups
    std::int64_t first_token = 0, last_token = 0;  // rows of the query's audio tokens, inclusive
    std::int64_t slot = 0;                  // argmax of the mean attribution: an object row, or `objects` = off-screen
    std::int64_t track_id = -1;             // the attributed track, -1 = off-screen
    float probability = 0;                  // the mean attribution at `slot`
};

struct FusionResult {
    std::int64_t audio_tokens = 0, objects = 0;
    bool has_audio = false;          // false: no audio token in the window; no attribution, emission 0
    std::vector<float> attribution;  // La × (No + 1): P_attr, the last column is off-screen; rows sum to 1
    std::vector<float> emission;     // No × groups: sigmoid probabilities
    std::vector<FusionEvent> events;
    std::vector<std::string_view> labels;  // per object: its class, or "emergency-vehicle" (§3 rule)
};

inline constexpr std::string_view kEmergencyVehicle = "emergency-vehicle";

// The slot an event made of the tokens `rows` is attributed to (FUSION.md §3): the argmax of their
// mean attribution (written to `mean`, No + 1 values) over off-screen and the objects seen at no
// less than config.min_visible_share of those tokens. Allocation-free once `mean` has grown.
std::int64_t attributed_slot(const FusionConfig& config, const FusionInputs& inputs, const FusionResult& result,
                             std::span<const std::int64_t> rows, std::vector<float>& mean);

// Not thread-safe: one FusionModel per streaming thread (it owns its buffers and result).
class FusionModel {
public:
    // Validates every tensor's shape against the config (errors name the file and the tensor).
    // Built on the compute thread. `members`: the weights, then config.ensemble's files in order
    // (load_members); with an empty config.ensemble any number of members (at least one).
    FusionModel(FusionConfig config, std::span<const TensorFile> members, std::shared_ptr<Device> device = Device::open("cpu"));
    FusionModel(FusionConfig config, const TensorFile& weights, std::shared_ptr<Device> device = Device::open("cpu"));
    // models/fusion.safetensors and its description; an empty json_path means the weights path
    // with ".json" for ".safetensors".
    static std::unique_ptr<FusionModel> load(const std::string& weights_path, const std::string& json_path = "",
                                             std::shared_ptr<Device> device = Device::open("cpu"));
    // The description beside a weights file: ".safetensors" replaced by ".json" (else ".json" appended).
    static std::string description_path(const std::string& weights_path);
    // The weight files of a description: weights_path, then every config.ensemble file.
    static std::vector<TensorFile> load_members(const std::string& weights_path, const FusionConfig& config);
    // Weights of the right shapes for `config` from a fixed seed (tests, benchmarks): Xavier-uniform
    // matrices, small random biases and off-screen token.
    static TensorFile random_weights(const FusionConfig& config, std::uint64_t seed);

    const FusionConfig& config() const { return config_; }
    std::size_t members() const { return members_.size(); }

    // Runs on the compute thread. The result is reused by the next call.
    const FusionResult& run(const FusionInputs& inputs);

private:
    void forward(const FusionInputs& inputs);
    void aggregate(const FusionInputs& inputs);

    // One set of learned weights; an ensemble has several, run one after the other on the same buffers.
    struct Member {
        std::unique_ptr<Linear> audio_enc0, audio_enc2, object_enc0, object_enc2, emission_head;
        std::unique_ptr<CrossModalAttention> attribute, emit;
        std::vector<float> offscreen;
    };
    void forward_member(const Member& m, const FusionInputs& inputs, float share);
    void encode(Linear& first, Linear& second, const std::vector<float>& values, std::int64_t rows, std::int64_t features,
                Tensor& input, Tensor& hidden, const Tensor& out);

    FusionConfig config_;
    std::shared_ptr<Device> device_;
    dnnl::stream stream_;
    std::vector<Member> members_;
    int siren_group_ = -1;
    std::vector<bool> vehicle_class_;
    // Growing buffers (reuse_buffer): inputs, hidden layers, encodings, emission logits.
    Tensor audio_in_, audio_hidden_, audio_enc_, object_in_, object_hidden_, keys_, logits_;
    std::vector<float> mean_row_;
    std::vector<std::int64_t> event_rows_;
    FusionResult result_;
};

}  // namespace xmodal
