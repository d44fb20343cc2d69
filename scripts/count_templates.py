#!/usr/bin/env python3
"""Count the long templated strings in the playbooks' tasks: programs written in Jinja.

A templated string is a YAML scalar (a value or a key) that holds `{{` or `{%`; it is long when
it has more than LIMIT characters (200 unless --limit says otherwise), as the YAML parser reads
it (a folded `>-` block counts as its joined lines). Logic that long belongs in a tested filter
plugin (collections/ansible_collections/ecs_dl/deep_learning/plugins/filter/) or in role vars as
data. The files looked at are roles/*/tasks/*.yml and playbooks/*.yml.

    python3 scripts/count_templates.py            # file:line: length of each, then the count
    python3 scripts/count_templates.py --count    # the count only
    python3 scripts/count_templates.py --max 10   # exit 1 when there are more than 10

tests/unit/test_count_templates.py checks the counting and that the count does not grow.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PATTERNS = ("roles/*/tasks/*.yml", "playbooks/*.yml")
LIMIT = 200


@dataclass(frozen=True)
class Template:
    path: str  # relative to the root
    line: int  # 1-based, where the scalar starts
    length: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.length}"


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads Ansible's own tags (!unsafe, !vault) as plain nodes."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _scalars(node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        yield node
    elif isinstance(node, yaml.SequenceNode):
        for child in node.value:
            yield from _scalars(child)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from _scalars(key)
            yield from _scalars(value)


def long_templates(text: str, path: str = "<string>", limit: int = LIMIT) -> list[Template]:
    """The templated scalars of one YAML text that are longer than `limit` characters."""
    found = []
    for document in yaml.compose_all(text, Loader=_Loader):
        if document is None:
            continue
        for node in _scalars(document):
            value = node.value
            if ("{{" in value or "{%" in value) and len(value) > limit:
                found.append(Template(path, node.start_mark.line + 1, len(value)))
    return found


def project_templates(root: Path = ROOT, limit: int = LIMIT) -> list[Template]:
    """long_templates of every file of PATTERNS under `root`, file by file in name order."""
    found = []
    for pattern in PATTERNS:
        for file in sorted(root.glob(pattern)):
            found += long_templates(file.read_text(), str(file.relative_to(root)), limit)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="the repository's root (default: this script's)"
    )
    parser.add_argument(
        "--limit", type=int, default=LIMIT, help=f"count strings longer than this (default {LIMIT})"
    )
    parser.add_argument("--count", action="store_true", help="print the count only")
    parser.add_argument(
        "--max", type=int, default=None, help="exit 1 when the count is above this number"
    )
    args = parser.parse_args(argv)
    try:
        found = project_templates(args.root, args.limit)
    except (OSError, yaml.YAMLError) as error:
        print(f"count_templates: {error}", file=sys.stderr)
        return 2
    if not args.count:
        for template in found:
            print(template)
    print(len(found))
    if args.max is not None and len(found) > args.max:
        print(
            f"more than {args.max} templated strings over {args.limit} characters", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
