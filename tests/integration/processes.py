"""Process listings: this machine's processes by command line, and a container's as JSON.

`PROCESS_LIST` is a Python script run inside a container (`docker exec ... python -c`, or fed to
`python -` over ssh); `parse_listing` reads what it printed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Every process but the script's own: pid, real/effective/saved/filesystem uids, command line,
# effective, permitted and bounding capabilities (hex); one JSON object a line.
PROCESS_LIST = (
    "import json, os\n"
    "for p in sorted(filter(str.isdigit, os.listdir('/proc')), key=int):\n"
    "    if int(p) == os.getpid():\n"
    "        continue\n"
    "    try:\n"
    "        status = dict(l.split(':', 1) for l in open(f'/proc/{p}/status'))\n"
    "        cmd = open(f'/proc/{p}/cmdline', 'rb').read().replace(b'\\0', b' ').decode()\n"
    "    except OSError:\n"
    "        continue\n"
    "    print(json.dumps({'pid': int(p), 'uids': status['Uid'].split(), 'cmd': cmd.strip(),\n"
    "                      'cap_eff': status['CapEff'].strip(),\n"
    "                      'cap_prm': status['CapPrm'].strip(),\n"
    "                      'cap_bnd': status['CapBnd'].strip()}))\n"
)


def parse_listing(stdout: str) -> list[dict[str, Any]]:
    """The processes PROCESS_LIST printed."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def host_processes() -> Iterator[tuple[int, str]]:
    """(pid, command line with spaces for NULs) of this machine's processes, this one's and its
    parent's left out (a test's own command line may name what it looks for)."""
    mine = {os.getpid(), os.getppid()}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) in mine:
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # gone while we looked
        yield int(proc.name), cmdline
