// CLEAR-MOT (Bernardin & Stiefelhagen 2008) and IDF1 (Ristani et al. 2016) for evaluating a
// tracker on sequences with ground truth. A ground-truth object and a hypothesis correspond on a
// frame when their boxes overlap with IoU >= iou_threshold. Per frame, correspondences from the
// previous frame are kept while still valid; the remaining objects are matched optimally on
// 1 - IoU. An ID switch is a ground-truth object matched to a different hypothesis id than the
// one it was last matched to (on any earlier frame).
#pragma once

#include <map>
#include <span>
#include <utility>

#include "xmodal/tracker.hpp"

namespace xmodal {

struct MotObject {
    int id = 0;  // ground-truth id or track id; unique within a frame
    TrackBox box;
};

struct MotSummary {
    int frames = 0;
    int ground_truth = 0;     // ground-truth objects summed over frames
    int hypotheses = 0;       // tracker outputs summed over frames
    int matches = 0;
    int false_positives = 0;  // hypotheses without a ground-truth object
    int misses = 0;           // ground-truth objects without a hypothesis (false negatives)
    int id_switches = 0;
    double mota = 0;  // 1 - (misses + false_positives + id_switches) / ground_truth (1 with no ground truth)
    double motp = 0;  // mean IoU of the matches (0 without matches)
    double idf1 = 0;  // 2 IDTP / (ground_truth + hypotheses), IDTP from the best one-to-one id mapping
};

class MotEvaluator {
public:
    explicit MotEvaluator(float iou_threshold = 0.5f);

    // Throws xmodal::Error if an id appears twice in `truth` or in `hypotheses` of the frame.
    void add_frame(std::span<const MotObject> truth, std::span<const MotObject> hypotheses);
    MotSummary summary() const;

private:
    float iou_threshold_;
    MotSummary counts_;
    double iou_sum_ = 0;
    std::map<int, int> current_;     // truth id -> hypothesis id matched on the previous frame
    std::map<int, int> last_match_;  // truth id -> hypothesis id it was last matched to, ever
    std::map<std::pair<int, int>, int> overlap_frames_;  // (truth id, hypothesis id) -> frames with IoU >= threshold
};

}  // namespace xmodal
