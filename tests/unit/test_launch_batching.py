"""What a launch sends in batches instead of a command per setting: the traffic-control input for
a namespace's interfaces (one `tc -batch` each)."""

from __future__ import annotations

from dataplane.network import shaping_batch


def test_a_namespace_gets_all_its_shaping_in_one_tc_batch():
    text = shaping_batch([("s1-eth1", 50.0), ("s1-eth2", 2.5)])
    assert text.splitlines() == [
        "qdisc add dev s1-eth1 root handle 5:0 htb default 1",
        "class add dev s1-eth1 parent 5:0 classid 5:1 htb rate 50.000000Mbit burst 15k",
        "qdisc add dev s1-eth2 root handle 5:0 htb default 1",
        "class add dev s1-eth2 parent 5:0 classid 5:1 htb rate 2.500000Mbit burst 15k",
    ]
    assert shaping_batch([]) == ""
