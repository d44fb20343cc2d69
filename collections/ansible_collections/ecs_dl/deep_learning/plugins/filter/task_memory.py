# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The containers' memory settings, checked before a task definition is registered.

- ``families | memory_limit_problems(memory, reservation, name='task_definitions_memory')``:
  one line for each key of ``families`` (in its order) whose hard limit in ``memory`` is not a
  whole number of MiB, or is not above its reservation in ``reservation`` (ECS refuses that).
  A missing limit is not a whole number; a missing or unreadable reservation counts as 0 (as
  Jinja's ``int`` reads it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ecs_dl.deep_learning.plugins.module_utils.jinja_values import jinja_int


def memory_limit_problems(
    families: Any, memory: Any, reservation: Any, name: str = "task_definitions_memory"
) -> list[str]:
    for what, value in (("families", families), ("memory", memory), ("reservation", reservation)):
        if not isinstance(value, Mapping):
            raise AnsibleFilterError(f"memory_limit_problems: {what} is not a mapping: {value!r}")
    problems = []
    for key in families:
        hard = str(memory[key]).strip() if key in memory else ""
        soft = jinja_int(reservation.get(key, 0), 0)
        if not re.fullmatch("[0-9]+", hard):
            problems.append(f"{name}.{key}={hard}: not a whole number of MiB")
        elif int(hard) <= soft:
            problems.append(
                f"{name}.{key}={hard}: the hard limit (MiB) must be more than the reservation, "
                f"{soft}"
            )
    return problems


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"memory_limit_problems": memory_limit_problems}
