# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded waits (``until``/``retries``/``delay``).

- ``timeout | poll_retries(every)``: the ``retries:`` of a task that polls every ``every``
  seconds (its ``delay:``) for up to ``timeout`` seconds: ceil(timeout / every), at least 1.

Ansible makes ``retries + 1`` attempts with ``delay`` seconds between them, so the task gives up
after ``retries * every`` seconds of waiting: never before ``timeout``, and less than ``every``
seconds after it. At least one retry: a timeout shorter than one poll still gets a second look.
"""

from __future__ import annotations

import math
from typing import Any

from ansible.errors import AnsibleFilterError


def _seconds(value: Any, name: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError(
            f"poll_retries: {name} is not a number of seconds: {value!r}"
        ) from None
    if math.isnan(seconds) or math.isinf(seconds):
        raise AnsibleFilterError(f"poll_retries: {name} is not a number of seconds: {value!r}")
    return seconds


def poll_retries(timeout: Any, every: Any) -> int:
    seconds = _seconds(timeout, "the timeout")
    delay = _seconds(every, "the delay")
    if seconds < 0:
        raise AnsibleFilterError(f"poll_retries: the timeout is negative: {timeout!r}")
    if delay <= 0:
        raise AnsibleFilterError(f"poll_retries: the delay is not positive: {every!r}")
    return max(1, math.ceil(seconds / delay))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"poll_retries": poll_retries}
