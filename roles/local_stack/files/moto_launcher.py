#!/usr/bin/env python3
"""Start moto's server as the local target's AWS endpoint, made to behave a bit more like AWS.

Run it with the project's venv python (the one that runs ansible-playbook):

    .venv/bin/python moto_launcher.py --port 5100 \
        --pidfile .local/moto.pid --logfile .local/logs/moto.log

What it does, in order:
1. Checks that the installed moto is 5.2.x, the version the workarounds below were tested with
   (pinned in requirements.txt); any other version is refused with a clear message.
2. Sets MOTO_IAM_LOAD_MANAGED_POLICIES=true, so that AWS managed policies
   (e.g. AmazonEC2ContainerServiceforEC2Role) exist and can be attached to roles.
3. Starts moto's server on HOST:PORT: the same WSGI app and server as
   moto.server.ThreadedMotoServer, but bound before the serving thread starts, so that a port
   in use fails at once (ThreadedMotoServer.start() waits forever when the bind fails).
3b. Applies the fixes of moto_aws_compat.py (beside this file): answers that AWS gives and
   moto 5.2.x leaves out, which the collections' modules depend on.
3c. Wraps the app in moto_faults.FaultInjector: tests can make the endpoint answer with AWS
   errors (throttling, 500, not found) on demand through /_ecs_dl/faults (see that file);
   /_ecs_dl/settings reads and changes moto_aws_compat's settings (its fix 12).
3d. Keeps those control paths (/moto-api/, which can also dump and reset every backend, and
   /_ecs_dl/) to clients on 127.0.0.1 (control_guard): the local ECS agent relays the task
   containers' requests from another loopback address (ecs_agent.RELAY_SOURCE_ADDRESS,
   127.0.0.2), so a container reaches the AWS APIs and never the control endpoints (403).
4. Once /moto-api/ answers, POSTs /moto-api/state-manager/set-transition with
   {"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1000000}}:
   otherwise moto advances an ECS task one state (PROVISIONING -> ... -> STOPPED) each time it is
   described; with it, tasks keep the state the project's ECS-agent counterpart gives them.
5. With --pidfile, detaches first (own session, stdio to --logfile), writes the PID file only
   when steps 3-4 are done, and the foreground process exits 0 then (or 1 with the reason),
   so the caller knows the server is ready. SIGTERM/SIGINT stop the server and remove the PID file.
   Starts are serialized with a lock on PIDFILE.lock: when PIDFILE already names a live process
   (e.g. a concurrent run won the race), it prints "already running" and exits 0.
   Without --pidfile it stays in the foreground (Ctrl-C stops it).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

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
        "--code-version",
        default="",
        help="a checksum of this file, moto_aws_compat.py and moto_faults.py, so that the "
        "role can tell a server of older code",
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
            "moto_launcher: moto is not installed in this python; "
            "install moto[server]==5.2.5 (requirements.txt)"
        )
    version = str(moto.__version__)
    if not version.startswith(PINNED_MOTO):
        sys.exit(
            f"moto_launcher: moto {version} found, but this launcher and its workarounds "
            f"are for moto {PINNED_MOTO}x; install the pinned version (requirements.txt)"
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


def serve(host: str, port: int, timeout: float, version: str, on_ready: Callable[[], None]) -> None:
    """Run the server until SIGTERM/SIGINT; call on_ready() once it is configured."""
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import moto_aws_compat
    from moto_faults import FaultInjector

    fixes = moto_aws_compat.apply()
    print(
        f"moto_launcher: starting moto {version} on {host}:{port} (fixes: {', '.join(fixes)})",
        flush=True,
    )
    try:
        server = make_server(
            host,
            port,
            # The settings route outside: a fault rule never fails it.
            control_guard(
                moto_aws_compat.settings_route(
                    FaultInjector(DomainDispatcherApplication(create_backend_app))
                )
            ),
            threaded=True,
            request_handler=MotoRequestHandler,
        )
    except (OSError, SystemExit) as error:
        # werkzeug exits (SystemExit) with a message when the port is in use.
        raise RuntimeError(f"cannot listen on {host}:{port} (port in use?): {error}") from None
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stopping.set())
    signal.signal(signal.SIGINT, lambda _signum, _frame: stopping.set())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base_url = f"http://{host}:{port}"
    wait_until_answers(base_url, timeout)
    set_ecs_task_transition(base_url)
    print(
        f"moto_launcher: moto {version} ready on {base_url} "
        "(managed IAM policies loaded, ECS tasks manual)",
        flush=True,
    )
    on_ready()
    while not stopping.wait(1):
        pass
    print("moto_launcher: stopping", flush=True)
    server.shutdown()
    thread.join(10)


# The paths that control the emulator rather than emulate AWS, and who may use them.
CONTROL_PATHS = ("/moto-api/", "/_ecs_dl/")
CONTROL_CLIENTS = frozenset({"127.0.0.1", "::1"})


def control_guard(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware: a request for a CONTROL_PATHS path from an address other than
    CONTROL_CLIENTS gets 403; every other request goes to `app`."""

    def guard(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        client = environ.get("REMOTE_ADDR", "")
        if path.startswith(CONTROL_PATHS) and client not in CONTROL_CLIENTS:
            body = json.dumps(
                {"error": f"{path}: the emulator's control endpoints answer 127.0.0.1 only"}
            ).encode()
            start_response(
                "403 Forbidden",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return app(environ, start_response)

    return guard


def live_pid(pidfile: str) -> int | None:
    """The PID in pidfile if it names a live (not zombie) process, else None."""
    try:
        with open(pidfile, encoding="ascii") as handle:
            pid = int(handle.read().split()[0])
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                return None
        return pid
    except (OSError, ValueError, IndexError):
        return None


def run_detached(args: argparse.Namespace, version: str) -> int:
    """Start the server in the background; return 0 once it is ready, 1 if it failed."""
    pidfile = os.path.abspath(args.pidfile)
    logfile = os.path.abspath(args.logfile or os.path.splitext(pidfile)[0] + ".log")
    # One start at a time: a concurrent start waits here, then finds the PID file of the first.
    with open(pidfile + ".lock", "w", encoding="ascii") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        running = live_pid(pidfile)
        if running:
            print(f"moto already running on http://{args.host}:{args.port} (pid {running})")
            return 0
        return start_detached(args, version, pidfile, logfile, lock.fileno())


def start_detached(
    args: argparse.Namespace, version: str, pidfile: str, logfile: str, lock_fd: int
) -> int:
    """Double-fork the server; wait in the foreground for its report."""
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            report = pipe.read().strip()
        if report.startswith("ready "):
            print(
                f"moto {version} ready on http://{args.host}:{args.port} "
                f"(pid {report.split()[1]}, log {logfile})"
            )
            return 0
        print(
            f"moto_launcher: the server did not start: {report or 'no report'}; see {logfile}",
            file=sys.stderr,
        )
        return 1
    os.close(read_end)
    # The server must not keep the start lock: the next start waits on it.
    os.close(lock_fd)
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
    # Report any start-up failure to the waiting foreground process, then exit.
    except Exception as error:
        print(f"moto_launcher: {type(error).__name__}: {error}", flush=True)
        try:
            os.write(write_end, f"{error}".encode())
        except OSError:
            pass
        os._exit(1)
    finally:
        if live_pid(pidfile) == os.getpid():
            os.unlink(pidfile)
    os._exit(0)


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
