# Two commands do everything on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)

.PHONY: demo test test-all lint bench bench-cli bench-peers bench-network bench-enclave bench-scale nats-server clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

demo: $(STAMP)                ## the guided tour: devnet, vaults, addresses, real transactions, lifecycle
	$(BIN)/python -m gridlock.demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

nats-server:                  ## the NATS router (Debian package), installed when missing
	@bash scripts/ensure-nats-server.sh

test: $(STAMP) lint nats-server  ## lint, types and the fast test suite
	GRIDLOCK_REQUIRE_NATS=1 $(BIN)/python -m pytest -q

test-all: $(STAMP) nats-server  ## every test, slow ones included
	GRIDLOCK_REQUIRE_NATS=1 $(BIN)/python -m pytest -q -m ''

bench: $(STAMP)               ## median timings of our operations
	$(BIN)/python bench/run.py

bench-cli: $(STAMP)           ## wall time of gridlock --help, address, sign (after unlock) on a devnet
	$(BIN)/python bench/cli.py

bench-peers: $(STAMP)         ## ours next to the npm peers (installed into git-ignored bench/peers/*/node_modules)
	cd bench/peers/noble && npm ci --silent --no-audit --no-fund
	cd bench/peers/dkls && npm ci --silent --no-audit --no-fund
	$(BIN)/python bench/peers.py

bench-network: $(STAMP) nats-server  ## signing latency and throughput over NATS, 5 guardian processes
	$(BIN)/python bench/network.py

bench-enclave: $(STAMP)       ## FROST signing inside the enclave guardian's custody contract: its steps, a whole signature
	$(BIN)/python bench/enclave.py

bench-scale: $(STAMP) nats-server  ## one guardian process holding 10,000 vaults: start-up, memory, sign latency, growth
	$(BIN)/python bench/scale.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache bench/peers/noble/node_modules
