# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Downloads that cannot be done, one line each (``cannot download <source> (<why>)``).

- ``head.results | unreachable_downloads``: the files of a looped ``ansible.builtin.uri`` HEAD
  (``item.source``: the URL) that are surely not there: status -1 (no answer), 404 or 410;
  why: uri's message without its "Status code was -1 and not [200]: " lead, else "HTTP <status>".
- ``got.results | failed_downloads``: the files of a looped ``ansible.builtin.get_url`` that
  failed (skipped ones are not); why: get_url's message, else "failed".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ecs_dl.deep_learning.plugins.module_utils.jinja_values import jinja_int

GONE = (-1, 404, 410)
_URI_LEAD = re.compile(r"^Status code was -1 and not .200.: ")


def _results(results: Any, name: str) -> list[Mapping[str, Any]]:
    if not isinstance(results, Sequence) or isinstance(results, str):
        raise AnsibleFilterError(f"{name}: not a list of loop results: {results!r}")
    for result in results:
        item = result.get("item") if isinstance(result, Mapping) else None
        if not isinstance(item, Mapping) or "source" not in item:
            raise AnsibleFilterError(f"{name}: a result without item.source: {result!r}")
    return list(results)


def unreachable_downloads(results: Any) -> list[str]:
    problems = []
    for head in _results(results, "unreachable_downloads"):
        if jinja_int(head.get("status"), None) in GONE:
            why = str(head["msg"]) if "msg" in head else f"HTTP {head.get('status')}"
            problems.append(f"cannot download {head['item']['source']} ({_URI_LEAD.sub('', why)})")
    return problems


def failed_downloads(results: Any) -> list[str]:
    return [
        f"cannot download {got['item']['source']} ({got.get('msg', 'failed')})"
        for got in _results(results, "failed_downloads")
        if got.get("failed")
    ]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "unreachable_downloads": unreachable_downloads,
            "failed_downloads": failed_downloads,
        }
