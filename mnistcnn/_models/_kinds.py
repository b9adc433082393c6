"""What each architecture is, known without building it (and so without importing Paddle)."""

from __future__ import annotations

LINE_ARCHITECTURES = frozenset({"reader"})
"""Architectures that read a whole line of digits (CTC) rather than classify one digit."""
