"""Math and pure protocol steps: groups, hashing, transcripts, VSS, DKG, FROST, key shares.

Nothing here does I/O, reads a clock or touches a disk.
"""
