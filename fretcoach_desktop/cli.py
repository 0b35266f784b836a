"""The ``fretcoach`` command line: ``analyze`` a take, list ``devices``, show the ``history``
of a profile's sessions and ``export`` it, and (later) more.

Errors a user can cause (a bad key, a missing file, a silent take...) end in one line,
``fretcoach: error: ...``, on stderr and exit status 2; never in a traceback. Exit status 1
means the command ran but could not do its job (e.g. no audio input device, a locked or
damaged database). The global ``--user NAME`` (or ``FRETCOACH_USER``) selects the player
profile, created on first use; each profile sees only its own sessions. Everything
here is Qt-free: the CLI must work on a machine without a display.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TextIO

from fretcoach_desktop import __version__

__all__ = ["CliError", "build_parser", "main"]

PROG = "fretcoach"
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
A4_MIN, A4_MAX = 400.0, 480.0
BLOCK_SIZE_MAX = 1 << 20
HISTORY_DEFAULT_LIMIT = 20
#: A live session whose last checkpoint is older than this is considered crashed and is
#: recovered when a command opens the database (3 checkpoint intervals: a session being
#: recorded right now by the app is never touched).
RECOVER_STALE_S = 15.0


class CliError(Exception):
    """A user-facing error: printed as one line, exits with :attr:`status`."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(" ".join(str(message).split()))
        self.status = status


# --------------------------------------------------------------------------- parser


def _profile_name(value: str) -> str:
    from fretcoach_desktop.profile_name import check_profile_name

    try:
        return check_profile_name(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line (no usage dump), still exit status 2.

    Every command and sub-command takes ``--user NAME`` (before or after the command
    name: ``fretcoach --user bob analyze ...`` and ``fretcoach analyze ... --user bob``);
    given after the command, it wins.
    """

    def __init__(self, *args: Any, root: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument(
            "--user",
            metavar="NAME",
            type=_profile_name,
            default=None if root else argparse.SUPPRESS,  # a command's own --user only when given
            help="player profile to use (default: $FRETCOACH_USER or 'default')",
        )

    def error(self, message: str) -> NoReturn:
        text = " ".join(message.split())
        self.exit(EXIT_USAGE, f"{PROG}: error: {text} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fretcoach`` command (exposed for help and tests)."""
    parser = _Parser(
        root=True,
        prog=PROG,
        description="FretCoach Desktop: a practice companion for guitarists.",
        epilog="Run 'fretcoach COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    from fretcoach_desktop.commands.options import add_exercise_args

    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, action=_Commands)

    analyze = commands.add_parser(
        "analyze",
        help="analyze a recorded take against a key, scale and metronome",
        description=(
            "Judge every note of a recorded take (WAV, FLAC or OGG): pitch in cents, key and "
            "scale, timing against a metronome grid that starts at 0 s, and string noise. "
            "Notes played during the count-in are reported like any other."
        ),
    )
    analyze.add_argument("take", metavar="TAKE", help="audio file of the take")
    add_exercise_args(analyze)
    analyze.add_argument("--json", action="store_true", help="print one JSON object")
    analyze.add_argument(
        "--block-size",
        type=int,
        default=16384,
        metavar="N",
        help="samples per block fed to the streaming engine (default 16384; the notes do not depend on it)",
    )
    analyze.add_argument(
        "--save",
        action="store_true",
        help="also store the take as a session of the profile (source 'file') and print its id",
    )
    analyze.set_defaults(handler=_cmd_analyze)

    history = commands.add_parser(
        "history",
        help="show your past sessions and their metrics",
        description="List the profile's sessions, newest first, with their four metrics.",
    )
    history.add_argument("--json", action="store_true", help="print a JSON list of objects")
    history.add_argument(
        "--limit",
        type=int,
        default=HISTORY_DEFAULT_LIMIT,
        metavar="N",
        help=f"show the N most recent sessions (default {HISTORY_DEFAULT_LIMIT})",
    )
    history.set_defaults(handler=_cmd_history)

    export = commands.add_parser(
        "export",
        help="export your sessions to a CSV or JSON file",
        description="Write every session of the profile, newest first, to PATH ('-' for standard output).",
    )
    export.add_argument("path", metavar="PATH", help="file to write ('-' = standard output)")
    export.add_argument(
        "--format",
        choices=("csv", "json"),
        default=None,
        help="file format (default: from PATH's extension)",
    )
    export.set_defaults(handler=_cmd_export)

    devices = commands.add_parser("devices", help="list the audio input devices")
    devices.set_defaults(handler=_cmd_devices)

    for name, help_text, install in _MODULE_COMMANDS:
        commands.add_lazy(name, help_text, install)
    return parser


class _Commands(argparse._SubParsersAction):  # noqa: SLF001 (argparse has no public hook for this)
    """Sub-commands whose parsers live in their own module and are built only when chosen.

    Building every command's parser meant importing every command module (and, through
    them, the audio engine: numpy, scipy), a second of start-up for ``fretcoach --help``
    or ``fretcoach analyze``. A lazy command starts as a stub parser carrying only its
    one-line help (all the top-level help shows); when the command line names it, its
    module's ``add_parser`` replaces the stub in place, before its arguments are parsed.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: dict[str, Callable[[_Commands], None]] = {}

    def add_lazy(self, name: str, help_text: str, install: Callable[[_Commands], None]) -> None:
        """A stub for command *name*; ``install(self)`` adds its real parser (with this help)."""
        self.add_parser(name, help=help_text)
        self._pending[name] = install

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if self._pending.pop(name, None) is None:
            return super().add_parser(name, **kwargs)
        # The real parser of a stub: it takes the stub's place (and its line in the help).
        order = list(self._name_parser_map)
        del self._name_parser_map[name]
        index = next(i for i, a in enumerate(self._choices_actions) if a.dest == name)
        del self._choices_actions[index]
        parser = super().add_parser(name, **kwargs)
        if "help" in kwargs:
            self._choices_actions.insert(index, self._choices_actions.pop())
        parsers = dict(self._name_parser_map)
        self._name_parser_map.clear()  # the same dict as self.choices: keep it, in its order
        self._name_parser_map.update({n: parsers[n] for n in order if n in parsers} | parsers)
        return parser

    def install(self, name: str) -> None:
        """Build the real parser of command *name* if it is still a stub."""
        install = self._pending.get(name)
        if install is not None:
            install(self)

    def install_all(self) -> None:
        """Build every command's real parser (tests compare them with the stubs)."""
        for name in list(self._pending):
            self.install(name)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:  # fmt: skip
        self.install(values[0])
        super().__call__(parser, namespace, values, option_string)


def _install_listen(commands: Any) -> None:
    from fretcoach_desktop.commands import listen

    listen.add_parser(commands).set_defaults(
        handler=lambda a: listen.run(a, save_session=_save_listen, stored_latency=_stored_latency)
    )


def _install_calibrate(commands: Any) -> None:
    from fretcoach_desktop.commands import calibrate

    calibrate.add_parser(commands)


def _install_session(commands: Any) -> None:  # 'session' and 'plan'
    from fretcoach_desktop.commands import session

    session.add_parsers(commands)


def _install_ask(commands: Any) -> None:
    from fretcoach_desktop.commands import ask

    ask.add_parser(commands)


def _install_eval(commands: Any) -> None:
    from fretcoach_desktop.commands import evaluate

    evaluate.add_parser(commands)


def _install_desktop(commands: Any) -> None:
    from fretcoach_desktop.commands import desktop

    desktop.add_parser(commands)


#: The commands that live in fretcoach_desktop.commands, in the order of the help: name, the
#: one-line help (the same text as the module's; a test checks), and what builds the parser.
_MODULE_COMMANDS: tuple[tuple[str, str, Callable[[Any], None]], ...] = (
    ("listen", "analyze live playing from the audio input (or replay a file through the live path)", _install_listen),
    (
        "calibrate",
        "measure the input latency of an audio device (play along with the click) and store it",
        _install_calibrate,
    ),
    ("session", "replay a take through the live pipeline with the coach every 30 s, and store it", _install_session),
    ("plan", "make a practice plan from your recent sessions (AI Mode)", _install_session),
    ("ask", "ask the coach about your practice history", _install_ask),
    ("eval", "evaluate the coach prompts", _install_eval),
    (
        "install-desktop",
        "add FretCoach (launcher, icon, AppStream metainfo) to your desktop's application menu",
        _install_desktop,
    ),
)


def _save_listen(run: Any) -> None:
    """Store a ``listen`` run as a live session of the profile."""
    from fretcoach_desktop.config import load_config
    from fretcoach_desktop.store import Store

    config = load_config({"user": run.user})
    with Store.open(config) as store:
        user = store.ensure_user(config.user)
        sid = store.save_analysis(
            user.id, run.result, key=run.key, scale=run.scale, bpm=run.bpm, subdivision=run.subdivision,
            source="file" if run.device.startswith("file") else "live", audio_device=run.device,
            started_at=run.started_at, latency_ms=run.latency_ms,
        )  # fmt: skip
    print(f"saved as session {sid} of profile '{config.user}'", file=sys.stderr)


def _stored_latency(user: str, device: str) -> float | None:
    """The profile's calibrated latency for *device* (None: never calibrated, or no database)."""
    from fretcoach_desktop.config import load_config
    from fretcoach_desktop.store import Store, StoreError

    try:
        with Store.open(load_config({"user": user})) as store:
            row = store.calibration(store.ensure_user(user).id, device)
    except StoreError as exc:
        print(f"{PROG}: warning: no stored latency ({exc}); using 0 ms", file=sys.stderr)
        return None
    return None if row is None else row.latency_ms


def command_names() -> list[str]:
    """The sub-commands (anything else on ``python -m fretcoach_desktop`` opens the window)."""
    for action in build_parser()._subparsers._group_actions:  # noqa: SLF001 (argparse has no public API)
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


# --------------------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fretcoach`` command with *argv* (default: ``sys.argv[1:]``); return the exit status.

    ``fretcoach`` alone, typed on a desktop (``DISPLAY`` or ``WAYLAND_DISPLAY`` set), opens the
    practice window like ``fretcoach-desktop``; without a display it prints the help.
    """
    if argv is None and not sys.argv[1:] and has_display():
        from fretcoach_desktop.__main__ import open_window

        return open_window([])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_OK
    try:
        return handler(args)
    except CliError as exc:
        _error(str(exc))
        return exc.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into a pager or `head` that has gone: stop quietly.
        _silence_stdout()
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, not a traceback
        if os.environ.get("FRETCOACH_DEBUG"):
            traceback.print_exc()
        detail = " ".join(str(exc).split()) or type(exc).__name__
        _error(f"internal error ({type(exc).__name__}): {detail} (set FRETCOACH_DEBUG=1 for details)")
        return EXIT_FAILURE


def warn_missing_extras(config: Any, err: TextIO | None = None) -> None:
    """One warning line when the settings ask for something an extra provides that is not
    installed (an OpenAI key without ``[ai]``); the command goes on without it."""
    note = getattr(config, "ai_extra_missing", None)
    if note:
        print(f"{PROG}: warning: {note}", file=err or sys.stderr)


def has_display(environ: Any = None) -> bool:
    """Whether a desktop session is there to show a window on (X11 or Wayland)."""
    environ = os.environ if environ is None else environ
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at devnull so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# --------------------------------------------------------------------------- analyze


def _cmd_analyze(args: argparse.Namespace) -> int:
    from fretcoach_desktop.audio.metronome import Grid
    from fretcoach_desktop.audio.sources import AudioFileError, read_audio
    from fretcoach_desktop.audio.theory import TheoryError, normalize_key, normalize_scale
    from fretcoach_desktop.config_sources import DEFAULT_A4_HZ

    # Validate everything the user typed before touching the audio.
    try:
        key = normalize_key(args.key)
        scale = normalize_scale(args.scale)
    except TheoryError as exc:
        raise CliError(str(exc)) from None
    try:
        grid = Grid(args.bpm, args.subdivision)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if not math.isfinite(args.count_in) or args.count_in < 0:
        raise CliError(f"--count-in must be a number of beats >= 0, got {args.count_in:g}")
    if not 1 <= args.block_size <= BLOCK_SIZE_MAX:
        raise CliError(f"--block-size must be from 1 to {BLOCK_SIZE_MAX}, got {args.block_size}")
    if args.a4 is not None and not (math.isfinite(args.a4) and A4_MIN <= args.a4 <= A4_MAX):
        raise CliError(f"--a4 must be from {A4_MIN:g} to {A4_MAX:g} Hz, got {args.a4:g}")

    # Decode the take on a thread while the settings and the engine load: libsndfile and
    # numpy let go of the GIL. The errors come in the order they did when these ran one
    # after the other: the settings, then the file, then the engine.
    reading = _Background(read_audio, args.take)
    engine_error: ImportError | None = None
    try:
        config = _analyze_config(args)
        try:
            from fretcoach_desktop.audio.analyzer import analyze_samples
        except ImportError as exc:
            engine_error = exc
    finally:
        reading.wait()
    try:
        samples, sample_rate = reading.result()
    except AudioFileError as exc:
        raise CliError(str(exc)) from None
    if engine_error is not None:
        raise CliError(f"the analysis engine is not available: {engine_error}", EXIT_FAILURE) from None
    a4 = config.a4_hz if config is not None else args.a4 if args.a4 is not None else DEFAULT_A4_HZ

    try:
        result = analyze_samples(
            samples,
            sample_rate,
            bpm=grid.bpm,
            key=key,
            scale=scale,
            subdivision=grid.subdivision,
            a4=a4,
            block_size=args.block_size,
        )
    except ValueError as exc:  # TheoryError and friends: input the engine rejected
        raise CliError(str(exc)) from None

    if args.json:
        json.dump(result.to_json(), sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
    else:
        header = {
            "take": args.take,
            "key": key,
            "scale": scale,
            "bpm": grid.bpm,
            "subdivision": grid.subdivision,
            "a4": a4,
            "count_in": args.count_in,
        }
        print_report(result, header, sys.stdout)
    sys.stdout.flush()
    if args.save:
        session_id, profile = _save_take(config, result, key=key, scale=scale, grid=grid)
        if args.json:
            # stdout stays exactly one JSON object
            print(f"{PROG}: saved as session {session_id} (profile {profile!r})", file=sys.stderr)
        else:
            print(f"\nSaved as session {session_id} (profile {profile!r})")
            sys.stdout.flush()
    return EXIT_OK


def _analyze_config(args: argparse.Namespace) -> Any | None:
    """The settings ``analyze`` runs with; None when they would all be defaults and nothing
    is saved: then only ``--a4`` matters (range-checked like the setting), and the settings
    model (pydantic, a fifth of a second of start-up) is never built."""
    from fretcoach_desktop.config_sources import only_defaults

    if not args.save and only_defaults({"user": args.user}):
        return None
    from fretcoach_desktop.config import ConfigError, load_config

    try:
        return load_config({"user": args.user, "a4_hz": args.a4})
    except ConfigError as exc:
        raise CliError(str(exc)) from None


class _Background:
    """``function(*args)`` run on a daemon thread; :meth:`result` waits for it and returns
    its value or raises its exception."""

    def __init__(self, function: Callable[..., Any], *args: Any) -> None:
        import threading

        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(function, args), name="fretcoach-read", daemon=True)
        self._thread.start()

    def _run(self, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            self._value = function(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            self._error = exc

    def wait(self) -> None:
        self._thread.join()

    def result(self) -> Any:
        self.wait()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self._value


def _save_take(config: Any, result: Any, *, key: str, scale: str, grid: Any) -> tuple[int, str]:
    from fretcoach_desktop.store import StoreError

    store, user = _open_store(config)
    try:
        session_id = store.save_analysis(
            user.id, result, key=key, scale=scale, bpm=grid.bpm, subdivision=grid.subdivision, source="file"
        )
    except StoreError as exc:
        raise CliError(f"the take was analyzed but not saved: {exc}", EXIT_FAILURE) from None
    finally:
        store.close()
    return session_id, user.name


_METRIC_LABELS = (
    ("pitch_accuracy", "Pitch accuracy"),
    ("scale_conformity", "Scale conformity"),
    ("timing_stability", "Timing stability"),
    ("noise_control", "Noise control"),
)
_GRID_NAMES = {1: "quarter notes", 2: "eighth notes", 3: "triplets", 4: "sixteenth notes"}


def print_report(result: Any, header: dict[str, Any], out: TextIO) -> None:
    """Print an :class:`~fretcoach_desktop.audio.types.AnalysisResult` as a readable table."""
    from fretcoach_desktop.audio.metrics import PITCH_FULL_CENTS, TIMING_FULL_MS

    scale_words = str(header["scale"]).replace("_", " ")
    grid = _GRID_NAMES.get(header["subdivision"], f"{header['subdivision']} per beat")
    print(f"{header['take']}: {result.duration_s:.1f} s at {result.sample_rate} Hz", file=out)
    print(
        f"{header['key']} {scale_words}, {header['bpm']:g} BPM ({grid}), A4 = {header['a4']:g} Hz",
        file=out,
    )
    if header.get("count_in"):
        print(f"count-in: {header['count_in']:g} beats (notes in it are reported too)", file=out)
    print(file=out)

    if result.notes:
        print(f"{'time':>8}  {'note':<4} {'cents':>6}  {'pitch':<7}  {'scale':<5}  timing", file=out)
        for note in result.notes:
            # round first, so -0.04 shows as +0.0 rather than -0.0
            cents = round(note.cents, 1) + 0.0
            offset_ms = round(note.timing_offset_ms, 1) + 0.0
            if abs(note.cents) <= PITCH_FULL_CENTS:
                pitch = "in tune"
            else:
                pitch = "sharp" if note.cents > 0 else "flat"
            in_key = "ok" if note.in_scale else "OUT"
            if abs(note.timing_offset_ms) <= TIMING_FULL_MS:
                timing = "on time"
            else:
                timing = "late" if note.timing_offset_ms > 0 else "early"
            print(
                f"{note.onset_s:>7.3f}s  {note.note:<4} {cents:>+6.1f}  {pitch:<7}  "
                f"{in_key:<5}  {timing:<7} {offset_ms:>+6.1f} ms",
                file=out,
            )
    else:
        print("no notes detected", file=out)
    print(file=out)

    metrics = result.metrics
    for field, label in _METRIC_LABELS:
        value = getattr(metrics, field)
        shown = "n/a" if value is None else f"{value:5.1f}"
        print(f"{label:<18}{shown:>6}", file=out)
    print(f"{'Notes':<18}{len(result.notes):>6}", file=out)
    print(f"{'Noise events':<18}{len(result.noise_events):>6}", file=out)


# --------------------------------------------------------------------------- history, export


def _load_config(args: argparse.Namespace) -> Any:
    from fretcoach_desktop.config import ConfigError, load_config

    try:
        return load_config({"user": args.user})
    except ConfigError as exc:
        raise CliError(str(exc)) from None


def _open_store(config: Any) -> tuple[Any, Any]:
    """Open the database (migrating it), select the profile, recover crashed sessions.

    Recovered sessions are reported on stderr, one line each.
    """
    from fretcoach_desktop.store import Store, StoreError

    try:
        store = Store.open(config)
    except StoreError as exc:
        raise CliError(str(exc), EXIT_FAILURE) from None
    try:
        if store.migration is not None and store.migration.backup_path is not None:
            print(
                f"{PROG}: updated the database schema to {store.migration.to_revision} "
                f"(backup: {store.migration.backup_path})",
                file=sys.stderr,
            )
        user = store.ensure_user(config.user)
        # sessions whose recorder died were recovered as the store opened; ones recorded
        # without a lock (another computer, an older version) once they are stale
        mine = [s for s in store.recovered if s.user_id == user.id]
        for session in mine + store.recover_unfinished(user.id, stale_after_s=RECOVER_STALE_S):
            print(
                f"{PROG}: recovered unfinished session {session.session_id} from "
                f"{_local_time(session.started_at)} ({_duration(session.duration_s)} saved, "
                f"{session.notes_played} notes)",
                file=sys.stderr,
            )
    except StoreError as exc:
        store.close()
        raise CliError(str(exc), EXIT_FAILURE) from None
    except BaseException:
        store.close()
        raise
    return store, user


def _local_time(moment: Any) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _duration(seconds: float) -> str:
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _sessions(args: argparse.Namespace, limit: int | None) -> tuple[list[Any], str]:
    from fretcoach_desktop.store import StoreError

    config = _load_config(args)
    store, user = _open_store(config)
    try:
        return store.history(user.id, limit=limit), user.name
    except StoreError as exc:
        raise CliError(str(exc), EXIT_FAILURE) from None
    finally:
        store.close()


def _cmd_history(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise CliError(f"--limit must be at least 1, got {args.limit}")
    sessions, profile = _sessions(args, args.limit)
    if args.json:
        json.dump([s.to_json() for s in sessions], sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
        sys.stdout.flush()
        return EXIT_OK
    if not sessions:
        print(f"No sessions yet for profile {profile!r}.")
        return EXIT_OK
    print(f"Sessions of profile {profile!r}, newest first:")
    print()
    print(
        f"{'id':>5}  {'date':<16}  {'length':>7}  {'key and scale':<24} {'bpm':>5}  {'notes':>5}  "
        f"{'pitch':>5}  {'scale':>5}  {'timing':>6}  {'noise':>5}  status"
    )

    def metric(value: float | None, width: int) -> str:
        return f"{'n/a':>{width}}" if value is None else f"{value:>{width}.1f}"

    for s in sessions:
        key_scale = f"{s.key} {s.scale.replace('_', ' ')}"
        print(
            f"{s.session_id:>5}  {_local_time(s.started_at):<16}  {_duration(s.duration_s):>7}  "
            f"{key_scale:<24} {s.bpm:>5g}  {s.notes_played:>5}  {metric(s.pitch_accuracy, 5)}  "
            f"{metric(s.scale_conformity, 5)}  {metric(s.timing_stability, 6)}  {metric(s.noise_control, 5)}  "
            f"{s.status}"
        )
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    import csv
    import io
    from pathlib import Path

    from fretcoach_desktop.store import HISTORY_FIELDS

    fmt = args.format
    to_stdout = args.path == "-"
    if fmt is None:
        suffix = Path(args.path).suffix.lower().lstrip(".")
        if suffix not in ("csv", "json"):
            raise CliError("cannot tell the format from PATH; add --format csv or --format json")
        fmt = suffix
    target = None if to_stdout else Path(args.path).expanduser()
    if target is not None:
        if target.is_dir():
            raise CliError(f"{args.path} is a directory; give a file name")
        if not target.parent.is_dir():
            raise CliError(f"the folder of {args.path} does not exist")

    sessions, profile = _sessions(args, None)
    rows = [s.to_json() for s in sessions]
    if fmt == "json":
        content = json.dumps(rows, allow_nan=False, indent=1) + "\n"
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(HISTORY_FIELDS), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        content = buffer.getvalue()

    if target is None:
        sys.stdout.write(content)
        sys.stdout.flush()
        return EXIT_OK
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_text(content, encoding="utf-8")
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise CliError(f"cannot write {args.path}: {exc.strerror or exc}", EXIT_FAILURE) from None
    print(f"Exported {len(rows)} session{'s' if len(rows) != 1 else ''} of profile {profile!r} to {target}")
    return EXIT_OK


# --------------------------------------------------------------------------- devices


def _cmd_devices(args: argparse.Namespace) -> int:
    try:
        import sounddevice as sd
    except ImportError:
        raise CliError(
            "the Python package 'sounddevice' is not installed; run 'make venv' or 'pip install sounddevice'",
            EXIT_FAILURE,
        ) from None
    except OSError:
        raise CliError(
            "the PortAudio library was not found; install it (Debian/Ubuntu: "
            "apt-get install libportaudio2) to use audio devices",
            EXIT_FAILURE,
        ) from None
    try:
        devices = list(sd.query_devices())
        host_apis = list(sd.query_hostapis())
        default_input = sd.default.device[0]
    except Exception as exc:  # noqa: BLE001 - PortAudio errors come in several types
        raise CliError(f"cannot list audio devices: {exc}", EXIT_FAILURE) from None

    inputs = [(i, d) for i, d in enumerate(devices) if d.get("max_input_channels", 0) > 0]
    if not inputs:
        raise CliError("no audio input devices found; connect an audio interface", EXIT_FAILURE)

    print("Audio input devices (* = default):")
    for index, device in inputs:
        api_index = device.get("hostapi", -1)
        api = host_apis[api_index]["name"] if 0 <= api_index < len(host_apis) else "?"
        mark = "*" if index == default_input else " "
        rate = device.get("default_samplerate") or 0
        print(f"{mark} {index:>3}  {device['name']}  ({api}, {device['max_input_channels']} in, {rate / 1000:g} kHz)")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
