#include "xmodal/mot_metrics.hpp"

#include <algorithm>
#include <set>
#include <vector>

#include "xmodal/assignment.hpp"
#include "xmodal/error.hpp"

namespace xmodal {

namespace {

void check_unique_ids(std::span<const MotObject> objects, const char* what) {
    std::set<int> seen;
    for (const MotObject& o : objects)
        if (!seen.insert(o.id).second) fail("MotEvaluator: ", what, " id ", o.id, " appears twice in one frame");
}

int index_of(std::span<const MotObject> objects, int id) {
    for (std::size_t i = 0; i < objects.size(); ++i)
        if (objects[i].id == id) return static_cast<int>(i);
    return -1;
}

}  // namespace

MotEvaluator::MotEvaluator(float iou_threshold) : iou_threshold_(iou_threshold) {
    if (!(iou_threshold > 0.f && iou_threshold <= 1.f))
        fail("MotEvaluator: iou_threshold ", iou_threshold, " is out of range, expected > 0 and <= 1");
}

void MotEvaluator::add_frame(std::span<const MotObject> truth, std::span<const MotObject> hypotheses) {
    check_unique_ids(truth, "ground-truth");
    check_unique_ids(hypotheses, "hypothesis");
    ++counts_.frames;
    counts_.ground_truth += static_cast<int>(truth.size());
    counts_.hypotheses += static_cast<int>(hypotheses.size());

    for (const MotObject& t : truth)
        for (const MotObject& h : hypotheses)
            if (box_iou(t.box, h.box) >= iou_threshold_) ++overlap_frames_[{t.id, h.id}];

    std::vector<int> hyp_of_truth(truth.size(), -1);
    std::vector<char> hyp_taken(hypotheses.size(), 0);
    // Keep last frame's correspondences that still overlap enough.
    for (std::size_t t = 0; t < truth.size(); ++t) {
        auto it = current_.find(truth[t].id);
        if (it == current_.end()) continue;
        const int h = index_of(hypotheses, it->second);
        if (h >= 0 && box_iou(truth[t].box, hypotheses[static_cast<std::size_t>(h)].box) >= iou_threshold_) {
            hyp_of_truth[t] = h;
            hyp_taken[static_cast<std::size_t>(h)] = 1;
        }
    }
    // Match the rest optimally; a pair below the threshold costs 1 and is dropped afterwards.
    std::vector<int> free_truth, free_hyp;
    for (std::size_t t = 0; t < truth.size(); ++t)
        if (hyp_of_truth[t] < 0) free_truth.push_back(static_cast<int>(t));
    for (std::size_t h = 0; h < hypotheses.size(); ++h)
        if (!hyp_taken[h]) free_hyp.push_back(static_cast<int>(h));
    std::vector<double> cost(free_truth.size() * free_hyp.size(), 1.0);
    for (std::size_t r = 0; r < free_truth.size(); ++r)
        for (std::size_t c = 0; c < free_hyp.size(); ++c) {
            const float iou = box_iou(truth[static_cast<std::size_t>(free_truth[r])].box,
                                      hypotheses[static_cast<std::size_t>(free_hyp[c])].box);
            if (iou >= iou_threshold_) cost[r * free_hyp.size() + c] = 1.0 - iou;
        }
    const std::vector<int> col_of_row = solve_assignment(cost, free_truth.size(), free_hyp.size());
    for (std::size_t r = 0; r < free_truth.size(); ++r) {
        const int c = col_of_row[r];
        if (c < 0 || cost[r * free_hyp.size() + static_cast<std::size_t>(c)] >= 1.0) continue;
        const int t = free_truth[r], h = free_hyp[static_cast<std::size_t>(c)];
        hyp_of_truth[static_cast<std::size_t>(t)] = h;
        hyp_taken[static_cast<std::size_t>(h)] = 1;
    }

    current_.clear();
    for (std::size_t t = 0; t < truth.size(); ++t) {
        if (hyp_of_truth[t] < 0) {
            ++counts_.misses;
            continue;
        }
        const MotObject& h = hypotheses[static_cast<std::size_t>(hyp_of_truth[t])];
        ++counts_.matches;
        iou_sum_ += box_iou(truth[t].box, h.box);
        auto last = last_match_.find(truth[t].id);
        if (last != last_match_.end() && last->second != h.id) ++counts_.id_switches;
        last_match_[truth[t].id] = h.id;
        current_[truth[t].id] = h.id;
    }
    for (char taken : hyp_taken)
        if (!taken) ++counts_.false_positives;
}

MotSummary MotEvaluator::summary() const {
    MotSummary s = counts_;
    s.mota = s.ground_truth > 0
                 ? 1.0 - static_cast<double>(s.misses + s.false_positives + s.id_switches) / s.ground_truth
                 : 1.0;
    s.motp = s.matches > 0 ? iou_sum_ / s.matches : 0.0;
    // IDTP: the one-to-one truth-id <-> hypothesis-id mapping that shares the most frames.
    std::vector<int> truth_ids, hyp_ids;
    for (const auto& [pair, frames] : overlap_frames_) {
        (void)frames;
        truth_ids.push_back(pair.first);
        hyp_ids.push_back(pair.second);
    }
    std::sort(truth_ids.begin(), truth_ids.end());
    truth_ids.erase(std::unique(truth_ids.begin(), truth_ids.end()), truth_ids.end());
    std::sort(hyp_ids.begin(), hyp_ids.end());
    hyp_ids.erase(std::unique(hyp_ids.begin(), hyp_ids.end()), hyp_ids.end());
    std::vector<double> cost(truth_ids.size() * hyp_ids.size(), 0.0);
    for (std::size_t r = 0; r < truth_ids.size(); ++r)
        for (std::size_t c = 0; c < hyp_ids.size(); ++c) {
            auto it = overlap_frames_.find({truth_ids[r], hyp_ids[c]});
            if (it != overlap_frames_.end()) cost[r * hyp_ids.size() + c] = -it->second;
        }
    const std::vector<int> col_of_row = solve_assignment(cost, truth_ids.size(), hyp_ids.size());
    double id_true_positives = 0;
    for (std::size_t r = 0; r < truth_ids.size(); ++r)
        if (col_of_row[r] >= 0) id_true_positives -= cost[r * hyp_ids.size() + static_cast<std::size_t>(col_of_row[r])];
    const int denominator = s.ground_truth + s.hypotheses;
    s.idf1 = denominator > 0 ? 2.0 * id_true_positives / denominator : 1.0;
    return s;
}

}  // namespace xmodal
