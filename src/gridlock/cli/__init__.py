"""The ``gridlock`` command line: a devnet in one command, vaults, addresses, signing, owner security.

Design
======

**A devnet is a directory** (``--dir``, else ``$GRIDLOCK_HOME``, else ``~/.gridlock/devnet``):
the state file, the owner's encrypted keyring, ``directory.json`` (public identities), the vault
book and one data directory per guardian (:mod:`gridlock.devnet.layout` lists it all).

**Or a profile of one's own guardians** (``gridlock init``, :mod:`gridlock.cli.profile`): the same
owner files (keyring, directory, vault book) with the router's URL and the owner's NATS key instead of a
devnet.  Commands see either through one :class:`~gridlock.cli.profile.Profile` (where the guardians
are, how to reach them); a devnet is not for real funds (its keyring holds every guardian's secret).

**It outlives each command.**  Every ``gridlock`` command is its own process, so the devnet lives in
a *devnet host* process (:mod:`gridlock.devnet.host`): ``devnet up`` runs it in the foreground until
Ctrl-C, ``devnet up --detach`` starts it in the background and returns once it is ready.

* *embedded* (default, no server): the host runs the :class:`~gridlock.transport.local.LocalRouter`
  and the five guardians (each on the store of its role) in one event loop.
  A local router only reaches its own process, so the host also serves a Unix-domain socket that
  bridges ``send``/``recv`` of the ``Transport`` interface (:mod:`gridlock.transport.bridge`): a
  command becomes an endpoint of the host's router with a
  :class:`~gridlock.transport.bridge.BridgeTransport`.
* *nats* (``--nats URL``, or ``--nats`` alone to start ``nats-server`` on a free loopback port):
  every guardian is a separate ``python -m gridlock.guardian run`` process (what a real deployment
  runs), supervised by the host; commands connect to NATS as clients.

The same socket carries control requests (status, stop/start a guardian, shutdown), so ``devnet
status``/``down`` work in both modes; the host's pid, socket, router URL and the guardians' pids
are in the state file.  Both modes use one on-disk layout: stop a devnet and bring it back in the
other mode with the same vaults.

**The owner's keys** (client identity for the envelopes, device keys for approvals) are created by
the first ``devnet up`` and kept in ``keyring.json``, encrypted with the owner's password
(Argon2id → AES-256-GCM; :mod:`gridlock.cli.keyring`); the password comes from ``--password-file``,
``$GRIDLOCK_PASSWORD`` or a prompt.  Commands that only read the vault book (``vault list``,
``vault show``, ``address``) need no password and no running devnet.

**The client side of vaults** (id, name, scheme, threshold, members, public key, epoch) is in
``vaults.json``; commands that use a vault build its ``Vault`` from the book (the guardians check
every request against what they hold), while ``vault show --remote`` and ``guardian replace`` ask
the holders first (``info``, as ``Client.open_vault``) and check the answer against the book.

**Output**: ``--json`` prints exactly one JSON document on stdout (``{"error": …}`` on failure);
otherwise Rich tables, with colours and spinners only on a terminal.  Errors say what to do, and
exit codes mean something (:mod:`gridlock.cli.errors`: 0 ok, 1 failed/refused, 2 bad input,
3 devnet/guardians unavailable, 4 password, 5 already running, 130 interrupted).

Modules: :mod:`~gridlock.cli.main` (the root command), :mod:`gridlock.cli.commands` (one module per
command or group: ``commands/vault.py`` is ``gridlock vault …``; ``commands/common.py`` holds the
shared options), :mod:`~gridlock.cli.devnet` (up/down), :mod:`~gridlock.cli.sdk` (owner session,
network signer), :mod:`~gridlock.cli.chains`, :mod:`~gridlock.cli.owner` (policy, audit, recovery),
:mod:`~gridlock.cli.keyring`, :mod:`~gridlock.cli.backup` (profile backups), :mod:`~gridlock.cli.profile`
(devnet or deployment), :mod:`~gridlock.cli.state`, :mod:`~gridlock.cli.output`, :mod:`~gridlock.cli.errors`.
"""
