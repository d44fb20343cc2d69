"""Time the ways a cat social network classifies: every upload, a batch, the forward-pass limit.

On the local target, for one deployment (deployment_name, default ecs-dl-bench-cls; site.yml
first unless --existing, teardown.yml last unless --keep or --existing). Its model is the
default one, MobileNet v2 1.0/224 quantized, downloaded by site.yml as a user's would be, from a
local HTTP server of ../shared/models/tflite (these machines cannot reach GitHub), unless
--model-source gives another:

- upload to verdict: one picture put under uploads/ of the input bucket, then 100 at once, each
  timed from its put until its verdict object is in the output bucket (the uploads' rule runs
  one predict task per picture);
- a batch: --batch-images pictures (scikit-image's chelsea.png and coffee.png in turn) under an
  s3:// prefix, through `predict.yml -e images=s3://...` (one task per instance, the model
  loaded once): the playbook's wall time, and the tasks' own rate once the model was loaded;
- the limit: the bare forward pass of the same model at the same batch size, in the deployment's
  image on this machine (`docker run`), zeros in, no decoding, no S3: the ratio of the batch's
  rate to it is what the batch mode achieves of what the network allows.

Figures, not a test: no thresholds; the exit code is non-zero only when a step failed.
`python benchmarks/classify.py [--existing] [--keep] [--batch-images N] [--batch-size N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from common import REPO_ROOT, timed_playbook

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
_BATCH = re.compile(
    r"(\d+) task\(s\), ([0-9.]+) s: ([0-9.]+) pictures/s\s+\(([0-9.]+) once the model was loaded\)"
)
FORWARD = """
import sys, time, numpy as np
from ecsdl.model import load_model
model = load_model(sys.argv[1])
batch = int(sys.argv[2])
spec = model.spec
data = np.zeros((batch, spec.channels, spec.height, spec.width), np.float32)
model.predict(data)
runs, start = 0, time.perf_counter()
while time.perf_counter() - start < 10:
    model.predict(data)
    runs += 1
print(runs * batch / (time.perf_counter() - start))
"""


SHARED_TFLITE = REPO_ROOT.parent / "shared" / "models" / "tflite"
DEFAULT_MODEL_FILE = "mobilenet_v2_1.0_224_quant.tflite"


def serve_shared_models() -> tuple[subprocess.Popen[bytes], str]:
    """python3 -m http.server of SHARED_TFLITE on a free port: the default model's URL."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory",
         str(SHARED_TFLITE), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1)
    return server, f"http://127.0.0.1:{port}/{DEFAULT_MODEL_FILE}"


def photo(name: str) -> bytes:
    import skimage

    return (Path(skimage.__file__).parent / "data" / name).read_bytes()


def s3_client(outputs: dict[str, Any]) -> Any:
    return boto3.client(
        "s3", region_name=outputs["region"], endpoint_url=outputs["endpoint"], **CREDENTIALS
    )


def upload_to_verdict(outputs: dict[str, Any], count: int, tag: str) -> list[float]:
    """Seconds from each put to its verdict, for `count` pictures put at once."""
    s3 = s3_client(outputs)
    buckets = outputs["buckets"]
    bodies = [photo("chelsea.png"), photo("coffee.png")]
    keys = [f"uploads/bench-{tag}/{i:04d}.png" for i in range(count)]
    put_at: dict[str, float] = {}

    def put(index: int) -> None:
        put_at[keys[index]] = time.monotonic()
        s3.put_object(Bucket=buckets["input"], Key=keys[index], Body=bodies[index % 2])

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(count)))
    seen: dict[str, float] = {}
    deadline = time.monotonic() + 60 + 15 * count
    while len(seen) < count and time.monotonic() < deadline:
        prefix = f"verdicts/uploads/bench-{tag}/"
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=buckets["output"], Prefix=prefix
        )
        now = time.monotonic()
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"].removeprefix("verdicts/").removesuffix(".json")
                seen.setdefault(key, now)
        time.sleep(0.25)
    if len(seen) < count:
        raise RuntimeError(f"{count - len(seen)} of {count} verdicts missing after the wait")
    return sorted(seen[key] - put_at[key] for key in keys)


def batch(
    name: str, outputs: dict[str, Any], images: int, batch_size: int, tag: str
) -> dict[str, Any]:
    s3 = s3_client(outputs)
    bucket = outputs["buckets"]["input"]
    bodies = [photo("chelsea.png"), photo("coffee.png")]
    prefix = f"pictures/bench-{tag}/"
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda i: s3.put_object(
                    Bucket=bucket, Key=f"{prefix}{i:05d}.png", Body=bodies[i % 2]
                ),
                range(images),
            )
        )
    seconds, result = timed_playbook(
        "playbooks/predict.yml",
        "-e", f"deployment_name={name}",
        "-e", f"images=s3://{bucket}/{prefix}",
        "-e", f"predict_batch_size={batch_size}",
    )  # fmt: skip
    match = _BATCH.search(result.stdout)
    if result.returncode != 0 or not match:
        raise RuntimeError(f"predict.yml on the batch failed:\n{result.stdout[-3000:]}")
    return {
        "images": images,
        "batch_size": batch_size,
        "tasks": int(match.group(1)),
        "playbook_seconds": round(seconds, 1),
        "job_seconds": float(match.group(2)),
        "job_images_per_second": float(match.group(3)),
        "classify_images_per_second": float(match.group(4)),
    }


def forward_limit(outputs: dict[str, Any], batch_size: int) -> float:
    """Images/s of the bare forward pass in the deployment's image (one process, as a task)."""
    result = subprocess.run(
        [
            "docker", "run", "--rm", "--network", "host",
            "-e", f"AWS_ENDPOINT_URL={outputs['endpoint']}",
            "-e", "AWS_ACCESS_KEY_ID=testing", "-e", "AWS_SECRET_ACCESS_KEY=testing",
            "-e", f"AWS_DEFAULT_REGION={outputs['region']}",
            outputs["image_uri"], "python", "-c", FORWARD, outputs["model_uri"], str(batch_size),
        ],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"the forward pass did not run: {result.stderr[-2000:]}")
    return float(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployment-name", default="ecs-dl-bench-cls")
    parser.add_argument("--existing", action="store_true", help="use a deployed site.yml as is")
    parser.add_argument("--keep", action="store_true", help="no teardown.yml at the end")
    parser.add_argument("--uploads", type=int, default=100, help="pictures put at once")
    parser.add_argument("--batch-images", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--model-source", default="", help="site.yml's model_source")
    args = parser.parse_args(argv)
    name = args.deployment_name
    figures: dict[str, Any] = {"deployment_name": name, "load_average": os.getloadavg()}
    tag = time.strftime("%Y%m%dT%H%M%S")
    code = 0
    server = None
    try:
        if not args.existing:
            source = args.model_source
            if not source:
                server, source = serve_shared_models()
            seconds, result = timed_playbook(
                "site.yml", "-e", f"deployment_name={name}", "-e", f"model_source={source}"
            )
            if result.returncode != 0:
                raise RuntimeError(f"site.yml failed:\n{result.stdout[-3000:]}")
            figures["site_seconds"] = round(seconds, 1)
        outputs = json.loads((REPO_ROOT / "outputs" / f"{name}.json").read_text())
        one = upload_to_verdict(outputs, 1, f"{tag}-one")
        many = upload_to_verdict(outputs, args.uploads, f"{tag}-many")
        figures["upload_to_verdict"] = {
            "one_seconds": round(one[0], 1),
            f"{args.uploads}_at_once_p50_seconds": round(statistics.median(many), 1),
            f"{args.uploads}_at_once_last_seconds": round(many[-1], 1),
        }
        run = batch(name, outputs, args.batch_images, args.batch_size, tag)
        limit = forward_limit(outputs, args.batch_size)
        run["forward_pass_images_per_second"] = round(limit, 1)
        run["ratio_to_forward_pass"] = round(
            run["classify_images_per_second"] / run["tasks"] / limit, 2
        )
        figures["batch"] = run
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"classify benchmark: {exc}", file=sys.stderr)
        code = 1
    finally:
        if server is not None:
            server.terminate()
        if not (args.keep or args.existing):
            seconds, result = timed_playbook("teardown.yml", "-e", f"deployment_name={name}")
            figures["teardown_seconds"] = round(seconds, 1)
            code = code or (result.returncode != 0)
    print(json.dumps(figures, indent=None if args.json else 2))
    return code


if __name__ == "__main__":
    sys.exit(main())
