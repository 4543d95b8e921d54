# Shared by the pipeline scripts (sourced, not run): the input, the output paths, the plugin and
# the encoder. Each function takes the calling script's name for its messages.

# OpenMP threads waiting at a barrier first spin for GOMP_SPINCOUNT iterations (libgomp's default
# is 300000). When another process holds one of the cores, the spinning thread burns the time
# slice its partner needs. On 2 cores beside one busy process, the street-count pipeline took
# 300 s instead of 6.7 s. With 1000 spins it takes 12 s, for 9 % more on an idle machine
# (docs/PERFORMANCE.md). A value set by the user wins.
export GOMP_SPINCOUNT="${GOMP_SPINCOUNT:-1000}"

# xm_help_or_usage SCRIPT_PATH LAST_HEADER_LINE ARGS...: with no arguments prints the script's
# header comment (lines 2..LAST_HEADER_LINE) and exits 2; with -h or --help prints it and exits 0.
xm_help_or_usage() {
    local script_path="$1" last="$2"
    shift 2
    if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
        sed -n "2,${last}p" "$script_path" | sed 's/^# \{0,1\}//'
        exit $([ $# -lt 1 ] && echo 2 || echo 0)
    fi
}

# xm_parse_input SCRIPT INPUT: sets `uri` (file paths become file:// URIs) and `name` (the input's
# base name without extension, "stream" if it has none); a missing file is an error.
xm_parse_input() {
    local script="$1" input="$2"
    case "$input" in
        *://*) uri="$input"; name="$(basename "${input%%\?*}")" ;;
        *)
            [ -f "$input" ] || { echo "$script: input file '$input' does not exist" >&2; exit 2; }
            uri="file://$(realpath "$input")"; name="$(basename "$input")" ;;
    esac
    name="${name%.*}"; [ -n "$name" ] || name=stream
}

# xm_outputs MP4 JSONL: sets `mp4` and `jsonl` and creates their folders.
xm_outputs() {
    mp4="$1"; jsonl="$2"
    mkdir -p "$(dirname "$mp4")" "$(dirname "$jsonl")"
}

# xm_require_plugin SCRIPT ELEMENT: uses the build tree's plugin when GST_PLUGIN_PATH is unset, and
# fails clearly when ELEMENT cannot be found.
xm_require_plugin() {
    local script="$1" element="$2"
    if [ -z "${GST_PLUGIN_PATH:-}" ] && [ -f "$repo/build/plugins/libgstxmodal.so" ]; then
        export GST_PLUGIN_PATH="$repo/build/plugins"
    fi
    gst-inspect-1.0 "$element" > /dev/null 2>&1 || {
        echo "$script: the xmodal plugin is not found (build it with tools/setup.sh, or set GST_PLUGIN_PATH)" >&2; exit 2; }
}

# xm_choose_encoder SCRIPT: sets `encoder`: H.264 from Debian's gstreamer1.0-plugins-ugly, MPEG-4
# part 2 from gst-libav where it is missing.
xm_choose_encoder() {
    if gst-inspect-1.0 x264enc > /dev/null 2>&1; then
        encoder="x264enc speed-preset=veryfast tune=zerolatency bitrate=2000 key-int-max=60"
    else
        echo "$1: x264enc not installed (gstreamer1.0-plugins-ugly); writing MPEG-4 part 2 instead" >&2
        encoder="avenc_mpeg4 bitrate=2000000"
    fi
}
