"""Geometry of the built scenes: where a sound source is, seen from the camera (the microphone is at
the camera), and how its boxes look.

One pinhole camera model serves both kinds of track:

- Real tracks (from our video path on a staged clip): the distance comes from the box. A box of
  normalised size s = sqrt(w*h) (w, h fractions of the frame's width and height, as in the scene
  files and FUSION.md section 2) shows an object of extent L metres (sqrt of its visible width x
  height, CLASS_EXTENT_M) at depth

      Z = L / (2 * sqrt(tan(hfov/2) * tan(vfov/2)) * s)        (16:9, hfov 60 deg: Z = 1.155 L / s)

  and the source's distance along the ray through the box centre (cx, cy) is
  r = Z * sqrt(1 + u^2 + v^2), u = (2cx - 1) tan(hfov/2), v = (2cy - 1) tan(vfov/2). So a car
  (L = 2 m) of size 0.1 is 23 m away. The metres-per-size-unit scale is 1.155 L: it fixes how
  fast a track's distance changes in m/s, i.e. the Doppler shift; the gain only needs ratios.
  Boxes that touch the frame edge are cut by it, so their size says nothing about distance: those
  frames take the size of the nearest uncut frame. Sizes go through a 0.5 s running median (a
  passing car that hides part of a parked one makes its box jump for a few frames), then sizes
  and centres are smoothed over 0.3 s (Gaussian) before the distance is taken, because detector
  jitter would otherwise be heard as Doppler (3 % size jitter per frame at 30 fps reads as ~20 m/s).
- Synthetic tracks: an object moves on the road plane in metres (lanes along the depth axis,
  sidewalks beside them) under the same camera at a random height and downward pitch; its box is
  the projection of its extent (so size is exactly inversely proportional to depth) plus detector
  jitter, and the source's distance is its exact 3-D distance to the camera.
"""
import math

import numpy as np

HFOV_DEG = 60.0
SPEED_OF_SOUND = 343.0  # m/s
REFERENCE_DISTANCE_M = 10.0  # gains are 1 at this distance

# sqrt(visible width x height) in metres, per label of our detector's classes.
CLASS_EXTENT_M = {"person": 0.9, "bicycle": 1.2, "motorcycle": 1.3, "car": 2.0, "truck": 3.0, "bus": 3.5, "other": 1.5}
# Physical box (width, height) in metres of synthetic objects: vehicles seen from behind/front
# (driving along the road) and from the side (crossing).
BOX_ALONG_M = {"person": (0.55, 1.7), "bicycle": (0.7, 1.6), "motorcycle": (0.8, 1.5), "car": (2.2, 1.8),
               "truck": (2.6, 3.2), "bus": (2.8, 3.6)}
BOX_ACROSS_M = {"person": (0.55, 1.7), "bicycle": (1.7, 1.2), "motorcycle": (2.0, 1.2), "car": (4.4, 1.5),
                "truck": (7.0, 3.0), "bus": (11.0, 3.4)}
VEHICLES = ("car", "truck", "bus", "motorcycle")
# Boxes smaller than this (fraction of the frame, sqrt(w*h)) are not found by the detector: a
# synthetic object that small is not a track.
MIN_VISIBLE_SIZE = 0.025
EDGE_MARGIN = 0.01  # detectors stop a few pixels short of the edge


def tangents(aspect):
    """tan(hfov/2), tan(vfov/2) for a frame of width/height `aspect`."""
    tan_h = math.tan(math.radians(HFOV_DEG) / 2)
    return tan_h, tan_h / aspect


def depth_per_size(label, aspect):
    """Metres of depth per unit of 1/size for an object of this label (the scale stated above)."""
    tan_h, tan_v = tangents(aspect)
    return CLASS_EXTENT_M.get(label, CLASS_EXTENT_M["other"]) / (2.0 * math.sqrt(tan_h * tan_v))


def gaussian_smooth(times, values, sigma_s):
    """Smooth irregularly sampled `values` (n,) or (n, k) over `times` with a Gaussian of sigma_s."""
    times = np.asarray(times, dtype=np.float64)
    d = times[:, None] - times[None, :]
    w = np.exp(-0.5 * (d / sigma_s) ** 2)
    w /= w.sum(axis=1, keepdims=True)
    return w @ np.asarray(values, dtype=np.float64)


def touches_edge(boxes):
    """Per box [t, x, y, w, h]: whether the frame edge cuts it."""
    x, y, w, h = boxes[:, 1], boxes[:, 2], boxes[:, 3], boxes[:, 4]
    return (x <= EDGE_MARGIN) | (y <= EDGE_MARGIN) | (x + w >= 1 - EDGE_MARGIN) | (y + h >= 1 - EDGE_MARGIN)


def running_median(times, values, half_window_s):
    """Median of `values` over [t - half_window_s, t + half_window_s] at each of `times`."""
    times, values = np.asarray(times), np.asarray(values)
    lo = np.searchsorted(times, times - half_window_s, side="left")
    hi = np.searchsorted(times, times + half_window_s, side="right")
    return np.array([np.median(values[a:b]) for a, b in zip(lo, hi)])


def real_track_distance(boxes, label, aspect, smooth_s=0.3, median_s=0.25):
    """Distance in metres of a real track's object at each of its box times (see module doc)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    t = boxes[:, 0]
    log_size = 0.5 * np.log(np.maximum(boxes[:, 3] * boxes[:, 4], 1e-8))
    cut = touches_edge(boxes)
    if cut.any() and not cut.all():
        # An edge-cut box takes the size of the nearest uncut frame in time.
        good = np.flatnonzero(~cut)
        nearest = good[np.abs(t[good][None, :] - t[cut][:, None]).argmin(axis=1)]
        log_size[cut] = log_size[nearest]
    cx = boxes[:, 1] + boxes[:, 3] / 2
    cy = boxes[:, 2] + boxes[:, 4] / 2
    if len(t) > 1:
        log_size = running_median(t, log_size, median_s)
        log_size, cx, cy = gaussian_smooth(t, np.stack([log_size, cx, cy], axis=1), smooth_s).T
    tan_h, tan_v = tangents(aspect)
    depth = depth_per_size(label, aspect) / np.exp(log_size)
    u, v = (2 * cx - 1) * tan_h, (2 * cy - 1) * tan_v
    return depth * np.sqrt(1 + u * u + v * v)


def box_centre_x(boxes):
    boxes = np.asarray(boxes, dtype=np.float64)
    return boxes[:, 1] + boxes[:, 3] / 2


class Camera:
    """Pinhole camera at height `height_m` above the road plane, at the origin, looking along +Z
    (the road) pitched down by `pitch_deg`. World: X to the right, Y up, Z along the road."""

    def __init__(self, height_m, pitch_deg, aspect):
        self.height = height_m
        self.pitch = math.radians(pitch_deg)
        self.aspect = aspect
        self.tan_h, self.tan_v = tangents(aspect)

    def to_camera(self, x, y, z):
        """World points (arrays) to camera coordinates (right, up, forward)."""
        dy = np.asarray(y, dtype=np.float64) - self.height
        z = np.asarray(z, dtype=np.float64)
        s, c = math.sin(self.pitch), math.cos(self.pitch)
        forward = -dy * s + z * c
        up = dy * c + z * s
        return np.asarray(x, dtype=np.float64) + 0 * forward, up, forward

    def project(self, x, z, width_m, height_m):
        """Boxes of objects standing on the road at (x, z) with the given physical width/height.
        Returns (x0, y0, w, h, forward_depth) arrays; boxes are not clipped to the frame."""
        right, up, forward = self.to_camera(x, height_m / 2.0, z)
        depth = np.maximum(forward, 1e-3)
        cx = 0.5 + 0.5 * right / depth / self.tan_h
        cy = 0.5 - 0.5 * up / depth / self.tan_v
        w = width_m / (2 * depth * self.tan_h)
        h = height_m / (2 * depth * self.tan_v)
        return cx - w / 2, cy - h / 2, w, h, forward

    def distance(self, x, z, height_m):
        """3-D distance from the camera to the object's centre."""
        right, up, forward = self.to_camera(x, height_m / 2.0, z)
        return np.sqrt(right ** 2 + up ** 2 + forward ** 2)

    def azimuth(self, x, z):
        """Horizontal angle of a point (radians, positive to the right), for stereo panning."""
        return np.arctan2(np.asarray(x, dtype=np.float64), np.asarray(z, dtype=np.float64))


def random_camera(rng, aspect):
    return Camera(height_m=float(rng.uniform(5.0, 10.0)), pitch_deg=float(rng.uniform(10.0, 22.0)), aspect=aspect)


class Trajectory:
    """An object's path on the road plane: x(t), z(t) in metres, piecewise from a start point,
    a velocity and an acceleration along its direction (speed never goes below 0)."""

    def __init__(self, label, motion, x0, z0, direction, speed, accel, box_m):
        self.label, self.motion = label, motion
        self.x0, self.z0 = x0, z0
        self.direction = np.asarray(direction, dtype=np.float64) / np.linalg.norm(direction)
        self.speed, self.accel = speed, accel
        self.box_m = box_m  # (width, height) metres

    def position(self, t):
        t = np.asarray(t, dtype=np.float64)
        if self.accel < 0:  # stops when the speed reaches 0
            t_stop = self.speed / -self.accel
            tc = np.minimum(t, t_stop)
        else:
            tc = t
        s = self.speed * tc + 0.5 * self.accel * tc * tc
        return self.x0 + self.direction[0] * s, self.z0 + self.direction[1] * s

    def describe(self):
        return {"motion": self.motion, "x0": round(self.x0, 2), "z0": round(self.z0, 2),
                "direction": [round(float(d), 3) for d in self.direction], "speed": round(self.speed, 2),
                "accel": round(self.accel, 2)}


def random_trajectory(rng, label, motion, t_anchor):
    """A path of `motion` (approaching, receding, crossing, still) for an object of `label` that is
    at a plausible place at time t_anchor (seconds, scene time)."""
    person = label == "person"
    if person:
        x_lane = float(rng.choice([-1, 1]) * rng.uniform(5.5, 10.0))
        speed = float(rng.uniform(0.7, 1.9))
    else:
        x_lane = float(rng.choice([-5.25, -1.75, 1.75, 5.25]) + rng.normal(0, 0.4))
        speed = float(rng.uniform(3.0, 8.0) if label == "bicycle" else rng.uniform(3.0, 15.0))
    accel = 0.0 if person else float(rng.uniform(-1.5, 1.5))
    z_anchor = float(rng.uniform(10.0, 45.0 if person else 60.0))
    box = BOX_ALONG_M[label]
    if motion == "approaching":
        direction = (0.0, -1.0)
    elif motion == "receding":
        direction = (0.0, 1.0)
    elif motion == "crossing":
        direction = (float(rng.choice([-1.0, 1.0])), float(rng.normal(0, 0.1)))
        box = BOX_ACROSS_M[label]
        if not person:
            speed = float(rng.uniform(2.0, 10.0))
            x_lane = float(rng.uniform(-12.0, 12.0))
            z_anchor = float(rng.uniform(12.0, 45.0))
    elif motion == "still":
        direction, speed, accel = (0.0, 1.0), 0.0, 0.0
        if not person:  # parked at the kerb or waiting in a lane
            x_lane = float(rng.choice([-1, 1]) * rng.uniform(1.5, 7.0))
        if rng.random() < 0.5 and not person:
            box = BOX_ACROSS_M[label] if rng.random() < 0.3 else box
    else:
        raise ValueError(f"unknown motion {motion!r}")
    scale = float(rng.uniform(0.85, 1.15))
    box = (box[0] * scale, box[1] * scale)
    trajectory = Trajectory(label, motion, 0.0, 0.0, direction, speed, accel, box)
    # Place it so that it is at (x_lane, z_anchor) at t_anchor.
    px, pz = trajectory.position(np.array([t_anchor]))
    trajectory.x0 = x_lane - float(px[0])
    trajectory.z0 = z_anchor - float(pz[0])
    return trajectory


def synthetic_boxes(rng, camera, trajectory, times, jitter=0.03, drop=0.03):
    """Detector-like boxes of a synthetic object at `times` where it is visible.

    Returns (boxes [n, 5] as [t, x, y, w, h] clipped to the frame, visible mask over `times`,
    exact distance over `times`). Jitter: AR(1) noise on the centre (fraction `jitter` of the box
    size) and on the log size; `drop` of the frames miss the detection."""
    x, z = trajectory.position(times)
    x0, y0, w, h, forward = camera.project(x, z, *trajectory.box_m)
    distance = camera.distance(x, z, trajectory.box_m[1])
    n = len(times)
    noise = np.zeros((n, 3))
    e = rng.normal(0, 1, (n, 3))
    for i in range(n):  # AR(1): detector errors persist over a few frames
        noise[i] = (0.7 * noise[i - 1] if i else 0) + math.sqrt(1 - 0.49) * e[i]
    size = np.sqrt(w * h)
    scale = np.exp(jitter * noise[:, 2])
    cx = x0 + w / 2 + jitter * size * noise[:, 0]
    cy = y0 + h / 2 + jitter * size * noise[:, 1]
    w, h = w * scale, h * scale
    bx0, by0 = np.clip(cx - w / 2, 0, 1), np.clip(cy - h / 2, 0, 1)
    bx1, by1 = np.clip(cx + w / 2, 0, 1), np.clip(cy + h / 2, 0, 1)
    cut_w, cut_h = bx1 - bx0, by1 - by0
    inside = (cx >= 0) & (cx <= 1) & (cy >= 0) & (cy <= 1) & (forward > 1.5)
    visible = inside & (cut_w * cut_h >= 0.4 * w * h) & (np.sqrt(cut_w * cut_h) >= MIN_VISIBLE_SIZE)
    visible &= rng.random(n) >= drop
    boxes = np.stack([np.asarray(times, dtype=np.float64), bx0, by0, cut_w, cut_h], axis=1)[visible]
    return boxes, visible, distance


def visible_anywhere(camera, trajectory, times):
    """Whether any part of the path over `times` would be a detectable box."""
    x, z = trajectory.position(times)
    x0, y0, w, h, forward = camera.project(x, z, *trajectory.box_m)
    cx, cy = x0 + w / 2, y0 + h / 2
    margin = 0.05  # a box centre just outside the frame still shows part of the object
    near = (cx >= -margin) & (cx <= 1 + margin) & (cy >= -margin) & (cy <= 1 + margin) & (forward > 0.5)
    return bool((near & (np.sqrt(w * h) >= MIN_VISIBLE_SIZE * 0.8)).any())
