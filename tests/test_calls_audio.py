"""Audio frames for simulated calls (driver.payloads.audio): G.711 µ-law against the
reference algorithm (CPython's audioop where it still exists, and fixed points), the tone,
WAV files of every sample width and channel count resampled to the call's rate, the frames
sliced from one buffer, and what a bad frame length or audio file says."""
from __future__ import annotations

import wave

import numpy as np
import pytest

from driver.payloads.audio import AudioSpec, Frames, frame_samples, mulaw, mulaw_decode, read_wav, tone


def write_wav(path, samples: np.ndarray, rate: int, width: int = 2, channels: int = 1) -> str:
    """A PCM WAV of `samples` (int16, mono) in the given width, each channel a copy."""
    if width == 1:
        raw = ((samples.astype(np.int32) >> 8) + 128).astype(np.uint8).tobytes()
    elif width == 2:
        raw = samples.astype("<i2")
    else:
        raw = samples.astype("<i4") << (8 * (width - 2))
        if width == 3:
            raw = np.frombuffer(raw.astype("<i4").tobytes(), np.uint8).reshape(-1, 4)[:, :3]
    data = np.repeat(np.frombuffer(np.ascontiguousarray(raw).tobytes(), np.uint8).reshape(len(samples), -1),
                     channels, axis=0).tobytes() if channels > 1 else np.ascontiguousarray(raw).tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data)
    return str(path)


def test_mulaw_matches_the_reference_byte_for_byte():
    audioop = pytest.importorskip("audioop")  # removed in Python 3.13; the fixed points below stay
    every = np.arange(-32768, 32768, dtype=np.int16)
    assert mulaw(every).tobytes() == audioop.lin2ulaw(every.tobytes(), 2)
    codes = np.arange(256, dtype=np.uint8)
    assert mulaw_decode(codes).tobytes() == audioop.ulaw2lin(codes.tobytes(), 2)


@pytest.mark.parametrize("sample,code", [
    (0, 0xFF),        # silence
    (-1, 0x7E),       # rounded down to 14 bits: the first negative step, not silence
    (32767, 0x80),    # the positive clip
    (-32768, 0x00),   # the negative clip
    (1000, 0xCE),
    (-1000, 0x4E),
])
def test_mulaw_fixed_points(sample, code):
    assert mulaw(np.array([sample], dtype=np.int16))[0] == code


def test_mulaw_round_trip_stays_within_its_step():
    x = np.arange(-32000, 32000, 7, dtype=np.int16)
    back = mulaw_decode(mulaw(x)).astype(np.int32)
    # µ-law keeps about 13 bits of dynamic range: the error grows with the magnitude (1/16 of it at most)
    assert np.all(np.abs(back - x) <= np.abs(x.astype(np.int32)) // 16 + 16)


def test_tone_is_a_sine_at_its_frequency():
    t = tone(8000, 1.0, 440.0)
    assert t.dtype == np.int16 and len(t) == 8000
    assert np.argmax(np.abs(np.fft.rfft(t))) == 440  # 1 Hz bins over one second


@pytest.mark.parametrize("codec,rate,frame_ms,size", [
    ("pcm16", 8000, 20, 320),   # 160 samples of 2 bytes
    ("pcmu", 8000, 20, 160),
    ("pcm16", 16000, 10, 320),
    ("pcmu", 48000, 30, 1440),
    ("pcm16", 8000, 0.125, 2),  # one sample
])
def test_frame_sizes(codec, rate, frame_ms, size):
    frames = Frames(AudioSpec(codec, rate, frame_ms))
    assert frames.frame_bytes == size == len(frames.frame(0))
    assert frames.n_frames * size == len(frames.payload)


def test_frames_are_slices_of_one_buffer_that_loop():
    frames = Frames(AudioSpec("pcmu", 8000, 20))
    assert frames.n_frames == 50  # one second of tone
    assert frames.frame(0).obj is frames.frame(7).obj  # the same buffer: nothing copied per frame
    assert bytes(frames.frame(50)) == bytes(frames.frame(0)) and bytes(frames.frame(51)) == bytes(frames.frame(1))
    assert bytes(frames.frame(1)) != bytes(frames.frame(0))


@pytest.mark.parametrize("width", [1, 2, 3, 4])
@pytest.mark.parametrize("channels", [1, 2])
def test_wav_files_are_read_as_mono_16_bit(tmp_path, width, channels):
    src = tone(8000, 0.5, 300.0, level=0.5)
    path = write_wav(tmp_path / "a.wav", src, 8000, width, channels)
    got = read_wav(path, 8000)
    assert len(got) == len(src)
    step = 256 if width == 1 else 1  # 8-bit WAV keeps the top byte only
    assert np.max(np.abs(got.astype(np.int32) - src)) <= step


def test_wav_is_resampled_to_the_call_rate(tmp_path):
    path = write_wav(tmp_path / "wide.wav", tone(16000, 1.0, 500.0), 16000)
    got = read_wav(path, 8000)
    assert len(got) == 8000
    assert np.argmax(np.abs(np.fft.rfft(got))) == 500  # the same pitch at half the samples
    frames = Frames(AudioSpec("pcm16", 8000, 20, str(path)))
    assert frames.n_frames == 50


def test_a_short_wav_is_padded_to_a_whole_frame(tmp_path):
    path = write_wav(tmp_path / "short.wav", tone(8000, 0.03), 8000)  # 240 samples: 1.5 frames
    frames = Frames(AudioSpec("pcm16", 8000, 20, path))
    assert frames.n_frames == 2
    assert bytes(frames.frame(1))[160:] == bytes(160)  # the pad is silence


@pytest.mark.parametrize("content,needle", [
    (None, "not found"),
    (b"this is not a wav file at all", "is not a PCM WAV file"),
    (b"RIFF\x04\x00\x00\x00WAVE", "is not a PCM WAV file"),
])
def test_bad_audio_files_say_what_is_wrong(tmp_path, content, needle):
    path = tmp_path / "x.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=needle):
        read_wav(str(path), 8000)


def test_an_empty_wav_holds_no_audio(tmp_path):
    path = write_wav(tmp_path / "empty.wav", np.zeros(0, dtype=np.int16), 8000)
    with pytest.raises(ValueError, match="holds no audio"):
        read_wav(path, 8000)


@pytest.mark.parametrize("kw,needle", [
    ({"frame_ms": float("nan")}, "frame_ms must be a number"),
    ({"frame_ms": -20}, "frame_ms must be a number"),
    ({"frame_ms": 0}, "frame_ms must be a number"),
    ({"frame_ms": 1e9}, "at most 1000"),
    ({"frame_ms": 0.01}, "not a whole number of samples"),
    ({"frame_ms": True}, "frame_ms must be a number"),
    ({"codec": "opus"}, "codec must be one of pcm16, pcmu"),
    ({"sample_rate": 4000}, "sample_rate must be"),
    ({"sample_rate": 8000.5}, "sample_rate must be"),
    ({"tone_hz": 5000}, "tone_hz"),
])
def test_bad_audio_specs(kw, needle):
    with pytest.raises(ValueError, match=needle):
        AudioSpec(**kw)
    if "frame_ms" in kw:
        with pytest.raises(ValueError):
            frame_samples(8000, kw["frame_ms"])
