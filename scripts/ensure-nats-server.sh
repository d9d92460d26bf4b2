#!/usr/bin/env bash
# Make sure a `nats-server` binary is on PATH (Debian/Ubuntu: the distribution's `nats-server` package).
#
# Idempotent and quiet: does nothing when `nats-server` is already found.  Needs root (or sudo) and
# apt-get; elsewhere it prints how to install the server and exits non-zero.  The NATS tests start a
# real server on a loopback port; under `make test` (GRIDLOCK_REQUIRE_NATS=1) a missing server fails them,
# run directly with pytest they are skipped with the reason.
set -euo pipefail

# Debian installs it in /usr/sbin, which is not on every user's PATH.
export PATH="$PATH:/usr/sbin:/usr/local/sbin:/sbin"
found() {
    command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || [ -x /usr/local/sbin/nats-server ] \
        || [ -x /usr/bin/nats-server ] || [ -x /usr/local/bin/nats-server ]
}

if found; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-nats-server: nats-server not found and apt-get is unavailable;" \
         "install nats-server from your distribution's packages" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo -n"
    else
        echo "ensure-nats-server: nats-server not found; run as root: apt-get install nats-server" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends nats-server; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "ensure-nats-server: apt-get could not install nats-server (output above)" >&2
    exit 1
fi

if ! found; then
    echo "ensure-nats-server: installed the nats-server package but cannot find the binary" >&2
    exit 1
fi
