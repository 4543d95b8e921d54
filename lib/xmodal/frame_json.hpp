// One JSON document per video frame: what was seen (objects, their boxes, labels, track ids) and
// when, as one line of JSON Lines. The layout follows DL Streamer's gvametaconvert so its users
// find the same keys; docs/METADATA_JSON.md is the schema ("xmodal-frame-1").
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace xmodal {

// The value of every document's "schema" key. Adding keys keeps it; removing or changing the
// meaning of a key makes it "xmodal-frame-2".
inline constexpr const char* frame_json_schema = "xmodal-frame-1";

// Fields that other elements or users attached, in the order found: the name becomes a key of
// the object (or frame) holding the value.
using JsonFields = std::vector<std::pair<std::string, nlohmann::json>>;

struct ObjectRecord {
    int region_id = 0;        // position of the object in the frame's list, 0-based
    int track_id = 0;         // 0 = not tracked (no "id" key)
    std::string track_state;  // "" = not tracked (no "tracking" key)
    std::string label;
    int label_id = -1;  // -1 = unknown
    double confidence = 0.0;
    int x = 0, y = 0, w = 0, h = 0;                     // box in frame pixels
    double x_min = 0, y_min = 0, x_max = 0, y_max = 0;  // box normalised to 0..1 of the frame
    JsonFields extra;
};

struct FrameRecord {
    std::optional<std::uint64_t> timestamp_ns;  // stream time; nullopt = unknown (JSON null)
    std::string source;
    std::uint64_t frame_number = 0;
    int width = 0, height = 0;
    std::vector<ObjectRecord> objects;
    JsonFields extra;
};

// The document. Throws xmodal::Error if the resolution is not positive or an extra field is named
// like a schema key or like another extra field of the same object/frame (it would be lost).
// Non-finite numbers of the schema's fields become null; JSON has no NaN or infinity.
nlohmann::json frame_to_json(const FrameRecord& frame);

// The document as text, keys sorted (nlohmann's order, which is also DL Streamer's), no trailing
// newline. indent 0 = one line (JSON Lines); > 0 pretty-prints for people. Strings that are not
// valid UTF-8 get U+FFFD for the bad bytes instead of failing.
std::string frame_json_line(const FrameRecord& frame, int indent = 0);

// A JSON Lines file: one document per line, truncated on open.
class JsonLinesFile {
public:
    // Throws xmodal::Error naming the path and the system's reason if it cannot be opened.
    explicit JsonLinesFile(const std::string& path);
    ~JsonLinesFile();
    JsonLinesFile(const JsonLinesFile&) = delete;
    JsonLinesFile& operator=(const JsonLinesFile&) = delete;

    // Appends `line` and a newline; throws naming the path when the write fails (disk full).
    void write_line(const std::string& line);
    // Pushes buffered lines to the OS; throws naming the path on failure.
    void flush();
    const std::string& path() const { return path_; }

private:
    std::string path_;
    std::FILE* file_ = nullptr;
};

}  // namespace xmodal
