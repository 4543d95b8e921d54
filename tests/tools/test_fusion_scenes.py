#!/usr/bin/env python3
"""Tests of the fusion scene builder (tools/fusion): the physics of the rendering (Doppler factor,
1/r gain, propagation delay, band-limited resampling), the geometry (distance from box size, edge-cut
boxes, projection of synthetic objects), the split table (train and test material disjoint) and
built scenes (deterministic in the seed, sources on the frame at the event end, off-screen sources
invisible, the identifiability rule, the wav at 16 kHz), and add_member.py (ensembles). NumPy only (python3-numpy, a training
package): without it the test is skipped. Scenes need the staged media (XMODAL_SHARED).

usage: test_fusion_scenes.py REPO
"""
import json
import math
import os
import sys
import tempfile
import unittest

try:
    import numpy as np
except ImportError:
    print("SKIP: python3-numpy is not installed (tools/debian-packages-training.txt)")
    sys.exit(77)

REPO = sys.argv.pop(1) if len(sys.argv) > 1 and os.path.isdir(sys.argv[1]) else \
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tools", "fusion"))

import add_member  # noqa: E402
import build_scenes  # noqa: E402
import ideal_observer  # noqa: E402
import scene_audio as audio  # noqa: E402
import scene_geometry as geo  # noqa: E402
from tracks import ClipTracks, shared_dir  # noqa: E402

MEDIA = os.path.join(shared_dir(), "media")


def tone_material(tmp, freq, rate=16000, seconds=6.0):
    path = os.path.join(tmp, f"tone{freq}.wav")
    t = np.arange(int(rate * seconds)) / rate
    audio.write_wav(path, 0.5 * np.sin(2 * math.pi * freq * t), rate)
    return audio.Material(path, 0.0, seconds)


def peak_frequency(x, rate):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=8 * len(x)))
    return np.fft.rfftfreq(8 * len(x), 1 / rate)[spectrum.argmax()]


class Rendering(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def test_doppler_factor_of_a_constant_radial_speed(self):
        mat = tone_material(self.tmp.name, 1000.0)
        for v in (-15.0, 15.0):  # approaching, receding (m/s)
            y, first, last = audio.place_source(mat, 0.0, 1.0, 0.5, 4.5, lambda t: 60.0 + v * t, 16000, 16000 * 5)
            heard = peak_frequency(y[first + 1600:last - 1600], 16000)
            expected = 1000.0 / (1 + v / geo.SPEED_OF_SOUND)  # source moving, microphone at rest
            self.assertAlmostEqual(heard / expected, 1.0, delta=5e-4, msg=f"radial speed {v} m/s: {heard:.2f} Hz")

    def test_augmentation_rate_scales_the_pitch(self):
        mat = tone_material(self.tmp.name, 800.0)
        y, first, last = audio.place_source(mat, 0.0, 1.1, 0.0, 3.0, lambda t: np.full_like(t, 10.0), 16000, 16000 * 3)
        self.assertAlmostEqual(peak_frequency(y[first + 800:last - 800], 16000), 880.0, delta=0.5)

    def test_gain_is_inverse_distance(self):
        mat = tone_material(self.tmp.name, 500.0)
        near, a, b = audio.place_source(mat, 0.0, 1.0, 0.0, 3.0, lambda t: np.full_like(t, 10.0), 16000, 48000)
        far, _, _ = audio.place_source(mat, 0.0, 1.0, 0.0, 3.0, lambda t: np.full_like(t, 40.0), 16000, 48000)
        self.assertAlmostEqual(audio.rms(far[a + 1000:b - 1000]) / audio.rms(near[a + 1000:b - 1000]), 0.25, delta=0.002)

    def test_propagation_delay(self):
        # A click emitted at the event start reaches the microphone r/c later; the first heard
        # sample is read where the emission time of that sample lies.
        rate = 16000
        path = os.path.join(self.tmp.name, "click.wav")
        x = np.zeros(rate)
        x[1600] = 0.9  # 0.1 s into the material
        audio.write_wav(path, x, rate)
        mat = audio.Material(path, 0.0, 1.0)
        r_start, v = 34.3, 34.3  # receding 34.3 m/s: a sample heard at t left at tau = (t - 0.1)/1.1
        y, first, _ = audio.place_source(mat, 0.0, 1.0, 0.0, 1.0, lambda t: r_start + v * t, rate, rate, fade_s=0.0)
        heard = (np.argmax(np.abs(y)) - first) / rate
        # emitted 0.1 s after the first heard sound left (tau0 = 0.0909 s): heard at tau + r(tau)/c
        tau0 = (0.0 - r_start / geo.SPEED_OF_SOUND) / (1 + v / geo.SPEED_OF_SOUND)
        tau = tau0 + 0.1
        self.assertAlmostEqual(heard, tau + (r_start + v * tau) / geo.SPEED_OF_SOUND, delta=1.5 / rate)

    def test_resampling_keeps_the_band_and_removes_what_aliases(self):
        rate_in = 44100
        t = np.arange(rate_in) / rate_in
        keep = audio.resample(np.sin(2 * math.pi * 1000 * t), rate_in, 16000)
        gone = audio.resample(np.sin(2 * math.pi * 12000 * t), rate_in, 16000)  # above 8 kHz
        self.assertEqual(len(keep), 16000)
        self.assertAlmostEqual(audio.rms(keep[500:-500]), 1 / math.sqrt(2), delta=0.01)
        self.assertAlmostEqual(peak_frequency(keep, 16000), 1000.0, delta=1.0)
        self.assertLess(audio.rms(gone[500:-500]), 0.003)

    def test_loop_crossfade_has_no_gap(self):
        mat = tone_material(self.tmp.name, 250.0, seconds=1.0)
        looped = mat.looped(0.7, 3.0)
        self.assertGreaterEqual(len(looped), 3 * 16000)
        frames = looped[: 3 * 16000].reshape(-1, 160)
        self.assertGreater(np.sqrt((frames ** 2).mean(axis=1)).min(), 0.5 * audio.rms(looped))


class Geometry(unittest.TestCase):
    def test_distance_from_box_size(self):
        aspect = 16 / 9
        boxes = np.array([[t, 0.45, 0.45, 0.1, 0.1] for t in np.arange(0, 1, 1 / 30)])
        r = geo.real_track_distance(boxes, "car", aspect)
        self.assertAlmostEqual(r[15], 2.0 / (2 * math.sqrt(geo.tangents(aspect)[0] * geo.tangents(aspect)[1]) * 0.1), delta=1e-6)
        self.assertAlmostEqual(r[15], 23.09, delta=0.01)  # the README's example: a car of size 0.1 is 23 m away

    def test_edge_cut_boxes_keep_the_uncut_size(self):
        times = np.arange(0, 1.5, 1 / 30)
        x = 0.2 + 0.45 * times  # a 0.2-wide car whose right side leaves the frame after t = 1.33 s
        whole = np.stack([times, x, np.full_like(times, 0.4), np.full_like(times, 0.2), np.full_like(times, 0.2)], axis=1)
        cut = whole.copy()
        cut[:, 3] = np.minimum(whole[:, 3], 1 - whole[:, 1])
        self.assertLess(cut[-1, 3] / cut[0, 3], 0.8)
        r_whole = geo.real_track_distance(whole, "car", 16 / 9)
        r_cut = geo.real_track_distance(cut, "car", 16 / 9)
        self.assertLess(np.abs(r_cut / r_whole - 1).max(), 0.03)  # only the box centre differs
        self.assertGreater(r_cut[-1], r_cut[0])  # the off-axis ray is longer

    def test_synthetic_boxes_follow_the_camera(self):
        rng = np.random.default_rng(3)
        camera = geo.Camera(7.0, 15.0, 16 / 9)
        path = geo.Trajectory("car", "approaching", 1.75, 60.0, (0.0, -1.0), 10.0, 0.0, geo.BOX_ALONG_M["car"])
        times = np.arange(0, 4, 1 / 30)
        boxes, visible, distance = geo.synthetic_boxes(rng, camera, path, times, jitter=0.0, drop=0.0)
        self.assertTrue(visible.all())
        size = np.sqrt(boxes[:, 3] * boxes[:, 4])
        x, z = path.position(times)
        _, _, _, _, depth = camera.project(x, z, *path.box_m)
        self.assertLess(np.ptp(size * depth) / np.mean(size * depth), 1e-9)  # size ∝ 1/depth
        self.assertTrue(np.all(np.diff(distance) < 0))
        self.assertFalse(geo.visible_anywhere(camera, geo.Trajectory("car", "still", 0.0, -10.0, (0, 1), 0, 0, (2, 2)), times))


@unittest.skipUnless(os.path.exists(os.path.join(MEDIA, "siren_ambulance_4s.wav")), f"staged media not found in {MEDIA}")
class Identifiability(unittest.TestCase):
    """The observer rule's arithmetic: a still siren (flat course) from 0 to 2.4 s has 4 windows half
    inside it (centres 0.4875 ... 1.9275 s), heard with sigma 1.3 dB, so a rival whose size course
    mismatches by m dB RMS at those centres gives log-odds 4 m^2 / (2 1.3^2); 5.4 is reached at
    m = 2.136 dB."""

    @staticmethod
    def rule(log_odds, db):
        builder = object.__new__(build_scenes.SceneBuilder)
        builder.identifiable_log_odds, builder.identifiable_db = log_odds, db
        return builder

    @staticmethod
    def rival(mismatch_db, at):
        """A car whose size course is a ramp with an RMS of mismatch_db (means removed) at the times `at`."""
        t = np.arange(-0.5, 3.0, 1 / 30)
        ramp = (t - np.mean(at)) * mismatch_db / np.std(at)  # dB of 10 log10(w h)
        side = 10 ** (ramp / 20)
        return build_scenes.SceneTrack(7, "car", np.stack([t, 0 * t, 0 * t, side, side], axis=1), True, None)

    def test_event_windows_are_the_detectors(self):
        # Windows of 0.975 s every 0.48 s, at least half inside the event (FUSION.md §6).
        np.testing.assert_allclose(build_scenes.event_windows(0.0, 2.4), [0.4875, 0.9675, 1.4475, 1.9275])
        np.testing.assert_allclose(build_scenes.event_windows(0.4, 1.4), [0.4875, 0.9675])
        self.assertEqual(len(build_scenes.event_windows(0.2, 0.6)), 0)  # shorter than half a window

    def test_log_odds_rule(self):
        still = build_scenes.Source(lambda t: np.full(np.shape(t), 20.0), lambda t: 0.0)
        observer = self.rule(build_scenes.IDENTIFIABLE_LOG_ODDS, 0.0)
        self.assertAlmostEqual(build_scenes.WINDOW_NOISE_DB["siren"], 1.3)
        at = build_scenes.event_windows(0.0, 2.4)
        self.assertFalse(observer.distinct("siren", 0.0, 2.4, still, 0.0, self.rival(2.10, at)))
        self.assertTrue(observer.distinct("siren", 0.0, 2.4, still, 0.0, self.rival(2.17, at)))
        # A visible source's own mismatch counts against it: rival^2 - own^2 must reach 4.56 dB^2.
        self.assertFalse(observer.distinct("siren", 0.0, 2.4, still, 0.5, self.rival(2.17, at)))
        # One window holds no course once its mean is removed: a 0.9 s event cannot rule out any rival.
        self.assertEqual(len(build_scenes.event_windows(0.5, 1.4)), 1)
        self.assertFalse(observer.distinct("siren", 0.5, 1.4, still, 0.0, self.rival(10.0, at)))
        # The older rule (0.1 s steps over the event): rival >= own + 1 dB.
        older = self.rule(0.0, 1.0)
        steps = np.arange(0.0, 2.4 + 1e-9, 0.1)
        self.assertTrue(older.distinct("siren", 0.0, 2.4, still, 0.0, self.rival(1.05, steps)))
        self.assertFalse(older.distinct("siren", 0.0, 2.4, still, 0.5, self.rival(1.45, steps)))

    def test_rivals_are_the_tracks_fusion_sees(self):
        # A person the tracker misses for 0.2 s around the event's end: fusion bridges the gap (box_at:
        # max_gap 0.5 s), so the observer rule must count it as a rival; the dB rule keeps its
        # frame-exact test (its scenes stay byte-identical).
        t = np.concatenate([np.arange(0.0, 1.9, 1 / 30), np.arange(2.1, 3.0, 1 / 30)])
        boxes = np.stack([t, 0 * t + 0.4, 0 * t + 0.3, 0 * t + 0.05, 0 * t + 0.2], axis=1)
        flicker = build_scenes.SceneTrack(3, "person", boxes, False, None)
        self.assertTrue(flicker.exists_at(2.0))  # inside a 0.2 s gap
        self.assertTrue(flicker.exists_at(3.05))  # within 0.1 s after the last box
        self.assertFalse(flicker.exists_at(3.2))
        self.assertFalse(flicker.present_at(2.0, 0.75 / 30))
        gone = build_scenes.SceneTrack(4, "person", boxes[t < 1.0], False, None)
        self.assertFalse(gone.exists_at(2.0))
        for log_odds, counted in ((build_scenes.IDENTIFIABLE_LOG_ODDS, [3]), (0.0, [])):
            builder = self.rule(log_odds, 1.0)
            builder.tracks, builder.frame_tol = [flicker, gone], 0.75 / 30
            self.assertEqual([tr.id for tr in builder.rivals("speech", 1.0, 2.0)], counted)
            self.assertEqual(builder.rivals("siren", 1.0, 2.0), [])  # not a compatible class


class AddMember(unittest.TestCase):
    """tools/fusion/add_member.py: appends a member's weights to the description's ensemble, relative to it,
    and refuses members that would read other tokens or are listed already."""

    def test_adds_checks_and_refuses(self):
        with tempfile.TemporaryDirectory() as tmp:
            settings = {"audio_window": 4.0, "curve_points": 8, "model_dim": 64, "heads": 4,
                        "sound_groups": [{"name": "siren", "classes": [316]}], "object_classes": ["car", "other"]}

            def write(name, **extra):
                doc = dict(settings, weights=name + ".safetensors", **extra)
                with open(os.path.join(tmp, name + ".json"), "w") as f:
                    json.dump(doc, f)
                open(os.path.join(tmp, name + ".safetensors"), "w").close()
                return os.path.join(tmp, name + ".json")

            main, member = write("fusion"), write("fusion_observer")
            self.assertEqual(add_member.add_member(main, member), "fusion_observer.safetensors")
            with open(main) as f:
                self.assertEqual(json.load(f)["ensemble"], ["fusion_observer.safetensors"])
            with self.assertRaisesRegex(ValueError, "already a member"):
                add_member.add_member(main, member)
            wide = write("wide", model_dim=128)
            with self.assertRaisesRegex(ValueError, "wide.json: 'model_dim' is 128, but .*fusion.json has 64"):
                add_member.add_member(main, wide)
            os.remove(os.path.join(tmp, "fusion_observer.safetensors"))
            with self.assertRaisesRegex(ValueError, "do not exist"):
                add_member.add_member(write("other"), member)


class IdealObserver(unittest.TestCase):
    def test_window_loudness_is_the_detectors(self):
        t = np.arange(3 * 16000) / 16000
        centres, loud = ideal_observer.window_loudness(0.5 * np.sin(2 * math.pi * 440 * t))
        # Windows of 15600 samples every 7680 (AudioEventDetector), centred 0.4875 s into each.
        self.assertEqual(len(centres), 1 + (len(t) - 15600) // 7680)
        self.assertAlmostEqual(centres[1], (7680 + 7800) / 16000)
        np.testing.assert_allclose(loud, 10 * np.log10(0.125), atol=0.01)

    def test_mismatch_ignores_an_offset_and_missing_boxes(self):
        course = np.array([0.0, 1.0, 2.0, 3.0])
        self.assertAlmostEqual(ideal_observer.mismatch(course, course + 5.0), 0.0)
        self.assertAlmostEqual(ideal_observer.mismatch(course, np.array([0.0, 0.0, np.nan, 0.0])),
                               np.std([0.0, 1.0, 3.0]))
        self.assertEqual(ideal_observer.mismatch(course, np.array([np.nan, np.nan, 1.0, np.nan])), np.inf)


class Scenes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        # A tiny clip of our video path's JSON lines: two parked cars and one approaching car.
        lines = []
        for n in range(240):
            t = n / 30.0
            objects = [
                {"id": 1, "x": 0, "y": 0, "w": 1, "h": 1, "detection": {"bounding_box": {"x_min": 0.2, "y_min": 0.5, "x_max": 0.3, "y_max": 0.58}, "label": "car", "confidence": 0.9, "label_id": 2}, "tracking": {"state": "confirmed"}},
                {"id": 2, "x": 0, "y": 0, "w": 1, "h": 1, "detection": {"bounding_box": {"x_min": 0.7, "y_min": 0.4, "x_max": 0.77, "y_max": 0.46}, "label": "car", "confidence": 0.9, "label_id": 2}, "tracking": {"state": "confirmed"}},
                {"id": 3, "x": 0, "y": 0, "w": 1, "h": 1, "detection": {"bounding_box": {"x_min": 0.5 - 0.01 * t, "y_min": 0.3 + 0.04 * t, "x_max": 0.55 + 0.01 * t, "y_max": 0.33 + 0.06 * t}, "label": "car", "confidence": 0.9, "label_id": 2}, "tracking": {"state": "confirmed"}},
                {"id": 4, "x": 0, "y": 0, "w": 1, "h": 1, "detection": {"bounding_box": {"x_min": 0.1, "y_min": 0.6, "x_max": 0.13, "y_max": 0.75}, "label": "person", "confidence": 0.9, "label_id": 0}, "tracking": {"state": "confirmed"}},
            ]
            lines.append(json.dumps({"schema": "xmodal-frame-1", "frame_number": n, "timestamp": int(t * 1e9),
                                     "resolution": {"width": 640, "height": 360}, "objects": objects, "source": "test"}))
        cls.jsonl = os.path.join(cls.tmp.name, "clip.jsonl")
        with open(cls.jsonl, "w") as f:
            f.write("\n".join(lines) + "\n")
        cls.clip = ClipTracks(cls.jsonl)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def build(self, split, index, seed=5):
        for attempt in range(10):
            b = build_scenes.SceneBuilder(split, self.clip, seed, index, duration=6.0, attempt=attempt)
            b.add_background_objects()
            b.plan_events(2)
            if b.events:
                break
        samples, facts, background = b.render(16000)
        return b, samples, b.scene_json(f"{split}-{index}", "x.wav", facts, background)

    def test_split_table_is_disjoint(self):
        train, test = build_scenes.SPLITS["train"], build_scenes.SPLITS["test"]
        self.assertNotEqual(train["clip"], test["clip"])
        for group in build_scenes.GROUPS:
            for name, a, b in train["sounds"][group]:
                for name2, a2, b2 in test["sounds"][group]:
                    self.assertTrue(name != name2 or b <= a2 or b2 <= a, f"{group}: {name} {a}..{b} overlaps {a2}..{b2}")
        for key in ("background", "engine_bed"):
            (n1, a1, b1), (n2, a2, b2) = train[key], test[key]
            self.assertTrue(n1 != n2 or b1 <= a2 or b2 <= a1)

    def test_deterministic_in_the_seed(self):
        _, s1, j1 = self.build("train", 3)
        _, s2, j2 = self.build("train", 3)
        _, s3, j3 = self.build("train", 3, seed=6)
        self.assertEqual(json.dumps(j1), json.dumps(j2))
        self.assertTrue(np.array_equal(s1, s2))
        self.assertNotEqual(json.dumps(j1), json.dumps(j3))

    def test_scene_contents(self):
        offscreen = events = 0
        for index in range(12):
            builder, samples, doc = self.build("test", index)
            self.assertEqual(doc["schema"], "xmodal-scene-1")
            self.assertEqual(len(samples), 6 * 16000)
            self.assertLessEqual(np.abs(samples).max(), 0.98 + 1e-9)
            tracks = {t["id"]: t for t in doc["tracks"]}
            spans = sorted((e["start"], e["end"]) for e in doc["events"])
            for (a, b), (c, d) in zip(spans, spans[1:]):
                self.assertLessEqual(b, c)  # events do not overlap
            for ev in doc["events"]:
                events += 1
                self.assertIn(ev["group"], build_scenes.GROUPS)
                self.assertGreaterEqual(ev["snr_db"], build_scenes.MIN_SNR_DB)
                if ev["source"] == -1:
                    offscreen += 1
                    continue
                track = tracks[ev["source"]]
                self.assertIn(track["label"], build_scenes.COMPATIBLE[ev["group"]])
                times = np.array([b[0] for b in track["boxes"]])
                self.assertLess(np.abs(times - ev["end"]).min(), 1 / 30 + 1e-6, "the source is on the frame at the event's end")
            for ev in builder.events:  # the identifiability rule holds for every event
                self.assertTrue(builder.source_identifiable(ev["group"], ev["start"], ev["end"], ev["source"], ev["track"]))
        self.assertGreater(events, 12)
        self.assertGreater(offscreen, 0)
        self.assertLess(offscreen, events)


if __name__ == "__main__":
    unittest.main(verbosity=2)
