"""``python -m gridlock.guardian init|run --config FILE`` (the CLI's ``gridlock guardian`` wraps this)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from gridlock.errors import GridlockError
from gridlock.guardian import service


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gridlock.guardian", description=__doc__)
    ap.add_argument("command", choices=["init", "run"])
    ap.add_argument("--config", required=True, help="the guardian's TOML configuration file")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        if args.command == "init":
            print(json.dumps(service.init(args.config)))
        else:
            asyncio.run(service.serve(args.config))
    except GridlockError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
