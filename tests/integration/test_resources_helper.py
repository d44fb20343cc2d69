"""tests/resources.py against an in-process moto server: one tagged VPC counts 1, all else 0."""

from __future__ import annotations

import boto3

from tests.resources import RESOURCE_TYPES, count_resources

REGION = "us-east-1"
NAME = "ecs-dl-helper"


def test_absent_deployment_counts_zero(moto_endpoint: str) -> None:
    counts = count_resources(moto_endpoint, REGION, "nothing-here", "testing", "testing")
    assert set(counts) == set(RESOURCE_TYPES)
    assert all(value == 0 for value in counts.values()), counts


def test_one_tagged_vpc_counts_one(moto_endpoint: str) -> None:
    ec2 = boto3.client(
        "ec2",
        endpoint_url=moto_endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    ec2.create_vpc(
        CidrBlock="10.42.0.0/16",
        TagSpecifications=[
            {
                "ResourceType": "vpc",
                "Tags": [
                    {"Key": "Deployment", "Value": NAME},
                    {"Key": "Name", "Value": f"{NAME}-vpc"},
                ],
            }
        ],
    )
    # Another deployment's VPC (a name that shares our prefix) must not be counted.
    ec2.create_vpc(
        CidrBlock="10.43.0.0/16",
        TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [{"Key": "Deployment", "Value": f"{NAME}-other"}]}
        ],
    )

    counts = count_resources(moto_endpoint, REGION, NAME, "testing", "testing")
    print(counts)
    assert counts["vpcs"] == 1
    others = {key: value for key, value in counts.items() if key != "vpcs"}
    assert all(value == 0 for value in others.values()), others
