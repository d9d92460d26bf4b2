"""``python -m gridlock.cli …`` — the same as the ``gridlock`` command."""

from gridlock.cli.main import app

app()
