"""Every read is bounded: a size and a total time, for http(s), S3 and local files.

Written as the attacks: a server on loopback that trickles its body or its headers (one byte at
a time, never silent long enough for a per-read timeout), bodies over the limit with and without
a Content-Length, an S3 object that is too big or comes too slowly, a local file over the limit
and /dev/zero. Each is refused with one line, in about the time the limit gives.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ecsdl.sources import (
    Limits,
    SourceError,
    download_limits,
    image_limits,
    read_bytes,
    read_bytes_if_exists,
)

MIB = 1 << 20
# How long the trickling server goes on before it ends its answer: reads without a total time
# limit return after that (and the tests then fail), ones with it give up long before.
TRICKLE_SECONDS = 8.0
ALLOWED = "the 1,048,576 bytes allowed"  # a limit of 1 MiB, as an error line says it


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # no keep-alive: a body without a length ends when we close

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _trickle(self, data: bytes, interval: float) -> None:
        for i in range(len(data)):
            self.wfile.write(data[i : i + 1])
            self.wfile.flush()
            time.sleep(interval)

    def do_GET(self) -> None:  # noqa: N802
        try:
            self._answer()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should

    def _answer(self) -> None:
        path = self.path
        steps = 40
        interval = TRICKLE_SECONDS / steps
        if path == "/trickle-body":
            self.send_response(200)
            self.send_header("Content-Length", str(steps))
            self.end_headers()
            self._trickle(b"x" * steps, interval)
        elif path == "/trickle-body-no-length":
            self.send_response(200)
            self.end_headers()
            self._trickle(b"x" * steps, interval)
        elif path == "/trickle-headers":
            self.wfile.write(b"HTTP/1.0 200 OK\r\n")
            self._trickle(b"X-Slow: " + b"a" * (steps - 10) + b"\r\n", interval)
            self.wfile.write(b"Content-Length: 2\r\n\r\nok")
        elif path.startswith("/bytes/"):
            # /bytes/N: N bytes with their Content-Length; /bytes/N/no-length: without it
            size = int(path.split("/")[2])
            self.send_response(200)
            if not path.endswith("/no-length"):
                self.send_header("Content-Length", str(size))
            self.end_headers()
            block = b"\0" * MIB
            while size > 0:
                self.wfile.write(block[: min(size, len(block))])
                size -= len(block)
        elif path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", path[len("/redirect") :])
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_error(404)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def one_second(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECSDL_DOWNLOAD_TIMEOUT", "1")
    monkeypatch.setenv("ECSDL_IMAGE_TIMEOUT", "1")


def refused(uri: str, *args: object) -> tuple[str, float]:
    """read_bytes(uri, ...) must fail: (its one line, the seconds it took)."""
    start = time.monotonic()
    with pytest.raises(SourceError) as info:
        read_bytes(uri, *args)
    message = str(info.value)
    assert "\n" not in message
    return message, time.monotonic() - start


@pytest.mark.parametrize("path", ["/trickle-body", "/trickle-body-no-length", "/trickle-headers"])
def test_a_server_that_trickles_is_cut_off_at_the_total_time(server, one_second, path):
    url = server + path
    message, seconds = refused(url)
    assert message == f"{url}: not read within 1 s (ECSDL_DOWNLOAD_TIMEOUT); refused"
    assert seconds < 3, f"took {seconds:.1f} s"


def test_a_picture_has_its_own_time_limit(server, one_second, monkeypatch):
    monkeypatch.setenv("ECSDL_DOWNLOAD_TIMEOUT", "600")
    url = server + "/trickle-body"
    message, seconds = refused(url, image_limits())
    assert message == f"{url}: not read within 1 s (ECSDL_IMAGE_TIMEOUT); refused"
    assert seconds < 3, f"took {seconds:.1f} s"


@pytest.mark.parametrize(
    ("path", "size"),
    [("/bytes/2097152", "2,097,152 bytes, more than"), ("/bytes/4194304/no-length", "more than")],
    ids=["content-length", "no-length"],
)
def test_a_body_over_the_limit_is_refused(server, monkeypatch, path, size):
    monkeypatch.setenv("ECSDL_MAX_DOWNLOAD_BYTES", str(MIB))
    url = server + path
    message, _ = refused(url)
    assert message == f"{url}: {size} {ALLOWED} (ECSDL_MAX_DOWNLOAD_BYTES); refused"


def test_a_picture_over_its_limit_is_refused(server, monkeypatch):
    monkeypatch.setenv("ECSDL_MAX_IMAGE_BYTES", str(MIB))
    url = server + "/redirect/bytes/1048577/no-length"  # through a redirect, too
    message, _ = refused(url, image_limits())
    assert message == f"{url}: more than {ALLOWED} (ECSDL_MAX_IMAGE_BYTES); refused"


def test_a_body_at_the_limit_is_read(server, monkeypatch):
    monkeypatch.setenv("ECSDL_MAX_DOWNLOAD_BYTES", str(MIB))
    assert read_bytes(server + "/bytes/1048576") == b"\0" * MIB
    assert read_bytes(server + "/redirect/bytes/1048576/no-length") == b"\0" * MIB


def test_a_missing_url_is_still_missing(server):
    assert read_bytes_if_exists(server + "/nothing-here") is None


def test_a_local_file_over_the_limit_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(b"\0" * (MIB + 1))
    message, _ = refused(str(path), Limits(MIB, 60, "ECSDL_MAX_IMAGE_BYTES", "ECSDL_IMAGE_TIMEOUT"))
    assert message == (
        f"{path}: 1,048,577 bytes, more than {ALLOWED} (ECSDL_MAX_IMAGE_BYTES); refused"
    )
    path.write_bytes(b"\0" * MIB)
    assert len(read_bytes(str(path), Limits(MIB, 60))) == MIB


def test_an_endless_local_file_stops_at_the_limit(monkeypatch):
    monkeypatch.setenv("ECSDL_MAX_DOWNLOAD_BYTES", str(MIB))
    message, _ = refused("/dev/zero")
    assert message == f"/dev/zero: more than {ALLOWED} (ECSDL_MAX_DOWNLOAD_BYTES); refused"


class SlowBody:
    """An S3 object's body: `size` bytes, each read(n) taking `delay` seconds (read() all of it
    takes as long as reading it 64 KiB at a time)."""

    def __init__(self, size: int, delay: float = 0.0) -> None:
        self.data = io.BytesIO(b"\0" * size)
        self.delay = delay
        self.reads = 0
        self.closed = False

    def read(self, amt: int | None = None) -> bytes:
        self.reads += 1
        left = len(self.data.getbuffer()) - self.data.tell()
        time.sleep(self.delay * (1 if amt else max(1, left // (1 << 16))))
        return self.data.read(amt)

    def close(self) -> None:
        self.closed = True


class StubS3:
    def __init__(self, body: SlowBody, length: int | None) -> None:
        self.body = body
        self.length = length

    def get_object(self, *, Bucket: str, Key: str) -> dict:  # noqa: N803
        response: dict = {"Body": self.body}
        if self.length is not None:
            response["ContentLength"] = self.length
        return response


def test_an_s3_object_over_the_limit_is_refused_by_its_length(monkeypatch):
    body = SlowBody(2 * MIB)
    monkeypatch.setattr("ecsdl.sources._s3_client", lambda: StubS3(body, 2 * MIB))
    monkeypatch.setenv("ECSDL_MAX_DOWNLOAD_BYTES", str(MIB))
    message, _ = refused("s3://models/big-0000.params")
    assert message == (
        "s3://models/big-0000.params: 2,097,152 bytes, more than the 1,048,576 bytes allowed"
        " (ECSDL_MAX_DOWNLOAD_BYTES); refused"
    )
    assert body.reads == 0 and body.closed


def test_an_s3_object_without_a_length_stops_at_the_limit(monkeypatch):
    body = SlowBody(3 * MIB)
    monkeypatch.setattr("ecsdl.sources._s3_client", lambda: StubS3(body, None))
    monkeypatch.setenv("ECSDL_MAX_IMAGE_BYTES", str(MIB))
    message, _ = refused("s3://in/cat.png", image_limits())
    assert message == f"s3://in/cat.png: more than {ALLOWED} (ECSDL_MAX_IMAGE_BYTES); refused"
    assert body.data.tell() <= MIB + 2 * (1 << 16), "read far past the limit"


def test_a_slow_s3_object_is_cut_off_at_the_total_time(monkeypatch, one_second):
    body = SlowBody(MIB, delay=0.25)  # 16 chunks of 64 KiB: 4 s
    monkeypatch.setattr("ecsdl.sources._s3_client", lambda: StubS3(body, MIB))
    message, seconds = refused("s3://in/cat.png", image_limits())
    assert message == "s3://in/cat.png: not read within 1 s (ECSDL_IMAGE_TIMEOUT); refused"
    assert seconds < 2, f"took {seconds:.1f} s"


def test_pictures_get_smaller_limits_than_models():
    pictures, models = image_limits(), download_limits()
    assert pictures.max_bytes == 64 * MIB and models.max_bytes == 1024 * MIB
    assert pictures.seconds < models.seconds


@pytest.mark.parametrize("value", ["lots", "0", "-5", "1.5"])
def test_a_bad_limit_setting_is_one_line(monkeypatch, value):
    monkeypatch.setenv("ECSDL_MAX_DOWNLOAD_BYTES", value)
    with pytest.raises(SourceError) as info:
        download_limits()
    assert str(info.value) == f"ECSDL_MAX_DOWNLOAD_BYTES={value!r}: not a positive int"
