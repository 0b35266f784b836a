from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf

from fretcoach_desktop.audio import sources
from fretcoach_desktop.audio.sources import AudioFileError, iter_blocks, read_audio

SR = 44100


def tone(seconds: float = 0.5, freq: float = 220.0, amplitude: float = 0.5, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def one_line(exc: pytest.ExceptionInfo[AudioFileError]) -> str:
    message = str(exc.value)
    assert message and "\n" not in message
    return message


@pytest.mark.parametrize(
    ("suffix", "subtype"),
    [(".wav", "PCM_16"), (".wav", "FLOAT"), (".flac", "PCM_16"), (".flac", "PCM_24"), (".ogg", "VORBIS")],
)
def test_reads_wav_flac_ogg_as_float32_mono(tmp_path, suffix, subtype):
    signal = tone()
    path = tmp_path / f"take{suffix}"
    sf.write(path, signal, SR, subtype=subtype)
    samples, sr = read_audio(path)
    assert sr == SR
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert samples.size == signal.size
    if subtype != "VORBIS":  # lossless: sample-exact up to the quantisation step
        assert np.max(np.abs(samples - signal)) < 1e-3
    else:
        assert np.corrcoef(samples, signal)[0, 1] > 0.99


def test_accepts_str_paths_and_other_rates(tmp_path):
    path = tmp_path / "take.wav"
    sf.write(path, tone(sr=8000), 8000)
    samples, sr = read_audio(str(path))
    assert sr == 8000 and samples.size == 4000


def test_stereo_is_downmixed_by_mean(tmp_path):
    left = tone(amplitude=0.6)
    right = np.full_like(left, 0.2)
    path = tmp_path / "stereo.flac"
    sf.write(path, np.stack([left, right], axis=1), SR, subtype="PCM_24")
    samples, _ = read_audio(path)
    assert samples.ndim == 1
    assert np.allclose(samples, (left + right) / 2, atol=1e-5)


def test_missing_file(tmp_path):
    with pytest.raises(AudioFileError) as exc:
        read_audio(tmp_path / "nope.wav")
    message = one_line(exc)
    assert "not found" in message and "nope.wav" in message


def test_directory(tmp_path):
    with pytest.raises(AudioFileError) as exc:
        read_audio(tmp_path)
    assert "is a directory" in one_line(exc)


def test_permission_denied(tmp_path, monkeypatch):
    path = tmp_path / "locked.wav"
    sf.write(path, tone(), SR)
    if os.geteuid() == 0:
        # root reads anything; make the open fail the way it fails for a normal user
        def denied(*args, **kwargs):
            raise PermissionError(13, "Permission denied", str(path))

        monkeypatch.setattr(sources, "open", denied, raising=False)
    else:
        path.chmod(0)
    with pytest.raises(AudioFileError) as exc:
        read_audio(path)
    message = one_line(exc)
    assert "permission denied" in message and "locked.wav" in message


def test_text_file_is_not_audio(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 20)
    with pytest.raises(AudioFileError) as exc:
        read_audio(path)
    assert "not a readable audio file" in one_line(exc)


def test_truncated_header_is_not_audio(tmp_path):
    path = tmp_path / "take.flac"
    sf.write(path, tone(), SR)
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(AudioFileError) as exc:
        read_audio(path)
    assert "not a readable audio file" in one_line(exc)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioFileError) as exc:
        read_audio(path)
    assert "is empty (0 bytes)" in one_line(exc)


def test_zero_length_audio(tmp_path):
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), SR)
    with pytest.raises(AudioFileError) as exc:
        read_audio(path)
    assert "no audio" in one_line(exc)


def test_digital_silence(tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(SR, dtype=np.float32), SR)
    with pytest.raises(AudioFileError) as exc:
        read_audio(path)
    message = one_line(exc)
    assert "silent" in message and "-inf dBFS" in message


def test_quiet_below_minus_60_dbfs_is_silent_but_just_above_is_not(tmp_path):
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, tone(amplitude=10 ** (-61 / 20)), SR, subtype="FLOAT")
    with pytest.raises(AudioFileError) as exc:
        read_audio(quiet)
    assert "silent (peak -61 dBFS" in one_line(exc)

    audible = tmp_path / "audible.wav"
    sf.write(audible, tone(amplitude=10 ** (-59 / 20)), SR, subtype="FLOAT")
    samples, _ = read_audio(audible)
    assert 20 * np.log10(np.max(np.abs(samples))) == pytest.approx(-59, abs=0.1)


@pytest.mark.parametrize("rate", [4000, 7999, 192001, 384000])
def test_unsupported_sample_rates(tmp_path, rate):
    path = tmp_path / "odd.wav"
    sf.write(path, tone(seconds=0.1, sr=rate), rate)
    with pytest.raises(AudioFileError) as exc:
        read_audio(path)
    message = one_line(exc)
    assert f"{rate} Hz" in message and "8000-192000" in message


@pytest.mark.parametrize("rate", [8000, 192000])
def test_sample_rate_limits_are_inclusive(tmp_path, rate):
    path = tmp_path / "edge.wav"
    sf.write(path, tone(seconds=0.1, sr=rate), rate)
    assert read_audio(path)[1] == rate


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_samples_are_rejected(tmp_path, bad):
    signal = tone()
    signal[100] = bad
    path = tmp_path / "nan.wav"
    sf.write(path, signal, SR, subtype="FLOAT")
    with pytest.raises(AudioFileError) as exc:
        read_audio(path)
    assert "invalid samples" in one_line(exc)


def test_peak_is_the_largest_magnitude_of_either_sign(tmp_path):
    """A take whose loudest sample is negative is as loud as its magnitude says."""
    signal = np.zeros(SR, dtype=np.float32)
    signal[10] = -0.5
    signal[20] = 10 ** (-70 / 20)
    path = tmp_path / "negative.wav"
    sf.write(path, signal, SR, subtype="FLOAT")
    samples, _ = read_audio(path)
    assert samples.min() == -0.5

    signal[10] = -(10 ** (-61 / 20))
    sf.write(path, signal, SR, subtype="FLOAT")
    with pytest.raises(AudioFileError) as exc:
        read_audio(path)
    assert "silent (peak -61 dBFS" in one_line(exc)


def test_audio_file_error_message_is_collapsed_to_one_line():
    assert str(AudioFileError("first\nsecond  third")) == "first second third"
    assert AudioFileError("x").message == "x"


def test_iter_blocks_covers_the_signal_in_order():
    x = np.arange(10, dtype=np.float32)
    blocks = list(iter_blocks(x, 4))
    assert [b.tolist() for b in blocks] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(np.shares_memory(b, x) for b in blocks)  # views, no copies


def test_iter_blocks_exact_multiple_and_padding():
    x = np.arange(8, dtype=np.float32)
    assert [len(b) for b in iter_blocks(x, 4)] == [4, 4]
    padded = list(iter_blocks(np.arange(6, dtype=np.float32), 4, pad=True))
    assert [b.tolist() for b in padded] == [[0, 1, 2, 3], [4, 5, 0, 0]]
    assert list(iter_blocks(np.zeros(0, dtype=np.float32), 4)) == []


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "4"])
def test_iter_blocks_rejects_bad_sizes_immediately(bad):
    with pytest.raises(ValueError, match="block_size"):
        iter_blocks(np.zeros(4), bad)
