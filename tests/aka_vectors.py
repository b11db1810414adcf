"""The official 3GPP AKA test sets, read from ``../shared/vectors`` next to the repository.

They are loaded when the tests are collected; a missing or unreadable file is an error
(never a skip): the vector tests are the proof that the algorithms are right.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS_DIR = Path(__file__).resolve().parents[2] / "shared" / "vectors"


def load_vectors(name: str) -> list[dict[str, Any]]:
    """The test sets in ``<VECTORS_DIR>/<name>.json``, each a dict of hex strings and ints."""
    path = VECTORS_DIR / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"3GPP test vectors missing: {path} (expected ../shared/vectors)")
    sets = json.loads(path.read_text())
    if not isinstance(sets, list) or not sets:
        raise ValueError(f"{path}: expected a non-empty JSON list of test sets")
    return sets


def set_id(vector_set: dict[str, Any]) -> str:
    return f"set{vector_set['set']}"
