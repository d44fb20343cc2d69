"""Distributed training on the local target: samples/s for 1, 2 and 4 workers, and start time.

Deploys site.yml for its own deployment (deployment_name, default ecs-dl-bench-dist; --no-deploy
uses one that is there), then runs `playbooks/train.yml -e workers=N -e servers=1` for each N of
--workers (default 1 2 4) with --epochs passes over the offline digits, and prints for each job:

- samples/s: the job's training throughput, the sum over its workers of each worker's shard
  size over its mean epoch time (`Epoch[k] Time cost=` in its CloudWatch log, the first epoch
  left out as warm-up);
- start: seconds from train.yml's start until the last worker said its shard (every process
  placed, started, met at the scheduler's rendezvous and joined the job);
- job: train.yml's wall time;
- the weights' checksum every worker ended with (the playbook checks they are equal).

teardown.yml runs at the end unless --keep (or --no-deploy). Figures, not a test: no
thresholds; on 2 cores expect little speed-up, the figures are for the scaling curve.
`python benchmarks/distributed.py [--workers 1 2 4] [--epochs 30] [--json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from typing import Any

from common import REPO_ROOT, timed_playbook

LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
_JOB = re.compile(r"\b(dist-\d{14}-\d{6})\b")
_SHARD = re.compile(r"train: worker (\d+) of (\d+): (\d+) samples of")
_EPOCH_TIME = re.compile(r"Epoch\[(\d+)\] Time cost=([0-9.]+)")
_CHECKSUM = re.compile(r"weights sha256 ([0-9a-f]{64})")


def aws(service: str, outputs: dict[str, Any]) -> Any:
    import boto3

    return boto3.client(
        service,
        region_name=outputs["region"],
        endpoint_url=outputs.get("endpoint") or None,
        **LOCAL_CREDENTIALS,
    )


def measure_job(
    deployment: str, workers: int, epochs: int, outputs: dict[str, Any]
) -> dict[str, Any]:
    started = time.time()
    seconds, result = timed_playbook(
        "playbooks/train.yml",
        "-e",
        f"deployment_name={deployment}",
        "-e",
        f"workers={workers}",
        "-e",
        "servers=1",
        "-e",
        f"train_epochs={epochs}",
    )
    if result.returncode != 0:
        raise RuntimeError(f"train.yml with {workers} workers failed:\n{result.stdout[-3000:]}")
    job = _JOB.search(result.stdout)
    if not job:
        raise RuntimeError(f"no job id in train.yml's output:\n{result.stdout[-3000:]}")
    ecs, logs = aws("ecs", outputs), aws("logs", outputs)
    arns = ecs.list_tasks(
        cluster=outputs["cluster"], startedBy=job.group(1), desiredStatus="STOPPED"
    )["taskArns"]
    tasks = ecs.describe_tasks(cluster=outputs["cluster"], tasks=arns)["tasks"]
    throughput, joined, checksums = 0.0, [], set()
    for task in tasks:
        stream = f"{deployment}/train/{task['taskArn'].rsplit('/', 1)[-1]}"
        events = logs.get_log_events(
            logGroupName=outputs["log_group"], logStreamName=stream, startFromHead=True
        )["events"]
        text = "\n".join(e["message"] for e in events)
        shard = _SHARD.search(text)
        if not shard:
            continue  # the scheduler or a server
        joined += [e["timestamp"] / 1000 for e in events if _SHARD.search(e["message"])]
        times = [float(t) for k, t in _EPOCH_TIME.findall(text) if int(k) > 0]
        throughput += int(shard.group(3)) / statistics.mean(times)
        checksums.update(_CHECKSUM.findall(text))
    return {
        "workers": workers,
        "samples_per_s": round(throughput, 1),
        "start_s": round(max(joined) - started, 1),
        "job_s": round(seconds, 1),
        "weights_sha256": sorted(checksums),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployment-name", default="ecs-dl-bench-dist")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--no-deploy", action="store_true", help="use the deployment as it is")
    parser.add_argument("--keep", action="store_true", help="no teardown.yml at the end")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    name = args.deployment_name
    rows: list[dict[str, Any]] = []
    try:
        if not args.no_deploy:
            seconds, result = timed_playbook("site.yml", "-e", f"deployment_name={name}")
            if result.returncode != 0:
                print(f"site.yml failed:\n{result.stdout[-3000:]}", file=sys.stderr)
                return 1
            print(f"site.yml for {name}: {seconds:.1f} s", flush=True)
        outputs = json.loads((REPO_ROOT / "outputs" / f"{name}.json").read_text())
        for workers in args.workers:
            rows.append(measure_job(name, workers, args.epochs, outputs))
            if not args.json:
                row = rows[-1]
                print(
                    f"{row['workers']} worker(s), 1 server: {row['samples_per_s']:>9.1f} samples/s"
                    f"  start {row['start_s']:5.1f} s  job {row['job_s']:5.1f} s"
                    f"  weights {','.join(s[:12] for s in row['weights_sha256'])}",
                    flush=True,
                )
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    finally:
        if not (args.keep or args.no_deploy):
            seconds, result = timed_playbook("teardown.yml", "-e", f"deployment_name={name}")
            print(f"teardown.yml: {seconds:.1f} s (exit {result.returncode})", file=sys.stderr)
    if args.json:
        print(json.dumps({"epochs": args.epochs, "cores": os.cpu_count(), "jobs": rows}))
    else:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"({args.epochs} epochs of the digits, {os.cpu_count()} cores, load {load})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
