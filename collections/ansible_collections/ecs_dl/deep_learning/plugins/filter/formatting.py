# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lines of text from lists of mappings.

- ``entries | format_each('%.3f  %s', 'probability', 'label')``: for each entry, the printf-style
  format (Python's ``%``, as Jinja's ``format`` filter) filled with those attributes, in order.
  (Jinja's ``map('format', ...)`` formats the entry itself, not its attributes.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError


def format_each(entries: Any, template: str, *attributes: str) -> list[str]:
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        raise AnsibleFilterError(f"format_each: not a list of mappings: {entries!r}")
    lines = []
    for entry in entries:
        if not isinstance(entry, Mapping) or any(name not in entry for name in attributes):
            raise AnsibleFilterError(
                f"format_each: an entry without {', '.join(attributes)}: {entry!r}"
            )
        try:
            lines.append(template % tuple(entry[name] for name in attributes))
        except (TypeError, ValueError) as error:
            raise AnsibleFilterError(f"format_each: {template!r} with {entry!r}: {error}") from None
    return lines


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"format_each": format_each}
