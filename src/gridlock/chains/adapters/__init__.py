"""The chain adapters (:class:`gridlock.chains.adapter.ChainAdapter`), one module per chain.

Import them through :func:`gridlock.chains.get`, which loads a chain's module (and its libraries)
only when that chain is first used.
"""
