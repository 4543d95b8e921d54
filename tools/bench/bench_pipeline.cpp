// xmodal-bench pipeline: frames per second of the whole video path — decode, xmdetect, xmtrack,
// xmoverlay, xmmetaconvert to JSON, no display, no encoder — on the staged street clip and a 1080p
// clip, in f32 and bf16, at inference-interval 1 and 3; beside the model-only rate measured in
// the same run (ModelRunner on one 416x416 tensor, as xmodal-bench model does), so the pipeline's
// overhead is the ratio pipeline_fps / model_fps at interval 1.
//
// Options select clips, precisions and intervals and change the pipeline's layout: --spare-core
// puts queues after decoding and after xmdetect and sets xmdetect nireq=2 (for OMP_NUM_THREADS
// below the core count); --decoder, --after-detect and --detect-props set the pieces one by one.
//
// The 1080p clip is made once from the staged 1080p photo (imagefreeze ! x264enc, 10 s at 30 fps)
// into the build folder: the project has no real 1080p video, and decoding an H.264 1080p stream
// is the cost a real one would add.
#include <gst/gst.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_support.hpp"

#include "xmodal/device.hpp"
#include "xmodal/error.hpp"
#include "xmodal/runtime.hpp"
#include "xmodal/shared_paths.hpp"

namespace {

using namespace xmodal;
using Clock = std::chrono::steady_clock;

std::string make_1080p_clip(const std::string& folder) {
    const std::string photo = shared_file("media/street_intersection_1080p.jpg");
    const std::string clip = folder + "/street_intersection_1080p_10s.mp4";
    if (std::filesystem::exists(clip)) return clip;
    if (!std::filesystem::exists(photo)) fail("xmodal-bench pipeline: ", photo, " not found (set XMODAL_SHARED)");
    std::filesystem::create_directories(folder);
    const std::string tmp = clip + ".part";
    GError* error = nullptr;
    GstElement* p = gst_parse_launch(("filesrc location=" + photo + " ! jpegdec ! videoconvert ! video/x-raw,format=I420 ! "
                                      "imagefreeze num-buffers=300 ! video/x-raw,framerate=30/1 ! x264enc speed-preset=veryfast "
                                      "bitrate=8000 ! mp4mux ! filesink location=" + tmp).c_str(), &error);
    if (p == nullptr || error != nullptr) fail("xmodal-bench pipeline: cannot make the 1080p clip (is x264enc installed?)");
    gst_element_set_state(p, GST_STATE_PLAYING);
    GstBus* bus = gst_element_get_bus(p);
    GstMessage* m = gst_bus_timed_pop_filtered(bus, GST_CLOCK_TIME_NONE, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    const bool ok = GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS;
    gst_message_unref(m);
    gst_object_unref(bus);
    gst_element_set_state(p, GST_STATE_NULL);
    gst_object_unref(p);
    if (!ok) fail("xmodal-bench pipeline: making the 1080p clip failed");
    std::filesystem::rename(tmp, clip);
    return clip;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Model-only: one 416x416 image through the runtime, median of `reps` runs after a warm-up.
double model_fps(ModelRunner& runner, const std::vector<float>& input, int reps) {
    std::vector<HostTensor> outputs;
    const TensorView view{DataType::f32, {1, 3, 416, 416}, input.data()};
    runner.run({{"images", view}}, outputs);
    std::vector<double> times;
    for (int r = 0; r < reps; ++r) {
        const auto start = Clock::now();
        runner.run({{"images", view}}, outputs);
        times.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
    return 1.0 / median(times);
}

}  // namespace

int pipeline_command(int argc, char** argv) {
    int reps = 1;
    std::string model_info = std::string(XMODAL_SOURCE_DIR) + "/models/yolox_nano.json";
    std::string work = std::string(XMODAL_BUILD_DIR) + "/bench-media";
    std::string only_clip, only_precision, decoder = "decodebin", after_detect, detect_props;
    int only_interval = 0;
    for (int i = 0; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--reps" && i + 1 < argc) reps = std::max(1, std::atoi(argv[++i]));
        else if (a == "--clip" && i + 1 < argc) only_clip = argv[++i];
        else if (a == "--precision" && i + 1 < argc) only_precision = argv[++i];
        else if (a == "--interval" && i + 1 < argc) only_interval = std::atoi(argv[++i]);
        else if (a == "--decoder" && i + 1 < argc) decoder = argv[++i];
        else if (a == "--after-detect" && i + 1 < argc) after_detect = argv[++i];
        else if (a == "--detect-props" && i + 1 < argc) detect_props = argv[++i];
        else if (a == "--spare-core") {
            // The layout for a machine where the model does not take every core (OMP_NUM_THREADS =
            // cores - 1): decoding, drawing and the next frame's conversion run beside inference.
            decoder = "decodebin ! queue max-size-buffers=4";
            after_detect = "queue max-size-buffers=4";
            detect_props = "nireq=2";
        }
        else fail("xmodal-bench pipeline: unknown argument '", a,
                  "' (expected --reps N, --clip street|1080p, --precision f32|bf16, --interval 1|3, --decoder 'CHAIN' (default decodebin), --after-detect 'ELEMENT PROPS', --detect-props 'PROP=VALUE ...', --spare-core)");
    }
    gst_init(nullptr, nullptr);
    if (gst_registry_find_feature(gst_registry_get(), "xmdetect", GST_TYPE_ELEMENT_FACTORY) == nullptr)
        fail("xmodal-bench pipeline: the xmodal plugin is not found (GST_PLUGIN_PATH=build/plugins)");
    const std::string model = shared_file("models/yolox_nano.onnx");
    if (!std::filesystem::exists(model)) fail("xmodal-bench pipeline: ", model, " not found (set XMODAL_SHARED)");

    struct Clip {
        std::string path;
        const char* name;
    };
    std::vector<Clip> clips;
    if (only_clip.empty() || only_clip == "street")
        clips.push_back({shared_file("media/traffic_street_fixedcam.mp4"), "traffic_street_fixedcam.mp4 (640x360)"});
    if (only_clip.empty() || only_clip == "1080p")
        clips.push_back({make_1080p_clip(work), "street_intersection_1080p_10s.mp4 (1920x1080, made from the photo)"});
    if (clips.empty()) fail("xmodal-bench pipeline: --clip must be street or 1080p, not '", only_clip, "'");
    // --decoder is the whole demux/decode chain after filesrc (e.g. "qtdemux ! avdec_h264 max-threads=1").
    const std::string& decode = decoder;
    auto device = Device::open("cpu");
    ModelRunner f32(load_model(model), device, {.precision = DataType::f32});
    ModelRunner bf16(load_model(model), device, {.precision = DataType::bf16});
    const std::vector<float> input(3 * 416 * 416, 114.f);

    for (const auto& clip : clips)
        for (const char* precision : {"f32", "bf16"})
            for (int interval : {1, 3}) {
                if ((!only_precision.empty() && only_precision != precision) || (only_interval && only_interval != interval))
                    continue;
                std::vector<double> fps;
                double model_rate = 0;
                guint64 frames = 0;
                for (int r = 0; r < reps; ++r) {
                    // Model-only right before the pipeline: both see the same machine load.
                    model_rate = model_fps(std::string(precision) == "f32" ? f32 : bf16, input, 20);
                    const std::string description =
                        "filesrc location=" + clip.path + " ! " + decode + " ! xmdetect model-info=" + model_info +
                        " precision=" + precision + " inference-interval=" + std::to_string(interval) +
                        (detect_props.empty() ? "" : " " + detect_props) + (after_detect.empty() ? "" : " ! " + after_detect) + " ! xmtrack ! xmoverlay ! xmmetaconvert ! application/x-json ! fakesink name=out sync=false";
                    const xmodal::bench::PipelineRun run = xmodal::bench::run_to_eos(description, "xmodal-bench pipeline");
                    frames = run.buffers;
                    // Frames after the first over the time since the first: start-up (model load,
                    // plan build, preroll) is not part of the rate.
                    fps.push_back(static_cast<double>(run.buffers - 1) / run.steady_s);
                }
                const double pipeline_rate = median(fps);
                nlohmann::json j = {{"bench", "pipeline"},
                                    {"clip", clip.name},
                                    {"precision", precision},
                                    {"inference_interval", interval},
                                    {"frames", frames},
                                    {"pipeline_fps", std::round(pipeline_rate * 10) / 10},
                                    {"model_only_fps", std::round(model_rate * 10) / 10},
                                    {"pipeline_over_model", std::round(pipeline_rate / model_rate * 1000) / 1000},
                                    {"decode", decode},
                                    {"after_detect", after_detect},
                                    {"detect_props", detect_props},
                                    {"threads", std::getenv("OMP_NUM_THREADS") ? std::getenv("OMP_NUM_THREADS") : "default"},
                                    {"reps", reps}};
                std::printf("%s\n", j.dump().c_str());
                std::fflush(stdout);
            }
    return 0;
}
