"""``fretcoach ask "QUESTION" [--thread ID] [--json]``: the chat panel's coach from the CLI.

Runs the same :class:`~fretcoach_desktop.coach.chat.ChatAgent` as the app, for the selected
profile (global ``--user``). A new conversation starts unless ``--thread`` names one of the
profile's earlier ones (the thread id is printed so the next question can continue it).
Without an OpenAI key the offline intent matcher answers.

Output: the answer (markdown) and a ``thread: ID`` line; with ``--json`` one object:
``answer``, ``thread_id``, ``model``, ``fell_back``, ``tool_calls`` (name, arguments, ok,
error), ``error``, ``plan_id``, ``trace_id``.

Exit status: 0 answered; 2 a user error (empty question, unknown --thread, bad settings);
1 the service failed (e.g. rate limited on every model: the offline answer is still printed,
with a one-line note on stderr) or the database could not be opened.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_parser", "run"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
PROG = "fretcoach"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``ask`` sub-command to *subparsers* (its handler is :func:`run`)."""
    p = subparsers.add_parser(
        "ask",
        help="ask the coach about your practice history",
        description=(
            "Ask the AI coach a question about your own practice history, e.g. "
            "'What should I practice next?' or 'How did my timing improve this week?'. "
            "Without an OpenAI key, common questions are answered offline from your data."
        ),
    )
    p.add_argument("question", metavar="QUESTION", help="the question (quote it)")
    p.add_argument(
        "--thread",
        metavar="ID",
        help="continue an earlier conversation (its id is printed after each answer)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (answer, thread_id, model, tool_calls)")
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace, *, out: Any = None, err: Any = None) -> int:
    """Run ``fretcoach ask`` with parsed *args*; return the exit status.

    User errors raise :class:`fretcoach_desktop.cli.CliError` (one line, exit status 2; 1 when
    the database cannot be opened).
    """
    from fretcoach_desktop.cli import CliError, warn_missing_extras
    from fretcoach_desktop.coach.chat import MAX_QUESTION_CHARS, ChatAgent
    from fretcoach_desktop.config import ConfigError, load_config
    from fretcoach_desktop.store import Store, StoreError
    from fretcoach_desktop.tracing.tracer import make_tracer

    out = out or sys.stdout
    err = err or sys.stderr

    question = (args.question or "").strip()
    if not question:
        raise CliError('the question is empty; e.g. fretcoach ask "What should I practice next?"')
    if len(question) > MAX_QUESTION_CHARS:
        raise CliError(f"the question is too long ({MAX_QUESTION_CHARS} characters at most)")
    thread = (args.thread or "").strip() or None
    if thread is not None and (len(thread) > 100 or not thread.isprintable()):
        raise CliError("--thread must be a conversation id printed by an earlier 'fretcoach ask'")

    try:
        config = load_config({"user": getattr(args, "user", None)})
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    warn_missing_extras(config, err)
    try:
        store = Store.open(config)
    except StoreError as exc:
        raise CliError(str(exc), EXIT_FAILURE) from None
    tracer = make_tracer(config)
    agent = None
    try:
        try:
            user = store.ensure_user(config.user)
            if thread is not None and not store.chat_thread(user.id, thread):
                raise CliError(
                    f"no conversation {thread!r} for profile {config.user!r}; omit --thread to start a new one"
                )
        except StoreError as exc:
            raise CliError(str(exc), EXIT_FAILURE) from None
        agent = ChatAgent(config, store, user.id, tracer)
        try:
            answer = agent.ask(question, thread)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        except StoreError as exc:
            raise CliError(str(exc), EXIT_FAILURE) from None
    finally:
        if agent is not None:
            agent.close()
        tracer.flush(1.0)
        store.close()

    if args.json:
        data = answer.to_json()
        data["tool_calls"] = [
            {"name": c["name"], "arguments": c["args"], "ok": c["ok"], **({"error": c["error"]} if c["error"] else {})}
            for c in answer.tool_calls
        ]
        out.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    else:
        out.write(answer.answer.rstrip() + "\n\n")
        who = "offline answer" if answer.offline else f"model {answer.model}"
        out.write(f"thread: {answer.thread_id} ({who})\n")
    if answer.error:
        err.write(f"{PROG}: note: {answer.error}\n")
        return EXIT_FAILURE
    return EXIT_OK
