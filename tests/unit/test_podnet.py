"""Pod ranges per node, pod address allocation and veth names (the pure parts of the pod network)."""

from __future__ import annotations

import bisect
import ipaddress

import pytest

from dataplane.agent.podnet import PodAddresses, PodRangeFull, pod_interface_names, pod_ranges


def host_ips(count, subnet="10.0.0.0/16"):
    """Mininet-style host addresses, numbered from the bottom of the subnet."""
    network = ipaddress.ip_network(subnet)
    return [str(network.network_address + index) for index in range(1, count + 1)]


def check_ranges(subnet, nodes, reserved, ranges):
    network = ipaddress.ip_network(subnet)
    upper_half = list(network.subnets(prefixlen_diff=1))[1]
    blocks = [ipaddress.ip_network(cidr) for cidr in ranges.values()]
    reserved_numbers = sorted(int(ipaddress.ip_address(ip)) for ip in reserved)
    assert set(ranges) == set(nodes)
    for block in blocks:
        assert block.subnet_of(upper_half)
        assert 24 <= block.prefixlen <= 28
        first, last = int(block.network_address), int(block.broadcast_address)
        assert bisect.bisect_left(reserved_numbers, first) == bisect.bisect_right(reserved_numbers, last)
    ordered = sorted(blocks)
    for first, second in zip(ordered, ordered[1:]):
        assert first.broadcast_address < second.network_address


def test_six_nodes_get_disjoint_24s_in_the_upper_half():
    nodes = [f"edge{i}" for i in range(1, 7)]
    reserved = host_ips(20)
    ranges = pod_ranges("10.0.0.0/16", nodes, reserved)
    check_ranges("10.0.0.0/16", nodes, reserved, ranges)
    assert {ipaddress.ip_network(cidr).prefixlen for cidr in ranges.values()} == {24}


def test_754_nodes_get_smaller_disjoint_blocks():
    nodes = [f"edge{i}" for i in range(754)]
    reserved = host_ips(1508)
    ranges = pod_ranges("10.0.0.0/16", nodes, reserved)
    check_ranges("10.0.0.0/16", nodes, reserved, ranges)
    assert len(set(ranges.values())) == 754


def test_blocks_holding_a_host_are_skipped():
    reserved = ["10.0.128.5", "10.0.130.200", "10.0.0.1"]
    nodes = ["a", "b", "c"]
    ranges = pod_ranges("10.0.0.0/16", nodes, reserved)
    check_ranges("10.0.0.0/16", nodes, reserved, ranges)
    assert "10.0.128.0/24" not in ranges.values()
    assert "10.0.130.0/24" not in ranges.values()


def test_host_addresses_may_carry_a_prefix_length():
    ranges = pod_ranges("10.0.0.0/16", ["a"], ["10.0.128.1/16"])
    assert ranges["a"] != "10.0.128.0/24"


def test_same_input_same_ranges_whatever_the_order():
    nodes = [f"edge{i}" for i in range(40)]
    reserved = host_ips(80)
    assert pod_ranges("10.0.0.0/16", nodes, reserved) == pod_ranges("10.0.0.0/16", nodes[::-1], reserved)


def test_a_small_subnet_uses_small_blocks():
    ranges = pod_ranges("192.168.1.0/24", ["a", "b", "c"], host_ips(10, "192.168.1.0/24"))
    check_ranges("192.168.1.0/24", ["a", "b", "c"], [], ranges)
    assert {ipaddress.ip_network(cidr).prefixlen for cidr in ranges.values()} == {27}


def test_too_many_nodes_is_an_error():
    with pytest.raises(ValueError, match="nodes"):
        pod_ranges("10.0.0.0/24", [f"n{i}" for i in range(9)], [])
    with pytest.raises(ValueError):
        pod_ranges("10.0.0.0/16", [f"n{i}" for i in range(3000)], [])


def test_hosts_filling_the_upper_half_is_an_error():
    reserved = [str(ip) for ip in ipaddress.ip_network("10.0.0.128/25")]
    with pytest.raises(ValueError):
        pod_ranges("10.0.0.0/24", ["a"], reserved)


def test_duplicate_nodes_are_an_error():
    with pytest.raises(ValueError):
        pod_ranges("10.0.0.0/16", ["a", "a"], [])


def test_addresses_are_handed_out_lowest_first_with_stable_macs():
    pool = PodAddresses("10.0.128.0/24")
    assert pool.allocate() == ("10.0.128.1", "02:00:0a:00:80:01")
    assert pool.allocate() == ("10.0.128.2", "02:00:0a:00:80:02")


def test_used_addresses_are_skipped_and_released_ones_reused():
    pool = PodAddresses("10.0.128.0/24", used=["10.0.128.1", "10.0.128.3"])
    assert pool.allocate()[0] == "10.0.128.2"
    assert pool.allocate()[0] == "10.0.128.4"
    pool.release("10.0.128.1")
    assert pool.allocate()[0] == "10.0.128.1"
    pool.release("10.0.128.200")  # already free: nothing happens
    with pytest.raises(ValueError):
        pool.release("10.0.129.1")
    with pytest.raises(ValueError):
        PodAddresses("10.0.128.0/24", used=["10.0.0.1"])


def test_a_full_range_refuses_and_never_gives_network_or_broadcast():
    pool = PodAddresses("10.0.128.16/28")
    addresses = [pool.allocate()[0] for _ in range(14)]
    assert addresses[0] == "10.0.128.17"
    assert addresses[-1] == "10.0.128.30"
    with pytest.raises(PodRangeFull):
        pool.allocate()
    pool.release("10.0.128.20")
    assert pool.allocate()[0] == "10.0.128.20"


def test_macs_are_unique_within_a_range():
    pool = PodAddresses("10.0.200.0/24")
    macs = [pool.allocate()[1] for _ in range(254)]
    assert len(set(macs)) == 254
    assert all(int(mac.split(":")[0], 16) & 0b11 == 0b10 for mac in macs)  # local, unicast


def test_interface_names_fit_and_are_unique_and_stable():
    keys = [f"edge{node}-web-{index}" for node in range(754) for index in range(4)] + ["", "a/b c", "x" * 80]
    names = [pod_interface_names(key) for key in keys]
    assert all(len(host) <= 15 and container == "eth0" for host, container in names)
    assert len({host for host, _ in names}) == len(keys)
    assert pod_interface_names("edge0-web-0") == names[0]
    assert all(host.replace("-", "").isalnum() for host, _ in names)
