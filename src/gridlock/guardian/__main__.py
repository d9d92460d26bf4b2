"""``python -m gridlock.guardian init|run --config FILE`` (the CLI's ``gridlock guardian`` wraps this)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable

from gridlock.errors import GridlockError
from gridlock.guardian import service
from gridlock.guardian.config import GuardianConfig
from gridlock.guardian.store import ShareStore


def main(
    argv: list[str] | None = None,
    *,
    prog: str = "python -m gridlock.guardian",
    description: str | None = __doc__,
    open_store: Callable[[GuardianConfig], ShareStore] = service.open_keystore,
) -> int:
    """``init`` or ``run`` one guardian; ``open_store`` picks its store (the enclave guardian passes its own)."""
    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument("command", choices=["init", "run"])
    ap.add_argument("--config", required=True, help="the guardian's TOML configuration file")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        if args.command == "init":
            print(json.dumps(service.init(args.config, open_store=open_store)))
        else:
            asyncio.run(service.serve(args.config, open_store=open_store))
    except GridlockError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
