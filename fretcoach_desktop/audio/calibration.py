"""Latency calibration: how late the player's attacks reach the analysis, measured.

The click leaves the output device, the player hears it and plays, the string's attack goes
through the interface, the driver's buffers and the ring into the engine. Some of that
round trip is known (the gap between starting the two streams, :mod:`.clock`); the rest
(converter and buffer delays the driver does not report, and the player's own habit of
playing a little ahead or behind) is measured here: the player plays one short note on
every click of a slow metronome (play-along), or the output is looped back into the input
(loopback: a cable, or a microphone next to the speaker), and the median offset of the
attacks from the clicks is the latency to subtract from every note time on that device.

* :func:`estimate_latency` is the arithmetic: match each scored click with the first
  attack near it, take the median offset, drop outliers (a missed click, a double pluck),
  report the spread (1.4826 x MAD) so the player knows how much to trust it.
* :class:`CalibrationRun` runs it live on the same pipeline as a session (capture ->
  ring -> :class:`~.live.AnalysisThread`, the click on the shared player), with progress
  for a UI or a terminal. Nothing in it blocks: :meth:`CalibrationRun.poll` is called by
  whoever shows the progress.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .live import AnalysisThread, AudioSource

if TYPE_CHECKING:  # pragma: no cover
    from .player import AudioPlayer

__all__ = [
    "DEFAULT_BEATS",
    "DEFAULT_BPM",
    "CalibrationError",
    "CalibrationProgress",
    "CalibrationResult",
    "CalibrationRun",
    "estimate_latency",
]

DEFAULT_BPM = 80.0  # slow: 750 ms between clicks, so offsets of -260..+490 ms are unambiguous
DEFAULT_BEATS = 16  # scored clicks (after the count-in)
COUNT_IN_BEATS = 4
EARLY = 0.35  # an attack up to this fraction of a beat before a click belongs to it...
LATE = 0.65  # ...and up to this fraction after it
OUTLIER_MS = 15.0  # offsets further than max(3 spreads, this) from the median are dropped
GOOD_SPREAD_MS = 8.0
FAIR_SPREAD_MS = 20.0  # above this the result is "poor": not worth storing
SECOND_HITS = 3  # clicks that agree on a latency of their own: the device's latency changed
TAIL_S = 0.6  # the run ends this long after the last click (its attack must be detected)
METHODS = ("play-along", "loopback")


class CalibrationError(ValueError):
    """The calibration could not measure anything trustworthy; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class CalibrationResult:
    """A measured input latency."""

    latency_ms: float  # median offset of the attacks from their clicks: subtract it from note times
    spread_ms: float  # 1.4826 x MAD of the kept offsets (~ standard deviation)
    hits: int  # clicks with an attack, outliers excluded
    clicks: int  # scored clicks
    outliers: int
    offsets_ms: tuple[float, ...]  # every matched offset, in click order (outliers included)
    bpm: float
    method: str = "play-along"
    click_offset_ms: float | None = None  # the measured gap between the streams' starts (diagnostics)
    #: a second, self-consistent latency: the device changed its buffering during the run
    #: (its median, how many clicks had it, and, when one latency followed the other, the
    #: last click of the first one, counted from 1)
    other_latency_ms: float | None = None
    other_hits: int = 0
    changed_after: int | None = None
    other_came_first: bool = False

    @property
    def quality(self) -> str:
        """``good`` (spread <= 8 ms), ``fair`` (<= 20 ms), ``poor`` (too scattered) or
        ``unstable`` (two latencies); only good and fair are worth storing."""
        if self.other_latency_ms is not None:
            return "unstable"
        if self.spread_ms <= GOOD_SPREAD_MS:
            return "good"
        return "fair" if self.spread_ms <= FAIR_SPREAD_MS else "poor"

    @property
    def usable(self) -> bool:
        return self.quality in ("good", "fair")

    def describe(self) -> str:
        """``"23 ms (good: ±3 ms over 15 of 16 clicks)"``."""
        text = (
            f"{self.latency_ms:.0f} ms ({self.quality}: \u00b1{self.spread_ms:.0f} ms over "
            f"{self.hits} of {self.clicks} clicks)"
        )
        if self.other_latency_ms is not None:
            text += f", but {self.other_latency_ms:.0f} ms over {self.other_hits} other clicks"
        return text

    def problem(self) -> str | None:
        """Why the measurement is not worth storing, and what to do (None when it is)."""
        if self.other_latency_ms is not None:
            if self.changed_after is not None:
                first, then = (self.other_latency_ms, self.latency_ms)
                if not self.other_came_first:
                    first, then = then, first
                what = f"the latency jumped from {first:.0f} ms to {then:.0f} ms after click {self.changed_after}"
            else:
                what = f"the attacks came at two latencies, {self.latency_ms:.0f} ms and {self.other_latency_ms:.0f} ms"
            return (
                f"{what}: the audio device changed its buffering during the run (another program "
                "used it, or its buffer size changed). Close other audio programs and calibrate again"
            )
        if not self.usable:
            return (
                f"the attacks were too scattered (\u00b1{self.spread_ms:.0f} ms) to trust this measurement: "
                "play short, even notes exactly with the click and calibrate again"
            )
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "latency_ms": round(self.latency_ms, 2),
            "spread_ms": round(self.spread_ms, 2),
            "quality": self.quality,
            "hits": self.hits,
            "clicks": self.clicks,
            "outliers": self.outliers,
            "offsets_ms": [round(x, 2) for x in self.offsets_ms],
            "bpm": self.bpm,
            "method": self.method,
            "click_offset_ms": self.click_offset_ms,
            "other_latency_ms": None if self.other_latency_ms is None else round(self.other_latency_ms, 2),
            "other_hits": self.other_hits,
            "changed_after_click": self.changed_after,
            "problem": self.problem(),
        }


def scored_clicks(bpm: float, beats: int, count_in_beats: int = COUNT_IN_BEATS) -> list[float]:
    """Grid times (seconds) of the clicks that count: those after the count-in."""
    period = 60.0 / bpm
    return [(count_in_beats + k) * period for k in range(beats)]


def _match(onsets: Sequence[float], clicks: Sequence[float], period: float) -> list[float | None]:
    """For each click, the offset (ms) of the first attack in its window, or None."""
    ordered = sorted(onsets)
    out: list[float | None] = []
    i = 0
    for click in clicks:
        lo, hi = click - EARLY * period, click + LATE * period
        while i < len(ordered) and ordered[i] < lo:
            i += 1
        out.append((ordered[i] - click) * 1000.0 if i < len(ordered) and ordered[i] < hi else None)
    return out


def _spread(values: Sequence[float], centre: float) -> float:
    return 1.4826 * statistics.median(abs(v - centre) for v in values) if values else 0.0


def _check(bpm: float, beats: int, method: str) -> None:
    if not (math.isfinite(bpm) and 30.0 <= bpm <= 200.0):
        raise ValueError(f"calibration bpm must be from 30 to 200, got {bpm!r}")
    if not 4 <= beats <= 128:
        raise ValueError(f"calibration beats must be from 4 to 128, got {beats!r}")
    if method not in METHODS:
        raise ValueError(f"calibration method must be one of {', '.join(METHODS)}, got {method!r}")


def required_hits(clicks: int) -> int:
    """Clicks that must be heard for a result: half of them, and at least 4."""
    return max(4, math.ceil(clicks / 2))


def estimate_latency(
    onsets_s: Sequence[float],
    *,
    bpm: float = DEFAULT_BPM,
    beats: int = DEFAULT_BEATS,
    count_in_beats: int = COUNT_IN_BEATS,
    method: str = "play-along",
    click_offset_ms: float | None = None,
) -> CalibrationResult:
    """The latency from attack times on the click grid (seconds; click 0 at 0).

    Raises:
        CalibrationError: fewer than half of the clicks (at least 4) have an attack.
    """
    _check(bpm, beats, method)
    clicks = scored_clicks(bpm, beats, count_in_beats)
    matched = _match([t for t in onsets_s if math.isfinite(t)], clicks, 60.0 / bpm)
    offsets = [x for x in matched if x is not None]
    need = required_hits(beats)
    what = "clicks" if method == "loopback" else "notes"
    if len(offsets) < need:
        hint = (
            "turn the click up and check that the output really reaches the input"
            if method == "loopback"
            else "play one short, clear note on every click (a muted string scratch works too), "
            "and check the input channel and level"
        )
        raise CalibrationError(f"heard {what} on only {len(offsets)} of {beats} clicks: {hint}")
    centre = statistics.median(offsets)
    limit = max(3.0 * _spread(offsets, centre), OUTLIER_MS)
    kept = [x for x in offsets if abs(x - centre) <= limit]
    if len(kept) < need:  # pragma: no cover - the median's neighbourhood always holds half
        raise CalibrationError(f"the {what} were too scattered to measure a latency: try again")
    latency = statistics.median(kept)
    measured: dict[str, Any] = {
        "latency_ms": latency,
        "spread_ms": _spread(kept, latency),
        "hits": len(kept),
        "outliers": len(offsets) - len(kept),
    }
    measured.update(_two_latencies(matched))
    return CalibrationResult(
        clicks=beats,
        offsets_ms=tuple(offsets),
        bpm=float(bpm),
        method=method,
        click_offset_ms=click_offset_ms,
        **measured,
    )


def _two_latencies(matched: Sequence[float | None]) -> dict[str, Any]:
    """Two latencies in one run: the device changed its buffering (or another program took
    it) part-way. The heard offsets, sorted, split at their widest gap into two groups of
    at least SECOND_HITS clicks (and a fifth of those heard) that each agree as well as a
    fair run does and lie further apart than three of their spreads (and OUTLIER_MS). When
    one latency followed the other in click order, also the click after which it changed.
    Empty when there is one latency (stray attacks are outliers, scattered ones are poor)."""
    heard = [(k, x) for k, x in enumerate(matched) if x is not None]
    least = max(SECOND_HITS, math.ceil(len(heard) / 5))
    if len(heard) < 2 * least:
        return {}
    values = sorted(x for _, x in heard)
    cut = max(range(least, len(values) - least + 1), key=lambda i: values[i] - values[i - 1])
    low, high = values[:cut], values[cut:]
    m_low, m_high = statistics.median(low), statistics.median(high)
    spread = max(_spread(low, m_low), _spread(high, m_high))
    if spread > FAIR_SPREAD_MS or m_high - m_low <= max(OUTLIER_MS, 3.0 * spread):
        return {}
    main_is_low = len(low) > len(high)
    main, other = (low, high) if main_is_low else (high, low)
    m_main, m_other = (m_low, m_high) if main_is_low else (m_high, m_low)
    split = values[cut - 1]  # offsets up to here are the low latency
    others = {k for k, x in heard if (x > split) == main_is_low}
    kept = [k for k, _ in heard if k not in others]
    out: dict[str, Any] = {
        "latency_ms": m_main,
        "spread_ms": _spread(main, m_main),
        "hits": len(main),
        "outliers": len(other),
        "other_latency_ms": m_other,
        "other_hits": len(other),
    }
    if max(others) < min(kept):
        out.update(changed_after=max(others) + 1, other_came_first=True)
    elif max(kept) < min(others):
        out.update(changed_after=max(kept) + 1)
    return out


# --------------------------------------------------------------------------- live run


@dataclass(frozen=True, slots=True)
class CalibrationProgress:
    """What a UI shows while a calibration runs."""

    beat: int  # scored clicks so far (0 during the count-in)
    beats: int
    counting_in: bool
    offsets_ms: tuple[float | None, ...] = ()  # per scored click so far: the attack's offset, None = none heard
    level_dbfs: float = -120.0
    done: bool = False
    error: str | None = None  # the stream ended on its own (device lost...)
    hits: int = field(default=0)

    @property
    def fraction(self) -> float:
        return min(1.0, self.beat / self.beats) if self.beats else 1.0


class CalibrationRun:
    """A calibration on a live source: the click on *player*, attacks from *source*.

    Args:
        source: a capture (not started). A file source works too (tests, demos).
        player: the shared :class:`~.player.AudioPlayer`; None only when the source itself
            already has the clicks in it (tests).
        bpm, beats, count_in_beats: the click grid; the first *count_in_beats* are not scored.
        method: ``"play-along"`` or ``"loopback"`` (only changes the messages).
        click_volume: 0..1.
    """

    def __init__(
        self,
        source: AudioSource,
        *,
        player: AudioPlayer | None,
        bpm: float = DEFAULT_BPM,
        beats: int = DEFAULT_BEATS,
        count_in_beats: int = COUNT_IN_BEATS,
        method: str = "play-along",
        click_volume: float = 0.9,
    ) -> None:
        _check(bpm, beats, method)
        self.bpm, self.beats, self.count_in_beats, self.method = float(bpm), int(beats), int(count_in_beats), method
        self.period = 60.0 / self.bpm
        self.clicks = scored_clicks(self.bpm, self.beats, self.count_in_beats)
        self.end_s = self.clicks[-1] + TAIL_S
        click = player.make_click(self.bpm, volume=click_volume) if player is not None else None
        self._player, self._click = player, click
        self.thread = AnalysisThread(
            source,
            bpm=self.bpm,
            key="C",
            scale="chromatic",
            count_in_beats=self.count_in_beats,
            click=click,
            player=player,
        )
        self._done = False

    def start(self) -> None:
        """Start the capture and the click.

        Raises:
            CalibrationError: there is no audio output to play the click on.
            Whatever the source raises when it cannot start (no device...).
        """
        self.thread.start()
        player = self._player
        if player is not None and getattr(player, "click", self._click) is not self._click:
            self.thread.stop()
            raise CalibrationError(
                "no audio output: the click cannot be played; connect headphones or speakers and try again"
            )

    def cancel(self) -> None:
        self._done = True
        self.thread.stop()

    @staticmethod
    def _gap_s(snap: Any) -> float:
        """The measured gap between the capture's start and the first click (0 until known)."""
        return (snap.click_offset_ms or 0.0) / 1000.0

    def _onsets(self, snap: Any) -> list[float]:
        """Attacks so far on the click grid (the gap *snap* reports taken out)."""
        engine = self.thread.analyzer
        if engine is None:
            return []
        gap = self._gap_s(snap)
        return [t - gap for t in list(engine.onsets)]

    def poll(self) -> CalibrationProgress:
        """Progress; once the last click has been heard, stops the stream (``done``)."""
        snap = self.thread.snapshot
        heard = snap.time_s - self._gap_s(snap)
        if not self._done and (heard >= self.end_s or not self.thread.running):
            self._done = True
            self.thread.stop()
            snap = self.thread.snapshot
        beat = sum(1 for c in self.clicks if c <= heard)
        due = [c for c in self.clicks if c + LATE * self.period <= heard or self._done]
        offsets = tuple(_match(self._onsets(snap), due, self.period)) if due else ()
        return CalibrationProgress(
            beat=beat,
            beats=self.beats,
            counting_in=beat == 0,
            offsets_ms=offsets,
            level_dbfs=snap.level_peak_dbfs,
            done=self._done,
            error=snap.error,
            hits=sum(1 for x in offsets if x is not None),
        )

    @property
    def done(self) -> bool:
        return self._done

    def result(self) -> CalibrationResult:
        """The measurement, once :meth:`poll` said ``done``.

        Raises:
            CalibrationError: the stream failed, was cancelled early, or too few clicks were heard.
        """
        snap = self.thread.snapshot
        if snap.error:
            raise CalibrationError(f"the input stopped during the calibration: {snap.error}")
        if snap.time_s - self._gap_s(snap) < self.clicks[-1]:
            raise CalibrationError("the calibration was stopped before the last click")
        return estimate_latency(
            self._onsets(snap),
            bpm=self.bpm,
            beats=self.beats,
            count_in_beats=self.count_in_beats,
            method=self.method,
            click_offset_ms=snap.click_offset_ms,
        )
