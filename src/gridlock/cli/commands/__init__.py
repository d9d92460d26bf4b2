"""The ``gridlock`` commands, one module per top-level command or command group.

``address``, ``sign`` (``sign`` and ``sign-tx``), ``message`` (``sign-message``), ``refresh``,
``audit``, ``profile`` (``init``) and ``session`` (``unlock`` and ``lock``) are top-level commands;
``devnet``, ``vault`` (with ``committee``'s repair and committee changes), ``guardian``, ``policy``,
``recover``, ``owner_keyring`` (``keyring``) and ``tx`` (``tx build``) are groups.  Each module has an
``app`` (a ``typer.Typer``) that :mod:`gridlock.cli.main` loads when the command runs: each
top-level command or group is a line of ``gridlock.cli.main.COMMANDS`` (name, module, whether it is
a group, its ``--help`` line, which must be the command's first docstring paragraph); a group is
the module's ``app`` under its name, a top-level command is the command of that name in ``app``.
:mod:`~gridlock.cli.commands.common` holds what they share (options, ``Cmd``, ``command``).
"""
