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
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'
    exit $([ $# -lt 1 ] && echo 2 || echo 0)
fi
input="$1"
case "$input" in
    *://*) uri="$input"; name="$(basename "${input%%\?*}")" ;;
    *)
        [ -f "$input" ] || { echo "av-fuse: input file '$input' does not exist" >&2; exit 2; }
        uri="file://$(realpath "$input")"; name="$(basename "$input")" ;;
esac
name="${name%.*}"; [ -n "$name" ] || name=stream
mp4="${2:-out/$name-fused.mp4}"
jsonl="${3:-out/$name-fused.jsonl}"
mkdir -p "$(dirname "$mp4")" "$(dirname "$jsonl")"

if [ -z "${GST_PLUGIN_PATH:-}" ] && [ -f "$repo/build/plugins/libgstxmodal.so" ]; then
    export GST_PLUGIN_PATH="$repo/build/plugins"
fi
gst-inspect-1.0 xmfuse > /dev/null 2>&1 || {
    echo "av-fuse: the xmodal plugin is not found (build it with tools/setup.sh, or set GST_PLUGIN_PATH)" >&2; exit 2; }
fusion_model="${XMODAL_FUSION_MODEL:-$repo/models/fusion.safetensors}"
[ -f "$fusion_model" ] || { echo "av-fuse: fusion weights '$fusion_model' do not exist" >&2; exit 2; }

if gst-inspect-1.0 x264enc > /dev/null 2>&1; then
    encoder="x264enc speed-preset=veryfast tune=zerolatency bitrate=2000 key-int-max=60"
else
    echo "av-fuse: x264enc not installed (gstreamer1.0-plugins-ugly); writing MPEG-4 part 2 instead" >&2
    encoder="avenc_mpeg4 bitrate=2000000"
fi

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
