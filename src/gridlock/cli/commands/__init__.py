"""The ``gridlock`` commands, one module per top-level command or command group.

``address``, ``sign`` (``sign`` and ``sign-tx``), ``message`` (``sign-message``), ``refresh`` and
``audit`` are top-level commands; ``devnet``, ``vault``, ``guardian``, ``policy``, ``recover`` and
``tx`` (``tx build``) are groups.  Each module has an
``app`` (a ``typer.Typer``) that :mod:`gridlock.cli.main` adds to the root command: a group under
its name, a top-level command's ``app`` without one (Typer merges its commands into the root).
:mod:`~gridlock.cli.commands.common` holds what they share (options, ``Cmd``, ``command``).
"""
