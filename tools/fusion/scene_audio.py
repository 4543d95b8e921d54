"""Audio side of the built scenes: reading the staged recordings, placing a sound on a moving
source (distance gain and Doppler by time-varying resampling), background at a chosen SNR, and
writing 16-bit WAV files. NumPy only.

A source at distance r(t) (metres, reception time t) is heard as

    y(t) = g * (R / r(tau)) * m(p(t)),    p(t) = offset + rate * (tau(t) - tau(t0)),   tau + r(tau)/c = t

m is the recording (looped with cross-fades when the event is longer than its range), R = 10 m,
c = 343 m/s, tau the time the sound heard at t left the source: the read position advances at
rate / (1 + dr/dt / c) samples per sample, the Doppler factor of a source with radial speed dr/dt
(positive when receding: lower pitch) and a microphone at rest. `rate` != 1 is the training split's pitch/tempo
augmentation. m is read at fractional positions with a Kaiser-windowed sinc whose cut-off follows
the output rate, so the same reader also resamples 44.1 kHz recordings to 16 kHz without aliasing.
"""
import math
import wave

import numpy as np

from scene_geometry import REFERENCE_DISTANCE_M, SPEED_OF_SOUND


def read_wav(path):
    """Mono float64 samples in [-1, 1] (stereo downmixed 0.5 L + 0.5 R, as xmaudio does) and the rate."""
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit PCM WAV, got {8 * w.getsampwidth()}-bit samples")
        channels, rate, n = w.getnchannels(), w.getframerate(), w.getnframes()
        data = np.frombuffer(w.readframes(n), dtype="<i2").astype(np.float64) / 32768.0
    return data.reshape(-1, channels).mean(axis=1), rate


def write_wav(path, samples, rate):
    """16-bit PCM WAV; samples (n,) mono or (n, 2) stereo in [-1, 1] (clipped)."""
    samples = np.asarray(samples, dtype=np.float64)
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    pcm = np.clip(np.round(samples * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


_kernel_tables = {}


def _kernel_table(cutoff, half_width, phases=1024, beta=8.0):
    """Kaiser-windowed sinc weights for `phases` fractional offsets in [0, 1] (rows) and the taps
    -half_width..half_width (columns); cut-off as a fraction of the input Nyquist."""
    key = (round(cutoff, 6), half_width, phases)
    if key not in _kernel_tables:
        taps = np.arange(-half_width, half_width + 1)
        offsets = taps[None, :] - (np.arange(phases + 1) / phases)[:, None]
        window = np.i0(beta * np.sqrt(np.clip(1 - (offsets / (half_width + 1)) ** 2, 0, 1))) / np.i0(beta)
        _kernel_tables[key] = cutoff * np.sinc(cutoff * offsets) * window
    return _kernel_tables[key]


def sinc_read(x, rate_in, positions_s, rate_out, chunk=16384, phases=1024):
    """Samples of `x` (rate_in) at fractional times `positions_s` (seconds), band-limited for an
    output at rate_out. Positions outside x read zeros. The fractional offset is rounded to
    1/phases of a sample (error below -90 dB for these kernels)."""
    positions = np.asarray(positions_s, dtype=np.float64) * rate_in
    cutoff = min(1.0, rate_out / rate_in) * 0.92  # keep below the output Nyquist
    half_width = int(math.ceil(12 / cutoff))
    table = _kernel_table(cutoff, half_width, phases)
    padded = np.concatenate([np.zeros(half_width + 1), np.asarray(x, dtype=np.float64), np.zeros(half_width + 2)])
    taps = np.arange(-half_width, half_width + 1)
    out = np.empty(len(positions))
    for i in range(0, len(positions), chunk):
        p = positions[i:i + chunk]
        base = np.floor(p).astype(np.int64)
        phase = np.round((p - base) * phases).astype(np.int64)
        idx = np.clip(base[:, None] + taps[None, :] + half_width + 1, 0, len(padded) - 1)
        out[i:i + chunk] = np.einsum("ij,ij->i", padded[idx], table[phase])
    return out


def resample(x, rate_in, rate_out):
    n = int(round(len(x) * rate_out / rate_in))
    return sinc_read(x, rate_in, np.arange(n) / rate_out, rate_out)


def active_rms(x, rate, frame_s=0.05, floor_db=-30.0):
    """RMS over the frames within floor_db of the loudest (a level for sounds with pauses, e.g. speech)."""
    n = max(1, int(frame_s * rate))
    frames = x[: len(x) // n * n].reshape(-1, n)
    energy = (frames ** 2).mean(axis=1)
    if len(energy) == 0 or energy.max() <= 0:
        return 0.0
    keep = energy >= energy.max() * 10 ** (floor_db / 10)
    return float(math.sqrt(energy[keep].mean()))


class Material:
    """A time range [start, end) of one recording, level-normalised (active RMS 1)."""

    def __init__(self, path, start, end, name=None):
        samples, rate = read_wav(path)
        duration = len(samples) / rate
        if not (0 <= start < end <= duration + 1e-6):
            raise ValueError(f"{path}: range {start}..{end} s is outside the recording (0..{duration:.3f} s)")
        self.path, self.name, self.rate = path, name or path.rsplit("/", 1)[-1], rate
        self.start, self.end = start, end
        self.samples = samples[int(round(start * rate)):int(round(end * rate))]
        level = active_rms(self.samples, rate)
        if level <= 0:
            raise ValueError(f"{path}: range {start}..{end} s is silent")
        self.samples = self.samples / level

    def at_rate(self, rate):
        """The same material resampled to `rate` (cached): events and backgrounds are then read
        with short kernels at the output rate."""
        if rate == self.rate:
            return self
        cache = self.__dict__.setdefault("_at_rate", {})
        if rate not in cache:
            other = object.__new__(Material)
            other.__dict__.update({k: v for k, v in self.__dict__.items() if k != "_at_rate"})
            other.rate, other.samples = rate, resample(self.samples, self.rate, rate)
            cache[rate] = other
        return cache[rate]

    @property
    def duration(self):
        return len(self.samples) / self.rate

    def looped(self, offset, length_s, crossfade_s=0.04):
        """The material from `offset` (seconds into the range) for at least length_s seconds, looping
        the range with equal-power cross-fades. Returns samples at self.rate."""
        fade = int(crossfade_s * self.rate)
        if len(self.samples) <= 4 * fade:
            fade = 0
        start = int(round(offset * self.rate)) % len(self.samples)
        need = int(math.ceil(length_s * self.rate)) + 1
        out = self.samples[start:].copy()
        while len(out) < need:
            f = min(fade, len(out))
            ramp = np.sin(0.5 * math.pi * (np.arange(f) + 0.5) / f) if f else np.zeros(0)
            nxt = self.samples
            tail = out[len(out) - f:] * ramp[::-1] + nxt[:f] * ramp
            out = np.concatenate([out[:len(out) - f], tail, nxt[f:]])
        return out


def place_source(material, offset, rate_factor, start, end, distance_at, out_rate, total_samples, fade_s=0.03):
    """The sound of `material` from `offset` (s into its range) emitted by a source at distance
    distance_at(t) metres, heard from `start` to `end` (scene seconds). Returns (signal over the
    whole scene at out_rate, first sample, last sample + 1); gain is R / r(t) before the SNR scaling."""
    first = max(0, int(round(start * out_rate)))
    last = min(total_samples, int(round(end * out_rate)))
    t = np.arange(first, last) / out_rate

    def distance(times):
        return np.maximum(np.asarray(distance_at(times), dtype=np.float64), 1.0)

    # Emission time tau of the sound heard at t: tau + r(tau)/c = t (fixed point; converges at
    # the rate |dr/dt|/c, three steps are exact to float precision for road speeds).
    emitted = t - distance(t) / SPEED_OF_SOUND
    for _ in range(3):
        emitted = t - distance(emitted) / SPEED_OF_SOUND
    r = distance(emitted)
    read = rate_factor * (emitted - emitted[0])
    src = material.looped(offset, read[-1] + 0.1)
    y = sinc_read(src, material.rate, read, out_rate) * (REFERENCE_DISTANCE_M / r)
    n_fade = min(int(fade_s * out_rate), len(y) // 2)
    if n_fade:
        ramp = 0.5 - 0.5 * np.cos(math.pi * (np.arange(n_fade) + 0.5) / n_fade)
        y[:n_fade] *= ramp
        y[-n_fade:] *= ramp[::-1]
    out = np.zeros(total_samples)
    out[first:last] = y
    return out, first, last


def rms(x):
    x = np.asarray(x, dtype=np.float64)
    return float(math.sqrt((x * x).mean())) if len(x) else 0.0


def db(ratio):
    return 20.0 * math.log10(max(ratio, 1e-12))
