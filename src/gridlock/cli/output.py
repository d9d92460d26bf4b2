"""Output for people and for programs.

* ``--json``: exactly one JSON document on stdout — the result, or ``{"error": {…}}`` — and
  nothing else on stdout (bytes are shown as hex).  Messages for people still go to stderr.
* Otherwise Rich renders tables and panels on stdout; colours and spinners appear only when the
  stream is a terminal (Rich's detection; ``NO_COLOR`` is honoured), so piping gives plain text.
* Errors: ``error: …`` / ``hint: …`` on stderr, and the exit code of :mod:`gridlock.cli.errors`.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from typer.core import TyperOption

from gridlock.cli.errors import CliError


def plain(value: Any) -> Any:
    """JSON-ready: bytes as hex, tuples as lists, mappings with text keys."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class Output:
    def __init__(self, json_mode: bool = False) -> None:
        self.json = json_mode
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        self._emitted = False

    # --- results ------------------------------------------------------------------------------------
    def emit(self, data: dict[str, Any], human: Callable[[Console], None] | None = None) -> None:
        """The command's one result: JSON on stdout with ``--json``, else ``human`` renders it."""
        if self.json:
            if not self._emitted:
                sys.stdout.write(json.dumps(plain(data), indent=2, sort_keys=False) + "\n")
                sys.stdout.flush()
            self._emitted = True
        elif human is not None:
            human(self.out)

    def note(self, text: str) -> None:
        """A remark for people (stderr; never in the way of JSON)."""
        self.err.print(text)

    def fail(self, err: CliError) -> NoReturn:
        self.err.print(f"[bold red]error:[/] {_escape(err.message)}")
        if err.hint:
            self.err.print(f"[yellow]hint:[/] {_escape(err.hint)}")
        if self.json and not self._emitted:
            sys.stdout.write(json.dumps({"error": err.as_dict()}, indent=2) + "\n")
            sys.stdout.flush()
            self._emitted = True
        raise typer.Exit(err.exit_code)

    # --- progress -----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def status(self, text: str) -> Iterator[None]:
        """A spinner on stderr while long work runs (terminals only, never in JSON mode)."""
        if self.json or not self.err.is_terminal:
            yield
            return
        with self.err.status(text):
            yield

    @contextlib.contextmanager
    def progress(self, text: str, total: int) -> Iterator[Callable[[int], None]]:
        """A progress bar on stderr; yields ``advance(n)``."""
        if self.json or not self.err.is_terminal:
            yield lambda n: None
            return
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.err,
            transient=True,
        ) as bar:
            task = bar.add_task(text, total=total)
            yield lambda n: bar.advance(task, n)


def plain_flags_in_help() -> None:
    """Help pages show no type after an on/off flag (``--json``, ``--help``): Typer's rich help prints
    ``<bool>`` there, which reads as if the flag took a value.  Options that take one keep their type."""
    shown = TyperOption.display_type_rich
    if getattr(shown, "_gridlock_flags_plain", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else shown(self, ctx)

    display_type_rich._gridlock_flags_plain = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


def _escape(text: str) -> str:
    return escape(text)


# --- times for people -----------------------------------------------------------------------------
# Guardians report times as Unix seconds; --json keeps them so, people read the local time and how far
# away it is (ISO 8601 with the UTC offset, so a time copied elsewhere stays unambiguous).


def local_time(ts: float) -> str:
    """``ts`` (Unix seconds) as the local ISO 8601 time to the second, with its UTC offset."""
    return datetime.fromtimestamp(ts).astimezone().isoformat(sep=" ", timespec="seconds")


def duration(seconds: float) -> str:
    """A span for people, at most two units: ``2 h 13 min``, ``1 d``, ``45 s``."""
    span = round(abs(seconds))
    days, rest = divmod(span, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs and minutes < 10 else f"{minutes} min"
    return f"{secs} s"


def relative(ts: float, now: float | None = None) -> str:
    """How far ``ts`` is from now: ``in 2 h 13 min``, ``5 min ago``, ``now`` (within a second)."""
    delta = round(ts - (time.time() if now is None else now))
    if delta == 0:
        return "now"
    return f"in {duration(delta)}" if delta > 0 else f"{duration(delta)} ago"


def when(ts: float, now: float | None = None) -> str:
    """``2026-12-07 02:13:05+01:00 (in 2 h 13 min)``: a guardian's time for people."""
    return f"{local_time(ts)} ({relative(ts, now)})"
