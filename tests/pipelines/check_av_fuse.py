#!/usr/bin/env python3
"""Builds the demo media (the staged street clip with a soundtrack of real siren, horn, engine and
speech recordings placed on its tracks, tools/fusion/build_scenes.py --write-media), runs
pipelines/av-fuse.sh on it with the committed fusion weights, and checks what it wrote: an MP4 with
H.264 video and AAC audio of the clip's duration; one JSON line per frame, each with xmfuse's
"xmodal-fusion" (audio flag, attention rows that sum to 1 over the tracks + off-screen); every
sound the builder placed is found by xmaudio and reported by xmfuse as an event of its group while
it plays; and the per-object "audio" structures. Attribution accuracy is measured by
`xmodal-eval fusion` on held-out scenes (docs/ACCURACY.md); this test prints what the demo got.

usage: check_av_fuse.py REPO BUILD_DIR
"""
import json
import os
import shutil
import subprocess
import sys

repo, build = sys.argv[1], sys.argv[2]
shared = os.environ.get("XMODAL_SHARED", os.path.join(repo, "..", "shared"))
if not os.path.exists(os.path.join(shared, "media", "traffic_street_fixedcam.mp4")):
    print(f"SKIP: the staged media are not in {shared}")
    sys.exit(77)
python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
if subprocess.run([python, "-c", "import numpy"], capture_output=True).returncode != 0:
    sys.exit(f"{python} has no numpy: the scene builder needs python3-numpy (tools/debian-packages.txt)")

out = os.path.join(build, "pipeline-test", "av-fuse")
shutil.rmtree(out, ignore_errors=True)
os.makedirs(out)
plugins = os.path.join(build, "plugins")
env = dict(os.environ, GST_PLUGIN_PATH=plugins)
mkv, mp4, jsonl = (os.path.join(out, n) for n in ("demo.mkv", "demo.mp4", "demo.jsonl"))


def run(cmd):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout[-3000:], r.stderr[-3000:])
        sys.exit(f"{' '.join(cmd[:2])} exited with {r.returncode}")
    return r


run([python, os.path.join(repo, "tools", "fusion", "build_scenes.py"), "--write-media", mkv,
     "--work", os.path.join(out, "work"), "--plugins", plugins])
scene = json.load(open(os.path.splitext(mkv)[0] + ".json"))
run([os.path.join(repo, "pipelines", "av-fuse.sh"), mkv, mp4, jsonl])

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


info = run(["gst-discoverer-1.0", mp4]).stdout
check("H.264" in info and "MPEG-4 AAC" in info, "the MP4 has H.264 video and AAC audio")
check("Duration: 0:00:23.1" in info, "the MP4 lasts the clip's 23.1 s")

frames = [json.loads(line) for line in open(jsonl)]
check(len(frames) == 693, f"one JSON line per frame: {len(frames)}")
fusion = [f.get("xmodal-fusion") for f in frames]
check(all(f is not None for f in fusion), "every frame carries xmfuse's xmodal-fusion")
fusion = [f for f in fusion if f is not None]
ok_frames = sum(f["audio"] == "ok" for f in fusion)
check(ok_frames >= 0.9 * len(frames), f"audio flows alongside the video: {ok_frames} frames flagged ok")
rows_ok = all(abs(sum(row) - 1.0) < 1e-4 and len(row) == f["objects"] + 1 for f in fusion for row in f["attention"])
check(rows_ok, "attention rows have one column per object plus off-screen and sum to 1")
audio_objects = sum(1 for f in frames for o in f["objects"] if "audio" in o)
check(audio_objects > 1000, f"tracked objects carry an audio structure: {audio_objects}")

# Each placed sound is found while it plays: an event of its group on a frame between its start
# plus one YAMNet window (the first window wholly inside it) and its end plus the fusion window.
for e in scene["events"]:
    lo, hi = e["start"] + 0.5, e["end"] + 4.0
    hits = [(i, ev) for i, f in enumerate(frames) if lo <= f["timestamp"] / 1e9 <= hi
            for ev in f["xmodal-fusion"]["events"] if ev["sound"] == e["group"]]
    attributed = {}
    for _, ev in hits:
        key = "off-screen" if ev["off-screen"] else f"track {ev['track-id']}"
        attributed[key] = attributed.get(key, 0) + 1
    source = "off-screen" if e["source"] < 0 else f"track {e['source']} in the builder's run"
    check(len(hits) > 0, f"{e['group']} at {e['start']:.1f}-{e['end']:.1f} s (source {source}) reported: "
          f"{len(hits)} frame events, attributed {attributed}")

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
