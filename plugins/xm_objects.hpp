// How xmodal elements carry objects between each other on a buffer, following DL Streamer:
//  - one GstVideoRegionOfInterestMeta per object: roi_type = the label, x/y/w/h in frame pixels,
//    `id` = the track id (0 until xmtrack assigns one; DL Streamer's object_id);
//  - in its params a GstStructure named "detection" with fields
//      label (string), label_id (int), confidence (double),
//      x_min, y_min, x_max, y_max (double, the box normalised to 0..1 of the frame);
//  - after xmtrack, a GstStructure named "tracking" with id (int) and state (string:
//    "tentative", "confirmed", "predicted" = not detected on this frame, carried by the tracker).
// Other structures users or other elements add to an ROI's params pass through untouched.
//
// xmdetect also marks every frame it sees with a custom meta "XmodalInferenceMeta" whose structure
// "xmodal-inference" has `inferred` (boolean: the detector ran on this frame; false on frames that
// `inference-interval` skipped) and `model` (string). xmtrack predicts boxes on skipped frames.
//
// xmflow marks every frame with a custom meta "XmodalFlowMeta" whose structure "xmodal-flow"
// holds the counting lines, the running counts and the latest interval reports
// (docs/elements/xmflow.md); xmoverlay draws it, xmmetaconvert writes it into the JSON.
//
// xmfuse marks every frame with a custom meta "XmodalFusionMeta" whose structure "xmodal-fusion"
// holds the audio flag, the sound events with the track each is attributed to (or off-screen) and
// the attention matrix; each tracked object's ROI gets an "audio" structure (docs/elements/xmfuse.md).
//
// xmaudio attaches one custom meta "XmodalAudioMeta" per audio window (docs/FUSION.md §1) to the
// audio buffer in which the window ends; its structure "xmodal-audio" holds the window's own
// timestamps (pts, duration: PTS of its first sample in the buffer's segment, not the buffer's),
// first-sample and samples (16 kHz), top (array of "class" structures: id, label, score), scores
// and embedding (GBytes of native float32), loudness (dBFS) and speech-probability (-1: no VAD).
// Fields are in docs/elements/xmaudio.md; xmfuse reads them with read_audio_windows.
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace xmodal::gst {

inline constexpr const char* detection_structure_name = "detection";
inline constexpr const char* tracking_structure_name = "tracking";
inline constexpr const char* inference_meta_name = "XmodalInferenceMeta";
inline constexpr const char* inference_structure_name = "xmodal-inference";
inline constexpr const char* flow_meta_name = "XmodalFlowMeta";
inline constexpr const char* flow_structure_name = "xmodal-flow";
inline constexpr const char* audio_meta_name = "XmodalAudioMeta";
inline constexpr const char* audio_structure_name = "xmodal-audio";
inline constexpr const char* fusion_meta_name = "XmodalFusionMeta";
inline constexpr const char* fusion_structure_name = "xmodal-fusion";

// One object read from a buffer.
struct FrameObject {
    GstVideoRegionOfInterestMeta* meta = nullptr;  // owned by the buffer
    std::string label;
    int label_id = -1;
    double confidence = 0.0;
    double x_min = 0, y_min = 0, x_max = 0, y_max = 0;  // normalised
    int track_id = 0;                                  // meta->id; 0 = none
    std::string track_state;                           // "" when not tracked
};

// Objects of a frame of `width` x `height` in meta order. An ROI without a "detection" structure
// (added by another element) still counts: its box comes from the meta's pixels, confidence 0.
std::vector<FrameObject> read_objects(GstBuffer* buffer, int width, int height);

// Adds an object; the box in frame pixels is clamped to the frame. The buffer must be writable.
GstVideoRegionOfInterestMeta* add_object(GstBuffer* buffer, int width, int height, const std::string& label,
                                         int label_id, double confidence, double x1, double y1, double x2, double y2);

// Sets the track id (meta->id) and the "tracking" structure (replacing any earlier one).
void set_tracking(GstVideoRegionOfInterestMeta* meta, int track_id, const char* state);

// Removes every ROI meta of the buffer (xmtrack replaces the detector's list by its tracks).
void remove_objects(GstBuffer* buffer);

// The inference marker: registers the custom meta on first use.
void mark_inference(GstBuffer* buffer, bool inferred, const std::string& model);
// nullopt when no xmodal detector marked the buffer.
std::optional<bool> inference_ran(GstBuffer* buffer);

// The flow meta: adds it (registering it on first use) and returns its empty "xmodal-flow"
// structure to fill; the buffer must be writable. flow_structure: nullptr when there is none.
GstStructure* add_flow_structure(GstBuffer* buffer);
const GstStructure* flow_structure(GstBuffer* buffer);

// The fusion meta (xmfuse, docs/elements/xmfuse.md): adds it (registering it on first use) and
// returns its empty "xmodal-fusion" structure to fill; the buffer must be writable.
// fusion_structure: nullptr when there is none.
GstStructure* add_fusion_structure(GstBuffer* buffer);
const GstStructure* fusion_structure(GstBuffer* buffer);

// One audio window as xmaudio attaches it.
struct AudioClass {
    int id = -1;  // row of the class map
    std::string label;
    double score = 0.0;
};
struct AudioWindowMeta {
    GstClockTime pts = GST_CLOCK_TIME_NONE, duration = GST_CLOCK_TIME_NONE;
    std::int64_t first_sample = 0, samples = 0;  // in the 16 kHz stream since xmaudio's last restart
    std::vector<AudioClass> top;                 // highest score first
    std::vector<float> scores, embedding;
    double loudness_dbfs = -100.0;
    double speech_probability = -1.0;  // -1: no VAD model
};

// Adds one window's meta (registering it on first use); the buffer must be writable.
void add_audio_window(GstBuffer* buffer, const AudioWindowMeta& window);
// The windows attached to the buffer, in the order they were added (the stream's order).
std::vector<AudioWindowMeta> read_audio_windows(GstBuffer* buffer);

}  // namespace xmodal::gst
