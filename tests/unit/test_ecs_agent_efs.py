"""The local ECS agent mounts a task definition's EFS volume as ECS does, from a folder per file
system under its state directory (roles/local_stack/files/ecs_agent.py, efs_folder).

Against the local target's moto (moto_launcher.py on a free port): EFS holds the file systems,
mount targets and access points, ECS the task definitions and tasks, and the agent reports
through SubmitTaskStateChange. There is no dockerd in the unit tests: the agent's docker client
is a recorder, so what is checked is what the agent asks docker for (the bind mounts: source,
target, read-only) and the folders it makes on the host (owner, permissions, content).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import moto_launcher
from tests.unit.conftest import join_instances, moto_client

CLUSTER = "efs-agent"
USER = "1000"
WORK = "/home/jovyan/work"


@dataclass
class Container:
    """What docker-py's Container gives the agent."""

    name: str
    options: dict[str, Any]
    id: str = "c0ffee"
    attrs: dict[str, Any] = field(default_factory=dict)

    def start(self) -> None:
        mounts = [
            {"Type": "bind", "Source": m["Source"], "Destination": m["Target"]}
            for m in self.options.get("mounts") or []
        ]
        self.attrs = {
            "State": {"Running": True},
            "NetworkSettings": {"Ports": {}},
            "Mounts": mounts,
        }

    @property
    def labels(self) -> dict[str, str]:
        return self.options["labels"]

    def reload(self) -> None:
        pass


class Networks:
    def list(self, **_: Any) -> list[Any]:
        return []


class Docker:
    """A docker client that records the containers the agent creates (no dockerd here)."""

    def __init__(self) -> None:
        self.created: list[Container] = []
        self.running: list[Container] = []
        self.images = self
        self.containers = self
        self.networks = Networks()

    def pull(self, image: str) -> None:
        pass

    def create(self, image: str, **options: Any) -> Container:
        container = Container(options["name"], options)
        self.created.append(container)
        return container

    def list(self, **_: Any) -> list[Container]:
        return list(self.running)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_launcher() as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def aws(endpoint: str) -> Callable[[str], Any]:
    return lambda service: moto_client(service, endpoint)


def make_file_system(aws: Callable[[str], Any], token: str, mount_target: bool = True) -> str:
    """An encrypted file system, with a mount target (and its security group) when asked."""
    efs, ec2 = aws("efs"), aws("ec2")
    file_system = efs.create_file_system(CreationToken=token, Encrypted=True)["FileSystemId"]
    if mount_target:
        vpc = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.61.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName=token, Description="NFS", VpcId=vpc)
        efs.create_mount_target(
            FileSystemId=file_system, SubnetId=subnet, SecurityGroups=[group["GroupId"]]
        )
    return file_system


def make_access_point(
    aws: Callable[[str], Any], file_system: str, token: str, path: str = "/jupyter", **root: Any
) -> str:
    """The Jupyter access point's shape: uid/gid 1000, its root directory made 0755 for 1000."""
    creation = {"OwnerUid": 1000, "OwnerGid": 1000, "Permissions": "0755"}
    return aws("efs").create_access_point(
        ClientToken=token,
        FileSystemId=file_system,
        PosixUser={"Uid": 1000, "Gid": 1000},
        RootDirectory={"Path": path, "CreationInfo": creation, **root},
    )["AccessPointId"]


@pytest.fixture(scope="module")
def setup(aws: Callable[[str], Any]) -> dict[str, str]:
    """A cluster with one container instance; a file system with a mount target and the Jupyter
    access point; another file system with its own access point; one without a mount target."""
    join_instances(aws("ec2"), aws("ecs"), CLUSTER, count=1, cpu=4096, memory=8192)
    file_system = make_file_system(aws, "efs-agent-main")
    other = make_file_system(aws, "efs-agent-other")
    return {
        "fs": file_system,
        "ap": make_access_point(aws, file_system, "efs-agent-jupyter"),
        "other_fs": other,
        "other_ap": make_access_point(aws, other, "efs-agent-other"),
        "no_target_fs": make_file_system(aws, "efs-agent-no-target", mount_target=False),
        "dotdot_ap": make_access_point(aws, file_system, "efs-agent-dotdot", "/a/../../etc"),
        "bare_ap": aws("efs").create_access_point(
            ClientToken="efs-agent-bare",
            FileSystemId=file_system,
            PosixUser={"Uid": 1000, "Gid": 1000},
            RootDirectory={"Path": "/made-by-no-one"},
        )["AccessPointId"],
    }


def new_agent(agent_module: Any, endpoint: str, state_dir: Path, docker: Docker) -> Any:
    agent = agent_module.Agent(
        endpoint=endpoint,
        region="us-east-1",
        agent_id="efs-unit",
        state_dir=state_dir,
        docker_host="unix:///nonexistent",
        host_ip="127.0.0.1",
        cleanup_wait=600,
    )
    agent._docker = docker
    for service in ("ecs", "efs"):  # the admin key, whatever this process's environment says
        agent._clients[service] = moto_client(service, endpoint)
    return agent


@pytest.fixture
def docker() -> Docker:
    return Docker()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "ecs-agent"


@pytest.fixture
def agent(agent_module: Any, endpoint: str, state_dir: Path, docker: Docker) -> Any:
    state_dir.mkdir()
    return new_agent(agent_module, endpoint, state_dir, docker)


def efs_volume(file_system: str, access_point: str | None = None, **config: Any) -> dict:
    volume: dict[str, Any] = {
        "fileSystemId": file_system,
        "rootDirectory": "/",
        "transitEncryption": "ENABLED",
    }
    if access_point:
        volume["authorizationConfig"] = {"accessPointId": access_point, "iam": "ENABLED"}
    volume.update(config)
    return {"name": "work", "efsVolumeConfiguration": volume}


def register(
    aws: Callable[[str], Any],
    volumes: list[dict[str, Any]],
    mount_points: list[dict[str, Any]] | None = None,
) -> str:
    return aws("ecs").register_task_definition(
        family="efs-agent",
        containerDefinitions=[
            {
                "name": "jupyter",
                "image": "example/jupyter:1",
                "memory": 256,
                "user": USER,
                "mountPoints": mount_points
                if mount_points is not None
                else [{"sourceVolume": "work", "containerPath": WORK, "readOnly": False}],
            }
        ],
        volumes=volumes,
    )["taskDefinition"]["taskDefinitionArn"]


def run(aws: Callable[[str], Any], agent: Any, definition: str) -> dict[str, Any]:
    """Run a task of `definition`, let the agent start it, and describe it."""
    ecs = aws("ecs")
    task = ecs.run_task(cluster=CLUSTER, taskDefinition=definition)["tasks"][0]
    agent._start(task)
    return ecs.describe_tasks(cluster=CLUSTER, tasks=[task["taskArn"]])["tasks"][0]


def test_the_volume_is_the_access_points_folder_of_the_file_system(
    aws: Callable[[str], Any], agent: Any, docker: Docker, setup: dict[str, str], state_dir: Path
) -> None:
    definition = register(
        aws,
        [efs_volume(setup["fs"], setup["ap"])],
        [
            {"sourceVolume": "work", "containerPath": WORK, "readOnly": False},
            {"sourceVolume": "work", "containerPath": "/srv/work-ro", "readOnly": True},
        ],
    )
    task = run(aws, agent, definition)

    assert task["lastStatus"] == "RUNNING", task.get("stoppedReason")
    folder = (state_dir / "efs" / setup["fs"] / "jupyter").resolve()
    assert docker.created[0].options["mounts"] == [
        {"Target": WORK, "Source": str(folder), "Type": "bind", "ReadOnly": False},
        {"Target": "/srv/work-ro", "Source": str(folder), "Type": "bind", "ReadOnly": True},
    ]
    # The access point's CreationInfo: the container's user (1000) owns it, as on EFS.
    made = folder.stat()
    assert (made.st_uid, made.st_gid, stat.S_IMODE(made.st_mode)) == (1000, 1000, 0o755)
    # The file system's root, as a new EFS file system's: root's, 0755; the agent's own above.
    root = (state_dir / "efs" / setup["fs"]).stat()
    assert (root.st_uid, stat.S_IMODE(root.st_mode)) == (0, 0o755)
    assert stat.S_IMODE((state_dir / "efs").stat().st_mode) == 0o700


def test_a_second_task_of_a_restarted_agent_sees_the_first_tasks_files(
    agent_module: Any,
    endpoint: str,
    aws: Callable[[str], Any],
    agent: Any,
    docker: Docker,
    setup: dict[str, str],
    state_dir: Path,
) -> None:
    """What the first task's container wrote in its mount is there, byte for byte, in the
    folder the second task's container is given, by a new agent of the same state directory."""
    definition = register(aws, [efs_volume(setup["fs"], setup["ap"])])
    assert run(aws, agent, definition)["lastStatus"] == "RUNNING"
    written = os.urandom(4096) + "notebook ✓".encode()
    first = Path(docker.created[0].options["mounts"][0]["Source"])
    (first / "analysis.ipynb").write_bytes(written)  # what the first container writes

    restarted = new_agent(agent_module, endpoint, state_dir, Docker())
    assert run(aws, restarted, definition)["lastStatus"] == "RUNNING"
    second = Path(restarted.docker.created[0].options["mounts"][0]["Source"])
    assert second == first
    assert (second / "analysis.ipynb").read_bytes() == written
    # An existing folder is not changed (its owner and mode are the file system's business).
    assert stat.S_IMODE(second.stat().st_mode) == 0o755


def test_without_an_access_point_the_root_directory_is_mounted(
    aws: Callable[[str], Any], agent: Any, docker: Docker, setup: dict[str, str], state_dir: Path
) -> None:
    definition = register(aws, [efs_volume(setup["other_fs"], transitEncryption="DISABLED")])
    assert run(aws, agent, definition)["lastStatus"] == "RUNNING"
    assert docker.created[0].options["mounts"][0]["Source"] == str(
        (state_dir / "efs" / setup["other_fs"]).resolve()
    )


REFUSALS = {
    "no-file-system": (
        lambda s: efs_volume("fs-0123456789abcdef0"),
        "file system fs-0123456789abcdef0 does not exist",
    ),
    "no-access-point": (
        lambda s: efs_volume(s["fs"], "fsap-0123456789abcdef0"),
        "access point fsap-0123456789abcdef0 does not exist",
    ),
    "access-point-of-another-file-system": (
        lambda s: efs_volume(s["fs"], s["other_ap"]),
        "is of file system {other_fs}, not {fs}",
    ),
    "no-mount-target": (
        lambda s: efs_volume(s["no_target_fs"]),
        "has no mount target",
    ),
    "access-point-without-transit-encryption": (
        lambda s: efs_volume(
            s["fs"],
            transitEncryption="DISABLED",
            authorizationConfig={"accessPointId": s["ap"]},
        ),
        "transitEncryption must be ENABLED with an access point (it is DISABLED)",
    ),
    "iam-without-transit-encryption": (
        lambda s: {
            "name": "work",
            "efsVolumeConfiguration": {
                "fileSystemId": s["fs"],
                "authorizationConfig": {"iam": "ENABLED"},
            },
        },
        "transitEncryption must be ENABLED with IAM authorization (it is DISABLED)",
    ),
    "root-directory-with-dotdot": (
        lambda s: efs_volume(s["fs"], rootDirectory="/../../../etc"),
        "rootDirectory '/../../../etc' has a '.', '..' or NUL in it",
    ),
    "relative-root-directory": (
        lambda s: efs_volume(s["fs"], rootDirectory="etc"),
        "rootDirectory 'etc' is not an absolute path",
    ),
    "root-directory-with-access-point": (
        lambda s: efs_volume(s["fs"], s["ap"], rootDirectory="/elsewhere"),
        "rootDirectory must be / or omitted with an access point",
    ),
    "access-point-path-with-dotdot": (
        lambda s: efs_volume(s["fs"], s["dotdot_ap"]),
        "root directory '/a/../../etc' has a '.', '..' or NUL in it",
    ),
    "missing-root-directory": (
        lambda s: efs_volume(s["fs"], rootDirectory="/never-made"),
        "/never-made does not exist in file system {fs}",
    ),
    "missing-access-point-folder-without-creation-info": (
        lambda s: efs_volume(s["fs"], s["bare_ap"]),
        "/made-by-no-one does not exist in file system {fs} and the access point has no "
        "CreationInfo",
    ),
    "not-a-file-system-id": (
        lambda s: efs_volume("../../etc"),
        "fileSystemId '../../etc' is not a file system id",
    ),
}


@pytest.mark.parametrize(("volume", "reason"), REFUSALS.values(), ids=REFUSALS.keys())
def test_a_volume_ecs_could_not_mount_stops_the_task_before_anything_is_made(
    aws: Callable[[str], Any],
    agent: Any,
    docker: Docker,
    setup: dict[str, str],
    state_dir: Path,
    volume: Callable[[dict[str, str]], dict[str, Any]],
    reason: str,
) -> None:
    task = run(aws, agent, register(aws, [volume(setup)]))

    assert task["lastStatus"] == "STOPPED"
    assert task["stoppedReason"].startswith("ResourceInitializationError: EFS volume work: ")
    assert reason.format(**setup) in task["stoppedReason"]
    assert docker.created == []
    assert not (state_dir / "efs").exists()


@pytest.mark.parametrize(
    ("link", "path"),
    [("jupyter", "/jupyter"), ("shared", "/shared/jupyter")],
    ids=["the-folder", "a-folder-above-it"],
)
def test_a_symbolic_link_in_the_file_system_is_never_followed_out_of_it(
    aws: Callable[[str], Any],
    agent: Any,
    docker: Docker,
    setup: dict[str, str],
    state_dir: Path,
    tmp_path: Path,
    link: str,
    path: str,
) -> None:
    """A container that wrote a symbolic link into the file system (to / of the host, say) does
    not get the next task the host's folder: the task is refused."""
    outside = tmp_path / "host-secrets"
    (outside / "jupyter").mkdir(parents=True)
    root = state_dir / "efs" / setup["fs"]
    root.mkdir(parents=True)
    (root / link).symlink_to(outside)
    access_point = make_access_point(aws, setup["fs"], f"efs-agent-link-{link}", path)

    task = run(aws, agent, register(aws, [efs_volume(setup["fs"], access_point)]))

    assert task["lastStatus"] == "STOPPED"
    assert task["stoppedReason"].startswith("ResourceInitializationError: EFS volume work: ")
    assert f"/{link} of file system {setup['fs']} is a symbolic link" in task["stoppedReason"]
    assert docker.created == []
    assert list(outside.iterdir()) == [outside / "jupyter"]


def test_a_linked_file_system_folder_is_refused(
    aws: Callable[[str], Any],
    agent: Any,
    docker: Docker,
    setup: dict[str, str],
    state_dir: Path,
    tmp_path: Path,
) -> None:
    (state_dir / "efs").mkdir()
    (state_dir / "efs" / setup["fs"]).symlink_to(tmp_path)
    task = run(aws, agent, register(aws, [efs_volume(setup["fs"], setup["ap"])]))
    assert task["lastStatus"] == "STOPPED"
    assert "is a symbolic link: refused" in task["stoppedReason"]
    assert docker.created == []


def test_other_host_volumes_are_still_not_given_to_docker(
    aws: Callable[[str], Any], agent: Any, docker: Docker, setup: dict[str, str]
) -> None:
    definition = register(
        aws,
        [efs_volume(setup["fs"], setup["ap"]), {"name": "host", "host": {"sourcePath": "/etc"}}],
        [
            {"sourceVolume": "host", "containerPath": "/host-etc"},
            {"sourceVolume": "work", "containerPath": WORK},
        ],
    )
    assert run(aws, agent, definition)["lastStatus"] == "RUNNING"
    mounts = docker.created[0].options["mounts"]
    assert [(m["Target"], m["ReadOnly"]) for m in mounts] == [(WORK, False)]
    assert all("/etc" not in str(value) for value in docker.created[0].options.values())


def test_a_volume_no_container_mounts_is_set_up_too(
    aws: Callable[[str], Any], agent: Any, docker: Docker, setup: dict[str, str]
) -> None:
    """ECS sets up every volume of the task: a bad EFS volume stops it, mounted or not."""
    definition = register(aws, [efs_volume("fs-0123456789abcdef0")], mount_points=[])
    task = run(aws, agent, definition)
    assert task["lastStatus"] == "STOPPED"
    assert "file system fs-0123456789abcdef0 does not exist" in task["stoppedReason"]
    assert docker.created == []


def test_the_folder_goes_once_efs_no_longer_knows_the_file_system(
    agent_module: Any,
    aws: Callable[[str], Any],
    agent: Any,
    docker: Docker,
    setup: dict[str, str],
    state_dir: Path,
) -> None:
    efs = aws("efs")
    doomed = make_file_system(aws, "efs-agent-doomed")
    access_point = make_access_point(aws, doomed, "efs-agent-doomed")
    assert run(aws, agent, register(aws, [efs_volume(doomed, access_point)]))["lastStatus"] == (
        "RUNNING"
    )
    assert run(aws, agent, register(aws, [efs_volume(setup["fs"], setup["ap"])]))["lastStatus"] == (
        "RUNNING"
    )
    folder, kept = state_dir / "efs" / doomed, state_dir / "efs" / setup["fs"]
    (folder / "jupyter" / "notes.txt").write_text("gone with its file system")
    doomed_container, kept_container = docker.created
    docker.running = [doomed_container, kept_container]

    agent.poll_once()  # the file system exists: kept
    assert folder.is_dir()

    efs.delete_access_point(AccessPointId=access_point)
    for target in efs.describe_mount_targets(FileSystemId=doomed)["MountTargets"]:
        efs.delete_mount_target(MountTargetId=target["MountTargetId"])
    efs.delete_file_system(FileSystemId=doomed)

    agent.poll_once()  # not while a running container of ours mounts it
    assert folder.is_dir()

    # Nor when EFS cannot be asked: only an answer without it removes it.
    docker.running = [kept_container]
    unreachable = new_agent(agent_module, "http://127.0.0.1:1", state_dir, docker)
    unreachable._forget_file_systems()  # logs a warning, does not raise: the poll goes on
    assert folder.is_dir()

    agent.poll_once()
    assert not folder.exists()
    assert (kept / "jupyter").is_dir()


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"fileSystemId": "fs-01234567"}, None),
        ({"fileSystemId": "fs-01234567", "rootDirectory": "/data/x"}, None),
        (
            {
                "fileSystemId": "fs-01234567",
                "transitEncryption": "ENABLED",
                "authorizationConfig": {"accessPointId": "fsap-01234567", "iam": "ENABLED"},
            },
            None,
        ),
        (
            {
                "fileSystemId": "fs-01234567",
                "transitEncryption": "DISABLED",
                "authorizationConfig": {"accessPointId": "fsap-01234567", "iam": "ENABLED"},
            },
            "transitEncryption must be ENABLED with an access point and IAM authorization",
        ),
        ({"fileSystemId": "fs-01234567", "rootDirectory": "/a/./b"}, "'.', '..' or NUL"),
        ({"fileSystemId": "fs-01234567", "rootDirectory": "/a\0b"}, "'.', '..' or NUL"),
        ({"fileSystemId": "fs-0123/../x"}, "is not a file system id"),
        ({}, "is not a file system id"),
    ],
)
def test_what_ecs_would_not_mount(
    agent_module: Any, config: dict[str, Any], problem: str | None
) -> None:
    found = agent_module.efs_volume_problem(config)
    assert (found is None) if problem is None else (problem in (found or "")), found
