"""Time the infrastructure on the local target: create, idempotent rerun, teardown.

Runs site.yml, site.yml again and teardown.yml with deployment_name=ecs-dl-bench from the
repository root and prints the wall time of each, plus how many tasks the rerun changed
(0 when the playbooks are idempotent). Not a test: `make bench` or `python benchmarks/infra.py`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from common import recap_changed, timed_playbook


@dataclass
class Step:
    """One timed playbook run."""

    label: str
    playbook: str
    seconds: float = 0.0
    returncode: int = 0
    changed: int = 0
    output: str = ""


def run(step: Step, deployment_name: str) -> Step:
    """Run `ansible-playbook PLAYBOOK -e deployment_name=...` and time it."""
    step.seconds, result = timed_playbook(step.playbook, "-e", f"deployment_name={deployment_name}")
    step.returncode = result.returncode
    step.output = result.stdout
    step.changed = recap_changed(result.stdout)
    return step


def main(argv: list[str] | None = None) -> int:
    """Run the three steps, print the table; exit non-zero when a playbook failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--deployment-name",
        default="ecs-dl-bench",
        help="deployment_name for the benchmark's own resources (default: ecs-dl-bench)",
    )
    args = parser.parse_args(argv)

    steps = [
        Step("create", "site.yml"),
        Step("idempotent rerun", "site.yml"),
        Step("teardown", "teardown.yml"),
    ]
    done: list[Step] = []
    for step in steps:
        print(f"{step.label}: ansible-playbook {step.playbook} ...", flush=True)
        done.append(run(step, args.deployment_name))
        if step.returncode != 0:
            print("\n".join(step.output.splitlines()[-40:]), file=sys.stderr)
            if step.playbook != "teardown.yml":
                print("cleaning up with teardown.yml", flush=True)
                done.append(run(Step("teardown (cleanup)", "teardown.yml"), args.deployment_name))
            break

    print()
    print(f"{'step':<20} {'playbook':<14} {'wall s':>8} {'changed':>8} {'result':>7}")
    for step in done:
        result = "ok" if step.returncode == 0 else f"rc={step.returncode}"
        print(
            f"{step.label:<20} {step.playbook:<14} {step.seconds:>8.1f} {step.changed:>8} "
            f"{result:>7}"
        )
    rerun = next((s for s in done if s.label == "idempotent rerun"), None)
    if rerun is not None and rerun.returncode == 0:
        print(f"\nchanged on the rerun: {rerun.changed} (0 means idempotent)")
    return 0 if all(s.returncode == 0 for s in done) else 1


if __name__ == "__main__":
    raise SystemExit(main())
