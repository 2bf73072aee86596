"""A pickle that does something when unpickled: what a crafted model or BFM file could hold (never run by EmoHead)."""
from __future__ import annotations


class Payload:
    """Unpickling this creates the file ``marker``; a test asserts that the file never appears."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))
