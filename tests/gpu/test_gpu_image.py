"""The GPU image (MXNET_PACKAGE=mxnet-cu112==1.9.1 and NVIDIA's CUDA 11 wheels), without a GPU.

`make test-gpu` builds it once (a few GB: not part of `make test`, which leaves this folder
out) and runs these with ECSDL_GPU_IMAGE naming it; without it they fail. They check what a
g4dn/g5 instance needs from the image: the dynamic loader finds every library libmxnet.so links (the
CUDA runtime, cuBLAS, cuDNN 8, NVRTC, cuFFT, cuRAND, cuSOLVER, NCCL, NVTX) in the image itself,
and the libraries cuDNN and NVRTC load later; libcuda.so.1, the driver, is the image's stand-in
here (no driver on this machine) and the real one wherever the NVIDIA container toolkit mounts
it. `import mxnet` works and sees no GPU; train runs on the CPU and says so.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

IMAGE = os.environ.get("ECSDL_GPU_IMAGE", "")
if not IMAGE:
    pytest.fail(
        "ECSDL_GPU_IMAGE names no image: `make test-gpu` builds the GPU image and runs these",
        pytrace=False,
    )

SITE = "/opt/venv/lib/python3.11/site-packages"
LIBMXNET = f"{SITE}/mxnet/libmxnet.so"
STUB = "/opt/venv/lib/ecsdl-cuda/stub/libcuda.so.1"
# Where the NVIDIA container toolkit puts the host's driver in a Debian-based image.
DRIVER_DIR = "/usr/lib/x86_64-linux-gnu"
# What libmxnet.so of mxnet-cu112 1.9.1 links besides glibc and the compiler's runtime
# (readelf -d), and the wheel each comes from (site-packages/nvidia/<folder>/lib).
CUDA_LIBRARIES = {
    "libcudart.so.11.0": "cuda_runtime",
    "libcublas.so.11": "cublas",
    "libcublasLt.so.11": "cublas",
    "libcudnn.so.8": "cudnn",
    "libnvrtc.so.11.2": "cuda_nvrtc",
    "libcufft.so.10": "cufft",
    "libcurand.so.10": "curand",
    "libcusolver.so.11": "cusolver",
    "libnccl.so.2": "nccl",
    "libnvToolsExt.so.1": "nvtx",
}
# Loaded later with dlopen (by libcudnn.so.8 and libnvrtc.so.11.2), so ldd on libmxnet.so
# does not list them: checked one by one.
DLOPENED = [
    "nvidia/cudnn/lib/libcudnn_ops_infer.so.8",
    "nvidia/cudnn/lib/libcudnn_ops_train.so.8",
    "nvidia/cudnn/lib/libcudnn_cnn_infer.so.8",
    "nvidia/cudnn/lib/libcudnn_cnn_train.so.8",
    "nvidia/cudnn/lib/libcudnn_adv_infer.so.8",
    "nvidia/cudnn/lib/libcudnn_adv_train.so.8",
    "nvidia/cuda_nvrtc/lib/libnvrtc-builtins.so.11.8",
]


def docker(*args: str, root: bool = False, timeout: int = 300) -> str:
    """Run a command in a fresh container of the image (no GPU, no network), through its
    entrypoint as jovyan, or as root without it (the entrypoint drops root); its output."""
    docker_cli = shutil.which("docker")
    assert docker_cli, "the docker CLI is needed"
    command = [docker_cli, "run", "--rm", "--network", "none"]
    if root:
        command += ["--user", "0", "--entrypoint", args[0]]
        args = args[1:]
    result = subprocess.run(
        [*command, IMAGE, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, (
        f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def resolved(ldd_output: str) -> dict[str, str]:
    """ldd's `name => path` lines as {name: path} ('not found' kept as the path)."""
    found = {}
    for line in ldd_output.splitlines():
        match = re.match(r"\s*(\S+) => (not found|\S+)", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def test_the_dynamic_loader_finds_every_library_libmxnet_links() -> None:
    output = docker("ldd", LIBMXNET)
    assert "not found" not in output, output
    libraries = resolved(output)
    for name, folder in CUDA_LIBRARIES.items():
        assert libraries.get(name, "").startswith(f"{SITE}/nvidia/{folder}/lib/"), (name, output)
    # no driver here: the image's stand-in, never a library of the build host
    assert libraries["libcuda.so.1"] == STUB, output


def test_the_libraries_loaded_later_find_theirs_too() -> None:
    output = docker("sh", "-c", " ".join(f"ldd {SITE}/{path};" for path in DLOPENED))
    assert "not found" not in output, output
    # and the loader finds them by name, as cuDNN and NVRTC ask for them
    names = docker("ldconfig", "-p")
    for path in DLOPENED:
        assert f"{os.path.basename(path)} (libc6,x86-64) => {SITE}/{path}" in names, path


def test_a_driver_mounted_by_the_nvidia_toolkit_wins_over_the_stand_in() -> None:
    """The toolkit mounts libcuda.so.<version> into the system's library folder and runs the
    container's ldconfig: the loader must then take it, not the image's stand-in."""
    script = (
        f"cp {STUB} {DRIVER_DIR}/libcuda.so.550.54.15 && ldconfig && ldd {LIBMXNET} "
        f"&& /opt/venv/bin/python -c 'import mxnet; print(\"imported\", mxnet.__version__)'"
    )
    output = docker("sh", "-c", script, root=True)
    # Debian's /lib is /usr/lib (merged /usr): the loader may name the driver by either path.
    found = resolved(output)["libcuda.so.1"]
    assert found in {
        f"{DRIVER_DIR}/libcuda.so.1",
        f"{DRIVER_DIR.removeprefix('/usr')}/libcuda.so.1",
    }, output
    assert "imported 1.9.1" in output, output


def test_import_mxnet_works_without_a_gpu_and_sees_none() -> None:
    output = docker(
        "python",
        "-c",
        "import mxnet; print(mxnet.__version__, mxnet.context.num_gpus(), "
        "mxnet.runtime.Features().is_enabled('CUDA'))",
    )
    assert output.split() == ["1.9.1", "0", "True"], output


def test_train_runs_on_the_cpu_and_says_so() -> None:
    output = docker("train", "--epochs", "1", "--output", "/tmp/m/mlp")
    assert "train: device: cpu\n" in output, output
    assert "train: wrote /tmp/m/mlp-0000.params" in output, output


def test_train_on_the_gpu_it_does_not_have_is_one_clear_error() -> None:
    docker_cli = shutil.which("docker") or "docker"
    result = subprocess.run(
        [docker_cli, "run", "--rm", "--network", "none", IMAGE, "train", "--device", "gpu"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1, result
    assert result.stderr.strip().startswith("train: --device gpu: MXNet sees no GPU"), result.stderr
