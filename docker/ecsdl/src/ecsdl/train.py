"""`train`: train a digit classifier with MXNet Gluon and save a checkpoint `classify` loads.

Progress is printed the way the workshop's train_mnist.py (MXNet's Speedometer) did:

    Epoch[0] Batch [50] Speed: 12345.67 samples/sec accuracy=0.912500
    Epoch[0] Train-accuracy=0.934000
    Epoch[0] Time cost=0.512
    Epoch[0] Validation-accuracy=0.951389

The saved graph takes float32 grey images in [0, 255] (the scaling is inside it, as the ImageNet
models' normalisation is) and ends in softmax; its `data` node carries the input shape and a crop
of 1.0, so `classify` preprocesses digit images without flags.

Distributed (`--kvstore dist_sync`): MXNet's parameter server (ps-lite). Every process of the job
runs `train` with the DMLC environment (DMLC_ROLE scheduler/server/worker, DMLC_PS_ROOT_URI and
DMLC_PS_ROOT_PORT of the scheduler, DMLC_NUM_SERVER, DMLC_NUM_WORKER): the scheduler and the
servers serve until the workers are done; each worker trains on its own shard of the data (every
DMLC_NUM_WORKER-th sample from its rank on), the servers sum the workers' gradients, and every
worker ends with the same weights, whose SHA-256 it prints:

    train: worker 1 of 2: weights sha256 5b3fe04f...

Worker 0 writes the checkpoint.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecsdl import EcsdlError, __version__
from ecsdl.datasets import MNIST_SHA256, Dataset, load_digits, load_mnist
from ecsdl.device import DEVICES, device_name, pick_device
from ecsdl.sources import SourceError, join, read_bytes, write_bytes

NETWORKS = ("mlp", "lenet")
KVSTORES = ("local", "dist_sync")
# The environment every process of a parameter-server job needs (DMLC_PS_ROOT_URI may be left
# out on the scheduler: it is then the scheduler's own address).
DMLC_ENVIRONMENT = (
    "DMLC_ROLE",
    "DMLC_PS_ROOT_URI",
    "DMLC_PS_ROOT_PORT",
    "DMLC_NUM_SERVER",
    "DMLC_NUM_WORKER",
)
PS_ROLES = ("scheduler", "server", "worker")
# Where the scheduler says its address (a path or s3:// URI), for a job whose processes cannot
# know it in advance (ECS tasks placed on any instance): the scheduler writes
# {"uri": ADDRESS, "port": PORT} there, the servers and workers wait for it.
RENDEZVOUS_ENV = "ECSDL_RENDEZVOUS"
RENDEZVOUS_TIMEOUT = 300.0


def build_network(name: str, classes: int) -> Any:
    """The body to train (logits); `mlp` as train_mnist.py's default, or a small LeNet."""
    from mxnet.gluon import nn

    body = nn.HybridSequential(prefix="")
    with body.name_scope():
        if name == "mlp":
            body.add(nn.Flatten(), nn.Dense(128, activation="relu"))
            body.add(nn.Dense(64, activation="relu"), nn.Dense(classes))
        elif name == "lenet":
            body.add(nn.Conv2D(20, kernel_size=3, padding=1, activation="tanh"))
            body.add(nn.MaxPool2D(pool_size=2, strides=2))
            body.add(nn.Conv2D(50, kernel_size=3, padding=1, activation="tanh"))
            body.add(nn.MaxPool2D(pool_size=2, strides=2))
            body.add(nn.Flatten(), nn.Dense(500, activation="tanh"), nn.Dense(classes))
        else:
            raise EcsdlError(f"unknown network {name!r} (choose from {', '.join(NETWORKS)})")
    return body


def _classifier_class() -> Any:
    """A block computing body(x / 255): logits for training, softmax on top for export."""
    from mxnet.gluon import HybridBlock

    class Classifier(HybridBlock):  # type: ignore[misc]
        def __init__(self, inner: Any, softmax: bool) -> None:
            super().__init__(prefix="")
            self.softmax = softmax
            with self.name_scope():
                self.body = inner

        def hybrid_forward(self, F: Any, x: Any) -> Any:  # noqa: N803 (Gluon's signature)
            out = self.body(x * (1.0 / 255.0))
            return F.softmax(out, axis=-1) if self.softmax else out

    return Classifier


def train_model(
    dataset: Dataset,
    network: str = "mlp",
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 0.1,
    log_every: int = 50,
    seed: int = 0,
    out: Any = None,
    kvstore: Any = "local",
    ctx: Any = None,
) -> tuple[Any, float]:
    """Train; returns (the trained network with softmax output, final validation accuracy).

    `kvstore` is a name (`local`, `dist_sync`) or an MXNet KVStore. With a `dist_*` one (create
    it once a process: each creation joins the job again) this process is one worker of a
    parameter-server job: it trains on its shard, and every step is a step of the whole job (the
    gradients of all workers' batches, averaged over the job's samples, as one batch of
    batch_size x workers on one machine). `ctx`: the MXNet context to train on
    (ecsdl.device.pick_device; None: the CPU).
    """
    import mxnet as mx
    from mxnet import autograd, gluon

    out = out or sys.stdout
    mx.random.seed(seed)
    rng = np.random.default_rng(seed)
    ctx = ctx or mx.cpu()
    classifier_cls = _classifier_class()
    net = classifier_cls(build_network(network, len(dataset.labels)), softmax=False)
    net.initialize(mx.init.Xavier(), ctx=ctx)
    net.hybridize(static_alloc=True)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    store = mx.kv.create(kvstore) if isinstance(kvstore, str) else kvstore
    rank, workers = store.rank, store.num_workers
    trainer = gluon.Trainer(
        net.collect_params(), "sgd", {"learning_rate": lr, "momentum": 0.9}, kvstore=store
    )
    shard = np.arange(len(dataset.train_y))[rank::workers]
    if store.type.startswith("dist"):
        # Every worker takes the same number of whole batches: a synchronous step waits for
        # all of them, and the servers' optimizer keeps the gradient scale of the first step.
        per_worker = len(dataset.train_y) // workers // batch_size * batch_size
        if per_worker == 0:
            raise EcsdlError(
                f"{len(dataset.train_y)} training samples are too few for {workers} workers "
                f"with batches of {batch_size}"
            )
        shard = shard[:per_worker]
        print(
            f"train: worker {rank} of {workers}: {len(shard)} samples of "
            f"{len(dataset.train_y)} (numbers {rank}, {rank + workers}, {rank + 2 * workers}, ...)",
            file=out,
            flush=True,
        )
    n = len(shard)
    val_acc = 0.0
    for epoch in range(epochs):
        order = shard[rng.permutation(n)]
        metric = mx.metric.Accuracy()
        window = mx.metric.Accuracy()
        epoch_start = tick = time.perf_counter()
        for nbatch, start in enumerate(range(0, n, batch_size), start=1):
            idx = order[start : start + batch_size]
            x = mx.nd.array(dataset.train_x[idx], ctx=ctx)
            y = mx.nd.array(dataset.train_y[idx], ctx=ctx)
            with autograd.record():
                logits = net(x)
                loss = loss_fn(logits, y)
            loss.backward()
            trainer.step(len(idx) * workers)
            metric.update([y], [logits])
            window.update([y], [logits])
            if nbatch % log_every == 0:
                speed = log_every * batch_size / max(time.perf_counter() - tick, 1e-9)
                name, value = window.get()
                print(
                    f"Epoch[{epoch}] Batch [{nbatch}] Speed: {speed:.2f} samples/sec "
                    f"{name}={value:f}",
                    file=out,
                    flush=True,
                )
                window.reset()
                tick = time.perf_counter()
        name, value = metric.get()
        print(f"Epoch[{epoch}] Train-{name}={value:f}", file=out, flush=True)
        print(f"Epoch[{epoch}] Time cost={time.perf_counter() - epoch_start:.3f}", file=out)
        val_acc = evaluate(net, dataset.val_x, dataset.val_y, batch_size, ctx)
        print(f"Epoch[{epoch}] Validation-accuracy={val_acc:f}", file=out, flush=True)
    exported = classifier_cls(net.body, softmax=True)
    exported.hybridize()
    return exported, val_acc


def weights_sha256(net: Any) -> str:
    """SHA-256 of the network's parameters (by name, float32 bytes): equal on every worker."""
    digest = hashlib.sha256()
    for name, param in sorted(net.collect_params().items()):
        digest.update(name.encode())
        digest.update(param.data().asnumpy().astype(np.float32).tobytes())
    return digest.hexdigest()


def own_address() -> str:
    """This machine's address on its default route (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 9))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])


def meet_at_rendezvous(env: Any, role: str, timeout: float | None = None) -> None:
    """Through ECSDL_RENDEZVOUS: the scheduler writes its address there, the others read it."""
    timeout = RENDEZVOUS_TIMEOUT if timeout is None else timeout
    uri = env[RENDEZVOUS_ENV]
    if role == "scheduler":
        env.setdefault("DMLC_PS_ROOT_PORT", str(free_port()))
        address = {"uri": env["DMLC_PS_ROOT_URI"], "port": int(env["DMLC_PS_ROOT_PORT"])}
        write_bytes(uri, json.dumps(address).encode())
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            address = json.loads(read_bytes(uri))
            env["DMLC_PS_ROOT_URI"] = str(address["uri"])
            env["DMLC_PS_ROOT_PORT"] = str(int(address["port"]))
            return
        except (SourceError, ValueError, KeyError, TypeError) as error:
            # not written yet (or being written)
            if time.monotonic() > deadline:
                detail = error if isinstance(error, SourceError) else "not a scheduler address"
                raise EcsdlError(
                    f"no scheduler address at {uri} after {timeout:.0f} s ({detail})"
                ) from None
            time.sleep(1)


def ps_environment(env: Any) -> str:
    """This process's role in a parameter-server job from the DMLC environment ('' if none).

    Raises EcsdlError naming what is missing or wrong. The scheduler's address is its own
    when DMLC_PS_ROOT_URI is not given; with ECSDL_RENDEZVOUS it is shared there (its port a
    free one unless DMLC_PS_ROOT_PORT is given). Every process announces the address of its
    default route (DMLC_NODE_HOST, unless given): ps-lite would take the first interface's,
    which on an ECS instance may be docker0's.
    """
    role = env.get("DMLC_ROLE", "")
    if not role:
        return ""
    if role not in PS_ROLES:
        raise EcsdlError(f"DMLC_ROLE is {role!r}: it must be one of {', '.join(PS_ROLES)}")
    env.setdefault("DMLC_NODE_HOST", own_address())
    if role == "scheduler" and not env.get("DMLC_PS_ROOT_URI"):
        env["DMLC_PS_ROOT_URI"] = env["DMLC_NODE_HOST"]
    if env.get(RENDEZVOUS_ENV):
        meet_at_rendezvous(env, role)
    missing = [name for name in DMLC_ENVIRONMENT if not env.get(name)]
    if missing:
        raise EcsdlError(f"a parameter-server {role} needs {', '.join(missing)} in its environment")
    for name in ("DMLC_PS_ROOT_PORT", "DMLC_NUM_SERVER", "DMLC_NUM_WORKER"):
        if not env[name].isdigit() or int(env[name]) < 1:
            raise EcsdlError(f"{name} is {env[name]!r}: it must be a positive whole number")
    return str(role)


def serve_parameters(role: str, out: Any = None) -> int:
    """Be the job's scheduler or one of its servers until the workers are done."""
    out = out or sys.stdout
    env = os.environ
    print(
        f"train: parameter {role} of a job of {env['DMLC_NUM_WORKER']} workers and "
        f"{env['DMLC_NUM_SERVER']} servers, scheduler "
        f"{env['DMLC_PS_ROOT_URI']}:{env['DMLC_PS_ROOT_PORT']}",
        file=out,
        flush=True,
    )
    try:
        # MXNet runs a scheduler or server from its import (ps-lite takes the role from the
        # environment) and exits when the job is done.
        import mxnet  # noqa: F401
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 0
        print(f"train: parameter {role}: the job is done", file=out, flush=True)
        return code
    raise EcsdlError(f"MXNet did not run a parameter {role} (was it imported before?)")


def evaluate(
    net: Any, x: np.ndarray, y: np.ndarray, batch_size: int = 256, ctx: Any = None
) -> float:
    import mxnet as mx

    ctx = ctx or mx.cpu()
    correct = 0
    for start in range(0, len(y), batch_size):
        logits = net(mx.nd.array(x[start : start + batch_size], ctx=ctx)).asnumpy()
        correct += int((logits.argmax(axis=1) == y[start : start + batch_size]).sum())
    return correct / max(len(y), 1)


def save_checkpoint(net: Any, dataset: Dataset, prefix: str, ctx: Any = None) -> list[str]:
    """PREFIX-symbol.json, PREFIX-0000.params and labels.txt beside them (path or s3://);
    `ctx`: the context the network is on (None: the CPU)."""
    import mxnet as mx

    channels, height, width = dataset.input_shape
    # builds the cached graph export needs
    net(mx.nd.zeros((1, channels, height, width), ctx=ctx or mx.cpu()))
    with tempfile.TemporaryDirectory(prefix="ecsdl-train-") as tmp:
        net.export(str(Path(tmp) / "model"), epoch=0)
        symbol = json.loads((Path(tmp) / "model-symbol.json").read_text())
        for node in symbol["nodes"]:
            if node["op"] == "null" and node["name"] == "data":
                node.setdefault("attrs", {}).update(
                    {"ecsdl_input_shape": f"({channels}, {height}, {width})", "ecsdl_crop": "1.0"}
                )
        written = {
            f"{prefix}-symbol.json": json.dumps(symbol, indent=2).encode(),
            f"{prefix}-0000.params": (Path(tmp) / "model-0000.params").read_bytes(),
            join(prefix, "labels.txt"): ("\n".join(dataset.labels) + "\n").encode(),
        }
    for uri, data in written.items():
        write_bytes(uri, data)
    return list(written)


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {kind.__name__}: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def _file_sha256(text: str) -> tuple[str, str]:
    """--data-sha256 FILE=SHA256: one of the four MNIST file names and 64 hex digits."""
    name, _, digest = text.partition("=")
    if name not in MNIST_SHA256:
        raise argparse.ArgumentTypeError(
            f"{text!r}: FILE must be one of {', '.join(MNIST_SHA256)} (FILE=SHA256)"
        )
    if len(digest) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digest):
        raise argparse.ArgumentTypeError(f"{text!r}: SHA256 must be 64 hex digits (FILE=SHA256)")
    return name, digest.lower()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train",
        description="Train a digit classifier with MXNet Gluon (on a GPU when MXNet sees one, "
        "else the CPU: see --device) and save an MXNet "
        "checkpoint that `classify --model PREFIX` loads.",
        epilog="Examples: `train --dataset digits --epochs 10` (offline, 1797 8x8 digits); "
        "`train --dataset mnist --data s3://my-input-bucket/mnist --output "
        "s3://my-model-bucket/mnist/mlp`. A digit model says nothing about cats: classify "
        "reports is_cat false for it. Images to classify with it should be white digits on "
        "black, like the training data. Exit status: 0 trained and saved, 1 data or output "
        "error, 2 usage error.",
    )
    parser.add_argument(
        "--dataset",
        choices=("digits", "mnist"),
        default="digits",
        help="digits: scikit-learn's 8x8 digits shipped in the image (offline; default); "
        "mnist: the 28x28 MNIST idx files from --data",
    )
    parser.add_argument(
        "--data",
        metavar="PREFIX",
        help="for mnist: a folder, http(s):// URL or s3:// prefix holding "
        "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz "
        "and t10k-labels-idx1-ubyte.gz; each must have the sha256 MNIST publishes (a changed "
        "or damaged copy is refused)",
    )
    parser.add_argument(
        "--data-sha256",
        metavar="FILE=SHA256",
        type=_file_sha256,
        action="append",
        default=[],
        help="for mnist: the sha256 FILE (one of the four) must have instead of MNIST's, for "
        "data of one's own in MNIST's format (e.g. Fashion-MNIST); repeat for each file",
    )
    parser.add_argument("--network", choices=NETWORKS, default="mlp", help="default mlp")
    parser.add_argument(
        "--epochs", type=_positive(int), default=10, help="passes over the data (default 10)"
    )
    parser.add_argument(
        "--batch-size", type=_positive(int), default=64, help="samples per step (default 64)"
    )
    parser.add_argument(
        "--lr",
        type=_positive(float),
        default=0.1,
        help="SGD learning rate, momentum 0.9 (default 0.1)",
    )
    parser.add_argument(
        "--log-every",
        type=_positive(int),
        default=50,
        metavar="N",
        help="print speed and accuracy every N batches (default 50)",
    )
    parser.add_argument(
        "--output",
        metavar="PREFIX",
        help="checkpoint prefix, a local path or s3://bucket/key-prefix; writes "
        "PREFIX-symbol.json, PREFIX-0000.params and labels.txt beside them "
        "(default: model-DATASET/NETWORK in the current folder)",
    )
    parser.add_argument(
        "--kvstore",
        choices=KVSTORES,
        default=None,
        help="local: this process alone; dist_sync: a worker of a parameter-server job, as the "
        "DMLC environment says (default: dist_sync when DMLC_ROLE is set, else local)",
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where to train: auto (default) the first GPU when MXNet sees one, else the CPU; "
        "cpu; gpu (an error when there is none). A line 'train: device: cpu' (or gpu(0)) says "
        "which one ran",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.dataset == "mnist" and not args.data:
        parser.error(
            "--dataset mnist needs --data (a folder, URL or s3:// prefix of the idx files)"
        )
    output = args.output or f"model-{args.dataset}/{args.network}"
    try:
        role = ps_environment(os.environ)
        kvstore = args.kvstore or ("dist_sync" if role else "local")
        if role in ("scheduler", "server"):
            return serve_parameters(role)
        if kvstore != "local" and role != "worker":
            raise EcsdlError(
                f"--kvstore {kvstore} runs as a worker of a parameter-server job: set "
                f"DMLC_ROLE=worker and {', '.join(DMLC_ENVIRONMENT[1:])}"
            )
        if role == "worker" and kvstore == "local":
            raise EcsdlError("DMLC_ROLE is worker: train with --kvstore dist_sync")
        ctx = pick_device(args.device)
        dataset = (
            load_mnist(args.data, {**MNIST_SHA256, **dict(args.data_sha256)})
            if args.dataset == "mnist"
            else load_digits()
        )
        print(
            f"train: {dataset.name}: {len(dataset.train_y)} training and {len(dataset.val_y)} "
            f"validation images of {dataset.input_shape}",
            flush=True,
        )
        print(f"train: device: {device_name(ctx)}", flush=True)
        store: Any = kvstore
        if role == "worker":
            import mxnet as mx

            store = mx.kv.create(kvstore)
        net, _ = train_model(
            dataset,
            args.network,
            args.epochs,
            args.batch_size,
            args.lr,
            args.log_every,
            args.seed,
            kvstore=store,
            ctx=ctx,
        )
        if role == "worker":
            rank, workers = store.rank, store.num_workers
            print(
                f"train: worker {rank} of {workers}: weights sha256 {weights_sha256(net)}",
                flush=True,
            )
            if rank != 0:
                print(f"train: worker {rank}: worker 0 writes the checkpoint", flush=True)
                return 0
        for uri in save_checkpoint(net, dataset, output, ctx):
            print(f"train: wrote {uri}", flush=True)
    except EcsdlError as exc:
        print(f"train: {exc}", file=sys.stderr)
        return 1
    print(f"train: classify with `classify --model {output} IMAGE...`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
