// Fusion on scene files (docs/FUSION.md §4-6): reading `xmodal-scene-1` scenes, the training
// dataset the trainer reads (§6), and the attribution evaluation with its baselines (§5).
// xmodal-eval's `fusion-dataset` and `fusion` commands are thin wrappers around these.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "xmodal/fusion.hpp"
#include "xmodal/safetensors.hpp"

namespace xmodal {

class AudioEventDetector;

struct FusionSceneEvent {
    std::string group;          // a sound group name (siren, horn, engine, speech)
    double start = 0, end = 0;  // seconds from the scene start
    std::int64_t source = -1;   // a track id, -1 = off-screen
};

struct FusionScene {
    std::string path;        // the .json
    std::string id, split;   // split: "train", "val", "test"
    std::string audio;       // the .wav, resolved against the .json's folder
    double duration = 0;
    int width = 0, height = 0;
    std::vector<TimedTrack> tracks;  // boxes by increasing time
    std::vector<FusionSceneEvent> events;
};

// Throws naming the file and the field: not JSON, another schema, missing or mistyped fields,
// boxes out of time order, duplicate track ids, an event that ends before it starts.
FusionScene load_scene(const std::string& path);
// The scene files (*.json) in `dir`, sorted by name. Throws when `dir` is missing or has none.
std::vector<std::string> find_scenes(const std::string& dir);

// The scene event an audio window belongs to: the event whose [start, end] covers the largest
// part of the window, when that is at least half of it (§6); -1 for none.
std::int64_t event_of_window(const FusionScene& scene, const AudioToken& window);
// The row of track `source` among the query's objects, or -1 when it is off-screen or not on the
// frame at the query time (to the model, an object that is not visible is off-screen).
std::int64_t source_row(const FusionInputs& inputs, std::int64_t source);

// The detector's windows over `samples` (mono, 16 kHz; the detector is reset first and flushed
// at the end, so a short tail gets its zero-padded window) as tokens, in seconds from sample 0.
std::vector<AudioToken> detect_audio_tokens(AudioEventDetector& detector, std::span<const float> samples);
// The same for a scene's wav (decoded and resampled to 16 kHz mono). Throws naming the file.
std::vector<AudioToken> scene_audio_tokens(AudioEventDetector& detector, const FusionScene& scene);

// ---- Dataset (§6) --------------------------------------------------------------------------------

// Query times of a scene: W/2, W/2 + every, ... up to its duration.
std::vector<double> query_times(const FusionConfig& config, const FusionScene& scene, double every);

// The arrays of §6 for `scenes` (audio[i] = the windows of scenes[i]): audio, audio_mask,
// objects, object_mask, attr_target, emit_target, event_id, scene, time, object_track, split.
// Padded to the largest token counts over all queries.
std::map<std::string, HostTensor> fusion_dataset(const FusionConfig& config, std::span<const FusionScene> scenes,
                                                 std::span<const std::vector<AudioToken>> audio, double every);

// ---- Evaluation (§5) -----------------------------------------------------------------------------

// One scene event, queried when it is complete: at the end of the last audio window that belongs
// to it, and not before the event's end (clipped to the scene). A window half inside the event can
// end up to half a window after it; before then the event's last tokens have not been heard.
struct AttributionCase {
    std::size_t scene = 0, event = 0;
    int group = 0;               // index into FusionConfig::groups
    double query = 0;            // the query time (s)
    std::int64_t expected = -1;  // the source's track id, -1 when off-screen or not visible at the query
    FusionInputs inputs;
    std::vector<std::int64_t> rows;  // the event's audio token rows (see attribution_cases)
};

// The cases of one scene. An event's rows are the tokens event_of_window gives it; an event too
// short for any window to be half inside it takes the token it overlaps most (none: no rows).
// Throws naming the scene when an event's group is not one of the config's.
std::vector<AttributionCase> attribution_cases(const FusionConfig& config, const FusionScene& scene, std::size_t scene_index,
                                               std::span<const AudioToken> audio);

// The baselines' answers: a track id, or -1 for off-screen.
std::int64_t largest_object(const FusionInputs& inputs);
// Vehicles (car, motorcycle, bus, truck) can make siren, horn and engine sounds, people speech;
// a group with another name may come from any object.
std::int64_t class_prior(const FusionConfig& config, const FusionInputs& inputs, int group);
// Pearson correlation of an object's size curve with the loudness curve over the curve points
// where the object exists; -1 when fewer than 3 points or a flat curve leave it undefined.
double size_loudness_correlation(const FusionInputs& inputs, std::int64_t row);
struct CorrelationChoice {
    std::int64_t track = -1;  // the best-correlated object, -1 without objects
    double correlation = -1;
};
CorrelationChoice best_correlated_object(const FusionInputs& inputs);
// The threshold (one of the cases' best correlations, or -inf) maximising the accuracy of
// "best-correlated object if its correlation ≥ threshold, else off-screen" on `cases`.
double choose_correlation_threshold(std::span<const AttributionCase> cases);
inline constexpr double kDefaultCorrelationThreshold = 0.5;

struct MethodScore {
    std::string method;  // model, largest, loudness-correlation, class-prior
    std::int64_t events = 0, correct = 0;
    std::vector<std::int64_t> group_events, group_correct;  // per FusionConfig::groups
    std::vector<std::int64_t> answers;  // per case: the attributed track id, -1 = off-screen
    std::vector<float> offscreen;       // model only, per case: the mean off-screen attribution
    double accuracy() const { return events ? static_cast<double>(correct) / static_cast<double>(events) : 0.0; }
};

// Scores the model (when given) and the three baselines on the same cases.
std::vector<MethodScore> evaluate_attribution(const FusionConfig& config, std::span<const AttributionCase> cases,
                                              FusionModel* model, double correlation_threshold);

}  // namespace xmodal
