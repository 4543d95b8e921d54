// Counting tracked objects that cross named line segments (traffic flow), per line, label and
// direction. Formats, direction convention and robustness rules: docs/COUNTING.md.
//
// Geometry, in normalised frame coordinates (x right, y down, 0..1):
//  - a point's signed distance to a line is measured to the infinite line through the segment,
//    positive on the LEFT of the arrow (x1,y1) -> (x2,y2) as seen on screen;
//  - its side is +1 beyond +hysteresis, -1 beyond -hysteresis, and "on the line" (0) inside the
//    band; a point on the line never changes a track's confirmed side, so a reference point
//    that flickers or jitters across the line inside the band counts nothing;
//  - a crossing is a change of a track's confirmed side, -1 -> +1 (direction +1, "positive":
//    from the arrow's right to its left) or +1 -> -1 (direction -1). It counts only if the path
//    from the track's last point on the old side to its first point on the new side meets the
//    line within the segment, extended by extent_margin at both ends; otherwise the side still
//    changes (the track went round the end of the segment) but nothing is counted.
// Consequences:
//  - a track is counted in the same direction on a line again only after it has come back to
//    the starting side: through the segment (counted in the other direction, so a U-turn gives
//    +1 then -1 and the net flow stays right) or round an end (not counted);
//  - a track missing for frames (occlusion, detector misses) keeps its side while it is
//    remembered (forget_after), so re-found on the other side it counts once;
//  - a track id seen for the first time has no side yet: its first confirmed side only sets the
//    side. An id switch at the line (old id vanishes on one side, a new id appears on the other)
//    therefore counts nothing: it undercounts by design rather than count twice.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace xmodal {

struct CountingLine {
    std::string name;                       // 1..64 of [A-Za-z0-9_.-], unique in a set
    float x1 = 0.f, y1 = 0.f, x2 = 0.f, y2 = 0.f;  // normalised 0..1; positive = to the arrow's left
};

// "north:0.1,0.6,0.9,0.6;east:0.5,0.1,0.5,0.9": items "name:x1,y1,x2,y2" separated by ';'
// (a trailing ';' is allowed), blanks around tokens ignored. Throws xmodal::Error naming the item
// ("counting line 2 'east'"), the token and what was expected; at least one line is required.
std::vector<CountingLine> parse_counting_lines(std::string_view text);

// One "name:x1,y1,x2,y2" per text line; '#' starts a comment, blank lines are skipped. Errors
// name the file and its line number ("lines.txt:3 'east': ...").
std::vector<CountingLine> parse_counting_lines_file(const std::string& path);

// The string form parse_counting_lines reads back to the same lines (shortest exact floats).
std::string format_counting_lines(std::span<const CountingLine> lines);

// Names, ranges, minimum length (0.001) and unique names; throws xmodal::Error like the parsers.
void validate_counting_lines(std::span<const CountingLine> lines);

struct LineCounterOptions {
    float hysteresis = 0.01f;     // [0,0.5] half-width of the "on the line" band, normalised distance
    float extent_margin = 0.02f;  // [0,0.5] a crossing this far beyond a segment end still counts
    int forget_after = 30;        // >= 0 updates a track may be missing before its sides are forgotten
    std::vector<std::string> classes;  // labels counted; empty: every label
};

// Throws xmodal::Error naming the option (as the element will name its property), value and range.
void validate_line_counter_options(const LineCounterOptions& options);

// One tracked object on one frame. The reference point is normalised, e.g. the bottom centre of
// the box (where a vehicle touches the road). Feed matched positions, not predicted ones: a
// prediction drifting over the line would be counted as a crossing.
struct TrackedPoint {
    int track_id = 0;
    int label_id = 0;
    std::string label;
    float x = 0.f, y = 0.f;
};

struct Crossing {
    std::size_t line = 0;  // index into LineCounter::lines()
    int track_id = 0;
    int label_id = 0;
    std::string label;
    int direction = 0;     // +1: from the arrow's right to its left; -1: back
    std::int64_t timestamp_ns = 0;  // of the update that saw the track on the new side
};

struct LineCount {
    std::size_t line = 0;
    std::string label;
    std::int64_t positive = 0;  // direction +1
    std::int64_t negative = 0;  // direction -1
};

class LineCounter {
public:
    // Throws xmodal::Error on invalid lines or options.
    LineCounter(std::vector<CountingLine> lines, LineCounterOptions options = {});

    // One frame's tracked objects (each track id at most once; throws xmodal::Error on a repeated
    // id or a non-finite point, with the points before it already applied). Returns the crossings
    // counted on this frame; the reference stays valid until the next update() or reset().
    const std::vector<Crossing>& update(std::span<const TrackedPoint> points, std::int64_t timestamp_ns);

    // Running counts since construction, reset() or take_counts(), ordered by line then label.
    // With classes set every line x class is listed (zeros included); otherwise a label appears
    // once it has been counted.
    std::vector<LineCount> counts() const;
    // counts(), then zeroes them; track sides are kept (interval aggregation).
    std::vector<LineCount> take_counts();
    // Forgets tracks and counts.
    void reset();

    const std::vector<CountingLine>& lines() const { return lines_; }
    const LineCounterOptions& options() const { return options_; }
    std::size_t tracks_remembered() const { return id_to_slot_.size(); }

private:
    struct LineGeometry {
        float ax, ay;        // first end point
        float nx, ny;        // unit normal pointing to the positive (left) side
        float ux, uy;        // unit direction a -> b
        float length;
    };
    struct TrackSlot {
        int track_id;
        std::int64_t last_seen;  // update number
    };
    struct TrackLineState {
        std::int8_t side;  // confirmed side: -1, +1, 0 = none yet
        float x, y;        // latest point on that side
    };
    struct LabelCounts {
        std::string label;
        std::int64_t positive, negative;
    };

    bool counted_label(const std::string& label) const;
    void add_count(std::size_t line, const std::string& label, int direction);
    void forget_missing();

    std::vector<CountingLine> lines_;
    LineCounterOptions options_;
    std::vector<LineGeometry> geometry_;
    std::unordered_map<int, std::size_t> id_to_slot_;
    std::vector<TrackSlot> slots_;
    std::vector<TrackLineState> line_states_;  // slot * lines + line
    std::vector<std::size_t> free_slots_;
    std::vector<std::vector<LabelCounts>> counts_;  // per line
    std::vector<Crossing> crossings_;
    std::int64_t update_number_ = 0;
};

}  // namespace xmodal
