"""All hosts of the tiered edge network (which has loops) reach each other through the SDN controller."""

from __future__ import annotations


def test_pingall_edge_tiered(tiered):
    assert tiered.network.ping_all(timeout=2) == 0


def test_tcp_works_through_the_userspace_datapath(tiered):
    server, client = tiered.host("edge1"), tiered.host("dev6")
    server.cmd("iperf3 -s -1 -D -p 5201 >/dev/null 2>&1")
    out = client.cmd(f"iperf3 -c {server.IP()} -p 5201 -t 2 -J")
    import json

    report = json.loads(out[out.index("{"):])
    assert report["end"]["sum_received"]["bits_per_second"] > 1e6
