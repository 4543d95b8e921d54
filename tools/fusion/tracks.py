#!/usr/bin/env python3
"""Real object tracks of the staged clips, from our own video path.

    GST_PLUGIN_PATH=build/plugins tools/fusion/tracks.py [--work build/fusion] [CLIP.mp4 ...]

Runs `uridecodebin ! xmdetect ! xmtrack ! xmmetaconvert location=<work>/tracks/<clip>.jsonl !
fakesink` (models/yolox_nano.json, the main job's classes and threshold) on each clip whose JSON
lines are not cached yet, and prints a summary of the tracks. build_scenes.py calls the same code.
The JSON lines (docs/METADATA_JSON.md) are build outputs: never commit them.
"""
import argparse
import collections
import json
import os
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLASSES = ("person", "bicycle", "car", "motorcycle", "bus", "truck")


def shared_dir():
    return os.environ.get("XMODAL_SHARED", os.path.join(os.path.dirname(REPO), "shared"))


def run_video_path(clip_path, jsonl_path, plugin_dir):
    """Our detector + tracker on one clip, one JSON line per frame."""
    os.makedirs(os.path.dirname(jsonl_path), exist_ok=True)
    partial = jsonl_path + ".partial"
    pipeline = ["gst-launch-1.0", "-q", "uridecodebin", f"uri=file://{os.path.abspath(clip_path)}",
                "caps=video/x-raw(ANY)", "expose-all-streams=false",
                "!", "xmdetect", f"model-info={os.path.join(REPO, 'models', 'yolox_nano.json')}",
                "threshold=0.3", "classes=" + ",".join(CLASSES),
                "!", "xmtrack", "!", "xmmetaconvert", f"location={partial}", "!", "fakesink"]
    env = dict(os.environ, GST_PLUGIN_PATH=plugin_dir, XMODAL_SHARED=shared_dir())
    print("tracks: " + " ".join(pipeline), file=sys.stderr, flush=True)
    run = subprocess.run(pipeline, env=env, capture_output=True, text=True)
    if run.returncode != 0 or not os.path.exists(partial):
        raise RuntimeError(f"tracks: the video path failed on {clip_path} (exit {run.returncode}); is the "
                           f"xmodal plugin built in {plugin_dir}?\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
    os.replace(partial, jsonl_path)


def cached_tracks(clip_name, work_dir, plugin_dir=None):
    """The clip's JSON lines under work_dir/tracks, running the video path when missing."""
    jsonl = os.path.join(work_dir, "tracks", os.path.splitext(clip_name)[0] + ".jsonl")
    if not os.path.exists(jsonl):
        run_video_path(os.path.join(shared_dir(), "media", clip_name), jsonl,
                       plugin_dir or os.path.join(REPO, "build", "plugins"))
    return jsonl


class ClipTracks:
    """Frames and tracks of one clip: frame_times (s), width, height, and per track id its label
    (the most frequent detection label) and boxes [t, x, y, w, h] (normalised, top-left)."""

    def __init__(self, jsonl_path, min_frames=3):
        self.path = jsonl_path
        frame_times, labels, boxes = [], collections.defaultdict(collections.Counter), collections.defaultdict(list)
        confirmed = set()
        self.width = self.height = None
        with open(jsonl_path) as f:
            for n, line in enumerate(f, 1):
                doc = json.loads(line)
                if not str(doc.get("schema", "")).startswith("xmodal-frame-"):
                    raise ValueError(f"{jsonl_path}:{n}: not an xmodal-frame document")
                if doc["timestamp"] is None:
                    raise ValueError(f"{jsonl_path}:{n}: frame without timestamp")
                t = doc["timestamp"] / 1e9
                frame_times.append(t)
                self.width, self.height = doc["resolution"]["width"], doc["resolution"]["height"]
                for obj in doc["objects"]:
                    if "id" not in obj:
                        continue
                    tid, det = obj["id"], obj["detection"]
                    state = obj.get("tracking", {}).get("state", "confirmed")
                    if state == "tentative":  # not yet a track; xmfuse sees confirmed tracks
                        continue
                    confirmed.add(tid)
                    bb = det["bounding_box"]
                    if state != "predicted":
                        labels[tid][det["label"]] += 1
                    boxes[tid].append([t, bb["x_min"], bb["y_min"], bb["x_max"] - bb["x_min"], bb["y_max"] - bb["y_min"]])
        self.frame_times = np.asarray(frame_times)
        self.tracks = {}
        for tid in sorted(confirmed):
            if len(boxes[tid]) < min_frames or not labels[tid]:
                continue
            self.tracks[tid] = {"label": labels[tid].most_common(1)[0][0], "boxes": np.asarray(boxes[tid])}

    @property
    def aspect(self):
        return self.width / self.height

    @property
    def duration(self):
        return float(self.frame_times[-1] + np.median(np.diff(self.frame_times)))

    @property
    def fps(self):
        return float(1.0 / np.median(np.diff(self.frame_times)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("clips", nargs="*", default=["traffic_street_fixedcam.mp4", "traffic_overhead_fixedcam.mp4", "car-detection.mp4"])
    ap.add_argument("--work", default=os.path.join(REPO, "build", "fusion"))
    ap.add_argument("--plugins", default=os.environ.get("GST_PLUGIN_PATH", os.path.join(REPO, "build", "plugins")))
    args = ap.parse_args()
    for clip in args.clips:
        tracks = ClipTracks(cached_tracks(clip, args.work, args.plugins))
        long = [t for t in tracks.tracks.values() if t["boxes"][-1, 0] - t["boxes"][0, 0] >= 1.0]
        by_label = collections.Counter(t["label"] for t in long)
        print(f"{clip}: {len(tracks.frame_times)} frames at {tracks.fps:.2f} fps, {tracks.width}x{tracks.height}; "
              f"{len(tracks.tracks)} tracks, {len(long)} of them >= 1 s ({dict(by_label)})")


if __name__ == "__main__":
    main()
