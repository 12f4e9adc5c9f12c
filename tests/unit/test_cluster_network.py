"""The network spread over servers, without root: commands reach a server whole, a server's teardown
script ends exactly what it names (run here with stand-ins for ovs-vsctl and ip), the SSH clients of
a launch are found, nodes carry their server, delayed links go to their server's delay element, and
the cluster edition's `mn -c` cleanup is never registered."""

from __future__ import annotations

import os
import shlex
import subprocess
import time

import pytest

from dataplane.cluster import (MASTER, ClusterLink, cluster_link_class, remote_delay_command, ssh_command,
                               teardown_script)
from dataplane.delay.launcher import DelayedLink
from dataplane.network import TCP_LISTEN, spec_topo, ssh_children
from topologies.catalog import load_topology
from topologies.split import split_topology

GROUP = 0x57A7_0002


def test_a_remote_command_arrives_whole():
    """ssh joins its arguments with spaces and the server's shell splits them again: a script
    argument (quotes, newlines) must come out as it went in."""
    argv = ["python3", "-c", TCP_LISTEN, "5599", "5"]
    command = ssh_command("root", "10.254.0.2", argv)
    at = command.index("root@10.254.0.2")
    assert command[:at][:1] == ["ssh"] and "BatchMode=yes" in command[:at]
    remote = shlex.split(" ".join(command[at + 1:]))  # what the server's shell runs
    assert remote == ["sudo", "-n", *argv]


def test_another_user_logs_in_with_its_own_keys():
    command = ssh_command("alice", "10.254.0.2", ["true"])
    assert command[:4] == ["sudo", "-E", "-u", "alice"] and "alice@10.254.0.2" in command


@pytest.fixture
def fake_tools(tmp_path):
    """ovs-vsctl and ip that record their arguments and input; returns (PATH, log folder)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("ovs-vsctl", "ip"):
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/{tool}.args\ncat > {tmp_path}/{tool}.stdin\n'
                          f'exit ${{FAIL_{tool.replace("-", "_").upper()}:-0}}\n')
        script.chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}", tmp_path


def run_script(script: str, path: str, **env) -> int:
    return subprocess.run(["bash", "-c", script], text=True, env={**os.environ, "PATH": path, **env},
                          stdin=subprocess.DEVNULL, timeout=20).returncode


def test_teardown_script_ends_its_shells_bridges_and_interfaces(fake_tools):
    path, logs = fake_tools
    shells = [subprocess.Popen(["sleep", "60"]) for _ in range(2)]
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        script = teardown_script([s.pid for s in shells], ["site2", "site3"], ["site2-eth1", "tap100"], GROUP)
        assert run_script(script, path) == 0
        deadline = time.monotonic() + 5
        while any(s.poll() is None for s in shells) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(s.poll() is not None for s in shells) and bystander.poll() is None
        vsctl = (logs / "ovs-vsctl.args").read_text().split()
        assert [vsctl[k + 1] for k, word in enumerate(vsctl) if word == "del-br"] == ["site2", "site3"]
        assert "--if-exists" in vsctl
        batch = (logs / "ip.stdin").read_text().splitlines()
        assert batch == [f"link set dev site2-eth1 group {GROUP}", f"link set dev tap100 group {GROUP}",
                         f"link delete group {GROUP}"]
        assert (logs / "ip.args").read_text().split()[:2] == ["-force", "-batch"]
    finally:
        for p in [*shells, bystander]:
            p.kill()
            p.wait()


def test_teardown_script_reports_a_failed_bridge_deletion_but_not_interfaces_gone_already(fake_tools):
    path, _ = fake_tools
    script = teardown_script([], ["site2"], ["site2-eth1"], GROUP)
    assert run_script(script, path, FAIL_IP="1") == 0
    assert run_script(script, path, FAIL_OVS_VSCTL="1") == 1
    with pytest.raises(ValueError):
        teardown_script([], [], ["x"], 0)  # group 0 would name every interface of the namespace


def test_the_ssh_clients_of_this_process_are_found():
    me = os.getpid()
    processes = {
        10: (me, ["sudo", "-E", "-u", "root", "ssh", "-q", "-tt", "root@10.254.0.2", "sudo", "-E", "mnexec"]),
        11: (me, ["ssh", "-n", "-o", "Tunnel=Ethernet", "-w", "100:100", "root@10.254.0.2", "echo", "@"]),
        12: (me, ["/usr/bin/python3", "-m", "cli", "serve", "sdn"]),  # a daemon: not ours to end here
        13: (1, ["ssh", "root@10.254.0.3"]),                           # someone else's
        14: (me, ["sudo", "true"]),
    }
    assert ssh_children(processes, me) == [10, 11]


def test_each_node_is_built_on_its_server():
    spec = load_topology("edge-tiered").without_delays()
    split = split_topology(spec, ["server1", "server2"])
    servers = {node: MASTER if where == "server1" else where for node, where in split.server.items()}
    topo = spec_topo(spec, servers)
    assert {node: topo.nodeInfo(node)["server"] for node in topo.nodes()} == servers
    assert "server" not in spec_topo(spec).nodeInfo("core")


def test_a_remote_delay_element_runs_this_checkout_there():
    command = remote_delay_command("root", "10.254.0.2", "/opt/my strata")
    at = command.index("root@10.254.0.2")
    remote = shlex.split(" ".join(command[at + 1:]))
    assert remote[:3] == ["sudo", "-n", "bash"]
    script = shlex.split(remote[-1])
    assert script[:2] == ["cd", "/opt/my strata"] and script[-3:] == ["python3", "-m", "dataplane.delay"]
    assert "-n" not in command[:at]  # its requests come on SSH's standard input


class Node:
    """What a link asks of a node: its server, commands run in its shell or on its server."""

    def __init__(self, name, server, pid):
        self.name, self.server, self.pid, self.user = name, server, pid, "root"
        self.commands = []

    def cmd(self, *args, **kwargs):
        self.commands.append(" ".join(map(str, args)))
        return ""


def test_a_delayed_link_inside_a_server_is_spliced_into_that_servers_element():
    elements = {"server2": type("Element", (), {"pid": 777})()}
    link_class = cluster_link_class(elements.__getitem__)
    link = link_class.__new__(link_class)
    link.node1, link.node2 = Node("site2", "server2", 5), Node("site3", "server2", 6)
    link.delayed = DelayedLink("", "", 2.0)
    assert link.makeIntfPair("site2-eth1", "site3-eth1") is None
    assert link.delay_server == "server2"
    for node, name in ((link.node1, "site2-eth1"), (link.node2, "site3-eth1")):
        assert node.commands == [f"ip link add name {name} type veth peer name {name} netns 777"]


def test_a_delayed_link_needs_an_element():
    with pytest.raises(RuntimeError, match="delay element"):
        ClusterLink(Node("a", "server2", 5), Node("b", "server2", 6), delay_ms=1.0)


def test_the_cluster_edition_never_registers_mn_c(monkeypatch):
    from mininet.examples.cluster import ClusterCleanup

    registered = []
    monkeypatch.setattr("mininet.examples.cluster.addCleanupCallback", registered.append)
    ClusterCleanup.add("server2", "root")
    assert registered == []
