"""Coach quality you can measure: evaluation datasets, metrics, prompt comparisons, feedback.

* A **dataset** is a list of metric windows, each stored with the exact input the live coach
  gets (:meth:`CoachWindow.facts`) and the window itself (to replay it through the coach).
  It comes from the profile's stored sessions (:func:`windows_from_sessions`) or is generated
  to cover every weakest-metric case (:func:`synthetic_windows`); saved as JSON Lines.
* **Metrics** (plain functions, no model): :func:`one_sentence`, :func:`addresses_weakest`,
  :func:`actionable`, :func:`no_invented_numbers`, :func:`word_count`; the runner adds
  ``latency_ms`` and, optionally, an LLM judge score (:func:`judge_answer`).
* :func:`run_evaluation` runs the live coach (:class:`~fretcoach_desktop.coach.live.LiveCoach`,
  text only) over the dataset once per prompt version and scores every answer; without an
  OpenAI key the offline coach answers (the same for every prompt version).
* With Opik configured, :func:`upload_dataset` and :func:`log_experiments` send the dataset
  and one experiment per prompt version (a trace per answer, its metric scores as feedback
  scores, linked to the dataset items). Without Opik nothing is imported or sent.
* :func:`feedback_report` joins the thumbs up/down on stored coach tips to prompt versions.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import re
import secrets
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fretcoach_desktop.audio.metrics import METRIC_NAMES
from fretcoach_desktop.coach.types import CoachWindow

if TYPE_CHECKING:  # pragma: no cover
    from fretcoach_desktop.config import Config
    from fretcoach_desktop.tracing.tracer import Tracer

__all__ = [
    "DATASET_NAME",
    "SCORE_NAMES",
    "EvalItem",
    "EvalResult",
    "actionable",
    "addresses_weakest",
    "feedback_report",
    "judge_answer",
    "load_dataset",
    "log_experiments",
    "register_prompts",
    "no_invented_numbers",
    "one_sentence",
    "run_evaluation",
    "save_dataset",
    "score_answer",
    "summarize",
    "synthetic_windows",
    "upload_dataset",
    "window_from_json",
    "window_to_json",
    "windows_from_sessions",
    "word_count",
]

log = logging.getLogger(__name__)

#: The Opik dataset the windows are uploaded to.
DATASET_NAME = "fretcoach-live-coach-windows"

#: Every score of an answer, in table order (``judge`` only with ``--judge``).
SCORE_NAMES: tuple[str, ...] = (
    "one_sentence",
    "addresses_weakest",
    "actionable",
    "no_invented_numbers",
    "words",
    "latency_ms",
    "judge",
)

# --------------------------------------------------------------------------- metrics

_SENTENCE_END = re.compile(r"[.!?]+(?=[\"')\]\u201d\u2019]*(?:\s|$))")


def one_sentence(text: str) -> float:
    """1.0 when *text* is at most one sentence (an empty answer fails), else 0.0.

    A sentence ends at ``.``, ``!`` or ``?`` followed by a space or the end; decimals
    (``96.5``) do not end one. A line break or a list bullet also starts a new sentence.
    """
    text = str(text or "").strip()
    if not text:
        return 0.0
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        return 0.0
    ends = list(_SENTENCE_END.finditer(text))
    trailing = text[ends[-1].end() :].strip() if ends else text
    count = len(ends) + (1 if trailing else 0)
    return 1.0 if count <= 1 else 0.0


#: Words that name or address each metric (lower case, matched on word starts).
WEAKEST_SYNONYMS: dict[str, tuple[str, ...]] = {
    "timing_stability": (
        "timing", "rhythm", "late", "early", "click", "beat", "metronome", "tempo", "rush", "drag",
        "on time", "in time", "groove", "pulse", "count", "ahead", "behind",
    ),
    "pitch_accuracy": (
        "pitch", "tune", "tuning", "intonation", "sharp", "flat", "cents", "bend", "fret wire",
        "behind the fret", "pressure", "press lighter",
    ),
    "scale_conformity": (
        "scale", "key", "notes outside", "outside", "wrong note", "root", "box", "pattern", "position",
    ),
    "noise_control": (
        "noise", "noisy", "mute", "muting", "damp", "scrape", "buzz", "idle string", "unwanted",
        "stray", "string sound", "clean",
    ),
}  # fmt: skip


def _contains(text: str, phrase: str) -> bool:
    return re.search(r"(?<![a-z])" + re.escape(phrase), text) is not None


def addresses_weakest(text: str, facts: Mapping[str, Any]) -> float | None:
    """1.0 when *text* names or addresses the facts' weakest metric, else 0.0.

    Synonyms count (timing: rhythm, late, early, click...; pitch: tune, sharp, flat, cents...;
    scale: key, notes outside...; noise: mute, scrape, buzz...), and so does naming one of the
    window's most missed notes when scale conformity is the weakest. ``None`` (not scored)
    when the window has no weakest metric (no notes).
    """
    weakest = facts.get("weakest_metric")
    if weakest not in WEAKEST_SYNONYMS:
        return None
    lowered = str(text or "").lower()
    if any(_contains(lowered, word) for word in WEAKEST_SYNONYMS[weakest]):
        return 1.0
    if weakest == "scale_conformity":
        for note in facts.get("most_missed_notes") or ():
            if re.search(r"(?<![A-Za-z])" + re.escape(str(note)) + r"(?![#b\w])", str(text or "")):
                return 1.0
    return 0.0


#: Imperative verbs (and verb phrases) that make a tip a concrete instruction.
IMPERATIVE_VERBS: tuple[str, ...] = (
    "aim", "anticipate", "breathe", "check", "clean up", "count", "damp", "don't", "do not", "ease",
    "fret", "focus", "hold", "keep", "land", "let", "lift", "listen", "lock", "loosen", "make sure",
    "move", "mute", "name", "pick", "place", "play", "practice", "practise", "press", "relax",
    "repeat", "rest", "say", "slow", "start", "stay", "tap", "target", "think", "try", "tune",
    "use", "wait", "watch", "work on",
)  # fmt: skip


def actionable(text: str) -> float:
    """1.0 when *text* contains a concrete instruction (one of :data:`IMPERATIVE_VERBS`)."""
    lowered = str(text or "").lower().replace("\u2019", "'")
    return 1.0 if any(re.search(rf"\b{re.escape(v)}\b", lowered) for v in IMPERATIVE_VERBS) else 0.0


# A number not glued to a note letter (F#4, Bb3, A4 are note names, not numbers).
_NUMBER = re.compile(r"(?<![A-Za-z#\u266f\u266d\d.,])[-+\u2212]?\d+(?:[.,]\d+)?")


def _numbers_in(value: Any) -> Iterable[float]:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        if math.isfinite(value):
            yield float(value)
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _numbers_in(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _numbers_in(v)
    elif isinstance(value, str):
        for m in _NUMBER.finditer(value):
            yield float(m.group().replace(",", ".").replace("\u2212", "-"))


def stated_numbers(text: str) -> list[float]:
    """The numbers *text* states (note names like ``F#4`` excluded)."""
    out = []
    for m in _NUMBER.finditer(str(text or "")):
        raw = m.group().replace("\u2212", "-").lstrip("+")
        raw = raw.replace(",", ".") if re.fullmatch(r"-?\d+,\d{1,2}", raw) else raw.replace(",", "")
        try:
            out.append(float(raw))
        except ValueError:
            continue
    return out


def no_invented_numbers(text: str, facts: Mapping[str, Any]) -> float:
    """1.0 when every number in *text* appears in *facts*, else 0.0.

    A stated number matches a fact value, its magnitude (a trend of ``-4.2`` may be said as
    "dropped 4.2") or its rounding to a whole number (``96.4`` said as ``96``).
    """
    allowed: set[float] = set()
    for v in _numbers_in(dict(facts)):
        for candidate in (v, abs(v)):
            allowed.add(round(candidate, 1))
            allowed.add(float(round(candidate)))
    for n in stated_numbers(text):
        if round(n, 1) not in allowed and round(abs(n), 1) not in allowed:
            return 0.0
    return 1.0


def word_count(text: str) -> int:
    return len(str(text or "").split())


def score_answer(text: str, facts: Mapping[str, Any], latency_ms: float | None = None) -> dict[str, float | None]:
    """Every rule-based score of one answer (``judge`` is added by the runner)."""
    return {
        "one_sentence": one_sentence(text),
        "addresses_weakest": addresses_weakest(text, facts),
        "actionable": actionable(text),
        "no_invented_numbers": no_invented_numbers(text, facts),
        "words": float(word_count(text)),
        "latency_ms": None if latency_ms is None else round(float(latency_ms), 1),
    }


# --------------------------------------------------------------------------- dataset


def _uuid7() -> str:
    """A UUID v7 (time ordered), the id format Opik expects for dataset items."""
    ms = int(time.time() * 1000) & ((1 << 48) - 1)
    rand = secrets.randbits(74)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def window_to_json(window: CoachWindow) -> dict[str, Any]:
    data = asdict(window)
    data["missed_notes"] = list(window.missed_notes)
    return data


def window_from_json(data: Mapping[str, Any]) -> CoachWindow:
    values = dict(data)
    values["missed_notes"] = tuple(values.get("missed_notes") or ())
    known = set(CoachWindow.__dataclass_fields__)
    return CoachWindow(**{k: v for k, v in values.items() if k in known})


@dataclass
class EvalItem:
    """One dataset line: the window, its facts (the coach's exact input) and where it came from."""

    window: CoachWindow
    source: str  # "session:<id>" or "synthetic:<case>"
    id: str = field(default_factory=_uuid7)

    @property
    def facts(self) -> dict[str, Any]:
        return self.window.facts()

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "facts": self.facts, "window": window_to_json(self.window)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EvalItem:
        window = window_from_json(data["window"])
        return cls(window=window, source=str(data.get("source") or "?"), id=str(data.get("id") or _uuid7()))


def save_dataset(items: Sequence[EvalItem], path: Path) -> Path:
    """Write *items* as JSON Lines (one item per line), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(item.to_json(), sort_keys=True, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def load_dataset(path: Path) -> list[EvalItem]:
    """Read a JSON Lines dataset written by :func:`save_dataset` (ValueError when malformed)."""
    items = []
    with Path(path).open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                items.append(EvalItem.from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a dataset line ({exc})") from None
    return items


#: Synthetic cases: (weakest metric, trend of the weakest, detail). The first four cover the
#: four metrics, so even a small ``--synthetic N`` (N >= 4) has each metric weakest once.
_CASES: tuple[tuple[str, str, str], ...] = tuple(
    (metric, trend, detail)
    for detail, trend in (("plain", "down"), ("bias", "up"), ("missed", "down"), ("plain", "up"))
    for metric in METRIC_NAMES
)
_SCALES = (("A", "minor_pentatonic"), ("E", "minor"), ("G", "major"), ("D", "dorian"), ("C", "major"))
_NOTE_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def synthetic_windows(n: int, seed: int = 7) -> list[EvalItem]:
    """*n* generated windows cycling through every weakest-metric case.

    Each of the four metrics is the weakest in turn, its trend versus the previous window is
    up or down, and some windows carry a timing/pitch bias or most-missed notes.
    """
    if n < 1:
        raise ValueError("the number of synthetic windows must be at least 1")
    rng = random.Random(seed)
    items = []
    for i in range(n):
        weakest, trend, detail = _CASES[i % len(_CASES)]
        key, scale = _SCALES[rng.randrange(len(_SCALES))]
        bpm = float(rng.choice((60, 72, 80, 90, 96, 100, 110, 120)))
        low = round(rng.uniform(35.0, 70.0), 1)
        metrics = {m: round(rng.uniform(low + 8.0, 99.0), 1) for m in METRIC_NAMES}
        metrics[weakest] = low
        delta = round(rng.uniform(3.0, 15.0), 1)
        previous = dict(metrics)
        previous[weakest] = round(low - delta if trend == "up" else min(100.0, low + delta), 1)
        for m in METRIC_NAMES:
            if m != weakest:
                previous[m] = round(min(100.0, max(0.0, metrics[m] + rng.uniform(-4.0, 4.0))), 1)
        missed: tuple[str, ...] = ()
        timing_bias = round(rng.uniform(-8.0, 8.0), 1)
        pitch_bias = round(rng.uniform(-6.0, 6.0), 1)
        if detail == "missed" or weakest == "scale_conformity":
            missed = tuple(rng.sample(_NOTE_CLASSES, 2))
        if detail == "bias":
            sign = rng.choice((-1.0, 1.0))
            if weakest == "timing_stability":
                timing_bias = round(sign * rng.uniform(25.0, 60.0), 1)
            elif weakest == "pitch_accuracy":
                pitch_bias = round(sign * rng.uniform(14.0, 30.0), 1)
        notes = rng.randrange(30, 90)
        noise = rng.randrange(6, 15) if weakest == "noise_control" else rng.randrange(0, 3)
        window = CoachWindow(
            session_id=f"synthetic-{i + 1}",
            t_s=30.0 * (1 + i % 6),
            metrics=metrics,
            previous=previous,
            missed_notes=missed,
            timing_bias_ms=timing_bias,
            pitch_bias_cents=pitch_bias,
            notes=notes,
            noise_events=noise,
            key=key,
            scale=scale,
            bpm=bpm,
        )
        items.append(EvalItem(window=window, source=f"synthetic:{weakest}:{trend}:{detail}"))
    return items


def windows_from_sessions(store: Any, user_id: int, *, limit: int | None = None) -> list[EvalItem]:
    """The windows (with notes) of the profile's stored sessions, as the live coach saw them.

    Each window is rebuilt with :meth:`CoachWindow.from_notes` from the session's stored notes
    (and its noise-event count), with the previous window's metrics for the trend.
    """
    from fretcoach_desktop.audio.theory import note_name
    from fretcoach_desktop.audio.types import NoiseEvent, Note

    items = []
    for summary in store.history(user_id, limit, include_in_progress=False):
        detail = store.session_detail(user_id, summary.session_id)
        notes = [
            Note(
                onset_s=n.onset_s,
                emitted_s=n.onset_s,
                midi=n.midi,
                note=note_name(n.midi),
                cents=n.cents,
                in_scale=n.in_scale,
                grid_s=n.onset_s - n.timing_offset_ms / 1000.0,
                timing_offset_ms=n.timing_offset_ms,
            )
            for n in detail.notes
        ]
        previous = None
        for w in detail.windows:
            noise = [NoiseEvent(w.start_s, w.start_s)] * max(0, int(w.noise_events))
            # The last stored window is closed at its end: include notes exactly at end_s.
            end = w.end_s + (1e-6 if w is detail.windows[-1] else 0.0)
            window = CoachWindow.from_notes(
                str(summary.session_id),
                notes,
                noise,
                w.start_s,
                end,
                previous=previous,
                key=summary.key,
                scale=summary.scale,
                bpm=summary.bpm,
                t_s=w.end_s,
            )
            if window.weakest_metric is None:
                continue
            previous = window.facts()["metrics"]
            items.append(EvalItem(window=window, source=f"session:{summary.session_id}:window:{w.idx}"))
    return items


# --------------------------------------------------------------------------- running


@dataclass
class EvalResult:
    """One answer of the coach to one dataset item, with its scores."""

    item_id: str
    prompt_version: str  # the requested version id, e.g. live_coach.v2
    answered_by: str  # the prompt id recorded on the message (``offline.rules.v1`` offline)
    model: str
    mode: str
    text: str
    weakest_metric: str | None
    scores: dict[str, float | None]
    error: str | None = None
    trace_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_JUDGE_SYSTEM = (
    "You grade one spoken tip of a guitar practice coach. The coach saw the JSON metrics "
    "below (0-100, higher is better) and must say at most one short sentence that addresses "
    "the weakest metric with a concrete instruction and states no number that is not in the "
    'input. Reply with JSON only: {"score": N, "reason": "..."} where N is 1 (useless or wrong) '
    "to 5 (short, right and useful)."
)


def judge_answer(llm: Any, text: str, facts: Mapping[str, Any], primary_model: str) -> tuple[float | None, str]:
    """LLM-as-judge: a 0-1 score (from a 1-5 grade) and the judge's reason; None if unparsable."""
    from langchain_core.messages import HumanMessage, SystemMessage

    from fretcoach_desktop.coach.llm import invoke_recorded

    messages = [
        SystemMessage(_JUDGE_SYSTEM),
        HumanMessage(f"Metrics: {json.dumps(dict(facts), sort_keys=True)}\nTip: {text}"),
    ]
    answer = invoke_recorded(llm, messages, primary_model=primary_model, run_name="live-coach-judge")
    raw = answer.text
    grade: float | None = None
    reason = ""
    match = re.search(r"\{.*\}", raw, re.S)
    if match:
        try:
            data = json.loads(match.group())
            grade = float(data.get("score"))
            reason = str(data.get("reason") or "")
        except (ValueError, TypeError, AttributeError):
            grade = None
    if grade is None:
        m = re.fullmatch(r"\s*([1-5])(?:\s*/\s*5)?\s*\.?\s*", raw)
        grade = float(m.group(1)) if m else None
    if grade is None or not 1.0 <= grade <= 5.0:
        return None, reason or raw[:200]
    return round((grade - 1.0) / 4.0, 3), reason


def run_evaluation(
    items: Sequence[EvalItem],
    versions: Sequence[str],
    config: Config,
    *,
    judge: bool = False,
    timeout_s: float = 60.0,
    offline_seed: int = 1,
) -> dict[str, list[EvalResult]]:
    """Run the live coach over *items* once per prompt version; every answer scored.

    The coach is the app's own (text only, no speech, nothing stored, no tracing of its own).
    Returns ``{prompt id: [EvalResult, ...]}`` in dataset order.
    """
    from fretcoach_desktop.coach.live import LiveCoach
    from fretcoach_desktop.coach.llm import describe_error, make_chat_model
    from fretcoach_desktop.coach.prompts import load_prompt

    judge_llm = make_chat_model(config, purpose="chat") if judge else None
    results: dict[str, list[EvalResult]] = {}
    for version in versions:
        prompt = load_prompt("live_coach", version)
        got: list[Any] = []
        coach = LiveCoach(
            config,
            speak=False,
            drop_stale=False,
            prompt_version=prompt.version,
            on_text=got.append,
            offline_seed=offline_seed,
        )
        rows: list[EvalResult] = []
        try:
            coach.start()
            for item in items:
                before = len(got)
                start = time.perf_counter()
                coach.submit(item.window)
                coach.wait_idle(timeout_s)
                latency = (time.perf_counter() - start) * 1000.0
                facts = item.facts
                if len(got) == before:
                    rows.append(
                        EvalResult(
                            item.id,
                            prompt.id,
                            prompt.id,
                            "?",
                            "none",
                            "",
                            item.window.weakest_metric,
                            score_answer("", facts, latency),
                            error="no answer in time",
                        )  # fmt: skip
                    )
                    continue
                message = got[-1]
                scores = score_answer(message.text, facts, latency)
                if judge:
                    scores["judge"] = None
                    if judge_llm is not None:
                        try:
                            scores["judge"], _ = judge_answer(judge_llm, message.text, facts, config.model)
                        except Exception as exc:  # a failed judge leaves the answer scored
                            log.warning("the judge failed: %s", describe_error(exc))
                rows.append(
                    EvalResult(
                        item_id=item.id,
                        prompt_version=prompt.id,
                        answered_by=message.prompt_version,
                        model=message.model,
                        mode=message.mode,
                        text=message.text,
                        weakest_metric=message.weakest_metric,
                        scores=scores,
                        error=message.error,
                    )
                )
        finally:
            coach.stop()
        results[prompt.id] = rows
    return results


def summarize(results: Mapping[str, Sequence[EvalResult]]) -> dict[str, dict[str, Any]]:
    """Per prompt version: the mean of every score (None when nothing was scored) and counts."""
    out: dict[str, dict[str, Any]] = {}
    for version, rows in results.items():
        summary: dict[str, Any] = {}
        for name in SCORE_NAMES:
            values = [r.scores[name] for r in rows if r.scores.get(name) is not None]
            summary[name] = round(statistics.fmean(values), 3) if values else None
        summary["items"] = len(rows)
        summary["online"] = sum(1 for r in rows if r.mode == "online")
        summary["errors"] = sum(1 for r in rows if r.error)
        summary["models"] = sorted({r.model for r in rows})
        out[version] = summary
    return out


def format_table(summary: Mapping[str, Mapping[str, Any]]) -> str:
    """The side-by-side table of prompt versions (means of each score)."""
    versions = list(summary)
    names = [n for n in SCORE_NAMES if n != "judge" or any(summary[v].get("judge") is not None for v in versions)]
    width = max(14, *(len(v) + 2 for v in versions))
    lines = [f"{'metric':<22}" + "".join(f"{v:>{width}}" for v in versions)]
    for name in names:
        cells = []
        for v in versions:
            value = summary[v].get(name)
            if value is None:
                cells.append(f"{'-':>{width}}")
            elif name in ("words", "latency_ms"):
                cells.append(f"{value:>{width}.1f}")
            else:
                cells.append(f"{value:>{width}.2f}")
        lines.append(f"{name:<22}" + "".join(cells))
    lines.append(f"{'items':<22}" + "".join(f"{summary[v]['items']:>{width}}" for v in versions))
    lines.append(f"{'answered online':<22}" + "".join(f"{summary[v]['online']:>{width}}" for v in versions))
    return "\n".join(lines)


# --------------------------------------------------------------------------- Opik


def _opik_client(tracer: Tracer) -> Any:
    """The Opik client of an enabled tracer (None when tracing is off or Opik is broken)."""
    if not getattr(tracer, "enabled", False):
        return None
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ["OPIK_ANALYTICS_ENABLE"] = "false"
    os.environ["OPIK_SENTRY_ENABLE"] = "false"
    getter = getattr(tracer, "_opik", None)  # OpikTracing's lazily built, configured client
    return getter() if getter is not None else None


def upload_dataset(tracer: Tracer, items: Sequence[EvalItem], name: str = DATASET_NAME) -> Any:
    """Insert *items* into the Opik dataset *name* (created on first use); the dataset or None.

    Items keep their ids, so uploading the same file again updates instead of duplicating.
    """
    client = _opik_client(tracer)
    if client is None:
        return None
    dataset = client.get_or_create_dataset(
        name, description="FretCoach live-coach windows: the exact input the coach gets"
    )
    dataset.insert(
        [
            {
                "id": item.id,
                "input": item.facts,
                "window": window_to_json(item.window),
                "weakest_metric": item.window.weakest_metric,
                "source": item.source,
            }
            for item in items
        ]
    )
    return dataset


def register_prompts(tracer: Tracer, versions: Sequence[str], timeout: float = 10.0) -> dict[str, Any]:
    """Register every prompt version (``live_coach.v1``...) with Opik, or find it already
    registered, and wait for it: ``{prompt id: Opik prompt}`` for those that made it."""
    from fretcoach_desktop.coach.prompts import load_prompt

    found = {}
    for version_id in versions:
        name, _, version = version_id.partition(".")
        prompt = load_prompt(name, version)
        opik_prompt = tracer.ensure_prompt(prompt.name, prompt.version, prompt.text, timeout=timeout)
        if opik_prompt is not None:
            found[version_id] = opik_prompt
    return found


def log_experiments(
    tracer: Tracer,
    items: Sequence[EvalItem],
    results: Mapping[str, Sequence[EvalResult]],
    *,
    dataset_name: str = DATASET_NAME,
    config: Mapping[str, Any] | None = None,
    prompts: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """One Opik experiment per prompt version: a trace per answer with its scores as feedback
    scores, linked to its dataset item, and the experiment linked to its Opik prompt
    (*prompts*: prompt id -> the Opik prompt, registered beforehand by
    :func:`register_prompts`). Returns ``{prompt id: experiment id}`` (empty when off).
    """
    client = _opik_client(tracer)
    if client is None:
        return {}
    from opik.api_objects.experiment.experiment_item import ExperimentItemReferences

    by_id = {item.id: item for item in items}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    experiments: dict[str, str] = {}
    for version, rows in results.items():
        prompt = (prompts or {}).get(version)
        experiment = client.create_experiment(
            dataset_name=dataset_name,
            name=f"{version}-{stamp}",
            experiment_config={"prompt_version": version, **dict(config or {})},
            prompts=[prompt] if prompt is not None else None,
        )
        references = []
        for row in rows:
            item = by_id.get(row.item_id)
            now = datetime.now(UTC)
            latency = row.scores.get("latency_ms") or 0.0
            trace = client.trace(
                name="live-coach-eval",
                start_time=now - timedelta(milliseconds=latency),
                end_time=now,
                input=item.facts if item is not None else {},
                output={"text": row.text},
                tags=["live-coach", "evaluation"],
                metadata={"prompt_version": version, "model": row.model, "mode": row.mode},
                project_name=tracer.project_name,
            )
            for name, value in row.scores.items():
                if value is not None:
                    trace.log_feedback_score(name, float(value))
            row.trace_id = trace.id
            references.append(ExperimentItemReferences(dataset_item_id=row.item_id, trace_id=trace.id))
        if references:
            experiment.insert(references)
        experiments[version] = experiment.id
    return experiments


# --------------------------------------------------------------------------- feedback


def feedback_report(store: Any, user_id: int) -> dict[str, Any]:
    """Thumbs up/down on the profile's coach tips, joined to the prompt version of each tip.

    Returns ``{"tips": [...rated tips...], "versions": {prompt_version: {up, down, rated,
    tips, approval_rate}}}``; approval rate = up / rated (None when nothing is rated).
    """
    tips: list[dict[str, Any]] = []
    versions: dict[str, dict[str, Any]] = {}
    for summary in store.history(user_id, None, include_in_progress=True):
        detail = store.session_detail(user_id, summary.session_id)
        for message in detail.coach_messages:
            version = message.prompt_version or "unknown"
            counts = versions.setdefault(version, {"tips": 0, "rated": 0, "up": 0, "down": 0})
            counts["tips"] += 1
            if message.feedback not in (1, -1):
                continue
            counts["rated"] += 1
            counts["up" if message.feedback == 1 else "down"] += 1
            tips.append(
                {
                    "message_id": message.id,
                    "session_id": message.session_id,
                    "t_s": round(message.t_s, 3),
                    "text": message.text,
                    "prompt_version": version,
                    "model": message.model,
                    "mode": message.mode,
                    "feedback": "up" if message.feedback == 1 else "down",
                    "created_at": message.created_at.isoformat(),
                }
            )
    for counts in versions.values():
        counts["approval_rate"] = round(counts["up"] / counts["rated"], 3) if counts["rated"] else None
    return {"tips": tips, "versions": dict(sorted(versions.items()))}
