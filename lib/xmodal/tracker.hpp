// Multi-object tracking by detection, ByteTrack style (Zhang et al. 2022):
//  - every track carries a constant-velocity Kalman filter on its box (centre x, centre y, width,
//    height and their velocities per frame), noise scaled by the box size as ByteTrack/BoT-SORT do;
//  - stage 1 matches the high-score detections (>= track_threshold) to every live track by IoU,
//    stage 2 matches the low-score ones (>= low_threshold) to the confirmed tracks stage 1 left
//    over, so a box the detector is unsure about (occlusion, blur) still continues its track;
//  - each stage is an optimal assignment on 1 - IoU; a pair needs IoU >= iou_threshold and, with
//    class_aware, the same label_id;
//  - stage 3 (distance_threshold) continues tracks of objects that jumped farther than their size
//    by centre distance, and takes the jump as the track's velocity (see TrackerOptions);
//  - an unmatched high detection scoring >= new_track_threshold starts a tentative track; it is
//    confirmed after min_hits consecutive matched frames and dropped at its first miss before that;
//  - a confirmed track that misses becomes lost; it is still predicted and can be re-found by a
//    high-score detection until it has gone unmatched for more than max_age frames.
// Track ids start at 1, count up and are never reused.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "xmodal/detection.hpp"

namespace xmodal {

enum class TrackState : std::uint8_t {
    tentative,  // fewer than min_hits consecutive matches so far
    confirmed,  // matched on the latest update (being followed)
    lost,       // confirmed before, unmatched on the latest update, still predicted
};

// "tentative", "confirmed", "lost".
const char* track_state_name(TrackState state);

// Defaults follow ByteTrack (thresholds) and SORT (min_hits). Messages from validate_tracker_options
// name the options as the xmtrack element names its properties (track-threshold for track_threshold).
struct TrackerOptions {
    float track_threshold = 0.5f;      // [0,1] high-score detections: stage 1
    float low_threshold = 0.1f;        // [0,1] <= track_threshold; detections below are ignored
    float new_track_threshold = 0.6f;  // [0,1] >= track_threshold; an unmatched high detection starts a track
    float iou_threshold = 0.3f;        // (0,1] a detection and a track's predicted box match at IoU >= this
    int max_age = 30;                  // >= 0 frames a confirmed track survives without a match
    int min_hits = 3;                  // >= 1 consecutive matches that confirm a track (1: at once)
    // false: a detector's class flicker (one vehicle scored "car", then "truck") does not break
    // the track; the track shows its majority label. true: DL Streamer's per-class tracking.
    bool class_aware = false;          // only detections of the track's label_id match it
    // Stage 3, for objects that move more than their own size between updates (low frame rates,
    // inference-interval, time-lapse footage): a high-score detection left unmatched by IoU may
    // still continue an unmatched track whose predicted centre is within this many box diagonals,
    // if their sizes (square roots of the areas) agree within 2x and the track is new (tentative)
    // or moving at least a twentieth of its diagonal per frame (not a still object hidden by
    // traffic, whose id a passing car would take), was matched on one of the last
    // distance_max_missed + 1 updates (a prediction extrapolated longer is no basis for a jump)
    // and, if moving, the detection is not behind where the track was last seen along its motion
    // (objects that jump their size per frame do not reverse between frames; the vehicle
    // following a missed one would). A match here re-estimates the track's velocity from the jump.
    // 0 disables the stage.
    float distance_threshold = 1.0f;
};

// Throws xmodal::Error naming the option, its value and the expected range or relation.
void validate_tracker_options(const TrackerOptions& options);

struct TrackBox {
    float x1 = 0.f, y1 = 0.f, x2 = 0.f, y2 = 0.f;  // pixels
};

// Stage 3 offers a lost track only while it has missed at most this many detector updates.
inline constexpr int distance_max_missed = 2;

struct Track {
    int id = 0;
    TrackState state = TrackState::tentative;
    // With class_aware every match has the same label; otherwise the label the track's detections
    // had most often (the latest of the tied ones), so one frame of "truck" does not relabel a car.
    int label_id = 0;
    std::string label;
    float confidence = 0.f;  // of the latest matched detection
    TrackBox box;            // Kalman estimate: corrected after a match, predicted otherwise
    int hits = 0;                 // consecutive matched updates
    int frames_since_update = 0;  // frames (updates and predictions) since the latest match
};

// What update() did with one detection.
struct TrackAssignment {
    int track_id = 0;  // 0: discarded (below low_threshold, an unmatched low-score box, or an
                       // unmatched high one below new_track_threshold)
    TrackState state = TrackState::tentative;  // of that track after the update
};

struct TrackerUpdate {
    std::vector<TrackAssignment> detections;  // one per input detection, same order
    std::vector<Track> tracks;                // every live track after the update, by id
};

class MultiObjectTracker {
public:
    explicit MultiObjectTracker(const TrackerOptions& options);  // validates the options

    // One frame with detections (pixel boxes; an empty span is a frame where nothing was seen).
    TrackerUpdate update(std::span<const Detection> detections);

    // One frame without detections (the detector skipped it): advances every track by one frame
    // and returns the confirmed tracks, i.e. those matched on the latest update, at their
    // predicted boxes. Tracks left unmatched longer than max_age frames are deleted here too.
    std::vector<Track> predict_frame();

    void reset();  // forgets every track; ids keep counting up
    std::vector<Track> tracks() const;  // every live track, by id
    const TrackerOptions& options() const { return options_; }

private:
    // The 8-state filter (cx, cy, w, h and velocities: BoT-SORT's box form of ByteTrack's filter)
    // splits exactly into four 2-state filters, one per box coordinate:
    // the motion, the measurement and the (diagonal) noise matrices never couple coordinates, so
    // the covariance stays block-diagonal. Four 2x2 filters are the same numbers for less code.
    struct Axis {  // 1-D constant-velocity filter: position, velocity, 2x2 covariance
        double position = 0, velocity = 0;
        double var_position = 0, cov = 0, var_velocity = 0;
    };
    struct LabelCount {
        int label_id;
        std::string label;
        int count;
    };
    struct Slot {
        Track track;
        Axis axes[4];  // centre x, centre y, width, height
        std::vector<LabelCount> labels;
        int missed_updates = 0;  // detector updates since the latest match (frames_since_update counts predictions too)
    };

    void predict_all();
    // jumped: the detection was matched by distance (stage 3), i.e. the object moved farther than
    // the filter's velocity predicted; its centre velocity is then re-estimated from the jump.
    void correct(Slot& slot, const Detection& detection, bool jumped);
    void start_track(const Detection& detection);
    void erase_expired();
    // Optimal IoU matching of detections[det_indices] to slots_[track_indices]; returns pairs
    // (detection index, track index) in input index space.
    std::vector<std::pair<int, int>> match(std::span<const Detection> detections, const std::vector<int>& det_indices,
                                           const std::vector<int>& track_indices) const;
    // Optimal matching by centre distance in box diagonals (stage 3), gated as distance_threshold says.
    std::vector<std::pair<int, int>> match_by_distance(std::span<const Detection> detections, const std::vector<int>& det_indices,
                                                       const std::vector<int>& track_indices) const;

    TrackerOptions options_;
    std::vector<Slot> slots_;  // by id
    int next_id_ = 1;
};

// Intersection over union of two pixel boxes (0 when either is empty).
float box_iou(const TrackBox& a, const TrackBox& b);

}  // namespace xmodal
