// xmflow: counts tracked objects crossing counting lines, per interval, and forecasts the next
// intervals (xmodal::FlowMonitor; counting rules in docs/COUNTING.md, output in
// docs/elements/xmflow.md).
//  - reference point of an object: the bottom centre of its box (where a vehicle touches the
//    road); only tracked objects count (track id > 0) and only where the tracker matched them
//    (state "predicted" boxes are extrapolations and could drift over a line);
//  - time: the buffer's running time, so intervals close on the same clock for live and
//    non-live input; frames without a timestamp are an error;
//  - every frame gets the "XmodalFlowMeta" (running counts of the open interval, the latest
//    report); a frame that closes intervals carries their reports and each is posted as an
//    element message "xmodal-flow"; at EOS the open interval is posted as a partial report
//    (there is no frame left to carry it) before EOS goes on.
// The pixels are not touched: any raw video format passes.
#include "gstxmflow.hpp"

#include <cmath>
#include <exception>
#include <sstream>
#include <vector>

#include "xm_objects.hpp"
#include "xmodal/detection.hpp"
#include "xmodal/error.hpp"
#include "xmodal/line_counter.hpp"

GST_DEBUG_CATEGORY_STATIC(gst_xm_flow_debug);
#define GST_CAT_DEFAULT gst_xm_flow_debug

enum {
    PROP_0,
    PROP_LINES,
    PROP_LINES_FILE,
    PROP_INTERVAL,
    PROP_HORIZON,
    PROP_MODEL,
    PROP_CLASSES,
    PROP_HYSTERESIS,
};

namespace {

constexpr double default_interval_s = 60.0;
const xmodal::LineCounterOptions counting_defaults{};

GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(GST_VIDEO_FORMATS_ALL)));
GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(GST_VIDEO_FORMATS_ALL)));

// "car, bus" -> {"car", "bus"}; blanks around names ignored, empty items skipped.
void take_structure(GValue* array, GstStructure* s) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, GST_TYPE_STRUCTURE);
    g_value_take_boxed(&v, s);
    gst_value_array_append_and_take_value(array, &v);
}

void set_floats(GstStructure* s, const char* field, const std::vector<float>& values) {
    GValue array = G_VALUE_INIT;
    gst_value_array_init(&array, static_cast<guint>(values.size()));
    for (const float f : values) {
        GValue v = G_VALUE_INIT;
        g_value_init(&v, G_TYPE_DOUBLE);
        g_value_set_double(&v, f);
        gst_value_array_append_and_take_value(&array, &v);
    }
    gst_structure_take_value(s, field, &array);
}

// One series: line, direction, count, per-class counts and, in reports, forecast with its band.
void set_series(GstStructure* s, const char* field, const std::vector<xmodal::LineSeries>& series) {
    GValue array = G_VALUE_INIT;
    gst_value_array_init(&array, static_cast<guint>(series.size()));
    for (const xmodal::LineSeries& f : series) {
        GstStructure* item = gst_structure_new("series", "line", G_TYPE_STRING, f.line_name.c_str(), "direction",
                                               G_TYPE_STRING, f.direction > 0 ? "positive" : "negative", "count",
                                               G_TYPE_INT64, static_cast<gint64>(f.count), nullptr);
        GValue classes = G_VALUE_INIT;
        gst_value_array_init(&classes, static_cast<guint>(f.classes.size()));
        for (const xmodal::FlowClassCount& c : f.classes)
            take_structure(&classes, gst_structure_new("class", "label", G_TYPE_STRING, c.label.c_str(), "count",
                                                       G_TYPE_INT64, static_cast<gint64>(c.count), nullptr));
        gst_structure_take_value(item, "classes", &classes);
        if (!f.forecast.empty()) {
            set_floats(item, "forecast", f.forecast);
            set_floats(item, "lower", f.lower);
            set_floats(item, "upper", f.upper);
        }
        take_structure(&array, item);
    }
    gst_structure_take_value(s, field, &array);
}

GstStructure* report_structure(const char* name, const xmodal::IntervalReport& r, std::int64_t interval_ns) {
    GstStructure* s = gst_structure_new(
        name, "index", G_TYPE_INT64, static_cast<gint64>(r.index), "start", G_TYPE_UINT64,
        static_cast<guint64>(r.start_ns), "end", G_TYPE_UINT64, static_cast<guint64>(r.end_ns), "interval",
        G_TYPE_DOUBLE, static_cast<double>(interval_ns) / 1e9, "partial", G_TYPE_BOOLEAN, r.partial, "frames",
        G_TYPE_INT64, static_cast<gint64>(r.frames), nullptr);
    if (!r.forecaster.empty())
        gst_structure_set(s, "forecaster", G_TYPE_STRING, r.forecaster.c_str(), "history", G_TYPE_INT, r.history,
                          nullptr);
    set_series(s, r.forecaster.empty() ? "counts" : "series", r.series);
    return s;
}

void post_report(GstXmFlow* self, const GstStructure* report) {
    gst_element_post_message(GST_ELEMENT(self),
                             gst_message_new_element(GST_OBJECT(self), gst_structure_copy(report)));
}

}  // namespace

G_DEFINE_TYPE(GstXmFlow, gst_xm_flow, GST_TYPE_BASE_TRANSFORM)
GST_ELEMENT_REGISTER_DEFINE(xmflow, "xmflow", GST_RANK_NONE, GST_TYPE_XM_FLOW)

static void gst_xm_flow_set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
    GstXmFlow* self = GST_XM_FLOW(object);
    GST_OBJECT_LOCK(self);
    switch (prop_id) {
        case PROP_LINES: g_free(self->lines); self->lines = g_value_dup_string(value); break;
        case PROP_LINES_FILE: g_free(self->lines_file); self->lines_file = g_value_dup_string(value); break;
        case PROP_INTERVAL: self->interval_s = g_value_get_double(value); break;
        case PROP_HORIZON: self->horizon = g_value_get_int(value); break;
        case PROP_MODEL: g_free(self->model); self->model = g_value_dup_string(value); break;
        case PROP_CLASSES: g_free(self->classes); self->classes = g_value_dup_string(value); break;
        case PROP_HYSTERESIS: self->hysteresis = g_value_get_double(value); break;
        default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
    }
    GST_OBJECT_UNLOCK(self);
}

static void gst_xm_flow_get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
    GstXmFlow* self = GST_XM_FLOW(object);
    GST_OBJECT_LOCK(self);
    switch (prop_id) {
        case PROP_LINES: g_value_set_string(value, self->lines); break;
        case PROP_LINES_FILE: g_value_set_string(value, self->lines_file); break;
        case PROP_INTERVAL: g_value_set_double(value, self->interval_s); break;
        case PROP_HORIZON: g_value_set_int(value, self->horizon); break;
        case PROP_MODEL: g_value_set_string(value, self->model); break;
        case PROP_CLASSES: g_value_set_string(value, self->classes); break;
        case PROP_HYSTERESIS: g_value_set_double(value, self->hysteresis); break;
        default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
    }
    GST_OBJECT_UNLOCK(self);
}

static void gst_xm_flow_clear(GstXmFlow* self) {
    delete self->monitor;
    self->monitor = nullptr;
    delete self->lines_text;
    self->lines_text = nullptr;
    if (self->latest != nullptr) gst_structure_free(self->latest);
    self->latest = nullptr;
    self->last_end = GST_CLOCK_TIME_NONE;
}

static gboolean gst_xm_flow_start(GstBaseTransform* trans) {
    GstXmFlow* self = GST_XM_FLOW(trans);
    GST_OBJECT_LOCK(self);
    const std::string lines = self->lines != nullptr ? self->lines : "";
    const std::string lines_file = self->lines_file != nullptr ? self->lines_file : "";
    const std::string model = self->model != nullptr ? self->model : "";
    const std::string classes = self->classes != nullptr ? self->classes : "";
    const double interval_s = self->interval_s;
    xmodal::FlowMonitorOptions options;
    options.horizon = self->horizon;
    options.counting.hysteresis = static_cast<float>(self->hysteresis);
    GST_OBJECT_UNLOCK(self);
    gst_xm_flow_clear(self);
    try {
        std::vector<xmodal::CountingLine> parsed;
        if (!lines.empty() && !lines_file.empty())
            xmodal::fail("lines and lines-file are both set; set one of them");
        if (lines.empty() && lines_file.empty())
            xmodal::fail("no counting lines: set lines (\"name:x1,y1,x2,y2;...\") or lines-file");
        try {
            parsed = lines.empty() ? xmodal::parse_counting_lines_file(lines_file) : xmodal::parse_counting_lines(lines);
        } catch (const xmodal::Error& e) {
            xmodal::fail(lines.empty() ? "lines-file: " : "lines: ", e.what());
        }
        if (!std::isfinite(interval_s) || interval_s < 1.0)
            xmodal::fail("interval: ", interval_s, " s is below the minimum of 1 s");
        options.interval_ns = std::llround(interval_s * 1e9);
        options.counting.classes = xmodal::split_label_list(classes);
        // Time of day for the forecaster: running time 0 is taken as now.
        options.epoch_ns = g_get_real_time() * 1000;
        xmodal::validate_flow_options(options);
        xmodal::FlowForecaster forecaster;
        if (!model.empty()) {
            try {
                forecaster = xmodal::load_flow_forecaster(model, static_cast<int>(parsed.size() * 2));
            } catch (const std::exception& e) {
                xmodal::fail("model: ", e.what());
            }
        }
        self->lines_text = new std::string(xmodal::format_counting_lines(parsed));
        self->monitor = new xmodal::FlowMonitor(std::move(parsed), options, std::move(forecaster));
    } catch (const std::exception& e) {
        GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("xmflow: invalid properties: %s", e.what()), (nullptr));
        gst_xm_flow_clear(self);
        return FALSE;
    }
    GST_INFO_OBJECT(self, "lines %s, interval %.3f s, horizon %d, forecaster %s", self->lines_text->c_str(), interval_s,
                    options.horizon, model.empty() ? "baseline only" : model.c_str());
    return TRUE;
}

static gboolean gst_xm_flow_stop(GstBaseTransform* trans) {
    gst_xm_flow_clear(GST_XM_FLOW(trans));
    return TRUE;
}

static gboolean gst_xm_flow_set_caps(GstBaseTransform* trans, GstCaps* incaps, GstCaps* /*outcaps*/) {
    GstXmFlow* self = GST_XM_FLOW(trans);
    if (!gst_video_info_from_caps(&self->info, incaps)) {
        gchar* text = gst_caps_to_string(incaps);
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("xmflow: caps %s are not raw video with a size", text), (nullptr));
        g_free(text);
        return FALSE;
    }
    return TRUE;
}

static gboolean gst_xm_flow_sink_event(GstBaseTransform* trans, GstEvent* event) {
    GstXmFlow* self = GST_XM_FLOW(trans);
    if (self->monitor != nullptr) {
        if (GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_STOP) {
            // After a seek the counts would mix unrelated times: start over.
            GST_DEBUG_OBJECT(self, "flush: resetting the flow monitor");
            self->monitor->reset();
        } else if (GST_EVENT_TYPE(event) == GST_EVENT_EOS) {
            const std::optional<xmodal::IntervalReport> report =
                self->monitor->flush(GST_CLOCK_TIME_IS_VALID(self->last_end) ? static_cast<std::int64_t>(self->last_end) : 0);
            if (report) {
                GstStructure* s = report_structure("xmodal-flow", *report, self->monitor->options().interval_ns);
                GST_INFO_OBJECT(self, "EOS: partial interval %" G_GINT64_FORMAT " posted", report->index);
                post_report(self, s);
                gst_structure_free(s);
            }
        }
    }
    return GST_BASE_TRANSFORM_CLASS(gst_xm_flow_parent_class)->sink_event(trans, event);
}

static GstFlowReturn gst_xm_flow_transform_ip(GstBaseTransform* trans, GstBuffer* buffer) {
    GstXmFlow* self = GST_XM_FLOW(trans);
    const GstSegment& segment = trans->segment;
    const GstClockTime running_time = segment.format == GST_FORMAT_TIME && GST_BUFFER_PTS_IS_VALID(buffer)
                                          ? gst_segment_to_running_time(&segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buffer))
                                          : GST_CLOCK_TIME_NONE;
    if (!GST_CLOCK_TIME_IS_VALID(running_time)) {
        GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("xmflow: a frame has no timestamp in a time segment"),
                          ("intervals are measured in running time; put a timestamping source upstream"));
        return GST_FLOW_ERROR;
    }
    // The end of the frame, for the partial interval at EOS. Live sources often stamp a time but no
    // duration (appsrc do-timestamp, many cameras): then one frame period of the caps' frame rate.
    GstClockTime duration = GST_BUFFER_DURATION(buffer);
    if (!GST_CLOCK_TIME_IS_VALID(duration))
        duration = GST_VIDEO_INFO_FPS_N(&self->info) > 0
                       ? gst_util_uint64_scale_int(GST_SECOND, GST_VIDEO_INFO_FPS_D(&self->info), GST_VIDEO_INFO_FPS_N(&self->info))
                       : 0;
    self->last_end = running_time + duration;

    const int width = GST_VIDEO_INFO_WIDTH(&self->info), height = GST_VIDEO_INFO_HEIGHT(&self->info);
    std::vector<xmodal::TrackedPoint> points;
    for (const xmodal::gst::FrameObject& o : xmodal::gst::read_objects(buffer, width, height)) {
        if (o.track_id <= 0 || o.track_state == "predicted") continue;
        points.push_back({o.track_id, o.label_id, o.label, static_cast<float>((o.x_min + o.x_max) / 2),
                          static_cast<float>(o.y_max)});
    }
    std::vector<xmodal::IntervalReport> reports;
    try {
        reports = self->monitor->update(points, static_cast<std::int64_t>(running_time));
    } catch (const std::exception& e) {
        GST_ELEMENT_ERROR(self, STREAM, FAILED, ("xmflow: %s", e.what()), (nullptr));
        return GST_FLOW_ERROR;
    }

    const std::int64_t interval_ns = self->monitor->options().interval_ns;
    GstStructure* meta = xmodal::gst::add_flow_structure(buffer);
    gst_structure_set(meta, "lines", G_TYPE_STRING, self->lines_text->c_str(), nullptr);
    const std::optional<xmodal::IntervalReport> current = self->monitor->current();
    GstStructure* running = report_structure("running", *current, interval_ns);
    gst_structure_set(meta, "running", GST_TYPE_STRUCTURE, running, nullptr);
    gst_structure_free(running);
    if (!reports.empty()) {
        GValue array = G_VALUE_INIT;
        gst_value_array_init(&array, static_cast<guint>(reports.size()));
        for (const xmodal::IntervalReport& r : reports) {
            GstStructure* s = report_structure("xmodal-flow", r, interval_ns);
            GST_INFO_OBJECT(self, "interval %" G_GINT64_FORMAT " closed (%s)", r.index, r.forecaster.c_str());
            post_report(self, s);
            if (self->latest != nullptr) gst_structure_free(self->latest);
            self->latest = gst_structure_copy(s);
            gst_structure_set_name(s, "report");
            take_structure(&array, s);
        }
        gst_structure_take_value(meta, "reports", &array);
    }
    if (self->latest != nullptr) gst_structure_set(meta, "latest", GST_TYPE_STRUCTURE, self->latest, nullptr);
    return GST_FLOW_OK;
}

static void gst_xm_flow_finalize(GObject* object) {
    GstXmFlow* self = GST_XM_FLOW(object);
    gst_xm_flow_clear(self);
    g_free(self->lines);
    g_free(self->lines_file);
    g_free(self->model);
    g_free(self->classes);
    G_OBJECT_CLASS(gst_xm_flow_parent_class)->finalize(object);
}

static void gst_xm_flow_class_init(GstXmFlowClass* klass) {
    GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
    GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
    GstBaseTransformClass* trans_class = GST_BASE_TRANSFORM_CLASS(klass);

    gobject_class->set_property = gst_xm_flow_set_property;
    gobject_class->get_property = gst_xm_flow_get_property;
    gobject_class->finalize = gst_xm_flow_finalize;

    const auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
    // Values are checked when the element starts (an ERROR naming the property and value) rather
    // than by GLib, which only warns and keeps the old value.
    g_object_class_install_property(
        gobject_class, PROP_LINES,
        g_param_spec_string("lines", "Lines",
                            "Counting lines \"name:x1,y1,x2,y2;name2:...\" in normalised coordinates (0..1, y down); "
                            "positive direction = crossing from the arrow's right to its left (docs/COUNTING.md). "
                            "Set this or lines-file (default: none)",
                            nullptr, flags));
    g_object_class_install_property(
        gobject_class, PROP_LINES_FILE,
        g_param_spec_string("lines-file", "Lines file",
                            "File with one \"name:x1,y1,x2,y2\" per line ('#' comments); instead of lines (default: none)",
                            nullptr, flags));
    g_object_class_install_property(
        gobject_class, PROP_INTERVAL,
        g_param_spec_double("interval", "Interval",
                            "Aggregation interval in seconds of running time (>= 1, default 60)", -G_MAXDOUBLE,
                            G_MAXDOUBLE, default_interval_s, flags));
    g_object_class_install_property(
        gobject_class, PROP_HORIZON,
        g_param_spec_int("horizon", "Horizon", "Intervals forecast at the end of each interval (1..12, default 12)",
                         G_MININT, G_MAXINT, xmodal::flow_max_horizon, flags));
    g_object_class_install_property(
        gobject_class, PROP_MODEL,
        g_param_spec_string("model", "Model",
                            "Forecaster model (.onnx: flow [B,12,N], time_of_day [B,12], day_of_week [B,12] -> "
                            "forecast [B,12,N], N = 2 per line); used once 12 intervals of history exist, before "
                            "that and without it a baseline forecasts (default: none)",
                            nullptr, flags));
    g_object_class_install_property(
        gobject_class, PROP_CLASSES,
        g_param_spec_string("classes", "Classes",
                            "Comma-separated labels to count, e.g. \"car,bus,truck\"; empty counts every label "
                            "(default: empty)",
                            nullptr, flags));
    g_object_class_install_property(
        gobject_class, PROP_HYSTERESIS,
        g_param_spec_double("hysteresis", "Hysteresis",
                            "Half-width of the band around a line inside which a point is on neither side, "
                            "normalised distance (0..0.5, default 0.01)",
                            -G_MAXDOUBLE, G_MAXDOUBLE, counting_defaults.hysteresis, flags));

    gst_element_class_set_static_metadata(element_class, "xmodal traffic flow", "Filter/Analyzer/Video",
                                          "Counts tracked objects crossing counting lines per interval and "
                                          "forecasts the next intervals with an uncertainty band",
                                          "xmodal");
    gst_element_class_add_static_pad_template(element_class, &sink_template);
    gst_element_class_add_static_pad_template(element_class, &src_template);

    trans_class->start = GST_DEBUG_FUNCPTR(gst_xm_flow_start);
    trans_class->stop = GST_DEBUG_FUNCPTR(gst_xm_flow_stop);
    trans_class->set_caps = GST_DEBUG_FUNCPTR(gst_xm_flow_set_caps);
    trans_class->sink_event = GST_DEBUG_FUNCPTR(gst_xm_flow_sink_event);
    trans_class->transform_ip = GST_DEBUG_FUNCPTR(gst_xm_flow_transform_ip);
    // Metas change, pixels never: in place, and never passthrough (that would skip transform_ip).
    trans_class->passthrough_on_same_caps = FALSE;
    trans_class->transform_ip_on_passthrough = FALSE;

    GST_DEBUG_CATEGORY_INIT(gst_xm_flow_debug, "xmflow", 0, "xmodal traffic flow counting and forecasting");
}

static void gst_xm_flow_init(GstXmFlow* self) {
    self->lines = nullptr;
    self->lines_file = nullptr;
    self->interval_s = default_interval_s;
    self->horizon = xmodal::flow_max_horizon;
    self->model = nullptr;
    self->classes = nullptr;
    self->hysteresis = counting_defaults.hysteresis;
    gst_video_info_init(&self->info);
    self->monitor = nullptr;
    self->lines_text = nullptr;
    self->latest = nullptr;
    self->last_end = GST_CLOCK_TIME_NONE;
    gst_base_transform_set_in_place(GST_BASE_TRANSFORM(self), TRUE);
}
