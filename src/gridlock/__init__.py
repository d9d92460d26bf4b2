"""Gridlock: threshold custody — a key born distributed, used by any t of n guardians, never in one place."""

__version__ = "0.1.0"
