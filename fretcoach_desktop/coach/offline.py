"""The offline coach: rule-based tips, summaries and plans from the metrics. No network.

Tips address the weakest metric with one concrete instruction, vary their wording (never the
same template twice in a row) and state no numbers at all, so they cannot invent any.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from fretcoach_desktop.audio.metrics import METRIC_NAMES
from fretcoach_desktop.coach.types import CoachWindow, metric_label, weakest_of

__all__ = ["OFFLINE_MODEL", "OfflineCoach", "offline_plan", "offline_summary", "offline_tip"]

OFFLINE_MODEL = "offline"
OFFLINE_PROMPT_VERSION = "offline.rules.v1"

_TIPS: dict[str, tuple[str, ...]] = {
    "pitch_accuracy": (
        "Pitch is your weak spot right now, so fret each note just behind the fret wire and ease off the pressure.",
        "Your notes are drifting out of tune; press lighter and let each note ring before you move on.",
        "Work on pitch accuracy: keep your fretting finger close to the fret and avoid pushing the string sideways.",
        "Tuning is slipping, so slow down a little and check that each fretted note sounds clean and centered.",
    ),
    "scale_conformity": (
        "Some notes are leaving the scale; say each note name in your head before you play it.",
        "Stay inside the scale: play the pattern slowly up and down once before you improvise again.",
        "Watch your scale conformity and keep your hand in one box position until every note lands in the key.",
        "A few wrong notes are creeping in, so aim for the root note whenever you feel lost.",
    ),
    "timing_stability": (
        "Your timing is the weakest part; lock every note onto the click and count the beats out loud.",
        "Focus on timing: tap your foot with the metronome and start each note exactly on the click.",
        "Timing is wobbling, so play fewer notes and place each one right on the beat.",
        "Keep your picking hand moving steadily with the click, even when you are not playing a note.",
    ),
    "noise_control": (
        "There is extra string noise; rest the side of your picking hand on the strings you are not playing.",
        "Clean up the noise by lifting fretting fingers gently and muting the idle strings.",
        "Work on noise control: pick with a smaller motion and let your free fingers damp the other strings.",
        "Stray string sounds are showing up, so mute with both hands and pick only the string you mean.",
    ),
}

_BIAS_TIPS = {
    "late": "You are dragging behind the click; anticipate the beat slightly and start each note on it.",
    "early": "You are rushing ahead of the click; relax and let the beat arrive before you pick.",
    "sharp": "Your notes run sharp, so press the strings more lightly and don't bend them sideways.",
    "flat": "Your notes run flat, so fret firmly right behind the fret wire.",
}

_IMPROVING = "Nice progress on {label}; keep it going and "
_NO_NOTES = (
    "I did not hear any notes in this window; check your input level and play along with the click.",
    "No notes came through this time, so make sure your guitar is plugged in and turned up.",
)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


class OfflineCoach:
    """Rule-based tips with varied wording. Keeps a little state to avoid repeating itself."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._last: str | None = None

    def tip(self, window: CoachWindow) -> str:
        weakest = window.weakest_metric
        if weakest is None:
            return self._pick(_NO_NOTES)
        specific = self._specific(window, weakest)
        if specific is not None and self._rng.random() < 0.6 and specific != self._last:
            self._last = specific
            return specific
        text = self._pick(_TIPS[weakest])
        delta = window.trend.get(weakest)
        if delta is not None and delta >= 3.0 and self._rng.random() < 0.5:
            text = _IMPROVING.format(label=metric_label(weakest)) + _lower_first(text)
        return text

    def _pick(self, options: Sequence[str]) -> str:
        choices = [o for o in options if o != self._last] or list(options)
        text = self._rng.choice(choices)
        self._last = text
        return text

    @staticmethod
    def _specific(window: CoachWindow, weakest: str) -> str | None:
        if weakest == "timing_stability" and window.timing_bias_ms is not None and abs(window.timing_bias_ms) >= 20:
            return _BIAS_TIPS["late" if window.timing_bias_ms > 0 else "early"]
        if weakest == "pitch_accuracy" and window.pitch_bias_cents is not None and abs(window.pitch_bias_cents) >= 12:
            return _BIAS_TIPS["sharp" if window.pitch_bias_cents > 0 else "flat"]
        if weakest == "scale_conformity" and window.missed_notes:
            notes = " and ".join(window.missed_notes[:2])
            return (
                f"Watch out for {notes}, which keep falling outside the scale; slow down and aim for the scale tones."
            )
        return None


def offline_tip(window: CoachWindow, seed: int | None = None) -> str:
    """One rule-based tip for *window* (deterministic for a given seed)."""
    if seed is None:
        seed = zlib.crc32(f"{window.session_id}:{window.t_s:.1f}".encode())
    return OfflineCoach(seed).tip(window)


def offline_summary(metrics: Mapping[str, float | None], seed: int | None = None) -> str:
    """A two-sentence spoken session summary: what went well, what to practise next."""
    present = {n: metrics.get(n) for n in METRIC_NAMES if metrics.get(n) is not None}
    if not present:
        return "I did not hear enough playing to sum up this session; next time, check your input level first."
    weakest = weakest_of(present)
    best = max(present, key=lambda n: (present[n], -METRIC_NAMES.index(n)))
    rng = random.Random(seed)
    opener = rng.choice(("Good session", "Nice work today", "Well played"))
    instruction = _lower_first(rng.choice(_TIPS[weakest]))  # type: ignore[index]
    if best == weakest:
        return f"{opener}, your playing was even across the board. Next time, {instruction}"
    return f"{opener}: your {metric_label(best)} was the strongest part. Next time, {instruction}"


# --------------------------------------------------------------------------- plans

_DRILLS: dict[str, tuple[str, str, str]] = {
    # metric -> (slow drill goal, tempo drill goal, application goal)
    "pitch_accuracy": (
        "Every note rings in tune: fret just behind the wire with light pressure",
        "Keep the notes centered in pitch at a steady tempo",
        "Improvise slowly and let each note ring fully in tune",
    ),
    "scale_conformity": (
        "Play the scale up and down, naming each note, with no note outside the key",
        "Play the pattern in eighth notes without leaving the scale",
        "Improvise inside the scale, landing phrases on the root",
    ),
    "timing_stability": (
        "Place every note exactly on the click, counting out loud",
        "Eighth notes evenly spaced against the click",
        "Improvise with the click, starting each phrase on beat one",
    ),
    "noise_control": (
        "Mute the idle strings with both hands; no scrapes or buzz between notes",
        "Clean picking with a small motion at tempo",
        "Improvise with silent string changes and muted open strings",
    ),
}

_STARTER_KEY, _STARTER_SCALE, _STARTER_BPM = "A", "minor_pentatonic", 70


def _get(session: Any, name: str) -> Any:
    if isinstance(session, Mapping):
        return session.get(name)
    return getattr(session, name, None)


def offline_plan(sessions: Sequence[Any], focus: str | None = None) -> Any:
    """A rule-based :class:`~fretcoach_desktop.coach.plan_schema.PracticePlan`.

    With no sessions, a starter plan (A minor pentatonic at a comfortable tempo).
    """
    from fretcoach_desktop.coach.plan_schema import PLAN_SCALES, Exercise, PracticePlan, TargetMetrics

    averages: dict[str, float] = {}
    for name in METRIC_NAMES:
        values = [float(v) for s in sessions if (v := _get(s, name)) is not None]
        if values:
            averages[name] = sum(values) / len(values)
    last = sessions[-1] if sessions else None
    key = _get(last, "key") if last is not None else None
    scale = _get(last, "scale") if last is not None else None
    bpm = _get(last, "bpm") if last is not None else None
    key = key if key in Exercise.model_fields["key"].annotation.__args__ else _STARTER_KEY  # type: ignore[union-attr]
    scale = scale if scale in PLAN_SCALES else _STARTER_SCALE
    bpm = int(round(float(bpm))) if bpm else _STARTER_BPM

    focus = focus or weakest_of(averages) or "timing_stability"
    slow, tempo, apply_ = _DRILLS[focus]
    slow_bpm = max(40, int(round(bpm * 0.75)))
    if not sessions:
        why = (
            "There are no sessions yet, so this starter plan builds steady timing on a friendly scale; "
            "the next plans will follow your results."
        )
    else:
        why = (
            f"{metric_label(focus).capitalize()} was your weakest metric over your last "
            f"{len(sessions)} session{'s' if len(sessions) != 1 else ''}, so this plan slows down to fix it "
            "and then builds back up to your tempo."
        )
    exercises = [
        Exercise(title="Slow and exact", key=key, scale=scale, bpm=slow_bpm, subdivision=1, minutes=5, goal=slow),
        Exercise(title="Back to tempo", key=key, scale=scale, bpm=bpm, subdivision=2, minutes=5, goal=tempo),
        Exercise(title="Apply it", key=key, scale=scale, bpm=bpm, subdivision=1, minutes=5, goal=apply_),
    ]
    targets = {}
    for name in METRIC_NAMES:
        base = averages.get(name, 70.0)
        targets[name] = min(100.0, base + (8.0 if name == focus else 3.0))
    return PracticePlan(focus_metric=focus, why=why, exercises=exercises, targets=TargetMetrics(**targets))
