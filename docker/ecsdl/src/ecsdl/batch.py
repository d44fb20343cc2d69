"""`classify --parts PREFIX`: thousands of pictures through one loaded model.

The pictures (files, URLs, s3:// objects, and every picture under a folder or an s3:// prefix
given with a trailing slash; with --shard I/N every N-th of them from the I-th) are read and
decoded by --decoders threads while the network runs, --batch-size at a time; each batch's JSON
lines (the verdicts of `classify --json`, and {"image", "error"} for what cannot be read) are
written to PREFIXpart-<shard>-<batch>.jsonl as soon as the batch is done, and a summary (the
counts, the seconds, the throughput, the model) to PREFIXsummary-<shard>.json at the end.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ecsdl import EcsdlError
from ecsdl.model import Model
from ecsdl.sources import SourceError, _s3_client, is_s3, split_s3, write_bytes


@dataclass
class Summary:
    """What one shard's run did (PREFIXsummary-<shard>.json)."""

    shard: str
    images: int = 0
    cats: int = 0
    not_cats: int = 0
    unreadable: int = 0
    batches: int = 0
    batch_size: int = 0
    seconds: float = 0.0
    images_per_second: float = 0.0
    model: str = ""
    model_sha256: str = ""

    def line(self) -> str:
        return (
            f"{self.images} images ({self.cats} cats, {self.not_cats} not cats, "
            f"{self.unreadable} unreadable) in {self.seconds:.1f} s, "
            f"{self.images_per_second:.1f} images/s"
        )


def expand(sources: Sequence[str], client: Any | None = None) -> list[str]:
    """The pictures of `sources`: a folder or an s3://bucket/prefix/ (a trailing slash) gives
    every file or object under it, in name order; anything else is one picture."""
    images: list[str] = []
    for source in sources:
        if not source.endswith("/"):
            images.append(source)
        elif is_s3(source):
            bucket, prefix = split_s3(source)
            s3 = client or _s3_client()
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                keys = [
                    item["Key"]
                    for page in s3.get_paginator("list_objects_v2").paginate(
                        Bucket=bucket, Prefix=prefix
                    )
                    for item in page.get("Contents", [])
                    if not item["Key"].endswith("/")
                ]
            except (ClientError, BotoCoreError) as exc:
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", exc)
                raise SourceError(f"{source}: cannot list ({code})") from None
            images += [f"s3://{bucket}/{key}" for key in sorted(keys)]
        else:
            folder = Path(source)
            if not folder.is_dir():
                raise SourceError(f"{source}: no such folder")
            images += sorted(str(p) for p in folder.rglob("*") if p.is_file())
    return images


def shard_of(images: Sequence[str], shard: tuple[int, int]) -> list[str]:
    """Every N-th picture from the I-th (I counted from 0), for shard (I, N)."""
    index, count = shard
    return list(images[index::count])


def _prefetched(
    images: Sequence[str], load: Callable[[str], np.ndarray], decoders: int, window: int
) -> Iterator[tuple[str, np.ndarray | None, str | None]]:
    """(image, array or None, error or None) in input order, at most `window` read ahead."""
    with ThreadPoolExecutor(max_workers=decoders, thread_name_prefix="decode") as pool:
        pending: deque[tuple[str, Future[np.ndarray]]] = deque()
        upcoming = iter(images)
        for image in upcoming:
            pending.append((image, pool.submit(load, image)))
            if len(pending) >= window:
                break
        while pending:
            image, future = pending.popleft()
            nxt = next(upcoming, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(load, nxt)))
            try:
                yield image, future.result(), None
            except EcsdlError as exc:
                yield image, None, str(exc)


def run(
    model: Model,
    images: Sequence[str],
    parts: str,
    *,
    shard: tuple[int, int] = (0, 1),
    batch_size: int = 32,
    decoders: int = 2,
    top: int = 5,
    threshold: float = 0.5,
    load: Callable[[str], np.ndarray] | None = None,
    classify: Callable[..., list[Any]] | None = None,
) -> Summary:
    """Classify `images` batch by batch into PREFIX (`parts`) part files and a summary; a part
    that cannot be written raises SourceError (the batches before it are written)."""
    from ecsdl.classify import classify_arrays, load_image

    load = load or (lambda uri: load_image(uri, model))
    classify = classify or classify_arrays
    label = f"{shard[0]:03d}"
    summary = Summary(
        shard=f"{shard[0]}/{shard[1]}",
        batch_size=batch_size,
        model=model.name,
        model_sha256=model.sha256,
    )
    started = time.perf_counter()
    names: list[str] = []
    arrays: list[np.ndarray] = []
    # each picture of the batch in order: None (classified) or its error line's object
    entries: list[dict[str, Any] | None] = []

    def flush() -> None:
        results = iter(classify(model, names, arrays, top, threshold) if arrays else [])
        lines = []
        for entry in entries:
            if entry is None:
                result = next(results)
                summary.cats += bool(result.is_cat)
                summary.not_cats += not result.is_cat
                entry = result.as_dict()
            lines.append(json.dumps(entry) + "\n")
        write_bytes(f"{parts}part-{label}-{summary.batches:05d}.jsonl", "".join(lines).encode())
        summary.batches += 1
        names.clear()
        arrays.clear()
        entries.clear()

    for image, array, error in _prefetched(images, load, max(1, decoders), 2 * batch_size):
        summary.images += 1
        if array is None:
            summary.unreadable += 1
            entries.append({"image": image, "error": error})
        else:
            names.append(image)
            arrays.append(array)
            entries.append(None)
        if len(entries) >= batch_size:
            flush()
    if entries:
        flush()
    summary.seconds = round(time.perf_counter() - started, 3)
    summary.images_per_second = round(summary.images / summary.seconds, 2) if summary.seconds else 0
    write_bytes(f"{parts}summary-{label}.json", (json.dumps(asdict(summary)) + "\n").encode())
    return summary


def parts_prefix(text: str) -> str:
    """--parts: a local folder or an s3://bucket/prefix/ (with its slash)."""
    if is_s3(text):
        bucket, _, key = text[len("s3://") :].partition("/")
        if not bucket or (key and not key.endswith("/")):
            raise ValueError(f"{text!r}: give s3://bucket/prefix/ (ending with /)")
        return text
    if not text or "://" in text:
        raise ValueError(f"{text!r}: give a local folder or s3://bucket/prefix/")
    return text if text.endswith(os.sep) else text + os.sep


def parse_shard(text: str) -> tuple[int, int]:
    """--shard I/N: the I-th of N (0 <= I < N)."""
    index, _, count = text.partition("/")
    try:
        shard = int(index), int(count)
    except ValueError:
        raise ValueError(f"{text!r}: give I/N, e.g. 0/2") from None
    if not 0 <= shard[0] < shard[1]:
        raise ValueError(f"{text!r}: I must be at least 0 and less than N")
    return shard
