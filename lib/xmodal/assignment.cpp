#include "xmodal/assignment.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "xmodal/error.hpp"

namespace xmodal {

namespace {

// Rows <= cols. Each row in turn finds the shortest augmenting path (Dijkstra on reduced costs
// with dual variables u, v) to a free column and flips the path.
std::vector<int> solve_wide(const std::vector<double>& cost, std::size_t rows, std::size_t cols) {
    const double inf = std::numeric_limits<double>::infinity();
    std::vector<double> u(rows, 0.0), v(cols, 0.0), path_cost(cols);
    std::vector<int> path(cols, -1), col_of_row(rows, -1), row_of_col(cols, -1);
    std::vector<char> row_seen(rows), col_seen(cols);
    std::vector<std::size_t> remaining(cols);

    for (std::size_t current = 0; current < rows; ++current) {
        std::fill(row_seen.begin(), row_seen.end(), 0);
        std::fill(col_seen.begin(), col_seen.end(), 0);
        std::fill(path_cost.begin(), path_cost.end(), inf);
        // Visiting columns from the last one makes ties resolve like SciPy (reproducible results).
        for (std::size_t k = 0; k < cols; ++k) remaining[k] = cols - k - 1;
        std::size_t remaining_count = cols;
        double min_value = 0.0;
        std::size_t row = current;
        int sink = -1;
        while (sink < 0) {
            row_seen[row] = 1;
            std::size_t best_index = 0;
            double lowest = inf;
            for (std::size_t k = 0; k < remaining_count; ++k) {
                const std::size_t col = remaining[k];
                const double reduced = min_value + cost[row * cols + col] - u[row] - v[col];
                if (reduced < path_cost[col]) {
                    path[col] = static_cast<int>(row);
                    path_cost[col] = reduced;
                }
                // Prefer a free column on ties: the path ends sooner.
                if (path_cost[col] < lowest || (path_cost[col] == lowest && row_of_col[col] < 0)) {
                    lowest = path_cost[col];
                    best_index = k;
                }
            }
            min_value = lowest;
            const std::size_t col = remaining[best_index];
            col_seen[col] = 1;
            remaining[best_index] = remaining[--remaining_count];
            if (row_of_col[col] < 0)
                sink = static_cast<int>(col);
            else
                row = static_cast<std::size_t>(row_of_col[col]);
        }
        // Dual update keeps the reduced costs of the assignment at zero.
        u[current] += min_value;
        for (std::size_t r = 0; r < rows; ++r)
            if (row_seen[r] && r != current) u[r] += min_value - path_cost[static_cast<std::size_t>(col_of_row[r])];
        for (std::size_t c = 0; c < cols; ++c)
            if (col_seen[c]) v[c] -= min_value - path_cost[c];
        // Flip the augmenting path back to the current row.
        int col = sink;
        while (true) {
            const int r = path[static_cast<std::size_t>(col)];
            row_of_col[static_cast<std::size_t>(col)] = r;
            std::swap(col_of_row[static_cast<std::size_t>(r)], col);
            if (static_cast<std::size_t>(r) == current) break;
        }
    }
    return col_of_row;
}

}  // namespace

std::vector<int> solve_assignment(std::span<const double> cost, std::size_t rows, std::size_t cols) {
    if (cost.size() != rows * cols)
        fail("solve_assignment: cost has ", cost.size(), " entries, expected rows x cols = ", rows, " x ", cols);
    for (double c : cost)
        if (!std::isfinite(c)) fail("solve_assignment: cost ", c, " is not finite");
    if (rows == 0 || cols == 0) return std::vector<int>(rows, -1);
    if (rows <= cols) return solve_wide(std::vector<double>(cost.begin(), cost.end()), rows, cols);
    // More rows than columns: solve the transpose, then invert the result.
    std::vector<double> transposed(rows * cols);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) transposed[c * rows + r] = cost[r * cols + c];
    const std::vector<int> row_of_col = solve_wide(transposed, cols, rows);
    std::vector<int> col_of_row(rows, -1);
    for (std::size_t c = 0; c < cols; ++c) col_of_row[static_cast<std::size_t>(row_of_col[c])] = static_cast<int>(c);
    return col_of_row;
}

}  // namespace xmodal
