#!/usr/bin/env bash
# Detect and track vehicles and people in a video file, an RTSP stream or a V4L2 camera; write an
# annotated MP4 and one JSON line per frame (docs/METADATA_JSON.md).
#
#   pipelines/detect-track.sh INPUT [OUTPUT.mp4] [OUTPUT.jsonl]
#
# INPUT: a file path, or a URI: file:///..., rtsp://host/stream, v4l2:///dev/video0.
# Outputs default to out/<name>.mp4 and out/<name>.jsonl. Live inputs run until Ctrl-C (the MP4 is
# finalised on the way out: gst-launch -e).
#
# Environment (defaults in brackets):
#   XMODAL_MODEL_INFO   detector description [models/yolox_nano.json]
#   XMODAL_DEVICE       cpu | gpu | gpu:N [cpu]
#   XMODAL_PRECISION    f32 | bf16 | auto [auto]
#   XMODAL_INTERVAL     run the detector on every Nth frame, the tracker predicts in between [1]
#   XMODAL_CLASSES      labels to keep [person,bicycle,car,motorcycle,bus,truck]
#   XMODAL_THRESHOLD    detection confidence [0.3]
#   XMODAL_LINES        counting lines for xmflow, "name:x1,y1,x2,y2;..." normalised (docs/COUNTING.md)
#                       [street:0.76,0.47,0.40,0.47: the street clip's hand-counted line across the
#                       whole one-way carriageway above the stop line, arrow right to left, so
#                       traffic towards the camera counts positive]
#   XMODAL_INTERVAL_S   xmflow's counting interval in seconds, >= 1 [5]
#   XMODAL_FLOW_CLASSES labels xmflow counts [bicycle,car,motorcycle,bus,truck]
#   XMODAL_FLOW_MODEL   forecaster model for xmflow [none: the cold-start baseline]
#   GST_PLUGIN_PATH     where the xmodal plugin is [build/plugins of this checkout, if built]
#
# xmtrack outputs tentative tracks and starts tracks from detections scoring 0.4 (ByteTrack: 0.6),
# so that xmflow sees a vehicle before it crosses a line: in the sped-up street clip a small, far
# car is detected at 0.3..0.6 and crosses within a few frames of its first detection.
#
# The pipeline (printed before it runs):
#   uridecodebin (video only) ! xmdetect ! xmtrack ! xmflow ! xmoverlay ! xmmetaconvert (JSON lines file)
#     ! videoconvert ! x264enc ! mp4mux ! filesink
# No videoconvert is needed before xmdetect/xmoverlay: they read I420/NV12/RGB/BGR/RGBx/BGRx directly.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
. "$repo/pipelines/common.sh"
xm_help_or_usage "$0" 34 "$@"
xm_parse_input detect-track "$1"
xm_outputs "${2:-out/$name.mp4}" "${3:-out/$name.jsonl}"
xm_require_plugin detect-track xmdetect
xm_choose_encoder detect-track

pipeline=(
    uridecodebin uri="$uri" caps="video/x-raw(ANY)" expose-all-streams=false
    ! xmdetect model-info="${XMODAL_MODEL_INFO:-$repo/models/yolox_nano.json}" device="${XMODAL_DEVICE:-cpu}"
        precision="${XMODAL_PRECISION:-auto}" inference-interval="${XMODAL_INTERVAL:-1}"
        threshold="${XMODAL_THRESHOLD:-0.3}" classes="${XMODAL_CLASSES:-person,bicycle,car,motorcycle,bus,truck}"
    ! xmtrack output-tentative=true track-threshold=0.4 new-track-threshold=0.4
    ! xmflow lines="${XMODAL_LINES:-street:0.76,0.47,0.40,0.47}" interval="${XMODAL_INTERVAL_S:-5}"
        classes="${XMODAL_FLOW_CLASSES:-bicycle,car,motorcycle,bus,truck}"
        ${XMODAL_FLOW_MODEL:+model="$XMODAL_FLOW_MODEL"}
    ! xmoverlay
    ! xmmetaconvert location="$jsonl" source="$uri"
    ! videoconvert ! $encoder ! mp4mux ! filesink location="$mp4"
)
echo "gst-launch-1.0 -e ${pipeline[*]}"
gst-launch-1.0 -e "${pipeline[@]}"
echo "detect-track: wrote $mp4 and $jsonl ($(wc -l < "$jsonl") JSON lines)"
