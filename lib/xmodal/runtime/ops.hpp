// Internal to the model runtime: operator registration, grouped by file.
#pragma once

#include <map>
#include <string>

#include "xmodal/runtime/plan.hpp"

namespace xmodal::rt {

void register_elementwise_ops(std::map<std::string, OpBuilder>& ops);  // ops_elementwise.cpp
void register_shape_ops(std::map<std::string, OpBuilder>& ops);        // ops_shape.cpp
void register_nn_host_ops(std::map<std::string, OpBuilder>& ops);      // ops_nn_host.cpp

// A plain copy of `id` converted to `to` (the slot itself when it already is).
int cast_slot(PlanBuilder& b, int id, DataType to, const std::string& name, const std::string& where);

}  // namespace xmodal::rt
