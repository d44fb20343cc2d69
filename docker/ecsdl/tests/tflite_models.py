"""Small synthetic quantized TFLite models for the importer's tests, and a numpy reference of
their uint8 arithmetic.

`TFLiteModel` collects tensors and operators (TFLite's NHWC shapes and weight layouts), writes
them as a .tflite flatbuffer with the `tflite` package's builder functions (optionally with a
labels zip appended, as TFLite metadata does), and runs them in numpy (`run`) the way the TFLite
runtime's default CPU path (XNNPACK) does:

- CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED: the exact int32 accumulator of (q - zero point)
  products plus the int32 bias, times float32(input scale * weight scale / output scale) in
  float32, clamped to the activation's range, rounded half to even;
- ADD: fixed-point multipliers (scale ratio x 2**shift, about 21 bits), floor((a + b) / 2**shift
  + 1/2), following XNNPACK's C code bit for bit (struct, not the importer's numpy);
- AVERAGE_POOL_2D: TFLite's builtin uint8 kernel (the runtime does not hand it to XNNPACK):
  (sum of q + count / 2) / count in integers, over the window's elements inside the input;
  MAX_POOL_2D: the max;
- SOFTMAX: float64 softmax of the real values, round(p / scale) half away from zero;
- RESHAPE / SQUEEZE copy q; CONCATENATION copies q (same scales) or requantizes.

Output scales not given are calibrated from the op's real output range on the model's
calibration input (as a converter calibrates), so outputs use the whole uint8 range.

Shared with the controller-side check tests/unit/test_tflite_reference.py, which runs the same
models with the TFLite runtime: keep it free of MXNet.
"""

from __future__ import annotations

import importlib
import io
import math
import struct
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

UINT8, INT32, FLOAT32 = 3, 2, 0
NONE, RELU, RELU_N1_TO_1, RELU6 = 0, 1, 2, 3
SAME, VALID = 0, 1
ADD, AVERAGE_POOL_2D, CONCATENATION, CONV_2D, DEPTHWISE_CONV_2D = 0, 1, 2, 3, 4
FULLY_CONNECTED, MAX_POOL_2D, MUL, RESHAPE, SOFTMAX, SQUEEZE, CUSTOM = 9, 17, 18, 22, 25, 43, 32
# BuiltinOptions union members, and the table name of each op's options
OPTIONS = {
    CONV_2D: ("Conv2DOptions", 1),
    DEPTHWISE_CONV_2D: ("DepthwiseConv2DOptions", 2),
    AVERAGE_POOL_2D: ("Pool2DOptions", 5),
    MAX_POOL_2D: ("Pool2DOptions", 5),
    FULLY_CONNECTED: ("FullyConnectedOptions", 8),
    SOFTMAX: ("SoftmaxOptions", 9),
    CONCATENATION: ("ConcatenationOptions", 10),
    ADD: ("AddOptions", 11),
    RESHAPE: ("ReshapeOptions", 17),
    MUL: ("MulOptions", 21),
    SQUEEZE: ("SqueezeOptions", 30),
}
f32 = np.float32


def _module(name: str) -> Any:
    return importlib.import_module(f"tflite.{name}")


@dataclass
class QTensor:
    name: str
    shape: tuple[int, ...]
    type: int = UINT8
    scale: float | list[float] | None = None
    zero_point: int | list[int] = 0
    data: np.ndarray | None = None
    quantized_dimension: int = 0


@dataclass
class Op:
    code: int
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)
    custom: str | None = None


def _round_half_away(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def activation_range(activation: int, scale: float, zero_point: int) -> tuple[int, int]:
    """TFLite's CalculateActivationRangeQuantized for uint8."""

    def q(value: float) -> int:
        return zero_point + int(_round_half_away(np.array(value / scale)))

    lo, hi = 0, 255
    if activation in (RELU, RELU6):
        lo = max(lo, q(0.0))
    if activation == RELU6:
        hi = min(hi, q(6.0))
    if activation == RELU_N1_TO_1:
        lo, hi = max(lo, q(-1.0)), min(hi, q(1.0))
    return lo, hi


def choose_quantization(lo: float, hi: float) -> tuple[float, int]:
    """uint8 scale and zero point covering [lo, hi] (and 0), as TFLite's converter picks them."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo < 1e-6:
        hi = lo + 1e-3
    scale = (hi - lo) / 255.0
    return scale, int(np.clip(round(-lo / scale), 0, 255))


def padding_of(size: int, kernel: int, stride: int, dilation: int, padding: int) -> tuple:
    """(output size, before, after) of TFLite's SAME or VALID."""
    effective = (kernel - 1) * dilation + 1
    if padding == VALID:
        return (size - effective) // stride + 1, 0, 0
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + effective - size, 0)
    return out, total // 2, total - total // 2


class TFLiteModel:
    """A one-subgraph quantized model under construction. Methods that add an op return the
    index of its output tensor."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.tensors: list[QTensor] = []
        self.ops: list[Op] = []
        self.inputs: list[int] = []
        self.outputs: list[int] = []
        self.calibration: dict[int, np.ndarray] = {}  # tensor -> q on the calibration input

    # -- tensors ------------------------------------------------------------------------

    def tensor(self, shape, scale=None, zero_point=0, data=None, type=UINT8, name=None) -> int:
        index = len(self.tensors)
        self.tensors.append(
            QTensor(name or f"t{index}", tuple(shape), type, scale, zero_point, data)
        )
        return index

    def input(self, shape=(1, 8, 8, 3), scale=1 / 128, zero_point=128) -> int:
        index = self.tensor(shape, scale, zero_point, name="input")
        self.inputs.append(index)
        self.calibration[index] = self.rng.integers(0, 256, shape).astype(np.uint8)
        return index

    def weights(self, shape, scale=0.02, zero_point=None) -> int:
        zp = int(self.rng.integers(100, 156)) if zero_point is None else zero_point
        data = self.rng.integers(0, 256, shape).astype(np.uint8)
        return self.tensor(shape, scale, zp, data, name=f"w{len(self.tensors)}")

    def bias(self, n, scale, spread=2000) -> int:
        data = self.rng.integers(-spread, spread, (n,)).astype(np.int32)
        return self.tensor((n,), scale, 0, data, type=INT32, name=f"b{len(self.tensors)}")

    def shape(self, index: int) -> tuple[int, ...]:
        return self.tensors[index].shape

    def _add_op(self, op: Op, out_range=None, out_scale=None, out_zero_point=None) -> int:
        """Append the op; calibrate its output's quantization (unless given) and keep the
        calibration q."""
        out = self.tensors[op.outputs[0]]
        if out_scale is not None:
            out.scale, out.zero_point = out_scale, out_zero_point or 0
        elif out.scale is None:
            real = out_range(self)
            out.scale, out.zero_point = choose_quantization(float(real.min()), float(real.max()))
        self.ops.append(op)
        self.calibration[op.outputs[0]] = self._run_op(op, self.calibration)
        return op.outputs[0]

    def _q(self, index: int, values: dict[int, np.ndarray]) -> np.ndarray:
        """The q values of a tensor: computed, or constant (its data)."""
        return values[index] if index in values else self.tensors[index].data

    def _real(self, index: int, values: dict[int, np.ndarray]) -> np.ndarray:
        t = self.tensors[index]
        return (self._q(index, values).astype(np.float64) - t.zero_point) * t.scale

    # -- ops ----------------------------------------------------------------------------

    def conv(
        self,
        x: int,
        filters: int,
        kernel=(3, 3),
        stride=(1, 1),
        padding=SAME,
        activation=RELU6,
        dilation=(1, 1),
        weight_scale=0.02,
        out_scale=None,
        out_zero_point=None,
        bias=True,
        groups=1,
    ) -> int:
        n, h, w, c = self.shape(x)
        xs = self.tensors[x].scale
        wt = self.weights((filters, *kernel, c // groups), weight_scale)
        inputs = [x, wt] + ([self.bias(filters, xs * weight_scale)] if bias else [-1])
        oh = padding_of(h, kernel[0], stride[0], dilation[0], padding)[0]
        ow = padding_of(w, kernel[1], stride[1], dilation[1], padding)[0]
        out = self.tensor((n, oh, ow, filters))
        options = {
            "Padding": padding,
            "StrideH": stride[0],
            "StrideW": stride[1],
            "DilationHFactor": dilation[0],
            "DilationWFactor": dilation[1],
            "FusedActivationFunction": activation,
        }
        op = Op(CONV_2D, inputs, [out], options)
        return self._add_op(op, lambda m: m._conv_real(op), out_scale, out_zero_point)

    def depthwise(
        self,
        x: int,
        multiplier=1,
        kernel=(3, 3),
        stride=(1, 1),
        padding=SAME,
        activation=RELU6,
        dilation=(1, 1),
        weight_scale=0.05,
        out_scale=None,
        out_zero_point=None,
    ) -> int:
        n, h, w, c = self.shape(x)
        xs = self.tensors[x].scale
        wt = self.weights((1, *kernel, c * multiplier), weight_scale)
        inputs = [x, wt, self.bias(c * multiplier, xs * weight_scale)]
        oh = padding_of(h, kernel[0], stride[0], dilation[0], padding)[0]
        ow = padding_of(w, kernel[1], stride[1], dilation[1], padding)[0]
        out = self.tensor((n, oh, ow, c * multiplier))
        options = {
            "Padding": padding,
            "StrideH": stride[0],
            "StrideW": stride[1],
            "DepthMultiplier": multiplier,
            "DilationHFactor": dilation[0],
            "DilationWFactor": dilation[1],
            "FusedActivationFunction": activation,
        }
        op = Op(DEPTHWISE_CONV_2D, inputs, [out], options)
        return self._add_op(op, lambda m: m._conv_real(op), out_scale, out_zero_point)

    def add(self, a: int, b: int, activation=NONE, out_scale=None, out_zero_point=None) -> int:
        out = self.tensor(self.shape(a))
        op = Op(ADD, [a, b], [out], {"FusedActivationFunction": activation})

        def real(m: TFLiteModel) -> np.ndarray:
            r = m._real(a, m.calibration) + m._real(b, m.calibration)
            return m._activate(r, activation)

        return self._add_op(op, real, out_scale, out_zero_point)

    def pool(
        self,
        x: int,
        kind=AVERAGE_POOL_2D,
        kernel=(2, 2),
        stride=(2, 2),
        padding=VALID,
        activation=NONE,
    ) -> int:
        n, h, w, c = self.shape(x)
        oh = padding_of(h, kernel[0], stride[0], 1, padding)[0]
        ow = padding_of(w, kernel[1], stride[1], 1, padding)[0]
        t = self.tensors[x]
        out = self.tensor((n, oh, ow, c), t.scale, t.zero_point)
        options = {
            "Padding": padding,
            "StrideH": stride[0],
            "StrideW": stride[1],
            "FilterHeight": kernel[0],
            "FilterWidth": kernel[1],
            "FusedActivationFunction": activation,
        }
        return self._add_op(Op(kind, [x], [out], options))

    def reshape(self, x: int, shape, with_shape_input=True, squeeze_dims=None) -> int:
        t = self.tensors[x]
        out = self.tensor(tuple(shape), t.scale, t.zero_point)
        if squeeze_dims is not None:
            return self._add_op(Op(SQUEEZE, [x], [out], {"SqueezeDims": list(squeeze_dims)}))
        inputs = [x]
        if with_shape_input:
            inputs.append(self.tensor((len(shape),), data=np.array(shape, np.int32), type=INT32))
        return self._add_op(Op(RESHAPE, inputs, [out], {"NewShape": list(shape)}))

    def softmax(self, x: int, beta=1.0) -> int:
        out = self.tensor(self.shape(x), 1 / 256, 0)
        return self._add_op(Op(SOFTMAX, [x], [out], {"Beta": beta}))

    def fully_connected(self, x: int, units: int, activation=NONE, weight_scale=0.02) -> int:
        inputs_n = int(np.prod(self.shape(x)[1:]))
        xs = self.tensors[x].scale
        wt = self.weights((units, inputs_n), weight_scale)
        out = self.tensor((1, units))
        op = Op(
            FULLY_CONNECTED,
            [x, wt, self.bias(units, xs * weight_scale)],
            [out],
            {"FusedActivationFunction": activation},
        )
        return self._add_op(op, lambda m: m._fc_real(op))

    def concatenation(self, parts: list[int], axis=-1, out_scale=None, out_zero_point=None) -> int:
        shapes = [self.shape(p) for p in parts]
        ax = axis % len(shapes[0])
        shape = list(shapes[0])
        shape[ax] = sum(s[ax] for s in shapes)
        out = self.tensor(tuple(shape))
        op = Op(CONCATENATION, list(parts), [out], {"Axis": axis, "FusedActivationFunction": NONE})

        def real(m: TFLiteModel) -> np.ndarray:
            return np.concatenate([m._real(p, m.calibration) for p in parts], axis=ax)

        return self._add_op(op, real, out_scale, out_zero_point)

    def mul(self, a: int, b: int) -> int:
        """MUL: the importer refuses it (the tests' unknown operator)."""
        out = self.tensor(self.shape(a), self.tensors[a].scale, self.tensors[a].zero_point)
        self.ops.append(Op(MUL, [a, b], [out], {"FusedActivationFunction": NONE}))
        return out

    def custom(self, x: int, name: str) -> int:
        out = self.tensor(self.shape(x), self.tensors[x].scale, self.tensors[x].zero_point)
        self.ops.append(Op(CUSTOM, [x], [out], custom=name))
        return out

    def output(self, index: int) -> None:
        self.outputs.append(index)

    # -- the reference arithmetic ---------------------------------------------------------

    @staticmethod
    def _activate(real: np.ndarray, activation: int) -> np.ndarray:
        if activation == RELU:
            return np.maximum(real, 0)
        if activation == RELU6:
            return np.clip(real, 0, 6)
        if activation == RELU_N1_TO_1:
            return np.clip(real, -1, 1)
        return real

    def _conv_acc(self, op: Op, values: dict[int, np.ndarray]) -> np.ndarray:
        x_t, w_t = self.tensors[op.inputs[0]], self.tensors[op.inputs[1]]
        x = values[op.inputs[0]].astype(np.int64) - x_t.zero_point
        w = w_t.data.astype(np.int64) - w_t.zero_point
        o = op.options
        stride = (o["StrideH"], o["StrideW"])
        dilation = (o.get("DilationHFactor", 1), o.get("DilationWFactor", 1))
        _, h, wd, c = x.shape
        kh, kw = w.shape[1:3]
        oh, top, bottom = padding_of(h, kh, stride[0], dilation[0], o["Padding"])
        ow, left, right = padding_of(wd, kw, stride[1], dilation[1], o["Padding"])
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))  # the real zero
        depthwise = op.code == DEPTHWISE_CONV_2D
        filters = w.shape[3] if depthwise else w.shape[0]
        acc = np.zeros((x.shape[0], oh, ow, filters), np.int64)
        for i in range(kh):
            for j in range(kw):
                r0, c0 = i * dilation[0], j * dilation[1]
                patch = x[:, r0 : r0 + stride[0] * (oh - 1) + 1 : stride[0]]
                patch = patch[:, :, c0 : c0 + stride[1] * (ow - 1) + 1 : stride[1]]
                if depthwise:
                    multiplier = filters // c
                    acc += patch[..., np.arange(filters) // multiplier] * w[0, i, j]
                else:
                    per_group = w.shape[3]
                    groups = c // per_group
                    out_per_group = filters // groups
                    for g in range(groups):
                        acc[..., g * out_per_group : (g + 1) * out_per_group] += np.einsum(
                            "nhwc,oc->nhwo",
                            patch[..., g * per_group : (g + 1) * per_group],
                            w[g * out_per_group : (g + 1) * out_per_group, i, j, :],
                        )
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            acc += self.tensors[op.inputs[2]].data.astype(np.int64)
        return acc

    def _conv_real(self, op: Op) -> np.ndarray:
        acc = self._conv_acc(op, self.calibration)
        scale = self.tensors[op.inputs[0]].scale * self.tensors[op.inputs[1]].scale
        return self._activate(acc * scale, op.options["FusedActivationFunction"])

    def _fc_acc(self, op: Op, values: dict[int, np.ndarray]) -> np.ndarray:
        x_t, w_t = self.tensors[op.inputs[0]], self.tensors[op.inputs[1]]
        x = values[op.inputs[0]].astype(np.int64).reshape(-1, w_t.shape[1]) - x_t.zero_point
        w = w_t.data.astype(np.int64) - w_t.zero_point
        return x @ w.T + self.tensors[op.inputs[2]].data.astype(np.int64)

    def _fc_real(self, op: Op) -> np.ndarray:
        acc = self._fc_acc(op, self.calibration)
        scale = self.tensors[op.inputs[0]].scale * self.tensors[op.inputs[1]].scale
        return self._activate(acc * scale, op.options["FusedActivationFunction"])

    def _requantize_fp32(self, acc: np.ndarray, scale32: np.float32, out: QTensor, act: int):
        """XNNPACK's fp32 requantization: float32(acc) * scale, clamp, round half to even."""
        lo, hi = activation_range(act, out.scale, out.zero_point)
        v = acc.astype(np.float32) * scale32
        v = np.clip(v, f32(lo - out.zero_point), f32(hi - out.zero_point))
        return (np.rint(v).astype(np.int64) + out.zero_point).astype(np.uint8)

    def _run_op(self, op: Op, values: dict[int, np.ndarray]) -> np.ndarray:
        out = self.tensors[op.outputs[0]]
        act = op.options.get("FusedActivationFunction", NONE)
        if op.code in (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED):
            acc = (self._fc_acc if op.code == FULLY_CONNECTED else self._conv_acc)(op, values)
            x_t, w_t = self.tensors[op.inputs[0]], self.tensors[op.inputs[1]]
            scale = f32(f32(x_t.scale) * f32(w_t.scale)) / f32(out.scale)
            return self._requantize_fp32(acc, scale, out, act).reshape(out.shape)
        if op.code == ADD:
            return self._add(op, values)
        if op.code in (AVERAGE_POOL_2D, MAX_POOL_2D):
            return self._pool(op, values)
        if op.code in (RESHAPE, SQUEEZE):
            return values[op.inputs[0]].reshape(out.shape)
        if op.code == SOFTMAX:
            real = self._real(op.inputs[0], values) * op.options.get("Beta", 1.0)
            e = np.exp(real - real.max(axis=-1, keepdims=True))
            p = e / e.sum(axis=-1, keepdims=True)
            q = _round_half_away(p / out.scale) + out.zero_point
            return np.clip(q, 0, 255).astype(np.uint8)
        if op.code == CONCATENATION:
            parts = []
            for index in op.inputs:
                t = self.tensors[index]
                q = self._q(index, values).astype(np.int64)
                if (t.scale, t.zero_point) != (out.scale, out.zero_point):
                    q = _round_half_away((q - t.zero_point) * (t.scale / out.scale))
                    q = q.astype(np.int64) + out.zero_point
                parts.append(q)
            axis = op.options["Axis"] % len(out.shape)
            lo, hi = activation_range(act, out.scale, out.zero_point)
            return np.clip(np.concatenate(parts, axis=axis), lo, hi).astype(np.uint8)
        raise NotImplementedError(f"no reference for builtin {op.code}")

    def _add(self, op: Op, values: dict[int, np.ndarray]) -> np.ndarray:
        """XNNPACK's xnn_init_qu8_add_minmax params and its scalar kernel, bit for bit."""

        def bits(x: float) -> int:
            return struct.unpack("<I", struct.pack("<f", x))[0]

        def from_bits(b: int) -> float:
            return struct.unpack("<f", struct.pack("<I", b))[0]

        a, b = (self.tensors[i] for i in op.inputs)
        out = self.tensors[op.outputs[0]]
        a_ratio = float(f32(a.scale) / f32(out.scale))
        b_ratio = float(f32(b.scale) / f32(out.scale))
        exponent = (bits(max(a_ratio, b_ratio)) >> 23) - 127
        shift = 20 - exponent
        a_mult = int(np.rint(from_bits(bits(a_ratio) + (shift << 23))))
        b_mult = int(np.rint(from_bits(bits(b_ratio) + (shift << 23))))
        acc = (
            (1 << (shift - 1))
            + a_mult * (self._q(op.inputs[0], values).astype(np.int64) - a.zero_point)
            + b_mult * (self._q(op.inputs[1], values).astype(np.int64) - b.zero_point)
        )
        lo, hi = activation_range(op.options["FusedActivationFunction"], out.scale, out.zero_point)
        return np.clip((acc >> shift) + out.zero_point, lo, hi).astype(np.uint8)

    def _pool(self, op: Op, values: dict[int, np.ndarray]) -> np.ndarray:
        out = self.tensors[op.outputs[0]]
        o = op.options
        kh, kw, sh, sw = o["FilterHeight"], o["FilterWidth"], o["StrideH"], o["StrideW"]
        q = values[op.inputs[0]].astype(np.int64)
        n, h, w, c = q.shape
        oh, top, _ = padding_of(h, kh, sh, 1, o["Padding"])
        ow, left, _ = padding_of(w, kw, sw, 1, o["Padding"])
        lo, hi = activation_range(o["FusedActivationFunction"], out.scale, out.zero_point)
        result = np.zeros((n, oh, ow, c), np.int64)
        for i in range(oh):
            for j in range(ow):
                r0, r1 = max(i * sh - top, 0), min(i * sh - top + kh, h)
                c0, c1 = max(j * sw - left, 0), min(j * sw - left + kw, w)
                window = q[:, r0:r1, c0:c1, :]
                if op.code == MAX_POOL_2D:
                    result[:, i, j] = np.clip(window.max(axis=(1, 2)), lo, hi)
                    continue
                count = window.shape[1] * window.shape[2]
                average = (window.sum(axis=(1, 2)) + count // 2) // count
                result[:, i, j] = np.clip(average, lo, hi)
        return result.astype(np.uint8)

    def run(self, x: np.ndarray) -> np.ndarray:
        """The uint8 output of the model (its first output) for the uint8 NHWC input `x`."""
        values = {self.inputs[0]: x}
        for op in self.ops:
            values[op.outputs[0]] = self._run_op(op, values)
        return values[self.outputs[0]]

    def dequantize(self, q: np.ndarray, index: int | None = None) -> np.ndarray:
        t = self.tensors[self.outputs[0] if index is None else index]
        return (q.astype(np.float64) - t.zero_point) * t.scale

    # -- the flatbuffer -------------------------------------------------------------------

    def to_bytes(self, labels: list[str] | None = None, labels_name: str = "labels.txt") -> bytes:
        """The .tflite bytes (schema version 3, file identifier TFL3); with `labels`, a zip
        archive holding them is appended, as TFLite metadata's associated files are."""
        import flatbuffers

        b = flatbuffers.Builder(1024)
        buffer_m, tensor_m, qp_m = (
            _module("Buffer"),
            _module("Tensor"),
            _module("QuantizationParameters"),
        )

        def offsets_vector(start, items):
            start(b, len(items))
            for item in reversed(items):
                b.PrependUOffsetTRelative(item)
            return b.EndVector()

        buffers, buffer_of = [], {}
        buffer_m.Start(b)
        buffers.append(buffer_m.End(b))  # buffer 0: the empty sentinel
        for i, t in enumerate(self.tensors):
            if t.data is not None:
                vector = b.CreateNumpyVector(np.frombuffer(t.data.tobytes(), np.uint8))
                buffer_m.Start(b)
                buffer_m.AddData(b, vector)
                buffer_of[i] = len(buffers)
                buffers.append(buffer_m.End(b))
        tensors = []
        for i, t in enumerate(self.tensors):
            name = b.CreateString(t.name)
            shape = b.CreateNumpyVector(np.array(t.shape, np.int32))
            quantization = None
            if t.scale is not None:
                scales = b.CreateNumpyVector(np.atleast_1d(np.array(t.scale, np.float32)))
                zeros = b.CreateNumpyVector(np.atleast_1d(np.array(t.zero_point, np.int64)))
                qp_m.Start(b)
                qp_m.AddScale(b, scales)
                qp_m.AddZeroPoint(b, zeros)
                qp_m.AddQuantizedDimension(b, t.quantized_dimension)
                quantization = qp_m.End(b)
            tensor_m.Start(b)
            tensor_m.AddShape(b, shape)
            tensor_m.AddType(b, t.type)
            tensor_m.AddBuffer(b, buffer_of.get(i, 0))
            tensor_m.AddName(b, name)
            if quantization is not None:
                tensor_m.AddQuantization(b, quantization)
            tensors.append(tensor_m.End(b))
        keys = sorted({(op.code, op.custom or "") for op in self.ops})
        code_m = _module("OperatorCode")
        codes = []
        for code, custom in keys:
            custom_name = b.CreateString(custom) if custom else None
            code_m.Start(b)
            code_m.AddDeprecatedBuiltinCode(b, min(code, 127))
            code_m.AddBuiltinCode(b, code)
            code_m.AddVersion(b, 1)
            if custom_name is not None:
                code_m.AddCustomCode(b, custom_name)
            codes.append(code_m.End(b))
        op_m = _module("Operator")
        operators = []
        for op in self.ops:
            options, kind = self._options(b, op)
            inputs = b.CreateNumpyVector(np.array(op.inputs, np.int32))
            outputs = b.CreateNumpyVector(np.array(op.outputs, np.int32))
            op_m.Start(b)
            op_m.AddOpcodeIndex(b, keys.index((op.code, op.custom or "")))
            op_m.AddInputs(b, inputs)
            op_m.AddOutputs(b, outputs)
            if options is not None:
                op_m.AddBuiltinOptionsType(b, kind)
                op_m.AddBuiltinOptions(b, options)
            operators.append(op_m.End(b))
        sub_m = _module("SubGraph")
        tensor_vector = offsets_vector(sub_m.StartTensorsVector, tensors)
        op_vector = offsets_vector(sub_m.StartOperatorsVector, operators)
        ins = b.CreateNumpyVector(np.array(self.inputs, np.int32))
        outs = b.CreateNumpyVector(np.array(self.outputs, np.int32))
        name = b.CreateString("main")
        sub_m.Start(b)
        sub_m.AddTensors(b, tensor_vector)
        sub_m.AddInputs(b, ins)
        sub_m.AddOutputs(b, outs)
        sub_m.AddOperators(b, op_vector)
        sub_m.AddName(b, name)
        subgraph = sub_m.End(b)
        model_m = _module("Model")
        code_vector = offsets_vector(model_m.StartOperatorCodesVector, codes)
        subgraph_vector = offsets_vector(model_m.StartSubgraphsVector, [subgraph])
        buffer_vector = offsets_vector(model_m.StartBuffersVector, buffers)
        description = b.CreateString("ecsdl test model")
        model_m.Start(b)
        model_m.AddVersion(b, 3)
        model_m.AddOperatorCodes(b, code_vector)
        model_m.AddSubgraphs(b, subgraph_vector)
        model_m.AddDescription(b, description)
        model_m.AddBuffers(b, buffer_vector)
        b.Finish(model_m.End(b), file_identifier=b"TFL3")
        data = bytes(b.Output())
        if labels is not None:
            archive = io.BytesIO()
            with zipfile.ZipFile(archive, "w") as z:
                z.writestr(labels_name, "\n".join(labels) + "\n")
            data += archive.getvalue()
        return data

    def _options(self, b: Any, op: Op) -> tuple[int | None, int]:
        if op.code not in OPTIONS:
            return None, 0
        kind, member = OPTIONS[op.code]
        m = _module(kind)
        vectors = {}
        for key, value in op.options.items():
            if isinstance(value, list):
                vectors[key] = b.CreateNumpyVector(np.array(value, np.int32))
        m.Start(b)
        for key, value in op.options.items():
            getattr(m, f"Add{key}")(b, vectors.get(key, value))
        return m.End(b), member


# --- the test cases: one small model per operator and corner (see `case`) --------------------


def conv_same_stride2_odd_total(m):
    return m.conv(m.input((1, 8, 8, 3)), 4, stride=(2, 2))  # total padding 1: 0 top, 1 bottom


def conv_same_stride1_symmetric(m):
    return m.conv(m.input((1, 6, 6, 3)), 4)


def conv_same_asymmetric_rectangular(m):
    return m.conv(m.input((1, 9, 6, 3)), 5, kernel=(3, 2), stride=(2, 2))


def conv_valid(m):
    return m.conv(m.input((1, 7, 7, 3)), 5, padding=VALID, activation=NONE)


def conv_1x1_relu(m):
    return m.conv(m.input((1, 5, 5, 4)), 6, kernel=(1, 1), activation=RELU)


def conv_dilated(m):
    return m.conv(m.input((1, 9, 9, 3)), 4, dilation=(2, 2))


def conv_relu_n1_to_1(m):
    return m.conv(
        m.input((1, 6, 6, 3)), 4, activation=RELU_N1_TO_1, out_scale=0.02, out_zero_point=128
    )


def depthwise_multiplier_2_same_odd(m):
    return m.depthwise(m.input((1, 8, 8, 3)), multiplier=2, stride=(2, 2))


def depthwise_relu6_clips(m):
    # output range [0, 12.75]: RELU6 narrows the uint8 range to q <= 120 (real 6.0)
    x = m.input((1, 7, 7, 4))
    return m.depthwise(x, weight_scale=0.2, out_scale=0.05, out_zero_point=0)


def add_requantizes(m):
    x = m.input((1, 6, 6, 3))
    a = m.conv(x, 4, activation=NONE)
    b = m.conv(x, 4, kernel=(1, 1), activation=NONE, weight_scale=0.05)
    return m.add(a, b)  # three different scales and zero points


def add_relu6(m):
    x = m.input((1, 5, 5, 3))
    a = m.conv(x, 4, activation=NONE)
    return m.add(a, a, activation=RELU6, out_scale=0.05, out_zero_point=10)


def add_halves_round_up(m):
    # a constant operand; the output scale twice the inputs': every odd sum is a tie, which
    # the runtime rounds up (towards +inf), negative ones included
    x = m.input((1, 4, 4, 3), scale=0.1, zero_point=128)
    constant = m.weights((1, 4, 4, 3), scale=0.1, zero_point=128)
    return m.add(x, constant, out_scale=0.2, out_zero_point=128)


def avgpool_global(m):
    return m.pool(m.input((1, 7, 7, 3)), kernel=(7, 7), stride=(1, 1))


def avgpool_same_leaves_padding_out(m):
    return m.pool(m.input((1, 7, 7, 3)), kernel=(3, 3), stride=(2, 2), padding=SAME)


def avgpool_2x2_ties(m):
    return m.pool(m.input((1, 8, 8, 3)), kernel=(2, 2), stride=(2, 2))  # sums of 4: halves


def maxpool_same_odd(m):
    x = m.input((1, 8, 8, 3))
    return m.pool(x, kind=MAX_POOL_2D, kernel=(3, 3), stride=(2, 2), padding=SAME)


def reshape_keeps_nhwc_order(m):
    return m.reshape(m.input((1, 2, 2, 3)), (1, 12))


def reshape_to_4d(m):
    return m.reshape(m.input((1, 12)), (1, 2, 2, 3), with_shape_input=False)


def squeeze(m):
    return m.reshape(m.input((1, 1, 1, 10)), (1, 10), squeeze_dims=[1, 2])


def softmax(m):
    return m.softmax(m.input((1, 10), scale=0.1, zero_point=100))


def fully_connected_from_4d(m):
    return m.fully_connected(m.input((1, 2, 2, 3)), 5, activation=RELU)


def concatenation_requantizes(m):
    x = m.input((1, 4, 4, 3))
    a = m.conv(x, 2, activation=NONE)
    b = m.conv(x, 3, activation=NONE, weight_scale=0.05)
    return m.concatenation([a, b])


def concatenation_same_scale(m):
    x = m.input((1, 4, 4, 3))
    a = m.conv(x, 2, activation=NONE, out_scale=0.1, out_zero_point=120)
    b = m.conv(x, 3, activation=NONE, out_scale=0.1, out_zero_point=120)
    return m.concatenation([a, b], axis=3, out_scale=0.1, out_zero_point=120)


_CASES = [
    conv_same_stride2_odd_total,
    conv_same_stride1_symmetric,
    conv_same_asymmetric_rectangular,
    conv_valid,
    conv_1x1_relu,
    conv_dilated,
    conv_relu_n1_to_1,
    depthwise_multiplier_2_same_odd,
    depthwise_relu6_clips,
    add_requantizes,
    add_relu6,
    add_halves_round_up,
    avgpool_global,
    avgpool_same_leaves_padding_out,
    avgpool_2x2_ties,
    maxpool_same_odd,
    reshape_keeps_nhwc_order,
    reshape_to_4d,
    squeeze,
    softmax,
    fully_connected_from_4d,
    concatenation_requantizes,
    concatenation_same_scale,
]
CASES = {f.__name__.replace("_", "-"): f for f in _CASES}


def case(name: str) -> TFLiteModel:
    """The model of CASES[name], its output set (seeded by the name: always the same)."""
    model = TFLiteModel(seed=len(name))
    model.output(CASES[name](model))
    return model


def tiny_classifier(classes: int = 1001) -> TFLiteModel:
    """MobileNet v2's pattern on 16 x 16: conv s2 RELU6, depthwise, project, residual ADD,
    global average pool, 1x1 conv to the classes, reshape, softmax (8 ops)."""
    m = TFLiteModel(seed=42)
    x = m.input((1, 16, 16, 3))
    a = m.conv(x, 8, stride=(2, 2))
    b = m.depthwise(a)
    c = m.conv(b, 8, kernel=(1, 1), activation=NONE)
    d = m.add(a, c)
    e = m.pool(d, kernel=(8, 8), stride=(1, 1))
    f = m.conv(e, classes, kernel=(1, 1), activation=NONE, weight_scale=0.05)
    g = m.reshape(f, (1, classes))
    m.output(m.softmax(g))
    return m
