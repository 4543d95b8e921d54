// Optimal (minimum total cost) assignment of rows to columns: the linear assignment problem the
// tracker and the MOT evaluator solve every frame. Written here because no Debian package offers
// a C++ solver without pulling a large library (dlib).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace xmodal {

// `cost` is rows x cols, row-major, finite. Assigns min(rows, cols) pairs, each row and column at
// most once, minimising the summed cost (shortest augmenting paths, Jonker-Volgenant style, as
// Crouse 2016 and SciPy's linear_sum_assignment; O(n^2 m)). Returns per row its column, or -1 for
// the rows left over when rows > cols. Ties are broken deterministically.
// Throws xmodal::Error if cost.size() != rows * cols or a cost is not finite.
std::vector<int> solve_assignment(std::span<const double> cost, std::size_t rows, std::size_t cols);

}  // namespace xmodal
