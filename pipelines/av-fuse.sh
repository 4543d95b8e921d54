#!/usr/bin/env bash
# Audio-visual fusion: detect and track objects in the video, find sound events in the audio, and
# attribute every sound to the object that makes it (or off-screen) with cross-modal attention;
# write an annotated MP4 (with the sound) and one JSON line per frame (docs/METADATA_JSON.md,
# docs/elements/xmfuse.md).
#
#   pipelines/av-fuse.sh INPUT [OUTPUT.mp4] [OUTPUT.jsonl]
#
# INPUT: a file path or URI with a video and an audio stream, e.g. a clip written by
# tools/fusion/build_scenes.py --write-media (the staged street clip with a built soundtrack).
# Outputs default to out/<name>-fused.mp4 and out/<name>-fused.jsonl.
#
# Environment (defaults in brackets):
#   XMODAL_MODEL_INFO    detector description [models/yolox_nano.json]
#   XMODAL_FUSION_MODEL  fusion weights [models/fusion.safetensors]
#   XMODAL_DEVICE        cpu | gpu | gpu:N [cpu]
#   XMODAL_PRECISION     detector precision f32 | bf16 | auto [auto]
#   XMODAL_AUDIO_WINDOW  seconds of audio fusion looks at per frame, 0 = the model's [0]
#   GST_PLUGIN_PATH      where the xmodal plugin is [build/plugins of this checkout, if built]
#
# The pipeline (printed before it runs):
#   uridecodebin ─ video ─ xmdetect ! xmtrack ─────────────────────┐
#                └ audio ─ xmaudio ─ tee ─ (fusion) ─────────── xmfuse.audio ! xmoverlay ! xmmetaconvert
#                                        └ audioconvert ! avenc_aac ─┐          ! x264enc ─┐
#                                                                     └──────── mp4mux ────┘
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
. "$repo/pipelines/common.sh"
xm_help_or_usage "$0" 25 "$@"
xm_parse_input av-fuse "$1"
xm_outputs "${2:-out/$name-fused.mp4}" "${3:-out/$name-fused.jsonl}"
xm_require_plugin av-fuse xmfuse
fusion_model="${XMODAL_FUSION_MODEL:-$repo/models/fusion.safetensors}"
[ -f "$fusion_model" ] || { echo "av-fuse: fusion weights '$fusion_model' do not exist" >&2; exit 2; }
xm_choose_encoder av-fuse

pipeline=(
    uridecodebin uri="$uri" name=d
    xmfuse name=f model="$fusion_model" device="${XMODAL_DEVICE:-cpu}" audio-window="${XMODAL_AUDIO_WINDOW:-0}"
    ! xmoverlay
    ! xmmetaconvert location="$jsonl" source="$uri"
    ! videoconvert ! $encoder ! queue ! mp4mux name=mux ! filesink location="$mp4"
    d. ! video/x-raw ! queue
    ! xmdetect model-info="${XMODAL_MODEL_INFO:-$repo/models/yolox_nano.json}" device="${XMODAL_DEVICE:-cpu}"
        precision="${XMODAL_PRECISION:-auto}" classes="person,bicycle,car,motorcycle,bus,truck"
    ! xmtrack ! f.video
    d. ! audio/x-raw ! queue max-size-time=3000000000 max-size-buffers=0 max-size-bytes=0
    ! xmaudio device="${XMODAL_DEVICE:-cpu}" ! tee name=t
    t. ! queue ! f.audio
    t. ! queue ! audioconvert ! audioresample ! avenc_aac ! mux.
)
echo "gst-launch-1.0 -e ${pipeline[*]}"
gst-launch-1.0 -e "${pipeline[@]}"
echo "av-fuse: wrote $mp4 and $jsonl ($(wc -l < "$jsonl") JSON lines)"
