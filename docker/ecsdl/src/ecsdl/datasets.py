"""Training data: MNIST (the 4 idx gz files from a URL or s3:// prefix, each checked against its
published sha256) and the 8x8 digits data shipped in scikit-learn's wheel (offline; the image
carries the file, not scikit-learn).

Both come back as float32 images (N, 1, H, W) in [0, 255] (white digit on black) and int labels.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecsdl import EcsdlError
from ecsdl.sources import SourceError, read_bytes

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
# The sha256 of the four files as MNIST publishes them (yann.lecun.com/exdb/mnist) and its
# byte-for-byte mirrors serve them (ossci-datasets.s3.amazonaws.com/mnist, the AWS inventory's
# train_data; storage.googleapis.com/cvdf-datasets/mnist): a copy with other bytes is refused.
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",  # noqa: E501
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",  # noqa: E501
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
DIGITS_FILE = "digits.csv.gz"


class DatasetError(EcsdlError):
    """Training data that cannot be found or parsed."""


@dataclass
class Dataset:
    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    labels: list[str]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.train_x.shape[1:])  # type: ignore[return-value]


def parse_idx(data: bytes, name: str = "idx") -> np.ndarray:
    """An idx file (gzip or not): ubyte images (N, H, W) or labels (N,)."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise DatasetError(f"{name}: not an unsigned-byte idx file")
    ndim = data[3]
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", data[4:header])
    array = np.frombuffer(data, dtype=np.uint8, offset=header)
    if array.size != int(np.prod(dims)):
        raise DatasetError(f"{name}: {array.size} values for shape {dims}")
    return array.reshape(dims)


def check_sha256(uri: str, data: bytes, expected: str) -> None:
    """DatasetError, one line naming the file and both digests, when data's sha256 differs."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected.lower():
        raise DatasetError(
            f"MNIST: {uri}: sha256 {actual}, expected {expected.lower()}: not the published "
            "file (changed or damaged); nothing was trained"
        )


def load_mnist(source: str, sha256: Mapping[str, str] | None = MNIST_SHA256) -> Dataset:
    """MNIST from a folder, URL or s3:// prefix holding the four idx gz files, each of which
    must have the sha256 that `sha256` gives for its name (MNIST's own by default; None: no
    check, for tests and data of one's own)."""
    parts = {}
    for key, filename in MNIST_FILES.items():
        uri = f"{source.rstrip('/')}/{filename}"
        try:
            data = read_bytes(uri)
        except SourceError as exc:
            raise DatasetError(f"MNIST: {exc}") from None
        if sha256 is not None:
            check_sha256(uri, data, sha256[filename])
        parts[key] = parse_idx(data, uri)
    return Dataset(
        name="mnist",
        train_x=parts["train_images"][:, np.newaxis].astype(np.float32),
        train_y=parts["train_labels"].astype(np.int64),
        val_x=parts["test_images"][:, np.newaxis].astype(np.float32),
        val_y=parts["test_labels"].astype(np.int64),
        labels=[str(i) for i in range(10)],
    )


def digits_path() -> Path:
    """digits.csv.gz: $ECSDL_DIGITS, the image's copy, or an installed scikit-learn's."""
    candidates = []
    if os.environ.get("ECSDL_DIGITS"):
        candidates.append(Path(os.environ["ECSDL_DIGITS"]))
    candidates.append(Path(sys.prefix) / "share" / "ecsdl" / DIGITS_FILE)
    try:
        import sklearn  # type: ignore[import-not-found]

        candidates.append(Path(sklearn.__file__).parent / "datasets" / "data" / DIGITS_FILE)
    except ImportError:
        pass
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DatasetError(
        f"digits: {DIGITS_FILE} not found (looked in {', '.join(map(str, candidates))}); "
        "set ECSDL_DIGITS to its path"
    )


def load_digits(validation: float = 0.2, seed: int = 42) -> Dataset:
    """scikit-learn's 1797 8x8 digits (values 0..16 scaled to 0..255), split for validation."""
    path = digits_path()
    try:
        table = np.loadtxt(gzip.open(path, "rt"), delimiter=",", dtype=np.float32)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"digits: {path}: cannot parse ({exc})") from None
    images = (table[:, :64] * (255.0 / 16.0)).reshape(-1, 1, 8, 8)
    targets = table[:, 64].astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(targets))
    n_val = int(round(len(targets) * validation))
    val, train = order[:n_val], order[n_val:]
    return Dataset(
        name="digits",
        train_x=images[train],
        train_y=targets[train],
        val_x=images[val],
        val_y=targets[val],
        labels=[str(i) for i in range(10)],
    )
