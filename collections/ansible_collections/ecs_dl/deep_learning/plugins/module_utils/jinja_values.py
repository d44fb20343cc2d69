"""Values read as Jinja's filters read them, for the collection's filter plugins."""

from __future__ import annotations

from typing import Any, TypeVar

Default = TypeVar("Default")


def jinja_int(value: Any, default: Default) -> int | Default:
    """Jinja's int filter: the number, or its float's whole part, or `default` when neither."""
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError, OverflowError):
            return default
