"""The numpy reference that `ecsdl import-tflite` is tested against inside the image
(docker/ecsdl/tests/tflite_models.py) is the TFLite runtime's arithmetic: each of its synthetic
models, written as a .tflite, gives in the runtime (PyPI ai-edge-litert) exactly the uint8
values the reference computes. And the runtime helper of tests/tflite_runtime.py reproduces the
recorded answers of shared/models/tflite (reference-skimage-mobilenet_v2.jsonl)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.tflite_runtime import (
    MOBILENET_V2,
    SHARED_TFLITE,
    Runtime,
    Top,
    agreement,
    runtime_top5,
    sample_pictures,
)

MODELS_FILE = (
    Path(__file__).resolve().parents[2] / "docker" / "ecsdl" / "tests" / "tflite_models.py"
)


def _load_models():
    spec = importlib.util.spec_from_file_location("ecsdl_tflite_models", MODELS_FILE)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


tm = _load_models()


def _runtime_output(data: bytes, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=data)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


@pytest.mark.parametrize("name", [*tm.CASES, "tiny-classifier"])
def test_the_runtime_gives_the_references_uint8_values(name):
    model = tm.tiny_classifier() if name == "tiny-classifier" else tm.case(name)
    data = model.to_bytes()
    shape = model.shape(model.inputs[0])
    for _ in range(3):
        x = model.rng.integers(0, 256, shape).astype(np.uint8)
        got = _runtime_output(data, x).astype(int)
        want = model.run(x).astype(int)
        assert got.shape == want.shape
        assert np.abs(got - want).max() == 0, f"{np.mean(got != want):.2%} of the values differ"


def test_the_runtime_helper_gives_the_recorded_answers(tmp_path):
    recorded = [
        json.loads(line)
        for line in (SHARED_TFLITE / "reference-skimage-mobilenet_v2.jsonl")
        .read_text()
        .splitlines()
    ]
    pictures = sample_pictures(tmp_path, [line["image"].removesuffix(".png") for line in recorded])
    for line, top5 in zip(recorded, runtime_top5(MOBILENET_V2, pictures), strict=True):
        assert len(top5) == 5
        assert [round(t.probability, 3) for t in top5[:3]] == [e[1] for e in line["top"]]
        # equal probabilities (astronaut's ski and wine bottle, 17/256) may come in any order
        found = {(t.label, round(t.probability, 3), t.index) for t in top5}
        assert {tuple(entry) for entry in line["top"]} <= found


def test_runtime_reads_its_input_size():
    runtime = Runtime(MOBILENET_V2)
    assert (runtime.height, runtime.width) == (224, 224)


@pytest.mark.parametrize(
    ("ours", "agrees", "difference"),
    [
        ([{"label": "a", "probability": 0.5}, {"label": "b", "probability": 0.3}], True, 0.0),
        ({"a": 0.49, "b": 0.32}, True, 0.02),
        ({"a": 0.4, "b": 0.4}, True, 0.1),  # a tie may go either way
        ({"b": 0.5, "a": 0.3}, False, 0.2),
        ([{"label": "a", "probability": 0.5}], True, 0.3),  # b missing: counted as 0
    ],
)
def test_agreement(ours, agrees, difference):
    theirs = [Top(0, "a", 0.5), Top(1, "b", 0.3)]
    top1, diff = agreement(ours, theirs)
    assert top1 is agrees and diff == pytest.approx(difference)
