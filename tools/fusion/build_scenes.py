#!/usr/bin/env python3
"""Builds labelled audio-visual scenes for training and evaluating the fusion model (docs/FUSION.md §4).

    XMODAL_SHARED=../shared GST_PLUGIN_PATH=build/plugins \\
        /usr/bin/python3 tools/fusion/build_scenes.py --out build/fusion/scenes --train 1500 --test 300 [--seed 1]
    /usr/bin/python3 tools/fusion/build_scenes.py --write-media build/fusion/street_demo.mkv

A scene is `<id>.json` (schema xmodal-scene-1) + `<id>.wav` (16 kHz mono s16): an 8 s segment of a
staged clip with the real tracks our video path found in it (tracks.py), synthetic tracks
(approaching, receding, crossing, still; scene_geometry.py), and 1-2 sound events from the staged
recordings placed on a class-compatible visible source or off-screen (~25 %), rendered with
distance gain and Doppler from the source's motion (scene_audio.py) over real street background
at a random SNR. Hard cases are built on purpose: a distractor moving like the source, a still
source, several objects whose class fits the sound. The held-out split (tools/fusion/README.md)
uses another clip, other recordings or time ranges, and other random trajectories. Everything is
a function of --seed, the split and the scene index.

Extra keys readers may ignore: events[].case (which hard case), .snr_db (event over background),
.rate (pitch/tempo factor), .distance_m ([t, metres] every 0.1 s), .sound_range; tracks[].motion
(synthetic path in metres); background.extra (the low-level engine bed).

--write-media writes the staged street clip (video remuxed, not re-encoded) with a built stereo
44.1 kHz FLAC soundtrack (sources panned by their x) in Matroska, plus its scene json and 16 kHz
wav (the soundtrack's 0.5 L + 0.5 R), for xmfuse demos and tests. Only real tracks are sources
there, since synthetic boxes are not in the video.
"""
import argparse
import json
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import scene_audio as audio  # noqa: E402
import scene_geometry as geo  # noqa: E402
from tracks import REPO, ClipTracks, cached_tracks, shared_dir  # noqa: E402

SCHEMA = "xmodal-scene-1"
GROUPS = ("siren", "horn", "engine", "speech")
VEHICLE_LABELS = ("car", "truck", "bus", "motorcycle")
# Labels that can make each sound (FUSION.md §5 class-prior uses the same rule).
COMPATIBLE = {"siren": ("car", "truck", "bus"), "horn": VEHICLE_LABELS, "engine": VEHICLE_LABELS, "speech": ("person",)}
# Event lengths (s). Horns are short; the others fill most of the 4 s fusion window.
DURATION_S = {"siren": (1.5, 4.0), "horn": (0.4, 1.4), "engine": (1.5, 4.0), "speech": (1.5, 4.0)}
# Levels (SNR model, SceneBuilder.snr_db): each group relative to the scene's reference, a siren at
# 10 m (dB); an event must reach MIN_SNR_DB (+0..3 dB, per event) over the background to be heard,
# which keeps quiet sources (speech) near; very near sources are capped at MAX_SNR_DB.
GROUP_LEVEL_DB = {"siren": 4.0, "horn": 4.0, "engine": -2.0, "speech": -6.0}
MIN_SNR_DB, MAX_SNR_DB = 3.0, 24.0
OFFSCREEN_SHARE = 0.25
# When fusion sees a track at a time (FusionConfig presence_tolerance, max_gap; FUSION.md §2).
PRESENCE_TOLERANCE_S = 0.1
MAX_GAP_S = 0.5
# Identifiability (SceneBuilder.source_identifiable), two rules. The default (the committed
# weights' training scenes): a rival's RMS course mismatch must exceed the source's own by
# IDENTIFIABLE_DB (0: no rule). The observer rule (--identifiable-log-odds, e.g.
# IDENTIFIABLE_LOG_ODDS): an observer hears the loudness of the event's own YAMNet windows
# (event_windows) with the noise a window's loudness has around the source's 1/r course
# (WINDOW_NOISE_DB, measured on training scenes: tools/fusion/ideal_observer.py --noise), and each
# rival must lose against the source by that log-odds in expectation.
IDENTIFIABLE_DB = 1.0
IDENTIFIABLE_LOG_ODDS = 5.4  # = 2 x 1.645^2: each rival loses with probability >= 95 %
WINDOW_S, WINDOW_HOP_S = 0.975, 0.48  # AudioEventDetector's YAMNet windows: 15600 samples every 7680 at 16 kHz
WINDOW_NOISE_DB = {"siren": 1.3, "horn": 1.8, "engine": 1.2, "speech": 1.6}
# Spread of one event's level around its group's (dB): voices range from normal to raised.
LEVEL_SPREAD_DB = {"siren": (-3.0, 3.0), "horn": (-3.0, 3.0), "engine": (-3.0, 3.0), "speech": (-3.0, 6.0)}

# The split table (tools/fusion/README.md): clip, recordings and time ranges (s) per split.
SPLITS = {
    "train": {
        "clip": "traffic_overhead_fixedcam.mp4",
        "sounds": {
            "siren": [("siren_ambulance_4s.wav", 0.0, 2.3)],           # yelp part
            "horn": [("car_horn_street_4s.wav", 1.2, 2.65)],            # the horn blasts
            "engine": [("car_engine_idling_14s.wav", 0.3, 9.0)],
            "speech": [("speech_librivox_austen_0870.wav", 0.2, 6.9), ("speech_librivox_austen_0920.wav", 0.3, 5.8)],
        },
        "background": ("street_scene_traffic_45s.wav", 0.0, 30.0),
        "engine_bed": ("car_engine_idling_14s.wav", 0.3, 9.0),
        "augment": True,
    },
    "test": {
        "clip": "traffic_street_fixedcam.mp4",
        "sounds": {
            "siren": [("siren_ambulance_4s.wav", 2.3, 4.0)],           # wail part
            "horn": [("car_horn_rollsroyce_1s.wav", 0.05, 1.15)],
            "engine": [("car_engine_idling_14s.wav", 9.5, 13.6)],
            "speech": [("speech_jfk_inaugural.wav", 0.3, 10.9)],
        },
        "background": ("street_scene_traffic_45s.wav", 31.0, 44.95),
        "engine_bed": ("car_engine_idling_14s.wav", 9.5, 13.6),
        "augment": False,
    },
}
SPLIT_STREAM = {"train": 1, "test": 2, "demo": 3}
MOTIONS = ("approaching", "receding", "crossing", "still")
# How each kind of source moves while it sounds (approaching, receding, crossing, still): sirens are
# on moving emergency vehicles; horns and engines also come from cars stopped in traffic; people
# talk walking or standing. The same for visible and off-screen sources.
MOTION_P = {"siren": (0.4, 0.3, 0.3, 0.0), "horn": (0.3, 0.2, 0.25, 0.25), "engine": (0.3, 0.25, 0.25, 0.2),
            "speech": (0.2, 0.2, 0.25, 0.35)}

_materials = {}


def event_windows(start, end):
    """Centres (s) of the detector's windows that belong to an event [start, end]: at least half of
    the window inside it (docs/FUSION.md §6; the scene's audio starts at 0)."""
    k = np.arange(max(0, int((start - WINDOW_S) / WINDOW_HOP_S)), int(end / WINDOW_HOP_S) + 2)
    lo = k * WINDOW_HOP_S
    overlap = np.minimum(lo + WINDOW_S, end) - np.maximum(lo, start)
    return lo[overlap >= 0.5 * WINDOW_S - 1e-9] + 0.5 * WINDOW_S


def material(name, start, end, rate):
    key = (name, start, end)
    if key not in _materials:
        _materials[key] = audio.Material(os.path.join(shared_dir(), "media", name), start, end, name)
    return _materials[key].at_rate(rate)


# ---------------------------------------------------------------------------------------------
# Sources: something that has a distance and a stereo position at every scene time.

class Source:
    """A sound source's path: distance_at(t) metres and pan_at(t) in [-1, 1] (left..right)."""

    def __init__(self, distance_at, pan_at):
        self.distance_at, self.pan_at = distance_at, pan_at


def track_source(times, distance, centre_x):
    """A real track's source: its distance and x between box times, extrapolated at constant
    radial speed (at most 20 m/s) beyond them, so a sound may start just before the track does."""
    times, distance = np.asarray(times), np.asarray(distance)
    if len(times) > 1:
        k = min(len(times) - 1, 5)
        v_first = np.clip((distance[k] - distance[0]) / max(times[k] - times[0], 1e-3), -20, 20)
        v_last = np.clip((distance[-1] - distance[-1 - k]) / max(times[-1] - times[-1 - k], 1e-3), -20, 20)
    else:
        v_first = v_last = 0.0

    def distance_at(t):
        t = np.asarray(t, dtype=np.float64)
        r = np.interp(t, times, distance)
        r = np.where(t < times[0], distance[0] + v_first * (t - times[0]), r)
        r = np.where(t > times[-1], distance[-1] + v_last * (t - times[-1]), r)
        return np.maximum(r, 3.0)

    return Source(distance_at, lambda t: np.clip(2 * np.interp(t, times, centre_x) - 1, -1, 1))


def path_source(camera, trajectory):
    """A synthetic or off-screen object's exact source position."""
    def distance_at(t):
        x, z = trajectory.position(t)
        return camera.distance(x, z, trajectory.box_m[1])

    def pan_at(t):
        x, z = trajectory.position(t)
        return np.clip(camera.azimuth(x, z) / math.radians(geo.HFOV_DEG / 2), -1, 1)

    return Source(distance_at, pan_at)


# ---------------------------------------------------------------------------------------------
# Scene assembly.

class NoSource(Exception):
    pass


class SceneTrack:
    def __init__(self, tid, label, boxes, synthetic, source, motion=None):
        self.id, self.label, self.boxes, self.synthetic, self.source = tid, label, boxes, synthetic, source
        self.motion = motion  # synthetic path description

    def present_at(self, t, tolerance):
        return bool(len(self.boxes)) and bool(np.any(np.abs(self.boxes[:, 0] - t) <= tolerance))

    def exists_at(self, t):
        """Whether fusion sees the track at t (FusionConfig's presence_tolerance and max_gap, box_at in
        lib/xmodal/fusion.cpp): a box within PRESENCE_TOLERANCE_S, or t inside a gap of at most
        MAX_GAP_S between two boxes. A real track the tracker misses for a frame or two is still there."""
        ts = self.boxes[:, 0] if len(self.boxes) else np.zeros(0)
        i = int(np.searchsorted(ts, t))
        near = (i < len(ts) and ts[i] - t <= PRESENCE_TOLERANCE_S) or (i > 0 and t - ts[i - 1] <= PRESENCE_TOLERANCE_S)
        return bool(near or (0 < i < len(ts) and ts[i] - ts[i - 1] <= MAX_GAP_S))

    def coverage(self, start, end):
        """Share of [start, end] during which the track has boxes (between its first and last)."""
        if not len(self.boxes):
            return 0.0
        a, b = max(start, self.boxes[0, 0]), min(end, self.boxes[-1, 0])
        return max(0.0, b - a) / max(end - start, 1e-6)

    def motion_over(self, start, end):
        """How the object moves during [start, end]: radial speed from its source distance, lateral
        from its box centre."""
        r0, r1 = self.source.distance_at(np.array([start, end]))
        radial = (r1 - r0) / max(end - start, 1e-3)
        inside = self.boxes[(self.boxes[:, 0] >= start) & (self.boxes[:, 0] <= end)]
        lateral = 0.0
        if len(inside) > 1:
            cx = inside[:, 1] + inside[:, 3] / 2
            lateral = abs(cx[-1] - cx[0]) / max(inside[-1, 0] - inside[0, 0], 1e-3)
        if radial < -1.5:
            return "approaching"
        if radial > 1.5:
            return "receding"
        if lateral > 0.02:
            return "crossing"
        return "still"


class SceneBuilder:
    def __init__(self, split, clip_tracks, seed, index, duration=8.0, offset=None, synthetic=True,
                 identifiable_db=None, identifiable_log_odds=None, attempt=0):
        self.split, self.clip, self.duration = split, clip_tracks, duration
        self.cfg = SPLITS["test" if split == "demo" else split]
        self.rng = np.random.default_rng([seed, SPLIT_STREAM[split], index, attempt])
        self.identifiable_db = IDENTIFIABLE_DB if identifiable_db is None else identifiable_db
        self.identifiable_log_odds = 0.0 if identifiable_log_odds is None else identifiable_log_odds
        self.synthetic_allowed = synthetic
        rng = self.rng
        self.offset = float(rng.uniform(0, max(0.0, clip_tracks.duration - duration))) if offset is None else offset
        frames = clip_tracks.frame_times
        self.frame_times = frames[(frames >= self.offset) & (frames < self.offset + duration)] - self.offset
        self.frame_tol = 0.75 / clip_tracks.fps
        self.camera = geo.random_camera(rng, clip_tracks.aspect)
        self.snr_ref = float(rng.uniform(6.0, 18.0))  # a siren at 10 m over the background (dB)
        self.tracks = []
        for tid, tr in clip_tracks.tracks.items():
            full = tr["boxes"]
            distance = geo.real_track_distance(full, tr["label"], clip_tracks.aspect)
            t = full[:, 0] - self.offset
            keep = (t >= 0) & (t < duration)
            if keep.sum() < 2:
                continue
            boxes = full[keep].copy()
            boxes[:, 0] = t[keep]
            source = track_source(t, distance, geo.box_centre_x(full))
            self.tracks.append(SceneTrack(int(tid), tr["label"], boxes, False, source))
        self.next_synthetic_id = 10001 + 1000 * (max(clip_tracks.tracks, default=0) // 1000)
        self.events = []

    # -- synthetic objects --------------------------------------------------------------------

    def add_synthetic(self, label, motion, t_anchor, must_show=None, like=None, accept=None):
        """A synthetic track of `label` and `motion` placed at a plausible spot at t_anchor; with
        must_show=(start, end) it must be visible at `end` and for >= 60 % of [start, end]. `like`:
        a trajectory to imitate (same motion and direction, another speed, lane and depth); accept:
        a further condition on the track.
        Returns the SceneTrack or None when no placement worked."""
        rng = self.rng
        for _ in range(40):
            trajectory = geo.random_trajectory(rng, label, motion, t_anchor)
            if like is not None:
                # Same direction, a clearly different rate (loudness slopes differ by >= 1.4x), so
                # only the size of the change tells them apart, not its sign.
                trajectory.direction = like.direction.copy()
                trajectory.speed = like.speed * float(rng.uniform(0.45, 0.7) if rng.random() < 0.5 else rng.uniform(1.4, 2.2))
                trajectory.accel = like.accel * float(rng.uniform(0.5, 1.5))
                px, pz = trajectory.position(np.array([t_anchor]))
                lx, lz = like.position(np.array([t_anchor]))
                dz = float(rng.choice([-1, 1]) * rng.uniform(3.0, 12.0))
                dx = float(rng.choice([-1, 1]) * rng.uniform(2.5, 7.0))
                trajectory.x0 += float(lx[0] + dx - px[0])
                trajectory.z0 += float(lz[0] + dz - pz[0])
            boxes, visible, _ = geo.synthetic_boxes(rng, self.camera, trajectory, self.frame_times)
            if visible.sum() < max(4, int(0.4 * self.clip.fps)):
                continue
            track = SceneTrack(self.next_synthetic_id, label, boxes, True, path_source(self.camera, trajectory),
                               motion=trajectory.describe())
            track.trajectory = trajectory
            if must_show is not None:
                start, end = must_show
                if not track.present_at(end, self.frame_tol) or track.coverage(start, end) < 0.6:
                    continue
            if accept is not None and not accept(track):
                continue
            self.next_synthetic_id += 1
            self.tracks.append(track)
            return track
        return None

    def random_label(self, vehicle_share=0.7):
        rng = self.rng
        if rng.random() >= vehicle_share:
            return "person"
        return str(rng.choice(["car", "car", "car", "car", "truck", "bus", "motorcycle", "bicycle"]))

    def add_background_objects(self):
        n = int(self.rng.choice([0, 1, 2, 3], p=[0.2, 0.35, 0.3, 0.15]))
        for _ in range(n):
            self.add_synthetic(self.random_label(), str(self.rng.choice(MOTIONS)), float(self.rng.uniform(0, self.duration)))
        self.add_fragments()

    def add_fragments(self):
        """Short tracks like those our tracker makes of missed or spurious detections (the street
        clip has ~150 tracks under 1 s): never sources, but on the frames the fusion sees."""
        rng = self.rng
        for _ in range(int(rng.poisson(rng.uniform(0.0, 6.0)))):
            label = str(rng.choice(["car", "car", "person", "person", "truck", "bicycle"]))
            frames = int(rng.integers(3, 26))
            first = int(rng.integers(0, max(1, len(self.frame_times) - frames)))
            times = self.frame_times[first:first + frames]
            size = float(rng.uniform(0.03, 0.15))
            aspect = 0.4 if label == "person" else float(rng.uniform(0.9, 2.0))  # w/h in pixels
            w = size * math.sqrt(aspect / self.clip.aspect)
            h = size * math.sqrt(self.clip.aspect / aspect)
            cx, cy = float(rng.uniform(0.05, 0.95)), float(rng.uniform(0.25, 0.95))
            drift = rng.normal(0, 0.05, 2)
            jitter = rng.normal(0, 0.03 * size, (len(times), 2))
            x = np.clip(cx + drift[0] * (times - times[0]) + jitter[:, 0] - w / 2, 0, 1 - w)
            y = np.clip(cy + drift[1] * (times - times[0]) + jitter[:, 1] - h / 2, 0, 1 - h)
            boxes = np.stack([times, x, y, np.full_like(times, w), np.full_like(times, h)], axis=1)
            r = np.full(len(times), geo.depth_per_size(label, self.clip.aspect) / size)
            track = SceneTrack(self.next_synthetic_id, label, boxes, True, track_source(times, r, x + w / 2),
                               motion={"motion": "fragment"})
            self.next_synthetic_id += 1
            self.tracks.append(track)

    # -- events -------------------------------------------------------------------------------

    def visible_compatible(self, group, t):
        return [tr for tr in self.tracks if tr.label in COMPATIBLE[group] and tr.present_at(t, self.frame_tol)]

    def candidates(self, group, start, end):
        """Tracks that may carry an event: compatible, on the frame at its end, there for most of
        it; not a fragment (clutter)."""
        return [tr for tr in self.visible_compatible(group, end)
                if tr.coverage(start, end) >= 0.6 and not (tr.motion or {}).get("motion") == "fragment"]

    # -- identifiability ------------------------------------------------------------------------
    # A labelled event must be answerable from what the microphone (mono) and the camera observe.
    # Besides the class, the only cue is how the loudness course follows an object's apparent
    # size course (1/r, FUSION.md §2 size curves) as the boxes show it (with the detector's
    # noise, edge cuts, label flips). Two parked cars, two cars crossing at one depth, an
    # off-screen idling engine next to a parked car: no observer can tell them apart. So, over
    # the event (means removed), the RMS mismatch between the sound's course (-20 log10 r) and
    # every other compatible object's observed size course (visible at the event's end and for
    # half of it) decides. Under the log-odds rule, an observer hears the loudness at the centres
    # of the event's n windows (event_windows) with noise sigma (WINDOW_NOISE_DB) and expects a
    # log-likelihood ratio of n (rival^2 - own^2) / (2 sigma^2) for the source against a rival
    # (own = 0 off-screen, RMS over those n points); it must reach IDENTIFIABLE_LOG_ODDS. With the
    # means removed, one window holds no course at all: an event of fewer than 2 windows, or a
    # rival with boxes at fewer than 2 of them, cannot be told apart by the course. Under the dB
    # rule (0.1 s steps over the event), the rival's mismatch must exceed the source's own by
    # IDENTIFIABLE_DB. Sources are still often still, slow, crossing or like a neighbour; they
    # only need one observable difference.

    def rule_on(self):
        return self.identifiable_log_odds > 0 or self.identifiable_db > 0

    def level_course(self, source, times):
        return -20.0 * np.log10(np.maximum(source.distance_at(times), 1.0))

    def evidence_times(self, start, end):
        """Where the rule compares courses: the event's window centres (observer rule), 0.1 s steps (dB rule)."""
        if self.identifiable_log_odds > 0:
            return event_windows(start, end)
        return np.arange(start, end + 1e-9, 0.1)

    def mismatch(self, sound, track, times):
        """RMS (dB, means removed) of the sound's course minus the track's observed size course,
        over the times the track has boxes; None below 3 such times (2 window centres)."""
        b = track.boxes
        inside = (times >= b[0, 0] - 0.05) & (times <= b[-1, 0] + 0.05)
        if inside.sum() < (2 if self.identifiable_log_odds > 0 else 3):
            return None
        size = 10.0 * np.log10(np.maximum(np.interp(times[inside], b[:, 0], b[:, 3] * b[:, 4]), 1e-8))
        d = sound[inside] - size
        return float(np.sqrt(np.mean((d - d.mean()) ** 2)))

    def own_mismatch(self, start, end, source, source_track):
        if source_track is None:
            return 0.0
        times = self.evidence_times(start, end)
        own = self.mismatch(self.level_course(source, times), source_track, times)
        return 0.0 if own is None else own

    def seen_at(self, track, t):
        """Whether a rival counts as on the frame at t. The observer rule asks what fusion sees
        (SceneTrack.exists_at: short tracker gaps bridged); the dB rule keeps its frame-exact test,
        so that its scenes (the committed first member's training data) stay as they were."""
        return track.exists_at(t) if self.identifiable_log_odds > 0 else track.present_at(t, self.frame_tol)

    def rivals(self, group, start, end):
        return [tr for tr in self.tracks
                if tr.label in COMPATIBLE[group] and self.seen_at(tr, end) and tr.coverage(start, end) >= 0.5]

    def distinct(self, group, start, end, source, own, track):
        times = self.evidence_times(start, end)
        other = self.mismatch(self.level_course(source, times), track, times)
        if self.identifiable_log_odds > 0:
            if other is None:  # no course to compare: the rival cannot be ruled out
                return False
            log_odds = len(times) * (other ** 2 - own ** 2) / (2.0 * WINDOW_NOISE_DB[group] ** 2)
            return log_odds >= self.identifiable_log_odds
        if other is None:
            return True
        return other >= own + self.identifiable_db

    def source_identifiable(self, group, start, end, source, source_track):
        if not self.rule_on():
            return True
        own = self.own_mismatch(start, end, source, source_track)
        return all(self.distinct(group, start, end, source, own, tr) for tr in self.rivals(group, start, end) if tr is not source_track)

    def keeps_identifiable(self, new_track, pending=()):
        """Whether adding new_track leaves the planned events (and `pending` ones) identifiable."""
        if not self.rule_on():
            return True
        for ev in list(self.events) + list(pending):
            g, start, end = ev["group"], ev["start"], ev["end"]
            if new_track.label not in COMPATIBLE[g] or not self.seen_at(new_track, end) or \
                    new_track.coverage(start, end) < 0.5:
                continue
            own = self.own_mismatch(start, end, ev["source"], ev.get("track"))
            if not self.distinct(g, start, end, ev["source"], own, new_track):
                return False
        return True

    def snr_db(self, group, source, start, end, level_db):
        """The event's SNR over the background if `source` makes it: the scene's reference (a siren
        at 10 m), the group's level, this instance's level and the 1/r loss at its median distance."""
        r = float(np.median(source.distance_at(np.arange(start, end, 0.05))))
        return self.snr_ref + GROUP_LEVEL_DB[group] + level_db - audio.db(r / geo.REFERENCE_DISTANCE_M)

    def offscreen_source(self, group, start, end, audible):
        """An invisible, audible, identifiable object of a compatible class: beside or behind the camera."""
        rng = self.rng
        label = "person" if group == "speech" else str(rng.choice(COMPATIBLE[group]))
        for _ in range(100):
            motion = str(rng.choice(MOTIONS, p=MOTION_P[group]))
            trajectory = geo.random_trajectory(rng, label, motion, end)
            px, pz = trajectory.position(np.array([end]))
            if rng.random() < 0.6:  # beside the field of view
                z = float(rng.uniform(2.0, 35.0))
                x = float(rng.choice([-1, 1]) * (z * self.camera.tan_h * 1.3 + rng.uniform(2.0, 15.0)))
            else:  # behind the camera
                z = float(rng.uniform(-30.0, -2.0))
                x = float(rng.uniform(-12.0, 12.0))
            trajectory.x0 += x - float(px[0])
            trajectory.z0 += z - float(pz[0])
            source = path_source(self.camera, trajectory)
            if geo.visible_anywhere(self.camera, trajectory, self.frame_times) or not audible(source) or \
                    not self.source_identifiable(group, start, end, source, None):
                continue
            return source, {"label": label, **trajectory.describe()}
        return None, None

    def choose_source(self, group, start, end, audible, offscreen):
        """(source track or None for off-screen, Source, case, off-screen description); raises
        NoSource. Sources are audible (audible(Source)): an event nobody could hear is not an event."""
        rng = self.rng
        labels = COMPATIBLE[group]
        vehicle_labels = ["car", "car", "truck", "bus"] if group == "siren" else ["car", "car", "car", "truck", "bus", "motorcycle"]

        def new_label():
            return "person" if group == "speech" else str(rng.choice(vehicle_labels))

        def usable(track):
            return audible(track.source) and self.source_identifiable(group, start, end, track.source, track)

        def candidates():
            return [tr for tr in self.candidates(group, start, end) if usable(tr)]

        if offscreen:
            source, path = self.offscreen_source(group, start, end, audible)
            if source is None:
                raise NoSource(f"{self.split}: no audible, identifiable off-screen place for a {group} event at {start:.2f}..{end:.2f} s")
            pending = [{"group": group, "start": start, "end": end, "source": source, "track": None}]
            # Make the off-screen decision non-trivial: usually something visible could have made it.
            if self.synthetic_allowed and not self.visible_compatible(group, end) and rng.random() < 0.7:
                self.add_synthetic(new_label(), str(rng.choice(MOTIONS)), end, must_show=(start, end),
                                   accept=lambda tr: self.keeps_identifiable(tr, pending))
            return None, source, "off-screen", path
        motion = str(rng.choice(MOTIONS, p=MOTION_P[group]))
        matching = [tr for tr in candidates() if tr.motion_over(start, end) == motion]
        track = None
        if matching and (rng.random() < 0.75 or not self.synthetic_allowed):
            track = matching[int(rng.integers(len(matching)))]
        elif self.synthetic_allowed:
            track = self.add_synthetic(new_label(), motion, end, must_show=(start, end),
                                       accept=lambda tr: usable(tr) and self.keeps_identifiable(tr))
        if track is None:
            others = candidates()
            if not others:
                raise NoSource(f"{self.split}: no audible, identifiable visible source for a {group} event at {start:.2f}..{end:.2f} s")
            track = others[int(rng.integers(len(others)))]
        pending = [{"group": group, "start": start, "end": end, "source": track.source, "track": track}]

        def distractor_ok(tr):
            return self.keeps_identifiable(tr, pending)

        actual = track.motion_over(start, end)
        case = "still" if actual == "still" else "plain"
        if self.synthetic_allowed:
            if actual != "still" and rng.random() < 0.3:
                template = getattr(track, "trajectory", None)
                if template is None:  # a real track: imitate its radial speed
                    template = geo.random_trajectory(rng, "person" if group == "speech" else "car", actual, end)
                    if actual in ("approaching", "receding"):
                        r0, r1 = track.source.distance_at(np.array([start, end]))
                        template.speed, template.accel = abs(r1 - r0) / (end - start), 0.0
                if self.add_synthetic(new_label(), actual, end, must_show=(start, end), like=template, accept=distractor_ok) is not None:
                    case = "moving-alike"
            if len(self.visible_compatible(group, end)) < 2 and rng.random() < 0.5:
                self.add_synthetic(new_label(), str(rng.choice(MOTIONS)), end, must_show=(start, end), accept=distractor_ok)
        if case == "plain":
            case = "several-compatible" if len(self.visible_compatible(group, end)) >= 2 else "single-compatible"
        return track, track.source, case, None

    def event_times(self, count):
        """Non-overlapping [start, end] spans in the scene for `count` events of random groups."""
        rng = self.rng
        groups = [str(rng.choice(GROUPS)) for _ in range(count)]
        lengths = [float(rng.uniform(*DURATION_S[g])) for g in groups]
        gaps = [float(rng.uniform(0.3, 1.5)) for _ in range(count - 1)]
        room = self.duration - 0.2 - sum(lengths) - sum(gaps)
        if room < 0:
            return self.event_times(count - 1) if count > 1 else [(groups[0], 0.1, min(self.duration - 0.1, 0.1 + lengths[0]))]
        cuts = np.sort(rng.uniform(0, room, count + 1))
        spans, t = [], 0.1 + cuts[0]
        for i, (g, d) in enumerate(zip(groups, lengths)):
            spans.append((g, t, t + d))
            t += d + (gaps[i] if i < len(gaps) else 0) + (cuts[i + 1] - cuts[i])
        return spans

    def plan_events(self, count):
        rng = self.rng
        for group, start, end in self.event_times(count):
            offscreen = bool(rng.random() < OFFSCREEN_SHARE)
            # A group nothing audible can make here (speech in a loud street with nobody near)
            # gives way to another; the last resort is the quietest audible level.
            attempts = 12
            for attempt in range(attempts):
                if attempt:
                    group = str(rng.choice(GROUPS))
                    end = min(start + float(rng.uniform(*DURATION_S[group])), end)
                level_db = float(rng.uniform(*LEVEL_SPREAD_DB[group]))
                min_snr = float(rng.uniform(MIN_SNR_DB, MIN_SNR_DB + 3.0)) if attempt < attempts - 2 else -100.0

                def audible(source):
                    return self.snr_db(group, source, start, end, level_db) >= min_snr

                try:
                    track, source, case, path = self.choose_source(group, start, end, audible, offscreen)
                    break
                except NoSource:
                    continue
            else:
                continue  # nothing can make a sound here: the scene has one event less
            snr = float(np.clip(self.snr_db(group, source, start, end, level_db), MIN_SNR_DB, MAX_SNR_DB))
            self.events.append({"group": group, "start": start, "end": end, "track": track, "source": source,
                                "case": case, "offscreen": path, "snr_db": snr})

    def plan_demo_events(self, groups):
        """Events for the demo media, where only real tracks can be sources (synthetic boxes are
        not in the video): each group in turn goes on a real compatible track, timed to end just
        before the track does and to last most of its visible time; None in `groups` is an
        off-screen event in a free gap. Audibility and identifiability as for scenes."""
        rng = self.rng

        def free(start, end):
            return all(end + 0.3 <= ev["start"] or start >= ev["end"] + 0.3 for ev in self.events)

        def add(group, start, end, track, source, case, path, level_db):
            snr = float(np.clip(self.snr_db(group, source, start, end, level_db), MIN_SNR_DB, MAX_SNR_DB))
            self.events.append({"group": group, "start": start, "end": end, "track": track, "source": source,
                                "case": case, "offscreen": path, "snr_db": snr})

        for group in groups:
            if group is None:
                group = str(rng.choice(["siren", "horn"]))
                level_db = float(rng.uniform(*LEVEL_SPREAD_DB[group]))
                for _ in range(50):
                    length = float(rng.uniform(*DURATION_S[group]))
                    start = float(rng.uniform(0.2, self.duration - length - 0.2))
                    if not free(start, start + length):
                        continue
                    source, path = self.offscreen_source(
                        group, start, start + length,
                        lambda src: self.snr_db(group, src, start, start + length, level_db) >= MIN_SNR_DB + 3)
                    if source is not None:
                        add(group, start, start + length, None, source, "off-screen", path, level_db)
                        break
                continue
            level_db = float(rng.uniform(*LEVEL_SPREAD_DB[group]))
            tracks = [tr for tr in self.tracks if tr.label in COMPATIBLE[group] and tr.boxes[-1, 0] - tr.boxes[0, 0] >= 1.0]
            for i in rng.permutation(len(tracks)):
                track = tracks[int(i)]
                first, last = float(track.boxes[0, 0]), float(track.boxes[-1, 0])
                end = last - 0.05
                start = max(first + 0.1, end - min(DURATION_S[group][1], 0.9 * (last - first)))
                if end - start < DURATION_S[group][0] * 0.5 or not free(start, end):
                    continue
                if self.snr_db(group, track.source, start, end, level_db) < MIN_SNR_DB + 3 or \
                        not self.source_identifiable(group, start, end, track.source, track):
                    continue
                case = "still" if track.motion_over(start, end) == "still" else \
                    "several-compatible" if len(self.visible_compatible(group, end)) >= 2 else "single-compatible"
                add(group, start, end, track, track.source, case, None, level_db)
                break
        self.events.sort(key=lambda ev: ev["start"])

    # -- audio --------------------------------------------------------------------------------

    def render(self, rate, stereo=False):
        """Mix at `rate` (mono, or stereo with sources panned by x); returns samples and the
        per-event facts for the json."""
        rng = self.rng
        n = int(round(self.duration * rate))
        bg_name, bg_a, bg_b = self.cfg["background"]
        bg = material(bg_name, bg_a, bg_b, rate)
        bg_offset = float(rng.uniform(0, bg.duration))
        street = bg.looped(bg_offset, self.duration + 0.1)[:n].copy()
        street *= 10 ** (rng.uniform(-32.0, -24.0) / 20) / max(audio.rms(street), 1e-9)
        bed_name, bed_a, bed_b = self.cfg["engine_bed"]
        bed = material(bed_name, bed_a, bed_b, rate)
        bed_offset = float(rng.uniform(0, bed.duration))
        bed_db = float(rng.uniform(-22.0, -12.0))
        engine_bed = bed.looped(bed_offset, self.duration + 0.1)[:n].copy()
        engine_bed *= audio.rms(street) * 10 ** (bed_db / 20) / max(audio.rms(engine_bed), 1e-9)
        background = street + engine_bed

        mono = background.copy()
        left, right = background / math.sqrt(2), background / math.sqrt(2)
        facts = []
        for ev in self.events:
            choices = self.cfg["sounds"][ev["group"]]
            name, a, b = choices[int(rng.integers(len(choices)))]
            mat = material(name, a, b, rate)
            offset = float(rng.uniform(0, mat.duration))
            factor = float(rng.uniform(0.9, 1.1)) if self.cfg["augment"] else 1.0
            signal, first, last = audio.place_source(mat, offset, factor, ev["start"], ev["end"], ev["source"].distance_at, rate, n)
            snr = ev["snr_db"]
            gain = 10 ** (snr / 20) * audio.rms(background[first:last]) / max(audio.rms(signal[first:last]), 1e-9)
            signal *= gain
            mono += signal
            if stereo:
                pan = ev["source"].pan_at(np.arange(n) / rate)
                left += signal * (1 - pan) / math.sqrt(2)
                right += signal * (1 + pan) / math.sqrt(2)
            times = np.arange(ev["start"], ev["end"] + 1e-9, 0.1)
            facts.append({"sound": name, "sound_offset": round(a + offset, 4), "sound_range": [a, b], "rate": round(factor, 4),
                          "snr_db": round(snr, 2),
                          "distance_m": [[round(float(t), 2), round(float(r), 2)] for t, r in zip(times, ev["source"].distance_at(times))]})
        out = np.stack([left, right], axis=1) if stereo else mono
        peak = np.abs(out).max()
        if peak > 0.98:  # only relative levels matter
            out *= 0.98 / peak
        background_json = {"sound": bg_name, "offset": round(bg_a + bg_offset, 4), "range": [bg_a, bg_b], "snr_db": round(self.snr_ref, 2),
                           "extra": [{"sound": bed_name, "offset": round(bed_a + bed_offset, 4), "range": [bed_a, bed_b],
                                      "level_db": round(bed_db, 2)}]}
        return out, facts, background_json

    def scene_json(self, scene_id, wav_name, facts, background_json):
        events = []
        for ev, fact in zip(self.events, facts):
            e = {"group": ev["group"], "sound": fact["sound"], "sound_offset": fact["sound_offset"],
                 "start": round(ev["start"], 4), "end": round(ev["end"], 4),
                 "source": ev["track"].id if ev["track"] is not None else -1, "case": ev["case"],
                 "snr_db": fact["snr_db"], "rate": fact["rate"], "sound_range": fact["sound_range"],
                 "distance_m": fact["distance_m"]}
            if ev["offscreen"] is not None:
                e["offscreen_path"] = ev["offscreen"]
            events.append(e)
        tracks = []
        for tr in sorted(self.tracks, key=lambda tr: tr.id):
            t = {"id": tr.id, "label": tr.label, "synthetic": tr.synthetic,
                 "boxes": [[round(float(v), 4) for v in box] for box in tr.boxes]}
            if tr.motion is not None:
                t["motion"] = tr.motion
            tracks.append(t)
        return {"schema": SCHEMA, "id": scene_id, "split": self.split, "audio": wav_name, "duration": self.duration,
                "video": {"clip": self.cfg["clip"], "offset": round(self.offset, 4), "width": self.clip.width, "height": self.clip.height},
                "tracks": tracks, "events": events, "background": background_json,
                "builder": self.builder_json()}

    def builder_json(self):
        rule = {"identifiable_db": self.identifiable_db}
        if self.identifiable_log_odds > 0:  # scenes of the dB rule keep their former description
            rule = {"identifiable_log_odds": self.identifiable_log_odds, "window_noise_db": WINDOW_NOISE_DB}
        return {**rule, "camera": {"height_m": round(self.camera.height, 2),
                                   "pitch_deg": round(math.degrees(self.camera.pitch), 2), "hfov_deg": geo.HFOV_DEG}}


# ---------------------------------------------------------------------------------------------

_clip_cache = {}


def clip_tracks(split, work, plugins):
    clip = SPLITS["test" if split == "demo" else split]["clip"]
    if clip not in _clip_cache:
        _clip_cache[clip] = ClipTracks(cached_tracks(clip, work, plugins))
    return _clip_cache[clip]


def build_one(job):
    split, index, seed, out_dir, work, plugins, duration, identifiable_db, identifiable_log_odds = job
    for attempt in range(10):  # a scene where no event could be placed is drawn again
        builder = SceneBuilder(split, clip_tracks(split, work, plugins), seed, index, duration=duration,
                               identifiable_db=identifiable_db, identifiable_log_odds=identifiable_log_odds, attempt=attempt)
        builder.add_background_objects()
        builder.plan_events(1 if builder.rng.random() < 0.55 else 2)
        if builder.events:
            break
    else:
        raise RuntimeError(f"{split} scene {index}: no event could be placed in 10 draws")
    samples, facts, background = builder.render(16000)
    scene_id = f"{split}-{index:05d}"
    audio.write_wav(os.path.join(out_dir, scene_id + ".wav"), samples, 16000)
    doc = builder.scene_json(scene_id, scene_id + ".wav", facts, background)
    with open(os.path.join(out_dir, scene_id + ".json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    return [e["case"] for e in doc["events"]]


def write_media(out_path, seed, work, plugins):
    """The staged street clip with a built soundtrack (test-split recordings, real tracks only)."""
    clip = clip_tracks("demo", work, plugins)
    builder = SceneBuilder("demo", clip, seed, 0, duration=clip.duration, offset=0.0, synthetic=False)
    builder.plan_demo_events(["siren", "speech", "horn", "engine", None, "speech", "siren", "horn"])
    stereo, facts, background = builder.render(44100, stereo=True)
    stem = os.path.splitext(out_path)[0]
    name = os.path.basename(stem)
    mono16 = audio.resample(0.5 * (stereo[:, 0] + stereo[:, 1]), 44100, 16000)
    audio.write_wav(stem + ".wav", mono16, 16000)
    doc = builder.scene_json(name, name + ".wav", facts, background)
    doc["media"] = os.path.basename(out_path)
    with open(stem + ".json", "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    video = os.path.join(shared_dir(), "media", builder.cfg["clip"])
    with tempfile.TemporaryDirectory() as tmp:
        soundtrack = os.path.join(tmp, "soundtrack.wav")
        audio.write_wav(soundtrack, stereo, 44100)
        pipeline = ["gst-launch-1.0", "-q", "-e", "filesrc", f"location={video}", "!", "qtdemux", "name=demux",
                    "demux.video_0", "!", "queue", "!", "matroskamux", "name=mux", "!",
                    "filesink", f"location={out_path}",
                    "filesrc", f"location={soundtrack}", "!", "wavparse", "!", "audioconvert", "!", "flacenc", "!",
                    "queue", "!", "mux."]
        print("write-media: " + " ".join(pipeline), flush=True)
        run = subprocess.run(pipeline, capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"write-media: gst-launch failed ({run.returncode}): {run.stderr[-2000:]}")
    print(f"write-media: {out_path}, {stem}.json, {stem}.wav: {len(doc['events'])} events "
          + ", ".join(f"{e['group']}->{e['source']}" for e in doc["events"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "build", "fusion", "scenes"), help="scene folder (gets train/ and test/)")
    ap.add_argument("--work", default=os.path.join(REPO, "build", "fusion"), help="cache of the clips' JSON lines (tracks/)")
    ap.add_argument("--plugins", default=os.environ.get("GST_PLUGIN_PATH", os.path.join(REPO, "build", "plugins")))
    ap.add_argument("--train", type=int, default=1500)
    ap.add_argument("--test", type=int, default=300)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--identifiable-db", type=float, default=IDENTIFIABLE_DB,
                    help="the dB rule (without --identifiable-log-odds): least loudness-course difference between a "
                         "source and its rivals (dB RMS; 0: no rule)")
    ap.add_argument("--identifiable-log-odds", type=float, default=0.0,
                    help=f"the observer rule: least expected log-odds of the source against each rival for an observer "
                         f"of the window loudness (e.g. {IDENTIFIABLE_LOG_ODDS}); 0: the dB rule")
    ap.add_argument("--write-media", metavar="OUT.mkv", help="write the demo media file (and its .json, .wav) instead of scenes")
    args = ap.parse_args()

    if args.write_media:
        os.makedirs(os.path.dirname(os.path.abspath(args.write_media)), exist_ok=True)
        write_media(args.write_media, args.seed, args.work, args.plugins)
        return
    jobs = []
    for split, count in (("train", args.train), ("test", args.test)):
        folder = os.path.join(args.out, split)
        os.makedirs(folder, exist_ok=True)
        clip_tracks(split, args.work, args.plugins)  # run the video path once, before the workers
        jobs += [(split, i, args.seed, folder, args.work, args.plugins, args.duration, args.identifiable_db,
                  args.identifiable_log_odds) for i in range(count)]
    with multiprocessing.Pool(args.jobs) as pool:
        cases = pool.map(build_one, jobs, chunksize=8)
    from collections import Counter
    for split, count in (("train", args.train), ("test", args.test)):
        mine = [c for (s, *_), cs in zip(jobs, cases) if s == split for c in cs]
        print(f"{split}: {count} scenes, {len(mine)} events: {dict(Counter(mine))}")


if __name__ == "__main__":
    main()
