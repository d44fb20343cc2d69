"""Make moto 5.2.x answer like AWS where the project's modules depend on it.

Imported by moto_launcher.py in the server process, before the server starts. Each fix below
changes what the emulated AWS answers, never the clients: the playbooks and modules talk to
this server through `endpoint_url` exactly as they would talk to AWS.

1. ECS DescribeClusters: AWS always returns `capacityProviders` and
   `defaultCapacityProviderStrategy` (empty lists when none are set); moto leaves them out,
   and community.aws.ecs_cluster fails on its second run with KeyError: 'capacityProviders'.
2. ECS ListTagsForResource: AWS always returns `tags` (an empty list for an untagged
   resource); moto leaves it out for an untagged cluster, and community.aws.ecs_tag fails
   with KeyError: 'tags'.
3. EC2 DeleteLaunchTemplateVersions: moto answers HTTP 500 (not implemented);
   amazon.aws.ec2_launch_template calls it on state=absent when a template has more than one
   version. Implemented here as AWS does it: the default version cannot be deleted, a
   deleted version is no longer described, the rest are reported in
   Successfully/UnsuccessfullyDeletedLaunchTemplateVersions.
4. ECS task lifecycle as the ECS agent drives it (moto starts every task RUNNING and stops it
   on StopTask at once): a new task is PENDING until its agent reports otherwise; StopTask
   sets desiredStatus STOPPED and leaves lastStatus to the agent; SubmitTaskStateChange (the
   API the ECS agent reports through, absent in moto) records the task's and its containers'
   status, exit codes and network bindings, and a STOPPED task gives its instance's CPU,
   memory and ports back; a force-deregistered instance's tasks stop, as on AWS. ListTasks
   lists the tasks whose desiredStatus is RUNNING unless asked for another, and filters by
   serviceName, as AWS does. DeleteCluster is refused while the cluster has container
   instances, active services or tasks that have not stopped (moto deletes it anyway), and
   ListClusters leaves deleted (INACTIVE) clusters out.
5. The ECS service scheduler (moto creates services but never starts their tasks): once a
   second, each ACTIVE EC2 service gets tasks placed (RunTask's placement, group
   service:NAME, startedBy the deployment id) until desiredCount run; tasks beyond it or of
   an older deployment (another task definition, UpdateService forceNewDeployment) are
   stopped; a stopped task is replaced (as after a Spot interruption); runningCount,
   pendingCount, the deployment's rollout state and the service events follow the tasks. The
   tasks of a deleted service are stopped.
6. EC2 Spot Fleet instances from a launch template: AWS launches them with the template's
   MetadataOptions (IMDSv2, hop limit) and block device mappings (the root volume encrypted);
   moto 5.2 keeps only the AMI, type, key, groups, subnet and user data, so every instance
   allowed IMDSv1 and had an unencrypted root volume. The template's settings are applied to
   each instance the fleet launches (a mapping of a device the instance has changes that volume,
   another adds a volume, as on AWS).
7. ECS and terminated instances: on AWS a container instance whose EC2 instance terminates
   (a Spot Fleet scaled down, a Spot interruption, TerminateInstances) is deregistered, and
   the tasks on it stop; moto keeps it ACTIVE, so the service scheduler and RunTask went on
   placing tasks on an instance that was gone.
8. ECS ListTasks with a `family` that is not a family name (letters, digits, hyphens and
   underscores), e.g. `family:revision`: AWS refuses it (InvalidParameterException; see
   ansible/ansible#32872, community.aws.ecs_task's run and stop list tasks that way); moto
   lists nothing and lets the caller go on. Part of fix 4's ListTasks.
9. EC2 Spot Fleets that cannot launch: on AWS a fleet short of Spot capacity, over the
   account's Spot vCPU quota or missing a role launches nothing, shows ActivityStatus
   `error` and tells why in DescribeSpotFleetRequestHistory; moto always launches and has no
   history (HTTP 500). DescribeSpotFleetRequestHistory is implemented (the fleet's submitted
   and active events, its errors), every request has ActivityStatus and CreateTime, and a
   fault of moto_faults' POST /_ecs_dl/spot-fleet-faults makes a fleet fail its launches.
10. Service Quotas for EC2: moto knows only VPC quotas. GetServiceQuota answers the Spot
   vCPU quotas L-34B43A08 (standard types) and L-3819A6DF (G and VT) with LOCAL_SPOT_VCPUS
   (large enough for any fleet the project's input checks accept), or the value set through
   moto_faults' POST /_ecs_dl/service-quotas (a small quota, as a new account has).
11. IAM CreateServiceLinkedRole names the Spot roles as AWS does (AWSServiceRoleForEC2Spot,
   AWSServiceRoleForEC2SpotFleet; moto: AWSServiceRoleForSpot, ...ForSpotfleet) and refuses
   one that exists with AWS's InvalidInput ("has been taken in this account").
12. EC2 termination takes time: on AWS a terminated instance is `shutting-down` for a while
   (its ENIs and public address are still held), and until it is `terminated`,
   DeleteSecurityGroup, DetachInternetGateway and DeleteSubnet of its VPC fail with
   DependencyViolation; moto terminates at once and deletes anything. Here TerminateInstances
   leaves the instances `shutting-down` for SETTINGS["shutting_down_seconds"] (environment
   ECS_DL_SHUTTING_DOWN_SECONDS, default 5; 0 turns it off), and those three calls answer
   DependencyViolation, in EC2's words, while an instance of the VPC is not terminated.
   GET/POST /_ecs_dl/settings (JSON, e.g. {"shutting_down_seconds": 60}) read and change the
   setting while the server runs (see settings_route).
13. IAM, enforced for roles' temporary credentials. AWS checks every request against the
   caller's policies; moto checks none unless INITIAL_NO_AUTH_ACTION_COUNT is set, and then it
   checks every key: the playbooks' admin key (`testing`, and the fault tests' ECSDLFAULTTEST)
   is no IAM user's, so moto would refuse it (InvalidClientTokenId). The local target's callers
   are of two kinds: the playbooks and the ECS agent, as the account's administrator (allowed
   everything, as an admin user is on AWS), and the tasks and the agent on a task's behalf,
   with a role's credentials from STS AssumeRole (an ASIA... key with a session token). So
   requests signed with temporary credentials are checked as AWS checks them (signature,
   then the role's inline and attached policies; moto's AssumedRoleAccessKey and IAMPolicy),
   and any other key is left to moto's own switch (off). This is a deliberate split: a
   policy that is too narrow or too wide for a task or the execution role shows here, the
   playbooks' own permissions (an administrator's on AWS) are not modelled.
   moto names the resource of S3 requests (bucket, bucket/key) but gives "*" for most other
   services, which no statement with a Resource ARN matches; the ARNs AWS checks are named
   here for SSM parameters (GetParameter, GetParameters: each name, as AWS checks each),
   CloudWatch Logs groups and streams, and Secrets Manager secrets given by ARN. Unsigned and
   presigned (query-string) requests are left to moto's own switch.
14. ECS placement by a container's memoryReservation: AWS reserves a container's
   memoryReservation on its instance when it has one (its hard `memory` only otherwise), so a
   task with a hard limit above what is free still fits; moto reserves the hard limit when
   both are given, and a task definition with a generous hard limit was never placed
   (RESOURCE:MEMORY) on an instance with room for its reservation.
15. EFS, as the Jupyter task's volume needs it (moto has file systems, mount targets with their
   security groups, access points, FileSystemInUse while mount targets exist, tags and the
   encryption flag, all as AWS has them): CreateAccessPoint on a file system that does not
   exist answers FileSystemNotFound (moto made an access point of nothing), and a ClientToken
   used before answers AccessPointAlreadyExists with that access point's id (moto made a
   second one: a retried create left a stray access point); DeleteAccessPoint of an unknown id
   answers AccessPointNotFound (moto: success); and the file-system tag calls that
   community.aws.efs and efs_info make, DescribeTags, CreateTags and DeleteTags (the older
   API; moto answers HTTP 404), are answered from the same tags as ListTagsForResource.
16. A Spot Fleet keeps its target capacity: on AWS a `maintain` fleet (the only type the
   project requests; moto does not keep the type) launches a replacement when one of its
   instances terminates (TerminateInstances, a Spot interruption, a failed health check), and
   the replacement's user data (`ECS_CLUSTER=<name>` in /etc/ecs/ecs.config) has its ECS agent
   join that cluster when it boots; moto only lowers the fleet's fulfilled capacity. Here
   TerminateInstances of an active fleet's instance launches what the fleet is short of
   (through the fleet's own launch, so fix 6's template settings and fix 9's faults apply),
   and each replacement is registered with the cluster its user data names, as its agent
   would (site.yml's local_stack `instances` step plays the agent for the instances the
   playbooks request; a replacement has no playbook). Scaling a fleet down or cancelling it
   lowers the target first, so nothing is replaced then.
17. EventBridge rules that start ECS tasks (the targets the uploads' rule has): moto forwards an
   S3 bucket's events to EventBridge (EventBridgeConfiguration) but runs no ECS target (it
   raises NotImplementedError, swallowed, and the rule's later targets are skipped too), and it
   applies no InputTransformer to S3's events. Here a rule's ECS cluster target starts its
   EcsParameters' task definition (TaskCount, LaunchType, Group; startedBy events-rule/<rule>,
   as on AWS) with the target's input (Input, InputPath, or the InputTransformer applied as
   EventBridge applies it: a string put inside a JSON string is escaped) as the task's
   overrides, only when the target's role may do it as AWS checks it (the role trusts
   events.amazonaws.com; its policies allow ecs:RunTask on that task definition with the
   ecs:cluster condition, and iam:PassRole on the task's roles for ecs-tasks.amazonaws.com). A
   disabled rule sends nothing. Every invocation counts in CloudWatch's AWS/Events Invocations,
   and one that starts no task in FailedInvocations (dimension RuleName), as on AWS; the server
   log says why. S3's GetBucketNotificationConfiguration answers EventBridgeConfiguration when it
   is set (moto leaves it out, so a module cannot see that it is already on).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlparse

# fix 13: the error names of the JSON protocol services for moto's query-protocol ones
JSON_ERROR_TYPES = {
    "AccessDenied": "AccessDeniedException",
    "InvalidClientTokenId": "UnrecognizedClientException",
    "SignatureDoesNotMatch": "InvalidSignatureException",
}
FAMILY = re.compile(r"^[A-Za-z0-9_-]{1,255}$")  # a task definition family's name (fix 8)
# The settings of the fixes that can be changed while the server runs (fix 12).
SETTINGS: dict[str, float] = {
    "shutting_down_seconds": float(os.environ.get("ECS_DL_SHUTTING_DOWN_SECONDS", "5")),
}
SETTINGS_PATH = "/_ecs_dl/settings"


def apply() -> list[str]:
    """Apply every fix; return their names (the launcher logs them)."""
    from moto.ecs import models as ecs_models

    original_init = ecs_models.Cluster.__init__

    def cluster_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        for attribute in ("capacity_providers", "default_capacity_provider_strategy", "tags"):
            if getattr(self, attribute, None) is None:
                setattr(self, attribute, [])

    ecs_models.Cluster.__init__ = cluster_init  # type: ignore[method-assign]

    original_list_tags = ecs_models.EC2ContainerServiceBackend.list_tags_for_resource

    def list_tags_for_resource(self: Any, resource_arn: str) -> list[dict[str, str]]:
        return original_list_tags(self, resource_arn) or []

    ecs_models.EC2ContainerServiceBackend.list_tags_for_resource = list_tags_for_resource  # type: ignore[method-assign]

    _add_delete_launch_template_versions()
    _add_spot_fleet_launch_template_settings()
    _add_ecs_task_lifecycle()
    _start_ecs_service_scheduler()
    _follow_terminated_instances()
    _add_spot_fleet_launch_faults()
    _add_ec2_service_quotas()
    _add_service_linked_role_names()
    _add_ec2_termination_dependencies()
    _enforce_iam_for_temporary_credentials()
    _place_by_memory_reservation()
    _add_efs_fixes()
    _add_eventbridge_ecs_targets()
    return [
        "ecs-cluster-empty-capacity-providers",
        "ecs-list-tags-empty-list",
        "ec2-delete-launch-template-versions",
        "ec2-spot-fleet-launch-template-settings",
        "ecs-task-lifecycle",
        "ecs-service-scheduler",
        "ecs-deregister-terminated-instances",
        "ecs-list-tasks-family-names",
        "ec2-spot-fleet-launch-faults",
        "ec2-spot-fleet-replaces-terminated-instances",
        "servicequotas-ec2-spot-vcpus",
        "iam-service-linked-role-names",
        "ec2-shutting-down-dependency-violation",
        "iam-enforced-for-temporary-credentials",
        "ecs-placement-by-memory-reservation",
        "efs-access-points-and-file-system-tags",
        "eventbridge-ecs-targets-run-tasks",
    ]


def temporary_access_key(headers: Any) -> str | None:
    """The access key of a request signed (SigV4, Authorization header) with temporary
    credentials (an ASIA... key and X-Amz-Security-Token), else None (fix 13)."""
    authorization = headers.get("Authorization") or ""
    key = authorization.partition("Credential=")[2].partition("/")[0]
    if key.startswith("ASIA") and headers.get("X-Amz-Security-Token"):
        return key
    return None


def _arn(self: Any, service: str, resource: str) -> str:
    from moto.utilities.utils import get_partition

    partition = get_partition(self.region)
    return f"arn:{partition}:{service}:{self.region}:{self.current_account}:{resource}"


def _resources(self: Any) -> list[str]:
    """The resources AWS authorizes a (JSON protocol) request of SSM, Logs or Secrets Manager
    against; ["*"] for the others and for actions without a resource (fix 13)."""
    service = getattr(self, "service_name", "")
    if service not in ("ssm", "logs", "secretsmanager"):
        return ["*"]
    try:
        params = json.loads(self.body or "{}")
    except (TypeError, ValueError):
        return ["*"]
    if not isinstance(params, dict):
        return ["*"]
    if service == "ssm":
        names = params.get("Names") or [params.get("Name") or params.get("Path")]
        found = [
            name if name.startswith("arn:") else _arn(self, "ssm", f"parameter/{name.lstrip('/')}")
            for name in names
            if isinstance(name, str) and name
        ]
        return found or ["*"]
    if service == "logs":
        group = params.get("logGroupName")
        if not isinstance(group, str) or not group:
            return ["*"]
        stream = params.get("logStreamName")
        # IAM names a log group arn:...:log-group:NAME:* (CloudWatch Logs' IAM reference).
        suffix = f"log-stream:{stream}" if isinstance(stream, str) and stream else "*"
        return [_arn(self, "logs", f"log-group:{group}:{suffix}")]
    secret = params.get("SecretId")
    return [secret] if isinstance(secret, str) and secret.startswith("arn:") else ["*"]


def _enforce_iam_for_temporary_credentials() -> None:
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.exceptions import JsonRESTError, _RESTError

    original = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if temporary_access_key(self.headers) is None:
            return original(self, iam_request_cls, resource)
        if self.headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
            return None
        # As moto's own check (moto/core/authorization.py), for every such request.
        path = self.raw_path
        query = urlparse(self.uri).query
        if query:
            path += "?" + query
        request = iam_request_cls(
            account_id=self.current_account,
            method=self.method,
            path=path,
            data=self.data,
            body=self.raw_body,
            headers=self.headers,
            action=self._get_action(),
        )
        try:
            request.check_signature()
            for each in _resources(self) if resource == "*" else [resource]:
                request.check_action_permitted(each)
        except _RESTError as error:
            # moto answers in XML (the query protocol's form); the JSON services (SSM, Logs,
            # ECS, ...: an X-Amz-Target header) answer {"__type": ...} with their own names.
            if not self.headers.get("X-Amz-Target") or isinstance(error, JsonRESTError):
                raise
            json_error = JsonRESTError(
                JSON_ERROR_TYPES.get(error.error_type, error.error_type), error.message
            )
            json_error.code = error.code
            raise json_error from None
        return None

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize  # type: ignore[method-assign]


def _place_by_memory_reservation() -> None:
    """Fix 14: a task needs the sum of its containers' memoryReservation, or of their hard
    `memory` where they have no reservation (AWS's rule); moto adds the hard limits first."""
    from moto.ecs.models import EC2ContainerServiceBackend

    original = EC2ContainerServiceBackend._calculate_task_resource_requirements

    def requirements(task_definition: Any) -> dict[str, Any]:
        needed = original(task_definition)
        memory = 0
        for container in task_definition.container_definitions:
            reservation = container.get("memoryReservation", container.get("MemoryReservation"))
            hard = container.get("memory", container.get("Memory"))
            memory += int(reservation if reservation is not None else hard or 0)
        needed["MEMORY"] = memory
        return needed

    EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(requirements)  # type: ignore[method-assign,assignment]


def _follow_terminated_instances() -> None:
    """Fixes 7 and 16, one TerminateInstances: ECS deregisters the instances that terminated,
    then each active fleet that lost one launches what it is short of, and the replacements join
    the cluster their user data names."""
    from moto.ec2.models.instances import InstanceBackend
    from moto.ecs.models import ecs_backends

    original_terminate = InstanceBackend.terminate_instances

    def terminate_instances(self: Any, instance_ids: list[str]) -> Any:
        fleets = self.spot_fleet_requests
        before = {
            fleet_id: {r.instance.id for r in fleet.spot_requests if r.instance is not None}
            for fleet_id, fleet in fleets.items()
        }
        terminated = original_terminate(self, instance_ids)
        gone = {instance.id for instance, _ in terminated}
        ecs = ecs_backends[self.account_id][self.region_name]
        _deregister_container_instances(ecs, gone)
        for fleet_id, fleet in list(fleets.items()):
            if before.get(fleet_id, set()) & gone:
                _replace_fleet_instances(ecs, fleet, before[fleet_id])
        return terminated

    InstanceBackend.terminate_instances = terminate_instances  # type: ignore[method-assign]


def _deregister_container_instances(ecs: Any, gone: set[str]) -> None:
    """Fix 7: the container instances of the EC2 instances `gone` are deregistered (force)."""
    for cluster_name, instances in list(ecs.container_instances.items()):
        # moto keeps the container instances of a deleted cluster: nothing to deregister.
        if cluster_name not in ecs.clusters:
            continue
        for instance in list(instances.values()):
            if instance.ec2_instance_id in gone and instance.status != "INACTIVE":
                ecs.deregister_container_instance(
                    cluster_name, instance.container_instance_arn, True
                )


def _replace_fleet_instances(ecs: Any, fleet: Any, kept: set[str]) -> None:
    """Fix 16: an active fleet short of its target launches the rest; each instance not in
    `kept` (the fleet's before the termination) joins the cluster its user data names."""
    if fleet.state != "active" or fleet.fulfilled_capacity >= fleet.target_capacity:
        return
    fleet.create_spot_requests(fleet.target_capacity - fleet.fulfilled_capacity)
    for request in fleet.spot_requests:
        instance = request.instance
        if instance is None or instance.id in kept:
            continue
        cluster = user_data_cluster(instance.user_data)
        if cluster and cluster in ecs.clusters:
            ecs.register_container_instance(cluster, instance.id)


USER_DATA_CLUSTER = re.compile(r"^\s*ECS_CLUSTER=([A-Za-z0-9_-]{1,255})\s*$", re.MULTILINE)


def user_data_cluster(user_data: Any) -> str | None:
    """The cluster an instance's user data has its ECS agent join (fix 16), or None."""
    import base64
    import binascii

    if isinstance(user_data, list | tuple):
        user_data = user_data[0] if user_data else None
    if not user_data:
        return None
    text = user_data.decode() if isinstance(user_data, bytes) else str(user_data)
    try:
        text = base64.b64decode(text, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        pass  # not base64: the script itself
    found = USER_DATA_CLUSTER.search(text)
    return found.group(1) if found else None


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _add_spot_fleet_launch_template_settings() -> None:
    from moto.ec2.models import spot_requests
    from moto.ec2.models.instances import MetadataOptions

    fleet_class = spot_requests.SpotFleetRequest
    original_init = fleet_class.__init__
    original_create = fleet_class.create_spot_requests

    def fleet_init(self: Any, *args: Any, **kwargs: Any) -> None:
        # Before the original: it launches the first instances itself.
        self.ecs_dl_template_configs = kwargs.get("launch_template_config") or []
        original_init(self, *args, **kwargs)

    def create_spot_requests(self: Any, weight_to_add: float) -> None:
        original_create(self, weight_to_add)
        for config in getattr(self, "ecs_dl_template_configs", []):
            spec = config.get("LaunchTemplateSpecification", {})
            if "LaunchTemplateId" in spec:
                template = self.ec2_backend.get_launch_template(spec["LaunchTemplateId"])
            elif "LaunchTemplateName" in spec:
                template = self.ec2_backend.get_launch_template_by_name(spec["LaunchTemplateName"])
            else:
                continue
            data = template.latest_version().data
            for request in self.spot_requests:
                instance = getattr(request, "instance", None)
                if instance is not None and not getattr(instance, "ecs_dl_templated", False):
                    _apply_launch_template(self.ec2_backend, instance, data, MetadataOptions)
            break  # the first template's settings, as the fleet's instances use

    fleet_class.__init__ = fleet_init  # type: ignore[method-assign]
    fleet_class.create_spot_requests = create_spot_requests  # type: ignore[method-assign]


def _apply_launch_template(backend: Any, instance: Any, data: dict[str, Any], options: Any) -> None:
    # moto attaches every instance's root volume as /dev/sda1, whatever the AMI's root device
    # (the ECS-optimized AMIs say /dev/xvda): put it where the instance says its root is.
    root, default = instance.root_device_name, "/dev/sda1"
    if root != default and root not in instance.block_device_mapping:
        moved = instance.block_device_mapping.get(default)
        if moved is not None:
            backend.detach_volume(moved.volume_id, instance.id, default)
            backend.attach_volume(moved.volume_id, instance.id, root, True)
    if data.get("MetadataOptions"):
        instance.metadata_options = options(data["MetadataOptions"])
    for mapping in data.get("BlockDeviceMappings") or []:
        ebs = mapping.get("Ebs")
        if not ebs or "NoDevice" in mapping:
            continue
        device = mapping["DeviceName"]
        attached = instance.block_device_mapping.get(device)
        if attached is not None:
            volume = backend.get_volume(attached.volume_id)
            volume.encrypted = _truthy(ebs.get("Encrypted"))
            if ebs.get("VolumeSize"):
                volume.size = int(ebs["VolumeSize"])
            if ebs.get("VolumeType"):
                volume.volume_type = ebs["VolumeType"]
        else:
            instance.add_block_device(
                int(ebs.get("VolumeSize") or 8),
                device,
                ebs.get("SnapshotId"),
                _truthy(ebs.get("Encrypted")),
                _truthy(ebs.get("DeleteOnTermination")),
                ebs.get("KmsKeyId"),
                volume_type=ebs.get("VolumeType"),
            )
    instance.ecs_dl_templated = True


def _add_delete_launch_template_versions() -> None:
    from moto.core.responses import ActionResult
    from moto.ec2.models import launch_templates as lt_models
    from moto.ec2.responses.launch_templates import LaunchTemplates

    backend_class = lt_models.LaunchTemplateBackend
    original_describe = backend_class.describe_launch_template_versions

    def describe_versions(self: Any, *args: Any, **kwargs: Any) -> list[Any]:
        found = original_describe(self, *args, **kwargs)
        return [
            (template, version)
            for template, version in found
            if version.number not in getattr(template, "deleted_version_numbers", set())
        ]

    def delete_versions(self: Any) -> ActionResult:
        name = self._get_param("LaunchTemplateName")
        template_id = self._get_param("LaunchTemplateId")
        template = (
            self.ec2_backend.get_launch_template_by_name(name)
            if name
            else self.ec2_backend.get_launch_template(template_id)
        )
        deleted = template.__dict__.setdefault("deleted_version_numbers", set())
        succeeded, failed = [], []
        for number in (int(v) for v in self._get_param("Versions", [])):
            entry = {
                "LaunchTemplateId": template.id,
                "LaunchTemplateName": template.name,
                "VersionNumber": number,
            }
            if number == template.default_version_number:
                code, message = (
                    "launchTemplateVersionIsDefault",
                    "default version",
                )
            elif number < 1 or number > len(template.versions) or number in deleted:
                code, message = "launchTemplateVersionDoesNotExist", "no such version"
            else:
                deleted.add(number)
                succeeded.append(entry)
                continue
            failed.append({**entry, "ResponseError": {"Code": code, "Message": message}})
        return ActionResult(
            {
                "SuccessfullyDeletedLaunchTemplateVersions": succeeded,
                "UnsuccessfullyDeletedLaunchTemplateVersions": failed,
            }
        )

    backend_class.describe_launch_template_versions = describe_versions  # type: ignore[method-assign]
    LaunchTemplates.delete_launch_template_versions = delete_versions  # type: ignore[attr-defined]


def _now() -> Any:
    from moto.core.utils import utcnow

    return utcnow()


def _release_task_resources(backend: Any, task: Any) -> None:
    """Give a stopped task's CPU, memory and ports back to its container instance, once."""
    if not getattr(task, "_ecsdl_holds_resources", False):
        return
    task._ecsdl_holds_resources = False
    instance_id = (task.container_instance_arn or "").split("/")[-1]
    instance = backend.container_instances.get(task.cluster_name, {}).get(instance_id)
    if instance is not None and task.resource_requirements:
        backend.update_container_instance_resources(
            instance, task.resource_requirements, removing=True
        )


def _mark_stopped(backend: Any, task: Any, reason: str, stop_code: str) -> None:
    task.last_status = "STOPPED"
    task.desired_status = "STOPPED"
    task.stopped_reason = task.stopped_reason or reason
    task.stop_code = getattr(task, "stop_code", None) or stop_code
    task.stopped_at = getattr(task, "stopped_at", None) or _now()
    for container in task.containers:
        if container.last_status != "STOPPED":
            container.last_status = "STOPPED"
    _release_task_resources(backend, task)


def _find_task(backend: Any, cluster_name: str, task_str: str) -> Any:
    from moto.ecs.exceptions import InvalidParameterException

    task_id = task_str.split("/")[-1]
    for arn, task in backend.tasks.get(cluster_name, {}).items():
        if arn.endswith("/" + task_id):
            return task
    raise InvalidParameterException(f"The referenced task was not found: {task_str}")


def _add_ecs_task_lifecycle() -> None:
    from moto.core.responses import ActionResult
    from moto.ecs import models as ecs_models
    from moto.ecs.exceptions import InvalidParameterException
    from moto.ecs.responses import EC2ContainerServiceResponse

    task_class = ecs_models.Task
    backend_class = ecs_models.EC2ContainerServiceBackend
    original_task_init = task_class.__init__

    def task_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_task_init(self, *args, **kwargs)
        # Placed, not started: the instance's agent pulls and starts it, then reports RUNNING.
        self.last_status = "PENDING" if self.container_instance_arn else "RUNNING"
        self.created_at = _now()
        self.stop_code = None
        self.stopped_at = None
        self.started_at = None
        self._ecsdl_holds_resources = bool(self.container_instance_arn)
        for container in self.containers:
            container.last_status = self.last_status
            container.exitCode = None
            container.reason = None
            container.network_bindings = []

    task_class.__init__ = task_init  # type: ignore[method-assign]

    def stop_task(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
        cluster = self._get_cluster(cluster_str)
        task = _find_task(self, cluster.name, task_str)
        if task.desired_status != "STOPPED":
            task.desired_status = "STOPPED"
            task.stopped_reason = reason or "Task stopped by user"
            task.stop_code = "UserInitiated"
            task.stopping_at = _now()
        # Never placed or never started: nothing for an agent to stop.
        if not task.container_instance_arn or task.last_status == "PENDING":
            _mark_stopped(self, task, task.stopped_reason, task.stop_code)
        return task

    backend_class.stop_task = stop_task  # type: ignore[method-assign]

    original_deregister = backend_class.deregister_container_instance

    def deregister_container_instance(
        self: Any, cluster_str: str, container_instance_str: str, force: bool
    ) -> Any:
        cluster = self._get_cluster(cluster_str)
        instance_id = container_instance_str.split("/")[-1]
        instance = original_deregister(self, cluster_str, container_instance_str, force)
        for task in list(self.tasks.get(cluster.name, {}).values()):
            if (task.container_instance_arn or "").endswith("/" + instance_id) and (
                task.last_status != "STOPPED"
            ):
                task._ecsdl_holds_resources = False
                _mark_stopped(self, task, "Container instance deregistered", "TaskFailedToStart")
        return instance

    backend_class.deregister_container_instance = deregister_container_instance  # type: ignore[method-assign]

    def submit_task_state_change(self: Any) -> ActionResult:
        backend = self.ecs_backend
        cluster = backend._get_cluster(self._get_param("cluster", "default"))
        task = _find_task(backend, cluster.name, self._get_param("task"))
        status = self._get_param("status")
        for change in self._get_param("containers", []) or []:
            for container in task.containers:
                if container.name != change.get("containerName"):
                    continue
                container.last_status = change.get("status", container.last_status)
                if change.get("exitCode") is not None:
                    container.exitCode = int(change["exitCode"])
                if change.get("reason"):
                    container.reason = change["reason"]
                if change.get("networkBindings") is not None:
                    container.network_bindings = change["networkBindings"]
                if change.get("runtimeId"):
                    container.runtime_id = change["runtimeId"]
        if status == "RUNNING" and task.last_status != "STOPPED":
            task.last_status = "RUNNING"
            task.started_at = task.started_at or _now()
        elif status == "STOPPED":
            _mark_stopped(
                backend,
                task,
                self._get_param("reason") or "Essential container in task exited",
                "EssentialContainerExited",
            )
        elif status:
            task.last_status = status
        return ActionResult({"acknowledgment": "ACK"})

    original_list_tasks = backend_class.list_tasks

    def list_tasks(
        self: Any,
        cluster_str: str | None = None,
        container_instance: str | None = None,
        family: str | None = None,
        started_by: str | None = None,
        service_name: str | None = None,
        desiredStatus: str | None = None,  # noqa: N803 (moto's parameter name)
    ) -> list[Any]:
        # AWS lists the tasks whose desiredStatus is RUNNING unless told otherwise, and filters
        # by service (moto ignores serviceName and lists every task).
        if family is not None and not FAMILY.match(family):
            raise InvalidParameterException(
                f"family {family!r} is not a task definition family name (fix 8)"
            )
        tasks = original_list_tasks(
            self,
            cluster_str,
            container_instance,
            family,
            started_by,
            None,
            desiredStatus or "RUNNING",
        )
        if service_name:
            group = "service:" + service_name.rsplit("/", 1)[-1]
            tasks = [task for task in tasks if task.group == group]
        return tasks

    backend_class.list_tasks = list_tasks  # type: ignore[method-assign]

    original_delete_cluster = backend_class.delete_cluster

    def delete_cluster(self: Any, cluster_str: str) -> Any:
        from moto.core.exceptions import JsonRESTError

        cluster = self._get_cluster(cluster_str)
        if any(
            instance.status in ("ACTIVE", "DRAINING")
            for instance in self.container_instances.get(cluster.name, {}).values()
        ):
            raise JsonRESTError(
                "ClusterContainsContainerInstancesException",
                "The Cluster cannot be deleted while Container Instances are active or draining.",
            )
        if any(
            service.cluster_name == cluster.name and service.status == "ACTIVE"
            for service in self.services.values()
        ):
            raise JsonRESTError(
                "ClusterContainsServicesException",
                "The Cluster cannot be deleted while Services are active.",
            )
        if any(task.last_status != "STOPPED" for task in self.tasks.get(cluster.name, {}).values()):
            raise JsonRESTError(
                "ClusterContainsTasksException",
                "The Cluster cannot be deleted while Tasks are active.",
            )
        return original_delete_cluster(self, cluster_str)

    backend_class.delete_cluster = delete_cluster  # type: ignore[method-assign]

    def list_clusters(self: Any) -> list[str]:
        return [c.arn for c in self.clusters.values() if c.status != "INACTIVE"]

    backend_class.list_clusters = list_clusters  # type: ignore[method-assign]

    EC2ContainerServiceResponse.submit_task_state_change = submit_task_state_change  # type: ignore[attr-defined]


SCHEDULER_INTERVAL = 1.0


def _start_ecs_service_scheduler() -> None:
    import threading

    thread = threading.Thread(target=_scheduler_loop, name="ecs-service-scheduler", daemon=True)
    thread.start()


def _scheduler_loop() -> None:
    import time
    import traceback

    from moto.ecs.models import ecs_backends

    while True:
        time.sleep(SCHEDULER_INTERVAL)
        for account_id in list(ecs_backends.keys()):
            for region in list(ecs_backends[account_id].keys()):
                try:
                    _schedule_services(ecs_backends[account_id][region])
                except Exception:  # keep scheduling; the moto log shows what went wrong
                    traceback.print_exc()


def _service_event(service: Any, message: str) -> None:
    from moto.moto_api._internal import mock_random

    service.events.insert(
        0, {"id": str(mock_random.uuid4()), "createdAt": _now(), "message": message}
    )
    del service.events[100:]


def _schedule_services(backend: Any) -> None:
    services = {
        (service.cluster_name, service.name): service for service in list(backend.services.values())
    }
    for cluster_name, tasks in list(backend.tasks.items()):
        for task in list(tasks.values()):
            group = task.group or ""
            if not group.startswith("service:") or task.desired_status == "STOPPED":
                continue
            service = services.get((cluster_name, group.split(":", 1)[1]))
            if service is None or service.status != "ACTIVE":
                backend.stop_task(cluster_name, task.task_arn, "Service deleted")
    for service in services.values():
        if service.status == "ACTIVE" and service.launch_type == "EC2":
            _schedule_service(backend, service)


def _schedule_service(backend: Any, service: Any) -> None:
    group = f"service:{service.name}"
    deployment = service.deployments[0] if service.deployments else {"id": "ecs-svc/0"}
    tasks = [
        task
        for task in list(backend.tasks.get(service.cluster_name, {}).values())
        if task.group == group and task.desired_status == "RUNNING"
    ]
    # UpdateService keeps the task definition as given (family, family:revision or ARN).
    wanted = (
        backend.describe_task_definition(service.task_definition).arn
        if service.task_definition
        else None
    )
    # A new task definition or a forced new deployment replaces the older deployment's tasks
    # (minimumHealthyPercent 0: stopped first, then started).
    for task in [
        task
        for task in tasks
        if task.task_definition_arn != wanted or task.started_by != deployment["id"]
    ]:
        backend.stop_task(
            service.cluster_name,
            task.task_arn,
            f"Deployment {deployment['id']} replaced the task",
        )
        tasks.remove(task)
    for task in tasks[service.desired_count :]:
        backend.stop_task(
            service.cluster_name,
            task.task_arn,
            f"Scaling activity initiated by (deployment {deployment['id']})",
        )
    tasks = tasks[: service.desired_count]
    missing = service.desired_count - len(tasks)
    if missing > 0 and wanted:
        try:
            placed = backend.run_task(
                service.cluster_name,
                wanted,
                missing,
                None,
                deployment["id"],
                None,
                "EC2",
                None,
                group,
            )
        except Exception as error:  # no container instance in the cluster
            placed = []
            reason = str(error)
        else:
            reason = "no container instance met all of its requirements"
        if placed:
            tasks.extend(placed)
            _service_event(
                service,
                f"(service {service.name}) has started {len(placed)} tasks: "
                + " ".join(f"(task {task.id})" for task in placed)
                + ".",
            )
        if len(placed) < missing:
            message = f"(service {service.name}) was unable to place a task because {reason}."
            if not service.events or service.events[0]["message"] != message:
                _service_event(service, message)
    running = sum(1 for task in tasks if task.last_status == "RUNNING")
    pending = len(tasks) - running
    steady = running == service.desired_count and pending == 0
    if steady and getattr(service, "_ecsdl_steady", None) is not True:
        _service_event(service, f"(service {service.name}) has reached a steady state.")
    service._ecsdl_steady = steady
    service.running_count = running
    service.pending_count = pending
    if service.deployments:
        deployment.update(
            desiredCount=service.desired_count,
            runningCount=running,
            pendingCount=pending,
            taskDefinition=wanted,
            rolloutState="COMPLETED" if steady else "IN_PROGRESS",
            rolloutStateReason=(
                f"ECS deployment {deployment['id']} completed."
                if steady
                else f"ECS deployment {deployment['id']} in progress."
            ),
        )


# Fix 9: Spot Fleets that cannot launch, and their history -------------------------------------


def _fleet_event(fleet: Any, event_type: str, sub_type: str, description: str = "") -> None:
    info = {"EventSubType": sub_type}
    if description:
        info["EventDescription"] = description
    fleet.__dict__.setdefault("ecs_dl_history", []).append(
        {"EventType": event_type, "EventInformation": info, "Timestamp": _now()}
    )


def _attempt_launch(fleet: Any, launch: Any) -> None:
    """One launch attempt of a fleet short of its target: fails while its fault stands."""
    missing = fleet.target_capacity - fleet.fulfilled_capacity
    if missing <= 0:
        return
    fault = getattr(fleet, "ecs_dl_fault", None)
    if fault is not None and (fault["attempts"] is None or fault["attempts"] > 0):
        if fault["attempts"] is not None:
            fault["attempts"] -= 1
        fleet.activity_status = "error"
        _fleet_event(fleet, fault["event_type"], fault["event_sub_type"], fault["description"])
        return
    launch(fleet, missing)
    fleet.activity_status = "fulfilled"


def _add_spot_fleet_launch_faults() -> None:
    import moto_faults
    from moto.core.responses import ActionResult
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models import spot_requests
    from moto.ec2.responses.spot_fleets import SpotFleets

    fleet_class = spot_requests.SpotFleetRequest
    backend_class = spot_requests.SpotRequestBackend
    original_init = fleet_class.__init__
    original_create = fleet_class.create_spot_requests  # fix 6's, when it was applied first
    original_describe = backend_class.describe_spot_fleet_requests

    def fleet_init(self: Any, *args: Any, **kwargs: Any) -> None:
        # Before the original: it makes the first launch attempt itself.
        self.ecs_dl_fault = moto_faults.BEHAVIOUR.take_spot_fleet_fault()
        self.create_time = _now()
        self.activity_status = "pending_fulfillment"
        _fleet_event(self, "fleetRequestChange", "submitted")
        _fleet_event(self, "fleetRequestChange", "active")
        original_init(self, *args, **kwargs)

    def create_spot_requests(self: Any, weight_to_add: float) -> None:
        if getattr(self, "ecs_dl_fault", None) is None:
            original_create(self, weight_to_add)
            self.activity_status = "fulfilled"
            return
        _attempt_launch(self, original_create)

    def describe(self: Any, spot_fleet_request_ids: list[str]) -> list[Any]:
        found = original_describe(self, spot_fleet_request_ids)
        for fleet in found:  # AWS retries a fleet short of capacity by itself
            if getattr(fleet, "ecs_dl_fault", None) is not None and fleet.state == "active":
                _attempt_launch(fleet, original_create)
        return found

    def describe_history(self: Any) -> ActionResult:
        from datetime import UTC

        request_id = self._get_param("SpotFleetRequestId")
        start = self._get_param("StartTime")
        event_type = self._get_param("EventType")
        fleet = self.ec2_backend.spot_fleet_requests.get(request_id)
        if fleet is None:
            raise EC2ClientError(
                "InvalidSpotFleetRequestId.NotFound",
                f"The spot fleet request ID '{request_id}' does not exist",
            )
        since = None
        if start:
            from dateutil import parser as date_parser

            since = date_parser.isoparse(str(start))
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
        records = []
        for record in getattr(fleet, "ecs_dl_history", []):
            stamp = record["Timestamp"]
            aware = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
            if since is not None and aware < since:
                continue
            if event_type and record["EventType"] != event_type:
                continue
            records.append(record)
        return ActionResult(
            {
                "HistoryRecords": records,
                "LastEvaluatedTime": _now(),
                "SpotFleetRequestId": request_id,
                "StartTime": since or _now(),
            }
        )

    fleet_class.__init__ = fleet_init  # type: ignore[method-assign]
    fleet_class.create_spot_requests = create_spot_requests  # type: ignore[method-assign]
    backend_class.describe_spot_fleet_requests = describe  # type: ignore[method-assign]
    SpotFleets.describe_spot_fleet_request_history = describe_history  # type: ignore[attr-defined]


# Fix 10: EC2's Spot vCPU quotas in Service Quotas ---------------------------------------------

# Large enough for the biggest fleet the input checks accept (50 instances of 96 vCPUs).
LOCAL_SPOT_VCPUS = 5000.0
EC2_SPOT_QUOTAS = {
    "L-34B43A08": "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests",
    "L-3819A6DF": "All G and VT Spot Instance Requests",
}


def _add_ec2_service_quotas() -> None:
    import moto_faults
    from moto.servicequotas import models as sq_models

    backend_class = sq_models.ServiceQuotasBackend
    original_get = backend_class.get_service_quota

    def get_service_quota(self: Any, service_code: str, quota_code: str) -> dict[str, Any]:
        if service_code != "ec2" or quota_code not in EC2_SPOT_QUOTAS:
            return original_get(self, service_code, quota_code)
        value = moto_faults.BEHAVIOUR.service_quota(service_code, quota_code)
        return {
            "ServiceCode": "ec2",
            "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
            "QuotaArn": (
                f"arn:aws:servicequotas:{self.region_name}:{self.account_id}:ec2/{quota_code}"
            ),
            "QuotaCode": quota_code,
            "QuotaName": EC2_SPOT_QUOTAS[quota_code],
            "Value": LOCAL_SPOT_VCPUS if value is None else value,
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": False,
        }

    backend_class.get_service_quota = get_service_quota  # type: ignore[method-assign]


# Fix 11: the Spot service-linked roles' names -------------------------------------------------


def _add_service_linked_role_names() -> None:
    from moto.iam import models as iam_models
    from moto.iam.exceptions import InvalidInput

    iam_models.SERVICE_NAME_CONVERSION.update({"spot": "EC2Spot", "spotfleet": "EC2SpotFleet"})
    backend_class = iam_models.IAMBackend
    original_create = backend_class.create_service_linked_role

    def create_service_linked_role(
        self: Any, service_name: str, description: str, suffix: str
    ) -> Any:
        path = f"/aws-service-role/{service_name}/"
        if not suffix:
            for role in self.roles.values():
                if role.path == path:
                    raise InvalidInput(
                        f"Service role name {role.name} has been taken in this account, "
                        "please try a different suffix."
                    )
        return original_create(self, service_name, description, suffix)

    backend_class.create_service_linked_role = create_service_linked_role  # type: ignore[method-assign]


# --- fix 12: termination takes time, and holds the VPC's resources meanwhile -------------------


def settings_route(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware: GET SETTINGS_PATH answers SETTINGS as JSON, POST merges a JSON object of
    known keys and numbers into them (400 otherwise); every other request goes to `app`."""

    def route(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") != SETTINGS_PATH:
            return app(environ, start_response)
        status, body = "200 OK", {}
        if environ.get("REQUEST_METHOD") == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                given = json.loads(environ["wsgi.input"].read(length) or b"{}")
                if not isinstance(given, dict) or set(given) - set(SETTINGS):
                    raise ValueError(f"known settings: {', '.join(sorted(SETTINGS))}")
                SETTINGS.update({key: float(value) for key, value in given.items()})
            except (ValueError, TypeError) as error:
                status, body = "400 Bad Request", {"error": str(error)}
        payload = json.dumps(body or SETTINGS).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        )
        return [payload]

    return route


def _finish_termination(instance: Any) -> None:
    if instance._state.name == "shutting-down":
        instance._state.name = "terminated"
        instance._state.code = 48


def _add_ec2_termination_dependencies() -> None:
    from moto.ec2.exceptions import DependencyViolationError
    from moto.ec2.models.instances import Instance
    from moto.ec2.models.internet_gateways import InternetGatewayBackend
    from moto.ec2.models.security_groups import SecurityGroupBackend
    from moto.ec2.models.subnets import SubnetBackend

    original_terminate = Instance.terminate

    def terminate(self: Any) -> Any:
        if self._state.name == "shutting-down":  # asked again: it is on its way already
            return type(self._state)(self._state.name, self._state.code)
        previous = original_terminate(self)
        seconds = SETTINGS["shutting_down_seconds"]
        if seconds > 0:
            self._state.name, self._state.code = "shutting-down", 32
            timer = threading.Timer(seconds, _finish_termination, args=(self,))
            timer.daemon = True
            timer.start()
        return previous

    Instance.terminate = terminate  # type: ignore[method-assign]

    def holding(backend: Any, vpc_id: str | None, subnet_id: str | None = None) -> list[str]:
        """The instances of the VPC (or the subnet) that are not terminated yet."""
        return [
            instance.id
            for instance in backend.all_instances()
            if instance._state.name != "terminated"
            and (
                instance.subnet_id == subnet_id
                if subnet_id
                else vpc_id is not None and instance.vpc_id == vpc_id
            )
        ]

    original_delete_group = SecurityGroupBackend._delete_security_group

    def delete_security_group(self: Any, vpc_id: str | None, group_id: str) -> Any:
        group = self.get_security_group_from_id(group_id)
        if holding(self, getattr(group, "vpc_id", None) or vpc_id):
            raise DependencyViolationError(f"resource {group_id} has a dependent object")
        return original_delete_group(self, vpc_id, group_id)

    SecurityGroupBackend._delete_security_group = delete_security_group  # type: ignore[method-assign]

    original_detach = InternetGatewayBackend.detach_internet_gateway

    def detach_internet_gateway(self: Any, internet_gateway_id: str, vpc_id: str) -> None:
        if holding(self, vpc_id):
            raise DependencyViolationError(
                f"Network {vpc_id} has some mapped public address(es). Please unmap those "
                "public address(es) before detaching the gateway."
            )
        return original_detach(self, internet_gateway_id, vpc_id)

    InternetGatewayBackend.detach_internet_gateway = detach_internet_gateway  # type: ignore[method-assign]

    original_delete_subnet = SubnetBackend.delete_subnet

    def delete_subnet(self: Any, subnet_id: str) -> Any:
        if holding(self, None, subnet_id):
            raise DependencyViolationError(
                f"The subnet '{subnet_id}' has dependencies and cannot be deleted."
            )
        return original_delete_subnet(self, subnet_id)

    SubnetBackend.delete_subnet = delete_subnet  # type: ignore[method-assign]


# --- fix 15: EFS access points and the file-system tag calls ------------------------------------


def _add_efs_fixes() -> None:
    from moto.efs import urls as efs_urls
    from moto.efs.exceptions import AccessPointNotFound, EFSError, FileSystemNotFound
    from moto.efs.models import EFSBackend
    from moto.efs.responses import EFSResponse

    class AccessPointAlreadyExists(EFSError):
        code = 409

        def __init__(self, access_point_id: str) -> None:
            super().__init__(
                "AccessPointAlreadyExists",
                f"Access point {access_point_id} already exists with this client token.",
            )
            self.description = json.dumps(
                {
                    "__type": "AccessPointAlreadyExists",
                    "ErrorCode": "AccessPointAlreadyExists",
                    "Message": self.message,
                    "AccessPointId": access_point_id,
                }
            )

    original_create = EFSBackend.create_access_point
    original_delete = EFSBackend.delete_access_point

    def create_access_point(self: Any, client_token: str, *args: Any, **kwargs: Any) -> Any:
        file_system_id = kwargs.get("file_system_id")
        if file_system_id not in self.file_systems_by_id:
            raise FileSystemNotFound(str(file_system_id))
        for access_point in self.access_points.values():
            if client_token and access_point.client_token == client_token:
                raise AccessPointAlreadyExists(access_point.access_point_id)
        return original_create(self, client_token, *args, **kwargs)

    def delete_access_point(self: Any, access_point_id: str) -> None:
        if access_point_id not in self.access_points:
            raise AccessPointNotFound(access_point_id)
        original_delete(self, access_point_id)

    def file_system_id(response: Any) -> str:
        # /2015-02-01/tags/fs-1/, /2015-02-01/create-tags/fs-1, /2015-02-01/delete-tags/fs-1
        found = response._get_param("FileSystemId") or response.path.rstrip("/").rsplit("/", 1)[-1]
        if found not in response.efs_backend.file_systems_by_id:
            raise FileSystemNotFound(found)
        return found

    def describe_tags(self: Any) -> tuple[str, dict[str, str]]:
        tags = self.efs_backend.list_tags_for_resource(file_system_id(self))
        return json.dumps({"Tags": tags}), {"Content-Type": "application/json"}

    def create_tags(self: Any) -> tuple[str, dict[str, str]]:
        resource = file_system_id(self)
        tags = self._get_param("Tags") or []
        self.efs_backend.tagging_service.tag_resource(resource, tags)
        return "", {"Content-Type": "application/json", "status": "204"}

    def delete_tags(self: Any) -> tuple[str, dict[str, str]]:
        resource = file_system_id(self)
        keys = self._get_param("TagKeys") or []
        self.efs_backend.tagging_service.untag_resource_using_names(resource, keys)
        return "", {"Content-Type": "application/json", "status": "204"}

    EFSBackend.create_access_point = create_access_point  # type: ignore[method-assign]
    EFSBackend.delete_access_point = delete_access_point  # type: ignore[method-assign]
    EFSResponse.describe_tags = describe_tags  # type: ignore[attr-defined]
    EFSResponse.create_tags = create_tags  # type: ignore[attr-defined]
    EFSResponse.delete_tags = delete_tags  # type: ignore[attr-defined]
    dispatch = efs_urls.response.dispatch
    for path in (
        "/2015-02-01/tags/<file_system_id>/",
        "/2015-02-01/create-tags/<file_system_id>",
        "/2015-02-01/delete-tags/<file_system_id>",
    ):
        efs_urls.url_paths.setdefault(path, dispatch)


# fix 17: EventBridge rules that start ECS tasks (the uploads' rule), and S3's EventBridge setting
EVENTS_PRINCIPAL = "events.amazonaws.com"
LOG = logging.getLogger("moto_aws_compat")
PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.-]+)>")


def transform_input(transformer: dict[str, Any], event: dict[str, Any]) -> str:
    """A target's InputTransformer applied to an event as EventBridge applies it: each
    InputPathsMap path (dot notation, the only JSON path EventBridge evaluates) read from the
    event, and put in InputTemplate where <name> stands; a string inside a JSON string of the
    template is escaped (a key with a quote stays valid JSON), anything else goes in as JSON; a
    path the event does not have gives nothing (an empty string in quotes, null outside)."""
    values: dict[str, Any] = {}
    for name, path in (transformer.get("InputPathsMap") or {}).items():
        value: Any = event
        for part in path.removeprefix("$").strip(".").split(".") if path != "$" else []:
            value = value.get(part) if isinstance(value, dict) else None
        values[name] = value
    values.setdefault("aws.events.event.json", event)
    template = transformer.get("InputTemplate") or ""
    out: list[str] = []
    in_string = escaped = False
    index = 0
    while index < len(template):
        match = PLACEHOLDER.match(template, index)
        if match and match.group(1) in values:
            value = values[match.group(1)]
            if in_string:
                text = value if isinstance(value, str) else json.dumps(value)
                out.append(json.dumps("" if value is None else text)[1:-1])
            else:
                out.append(json.dumps(value))
            index = match.end()
            continue
        char = template[index]
        if in_string and not escaped and char == '"':
            in_string = False
        elif not in_string and char == '"':
            in_string = True
        escaped = in_string and char == "\\" and not escaped
        out.append(char)
        index += 1
    return "".join(out)


def target_input(target: dict[str, Any], event: dict[str, Any]) -> str:
    """What EventBridge sends a target for an event: Input, InputPath's part, the transformed
    event, or the whole event (JSON)."""
    if target.get("Input") is not None:
        return target["Input"]
    if target.get("InputTransformer"):
        return transform_input(target["InputTransformer"], event)
    if target.get("InputPath"):
        return transform_input(
            {"InputPathsMap": {"part": target["InputPath"]}, "InputTemplate": "<part>"}, event
        )
    return json.dumps(event)


def role_may_run(role_arn: str, task_definition: Any, cluster_arn: str) -> str | None:
    """Why the rule's role may not start the task definition on the cluster (None: it may), as
    AWS checks it: the role exists and trusts events.amazonaws.com, and its policies allow
    ecs:RunTask on the task definition (ecs:cluster condition) and iam:PassRole for the task's
    roles (iam:PassedToService ecs-tasks.amazonaws.com)."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
    iam = iam_backends[account][get_partition(cluster_arn.split(":")[3])] if account else None
    try:
        role = iam.get_role_by_arn(role_arn) if iam else None
    except Exception:  # noqa: BLE001 - moto's NotFound
        role = None
    if role is None:
        return f"the role {role_arn!r} does not exist"
    trust = json.loads(role.assume_role_policy_document)
    statements = (
        trust["Statement"] if isinstance(trust["Statement"], list) else [trust["Statement"]]
    )
    if not any(
        s.get("Effect") == "Allow"
        and EVENTS_PRINCIPAL in _as_list((s.get("Principal") or {}).get("Service"))
        for s in statements
    ):
        return f"the role {role.name} does not trust {EVENTS_PRINCIPAL}"
    policies = [
        doc
        for _, doc in (iam.get_role_policy(role.name, n) for n in iam.list_role_policies(role.name))
    ]
    policies += iam.list_attached_role_policies(role.name)[0]

    def allowed(action: str, resource: str, context: dict[str, str]) -> bool:
        results = [
            IAMPolicy(p).is_action_permitted(action, resource, None, context) for p in policies
        ]
        return PermissionResult.PERMITTED in results and PermissionResult.DENIED not in results

    if not allowed("ecs:RunTask", task_definition.arn, {"ecs:cluster": cluster_arn}):
        return f"the role {role.name} may not run {task_definition.arn} on {cluster_arn}"
    roles = (
        getattr(task_definition, "task_role_arn", None),
        getattr(task_definition, "execution_role_arn", None),
    )
    for passed in filter(None, roles):
        if not allowed("iam:PassRole", passed, {"iam:PassedToService": "ecs-tasks.amazonaws.com"}):
            return f"the role {role.name} may not pass {passed} to ECS"
    return None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _run_ecs_target(rule: Any, target: dict[str, Any], event: dict[str, Any]) -> str | None:
    """Start the tasks an ECS target of a rule asks for; why none started, or None."""
    from moto.ecs.models import ecs_backends

    cluster_arn = target["Arn"]
    account, region = cluster_arn.split(":")[4], cluster_arn.split(":")[3]
    backend = ecs_backends[account][region]
    parameters = target.get("EcsParameters") or {}
    try:
        task_definition = backend.describe_task_definition(parameters.get("TaskDefinitionArn", ""))
    except Exception as error:  # noqa: BLE001 - moto's ClientException
        return f"task definition: {error}"
    why = role_may_run(target.get("RoleArn") or "", task_definition, cluster_arn)
    if why:
        return why
    try:
        overrides = json.loads(target_input(target, event))
    except ValueError:
        return "the target's input is not JSON (an ECS target's input is the task's overrides)"
    try:
        tasks = backend.run_task(
            cluster_arn.rpartition("/")[2],
            task_definition.arn,
            int(parameters.get("TaskCount") or 1),
            overrides if isinstance(overrides, dict) else None,
            f"events-rule/{rule.name}"[:128],
            None,
            parameters.get("LaunchType") or "EC2",
            parameters.get("NetworkConfiguration"),
            parameters.get("Group"),
        )
    except Exception as error:  # noqa: BLE001 - no container instance, a refused request
        return f"RunTask: {error}"
    return None if tasks else "RunTask placed no task (no container instance had room)"


def _count_invocation(rule: Any, failed: bool) -> None:
    """Invocations and FailedInvocations of the rule (CloudWatch AWS/Events, as AWS counts)."""
    from moto.cloudwatch.models import cloudwatch_backends

    names = ["Invocations"] + (["FailedInvocations"] if failed else [])
    cloudwatch_backends[rule.account_id][rule.region_name].put_metric_data(
        "AWS/Events",
        [
            {
                "MetricName": name,
                "Value": 1.0,
                "Unit": "Count",
                "Dimensions": [{"Name": "RuleName", "Value": rule.name}],
            }
            for name in names
        ],
    )


def _add_eventbridge_ecs_targets() -> None:
    import copy

    from moto.core.responses import ActionResult
    from moto.events import models as events_models
    from moto.s3 import responses as s3_responses

    original_send = events_models.Rule.send_to_targets

    def send_to_targets(self: Any, event: dict[str, Any], transform_input: bool = True) -> None:
        if self.state != "ENABLED" or not self.event_pattern.matches_event(event):
            return
        ecs_targets = [t for t in self.targets if ":ecs:" in t["Arn"] and ":cluster/" in t["Arn"]]
        others = [t for t in self.targets if t not in ecs_targets]
        for target in ecs_targets:
            why = _run_ecs_target(self, target, event)
            if why:
                LOG.warning("rule %s, target %s: no task started: %s", self.name, target["Id"], why)
            _count_invocation(self, failed=bool(why))
        if others:
            rest = copy.copy(self)
            rest.targets = others
            # S3's events are transformed on AWS like any other (moto passes transform_input=False)
            original_send(rest, event, transform_input=True)

    events_models.Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]

    original_get = s3_responses.S3Response.get_bucket_notification

    def get_bucket_notification(self: Any) -> Any:
        config = self.backend.get_bucket_notification_configuration(self.bucket_name)
        if not config or config.event_bridge is None:
            return original_get(self)
        # As moto's, with EventBridgeConfiguration (an empty element) when it is set.
        result = {
            "TopicConfigurations": [_notification(t, "TopicArn") for t in config.topic],
            "QueueConfigurations": [_notification(q, "QueueArn") for q in config.queue],
            "LambdaFunctionConfigurations": [
                _notification(f, "LambdaFunctionArn") for f in config.cloud_function
            ],
            "EventBridgeConfiguration": {},
        }
        self.data["Action"] = "GetBucketNotificationConfiguration"
        return self.serialized(ActionResult(result))

    s3_responses.S3Response.get_bucket_notification = get_bucket_notification  # type: ignore[method-assign]


def _notification(item: Any, arn_key: str) -> dict[str, Any]:
    config: dict[str, Any] = {"Id": item.id, arn_key: item.arn, "Events": item.events}
    if item.filters:
        config["Filter"] = {"Key": {"FilterRules": item.filters["S3Key"]["FilterRule"]}}
    return config
