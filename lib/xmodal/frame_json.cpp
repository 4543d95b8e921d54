#include "xmodal/frame_json.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <string_view>

#include "xmodal/error.hpp"

namespace xmodal {

namespace {

using json = nlohmann::json;

// Keys the schema owns; an extra field of the same name would overwrite (or be overwritten by) them.
constexpr std::string_view frame_keys[] = {"frame_number", "objects", "resolution", "schema", "source", "timestamp"};
constexpr std::string_view object_keys[] = {"detection", "h", "id", "region_id", "roi_type", "tracking", "w", "x", "y"};

json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

template <std::size_t N>
void merge_extra(json& into, const JsonFields& extra, const std::string_view (&reserved)[N], const std::string& where) {
    for (const auto& [name, value] : extra) {
        if (std::find(std::begin(reserved), std::end(reserved), name) != std::end(reserved))
            fail(where, ": user field \"", name, "\" has the name of a schema key (", frame_json_schema,
                 "); rename the structure that carries it");
        if (into.contains(name)) fail(where, ": user field \"", name, "\" appears twice; rename one of them");
        into[name] = value;
    }
}

json object_to_json(const ObjectRecord& o, std::size_t index) {
    json object = {
        {"detection",
         {{"bounding_box",
           {{"x_min", finite_or_null(o.x_min)},
            {"y_min", finite_or_null(o.y_min)},
            {"x_max", finite_or_null(o.x_max)},
            {"y_max", finite_or_null(o.y_max)}}},
          {"confidence", finite_or_null(o.confidence)},
          {"label", o.label},
          {"label_id", o.label_id}}},
        {"region_id", o.region_id},
        {"roi_type", o.label},
        {"x", o.x},
        {"y", o.y},
        {"w", o.w},
        {"h", o.h},
    };
    // As in DL Streamer, "id" is there only for tracked objects.
    if (o.track_id != 0) object["id"] = o.track_id;
    if (!o.track_state.empty()) object["tracking"] = {{"state", o.track_state}};
    std::string where = "frame JSON object ";
    where.append(std::to_string(index)).append(" (\"").append(o.label).append("\")");
    merge_extra(object, o.extra, object_keys, where);
    return object;
}

}  // namespace

json frame_to_json(const FrameRecord& frame) {
    if (frame.width <= 0 || frame.height <= 0)
        fail("frame JSON: resolution ", frame.width, "x", frame.height, " is not positive (frame ", frame.frame_number,
             " of source \"", frame.source, "\")");
    json objects = json::array();
    for (std::size_t i = 0; i < frame.objects.size(); ++i) objects.push_back(object_to_json(frame.objects[i], i));
    json document = {
        {"schema", frame_json_schema},
        {"source", frame.source},
        {"frame_number", frame.frame_number},
        {"timestamp", frame.timestamp_ns ? json(*frame.timestamp_ns) : json(nullptr)},
        {"resolution", {{"width", frame.width}, {"height", frame.height}}},
        {"objects", std::move(objects)},
    };
    std::string where = "frame JSON (frame ";
    where.append(std::to_string(frame.frame_number)).append(")");
    merge_extra(document, frame.extra, frame_keys, where);
    return document;
}

std::string frame_json_line(const FrameRecord& frame, int indent) {
    // indent -1 is nlohmann's "one line"; 0 would still break lines.
    return frame_to_json(frame).dump(indent > 0 ? indent : -1, ' ', false, json::error_handler_t::replace);
}

JsonLinesFile::JsonLinesFile(const std::string& path) : path_(path) {
    if (path.empty()) fail("JSON lines file: empty path");
    file_ = std::fopen(path.c_str(), "w");
    if (file_ == nullptr) fail("cannot open JSON lines file \"", path, "\" for writing: ", std::strerror(errno));
}

JsonLinesFile::~JsonLinesFile() {
    if (file_ != nullptr) std::fclose(file_);
}

void JsonLinesFile::write_line(const std::string& line) {
    if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fputc('\n', file_) == EOF)
        fail("cannot write to JSON lines file \"", path_, "\": ", std::strerror(errno));
}

void JsonLinesFile::flush() {
    if (std::fflush(file_) != 0) fail("cannot write to JSON lines file \"", path_, "\": ", std::strerror(errno));
}

}  // namespace xmodal
