"""Where the weights shipped inside the package live."""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "weights"
PRETRAINED = {"best": "mnistcnn_best"}
"""Shipped digit classifiers: name -> file prefix in :data:`WEIGHTS_DIR`."""
READER = "mnistcnn_reader"
"""The shipped whole-number (CTC) reader's file prefix in :data:`WEIGHTS_DIR`."""
