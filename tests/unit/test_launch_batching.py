"""What a launch sends in batches instead of a command per setting (the traffic-control input for
a namespace's interfaces, one `tc -batch` each), the switches' controller probe, and how a long
launch reports its progress."""

from __future__ import annotations

from dataplane.network import LaunchProgress, shaping_batch, with_inactivity_probe
from harness.daemons import wait_for
from topologies.catalog import load_topology


def test_a_namespace_gets_all_its_shaping_in_one_tc_batch():
    text = shaping_batch([("s1-eth1", 50.0), ("s1-eth2", 2.5)])
    assert text.splitlines() == [
        "qdisc add dev s1-eth1 root handle 5:0 htb default 1",
        "class add dev s1-eth1 parent 5:0 classid 5:1 htb rate 50.000000Mbit burst 15k",
        "qdisc add dev s1-eth2 root handle 5:0 htb default 1",
        "class add dev s1-eth2 parent 5:0 classid 5:1 htb rate 2.500000Mbit burst 15k",
    ]
    assert shaping_batch([]) == ""


def test_the_switches_controller_records_are_created_with_a_long_inactivity_probe():
    # what Mininet's OVSSwitch queues for a switch in batch mode (one controller)
    mininet = ('-- --id=@s1c0 create Controller target=\\"tcp:127.0.0.1:6653\\" max_backoff=1000 '
               '-- --if-exists del-br s1 -- add-br s1 -- set bridge s1 controller=[@s1c0]')
    probed = with_inactivity_probe(mininet, 30_000)
    assert probed == mininet.replace("create Controller target", "create Controller inactivity_probe=30000 target")
    assert with_inactivity_probe("-- add-port s1 s1-eth1", 30_000) == "-- add-port s1 s1-eth1"


def test_a_long_launch_says_how_far_it_is_and_a_short_one_says_nothing():
    spec = load_topology("zoo:Abilene")
    heard: list[str] = []
    progress = LaunchProgress(spec, heard.append, every=0.05)

    def last_says(text: str) -> bool:
        return bool(heard) and heard[-1].startswith(f"  network: {text} (")

    with progress:
        for _ in range(11):
            progress.step("switches")
        progress.step("hosts")
        wait_for(lambda: last_says("created 11/11 switches, 1/22 hosts, 0/36 links"), 5, "the progress line", 0.01)
    progress.phase("starting 11 switches")
    with progress:  # a second phase of the same launch reports again
        wait_for(lambda: last_says("starting 11 switches"), 5, "the second phase's line", 0.01)
    quiet: list[str] = []
    with LaunchProgress(spec, quiet.append, every=10):
        pass
    assert quiet == []
