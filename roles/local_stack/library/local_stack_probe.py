#!/usr/bin/python
"""Tell whether a local service's port is free, held by our own process, or taken by another."""
# Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports.
# ruff: noqa: E402

from __future__ import annotations

DOCUMENTATION = r"""
---
module: local_stack_probe
short_description: Find who holds a local service's port and PID file
description:
  - Reads a PID file and checks that it names a live process whose command line contains
    O(cmdline_contains) (a process of ours), checks whether O(host):O(port) accepts
    connections, and optionally whether an HTTP O(http_path) answers 200 with
    O(http_expect) in its body or headers.
  - Only reads; never changes anything (check mode supported).
options:
  name:
    description: Name of the service, used in messages.
    type: str
    required: true
  host:
    description: Address the service listens on.
    type: str
    default: 127.0.0.1
  port:
    description: TCP port of the service; omit for a service without one (e.g. dockerd).
    type: int
  pidfile:
    description: PID file the service writes (or its launcher writes).
    type: path
    required: true
  pid:
    description: Check this PID instead of the one in O(pidfile), e.g. while it exits.
    type: int
  cmdline_contains:
    description: Text that the command line of the process in O(pidfile) must contain to be ours.
    type: str
    required: true
  http_path:
    description: >-
      Path to GET on the port; a 200 answer containing O(http_expect) counts as the
      service answering.
    type: str
  setting:
    description: The variable that sets O(port), named in RV(conflict).
    type: str
    default: ""
  http_expect:
    description: Text expected in the body or headers of the O(http_path) answer.
    type: str
    default: ""
author:
  - ecs-deep-learning
"""

EXAMPLES = r"""
- name: Who holds the moto port?
  local_stack_probe:
    name: moto
    port: 5100
    pidfile: /srv/project/.local/moto.pid
    cmdline_contains: moto_launcher.py
    http_path: /moto-api/
    http_expect: Moto
  register: moto_probe
"""

RETURN = r"""
state:
  description: >-
    C(ours) (the PID file names a live process of ours, and no other process listens on
    O(port)), C(answers) (not ours by PID
    file, but the port answers as the service would), C(free) (nothing listens),
    C(foreign) (another program listens).
  type: str
  returned: always
cmdline:
  description: Our process's command line (arguments joined by spaces), when it is ours.
  returned: always
  type: str
pid:
  description: PID of our live process, or null.
  type: int
  returned: always
listening:
  description: Whether the port accepts connections.
  type: bool
  returned: always
answers:
  description: Whether O(http_path) answered 200 with O(http_expect).
  type: bool
  returned: always
conflict:
  description: When O(port) is taken by another program, a one-line message saying what to change.
  type: str
  returned: always
stale_pidfile:
  description: Whether a PID file exists that names no live process of ours.
  type: bool
  returned: always
"""

import os
import socket
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule


def read_pid(pidfile: str) -> int | None:
    """Return the PID in the file, or None when it is missing or unreadable."""
    try:
        with open(pidfile, encoding="ascii") as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def process_cmdline(pid: int) -> str | None:
    """Return the command line of a live process; None if it does not exist or is a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                return None
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, IndexError):
        return None


def port_listening(host: str, port: int) -> bool:
    """Whether host:port accepts a TCP connection."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def port_holders(port: int) -> set[int] | None:
    """PIDs of the processes with a listening TCP socket on `port`; None when it cannot be told
    (no /proc, or the sockets of other users' processes are not readable)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as handle:
                rows = handle.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            listens = len(fields) > 9 and fields[3] == "0A"
            if listens and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    holders = set()
    denied = False
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
        except PermissionError:
            denied = True
            continue
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{entry}/fd/{fd}") in inodes:
                    holders.add(int(entry))
                    break
            except OSError:
                continue
    return holders if holders or not denied else None


def http_answers(host: str, port: int, path: str, expect: str) -> bool:
    """Whether GET path answers 200 with `expect` in its headers or body."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=5) as response:
            text = str(response.headers) + response.read(65536).decode(errors="replace")
            return response.status == 200 and expect in text
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main() -> None:
    """Module entry point."""
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "host": {"type": "str", "default": "127.0.0.1"},
            "port": {"type": "int"},
            "pidfile": {"type": "path", "required": True},
            "pid": {"type": "int"},
            "cmdline_contains": {"type": "str", "required": True},
            "http_path": {"type": "str"},
            "http_expect": {"type": "str", "default": ""},
            "setting": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    params = module.params
    pid = params["pid"] or read_pid(params["pidfile"])
    cmdline = process_cmdline(pid) if pid else None
    ours = cmdline is not None and params["cmdline_contains"] in cmdline
    listening = bool(params["port"]) and port_listening(params["host"], params["port"])
    answers = (
        listening
        and bool(params["http_path"])
        and http_answers(params["host"], params["port"], params["http_path"], params["http_expect"])
    )
    holders = port_holders(params["port"]) if ours and listening else None
    if ours and holders and pid not in holders:
        # Our service runs (on another port), and another program holds the one asked for.
        state = "foreign"
    elif ours:
        state = "ours"
    elif answers:
        state = "answers"
    elif listening:
        state = "foreign"
    else:
        state = "free"
    module.exit_json(
        changed=False,
        state=state,
        pid=pid if ours else None,
        cmdline=cmdline if ours else None,
        listening=listening,
        answers=answers,
        conflict=(
            f"Port {params['port']} on {params['host']} is in use by another program "
            f"(not our {params['name']}): stop it, or set {params['setting'] or 'its port'} "
            "to a free port."
            if state == "foreign"
            else ""
        ),
        stale_pidfile=pid is not None
        and not ours
        or (pid is None and os.path.exists(params["pidfile"])),
    )


if __name__ == "__main__":
    main()
