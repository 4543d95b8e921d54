#include "xmodal/line_counter.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>

#include "xmodal/error.hpp"

namespace xmodal {

namespace {

constexpr std::size_t kMaxNameLength = 64;
// Shorter segments are typos: 0.001 is under a pixel at 640 px.
constexpr float kMinLineLength = 0.001f;
constexpr const char* kItemSyntax = "'name:x1,y1,x2,y2'";

std::string_view trim(std::string_view s) {
    const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && blank(s.back())) s.remove_suffix(1);
    return s;
}

bool valid_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

// where: "counting line 2" or "lines.txt:3".
void check_line(const CountingLine& line, const std::string& where) {
    if (line.name.empty()) fail(where, ": empty name (expected 1..", kMaxNameLength, " characters)");
    if (line.name.size() > kMaxNameLength)
        fail(where, " '", line.name, "': name has ", line.name.size(), " characters, expected 1..", kMaxNameLength);
    if (!std::all_of(line.name.begin(), line.name.end(), valid_name_char))
        fail(where, " '", line.name, "': name may only contain letters, digits, '_', '-' and '.'");
    const float coords[4] = {line.x1, line.y1, line.x2, line.y2};
    const char* coord_names[4] = {"x1", "y1", "x2", "y2"};
    for (int i = 0; i < 4; ++i)
        if (!(coords[i] >= 0.f && coords[i] <= 1.f))  // also rejects NaN
            fail(where, " '", line.name, "': ", coord_names[i], " = ", coords[i], " is outside 0..1");
    const float length = std::hypot(line.x2 - line.x1, line.y2 - line.y1);
    if (length < kMinLineLength)
        fail(where, " '", line.name, "': segment (", line.x1, ",", line.y1, ")-(", line.x2, ",", line.y2,
             ") has length ", length, ", expected at least ", kMinLineLength, " (distinct end points)");
}

void check_unique_names(std::span<const CountingLine> lines, std::span<const std::string> wheres) {
    for (std::size_t j = 1; j < lines.size(); ++j)
        for (std::size_t i = 0; i < j; ++i)
            if (lines[i].name == lines[j].name)
                fail(wheres[j], " '", lines[j].name, "': duplicate name (", wheres[i], " has it too)");
}

CountingLine parse_item(std::string_view item, const std::string& where) {
    const std::size_t colon = item.find(':');
    if (colon == std::string_view::npos)
        fail(where, ": expected ", kItemSyntax, ", got '", item, "' (no ':' after a name)");
    CountingLine line;
    line.name = std::string(trim(item.substr(0, colon)));
    if (line.name.empty()) fail(where, ": empty name before ':' in '", item, "'");

    const std::string_view numbers = trim(item.substr(colon + 1));
    std::vector<std::string_view> tokens;
    if (!numbers.empty()) {
        std::size_t start = 0;
        for (;;) {
            const std::size_t comma = numbers.find(',', start);
            tokens.push_back(trim(numbers.substr(start, comma == std::string_view::npos ? comma : comma - start)));
            if (comma == std::string_view::npos) break;
            start = comma + 1;
        }
    }
    if (tokens.size() != 4)
        fail(where, " '", line.name, "': expected 4 numbers in 0..1 after the name, got ", tokens.size(), " ('",
             numbers, "')");
    float* coords[4] = {&line.x1, &line.y1, &line.x2, &line.y2};
    const char* coord_names[4] = {"x1", "y1", "x2", "y2"};
    for (int i = 0; i < 4; ++i) {
        const std::string_view token = tokens[static_cast<std::size_t>(i)];
        const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), *coords[i]);
        if (token.empty() || ec != std::errc() || end != token.data() + token.size())
            fail(where, " '", line.name, "': ", coord_names[i], " '", token,
                 "' is not a number (expected 4 numbers in 0..1 after the name)");
    }
    check_line(line, where);
    return line;
}

}  // namespace

std::vector<CountingLine> parse_counting_lines(std::string_view text) {
    std::vector<CountingLine> lines;
    std::vector<std::string> wheres;
    if (trim(text).empty())
        fail("counting lines: none given (expected ", kItemSyntax, " items separated by ';')");
    std::size_t start = 0;
    for (std::size_t index = 1;; ++index) {
        const std::size_t semicolon = text.find(';', start);
        const std::string_view item =
            trim(text.substr(start, semicolon == std::string_view::npos ? semicolon : semicolon - start));
        std::string where = "counting line ";
        where.append(std::to_string(index));
        const bool last = semicolon == std::string_view::npos;
        if (item.empty()) {
            if (last) break;  // a trailing ';'
            fail(where, ": empty item (expected ", kItemSyntax, " between ';')");
        }
        lines.push_back(parse_item(item, where));
        wheres.push_back(std::move(where));
        if (last) break;
        start = semicolon + 1;
    }
    check_unique_names(lines, wheres);
    return lines;
}

std::vector<CountingLine> parse_counting_lines_file(const std::string& path) {
    std::ifstream file(path);
    if (!file) fail("counting lines file '", path, "': cannot open (", std::strerror(errno), ")");
    std::vector<CountingLine> lines;
    std::vector<std::string> wheres;
    std::string text;
    for (int number = 1; std::getline(file, text); ++number) {
        std::string_view content = text;
        content = trim(content.substr(0, content.find('#')));
        if (content.empty()) continue;
        std::string where = path;
        where.append(":").append(std::to_string(number));
        lines.push_back(parse_item(content, where));
        wheres.push_back(std::move(where));
    }
    if (file.bad()) fail("counting lines file '", path, "': read error");
    if (lines.empty())
        fail("counting lines file '", path, "': no counting lines (expected one ", kItemSyntax,
             " per line, '#' comments)");
    check_unique_names(lines, wheres);
    return lines;
}

std::string format_counting_lines(std::span<const CountingLine> lines) {
    std::string out;
    for (const CountingLine& line : lines) {
        if (!out.empty()) out += ';';
        out += line.name;
        char sep = ':';
        for (float v : {line.x1, line.y1, line.x2, line.y2}) {
            char buffer[32];
            const auto result = std::to_chars(buffer, buffer + sizeof buffer, v);  // shortest round-trip form
            out += sep;
            out.append(buffer, result.ptr);
            sep = ',';
        }
    }
    return out;
}

void validate_counting_lines(std::span<const CountingLine> lines) {
    if (lines.empty()) fail("counting lines: none given (expected at least one)");
    std::vector<std::string> wheres;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        std::string where = "counting line ";
        where.append(std::to_string(i + 1));
        check_line(lines[i], where);
        wheres.push_back(std::move(where));
    }
    check_unique_names(lines, wheres);
}

void validate_line_counter_options(const LineCounterOptions& options) {
    if (!(options.hysteresis >= 0.f && options.hysteresis <= 0.5f))
        fail("hysteresis = ", options.hysteresis, ": expected 0..0.5 (normalised distance)");
    if (!(options.extent_margin >= 0.f && options.extent_margin <= 0.5f))
        fail("extent-margin = ", options.extent_margin, ": expected 0..0.5 (normalised distance)");
    if (options.forget_after < 0) fail("forget-after = ", options.forget_after, ": expected >= 0 frames");
    for (std::size_t i = 0; i < options.classes.size(); ++i) {
        if (options.classes[i].empty()) fail("classes: entry ", i + 1, " is empty, expected a label name");
        for (std::size_t j = 0; j < i; ++j)
            if (options.classes[j] == options.classes[i]) fail("classes: '", options.classes[i], "' is listed twice");
    }
}

LineCounter::LineCounter(std::vector<CountingLine> lines, LineCounterOptions options)
    : lines_(std::move(lines)), options_(std::move(options)) {
    validate_counting_lines(lines_);
    validate_line_counter_options(options_);
    for (const CountingLine& line : lines_) {
        const float dx = line.x2 - line.x1, dy = line.y2 - line.y1;
        const float length = std::hypot(dx, dy);
        const float ux = dx / length, uy = dy / length;
        // With y pointing down, the left of an arrow heading (ux,uy) on screen is (uy,-ux).
        geometry_.push_back({line.x1, line.y1, uy, -ux, ux, uy, length});
    }
    reset();
}

void LineCounter::reset() {
    id_to_slot_.clear();
    slots_.clear();
    line_states_.clear();
    free_slots_.clear();
    crossings_.clear();
    update_number_ = 0;
    counts_.assign(lines_.size(), {});
    for (auto& per_line : counts_)
        for (const std::string& label : options_.classes) per_line.push_back({label, 0, 0});
}

bool LineCounter::counted_label(const std::string& label) const {
    return options_.classes.empty() ||
           std::find(options_.classes.begin(), options_.classes.end(), label) != options_.classes.end();
}

void LineCounter::add_count(std::size_t line, const std::string& label, int direction) {
    auto& per_line = counts_[line];
    auto it = std::find_if(per_line.begin(), per_line.end(), [&](const LabelCounts& c) { return c.label == label; });
    if (it == per_line.end()) it = per_line.insert(per_line.end(), {label, 0, 0});
    ++(direction > 0 ? it->positive : it->negative);
}

const std::vector<Crossing>& LineCounter::update(std::span<const TrackedPoint> points, std::int64_t timestamp_ns) {
    crossings_.clear();
    ++update_number_;
    const std::size_t line_count = lines_.size();
    const float band = options_.hysteresis;
    const float margin = options_.extent_margin;
    for (const TrackedPoint& point : points) {
        if (!std::isfinite(point.x) || !std::isfinite(point.y))
            fail("line counter: track ", point.track_id, " reference point (", point.x, ", ", point.y,
                 ") is not finite");
        const auto [it, inserted] = id_to_slot_.try_emplace(point.track_id, 0);
        if (inserted) {
            if (free_slots_.empty()) {
                it->second = slots_.size();
                slots_.push_back({});
                line_states_.resize(line_states_.size() + line_count);
            } else {
                it->second = free_slots_.back();
                free_slots_.pop_back();
            }
            slots_[it->second] = {point.track_id, 0};
            std::fill_n(line_states_.begin() + static_cast<std::ptrdiff_t>(it->second * line_count), line_count,
                        TrackLineState{0, 0.f, 0.f});
        } else if (slots_[it->second].last_seen == update_number_) {
            fail("line counter: track id ", point.track_id, " appears twice in one frame");
        }
        const std::size_t slot = it->second;
        slots_[slot].last_seen = update_number_;

        for (std::size_t l = 0; l < line_count; ++l) {
            const LineGeometry& g = geometry_[l];
            const float distance = (point.x - g.ax) * g.nx + (point.y - g.ay) * g.ny;
            const int side = distance > band ? 1 : distance < -band ? -1 : 0;
            if (side == 0) continue;  // on the line: keeps the confirmed side
            TrackLineState& state = line_states_[slot * line_count + l];
            if (state.side != 0 && side != state.side) {
                // Where the path from the last point on the old side to this one meets the line.
                const float previous = (state.x - g.ax) * g.nx + (state.y - g.ay) * g.ny;
                const float f = previous / (previous - distance);  // sides differ: no division by 0
                const float cx = state.x + f * (point.x - state.x), cy = state.y + f * (point.y - state.y);
                const float along = (cx - g.ax) * g.ux + (cy - g.ay) * g.uy;
                if (along >= -margin && along <= g.length + margin && counted_label(point.label)) {
                    add_count(l, point.label, side);
                    crossings_.push_back({l, point.track_id, point.label_id, point.label, side, timestamp_ns});
                }
            }
            state = {static_cast<std::int8_t>(side), point.x, point.y};
        }
    }
    forget_missing();
    return crossings_;
}

void LineCounter::forget_missing() {
    for (std::size_t slot = 0; slot < slots_.size(); ++slot) {
        TrackSlot& s = slots_[slot];
        if (s.last_seen != 0 && update_number_ - s.last_seen > options_.forget_after) {
            id_to_slot_.erase(s.track_id);
            free_slots_.push_back(slot);
            s.last_seen = 0;
        }
    }
}

std::vector<LineCount> LineCounter::counts() const {
    std::vector<LineCount> out;
    for (std::size_t l = 0; l < counts_.size(); ++l) {
        const std::size_t first = out.size();
        for (const LabelCounts& c : counts_[l]) out.push_back({l, c.label, c.positive, c.negative});
        std::sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
                  [](const LineCount& a, const LineCount& b) { return a.label < b.label; });
    }
    return out;
}

std::vector<LineCount> LineCounter::take_counts() {
    std::vector<LineCount> out = counts();
    for (auto& per_line : counts_)
        for (LabelCounts& c : per_line) c.positive = c.negative = 0;
    return out;
}

}  // namespace xmodal
