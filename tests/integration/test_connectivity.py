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


def test_every_declared_bandwidth_is_shaped_on_both_ends_of_its_link(tiered):
    """The launcher shapes links in batches after the switches start: every interface of a link
    with a bandwidth has its HTB class at that rate, switch ends and host ends alike; and a TCP
    stream over a 20 Mbit/s access link stays under it."""
    import re
    import subprocess

    def rate(text: str) -> float | None:
        found = re.search(r"htb 5:1 root .*?rate (\d+)([KMG]?)bit", text)
        if not found:
            return None
        return int(found.group(1)) * {"": 1e-6, "K": 1e-3, "M": 1.0, "G": 1e3}[found.group(2)]

    checked = 0
    for link in tiered.network.net.links:
        for intf in (link.intf1, link.intf2):
            want = intf.params.get("bw")
            if not want:
                continue
            if intf.node.inNamespace:
                shown = intf.node.cmd(f"tc class show dev {intf.name}")
            else:
                shown = subprocess.run(["tc", "class", "show", "dev", intf.name], capture_output=True,
                                       text=True).stdout
            assert rate(shown) == want, (intf.name, shown)
            checked += 1
    assert checked == 2 * len(tiered.spec.links) + 2 * sum(1 for h in tiered.spec.hosts if h.access_mbps)
    server, client = tiered.host("edge2"), tiered.host("dev1")  # edge2's access link: 20 Mbit/s
    server.cmd("iperf3 -s -1 -D -p 5202 >/dev/null 2>&1")
    out = client.cmd(f"iperf3 -c {server.IP()} -p 5202 -t 2 -J")
    import json

    received = json.loads(out[out.index("{"):])["end"]["sum_received"]["bits_per_second"]
    assert 5e6 < received <= 21e6, received
