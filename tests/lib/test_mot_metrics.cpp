// The optimal assignment solver against brute force, and the CLEAR-MOT / IDF1 evaluator on
// hand-made cases whose numbers are worked out in the comments.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "support/error_of.hpp"
#include "xmodal/assignment.hpp"
#include "xmodal/mot_metrics.hpp"

namespace {

using xmodal::MotEvaluator;
using xmodal::MotObject;
using xmodal::testing::error_of;

// Minimum total cost over every way of assigning min(rows, cols) pairs (permutations of the
// larger side).
double brute_force_min(const std::vector<double>& cost, std::size_t rows, std::size_t cols) {
    const bool wide = rows <= cols;
    const std::size_t small = wide ? rows : cols, large = wide ? cols : rows;
    std::vector<std::size_t> perm(large);
    std::iota(perm.begin(), perm.end(), 0);
    double best = std::numeric_limits<double>::infinity();
    do {
        double total = 0;
        for (std::size_t i = 0; i < small; ++i) total += wide ? cost[i * cols + perm[i]] : cost[perm[i] * cols + i];
        best = std::min(best, total);
    } while (std::next_permutation(perm.begin(), perm.end()));
    return best;
}

TEST(Assignment, MatchesBruteForceOnRandomMatrices) {
    std::mt19937 rng(7);
    int cases = 0;
    for (std::size_t rows = 1; rows <= 6; ++rows)
        for (std::size_t cols = 1; cols <= 6; ++cols)
            for (int trial = 0; trial < 20; ++trial) {
                std::vector<double> cost(rows * cols);
                // Half the trials draw small integers, so ties are common.
                for (double& c : cost)
                    c = trial % 2 ? std::uniform_real_distribution<double>(-5, 5)(rng)
                                  : std::uniform_int_distribution<int>(0, 3)(rng);
                const std::vector<int> col_of_row = xmodal::solve_assignment(cost, rows, cols);
                ASSERT_EQ(col_of_row.size(), rows);
                std::vector<char> used(cols, 0);
                double total = 0;
                std::size_t assigned = 0;
                for (std::size_t r = 0; r < rows; ++r) {
                    const int c = col_of_row[r];
                    if (c < 0) continue;
                    ASSERT_LT(static_cast<std::size_t>(c), cols);
                    ASSERT_FALSE(used[static_cast<std::size_t>(c)]) << "column " << c << " assigned twice";
                    used[static_cast<std::size_t>(c)] = 1;
                    total += cost[r * cols + static_cast<std::size_t>(c)];
                    ++assigned;
                }
                EXPECT_EQ(assigned, std::min(rows, cols));
                EXPECT_NEAR(total, brute_force_min(cost, rows, cols), 1e-9) << rows << "x" << cols << " trial " << trial;
                ++cases;
            }
    EXPECT_EQ(cases, 720);
}

TEST(Assignment, EmptyAndInvalidInput) {
    EXPECT_TRUE(xmodal::solve_assignment({}, 0, 0).empty());
    EXPECT_EQ(xmodal::solve_assignment({}, 2, 0), (std::vector<int>{-1, -1}));
    const std::vector<double> three{1, 2, 3};
    EXPECT_NE(error_of([&] { xmodal::solve_assignment(three, 2, 2); }).find("expected rows x cols = 2 x 2"),
              std::string::npos);
    const std::vector<double> nan{1, std::nan("")};
    EXPECT_NE(error_of([&] { xmodal::solve_assignment(nan, 1, 2); }).find("not finite"), std::string::npos);
}

// Boxes 10 px high on one row: IoU is the overlap of the x intervals over their union.
MotObject strip(int id, float x1, float x2) { return {id, {x1, 0.f, x2, 10.f}}; }

TEST(MotMetrics, PerfectTrackingScoresOne) {
    MotEvaluator eval;
    for (int f = 0; f < 3; ++f) {
        const float x = 5.f * static_cast<float>(f);
        const std::vector<MotObject> truth{strip(1, x, x + 10), strip(2, x + 50, x + 60)};
        const std::vector<MotObject> hyps{strip(7, x, x + 10), strip(9, x + 50, x + 60)};
        eval.add_frame(truth, hyps);
    }
    const auto s = eval.summary();
    EXPECT_EQ(s.frames, 3);
    EXPECT_EQ(s.ground_truth, 6);
    EXPECT_EQ(s.matches, 6);
    EXPECT_EQ(s.false_positives + s.misses + s.id_switches, 0);
    EXPECT_DOUBLE_EQ(s.mota, 1.0);
    EXPECT_DOUBLE_EQ(s.motp, 1.0);
    EXPECT_DOUBLE_EQ(s.idf1, 1.0);
}

TEST(MotMetrics, IdSwitchCountsOnceAndHalvesIdf1) {
    // Truth 1 is followed by hypothesis 10 for two frames, then by 11 for two frames.
    MotEvaluator eval;
    for (int f = 0; f < 4; ++f) {
        const std::vector<MotObject> truth{strip(1, 0, 10)};
        const std::vector<MotObject> hyps{strip(f < 2 ? 10 : 11, 0, 10)};
        eval.add_frame(truth, hyps);
    }
    const auto s = eval.summary();
    EXPECT_EQ(s.id_switches, 1);
    EXPECT_EQ(s.matches, 4);
    EXPECT_DOUBLE_EQ(s.mota, 0.75);  // 1 - 1/4
    EXPECT_DOUBLE_EQ(s.idf1, 0.5);   // best mapping shares 2 frames: 2*2 / (4 + 4)
}

TEST(MotMetrics, MissesAndFalsePositives) {
    MotEvaluator eval;
    // Frame 0: the hypothesis overlaps by IoU 5/15 < 0.5: one miss and one false positive.
    eval.add_frame(std::vector<MotObject>{strip(1, 0, 10)}, std::vector<MotObject>{strip(5, 5, 15)});
    // Frame 1: matched (IoU 8/12 = 0.667) and a second, unrelated hypothesis.
    eval.add_frame(std::vector<MotObject>{strip(1, 0, 10)}, std::vector<MotObject>{strip(5, 2, 12), strip(6, 100, 110)});
    // Frame 2: nothing reported.
    eval.add_frame(std::vector<MotObject>{strip(1, 0, 10)}, {});
    const auto s = eval.summary();
    EXPECT_EQ(s.ground_truth, 3);
    EXPECT_EQ(s.hypotheses, 3);
    EXPECT_EQ(s.matches, 1);
    EXPECT_EQ(s.misses, 2);
    EXPECT_EQ(s.false_positives, 2);
    EXPECT_EQ(s.id_switches, 0);
    EXPECT_DOUBLE_EQ(s.mota, 1.0 - 4.0 / 3.0);
    EXPECT_NEAR(s.motp, 8.0 / 12.0, 1e-6);
    EXPECT_NEAR(s.idf1, 2.0 * 1 / 6, 1e-12);
}

TEST(MotMetrics, KeepsAValidCorrespondenceOverABetterOverlap) {
    // CLEAR-MOT: truth 1 was matched to 10; on frame 1 hypothesis 10 still overlaps (IoU 0.667)
    // though 11 overlaps better (IoU 1). The correspondence is kept: no switch, 11 is a false positive.
    MotEvaluator eval;
    eval.add_frame(std::vector<MotObject>{strip(1, 0, 10)}, std::vector<MotObject>{strip(10, 0, 10)});
    eval.add_frame(std::vector<MotObject>{strip(1, 0, 10)}, std::vector<MotObject>{strip(10, 2, 12), strip(11, 0, 10)});
    const auto s = eval.summary();
    EXPECT_EQ(s.id_switches, 0);
    EXPECT_EQ(s.false_positives, 1);
    EXPECT_EQ(s.matches, 2);
}

TEST(MotMetrics, SwitchAfterAGapComparesWithTheLastMatch) {
    MotEvaluator eval;
    eval.add_frame(std::vector<MotObject>{strip(1, 0, 10)}, std::vector<MotObject>{strip(10, 0, 10)});
    eval.add_frame(std::vector<MotObject>{strip(1, 0, 10)}, {});
    eval.add_frame(std::vector<MotObject>{strip(1, 0, 10)}, std::vector<MotObject>{strip(11, 0, 10)});
    eval.add_frame(std::vector<MotObject>{strip(1, 0, 10)}, std::vector<MotObject>{strip(11, 0, 10)});
    const auto s = eval.summary();
    EXPECT_EQ(s.id_switches, 1);
    EXPECT_EQ(s.misses, 1);
    EXPECT_DOUBLE_EQ(s.mota, 0.5);  // 1 - (1 miss + 1 switch) / 4
}

TEST(MotMetrics, OptimalNotGreedyMatching) {
    // a=[0,10], b=[4,14]; x=[1,11] overlaps a (0.82) and b (0.54); y=[-2,8] overlaps only a (0.67).
    // Greedy best-IoU-first takes a-x and leaves b unmatched; the optimum matches both.
    MotEvaluator eval;
    eval.add_frame(std::vector<MotObject>{strip(1, 0, 10), strip(2, 4, 14)},
                   std::vector<MotObject>{strip(10, 1, 11), strip(11, -2, 8)});
    const auto s = eval.summary();
    EXPECT_EQ(s.matches, 2);
    EXPECT_EQ(s.misses, 0);
    EXPECT_EQ(s.false_positives, 0);
}

TEST(MotMetrics, RejectsDuplicateIdsAndBadThreshold) {
    MotEvaluator eval;
    const std::vector<MotObject> twice{strip(3, 0, 10), strip(3, 20, 30)};
    EXPECT_NE(error_of([&] { eval.add_frame(twice, {}); }).find("ground-truth id 3 appears twice"), std::string::npos);
    EXPECT_NE(error_of([&] { eval.add_frame({}, twice); }).find("hypothesis id 3 appears twice"), std::string::npos);
    EXPECT_NE(error_of([] { MotEvaluator bad(0.f); }).find("iou_threshold 0"), std::string::npos);
    EXPECT_DOUBLE_EQ(MotEvaluator().summary().mota, 1.0);  // no ground truth: nothing to miss
}

}  // namespace
