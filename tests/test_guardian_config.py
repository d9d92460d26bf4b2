"""A guardian's configuration and directory files: what is written reads back, bad files are typed errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridlock.guardian.config import (
    DEFAULT_RECOVERY_DELAY,
    SECRET_ENV,
    ConfigError,
    Directory,
    GuardianConfig,
    config_text,
)
from gridlock.wire import Identity


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "guardian.toml"
    path.write_text(text)
    return path


def test_written_config_reads_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GRIDLOCK_DATA_DIR", "GRIDLOCK_ROUTER", "GRIDLOCK_DIRECTORY"):
        monkeypatch.delenv(var, raising=False)
    name = 'watch "w\\1"'  # quotes and a backslash survive the TOML quoting
    text = config_text(name, "nats://127.0.0.1:4222", "../dir.json", session_timeout=12, recovery_delay=30)
    cfg = GuardianConfig.load(write(tmp_path, text))
    assert cfg.name == name and cfg.router == "nats://127.0.0.1:4222"
    assert cfg.data_dir == tmp_path / "." and cfg.directory == tmp_path / "../dir.json"
    assert cfg.secret_env == SECRET_ENV and cfg.secret_file is None
    assert (cfg.session_timeout, cfg.recovery_delay, cfg.role) == (12.0, 30.0, "guardian")
    for role in ("watch", "enclave", "guardian"):
        text = config_text("g", "nats://h:1", "d", session_timeout=5, recovery_delay=0, role=role)
        assert GuardianConfig.load(write(tmp_path, text)).role == role


def test_role_comes_from_the_file_not_the_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GRIDLOCK_DATA_DIR", "GRIDLOCK_ROUTER", "GRIDLOCK_DIRECTORY"):
        monkeypatch.delenv(var, raising=False)
    named = config_text("watch", "nats://h:1", "d", session_timeout=5, recovery_delay=0)
    assert GuardianConfig.load(write(tmp_path, named)).role == "guardian"  # a name is only a label
    # files written before roles: `kind` is read as the role; no role at all is an ordinary guardian
    assert GuardianConfig.load(write(tmp_path, BASE + 'name = "watch"\n')).role == "guardian"
    assert GuardianConfig.load(write(tmp_path, BASE + 'kind = "watch"\n')).role == "watch"
    assert GuardianConfig.load(write(tmp_path, BASE + 'kind = "guardian"\nrole = "guardian"\n')).role == "guardian"
    with pytest.raises(ConfigError, match="disagree"):
        GuardianConfig.load(write(tmp_path, BASE + 'kind = "guardian"\nrole = "watch"\n'))


def test_defaults_and_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, 'data_dir = "data"\nrouter = "nats://a:1"\ndirectory = "d.json"\n')
    monkeypatch.setenv("GRIDLOCK_ROUTER", "tls://b:2")
    monkeypatch.setenv("GRIDLOCK_DATA_DIR", "/srv/g")
    monkeypatch.delenv("GRIDLOCK_DIRECTORY", raising=False)
    cfg = GuardianConfig.load(path)
    assert cfg.router == "tls://b:2" and cfg.data_dir == Path("/srv/g") and cfg.directory == tmp_path / "d.json"
    assert cfg.recovery_delay == DEFAULT_RECOVERY_DELAY and cfg.role == "guardian" and cfg.max_sessions == 64


BASE = 'data_dir = "."\nrouter = "nats://a:1"\ndirectory = "d.json"\n'


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (BASE + "colour = 1\n", "unknown setting"),
        (BASE.replace("nats://a:1", "http://a:1"), "router must be a nats:// URL"),
        (BASE + 'kind = "oracle"\n', "kind must be one of guardian, watch, enclave"),
        (BASE + 'role = "oracle"\n', "role must be one of guardian, watch, enclave"),
        (BASE + "recovery_delay = -1\n", "recovery_delay 0..30 days"),
        (BASE + "session_timeout = 0\n", "session_timeout must be 1..3600"),
        (BASE + 'max_sessions = "many"\n', "invalid literal"),
        (BASE.replace('directory = "d.json"\n', ""), "directory must be a path"),
        ("router = [\n", "cannot read configuration file"),
    ],
)
def test_bad_config_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, pattern: str) -> None:
    for var in ("GRIDLOCK_DATA_DIR", "GRIDLOCK_ROUTER", "GRIDLOCK_DIRECTORY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigError, match=pattern):
        GuardianConfig.load(write(tmp_path, text))


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        GuardianConfig.load(tmp_path / "nope.toml")


def test_secret_from_environment_or_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = GuardianConfig.load(write(tmp_path, BASE))
    monkeypatch.setenv(SECRET_ENV, "pX7q")
    with pytest.raises(ConfigError, match="shorter than 16 bytes") as info:
        cfg.secret()
    assert "pX7q" not in str(info.value)  # the secret itself is never shown
    monkeypatch.setenv(SECRET_ENV, "s" * 16)
    assert cfg.secret() == b"s" * 16

    (tmp_path / "secret").write_text("f" * 20 + "\n")
    from_file = GuardianConfig.load(write(tmp_path, BASE + 'secret_file = "secret"\n'))
    assert from_file.secret_env is None and from_file.secret() == b"f" * 20
    (tmp_path / "secret").unlink()
    with pytest.raises(ConfigError, match="cannot read the secret file"):
        from_file.secret()


def test_directory_round_trip_and_bad_entries(tmp_path: Path) -> None:
    g, c = Identity.generate(name="g").public, Identity.generate(name="c").public
    path = tmp_path / "directory.json"
    Directory({g.guardian_id: g}, {c.guardian_id: c}).save(path)
    loaded = Directory.load(path)
    assert set(loaded.everyone) == {g.guardian_id, c.guardian_id}
    assert loaded.guardians[g.guardian_id].to_bytes() == g.to_bytes()

    cases = {
        "[]": "expected an object",
        '{"guardians": {}, "others": {}}': "expected an object",
        '{"guardians": []}': "must map ids",
        '{"guardians": {"ab": "zz"}}': "not a public identity",
        f'{{"clients": {{"{g.guardian_id}": "{c.to_bytes().hex()}"}}}}': "holds the keys of",
        "{": "cannot read directory file",
    }
    for text, pattern in cases.items():
        path.write_text(text)
        with pytest.raises(ConfigError, match=pattern):
            Directory.load(path)
    with pytest.raises(ConfigError, match="does not exist"):
        Directory.load(tmp_path / "none.json")
