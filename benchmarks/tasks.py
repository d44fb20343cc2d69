"""Time what a data scientist waits for after site.yml: Jupyter, predict, train, a recovery.

On the local target, for one deployment (deployment_name, default ecs-dl-bench), in order:
playbooks/local_stack.yml (the stack must be up; usually it already is), the local ECS agent's
CPU use while idle with no deployment, site.yml (its wall time, each play's, and from the start
of the "Run Jupyter on the cluster" play to the service's task RUNNING and to Jupyter answering),
the agent's idle CPU again with Jupyter running, playbooks/predict.yml on scikit-image's
chelsea.png --runs times (the verdict of each), playbooks/train.yml (the final validation
accuracy from the task's log), a recovery (`docker kill` of the Jupyter container, then the
seconds until ECS runs a new task, until Jupyter's /login answers 200 again and until a notebook
saved in the workspace before the kill reads back through Jupyter's API), site.yml once
more (its changed count: 0 when idempotent), and teardown.yml. teardown.yml also runs when a
step fails or the run is interrupted, unless --keep.

Figures, not a test: there are no thresholds. The exit code is non-zero only when a step
failed. Times are wall times on this machine, so the load average is printed with them.
`make bench` or `python benchmarks/tasks.py [--runs N] [--json] [-e VAR=VALUE ...]`.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import REPO_ROOT, VENV_BIN, ansible_env, recap_changed

JUPYTER_PLAY = "Run Jupyter on the cluster"
# The jupyter_service role's two waits, by what their titles say.
TASK_RUNNING = re.compile(r"^jupyter_service : Wait\b.*\btask\b.*\bruns?\b")
JUPYTER_ANSWERS = re.compile(r"^jupyter_service : Wait\b.*\bJupyter answers\b")
# moto accepts any credentials; the benchmark only runs against the local target.
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

_PLAY = re.compile(r"^PLAY \[(.*)\] \*+$")
_TASK = re.compile(r"^TASK \[(.*)\] \*+$")
_RESULT = re.compile(r"^(ok|changed): \[")
_VERDICT = re.compile(
    r"- (CAT|NO CAT) in \S+\s+\(cat\s+probability\s+([0-9.]+)\)\s+-\s+([0-9.]+)\s+(.+)"
)
# The task playbooks' closing message names the task's log: 'log: GROUP:STREAM'.
_LOG_STREAM = re.compile(r"\blog:\s+(/[^:\s]+):([^,'\s]+)")
_VALIDATION = re.compile(r"Epoch\[(\d+)\] Validation-accuracy=([0-9.]+)")


@dataclass
class Run:
    """One timed ansible-playbook run, with the time (seconds from its start) of each line."""

    label: str
    playbook: str
    seconds: float = 0.0
    returncode: int = 0
    changed: int = 0
    lines: list[tuple[float, str]] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def figures(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 1), "changed": self.changed, "rc": self.returncode}


class StepFailed(Exception):
    """A step could not be measured; the message says which and why."""


class Bench:
    """The deployment under test: the playbooks' extra vars, where to report, what was measured."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.name: str = args.deployment_name
        self.extra = ["-e", f"deployment_name={self.name}"]
        self.settings: dict[str, str] = {}
        for setting in args.extra_vars:
            key, _, value = setting.partition("=")
            self.settings[key.strip()] = value
            self.extra += ["-e", setting]
        self.stack_dir = Path(self.settings.get("local_stack_dir", REPO_ROOT / ".local"))
        self.endpoint = f"http://127.0.0.1:{self.settings.get('local_stack_moto_port', '5100')}"
        self.region = self.settings.get("aws_region", "us-east-1")
        self.quiet_stdout = args.json
        self.log_dir: Path | None = args.log_dir
        self.logged = 0
        self.figures: dict[str, Any] = {"deployment_name": self.name}

    def say(self, message: str) -> None:
        """Progress: on stdout, or on stderr when stdout is for --json."""
        print(message, file=sys.stderr if self.quiet_stdout else sys.stdout, flush=True)

    def playbook(self, label: str, playbook: str, *more: str) -> Run:
        """Run `ansible-playbook PLAYBOOK` with the deployment's extra vars; time every line."""
        self.say(f"{label}: ansible-playbook {playbook} {' '.join(more)}".rstrip())
        run = Run(label, playbook)
        start = time.monotonic()
        with subprocess.Popen(
            ["ansible-playbook", playbook, *self.extra, *more],
            cwd=REPO_ROOT,
            env=ansible_env(PYTHONUNBUFFERED="1"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                run.lines.append((time.monotonic() - start, line.rstrip("\n")))
            run.returncode = process.wait()
        run.seconds = time.monotonic() - start
        run.changed = recap_changed(run.output) if "PLAY RECAP" in run.output else -1
        if self.log_dir:
            self.logged += 1
            slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
            log = self.log_dir / f"{self.logged:02d}-{slug}.log"
            log.write_text("".join(f"[{t:7.1f}] {line}\n" for t, line in run.lines), "utf-8")
        self.say(f"  {run.seconds:7.1f} s  changed={run.changed}  rc={run.returncode}")
        if run.returncode != 0:
            print("\n".join(line for _, line in run.lines[-40:]), file=sys.stderr)
            self.figures["failed_step"] = {"label": label, "playbook": playbook} | run.figures()
            raise StepFailed(f"{label}: {playbook} failed (exit {run.returncode})")
        return run

    def aws(self, service: str) -> Any:
        import boto3  # the venv's; imported here so that --help works without it

        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=self.region, **LOCAL_CREDENTIALS
        )

    def outputs(self) -> dict[str, Any]:
        """The deployment's outputs file, as site.yml wrote it."""
        path = REPO_ROOT / "outputs" / f"{self.name}.json"
        return json.loads(path.read_text(encoding="utf-8"))


def plays(run: Run) -> dict[str, float]:
    """Seconds of each play: from its PLAY line to the next PLAY (or the recap)."""
    marks = [(t, m.group(1)) for t, line in run.lines if (m := _PLAY.match(line))]
    marks += [(t, "") for t, line in run.lines if line.startswith("PLAY RECAP")][:1]
    return {name: round(end - t, 1) for (t, name), (end, _) in itertools.pairwise(marks)}


def task_count(run: Run) -> int:
    """How many tasks the run started (TASK lines; a loop counts once)."""
    return sum(1 for _, line in run.lines if _TASK.match(line))


def slowest_tasks(run: Run, count: int = 5) -> list[tuple[str, float]]:
    """The `count` longest tasks: from each TASK line to the next TASK, PLAY or recap line."""
    marks = [
        (t, task.group(1) if (task := _TASK.match(line)) else "")
        for t, line in run.lines
        if line.startswith(("TASK [", "PLAY [", "PLAY RECAP"))
    ]
    spans = [(name, round(end - t, 1)) for (t, name), (end, _) in itertools.pairwise(marks) if name]
    return sorted(spans, key=lambda span: -span[1])[:count]


def site_figures(run: Run) -> dict[str, Any]:
    """A site.yml run: wall time, changed, each play, the Jupyter play, the slowest tasks."""
    return run.figures() | {
        "tasks": task_count(run),
        "plays": plays(run),
        "jupyter_play": jupyter_figures(run),
        "slowest_tasks": slowest_tasks(run),
    }


def task_done(run: Run, title: re.Pattern[str]) -> float | None:
    """Seconds into the run at which the first task whose title matches `title` succeeded."""
    in_task = False
    for t, line in run.lines:
        task = _TASK.match(line)
        if task:
            in_task = bool(title.search(task.group(1)))
        elif in_task and _RESULT.match(line):
            return t
    return None


def jupyter_figures(run: Run) -> dict[str, float | None]:
    """From the start of the Jupyter play to the service's task RUNNING and to Jupyter answering."""
    start = next(
        (t for t, line in run.lines if (m := _PLAY.match(line)) and m.group(1) == JUPYTER_PLAY),
        None,
    )
    running, answers = task_done(run, TASK_RUNNING), task_done(run, JUPYTER_ANSWERS)
    return {
        "to_task_running": round(running - start, 1) if None not in (start, running) else None,
        "to_jupyter_answers": round(answers - start, 1) if None not in (start, answers) else None,
    }


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and of its waited-for children, in seconds (/proc/PID/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = stat.rsplit(")", 1)[1].split()  # fields[0] is field 3 (state)
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def idle_cpu(bench: Bench, label: str, seconds: float) -> dict[str, Any]:
    """Percent of one core the ECS agent (and moto, which answers its polls) used over `seconds`."""
    pids, agent_id = {}, ""
    for service, marker in (("ecs_agent", "ecs_agent.py"), ("moto", "moto_launcher.py")):
        pidfile = bench.stack_dir / f"{service.replace('_', '-')}.pid"
        pid = int(pidfile.read_text(encoding="ascii").split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if marker not in cmdline:
            raise StepFailed(f"{pidfile} names PID {pid}, which is not {marker}: {cmdline}")
        pids[service] = pid
        if service == "ecs_agent":
            agent_id = cmdline.split(" --agent-id ", 1)[-1].split(" ", 1)[0]
    ecs = bench.aws("ecs")
    arns = ecs.list_clusters()["clusterArns"]  # moto lists deleted (INACTIVE) clusters too
    described = ecs.describe_clusters(clusters=arns)["clusters"] if arns else []
    clusters = sum(1 for cluster in described if cluster["status"] == "ACTIVE")
    running = len(
        subprocess.run(
            ["docker", "ps", "-q", "--filter", f"label=ecs-dl.local-agent={agent_id}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    )
    bench.say(f"{label}: the ECS agent's and moto's CPU over {seconds:.0f} s idle ...")
    before = {service: cpu_seconds(pid) for service, pid in pids.items()}
    start = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - start
    used = {service: cpu_seconds(pid) - before[service] for service, pid in pids.items()}
    result = {f"{s}_percent": round(100 * used[s] / wall, 2) for s in used}
    result |= {"seconds": round(wall, 1), "clusters_in_moto": clusters, "ecs_containers": running}
    bench.say(
        f"  agent {result['ecs_agent_percent']:.2f} %, moto {result['moto_percent']:.2f} % of a "
        f"core ({clusters} active clusters in moto, {running} of the agent's containers running)"
    )
    return result


def default_image() -> Path:
    """scikit-image's chelsea.png (a cat), from the venv."""
    spec = importlib.util.find_spec("skimage")
    if spec and spec.origin:
        return Path(spec.origin).parent / "data" / "chelsea.png"
    found = sorted(VENV_BIN.parent.glob("lib/python3*/site-packages/skimage/data/chelsea.png"))
    return found[0] if found else Path("chelsea.png")


def predict(bench: Bench, image: Path, runs: int) -> list[dict[str, Any]]:
    results = []
    for number in range(1, runs + 1):
        run = bench.playbook(
            f"predict {number}/{runs}", "playbooks/predict.yml", "-e", f"image={image}"
        )
        verdict = _VERDICT.search(run.output)
        figures = run.figures() | {"verdict": None}
        if verdict:
            figures |= {
                "verdict": verdict.group(1),
                "cat_probability": float(verdict.group(2)),
                "top": f"{verdict.group(4).strip()} {verdict.group(3)}",
            }
        bench.say(f"  {figures['verdict']} (cat probability {figures.get('cat_probability')})")
        results.append(figures)
    return results


def train(bench: Bench) -> dict[str, Any]:
    run = bench.playbook("train", "playbooks/train.yml")
    figures = run.figures() | {"validation_accuracy": None, "epochs": None}
    stream = _LOG_STREAM.search(run.output)
    if stream:
        logs, messages, token = bench.aws("logs"), [], None
        while True:
            page = logs.get_log_events(
                logGroupName=stream.group(1),
                logStreamName=stream.group(2),
                startFromHead=True,
                **({"nextToken": token} if token else {}),
            )
            messages += [event["message"] for event in page["events"]]
            if not page["events"] or page.get("nextForwardToken") in (None, token):
                break
            token = page["nextForwardToken"]
        epochs = [m for message in messages if (m := _VALIDATION.search(message))]
        if epochs:
            figures |= {
                "validation_accuracy": float(epochs[-1].group(2)),
                "epochs": int(epochs[-1].group(1)) + 1,
            }
    bench.say(
        f"  validation accuracy {figures['validation_accuracy']} after {figures['epochs']} epochs"
    )
    return figures


def jupyter_login(base: str, password: str, certificate: str) -> Any:
    """A requests session logged in to Jupyter with the password (its login form, with _xsrf),
    trusting the deployment's certificate (a PEM file) only."""
    import requests

    session = requests.Session()
    # The environment's REQUESTS_CA_BUNDLE would override `verify` (psf/requests#3829).
    session.verify = certificate
    session.trust_env = False
    page = session.get(f"{base}login", timeout=10)
    xsrf = session.cookies.get("_xsrf", "")
    answer = session.post(
        f"{base}login",
        data={"password": password, "_xsrf": xsrf},
        headers={"X-XSRFToken": xsrf},
        allow_redirects=False,
        timeout=10,
    )
    if page.status_code != 200 or answer.status_code not in (302, 303):
        raise StepFailed(f"recovery: Jupyter's login answered HTTP {answer.status_code}")
    session.headers["X-XSRFToken"] = session.cookies.get("_xsrf", xsrf)
    return session


def save_notebook(outputs: dict[str, Any], name: str) -> dict[str, Any]:
    """Save a notebook in the workspace through Jupyter's API, as a user saves one; return the
    metadata that tells it apart (notebook_readable looks for it)."""
    base, certificate = outputs["jupyter"]["url"], outputs["jupyter"]["certificate"]
    password = Path(outputs["jupyter_password"]).read_text().strip()
    metadata = {"ecs-dl-bench": f"saved {time.time()}"}
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": metadata, "cells": []}
    session = jupyter_login(base, password, certificate)
    put = session.put(
        f"{base}api/contents/{name}", json={"type": "notebook", "content": notebook}, timeout=30
    )
    if put.status_code not in (200, 201):
        raise StepFailed(f"saving {name} through Jupyter answered HTTP {put.status_code}")
    return metadata


def notebook_readable(outputs: dict[str, Any], name: str, metadata: dict[str, Any]) -> bool:
    """Whether Jupyter (logged in anew) serves notebook `name` with that metadata now."""
    base, certificate = outputs["jupyter"]["url"], outputs["jupyter"]["certificate"]
    password = Path(outputs["jupyter_password"]).read_text().strip()
    try:
        session = jupyter_login(base, password, certificate)
        got = session.get(f"{base}api/contents/{name}", timeout=5)
        return got.status_code == 200 and got.json()["content"]["metadata"] == metadata
    except (OSError, ValueError, KeyError, StepFailed):
        return False


def seconds_until_login(login: str, trust: ssl.SSLContext, since: float, limit: float) -> Any:
    """Seconds from `since` (time.monotonic()) until `login` answers 200 over HTTPS trusting
    `trust`, polled every 0.5 s; None when it has not by `limit` seconds after `since`."""
    while time.monotonic() - since < limit:
        try:
            with urllib.request.urlopen(login, timeout=5, context=trust) as response:
                if response.status == 200:
                    return round(time.monotonic() - since, 1)
        except OSError:
            pass
        time.sleep(0.5)
    return None


def pause_resume(bench: Bench, timeout: float = 300.0) -> dict[str, Any]:
    """pause.yml, then site.yml: the seconds of each, and from pause.yml's end to Jupyter
    answering and to a notebook saved before the pause being read back."""
    metadata = save_notebook(bench.outputs(), "bench-pause.ipynb")
    figures: dict[str, Any] = {"pause": bench.playbook("pause", "playbooks/pause.yml").figures()}
    ended = time.monotonic()
    figures["resume"] = site_figures(bench.playbook("site.yml after pause.yml", "site.yml"))
    outputs = bench.outputs()  # the new instance's address
    trust = ssl.create_default_context(cafile=outputs["jupyter"]["certificate"])
    figures["notebook_readable_seconds"] = None
    figures["jupyter_answers_seconds"] = seconds_until_login(
        outputs["jupyter"]["url"] + "login", trust, ended, timeout + figures["resume"]["seconds"]
    )
    while figures["jupyter_answers_seconds"] is not None and time.monotonic() - ended < (
        timeout + figures["resume"]["seconds"]
    ):
        if notebook_readable(outputs, "bench-pause.ipynb", metadata):
            figures["notebook_readable_seconds"] = round(time.monotonic() - ended, 1)
            break
        time.sleep(0.5)
    bench.say(
        f"  pause.yml {figures['pause']['seconds']} s; site.yml {figures['resume']['seconds']} s;"
        f" pause.yml's end -> Jupyter answers {figures['jupyter_answers_seconds']} s, the"
        f" notebook read back {figures['notebook_readable_seconds']} s"
    )
    if figures["notebook_readable_seconds"] is None:
        raise StepFailed("pause/resume: the notebook saved before pause.yml was not read back")
    return figures


def recovery(bench: Bench, timeout: float = 300.0) -> dict[str, Any]:
    """Kill the Jupyter service's container; time the new task RUNNING and /login answering 200."""
    outputs = bench.outputs()
    cluster, service = outputs["cluster"], outputs["jupyter"]["service"]
    login = outputs["jupyter"]["url"] + "login"
    certificate = outputs["jupyter"]["certificate"]
    trust = ssl.create_default_context(cafile=certificate)
    ecs = bench.aws("ecs")

    def running_tasks() -> list[dict[str, Any]]:
        arns = ecs.list_tasks(cluster=cluster, serviceName=service)["taskArns"]
        tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
        return [task for task in tasks if task["lastStatus"] == "RUNNING"]

    before = running_tasks()
    if len(before) != 1:
        raise StepFailed(f"recovery: {len(before)} running tasks of service {service}, not 1")
    arn = before[0]["taskArn"]
    containers = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=com.amazonaws.ecs.task-arn={arn}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if len(containers) != 1:
        raise StepFailed(f"recovery: {len(containers)} running containers for task {arn}, not 1")
    # A notebook saved in the workspace (the deployment's EFS file system) through Jupyter's API,
    # as a user saves one: read back through the API once the new task's Jupyter answers.
    metadata = save_notebook(outputs, "bench-recovery.ipynb")
    bench.say(f"recovery: docker kill {containers[0]} (task {arn.rsplit('/', 1)[-1]}) ...")
    start = time.monotonic()
    subprocess.run(["docker", "kill", containers[0]], capture_output=True, check=True)
    figures: dict[str, Any] = {"task_running_seconds": None, "jupyter_answers_seconds": None}
    while time.monotonic() - start < timeout:
        if [task for task in running_tasks() if task["taskArn"] != arn]:
            figures["task_running_seconds"] = round(time.monotonic() - start, 1)
            break
        time.sleep(0.5)
    if figures["task_running_seconds"] is not None:
        figures["jupyter_answers_seconds"] = seconds_until_login(login, trust, start, timeout)
    figures["notebook_readable_seconds"] = None
    while figures["jupyter_answers_seconds"] is not None and time.monotonic() - start < timeout:
        if notebook_readable(outputs, "bench-recovery.ipynb", metadata):
            figures["notebook_readable_seconds"] = round(time.monotonic() - start, 1)
            break
        time.sleep(0.5)
    stopped = ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]
    figures["killed_task"] = {
        "last_status": stopped["lastStatus"],
        "exit_code": stopped["containers"][0].get("exitCode"),
    }
    bench.say(
        f"  new task RUNNING after {figures['task_running_seconds']} s, {login} 200 after "
        f"{figures['jupyter_answers_seconds']} s, the saved notebook readable after "
        f"{figures['notebook_readable_seconds']} s"
    )
    if figures["jupyter_answers_seconds"] is None:
        raise StepFailed(f"recovery: Jupyter did not answer again within {timeout:.0f} s")
    if figures["notebook_readable_seconds"] is None:
        raise StepFailed(
            f"recovery: the notebook saved before the kill was not read back in {timeout:.0f} s"
        )
    return figures


def measure(bench: Bench, args: argparse.Namespace) -> None:
    """Every step but the teardown; figures go to bench.figures as they come."""
    f = bench.figures
    f["local_stack"] = bench.playbook("local stack", "playbooks/local_stack.yml").figures()
    clusters = bench.aws("ecs").describe_clusters(clusters=[bench.name])["clusters"]
    f["fresh"] = not any(cluster["status"] == "ACTIVE" for cluster in clusters)
    if not f["fresh"]:
        bench.say(f"note: cluster {bench.name} exists already: the first site.yml is not a create")
    if args.idle_seconds > 0:
        f["agent_idle_without_deployment"] = idle_cpu(
            bench, "idle, no deployment", args.idle_seconds
        )
    f["site"] = site_figures(bench.playbook("site.yml", "site.yml"))
    bench.say(f"  Jupyter play: {f['site']['jupyter_play']}")
    if args.idle_seconds > 0:
        f["agent_idle_with_deployment"] = idle_cpu(
            bench, "idle, Jupyter running", args.idle_seconds
        )
    f["predict"] = predict(bench, args.image, args.runs)
    f["train"] = train(bench)
    f["recovery"] = recovery(bench)
    f["pause_resume"] = pause_resume(bench)
    f["site_rerun"] = site_figures(bench.playbook("site.yml again", "site.yml"))


def report(figures: dict[str, Any]) -> None:
    """The figures as a table on stdout."""
    rows: list[tuple[str, str, str]] = []

    def add(label: str, run: dict[str, Any] | None, note: str = "") -> None:
        if run:
            note = note or (f"({run['tasks']} tasks)" if "tasks" in run else "")
            rows.append((label, f"{run['seconds']:.1f}", f"{run['changed']}  {note}".rstrip()))

    add("local stack (playbooks/local_stack.yml)", figures.get("local_stack"))
    site = figures.get("site")
    add(f"site.yml ({'create' if figures.get('fresh') else 'on an existing deployment'})", site)
    for name, seconds in (site or {}).get("plays", {}).items():
        rows.append((f"  play: {name[:40]}", f"{seconds:.1f}", ""))
    for key, label in (
        ("to_task_running", "task RUNNING"),
        ("to_jupyter_answers", "Jupyter answers"),
    ):
        seconds = (site or {}).get("jupyter_play", {}).get(key)
        if seconds is not None:
            rows.append((f"  Jupyter play start -> {label}", f"{seconds:.1f}", ""))
    for number, run in enumerate(figures.get("predict", []), 1):
        verdict = f"{run['verdict']} p(cat)={run.get('cat_probability')}, top: {run.get('top')}"
        add(f"predict.yml run {number}", run, verdict)
    train = figures.get("train")
    if train:
        add(
            "train.yml",
            train,
            f"val. accuracy {train['validation_accuracy']} ({train['epochs']} epochs)",
        )
    rec = figures.get("recovery")
    if rec:
        for key, label in (
            ("task_running_seconds", "new task RUNNING"),
            ("jupyter_answers_seconds", "/login 200"),
            ("notebook_readable_seconds", "the saved notebook read back"),
        ):
            if rec.get(key) is not None:
                rows.append((f"recovery: docker kill -> {label}", f"{rec[key]:.1f}", ""))
    paused = figures.get("pause_resume")
    if paused:
        add("pause.yml", paused["pause"])
        add("site.yml after pause.yml (resume)", paused["resume"])
        for key, label in (
            ("jupyter_answers_seconds", "/login 200"),
            ("notebook_readable_seconds", "the saved notebook read back"),
        ):
            if paused.get(key) is not None:
                rows.append((f"pause.yml's end -> {label}", f"{paused[key]:.1f}", ""))
    add("site.yml again (0 changed: idempotent)", figures.get("site_rerun"))
    add("teardown.yml", figures.get("teardown"))
    print()
    print(f"{'step':<48} {'wall s':>7}  changed / figure")
    for label, seconds, note in rows:
        print(f"{label:<48} {seconds:>7}  {note}")
    for key, label in (
        ("site", "site.yml"),
        ("site_rerun", "site.yml again"),
        ("teardown", "teardown.yml"),
    ):
        slowest = (figures.get(key) or {}).get("slowest_tasks")
        if slowest:
            print(f"slowest tasks of {label}:")
            for name, seconds in slowest[:3]:
                print(f"  {seconds:7.1f} s  {name}")
    for key, label in (
        ("agent_idle_without_deployment", "no deployment"),
        ("agent_idle_with_deployment", "Jupyter running"),
    ):
        idle = figures.get(key)
        if idle:
            print(
                f"ECS agent idle, {label}: {idle['ecs_agent_percent']:.2f} % of a core "
                f"(moto {idle['moto_percent']:.2f} %) over {idle['seconds']:.0f} s; "
                f"{idle['clusters_in_moto']} active clusters, "
                f"{idle['ecs_containers']} containers running"
            )
    print(
        f"load average (1, 5, 15 min): before {figures['load_before']}, "
        f"after {figures['load_after']}"
    )
    if figures.get("failed_step"):
        step = figures["failed_step"]
        print(f"failed step: {step['label']} ({step['playbook']}) after {step['seconds']:.1f} s")
    if figures.get("failed"):
        print(f"FAILED: {figures['failed']}")


def main(argv: list[str] | None = None) -> int:
    """Measure, tear down (unless --keep), print the figures; non-zero when a step failed."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog="Local target only: it kills a container."
    )
    parser.add_argument(
        "--deployment-name",
        default="ecs-dl-bench",
        help="deployment_name of the benchmark's own resources (default: ecs-dl-bench)",
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="how many times predict.yml runs (default: 3)"
    )
    parser.add_argument(
        "--image",
        type=Path,
        default=default_image(),
        help="the picture predict.yml classifies (default: scikit-image's chelsea.png, a cat)",
    )
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=30.0,
        help="how long the idle ECS agent's CPU use is measured, each time (default: 30; 0: skip)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the deployment in place at the end (no teardown.yml), even after a failure",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the figures as one JSON object on stdout"
    )
    parser.add_argument(
        "--log-dir",
        type=Path,
        help="write each playbook's output there, every line with its second (default: none)",
    )
    parser.add_argument(
        "-e",
        "--extra-vars",
        action="append",
        default=[],
        metavar="VAR=VALUE",
        help="more ansible-playbook -e settings, e.g. local_stack_moto_port=5700 or "
        "jupyter_port=5788 (repeatable; local_stack_dir and local_stack_moto_port are read too)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not args.image.is_file():
        parser.error(f"{args.image} is not a file (give --image PATH)")
    if args.log_dir:
        args.log_dir.mkdir(parents=True, exist_ok=True)

    bench = Bench(args)
    bench.figures["load_before"] = [round(load, 2) for load in os.getloadavg()]
    try:
        measure(bench, args)
    except StepFailed as error:
        bench.figures["failed"] = str(error)
        bench.say(f"FAILED: {error}")
    except Exception as error:  # a figure that could not be read: say which, then clean up
        bench.figures["failed"] = f"{type(error).__name__}: {error}"
        bench.say(f"FAILED: {bench.figures['failed']}")
    except KeyboardInterrupt:
        bench.figures["failed"] = "interrupted"
    finally:
        if not args.keep:
            try:
                teardown = bench.playbook("teardown", "teardown.yml")
                bench.figures["teardown"] = teardown.figures() | {
                    "tasks": task_count(teardown),
                    "slowest_tasks": slowest_tasks(teardown),
                }
            except StepFailed as error:
                bench.figures["failed"] = "; ".join(
                    filter(None, [bench.figures.get("failed"), str(error)])
                )
    bench.figures["load_after"] = [round(load, 2) for load in os.getloadavg()]
    if args.json:
        print(json.dumps(bench.figures, indent=2))
    else:
        report(bench.figures)
    return 1 if bench.figures.get("failed") else 0


if __name__ == "__main__":
    raise SystemExit(main())
