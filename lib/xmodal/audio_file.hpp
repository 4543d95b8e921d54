// Decoding audio files to mono float samples at a chosen rate, with FFmpeg (libavformat,
// libavcodec, libswresample): any container/codec FFmpeg reads, any channel count (downmixed),
// any rate (resampled). Used by tools, tests and samples; live streams come through GStreamer.
#pragma once

#include <string>
#include <vector>

namespace xmodal {

// Samples in [-1, 1]. Throws xmodal::Error naming the file and what failed (no audio stream,
// unsupported codec, decode error).
std::vector<float> decode_audio_file(const std::string& path, int sample_rate);

}  // namespace xmodal
