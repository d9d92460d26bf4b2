"""The SQLite keystore's own properties: encryption at rest (SECURITY #23), erasure on disk,
typed errors for damaged storage, rollback detection, migrations, and no secrets in reprs or
errors (#24).

The store contract it shares with the enclave keystore (two-phase epochs #16, single-use items
#9, session claims, bans, metadata, typed errors for misuse) is tested once for both stores in
``test_store_contract.py``; crash safety (kill -9) lives in ``test_keystore_crash.py``.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gridlock.crypto.keyimport import split
from gridlock.crypto.keyshare import KeyShare
from gridlock.errors import DecodeError, GridlockError, InvalidParameterError
from gridlock.guardian.store import (
    AlreadyUsed,
    BadArgument,
    Corrupted,
    Keystore,
    KeystoreError,
    KeystoreLocked,
    NotFound,
    RollbackDetected,
    UnsupportedVersion,
    WrongSecret,
)
from gridlock.guardian.store import schema as ksmod
from gridlock.guardian.store.rows import Tables
from gridlock.guardian.store.sealing import Sealer
from gridlock.policy.ledger import Entry, EntryKind

# --- fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ed_shares() -> list[KeyShare]:
    return split("frost-ed25519", os.urandom(32), 3, 5)


@pytest.fixture(scope="module")
def other_ed_shares() -> list[KeyShare]:
    return split("frost-ed25519", os.urandom(32), 3, 5)


@pytest.fixture(scope="module")
def ecdsa_shares() -> list[KeyShare]:
    return split("ecdsa-secp256k1", os.urandom(32), 3, 5)


@pytest.fixture
def secret() -> bytes:
    return os.urandom(32)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "guardian.db"


@pytest.fixture
def ks(db: Path, secret: bytes) -> Iterator[Keystore]:
    store = Keystore.open(db, secret)
    yield store
    store.close()


def at(share: KeyShare, epoch: int) -> KeyShare:
    return dataclasses.replace(share, epoch=epoch)


@contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    """Direct SQL access to a closed keystore (to damage it the way a disk or an attacker would)."""
    with closing(sqlite3.connect(path, isolation_level=None)) as con:
        yield con


# SQL expression: the column ``blob`` with its 41st byte changed (to 0x00, or to 0x01 if it was 0x00)
FLIP_BYTE_41 = (
    "CAST(substr(blob, 1, 40) || CASE WHEN substr(blob, 41, 1) = x'00' THEN x'01' ELSE x'00' END"
    " || substr(blob, 42) AS BLOB)"
)


def disk_bytes(path: Path) -> bytes:
    """Everything the keystore has on disk: the database, its WAL/SHM and the generation file."""
    out = b""
    for f in sorted(path.parent.iterdir()):
        if f.name.startswith(path.name) and f.is_file():
            out += f.read_bytes()
    return out


def secret_byte_forms(share: KeyShare) -> list[bytes]:
    raw_scalar = share.scheme_obj.group.scalar_to_bytes(share.secret)
    return [raw_scalar, share.secret.to_bytes(32, "big"), share.secret.to_bytes(32, "little")]


def assert_absent(haystack: bytes, needles: list[bytes]) -> None:
    for n in needles:
        assert len(n) >= 16
        assert n not in haystack, "secret bytes found in the keystore files"
        # also no long fragment (16 bytes) of it
        for i in range(0, len(n) - 15, 8):
            assert n[i : i + 16] not in haystack, "a fragment of secret bytes found in the keystore files"


# --- opening and the secret ----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [b"", b"short", b"\x00" * 32, b"a" * 64, "a text secret of 32 characters!!", None])
def test_weak_or_missing_secret_refused(db: Path, bad: Any) -> None:
    with pytest.raises(BadArgument) as info:
        Keystore.open(db, bad)
    assert isinstance(info.value, InvalidParameterError) and isinstance(info.value, KeystoreError)
    assert not db.exists()


def test_wrong_secret_is_a_typed_error(db: Path, secret: bytes, ed_shares: list[KeyShare]) -> None:
    with Keystore.open(db, secret) as ks:
        ks.store_pending("v", ed_shares[0])
    for wrong in (os.urandom(32), secret[:-1] + bytes([secret[-1] ^ 1]), secret + b"x"):
        with pytest.raises(WrongSecret):
            Keystore.open(db, wrong)
    with Keystore.open(db, secret) as ks:  # a wrong try changes nothing
        assert ks.share("v", 0).to_bytes() == ed_shares[0].to_bytes()


def test_same_secret_gives_different_keys(tmp_path: Path, secret: bytes, ed_shares: list[KeyShare]) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    for p in (a, b):
        with Keystore.open(p, secret) as ks:
            ks.store_pending("v", ed_shares[0])
    with raw(a) as ca, raw(b) as cb:
        salt_a = ca.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()[0]
        salt_b = cb.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()[0]
        assert salt_a != salt_b
        blob_a = ca.execute("SELECT blob FROM shares").fetchone()[0]
        cb.execute("UPDATE shares SET blob = ?", (blob_a,))  # same vault, epoch, secret: other database
    with pytest.raises(Corrupted):  # the row MAC (checked at open) covers the ciphertext
        Keystore.open(b, secret)
    # and below the row MAC, the encryption key itself differs: b's key does not open a's ciphertext
    aad = Sealer(secret, salt_b).aad("shares", "v", 0)
    with pytest.raises(Corrupted):
        Sealer(secret, salt_b).open(blob_a, aad, "share")
    assert Sealer(secret, salt_a).open(blob_a, Sealer(secret, salt_a).aad("shares", "v", 0), "share")


def test_missing_file_without_create(tmp_path: Path, secret: bytes) -> None:
    with pytest.raises(NotFound):
        Keystore.open(tmp_path / "nope.db", secret, create=False)
    assert not (tmp_path / "nope.db").exists()
    with pytest.raises(BadArgument):
        Keystore.open(tmp_path, secret)


def test_second_opener_is_locked_out(ks: Keystore, db: Path, secret: bytes) -> None:
    with pytest.raises(KeystoreLocked):
        Keystore.open(db, secret)
    ks.put_identity(b"still works")
    assert ks.get_identity() == b"still works"


def test_file_permissions_are_private(ks: Keystore, db: Path) -> None:
    ks.put_identity(b"identity")
    assert db.stat().st_mode & 0o077 == 0
    assert (db.parent / (db.name + ".generation")).stat().st_mode & 0o077 == 0


# --- erasure of retired shares and used items ---------------------------------------------------------


def test_retired_share_is_erased_at_once(ks: Keystore, db: Path, secret: bytes, ed_shares: list[KeyShare]) -> None:
    ks.store_pending("v", ed_shares[0])
    ks.activate("v", 0)
    ks.close()
    with raw(db) as con:
        old_ct = con.execute("SELECT blob FROM shares WHERE epoch = 0").fetchone()[0]
    assert old_ct in disk_bytes(db)
    with Keystore.open(db, secret) as ks2:
        ks2.store_pending("v", at(ed_shares[0], 1))
        ks2.activate("v", 1)
        assert old_ct not in disk_bytes(db)  # not in the database, not in the WAL, while open
    assert old_ct not in disk_bytes(db)
    with raw(db) as con:
        assert con.execute("SELECT state, blob FROM shares WHERE epoch = 0").fetchone() == ("retired", None)


def test_take_erases_the_ciphertext(db: Path, secret: bytes, ed_shares: list[KeyShare]) -> None:
    with Keystore.open(db, secret) as ks:
        ks.store_pending("v", ed_shares[0])
        ks.add_presignatures("v", 0, [(b"p", os.urandom(200)), (b"q", os.urandom(200))])
    with raw(db) as con:
        ct = con.execute("SELECT blob FROM items WHERE item_id = x'70'").fetchone()[0]
    with Keystore.open(db, secret) as ks:
        ks.take_presignature("v", 0, b"p")
        ks.checkpoint()
        assert ct not in disk_bytes(db)
    assert ct not in disk_bytes(db)
    with raw(db) as con:
        assert con.execute("SELECT used, blob FROM items WHERE item_id = x'70'").fetchone() == (1, None)


def test_public_records_need_no_share_decryption(
    db: Path, secret: bytes, ed_shares: list[KeyShare], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vault list and the metadata are read without decrypting a share (the row MACs
    authenticate them), and opening checks every share row without decrypting one either."""
    with Keystore.open(db, secret) as ks:
        ks.store_pending("a-vault", ed_shares[0], metadata={"label": "cold", "n": 5})
        ks.activate("a-vault", 0)
        ks.store_pending("b-vault", ed_shares[1])
        ks.put_identity(b"identity")

    def no_decryption(self: Sealer, blob: object, aad: bytes, what: str) -> bytes:
        assert what == "key check value", f"decrypted the {what}"
        return real_open(self, blob, aad, what)

    real_open = Sealer.open
    monkeypatch.setattr(Sealer, "open", no_decryption)
    with Keystore.open(db, secret) as ks:
        assert [r.vault_id for r in ks.vaults()] == ["a-vault", "b-vault"]
        assert ks.metadata("a-vault") == {"label": "cold", "n": 5}
        with pytest.raises(AssertionError, match="decrypted the share"):
            ks.active_share("a-vault")


# --- byte flips in share rows are found at open (issue 18, finding 7) ----------------------------------------


SHARE_COLUMNS = ("vault_id", "epoch", "state", "idx", "threshold", "participants", "transcript_hash", "blob", "mac")


def test_attack_any_flipped_byte_of_a_share_row_is_found_at_open(
    tmp_path: Path, secret: bytes, ed_shares: list[KeyShare]
) -> None:
    """Every byte of the sealed share (and a change to any other column of the row) makes opening
    fail with Corrupted — before the guardian serves anything, not when the share is next used."""
    db = tmp_path / "g.db"
    with Keystore.open(db, secret) as ks:
        ks.store_pending("v", ed_shares[0], metadata={"k": "v"})
        ks.activate("v", 0)
    gen = db.parent / (db.name + ".generation")
    pristine, gen_bytes = db.read_bytes(), gen.read_bytes()
    with raw(db) as con:
        (size,) = con.execute("SELECT length(blob) FROM shares").fetchone()
    assert size > 100
    edits = [f"UPDATE shares SET blob = {_flip_at(i)}" for i in range(1, size + 1)]
    edits += [
        "UPDATE shares SET epoch = 1",
        "UPDATE shares SET idx = idx + 1",
        "UPDATE shares SET threshold = threshold - 1",
        "UPDATE shares SET participants = '[1,2,3,4]'",
        "UPDATE shares SET transcript_hash = " + _flip_at(5, "transcript_hash"),
        "UPDATE shares SET mac = " + _flip_at(1, "mac"),
        "UPDATE shares SET vault_id = 'w'",  # a share row of no vault
    ]
    for sql in edits:
        db.write_bytes(pristine)
        gen.write_bytes(gen_bytes)
        with raw(db) as con:
            con.execute("PRAGMA foreign_keys = OFF")
            assert con.execute(sql).rowcount == 1, sql
        with pytest.raises(Corrupted):
            Keystore.open(db, secret).close()
    db.write_bytes(pristine)
    gen.write_bytes(gen_bytes)
    with Keystore.open(db, secret) as ks:  # the pristine copy still opens and serves
        assert ks.active_share("v").to_bytes() == ed_shares[0].to_bytes()


def _flip_at(i: int, column: str = "blob") -> str:
    """SQL: ``column`` with its ``i``-th byte (1-based) changed."""
    return (
        f"CAST(substr({column}, 1, {i - 1}) || CASE WHEN substr({column}, {i}, 1) = x'00' THEN x'01' ELSE x'00' END"
        f" || substr({column}, {i + 1}) AS BLOB)"
    )


def test_version_3_share_rows_gain_the_whole_row_mac(db: Path, secret: bytes, ed_shares: list[KeyShare]) -> None:
    """A database written before schema version 4 (share MACs over the public columns only) is
    upgraded at open: each share is checked (its ciphertext decrypted once) and re-MACed."""
    with Keystore.open(db, secret) as ks:
        ks.store_pending("v", ed_shares[0])
        ks.activate("v", 0)
        ks.store_pending("v", at(ed_shares[0], 1))
        ks.activate("v", 1)  # epoch 0 is a retired tombstone (no ciphertext)
        ks.store_pending("v", at(ed_shares[0], 2))
    _as_version_3(db, secret)
    with Keystore.open(db, secret) as ks:
        assert ks.active_share("v").epoch == 1 and ks.share("v", 2).epoch == 2
    with raw(db) as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (4,)
        con.execute("UPDATE shares SET blob = " + FLIP_BYTE_41 + " WHERE epoch = 2")
    with pytest.raises(Corrupted):
        Keystore.open(db, secret)


def test_version_3_migration_refuses_a_damaged_share(db: Path, secret: bytes, ed_shares: list[KeyShare]) -> None:
    """The upgrade never blesses a damaged ciphertext with a new MAC."""
    with Keystore.open(db, secret) as ks:
        ks.store_pending("v", ed_shares[0])
    _as_version_3(db, secret)
    with raw(db) as con:
        con.execute("UPDATE shares SET blob = " + FLIP_BYTE_41)
    with pytest.raises(Corrupted):
        Keystore.open(db, secret)
    with raw(db) as con:  # nothing was upgraded
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (3,)


def _as_version_3(db: Path, secret: bytes) -> None:
    """Rewrite a closed keystore as a version-3 guardian left it: share MACs without the ciphertext."""
    with raw(db) as con:
        salt = con.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()[0]
        tables = Tables(Sealer(secret, salt))
        for (vault_id,) in con.execute("SELECT vault_id FROM vaults").fetchall():
            for r in tables.shares(con, vault_id):
                mac = tables._share_mac(r, legacy=True)
                con.execute("UPDATE shares SET mac = ? WHERE vault_id = ? AND epoch = ?", (mac, vault_id, r.epoch))
        con.execute("UPDATE meta SET value = 3 WHERE key = 'schema_version'")


# --- nothing secret on disk (SECURITY #23) --------------------------------------------------------------------


def test_no_plaintext_secret_in_the_files(
    db: Path, secret: bytes, ed_shares: list[KeyShare], ecdsa_shares: list[KeyShare]
) -> None:
    identity = os.urandom(64)
    items = [(os.urandom(8), os.urandom(96)) for _ in range(5)]
    nonces = [(os.urandom(8), os.urandom(64)) for _ in range(5)]
    ks = Keystore.open(db, secret)
    ks.put_identity(identity)
    ks.store_pending("ed", ed_shares[0])
    ks.activate("ed", 0)
    ks.store_pending("ed", at(ed_shares[0], 1))  # pending
    ks.store_pending("ec", ecdsa_shares[1])
    ks.activate("ec", 0)
    ks.add_presignatures("ec", 0, items)
    ks.add_nonces("ed", 0, nonces)
    ks.take_presignature("ec", 0, items[0][0])
    wal = db.parent / (db.name + "-wal")
    assert wal.exists() and wal.stat().st_size > 0  # the secrets went through the WAL too

    with raw_salt_after_close(ks, db) as salt:
        dek = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=salt, info=b"gridlock/keystore/v1/data-encryption-key"
        ).derive(secret)

    needles = [secret, dek, identity]
    for s in (ed_shares[0], at(ed_shares[0], 1), ecdsa_shares[1]):
        needles += secret_byte_forms(s)
        needles.append(s.chain_code)  # only ever inside the encrypted share
    needles += [blob for _, blob in items + nonces]
    files_open = disk_bytes(db)  # captured while open (see raw_salt_after_close)
    assert_absent(files_open, needles)
    assert_absent(disk_bytes(db), needles)


@contextmanager
def raw_salt_after_close(ks: Keystore, db: Path) -> Iterator[bytes]:
    """Snapshot the files while open (asserted by the caller via disk_bytes) then read the salt."""
    snapshot = disk_bytes(db)
    ks.close()
    assert snapshot
    with raw(db) as con:
        yield con.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()[0]


# --- ciphertexts bound to their rows -------------------------------------------------------------------------


def test_ciphertext_moved_to_another_row_fails(db: Path, secret: bytes, ed_shares: list[KeyShare]) -> None:
    with Keystore.open(db, secret) as ks:
        ks.put_identity(b"identity blob")
        for v in ("a", "b"):
            ks.store_pending(v, ed_shares[0])
            ks.activate(v, 0)
        ks.store_pending("a", at(ed_shares[0], 1))
        ks.add_presignatures("a", 0, [(b"x", b"presig x"), (b"y", b"presig y")])
        ks.add_nonces("a", 0, [(b"x", b"nonce x.")])

    cases = [
        # (target row, source row) as SQL
        (
            "UPDATE shares SET blob = (SELECT blob FROM shares WHERE vault_id = 'a' AND epoch = 0)"
            " WHERE vault_id = 'b' AND epoch = 0"
        ),
        (
            "UPDATE shares SET blob = (SELECT blob FROM shares WHERE vault_id = 'a' AND epoch = 0)"
            " WHERE vault_id = 'a' AND epoch = 1"
        ),
        (
            "UPDATE items SET blob = (SELECT blob FROM items WHERE item_id = x'78' AND kind = 'presignature')"
            " WHERE item_id = x'79'"
        ),
        (
            "UPDATE items SET blob = (SELECT blob FROM items WHERE item_id = x'78' AND kind = 'presignature')"
            " WHERE kind = 'nonce'"
        ),
        "UPDATE shares SET blob = (SELECT blob FROM identity) WHERE vault_id = 'b'",
        "UPDATE identity SET blob = (SELECT blob FROM items WHERE item_id = x'78' AND kind = 'nonce')",
    ]
    checks: list[Callable[[Keystore], object] | None] = [
        None,
        None,
        lambda ks: ks.take_presignature("a", 0, b"y"),
        lambda ks: ks.take_nonce("a", 0, b"x"),
        None,
        lambda ks: ks.get_identity(),
    ]
    pristine = db.read_bytes()
    gen = db.parent / (db.name + ".generation")
    gen_bytes = gen.read_bytes()
    for sql, check in zip(cases, checks, strict=True):
        db.write_bytes(pristine)
        gen.write_bytes(gen_bytes)
        with raw(db) as con:
            assert con.execute(sql).rowcount == 1
        if check is None:  # a share row: its MAC covers the ciphertext, checked at open
            with pytest.raises(Corrupted):
                Keystore.open(db, secret)
            continue
        with Keystore.open(db, secret) as ks:
            with pytest.raises(Corrupted):
                check(ks)
            # nothing else was disturbed, and a failed take consumed nothing
            assert ks.active_share("a").epoch == 0
            assert ks.count_unused("a", 0) == 2


# --- damaged storage: typed errors, never garbage --------------------------------------------------------------


def populated(db: Path, secret: bytes, ed_shares: list[KeyShare]) -> None:
    with Keystore.open(db, secret) as ks:
        ks.put_identity(b"identity" * 8)
        ks.store_pending("v", ed_shares[0], metadata={"k": "v"})
        ks.activate("v", 0)
        ks.store_pending("v", at(ed_shares[0], 1))
        ks.add_presignatures("v", 0, [(bytes([i]), item_blob(i)) for i in range(20)])


def item_blob(i: int) -> bytes:
    return bytes([i]) * 16 + b"presignature secret of 48 bytes."


@pytest.mark.parametrize(
    ("sql", "call", "error"),
    [
        ("UPDATE shares SET blob = " + FLIP_BYTE_41 + " WHERE epoch = 0", "open", Corrupted),
        ("UPDATE shares SET threshold = 2 WHERE epoch = 0", "open", Corrupted),
        ("UPDATE shares SET participants = 'not json' WHERE epoch = 1", "open", Corrupted),
        ("UPDATE shares SET idx = 'x' WHERE epoch = 1", "open", Corrupted),
        ("UPDATE shares SET state = 'pending' WHERE epoch = 0", "open", Corrupted),
        ("UPDATE vaults SET public_key = x'00'", "open", Corrupted),
        ('UPDATE vaults SET metadata = \'{"k":"w"}\'', "open", Corrupted),
        ("UPDATE items SET blob = x'01' WHERE item_id = x'03'", "take", Corrupted),
        ("UPDATE items SET used = 0 WHERE item_id = x'05'", "take-used-open", Corrupted),
        ("UPDATE identity SET blob = 'text'", "identity", Corrupted),
        ("DROP TABLE items", "take", Corrupted),
        ("UPDATE meta SET value = 'garbage' WHERE key = 'salt'", "open", Corrupted),
        ("DELETE FROM meta WHERE key = 'kcv'", "open", Corrupted),
        ("UPDATE meta SET value = x'0102' WHERE key = 'kcv'", "open", WrongSecret),
        ("UPDATE meta SET value = 'x' WHERE key = 'generation'", "open", Corrupted),
        ("UPDATE meta SET value = 99 WHERE key = 'schema_version'", "open", UnsupportedVersion),
        ("UPDATE meta SET value = 'other' WHERE key = 'format'", "open", Corrupted),
    ],
)
def test_damaged_records_give_typed_errors(
    db: Path, secret: bytes, ed_shares: list[KeyShare], sql: str, call: str, error: type[Exception]
) -> None:
    populated(db, secret, ed_shares)
    if call.startswith("take-used"):
        with Keystore.open(db, secret) as ks:
            ks.take_presignature("v", 0, b"\x05")
    with raw(db) as con:
        con.execute("PRAGMA ignore_check_constraints = ON")
        con.execute(sql)
    if call.endswith("open"):  # (the integrity check at open also verifies the CHECK constraints)
        with pytest.raises(error):
            Keystore.open(db, secret)
        return
    with Keystore.open(db, secret) as ks:
        action = {
            "active": lambda: ks.active_share("v"),
            "vaults": ks.vaults,
            "metadata": lambda: ks.metadata("v"),
            "take": lambda: ks.take_presignature("v", 0, b"\x03"),
            "identity": ks.get_identity,
        }[call]
        with pytest.raises(error) as info:
            action()
        assert isinstance(info.value, KeystoreError)


@pytest.mark.parametrize("cut", ["empty", "header", "half", "last-page", "garbage"])
def test_truncated_or_foreign_file(db: Path, secret: bytes, ed_shares: list[KeyShare], cut: str) -> None:
    populated(db, secret, ed_shares)
    data = db.read_bytes()
    assert len(data) > 8192
    new = {
        "empty": b"",
        "header": data[:50],
        "half": data[: len(data) // 2],
        "last-page": data[:-4096],
        "garbage": os.urandom(len(data)),
    }[cut]
    db.write_bytes(new)
    with pytest.raises(Corrupted), Keystore.open(db, secret) as ks:
        ks.vaults()
        ks.active_share("v")
        ks.unused_ids("v", 0)
        ks.get_identity()


def test_random_damage_never_yields_garbage(tmp_path: Path, secret: bytes, ed_shares: list[KeyShare]) -> None:
    """Flip random bits of a populated keystore: every call either returns exactly what was
    stored or raises a KeystoreError — never another exception, never wrong data."""
    src = tmp_path / "src" / "g.db"
    src.parent.mkdir()
    populated(src, secret, ed_shares)
    with Keystore.open(src, secret) as ks:
        expected_share = ks.active_share("v").to_bytes()
        expected_pending = ks.share("v", 1).to_bytes()
        expected_identity = ks.get_identity()
    pristine = src.read_bytes()
    gen = src.parent / (src.name + ".generation")
    rng = random.Random(1234)
    opened = failed = 0
    for trial in range(60):
        work = tmp_path / f"t{trial}" / "g.db"
        work.parent.mkdir()
        data = bytearray(pristine)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        work.write_bytes(bytes(data))
        shutil.copy(gen, work.parent / (work.name + ".generation"))
        try:
            with Keystore.open(work, secret) as ks:
                opened += 1
                for fn, want in (
                    (lambda: ks.active_share("v").to_bytes(), expected_share),
                    (lambda: ks.share("v", 1).to_bytes(), expected_pending),
                    (ks.get_identity, expected_identity),
                    (lambda: ks.vault("v").public_key, ed_shares[0].public_key),
                ):
                    try:
                        assert fn() == want
                    except KeystoreError:
                        failed += 1
                for i in range(20):
                    try:
                        assert ks.take_presignature("v", 0, bytes([i])) == item_blob(i)
                    except KeystoreError:
                        failed += 1
        except KeystoreError:
            failed += 1
    assert opened > 0 and failed > 0


# --- restoring an old copy (SECURITY #9: never restored from backup) -------------------------------------------


def test_restored_old_copy_is_detected_and_burns_single_use_items(
    db: Path, secret: bytes, ed_shares: list[KeyShare]
) -> None:
    with Keystore.open(db, secret) as ks:
        ks.store_pending("v", ed_shares[0])
        ks.activate("v", 0)
        ks.add_presignatures("v", 0, [(b"p", b"presignature p"), (b"q", b"presignature q")])
        ks.add_nonces("v", 0, [(b"n", b"nonce n.......")])
    backup = db.read_bytes()
    with Keystore.open(db, secret) as ks:
        assert ks.take_presignature("v", 0, b"p") == b"presignature p"
    db.write_bytes(backup)  # the operator restores yesterday's database file
    with pytest.raises(RollbackDetected):
        Keystore.open(db, secret)
    with Keystore.open(db, secret, accept_rollback=True) as ks:
        assert ks.recovered_from_rollback
        assert ks.count_unused("v", 0) == 0
        assert ks.count_unused("v", 0, "nonce") == 0
        with pytest.raises(AlreadyUsed):
            ks.take_presignature("v", 0, b"p")
        with pytest.raises(AlreadyUsed):
            ks.take_presignature("v", 0, b"q")
        assert ks.active_share("v").epoch == 0  # the shares survive
        ks.add_presignatures("v", 0, [(b"r", b"fresh presignature")])
    with Keystore.open(db, secret) as ks:  # back to normal
        assert not ks.recovered_from_rollback
        assert ks.take_presignature("v", 0, b"r") == b"fresh presignature"


def test_missing_or_foreign_generation_file(tmp_path: Path, secret: bytes, ed_shares: list[KeyShare]) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    for p in (a, b):
        with Keystore.open(p, secret) as ks:
            ks.store_pending("v", ed_shares[0])
    gen_a, gen_b = (p.parent / (p.name + ".generation") for p in (a, b))
    gen_a.unlink()
    with pytest.raises(RollbackDetected):
        Keystore.open(a, secret)
    shutil.copy(gen_b, gen_a)
    with pytest.raises(RollbackDetected):
        Keystore.open(a, secret)
    gen_a.write_bytes(b"\x00" * 80)
    with pytest.raises(Corrupted):
        Keystore.open(a, secret)


def test_documented_limitation_restoring_both_files_is_not_detected(
    db: Path, secret: bytes, ed_shares: list[KeyShare]
) -> None:
    """Pins the limitation stated in the module docstring: restoring the database *and* its
    generation file together (a full disk snapshot) cannot be detected from inside the machine."""
    gen = db.parent / (db.name + ".generation")
    with Keystore.open(db, secret) as ks:
        ks.store_pending("v", ed_shares[0])
        ks.add_presignatures("v", 0, [(b"p", b"presignature p")])
    backup, gen_backup = db.read_bytes(), gen.read_bytes()
    with Keystore.open(db, secret) as ks:
        ks.take_presignature("v", 0, b"p")
    db.write_bytes(backup)
    gen.write_bytes(gen_backup)
    with Keystore.open(db, secret) as ks:
        assert ks.count_unused("v", 0) == 1


# --- schema versions and the migration hook --------------------------------------------------------------------
def test_version_1_database_gains_the_session_claims(db: Path, secret: bytes, ed_shares: list[KeyShare]) -> None:
    with Keystore.open(db, secret) as ks:
        ks.put_identity(b"identity")
    with raw(db) as con:  # what a version-1 guardian wrote: no sessions table (nor a ledger)
        con.execute("DROP TABLE sessions")
        con.execute("DROP TABLE ledger")
        con.execute("UPDATE meta SET value = 1 WHERE key = 'schema_version'")
    share = ed_shares[0]
    with Keystore.open(db, secret) as ks:
        assert ks.get_identity() == b"identity"
        ks.store_pending("v", share)
        ks.claim_session("v", share.epoch, b"s" * 32)
        with pytest.raises(AlreadyUsed):
            ks.claim_session("v", share.epoch, b"s" * 32)
    with raw(db) as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (ksmod.SCHEMA_VERSION,)


def test_version_2_database_gains_the_policy_ledger(db: Path, secret: bytes, ed_shares: list[KeyShare]) -> None:
    v2_policy = {  # what a version-2 guardian kept: the history in the metadata, no ledger table
        "rules": {"limits": {"ethereum": {"amount": 10, "period": 60}}},
        "history": [[3, "ethereum", 7, [], "t0"], [4, "", 0, []], ["bad"]],
        "seen": {"ethereum": ["0xfriend"]},
    }
    with Keystore.open(db, secret) as ks:
        ks.store_pending("v", ed_shares[0], metadata={"members": {}, "policy": v2_policy})
    with raw(db) as con:
        con.execute("DROP TABLE ledger")
        con.execute("UPDATE meta SET value = 2 WHERE key = 'schema_version'")
    with Keystore.open(db, secret) as ks:
        carried = ks.ledger("v", 0)
        assert Entry(3, EntryKind.TRANSFER, "t0", "ethereum", "", "", 7) in carried  # limits keep counting
        assert sum(e.kind is EntryKind.SIGNATURE for e in carried) == 2  # and rates
        assert ks.paid_before("v", "ethereum", ["0xfriend"], before=1) == frozenset({"0xfriend"})
        ks.set_metadata("v", None, ledger=[Entry(5, EntryKind.SIGNATURE, "t", "ethereum")])
        assert ks.ledger("v", 5) == [Entry(5, EntryKind.SIGNATURE, "t", "ethereum")]


def test_an_edited_ledger_row_is_corruption_not_a_smaller_spend(
    db: Path, secret: bytes, ed_shares: list[KeyShare]
) -> None:
    with Keystore.open(db, secret) as ks:
        ks.store_pending("v", ed_shares[0])
        ks.set_metadata("v", None, ledger=[Entry(5, EntryKind.TRANSFER, "t", "ethereum", "0xabc", "", 10**18)])
        assert ks.paid_before("v", "ethereum", ["0xabc", "0xdef"], before=5) == frozenset({"0xabc"})
        assert ks.paid_before("v", "ethereum", ["0xabc"], before=4) == frozenset()  # paid only at 5
    with raw(db) as con:  # somebody with the disk rewrites the day's spending to 1 wei
        con.execute("UPDATE ledger SET amount = '1'")
    with Keystore.open(db, secret) as ks, pytest.raises(Corrupted):
        ks.ledger("v", 0)


def test_migration_hook_runs_once(db: Path, secret: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    with Keystore.open(db, secret) as ks:
        ks.put_identity(b"identity")
    calls: list[int] = []
    current = ksmod.SCHEMA_VERSION

    def to_next(tables: Tables, con: sqlite3.Connection) -> None:
        assert isinstance(tables, Tables)  # the keystore's row codec (tables.sealer re-encrypts)
        calls.append(1)
        con.execute("CREATE TABLE audit (x INTEGER)")

    monkeypatch.setattr(ksmod, "SCHEMA_VERSION", current + 1)
    monkeypatch.setattr(ksmod, "MIGRATIONS", {current: to_next})
    with Keystore.open(db, secret) as ks:
        assert ks.get_identity() == b"identity"
    with Keystore.open(db, secret) as ks:
        pass
    assert calls == [1]
    with raw(db) as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (current + 1,)
        con.execute("SELECT x FROM audit")
    monkeypatch.setattr(ksmod, "SCHEMA_VERSION", current)
    with pytest.raises(UnsupportedVersion):
        Keystore.open(db, secret)  # a newer database than the code


def test_missing_migration_is_refused(db: Path, secret: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    Keystore.open(db, secret).close()
    monkeypatch.setattr(ksmod, "SCHEMA_VERSION", ksmod.SCHEMA_VERSION + 1)
    monkeypatch.setattr(ksmod, "MIGRATIONS", {1: lambda store, con: None})
    with pytest.raises(UnsupportedVersion):
        Keystore.open(db, secret)


# --- no secrets in reprs and error messages (SECURITY #24) -------------------------------------------------------


def test_reprs_and_errors_hold_no_secrets(
    tmp_path: Path, secret: bytes, ed_shares: list[KeyShare], ecdsa_shares: list[KeyShare]
) -> None:
    db = tmp_path / "g.db"
    item_secret = os.urandom(48)
    identity = os.urandom(48)
    texts: list[str] = []

    def collect(fn: Any) -> None:
        try:
            fn()
        except GridlockError as exc:
            assert isinstance(exc, KeystoreError | DecodeError)
            texts.extend([str(exc), repr(exc), str(exc.__cause__), str(exc.__context__)])

    ks = Keystore.open(db, secret)
    texts.append(repr(ks))
    ks.put_identity(identity)
    ks.store_pending("v", ed_shares[0])
    ks.activate("v", 0)
    ks.add_presignatures("v", 0, [(b"p", item_secret)])
    ks.take_presignature("v", 0, b"p")
    texts += [repr(r) for r in ks.vaults()]
    collect(lambda: ks.take_presignature("v", 0, b"p"))
    collect(lambda: ks.add_presignatures("v", 0, [(b"p", item_secret)]))
    collect(lambda: ks.store_pending("v", ed_shares[0]))
    collect(lambda: ks.store_pending("v", at(ecdsa_shares[0], 4)))
    collect(lambda: ks.update_share("v", 0, ed_shares[1]))
    collect(lambda: ks.put_identity(identity))
    collect(lambda: Keystore.open(db, secret))
    ks.close()
    collect(lambda: Keystore.open(db, os.urandom(32)))
    collect(lambda: Keystore.open(db, secret[:8]))
    with raw(db) as con:
        con.execute("UPDATE identity SET blob = " + FLIP_BYTE_41)
    with Keystore.open(db, secret) as ks2:
        collect(ks2.get_identity)
        texts.append(repr(ks2))
    with raw(db) as con:
        con.execute("UPDATE shares SET blob = " + FLIP_BYTE_41)
    collect(lambda: Keystore.open(db, secret))
    db.write_bytes(db.read_bytes()[:3000])
    collect(lambda: Keystore.open(db, secret))
    assert len(texts) > 20
    blob = "\n".join(texts).lower()
    forbidden = [secret, item_secret, identity]
    for s in (ed_shares[0], ed_shares[1], ecdsa_shares[0]):
        forbidden += secret_byte_forms(s)
    for f in forbidden:
        for form in (f.hex(), repr(f)[2:-1].lower(), f[:12].hex()):
            assert form not in blob
    for s in (ed_shares[0], ecdsa_shares[0]):
        assert str(s.secret) not in blob
        assert format(s.secret, "x") not in blob
