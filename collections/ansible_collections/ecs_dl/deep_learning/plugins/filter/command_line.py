# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Command lines (lists of arguments, as ECS task definitions hold them).

- ``command | with_option('--epochs', 5)``: the command with the value after ``--epochs``
  replaced (the option and value added at the end when the command has none).
- ``command | with_options({'--epochs': 5, '--output': 's3://...'})``: with_option for each
  option of the mapping, in its order.
- ``command | without_option('--data')``: the command without ``--data`` and its value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError


def _check(command: Any, name: str) -> None:
    if not isinstance(command, list) or not all(isinstance(arg, str) for arg in command):
        raise AnsibleFilterError(f"{name}: not a command (a list of strings): {command!r}")


def with_option(command: Any, option: str, value: Any) -> list[str]:
    _check(command, "with_option")
    result = list(command)
    if option in result:
        at = result.index(option)
        if at + 1 == len(result):
            raise AnsibleFilterError(f"with_option: {option} ends the command, with no value")
        result[at + 1] = str(value)
    else:
        result += [option, str(value)]
    return result


def with_options(command: Any, options: Any) -> list[str]:
    _check(command, "with_options")
    if not isinstance(options, Mapping):
        raise AnsibleFilterError(f"with_options: not a mapping of options: {options!r}")
    result = list(command)
    for option, value in options.items():
        result = with_option(result, option, value)
    return result


def without_option(command: Any, option: str) -> list[str]:
    _check(command, "without_option")
    result = list(command)
    while option in result:
        at = result.index(option)
        if at + 1 == len(result):
            raise AnsibleFilterError(f"without_option: {option} ends the command, with no value")
        del result[at : at + 2]
    return result


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "with_option": with_option,
            "with_options": with_options,
            "without_option": without_option,
        }
