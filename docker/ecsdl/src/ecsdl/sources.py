"""Read bytes from a local path, an http(s):// URL or an s3:// URI, and write them back.

S3 goes through boto3, which honours AWS_ENDPOINT_URL (the local target's moto server) and the
usual credential chain (the ECS task role in AWS).

Every read is bounded (`Limits`): a size in bytes, and a time from the request to the last byte.
A picture, a model or a URL someone gave must not be able to fill the container's memory or hold
a task forever (a server that trickles one byte every few seconds never trips a per-read
timeout). Pictures get the smaller limits (`image_limits()`), models and data sets the larger
(`download_limits()`); each comes from the environment, read at each call:

  ECSDL_MAX_DOWNLOAD_BYTES  models, labels, checksums, data sets (default 1 GiB)
  ECSDL_DOWNLOAD_TIMEOUT    seconds for one of them (default 600)
  ECSDL_MAX_IMAGE_BYTES     pictures (default 64 MiB)
  ECSDL_IMAGE_TIMEOUT       seconds for one picture (default 120)
  ECSDL_HTTP_TIMEOUT        seconds an http(s) or S3 connection may stay silent (default 30)

A size known ahead (S3's ContentLength, HTTP's Content-Length, a local file's size) is refused
before anything is read; otherwise the read stops one byte past the limit. http(s) reads are cut
at the deadline by a watchdog that shuts their sockets down; S3 reads (the deployment's own
buckets) are checked between chunks, each chunk bounded by ECSDL_HTTP_TIMEOUT.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import stat
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecsdl import EcsdlError

HTTP_TIMEOUT = float(os.environ.get("ECSDL_HTTP_TIMEOUT", "30"))
# Bytes read at a time: the limits are checked between chunks.
CHUNK = 1 << 16

# Models, their labels and checksums, data sets: VGG-16's parameters are 528 MB, and a TFLite
# model of the models role's own limit (models_max_bytes, 256 MiB) is 1 GiB once its uint8
# weights are float32; MNIST's largest file is 47 MB. 600 s is 1 GiB at under 2 MB/s.
DOWNLOAD_BYTES = ("ECSDL_MAX_DOWNLOAD_BYTES", 1 << 30)
DOWNLOAD_SECONDS = ("ECSDL_DOWNLOAD_TIMEOUT", 600.0)
# Pictures: a 50-megapixel camera's JPEG is 10-30 MB, and preprocess decodes no more than
# 48 Mi pixels anyway (MAX_PIXELS there); 64 MiB leaves room for a PNG of that size.
IMAGE_BYTES = ("ECSDL_MAX_IMAGE_BYTES", 64 << 20)
IMAGE_SECONDS = ("ECSDL_IMAGE_TIMEOUT", 120.0)


class SourceError(EcsdlError):
    """A path, URL or S3 object that cannot be read or written."""


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def split_s3(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/key` -> ("bucket", "some/key")."""
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise SourceError(f"{uri}: not an s3://bucket/key URI")
    return bucket, key


def join(base: str, name: str) -> str:
    """The location of `name` in the folder `base` lives in (a path, URL or S3 prefix)."""
    if is_s3(base) or is_http(base):
        head = base.rsplit("/", 1)[0] if "/" in base.split("://", 1)[1] else base
        return f"{head}/{name}"
    return str(Path(base).parent / name)


def _s3_client() -> Any:
    import boto3
    from botocore.config import Config

    # A silent connection fails after ECSDL_HTTP_TIMEOUT (botocore's default is 60 s).
    return boto3.client(
        "s3", config=Config(connect_timeout=HTTP_TIMEOUT, read_timeout=HTTP_TIMEOUT)
    )


class MissingSourceError(SourceError):
    """The path, URL or S3 object does not exist (no such file, HTTP 404, S3 NoSuchKey)."""


# S3 error codes of an object that does not exist. Without s3:ListBucket on the bucket S3 says
# AccessDenied instead: that stays an error (it may as well hide an object one cannot read).
_S3_MISSING = {"NoSuchKey", "NotFound", "404"}


@dataclass(frozen=True)
class Limits:
    """How much one read may take: at most `max_bytes`, within `seconds` of its start. The
    settings' names (environment variables) are what the error line tells to raise."""

    max_bytes: int
    seconds: float
    bytes_setting: str = "max_bytes"
    seconds_setting: str = "seconds"


def _setting(name: str, default: float, kind: type) -> Any:
    text = os.environ.get(name, "").strip()
    if not text:
        return kind(default)
    try:
        value = kind(text)
    except ValueError:
        value = 0
    if not value > 0:
        raise SourceError(f"{name}={text!r}: not a positive {kind.__name__}")
    return value


def download_limits() -> Limits:
    """The limits of models, labels, checksums and data sets (ECSDL_MAX_DOWNLOAD_BYTES,
    ECSDL_DOWNLOAD_TIMEOUT)."""
    return Limits(
        _setting(*DOWNLOAD_BYTES, int),
        _setting(*DOWNLOAD_SECONDS, float),
        DOWNLOAD_BYTES[0],
        DOWNLOAD_SECONDS[0],
    )


def image_limits() -> Limits:
    """The limits of pictures (ECSDL_MAX_IMAGE_BYTES, ECSDL_IMAGE_TIMEOUT)."""
    return Limits(
        _setting(*IMAGE_BYTES, int),
        _setting(*IMAGE_SECONDS, float),
        IMAGE_BYTES[0],
        IMAGE_SECONDS[0],
    )


def _too_big(uri: str, limits: Limits, size: int | None = None) -> SourceError:
    what = f"{size:,} bytes, more than" if size is not None else "more than"
    return SourceError(
        f"{uri}: {what} the {limits.max_bytes:,} bytes allowed ({limits.bytes_setting}); refused"
    )


def _too_slow(uri: str, limits: Limits) -> SourceError:
    return SourceError(
        f"{uri}: not read within {limits.seconds:g} s ({limits.seconds_setting}); refused"
    )


class _Deadline:
    """The end of one read. For http(s), a watchdog shuts the sockets of the read's connections
    (redirects included) down when it passes, which ends a read blocked in the server's trickle;
    `expired` says so afterwards."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._connections: list[http.client.HTTPConnection] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def passed(self) -> bool:
        return self.expired or time.monotonic() >= self.end

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            connections = list(self._connections)
        for connection in connections:
            sock = connection.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def connection_class(self, cls: type) -> Callable[..., http.client.HTTPConnection]:
        """`cls` (HTTPConnection or HTTPSConnection), each connection it makes watched."""

        def make(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
            connection = cls(*args, **kwargs)
            with self._lock:
                self._connections.append(connection)
            return connection

        return make


class _Watched:
    """A urllib handler whose connections the deadline watches (HTTPHandler, HTTPSHandler)."""

    deadline: _Deadline

    def do_open(self, http_class: type, req: Any, **kwargs: Any) -> Any:
        return super().do_open(self.deadline.connection_class(http_class), req, **kwargs)  # type: ignore[misc]


class _WatchedHTTP(_Watched, urllib.request.HTTPHandler):
    pass


class _WatchedHTTPS(_Watched, urllib.request.HTTPSHandler):
    pass


def _read_chunks(
    read: Callable[[int], bytes], uri: str, limits: Limits, deadline: _Deadline | None
) -> bytes:
    """read(CHUNK) until it gives b'', at most limits.max_bytes (SourceError one byte past it)
    and, with a deadline, until it passes (SourceError)."""
    parts: list[bytes] = []
    total = 0
    while True:
        if deadline is not None and deadline.passed():
            raise _too_slow(uri, limits)
        chunk = read(CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > limits.max_bytes:
            raise _too_big(uri, limits)
        parts.append(chunk)
    if deadline is not None and deadline.expired:  # the watchdog ended the read: not the end
        raise _too_slow(uri, limits)
    return b"".join(parts)


def _read_s3(uri: str, limits: Limits) -> bytes:
    bucket, key = split_s3(uri)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        with _Deadline(limits.seconds) as deadline:
            response = _s3_client().get_object(Bucket=bucket, Key=key)
            body = response["Body"]
            try:
                size = response.get("ContentLength")
                if size is not None and int(size) > limits.max_bytes:
                    raise _too_big(uri, limits, int(size))
                return _read_chunks(body.read, uri, limits, deadline)
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        error = MissingSourceError if code in _S3_MISSING else SourceError
        raise error(f"{uri}: cannot read from S3 ({code})") from None
    except BotoCoreError as exc:
        raise SourceError(f"{uri}: cannot read from S3 ({exc})") from None


def _read_http(uri: str, limits: Limits) -> bytes:
    request = urllib.request.Request(uri, headers={"User-Agent": "ecsdl"})
    with _Deadline(limits.seconds) as deadline:
        handlers = [_WatchedHTTP(), _WatchedHTTPS()]
        for handler in handlers:
            handler.deadline = deadline
        opener = urllib.request.build_opener(*handlers)
        try:
            with opener.open(request, timeout=min(HTTP_TIMEOUT, limits.seconds)) as response:
                size = response.headers.get("Content-Length", "")
                if size.strip().isdigit() and int(size) > limits.max_bytes:
                    raise _too_big(uri, limits, int(size))
                # read1: what one recv gives (read(n) would wait for all n of a trickle); a
                # redirect to ftp:// answers with a plain file object
                read = getattr(response, "read1", response.read)
                data = _read_chunks(read, uri, limits, deadline)
                if size.strip().isdigit() and len(data) != int(size):
                    raise SourceError(
                        f"{uri}: cannot fetch (the connection ended after {len(data):,} of "
                        f"{int(size):,} bytes)"
                    )
                return data
        except urllib.error.HTTPError as exc:
            error = MissingSourceError if exc.code == 404 else SourceError
            raise error(f"{uri}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
            if deadline.passed():
                raise _too_slow(uri, limits) from None
            reason = getattr(exc, "reason", exc)
            raise SourceError(f"{uri}: cannot fetch ({reason})") from None


def _read_file(uri: str, limits: Limits) -> bytes:
    path = Path(uri)
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size > limits.max_bytes:
                raise _too_big(uri, limits, info.st_size)
            # not only regular files: /dev/zero or a FIFO stop at the limit too
            return _read_chunks(handle.read, uri, limits, None)
    except FileNotFoundError:
        raise MissingSourceError(f"{uri}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{uri}: is a directory, not a file") from None
    except OSError as exc:
        raise SourceError(f"{uri}: cannot read ({exc.strerror or exc})") from None


def read_bytes(uri: str, limits: Limits | None = None) -> bytes:
    """The content of `uri`, at most `limits` (default: download_limits(), for models and
    data; image_limits() for pictures); SourceError with one clear line when it cannot be read
    or is over a limit (MissingSourceError when it does not exist)."""
    limits = limits or download_limits()
    if is_s3(uri):
        return _read_s3(uri, limits)
    if is_http(uri):
        return _read_http(uri, limits)
    return _read_file(uri, limits)


def read_bytes_if_exists(uri: str, limits: Limits | None = None) -> bytes | None:
    """Like read_bytes, but None when `uri` does not exist (any other failure still raises)."""
    try:
        return read_bytes(uri, limits)
    except MissingSourceError:
        return None


@contextlib.contextmanager
def s3_write_errors(uri: str) -> Iterator[None]:
    """An S3 write to `uri` that fails becomes a SourceError of one clear line."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise SourceError(f"{uri}: cannot write to S3 ({code})") from None
    except BotoCoreError as exc:
        raise SourceError(f"{uri}: cannot write to S3 ({exc})") from None


def write_bytes(uri: str, data: bytes, client: Any | None = None) -> None:
    """Write `data` to a local path (parents created) or an s3:// URI; SourceError with one
    clear line when it cannot be written. `client`: an S3 client to use instead of the default
    one (boto3's, as for reading)."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        with s3_write_errors(uri):
            (client or _s3_client()).put_object(Bucket=bucket, Key=key, Body=data)
        return
    if is_http(uri):
        raise SourceError(f"{uri}: cannot write to an http(s) URL; give a path or s3:// URI")
    path = Path(uri)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise SourceError(f"{uri}: cannot write ({exc.strerror or exc})") from None
