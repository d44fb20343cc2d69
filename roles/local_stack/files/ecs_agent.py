#!/usr/bin/env python3
"""The local target's ECS agent: runs the tasks that ECS placed on the local instances.

On AWS the ECS agent on each instance registers it with the cluster (the project's
ecs_container_instance module does that here) and then, all the time, runs what ECS placed on
it. This program is that second job, against the emulated ECS (moto, reached through
--endpoint) and the local dockerd:

- every --poll seconds it lists the clusters, their container instances and the tasks placed
  on them (ListClusters, ListContainerInstances, ListTasks, DescribeTasks);
- a task that should run and has no container gets one, made from the task definition that
  ECS holds (DescribeTaskDefinition) and the task's overrides: image (pulled; a cached image
  is used when the pull fails, as ECS_IMAGE_PULL_BEHAVIOR=default does), command, entryPoint,
  environment, secrets (resolved from SSM Parameter Store or Secrets Manager), portMappings
  (published on --host-ip: the instances' security group admits loopback only), extraHosts,
  memory, memoryReservation, cpu, user, workingDirectory, healthCheck, dockerLabels,
  linuxParameters.capabilities.drop and readonlyRootFilesystem (docker's CapDrop and
  ReadonlyRootfs), and the mountPoints of EFS volumes (below). Host and docker volumes,
  devices and the other settings that reach the host are not given to docker at all;
- a volume with efsVolumeConfiguration is the local counterpart of the EFS file system: a
  folder per file system, <state-dir>/efs/<fileSystemId>/ (<state-dir>/efs is the agent's only,
  0700; the file system's folder is root's, 0755, as a new file system's root directory), and
  the container's mountPoints of that volume are docker bind mounts (readOnly honoured) of the
  access point's RootDirectory path in it (or the volume's rootDirectory without an access
  point). A missing access point directory is made with its CreationInfo owner and
  permissions, so the container, which runs as the access point's PosixUser on the project's
  definitions, owns its files as on EFS (here a container writes as its own user: on EFS the
  access point's PosixUser is enforced whatever the container's). The folder stays while EFS
  knows the file system (new tasks, new containers and a restarted agent see the same files)
  and is removed once DescribeFileSystems answers without it and no running container of
  ours mounts it. Before anything is made or pulled, the task is STOPPED with
  ResourceInitializationError, as on ECS, when: the file system does not exist, is not
  available or has no mount target; the access point does not exist or is of another file
  system; transitEncryption is not ENABLED with an access point or IAM authorization; a
  rootDirectory other than / is given with an access point; the path is not absolute or has
  `..`; or the directory is missing and there is no CreationInfo to make it (see
  efs_volume_problem). A bind mount never reaches beyond its file system's folder: no part of
  the path may be a symbolic link (a container could have written one into the file system)
  and the resolved folder must be inside the file system's (efs_folder). A link swapped in
  between that check and docker's mount is not caught: only a container of the same file
  system that may write the folder above the mounted one could try it;
- what AWS would not let a task do on an instance of this project, and what would make a
  task root on the machine the agent runs on (a person's laptop), is refused: the task STOPPED
  with the reason, nothing created (see refusal): `privileged` (as ECS does with
  ECS_DISABLE_PRIVILEGED=true, which the project's AWS user data sets),
  linuxParameters.capabilities.add, and a container without a non-root `user` (0, root, group
  0, or none: the image's default user may be root). Anyone who reaches the emulated ECS can
  register a task definition; only the project's own shapes run;
- the task definition's networkMode: bridge (the default) is docker's default bridge; host and
  awsvpc, whose containers reach the tasks on the cluster's other instances by address (on AWS
  the instances' or the tasks' own, in the VPC), put the container on a docker network of the
  cluster's own (the cluster's VPC, as it were), `ecs-local-<cluster>-<8 hex digits of the
  agent id>`, labelled with the agent id and the cluster, made on first use and removed once the
  cluster is gone (each agent has its own, even for a cluster of the same name);
- it reports through SubmitTaskStateChange: RUNNING with the network bindings once the
  container runs, STOPPED with the exit code when it has exited (or with the reason when it
  could not start, e.g. CannotPullContainerError);
- a task whose desiredStatus is STOPPED has its container stopped (SIGTERM, then SIGKILL after
  the container's stopTimeout, 30 s by default);
- the containers' output goes to CloudWatch Logs as the awslogs log driver sends it: log group
  awslogs-group, stream awslogs-stream-prefix/container-name/task-id; with --log-delay SECONDS
  (or the file log-delay-seconds in --state-dir, read at each shipping, so that a test can
  change it while the agent runs) a line is shipped only once it is that old, so a task's last
  lines reach CloudWatch Logs seconds after ECS says it STOPPED, as awslogs delivery on AWS
  (asynchronous, batched) may;
- the containers of stopped tasks are removed after --cleanup-wait seconds (ECS's
  ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION), and a container whose task ECS no longer knows (its
  cluster deleted, its instance deregistered) is stopped and removed.

Containers carry the labels the real agent gives them (com.amazonaws.ecs.cluster,
com.amazonaws.ecs.task-arn, com.amazonaws.ecs.container-name,
com.amazonaws.ecs.task-definition-family/-version) and ecs-dl.local-agent=<--agent-id>: an
agent only ever touches its own containers, so agents of other local stacks can share a dockerd.

With --forward-port PORT the agent also relays the docker bridge's address, port PORT, to
127.0.0.1:PORT: task containers reach the local AWS endpoint there as host.docker.internal (the
task definitions' extraHosts map it to host-gateway). The relay connects from
RELAY_SOURCE_ADDRESS (127.0.0.2), so the endpoint tells the containers' requests from the
controller's: moto_launcher.py keeps its control paths (/moto-api/, /_ecs_dl/) to 127.0.0.1.
The bridge's address is the bridge network's gateway, or, when docker names none (dockerd 20.10
on a machine where docker0 never existed), the bridge interface's own IPv4 address; see
bridge_gateway.

IAM roles, as ECS gives them (moto_aws_compat.py fix 13 checks what their credentials may do):
- a task whose definition has a taskRoleArn gets that role's credentials (STS AssumeRole, made
  by the agent with its own credentials, as ECS does with the role's trust in
  ecs-tasks.amazonaws.com) from the agent's container credentials endpoint: the container's
  environment has AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.2:PORT/v2/credentials/ID
  (ID random per task), which boto3's container credential provider reads and refreshes. ECS
  gives AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (port 80 of 169.254.170.2, which the real agent's
  iptables rule sends to its port 51679); this agent serves the same address on its own port
  (--credentials-port, 51679 by default), so nothing on the host is redirected. 169.254.170.2 is
  the gateway of a docker network of its own (--credentials-network, subnet 169.254.170.0/24,
  made when missing): the address is then the host's, and every container reaches it through
  its default route, whatever network it is on. A task without a task role gets none;
- what the agent does on a task's behalf, resolving its `secrets` (ssm:GetParameters, as ECS
  does, or secretsmanager:GetSecretValue) and shipping its logs, is done with the definition's
  executionRoleArn's credentials (the agent's own when it has none). A secret that cannot be
  read stops the task with ResourceInitializationError, as on ECS.

The agent's own credentials and region come from the environment (AWS_ACCESS_KEY_ID, ...), as
boto3 reads them. SIGTERM/SIGINT stop the agent; the containers keep running, as on an agent
restart.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import ipaddress
import json
import logging
import os
import re
import selectors
import shutil
import signal
import socket
import struct
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

import docker

LOG = logging.getLogger("ecs-agent")
LABEL_AGENT = "ecs-dl.local-agent"
LABEL_CLUSTER = "com.amazonaws.ecs.cluster"
LABEL_TASK = "com.amazonaws.ecs.task-arn"
LABEL_CONTAINER = "com.amazonaws.ecs.container-name"
LABEL_FAMILY = "com.amazonaws.ecs.task-definition-family"
LABEL_REVISION = "com.amazonaws.ecs.task-definition-version"
DEFAULT_STOP_TIMEOUT = 30
LOG_SHIP_INTERVAL = 3.0
LOG_BATCH = 5000
# The network modes whose tasks talk to each other across instances: on the cluster's network.
CLUSTER_NETWORK_MODES = ("host", "awsvpc")
# The relay's own end towards 127.0.0.1: not 127.0.0.1, whose requests may use the endpoint's
# control paths (moto_launcher.CONTROL_CLIENTS).
RELAY_SOURCE_ADDRESS = "127.0.0.2"
# Users a container must not run as (with their group): root by name or number.
ROOT_NAMES = frozenset({"root", "0"})
# The container credentials endpoint (see the module docstring).
CREDENTIALS_ADDRESS = "169.254.170.2"
CREDENTIALS_PORT = 51679
CREDENTIALS_NETWORK = "ecs-local-credentials"
LABEL_CREDENTIALS = "ecs-dl.credentials-endpoint"
CREDENTIALS_PATH = "/v2/credentials/"
ENV_CREDENTIALS_URI = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
ROLE_SESSION_SECONDS = 3600
# Credentials this close to their expiry are renewed before they are handed out.
ROLE_RENEW_BEFORE = timedelta(minutes=15)
# EFS volumes: <state-dir>/efs/<file system id>/ holds a file system's files (see efs_folder).
EFS_FOLDER = "efs"
FILE_SYSTEM_ID = re.compile(r"fs-[0-9a-f]{8,40}")
PERMISSIONS = re.compile(r"[0-7]{3,4}")


class SecretsError(ValueError):
    """A task's secrets could not be read (ECS: ResourceInitializationError)."""


class VolumeError(ValueError):
    """A task's EFS volume cannot be mounted (ECS: ResourceInitializationError)."""


@dataclass(frozen=True)
class EfsVolume:
    """What a task definition's EFS volume mounts, once EFS has confirmed it: the directory
    `path` of file system `file_system_id` (the access point's root directory, or the volume's
    rootDirectory without one), made with `creation` (the access point's CreationInfo) when
    missing; `posix_user` is the access point's PosixUser; `access_point` its id (None
    without an access point)."""

    name: str
    file_system_id: str
    path: str
    creation: dict[str, Any] | None = None
    posix_user: dict[str, Any] | None = None
    access_point: str | None = None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--endpoint", required=True, help="the emulated AWS endpoint URL")
    parser.add_argument("--region", required=True, help="the region of the clusters")
    parser.add_argument("--agent-id", required=True, help="labels this agent's containers")
    parser.add_argument(
        "--state-dir",
        required=True,
        help="where log-shipping marks and the EFS file systems' folders (efs/) are kept",
    )
    parser.add_argument(
        "--docker-host", default="unix:///var/run/docker.sock", help="(default: %(default)s)"
    )
    parser.add_argument(
        "--host-ip",
        default="127.0.0.1",
        help="address host ports are published on (default: %(default)s)",
    )
    parser.add_argument(
        "--poll", type=float, default=1.0, help="seconds between looks (default: %(default)s)"
    )
    parser.add_argument(
        "--cleanup-wait",
        type=float,
        default=600.0,
        help="seconds a stopped task's container is kept (default: %(default)s)",
    )
    parser.add_argument(
        "--log-delay",
        type=float,
        default=float(os.environ.get("ECS_DL_LOG_DELAY_SECONDS") or 0),
        help="ship a log line only once it is this many seconds old (default: "
        "$ECS_DL_LOG_DELAY_SECONDS or 0; the file log-delay-seconds in --state-dir overrides it)",
    )
    parser.add_argument(
        "--pidfile",
        help="write the PID here once dockerd and ECS have answered (removed on exit)",
    )
    parser.add_argument(
        "--code-version",
        default="",
        help="a checksum of this file, so that the role can tell an agent of older code",
    )
    parser.add_argument(
        "--forward-port",
        type=int,
        action="append",
        default=[],
        help="relay the docker bridge gateway's PORT to 127.0.0.1:PORT (repeatable)",
    )
    parser.add_argument(
        "--credentials-address",
        default=CREDENTIALS_ADDRESS,
        help="address of the container credentials endpoint (default: %(default)s); one that "
        "is not loopback becomes the gateway of --credentials-network",
    )
    parser.add_argument(
        "--credentials-port",
        type=int,
        default=CREDENTIALS_PORT,
        help="its port (default: %(default)s; 0: no endpoint, tasks get no role credentials)",
    )
    parser.add_argument(
        "--credentials-network",
        default=CREDENTIALS_NETWORK,
        help="the docker network whose gateway is --credentials-address (default: %(default)s)",
    )
    return parser.parse_args(argv)


@dataclass
class Agent:
    """One poll of ECS and dockerd after another; see the module docstring."""

    endpoint: str
    region: str
    agent_id: str
    state_dir: Path
    docker_host: str
    host_ip: str
    cleanup_wait: float
    log_delay: float = 0.0
    credentials_address: str = CREDENTIALS_ADDRESS
    credentials_port: int = 0
    _docker: Any = None
    _clients: dict[str, Any] = field(default_factory=dict)
    _definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    _log_marks: dict[str, str] = field(default_factory=dict)
    _last_ship: float = 0.0
    _reported: dict[str, str] = field(default_factory=dict)
    # container id -> when it gets SIGKILL (SIGTERM was sent; the poll loop never waits for it)
    _kill_at: dict[str, float] = field(default_factory=dict)
    # role ARN -> its current STS credentials; credentials id -> the role ARN it serves
    _role_credentials: dict[str, dict[str, Any]] = field(default_factory=dict)
    _role_clients: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    _credential_ids: dict[str, str] = field(default_factory=dict)
    _credentials_lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service,
                region_name=self.region,
                endpoint_url=self.endpoint,
                config=Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=30),
            )
        return self._clients[service]

    # -- IAM roles ---------------------------------------------------------------------------
    def role_credentials(self, role_arn: str) -> dict[str, Any]:
        """The role's credentials (AssumeRole with the agent's own), renewed near expiry."""
        with self._credentials_lock:
            current = self._role_credentials.get(role_arn)
            if current is None or current["Expiration"] - ROLE_RENEW_BEFORE <= datetime.now(UTC):
                current = self.client("sts").assume_role(
                    RoleArn=role_arn,
                    RoleSessionName=f"ecs-local-{self.agent_id}"[:64],
                    DurationSeconds=ROLE_SESSION_SECONDS,
                )["Credentials"]
                self._role_credentials[role_arn] = current
            return current

    def role_client(self, role_arn: str | None, service: str) -> Any:
        """A client with the role's credentials; the agent's own client without a role."""
        if not role_arn:
            return self.client(service)
        credentials = self.role_credentials(role_arn)
        key = (role_arn, service, credentials["AccessKeyId"])
        if key not in self._role_clients:
            self._role_clients[key] = boto3.client(
                service,
                region_name=self.region,
                endpoint_url=self.endpoint,
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
                config=Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=30),
            )
        return self._role_clients[key]

    def credentials_uri(self, role_arn: str) -> str:
        """A new credentials id for a task of role_arn: the URI its container is given."""
        credentials_id = str(uuid.uuid4())
        with self._credentials_lock:
            self._credential_ids[credentials_id] = role_arn
        return (
            f"http://{self.credentials_address}:{self.credentials_port}"
            f"{CREDENTIALS_PATH}{credentials_id}"
        )

    def credentials_for(self, credentials_id: str) -> dict[str, str] | None:
        """What the endpoint answers for an id (ECS's shape), None for an unknown id. Ids of
        containers started before a restart are found again in our containers' environment."""
        if not re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", credentials_id):
            return None
        with self._credentials_lock:
            role_arn = self._credential_ids.get(credentials_id)
        if role_arn is None:
            role_arn = self._find_credentials_id(credentials_id)
        if role_arn is None:
            return None
        credentials = self.role_credentials(role_arn)
        return {
            "RoleArn": role_arn,
            "AccessKeyId": credentials["AccessKeyId"],
            "SecretAccessKey": credentials["SecretAccessKey"],
            "Token": credentials["SessionToken"],
            "Expiration": credentials["Expiration"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def _find_credentials_id(self, credentials_id: str) -> str | None:
        wanted = f"{ENV_CREDENTIALS_URI}="
        for container in self._our_containers().values():
            for entry in container.attrs.get("Config", {}).get("Env") or []:
                if entry.startswith(wanted) and entry.endswith(
                    f"{CREDENTIALS_PATH}{credentials_id}"
                ):
                    definition = self._definition(
                        self.client("ecs").describe_tasks(
                            cluster=container.labels[LABEL_CLUSTER],
                            tasks=[container.labels[LABEL_TASK]],
                        )["tasks"][0]["taskDefinitionArn"]
                    )
                    role_arn = definition.get("taskRoleArn")
                    if role_arn:
                        with self._credentials_lock:
                            self._credential_ids[credentials_id] = role_arn
                    return role_arn
        return None

    def credentials_network(self, name: str) -> None:
        """Make the docker network whose gateway is the endpoint's address (when missing)."""
        subnet = str(ipaddress.ip_network(f"{self.credentials_address}/24", strict=False))
        for network in self.docker.networks.list(names=[name]):
            if network.name != name:
                continue
            configs = (network.attrs.get("IPAM") or {}).get("Config") or []
            if not any(c.get("Gateway") == self.credentials_address for c in configs):
                raise RuntimeError(
                    f"the docker network {name} exists without the gateway "
                    f"{self.credentials_address} (IPAM {json.dumps(configs)}): remove it"
                )
            return
        LOG.info("creating the docker network %s (gateway %s)", name, self.credentials_address)
        try:
            self.docker.networks.create(
                name,
                driver="bridge",
                ipam=docker.types.IPAMConfig(
                    pool_configs=[
                        docker.types.IPAMPool(subnet=subnet, gateway=self.credentials_address)
                    ]
                ),
                labels={LABEL_CREDENTIALS: "true"},
            )
        except APIError as error:
            raise RuntimeError(
                f"cannot make the docker network {name} ({subnet}, gateway "
                f"{self.credentials_address}) for the credentials endpoint: {_short(error)}"
            ) from None

    @property
    def docker(self) -> Any:
        if self._docker is None:
            self._docker = docker.DockerClient(base_url=self.docker_host, timeout=120)
        return self._docker

    # -- one round -------------------------------------------------------------------------
    def poll_once(self) -> None:
        """Look at every task placed on a container instance and at every container of ours."""
        ecs = self.client("ecs")
        tasks: dict[str, dict[str, Any]] = {}
        cluster_arns = list(self._paginate(ecs, "list_clusters", "clusterArns"))
        for cluster_arn in cluster_arns:
            try:
                instances = list(
                    self._paginate(
                        ecs,
                        "list_container_instances",
                        "containerInstanceArns",
                        cluster=cluster_arn,
                    )
                )
                # ECS lists RUNNING-desired tasks unless asked: the ones to stop too.
                arns = [
                    arn
                    for status in ("RUNNING", "STOPPED")
                    if instances
                    for arn in self._paginate(
                        ecs, "list_tasks", "taskArns", cluster=cluster_arn, desiredStatus=status
                    )
                ]
                for start in range(0, len(arns), 100):
                    for task in ecs.describe_tasks(
                        cluster=cluster_arn, tasks=arns[start : start + 100]
                    )["tasks"]:
                        if task.get("containerInstanceArn") in instances:
                            tasks[task["taskArn"]] = task
            except ClientError as error:
                if error.response["Error"]["Code"] in ("ClusterNotFoundException",):
                    continue
                raise
        containers = self._our_containers()
        clusters = {arn.rsplit("/", 1)[-1] for arn in cluster_arns}
        for task_arn, task in tasks.items():
            self._handle_task(task, containers.get(task_arn))
        for task_arn, container in containers.items():
            if task_arn not in tasks:
                self._forget_container(container)
        self._forget_networks(clusters)
        self._forget_file_systems()
        if time.monotonic() - self._last_ship >= LOG_SHIP_INTERVAL:
            self._last_ship = time.monotonic()
            for task_arn, container in self._our_containers().items():
                if task_arn in tasks:
                    self._ship_logs(tasks[task_arn], container)

    @staticmethod
    def _paginate(client: Any, operation: str, key: str, **kwargs: Any) -> Any:
        for page in client.get_paginator(operation).paginate(**kwargs):
            yield from page.get(key, [])

    def _our_containers(self) -> dict[str, Any]:
        found = self.docker.containers.list(
            all=True, filters={"label": f"{LABEL_AGENT}={self.agent_id}"}
        )
        return {container.labels[LABEL_TASK]: container for container in found}

    # -- a task's life ---------------------------------------------------------------------
    def _handle_task(self, task: dict[str, Any], container: Any) -> None:
        desired, last = task["desiredStatus"], task["lastStatus"]
        if container is None:
            if desired == "RUNNING" and last == "PENDING":
                self._start(task)
            elif last != "STOPPED":
                self._report(task, "STOPPED", reason="The container is gone from the instance")
            return
        container.reload()
        state = container.attrs["State"]
        if state["Running"]:
            if desired == "STOPPED":
                self._stop(task, container)
            elif last != "RUNNING":
                self._report(task, "RUNNING", container=container)
            return
        if last != "STOPPED":
            self._ship_logs(task, container)
            self._report(
                task,
                "STOPPED",
                container=container,
                exit_code=int(state.get("ExitCode", 0)),
                reason=(state.get("Error") or None),
            )
            return
        # A container that never started (its start failed) has no FinishedAt: count from its
        # creation.
        finished = _parse_time(state.get("FinishedAt")) or _parse_time(
            container.attrs.get("Created")
        )
        if finished and time.time() - finished > self.cleanup_wait:
            LOG.info(
                "removing %s (task stopped %.0f s ago)", container.name, time.time() - finished
            )
            self._remove(container)

    def _stop(self, task: dict[str, Any], container: Any) -> None:
        """SIGTERM now, SIGKILL once the container's stopTimeout has passed (a later poll)."""
        kill_at = self._kill_at.get(container.id)
        if kill_at is None:
            timeout = self._definition(task["taskDefinitionArn"])["containerDefinitions"][0].get(
                "stopTimeout", DEFAULT_STOP_TIMEOUT
            )
            LOG.info("stopping %s (%s)", container.name, task.get("stoppedReason", ""))
            self._ship_logs(task, container)
            self._kill_at[container.id] = time.monotonic() + float(timeout)
            container.kill(signal="SIGTERM")
        elif time.monotonic() >= kill_at:
            LOG.info("killing %s (stopTimeout passed)", container.name)
            container.kill(signal="SIGKILL")
            self._kill_at[container.id] = time.monotonic() + 3600

    def _forget_container(self, container: Any) -> None:
        """ECS no longer knows the task (cluster or instance gone): the container goes too."""
        LOG.info("removing %s: its task is no longer in ECS", container.name)
        self._remove(container)

    def _cluster_network(self, cluster: str) -> str:
        """The docker network of the cluster's host/awsvpc tasks (made on first use)."""
        name = cluster_network_name(cluster, self.agent_id)
        # By name: docker's name filter matches substrings (ecs-local-a finds ecs-local-a-b).
        if not any(network.name == name for network in self.docker.networks.list(names=[name])):
            LOG.info("creating the docker network %s", name)
            self.docker.networks.create(
                name,
                driver="bridge",
                labels={LABEL_AGENT: self.agent_id, LABEL_CLUSTER: cluster},
            )
        return name

    def _forget_networks(self, clusters: set[str]) -> None:
        """Remove our cluster networks whose cluster is gone (once their containers are)."""
        for network in self.docker.networks.list(
            filters={"label": f"{LABEL_AGENT}={self.agent_id}"}
        ):
            if network.attrs.get("Labels", {}).get(LABEL_CLUSTER) in clusters:
                continue
            try:
                network.reload()
                if not network.attrs.get("Containers"):
                    LOG.info("removing the docker network %s: its cluster is gone", network.name)
                    network.remove()
            except (NotFound, APIError) as error:
                LOG.debug("network %s: %s", network.name, _short(error))

    # -- EFS volumes ---------------------------------------------------------------------------
    @property
    def efs_base(self) -> Path:
        """Where the file systems' folders are: <state-dir>/efs."""
        return self.state_dir / EFS_FOLDER

    def _efs_volumes(self, definition: dict[str, Any]) -> list[EfsVolume]:
        """The task definition's EFS volumes (ECS sets each up for the task, whether a
        container mounts it or not), checked as ECS and the EFS mount helper check them
        (efs_volume_problem; the file system, a mount target of it, the access point of that
        file system) and against the folders already there (efs_folder, nothing made).
        VolumeError, naming the volume, when one cannot be mounted."""
        found = []
        for volume in definition.get("volumes") or []:
            config = volume.get("efsVolumeConfiguration")
            if config is None:
                continue  # host and docker volumes are not given to docker at all
            name = volume.get("name")
            problem = efs_volume_problem(config)
            if problem:
                raise VolumeError(f"EFS volume {name}: {problem}")
            try:
                checked = self._efs_volume(name, config)
                efs_folder(self.efs_base, checked, create=False)
            except VolumeError as error:
                raise VolumeError(f"EFS volume {name}: {error}") from None
            found.append(checked)
        return found

    def _efs_volume(self, name: str, config: dict[str, Any]) -> EfsVolume:
        efs = self.client("efs")
        file_system_id = config["fileSystemId"]
        try:
            system = efs.describe_file_systems(FileSystemId=file_system_id)["FileSystems"][0]
        except ClientError as error:
            if error.response["Error"]["Code"] == "FileSystemNotFound":
                raise VolumeError(f"file system {file_system_id} does not exist") from None
            raise
        if system.get("LifeCycleState") != "available":
            raise VolumeError(
                f"file system {file_system_id} is {system.get('LifeCycleState')}, not available"
            )
        targets = efs.describe_mount_targets(FileSystemId=file_system_id)["MountTargets"]
        if not any(target.get("LifeCycleState") == "available" for target in targets):
            raise VolumeError(
                f"file system {file_system_id} has no mount target: the instance cannot mount it"
            )
        access_point_id = (config.get("authorizationConfig") or {}).get("accessPointId")
        if not access_point_id:
            return EfsVolume(name, file_system_id, config.get("rootDirectory") or "/")
        try:
            point = efs.describe_access_points(AccessPointId=access_point_id)["AccessPoints"][0]
        except ClientError as error:
            if error.response["Error"]["Code"] in ("AccessPointNotFound", "BadRequest"):
                raise VolumeError(f"access point {access_point_id} does not exist") from None
            raise
        if point.get("FileSystemId") != file_system_id:
            raise VolumeError(
                f"access point {access_point_id} is of file system {point.get('FileSystemId')},"
                f" not {file_system_id}"
            )
        root = point.get("RootDirectory") or {}
        path = root.get("Path") or "/"
        problem = efs_path_problem(path)
        if problem:
            raise VolumeError(f"access point {access_point_id}'s root directory {problem}")
        creation = root.get("CreationInfo")
        if creation is not None and not PERMISSIONS.fullmatch(str(creation.get("Permissions"))):
            raise VolumeError(
                f"access point {access_point_id}'s CreationInfo.Permissions "
                f"{creation.get('Permissions')!r} is not an octal mode"
            )
        return EfsVolume(
            name, file_system_id, path, creation, point.get("PosixUser"), access_point_id
        )

    def _efs_mounts(self, spec: dict[str, Any], volumes: list[EfsVolume]) -> list[dict[str, Any]]:
        """docker bind mounts of the volumes' folders (made when missing) for the container's
        mountPoints, readOnly as the mount point says."""
        folders = {}
        for volume in volumes:
            folders[volume.name] = efs_folder(self.efs_base, volume, create=True)
            user = str(spec.get("user") or "").partition(":")[0]
            uid = (volume.posix_user or {}).get("Uid")
            if uid is not None and user.isdigit() and int(user) != int(uid):
                LOG.warning(
                    "EFS volume %s: the container runs as %s, the access point's user is %s; "
                    "here its files are written as the container's user",
                    volume.name,
                    user,
                    uid,
                )
        return [
            docker.types.Mount(
                target=point["containerPath"],
                source=str(folders[point["sourceVolume"]]),
                type="bind",
                read_only=bool(point.get("readOnly")),
            )
            for point in spec.get("mountPoints") or []
            if point.get("sourceVolume") in folders
        ]

    def _forget_file_systems(self) -> None:
        """Remove the folders of file systems that EFS no longer knows (DescribeFileSystems
        answered without them), once no running container of ours mounts them."""
        if not self.efs_base.is_dir():
            return
        folders = [
            folder
            for folder in self.efs_base.iterdir()
            if FILE_SYSTEM_ID.fullmatch(folder.name) and not folder.is_symlink()
        ]
        if not folders:
            return
        try:
            known = {
                system["FileSystemId"]
                for system in self._paginate(
                    self.client("efs"), "describe_file_systems", "FileSystems"
                )
            }
        except (BotoCoreError, ClientError) as error:  # no answer: nothing is known to be gone
            LOG.warning("EFS file systems not listed, their folders kept: %s", _short(error))
            return
        gone = [folder for folder in folders if folder.name not in known]
        if not gone:
            return
        mounted = [
            mount.get("Source") or ""
            for container in self.docker.containers.list(
                filters={"label": f"{LABEL_AGENT}={self.agent_id}"}
            )
            for mount in container.attrs.get("Mounts") or []
        ]
        for folder in gone:
            real = os.path.realpath(folder)
            if any(source == real or source.startswith(real + os.sep) for source in mounted):
                continue
            LOG.info("removing %s: its file system is gone from EFS", folder)
            shutil.rmtree(folder)

    def _remove(self, container: Any) -> None:
        try:
            container.remove(force=True)
        except NotFound:
            pass
        self._log_marks.pop(container.id, None)
        self._kill_at.pop(container.id, None)
        (self.state_dir / f"logs-{container.id}.json").unlink(missing_ok=True)

    def _definition(self, arn: str) -> dict[str, Any]:
        if arn not in self._definitions:
            self._definitions[arn] = self.client("ecs").describe_task_definition(
                taskDefinition=arn
            )["taskDefinition"]
        return self._definitions[arn]

    def _start(self, task: dict[str, Any]) -> None:
        definition = self._definition(task["taskDefinitionArn"])
        spec = definition["containerDefinitions"][0]
        refused = refusal(spec)
        if refused:
            LOG.warning("task %s refused: %s", task["taskArn"].rsplit("/", 1)[-1], refused)
            self._report(task, "STOPPED", reason=f"CannotStartContainerError: {refused}")
            return
        overrides = next(
            (
                o
                for o in task.get("overrides", {}).get("containerOverrides", [])
                if o.get("name") == spec["name"]
            ),
            {},
        )
        task_id = task["taskArn"].rsplit("/", 1)[-1]
        container = None
        try:
            # EFS first: a volume that cannot be mounted stops the task before anything is made.
            volumes = self._efs_volumes(definition)
            self._pull(spec["image"])
            environment = {e["name"]: e["value"] for e in spec.get("environment", [])}
            environment.update({e["name"]: e["value"] for e in overrides.get("environment", [])})
            environment.update(
                self._secrets(spec.get("secrets", []), definition.get("executionRoleArn"))
            )
            if definition.get("taskRoleArn") and self.credentials_port:
                environment[ENV_CREDENTIALS_URI] = self.credentials_uri(definition["taskRoleArn"])
            mounts = self._efs_mounts(spec, volumes)
            container = self.docker.containers.create(
                spec["image"],
                **self._run_options(
                    definition, spec, overrides, task, environment, task_id, mounts
                ),
            )
            container.start()
        except (APIError, DockerException, ClientError, BotoCoreError, ValueError) as error:
            if isinstance(error, (SecretsError, VolumeError)):
                kind = "ResourceInitializationError"
            elif "pull" in str(error).lower():
                kind = "CannotPullContainerError"
            else:
                kind = "CannotStartContainerError"
            LOG.warning("task %s could not start: %s", task_id, error)
            if container is not None:  # created, but its start failed: nothing to keep
                self._remove(container)
            self._report(task, "STOPPED", reason=f"{kind}: {_short(error)}")
            return
        LOG.info("started %s for task %s (%s)", container.name, task_id, definition["family"])
        container.reload()
        if container.attrs["State"]["Running"]:
            self._report(task, "RUNNING", container=container)

    def _run_options(
        self,
        definition: dict[str, Any],
        spec: dict[str, Any],
        overrides: dict[str, Any],
        task: dict[str, Any],
        environment: dict[str, str],
        task_id: str,
        mounts: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        labels = dict(spec.get("dockerLabels", {}))
        labels.update(
            {
                LABEL_AGENT: self.agent_id,
                LABEL_CLUSTER: task["clusterArn"].rsplit("/", 1)[-1],
                LABEL_TASK: task["taskArn"],
                LABEL_CONTAINER: spec["name"],
                LABEL_FAMILY: definition["family"],
                LABEL_REVISION: str(definition["revision"]),
            }
        )
        options: dict[str, Any] = {
            "name": f"ecs-{definition['family']}-{definition['revision']}-{spec['name']}-{task_id}",
            "labels": labels,
            "environment": environment,
            "detach": True,
            "ports": {
                f"{m['containerPort']}/{m.get('protocol', 'tcp')}": (
                    self.host_ip,
                    m.get("hostPort") or None,
                )
                for m in spec.get("portMappings", [])
            },
            "extra_hosts": {h["hostname"]: h["ipAddress"] for h in spec.get("extraHosts", [])},
        }
        if definition.get("networkMode", "bridge") in CLUSTER_NETWORK_MODES:
            options["network"] = self._cluster_network(labels[LABEL_CLUSTER])
        command = overrides.get("command") or spec.get("command")
        if command:
            options["command"] = command
        if spec.get("entryPoint"):
            options["entrypoint"] = spec["entryPoint"]
        if spec.get("user"):
            options["user"] = spec["user"]
        if spec.get("workingDirectory"):
            options["working_dir"] = spec["workingDirectory"]
        memory = overrides.get("memory") or spec.get("memory")
        reservation = overrides.get("memoryReservation") or spec.get("memoryReservation")
        if memory:
            options["mem_limit"] = f"{memory}m"
        if reservation:
            options["mem_reservation"] = f"{reservation}m"
        if spec.get("cpu"):
            options["cpu_shares"] = max(2, int(spec["cpu"]))
        check = spec.get("healthCheck")
        if check:
            options["healthcheck"] = {
                "test": check["command"],
                "interval": int(check.get("interval", 30) * 1e9),
                "timeout": int(check.get("timeout", 5) * 1e9),
                "retries": int(check.get("retries", 3)),
                "start_period": int(check.get("startPeriod", 0) * 1e9),
            }
        # privileged and capabilities.add are refused before this (refusal); what is dropped
        # goes to docker unchanged (docker takes names with or without CAP_, ECS without).
        options["privileged"] = False
        capabilities = (spec.get("linuxParameters") or {}).get("capabilities") or {}
        if capabilities.get("drop"):
            options["cap_drop"] = list(capabilities["drop"])
        if spec.get("readonlyRootFilesystem"):
            options["read_only"] = True
        # Only EFS volumes' folders (efs_folder) are bind-mounted; no other host path is.
        if mounts:
            options["mounts"] = mounts
        return options

    def _pull(self, image: str) -> None:
        try:
            # docker's own parsing: repository[:tag] or repository@sha256:digest (a registry's
            # port is not a tag); no tag means latest, as ECS does.
            self.docker.images.pull(image)
        except (APIError, DockerException) as error:
            try:
                self.docker.images.get(image)
            except ImageNotFound:
                raise ValueError(f"pull {image}: {_short(error)}") from None
            LOG.warning("pull of %s failed, using the cached image: %s", image, _short(error))

    def _secrets(
        self, secrets: list[dict[str, str]], execution_role: str | None = None
    ) -> dict[str, str]:
        """Resolve `secrets` as the ECS agent does, with the task execution role's credentials:
        SSM parameters with one GetParameters (by name or ARN, as given), Secrets Manager
        secrets with GetSecretValue. SecretsError, naming the secret, when one cannot be read."""
        values = {}
        parameters = {}
        try:
            for secret in secrets:
                source = secret["valueFrom"]
                if ":secretsmanager:" in source:
                    values[secret["name"]] = self.role_client(
                        execution_role, "secretsmanager"
                    ).get_secret_value(SecretId=source)["SecretString"]
                else:
                    parameters[secret["name"]] = source
            if parameters:
                ssm = self.role_client(execution_role, "ssm")
                names = sorted(set(parameters.values()))
                answer = ssm.get_parameters(Names=names, WithDecryption=True)
                if answer.get("InvalidParameters"):
                    raise SecretsError(
                        f"secrets: no such parameter {', '.join(answer['InvalidParameters'])}"
                    )
                found = {}
                for parameter in answer["Parameters"]:
                    found[parameter["Name"]] = parameter["Value"]
                    found[parameter["ARN"]] = parameter["Value"]
                for name, source in parameters.items():
                    values[name] = found[source]
        except (ClientError, BotoCoreError, KeyError) as error:
            raise SecretsError(
                f"unable to pull secrets with the task execution role {execution_role}: "
                f"{_short(error)}"
            ) from None
        return values

    def _report(
        self,
        task: dict[str, Any],
        status: str,
        container: Any = None,
        exit_code: int | None = None,
        reason: str | None = None,
    ) -> None:
        if self._reported.get(task["taskArn"]) == status:
            return
        name = task["containers"][0]["name"] if task.get("containers") else None
        change: dict[str, Any] = {"containerName": name, "status": status}
        if exit_code is not None:
            change["exitCode"] = exit_code
        if reason:
            change["reason"] = reason[:255]
        if container is not None:
            change["runtimeId"] = container.id
            change["networkBindings"] = _bindings(container)
        request: dict[str, Any] = {
            "cluster": task["clusterArn"],
            "task": task["taskArn"],
            "status": status,
            "containers": [change] if name else [],
        }
        if reason:
            request["reason"] = reason[:255]
        self.client("ecs").submit_task_state_change(**request)
        self._reported[task["taskArn"]] = status
        LOG.info(
            "task %s: %s%s",
            task["taskArn"].rsplit("/", 1)[-1],
            status,
            f" (exit {exit_code})" if exit_code is not None else "",
        )

    # -- logs --------------------------------------------------------------------------------
    def _log_delay(self) -> float:
        """--log-delay, or the number in <state-dir>/log-delay-seconds when that file exists."""
        try:
            return float((self.state_dir / "log-delay-seconds").read_text().strip() or 0)
        except FileNotFoundError:
            return self.log_delay
        except ValueError:
            LOG.warning("%s/log-delay-seconds is not a number: ignored", self.state_dir)
            return self.log_delay

    def _ship_logs(self, task: dict[str, Any], container: Any) -> None:
        """Send the container's new output lines to CloudWatch Logs (awslogs's stream naming)."""
        definition = self._definition(task["taskDefinitionArn"])
        spec = definition["containerDefinitions"][0]
        config = spec.get("logConfiguration") or {}
        if config.get("logDriver") != "awslogs":
            return
        options = config.get("options", {})
        group = options.get("awslogs-group")
        if not group:
            return
        task_id = task["taskArn"].rsplit("/", 1)[-1]
        prefix = options.get("awslogs-stream-prefix")
        stream = f"{prefix}/{spec['name']}/{task_id}" if prefix else container.id
        mark_file = self.state_dir / f"logs-{container.id}.json"
        mark = self._log_marks.get(container.id)
        if mark is None and mark_file.exists():
            mark = json.loads(mark_file.read_text()).get("since")
        raw = container.logs(stdout=True, stderr=True, timestamps=True)
        events = []
        newest = mark
        held_after = time.time() - self._log_delay()
        for line in raw.decode("utf-8", errors="replace").splitlines():
            stamp, _, message = line.partition(" ")
            if mark is not None and stamp <= mark:
                continue
            seconds = _parse_time(stamp)
            if seconds is None:
                continue
            if seconds > held_after:  # too new (--log-delay): a later round ships it
                break
            events.append({"timestamp": int(seconds * 1000), "message": message or " "})
            newest = stamp
        if not events:
            return
        logs = self.role_client(definition.get("executionRoleArn"), "logs")
        try:
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                LOG.warning("log stream %s:%s: %s", group, stream, _short(error))
                return
        for start in range(0, len(events), LOG_BATCH):
            logs.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                logEvents=events[start : start + LOG_BATCH],
            )
        self._log_marks[container.id] = str(newest)
        mark_file.write_text(json.dumps({"since": newest, "stream": f"{group}:{stream}"}))


def refusal(spec: dict[str, Any]) -> str | None:
    """Why this agent will not run the container definition `spec`, or None when it may.

    Refused: privileged (ECS_DISABLE_PRIVILEGED=true, as the project's instances on AWS have),
    any linuxParameters.capabilities.add, and a user that is missing (the image's default may
    be root), root or uid 0, or has group root or 0. The project's own definitions run as a
    non-root uid with every capability dropped; nothing else gets root on this machine."""
    if spec.get("privileged"):
        return "privileged containers are disabled on this instance (ECS_DISABLE_PRIVILEGED=true)"
    added = ((spec.get("linuxParameters") or {}).get("capabilities") or {}).get("add") or []
    if added:
        return (
            "this instance adds no Linux capability to a container "
            f"(linuxParameters.capabilities.add: {', '.join(map(str, added))})"
        )
    user = str(spec.get("user") or "").strip()
    name, _, group = user.partition(":")
    if not name:
        return "the container definition names no user: give a non-root one (e.g. 61000)"
    if _is_root(name) or (group and _is_root(group)):
        return f"user {user!r} is root: this instance runs no container as root or group root"
    return None


def _is_root(name: str) -> bool:
    """Whether a user or group name or number is root's (0, 00, root)."""
    return name in ROOT_NAMES or (name.isdigit() and int(name) == 0)


def efs_path_problem(path: Any) -> str | None:
    """Why `path` cannot be a directory of a file system (not absolute, a `..` or `.` part, a
    NUL), or None."""
    text = str(path)
    if not text.startswith("/"):
        return f"{text!r} is not an absolute path"
    if "\0" in text or any(part in ("..", ".") for part in text.split("/")):
        return f"{text!r} has a '.', '..' or NUL in it"
    return None


def efs_volume_problem(config: dict[str, Any]) -> str | None:
    """Why ECS would not mount an efsVolumeConfiguration, or None: a fileSystemId that is not
    one, transitEncryption not ENABLED while an access point or IAM authorization is asked for
    (ECS requires it for both), a rootDirectory other than / with an access point (the access
    point's own root directory is what is mounted), a rootDirectory that is not an absolute
    path without `..`."""
    file_system_id = str(config.get("fileSystemId") or "")
    if not FILE_SYSTEM_ID.fullmatch(file_system_id):
        return f"fileSystemId {file_system_id!r} is not a file system id (fs-...)"
    authorization = config.get("authorizationConfig") or {}
    access_point = authorization.get("accessPointId")
    wants = [
        what
        for what, asked in (
            ("an access point", access_point),
            ("IAM authorization", authorization.get("iam") == "ENABLED"),
        )
        if asked
    ]
    if wants and config.get("transitEncryption") != "ENABLED":
        return (
            f"transitEncryption must be ENABLED with {' and '.join(wants)} "
            f"(it is {config.get('transitEncryption') or 'DISABLED'})"
        )
    root = config.get("rootDirectory")
    if access_point and root not in (None, "", "/"):
        return f"rootDirectory must be / or omitted with an access point (it is {root!r})"
    problem = efs_path_problem(root or "/")
    return f"rootDirectory {problem}" if problem else None


def efs_folder(base: Path, volume: EfsVolume, *, create: bool) -> Path:
    """The host folder of `volume`: <base>/<file system id><path>, its missing directories made
    (create=True) with the access point's CreationInfo owner and permissions (the file system's
    own folder as a new EFS file system's root: root's, 0755; <base> the agent's only, 0700).

    A container reaches nothing of the host beyond that file system's folder: no part of the
    path may be a symbolic link (a container that could write one there would otherwise have
    the next task mount any folder of the host), the resolved folder must be inside the file
    system's, and the path has no `..`. VolumeError when the folder cannot be had: a link, not
    a directory, or missing without CreationInfo (as the EFS mount helper fails to mount)."""
    problem = efs_path_problem(volume.path)
    if problem or not FILE_SYSTEM_ID.fullmatch(volume.file_system_id):
        raise VolumeError(problem or f"{volume.file_system_id!r} is not a file system id")
    root = base / volume.file_system_id
    for own in (base, root):
        if own.is_symlink():
            raise VolumeError(f"{own} is a symbolic link: refused")
    if create:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not root.exists():
            root.mkdir(mode=0o755)
            os.chmod(root, 0o755)
    folder = root
    parts = [part for part in PurePosixPath(volume.path).parts[1:] if part]
    for index, part in enumerate(parts):
        folder = folder / part
        shown = "/" + "/".join(parts[: index + 1])
        if folder.is_symlink():
            raise VolumeError(
                f"{shown} of file system {volume.file_system_id} is a symbolic link: refused"
            )
        if folder.exists():
            if not folder.is_dir():
                raise VolumeError(f"{shown} of file system {volume.file_system_id} is not a folder")
            continue
        if volume.creation is None:
            raise VolumeError(
                f"{shown} does not exist in file system {volume.file_system_id}"
                + (" and the access point has no CreationInfo" if volume.access_point else "")
            )
        if create:
            mode = int(str(volume.creation["Permissions"]), 8)
            try:
                folder.mkdir(mode=mode)
            except OSError as error:
                raise VolumeError(f"cannot make {shown}: {error}") from None
            try:
                os.chown(folder, int(volume.creation["OwnerUid"]), int(volume.creation["OwnerGid"]))
                os.chmod(folder, mode)
            except OSError as error:
                folder.rmdir()  # the empty folder just made: no one else's
                raise VolumeError(
                    f"cannot give {shown} the access point's owner and permissions: {error}"
                ) from None
    if create or folder.exists():
        real = Path(os.path.realpath(folder))
        if not real.is_relative_to(os.path.realpath(root)):
            raise VolumeError(f"{volume.path} resolves outside file system {volume.file_system_id}")
        return real
    return folder


def cluster_network_name(cluster: str, agent_id: str) -> str:
    """The docker network of a cluster's host/awsvpc tasks run by this agent: the agent id in it,
    so that two local stacks sharing a dockerd, each with a cluster of the same name, do not
    share a network."""
    return f"ecs-local-{cluster}-{hashlib.sha256(agent_id.encode()).hexdigest()[:8]}"


def _bindings(container: Any) -> list[dict[str, Any]]:
    bindings = []
    for port, hosts in (container.attrs["NetworkSettings"].get("Ports") or {}).items():
        number, _, protocol = port.partition("/")
        for host in hosts or []:
            bindings.append(
                {
                    "bindIP": host["HostIp"],
                    "containerPort": int(number),
                    "hostPort": int(host["HostPort"]),
                    "protocol": protocol or "tcp",
                }
            )
    return bindings


def _parse_time(text: str | None) -> float | None:
    """Seconds since the epoch of docker's RFC 3339 time (nanoseconds cut), None if unset."""
    if not text or text.startswith("0001-"):
        return None
    main, _, fraction = text.rstrip("Z").partition(".")
    try:
        moment = datetime.fromisoformat(main).replace(tzinfo=UTC)
    except ValueError:
        return None
    return moment.timestamp() + (float(f"0.{fraction[:6]}") if fraction else 0.0)


def _short(error: BaseException) -> str:
    """The gist of an error: docker's own explanation rather than the API URL it came from."""
    text = getattr(error, "explanation", None) or str(error)
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    # Docker names objects by 64-hex ids; they crowd the reason (255 characters) out.
    return " ".join(re.sub(r"\b[0-9a-f]{64}\b", "<id>", str(text)).split())[:300]


# -- relay from the docker bridge to loopback ----------------------------------------------
SIOCGIFADDR = 0x8915  # <linux/sockios.h>: get an interface's IPv4 address
IFNAMSIZ = 16


@dataclass(frozen=True)
class BridgeAddress:
    """The docker bridge's IPv4 address (what host-gateway resolves to) and where it was read."""

    address: str
    source: str


def interface_ipv4(name: str) -> str | None:
    """The IPv4 address of network interface `name` in this network namespace (the kernel's
    SIOCGIFADDR), or None when there is no such interface or it has no IPv4 address."""
    encoded = name.encode()
    if not encoded or len(encoded) >= IFNAMSIZ:
        return None
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            answer = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, struct.pack("256s", encoded))
    except OSError:
        return None
    # struct ifreq: the name (16 bytes), then a sockaddr_in: family, port, then the address.
    return socket.inet_ntoa(answer[20:24])


def _ipv4_interface(text: Any) -> ipaddress.IPv4Interface | None:
    """An IPv4 address, with or without a mask ("172.17.0.1", "172.17.0.1/16"); None otherwise."""
    try:
        found = ipaddress.ip_interface(str(text).strip()) if text else None
    except ValueError:
        return None
    return found if isinstance(found, ipaddress.IPv4Interface) else None


def bridge_gateway(
    attrs: dict[str, Any], interface_address: Callable[[str], str | None]
) -> BridgeAddress:
    """The IPv4 address of docker's default bridge, from `docker network inspect bridge`'s attrs.

    In order: an IPv4 Gateway of the IPAM Config (IPv6 entries are skipped; a mask, as in
    172.17.0.1/16, is dropped); else the IPv4 address of the bridge's interface
    (Options["com.docker.network.bridge.name"], docker0 by default), as interface_address(name)
    reads it (dockerd 20.10 started where docker0 never existed names no Gateway); else the
    first host of the first IPv4 Subnet, which docker's IPAM gives the bridge when none is set.
    RuntimeError, one line naming what was found, when none of them is an IPv4 address.
    """
    configs = (attrs.get("IPAM") or {}).get("Config") or []
    entries = [config for config in configs if isinstance(config, dict)]
    for config in entries:
        gateway = _ipv4_interface(config.get("Gateway"))
        if gateway:
            return BridgeAddress(str(gateway.ip), "the gateway of the bridge network's IPAM config")
    name = (attrs.get("Options") or {}).get("com.docker.network.bridge.name") or "docker0"
    own = _ipv4_interface(interface_address(name))
    if own:
        return BridgeAddress(
            str(own.ip), f"the address of {name} (the IPAM config names no gateway)"
        )
    for config in entries:
        subnet = _ipv4_interface(config.get("Subnet"))
        host = next(subnet.network.hosts(), None) if subnet else None
        if host:
            return BridgeAddress(
                str(host),
                f"the first host of {subnet.network} ({name} has no IPv4 address and the IPAM"
                " config names no gateway)",
            )
    raise RuntimeError(
        "the docker bridge network has no IPv4 address: its IPAM Config is "
        f"{json.dumps(configs, sort_keys=True)} and {name} has no IPv4 address"
    )


def relay(listen_host: str, port: int, stopping: threading.Event) -> threading.Thread:
    """Accept on listen_host:port and copy bytes both ways to 127.0.0.1:port."""
    server = socket.create_server((listen_host, port), reuse_port=False)
    server.settimeout(1.0)

    def pipe(client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(
                ("127.0.0.1", port), timeout=10, source_address=(RELAY_SOURCE_ADDRESS, 0)
            )
        except OSError:
            client.close()
            return
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        try:
            while not stopping.is_set():
                for key, _ in selector.select(timeout=1.0):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            pass
        finally:
            selector.close()
            client.close()
            upstream.close()

    def accept() -> None:
        with server:
            while not stopping.is_set():
                try:
                    client, _ = server.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                threading.Thread(target=pipe, args=(client,), daemon=True).start()

    thread = threading.Thread(target=accept, name=f"relay-{port}", daemon=True)
    thread.start()
    LOG.info("relaying %s:%d to 127.0.0.1:%d", listen_host, port, port)
    return thread


def credentials_server(agent: Agent, stopping: threading.Event) -> ThreadingHTTPServer:
    """Serve GET /v2/credentials/ID on agent.credentials_address:credentials_port (ECS's
    container credentials endpoint: the task role's credentials as JSON, 404 for an unknown
    id), in a thread of its own until `stopping` is set."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            found = None
            status = 404
            if self.path.startswith(CREDENTIALS_PATH):
                try:
                    found = agent.credentials_for(self.path[len(CREDENTIALS_PATH) :])
                except (BotoCoreError, ClientError, DockerException) as error:
                    LOG.warning("credentials for %s: %s", self.path, _short(error))
                    status = 500
            body = json.dumps(
                found or {"code": "NotFound", "message": "no credentials for this id"}
            ).encode()
            self.send_response(200 if found else status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            # Never the path: its id is what a task's credentials are fetched with.
            LOG.debug("credentials endpoint: %s", args[1] if len(args) > 1 else "")

    server = ThreadingHTTPServer((agent.credentials_address, agent.credentials_port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="credentials", daemon=True)
    thread.start()
    threading.Thread(
        target=lambda: (stopping.wait(), server.shutdown()), name="credentials-stop", daemon=True
    ).start()
    LOG.info(
        "serving task role credentials on http://%s:%d%s<id>",
        agent.credentials_address,
        agent.credentials_port,
        CREDENTIALS_PATH,
    )
    return server


def main(argv: list[str] | None = None) -> int:
    """Entry point: poll until SIGTERM/SIGINT."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout
    )
    state_dir = Path(args.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stopping.set())
    signal.signal(signal.SIGINT, lambda _signum, _frame: stopping.set())
    agent = Agent(
        endpoint=args.endpoint,
        region=args.region,
        agent_id=args.agent_id,
        state_dir=state_dir,
        docker_host=args.docker_host,
        host_ip=args.host_ip,
        cleanup_wait=args.cleanup_wait,
        log_delay=args.log_delay,
        credentials_address=args.credentials_address,
        credentials_port=args.credentials_port,
    )
    try:
        agent.docker.ping()
        agent.client("ecs").list_clusters(maxResults=1)
        if args.forward_port:
            bridge = bridge_gateway(agent.docker.networks.get("bridge").attrs, interface_ipv4)
            LOG.info("the docker bridge's address is %s, %s", bridge.address, bridge.source)
            for port in args.forward_port:
                relay(bridge.address, port, stopping)
        if args.credentials_port:
            if not ipaddress.ip_address(args.credentials_address).is_loopback:
                agent.credentials_network(args.credentials_network)
            credentials_server(agent, stopping)
    except (
        BotoCoreError,
        ClientError,
        DockerException,
        OSError,
        RuntimeError,
        ValueError,
    ) as error:
        LOG.error("cannot start: %s", _short(error))
        return 1
    # Ready: whoever started it (daemonize.py) waits for this PID file.
    if args.pidfile:
        Path(args.pidfile).write_text(f"{os.getpid()}\n", encoding="ascii")
    LOG.info(
        "ECS agent %s polling %s (%s) every %.1f s, pid %d",
        args.agent_id,
        args.endpoint,
        args.region,
        args.poll,
        os.getpid(),
    )
    while not stopping.is_set():
        try:
            agent.poll_once()
        except (BotoCoreError, ClientError, DockerException, OSError) as error:
            LOG.warning("poll failed, trying again: %s", _short(error))
        except Exception:  # one bad answer must not end the agent
            LOG.exception("poll failed")
        stopping.wait(args.poll)
    LOG.info("stopping (the containers keep running)")
    if args.pidfile and Path(args.pidfile).read_text(encoding="ascii").strip() == str(os.getpid()):
        Path(args.pidfile).unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
