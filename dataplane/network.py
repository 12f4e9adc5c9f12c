"""Builds a TopologySpec in Mininet on Open vSwitch (userspace datapath), controlled remotely."""

from __future__ import annotations

import shutil
import subprocess
from functools import partial

from topologies.spec import TopologySpec

OVS_CTL = "/usr/share/openvswitch/scripts/ovs-ctl"


def ensure_ovs() -> None:
    """Start Open vSwitch if it is not running (the kernel module is not needed: userspace datapath)."""
    if shutil.which("ovs-vsctl") is None:
        raise RuntimeError("Open vSwitch is not installed: run `make setup` (or apt-get install openvswitch-switch)")
    if subprocess.run(["ovs-vsctl", "--timeout=3", "show"], capture_output=True).returncode == 0:
        return
    result = subprocess.run([OVS_CTL, "start", "--system-id=random"], capture_output=True, text=True)
    if subprocess.run(["ovs-vsctl", "--timeout=5", "show"], capture_output=True).returncode != 0:
        raise RuntimeError(f"could not start Open vSwitch: {result.stderr.strip() or result.stdout.strip()}")


class EdgeNetwork:
    """A Mininet network for a spec: build(), then start(); as a context manager it is built on
    entry and always torn down on exit."""

    def __init__(self, spec: TopologySpec, *, controller: tuple[str, int] = ("127.0.0.1", 6653)):
        self.spec = spec
        self.controller = controller
        self.net = None

    def build(self) -> "EdgeNetwork":
        """Create hosts, switches and links (OpenFlow port numbers are known from here on)."""
        from mininet.link import TCLink
        from mininet.log import setLogLevel
        from mininet.net import Mininet
        from mininet.node import OVSSwitch, RemoteController
        from mininet.topo import Topo

        setLogLevel("critical")  # tc's HTB "quantum is big" warnings are logged as errors
        ensure_ovs()
        spec = self.spec

        class SpecTopo(Topo):
            def build(self):
                for sw in spec.switches:
                    self.addSwitch(sw, dpid=f"{spec.dpid(sw):016x}")
                for h in spec.hosts:
                    self.addHost(h.name, ip=f"{h.ip}/16", mac=h.mac)
                for link in spec.links:  # delay and loss need netem, which this kernel lacks
                    self.addLink(link.a, link.b, bw=link.bandwidth_mbps)
                for h in spec.hosts:
                    self.addLink(h.name, h.switch, **({"bw": h.access_mbps} if h.access_mbps else {}))

        switch = partial(OVSSwitch, datapath="user", protocols="OpenFlow13", failMode="secure")
        host_ip, port = self.controller
        self.net = Mininet(topo=SpecTopo(), switch=switch, link=TCLink, controller=None,
                           autoSetMacs=False, autoStaticArp=False, waitConnected=False)
        self.net.addController(RemoteController("c0", ip=host_ip, port=port))
        return self

    def start(self) -> "EdgeNetwork":
        """Start the switches (they connect to the controller) and prepare the hosts."""
        if self.net is None:
            self.build()
        spec = self.spec
        try:
            self.net.start()
            for h in spec.hosts:  # TCP through the userspace datapath needs checksum offload off
                node = self.net.get(h.name)
                for intf in node.intfNames():
                    node.cmd(f"ethtool -K {intf} tx off rx off >/dev/null 2>&1")
        except BaseException:
            self.stop()
            raise
        return self

    def runtime_topology(self) -> dict:
        """The spec with OpenFlow port numbers filled in, for the SDN controller."""
        net, spec = self.net, self.spec
        links = []
        for link in spec.links:
            a, b = net.get(link.a), net.get(link.b)
            intf_a, intf_b = a.connectionsTo(b)[0]
            links.append({"a": link.a, "a_port": a.ports[intf_a], "b": link.b, "b_port": b.ports[intf_b],
                          "bandwidth_mbps": link.bandwidth_mbps})
        hosts = []
        for h in spec.hosts:
            node, sw = net.get(h.name), net.get(h.switch)
            _, intf_sw = node.connectionsTo(sw)[0]
            hosts.append({"name": h.name, "ip": h.ip, "mac": h.mac, "switch": h.switch, "port": sw.ports[intf_sw],
                          "role": h.role})
        return {"name": spec.name, "switches": [{"name": s, "dpid": spec.dpid(s)} for s in spec.switches],
                "links": links, "hosts": hosts}

    def ping_all(self, timeout: float = 2.0) -> float:
        """Mininet's pingAll, printing its own lines and its `Results: N% dropped` summary."""
        from mininet.log import setLogLevel

        setLogLevel("output")
        try:
            return self.net.pingAll(timeout=timeout)
        finally:
            setLogLevel("error")

    def stop(self) -> None:
        if self.net is None:
            return
        links = [(link.intf1.name, link.intf2.name) for link in self.net.links]
        try:
            self.net.stop()
        finally:
            self.net = None
            # A network built but never started can leave veth pairs behind; remove what remains.
            for a, _ in links:
                subprocess.run(["ip", "link", "del", a], capture_output=True)

    def __enter__(self) -> "EdgeNetwork":
        return self.build()

    def __exit__(self, *exc) -> None:
        self.stop()
