"""The local ECS agent finds the docker bridge's IPv4 address in every shape dockerd reports.

ecs_agent.py relays <bridge address>:PORT to 127.0.0.1:PORT (--forward-port), so that task
containers reach moto as host.docker.internal (host-gateway). bridge_gateway() reads the address
from `docker network inspect bridge` and, when docker names no gateway, from the bridge's
interface (an injected lookup here; the kernel's SIOCGIFADDR in the agent).

The 20.10 shapes were captured from Debian 12's docker.io 20.10.24+dfsg1, each dockerd started
in a network namespace of its own: "fresh" where no docker0 existed yet (issue 13: no Gateway),
"adopted" by a second dockerd once docker0 existed. The docker 25+ shapes are those that newer
dockerd prints (EnableIPv4 appeared in 28); they always name the gateway.
"""

from __future__ import annotations

from typing import Any

import pytest

DEFAULT_BRIDGE_OPTIONS = {
    "com.docker.network.bridge.default_bridge": "true",
    "com.docker.network.bridge.enable_icc": "true",
    "com.docker.network.bridge.enable_ip_masquerade": "true",
    "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
    "com.docker.network.bridge.name": "docker0",
    "com.docker.network.driver.mtu": "1500",
}


def bridge(*config: dict[str, str] | None, name: str = "docker0", **extra: Any) -> dict[str, Any]:
    """`docker network inspect bridge`'s attrs with IPAM Config `config` (None: null)."""
    return {
        "Name": "bridge",
        "Driver": "bridge",
        "EnableIPv6": any(":" in (entry or {}).get("Subnet", "") for entry in config),
        "IPAM": {
            "Driver": "default",
            "Options": None,
            "Config": None if config == (None,) else list(config),
        },
        "Options": {**DEFAULT_BRIDGE_OPTIONS, "com.docker.network.bridge.name": name},
        **extra,
    }


V4 = {"Subnet": "172.17.0.0/16"}
V4_GATEWAY = {"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}
V6 = {"Subnet": "fd00:db8:1::/64"}
V6_GATEWAY = {"Subnet": "fd00:db8:1::/64", "Gateway": "fd00:db8:1::1"}

FRESH_20_10 = bridge(V4)
ADOPTED_20_10 = bridge(V4_GATEWAY)
FRESH_20_10_IPV6 = bridge(V4, V6)  # dockerd --ipv6 --fixed-cidr-v6 fd00:db8:1::/64
ADOPTED_20_10_IPV6 = bridge(V4_GATEWAY, V6_GATEWAY)
BIP_20_10 = bridge({"Subnet": "10.99.0.0/24", "Gateway": "10.99.0.1"})  # dockerd --bip
DOCKER_28 = bridge(V4_GATEWAY, EnableIPv4=True)
DOCKER_28_IPV6 = bridge(V4_GATEWAY, V6_GATEWAY, EnableIPv4=True)


class Interfaces:
    """An interface-address lookup that knows `addresses` and notes the names it is asked."""

    def __init__(self, **addresses: str) -> None:
        self.addresses = addresses
        self.asked: list[str] = []

    def __call__(self, name: str) -> str | None:
        self.asked.append(name)
        return self.addresses.get(name)


GATEWAY = "the gateway of the bridge network's IPAM config"
DOCKER0 = "the address of docker0 (the IPAM config names no gateway)"


@pytest.mark.parametrize(
    ("attrs", "interfaces", "address", "source"),
    [
        pytest.param(FRESH_20_10, {"docker0": "172.17.0.1"}, "172.17.0.1", DOCKER0, id="fresh"),
        pytest.param(
            FRESH_20_10,
            {},
            "172.17.0.1",
            "the first host of 172.17.0.0/16 (docker0 has no IPv4 address and the IPAM config"
            " names no gateway)",
            id="fresh-no-interface",
        ),
        # The interface is not asked when docker names the gateway: a different answer loses.
        pytest.param(ADOPTED_20_10, {"docker0": "10.0.0.9"}, "172.17.0.1", GATEWAY, id="adopted"),
        pytest.param(
            FRESH_20_10_IPV6, {"docker0": "172.17.0.1"}, "172.17.0.1", DOCKER0, id="fresh-ipv6"
        ),
        pytest.param(ADOPTED_20_10_IPV6, {}, "172.17.0.1", GATEWAY, id="adopted-ipv6"),
        pytest.param(
            bridge(V6_GATEWAY, V4_GATEWAY), {}, "172.17.0.1", GATEWAY, id="ipv6-entry-first"
        ),
        pytest.param(
            bridge(V6_GATEWAY, V4),
            {"docker0": "172.17.0.1"},
            "172.17.0.1",
            DOCKER0,
            id="only-ipv6-gateway",
        ),
        pytest.param(BIP_20_10, {"docker0": "10.99.0.1"}, "10.99.0.1", GATEWAY, id="bip"),
        pytest.param(DOCKER_28, {}, "172.17.0.1", GATEWAY, id="docker-28"),
        pytest.param(DOCKER_28_IPV6, {}, "172.17.0.1", GATEWAY, id="docker-28-ipv6"),
        pytest.param(
            bridge({"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1/16"}),
            {},
            "172.17.0.1",
            GATEWAY,
            id="gateway-with-mask",
        ),
        pytest.param(
            bridge({"Subnet": "172.17.0.0/16", "Gateway": "not-an-address"}),
            {"docker0": "172.17.0.1"},
            "172.17.0.1",
            DOCKER0,
            id="gateway-unreadable",
        ),
        pytest.param(
            bridge({"Subnet": "10.98.0.0/24"}, name="br-ecsdl"),
            {"docker0": "172.17.0.1", "br-ecsdl": "10.98.0.1"},
            "10.98.0.1",
            "the address of br-ecsdl (the IPAM config names no gateway)",
            id="dockerd--bridge",
        ),
        pytest.param(bridge(None), {"docker0": "172.17.0.1"}, "172.17.0.1", DOCKER0, id="null"),
        pytest.param(bridge(), {"docker0": "172.17.0.1"}, "172.17.0.1", DOCKER0, id="empty"),
        pytest.param({}, {"docker0": "172.17.0.1"}, "172.17.0.1", DOCKER0, id="no-ipam"),
    ],
)
def test_the_bridge_address_is_found_in_every_shape(
    agent_module: Any, attrs: dict[str, Any], interfaces: dict[str, str], address: str, source: str
) -> None:
    lookup = Interfaces(**interfaces)

    found = agent_module.bridge_gateway(attrs, lookup)

    assert (found.address, found.source) == (address, source)
    if source == GATEWAY:
        assert lookup.asked == []


@pytest.mark.parametrize(
    ("attrs", "named"),
    [
        pytest.param(bridge(None), "its IPAM Config is [] and docker0", id="null"),
        pytest.param(bridge(), "its IPAM Config is [] and docker0", id="empty"),
        pytest.param(
            bridge(V6_GATEWAY, name="br-v6"),
            'its IPAM Config is [{"Gateway": "fd00:db8:1::1", "Subnet": "fd00:db8:1::/64"}]'
            " and br-v6",
            id="ipv6-only",
        ),
        pytest.param(
            bridge({"Subnet": "bogus", "Gateway": "bogus"}),
            'its IPAM Config is [{"Gateway": "bogus", "Subnet": "bogus"}] and docker0',
            id="unreadable",
        ),
    ],
)
def test_a_bridge_without_an_ipv4_address_fails_with_one_line_naming_what_was_found(
    agent_module: Any, attrs: dict[str, Any], named: str
) -> None:
    with pytest.raises(RuntimeError) as raised:
        agent_module.bridge_gateway(attrs, Interfaces())

    message = str(raised.value)
    assert message == f"the docker bridge network has no IPv4 address: {named} has no IPv4 address"
    assert "\n" not in message


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("lo", "127.0.0.1"),
        ("ecsdl-none0", None),  # no such interface
        ("x" * 16, None),  # longer than the kernel's IFNAMSIZ - 1
        ("", None),
    ],
)
def test_the_interface_address_is_read_from_the_kernel(
    agent_module: Any, name: str, address: str | None
) -> None:
    assert agent_module.interface_ipv4(name) == address
