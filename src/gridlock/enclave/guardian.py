"""The enclave guardian: a guardian whose shares and identity live in the custody contract.

It is an ordinary :class:`~gridlock.guardian.node.GuardianNode` (same protocols, same owner checks)
whose store is :class:`~gridlock.enclave.keystore.EnclaveKeystore`: every share, presignature and
the guardian's own identity keys are written to and read from the custody contract only as Secret
Network encrypted messages, and the contract state is replicated as ciphertext by every enclave
node — delete any one node and nothing is lost.

How it reaches the network.  Only through an LCD URL (:class:`~gridlock.enclave.lcd_client.LcdClient`):
queries over HTTP, executes as ``MsgExecuteContract`` transactions signed in SIGN_MODE_DIRECT with
the guardian's *account key* (:func:`account_key`: derived from its key-encryption secret, so the
key is never a file; the network authenticates the sender from the signature, checks the account
number and spends the sequence).  What it trusts is pinned: the custody contract's address and
code hash (:data:`PINNED_CODE_HASH`, the hash of the contract code it ships) and the network's io
public key.  With a file ``<data_dir>/secret-network.toml``
(:class:`~gridlock.enclave.lcd_client.SecretNetworkEndpoint`: URL, chain id, contract, code hash, io
key) the guardian uses that network — a real Secret Network once the contract is ported to
CosmWasm (docs/ENCLAVE.md); its account must be funded there (``python -m gridlock.enclave.guardian
account --config FILE`` prints its address).  Without it, the guardian starts the local emulated
network (:mod:`gridlock.enclave.network`, three nodes in ``<data_dir>/secret-network``) and its LCD
on ``127.0.0.1``, funds its account there, and talks to it over the same HTTP path.

Where the share is used (documented, not hidden): the protocol rounds run in this guardian's
process, but for FROST vaults the steps that need the share — the signing nonces and signature
share, a refresh's new share, a reshare's dealing and new share, a repair's parts, sum and rebuilt
share — run in the custody contract (:mod:`gridlock.enclave.contract_frost`,
:mod:`gridlock.enclave.contract_keychange`, through :class:`gridlock.enclave.signer.ContractShares`);
the process holds the share's public data only, and what other guardians send it for a key change is
sealed to the contract's custody key, which its identity carries.  The DKG makes the share in the
process (it is stored when made), an export leaves the contract sealed to the owner's device, and
threshold-ECDSA (DKLs23) shares are used in the process: its presigning keeps ~12 KB of OT state per co-signer and
runs OT extensions over three rounds, which as contract executes would rewrite all that state each
round at a gas cost far beyond a block's.  What the host's disk and the enclave network's storage
ever see is ciphertext.  The network's emulated hardware derives from the guardian's
key-encryption secret (as the SQLite keystore's key does), so a copy of the data directory opens
nothing; its monotonic counter is ``secret-network.generation`` beside the network.  Real SGX
(sealing, remote attestation, the contract as Wasm) is emulated by :mod:`gridlock.enclave.network`.

Run one as a process: ``python -m gridlock.enclave.guardian run --config FILE`` (a guardian TOML
configuration).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gridlock.chains.cosmos import address
from gridlock.enclave.contract import CUSTODY_CODE_HASH
from gridlock.enclave.cosmos_tx import public_key_of
from gridlock.enclave.keystore import EnclaveKeystore
from gridlock.enclave.lcd import LcdServer
from gridlock.enclave.lcd_client import LcdClient, SecretNetworkEndpoint
from gridlock.enclave.network import LocalSecretNetwork
from gridlock.guardian.__main__ import main as guardian_main
from gridlock.guardian.config import GuardianConfig
from gridlock.guardian.store import ShareStore

NODES = 3
ENDPOINT_FILE: Final = "secret-network.toml"
_N: Final = 0xFFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFE_BAAEDCE6_AF48A03B_BFD25E8C_D0364141  # secp256k1 order


def account_key(secret: bytes | str, name: str) -> bytes:
    """The guardian's Secret Network account key (secp256k1): HKDF-SHA256 of its key-encryption
    secret, bound to its name.  Never written anywhere; the same secret gives the same account."""
    ikm = secret.encode() if isinstance(secret, str) else bytes(secret)
    for counter in range(256):  # a value outside [1, n) is vanishingly rare; try the next
        okm = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=b"gridlock enclave guardian account key v1",
            info=name.encode() + bytes([counter]),
        ).derive(ikm)
        if 0 < int.from_bytes(okm, "big") < _N:
            return okm
    raise AssertionError("unreachable")


def account(secret: bytes | str, name: str) -> str:
    """The guardian's account address (``secret1…``) — what to fund on a real network."""
    return address(public_key_of(account_key(secret, name)))


class OwnedEnclaveStore(EnclaveKeystore):
    """An enclave store that also owns the local enclave network and LCD it runs on (stopped on close)."""

    network: LocalSecretNetwork | None = None
    lcd: LcdServer | None = None

    def close(self) -> None:
        super().close()
        if self.lcd is not None:
            self.lcd.stop()
            self.lcd = None
        if self.network is not None:
            self.network.stop()
            self.network = None


PINNED_CODE_HASH: Final = CUSTODY_CODE_HASH
"""The custody contract code hash the enclave guardian accepts: that of the contract it ships."""


def open_remote_store(endpoint: SecretNetworkEndpoint, name: str, secret: bytes | str) -> ShareStore:
    """The guardian's store in the custody contract of the network ``endpoint`` names (io key and
    code hash as pinned there), executing as :func:`account`."""
    client = LcdClient.connect(endpoint, account_key(secret, name))
    return EnclaveKeystore.open(client, sender=client.address, contract=endpoint.contract, code_hash=endpoint.code_hash)


def open_network_store(
    network_dir: Path, name: str, secret: bytes | str, *, code_hash: str = PINNED_CODE_HASH
) -> ShareStore:
    """The guardian's custody-contract store in the local enclave network kept in ``network_dir``
    (started, or resumed, here with the guardian's ``secret``, with its LCD on ``127.0.0.1``;
    both stopped when the store closes).  The guardian reaches it only through the LCD, with
    signed transactions; a custody contract whose code hash is not ``code_hash`` is refused."""
    net = LocalSecretNetwork.start(nodes=NODES, data_dir=network_dir, secret=secret)
    lcd = LcdServer(net)
    try:
        lcd.start()
        key = account_key(secret, name)
        net.create_account(address(public_key_of(key)))  # the local faucet
        endpoint = SecretNetworkEndpoint(
            url=lcd.url,
            chain_id=net.chain_id,
            contract=net.custody_address,
            code_hash=code_hash,
            io_key=net.consensus_io_pubkey,
        )
        client = LcdClient.connect(endpoint, key)
        store = OwnedEnclaveStore.open(client, sender=client.address, contract=endpoint.contract, code_hash=code_hash)
    except BaseException:
        lcd.stop()
        net.stop()
        raise
    assert isinstance(store, OwnedEnclaveStore)
    store.network, store.lcd = net, lcd
    return store


def open_store_at(data_dir: Path, name: str, secret: bytes | str) -> ShareStore:
    """The enclave guardian's store for a guardian data directory: the network named in
    ``secret-network.toml`` there, or else the local one in ``secret-network/``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if (data_dir / ENDPOINT_FILE).is_file():
        return open_remote_store(SecretNetworkEndpoint.load(data_dir / ENDPOINT_FILE), name, secret)
    return open_network_store(data_dir / "secret-network", name, secret)


def open_store(cfg: GuardianConfig) -> ShareStore:
    return open_store_at(cfg.data_dir, cfg.name, cfg.secret())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["account"]:  # print the account address to fund on a real network
        if len(args) != 3 or args[1] != "--config":
            print("usage: python -m gridlock.enclave.guardian account --config FILE", file=sys.stderr)
            return 2
        cfg = GuardianConfig.load(args[2])
        print(account(cfg.secret(), cfg.name))
        return 0
    return guardian_main(argv, prog="python -m gridlock.enclave.guardian", description=__doc__, open_store=open_store)


if __name__ == "__main__":
    sys.exit(main())
