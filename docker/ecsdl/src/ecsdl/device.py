"""Where `classify` and `train` compute: `--device auto` (the default) takes the first GPU when
MXNet sees one (the image's CUDA build on a GPU instance, the NVIDIA container toolkit giving
the container the device) and the CPU otherwise; `cpu` and `gpu` choose. `gpu` with no GPU
visible is one clear error, never a silent fall back to the CPU."""

from __future__ import annotations

from typing import Any

from ecsdl import EcsdlError

DEVICES = ("auto", "cpu", "gpu")


class DeviceError(EcsdlError):
    """The device asked for is not there."""


def gpu_count() -> int:
    """GPUs MXNet sees: 0 with the CPU build, or with the CUDA build and no driver or device."""
    import mxnet as mx

    try:
        return int(mx.context.num_gpus())
    except mx.base.MXNetError:
        # the CUDA runtime failed to answer (e.g. a driver older than the runtime): no usable GPU
        return 0


def pick_device(choice: str = "auto", gpus: int | None = None) -> Any:
    """The MXNet context for `choice` (one of DEVICES); `gpus` overrides gpu_count()."""
    import mxnet as mx

    if choice not in DEVICES:
        raise DeviceError(f"unknown device {choice!r} (choose from {', '.join(DEVICES)})")
    if choice == "cpu":
        return mx.cpu()
    visible = gpu_count() if gpus is None else gpus
    if visible > 0:
        return mx.gpu(0)
    if choice == "gpu":
        raise DeviceError(
            "--device gpu: MXNet sees no GPU (mxnet.context.num_gpus() is 0: the image has the "
            "CPU build of MXNet, or the container was given no GPU or NVIDIA driver); use "
            "--device cpu or auto"
        )
    return mx.cpu()


def device_name(ctx: Any) -> str:
    """'cpu' or 'gpu(N)': what the output says ran."""
    return "cpu" if ctx.device_type == "cpu" else f"{ctx.device_type}({ctx.device_id})"
