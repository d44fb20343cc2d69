"""Every module of the collection documents itself in YAML that parses, as ansible-doc reads it
(a `: ` inside a plain description line made three of them unreadable to ansible-doc)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.parsing.plugin_docs import read_docstring

from tests.unit.conftest import MODULES


@pytest.mark.parametrize("path", sorted(MODULES.glob("*.py")), ids=lambda path: path.stem)
def test_documentation_examples_and_return_parse(path: Path) -> None:
    docs = read_docstring(str(path))
    assert docs["doc"]["module"] == path.stem
    assert docs["doc"]["short_description"]
    assert docs["plainexamples"].strip()
    assert isinstance(docs["returndocs"], dict)
