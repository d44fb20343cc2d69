"""Read bytes from a local path, an http(s):// URL or an s3:// URI, and write them back.

S3 goes through boto3, which honours AWS_ENDPOINT_URL (the local target's moto server) and the
usual credential chain (the ECS task role in AWS).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ecsdl import EcsdlError

HTTP_TIMEOUT = float(os.environ.get("ECSDL_HTTP_TIMEOUT", "30"))


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

    return boto3.client("s3")


class MissingSourceError(SourceError):
    """The path, URL or S3 object does not exist (no such file, HTTP 404, S3 NoSuchKey)."""


# S3 error codes of an object that does not exist. Without s3:ListBucket on the bucket S3 says
# AccessDenied instead: that stays an error (it may as well hide an object one cannot read).
_S3_MISSING = {"NoSuchKey", "NotFound", "404"}


def read_bytes(uri: str) -> bytes:
    """The content of `uri`; SourceError with one clear line when it cannot be read
    (MissingSourceError when it does not exist)."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return _s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            error = MissingSourceError if code in _S3_MISSING else SourceError
            raise error(f"{uri}: cannot read from S3 ({code})") from None
        except BotoCoreError as exc:
            raise SourceError(f"{uri}: cannot read from S3 ({exc})") from None
    if is_http(uri):
        request = urllib.request.Request(uri, headers={"User-Agent": "ecsdl"})
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            error = MissingSourceError if exc.code == 404 else SourceError
            raise error(f"{uri}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SourceError(f"{uri}: cannot fetch ({reason})") from None
    path = Path(uri)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MissingSourceError(f"{uri}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{uri}: is a directory, not a file") from None
    except OSError as exc:
        raise SourceError(f"{uri}: cannot read ({exc.strerror or exc})") from None


def read_bytes_if_exists(uri: str) -> bytes | None:
    """Like read_bytes, but None when `uri` does not exist (any other failure still raises)."""
    try:
        return read_bytes(uri)
    except MissingSourceError:
        return None


def write_bytes(uri: str, data: bytes, client: Any | None = None) -> None:
    """Write `data` to a local path (parents created) or an s3:// URI; SourceError with one
    clear line when it cannot be written. `client`: an S3 client to use instead of the default
    one (boto3's, as for reading)."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            (client or _s3_client()).put_object(Bucket=bucket, Key=key, Body=data)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise SourceError(f"{uri}: cannot write to S3 ({code})") from None
        except BotoCoreError as exc:
            raise SourceError(f"{uri}: cannot write to S3 ({exc})") from None
        return
    if is_http(uri):
        raise SourceError(f"{uri}: cannot write to an http(s) URL; give a path or s3:// URI")
    path = Path(uri)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise SourceError(f"{uri}: cannot write ({exc.strerror or exc})") from None
