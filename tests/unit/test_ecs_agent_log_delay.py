"""The local ECS agent can ship a task's log lines late, as awslogs on AWS may (issue 14, item 7).

With --log-delay SECONDS (or <state-dir>/log-delay-seconds, read at each shipping) a line goes to
CloudWatch Logs only once it is that old: the last lines of a task arrive after ECS says the
task STOPPED, and a reader that looks once at STOPPED misses them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

TASK = {
    "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/c/0123456789abcdef",
    "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/t:1",
}
DEFINITION = {
    "containerDefinitions": [
        {
            "name": "train",
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {"awslogs-group": "/ecs/g", "awslogs-stream-prefix": "p"},
            },
        }
    ]
}


class Container:
    id = "c0ffee"

    def __init__(self, lines: list[tuple[datetime, str]]) -> None:
        self.lines = lines

    def logs(self, **_: Any) -> bytes:
        return "".join(
            f"{when.strftime('%Y-%m-%dT%H:%M:%S.%f')}000Z {text}\n" for when, text in self.lines
        ).encode()


class Logs:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def create_log_stream(self, **_: Any) -> None:
        pass

    def put_log_events(self, logEvents: list[dict[str, Any]], **_: Any) -> None:  # noqa: N803
        self.sent.extend(event["message"] for event in logEvents)


@pytest.fixture
def shipping(agent_module: Any, tmp_path: Path) -> tuple[Any, Logs]:
    logs = Logs()
    agent = agent_module.Agent(
        endpoint="http://127.0.0.1:1",
        region="us-east-1",
        agent_id="test",
        state_dir=tmp_path,
        docker_host="unix:///nonexistent",
        host_ip="127.0.0.1",
        cleanup_wait=600,
        log_delay=10,
    )
    agent._definitions[TASK["taskDefinitionArn"]] = DEFINITION
    agent._clients["logs"] = logs
    return agent, logs


def test_the_newest_lines_wait_until_they_are_old_enough(shipping: tuple[Any, Logs]) -> None:
    agent, logs = shipping
    now = datetime.now(UTC)
    container = Container([(now - timedelta(seconds=30), "old"), (now, "last words")])
    agent._ship_logs(TASK, container)
    assert logs.sent == ["old"]
    container.lines[1] = (now - timedelta(seconds=11), "last words")  # time passes
    agent._ship_logs(TASK, container)
    assert logs.sent == ["old", "last words"]


def test_the_state_dirs_file_changes_the_delay_while_the_agent_runs(
    shipping: tuple[Any, Logs], tmp_path: Path
) -> None:
    agent, logs = shipping
    now = datetime.now(UTC)
    container = Container([(now - timedelta(seconds=5), "five seconds ago"), (now, "now")])
    (tmp_path / "log-delay-seconds").write_text("60\n")
    agent._ship_logs(TASK, container)
    assert logs.sent == []
    (tmp_path / "log-delay-seconds").write_text("0")
    agent._ship_logs(TASK, container)
    assert logs.sent == ["five seconds ago", "now"]


def test_the_option_reads_its_default_from_the_environment(
    agent_module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    required = ["--endpoint", "e", "--region", "r", "--agent-id", "a", "--state-dir", "s"]
    assert agent_module.parse_args(required).log_delay == 0
    monkeypatch.setenv("ECS_DL_LOG_DELAY_SECONDS", "4")
    assert agent_module.parse_args(required).log_delay == 4
    assert agent_module.parse_args([*required, "--log-delay", "2.5"]).log_delay == 2.5
