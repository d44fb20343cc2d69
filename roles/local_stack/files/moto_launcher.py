#!/usr/bin/env python3
"""Start moto's server as the local target's AWS endpoint, made to behave a bit more like AWS.

Run it with the project's venv python (the one that runs ansible-playbook):

    .venv/bin/python moto_launcher.py --port 5100 --pidfile .local/moto.pid --logfile .local/logs/moto.log

What it does, in order:
1. Checks that the installed moto is 5.2.x, the version the workarounds below were tested with
   (pinned in requirements.txt); any other version is refused with a clear message.
2. Sets MOTO_IAM_LOAD_MANAGED_POLICIES=true, so that AWS managed policies
   (e.g. AmazonEC2ContainerServiceforEC2Role) exist and can be attached to roles.
3. Starts moto's server (moto.server.ThreadedMotoServer) on HOST:PORT.
4. Once /moto-api/ answers, POSTs /moto-api/state-manager/set-transition with
   {"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1000000}}:
   otherwise moto advances an ECS task one state (PROVISIONING -> ... -> STOPPED) each time it is
   described; with it, tasks keep the state the project's ECS-agent counterpart gives them.
5. With --pidfile, detaches first (own session, stdio to --logfile), writes the PID file only
   when steps 3-4 are done, and the foreground process exits 0 then (or 1 with the reason),
   so the caller knows the server is ready. SIGTERM/SIGINT stop the server and remove the PID file.
   Without --pidfile it stays in the foreground (Ctrl-C stops it).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from types import FrameType

PINNED_MOTO = "5.2."
ECS_TASK_TRANSITION = {
    "model_name": "ecs::task",
    "transition": {"progression": "manual", "times": 1000000},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=5100,
        help="port to listen on (default: %(default)s)",
    )
    parser.add_argument(
        "--pidfile", help="detach, and write the server's PID here once it is ready"
    )
    parser.add_argument(
        "--logfile",
        help="with --pidfile: file for the server's output (default: next to --pidfile)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds to wait for the server to answer (default: %(default)s)",
    )
    return parser.parse_args(argv)


def check_moto_version() -> str:
    """Return moto's version, or exit with a message if it is not the pinned 5.2.x."""
    try:
        import moto
    except ImportError:
        sys.exit(
            "moto_launcher: moto is not installed in this python; install moto[server]==5.2.5 (requirements.txt)"
        )
    version = str(moto.__version__)
    if not version.startswith(PINNED_MOTO):
        sys.exit(
            f"moto_launcher: moto {version} found, but this launcher and its workarounds are for moto "
            f"{PINNED_MOTO}x; install the pinned version (requirements.txt)"
        )
    return version


def wait_until_answers(base_url: str, timeout: float) -> None:
    """Poll /moto-api/ until it answers 200, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base_url}/moto-api/", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"moto did not answer on {base_url}/moto-api/ within {timeout:.0f} s"
            )
        time.sleep(0.2)


def set_ecs_task_transition(base_url: str) -> None:
    """Tell moto not to advance ECS tasks by itself (see step 4 above)."""
    request = urllib.request.Request(
        f"{base_url}/moto-api/state-manager/set-transition",
        data=json.dumps(ECS_TASK_TRANSITION).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status not in (200, 201):
            raise RuntimeError(f"set-transition answered HTTP {response.status}")


def serve(
    host: str, port: int, timeout: float, version: str, on_ready: Callable[[], None]
) -> None:
    """Run the server until SIGTERM/SIGINT; call on_ready() once it is configured."""
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=host, port=port, verbose=True)
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.start()
    base_url = f"http://{host}:{port}"
    wait_until_answers(base_url, timeout)
    set_ecs_task_transition(base_url)
    print(
        f"moto_launcher: moto {version} ready on {base_url} (managed IAM policies loaded, ECS tasks manual)",
        flush=True,
    )
    on_ready()
    while not stopping:
        signal.pause()
    print("moto_launcher: stopping", flush=True)
    server.stop()


def run_detached(args: argparse.Namespace, version: str) -> int:
    """Fork into the background; return in the foreground once the server is ready (0) or failed (1)."""
    pidfile = os.path.abspath(args.pidfile)
    logfile = os.path.abspath(args.logfile or os.path.splitext(pidfile)[0] + ".log")
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            report = pipe.read().strip()
        if report.startswith("ready "):
            print(
                f"moto {version} ready on http://{args.host}:{args.port} (pid {report.split()[1]}, log {logfile})"
            )
            return 0
        print(
            f"moto_launcher: the server did not start: {report or 'no report'}; see {logfile}",
            file=sys.stderr,
        )
        return 1
    os.close(read_end)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    log = os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    for target, source in ((0, devnull), (1, log), (2, log)):
        os.dup2(source, target)

    def ready() -> None:
        with open(pidfile, "w", encoding="ascii") as handle:
            handle.write(f"{os.getpid()}\n")
        os.write(write_end, f"ready {os.getpid()}".encode())
        os.close(write_end)

    try:
        serve(args.host, args.port, args.timeout, version, ready)
    # Report any start-up failure to the waiting foreground process.
    except Exception as error:
        try:
            os.write(write_end, f"{type(error).__name__}: {error}".encode())
        except OSError:
            pass
        raise
    finally:
        try:
            with open(pidfile, encoding="ascii") as handle:
                if handle.read().strip() == str(os.getpid()):
                    os.unlink(pidfile)
        except OSError:
            pass
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    version = check_moto_version()
    if args.pidfile:
        return run_detached(args, version)
    serve(args.host, args.port, args.timeout, version, lambda: None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
