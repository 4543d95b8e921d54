// xmdetect — runs a detection model on raw video frames and attaches one
// GstVideoRegionOfInterestMeta per object with a "detection" structure (plugins/xm_objects.hpp).
//
//   gst-launch-1.0 filesrc location=clip.mp4 ! decodebin ! xmdetect model-info=models/yolox_nano.json ! fakesink
//
// The model, its description, preprocessing and decoding are lib/xmodal/object_detector.hpp;
// this file maps properties, caps and buffers to it. Two things are element-level:
//  - inference-interval: the detector runs on every Nth frame; every frame carries the
//    XmodalInferenceMeta marker saying whether it ran, so xmtrack can predict in between;
//  - batch-size: frames to infer are held until batch-size of them have arrived (or EOS, a caps
//    change, a flush), then run as one batch and pushed in order; the latency query adds the
//    frames held;
//  - nireq: batches in flight. With 2, the next batch is converted on the streaming thread while
//    the model runs the current one on the compute thread (ObjectDetector::submit/collect), so
//    preprocessing leaves the inference path; each batch is pushed when the next is submitted.
#include "gstxmdetect.hpp"

#include <gst/base/gstbasetransform.h>
#include <gst/video/video.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "xm_objects.hpp"
#include "xmodal/error.hpp"
#include "xmodal/object_detector.hpp"

GST_DEBUG_CATEGORY_STATIC(gst_xm_detect_debug);
#define GST_CAT_DEFAULT gst_xm_detect_debug

namespace {

enum Property {
    PROP_0,
    PROP_MODEL,
    PROP_MODEL_INFO,
    PROP_LABELS,
    PROP_DEVICE,
    PROP_PRECISION,
    PROP_THRESHOLD,
    PROP_NMS_THRESHOLD,
    PROP_CLASS_AGNOSTIC_NMS,
    PROP_CLASSES,
    PROP_INFERENCE_INTERVAL,
    PROP_BATCH_SIZE,
    PROP_NIREQ,
};

constexpr double default_threshold = 0.3;
constexpr double default_nms_threshold = 0.45;
constexpr int max_batch_size = 64;
constexpr int max_nireq = 8;

#define XM_DETECT_FORMATS "{ I420, NV12, RGB, BGR, RGBx, BGRx, RGBA, BGRA }"

GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(XM_DETECT_FORMATS)));
GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(XM_DETECT_FORMATS)));

GType precision_get_type() {
    static GType type = 0;
    if (g_once_init_enter(&type)) {
        static const GEnumValue values[] = {
            {static_cast<gint>(xmodal::PrecisionChoice::automatic), "bf16 where the device computes it natively, else f32", "auto"},
            {static_cast<gint>(xmodal::PrecisionChoice::f32), "32-bit float", "f32"},
            {static_cast<gint>(xmodal::PrecisionChoice::bf16), "bfloat16 convolutions and matrix products (f32 with a warning where not native)", "bf16"},
            {0, nullptr, nullptr},
        };
        g_once_init_leave(&type, g_enum_register_static("GstXmDetectPrecision", values));
    }
    return type;
}

struct Pending {
    GstBuffer* buffer;
    bool infer;
};

// A batch handed to the detector (submitted) or, with nothing to infer, only waiting behind one.
struct InFlight {
    std::vector<Pending> frames;
    bool submitted;
};

}  // namespace

struct _GstXmDetect {
    GstBaseTransform parent;

    // Properties (under the object lock).
    gchar* model;
    gchar* model_info;
    gchar* labels;
    gchar* device;
    xmodal::PrecisionChoice precision;
    gdouble threshold;
    gdouble nms_threshold;
    gboolean class_agnostic_nms;
    gchar* classes;
    gint inference_interval;
    gint batch_size;
    gint nireq;

    // Streaming state (streaming thread; created in start(), dropped in stop()).
    std::unique_ptr<xmodal::ObjectDetector>* detector;
    GstVideoInfo info;
    guint64 frame_number;
    std::deque<Pending>* pending;   // in arrival order, waiting for the batch to fill
    std::deque<GstBuffer*>* ready;  // processed, waiting to be pushed
    int batch_count;                // frames in `pending` that need inference
    std::deque<InFlight>* in_flight;  // nireq > 1: batches the detector holds, oldest first
    int submitted_count;              // of them, those submitted to the detector
    int active_interval, active_batch, active_nireq;
};

G_DEFINE_TYPE(GstXmDetect, gst_xm_detect, GST_TYPE_BASE_TRANSFORM)
GST_ELEMENT_REGISTER_DEFINE(xmdetect, "xmdetect", GST_RANK_NONE, GST_TYPE_XM_DETECT)

namespace {

xmodal::VideoFrameView view_of(GstVideoFrame& frame) {
    xmodal::VideoFrameView view;
    xmodal::parse_pixel_format(gst_video_format_to_string(GST_VIDEO_FRAME_FORMAT(&frame)), view.format);
    view.width = GST_VIDEO_FRAME_WIDTH(&frame), view.height = GST_VIDEO_FRAME_HEIGHT(&frame);
    for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES(&frame) && p < 3; ++p) {
        view.planes[p] = static_cast<std::uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, p));
        view.strides[p] = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, p);
    }
    const GstVideoColorimetry& colorimetry = frame.info.colorimetry;
    view.yuv_matrix = colorimetry.matrix == GST_VIDEO_COLOR_MATRIX_BT709 ? xmodal::YuvMatrix::bt709 : xmodal::YuvMatrix::bt601;
    view.yuv_full_range = colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255;
    return view;
}

// Maps the pending frames that need inference and hands their views to `use`; unmaps after.
template <class Use>
GstFlowReturn with_mapped_frames(GstXmDetect* self, const std::vector<Pending>& pending, Use use) {
    std::vector<GstVideoFrame> frames;
    std::vector<xmodal::VideoFrameView> views;
    frames.reserve(pending.size());
    for (const Pending& p : pending)
        if (p.infer) {
            frames.emplace_back();
            if (!gst_video_frame_map(&frames.back(), &self->info, p.buffer, GST_MAP_READ)) {
                frames.pop_back();
                for (auto& f : frames) gst_video_frame_unmap(&f);
                GST_ELEMENT_ERROR(self, STREAM, FAILED, ("xmdetect: cannot map a video frame for reading"),
                                  ("buffer of %" G_GSIZE_FORMAT " bytes for caps of %" G_GSIZE_FORMAT, gst_buffer_get_size(p.buffer),
                                   GST_VIDEO_INFO_SIZE(&self->info)));
                return GST_FLOW_ERROR;
            }
            views.push_back(view_of(frames.back()));
        }
    GstFlowReturn ret = GST_FLOW_OK;
    try {
        if (!views.empty()) use(views);
    } catch (const std::exception& e) {
        GST_ELEMENT_ERROR(self, STREAM, FAILED, ("xmdetect: %s", e.what()), (nullptr));
        ret = GST_FLOW_ERROR;
    }
    for (auto& f : frames) gst_video_frame_unmap(&f);
    return ret;
}

// Attaches the detections (one list per frame that was inferred) and the inference marker, and
// moves the frames to `ready` in arrival order.
void finish_frames(GstXmDetect* self, const std::vector<Pending>& pending,
                   const std::vector<std::vector<xmodal::Detection>>& detections) {
    const std::string& model = (*self->detector)->model_path();
    const int width = GST_VIDEO_INFO_WIDTH(&self->info), height = GST_VIDEO_INFO_HEIGHT(&self->info);
    // One list per inferred frame: the detector returns one per view it was given.
    g_assert(static_cast<std::size_t>(std::count_if(pending.begin(), pending.end(), [](const Pending& p) { return p.infer; })) ==
             detections.size());
    std::size_t next = 0;
    for (const Pending& p : pending) {
        if (p.infer) {
            for (const auto& d : detections[next])
                xmodal::gst::add_object(p.buffer, width, height, d.label, d.label_id, d.confidence, d.x1, d.y1, d.x2, d.y2);
            GST_LOG_OBJECT(self, "frame %" GST_TIME_FORMAT ": %zu objects", GST_TIME_ARGS(GST_BUFFER_PTS(p.buffer)),
                           detections[next].size());
            ++next;
        }
        xmodal::gst::mark_inference(p.buffer, p.infer, model);
        self->ready->push_back(p.buffer);
    }
}

// Collects the oldest in-flight batch from the detector and moves its frames to `ready`.
GstFlowReturn finish_oldest(GstXmDetect* self) {
    InFlight batch = std::move(self->in_flight->front());
    self->in_flight->pop_front();
    std::vector<std::vector<xmodal::Detection>> detections;
    GstFlowReturn ret = GST_FLOW_OK;
    if (batch.submitted) {
        --self->submitted_count;
        try {
            detections = (*self->detector)->collect();
        } catch (const std::exception& e) {
            GST_ELEMENT_ERROR(self, STREAM, FAILED, ("xmdetect: %s", e.what()), (nullptr));
            ret = GST_FLOW_ERROR;
        }
    }
    if (ret != GST_FLOW_OK) {
        for (auto& p : batch.frames) gst_buffer_unref(p.buffer);
        return ret;
    }
    finish_frames(self, batch.frames, detections);
    return GST_FLOW_OK;
}

// Runs (nireq 1) or submits (nireq > 1) the pending frames that need inference. Frames whose
// results are known move to `ready` in arrival order; with nireq > 1 that is every batch but
// the newest nireq - 1.
GstFlowReturn process_pending(GstXmDetect* self) {
    std::vector<Pending> pending(self->pending->begin(), self->pending->end());
    self->pending->clear();
    self->batch_count = 0;
    if (self->active_nireq == 1) {
        std::vector<std::vector<xmodal::Detection>> detections;
        GstFlowReturn ret = with_mapped_frames(self, pending, [&](const std::vector<xmodal::VideoFrameView>& views) {
            detections = (*self->detector)->detect(views);
        });
        if (ret != GST_FLOW_OK) {
            for (auto& p : pending) gst_buffer_unref(p.buffer);
            return ret;
        }
        finish_frames(self, pending, detections);
        return GST_FLOW_OK;
    }
    bool submitted = false;
    GstFlowReturn ret = with_mapped_frames(self, pending, [&](const std::vector<xmodal::VideoFrameView>& views) {
        (*self->detector)->submit(views);
        submitted = true;
    });
    if (ret != GST_FLOW_OK) {
        for (auto& p : pending) gst_buffer_unref(p.buffer);
        return ret;
    }
    self->in_flight->push_back({std::move(pending), submitted});
    if (submitted) ++self->submitted_count;
    // Keep nireq - 1 batches running or queued; frames with nothing to infer leave as soon as
    // nothing is ahead of them.
    while (ret == GST_FLOW_OK && !self->in_flight->empty() &&
           (!self->in_flight->front().submitted || self->submitted_count >= self->active_nireq))
        ret = finish_oldest(self);
    return ret;
}

// Processes a partly filled batch and pushes everything (EOS, caps change).
GstFlowReturn drain(GstXmDetect* self) {
    if (self->pending == nullptr) return GST_FLOW_OK;
    GstFlowReturn ret = self->pending->empty() ? GST_FLOW_OK : process_pending(self);
    while (!self->in_flight->empty())
        if (GstFlowReturn r = finish_oldest(self); ret == GST_FLOW_OK) ret = r;
    while (!self->ready->empty()) {
        GstBuffer* buffer = self->ready->front();
        self->ready->pop_front();
        if (ret == GST_FLOW_OK)
            ret = gst_pad_push(GST_BASE_TRANSFORM_SRC_PAD(self), buffer);
        else
            gst_buffer_unref(buffer);
    }
    return ret;
}

void drop_queued(GstXmDetect* self) {
    if (self->pending != nullptr) {
        for (auto& p : *self->pending) gst_buffer_unref(p.buffer);
        self->pending->clear();
    }
    if (self->in_flight != nullptr) {
        // Submitted batches still run on the compute thread: wait for them, drop the results.
        for (auto& batch : *self->in_flight) {
            if (batch.submitted) {
                try {
                    (*self->detector)->collect();
                } catch (const std::exception& e) {
                    GST_DEBUG_OBJECT(self, "dropped batch failed: %s", e.what());
                }
            }
            for (auto& p : batch.frames) gst_buffer_unref(p.buffer);
        }
        self->in_flight->clear();
        self->submitted_count = 0;
    }
    if (self->ready != nullptr) {
        for (auto* b : *self->ready) gst_buffer_unref(b);
        self->ready->clear();
    }
    self->batch_count = 0;
}

gboolean xm_detect_start(GstBaseTransform* trans) {
    auto* self = GST_XM_DETECT(trans);
    xmodal::ObjectDetectorOptions options;
    GST_OBJECT_LOCK(self);
    options.model = self->model ? self->model : "";
    options.model_info = self->model_info ? self->model_info : "";
    options.labels = self->labels ? self->labels : "";
    options.device = self->device ? self->device : "cpu";
    options.precision = self->precision;
    options.threshold = static_cast<float>(self->threshold);
    options.nms_threshold = static_cast<float>(self->nms_threshold);
    options.class_agnostic_nms = self->class_agnostic_nms;
    options.classes = xmodal::split_label_list(self->classes ? self->classes : "");
    const int interval = self->inference_interval, batch = self->batch_size, nireq = self->nireq;
    GST_OBJECT_UNLOCK(self);

    if (interval < 1) {
        GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("xmdetect: inference-interval %d is out of range: expected 1 or more", interval), (nullptr));
        return FALSE;
    }
    if (batch < 1 || batch > max_batch_size) {
        GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("xmdetect: batch-size %d is out of range: expected 1..%d", batch, max_batch_size), (nullptr));
        return FALSE;
    }
    if (nireq < 1 || nireq > max_nireq) {
        GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("xmdetect: nireq %d is out of range: expected 1..%d", nireq, max_nireq), (nullptr));
        return FALSE;
    }
    try {
        auto detector = std::make_unique<xmodal::ObjectDetector>(options);
        detector->set_max_in_flight(nireq);
        GST_INFO_OBJECT(self, "model %s (%s), %zu labels, input %dx%d%s", detector->model_path().c_str(),
                        detector->precision_name().c_str(), detector->info().labels.size(), detector->info().input.width,
                        detector->info().input.height, detector->batchable() ? "" : ", fixed batch 1");
        if (batch > 1 && !detector->batchable())
            GST_WARNING_OBJECT(self, "batch-size %d: the model %s is fixed to batch 1, batched frames run one by one", batch,
                               detector->model_path().c_str());
        self->detector = new std::unique_ptr<xmodal::ObjectDetector>(std::move(detector));
    } catch (const std::exception& e) {
        const std::string message = e.what();
        if (message.find("does not exist") != std::string::npos || message.find("cannot open") != std::string::npos)
            GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND, ("xmdetect: %s", message.c_str()), (nullptr));
        else
            GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("xmdetect: %s", message.c_str()), (nullptr));
        return FALSE;
    }
    self->pending = new std::deque<Pending>();
    self->ready = new std::deque<GstBuffer*>();
    self->in_flight = new std::deque<InFlight>();
    self->batch_count = 0;
    self->submitted_count = 0;
    self->frame_number = 0;
    self->active_interval = interval, self->active_batch = batch, self->active_nireq = nireq;
    return TRUE;
}

gboolean xm_detect_stop(GstBaseTransform* trans) {
    auto* self = GST_XM_DETECT(trans);
    drop_queued(self);
    delete self->pending, self->pending = nullptr;
    delete self->ready, self->ready = nullptr;
    delete self->in_flight, self->in_flight = nullptr;
    delete self->detector, self->detector = nullptr;
    return TRUE;
}

gboolean xm_detect_set_caps(GstBaseTransform* trans, GstCaps* incaps, GstCaps* /*outcaps*/) {
    auto* self = GST_XM_DETECT(trans);
    GstVideoInfo info;
    if (!gst_video_info_from_caps(&info, incaps)) {
        gchar* text = gst_caps_to_string(incaps);
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("xmdetect: cannot parse caps %s", text), (nullptr));
        g_free(text);
        return FALSE;
    }
    self->info = info;
    return TRUE;
}

GstFlowReturn xm_detect_submit_input_buffer(GstBaseTransform* trans, gboolean /*is_discont*/, GstBuffer* input) {
    auto* self = GST_XM_DETECT(trans);
    if (self->detector == nullptr) {
        gst_buffer_unref(input);
        return GST_FLOW_FLUSHING;
    }
    // Metas are added to the buffer: make it writable (a shallow copy when shared; pixels are not copied).
    GstBuffer* buffer = gst_buffer_make_writable(input);
    const bool infer = self->frame_number++ % static_cast<guint64>(self->active_interval) == 0;
    self->pending->push_back({buffer, infer});
    if (infer) ++self->batch_count;
    // Full batch, or a skipped frame with nothing ahead of it: nothing to wait for.
    if (self->batch_count >= self->active_batch || self->batch_count == 0) return process_pending(self);
    return GST_FLOW_OK;
}

GstFlowReturn xm_detect_generate_output(GstBaseTransform* trans, GstBuffer** output) {
    auto* self = GST_XM_DETECT(trans);
    *output = nullptr;
    if (self->ready != nullptr && !self->ready->empty()) {
        *output = self->ready->front();
        self->ready->pop_front();
    }
    return GST_FLOW_OK;
}

gboolean xm_detect_sink_event(GstBaseTransform* trans, GstEvent* event) {
    auto* self = GST_XM_DETECT(trans);
    switch (GST_EVENT_TYPE(event)) {
        case GST_EVENT_EOS:
        case GST_EVENT_CAPS:  // held frames were mapped with the old caps: finish them first
        case GST_EVENT_SEGMENT:
        case GST_EVENT_GAP:
            if (drain(self) != GST_FLOW_OK && GST_EVENT_TYPE(event) == GST_EVENT_EOS)
                GST_DEBUG_OBJECT(self, "draining at EOS did not push all frames");
            break;
        case GST_EVENT_FLUSH_STOP:
            drop_queued(self);
            self->frame_number = 0;
            break;
        default: break;
    }
    return GST_BASE_TRANSFORM_CLASS(gst_xm_detect_parent_class)->sink_event(trans, event);
}

// Held frames add to the latency: (batch-size x nireq - 1) frames (x inference-interval).
gboolean xm_detect_query(GstBaseTransform* trans, GstPadDirection direction, GstQuery* query) {
    auto* self = GST_XM_DETECT(trans);
    gboolean result = GST_BASE_TRANSFORM_CLASS(gst_xm_detect_parent_class)->query(trans, direction, query);
    if (result && direction == GST_PAD_SRC && GST_QUERY_TYPE(query) == GST_QUERY_LATENCY &&
        self->active_batch * self->active_nireq > 1 &&
        GST_VIDEO_INFO_FPS_N(&self->info) > 0) {
        gboolean live;
        GstClockTime min_latency, max_latency;
        gst_query_parse_latency(query, &live, &min_latency, &max_latency);
        const GstClockTime held = gst_util_uint64_scale_int(GST_SECOND * static_cast<guint64>(self->active_batch * self->active_nireq - 1) *
                                                                static_cast<guint64>(self->active_interval),
                                                            GST_VIDEO_INFO_FPS_D(&self->info), GST_VIDEO_INFO_FPS_N(&self->info));
        min_latency += held;
        if (GST_CLOCK_TIME_IS_VALID(max_latency)) max_latency += held;
        gst_query_set_latency(query, live, min_latency, max_latency);
    }
    return result;
}

void xm_detect_set_property(GObject* object, guint id, const GValue* value, GParamSpec* pspec) {
    auto* self = GST_XM_DETECT(object);
    auto set_string = [&](gchar*& field) {
        g_free(field);
        field = g_value_dup_string(value);
    };
    GST_OBJECT_LOCK(self);
    switch (id) {
        case PROP_MODEL: set_string(self->model); break;
        case PROP_MODEL_INFO: set_string(self->model_info); break;
        case PROP_LABELS: set_string(self->labels); break;
        case PROP_DEVICE: set_string(self->device); break;
        case PROP_PRECISION: self->precision = static_cast<xmodal::PrecisionChoice>(g_value_get_enum(value)); break;
        case PROP_THRESHOLD: self->threshold = g_value_get_double(value); break;
        case PROP_NMS_THRESHOLD: self->nms_threshold = g_value_get_double(value); break;
        case PROP_CLASS_AGNOSTIC_NMS: self->class_agnostic_nms = g_value_get_boolean(value); break;
        case PROP_CLASSES: set_string(self->classes); break;
        case PROP_INFERENCE_INTERVAL: self->inference_interval = g_value_get_int(value); break;
        case PROP_BATCH_SIZE: self->batch_size = g_value_get_int(value); break;
        case PROP_NIREQ: self->nireq = g_value_get_int(value); break;
        default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
    }
    GST_OBJECT_UNLOCK(self);
}

void xm_detect_get_property(GObject* object, guint id, GValue* value, GParamSpec* pspec) {
    auto* self = GST_XM_DETECT(object);
    GST_OBJECT_LOCK(self);
    switch (id) {
        case PROP_MODEL: g_value_set_string(value, self->model); break;
        case PROP_MODEL_INFO: g_value_set_string(value, self->model_info); break;
        case PROP_LABELS: g_value_set_string(value, self->labels); break;
        case PROP_DEVICE: g_value_set_string(value, self->device); break;
        case PROP_PRECISION: g_value_set_enum(value, static_cast<gint>(self->precision)); break;
        case PROP_THRESHOLD: g_value_set_double(value, self->threshold); break;
        case PROP_NMS_THRESHOLD: g_value_set_double(value, self->nms_threshold); break;
        case PROP_CLASS_AGNOSTIC_NMS: g_value_set_boolean(value, self->class_agnostic_nms); break;
        case PROP_CLASSES: g_value_set_string(value, self->classes); break;
        case PROP_INFERENCE_INTERVAL: g_value_set_int(value, self->inference_interval); break;
        case PROP_BATCH_SIZE: g_value_set_int(value, self->batch_size); break;
        case PROP_NIREQ: g_value_set_int(value, self->nireq); break;
        default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
    }
    GST_OBJECT_UNLOCK(self);
}

void xm_detect_finalize(GObject* object) {
    auto* self = GST_XM_DETECT(object);
    g_free(self->model), g_free(self->model_info), g_free(self->labels), g_free(self->device), g_free(self->classes);
    G_OBJECT_CLASS(gst_xm_detect_parent_class)->finalize(object);
}

}  // namespace

static void gst_xm_detect_class_init(GstXmDetectClass* klass) {
    auto* gobject_class = G_OBJECT_CLASS(klass);
    auto* element_class = GST_ELEMENT_CLASS(klass);
    auto* trans_class = GST_BASE_TRANSFORM_CLASS(klass);
    GST_DEBUG_CATEGORY_INIT(gst_xm_detect_debug, "xmdetect", 0, "xmodal object detection");

    gobject_class->set_property = xm_detect_set_property;
    gobject_class->get_property = xm_detect_get_property;
    gobject_class->finalize = xm_detect_finalize;
    const auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

    g_object_class_install_property(gobject_class, PROP_MODEL,
        g_param_spec_string("model", "Model", "Model weights (.onnx or .tflite); default: the \"model\" named by model-info", nullptr, flags));
    g_object_class_install_property(gobject_class, PROP_MODEL_INFO,
        g_param_spec_string("model-info", "Model description",
                            "JSON description of the model's pre- and post-processing (docs/MODEL_INFO.md), required; "
                            "e.g. models/yolox_nano.json", nullptr, flags));
    g_object_class_install_property(gobject_class, PROP_LABELS,
        g_param_spec_string("labels", "Labels", "Labels file (one per line, line i = class i) overriding the description's labels", nullptr, flags));
    g_object_class_install_property(gobject_class, PROP_DEVICE,
        g_param_spec_string("device", "Device", "Where inference runs: cpu, gpu or gpu:N (a oneDNN GPU engine)", "cpu", flags));
    g_object_class_install_property(gobject_class, PROP_PRECISION,
        g_param_spec_enum("precision", "Precision", "Compute precision of convolutions and matrix products", precision_get_type(),
                          static_cast<gint>(xmodal::PrecisionChoice::automatic), flags));
    // Ranges of the numeric properties are checked when the element starts (a clear error naming
    // the value) rather than by GLib, which only warns and keeps the old value.
    g_object_class_install_property(gobject_class, PROP_THRESHOLD,
        g_param_spec_double("threshold", "Threshold", "Confidence threshold to report an object, 0..1", -G_MAXDOUBLE, G_MAXDOUBLE,
                            default_threshold, flags));
    g_object_class_install_property(gobject_class, PROP_NMS_THRESHOLD,
        g_param_spec_double("nms-threshold", "NMS threshold",
                            "IoU above which the lower-scored of two overlapping boxes is suppressed, 0..1", -G_MAXDOUBLE,
                            G_MAXDOUBLE, default_nms_threshold, flags));
    g_object_class_install_property(gobject_class, PROP_CLASS_AGNOSTIC_NMS,
        g_param_spec_boolean("class-agnostic-nms", "Class-agnostic NMS",
                             "Suppress overlapping boxes whatever their classes (one vehicle seen as car and truck is reported once)",
                             TRUE, flags));
    g_object_class_install_property(gobject_class, PROP_CLASSES,
        g_param_spec_string("classes", "Classes", "Comma-separated labels to report (e.g. \"car,bus,person\"); empty: all", nullptr, flags));
    g_object_class_install_property(gobject_class, PROP_INFERENCE_INTERVAL,
        g_param_spec_int("inference-interval", "Inference interval",
                         "Run the detector on every Nth frame (1 = every frame), 1 or more; skipped frames are marked so "
                         "xmtrack predicts their objects", G_MININT, G_MAXINT, 1, flags));
    g_object_class_install_property(gobject_class, PROP_BATCH_SIZE,
        g_param_spec_int("batch-size", "Batch size",
                         "Frames inferred together, 1..64; frames are held until the batch is full (adds latency)", G_MININT,
                         G_MAXINT, 1, flags));
    g_object_class_install_property(gobject_class, PROP_NIREQ,
        g_param_spec_int("nireq", "Inference requests",
                         "Batches in flight, 1..8: with 2 or more the next batch is converted on the streaming thread "
                         "while the model runs the current one, and frames leave one batch later (adds latency). "
                         "Pays where a core is free beside the inference threads", G_MININT, G_MAXINT, 1, flags));

    gst_element_class_set_static_metadata(element_class, "xmodal object detector", "Filter/Analyzer/Video",
                                          "Detects objects with a model described by data (model-info JSON) and attaches "
                                          "GstVideoRegionOfInterestMeta with a \"detection\" structure",
                                          "xmodal");
    gst_element_class_add_static_pad_template(element_class, &sink_template);
    gst_element_class_add_static_pad_template(element_class, &src_template);

    trans_class->start = xm_detect_start;
    trans_class->stop = xm_detect_stop;
    trans_class->set_caps = xm_detect_set_caps;
    trans_class->submit_input_buffer = xm_detect_submit_input_buffer;
    trans_class->generate_output = xm_detect_generate_output;
    trans_class->sink_event = xm_detect_sink_event;
    trans_class->query = xm_detect_query;
    trans_class->passthrough_on_same_caps = FALSE;
    gst_type_mark_as_plugin_api(precision_get_type(), static_cast<GstPluginAPIFlags>(0));
}

static void gst_xm_detect_init(GstXmDetect* self) {
    self->device = g_strdup("cpu");
    self->precision = xmodal::PrecisionChoice::automatic;
    self->threshold = default_threshold;
    self->nms_threshold = default_nms_threshold;
    self->class_agnostic_nms = TRUE;
    self->inference_interval = 1;
    self->batch_size = 1;
    self->nireq = 1;
    gst_video_info_init(&self->info);
}
