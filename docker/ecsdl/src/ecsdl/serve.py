"""`classify serve`: an HTTP endpoint that says whether a picture shows a cat.

    POST /classify   the picture as the request body -> 200 and its verdict (JSON: the fields of
                     `classify --json` with the model's name and parameters' sha256); 400 and
                     {"error"} when it is not a picture (or too many pixels); 413 over --max-bytes;
                     503 and Retry-After when --queue-size requests are already waiting
    GET /healthz     200 {"status": "ok", "model", "model_sha256"} once the model is loaded

waitress (PyPI) is the WSGI server: its threads read the requests and decode the pictures side by
side; one worker thread owns the model (an MXNet network is not for several threads at once) and
runs it on micro-batches: whatever pictures are waiting, up to --batch-size, and for at most
--max-wait-ms more while other requests are still being decoded. A request that finds
--queue-size others admitted (decoding, waiting or in the network) is refused at once with 503,
so a burst sheds load instead of piling up memory and latency.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecsdl import EcsdlError, __version__
from ecsdl.classify import (
    DEFAULT_THRESHOLD,
    DEFAULT_TOP,
    EXIT_MODEL_ERROR,
    EXIT_OK,
    _positive_int,
    _probability,
    classify_arrays,
)
from ecsdl.device import DEVICES, pick_device
from ecsdl.model import Model, load_model
from ecsdl.preprocess import decode, to_array

DEFAULT_PORT = 8080
DEFAULT_QUEUE = 32
DEFAULT_BATCH = 8
DEFAULT_WAIT_MS = 5.0
DEFAULT_THREADS = 8
DEFAULT_MAX_BYTES = 16 << 20
RETRY_AFTER_SECONDS = 1

Start = Callable[[str, list[tuple[str, str]]], Any]


@dataclass
class Job:
    """One admitted picture on its way through the network."""

    name: str
    array: np.ndarray
    done: threading.Event = field(default_factory=threading.Event)
    verdict: dict[str, Any] | None = None
    error: str | None = None


class Classifier:
    """The model, its worker thread and the admission bound (see the module's docstring)."""

    def __init__(
        self,
        model: Model,
        *,
        queue_size: int = DEFAULT_QUEUE,
        batch_size: int = DEFAULT_BATCH,
        max_wait_ms: float = DEFAULT_WAIT_MS,
        top: int = DEFAULT_TOP,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        self.model = model
        self.batch_size = batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.top, self.threshold = top, threshold
        self._slots = threading.BoundedSemaphore(queue_size)
        self._jobs: queue.Queue[Job] = queue.Queue()
        self._decoding = 0
        self._lock = threading.Lock()
        self.batches: list[int] = []  # the size of each batch run (for the tests and --stats)
        self._worker = threading.Thread(target=self._run, name="classify-worker", daemon=True)
        self._worker.start()

    def admit(self) -> bool:
        """Take a slot for one request; False when --queue-size requests hold them all."""
        if not self._slots.acquire(blocking=False):
            return False
        with self._lock:
            self._decoding += 1
        return True

    def release(self) -> None:
        self._slots.release()

    def prepare(self, body: bytes, name: str) -> np.ndarray:
        """Decode and preprocess one picture in the request's thread (EcsdlError: not one)."""
        try:
            spec = self.model.spec
            return to_array(decode(body, name), (spec.height, spec.width), spec.channels, spec.crop)
        finally:
            with self._lock:
                self._decoding -= 1

    def classify(self, name: str, array: np.ndarray) -> dict[str, Any]:
        """Queue one preprocessed picture for the worker and wait for its verdict."""
        job = Job(name, array)
        self._jobs.put(job)
        job.done.wait()
        if job.error is not None:
            raise EcsdlError(job.error)
        assert job.verdict is not None
        return job.verdict

    def _gather(self) -> list[Job]:
        jobs = [self._jobs.get()]
        deadline = time.monotonic() + self.max_wait
        while len(jobs) < self.batch_size:
            try:
                jobs.append(self._jobs.get_nowait())
                continue
            except queue.Empty:
                pass
            with self._lock:
                others_coming = self._decoding > 0
            left = deadline - time.monotonic()
            if not others_coming or left <= 0:
                break
            try:
                jobs.append(self._jobs.get(timeout=left))
            except queue.Empty:
                break
        return jobs

    def _run(self) -> None:
        while True:
            jobs = self._gather()
            self.batches.append(len(jobs))
            try:
                results = classify_arrays(
                    self.model, [j.name for j in jobs], [j.array for j in jobs], self.top,
                    self.threshold,
                )  # fmt: skip
                for job, result in zip(jobs, results, strict=True):
                    job.verdict = {
                        **result.as_dict(),
                        "model": self.model.name,
                        "model_sha256": self.model.sha256,
                    }
            except Exception as exc:  # noqa: BLE001 - the request says it; the worker goes on
                for job in jobs:
                    job.error = f"the model failed on this batch ({type(exc).__name__}: {exc})"
            for job in jobs:
                job.done.set()


def _json(start: Start, status: str, body: dict[str, Any], extra=()) -> Iterable[bytes]:
    data = (json.dumps(body) + "\n").encode("utf-8")
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    start(status, headers + list(extra))
    return [data]


def make_app(classifier: Classifier) -> Callable[[dict[str, Any], Start], Iterable[bytes]]:
    """The WSGI application of a loaded classifier."""
    model = classifier.model

    def app(environ: dict[str, Any], start: Start) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
        if path == "/healthz":
            body = {"status": "ok", "model": model.name, "model_sha256": model.sha256}
            return _json(start, "200 OK", body)
        if path != "/classify":
            return _json(start, "404 Not Found", {"error": f"no {path}: POST /classify"})
        if method != "POST":
            allow = [("Allow", "POST")]
            return _json(start, "405 Method Not Allowed", {"error": "POST a picture"}, allow)
        if not classifier.admit():
            busy = {"error": "too many pictures waiting; try again shortly"}
            retry = [("Retry-After", str(RETRY_AFTER_SECONDS))]
            return _json(start, "503 Service Unavailable", busy, retry)
        try:
            try:
                body = environ["wsgi.input"].read()
                name = environ.get("HTTP_X_IMAGE_NAME") or "picture"
                array = classifier.prepare(body, name)
            except EcsdlError as exc:
                return _json(start, "400 Bad Request", {"error": str(exc)})
            try:
                return _json(start, "200 OK", classifier.classify(name, array))
            except EcsdlError as exc:
                return _json(start, "500 Internal Server Error", {"error": str(exc)})
        finally:
            classifier.release()

    return app


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="classify serve",
        description="Serve the cat verdict over HTTP: POST /classify with a picture as the body "
        "answers its verdict as JSON; GET /healthz answers once the model is loaded.",
        epilog="Answers: 200 the verdict; 400 not a picture (or more pixels than "
        "ECSDL_MAX_IMAGE_PIXELS); 413 a body over --max-bytes; 503 with Retry-After when "
        "--queue-size requests are already admitted. Exit status: 3 the model cannot be loaded, "
        "2 usage error.",
    )
    parser.add_argument("--model", required=True, metavar="PREFIX", help="checkpoint prefix")
    parser.add_argument("--labels", metavar="FILE", help="class names (default: labels.txt)")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default all)")
    parser.add_argument(
        "--port", type=_positive_int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}"
    )
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=DEFAULT_THREADS,
        help=f"waitress's request threads, which decode side by side (default {DEFAULT_THREADS})",
    )
    parser.add_argument(
        "--queue-size",
        type=_positive_int,
        default=DEFAULT_QUEUE,
        metavar="N",
        help=f"requests admitted at once; the next gets 503 (default {DEFAULT_QUEUE})",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=DEFAULT_BATCH,
        metavar="N",
        help=f"most pictures in one forward pass (default {DEFAULT_BATCH})",
    )
    parser.add_argument(
        "--max-wait-ms",
        type=float,
        default=DEFAULT_WAIT_MS,
        metavar="MS",
        help="longest wait for more pictures while others are still decoding "
        f"(default {DEFAULT_WAIT_MS:g})",
    )
    parser.add_argument(
        "--max-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_BYTES,
        metavar="N",
        help=f"largest request body; a bigger one gets 413 (default {DEFAULT_MAX_BYTES})",
    )
    parser.add_argument("--top", type=_positive_int, default=DEFAULT_TOP, metavar="K")
    parser.add_argument("--threshold", type=_probability, default=DEFAULT_THRESHOLD, metavar="P")
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        model = load_model(args.model, args.labels, ctx=pick_device(args.device))
    except EcsdlError as exc:
        print(f"classify serve: {exc}", file=sys.stderr)
        return EXIT_MODEL_ERROR
    classifier = Classifier(
        model,
        queue_size=args.queue_size,
        batch_size=args.batch_size,
        max_wait_ms=args.max_wait_ms,
        top=args.top,
        threshold=args.threshold,
    )
    import waitress

    print(
        f"classify serve: {model.name} (sha256 {model.sha256[:12]}) on {args.host}:{args.port}",
        file=sys.stderr,
        flush=True,
    )
    waitress.serve(
        make_app(classifier),
        host=args.host,
        port=args.port,
        threads=args.threads,
        # waitress answers 413 itself for a bigger body, before the application reads it
        max_request_body_size=args.max_bytes,
        ident="ecsdl",
        # the listen backlog: connections beyond it wait in the kernel, not in memory here
        backlog=args.queue_size,
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
