"""The chat panel's offline answers: an intent matcher over the player's own data, no LLM.

Used when there is no OpenAI key, and when every model failed. It recognises the common
questions (English keywords) and answers them from the store:

* progress / trends: per-metric change over the last sessions, or over a period ("this
  week", "this month", "today"), optionally for one metric ("How did my timing improve?");
* the weakest metric over the last 5 sessions;
* the last session's summary (and the change since the one before);
* what to practise next: the offline AI Mode plan (stored like any plan);
* the most missed notes, optionally in a key/scale ("in A minor pentatonic"): notes out of
  the scale or more than 25 cents off;
* how much the player practised.

Anything else gets a clear "I cannot answer that offline" with the list of what it can do.
Answers are short markdown (tables for numbers); trends come with chart data.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fretcoach_desktop.audio.metrics import METRIC_NAMES
from fretcoach_desktop.coach.chat import ChatAnswer, new_thread_id
from fretcoach_desktop.coach.types import metric_label, weakest_of

if TYPE_CHECKING:  # pragma: no cover
    from fretcoach_desktop.store import SessionSummary, Store

__all__ = ["INTENTS", "MISSED_CENTS", "OFFLINE_CAPABILITIES", "OfflineChat", "match_intent", "parse_key_scale"]

MODEL = "offline"
#: A note this far off equal temperament counts as missed (the pitch score is 0.5 there).
MISSED_CENTS = 25.0
RECENT = 5  # sessions for "weakest" and plans (AI Mode uses the last 5)
TREND_SESSIONS = 10  # sessions for a trend without a period
NOTES_SESSIONS = 20  # sessions scanned for missed notes

OFFLINE_CAPABILITIES = (
    "your progress and trends (e.g. *How did my timing improve this week?*)",
    "your weakest metric",
    "a summary of your last session",
    "what to practise next (a practice plan)",
    "the notes you miss most (e.g. *Which notes do I miss most in A minor pentatonic?*)",
    "how much you practised",
)

_METRIC_WORDS: dict[str, tuple[str, ...]] = {
    "timing_stability": ("timing", "rhythm", "tempo", "on time", "on the beat", "groove", "late", "early", "rushing"),
    "pitch_accuracy": ("pitch", "intonation", "in tune", "out of tune", "cents", "sharp", "flat"),
    "scale_conformity": ("scale conformity", "conformity", "wrong notes", "in key", "inside the scale"),
    "noise_control": ("noise", "buzz", "scrape", "muting", "mute", "clean"),
}

#: intent -> patterns (checked in this order; the first match wins)
INTENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "missed_notes",
        (
            r"\bmiss(ed|es|ing)?\b.*\bnotes?\b",
            r"\bnotes?\b.*\bmiss",
            r"\bwhich notes\b",
            r"\bwrong notes\b",
            r"\bnotes?\b.*\b(out of (tune|scale|key)|off)\b",
            r"\bmistakes?\b",
        ),
    ),
    (
        "plan",
        (
            r"\bpractic?[sc]e next\b",
            r"\bwhat (should|shall|do|can) i (practic?[sc]e|work on|play|do)\b",
            r"\b(practice|practise|training) plan\b",
            r"\bplan\b",
            r"\bnext session\b",
            r"\bwork on next\b",
            r"\bexercises?\b",
        ),
    ),
    (
        "weakest",
        (
            r"\bweak(est|ness|er)?\b",
            r"\bworst\b",
            r"\bstruggl",
            r"\bneeds? (the most )?(work|improvement)\b",
            r"\bimprove (the )?most\b",
            r"\bbiggest problem\b",
        ),
    ),
    (
        "practice_time",
        (
            r"\bhow (much|long|often) (did|have|do) i (practi[cs]e|play|train)",
            r"\bhow many (sessions|minutes|hours)\b",
            r"\bpractice time\b",
            r"\btime (did i|have i) (spent|spend|practi)",
        ),
    ),
    (
        "progress",
        (
            r"\bprogress",
            r"\btrends?\b",
            r"\bimprov",
            r"\bbetter\b",
            r"\bworse\b",
            r"\bchang(e|ed|ing)\b",
            r"\bover time\b",
            r"\bthis (week|month)\b",
            r"\bcompare",
        ),
    ),
    (
        "last_session",
        (
            r"\b(last|latest|previous|recent|most recent) (session|practice|take)\b",
            r"\bhow did i do\b",
            r"\btoday\b",
            r"\byesterday\b",
            r"\bsummar",
        ),
    ),
    ("help", (r"\bhelp\b", r"\bwhat can you\b", r"^\s*(hi|hello|hey)\b")),
)

_SCALE_WORDS: dict[str, str] = {
    "major pentatonic": "major_pentatonic",
    "pentatonic major": "major_pentatonic",
    "minor pentatonic": "minor_pentatonic",
    "pentatonic minor": "minor_pentatonic",
    "harmonic minor": "harmonic_minor",
    "natural minor": "minor",
    "minor blues": "blues",
    "blues": "blues",
    "dorian": "dorian",
    "mixolydian": "mixolydian",
    "phrygian": "phrygian",
    "lydian": "lydian",
    "locrian": "locrian",
    "aeolian": "minor",
    "ionian": "major",
    "major": "major",
    "minor": "minor",
}
_SCALE_RE = "|".join(sorted((re.escape(w) for w in _SCALE_WORDS), key=len, reverse=True))
_KEY_SCALE = re.compile(rf"(?<![\w#])([A-Ga-g])\s*(#|♯|b|♭|sharp|flat)?[\s-]+({_SCALE_RE})\b", re.IGNORECASE)
_KEY_ONLY = re.compile(r"\b(?:in|key of)\s+([A-G])(#|♯|b|♭)?(?![\w#])")


def match_intent(question: str) -> str | None:
    """The intent of *question* (see :data:`INTENTS`), or ``None`` when none matches."""
    text = " ".join(question.lower().split())
    for intent, patterns in INTENTS:
        if any(re.search(p, text) for p in patterns):
            return intent
    return None


def _metric_in(question: str) -> str | None:
    text = question.lower()
    for name, words in _METRIC_WORDS.items():
        if any(re.search(rf"\b{re.escape(w)}\b", text) for w in words):
            return name
    return None


def parse_key_scale(question: str) -> tuple[str | None, str | None]:
    """``("A", "minor_pentatonic")`` from "... in A minor pentatonic"; ``(None, None)`` if absent."""
    from fretcoach_desktop.audio.theory import TheoryError, normalize_key

    for match in _KEY_SCALE.finditer(question):
        letter, accidental, scale_words = match.groups()
        # a lowercase "a" is the article unless it is clearly a key ("a minor pentatonic" is ambiguous: accept)
        accidental = (accidental or "").lower()
        sign = "#" if accidental in ("#", "♯", "sharp") else "b" if accidental in ("b", "♭", "flat") else ""
        try:
            key = normalize_key(letter.upper() + sign)
        except TheoryError:
            continue
        return key, _SCALE_WORDS[" ".join(scale_words.lower().split())]
    match = _KEY_ONLY.search(question)
    if match:
        try:
            return normalize_key(match.group(1) + (match.group(2) or "")), None
        except TheoryError:
            pass
    return None, None


def _period(question: str) -> tuple[str, timedelta] | None:
    text = question.lower()
    if re.search(r"\b(this|past|last) week\b|\blast 7 days\b|\bseven days\b", text):
        return "the last 7 days", timedelta(days=7)
    if re.search(r"\b(this|past|last) month\b|\blast 30 days\b", text):
        return "the last 30 days", timedelta(days=30)
    if re.search(r"\btoday\b", text):
        return "the last 24 hours", timedelta(days=1)
    return None


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _scale_name(scale: str) -> str:
    return scale.replace("_", " ")


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _norm_scale(scale: str | None) -> str | None:
    if not scale:
        return None
    from fretcoach_desktop.audio.theory import TheoryError, normalize_scale

    try:
        return normalize_scale(scale)
    except TheoryError:
        return scale.lower()


@dataclass
class OfflineChat:
    """Answers one player's questions from the store, without any model."""

    store: Store
    user_id: int
    now: datetime | None = None

    def _now(self) -> datetime:
        return self.now or datetime.now(UTC)

    def answer(self, question: str, thread_id: str | None = None) -> ChatAnswer:
        intent = match_intent(question) or "unknown"
        handler = getattr(self, f"_{intent}")
        text, chart, plan_id = handler(question)
        return ChatAnswer(
            answer=text,
            thread_id=thread_id or new_thread_id(),
            model=MODEL,
            fell_back=False,
            intent=intent,
            chart=chart,
            plan_id=plan_id,
        )

    # ------------------------------------------------------------------ data

    def _sessions(self, limit: int | None = None) -> list[SessionSummary]:
        """Finished sessions with notes, newest first."""
        return [s for s in self.store.history(self.user_id, limit=limit) if s.notes_played > 0]

    @staticmethod
    def _no_sessions() -> tuple[str, None, None]:
        return (
            "You have no finished sessions with notes yet, so there is nothing to look at. "
            "Play a session (or analyze a take) and ask again.",
            None,
            None,
        )

    # ------------------------------------------------------------------ intents

    def _help(self, question: str) -> tuple[str, Any, Any]:
        return (
            "I can answer these from your practice data:\n\n" + "\n".join(f"- {c}" for c in OFFLINE_CAPABILITIES),
            None,
            None,
        )

    def _unknown(self, question: str) -> tuple[str, Any, Any]:
        return (
            "I can't answer that offline: without the online coach I only understand a few common questions "
            "and cannot look through your data freely. I can tell you about:\n\n"
            + "\n".join(f"- {c}" for c in OFFLINE_CAPABILITIES)
            + "\n\nFor other questions, set an OpenAI API key (OPENAI_API_KEY) in the settings.",
            None,
            None,
        )

    def _weakest(self, question: str) -> tuple[str, Any, Any]:
        from fretcoach_desktop.coach.plans import analyze_sessions

        recent = list(reversed(self._sessions(RECENT)))
        if not recent:
            return self._no_sessions()
        weakest, trend, averages = analyze_sessions(recent)
        if weakest is None:
            return self._no_sessions()
        strongest = max(averages, key=lambda n: averages[n])
        n = len(recent)
        trend_text = {
            "improving": "it is improving",
            "declining": "it is getting worse",
            "steady": "it is holding steady",
        }.get(trend, "there are too few sessions to see a trend")
        lines = [
            f"Your weakest metric over your last {n} session{'s' if n != 1 else ''} is **{metric_label(weakest)}** "
            f"(average {averages[weakest]:.1f}), and {trend_text}. "
            f"Your strongest is {metric_label(strongest)} ({averages[strongest]:.1f}).",
            "",
            "| metric | average |",
            "|---|---|",
        ]
        for name in METRIC_NAMES:
            if name in averages:
                mark = " ← weakest" if name == weakest else ""
                lines.append(f"| {metric_label(name)}{mark} | {averages[name]:.1f} |")
        return "\n".join(lines), None, None

    def _last_session(self, question: str) -> tuple[str, Any, Any]:
        sessions = self._sessions(2)
        if not sessions:
            return self._no_sessions()
        last = sessions[0]
        before = sessions[1] if len(sessions) > 1 else None
        metrics = {n: getattr(last, n) for n in METRIC_NAMES}
        weakest = weakest_of(metrics)
        minutes = last.duration_s / 60.0
        lines = [
            f"Your last session ({_when(last.started_at)}, {minutes:.0f} min, {last.key} {_scale_name(last.scale)} "
            f"at {last.bpm:g} bpm): {last.notes_played} notes, {last.noise_events} noise events."
            + (f" Weakest: **{metric_label(weakest)}**." if weakest else ""),
            "",
            "| metric | last session |" + (" change vs. the one before |" if before else ""),
            "|---|---|" + ("---|" if before else ""),
        ]
        for name in METRIC_NAMES:
            value = metrics[name]
            row = f"| {metric_label(name)} | {_fmt(value)} |"
            if before:
                prev = getattr(before, name)
                row += f" {value - prev:+.1f} |" if value is not None and prev is not None else " – |"
            lines.append(row)
        return "\n".join(lines), None, None

    def _progress(self, question: str) -> tuple[str, Any, Any]:
        period = _period(question)
        focus = _metric_in(question)
        names = [focus] if focus else list(METRIC_NAMES)
        now = self._now()
        if period is not None:
            label, span = period
            everything = self._sessions(None)
            sessions = [s for s in everything if s.started_at >= now - span]
            previous = [s for s in everything if now - 2 * span <= s.started_at < now - span]
            scope = f"in {label}"
        else:
            sessions = self._sessions(TREND_SESSIONS)
            previous = []
            scope = f"over your last {len(sessions)} sessions"
        sessions = list(reversed(sessions))  # oldest first
        if not sessions:
            if period is not None:
                return f"You have no finished sessions {scope}, so I cannot show a trend for that period.", None, None
            return self._no_sessions()
        chart = {
            "title": f"{metric_label(focus).capitalize() if focus else 'Metrics'} {scope}",
            "series": {
                n: [[s.started_at.isoformat(), round(v, 1)] for s in sessions if (v := getattr(s, n)) is not None]
                for n in names
            },
        }
        if len(sessions) < 2:
            s = sessions[0]
            values = ", ".join(f"{metric_label(n)} {_fmt(getattr(s, n))}" for n in names)
            return (
                f"You have only one session {scope} ({_when(s.started_at)}): {values}. "
                "A trend needs at least two sessions.",
                chart,
                None,
            )
        header = "| metric | first | last | change | average |"
        sep = "|---|---|---|---|---|"
        if previous:
            header += " previous period avg |"
            sep += "---|"
        rows = []
        changes: dict[str, float] = {}
        for name in names:
            values = [float(v) for s in sessions if (v := getattr(s, name)) is not None]
            if not values:
                rows.append(f"| {metric_label(name)} | – | – | – | – |" + (" – |" if previous else ""))
                continue
            change = values[-1] - values[0]
            changes[name] = change
            row = f"| {metric_label(name)} | {values[0]:.1f} | {values[-1]:.1f} | {change:+.1f} | {_mean(values):.1f} |"
            if previous:
                prev = [float(v) for s in previous if (v := getattr(s, name)) is not None]
                row += f" {_fmt(_mean(prev))} |"
            rows.append(row)
        if focus and focus in changes:
            change = changes[focus]
            verb = "improved" if change >= 1 else "dropped" if change <= -1 else "stayed about the same"
            amount = f" by {abs(change):.1f} points" if abs(change) >= 1 else ""
            summary = f"Your {metric_label(focus)} {verb}{amount} {scope} ({len(sessions)} sessions, first to last)."
        elif changes:
            best = max(changes, key=lambda n: changes[n])
            worst = min(changes, key=lambda n: changes[n])
            summary = f"{scope[0].upper() + scope[1:]} ({len(sessions)} sessions, first to last): "
            summary += f"most progress in {metric_label(best)} ({changes[best]:+.1f})"
            summary += f", least in {metric_label(worst)} ({changes[worst]:+.1f})." if worst != best else "."
        else:
            summary = f"There are no metric values {scope}."
        return "\n".join([summary, "", header, sep, *rows]), chart, None

    def _plan(self, question: str) -> tuple[str, Any, Any]:
        from fretcoach_desktop.coach.offline import offline_plan
        from fretcoach_desktop.coach.plans import OFFLINE_PLAN_VERSION

        recent = list(reversed(self.store.recent_sessions(self.user_id, limit=RECENT)))
        plan = offline_plan(recent)
        plan_id = None
        try:
            plan_id = self.store.save_plan(
                self.user_id,
                plan.model_dump(),
                weakest_metric=plan.focus_metric,
                source_session_ids=[s.session_id for s in recent],
                prompt_version=OFFLINE_PLAN_VERSION,
            )
        except Exception:  # the plan is still shown
            plan_id = None
        lines = [f"**Next: work on {metric_label(plan.focus_metric)}.** {plan.why}", ""]
        for i, ex in enumerate(plan.exercises, 1):
            beat = "eighth notes" if ex.subdivision == 2 else "quarter notes"
            lines.append(
                f"{i}. **{ex.title}**: {ex.key} {_scale_name(ex.scale)}, {ex.bpm} bpm, {beat}, "
                f"{ex.minutes} min. {ex.goal}."
            )
        targets = plan.targets
        lines.append("")
        lines.append(
            "Targets for the next session: "
            + ", ".join(f"{metric_label(n)} {getattr(targets, n):.0f}" for n in METRIC_NAMES)
            + "."
        )
        return "\n".join(lines), None, plan_id

    def _missed_notes(self, question: str) -> tuple[str, Any, Any]:
        from fretcoach_desktop.audio.theory import key_prefers_flats, note_name

        key, scale = parse_key_scale(question)
        sessions = self._sessions(None)
        if key:
            sessions = [s for s in sessions if s.key == key or _same_key(s.key, key)]
        if scale:
            sessions = [s for s in sessions if _norm_scale(s.scale) == scale]
        where = f" in {key} {_scale_name(scale)}" if key and scale else f" in {key}" if key else ""
        if not sessions:
            return (f"You have no finished sessions{where} yet, so I cannot tell which notes you miss.", None, None)
        sessions = sessions[:NOTES_SESSIONS]
        played: Counter[str] = Counter()
        out_of_scale: Counter[str] = Counter()
        out_of_tune: Counter[str] = Counter()
        total = 0
        for s in sessions:
            try:
                detail = self.store.session_detail(self.user_id, s.session_id)
            except Exception:
                continue
            try:
                flats = key_prefers_flats(s.key, s.scale)
            except Exception:
                flats = False
            for n in detail.notes:
                name = note_name(n.midi, prefer_flats=flats).rstrip("-0123456789")
                played[name] += 1
                total += 1
                if not n.in_scale:
                    out_of_scale[name] += 1
                elif abs(n.cents) > MISSED_CENTS:
                    out_of_tune[name] += 1
        count = len(sessions)
        scope = f"{count} session{'s' if count != 1 else ''}{where}"
        if total == 0:
            return (f"Your {scope} have no stored notes, so I cannot tell which notes you miss.", None, None)
        missed = out_of_scale + out_of_tune
        if not missed:
            return (
                f"Across {total} notes in your last {scope}, none were outside the scale or more than "
                f"{MISSED_CENTS:.0f} cents off. Nicely done.",
                None,
                None,
            )
        lines = [
            f"Most missed notes across your last {scope} ({total} notes; missed = outside the scale or more than "
            f"{MISSED_CENTS:.0f} cents off):",
            "",
            "| note | missed | out of scale | out of tune | of played |",
            "|---|---|---|---|---|",
        ]
        for name, misses in missed.most_common(5):
            lines.append(
                f"| {name} | {misses} | {out_of_scale[name]} | {out_of_tune[name]} | "
                f"{100.0 * misses / played[name]:.0f}% |"
            )
        top = missed.most_common(1)[0][0]
        why = "outside the scale" if out_of_scale[top] >= out_of_tune[top] else "out of tune"
        lines += ["", f"**{top}** is the one to watch: it is mostly {why}."]
        return "\n".join(lines), None, None

    def _practice_time(self, question: str) -> tuple[str, Any, Any]:
        sessions = self._sessions(None)
        if not sessions:
            return self._no_sessions()
        now = self._now()
        period = _period(question) or ("the last 7 days", timedelta(days=7))
        label, span = period
        recent = [s for s in sessions if s.started_at >= now - span]
        minutes = sum(s.duration_s for s in recent) / 60.0
        total_minutes = sum(s.duration_s for s in sessions) / 60.0
        return (
            f"In {label} you practised {len(recent)} session{'s' if len(recent) != 1 else ''}, "
            f"{minutes:.0f} minutes in all. Overall: {len(sessions)} sessions, {total_minutes:.0f} minutes "
            f"(since {_when(sessions[-1].started_at)}).",
            None,
            None,
        )


def _same_key(a: str, b: str) -> bool:
    from fretcoach_desktop.audio.theory import TheoryError, pitch_class

    try:
        return pitch_class(a) == pitch_class(b)
    except TheoryError:
        return False
