#!/usr/bin/env python3
"""Run a command detached from Ansible, so that it outlives ansible-playbook.

The classic double fork: the command gets its own session (no controlling
terminal, not killed with the playbook), stdin from /dev/null, stdout and
stderr appended to --logfile. With --pidfile, the command's PID is written
there (the command is exec'd, so it keeps that PID). Leave --pidfile out for
programs that write their own (dockerd --pidfile, sshd PidFile).

Example:
    daemonize.py --logfile .local/logs/registry.log --pidfile .local/registry.pid \\
        -- docker-registry serve .local/registry/config.yml
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--logfile",
        required=True,
        help="file that receives the command's stdout and stderr (appended)",
    )
    parser.add_argument(
        "--pidfile",
        help="file to write the command's PID to (omit if the command writes its own)",
    )
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        help="the command and its arguments, after --",
    )
    args = parser.parse_args(argv)
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    if not args.command:
        parser.error("no command given (put it after --)")
    if shutil.which(args.command[0]) is None:
        parser.error(f"command not found: {args.command[0]}")
    return args


def daemonize(logfile: str, pidfile: str | None = None) -> bool:
    """Detach the current process; return True in the daemon, False in the original process."""
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        os.close(write_end)
        # Wait for the daemon to report its PID, so the caller knows it was started.
        with os.fdopen(read_end) as pipe:
            pid = pipe.read().strip()
        if not pid:
            sys.exit("daemonize: the detached process did not start")
        print(pid)
        return False
    os.close(read_end)
    os.setsid()
    if os.fork() > 0:
        # The session leader exits; the grandchild can never regain a terminal.
        os._exit(0)
    os.umask(0o022)
    devnull = os.open(os.devnull, os.O_RDONLY)
    log = os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    if pidfile:
        with open(pidfile, "w", encoding="ascii") as handle:
            handle.write(f"{os.getpid()}\n")
    os.write(write_end, f"{os.getpid()}".encode())
    os.close(write_end)
    return True


def main(argv: list[str] | None = None) -> int:
    """Start the command detached and print its PID."""
    args = parse_args(argv)
    if daemonize(
        os.path.abspath(args.logfile),
        os.path.abspath(args.pidfile) if args.pidfile else None,
    ):
        sys.stdout.write(
            f"{time.strftime('%Y-%m-%dT%H:%M:%S')} daemonize: exec {' '.join(args.command)}\n"
        )
        sys.stdout.flush()
        os.execvp(args.command[0], args.command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
