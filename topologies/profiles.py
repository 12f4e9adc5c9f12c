"""Server profiles: the capacities given to a topology's edge servers (`roomy` as generated, `edge-small` constrained).

A profile sets the CPU, memory and disk of every edge server of a topology (edge-tiered or a
Topology Zoo network); the cloud host, the registry, the devices and every link keep theirs, so
bandwidth is as the topology says. Capacities are real units (millicores, MiB): the image scale
shrinks disk with the images when a node is started (images.scaled_bytes), not here.

`edge-small`'s disk is sized from the catalogue's real image sizes (docs/experiments.md has the
figures): 1,024 MiB holds the largest bundled image (385 MiB, Online Boutique's Python services)
with room to spare, is under two thirds of what Online Boutique's or TeaStore's images weigh when
no layer is shared (1,621 and 1,736 MiB summed over their distinct images), and under what the
two apps store together when every layer is stored once (884 + 477 = 1,361 MiB): the two apps
never fit on one server. Six such servers (edge-tiered) hold 6,144 MiB: every layer of both apps
three times over (4,084 MiB, what three replicas spread over nodes need at least) fits, and so
does kube-default's plan for them (5,696 MiB, measured with the placement alone); with 768 MiB
kube-default found no server for TeaStore once Online Boutique was spread over all six.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .spec import TopologySpec


@dataclass(frozen=True)
class ServerProfile:
    name: str
    summary: str                 # one line, for help texts and topology notes
    cpu_millicores: float = 0.0  # per edge server; 0 keeps the topology's own
    memory_mib: float = 0.0
    storage_mib: float = 0.0


ROOMY = ServerProfile("roomy", "the topology's own edge servers (10-12 cores, 2-3 GiB of disk, memory not given)")
EDGE_SMALL = ServerProfile("edge-small", "constrained edge servers: 4 cores, 4 GiB of memory, 1 GiB of disk",
                           cpu_millicores=4000, memory_mib=4096, storage_mib=1024)
PROFILES = {profile.name: profile for profile in (ROOMY, EDGE_SMALL)}
DEFAULT_PROFILE = ROOMY.name


def server_profile(name: str) -> ServerProfile:
    """The profile of that name; ValueError naming the choices otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown server profile {name!r}; choose from {', '.join(PROFILES)}") from None


def apply_profile(spec: TopologySpec, name: str) -> TopologySpec:
    """`spec` with its edge servers given the profile's capacities (the same spec for `roomy`)."""
    profile = server_profile(name)
    changes = {field: value for field in ("cpu_millicores", "memory_mib", "storage_mib")
               if (value := getattr(profile, field))}
    if not changes:
        return spec
    hosts = [dataclasses.replace(h, **changes) if h.role == "edge-server" else h for h in spec.hosts]
    return dataclasses.replace(spec, hosts=hosts, notes=[*spec.notes, f"server profile {profile.name}: "
                                                         f"{profile.summary}"])
