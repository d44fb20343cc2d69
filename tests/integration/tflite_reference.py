"""The TFLite runtime's own answers (PyPI ai-edge-litert, a test dependency on the controller),
to compare a converted model with its original.

Preprocessing as ../shared/models/tflite/reference.py does it, and as `classify` does it for
the converted model: central 87.5 % square crop, bilinear resize, uint8 RGB; the output is
dequantized with its own scale and zero point. Labels come from the file's own metadata (the
zip archive at its end).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

# scikit-image's samples of the shared reference answers (reference-skimage-mobilenet_v2.jsonl).
SKIMAGE_SAMPLES = ("chelsea", "coffee", "astronaut", "rocket")


def skimage_samples(folder: Path, names: Sequence[str] = SKIMAGE_SAMPLES) -> list[Path]:
    """scikit-image's sample pictures, saved as PNG in `folder` (as the reference's were)."""
    from skimage import data

    paths = []
    for name in names:
        path = folder / f"{name}.png"
        Image.fromarray(getattr(data, name)()).save(path)
        paths.append(path)
    return paths


def model_labels(model: Path) -> list[str]:
    """The labels inside a .tflite (TFLite metadata: a zip archive appended to the file)."""
    with zipfile.ZipFile(model) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".txt"))
        return [line.strip() for line in archive.read(name).decode().splitlines()]


def runtime_probabilities(model: Path, pictures: Sequence[Path]) -> dict[str, dict[str, float]]:
    """{picture's file name: {label: probability}} for every class, as the runtime says."""
    from ai_edge_litert.interpreter import Interpreter

    labels = model_labels(model)
    interpreter = Interpreter(model_path=str(model))
    interpreter.allocate_tensors()
    given = interpreter.get_input_details()[0]
    output = interpreter.get_output_details()[0]
    height, width = given["shape"][1:3]
    scale, zero_point = output["quantization"]
    answers = {}
    for picture in pictures:
        image = Image.open(picture).convert("RGB")
        side = int(min(image.size) * 0.875)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side))
        image = image.resize((width, height), Image.BILINEAR)
        interpreter.set_tensor(given["index"], np.asarray(image, dtype=np.uint8)[None])
        interpreter.invoke()
        quantized = interpreter.get_tensor(output["index"])[0].astype(np.float32)
        probabilities = (quantized - zero_point) * scale
        answers[picture.name] = dict(zip(labels, map(float, probabilities), strict=True))
    return answers


def top(probabilities: dict[str, float], k: int) -> list[tuple[str, float]]:
    """The k most probable (label, probability), most probable first (ties in label order)."""
    return sorted(probabilities.items(), key=lambda item: -item[1])[:k]
