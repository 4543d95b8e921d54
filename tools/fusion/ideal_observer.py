#!/usr/bin/env python3
"""What the loudness evidence of built scenes can decide: an ideal observer (docs/ACCURACY.md).

    /usr/bin/python3 tools/fusion/ideal_observer.py --scenes build/fusion/scenes/test [--noise] [--runs 5]

Attribution rests on one cue besides the class: how an event's loudness course follows an
object's apparent-size course (tools/fusion/README.md, identifiability). The fusion model hears
the loudness once per YAMNet window (0.975 s windows every 0.48 s). This tool measures, on the
scenes' own audio, how far that window loudness lies from the source's true 1/r course (means
removed: the noise of the recording's own envelope and of the background), and then scores an
observer better placed than any model: it knows each event's class, that the source is visible,
and the source's exact distance course; it hears that course at the centres of the event's own
windows (half inside it, build_scenes.event_windows) with Gaussian noise of the measured size, and picks the compatible object whose observed
size course is nearest (RMS, means removed; maximum likelihood for white noise). Visible vehicle
events only: speech sources barely move, and off-screen events have no course to compare.

--noise prints the measured window-loudness noise per group (what build_scenes.py's
WINDOW_NOISE_DB holds, measured on training scenes).
"""
import argparse
import glob
import json
import os
import sys
import wave

import numpy as np

from build_scenes import COMPATIBLE, event_windows  # the classes that can make each group; an event's windows

WINDOW, HOP, RATE = 15600, 7680, 16000  # AudioEventDetector's YAMNet windows (samples at 16 kHz)


def read_wav(path):
    with wave.open(path) as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1 or w.getframerate() != RATE:
            sys.exit(f"ideal_observer: {path}: expected 16 kHz mono 16-bit (a built scene's wav)")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768.0


def window_loudness(samples):
    """Centres (s) and loudness (dBFS) of the detector's windows, as AudioEventDetector computes it."""
    count = 1 + max(0, (len(samples) - WINDOW) // HOP)
    centres = (np.arange(count) * HOP + WINDOW / 2) / RATE
    loud = np.array([10 * np.log10(np.mean(samples[k * HOP:k * HOP + WINDOW] ** 2) + 1e-10) for k in range(count)])
    return centres, loud


def true_course(event, times):
    d = np.asarray(event["distance_m"], dtype=np.float64)
    return -20.0 * np.log10(np.maximum(np.interp(times, d[:, 0], d[:, 1]), 1.0))


def size_course(track, times, tolerance=0.1):
    """20 log10 sqrt(w h) at the nearest box within `tolerance`; NaN where the track has none."""
    b = np.asarray(track["boxes"], dtype=np.float64).reshape(-1, 5)
    if len(b) == 0:
        return np.full(len(times), np.nan)
    i = np.abs(b[None, :, 0] - np.asarray(times)[:, None]).argmin(axis=1)  # the nearest box
    out = 10.0 * np.log10(np.maximum(b[i, 3] * b[i, 4], 1e-8))
    return np.where(np.abs(b[i, 0] - times) <= tolerance, out, np.nan)


def rivals(scene, event, times):
    """Compatible objects on the frame at the event's end with boxes at half of its window centres."""
    out = []
    for tr in scene["tracks"]:
        if tr["label"] not in COMPATIBLE[event["group"]]:
            continue
        at_end = size_course(tr, np.array([event["end"]]), 0.15)
        course = size_course(tr, times)
        if np.isfinite(at_end).all() and np.isfinite(course).mean() >= 0.5:
            out.append((tr["id"], course))
    return out


def mismatch(loudness, course):
    ok = np.isfinite(course)
    if ok.sum() < 2:
        return np.inf
    d = loudness[ok] - course[ok]
    return float(np.sqrt(np.mean((d - d.mean()) ** 2)))


def load_events(folder):
    paths = sorted(glob.glob(os.path.join(folder, "*.json")))
    if not paths:
        sys.exit(f"ideal_observer: no scene files (*.json) in {folder}")
    events = []  # (group, source, times, true course, measured loudness, rivals)
    for path in paths:
        with open(path) as f:
            scene = json.load(f)
        centres, loud = window_loudness(read_wav(os.path.join(os.path.dirname(path), scene["audio"])))
        for ev in scene["events"]:
            if ev["source"] < 0:
                continue
            inside = np.isin(np.round(centres, 4), np.round(event_windows(ev["start"], ev["end"]), 4))
            if not inside.any():  # a short event: the window nearest its middle
                inside = np.arange(len(centres)) == np.abs(centres - 0.5 * (ev["start"] + ev["end"])).argmin()
            times = centres[inside]
            events.append((ev["group"], ev["source"], times, true_course(ev, times), loud[inside], rivals(scene, ev, times)))
    return events


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", required=True, help="a folder of built scenes (*.json + *.wav)")
    ap.add_argument("--noise", action="store_true", help="print the measured window-loudness noise per group")
    ap.add_argument("--sigma", type=float, nargs="*", help="noise (dB) to score the observer at, instead of the measured one")
    ap.add_argument("--runs", type=int, default=5, help="noise draws to average over")
    args = ap.parse_args()

    events = load_events(args.scenes)
    residual = {}
    for group, _, times, course, loud, _ in events:
        if len(times) >= 2:
            r = (loud - loud.mean()) - (course - course.mean())
            residual.setdefault(group, []).extend(r * np.sqrt(len(r) / (len(r) - 1)))
    measured = {g: float(np.std(v)) for g, v in residual.items()}
    if args.noise:
        for g in sorted(measured):
            print(f"noise {g}: {measured[g]:.2f} dB per window ({len(residual[g])} windows)")

    vehicles = [e for e in events if e[0] != "speech"]
    if not vehicles:
        sys.exit("ideal_observer: no visible vehicle events in these scenes")
    settings = [("measured", None)] + [(f"{s:g} dB", s) for s in (args.sigma or [])]
    for name, sigma in settings:
        right = 0
        for run in range(args.runs):
            rng = np.random.default_rng(run)
            for group, source, times, course, _, cands in vehicles:
                noise = measured.get(group, 1.5) if sigma is None else sigma
                heard = course + noise * rng.standard_normal(len(course))
                best = min(cands, key=lambda c: mismatch(heard, c[1]), default=(None, None))[0]
                right += best == source
        print(f"ideal observer ({name} noise): {right / (args.runs * len(vehicles)):.3f} of {len(vehicles)} visible vehicle "
              f"events ({args.runs} noise draws)")


if __name__ == "__main__":
    main()
