#!/usr/bin/env python3
"""Start a service detached from Ansible, so that it outlives ansible-playbook.

The classic double fork: the command gets its own session (no controlling terminal, not
killed with the playbook), stdin from /dev/null, stdout and stderr appended to --logfile.
The command is exec'd, so it keeps the daemon's PID.

--pidfile is the service's PID file. With --write-pidfile this program writes it; without,
the service writes its own (dockerd --pidfile, sshd's PidFile). Starts are serialized with a
lock on PIDFILE.lock: when PIDFILE already names a live process (a concurrent run started
it first), nothing is started and "already running" is printed. The foreground process
returns once the PID file names the live service and, with --wait-port, the port accepts
connections; it exits 1 with the end of the log when the service dies first or --timeout
passes.

Example:
    daemonize.py --logfile .local/logs/registry.log --pidfile .local/registry.pid \\
        --write-pidfile --wait-port 5101 -- docker-registry serve .local/registry/config.yml
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import socket
import sys
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--logfile", required=True, help="file for the service's output")
    parser.add_argument("--pidfile", required=True, help="the service's PID file")
    parser.add_argument(
        "--write-pidfile",
        action="store_true",
        help="write the PID file here (leave out when the service writes its own)",
    )
    parser.add_argument(
        "--wait-port", type=int, help="return only once 127.0.0.1:PORT accepts connections"
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait (default: %(default)s)"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args(argv)
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    if not args.command:
        parser.error("no command given (put it after --)")
    if shutil.which(args.command[0]) is None:
        parser.error(f"command not found: {args.command[0]}")
    args.pidfile = os.path.abspath(args.pidfile)
    args.logfile = os.path.abspath(args.logfile)
    return args


def alive(pid: int) -> bool:
    """Whether pid is a live process (not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def live_pid(pidfile: str) -> int | None:
    """The PID in pidfile if it names a live process, else None."""
    try:
        with open(pidfile, encoding="ascii") as handle:
            pid = int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if alive(pid) else None


def listening(port: int) -> bool:
    """Whether 127.0.0.1:port accepts a TCP connection."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def log_tail(logfile: str, lines: int = 5) -> str:
    """The last lines of the log, on one line."""
    try:
        with open(logfile, encoding="utf-8", errors="replace") as handle:
            return " | ".join(line.strip() for line in handle.readlines()[-lines:])
    except OSError:
        return ""


def spawn(args: argparse.Namespace) -> int:
    """Double-fork and exec the command; return the daemon's PID (in the original process)."""
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            report = pipe.read().strip()
        return int(report) if report.isdigit() else 0
    os.close(read_end)
    os.setsid()
    if os.fork() > 0:
        # The session leader exits; the daemon can never regain a terminal.
        os._exit(0)
    os.umask(0o022)
    devnull = os.open(os.devnull, os.O_RDONLY)
    log = os.open(args.logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    for target, source in ((0, devnull), (1, log), (2, log)):
        os.dup2(source, target)
    if args.write_pidfile:
        with open(args.pidfile, "w", encoding="ascii") as handle:
            handle.write(f"{os.getpid()}\n")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    os.write(1, f"{stamp} daemonize: exec {' '.join(args.command)}\n".encode())
    os.write(write_end, str(os.getpid()).encode())
    os.close(write_end)
    os.execvp(args.command[0], args.command)
    return 0  # not reached


def wait_ready(args: argparse.Namespace, pid: int) -> str | None:
    """Wait until the service is up; return None, or why it is not."""
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return f"it exited: {log_tail(args.logfile)}"
        if live_pid(args.pidfile) and (not args.wait_port or listening(args.wait_port)):
            return None
        time.sleep(0.2)
    return f"not ready after {args.timeout:.0f} s: {log_tail(args.logfile)}"


def main(argv: list[str] | None = None) -> int:
    """Start the service detached (unless it runs already) and wait until it is up."""
    args = parse_args(argv)
    name = os.path.basename(args.command[0])
    with open(args.pidfile + ".lock", "w", encoding="ascii") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        running = live_pid(args.pidfile)
        if running:
            print(f"{name} already running (pid {running})")
            return 0
        pid = spawn(args)
        if not pid:
            print(f"daemonize: {name} did not start; see {args.logfile}", file=sys.stderr)
            return 1
        problem = wait_ready(args, pid)
        if problem:
            print(f"daemonize: {name} did not come up, {problem}", file=sys.stderr)
            return 1
    print(f"{name} started (pid {pid}, log {args.logfile})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
