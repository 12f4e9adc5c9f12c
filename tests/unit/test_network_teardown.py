"""The network teardown plan: every bridge and link interface of a spec, batched, and never a node's shell."""

from __future__ import annotations

import pytest

from dataplane.network import (bridge_commands, interface_command, interface_names, is_link_interface, node_names,
                               shell_node, shells_to_kill)
from topologies.catalog import load_topology


@pytest.fixture(scope="module")
def tiered():
    return load_topology("edge-tiered")


def test_interface_names_cover_both_ends_of_every_link(tiered):
    names = set(interface_names(tiered))
    ends = 2 * (len(tiered.links) + len(tiered.hosts))
    assert len(names) == ends
    # Switches number their ports from 1, hosts from 0 (Mininet's convention).
    assert "core-eth1" in names and "core-eth0" not in names
    assert "edge1-eth0" in names and "edge1-eth1" not in names
    assert all(is_link_interface(n, node_names(tiered)) for n in names)


def test_only_the_specs_link_interfaces_are_deleted(tiered):
    present = ["lo", "eth0", "core-eth1", "site2-eth3", "site2-eth", "other-eth1", "core-ethX", "ovs-system"]
    command = interface_command(present, node_names(tiered), group=0x57A70001)
    script = command.stdin.splitlines()
    doomed = {line.split()[3] for line in script if line.startswith("link set dev")}
    assert doomed == {"core-eth1", "site2-eth3"}
    assert script[-1] == f"link delete group {0x57A70001}"
    assert command.argv[:3] == ("ip", "-force", "-batch")
    assert interface_command(["lo", "eth0"], node_names(tiered), group=7) is None


def test_group_zero_is_refused(tiered):
    # `ip link delete group 0` would delete every interface of the namespace.
    with pytest.raises(ValueError):
        interface_command(["core-eth1"], node_names(tiered), group=0)


def test_bridges_go_in_few_transactions_each_bounded():
    bridges = [f"sw{k}" for k in range(754)]  # Topology Zoo Kdl
    commands = bridge_commands(bridges, max_chars=4096)
    assert len(commands) > 1
    deleted = [argv[k + 3] for c in commands for argv in [c.argv] for k, a in enumerate(argv) if a == "--"]
    assert deleted == bridges
    for command in commands:
        assert command.argv[0] == "ovs-vsctl" and command.argv[1].startswith("--timeout=")
        assert sum(len(a) + 1 for a in command.argv) <= 4096
        assert command.timeout > 0
    assert len(bridge_commands(bridges)) == 1  # the default limit holds Kdl in one transaction


def test_only_shells_of_this_network_started_here_are_killed(tiered):
    me = 100
    processes = {
        201: (me, ["bash", "--norc", "--noediting", "-is", "mininet:edge1"]),
        202: (me, ["bash", "--norc", "--noediting", "-is", "mininet:core"]),
        203: (999, ["bash", "--norc", "--noediting", "-is", "mininet:edge2"]),  # another run's
        204: (me, ["bash", "--norc", "--noediting", "-is", "mininet:h1"]),     # not a node of the spec
        205: (me, ["python3", "-m", "controller.cli", "serve", "sdn"]),
    }
    assert shells_to_kill(processes, me, node_names(tiered)) == [201, 202]
    assert shell_node(["/bin/bash", "-is", "mininet:site1"]) == "site1"
    assert shell_node(["python3", "mininet:site1"]) is None
