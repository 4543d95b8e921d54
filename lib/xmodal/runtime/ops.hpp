// Internal to the model runtime: operator registration, grouped by file.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "xmodal/runtime/plan.hpp"

namespace xmodal::rt {

void register_elementwise_ops(std::map<std::string, OpBuilder>& ops);  // ops_elementwise.cpp
void register_shape_ops(std::map<std::string, OpBuilder>& ops);        // ops_shape.cpp
void register_nn_host_ops(std::map<std::string, OpBuilder>& ops);      // ops_nn_host.cpp

// Resize's attributes and inputs resolved for an input shape (ops_nn_host.cpp); shared by the host
// kernel and the oneDNN resampling path.
struct ResizeSpec {
    std::string mode, transform, nearest_mode;
    Shape out_shape;
    std::vector<double> scales;  // per axis, output/input
};
ResizeSpec resize_spec(NodeContext& c, const Shape& in_shape);

// A plain copy of `id` converted to `to` (the slot itself when it already is).
int cast_slot(PlanBuilder& b, int id, DataType to, const std::string& name, const std::string& where);

}  // namespace xmodal::rt
