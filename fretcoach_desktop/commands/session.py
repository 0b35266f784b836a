"""``fretcoach session`` and ``fretcoach plan``: the live coach and AI Mode from the command line.

``session TAKE`` replays a recording through the live pipeline as if it were being played
(``--speed X`` times real time): the same analysis thread as the window, the coach every
30 s of audio (one sentence, spoken to a WAV next to the session data, played unless
``--no-audio``), a spoken summary at the end, and the session stored with its windows,
notes and coach messages. It waits for every window's tip before it ends.

``plan`` makes the AI Mode practice plan from the profile's last 5 sessions, stores it and
prints it (``--json``: the plan with its ``practice_id`` and ``user_id``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

__all__ = ["add_parsers", "run_plan", "run_session"]

EXIT_OK, EXIT_FAILURE = 0, 1


def add_parsers(subparsers: Any) -> None:
    from fretcoach_desktop.commands.options import add_exercise_args

    s = subparsers.add_parser(
        "session",
        help="replay a take through the live pipeline with the coach every 30 s, and store it",
        description=__doc__.split("\n\n")[1],
    )
    s.add_argument("take", metavar="TAKE", help="audio file (WAV, FLAC, OGG)")
    add_exercise_args(s, count_in=False)
    s.add_argument("--speed", type=float, default=1.0, help="replay speed, times real time (default 1)")
    s.add_argument("--no-audio", action="store_true", help="do not play the tips (speech files are still written)")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(handler=run_session)

    p = subparsers.add_parser(
        "plan",
        help="make a practice plan from your recent sessions (AI Mode)",
        description=__doc__.split("\n\n")[2],
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run_plan)


def _setup(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    from fretcoach_desktop.cli import CliError, warn_missing_extras
    from fretcoach_desktop.config import ConfigError, load_config
    from fretcoach_desktop.store import Store
    from fretcoach_desktop.store.errors import StoreError

    overrides = {"user": getattr(args, "user", None)}
    if getattr(args, "a4", None) is not None:
        overrides["a4_hz"] = args.a4
    try:
        config = load_config(overrides)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    warn_missing_extras(config)
    try:
        store = Store.open(config)
        user = store.ensure_user(config.user)
    except (StoreError, ValueError) as exc:
        raise CliError(str(exc), status=EXIT_FAILURE) from None
    return config, store, user


def run_session(args: argparse.Namespace) -> int:
    from fretcoach_desktop.audio.demo import FileSource
    from fretcoach_desktop.audio.live import AnalysisThread, WindowClosed
    from fretcoach_desktop.audio.metronome import Grid
    from fretcoach_desktop.audio.sources import AudioFileError, read_audio
    from fretcoach_desktop.audio.theory import TheoryError, scale_pitch_classes
    from fretcoach_desktop.cli import CliError
    from fretcoach_desktop.coach.live import LiveCoach, summary_request
    from fretcoach_desktop.coach.prompts import PromptError
    from fretcoach_desktop.coach.types import CoachWindow
    from fretcoach_desktop.services import coach_message_fields
    from fretcoach_desktop.store.records import windows_for
    from fretcoach_desktop.tracing import make_tracer
    from fretcoach_desktop.tracing.tracer import EXIT_FLUSH_BUDGET_S

    try:
        Grid(args.bpm, args.subdivision)
        scale_pitch_classes(args.key, args.scale)
    except (ValueError, TheoryError) as exc:
        raise CliError(str(exc)) from None
    if not 0.1 <= args.speed <= 100:
        raise CliError(f"--speed must be from 0.1 to 100, got {args.speed}")
    try:
        samples, sr = read_audio(args.take)
    except AudioFileError as exc:
        raise CliError(str(exc)) from None
    config, store, user = _setup(args)
    tracer = make_tracer(config)
    # Opik imports in ~3 s: in the background while the take plays; a tip due before it is
    # ready (a short take replayed fast) goes untraced rather than wait
    tracer.warm_up(max_wait_s=0.3)
    session_id = store.start_session(
        user.id, key=args.key, scale=args.scale, bpm=args.bpm, subdivision=args.subdivision, source="file",
        audio_device=f"file: {args.take}",
    )  # fmt: skip
    # From here until the session is finished, a failure (a missing prompt, a broken engine)
    # must not leave a half-made session behind as "in progress" and later "recovered".
    coach = thread = None
    try:
        player = None
        if not args.no_audio:
            try:
                from fretcoach_desktop.audio.player import AudioPlayer

                player = AudioPlayer.instance()
            except Exception:
                player = None
        messages: list[Any] = []
        coach = LiveCoach(
            config,
            tracer=tracer,
            player=player,
            audio_dir=config.data_dir / "clips" / str(session_id),
            on_message=messages.append,
            drop_stale=False,
        ).start()
        source = FileSource(samples, sr, speed=args.speed, lossless=True)
        thread = AnalysisThread(
            source, bpm=args.bpm, key=args.key, scale=args.scale, subdivision=args.subdivision, a4=config.a4_hz
        )
        events = thread.subscribe()
        thread.start()
        previous = None
        windows: list[WindowClosed] = []
        err = sys.stderr
        try:
            while True:
                event = events.get()
                name = type(event).__name__
                if name == "WindowClosed":
                    windows.append(event)
                    if event.complete:
                        window = CoachWindow.from_notes(
                            str(session_id), event.notes, event.noise_events, event.start_s, event.end_s,
                            previous=previous, key=args.key, scale=args.scale, bpm=args.bpm,
                        )  # fmt: skip
                        previous = window.facts()["metrics"]
                        coach.submit(window)
                        if not args.json:
                            print(f"[{event.end_s:6.1f}s] window {event.index + 1} closed", file=err)
                elif name == "Checkpoint":
                    snap = event.snapshot
                    store.checkpoint(
                        session_id,
                        windows=windows_for(snap.notes, snap.noise_events, snap.time_s),
                        notes=snap.notes,
                        duration_s=snap.time_s,
                    )
                elif name == "StreamEnded":
                    break
        except KeyboardInterrupt:
            thread.stop()
        result = thread.result()
        summary = store.finish_session(
            session_id,
            windows=windows_for(result.notes, result.noise_events, result.duration_s),
            notes=result.notes,
            duration_s=result.duration_s,
            metrics=result.metrics,
        )
    except BaseException as exc:
        for running in (thread, coach):
            if running is not None:
                running.stop()
        _discard(store, user.id, session_id)
        if isinstance(exc, PromptError):  # an incomplete installation: say so in one line
            raise CliError(f"{exc} (reinstall FretCoach)", status=EXIT_FAILURE) from None
        raise
    coach.summarize(
        summary_request(
            str(session_id),
            result.duration_s,
            result.metrics.to_json(),
            [w.metrics.to_json() for w in windows],
            key=args.key,
            scale=args.scale,
            bpm=args.bpm,
        )  # fmt: skip
    )
    deadline = time.monotonic() + 120
    coach.wait_idle(timeout=max(1.0, deadline - time.monotonic()))
    coach.stop()
    for msg in messages:
        store.add_coach_message(session_id, **coach_message_fields(msg))
    tracer.flush(EXIT_FLUSH_BUDGET_S)  # Opik down or hung: this is all the time it gets
    payload = {
        "session_id": session_id,
        "user_id": user.id,
        "metrics": result.metrics.to_json(),
        "notes_played": len(result.notes),
        "duration_s": round(result.duration_s, 3),
        "status": summary.status,
        "windows": [{"start_s": w.start_s, "end_s": w.end_s, "metrics": w.metrics.to_json()} for w in windows],
        "coach_messages": [m.to_json() for m in messages],
    }
    if args.json:
        print(json.dumps(payload))
    else:
        print(f"Session {session_id} ({user.name}): {len(result.notes)} notes in {result.duration_s:.1f} s")
        for name, value in payload["metrics"].items():
            print(f"  {name.replace('_', ' '):<18} {'—' if value is None else value}")
        for m in messages:
            spoken = f"  [{m.audio_path}]" if m.audio_path else ""
            print(f"[{m.t_s:6.1f}s] coach ({m.mode}, {m.model}): {m.text}{spoken}")
    store.close()
    return EXIT_OK


def _discard(store: Any, user_id: int, session_id: int) -> None:
    """Delete a session that failed before it was finished, and close the store."""
    try:
        store.delete_session(user_id, session_id)
    except Exception as exc:  # noqa: BLE001 - the original error is the one to report
        print(f"fretcoach: warning: could not remove the unfinished session {session_id}: {exc}", file=sys.stderr)
    finally:
        store.close()


def run_plan(args: argparse.Namespace) -> int:
    from fretcoach_desktop.cli import CliError
    from fretcoach_desktop.coach.prompts import PromptError
    from fretcoach_desktop.services import make_and_save_plan
    from fretcoach_desktop.tracing import make_tracer
    from fretcoach_desktop.tracing.tracer import EXIT_FLUSH_BUDGET_S

    config, store, user = _setup(args)
    tracer = make_tracer(config)
    tracer.warm_up()  # Opik's import overlaps reading the sessions
    try:
        result, practice_id = make_and_save_plan(store, user.id, config, tracer)
    except PromptError as exc:  # an incomplete installation: say so in one line
        store.close()
        raise CliError(f"{exc} (reinstall FretCoach)", status=EXIT_FAILURE) from None
    tracer.flush(EXIT_FLUSH_BUDGET_S)
    store.close()
    payload = {**result.to_json(), "practice_id": practice_id, "user_id": user.id}
    if args.json:
        print(json.dumps(payload, default=str))
        return EXIT_OK
    plan = result.plan
    print(f"Practice plan {practice_id} for {user.name} ({result.mode}, {result.model})")
    print(f"Focus: {plan.focus_metric.replace('_', ' ')} - {plan.why}")
    for i, e in enumerate(plan.exercises, 1):
        scale = e.scale.replace("_", " ")
        print(f"{i}. {e.title}: {e.key} {scale}, {e.bpm} bpm, 1/{4 * e.subdivision}, {e.minutes} min")
        print(f"   goal: {e.goal}")
    return EXIT_OK
