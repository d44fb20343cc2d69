# Copyright: contributors to ecs-deep-learning
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure validation of the deployment's inputs (no AWS calls, no credentials).

Every ``validate_*`` function returns a list of one-line error strings, empty when
the input is fine. Each message names the variable the user sets, so that
``'; '.join(errors)`` is a message a person can act on. ``validate_inputs`` runs
them all and returns the errors and the warnings separately.

Only ``validate_model_source`` looks beyond its arguments: at the model's files on this
machine (the control machine, where the models role reads them).

Used by the module ecs_dl_preflight (``checks: inputs``) and by the unit tests.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

# deployment_name ends up in every resource name (docs/CONTRACTS.md): the longest,
# `<name>-models-<12-digit account>-<region>`, must fit S3 bucket names (63; regions have
# up to 14 characters) and `<name>-task-execution` IAM role names (64): hence 24.
DEPLOYMENT_NAME_MIN = 3
DEPLOYMENT_NAME_MAX = 24
# AWS allows VPC and subnet IPv4 blocks from /16 (largest) to /28 (smallest).
CIDR_PREFIX_MIN = 16
CIDR_PREFIX_MAX = 28
SUBNET_COUNT = 2
TARGET_CAPACITY_MAX = 50
PORT_MIN = 1
PORT_MAX = 65535
# The instance's own sshd listens on 22; a container port published there collides.
RESERVED_HOST_PORTS = {22: "the instance's own SSH"}
PARTITIONS = ("aws", "aws-cn", "aws-us-gov")

# An MXNet checkpoint is PREFIX-symbol.json and PREFIX-0000.params (the models role uploads both).
MODEL_FILE_SUFFIXES = ("-symbol.json", "-0000.params")
# A TFLite model is one file (labels inside it); the image converts it (`ecsdl import-tflite`).
TFLITE_SUFFIX = ".tflite"
_SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_URL_PREFIX_RE = re.compile(r"^https?://[^\s/]+/\S+$")
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$")
# family (`m5`, `c6gn`, `u-6tb1`, `m7i-flex`) . size (`large`, `16xlarge`, `metal`, `metal-48xl`)
_INSTANCE_TYPE_RE = re.compile(
    r"^[a-z][a-z0-9]*(-[a-z0-9]+)*\.(nano|micro|small|medium|large|[0-9]*xlarge|metal(-[0-9]+xl)?)$"
)


class ValidationResult(NamedTuple):
    """Errors (the run must stop) and warnings (the run goes on, the user is told)."""

    errors: list[str]
    warnings: list[str]


def _is_int(value: Any) -> bool:
    """True for ints and digit strings (extra vars arrive as strings), never for bools."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip() or "x") is not None


def _check_whole_number(
    var: str, value: Any, low: int, high: int, kind: str, unit: str = ""
) -> list[str]:
    """``var`` must be ``kind`` (a whole number) from ``low`` to ``high``."""
    if not _is_int(value):
        return [f"{var} must be {kind} from {low} to {high}, got {value!r}"]
    number = int(value)
    if not low <= number <= high:
        return [f"{var} is {number}; it must be from {low} to {high}{unit}"]
    return []


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def validate_deployment_name(name: Any) -> list[str]:
    """Check that ``name`` is usable in every AWS resource name the project derives from it."""
    var = "deployment_name"
    if _empty(name):
        return [f"{var} is required (e.g. 'ecs-dl')"]
    if not isinstance(name, str):
        return [f"{var} must be a string, got {type(name).__name__}"]
    errors: list[str] = []
    if not re.fullmatch(r"[a-z0-9-]+", name):
        errors.append(f"{var} '{name}' may contain only lowercase letters, digits and hyphens")
    if not re.match(r"[a-z]", name):
        errors.append(f"{var} '{name}' must start with a lowercase letter")
    if not re.search(r"[a-z0-9]$", name):
        errors.append(f"{var} '{name}' must end with a lowercase letter or digit")
    if "--" in name:
        errors.append(f"{var} '{name}' must not contain '--'")
    if not DEPLOYMENT_NAME_MIN <= len(name) <= DEPLOYMENT_NAME_MAX:
        errors.append(
            f"{var} '{name}' is {len(name)} characters long; it must be "
            f"{DEPLOYMENT_NAME_MIN} to {DEPLOYMENT_NAME_MAX} so that "
            "'<name>-models-<account id>-<region>' fits S3's 63-character bucket names"
        )
    return errors


def known_regions(partitions: Iterable[str] = PARTITIONS) -> list[str] | None:
    """Regions botocore's bundled endpoint data knows (offline), or None without botocore."""
    try:
        import botocore.session  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    session = botocore.session.get_session()
    regions: set = set()
    for partition in partitions:
        try:
            regions.update(session.get_available_regions("ec2", partition_name=partition))
        except Exception:  # noqa: BLE001 - an unknown partition in old botocore data
            continue
    return sorted(regions) or None


def validate_region(region: Any, regions: Sequence[str] | None = None) -> list[str]:
    """Check the region's format and, when ``regions`` is given, that it is one of them."""
    var = "aws_region"
    if _empty(region):
        return [f"{var} is required (e.g. 'us-east-1')"]
    if not isinstance(region, str) or not _REGION_RE.match(region):
        return [f"{var} '{region}' is not a region name like 'us-east-1' or 'eu-west-2'"]
    if regions is not None and region not in regions:
        close = difflib.get_close_matches(region, regions, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return [f"{var} '{region}' is not a region this botocore knows{hint}"]
    return []


def _parse_network(var: str, value: Any) -> tuple[ipaddress.IPv4Network | None, list[str]]:
    """Parse an IPv4 network in CIDR notation with a one-line error on failure."""
    if _empty(value):
        return None, [f"{var} is required (CIDR notation, e.g. '10.0.0.0/16')"]
    if not isinstance(value, str):
        return None, [f"{var} must be a string in CIDR notation, got {type(value).__name__}"]
    text = value.strip()
    if "/" not in text:
        return None, [f"{var} '{text}' needs a prefix length, e.g. '{text}/32'"]
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None, [f"{var} '{text}' is not a valid IPv4 CIDR block"]
    if not isinstance(network, ipaddress.IPv4Network):
        return None, [f"{var} '{text}' is IPv6; an IPv4 CIDR block is needed"]
    if str(network) != text:
        host = text.split("/", 1)[0]
        return None, [f"{var} '{text}' has host bits set; did you mean '{network}' or '{host}/32'?"]
    return network, []


def _check_prefix(var: str, network: ipaddress.IPv4Network) -> list[str]:
    if not CIDR_PREFIX_MIN <= network.prefixlen <= CIDR_PREFIX_MAX:
        return [
            f"{var} '{network}' has prefix /{network.prefixlen}; AWS allows "
            f"/{CIDR_PREFIX_MIN} to /{CIDR_PREFIX_MAX}"
        ]
    return []


def _check_usable_range(var: str, network: ipaddress.IPv4Network) -> list[str]:
    if network.is_loopback or network.is_link_local or network.is_multicast or network.is_reserved:
        return [f"{var} '{network}' is a loopback, link-local, multicast or reserved range"]
    if network.subnet_of(ipaddress.IPv4Network("0.0.0.0/8")):
        return [f"{var} '{network}' is inside 0.0.0.0/8, which cannot be routed"]
    return []


def validate_vpc_cidr(cidr: Any) -> list[str]:
    """Check the VPC's IPv4 block: a valid network, /16../28, not a special range."""
    var = "network_vpc_cidr"
    network, errors = _parse_network(var, cidr)
    if network is None:
        return errors
    return _check_prefix(var, network) + _check_usable_range(var, network)


def vpc_cidr_warnings(cidr: Any) -> list[str]:
    """A public range works as a VPC block but hides those addresses from the VPC."""
    var = "network_vpc_cidr"
    network, errors = _parse_network(var, cidr)
    if network is None or errors or not network.is_global:
        return []
    return [
        f"{var} '{network}' is not a private (RFC 1918) range; hosts in the VPC "
        "cannot reach public addresses inside it"
    ]


def validate_subnet_cidrs(subnets: Any, vpc_cidr: Any) -> list[str]:
    """Check exactly two subnet blocks: valid, /16../28, inside the VPC, not overlapping."""
    var = "network_subnet_cidrs"
    if (
        subnets is None
        or isinstance(subnets, (str, dict))
        or not isinstance(subnets, (list, tuple))
    ):
        return [f"{var} must be a list of {SUBNET_COUNT} CIDR blocks, got {subnets!r}"]
    errors: list[str] = []
    if len(subnets) != SUBNET_COUNT:
        errors.append(
            f"{var} must have exactly {SUBNET_COUNT} CIDR blocks (one per availability zone), "
            f"got {len(subnets)}"
        )
    vpc, vpc_errors = _parse_network("network_vpc_cidr", vpc_cidr)
    if vpc_errors:
        vpc = None
    parsed: list[ipaddress.IPv4Network] = []
    for index, subnet in enumerate(subnets):
        item = f"{var}[{index}]"
        network, item_errors = _parse_network(item, subnet)
        errors.extend(item_errors)
        if network is None:
            continue
        errors.extend(_check_prefix(item, network))
        if vpc is not None and not network.subnet_of(vpc):
            errors.append(f"{item} '{network}' is not inside network_vpc_cidr '{vpc}'")
        for other in parsed:
            if network.overlaps(other):
                errors.append(f"{item} '{network}' overlaps '{other}'")
        parsed.append(network)
    return errors


def validate_instance_types(instance_types: Any) -> list[str]:
    """Check a non-empty list of distinct EC2 instance type names such as 'm5.large'."""
    var = "spot_fleet_instance_types"
    if not isinstance(instance_types, (list, tuple)):
        return [f"{var} must be a list of instance types like ['m5.large'], got {instance_types!r}"]
    if not instance_types:
        return [f"{var} must list at least one instance type, e.g. ['m5.large']"]
    errors: list[str] = []
    seen: set = set()
    for index, instance_type in enumerate(instance_types):
        if not isinstance(instance_type, str) or not _INSTANCE_TYPE_RE.match(instance_type):
            errors.append(
                f"{var}[{index}] '{instance_type}' is not an EC2 instance type like "
                "'m5.large' or 'p3.2xlarge'"
            )
        elif instance_type in seen:
            errors.append(f"{var} lists '{instance_type}' more than once")
        seen.add(instance_type if isinstance(instance_type, str) else repr(instance_type))
    return errors


def validate_target_capacity(capacity: Any, maximum: int = TARGET_CAPACITY_MAX) -> list[str]:
    """Check the Spot Fleet's target capacity: a whole number from 1 to ``maximum``."""
    return _check_whole_number(
        "spot_fleet_target_capacity", capacity, 1, maximum, "a whole number", " instances"
    )


def _is_open(network: ipaddress.IPv4Network) -> bool:
    return network.prefixlen == 0


def validate_source_cidr(
    cidr: Any, allow_open: bool = False, local_target: bool = False
) -> list[str]:
    """Check the address allowed to reach SSH and Jupyter.

    Required unless the target is local; ``0.0.0.0/0`` only with ``allow_open``.
    """
    var = "source_cidr"
    if _empty(cidr):
        if local_target:
            return []
        return [
            f"{var} is required: the address allowed to reach SSH and Jupyter, "
            "e.g. 'source_cidr=203.0.113.7/32' (your public IP)"
        ]
    network, errors = _parse_network(var, cidr)
    if network is None:
        return errors
    if _is_open(network) and not allow_open:
        return [
            f"{var} '{network}' opens SSH and Jupyter to the whole internet; "
            "set allow_open_source_cidr=true to do it anyway"
        ]
    return []


def source_cidr_warnings(cidr: Any, allow_open: bool = False) -> list[str]:
    """The warning that goes with an allowed ``0.0.0.0/0``."""
    network, errors = _parse_network("source_cidr", cidr)
    if network is None or errors or not _is_open(network) or not allow_open:
        return []
    return [
        f"source_cidr '{network}' opens SSH and Jupyter to the whole internet "
        "(allow_open_source_cidr is true)"
    ]


def validate_port(var: str, port: Any) -> list[str]:
    """Check one TCP port: a whole number from 1 to 65535."""
    return _check_whole_number(var, port, PORT_MIN, PORT_MAX, "a port number")


def validate_ports(ports: dict[str, Any]) -> list[str]:
    """Check ports published on the same host: each valid, distinct, not a reserved one."""
    errors: list[str] = []
    owners: dict[int, str] = {}
    for var, port in ports.items():
        port_errors = validate_port(var, port)
        errors.extend(port_errors)
        if port_errors:
            continue
        value = int(port)
        if value in RESERVED_HOST_PORTS:
            errors.append(f"{var} is {value}, which is {RESERVED_HOST_PORTS[value]}")
        elif value in owners:
            errors.append(f"{var} and {owners[value]} are both {value}; they must differ")
        else:
            owners[value] = var
    return errors


def validate_endpoint(endpoint_url: Any, local_target: bool) -> list[str]:
    """The local target must never reach AWS: it needs an endpoint URL; any URL must be http(s)."""
    if _empty(endpoint_url):
        if local_target:
            return [
                "local_target is true but no aws_endpoint_url is set; "
                "the local target must never reach AWS"
            ]
        return []
    if not isinstance(endpoint_url, str) or not re.match(r"^https?://[^\s/]+", endpoint_url):
        return [f"aws_endpoint_url '{endpoint_url}' is not an http:// or https:// URL"]
    return []


def _file_problem(path: str) -> str | None:
    """What keeps the models role from reading ``path`` on this machine, or None."""
    if os.path.isdir(path):
        return f"{path} is a folder, not a file"
    if not os.path.exists(path):
        return f"no file {path}"
    if not os.path.isfile(path):
        return f"{path} is not a regular file"
    if not os.access(path, os.R_OK):
        return f"{path} cannot be read"
    return None


def _local_path(value: str) -> str:
    """A path as the models role takes it: ~ expanded, relative to the current directory."""
    return os.path.abspath(os.path.expanduser(value))


def validate_model_source(source: Any, labels: Any = "", sha256: Any = "") -> list[str]:
    """Check the pretrained model site.yml uploads (the models role) before anything is created.

    Empty ``source``: the deployed model, or the default one (the models role decides). A
    ``.tflite`` file (a path or an http(s):// URL) is one file with its labels inside; any
    other http(s):// URL is a checkpoint prefix, only checked for its form (nothing is
    downloaded here); any other value is a checkpoint prefix on this machine:
    ``PREFIX-symbol.json``, ``PREFIX-0000.params`` and the labels file (``labels``, or
    ``labels.txt`` beside the prefix) must be files that can be read. ``sha256``, when given,
    is 64 hex digits (of the .tflite, or of a checkpoint's params file).
    """
    var = "model_source"
    errors = validate_model_sha256(sha256)
    if _empty(source):
        return errors + validate_model_labels(labels)
    if not isinstance(source, str):
        return [f"{var} must be a path or an http(s):// URL, got {type(source).__name__}"]
    source = source.strip()
    is_tflite = source.lower().endswith(TFLITE_SUFFIX)
    if _SCHEME_RE.match(source):
        if not _URL_PREFIX_RE.match(source):
            return errors + [
                f"{var} '{source}' is neither a path on this machine nor an http(s):// URL "
                "of a .tflite file or of a checkpoint prefix like "
                "'https://example.com/models/mobilenet_v1_0.5_160'"
            ]
        return errors + validate_model_labels(labels)
    if is_tflite:
        problem = _file_problem(_local_path(source))
        if problem:
            return errors + [f"{var} '{source}' is not a TFLite model on this machine: {problem}"]
        return errors + validate_model_labels(labels)
    for suffix in MODEL_FILE_SUFFIXES:
        if source.endswith(suffix):
            return errors + [
                f"{var} '{source}' names one file of the checkpoint; give the prefix "
                f"'{source[: -len(suffix)]}'"
            ]
    prefix = _local_path(source)
    if os.path.isdir(prefix):
        found = sorted(
            name[: -len(MODEL_FILE_SUFFIXES[0])]
            for name in os.listdir(prefix)
            if name.endswith(MODEL_FILE_SUFFIXES[0])
        ) + sorted(name for name in os.listdir(prefix) if name.endswith(TFLITE_SUFFIX))
        example = os.path.join(source, found[0] if found else "NAME")
        return errors + [
            f"{var} '{source}' is a folder; give the model in it (a .tflite file or a "
            f"checkpoint's prefix), e.g. '{example}'"
        ]
    problems = [_file_problem(prefix + suffix) for suffix in MODEL_FILE_SUFFIXES]
    if any(problems):
        return errors + [
            f"{var} '{source}' is not an MXNet checkpoint on this machine: "
            f"{', '.join(p for p in problems if p)} (set model_source to a .tflite file, to "
            "the PREFIX of PREFIX-symbol.json and PREFIX-0000.params, or to an http(s):// URL "
            "of either)"
        ]
    if _empty(labels):
        problem = _file_problem(os.path.join(os.path.dirname(prefix), "labels.txt"))
        if problem:
            return errors + [
                f"{var} '{source}' has no labels beside it: {problem} (or set model_labels)"
            ]
        return errors
    return errors + validate_model_labels(labels)


def validate_model_sha256(sha256: Any) -> list[str]:
    """``model_sha256`` when given: the model file's SHA-256, 64 hex digits."""
    if _empty(sha256):
        return []
    if not isinstance(sha256, str) or not _SHA256_RE.match(sha256.strip()):
        return [f"model_sha256 '{sha256}' is not a SHA-256 digest (64 hex digits)"]
    return []


def validate_model_labels(labels: Any) -> list[str]:
    """Check ``model_labels`` when given: an http(s):// URL or a file on this machine."""
    var = "model_labels"
    if _empty(labels):
        return []
    if not isinstance(labels, str):
        return [f"{var} must be a path or an http(s):// URL, got {type(labels).__name__}"]
    labels = labels.strip()
    if _SCHEME_RE.match(labels):
        if not _URL_PREFIX_RE.match(labels):
            return [f"{var} '{labels}' is neither a path on this machine nor an http(s):// URL"]
        return []
    problem = _file_problem(_local_path(labels))
    return [f"{var} '{labels}': {problem}"] if problem else []


def validate_inputs(
    deployment_name: Any,
    region: Any,
    vpc_cidr: Any,
    subnet_cidrs: Any,
    instance_types: Any,
    target_capacity: Any,
    source_cidr: Any,
    allow_open_source_cidr: bool = False,
    local_target: bool = False,
    ports: dict[str, Any] | None = None,
    endpoint_url: Any = None,
    regions: Sequence[str] | None = None,
    max_target_capacity: int = TARGET_CAPACITY_MAX,
    model_source: Any = "",
    model_labels: Any = "",
    model_sha256: Any = "",
    classify_uploads: Any = None,
) -> ValidationResult:
    """Run every check; return all errors and warnings (nothing stops at the first error)."""
    errors: list[str] = []
    errors += validate_classify_uploads(classify_uploads)
    errors += validate_deployment_name(deployment_name)
    errors += validate_region(region, regions)
    errors += validate_vpc_cidr(vpc_cidr)
    errors += validate_subnet_cidrs(subnet_cidrs, vpc_cidr)
    errors += validate_instance_types(instance_types)
    errors += validate_target_capacity(target_capacity, max_target_capacity)
    errors += validate_source_cidr(source_cidr, allow_open_source_cidr, local_target)
    errors += validate_ports(ports or {})
    errors += validate_endpoint(endpoint_url, local_target)
    errors += validate_model_source(model_source, model_labels, model_sha256)
    warnings = vpc_cidr_warnings(vpc_cidr) + source_cidr_warnings(
        source_cidr, allow_open_source_cidr
    )
    return ValidationResult(errors, warnings)


BOOLEAN_WORDS = {"true", "false", "yes", "no", "on", "off", "1", "0", "y", "n", "t", "f"}


def _is_boolean(value: Any) -> bool:
    """A boolean as Ansible reads one (true, no, 1, ...), or nothing given."""
    return value is None or isinstance(value, bool) or str(value).strip().lower() in BOOLEAN_WORDS


def validate_keep_work(keep_work: Any) -> list[str]:
    """keep_work (teardown.yml): a boolean as Ansible reads one, or nothing given."""
    if _is_boolean(keep_work):
        return []
    return [
        f"keep_work is {keep_work!r}: it must be true (copy the work to outputs/ before the "
        "workspace is deleted) or false (delete it without a copy)"
    ]


def validate_classify_uploads(classify_uploads: Any) -> list[str]:
    """classify_uploads (site.yml): a boolean as Ansible reads one, or nothing given."""
    if _is_boolean(classify_uploads):
        return []
    return [
        f"classify_uploads is {classify_uploads!r}: it must be true (classify every picture put "
        "under uploads/ of the input bucket) or false (no rule: remove it)"
    ]


def validate_teardown_inputs(
    deployment_name: Any,
    region: Any,
    local_target: bool = False,
    endpoint_url: Any = None,
    regions: Sequence[str] | None = None,
    keep_work: Any = None,
) -> ValidationResult:
    """What teardown needs to find the deployment: its name, the region and the endpoint; and
    whether to copy the work first (keep_work)."""
    errors = (
        validate_deployment_name(deployment_name)
        + validate_region(region, regions)
        + validate_endpoint(endpoint_url, local_target)
        + validate_keep_work(keep_work)
    )
    return ValidationResult(errors, [])
