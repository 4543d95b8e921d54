#include "xmodal/tracker.hpp"

#include <algorithm>
#include <cmath>

#include "xmodal/assignment.hpp"
#include "xmodal/error.hpp"

namespace xmodal {

namespace {

// ByteTrack's noise model: standard deviations are these fractions of the box size, so the filter
// behaves the same for a far (small) and a near (large) object.
constexpr double position_noise = 1.0 / 20.0;
constexpr double velocity_noise = 1.0 / 160.0;
constexpr double min_box_size = 1.0;  // pixels; keeps predicted boxes from collapsing
// Stage 3: a track moving at least this many box diagonals per frame counts as moving.
constexpr double moving_speed = 0.05;

TrackBox box_of(const Detection& d) { return {d.x1, d.y1, d.x2, d.y2}; }

// centre x, centre y, width, height -> corners.
TrackBox box_of_axes(const double* p) {
    return {static_cast<float>(p[0] - p[2] / 2), static_cast<float>(p[1] - p[3] / 2),
            static_cast<float>(p[0] + p[2] / 2), static_cast<float>(p[1] + p[3] / 2)};
}

void check_fraction(float value, const char* name) {
    if (!(value >= 0.f && value <= 1.f)) fail("tracker: ", name, " ", value, " is out of range, expected 0..1");
}

}  // namespace

const char* track_state_name(TrackState state) {
    switch (state) {
        case TrackState::tentative: return "tentative";
        case TrackState::confirmed: return "confirmed";
        case TrackState::lost: return "lost";
    }
    return "unknown";
}

void validate_tracker_options(const TrackerOptions& o) {
    check_fraction(o.track_threshold, "track-threshold");
    check_fraction(o.low_threshold, "low-threshold");
    check_fraction(o.new_track_threshold, "new-track-threshold");
    if (!(o.iou_threshold > 0.f && o.iou_threshold <= 1.f))
        fail("tracker: iou-threshold ", o.iou_threshold, " is out of range, expected > 0 and <= 1");
    if (o.low_threshold > o.track_threshold)
        fail("tracker: low-threshold ", o.low_threshold, " is above track-threshold ", o.track_threshold,
             ", expected low-threshold <= track-threshold (low-score detections score below high-score ones)");
    if (o.new_track_threshold < o.track_threshold)
        fail("tracker: new-track-threshold ", o.new_track_threshold, " is below track-threshold ", o.track_threshold,
             ", expected new-track-threshold >= track-threshold (only high-score detections start tracks)");
    if (!(o.distance_threshold >= 0.f && o.distance_threshold <= 10.f))
        fail("tracker: distance-threshold ", o.distance_threshold, " is out of range, expected 0..10 box diagonals (0 = off)");
    if (o.max_age < 0 || o.max_age > 100000)
        fail("tracker: max-age ", o.max_age, " is out of range, expected 0..100000 frames");
    if (o.min_hits < 1 || o.min_hits > 1000) fail("tracker: min-hits ", o.min_hits, " is out of range, expected 1..1000");
}

float box_iou(const TrackBox& a, const TrackBox& b) { return corner_iou(a.x1, a.y1, a.x2, a.y2, b.x1, b.y1, b.x2, b.y2); }

MultiObjectTracker::MultiObjectTracker(const TrackerOptions& options) : options_(options) {
    validate_tracker_options(options);
}

void MultiObjectTracker::reset() { slots_.clear(); }

std::vector<Track> MultiObjectTracker::tracks() const {
    std::vector<Track> out;
    out.reserve(slots_.size());
    for (const Slot& slot : slots_) out.push_back(slot.track);
    return out;
}

void MultiObjectTracker::predict_all() {
    for (Slot& slot : slots_) {
        const double w = slot.axes[2].position, h = slot.axes[3].position;
        double centre_size[4];
        for (int a = 0; a < 4; ++a) {
            Axis& axis = slot.axes[a];
            const double scale = (a % 2 == 0) ? w : h;  // x and width scale with width, y and height with height
            // A track not seen on the latest update keeps its size: a size trend extrapolated over
            // many unseen frames would shrink or blow up the box it has to be re-found with.
            if (a >= 2 && slot.track.state == TrackState::lost) axis.velocity = 0;
            const double qp = position_noise * scale, qv = velocity_noise * scale;
            // x' = F x, P' = F P F^T + Q with F = [[1, 1], [0, 1]].
            axis.position += axis.velocity;
            axis.var_position += 2 * axis.cov + axis.var_velocity + qp * qp;
            axis.cov += axis.var_velocity;
            axis.var_velocity += qv * qv;
            centre_size[a] = axis.position;
        }
        for (int a = 2; a < 4; ++a) slot.axes[a].position = std::max(slot.axes[a].position, min_box_size);
        centre_size[2] = slot.axes[2].position, centre_size[3] = slot.axes[3].position;
        slot.track.box = box_of_axes(centre_size);
        ++slot.track.frames_since_update;
    }
}

void MultiObjectTracker::correct(Slot& slot, const Detection& d, bool jumped) {
    const double measured[4] = {(d.x1 + d.x2) / 2.0, (d.y1 + d.y2) / 2.0, std::max<double>(d.x2 - d.x1, min_box_size),
                                 std::max<double>(d.y2 - d.y1, min_box_size)};
    const double w = slot.axes[2].position, h = slot.axes[3].position;
    double centre_size[4];
    for (int a = 0; a < 4; ++a) {
        Axis& axis = slot.axes[a];
        const double r = position_noise * ((a % 2 == 0) ? w : h);
        if (jumped && a < 2) {
            // Two-point re-initialisation of the centre: the filter's velocity prior (a sixteenth of
            // the box per frame, growing by a 160th per frame) lets it learn a speed of a box per
            // frame (time-lapse footage, low frame rates) only over many frames, and meanwhile its
            // lagging prediction sits on the vehicle following this one. The jump itself is the
            // estimate: from the last corrected position to this detection over the frames between,
            // with the variances of a difference of two measurements.
            const double k = std::max(slot.track.frames_since_update, 1);
            const double last = axis.position - axis.velocity * k;
            axis.velocity = (measured[a] - last) / k;
            axis.position = measured[a];
            axis.var_position = r * r;
            axis.cov = r * r / k;
            axis.var_velocity = 2 * r * r / (k * k);
            centre_size[a] = axis.position;
            continue;
        }
        const double innovation_var = axis.var_position + r * r;
        const double gain_position = axis.var_position / innovation_var, gain_velocity = axis.cov / innovation_var;
        const double innovation = measured[a] - axis.position;
        axis.position += gain_position * innovation;
        axis.velocity += gain_velocity * innovation;
        // P' = (I - K H) P, in the order that reads the old values.
        axis.var_velocity -= gain_velocity * axis.cov;
        axis.cov *= 1 - gain_position;
        axis.var_position *= 1 - gain_position;
        centre_size[a] = axis.position;
    }
    centre_size[2] = std::max(centre_size[2], min_box_size), centre_size[3] = std::max(centre_size[3], min_box_size);
    slot.axes[2].position = centre_size[2], slot.axes[3].position = centre_size[3];

    Track& t = slot.track;
    t.box = box_of_axes(centre_size);
    t.confidence = d.confidence;
    t.frames_since_update = 0;
    ++t.hits;
    if (t.state == TrackState::lost || t.hits >= options_.min_hits) t.state = TrackState::confirmed;

    auto it = std::find_if(slot.labels.begin(), slot.labels.end(),
                           [&](const LabelCount& l) { return l.label_id == d.label_id; });
    if (it == slot.labels.end())
        slot.labels.push_back({d.label_id, d.label, 1});
    else
        ++it->count, it->label = d.label;
    // Majority label; on a tie the one just seen.
    const LabelCount* best = nullptr;
    for (const LabelCount& l : slot.labels)
        if (best == nullptr || l.count > best->count || (l.count == best->count && l.label_id == d.label_id)) best = &l;
    t.label_id = best->label_id;
    t.label = best->label;
}

void MultiObjectTracker::start_track(const Detection& d) {
    Slot slot;
    const double size[2] = {std::max<double>(d.x2 - d.x1, min_box_size), std::max<double>(d.y2 - d.y1, min_box_size)};
    const double centre_size[4] = {(d.x1 + d.x2) / 2.0, (d.y1 + d.y2) / 2.0, size[0], size[1]};
    for (int a = 0; a < 4; ++a) {
        const double scale = (a % 2 == 0) ? size[0] : size[1];
        slot.axes[a].position = centre_size[a];
        slot.axes[a].var_position = (2 * position_noise * scale) * (2 * position_noise * scale);
        slot.axes[a].var_velocity = (10 * velocity_noise * scale) * (10 * velocity_noise * scale);
    }
    Track& t = slot.track;
    t.id = next_id_++;
    t.box = box_of_axes(centre_size);
    t.confidence = d.confidence;
    t.label_id = d.label_id;
    t.label = d.label;
    t.hits = 1;
    t.state = options_.min_hits <= 1 ? TrackState::confirmed : TrackState::tentative;
    slot.labels.push_back({d.label_id, d.label, 1});
    slots_.push_back(std::move(slot));
}

void MultiObjectTracker::erase_expired() {
    std::erase_if(slots_, [&](const Slot& s) { return s.track.frames_since_update > options_.max_age; });
}

std::vector<std::pair<int, int>> MultiObjectTracker::match_by_distance(std::span<const Detection> detections,
                                                                       const std::vector<int>& det_indices,
                                                                       const std::vector<int>& track_indices) const {
    std::vector<std::pair<int, int>> pairs;
    if (det_indices.empty() || track_indices.empty()) return pairs;
    const std::size_t rows = det_indices.size(), cols = track_indices.size();
    const double gate = options_.distance_threshold;
    std::vector<double> cost(rows * cols, gate + 1.0);  // above the gate: never matched
    for (std::size_t r = 0; r < rows; ++r) {
        const Detection& d = detections[static_cast<std::size_t>(det_indices[r])];
        const double dw = d.x2 - d.x1, dh = d.y2 - d.y1;
        for (std::size_t c = 0; c < cols; ++c) {
            const Track& t = slots_[static_cast<std::size_t>(track_indices[c])].track;
            if (options_.class_aware && t.label_id != d.label_id) continue;
            const double tw = t.box.x2 - t.box.x1, th = t.box.y2 - t.box.y1;
            const double size_ratio = std::sqrt(std::max(dw * dh, 1.0) / std::max(tw * th, 1.0));
            if (size_ratio > 2.0 || size_ratio < 0.5) continue;
            const double dx = (d.x1 + d.x2 - t.box.x1 - t.box.x2) / 2, dy = (d.y1 + d.y2 - t.box.y1 - t.box.y2) / 2;
            const double diagonal = std::max(std::sqrt(tw * tw + th * th), 1.0);
            const double distance = std::sqrt(dx * dx + dy * dy) / diagonal;
            if (distance > gate) continue;
            // A moving track is not continued backwards: measured along its velocity from where it
            // was last seen (the prediction minus the frames of velocity since), the detection must
            // not lie behind. The vehicle following one the detector missed would.
            const Axis* axes = slots_[static_cast<std::size_t>(track_indices[c])].axes;
            const double vx = axes[0].velocity, vy = axes[1].velocity, speed = std::hypot(vx, vy);
            if (speed >= moving_speed * diagonal) {
                const double k = t.frames_since_update;
                const double along = ((d.x1 + d.x2) / 2 - (axes[0].position - vx * k)) * vx +
                                     ((d.y1 + d.y2) / 2 - (axes[1].position - vy * k)) * vy;
                if (along < 0) continue;
            }
            cost[r * cols + c] = distance;
        }
    }
    const std::vector<int> col_of_row = solve_assignment(cost, rows, cols);
    for (std::size_t r = 0; r < rows; ++r) {
        const int c = col_of_row[r];
        if (c >= 0 && cost[r * cols + static_cast<std::size_t>(c)] <= gate)
            pairs.emplace_back(det_indices[r], track_indices[static_cast<std::size_t>(c)]);
    }
    return pairs;
}

std::vector<std::pair<int, int>> MultiObjectTracker::match(std::span<const Detection> detections,
                                                           const std::vector<int>& det_indices,
                                                           const std::vector<int>& track_indices) const {
    std::vector<std::pair<int, int>> pairs;
    if (det_indices.empty() || track_indices.empty()) return pairs;
    const std::size_t rows = det_indices.size(), cols = track_indices.size();
    // A pair that may not match costs 1 (= IoU 0): the solver then gains nothing from using it,
    // which makes this the same problem as leaving both sides unassigned (see the check below).
    std::vector<double> cost(rows * cols, 1.0);
    for (std::size_t r = 0; r < rows; ++r) {
        const Detection& d = detections[static_cast<std::size_t>(det_indices[r])];
        for (std::size_t c = 0; c < cols; ++c) {
            const Track& t = slots_[static_cast<std::size_t>(track_indices[c])].track;
            if (options_.class_aware && t.label_id != d.label_id) continue;
            const float iou = box_iou(box_of(d), t.box);
            if (iou >= options_.iou_threshold) cost[r * cols + c] = 1.0 - iou;
        }
    }
    const std::vector<int> col_of_row = solve_assignment(cost, rows, cols);
    for (std::size_t r = 0; r < rows; ++r) {
        const int c = col_of_row[r];
        if (c >= 0 && cost[r * cols + static_cast<std::size_t>(c)] < 1.0)
            pairs.emplace_back(det_indices[r], track_indices[static_cast<std::size_t>(c)]);
    }
    return pairs;
}

TrackerUpdate MultiObjectTracker::update(std::span<const Detection> detections) {
    predict_all();
    TrackerUpdate result;
    result.detections.resize(detections.size());

    std::vector<int> high, low;
    for (std::size_t i = 0; i < detections.size(); ++i) {
        const float score = detections[i].confidence;
        if (score >= options_.track_threshold)
            high.push_back(static_cast<int>(i));
        else if (score >= options_.low_threshold)
            low.push_back(static_cast<int>(i));
    }
    std::vector<char> track_matched(slots_.size(), 0), det_matched(detections.size(), 0);
    auto apply = [&](const std::vector<std::pair<int, int>>& pairs, bool jumped) {
        for (auto [d, t] : pairs) {
            Slot& slot = slots_[static_cast<std::size_t>(t)];
            correct(slot, detections[static_cast<std::size_t>(d)], jumped);
            result.detections[static_cast<std::size_t>(d)] = {slot.track.id, slot.track.state};
            track_matched[static_cast<std::size_t>(t)] = 1;
            det_matched[static_cast<std::size_t>(d)] = 1;
        }
    };

    // Stage 1: high-score detections against every live track.
    std::vector<int> all_tracks(slots_.size());
    for (std::size_t t = 0; t < slots_.size(); ++t) all_tracks[t] = static_cast<int>(t);
    apply(match(detections, high, all_tracks), false);

    // Stage 2: low-score detections against the followed tracks stage 1 left. Lost and tentative
    // tracks are not offered: a low score is weak evidence, enough to continue a track that was
    // there a frame ago, too weak to revive or to confirm one (as ByteTrack). An unmatched track
    // still has the state it had before this frame.
    std::vector<int> followed_left;
    for (std::size_t t = 0; t < slots_.size(); ++t)
        if (!track_matched[t] && slots_[t].track.state == TrackState::confirmed)
            followed_left.push_back(static_cast<int>(t));
    apply(match(detections, low, followed_left), false);

    // Stage 3: objects that jumped farther than their size since the last update (no IoU with
    // their prediction) continue the nearest unmatched track of similar size.
    if (options_.distance_threshold > 0.f) {
        std::vector<int> high_left, tracks_left;
        for (int d : high)
            if (!det_matched[static_cast<std::size_t>(d)]) high_left.push_back(d);
        // Only tracks that may be moving fast: new ones (no velocity yet) and those already moving
        // a twentieth of their diagonal per frame. A still object (a parked car hidden by traffic)
        // is never offered, or the first passing car near it would take over its id.
        // Lost tracks only while recently seen: after a few missed updates the prediction is an
        // extrapolation (a pedestrian lost for a second would be "re-found" as a passing car).
        for (std::size_t t = 0; t < slots_.size(); ++t) {
            if (track_matched[t] || slots_[t].missed_updates > distance_max_missed) continue;
            const Slot& slot = slots_[t];
            const double speed = std::hypot(slot.axes[0].velocity, slot.axes[1].velocity);
            const double diagonal = std::hypot(slot.axes[2].position, slot.axes[3].position);
            if (slot.track.state == TrackState::tentative || speed >= moving_speed * diagonal)
                tracks_left.push_back(static_cast<int>(t));
        }
        apply(match_by_distance(detections, high_left, tracks_left), true);
    }

    // Misses: a tentative track dies at once (a flash of false positives), a followed one is lost.
    for (std::size_t t = 0; t < slots_.size(); ++t) {
        if (track_matched[t]) {
            slots_[t].missed_updates = 0;
            continue;
        }
        ++slots_[t].missed_updates;
        Track& track = slots_[t].track;
        track.hits = 0;
        if (track.state == TrackState::tentative)
            track.frames_since_update = options_.max_age + 1;  // erased below
        else
            track.state = TrackState::lost;
    }
    for (int d : high) {
        const Detection& det = detections[static_cast<std::size_t>(d)];
        if (!det_matched[static_cast<std::size_t>(d)] && det.confidence >= options_.new_track_threshold) {
            start_track(det);
            result.detections[static_cast<std::size_t>(d)] = {slots_.back().track.id, slots_.back().track.state};
        }
    }
    erase_expired();
    result.tracks = tracks();
    return result;
}

std::vector<Track> MultiObjectTracker::predict_frame() {
    predict_all();
    erase_expired();
    std::vector<Track> followed;
    for (const Slot& slot : slots_)
        if (slot.track.state == TrackState::confirmed) followed.push_back(slot.track);
    return followed;
}

}  // namespace xmodal
