"""Shared pytest setup for the unit tests: the project's modules in library/ are importable."""

import sys
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[2] / "library"
if str(LIBRARY) not in sys.path:
    sys.path.insert(0, str(LIBRARY))
