"""`ecsdl import-tflite`: convert a quantized TFLite image classifier into an MXNet checkpoint.

    ecsdl import-tflite SOURCE PREFIX [--labels LABELS]

SOURCE is a .tflite file (path, http(s) URL or s3:// URI), PREFIX where the checkpoint goes (path
or s3:// prefix): PREFIX-symbol.json, PREFIX-0000.params, labels.txt, SHA256SUMS (the sha256 of
those three and of the record) and PREFIX-import.json (the record: the source's sha256 and
IMPORTER_VERSION, so a caller can tell a conversion is current), all beside each other.

What it converts: uint8 models with per-tensor quantization (post-training quantized ImageNet
classifiers such as MobileNet v1/v2), made of CONV_2D, DEPTHWISE_CONV_2D, ADD, AVERAGE_POOL_2D,
MAX_POOL_2D, FULLY_CONNECTED, CONCATENATION, RESHAPE, SQUEEZE and SOFTMAX, with fused RELU,
RELU6, RELU_N1_TO_1 or no activation. Anything else is refused by name, in one line.

How the uint8 arithmetic is emulated (in float32, which MXNet runs fast on CPU): every tensor of
the graph holds the integers `q - zero_point` of the TFLite tensor it stands for, so its real
value is `scale * (q - zero_point)`. An op computes in real terms with the scales folded into its
weights (conv: `w_real * s_in / s_out`, bias `b_int32 * s_in * s_w / s_out`), then rounds and
clips to the uint8 range narrowed by the fused activation: exactly
`y = (clip(round(x / s_out) + zp_out, lo, hi) - zp_out) * s_out` after each op, without the
extra passes. The graph input is the uint8 pixel values (float32 in [0, 255]); the softmax output
is quantized too (scale 1/256), so the probabilities are those of the TFLite runtime (multiples
of 1/256) up to rounding ties. NHWC tensors of TFLite are NCHW here; SAME padding with an odd
total pads explicitly (one more at the bottom/right, with the real zero) before the op.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ecsdl import EcsdlError, __version__
from ecsdl.model import CHECKSUMS, ModelError, checksums_text, parse_labels, sha256_hex
from ecsdl.sources import SourceError, join, read_bytes, write_bytes

# Bump whenever the checkpoint made from the same .tflite changes (graph, params, attributes):
# a caller compares it with the record's to know whether a conversion is current.
IMPORTER_VERSION = 1
# What the converted model's data node carries (see model.input_spec).
CROP = 0.875

EXIT_OK = 0
EXIT_CONVERSION = 1  # the file is not a TFLite model this importer converts
EXIT_USAGE = 2
EXIT_SOURCE = 3  # the source or the labels cannot be read
EXIT_OUTPUT = 4  # the checkpoint cannot be written

# TFLite's BuiltinOperator codes, ActivationFunctionType, Padding and TensorType (schema.fbs).
ADD, AVERAGE_POOL_2D, CONCATENATION, CONV_2D, DEPTHWISE_CONV_2D = 0, 1, 2, 3, 4
FULLY_CONNECTED, MAX_POOL_2D, RESHAPE, SOFTMAX, SQUEEZE, CUSTOM = 9, 17, 22, 25, 43, 32
PLACEHOLDER_FOR_GREATER_OP_CODES = 127
ACT_NONE, ACT_RELU, ACT_RELU_N1_TO_1, ACT_RELU6 = 0, 1, 2, 3
ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
PADDING_SAME, PADDING_VALID = 0, 1
UINT8, INT32 = 3, 2
TENSOR_TYPES = {
    0: "FLOAT32",
    1: "FLOAT16",
    2: "INT32",
    3: "UINT8",
    4: "INT64",
    5: "STRING",
    6: "BOOL",
    7: "INT16",
    8: "COMPLEX64",
    9: "INT8",
    10: "FLOAT64",
}
_NUMPY_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}
QMIN, QMAX = 0, 255
# float32 x + 1.5 * 2**23 - 1.5 * 2**23 is x rounded to an integer, halves to even (|x| < 2**22)
_MAGIC = 12582912.0
# NHWC axis -> NCHW axis, for 4-D tensors
_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}


class ConversionError(EcsdlError):
    """The file is not a TFLite model, or one this importer cannot convert (one line)."""


class OutputError(EcsdlError):
    """The checkpoint cannot be written (one line)."""


def op_name(code: int) -> str:
    """TFLite's name of a builtin operator code (`MUL` for 18)."""
    from tflite.utils import BUILTIN_OPCODE2NAME

    return BUILTIN_OPCODE2NAME.get(code, f"builtin {code}")


# ---------------------------------------------------------------------------------------------
# Parsing: the flatbuffer into plain data


@dataclass
class Tensor:
    """One tensor of the subgraph: TFLite shape (NHWC), type, per-tensor quantization, data."""

    index: int
    name: str
    shape: tuple[int, ...]
    type: int
    scale: float | None = None
    zero_point: int | None = None
    scales: int = 0  # how many scales the quantization has (> 1: per-axis)
    data: np.ndarray | None = None

    @property
    def type_name(self) -> str:
        return TENSOR_TYPES.get(self.type, f"type {self.type}")


@dataclass
class Operator:
    index: int
    code: int
    custom: str | None
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any]

    @property
    def name(self) -> str:
        if self.code == CUSTOM:
            return f"CUSTOM {self.custom!r}" if self.custom else "CUSTOM"
        return op_name(self.code)


@dataclass
class Graph:
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]


def _options(op: Any, kind: str) -> Any:
    """The op's builtin options as the `tflite` class `kind` (None when the op has none)."""
    import importlib

    table = op.BuiltinOptions()
    if table is None:
        return None
    cls = getattr(importlib.import_module(f"tflite.{kind}"), kind)
    options = cls()
    options.Init(table.Bytes, table.Pos)
    return options


def _parse_options(op: Any, code: int) -> dict[str, Any]:
    if code in (CONV_2D, DEPTHWISE_CONV_2D):
        kind = "Conv2DOptions" if code == CONV_2D else "DepthwiseConv2DOptions"
        o = _options(op, kind)
        if o is None:
            return {}
        options = {
            "padding": o.Padding(),
            "stride": (o.StrideH(), o.StrideW()),
            "dilation": (o.DilationHFactor() or 1, o.DilationWFactor() or 1),
            "activation": o.FusedActivationFunction(),
        }
        if code == DEPTHWISE_CONV_2D:
            options["depth_multiplier"] = o.DepthMultiplier()
        return options
    if code in (AVERAGE_POOL_2D, MAX_POOL_2D):
        o = _options(op, "Pool2DOptions")
        if o is None:
            return {}
        return {
            "padding": o.Padding(),
            "stride": (o.StrideH(), o.StrideW()),
            "filter": (o.FilterHeight(), o.FilterWidth()),
            "activation": o.FusedActivationFunction(),
        }
    if code == ADD:
        o = _options(op, "AddOptions")
        return {"activation": o.FusedActivationFunction() if o else ACT_NONE}
    if code == CONCATENATION:
        o = _options(op, "ConcatenationOptions")
        return {"axis": o.Axis(), "activation": o.FusedActivationFunction()} if o else {}
    if code == FULLY_CONNECTED:
        o = _options(op, "FullyConnectedOptions")
        if o is None:
            return {"activation": ACT_NONE, "weights_format": 0}
        return {"activation": o.FusedActivationFunction(), "weights_format": o.WeightsFormat()}
    if code == SOFTMAX:
        o = _options(op, "SoftmaxOptions")
        return {"beta": o.Beta() if o else 1.0}
    return {}


def _buffer(model: Any, data: bytes, index: int) -> bytes | None:
    if index <= 0 or index >= model.BuffersLength():
        return None
    buffer = model.Buffers(index)
    # large models keep the bytes after the flatbuffer: offset and size from the file's start
    if buffer.Offset() > 1:
        return data[buffer.Offset() : buffer.Offset() + buffer.Size()]
    if buffer.DataLength() == 0:
        return None
    return buffer.DataAsNumpy().tobytes()


def _parse_tensor(model: Any, data: bytes, subgraph: Any, index: int) -> Tensor:
    t = subgraph.Tensors(index)
    shape = tuple(int(v) for v in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    tensor = Tensor(index, (t.Name() or b"").decode("utf-8", "replace"), shape, t.Type())
    q = t.Quantization()
    if q is not None and q.ScaleLength():
        tensor.scales = q.ScaleLength()
        tensor.scale = float(q.Scale(0))
        tensor.zero_point = int(q.ZeroPoint(0)) if q.ZeroPointLength() else 0
    raw = _buffer(model, data, t.Buffer())
    if raw is not None and t.Type() in _NUMPY_TYPES:
        tensor.data = np.frombuffer(raw, dtype=_NUMPY_TYPES[t.Type()]).reshape(shape)
    return tensor


def parse(data: bytes, name: str = "model") -> Graph:
    """The first subgraph of a .tflite as plain data; ConversionError when it is not one."""
    import tflite

    if len(data) < 8 or not tflite.Model.ModelBufferHasIdentifier(data, 0):
        raise ConversionError(f"{name}: not a TFLite flatbuffer (no TFL3 file identifier)")
    try:
        model = tflite.Model.GetRootAs(data, 0)
        if model.SubgraphsLength() != 1:
            raise ConversionError(
                f"{name}: {model.SubgraphsLength()} subgraphs; only single-subgraph models convert"
            )
        subgraph = model.Subgraphs(0)
        tensors = [_parse_tensor(model, data, subgraph, i) for i in range(subgraph.TensorsLength())]
        operators = []
        for i in range(subgraph.OperatorsLength()):
            op = subgraph.Operators(i)
            opcode = model.OperatorCodes(op.OpcodeIndex())
            # schema 3a: the int8 deprecated_builtin_code holds codes < 127, builtin_code all
            code = max(int(opcode.BuiltinCode()), int(opcode.DeprecatedBuiltinCode()))
            custom = opcode.CustomCode()
            operators.append(
                Operator(
                    index=i,
                    code=code,
                    custom=custom.decode("utf-8", "replace") if custom else None,
                    inputs=[int(v) for v in op.InputsAsNumpy()] if op.InputsLength() else [],
                    outputs=[int(v) for v in op.OutputsAsNumpy()] if op.OutputsLength() else [],
                    options=_parse_options(op, code),
                )
            )
        inputs = [int(v) for v in subgraph.InputsAsNumpy()] if subgraph.InputsLength() else []
        outputs = [int(v) for v in subgraph.OutputsAsNumpy()] if subgraph.OutputsLength() else []
    except ConversionError:
        raise
    except Exception as exc:  # noqa: BLE001 - a corrupt flatbuffer fails anywhere in the bindings
        raise ConversionError(
            f"{name}: not a valid TFLite flatbuffer ({type(exc).__name__}: {exc})"
        ) from None
    return Graph(tensors=tensors, operators=operators, inputs=inputs, outputs=outputs)


def metadata_labels(data: bytes) -> list[str] | None:
    """The labels in the file's TFLite metadata: the zip archive the file ends with (the
    associated files), its labels .txt (the one whose name has `label`, or the only .txt).
    None when there is no archive or no such file in it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return None
    with archive:
        texts = [n for n in archive.namelist() if n.lower().endswith(".txt")]
        named = [n for n in texts if "label" in n.lower()]
        chosen = named or texts
        if len(chosen) != 1:
            return None
        try:
            return parse_labels(archive.read(chosen[0]), chosen[0])
        except (ModelError, zipfile.BadZipFile, OSError):
            return None


# ---------------------------------------------------------------------------------------------
# Building the MXNet graph


@dataclass
class Value:
    """An MXNet symbol standing for a uint8 TFLite tensor: it holds `q - zero_point` (so the
    real value is `scale * symbol`), NCHW when the TFLite tensor is 4-D NHWC."""

    sym: Any
    shape: tuple[int, ...]  # the TFLite (NHWC) shape
    scale: float
    zero_point: int
    probabilities: bool = False  # a softmax output (through reshapes)
    constant: bool = False  # a parameter: batch 1, broadcast against the batch


@dataclass
class Converted:
    """The MXNet model made from a .tflite."""

    symbol: Any
    params: dict[str, np.ndarray]
    input_shape: tuple[int, ...]  # MXNet's: (1, C, H, W) for an image
    classes: int
    operators: int
    probabilities: bool
    op_counts: dict[str, int] = field(default_factory=dict)


def _quantize_int(value: float, scale: float) -> int:
    """round(value / scale), halves away from zero (TFLite's TfLiteRound)."""
    x = value / scale
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def activation_range(activation: int, scale: float, zero_point: int) -> tuple[int, int]:
    """The uint8 range [lo, hi] of an output with this fused activation (TFLite's
    CalculateActivationRangeQuantized)."""
    lo, hi = QMIN, QMAX
    if activation == ACT_RELU:
        lo = max(lo, zero_point)
    elif activation == ACT_RELU6:
        lo = max(lo, zero_point)
        hi = min(hi, zero_point + _quantize_int(6.0, scale))
    elif activation == ACT_RELU_N1_TO_1:
        lo = max(lo, zero_point + _quantize_int(-1.0, scale))
        hi = min(hi, zero_point + _quantize_int(1.0, scale))
    return lo, hi


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int, int]:
    """TFLite's SAME: (output size, padding before, padding after); the odd one goes after."""
    out = -(-size // stride)
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - size, 0)
    return out, total // 2, total - total // 2


def valid_output(size: int, kernel: int, stride: int, dilation: int = 1) -> int:
    effective = (kernel - 1) * dilation + 1
    return (size - effective) // stride + 1


def requantization_scale(input_scale: float, weight_scale: float, output_scale: float) -> float:
    """input scale * weight scale / output scale, in float32 arithmetic (as XNNPACK makes it)."""
    f32 = np.float32
    return float(f32(f32(input_scale) * f32(weight_scale)) / f32(output_scale))


def add_multipliers(
    a_scale: float, b_scale: float, out_scale: float
) -> tuple[tuple[int, int], int]:
    """XNNPACK's uint8 add parameters: (a, b) fixed-point multipliers and the shift, such that
    q_out - zp = floor((a * (qa - zpa) + b * (qb - zpb)) / 2**shift + 1/2)."""
    f32 = np.float32
    ratios = [f32(f32(a_scale) / f32(out_scale)), f32(f32(b_scale) / f32(out_scale))]
    exponent = int(np.frexp(max(ratios))[1]) - 1  # the float's unbiased exponent
    shift = 20 - exponent
    multipliers = tuple(int(np.rint(np.ldexp(np.float64(r), shift))) for r in ratios)
    return (multipliers[0], multipliers[1]), shift


class _Builder:
    """Walks the operators in order (TFLite's are topologically sorted) and makes the symbol."""

    def __init__(self, graph: Graph, name: str) -> None:
        import mxnet as mx

        self.mx = mx
        self.graph = graph
        self.name = name
        self.values: dict[int, Value] = {}
        self.params: dict[str, np.ndarray] = {}
        self.op_counts: dict[str, int] = {}

    # -- helpers --------------------------------------------------------------------------

    def fail(self, op: Operator, message: str) -> ConversionError:
        return ConversionError(f"{self.name}: {message} at op {op.index} ({op.name})")

    def tensor(self, index: int) -> Tensor:
        return self.graph.tensors[index]

    def quantized(self, op: Operator, index: int, kind: int = UINT8) -> Tensor:
        """The tensor, checked to be of `kind` with one (per-tensor) scale."""
        tensor = self.tensor(index)
        if tensor.scales > 1:
            raise self.fail(
                op,
                f"per-axis quantization ({tensor.scales} scales) of tensor {tensor.name!r} is "
                "not supported (only per-tensor quantized uint8 models are)",
            )
        if tensor.type != kind or tensor.scale is None:
            what = tensor.type_name + ("" if tensor.scale is not None else " (not quantized)")
            raise self.fail(
                op,
                f"tensor {tensor.name!r} is {what}; only quantized {TENSOR_TYPES[kind]} is "
                "supported here",
            )
        return tensor

    def constant(self, op: Operator, index: int) -> Tensor:
        tensor = self.tensor(index)
        if tensor.data is None:
            raise self.fail(op, f"tensor {tensor.name!r} should be constant (weights) but is not")
        return tensor

    def param(self, name: str, array: np.ndarray) -> Any:
        array = np.ascontiguousarray(array, dtype=np.float32)
        self.params[name] = array
        return self.mx.sym.var(name, shape=array.shape, dtype="float32")

    def value(self, op: Operator, index: int) -> Value:
        """The Value of an op input: computed before, or a constant tensor made a parameter."""
        if index in self.values:
            return self.values[index]
        tensor = self.quantized(op, index)
        if tensor.data is None:
            raise self.fail(op, f"tensor {tensor.name!r} is used before any op computes it")
        centered = tensor.data.astype(np.float64) - tensor.zero_point
        if centered.ndim == 4:
            centered = centered.transpose(0, 3, 1, 2)
        sym = self.param(f"const{index}", centered)
        value = Value(sym, tensor.shape, tensor.scale, tensor.zero_point, constant=True)
        self.values[index] = value
        return value

    def activation(self, op: Operator) -> int:
        activation = op.options.get("activation", ACT_NONE)
        if activation not in (ACT_NONE, ACT_RELU, ACT_RELU6, ACT_RELU_N1_TO_1):
            name = ACTIVATIONS.get(activation, str(activation))
            raise self.fail(op, f"unsupported fused activation {name}")
        return activation

    def requantize(self, sym: Any, out: Tensor, activation: int) -> Any:
        """`sym` is the real result divided by the output scale (float32): clip it to the
        output's uint8 range narrowed by the activation and round it to the nearest integer,
        halves to even, as `q - zero_point` (XNNPACK's fp32 requantization: clamp, then the
        1.5 * 2**23 magic number that float32 addition rounds at 1)."""
        mx = self.mx
        lo, hi = activation_range(activation, out.scale, out.zero_point)
        clipped = mx.sym.clip(sym, float(lo - out.zero_point), float(hi - out.zero_point))
        return (clipped + _MAGIC) - _MAGIC

    def output(self, op: Operator, sym: Any, probabilities: bool = False) -> None:
        if len(op.outputs) != 1:
            raise self.fail(op, f"{len(op.outputs)} outputs; only ops with one output convert")
        out = self.quantized(op, op.outputs[0])
        self.values[op.outputs[0]] = Value(sym, out.shape, out.scale, out.zero_point, probabilities)

    def pad(self, sym: Any, pads: tuple[int, int, int, int], value: float = 0.0) -> Any:
        top, bottom, left, right = pads
        if not any(pads):
            return sym
        return self.mx.sym.pad(
            sym,
            mode="constant",
            constant_value=value,
            pad_width=(0, 0, 0, 0, top, bottom, left, right),
        )

    def window(
        self, op: Operator, x: Value, kernel: tuple[int, int], out: Tensor
    ) -> tuple[tuple[int, int, int, int], tuple[int, int], tuple[int, int]]:
        """(top, bottom, left, right) padding, stride and dilation of a windowed op, checked
        against the output shape TFLite says."""
        stride = op.options.get("stride", (1, 1))
        dilation = op.options.get("dilation", (1, 1))
        if len(x.shape) != 4 or len(out.shape) != 4:
            raise self.fail(op, "a 4-D NHWC input and output are needed")
        if min(stride) < 1 or min(dilation) < 1:
            raise self.fail(op, f"stride {stride} or dilation {dilation} is not positive")
        padding = op.options.get("padding", PADDING_VALID)
        sizes, pads = [], []
        for axis in (0, 1):
            size, k, s, d = x.shape[1 + axis], kernel[axis], stride[axis], dilation[axis]
            if padding == PADDING_SAME:
                n, before, after = same_padding(size, k, s, d)
            elif padding == PADDING_VALID:
                n, before, after = valid_output(size, k, s, d), 0, 0
            else:
                raise self.fail(op, f"unknown padding {padding}")
            sizes.append(n)
            pads.append((before, after))
        if tuple(sizes) != tuple(out.shape[1:3]):
            raise self.fail(
                op, f"output {out.shape} does not match the padding (expected {tuple(sizes)})"
            )
        (top, bottom), (left, right) = pads
        return (top, bottom, left, right), stride, dilation

    def to_layout(self, x: Value, shape: tuple[int, ...]) -> Any:
        """x's symbol reshaped to the TFLite shape `shape` (same elements, NHWC order), in the
        graph's layout (NCHW for 4-D); the batch is kept as MXNet's first dimension."""
        mx = self.mx
        sym = x.sym

        def same_order(s: tuple[int, ...]) -> bool:
            # NHWC and NCHW lay out the elements alike when H*W or C is 1
            return len(s) != 4 or s[1] * s[2] == 1 or s[3] == 1

        if len(x.shape) == 4 and not same_order(x.shape):
            sym = mx.sym.transpose(sym, axes=(0, 2, 3, 1))
        if len(shape) == 4 and not same_order(shape):
            sym = mx.sym.reshape(sym, shape=(-1, *shape[1:]))
            return mx.sym.transpose(sym, axes=(0, 3, 1, 2))
        if len(shape) == 4:
            return mx.sym.reshape(sym, shape=(-1, shape[3], shape[1], shape[2]))
        return mx.sym.reshape(sym, shape=(-1, *shape[1:]))

    def nchw_axis(self, axis: int, rank: int) -> int:
        axis = axis + rank if axis < 0 else axis
        return _NCHW_AXIS[axis] if rank == 4 else axis

    # -- operators ------------------------------------------------------------------------

    def conv(self, op: Operator) -> None:
        mx = self.mx
        x = self.value(op, op.inputs[0])
        w = self.constant(op, op.inputs[1])
        self.quantized(op, op.inputs[1])
        out = self.quantized(op, op.outputs[0])
        activation = self.activation(op)
        depthwise = op.code == DEPTHWISE_CONV_2D
        # integer weights and bias: float32 sums of their products are the int32 accumulator
        w_int = w.data.astype(np.float64) - w.zero_point
        channels = x.shape[3] if len(x.shape) == 4 else 0
        if depthwise:
            if w.data.ndim != 4 or w.shape[0] != 1 or channels == 0 or w.shape[3] % channels:
                raise self.fail(op, f"weights {w.shape} do not fit the input {x.shape}")
            filters, kernel, groups = w.shape[3], w.shape[1:3], channels
            multiplier = filters // channels
            stated = op.options.get("depth_multiplier") or multiplier
            if stated != multiplier:
                raise self.fail(op, f"depth_multiplier {stated} but weights {w.shape}")
            # 1 x H x W x (C*M) -> (C*M) x 1 x H x W; group c makes outputs c*M .. c*M+M-1
            weight = w_int[0].transpose(2, 0, 1)[:, np.newaxis]
        else:
            if w.data.ndim != 4 or channels == 0 or channels % w.shape[3]:
                raise self.fail(op, f"weights {w.shape} do not fit the input {x.shape}")
            filters, kernel, groups = w.shape[0], w.shape[1:3], channels // w.shape[3]
            weight = w_int.transpose(0, 3, 1, 2)  # OHWI -> OIHW
        if out.shape[-1] != filters:
            raise self.fail(op, f"output {out.shape} does not match {filters} filters")
        pads, stride, dilation = self.window(op, x, tuple(kernel), out)
        bias_sym = None
        name = f"op{op.index:03d}_{'dwconv' if depthwise else 'conv'}"
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            b = self.constant(op, op.inputs[2])
            self.check_bias(op, b, x, w, filters)
            bias_sym = self.param(f"{name}_bias", b.data.reshape(-1))
        weight_sym = self.param(f"{name}_weight", weight)
        top, bottom, left, right = pads
        symmetric = top == bottom and left == right
        data = x.sym if symmetric else self.pad(x.sym, pads)
        conv = mx.sym.Convolution(
            data,
            weight=weight_sym,
            bias=bias_sym,
            kernel=tuple(kernel),
            stride=tuple(stride),
            dilate=tuple(dilation),
            pad=(top, left) if symmetric else (0, 0),
            num_filter=filters,
            num_group=groups,
            no_bias=bias_sym is None,
            name=name,
        )
        scaled = conv * requantization_scale(x.scale, w.scale, out.scale)
        self.output(op, self.requantize(scaled, out, activation))

    def check_bias(self, op: Operator, b: Tensor, x: Value, w: Tensor, filters: int) -> None:
        if b.type != INT32:
            raise self.fail(op, f"bias {b.name!r} is {b.type_name}; only INT32 is supported")
        if b.scales > 1:
            raise self.fail(
                op,
                f"per-axis quantization ({b.scales} scales) of tensor {b.name!r} is not "
                "supported (only per-tensor quantized uint8 models are)",
            )
        if b.data.size != filters:
            raise self.fail(op, f"bias {b.shape} does not match {filters} outputs")

    def fully_connected(self, op: Operator) -> None:
        mx = self.mx
        x = self.value(op, op.inputs[0])
        w = self.constant(op, op.inputs[1])
        self.quantized(op, op.inputs[1])
        out = self.quantized(op, op.outputs[0])
        activation = self.activation(op)
        if op.options.get("weights_format", 0) != 0 or w.data.ndim != 2:
            raise self.fail(op, "only DEFAULT-format 2-D weights are supported")
        units, inputs = w.shape
        total = int(np.prod(x.shape[1:])) if x.shape else 0
        if not x.shape or x.shape[0] != 1 or total != inputs:
            raise self.fail(op, f"input {x.shape} does not flatten to 1 x {inputs}")
        name = f"op{op.index:03d}_fc"
        weight_sym = self.param(f"{name}_weight", w.data.astype(np.float64) - w.zero_point)
        bias_sym = None
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            b = self.constant(op, op.inputs[2])
            self.check_bias(op, b, x, w, units)
            bias_sym = self.param(f"{name}_bias", b.data.reshape(-1))
        flat = self.to_layout(x, (1, inputs))
        fc = mx.sym.FullyConnected(
            flat,
            weight=weight_sym,
            bias=bias_sym,
            num_hidden=units,
            no_bias=bias_sym is None,
            flatten=False,
            name=name,
        )
        scaled = fc * requantization_scale(x.scale, w.scale, out.scale)
        result = self.requantize(scaled, out, activation)
        if len(out.shape) != 2:
            if int(np.prod(out.shape)) != units:
                raise self.fail(op, f"output {out.shape} does not hold {units} units")
            result = self.to_layout(Value(result, (1, units), out.scale, 0), out.shape)
        self.output(op, result)

    def add(self, op: Operator) -> None:
        """XNNPACK's uint8 add: each input times its scale ratio as a fixed-point multiplier
        (about 21 bits), summed, divided by the power of two and rounded half up; exact in
        float64 (the products stay below 2**31)."""
        mx = self.mx
        a, b = (self.value(op, i) for i in op.inputs[:2])
        out = self.quantized(op, op.outputs[0])
        activation = self.activation(op)
        (a_multiplier, b_multiplier), shift = add_multipliers(a.scale, b.scale, out.scale)
        terms = []
        for v, multiplier in ((a, a_multiplier), (b, b_multiplier)):
            sym = v.sym
            if len(v.shape) < len(out.shape) and len(out.shape) == 4:
                # a constant broadcast against NHWC: align it on the trailing axes, as numpy
                shape4 = (1,) * (4 - len(v.shape)) + v.shape
                sym = mx.sym.reshape(sym, shape=(1, shape4[3], shape4[1], shape4[2]))
            terms.append(mx.sym.cast(sym, dtype="float64") * float(multiplier))
        if a.shape == b.shape and not (a.constant or b.constant):
            total = terms[0] + terms[1]
        else:
            total = mx.sym.broadcast_add(terms[0], terms[1])
        rounded = mx.sym.floor(total * (2.0**-shift) + 0.5)
        lo, hi = activation_range(activation, out.scale, out.zero_point)
        clipped = mx.sym.clip(rounded, float(lo - out.zero_point), float(hi - out.zero_point))
        self.output(op, mx.sym.cast(clipped, dtype="float32"))

    def pool(self, op: Operator) -> None:
        """TFLite's uint8 pooling (the runtime's builtin kernels): the max of the q values, or
        their average over the window's elements inside the input (the padding left out),
        (sum + count / 2) / count in integers; input and output share their quantization."""
        mx = self.mx
        x = self.value(op, op.inputs[0])
        out = self.quantized(op, op.outputs[0])
        activation = self.activation(op)
        kernel = tuple(op.options.get("filter", (0, 0)))
        if min(kernel) < 1:
            raise self.fail(op, f"filter {kernel} is not positive")
        if (x.scale, x.zero_point) != (out.scale, out.zero_point):
            raise self.fail(op, "input and output quantization differ (TFLite refuses it too)")
        pads, stride, _ = self.window(op, x, kernel, out)
        lo, hi = activation_range(activation, out.scale, out.zero_point)
        bounds = float(lo - out.zero_point), float(hi - out.zero_point)
        name = f"op{op.index:03d}_{'avgpool' if op.code == AVERAGE_POOL_2D else 'maxpool'}"
        if op.code == MAX_POOL_2D:
            sym = mx.sym.Pooling(
                self.pad(x.sym, pads, value=-1e9),  # never the max
                kernel=kernel,
                stride=stride,
                pool_type="max",
                pooling_convention="valid",
                name=name,
            )
            self.output(op, mx.sym.clip(sym, *bounds))
            return
        sym = mx.sym.Pooling(
            self.pad(x.sym, pads),
            kernel=kernel,
            stride=stride,
            pool_type="sum",
            pooling_convention="valid",
            name=name,
        )
        ones = np.pad(np.ones(x.shape[1:3]), ((pads[0], pads[1]), (pads[2], pads[3])))
        counts = np.empty(out.shape[1:3])
        for i in range(out.shape[1]):
            for j in range(out.shape[2]):
                top, left = i * stride[0], j * stride[1]
                counts[i, j] = ones[top : top + kernel[0], left : left + kernel[1]].sum()
        # in q - zero point terms: zp + floor((sum + count // 2) / count) - zp, exact in float32
        if np.all(counts == counts.flat[0]):
            count = float(counts.flat[0])
            sym = mx.sym.floor((sym + float(count // 2)) / count)
        else:
            half = self.param(f"{name}_half", (counts // 2)[np.newaxis, np.newaxis])
            count_sym = self.param(f"{name}_count", counts[np.newaxis, np.newaxis])
            sym = mx.sym.floor(mx.sym.broadcast_div(mx.sym.broadcast_add(sym, half), count_sym))
        self.output(op, mx.sym.clip(sym, *bounds))

    def reshape(self, op: Operator) -> None:
        x = self.value(op, op.inputs[0])
        out = self.quantized(op, op.outputs[0])
        if int(np.prod(x.shape)) != int(np.prod(out.shape)):
            raise self.fail(op, f"{x.shape} and {out.shape} do not hold as many elements")
        if not x.shape or not out.shape or x.shape[0] != 1 or out.shape[0] != 1:
            raise self.fail(op, f"{x.shape} -> {out.shape} changes the batch dimension")
        sym = self.to_layout(x, out.shape)
        # TFLite copies the q values: a different zero point shifts them
        if x.zero_point != out.zero_point:
            sym = sym + float(x.zero_point - out.zero_point)
        self.output(op, sym, probabilities=x.probabilities)

    def softmax(self, op: Operator) -> None:
        mx = self.mx
        x = self.value(op, op.inputs[0])
        out = self.quantized(op, op.outputs[0])
        beta = float(op.options.get("beta", 1.0))
        axis = self.nchw_axis(-1, len(x.shape))
        probabilities = mx.sym.softmax(x.sym * (x.scale * beta), axis=axis)
        self.output(op, self.requantize(probabilities / out.scale, out, ACT_NONE), True)

    def concatenation(self, op: Operator) -> None:
        mx = self.mx
        out = self.quantized(op, op.outputs[0])
        activation = self.activation(op)
        if "axis" not in op.options:
            raise self.fail(op, "no options (axis)")
        axis = self.nchw_axis(op.options["axis"], len(out.shape))
        parts = []
        for index in op.inputs:
            v = self.value(op, index)
            same = v.scale == out.scale
            parts.append(v.sym if same else mx.sym.round(v.sym * (v.scale / out.scale)))
        sym = mx.sym.concat(*parts, dim=axis)
        lo, hi = activation_range(activation, out.scale, out.zero_point)
        self.output(op, mx.sym.clip(sym, float(lo - out.zero_point), float(hi - out.zero_point)))

    HANDLERS = {
        CONV_2D: "conv",
        DEPTHWISE_CONV_2D: "conv",
        FULLY_CONNECTED: "fully_connected",
        ADD: "add",
        AVERAGE_POOL_2D: "pool",
        MAX_POOL_2D: "pool",
        RESHAPE: "reshape",
        SQUEEZE: "reshape",
        SOFTMAX: "softmax",
        CONCATENATION: "concatenation",
    }

    def build(self) -> Converted:
        mx = self.mx
        graph = self.graph
        if len(graph.inputs) != 1 or len(graph.outputs) != 1:
            raise ConversionError(
                f"{self.name}: {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; "
                "only models with one input (the image) and one output convert"
            )
        for op in graph.operators:  # refuse an unknown operator before anything else
            if op.code not in self.HANDLERS:
                code = f"builtin {op.code}" if op.code != CUSTOM else "custom"
                raise ConversionError(
                    f"{self.name}: unsupported TFLite operator {op.name} ({code}) at op {op.index}"
                )
        source = graph.tensors[graph.inputs[0]]
        if source.type != UINT8 or source.scale is None or not source.shape or source.shape[0] != 1:
            raise ConversionError(
                f"{self.name}: the input {source.name!r} is {source.type_name} "
                f"{list(source.shape)}; only a quantized uint8 input of batch 1 converts"
            )
        if source.scales > 1:
            raise ConversionError(f"{self.name}: the input has per-axis quantization")
        shape = tuple(source.shape)
        input_shape = (1, shape[3], shape[1], shape[2]) if len(shape) == 4 else shape
        data = mx.sym.var(
            "data",
            attr={
                "ecsdl_input_shape": str(input_shape),
                "ecsdl_crop": str(CROP),
                "ecsdl_importer": f"import-tflite {IMPORTER_VERSION}",
            },
        )
        # the uint8 pixel values (float32 in [0, 255]) as q - zero_point
        pixels = mx.sym.clip(mx.sym.round(data), float(QMIN), float(QMAX))
        self.values[graph.inputs[0]] = Value(
            pixels - float(source.zero_point), source.shape, source.scale, source.zero_point
        )
        for op in graph.operators:
            getattr(self, self.HANDLERS[op.code])(op)
            self.op_counts[op.name] = self.op_counts.get(op.name, 0) + 1
        if graph.outputs[0] not in self.values:
            raise ConversionError(f"{self.name}: no operator computes the output tensor")
        result = self.values[graph.outputs[0]]
        classes = int(np.prod(result.shape[1:])) if len(result.shape) > 1 else 1
        real = self.to_layout(result, (1, classes)) * result.scale
        symbol = mx.sym.identity(real, name="output")
        if result.probabilities:  # model.py uses them as they are (they need not sum to 1)
            data._set_attr(ecsdl_output="probabilities")
        return Converted(
            symbol=symbol,
            params=self.params,
            input_shape=input_shape,
            classes=classes,
            operators=len(graph.operators),
            probabilities=result.probabilities,
            op_counts=self.op_counts,
        )


def convert(data: bytes, name: str = "model") -> Converted:
    """The MXNet graph and parameters of a .tflite's bytes; ConversionError when it cannot be."""
    return _Builder(parse(data, name), name).build()


# ---------------------------------------------------------------------------------------------
# The command


@dataclass
class ImportResult:
    prefix: str
    files: dict[str, str]  # uri -> sha256
    operators: int
    classes: int
    input_shape: tuple[int, ...]
    seconds: float
    source_sha256: str

    def summary(self) -> str:
        _, channels, height, width = self.input_shape
        return (
            f"import-tflite: {self.prefix}: {self.operators} ops, {self.classes} classes, "
            f"input {height}x{width}x{channels}, {self.seconds:.1f} s"
        )


def checkpoint_files(converted: Converted, labels: list[str], prefix: str) -> dict[str, bytes]:
    """{uri: content} of the checkpoint: symbol, params, labels.txt (not SHA256SUMS)."""
    import mxnet as mx

    with tempfile.TemporaryDirectory(prefix="ecsdl-import-") as tmp:
        params_path = Path(tmp) / "model-0000.params"
        mx.nd.save(
            str(params_path), {f"arg:{k}": mx.nd.array(v) for k, v in converted.params.items()}
        )
        params = params_path.read_bytes()
    return {
        f"{prefix}-symbol.json": converted.symbol.tojson().encode("utf-8"),
        f"{prefix}-0000.params": params,
        join(prefix, "labels.txt"): ("\n".join(labels) + "\n").encode("utf-8"),
    }


def _name(uri: str) -> str:
    return uri.rsplit("/", 1)[-1]


def import_tflite(source: str, prefix: str, labels_uri: str | None = None) -> ImportResult:
    """Convert the .tflite at `source` into the checkpoint at `prefix` (path or s3://)."""
    started = time.perf_counter()
    data = read_bytes(source)  # SourceError: the caller's EXIT_SOURCE
    name = _name(source)
    converted = convert(data, name)
    shape = converted.input_shape
    if len(shape) != 4 or shape[1] not in (1, 3):
        nhwc = [shape[0], *shape[2:], shape[1]] if len(shape) == 4 else list(shape)
        raise ConversionError(
            f"{name}: the input is {nhwc}; only an image classifier (input 1 x H x W x 1|3) "
            "converts to a checkpoint classify loads"
        )
    if labels_uri:
        try:
            labels = parse_labels(read_bytes(labels_uri), labels_uri)
        except ModelError as exc:
            raise SourceError(str(exc).removeprefix("labels: ")) from None
        where = labels_uri
    else:
        labels = metadata_labels(data)
        if labels is None:
            raise ConversionError(
                f"{name}: no labels in the file (no TFLite metadata labels .txt); give --labels"
            )
        where = f"{name}'s metadata"
    if len(labels) != converted.classes:
        raise ConversionError(
            f"{name}: {converted.classes} classes but {len(labels)} labels in {where}"
        )
    files = checkpoint_files(converted, labels, prefix)
    source_sha256 = sha256_hex(data)
    record_uri = f"{prefix}-import.json"
    record = {
        "source": source,
        "source_sha256": source_sha256,
        "importer": "ecsdl import-tflite",
        "importer_version": IMPORTER_VERSION,
        "ecsdl_version": __version__,
        "operators": converted.op_counts,
        "classes": converted.classes,
        "input_shape": list(converted.input_shape),
        "files": {_name(uri): sha256_hex(content) for uri, content in files.items()},
    }
    record_bytes = (json.dumps(record, indent=2) + "\n").encode("utf-8")
    sums = checksums_text({_name(uri): content for uri, content in files.items()})
    sums += checksums_text({_name(record_uri): record_bytes})
    # the record last: present and current only once everything else is written
    written = [*files.items(), (join(prefix, CHECKSUMS), sums.encode()), (record_uri, record_bytes)]
    for uri, content in written:
        try:
            write_bytes(uri, content)
        except SourceError as exc:
            raise OutputError(f"not written: {exc}") from None
    return ImportResult(
        prefix=prefix,
        files={uri: sha256_hex(content) for uri, content in files.items()},
        operators=converted.operators,
        classes=converted.classes,
        input_shape=converted.input_shape,
        seconds=time.perf_counter() - started,
        source_sha256=source_sha256,
    )


def build_parser(prog: str = "ecsdl import-tflite") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Convert a quantized (uint8, per-tensor) TFLite image classifier, such as the "
            "google-coral MobileNet v2 1.0/224, into an MXNet checkpoint that `classify` loads. "
            "The uint8 arithmetic is emulated in float32 (each op's output is rounded and "
            "clipped to its uint8 grid), so the converted model gives the TFLite runtime's "
            "answers. Supported operators: CONV_2D, DEPTHWISE_CONV_2D, ADD, AVERAGE_POOL_2D, "
            "MAX_POOL_2D, FULLY_CONNECTED, CONCATENATION, RESHAPE, SQUEEZE, SOFTMAX (fused RELU, "
            "RELU6, RELU_N1_TO_1); anything else is refused by name."
        ),
        epilog=(
            "Writes PREFIX-symbol.json, PREFIX-0000.params, labels.txt and SHA256SUMS (their "
            "sha256, which load_model checks) beside each other, then PREFIX-import.json (the "
            f"source, its sha256 and the importer version, now {IMPORTER_VERSION}: a conversion "
            "is current when both match). Prints one line: ops, classes, input size, seconds. "
            "Exit status: 0 converted, 1 the file is not a TFLite model this importer converts "
            "(unsupported operator, per-axis quantization, no labels, ...), 2 usage error, 3 the "
            "source or the labels cannot be read, 4 the checkpoint cannot be written. S3 access "
            "uses the usual AWS credentials and honours AWS_ENDPOINT_URL."
        ),
    )
    parser.add_argument(
        "source",
        metavar="SOURCE",
        help="the .tflite file: a local path, an http(s):// URL or an s3://bucket/key URI",
    )
    parser.add_argument(
        "prefix",
        metavar="PREFIX",
        help="where the checkpoint goes: a local path or s3://bucket/key-prefix (e.g. "
        "s3://models/mobilenet_v2/mobilenet_v2 writes s3://models/mobilenet_v2/"
        "mobilenet_v2-symbol.json, ...); files already there are replaced",
    )
    parser.add_argument(
        "--labels",
        metavar="LABELS",
        help="class names, one per line in output order (path, URL or s3://); default: the "
        "labels file inside the .tflite (its TFLite metadata, e.g. imagenet_labels.txt)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _check_prefix(parser: argparse.ArgumentParser, prefix: str) -> None:
    if not prefix or prefix.endswith("/"):
        parser.error(f"PREFIX {prefix!r} names no checkpoint; give e.g. /models/name/name")
    if prefix.startswith(("http://", "https://")):
        parser.error(f"cannot write to an http(s) URL: {prefix!r}; give a path or s3:// prefix")
    if prefix.startswith("s3://") and "/" not in prefix[len("s3://") :]:
        parser.error(f"PREFIX {prefix!r} names no object; give s3://bucket/key-prefix")


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_prefix(parser, args.prefix)
    try:
        result = import_tflite(args.source, args.prefix, args.labels)
    except EcsdlError as exc:
        print(f"import-tflite: {exc}", file=sys.stderr)
        if isinstance(exc, OutputError):
            return EXIT_OUTPUT
        return EXIT_SOURCE if isinstance(exc, SourceError) else EXIT_CONVERSION
    print(result.summary(), file=out)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
