"""``fretcoach eval``: measure the live coach's quality (datasets, prompt comparisons, feedback).

* ``fretcoach eval build-dataset [--from-sessions | --synthetic N] [--out PATH]``: metric
  windows (the exact input of the live coach) from the profile's stored sessions (default) or
  generated to cover every weakest-metric case; saved as JSON Lines (default
  ``<data dir>/eval/dataset.jsonl``) and, with Opik configured, as an Opik dataset.
* ``fretcoach eval run --prompt VERSION [--prompt VERSION2] [--model M] [--dataset PATH]
  [--judge] [--json]``: the coach answers every window with each prompt version; each answer
  is scored (one sentence, addresses the weakest metric, actionable, no invented numbers,
  words, latency, optionally an LLM judge); prints a side-by-side table and, with Opik
  configured, logs one Opik experiment per version.
* ``fretcoach eval feedback [--json]``: thumbs up/down on coach tips per prompt version.

Exit status: 0 done; 2 a user error (no dataset, unknown prompt version, bad settings);
1 the database could not be opened.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
PROG = "fretcoach"
MAX_SYNTHETIC = 10_000


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= MAX_SYNTHETIC:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_SYNTHETIC}")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``eval`` sub-command (with ``build-dataset``, ``run``, ``feedback``)."""
    p = subparsers.add_parser(
        "eval",
        help="evaluate the coach prompts",
        description="Measure the live coach: build a dataset of metric windows, compare prompt "
        "versions on it, export the thumbs up/down given to coach tips.",
    )
    actions = p.add_subparsers(dest="eval_command", metavar="ACTION", parser_class=type(p))

    build = actions.add_parser(
        "build-dataset",
        help="make a dataset of metric windows (the live coach's exact input)",
        description="Make a dataset of metric windows from your stored sessions (default) or "
        "generated to cover every weakest-metric case; saved as JSON Lines.",
    )
    source = build.add_mutually_exclusive_group()
    source.add_argument("--from-sessions", action="store_true", help="windows of the profile's sessions (default)")
    source.add_argument("--synthetic", type=_positive_int, metavar="N", help="N generated windows")
    build.add_argument("--out", type=Path, metavar="PATH", help="output file (default: <data dir>/eval/dataset.jsonl)")
    build.add_argument("--json", action="store_true", help="print one JSON object (path, items, cases)")
    build.set_defaults(handler=run)

    run_p = actions.add_parser(
        "run",
        help="score the coach's answers for one or more prompt versions",
        description="Run the live coach over the dataset with each prompt version and score every "
        "answer; prints a side-by-side table of the versions.",
    )
    run_p.add_argument(
        "--prompt",
        action="append",
        metavar="VERSION",
        help="live-coach prompt version (v1, v2 or live_coach.v2); repeat to compare (default: current)",
    )
    run_p.add_argument("--model", metavar="M", help="chat model to use (default: the configured one)")
    run_p.add_argument(
        "--dataset", type=Path, metavar="PATH", help="dataset file (default: <data dir>/eval/dataset.jsonl)"
    )
    run_p.add_argument("--judge", action="store_true", help="also grade every answer with an LLM judge")
    run_p.add_argument("--json", action="store_true", help="print one JSON object (summary and every answer)")
    run_p.set_defaults(handler=run)

    fb = actions.add_parser(
        "feedback",
        help="export the thumbs up/down on coach tips per prompt version",
        description="Export the thumbs up/down given to coach tips, joined to the prompt version "
        "that produced each tip, with per-version counts and approval rate.",
    )
    fb.add_argument("--json", action="store_true", help="print one JSON object (tips and per-version counts)")
    fb.set_defaults(handler=run)

    p.set_defaults(handler=run, eval_command=None)
    return p


def _config(args: argparse.Namespace, **extra: Any) -> Any:
    from fretcoach_desktop.cli import CliError
    from fretcoach_desktop.config import ConfigError, load_config

    try:
        return load_config({"user": getattr(args, "user", None), **{k: v for k, v in extra.items() if v}})
    except ConfigError as exc:
        raise CliError(str(exc)) from None


def _open_store(config: Any) -> tuple[Any, Any]:
    from fretcoach_desktop.cli import CliError
    from fretcoach_desktop.store import Store, StoreError

    try:
        store = Store.open(config)
    except StoreError as exc:
        raise CliError(str(exc), EXIT_FAILURE) from None
    try:
        return store, store.ensure_user(config.user)
    except StoreError as exc:
        store.close()
        raise CliError(str(exc), EXIT_FAILURE) from None


def default_dataset_path(config: Any) -> Path:
    return Path(config.data_dir) / "eval" / "dataset.jsonl"


def run(args: argparse.Namespace, *, out: Any = None, err: Any = None) -> int:
    """Run ``fretcoach eval ...`` with parsed *args*; return the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    action = getattr(args, "eval_command", None)
    if action == "build-dataset":
        return _build(args, out, err)
    if action == "run":
        return _run(args, out, err)
    if action == "feedback":
        return _feedback(args, out)
    out.write("usage: fretcoach eval {build-dataset,run,feedback} ... (see 'fretcoach eval --help')\n")
    return EXIT_USAGE


def _note(err: Any, message: str) -> None:
    err.write(f"{PROG}: note: {message}\n")


def _build(args: argparse.Namespace, out: Any, err: Any) -> int:
    from collections import Counter

    from fretcoach_desktop.cli import CliError
    from fretcoach_desktop.coach.evaluation import (
        save_dataset,
        synthetic_windows,
        upload_dataset,
        windows_from_sessions,
    )
    from fretcoach_desktop.store import StoreError
    from fretcoach_desktop.tracing.tracer import make_tracer

    config = _config(args)
    if args.synthetic:
        items = synthetic_windows(args.synthetic)
    else:
        store, user = _open_store(config)
        try:
            items = windows_from_sessions(store, user.id)
        except StoreError as exc:
            raise CliError(str(exc), EXIT_FAILURE) from None
        finally:
            store.close()
        if not items:
            raise CliError(
                f"profile {config.user!r} has no stored sessions with notes; play or analyze one first, "
                "or use 'fretcoach eval build-dataset --synthetic N'"
            )
    path = Path(args.out).expanduser() if args.out else default_dataset_path(config)
    try:
        save_dataset(items, path)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}", EXIT_FAILURE) from None

    opik_dataset = None
    tracer = make_tracer(config)
    if tracer.enabled:
        try:
            dataset = upload_dataset(tracer, items)
            opik_dataset = getattr(dataset, "name", None)
        except Exception as exc:  # Opik down must not lose the local dataset
            _note(err, f"could not upload the dataset to Opik ({type(exc).__name__})")
        finally:
            tracer.flush(2.0)

    weakest = Counter(item.window.weakest_metric for item in items)
    if args.json:
        data = {"path": str(path), "items": len(items), "weakest_metric": dict(weakest), "opik_dataset": opik_dataset}
        out.write(json.dumps(data, indent=2) + "\n")
    else:
        cases = ", ".join(f"{name} {count}" for name, count in sorted(weakest.items()))
        out.write(f"saved {len(items)} windows to {path}\nweakest metric: {cases}\n")
        if opik_dataset:
            out.write(f"Opik dataset: {opik_dataset}\n")
    return EXIT_OK


def _run(args: argparse.Namespace, out: Any, err: Any) -> int:
    from fretcoach_desktop.cli import CliError
    from fretcoach_desktop.coach.evaluation import (
        format_table,
        load_dataset,
        log_experiments,
        register_prompts,
        run_evaluation,
        summarize,
        upload_dataset,
    )
    from fretcoach_desktop.coach.prompts import PromptError, load_prompt
    from fretcoach_desktop.tracing.tracer import make_tracer

    config = _config(args, model=args.model)
    try:
        versions = list(dict.fromkeys(load_prompt("live_coach", v).id for v in (args.prompt or [None])))
    except PromptError as exc:
        raise CliError(str(exc)) from None
    path = Path(args.dataset).expanduser() if args.dataset else default_dataset_path(config)
    if not path.is_file():
        raise CliError(f"no dataset at {path}; make one with 'fretcoach eval build-dataset'")
    try:
        items = load_dataset(path)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read the dataset: {exc}") from None
    if not items:
        raise CliError(f"the dataset {path} is empty")
    if config.ai_extra_missing:
        err.write(f"{PROG}: warning: {config.ai_extra_missing} (the same for every prompt version)\n")
    elif not config.online_coach:
        _note(err, "no OpenAI key: the offline coach answers (the same for every prompt version)")
    if args.judge and not config.online_coach:
        _note(err, "--judge needs the online coach (an OpenAI key and the [ai] extra); no judge scores")

    results = run_evaluation(items, versions, config, judge=args.judge)
    summary = summarize(results)

    experiments: dict[str, str] = {}
    tracer = make_tracer(config)
    if tracer.enabled:
        try:
            dataset = upload_dataset(tracer, items)
            prompts = register_prompts(tracer, versions)  # before the experiments that link them
            missing = [v for v in versions if v not in prompts]
            if missing:
                _note(err, f"could not register {', '.join(missing)} with Opik: experiments without their prompt")
            experiments = log_experiments(
                tracer,
                items,
                results,
                dataset_name=getattr(dataset, "name", None) or "fretcoach-live-coach-windows",
                config={"model": config.model, "dataset": path.name, "online": config.online_coach},
                prompts=prompts,
            )
        except Exception as exc:  # Opik down must not lose the results
            _note(err, f"could not log the experiments to Opik ({type(exc).__name__})")
        finally:
            tracer.flush(2.0)

    if args.json:
        data = {
            "dataset": str(path),
            "versions": versions,
            "summary": summary,
            "experiments": experiments,
            "results": {v: [r.to_json() for r in rows] for v, rows in results.items()},
        }
        out.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(format_table(summary) + "\n")
        for version, experiment_id in experiments.items():
            out.write(f"Opik experiment for {version}: {experiment_id}\n")
    return EXIT_OK


def _feedback(args: argparse.Namespace, out: Any) -> int:
    from fretcoach_desktop.cli import CliError
    from fretcoach_desktop.coach.evaluation import feedback_report
    from fretcoach_desktop.store import StoreError

    config = _config(args)
    store, user = _open_store(config)
    try:
        report = feedback_report(store, user.id)
    except StoreError as exc:
        raise CliError(str(exc), EXIT_FAILURE) from None
    finally:
        store.close()
    if args.json:
        out.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        return EXIT_OK
    if not report["versions"]:
        out.write("no coach tips yet\n")
        return EXIT_OK
    out.write(f"{'prompt version':<22}{'tips':>6}{'rated':>7}{'up':>5}{'down':>6}{'approval':>10}\n")
    for version, c in report["versions"].items():
        rate = "-" if c["approval_rate"] is None else f"{100 * c['approval_rate']:.0f}%"
        out.write(f"{version:<22}{c['tips']:>6}{c['rated']:>7}{c['up']:>5}{c['down']:>6}{rate:>10}\n")
    return EXIT_OK
