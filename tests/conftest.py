"""Fixtures shared by the unit and integration tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# The uid every container of the project runs as (docker/Dockerfile ECSDL_UID, the task
# definitions' user): one that no account of a usual host has.
CONTAINER_UID = "61000"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


MOTO_LAUNCHER = (
    Path(__file__).resolve().parents[1] / "roles" / "local_stack" / "files" / "moto_launcher.py"
)


@contextmanager
def moto_launcher() -> Iterator[int]:
    """The local target's moto (moto_launcher.py, with its AWS fixes) in the foreground on a
    free port; yields the port and stops the server afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(MOTO_LAUNCHER), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"moto_launcher did not start:\n{process.communicate()[0]}")
            time.sleep(0.3)
    try:
        yield port
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """An in-process moto server on a free loopback port, for one test module."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
