"""The review of a transaction on the terminal (:mod:`gridlock.chains.review` reads it), the owner's
HD roots it is read with, and the confirmation ``sign-tx`` and ``sign-message`` ask for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from gridlock.crypto.hd import HdRoot


def render(con: Console, title: str, rev: dict[str, Any]) -> None:
    """The review as a few lines on the terminal."""
    net = f" ({rev['network']})" if rev.get("network") else ""
    con.print(f"[bold]{title}[/] — {rev['chain']}{net}")
    if rev.get("movements") is None:
        con.print(f"  [yellow]the guardians' reading refuses this transaction:[/] {rev.get('unreadable')}")
    else:
        for m in rev["movements"]:
            style = "[bold red]" if m["kind"] in ("approval", "grant") else ""
            con.print(f"  {style}{m['text']}{'[/]' if style else ''}", highlight=False)
        call = rev.get("call")
        if call:
            what = call["function"] or f"an unknown function (selector {call['selector']})"
            args = f" with ({', '.join(call['arguments'])})" if call.get("arguments") else ""
            con.print(f"  calls {what}{args}", highlight=False)
        if rev.get("blind"):
            con.print("  [yellow]what is signed is not readable text (blind signing)[/]")
    for line in rev.get("details", []):
        con.print(f"  [dim]{line}[/]", highlight=False)


def owner_roots(entry: dict[str, Any], vaults: Sequence[dict[str, Any]]) -> list[HdRoot]:
    """The vault's HD root first, then the owner's other vaults' of a scheme that may spend beside
    it — as the guardians order them (:meth:`ChainAdapter.derive_with_roots`); vaults without a
    recorded root are left out."""
    from gridlock.client.hdroot import root_or_none  # noqa: PLC0415

    roots: list[HdRoot] = []
    for v in [entry, *(v for v in vaults if v["id"] != entry["id"])]:
        root = root_or_none(v["scheme"], bytes.fromhex(v.get("group_key", "")), bytes.fromhex(v.get("chain_code", "")))
        if root is not None:
            roots.append(root)
        elif v is entry:
            return []
    return roots


def confirm(con: Console, yes: bool, question: str) -> None:
    """Ask ``question`` on the terminal unless ``yes``; without a terminal ``--yes`` is required.

    Raises a usage error (no terminal) or a cancelled error (the answer was no)."""
    import sys  # noqa: PLC0415

    import typer  # noqa: PLC0415

    from gridlock.cli.errors import CliError, usage  # noqa: PLC0415

    if yes:
        return
    if not sys.stdin.isatty():
        raise usage(
            "nothing was signed: confirmation is asked on a terminal, and there is none",
            hint="read the summary above, then run again with --yes (for scripts)",
        )
    if not typer.confirm(question, default=False, err=True):
        raise CliError("nothing was signed (declined at the confirmation)", exit_code=1, code="declined")
