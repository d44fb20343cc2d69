"""MXNet checkpoints (`PREFIX-symbol.json`, `PREFIX-0000.params`, `labels.txt` beside them) from a
local path or s3://, loaded for CPU inference, float16-stored parameters included.

The input shape comes, in this order, from: the caller (`--input-size`), the data node's
`__shape__` or `ecsdl_input_shape` attribute (models made by `train` carry it), a trailing
`_<size>` in the prefix's name (`mobilenet_v1_0.5_160` -> 160), else 224 with 3 channels. A data
node whose `ecsdl_output` attribute is `probabilities` (models made by `import-tflite`) says the
output already is class probabilities, used as they are (not renormalised).

When a `SHA256SUMS` file (`sha256sum` format) is beside the prefix, each file loaded from that
folder (symbol, params, labels) must be listed in it with its sha256; without one (a user's own
local checkpoint) the files load unchecked.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecsdl import EcsdlError
from ecsdl.preprocess import DEFAULT_CROP
from ecsdl.sources import SourceError, is_http, is_s3, join, read_bytes, read_bytes_if_exists

DEFAULT_SIZE = 224
_SIZE_SUFFIX = re.compile(r"_(\d{2,4})$")
CHECKSUMS = "SHA256SUMS"
# `sha256sum` output: the hex digest, a space, a space (text) or '*' (binary), the file name.
_CHECKSUM_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


class ModelError(EcsdlError):
    """A checkpoint or labels file that is missing or cannot be loaded."""


@dataclass(frozen=True)
class InputSpec:
    """What the model's `data` input wants: channels, height, width, and the central crop."""

    channels: int = 3
    height: int = DEFAULT_SIZE
    width: int = DEFAULT_SIZE
    crop: float = DEFAULT_CROP
    # the output already is probabilities (the data node's ecsdl_output attribute)
    probabilities: bool = False


def _parse_shape(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in re.findall(r"\d+", text))


def input_spec(symbol: dict[str, Any], prefix: str, size: int | None = None) -> InputSpec:
    """The input spec of a symbol (parsed JSON) saved under `prefix`; `size` overrides H and W."""
    data_node = next(
        (n for n in symbol.get("nodes", []) if n.get("op") == "null" and n.get("name") == "data"),
        None,
    )
    if data_node is None:
        raise ModelError(f"{prefix}-symbol.json: no input named 'data'")
    attrs = data_node.get("attrs") or data_node.get("attr") or {}
    channels, height, width = 3, DEFAULT_SIZE, DEFAULT_SIZE
    shape_text = attrs.get("ecsdl_input_shape") or attrs.get("__shape__")
    crop = float(attrs.get("ecsdl_crop", DEFAULT_CROP))
    if shape_text and len(_parse_shape(shape_text)) >= 3:
        channels, height, width = _parse_shape(shape_text)[-3:]
    else:
        match = _SIZE_SUFFIX.search(prefix.rstrip("/").rsplit("/", 1)[-1])
        if match:
            height = width = int(match.group(1))
    if size is not None:
        height = width = size
    probabilities = attrs.get("ecsdl_output") == "probabilities"
    return InputSpec(
        channels=channels, height=height, width=width, crop=crop, probabilities=probabilities
    )


def parse_labels(data: bytes, uri: str) -> list[str]:
    """One label per line (the class order of the model's output); blank lines are skipped."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelError(f"labels: {uri}: not UTF-8 text") from None
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    if not labels:
        raise ModelError(f"labels: {uri}: empty")
    return labels


def read_labels(uri: str) -> list[str]:
    """The labels file at `uri` (path, URL or s3://), parsed by parse_labels."""
    try:
        return parse_labels(read_bytes(uri), uri)
    except SourceError as exc:
        raise ModelError(f"labels: {exc}") from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checksums_text(files: dict[str, bytes]) -> str:
    """`sha256sum` lines (digest, two spaces, name) for {file name: content}, in that order."""
    return "".join(f"{sha256_hex(data)}  {name}\n" for name, data in files.items())


def parse_checksums(text: str, uri: str) -> dict[str, str]:
    """{file name: lower-case sha256} from a SHA256SUMS file; ModelError on a malformed line."""
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _CHECKSUM_LINE.match(line.rstrip("\r"))
        if match is None:
            raise ModelError(f"model: {uri}: line {number} is not '<sha256>  <file name>'")
        sums[match.group(2)] = match.group(1).lower()
    return sums


def read_checksums(prefix: str) -> dict[str, str] | None:
    """The SHA256SUMS beside the prefix as {file name: sha256}, or None when there is none."""
    uri = join(prefix, CHECKSUMS)
    try:
        data = read_bytes_if_exists(uri)
    except SourceError as exc:
        raise ModelError(f"model: {exc}") from None
    if data is None:
        return None
    try:
        return parse_checksums(data.decode("utf-8"), uri)
    except UnicodeDecodeError:
        raise ModelError(f"model: {uri}: not a SHA256SUMS file (not UTF-8 text)") from None


def _beside(prefix: str, uri: str) -> bool:
    """Whether `uri` is in the folder of `prefix` (where SHA256SUMS is)."""
    if is_s3(prefix) or is_http(prefix) or is_s3(uri) or is_http(uri):
        return uri.rsplit("/", 1)[0] == prefix.rsplit("/", 1)[0]
    return Path(os.path.abspath(uri)).parent == Path(os.path.abspath(prefix)).parent


def verify_checksum(uri: str, data: bytes, prefix: str, sums: dict[str, str] | None) -> None:
    """ModelError (one line naming the file) when `uri`, a file in the prefix's folder, is not
    listed in its SHA256SUMS or does not match; nothing to check without SHA256SUMS or for a
    file elsewhere (e.g. --labels from another folder)."""
    if sums is None or not _beside(prefix, uri):
        return
    name = uri.rsplit("/", 1)[-1] if is_s3(uri) or is_http(uri) else Path(uri).name
    expected = sums.get(name)
    sums_uri = join(prefix, CHECKSUMS)
    if expected is None:
        raise ModelError(f"model: {uri}: not listed in {sums_uri}")
    actual = sha256_hex(data)
    if actual != expected:
        raise ModelError(
            f"model: {uri}: sha256 mismatch: the file has {actual}, {sums_uri} says {expected}"
        )


def default_labels_uri(prefix: str) -> str:
    """`labels.txt` in the folder of the checkpoint prefix."""
    return join(prefix, "labels.txt")


@dataclass
class Model:
    """A loaded checkpoint: `predict(batch)` gives one row of class probabilities per image."""

    prefix: str
    net: Any
    spec: InputSpec
    labels: list[str] = field(default_factory=list)
    # the MXNet context the network's parameters are on (None: the CPU)
    ctx: Any = None
    # the checkpoint's name (the prefix's last part) and its parameters' sha256: which model
    # gave a verdict, in the verdicts of `classify --verdicts`
    name: str = ""
    sha256: str = ""

    def predict(self, batch: np.ndarray) -> np.ndarray:
        import mxnet as mx

        data = mx.nd.array(batch, dtype="float32", ctx=self.ctx or mx.cpu())
        output = self.net(data).asnumpy().astype(np.float64)
        output = output.reshape(output.shape[0], -1)
        if self.spec.probabilities:
            return output
        return as_probabilities(output)


def as_probabilities(output: np.ndarray) -> np.ndarray:
    """Rows that already are probabilities stay; anything else (logits) goes through softmax."""
    sums = output.sum(axis=1)
    if np.all(output >= 0) and np.allclose(sums, 1.0, atol=1e-3):
        return output
    shifted = output - output.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def load_model(
    prefix: str,
    labels_uri: str | None = None,
    epoch: int = 0,
    size: int | None = None,
    ctx: Any = None,
) -> Model:
    """Load `PREFIX-symbol.json` and `PREFIX-%04d.params` (epoch) with their labels, each
    checked against the SHA256SUMS beside the prefix when there is one, onto the MXNet context
    `ctx` (ecsdl.device.pick_device; None: the CPU)."""
    import mxnet as mx

    symbol_uri = f"{prefix}-symbol.json"
    params_uri = f"{prefix}-{epoch:04d}.params"
    labels_uri = labels_uri or default_labels_uri(prefix)
    try:
        symbol_bytes = read_bytes(symbol_uri)
        params_bytes = read_bytes(params_uri)
    except SourceError as exc:
        raise ModelError(f"model: {exc}") from None
    try:
        labels_bytes = read_bytes(labels_uri)
    except SourceError as exc:
        raise ModelError(f"labels: {exc}") from None
    sums = read_checksums(prefix)
    for uri, data in ((symbol_uri, symbol_bytes), (params_uri, params_bytes)):
        verify_checksum(uri, data, prefix, sums)
    verify_checksum(labels_uri, labels_bytes, prefix, sums)
    try:
        symbol = json.loads(symbol_bytes)
    except ValueError:
        raise ModelError(f"model: {symbol_uri}: not an MXNet symbol (invalid JSON)") from None
    spec = input_spec(symbol, prefix, size)
    labels = parse_labels(labels_bytes, labels_uri)

    with tempfile.TemporaryDirectory(prefix="ecsdl-model-") as tmp:
        symbol_path = os.path.join(tmp, "model-symbol.json")
        params_path = os.path.join(tmp, "model-0000.params")
        Path(symbol_path).write_bytes(symbol_bytes)
        Path(params_path).write_bytes(params_bytes)
        ctx = ctx or mx.cpu()
        try:
            net = mx.gluon.SymbolBlock.imports(symbol_path, ["data"], ctx=ctx)
            # cast_dtype: float16-stored weights become the block's float32 (MXNet has no fp16
            # gemm on CPU); float32 checkpoints load unchanged.
            net.collect_params().load(params_path, ctx=ctx, cast_dtype=True, dtype_source="current")
        except (mx.base.MXNetError, AssertionError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"model: {prefix}: cannot load the checkpoint ({first})") from None
    # static shapes: about 2x the batch-32 throughput on CPU (bench.py); rebinds per batch size
    net.hybridize(static_alloc=True, static_shape=True)
    model = Model(
        prefix=prefix,
        net=net,
        spec=spec,
        labels=labels,
        ctx=ctx,
        name=prefix.rstrip("/").rsplit("/", 1)[-1],
        sha256=sha256_hex(params_bytes),
    )
    classes = model.predict(np.zeros((1, spec.channels, spec.height, spec.width), np.float32))
    if classes.shape[1] != len(labels):
        raise ModelError(
            f"model: {prefix}: {classes.shape[1]} outputs but {len(labels)} labels in {labels_uri}"
        )
    return model
