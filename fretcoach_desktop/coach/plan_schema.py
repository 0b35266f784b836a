"""The AI Mode plan schema (pydantic), compatible with OpenAI strict structured output.

Strict json_schema mode wants every property required, ``additionalProperties: false`` and
no free-form objects: so there are no optional fields, no dicts and no numeric constraints in
the schema; values are clamped to sane ranges after parsing instead (validators do not show
in the JSON schema).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["PLAN_SCALES", "Exercise", "PracticePlan", "TargetMetrics"]

MetricName = Literal["pitch_accuracy", "scale_conformity", "timing_stability", "noise_control"]
KeyName = Literal["C", "C#", "Db", "D", "D#", "Eb", "E", "F", "F#", "Gb", "G", "G#", "Ab", "A", "A#", "Bb", "B"]
ScaleName = Literal["major", "minor", "major_pentatonic", "minor_pentatonic", "blues", "dorian", "mixolydian"]
PLAN_SCALES: tuple[str, ...] = ScaleName.__args__  # type: ignore[attr-defined]

MIN_BPM, MAX_BPM = 40, 240
MIN_MINUTES, MAX_MINUTES = 1, 30


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Exercise(_Strict):
    """One exercise; startable as the next session's set-up (key, scale, bpm, subdivision)."""

    title: str = Field(description="Short name of the exercise")
    key: KeyName = Field(description="Tonic of the key")
    scale: ScaleName = Field(description="Scale to play")
    bpm: int = Field(description="Metronome tempo in beats per minute, 40-240")
    subdivision: Literal[1, 2] = Field(description="1 = quarter notes, 2 = eighth notes")
    minutes: int = Field(description="Duration in minutes, 1-30")
    goal: str = Field(description="A concrete, checkable goal for this exercise")

    @field_validator("bpm")
    @classmethod
    def _clamp_bpm(cls, value: int) -> int:
        return max(MIN_BPM, min(MAX_BPM, int(value)))

    @field_validator("minutes")
    @classmethod
    def _clamp_minutes(cls, value: int) -> int:
        return max(MIN_MINUTES, min(MAX_MINUTES, int(value)))


class TargetMetrics(_Strict):
    """Target values (0-100) of the four metrics for the next session."""

    pitch_accuracy: float
    scale_conformity: float
    timing_stability: float
    noise_control: float

    @field_validator("*")
    @classmethod
    def _clamp(cls, value: float) -> float:
        return round(max(0.0, min(100.0, float(value))), 1)


class PracticePlan(_Strict):
    """A practice plan: the focus metric, why, 2-4 exercises and target metric values."""

    focus_metric: MetricName = Field(description="The metric this plan works on (the weakest one)")
    why: str = Field(description="One or two sentences: why this focus, from the recent sessions")
    exercises: list[Exercise] = Field(description="2 to 4 exercises, in the order to play them")
    targets: TargetMetrics = Field(description="Target metric values for the next session")

    @field_validator("exercises")
    @classmethod
    def _at_most_four(cls, value: list[Exercise]) -> list[Exercise]:
        return value[:4]

    @property
    def total_minutes(self) -> int:
        return sum(e.minutes for e in self.exercises)
