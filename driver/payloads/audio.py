"""Audio for simulated calls: a generated tone or a WAV file, as fixed-size frames in
16-bit linear PCM or G.711 µ-law, made once per kind of call.

    frames = Frames(AudioSpec(codec="pcmu", sample_rate=8000, frame_ms=20, audio="tone"))
    frames.frame_bytes   # 160: 20 ms of 8 kHz µ-law
    frames.frame(k)      # the k-th frame (a memoryview slice of one buffer, looping)

The whole clip is encoded once (`Frames` is built once per call kind per worker): a
frame is a slice of that buffer, so streaming allocates nothing per frame but the
slice. A tone is one second of a sine at `tone_hz`; a WAV file (stdlib `wave`: PCM of
8, 16, 24 or 32 bits, any channel count, mixed down to mono) is resampled to the
call's rate by linear interpolation. The clip is padded with silence to whole frames
and loops when a call is longer than it.
"""
from __future__ import annotations

import math
import os
import wave
from dataclasses import dataclass

import numpy as np

__all__ = ["AudioSpec", "CODECS", "Frames", "frame_samples", "mulaw", "mulaw_decode", "read_wav", "tone"]

CODECS = {"pcm16": 2, "pcmu": 1}  # bytes per sample: 16-bit little-endian PCM, G.711 µ-law
MIN_RATE, MAX_RATE = 8000, 48000  # samples per second
MAX_FRAME_MS = 1000.0
MAX_CLIP_S = 600.0  # a WAV longer than this is refused (it is held in memory, encoded)
_BIAS, _CLIP = 0x21, 8159  # G.711 µ-law on 14-bit samples: the bias added before the segment search, the clip


@dataclass(frozen=True)
class AudioSpec:
    """What a call streams: codec, rate (Hz), frame length (ms), and "tone" or a WAV path.
    Checked on creation (ValueError naming the field)."""

    codec: str = "pcm16"
    sample_rate: int = 8000
    frame_ms: float = 20.0
    audio: str = "tone"
    tone_hz: float = 440.0

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise ValueError(f"codec must be one of {', '.join(CODECS)}, got {self.codec!r}")
        if isinstance(self.sample_rate, bool) or not isinstance(self.sample_rate, int) \
                or not MIN_RATE <= self.sample_rate <= MAX_RATE:
            raise ValueError(f"sample_rate must be a whole number of Hz from {MIN_RATE} to {MAX_RATE}, "
                             f"got {self.sample_rate!r}")
        frame_samples(self.sample_rate, self.frame_ms)
        if not isinstance(self.audio, str) or not self.audio:
            raise ValueError(f"audio must be 'tone' or a WAV file, got {self.audio!r}")
        if not (isinstance(self.tone_hz, (int, float)) and 0 < self.tone_hz < self.sample_rate / 2):
            raise ValueError(f"tone_hz must be above 0 and below half the sample rate, got {self.tone_hz!r}")

    @property
    def frame_ns(self) -> int:
        return round(self.frame_ms * 1_000_000)

    @property
    def frame_bytes(self) -> int:
        return frame_samples(self.sample_rate, self.frame_ms) * CODECS[self.codec]


def frame_samples(sample_rate: int, frame_ms: float) -> int:
    """Samples in one frame; ValueError unless `frame_ms` is in (0, 1000] and holds a whole
    number of samples at `sample_rate` (20 ms at 8 kHz: 160)."""
    if isinstance(frame_ms, bool) or not isinstance(frame_ms, (int, float)) or not math.isfinite(frame_ms) \
            or not 0 < frame_ms <= MAX_FRAME_MS:
        raise ValueError(f"frame_ms must be a number of milliseconds above 0 and at most {MAX_FRAME_MS:g}, "
                         f"got {frame_ms!r}")
    exact = sample_rate * frame_ms / 1000.0
    n = round(exact)
    if n < 1 or abs(exact - n) > 1e-9:
        raise ValueError(f"frame_ms {frame_ms:g} is not a whole number of samples at {sample_rate} Hz "
                         f"({exact:g}): use e.g. 10, 20 or 30")
    return n


def tone(sample_rate: int, seconds: float = 1.0, freq_hz: float = 440.0, level: float = 0.3) -> np.ndarray:
    """A sine of `freq_hz` at `level` of full scale: int16 samples."""
    t = np.arange(round(sample_rate * seconds), dtype=np.float64) / sample_rate
    return np.round(np.sin(2 * np.pi * freq_hz * t) * (level * 32767)).astype(np.int16)


def read_wav(path: str, sample_rate: int) -> np.ndarray:
    """A WAV file's audio as mono int16 samples at `sample_rate`; ValueError saying what is
    wrong (missing, not a WAV, not PCM, empty, too long)."""
    if not os.path.isfile(path):
        raise ValueError(f"audio file {path!r} not found")
    try:
        with wave.open(path, "rb") as w:
            channels, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            if n > MAX_CLIP_S * rate:
                raise ValueError(f"audio file {path!r} is longer than {MAX_CLIP_S:g}s")
            raw = w.readframes(n)
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"audio file {path!r} is not a PCM WAV file ({exc})") from None
    except OSError as exc:
        raise ValueError(f"audio file {path!r} cannot be read: {exc.strerror or exc}") from None
    if not raw or rate <= 0:
        raise ValueError(f"audio file {path!r} holds no audio")
    samples = _linear(raw, width).reshape(-1, channels).mean(axis=1)
    if rate != sample_rate:  # linear interpolation onto the call's sample times
        n_out = max(1, round(len(samples) * sample_rate / rate))
        samples = np.interp(np.arange(n_out) * (rate / sample_rate), np.arange(len(samples)), samples)
    return np.clip(np.round(samples), -32768, 32767).astype(np.int16)


def _linear(raw: bytes, width: int) -> np.ndarray:
    """WAV sample bytes -> float64 on the 16-bit scale (8-bit WAV is unsigned, the rest signed)."""
    if width == 1:
        return (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) * 256.0
    if width == 2:
        return np.frombuffer(raw, "<i2").astype(np.float64)
    if width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        return np.where(v >= 1 << 23, v - (1 << 24), v).astype(np.float64) / 256.0
    if width == 4:
        return np.frombuffer(raw, "<i4").astype(np.float64) / 65536.0
    raise ValueError(f"a WAV sample width of {width} bytes is not supported")


def mulaw(samples: np.ndarray) -> np.ndarray:
    """int16 linear PCM -> G.711 µ-law bytes (uint8): the 14-bit algorithm of ITU-T G.711's
    reference code (and of CPython's audioop), byte for byte."""
    x = samples.astype(np.int32) >> 2  # 14 bits, rounded down as the reference does
    negative = x < 0
    mag = np.minimum(np.where(negative, -x, x), _CLIP) + _BIAS  # 33 ..= 8192: segment 0..7, 8 at the clip
    segment = np.floor(np.log2(mag)).astype(np.int32) - 5
    code = np.where(segment > 7, 0x7F, (segment << 4) | ((mag >> (segment + 1)) & 0x0F))  # past the top: 0x7F
    return (code ^ np.where(negative, 0x7F, 0xFF)).astype(np.uint8)


def mulaw_decode(data: np.ndarray) -> np.ndarray:
    """G.711 µ-law bytes -> int16 linear PCM (the inverse of `mulaw`, within its step)."""
    u = ~data.astype(np.int32) & 0xFF
    exponent, mantissa = (u >> 4) & 0x07, u & 0x0F
    mag = (((mantissa << 3) + 0x84) << exponent) - 0x84  # the 16-bit form of the same table
    return np.where(u & 0x80, -mag, mag).astype(np.int16)


class Frames:
    """A call kind's audio, encoded once: `frame(k)` is frame k of the looping clip."""

    __slots__ = ("spec", "payload", "frame_bytes", "n_frames", "_view")

    def __init__(self, spec: AudioSpec) -> None:
        self.spec = spec
        if spec.audio == "tone":
            samples = tone(spec.sample_rate, 1.0, spec.tone_hz)
        else:
            samples = read_wav(spec.audio, spec.sample_rate)
        per_frame = frame_samples(spec.sample_rate, spec.frame_ms)
        pad = -len(samples) % per_frame
        if pad:
            samples = np.concatenate([samples, np.zeros(pad, dtype=np.int16)])
        encoded = mulaw(samples) if spec.codec == "pcmu" else samples.astype("<i2")
        self.payload = encoded.tobytes()
        self.frame_bytes = per_frame * CODECS[spec.codec]
        self.n_frames = len(samples) // per_frame
        self._view = memoryview(self.payload)

    def frame(self, k: int) -> memoryview:
        start = (k % self.n_frames) * self.frame_bytes
        return self._view[start:start + self.frame_bytes]
