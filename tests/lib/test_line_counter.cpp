// LineCounter: the line string and file formats with their error messages, the geometry (side,
// hysteresis band, segment extent, direction convention, diagonal lines) and synthetic track
// scenarios with exact expected counts (docs/COUNTING.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "support/error_of.hpp"
#include "xmodal/line_counter.hpp"

namespace {

using xmodal::CountingLine;
using xmodal::Crossing;
using xmodal::LineCount;
using xmodal::LineCounter;
using xmodal::LineCounterOptions;
using xmodal::TrackedPoint;
using xmodal::testing::error_of;

constexpr float kMissing = std::numeric_limits<float>::quiet_NaN();  // no point on that frame
constexpr std::int64_t kFrameNs = 40'000'000;

// West -> east across the middle: its positive side (the arrow's left on screen) is up, so a
// track moving up the frame crosses in direction +1.
const char* kHorizontal = "mid:0.1,0.5,0.9,0.5";

TrackedPoint point(int id, float x, float y, const char* label = "car") {
    return {id, label[0] == 't' ? 7 : 2, label, x, y};
}

// Feeds frames in order (timestamps frame * 40 ms) and returns every crossing reported.
std::vector<Crossing> feed(LineCounter& counter, const std::vector<std::vector<TrackedPoint>>& frames) {
    std::vector<Crossing> all;
    for (std::size_t f = 0; f < frames.size(); ++f) {
        const auto& crossings = counter.update(frames[f], static_cast<std::int64_t>(f) * kFrameNs);
        all.insert(all.end(), crossings.begin(), crossings.end());
    }
    return all;
}

// One track at a fixed x with the given y per frame (kMissing: not on that frame).
std::vector<std::vector<TrackedPoint>> track_frames(int id, float x, const std::vector<float>& ys,
                                                   const char* label = "car") {
    std::vector<std::vector<TrackedPoint>> frames;
    for (float y : ys) {
        frames.emplace_back();
        if (!std::isnan(y)) frames.back().push_back(point(id, x, y, label));
    }
    return frames;
}

// y from `from` to `to` in steps of `step` (both ends included).
std::vector<float> ramp(float from, float to, float step) {
    std::vector<float> ys;
    const int n = static_cast<int>(std::lround(std::fabs(to - from) / step));
    for (int i = 0; i <= n; ++i) ys.push_back(from + (to > from ? 1.f : -1.f) * step * static_cast<float>(i));
    return ys;
}

std::vector<float> operator+(std::vector<float> a, const std::vector<float>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

LineCount count_of(const LineCounter& counter, std::size_t line, const std::string& label) {
    for (const LineCount& c : counter.counts())
        if (c.line == line && c.label == label) return c;
    return {line, label, 0, 0};
}

LineCounter horizontal_counter(LineCounterOptions options = {}) {
    return LineCounter(xmodal::parse_counting_lines(kHorizontal), options);
}

std::string temp_file(const std::string& name, const std::string& content) {
    const std::string path = ::testing::TempDir() + name;
    std::ofstream(path) << content;
    return path;
}

// ---- formats -------------------------------------------------------------------------------

TEST(CountingLines, ParsesItemsWithBlanksAndTrailingSemicolon) {
    const auto lines = xmodal::parse_counting_lines(" north : 0.1, 0.6 ,0.9,0.6 ;east:0.5,0.1,0.5,0.9;");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0].name, "north");
    EXPECT_FLOAT_EQ(lines[0].x1, 0.1f);
    EXPECT_FLOAT_EQ(lines[0].y1, 0.6f);
    EXPECT_FLOAT_EQ(lines[0].x2, 0.9f);
    EXPECT_FLOAT_EQ(lines[0].y2, 0.6f);
    EXPECT_EQ(lines[1].name, "east");
    EXPECT_FLOAT_EQ(lines[1].x1, 0.5f);
    EXPECT_FLOAT_EQ(lines[1].y2, 0.9f);
    EXPECT_EQ(xmodal::parse_counting_lines("a-b.C_9:0,0,1,1")[0].name, "a-b.C_9");
}

TEST(CountingLines, FormatReadsBackToTheSameLines) {
    const std::vector<CountingLine> lines{{"north", 0.1f, 0.6f, 0.9f, 0.6f}, {"diag", 0.f, 1.f, 0.333333f, 0.7f}};
    const std::string text = xmodal::format_counting_lines(lines);
    EXPECT_EQ(text, "north:0.1,0.6,0.9,0.6;diag:0,1,0.333333,0.7");
    const auto back = xmodal::parse_counting_lines(text);
    ASSERT_EQ(back.size(), 2u);
    for (std::size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(back[i].name, lines[i].name);
        EXPECT_EQ(back[i].x1, lines[i].x1);
        EXPECT_EQ(back[i].y1, lines[i].y1);
        EXPECT_EQ(back[i].x2, lines[i].x2);
        EXPECT_EQ(back[i].y2, lines[i].y2);
    }
}

TEST(CountingLines, FileFormSkipsCommentsAndBlankLines) {
    const std::string path = temp_file("lines_good.txt",
                                       "# street clip\n"
                                       "\n"
                                       "north: 0.1,0.6,0.9,0.6   # stop line\r\n"
                                       "   \t\n"
                                       "east:0.5,0.1,0.5,0.9\n");
    const auto lines = xmodal::parse_counting_lines_file(path);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0].name, "north");
    EXPECT_FLOAT_EQ(lines[0].y2, 0.6f);
    EXPECT_EQ(lines[1].name, "east");
    EXPECT_FLOAT_EQ(lines[1].y2, 0.9f);
    std::remove(path.c_str());
}

TEST(CountingLines, StringErrorsNameTheItemTokenAndExpectation) {
    const auto parse = [](const char* text) { return error_of([&] { xmodal::parse_counting_lines(text); }); };
    EXPECT_EQ(parse(""), "counting lines: none given (expected 'name:x1,y1,x2,y2' items separated by ';')");
    EXPECT_EQ(parse(" ; "), "counting line 1: empty item (expected 'name:x1,y1,x2,y2' between ';')");
    EXPECT_EQ(parse("a:0,0,1,1;;b:0,0,1,1"), "counting line 2: empty item (expected 'name:x1,y1,x2,y2' between ';')");
    EXPECT_EQ(parse("a:0,0,1,1;north0.1,0.6"),
              "counting line 2: expected 'name:x1,y1,x2,y2', got 'north0.1,0.6' (no ':' after a name)");
    EXPECT_EQ(parse(" :0,0,1,1"), "counting line 1: empty name before ':' in ':0,0,1,1'");
    EXPECT_EQ(parse((std::string(65, 'n') + ":0,0,1,1").c_str()),
              "counting line 1 '" + std::string(65, 'n') + "': name has 65 characters, expected 1..64");
    EXPECT_EQ(parse("left lane:0,0,1,1"),
              "counting line 1 'left lane': name may only contain letters, digits, '_', '-' and '.'");
    EXPECT_EQ(parse("north:0.1,0.6,0.9,0.6;east:0.5,0.1,0.5"),
              "counting line 2 'east': expected 4 numbers in 0..1 after the name, got 3 ('0.5,0.1,0.5')");
    EXPECT_EQ(parse("east:"), "counting line 1 'east': expected 4 numbers in 0..1 after the name, got 0 ('')");
    EXPECT_EQ(parse("east:0,0,1,1,1"),
              "counting line 1 'east': expected 4 numbers in 0..1 after the name, got 5 ('0,0,1,1,1')");
    EXPECT_EQ(parse("east:0,0.1x,1,1"),
              "counting line 1 'east': y1 '0.1x' is not a number (expected 4 numbers in 0..1 after the name)");
    EXPECT_EQ(parse("east:0,0,1,"),
              "counting line 1 'east': y2 '' is not a number (expected 4 numbers in 0..1 after the name)");
    EXPECT_EQ(parse("east:0,0,1.5,1"), "counting line 1 'east': x2 = 1.5 is outside 0..1");
    EXPECT_EQ(parse("east:-0.1,0,1,1"), "counting line 1 'east': x1 = -0.1 is outside 0..1");
    EXPECT_EQ(parse("east:0,nan,1,1"), "counting line 1 'east': y1 = nan is outside 0..1");
    EXPECT_EQ(parse("east:0.5,0.5,0.5,0.5"),
              "counting line 1 'east': segment (0.5,0.5)-(0.5,0.5) has length 0, expected at least 0.001 "
              "(distinct end points)");
    EXPECT_EQ(parse("a:0,0,1,1;b:0,1,1,0;a:0.5,0,0.5,1"),
              "counting line 3 'a': duplicate name (counting line 1 has it too)");
}

TEST(CountingLines, FileErrorsNameTheFileAndLineNumber) {
    const std::string missing = ::testing::TempDir() + "no_such_lines.txt";
    EXPECT_EQ(error_of([&] { xmodal::parse_counting_lines_file(missing); }),
              "counting lines file '" + missing + "': cannot open (No such file or directory)");

    const std::string empty = temp_file("lines_empty.txt", "# nothing yet\n\n");
    EXPECT_EQ(error_of([&] { xmodal::parse_counting_lines_file(empty); }),
              "counting lines file '" + empty +
                  "': no counting lines (expected one 'name:x1,y1,x2,y2' per line, '#' comments)");

    const std::string bad = temp_file("lines_bad.txt", "# header\nnorth:0.1,0.6,0.9,0.6\n\neast:0.5,0.1,0.5\n");
    EXPECT_EQ(error_of([&] { xmodal::parse_counting_lines_file(bad); }),
              bad + ":4 'east': expected 4 numbers in 0..1 after the name, got 3 ('0.5,0.1,0.5')");

    const std::string twice = temp_file("lines_twice.txt", "north:0.1,0.6,0.9,0.6\n#\nnorth:0,0,1,1\n");
    EXPECT_EQ(error_of([&] { xmodal::parse_counting_lines_file(twice); }),
              twice + ":3 'north': duplicate name (" + twice + ":1 has it too)");
    for (const auto& path : {empty, bad, twice}) std::remove(path.c_str());
}

TEST(CountingLines, LinesAndOptionsBuiltInCodeAreValidated) {
    const auto make = [](std::vector<CountingLine> lines, LineCounterOptions options = {}) {
        return error_of([&] { LineCounter counter(std::move(lines), std::move(options)); });
    };
    EXPECT_EQ(make({}), "counting lines: none given (expected at least one)");
    EXPECT_EQ(make({{"", 0.f, 0.f, 1.f, 1.f}}), "counting line 1: empty name (expected 1..64 characters)");
    EXPECT_EQ(make({{"a", 0.f, 0.f, 1.f, 1.f}, {"b", 0.f, 0.f, 1.f, 2.f}}), "counting line 2 'b': y2 = 2 is outside 0..1");
    EXPECT_EQ(make({{"a", 0.f, 0.f, 1.f, 1.f}, {"a", 0.f, 1.f, 1.f, 0.f}}),
              "counting line 2 'a': duplicate name (counting line 1 has it too)");
    const std::vector<CountingLine> one{{"a", 0.f, 0.f, 1.f, 1.f}};
    LineCounterOptions o;
    o.hysteresis = -0.01f;
    EXPECT_EQ(make(one, o), "hysteresis = -0.01: expected 0..0.5 (normalised distance)");
    o = {};
    o.extent_margin = 0.6f;
    EXPECT_EQ(make(one, o), "extent-margin = 0.6: expected 0..0.5 (normalised distance)");
    o = {};
    o.forget_after = -1;
    EXPECT_EQ(make(one, o), "forget-after = -1: expected >= 0 frames");
    o = {};
    o.classes = {"car", ""};
    EXPECT_EQ(make(one, o), "classes: entry 2 is empty, expected a label name");
    o.classes = {"car", "bus", "car"};
    EXPECT_EQ(make(one, o), "classes: 'car' is listed twice");
    EXPECT_EQ(make(one), "");
}

TEST(LineCounter, UpdateRejectsRepeatedIdsAndNonFinitePoints) {
    LineCounter counter = horizontal_counter();
    const std::vector<TrackedPoint> twice{point(4, 0.5f, 0.7f), point(4, 0.5f, 0.3f)};
    EXPECT_EQ(error_of([&] { counter.update(twice, 0); }), "line counter: track id 4 appears twice in one frame");
    const std::vector<TrackedPoint> nan{point(5, 0.5f, kMissing)};
    EXPECT_EQ(error_of([&] { counter.update(nan, 0); }), "line counter: track 5 reference point (0.5, nan) is not finite");
}

// ---- geometry ------------------------------------------------------------------------------

TEST(LineCounterGeometry, PositiveIsFromTheArrowsRightToItsLeftOnScreen) {
    // West -> east arrow: moving up the frame is +1.
    LineCounter west_east = horizontal_counter();
    auto crossings = feed(west_east, track_frames(1, 0.5f, {0.7f, 0.3f}));
    ASSERT_EQ(crossings.size(), 1u);
    EXPECT_EQ(crossings[0].direction, 1);
    // North -> south arrow: its left is east, so moving east is +1 and west is -1.
    LineCounter north_south(xmodal::parse_counting_lines("east:0.5,0.1,0.5,0.9"));
    std::vector<std::vector<TrackedPoint>> frames{{point(1, 0.3f, 0.5f), point(2, 0.7f, 0.4f)},
                                                  {point(1, 0.7f, 0.5f), point(2, 0.3f, 0.4f)}};
    crossings = feed(north_south, frames);
    ASSERT_EQ(crossings.size(), 2u);
    EXPECT_EQ(crossings[0].track_id, 1);
    EXPECT_EQ(crossings[0].direction, 1);
    EXPECT_EQ(crossings[1].track_id, 2);
    EXPECT_EQ(crossings[1].direction, -1);
    // The reversed arrow swaps the directions.
    LineCounter east_west(xmodal::parse_counting_lines("mid:0.9,0.5,0.1,0.5"));
    crossings = feed(east_west, track_frames(1, 0.5f, {0.7f, 0.3f}));
    ASSERT_EQ(crossings.size(), 1u);
    EXPECT_EQ(crossings[0].direction, -1);
}

TEST(LineCounterGeometry, PointsInsideTheBandNeitherSetNorChangeTheSide) {
    LineCounter counter = horizontal_counter();  // band: |y - 0.5| <= 0.01
    // Below the line, into the band on the far side (0.491 is 0.009 above) and back: nothing.
    EXPECT_TRUE(feed(counter, track_frames(1, 0.5f, {0.6f, 0.52f, 0.491f, 0.52f, 0.6f})).empty());
    // A track that starts inside the band has no side until it leaves it: leaving upwards counts nothing.
    EXPECT_TRUE(feed(counter, track_frames(2, 0.5f, {0.495f, 0.505f, 0.4f})).empty());
    // Just beyond the band is a side: 0.489 is above by 0.011.
    const auto crossings = feed(counter, track_frames(3, 0.5f, {0.511f, 0.489f}));
    ASSERT_EQ(crossings.size(), 1u);
    EXPECT_EQ(crossings[0].direction, 1);
}

TEST(LineCounterGeometry, CrossingsCountWithinTheSegmentPlusMargin) {
    // Segment x in 0.1..0.9, margin 0.02: 0.91 counts, 0.93 does not, nor does 0.07.
    LineCounter counter = horizontal_counter();
    EXPECT_EQ(feed(counter, track_frames(1, 0.91f, {0.7f, 0.3f})).size(), 1u);
    EXPECT_EQ(feed(counter, track_frames(2, 0.93f, {0.7f, 0.3f})).size(), 0u);
    EXPECT_EQ(feed(counter, track_frames(3, 0.09f, {0.7f, 0.3f})).size(), 1u);
    EXPECT_EQ(feed(counter, track_frames(4, 0.07f, {0.7f, 0.3f})).size(), 0u);
    // The crossing point is where the path meets the line, not where the track ends up: a
    // diagonal step from (1.0,0.6) to (0.85,0.4) ends over the segment but meets y = 0.5 at
    // x = 0.925, outside ...
    std::vector<std::vector<TrackedPoint>> outside{{point(5, 1.f, 0.6f)}, {point(5, 0.85f, 0.4f)}};
    EXPECT_EQ(feed(counter, outside).size(), 0u);
    // ... and one from (0.8,0.6) to (1.0,0.4) ends beyond the end but meets it at x = 0.9, inside.
    std::vector<std::vector<TrackedPoint>> inside{{point(6, 0.8f, 0.6f)}, {point(6, 1.f, 0.4f)}};
    EXPECT_EQ(feed(counter, inside).size(), 1u);
}

TEST(LineCounterGeometry, GoingRoundTheEndChangesTheSideWithoutCounting) {
    LineCounter counter = horizontal_counter();
    // Up round the east end (not counted), then down through the segment: -1 only.
    std::vector<std::vector<TrackedPoint>> frames{{point(1, 0.95f, 0.6f)}, {point(1, 0.95f, 0.4f)},
                                                  {point(1, 0.5f, 0.4f)}, {point(1, 0.5f, 0.6f)}};
    const auto crossings = feed(counter, frames);
    ASSERT_EQ(crossings.size(), 1u);
    EXPECT_EQ(crossings[0].direction, -1);
}

TEST(LineCounterGeometry, DiagonalLinesInBothDirections) {
    // Arrow from top-left to bottom-right: its left on screen is the upper-right half (x > y).
    LineCounter counter(xmodal::parse_counting_lines("diag:0.2,0.2,0.8,0.8;anti:0.8,0.2,0.2,0.8"));
    std::vector<std::vector<TrackedPoint>> frames;
    for (int f = 0; f <= 30; ++f) {
        const float s = 0.01f * static_cast<float>(f);
        // Track 1 from lower-left (0.3,0.7) to upper-right (0.6,0.4), track 2 the other way,
        // track 3 along the anti-diagonal arrow's normal from its left to its right.
        frames.push_back({point(1, 0.3f + s, 0.7f - s), point(2, 0.6f - s, 0.4f + s), point(3, 0.65f - s, 0.65f - s)});
    }
    const auto crossings = feed(counter, frames);
    ASSERT_EQ(crossings.size(), 3u);
    EXPECT_EQ(count_of(counter, 0, "car").positive, 1);
    EXPECT_EQ(count_of(counter, 0, "car").negative, 1);
    // anti: arrow (0.8,0.2) -> (0.2,0.8); its left on screen is the lower-right (x + y > 1).
    EXPECT_EQ(count_of(counter, 1, "car").positive, 0);
    EXPECT_EQ(count_of(counter, 1, "car").negative, 1);
    for (const Crossing& c : crossings) {
        const int expected_direction = c.track_id == 1 ? 1 : -1;
        const std::size_t expected_line = c.track_id == 3 ? 1 : 0;
        EXPECT_EQ(c.direction, expected_direction) << "track " << c.track_id;
        EXPECT_EQ(c.line, expected_line) << "track " << c.track_id;
    }
}

TEST(LineCounterGeometry, DiagonalBandIsAPerpendicularDistance) {
    LineCounter counter(xmodal::parse_counting_lines("diag:0.2,0.2,0.8,0.8"));
    // (0.5+d, 0.5-d) is d*sqrt(2) from the line: d = 0.0065 -> 0.0092 (inside the band),
    // d = 0.0075 -> 0.0106 (outside).
    std::vector<float> offsets{-0.05f, -0.0065f, 0.0065f, -0.0065f, 0.0065f, -0.0065f, 0.0075f};
    std::vector<std::vector<TrackedPoint>> frames;
    for (float d : offsets) frames.push_back({point(1, 0.5f + d, 0.5f - d)});
    const auto crossings = feed(counter, frames);
    ASSERT_EQ(crossings.size(), 1u);
    EXPECT_EQ(crossings[0].direction, 1);
    EXPECT_EQ(crossings[0].timestamp_ns, 6 * kFrameNs);
}

// ---- scenarios -----------------------------------------------------------------------------

TEST(LineCounterScenario, CarCrossingOnceIsCountedOnceOnTheFrameItLeavesTheBand) {
    LineCounter counter = horizontal_counter();
    const auto ys = ramp(0.8f, 0.2f, 0.02f);  // 0.8, 0.78, ..., 0.5 (frame 15), 0.48 (frame 16), ...
    const auto crossings = feed(counter, track_frames(9, 0.4f, ys));
    ASSERT_EQ(crossings.size(), 1u);
    EXPECT_EQ(crossings[0].line, 0u);
    EXPECT_EQ(crossings[0].track_id, 9);
    EXPECT_EQ(crossings[0].label, "car");
    EXPECT_EQ(crossings[0].label_id, 2);
    EXPECT_EQ(crossings[0].direction, 1);
    EXPECT_EQ(crossings[0].timestamp_ns, 16 * kFrameNs);
    const auto counts = counter.counts();
    ASSERT_EQ(counts.size(), 1u);
    EXPECT_EQ(counts[0].label, "car");
    EXPECT_EQ(counts[0].positive, 1);
    EXPECT_EQ(counts[0].negative, 0);
}

// The reference point dithers on the line for 20 frames, partly across it (by less than the band).
const std::vector<float> kFlicker = ramp(0.7f, 0.52f, 0.02f) +
                                    std::vector<float>{0.505f, 0.495f, 0.508f, 0.492f, 0.503f, 0.497f, 0.509f,
                                                       0.491f, 0.5f,   0.494f, 0.506f, 0.493f, 0.507f, 0.496f,
                                                       0.504f, 0.492f, 0.508f, 0.499f, 0.501f, 0.495f} +
                                    ramp(0.48f, 0.3f, 0.02f);

TEST(LineCounterScenario, FlickerOnTheLineCountsOnce) {
    LineCounter counter = horizontal_counter();
    const auto crossings = feed(counter, track_frames(1, 0.5f, kFlicker));
    EXPECT_EQ(crossings.size(), 1u);
    EXPECT_EQ(count_of(counter, 0, "car").positive, 1);
    EXPECT_EQ(count_of(counter, 0, "car").negative, 0);
}

TEST(LineCounterScenario, FlickerScenarioNeedsTheBand) {
    // Without hysteresis the same track is counted on every flicker: the scenario above really
    // exercises the band (a counter without one fails it).
    LineCounterOptions no_band;
    no_band.hysteresis = 0.f;
    LineCounter counter = horizontal_counter(no_band);
    feed(counter, track_frames(1, 0.5f, kFlicker));
    EXPECT_GT(count_of(counter, 0, "car").positive, 5);
    EXPECT_EQ(count_of(counter, 0, "car").positive - count_of(counter, 0, "car").negative, 1);
}

TEST(LineCounterScenario, JitterAroundTheLineWithoutCrossingCountsNothing) {
    LineCounter counter = horizontal_counter();
    const auto ys = ramp(0.7f, 0.52f, 0.02f) +
                    std::vector<float>{0.503f, 0.492f, 0.507f, 0.491f, 0.498f, 0.509f, 0.494f, 0.506f} +
                    ramp(0.52f, 0.7f, 0.02f);
    EXPECT_TRUE(feed(counter, track_frames(1, 0.5f, ys)).empty());
    EXPECT_TRUE(counter.counts().empty());
}

TEST(LineCounterScenario, UTurnCountsBothDirectionsAndNetsToZero) {
    LineCounter counter = horizontal_counter();
    const auto crossings = feed(counter, track_frames(1, 0.5f, ramp(0.7f, 0.3f, 0.02f) + ramp(0.32f, 0.7f, 0.02f)));
    ASSERT_EQ(crossings.size(), 2u);
    EXPECT_EQ(crossings[0].direction, 1);
    EXPECT_EQ(crossings[1].direction, -1);
    EXPECT_EQ(count_of(counter, 0, "car").positive, 1);
    EXPECT_EQ(count_of(counter, 0, "car").negative, 1);
    // Up again: counted again, as it came back across first.
    feed(counter, track_frames(1, 0.5f, ramp(0.7f, 0.3f, 0.02f)));
    EXPECT_EQ(count_of(counter, 0, "car").positive, 2);
    EXPECT_EQ(count_of(counter, 0, "car").negative, 1);
}

TEST(LineCounterScenario, UTurnInsideTheBandCountsNothing) {
    LineCounter counter = horizontal_counter();
    EXPECT_TRUE(feed(counter, track_frames(1, 0.5f, ramp(0.7f, 0.492f, 0.002f) + ramp(0.494f, 0.7f, 0.002f))).empty());
}

TEST(LineCounterScenario, IdSwitchAtTheLineIsNotCountedForTheNewId) {
    LineCounterOptions options;
    options.forget_after = 5;
    LineCounter counter = horizontal_counter(options);
    // Track 1 comes up to the line and vanishes below it; track 2 appears above and drives on.
    auto frames = track_frames(1, 0.5f, ramp(0.8f, 0.52f, 0.02f));
    const auto after = track_frames(2, 0.5f, ramp(0.48f, 0.2f, 0.02f));
    frames.insert(frames.end(), after.begin(), after.end());
    EXPECT_TRUE(feed(counter, frames).empty());
    EXPECT_TRUE(counter.counts().empty());
    EXPECT_EQ(counter.tracks_remembered(), 1u);  // track 1 forgotten after 5 frames missing
}

TEST(LineCounterScenario, TrackLostAndRefoundOnTheOtherSideCountsOnce) {
    LineCounter counter = horizontal_counter();  // forget_after 30
    const std::vector<float> gap(10, kMissing);
    const auto crossings = feed(counter, track_frames(1, 0.5f, ramp(0.8f, 0.56f, 0.02f) + gap + ramp(0.36f, 0.2f, 0.02f)));
    ASSERT_EQ(crossings.size(), 1u);
    EXPECT_EQ(crossings[0].direction, 1);
    EXPECT_EQ(count_of(counter, 0, "car").positive, 1);
}

TEST(LineCounterScenario, ForgetAfterIsTheLongestGapThatStillCounts) {
    for (const int gap : {5, 6}) {
        LineCounterOptions options;
        options.forget_after = 5;
        LineCounter counter = horizontal_counter(options);
        const std::vector<float> missing(static_cast<std::size_t>(gap), kMissing);
        feed(counter, track_frames(1, 0.5f, std::vector<float>{0.7f, 0.6f} + missing + std::vector<float>{0.4f}));
        EXPECT_EQ(count_of(counter, 0, "car").positive, gap == 5 ? 1 : 0) << "gap " << gap;
    }
}

TEST(LineCounterScenario, TwoLinesCrossedInSequence) {
    LineCounter counter(xmodal::parse_counting_lines("low:0.1,0.6,0.9,0.6;high:0.1,0.4,0.9,0.4"));
    auto frames = track_frames(1, 0.5f, ramp(0.8f, 0.2f, 0.02f));   // up through low, then high
    const auto down = track_frames(2, 0.3f, ramp(0.2f, 0.8f, 0.02f));  // down through both
    for (std::size_t f = 0; f < frames.size(); ++f) frames[f].push_back(down[f][0]);
    const auto crossings = feed(counter, frames);
    ASSERT_EQ(crossings.size(), 4u);
    std::vector<std::pair<std::size_t, int>> track1, track2;
    for (const Crossing& c : crossings) (c.track_id == 1 ? track1 : track2).push_back({c.line, c.direction});
    EXPECT_EQ(track1, (std::vector<std::pair<std::size_t, int>>{{0, 1}, {1, 1}}));
    EXPECT_EQ(track2, (std::vector<std::pair<std::size_t, int>>{{1, -1}, {0, -1}}));
    EXPECT_LT(crossings[0].timestamp_ns, crossings[3].timestamp_ns);
    const auto counts = counter.counts();
    ASSERT_EQ(counts.size(), 2u);
    for (const LineCount& c : counts) {
        EXPECT_EQ(c.positive, 1);
        EXPECT_EQ(c.negative, 1);
    }
}

TEST(LineCounterScenario, ManyObjectsWithJitterAndGapsCountExactly) {
    // 1000 tracks spread over the segment, half moving up and half down by 0.02 per frame with
    // +-0.004 jitter, each missing ~10% of frames and listed in a shuffled order.
    LineCounter counter = horizontal_counter();
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> jitter(-0.004f, 0.004f);
    std::uniform_real_distribution<float> across(0.12f, 0.88f);
    std::bernoulli_distribution missed(0.1);
    constexpr int kTracks = 1000;
    std::vector<float> xs;
    for (int i = 0; i < kTracks; ++i) xs.push_back(across(rng));
    std::size_t reported = 0;
    for (int f = 0; f <= 30; ++f) {
        std::vector<TrackedPoint> points;
        for (int i = 0; i < kTracks; ++i) {
            if (missed(rng) && f != 0 && f != 30) continue;
            const float travelled = 0.02f * static_cast<float>(f) + jitter(rng);
            const float y = i % 2 == 0 ? 0.8f - travelled : 0.2f + travelled;
            points.push_back(point(i + 1, xs[static_cast<std::size_t>(i)], y, i % 4 < 2 ? "car" : "truck"));
        }
        std::shuffle(points.begin(), points.end(), rng);
        reported += counter.update(points, f * kFrameNs).size();
    }
    EXPECT_EQ(reported, 1000u);
    for (const char* label : {"car", "truck"}) {
        EXPECT_EQ(count_of(counter, 0, label).positive, 250) << label;
        EXPECT_EQ(count_of(counter, 0, label).negative, 250) << label;
    }
    EXPECT_EQ(counter.tracks_remembered(), 1000u);
}

TEST(LineCounterScenario, ClassesFilterCountsOnlyListedLabelsAndListsThemWithZeros) {
    LineCounterOptions options;
    options.classes = {"truck", "bus"};
    LineCounter counter(xmodal::parse_counting_lines("a:0.1,0.5,0.9,0.5;b:0.5,0.1,0.5,0.9"), options);
    std::vector<std::vector<TrackedPoint>> frames{{point(1, 0.3f, 0.7f, "car"), point(2, 0.6f, 0.7f, "truck")},
                                                  {point(1, 0.3f, 0.3f, "car"), point(2, 0.6f, 0.3f, "truck")}};
    const auto crossings = feed(counter, frames);
    ASSERT_EQ(crossings.size(), 1u);
    EXPECT_EQ(crossings[0].track_id, 2);
    EXPECT_EQ(crossings[0].label, "truck");
    const auto counts = counter.counts();
    ASSERT_EQ(counts.size(), 4u);  // a and b, each bus and truck (sorted by label)
    EXPECT_EQ(counts[0].line, 0u);
    EXPECT_EQ(counts[0].label, "bus");
    EXPECT_EQ(counts[0].positive, 0);
    EXPECT_EQ(counts[1].label, "truck");
    EXPECT_EQ(counts[1].positive, 1);
    EXPECT_EQ(counts[2].line, 1u);
    EXPECT_EQ(counts[3].positive + counts[3].negative + counts[2].positive + counts[2].negative, 0);
}

TEST(LineCounterScenario, TakeCountsStartsANewIntervalAndKeepsTrackSides) {
    LineCounter counter = horizontal_counter();
    feed(counter, track_frames(1, 0.5f, ramp(0.7f, 0.3f, 0.05f)));
    auto taken = counter.take_counts();
    ASSERT_EQ(taken.size(), 1u);
    EXPECT_EQ(taken[0].positive, 1);
    EXPECT_EQ(count_of(counter, 0, "car").positive, 0);
    // Same track, still above: not counted again; coming back down counts -1 in the new interval.
    feed(counter, track_frames(1, 0.5f, ramp(0.3f, 0.2f, 0.05f) + ramp(0.3f, 0.7f, 0.05f)));
    taken = counter.take_counts();
    ASSERT_EQ(taken.size(), 1u);
    EXPECT_EQ(taken[0].positive, 0);
    EXPECT_EQ(taken[0].negative, 1);
}

TEST(LineCounterScenario, ResetForgetsTracksAndCounts) {
    LineCounter counter = horizontal_counter();
    feed(counter, track_frames(1, 0.5f, {0.7f, 0.6f}));
    counter.reset();
    EXPECT_EQ(counter.tracks_remembered(), 0u);
    EXPECT_TRUE(feed(counter, track_frames(1, 0.5f, {0.4f, 0.3f})).empty());
    EXPECT_TRUE(counter.counts().empty());
}

}  // namespace
