#!/usr/bin/env python3
"""Counts on the street clip's documented line against the hand count
(tests/pipelines/street_line_hand_count.json, docs/COUNTING.md "The street clip's line").

Runs the video path of the main job (uridecodebin ! xmdetect ! xmtrack ! xmflow, the settings of
pipelines/detect-track.sh) on the staged clip (or its first --frames frames), reads xmflow's counts
from xmmetaconvert's JSON lines and compares them, per class and direction, with the hand-counted
crossings before that frame. A shorter window must end in a gap between crossings (none within 5
frames), so a crossing the pipeline sees a frame or two later than the hand count stays inside it.

What is checked, and why not more:
- every class and direction within 1 of the hand count where the detector can tell the classes
  apart: the negative direction (nothing drives up this one-way street), bus and motorcycle;
- every counted crossing is a real one: each increment of a running count is matched to a hand
  crossing in the same direction within 20 frames (at most 1 left over);
- all motor vehicles together: no overcount (at most 1 more than the hand count) and at least 80 %
  of them counted;
- car, truck and bicycle separately are printed, not checked within 1: yolox_nano labels the
  pickups, vans and most box trucks of this clip "car" (2 of the 14 hand-counted trucks come out as
  truck) and sees the cyclists as "person". That gap is the detector's, not the counter's; issue 6's
  per-class acceptance is open until a detector that separates them.

usage: check_street_count.py REPO BUILD_DIR [--frames N]
"""
import json
import os
import subprocess
import sys
from collections import Counter

repo, build = sys.argv[1], sys.argv[2]
hand = json.load(open(os.path.join(repo, "tests", "pipelines", "street_line_hand_count.json")))
frames_limit = int(sys.argv[sys.argv.index("--frames") + 1]) if "--frames" in sys.argv else hand["frames"]
shared = os.environ.get("XMODAL_SHARED", os.path.join(repo, "..", "shared"))
clip = os.path.join(shared, "media", "traffic_street_fixedcam.mp4")
if not os.path.exists(clip):
    print(f"SKIP: {clip} not found")
    sys.exit(77)
line = hand["line"]["string"]
classes = ["bicycle", "bus", "car", "motorcycle", "truck"]
motor = ["bus", "car", "motorcycle", "truck"]
tally = {d: {label: sum(1 for c in hand["crossings"] if c["direction"] == d and c["class"] == label) for label in classes}
          for d in ("positive", "negative")}
if tally != hand["counts"]:
    sys.exit(f"street_line_hand_count.json: counts {hand['counts']} do not add up its crossings {tally}")
near_end = [c["frame"] for c in hand["crossings"] if abs(c["frame"] - frames_limit) <= 5]
if near_end:
    sys.exit(f"--frames {frames_limit} ends within 5 frames of hand-counted crossings at {near_end}: pick a gap")

out = os.path.join(build, "pipeline-test")
os.makedirs(out, exist_ok=True)
jsonl = os.path.join(out, f"street_count_{frames_limit}.jsonl")
if os.path.exists(jsonl):
    os.remove(jsonl)
# The settings of pipelines/detect-track.sh (keep them in step), without the overlay and encoder.
pipeline = [
    "uridecodebin", f"uri=file://{os.path.realpath(clip)}", "caps=video/x-raw(ANY)", "expose-all-streams=false",
] + (["!", "identity", f"eos-after={frames_limit}"] if frames_limit < hand["frames"] else []) + [
    "!", "xmdetect", f"model-info={os.path.join(repo, 'models', 'yolox_nano.json')}", "threshold=0.3",
    "classes=person,bicycle,car,motorcycle,bus,truck",
    "!", "xmtrack", "output-tentative=true", "track-threshold=0.4", "new-track-threshold=0.4",
    "!", "xmflow", f"lines={line}", "interval=5", "classes=" + ",".join(classes),
    "!", "xmmetaconvert", f"location={jsonl}",
    "!", "fakesink",
]
env = dict(os.environ, GST_PLUGIN_PATH=os.path.join(build, "plugins"))
run = subprocess.run(["gst-launch-1.0", "-q"] + pipeline, env=env, capture_output=True, text=True)
if run.returncode != 0:
    print(run.stdout[-3000:], run.stderr[-3000:])
    sys.exit(f"the pipeline exited with {run.returncode}")

frames = [json.loads(l) for l in open(jsonl)]
failures = []
def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)

# identity lets a few frames past eos-after through (frames in flight): count what came before.
check(len(frames) >= frames_limit, f"a JSON line for each of the first {frames_limit} frames (got {len(frames)})")
frames = [f for f in frames if f["frame_number"] < frames_limit]
parsed = [[float(v) for v in item.split(":")[1].split(",")] for item in (f["xmodal-flow"]["lines"] for f in frames)]
check(all(p == [hand["line"][k] for k in ("x1", "y1", "x2", "y2")] for p in parsed),
      f"xmflow counts on the hand-counted line {line}")

# The counted crossings: increments of xmflow's running counts (per direction and class) from frame
# to frame; on a frame that closes an interval the running counts restart with the new interval.
events = []
previous = Counter()
for f in frames:
    flow = f["xmodal-flow"]
    if flow.get("reports"):
        previous = Counter()
    running = Counter()
    for series in flow["running"]["counts"]:
        for c in series["classes"]:
            running[(series["direction"], c["label"])] = c["count"]
    for key, n in running.items():
        events += [(f["frame_number"], key[0], key[1])] * max(n - previous[key], 0)
    previous = running
counted = Counter((direction, label) for _, direction, label in events)

expected = Counter()
for c in hand["crossings"]:
    if c["frame"] < frames_limit:
        expected[(c["direction"], c["class"])] += 1
print(f"{'class':10} {'direction':9} {'hand':>4} {'xmflow':>6}")
for direction in ("positive", "negative"):
    for label in classes:
        print(f"{label:10} {direction:9} {expected[(direction, label)]:4d} {counted[(direction, label)]:6d}")

for label in classes:
    check(abs(counted[("negative", label)] - expected[("negative", label)]) <= 1,
          f"negative {label}: {counted[('negative', label)]} counted, hand count {expected[('negative', label)]} (within 1)")
for label in ("bus", "motorcycle"):
    check(abs(counted[("positive", label)] - expected[("positive", label)]) <= 1,
          f"positive {label}: {counted[('positive', label)]} counted, hand count {expected[('positive', label)]} (within 1)")
motor_counted = sum(counted[("positive", label)] for label in motor)
motor_expected = sum(expected[("positive", label)] for label in motor)
check(motor_counted <= motor_expected + 1,
      f"motor vehicles positive: {motor_counted} counted, no more than the hand count {motor_expected} + 1")
check(motor_counted >= 0.8 * motor_expected,
      f"motor vehicles positive: {motor_counted} counted, at least 80 % of the hand count {motor_expected}")

# Each counted crossing against the nearest free hand crossing in the same direction (any class:
# the classes are compared above), closest first, within 20 frames (0.7 s): a car stopped in a queue
# with its bottom near the line is counted when its box settles past the hysteresis band, which can
# be well before or after the frame it visibly rolls over the line.
window = 20
hand_events = [(c["frame"], c["direction"]) for c in hand["crossings"] if c["frame"] < frames_limit + window]
pairs = sorted((abs(e[0] - h[0]), i, j) for i, e in enumerate(events) for j, h in enumerate(hand_events)
               if e[1] == h[1] and abs(e[0] - h[0]) <= window)
used_events, used_hand = set(), set()
for _, i, j in pairs:
    if i not in used_events and j not in used_hand:
        used_events.add(i)
        used_hand.add(j)
unmatched = [events[i] for i in range(len(events)) if i not in used_events]
check(len(unmatched) <= 1, f"counted crossings without a hand-counted one within {window} frames: {unmatched} (at most 1)")
print(f"{len(events)} counted crossings, {len(used_events)} matched to the {len(hand_events)} hand-counted ones")
sys.exit(1 if failures else 0)
