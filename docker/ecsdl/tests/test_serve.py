"""`classify serve` through a real waitress server on a free port: the verdict of a posted
picture, 400 for what is not one, 413 over the size bound, 503 with Retry-After when the queue is
full, micro-batches while the network is busy, /healthz; the tiny model of conftest.py."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import waitress

from ecsdl.classify import main as classify_main
from ecsdl.model import load_model
from ecsdl.serve import Classifier, make_app


@pytest.fixture(scope="module")
def model(tiny_imagenet_model: str) -> Any:
    return load_model(tiny_imagenet_model)


class Served:
    def __init__(self, classifier: Classifier, max_bytes: int = 1 << 20) -> None:
        self.classifier = classifier
        self.server = waitress.create_server(
            make_app(classifier), host="127.0.0.1", port=0, threads=8,
            max_request_body_size=max_bytes,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def request(self, path: str, body: bytes | None = None, method: str | None = None):
        request = urllib.request.Request(self.url + path, data=body, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), json.loads(response.read())
        except urllib.error.HTTPError as error:
            payload = error.read()
            try:
                return error.code, dict(error.headers), json.loads(payload)
            except ValueError:  # waitress's own answers (413) are plain text
                return error.code, dict(error.headers), {"text": payload.decode(errors="replace")}

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def served(model: Any) -> Iterator[Served]:
    server = Served(Classifier(model, queue_size=4, batch_size=8))
    yield server
    server.close()


def test_a_posted_picture_gets_its_verdict_with_the_model(served, images, model) -> None:
    status, _, cat = served.request("/classify", Path(images["red"]).read_bytes())
    assert status == 200, cat
    assert (cat["is_cat"], cat["model"], cat["model_sha256"]) == (True, "tiny_32", model.sha256)
    status, _, other = served.request("/classify", Path(images["blue"]).read_bytes())
    assert (status, other["is_cat"]) == (200, False)
    assert set(cat) == {"image", "is_cat", "cat_probability", "top", "model", "model_sha256"}


def test_what_is_not_a_picture_is_400_with_the_reason(served) -> None:
    status, _, answer = served.request("/classify", b"a shopping list, not a picture")
    assert status == 400 and "not" in answer["error"], answer


def test_a_body_over_the_bound_is_413(model, images) -> None:
    server = Served(Classifier(model), max_bytes=1000)
    try:
        status, _, _ = server.request("/classify", b"\x89PNG" + b"\0" * 5000)
        assert status == 413
        status, _, _ = server.request("/classify", Path(images["red"]).read_bytes())
        assert status == 200  # the tiny PNG fits
    finally:
        server.close()


def test_health_methods_and_paths(served, model) -> None:
    status, _, health = served.request("/healthz")
    assert (status, health) == (
        200,
        {"status": "ok", "model": "tiny_32", "model_sha256": model.sha256},
    )
    assert served.request("/classify")[0] == 405
    assert served.request("/nowhere")[0] == 404


def test_a_full_queue_sheds_load_with_503_and_a_busy_network_batches(model, images) -> None:
    gate, original = threading.Event(), model.predict

    def held_predict(batch):
        gate.wait(30)
        return original(batch)

    classifier = Classifier(model, queue_size=4, batch_size=8, max_wait_ms=50)
    classifier.model = type(model)(**{**model.__dict__})
    classifier.model.predict = held_predict  # the network is busy until the gate opens
    server = Served(classifier)
    body = Path(images["red"]).read_bytes()
    try:
        with ThreadPoolExecutor(8) as pool:
            first = [pool.submit(server.request, "/classify", body) for _ in range(4)]
            # the four hold every slot (one in the network, three waiting): the next is shed
            deadline = threading.Event()
            for _ in range(100):
                if classifier._slots._value == 0:  # noqa: SLF001
                    break
                deadline.wait(0.05)
            status, headers, answer = server.request("/classify", body)
            assert status == 503 and headers["Retry-After"] == "1", answer
            gate.set()
            assert [f.result()[0] for f in first] == [200] * 4
        assert max(classifier.batches) > 1, classifier.batches  # the waiting three went together
        assert server.request("/classify", body)[0] == 200  # the slots came back
    finally:
        gate.set()
        server.close()


def test_classify_serve_refuses_a_missing_model_with_exit_3(tmp_path, capsys) -> None:
    assert classify_main(["serve", "--model", str(tmp_path / "none")]) == 3
    assert capsys.readouterr().err.startswith("classify serve: model: ")
