"""The devnet package: a guardian's role comes from the devnet's description and its config file,
never from its name; one node builder; the layering (guardian/ imports no client, devnet or cli)."""

from __future__ import annotations

import ast
import asyncio
import json
import os
from pathlib import Path

import pytest

from gridlock.cli.devnet import prepare
from gridlock.devnet import STANDARD, EmbeddedCluster, GuardianSpec, specs
from gridlock.devnet.host import DevnetHost, HostOptions
from gridlock.devnet.layout import Paths, guardian_spec, guardian_specs, read_state
from gridlock.devnet.processes import write_config
from gridlock.devnet.stores import ENCLAVE_MODULE, GUARDIAN_MODULE, guardian_module
from gridlock.enclave.keystore import EnclaveKeystore
from gridlock.guardian import service
from gridlock.guardian.config import ConfigError, GuardianConfig
from gridlock.guardian.store import Keystore
from gridlock.transport.local import LocalRouter
from gridlock.wire import Identity

SRC = Path(__file__).resolve().parent.parent / "src" / "gridlock"


def test_specs_validate_names_and_roles() -> None:
    assert specs(["a", GuardianSpec("b", "watch")]) == [GuardianSpec("a", "guardian"), GuardianSpec("b", "watch")]
    with pytest.raises(ValueError, match="unknown role"):
        GuardianSpec("a", "oracle")
    with pytest.raises(ValueError, match="distinct"):
        specs(["a", GuardianSpec("a", "watch")])
    with pytest.raises(ValueError, match="bad guardian name"):
        GuardianSpec("../x")
    assert {s.name: s.role for s in STANDARD} == {
        "device": "guardian",
        "enclave": "enclave",
        "cloud": "guardian",
        "watch": "watch",
        "friend": "guardian",
    }
    assert (guardian_module("enclave"), guardian_module("watch")) == (ENCLAVE_MODULE, GUARDIAN_MODULE)


def test_embedded_cluster_roles_come_from_the_description(tmp_path: Path) -> None:
    async def main() -> None:
        c = await EmbeddedCluster.start(
            tmp_path, ["device", GuardianSpec("lookout", "watch"), "watch", GuardianSpec("vault", "enclave")]
        )
        try:
            kinds = {g.name: g.node.kind for g in c.guardians if g.node is not None}
            assert kinds == {"device": "guardian", "lookout": "watch", "watch": "guardian", "vault": "guardian"}
            stores = {g.name: type(g.keystore) for g in c.guardians}
            assert stores["device"] is Keystore and stores["watch"] is Keystore
            assert issubclass(stores["vault"], EnclaveKeystore)  # its shares live in the custody contract
            await c.stop_guardian(1)
            assert not c.guardians[1].running
            await c.start_guardian(1)
            assert c.guardians[1].running and c.guardians[1].node is not None
            assert c.guardians[1].node.kind == "watch"  # a restart keeps the role
        finally:
            await c.close()

    asyncio.run(main())


def test_build_node_refuses_an_unknown_role(tmp_path: Path) -> None:
    me = Identity.generate(name="g")
    ks = Keystore.open(tmp_path / "k.db", os.urandom(32))
    try:
        transport = LocalRouter().connect(me.guardian_id)
        with pytest.raises(ValueError, match="unknown guardian role"):
            service.build_node(me, ks, transport, {me.guardian_id: me.public}, [], role="oracle")
        node = service.build_node(me, ks, transport, {me.guardian_id: me.public}, [], role="watch")
        assert node.kind == "watch"
    finally:
        ks.close()


def test_written_config_carries_the_role(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GRIDLOCK_DATA_DIR", "GRIDLOCK_ROUTER", "GRIDLOCK_DIRECTORY"):
        monkeypatch.delenv(var, raising=False)
    for spec in STANDARD:
        path = write_config(
            spec, tmp_path / "guardians" / spec.name, "nats://h:1", tmp_path / "directory.json",
            session_timeout=5, recovery_delay=0, header="# test\n",
        )  # fmt: skip
        cfg = GuardianConfig.load(path)
        assert (cfg.name, cfg.role) == (spec.name, spec.role)
        assert cfg.directory.resolve() == (tmp_path / "directory.json").resolve()
    # an enclave guardian's config is refused by the SQLite-only entry point, not silently given a keystore
    monkeypatch.setenv("GRIDLOCK_GUARDIAN_SECRET", "x" * 32)
    with pytest.raises(ConfigError, match=r"gridlock\.enclave\.guardian"):
        service.open_keystore(GuardianConfig.load(tmp_path / "guardians" / "enclave" / "guardian.toml"))


def test_state_file_roles_and_files_from_before_roles() -> None:
    assert guardian_spec({"name": "watch", "id": "x", "spare": False, "role": "guardian"}).role == "guardian"
    assert guardian_spec({"name": "x", "id": "x", "spare": True, "role": "watch"}).role == "watch"
    # no role: what the version without roles gave the guardian (core guardians by the standard devnet)
    old = {
        "guardians": [
            {"name": "enclave", "id": "a", "spare": False},
            {"name": "watch", "id": "b", "spare": False},
            {"name": "device", "id": "c", "spare": False},
            {"name": "watch2", "id": "d", "spare": True},
        ]
    }
    assert [s.role for s in guardian_specs(old)] == ["enclave", "watch", "guardian", "guardian"]


def test_devnet_host_runs_each_guardian_in_its_role(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "net")
    state, keyring, created = prepare(paths, "correct horse battery", ["spare"])
    assert created
    saved = read_state(paths)
    assert saved is not None
    roles = {g["name"]: g["role"] for g in saved["guardians"]}
    assert roles == {s.name: s.role for s in STANDARD} | {"spare": "guardian"}

    async def main() -> None:
        host = DevnetHost(paths, state, dict(keyring.guardian_secrets), HostOptions(session_timeout=5))
        await host.start()
        try:
            kinds = {n: g.node.kind for n, g in host.embedded.items() if g.node is not None}
            assert kinds == {"device": "guardian", "enclave": "guardian", "cloud": "guardian", "watch": "watch",
                             "friend": "guardian", "spare": "guardian"}  # fmt: skip
            assert isinstance(host.embedded["enclave"].keystore, EnclaveKeystore)
            assert isinstance(host.embedded["watch"].keystore, Keystore)
            answer = await host.control({"op": "stop-guardian", "name": "watch"})
            assert answer["ok"] and not answer["guardians"]["watch"]["running"]
            answer = await host.control({"op": "start-guardian", "name": "watch"})
            assert answer["ok"] and answer["guardians"]["watch"]["running"]
            assert host.embedded["watch"].node is not None and host.embedded["watch"].node.kind == "watch"
        finally:
            await host.stop()

    asyncio.run(main())
    assert json.loads(paths.state.read_text())["running"] is None


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_guardian_and_transport_import_nothing_above_them() -> None:
    for package, banned in (
        ("guardian", ("gridlock.client", "gridlock.devnet", "gridlock.cli", "gridlock.enclave")),
        ("transport", ("gridlock.client", "gridlock.devnet", "gridlock.cli", "gridlock.guardian")),
        ("enclave", ("gridlock.client", "gridlock.devnet", "gridlock.cli")),
    ):
        for path in (SRC / package).rglob("*.py"):
            bad = sorted(m for m in _imports(path) if m.startswith(banned))
            assert not bad, f"{path.relative_to(SRC)} imports {bad}"
