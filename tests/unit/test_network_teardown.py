"""The Mininet network's teardown, without root: the plan names every bridge and link interface of the
spec and nothing else, chunks long transactions, kills only this process's shells of the spec's
nodes, never talks to a node's shell, is idempotent; and interrupts land between build steps."""

from __future__ import annotations

import os
import signal
import time

import pytest

import dataplane.network as network
from dataplane.network import (EdgeNetwork, bridge_commands, interface_command, interface_names, interrupts_after,
                               is_link_interface, node_names, shell_node, shells_to_kill)
from topologies.catalog import load_topology
from topologies.spec import HostSpec, LinkSpec, TopologySpec

GROUP = 0x57A7_0001


def small_spec() -> TopologySpec:
    """A triangle of switches (s1, s2, s3) with two hosts on s1 and one on s3."""
    hosts = [HostSpec("h1", "s1", "device", "10.0.0.1", "00:00:0a:00:00:01"),
             HostSpec("h2", "s1", "edge-server", "10.0.0.2", "00:00:0a:00:00:02"),
             HostSpec("h3", "s3", "device", "10.0.0.3", "00:00:0a:00:00:03")]
    links = [LinkSpec("s1", "s2", 100), LinkSpec("s2", "s3", 100), LinkSpec("s3", "s1", 50)]
    spec = TopologySpec("small", ["s1", "s2", "s3"], hosts, links)
    spec.validate()
    return spec


def script_lines(command) -> list[str]:
    return command.stdin.splitlines()


# ------------------------------------------------------------------------------------------------
# names

def test_interface_names_are_both_ends_of_every_link_as_mininet_numbers_them():
    names = interface_names(small_spec())
    # s1: two switch links and two hosts -> ports 1-4; s2: 2 links; s3: 2 links and a host; hosts: eth0
    assert sorted(names) == sorted(["s1-eth1", "s1-eth2", "s1-eth3", "s1-eth4", "s2-eth1", "s2-eth2",
                                    "s3-eth1", "s3-eth2", "s3-eth3", "h1-eth0", "h2-eth0", "h3-eth0"])
    assert len(names) == 2 * (3 + 3)  # two ends per link: 3 switch links and 3 host links


def test_interface_names_of_edge_tiered_cover_both_ends_of_every_link():
    tiered = load_topology("edge-tiered")
    names = set(interface_names(tiered))
    assert len(names) == 2 * (len(tiered.links) + len(tiered.hosts))
    assert "core-eth1" in names and "core-eth0" not in names  # switches number their ports from 1
    assert "edge1-eth0" in names and "edge1-eth1" not in names  # hosts from 0
    assert all(is_link_interface(n, node_names(tiered)) for n in names)


@pytest.mark.parametrize("name, expected", [
    ("s1-eth1", True), ("s3-eth12", True), ("h2-eth0", True),
    ("s1", False),               # the bridge's own interface: ovs-vswitchd removes it with the bridge
    ("s1-eth", False), ("s1-ethx", False), ("s1-eth1a", False), ("s1eth1", False),
    ("s4-eth1", False),          # not a node of this spec
    ("strt-s1-eth1", False),     # another network's switch whose name ends like ours
    ("eth0", False), ("lo", False), ("ovs-netdev", False),
])
def test_only_the_specs_link_interfaces_match(name, expected):
    assert is_link_interface(name, node_names(small_spec())) is expected


@pytest.mark.parametrize("argv, node", [
    (["bash", "--norc", "--noediting", "-is", "mininet:s1"], "s1"),
    (["/bin/bash", "--norc", "--noediting", "-is", "mininet:h2"], "h2"),
    (["grep", "mininet:s1"], None),
    (["bash", "-c", "echo"], None),
    ([], None),                  # a zombie has no command line
])
def test_a_mininet_shell_is_recognised_by_its_command_line(argv, node):
    assert shell_node(argv) == node


def test_only_this_processs_shells_of_the_specs_nodes_are_killed():
    me, other = 1000, 2000
    shell = lambda name: ["bash", "--norc", "--noediting", "-is", f"mininet:{name}"]  # noqa: E731
    processes = {
        11: (me, shell("s1")), 12: (me, shell("h3")),      # ours
        13: (me, shell("strt-core")),                      # ours, but not of this spec
        14: (other, shell("s2")),                          # the same name in another process's network
        15: (me, ["grep", "mininet:s2"]),                  # not a shell
        16: (me, []),                                      # a zombie
        17: (11, ["ip", "link", "add"]),                   # a command inside a shell: dies with its group
    }
    assert shells_to_kill(processes, me, node_names(small_spec())) == [11, 12]


# ------------------------------------------------------------------------------------------------
# commands

def test_one_transaction_deletes_every_bridge():
    (command,) = bridge_commands(small_spec().switches)
    argv = list(command.argv)
    assert argv[0] == "ovs-vsctl" and any(a.startswith("--timeout=") for a in argv[:3])
    assert "--no-wait" in argv[:3]
    assert argv[3:] == ["--", "--if-exists", "del-br", "s1", "--", "--if-exists", "del-br", "s2",
                        "--", "--if-exists", "del-br", "s3"]
    assert command.timeout > network.OVSDB_TIMEOUT  # the process is killed only after ovs-vsctl gave up


def test_long_transactions_are_chunked():
    bridges = [f"z{k}" for k in range(1, 755)]  # Topology Zoo Kdl's 754 switches
    commands = bridge_commands(bridges, max_chars=2000)
    assert len(commands) > 1
    for command in commands:
        assert sum(len(a) + 1 for a in command.argv) <= 2000
        assert command.argv[:3] == commands[0].argv[:3]
    deleted = [c.argv[k + 1] for c in commands for k in range(3, len(c.argv)) if c.argv[k] == "del-br"]
    assert deleted == bridges
    assert len(bridge_commands(bridges)) == 1  # with the default limit, Kdl fits one command line
    assert bridge_commands([]) == []


def test_the_interfaces_present_go_in_one_batch_and_nothing_else():
    spec = small_spec()
    present = ["lo", "eth0", "ovs-netdev", "s1", "s2", "strt-core-eth1", "strt-core",
               "s1-eth1", "s2-eth1", "s3-eth3", "s3-eth9",  # s3-eth9: a half-created link's end
               "s1-eth4"]
    command = interface_command(present, node_names(spec), GROUP)
    assert command.argv == ("ip", "-force", "-batch", "-")
    lines = script_lines(command)
    assert lines[-1] == f"link delete group {GROUP}"
    grouped = sorted(line.split()[3] for line in lines[:-1])
    assert grouped == ["s1-eth1", "s1-eth4", "s2-eth1", "s3-eth3", "s3-eth9"]
    assert all(line == f"link set dev {line.split()[3]} group {GROUP}" for line in lines[:-1])


def test_nothing_present_means_no_command_and_group_zero_is_refused():
    assert interface_command(["lo", "eth0", "s1"], node_names(small_spec()), GROUP) is None
    with pytest.raises(ValueError):  # `ip link delete group 0` deletes every interface
        interface_command(["s1-eth1"], node_names(small_spec()), 0)


def test_the_batch_timeout_grows_with_the_interfaces_it_deletes():
    nodes = {f"z{k}" for k in range(1000)}
    few = interface_command(["z1-eth1"], nodes, GROUP)
    many = interface_command([f"z{k}-eth{p}" for k in range(1000) for p in (1, 2)], nodes, GROUP)
    assert many.timeout > few.timeout >= network.COMMAND_TIMEOUT


# ------------------------------------------------------------------------------------------------
# stop()

class ShellOfNode:
    """A node whose shell must not be used: every way of talking to it fails the test."""

    def __init__(self, name: str, pid: int):
        self.name, self.pid = name, pid
        read_end, write_end = os.pipe()
        self.stdin = os.fdopen(read_end, "r")  # Mininet's pty master (stdin and stdout are one file)
        self.stdout = self.stdin
        self.slave = write_end
        self.shell = object()

    def __getattr__(self, attr):
        raise AssertionError(f"teardown used {self.name}.{attr}: it must not talk to a node's shell")


class FakeNet:
    def __init__(self, spec, first_pid=5000):
        self.hosts = [ShellOfNode(h.name, first_pid + k) for k, h in enumerate(spec.hosts)]
        self.switches = [ShellOfNode(s, first_pid + 100 + k) for k, s in enumerate(spec.switches)]

    def __getattr__(self, attr):
        raise AssertionError(f"teardown used net.{attr} (Mininet's own stop talks to the shells)")


@pytest.fixture
def system(monkeypatch):
    """What stop() does to the machine, recorded instead of done."""
    record = {"killed": [], "ran": [], "interfaces": ["lo", "eth0", "s1", "s1-eth1", "s2-eth1", "s3-eth2",
                                                      "h9-eth0"], "fail": False}
    me = os.getpid()
    shell = lambda name: ["bash", "--norc", "--noediting", "-is", f"mininet:{name}"]  # noqa: E731
    table = {5000: (me, shell("h1")), 5001: (me, shell("h2")), 5100: (me, shell("s1")), 7000: (1, shell("s2"))}

    def run(command):
        record["ran"].append(command)
        return not record["fail"]

    monkeypatch.setattr(network, "_processes", lambda: table)
    monkeypatch.setattr(network, "_kill_groups", lambda pids: record["killed"].append(list(pids)))
    monkeypatch.setattr(network, "_root_interfaces", lambda: list(record["interfaces"]))
    monkeypatch.setattr(network, "_run", run)
    monkeypatch.setattr(network, "VSWITCHD_GRACE", 0.0)
    return record


def started(spec) -> EdgeNetwork:
    """An EdgeNetwork as after build() and start(), over a fake Mininet."""
    edge = EdgeNetwork(spec)
    edge.net = FakeNet(spec)
    edge._may_have_bridges = True
    return edge


def test_stop_kills_the_shells_deletes_bridges_and_interfaces_without_a_shell(system):
    spec = small_spec()
    edge = started(spec)
    nodes = [*edge.net.hosts, *edge.net.switches]
    edge.stop()
    assert system["killed"] == [[5000, 5001, 5100]]  # 7000 is another process's s2
    bridges, interfaces = system["ran"]
    assert bridges.argv[0] == "ovs-vsctl" and [a for a in bridges.argv if a in spec.switches] == spec.switches
    assert interfaces.argv[0] == "ip"
    assert sorted(line.split()[3] for line in script_lines(interfaces)[:-1]) == ["s1-eth1", "s2-eth1", "s3-eth2"]
    for node in nodes:  # their terminals are closed
        assert node.stdin.closed
        with pytest.raises(OSError):
            os.fstat(node.slave)
    assert edge.net is None and edge.teardown_seconds is not None


def test_stop_is_idempotent_and_safe_before_build(system):
    EdgeNetwork(small_spec()).stop()  # never built
    assert system["ran"] == [] and system["killed"] == []
    edge = started(small_spec())
    edge.stop()
    ran = len(system["ran"])
    edge.stop()
    assert len(system["ran"]) == ran


def test_a_network_never_started_has_no_bridges_to_delete(system):
    edge = started(small_spec())
    edge._may_have_bridges = False  # build() ran (or was interrupted), start() did not
    edge.stop()
    assert [c.argv[0] for c in system["ran"]] == ["ip"]


def test_an_incomplete_teardown_is_retried_by_the_next_stop(system):
    edge = started(small_spec())
    system["fail"] = True
    edge.stop()
    assert edge.net is not None
    system["fail"] = False
    before = len(system["ran"])
    edge.stop()
    assert [c.argv[0] for c in system["ran"][before:]] == ["ovs-vsctl", "ip"]
    assert edge.net is None


def test_stop_waits_for_nothing_when_the_network_is_gone_already(system, monkeypatch):
    """After `mn -c`: no shells, no bridges, no interfaces. stop() still finishes at once."""
    system["interfaces"] = ["lo", "eth0"]
    edge = started(small_spec())
    monkeypatch.setattr(network, "_processes", lambda: {})
    t0 = time.monotonic()
    edge.stop()
    assert time.monotonic() - t0 < 1.0
    assert system["killed"] == [[]]
    assert [c.argv[0] for c in system["ran"]] == ["ovs-vsctl"]
    assert edge.net is None


def test_the_helpers_name_the_networks_bridges_and_interfaces():
    spec = small_spec()
    edge = EdgeNetwork(spec)
    assert edge.bridge_names() == ["s1", "s2", "s3"]
    assert sorted(edge.interface_names()) == sorted(interface_names(spec))


# ------------------------------------------------------------------------------------------------
# interrupts

@pytest.fixture(autouse=True)
def _ctrl_c_raises():
    """Python's own SIGINT handler, whatever the suite was started from: a shell that runs it in
    the background starts it with SIGINT ignored, and then no Ctrl-C would ever arrive."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_an_interrupt_inside_a_step_takes_effect_when_it_ends():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_after(5.0):
            signal.raise_signal(signal.SIGINT)
            steps.append("finished the step")
    assert steps == ["finished the step"]


def test_a_second_interrupt_takes_effect_at_once():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_after(5.0):
            signal.raise_signal(signal.SIGINT)
            steps.append("after the first")
            signal.raise_signal(signal.SIGINT)
            steps.append("after the second")
    assert steps == ["after the first"]


def test_a_step_stuck_longer_than_the_patience_is_interrupted():
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with interrupts_after(0.3):
            signal.raise_signal(signal.SIGINT)
            time.sleep(10)  # a blocking call (a read on a dead shell's terminal)
    assert time.monotonic() - t0 < 5


def test_without_patience_interrupts_wait_for_the_end_however_many():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_after(None):
            for _ in range(3):
                signal.raise_signal(signal.SIGINT)
            time.sleep(0.4)
            steps.append("teardown done")
    assert steps == ["teardown done"]


def test_handlers_are_restored_and_nothing_is_raised_without_a_signal():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with interrupts_after(0.1):
        time.sleep(0.2)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_sampled_pairs_are_distinct_reproducible_and_never_a_host_with_itself():
    from dataplane.network import sample_pairs

    hosts = [f"h{i}" for i in range(1508)]  # Kdl's hosts
    pairs = sample_pairs(hosts, 300, seed=7)
    assert len(pairs) == len(set(pairs)) == 300 and all(a != b for a, b in pairs)
    assert pairs == sample_pairs(hosts, 300, seed=7) != sample_pairs(hosts, 300, seed=8)
    assert sorted(sample_pairs(["a", "b", "c"], 100)) == sorted((a, b) for a in "abc" for b in "abc" if a != b)
    assert sample_pairs(["a"], 5) == [] and sample_pairs(hosts, 0) == []


def test_a_sampled_pair_waits_longer_the_more_switches_its_path_crosses():
    import networkx as nx

    from dataplane.network import switch_hops
    from topologies.catalog import load_topology

    spec = load_topology("zoo:GtsCe")
    graph = nx.Graph((l.a, l.b) for l in spec.links)
    switch_of = {h.name: h.switch for h in spec.hosts}
    pairs = [(a.name, b.name) for a in spec.hosts[:20] for b in spec.hosts[-20:]]
    assert switch_hops(spec, pairs) == [nx.shortest_path_length(graph, switch_of[a], switch_of[b]) + 1
                                        for a, b in pairs]
    same_switch = [h.name for h in spec.hosts if h.switch == spec.hosts[0].switch]
    assert switch_hops(spec, [tuple(same_switch[:2])]) == [1]
