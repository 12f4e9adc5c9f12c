"""The declared topology: switches, hosts (with roles and capacities) and links with their delays, as plain data."""

from __future__ import annotations

import dataclasses
import ipaddress
import math
from dataclasses import dataclass, field

ROLES = ("edge-server", "device", "registry", "cloud")
DELAYS_OFF = "delays off"  # a link's delay_source once TopologySpec.without_delays cleared it


@dataclass(frozen=True)
class HostSpec:
    name: str
    switch: str            # the switch it hangs off
    role: str              # one of ROLES
    ip: str                # IPv4, in the topology's subnet
    mac: str
    cpu_millicores: float = 0.0   # capacities, for edge servers (and the cloud)
    storage_mib: float = 0.0
    bandwidth_mbps: float = 0.0
    memory_mib: float = 0.0       # memory for containers' requests; 0 = not given (no memory limit)
    access_mbps: float = 0.0      # bandwidth of its link to the switch; 0 = unlimited
    access_delay_ms: float = 0.0  # one-way delay of its link to the switch, each direction
    access_loss_percent: float = 0.0  # share of frames dropped on that link, in percent, each direction


@dataclass(frozen=True)
class LinkSpec:
    a: str                  # switch name
    b: str                  # switch name
    bandwidth_mbps: float   # emulated capacity (Mininet TCLink bw)
    delay_ms: float = 0.0   # one-way delay, each direction (the emulated network applies it)
    loss_percent: float = 0.0  # share of frames dropped, in percent, each direction
    source: str = ""        # where the bandwidth came from (e.g. "LinkSpeedRaw", "default")
    delay_source: str = ""  # where the delay came from (e.g. "great circle", "no coordinates")


@dataclass
class TopologySpec:
    name: str
    switches: list[str]
    hosts: list[HostSpec]
    links: list[LinkSpec]
    notes: list[str] = field(default_factory=list)  # what the importer had to decide
    positions: dict[str, tuple[float, float]] = field(default_factory=dict)  # switch -> (lon, lat)

    def host(self, name: str) -> HostSpec:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(f"no host named {name!r} in topology {self.name}")

    def hosts_with_role(self, role: str) -> list[HostSpec]:
        return [h for h in self.hosts if h.role == role]

    def dpid(self, switch: str) -> int:
        """Datapath ids are the switch's position, from 1."""
        return self.switches.index(switch) + 1

    def validate(self) -> None:
        """Raises ValueError on dangling links, duplicate names or addresses."""
        names = set(self.switches)
        if len(names) != len(self.switches):
            raise ValueError(f"{self.name}: duplicate switch names")
        seen: set[str] = set()
        for h in self.hosts:
            if h.name in seen or h.name in names:
                raise ValueError(f"{self.name}: duplicate node name {h.name!r}")
            seen.add(h.name)
            if h.switch not in names:
                raise ValueError(f"{self.name}: host {h.name} hangs off unknown switch {h.switch!r}")
            if h.role not in ROLES:
                raise ValueError(f"{self.name}: host {h.name} has unknown role {h.role!r}")
            _check_delay(f"{self.name}: host {h.name}'s access link", h.access_delay_ms, h.access_loss_percent)
        ips = [h.ip for h in self.hosts]
        if len(set(ips)) != len(ips):
            raise ValueError(f"{self.name}: duplicate host IP addresses")
        for link in self.links:
            if link.a not in names or link.b not in names:
                raise ValueError(f"{self.name}: link {link.a}-{link.b} names an unknown switch")
            if link.bandwidth_mbps <= 0:
                raise ValueError(f"{self.name}: link {link.a}-{link.b} has no bandwidth")
            _check_delay(f"{self.name}: link {link.a}-{link.b}", link.delay_ms, link.loss_percent)

    def without_delays(self) -> TopologySpec:
        """The same network with every link's and access link's delay and loss at 0."""
        hosts = [dataclasses.replace(h, access_delay_ms=0.0, access_loss_percent=0.0) for h in self.hosts]
        links = [dataclasses.replace(link, delay_ms=0.0, loss_percent=0.0, delay_source=DELAYS_OFF)
                 for link in self.links]
        return dataclasses.replace(self, hosts=hosts, links=links,
                                   notes=[*self.notes, "delays off: every delay and loss is 0"])


def _check_delay(what: str, delay_ms: float, loss_percent: float) -> None:
    """ValueError naming `what` unless the delay is a finite number >= 0 and the loss in [0, 100)."""
    if not (math.isfinite(delay_ms) and delay_ms >= 0):
        raise ValueError(f"{what} has delay {delay_ms!r} ms: it must be a finite number of milliseconds, 0 or more")
    if not 0 <= loss_percent < 100:  # NaN fails this too
        raise ValueError(f"{what} has loss {loss_percent!r}%: it must be at least 0 and under 100")


class Addresses:
    """Hands out host IPs from a subnet and MACs derived from them."""

    def __init__(self, subnet: str = "10.0.0.0/16"):
        self.network = ipaddress.ip_network(subnet)
        self._next = 1

    def next(self) -> tuple[str, str]:
        ip = self.network.network_address + self._next
        if ip not in self.network or ip == self.network.broadcast_address:
            raise ValueError(f"subnet {self.network} has no addresses left")
        self._next += 1
        mac = "00:00:" + ":".join(f"{b:02x}" for b in ip.packed)
        return str(ip), mac
