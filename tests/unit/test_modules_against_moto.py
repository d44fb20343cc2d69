"""The project's modules end to end against a moto server on a free loopback port.

Each module runs as Ansible runs it after unpacking (run_module, aws and network are fixtures of
tests/unit/conftest.py).
"""

from __future__ import annotations

import time


def test_spot_fleet_and_container_instances(run_module, aws, network) -> None:
    fleet_args = {
        "name": "ecs-dl-fleet",
        "target_capacity": 2,
        "iam_fleet_role": "arn:aws:iam::123456789012:role/ecs-dl-spot-fleet",
        "launch_template_id": network["launch_template_id"],
        "instance_types": ["m5.large", "c5.large"],
        "subnet_ids": network["subnets"],
        "tags": {"Deployment": "ecs-dl", "ManagedBy": "ecs-deep-learning"},
        "wait_timeout": 60,
    }
    first = run_module("ec2_spot_fleet", **fleet_args)
    assert first["changed"] is True and first["state"] == "active"
    assert first["fulfilled_capacity"] >= 2 and len(first["instance_ids"]) == 2
    assert {i["state"] for i in first["instances"]} == {"running"}
    second = run_module("ec2_spot_fleet", **fleet_args)
    assert second["changed"] is False
    assert second["spot_fleet_request_id"] == first["spot_fleet_request_id"]
    assert second["instance_ids"] == first["instance_ids"]

    aws("ecs").create_cluster(clusterName="ecs-dl")
    ecs_args = {"cluster": "ecs-dl", "instance_ids": first["instance_ids"]}
    registered = run_module("ecs_container_instance", **ecs_args)
    assert registered["changed"] is True
    assert run_module("ecs_container_instance", **ecs_args)["changed"] is False
    listed = run_module("ecs_container_instance_info", cluster="ecs-dl")["container_instances"]
    assert sorted(ci["ec2_instance_id"] for ci in listed) == first["instance_ids"]
    assert {ci["status"] for ci in listed} == {"ACTIVE"}
    assert run_module("ecs_container_instance_info", cluster="missing")["container_instances"] == []

    deregistered = run_module("ecs_container_instance", cluster="ecs-dl", state="absent")
    assert deregistered["changed"] is True
    assert (
        run_module("ecs_container_instance", cluster="ecs-dl", state="absent")["changed"] is False
    )
    assert (
        run_module("ecs_container_instance", cluster="missing", state="absent")["changed"] is False
    )

    cancelled = run_module("ec2_spot_fleet", name="ecs-dl-fleet", state="absent", wait_timeout=60)
    assert cancelled["changed"] is True
    assert cancelled["spot_fleet_request_ids"] == [first["spot_fleet_request_id"]]
    reservations = aws("ec2").describe_instances(InstanceIds=first["instance_ids"])["Reservations"]
    assert {i["State"]["Name"] for r in reservations for i in r["Instances"]} == {"terminated"}
    assert run_module("ec2_spot_fleet", name="ecs-dl-fleet", state="absent")["changed"] is False


def test_ecs_task_info(run_module, aws) -> None:
    ec2, ecs = aws("ec2"), aws("ecs")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
    ecs.create_cluster(clusterName="tasks")
    run_module("ecs_container_instance", cluster="tasks", instance_ids=[instance["InstanceId"]])
    definition = ecs.register_task_definition(
        family="tasks-predict",
        containerDefinitions=[{"name": "predict", "image": "x:1", "memoryReservation": 128}],
    )["taskDefinition"]["taskDefinitionArn"]
    task = ecs.run_task(cluster="tasks", taskDefinition=definition, startedBy="test")["tasks"][0]

    by_arn = run_module("ecs_task_info", cluster="tasks", task_arns=[task["taskArn"]])
    assert by_arn["changed"] is False
    [found] = by_arn["tasks"]
    assert found["arn"] == task["taskArn"]
    assert found["id"] == task["taskArn"].rsplit("/", 1)[-1]
    assert found["task_definition_arn"] == definition
    assert found["ec2_instance_id"] == instance["InstanceId"]
    assert found["started_by"] == "test"
    assert [c["name"] for c in found["containers"]] == ["predict"]

    by_family = run_module("ecs_task_info", cluster="tasks", family="tasks-predict")["tasks"]
    assert [t["arn"] for t in by_family] == [task["taskArn"]]
    assert run_module("ecs_task_info", cluster="tasks", family="other")["tasks"] == []
    assert run_module("ecs_task_info", cluster="missing")["tasks"] == []


def test_cloudwatchlogs_log_events_info(run_module, aws) -> None:
    logs = aws("logs")
    # Recent timestamps: CloudWatch (and moto) drop events older than 14 days.
    start = int(time.time() * 1000) - 1000
    logs.create_log_group(logGroupName="/ecs/events-test")
    logs.create_log_stream(logGroupName="/ecs/events-test", logStreamName="p/c/1")
    logs.put_log_events(
        logGroupName="/ecs/events-test",
        logStreamName="p/c/1",
        logEvents=[{"timestamp": start + n, "message": f"line {n}"} for n in range(60)],
    )
    result = run_module(
        "cloudwatchlogs_log_events_info",
        log_group_name="/ecs/events-test",
        log_stream_name="p/c/1",
        limit=5,
    )
    assert result["found"] is True and result["changed"] is False
    assert result["messages"] == [f"line {n}" for n in range(55, 60)]
    missing = run_module(
        "cloudwatchlogs_log_events_info", log_group_name="/ecs/events-test", log_stream_name="nope"
    )
    assert (missing["found"], missing["events"]) == (False, [])


def test_ecs_taskdefinition_revisions_info(run_module, aws) -> None:
    ecs = aws("ecs")
    spec = [{"name": "c", "image": "x:1", "memoryReservation": 128}]
    arns = [
        ecs.register_task_definition(family=family, containerDefinitions=spec)["taskDefinition"][
            "taskDefinitionArn"
        ]
        for family in ("rev-train", "rev-train", "rev-train", "rev-training", "rev-predict")
    ]
    ecs.deregister_task_definition(taskDefinition=arns[0])
    result = run_module("ecs_taskdefinition_revisions_info", families=["rev-train", "rev-predict"])
    assert result["changed"] is False
    # Exactly the family (not rev-training, which shares the prefix), ACTIVE only, oldest first.
    assert result["families"] == {"rev-train": arns[1:3], "rev-predict": [arns[4]]}
    assert result["arns"] == [*arns[1:3], arns[4]]
    inactive = run_module(
        "ecs_taskdefinition_revisions_info", families=["rev-train"], status="INACTIVE"
    )
    assert inactive["arns"] == [arns[0]]
    assert run_module("ecs_taskdefinition_revisions_info", families=["none"])["arns"] == []


def cluster_with_definition(
    run_module,
    aws,
    cluster: str,
    family: str,
    container: str,
    *,
    instances: int = 1,
    memory: int = 64,
) -> str:
    """A cluster of `instances` EC2 instances registered by ecs_container_instance, and a
    one-container task definition; returns the definition's ARN."""
    ec2, ecs = aws("ec2"), aws("ecs")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ids = [
        i["InstanceId"]
        for i in ec2.run_instances(ImageId=image, MinCount=instances, MaxCount=instances)[
            "Instances"
        ]
    ]
    ecs.create_cluster(clusterName=cluster)
    run_module("ecs_container_instance", cluster=cluster, instance_ids=ids)
    return ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": container, "image": "x:1", "memoryReservation": memory}],
    )["taskDefinition"]["taskDefinitionArn"]


def test_ecs_task_start_starts_one_task_on_each_instance_named(run_module, aws) -> None:
    ecs = aws("ecs")
    cluster_with_definition(
        run_module, aws, "start", "start-dist", "train", instances=2, memory=128
    )
    instances = run_module("ecs_container_instance_info", cluster="start")["container_instances"]
    overrides = {
        "containerOverrides": [
            {"name": "train", "environment": [{"name": "DMLC_ROLE", "value": "worker"}]}
        ]
    }
    args = {"cluster": "start", "task_definition": "start-dist", "started_by": "dist-1"}
    first = run_module(
        "ecs_task_start", container_instances=[instances[1]["arn"]], overrides=overrides, **args
    )
    # a second start of the same definition starts another task (no "existing task" reuse)
    second = run_module("ecs_task_start", container_instances=[instances[1]["arn"]], **args)
    assert first["changed"] is True and second["changed"] is True
    assert first["failures"] == [] and len(first["tasks"]) == 1
    assert first["tasks"][0]["container_instance_arn"] == instances[1]["arn"]
    assert first["tasks"][0]["arn"] != second["tasks"][0]["arn"]
    described = ecs.describe_tasks(cluster="start", tasks=[first["tasks"][0]["arn"]])["tasks"][0]
    assert described["startedBy"] == "dist-1"
    assert described["overrides"]["containerOverrides"][0]["environment"] == [
        {"name": "DMLC_ROLE", "value": "worker"}
    ]

    refused = run_module(
        "ecs_task_start",
        expect_failure=True,
        container_instances=[instances[0]["arn"]],
        **{**args, "started_by": "not allowed!"},
    )
    assert "started_by 'not allowed!': at most 36 letters" in refused["msg"]
    none = run_module("ecs_task_start", expect_failure=True, container_instances=[], **args)
    assert "give 1 to 10 container instances, got 0" in none["msg"]
    missing = run_module(
        "ecs_task_start",
        expect_failure=True,
        container_instances=[instances[0]["arn"]],
        **{**args, "cluster": "no-such-cluster"},
    )
    assert "Could not start start-dist on cluster no-such-cluster" in missing["msg"]


def test_ecs_task_start_without_instances_lets_ecs_place_the_tasks(run_module, aws) -> None:
    """RunTask: a family:revision is fine (community.aws.ecs_task would list it as a family)."""
    ecs = aws("ecs")
    arn = cluster_with_definition(run_module, aws, "place", "place-predict", "predict")
    args = {
        "cluster": "place",
        "task_definition": arn.rsplit("/", 1)[-1],
        "started_by": "ecs-deep-learning/predict",
    }
    first = run_module("ecs_task_start", **args)
    second = run_module(
        "ecs_task_start",
        count=2,
        overrides={"containerOverrides": [{"name": "predict", "command": ["predict", "x.jpg"]}]},
        **args,
    )
    assert first["changed"] is True and len(first["tasks"]) == 1 and first["failures"] == []
    assert len(second["tasks"]) == 2
    arns = {first["tasks"][0]["arn"], *(task["arn"] for task in second["tasks"])}
    assert len(arns) == 3  # always new tasks, none "reused"
    described = ecs.describe_tasks(cluster="place", tasks=sorted(arns))["tasks"]
    assert {task["startedBy"] for task in described} == {"ecs-deep-learning/predict"}
    assert {task["launchType"] for task in described} == {"EC2"}
    commands = [
        o.get("command")
        for task in described
        for o in task.get("overrides", {}).get("containerOverrides", [])
    ]
    assert commands.count(["predict", "x.jpg"]) == 2
    dotted = run_module(
        "ecs_task_start", expect_failure=True, **{**args, "started_by": "predict.yml"}
    )
    assert "started_by 'predict.yml': at most 128 letters" in dotted["msg"]
    too_many = run_module("ecs_task_start", expect_failure=True, count=11, **args)
    assert "count: ECS places 1 to 10 tasks at once, got 11" in too_many["msg"]


def test_ecs_task_stop_stops_each_task_once(run_module, aws) -> None:
    ecs = aws("ecs")
    cluster_with_definition(run_module, aws, "stop", "stop-train", "train")
    tasks = [
        task["taskArn"]
        for task in ecs.run_task(cluster="stop", taskDefinition="stop-train", count=2)["tasks"]
    ]
    gone = tasks[0].rsplit("/", 1)[0] + "/00000000000000000000000000000000"

    check = run_module("ecs_task_stop", _ansible_check_mode=True, cluster="stop", tasks=tasks)
    assert check["changed"] is True and check["stopped"] == tasks
    assert {
        t["desiredStatus"] for t in ecs.describe_tasks(cluster="stop", tasks=tasks)["tasks"]
    } == {"RUNNING"}

    stopped = run_module(
        "ecs_task_stop", cluster="stop", tasks=[tasks[0], gone], reason="The job failed"
    )
    assert (stopped["changed"], stopped["stopped"], stopped["missing"]) == (
        True,
        [tasks[0]],
        [gone],
    )
    first = ecs.describe_tasks(cluster="stop", tasks=[tasks[0]])["tasks"][0]
    assert first["desiredStatus"] == "STOPPED" and first["stoppedReason"] == "The job failed"

    again = run_module("ecs_task_stop", cluster="stop", tasks=tasks)
    assert again["stopped"] == [tasks[1]] and again["already_stopping"] == [tasks[0]]
    assert run_module("ecs_task_stop", cluster="stop", tasks=tasks)["changed"] is False
    assert run_module("ecs_task_stop", cluster="no-such-cluster", tasks=tasks)["missing"] == tasks


def test_spot_fleet_paused_to_zero_and_resumed(run_module, aws, network) -> None:
    """only_capacity: the fleet that exists scaled to 0 (its instances terminated, the request
    kept) and back, with nothing but its name and the capacity; no fleet is one clear error."""
    fleet_args = {
        "name": "ecs-dl-paused",
        "target_capacity": 1,
        "iam_fleet_role": "arn:aws:iam::123456789012:role/ecs-dl-spot-fleet",
        "launch_template_id": network["launch_template_id"],
        "instance_types": ["m5.large"],
        "subnet_ids": network["subnets"],
        "wait_timeout": 60,
    }
    first = run_module("ec2_spot_fleet", **fleet_args)
    (instance,) = first["instance_ids"]

    paused = run_module(
        "ec2_spot_fleet", name="ecs-dl-paused", target_capacity=0, only_capacity=True,
        wait_timeout=60,
    )  # fmt: skip
    assert paused["changed"] is True
    assert paused["spot_fleet_request_id"] == first["spot_fleet_request_id"]
    assert paused["state"] == "active" and paused["instance_ids"] == []
    state = aws("ec2").describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"]
    assert state[0]["State"]["Name"] == "terminated"
    again = run_module(
        "ec2_spot_fleet", name="ecs-dl-paused", target_capacity=0, only_capacity=True
    )
    assert again["changed"] is False

    resumed = run_module(
        "ec2_spot_fleet", name="ecs-dl-paused", target_capacity=1, only_capacity=True,
        wait_timeout=60,
    )  # fmt: skip
    assert resumed["changed"] is True and len(resumed["instance_ids"]) == 1
    assert resumed["instance_ids"] != [instance]
    # site.yml's full call then finds it as it wants it
    assert run_module("ec2_spot_fleet", **fleet_args)["changed"] is False

    missing = run_module(
        "ec2_spot_fleet", expect_failure=True, name="ecs-dl-none", target_capacity=0,
        only_capacity=True,
    )  # fmt: skip
    assert (
        missing["msg"]
        == "No Spot Fleet request named ecs-dl-none to scale to 0: deploy it first (site.yml)."
    )
    run_module("ec2_spot_fleet", name="ecs-dl-paused", state="absent", wait_timeout=60)
