"""Request latency where users feel it: a bounded stream of GET /call from devices to an app's front end."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from api.app import AppError, AppSpec
from api.front_end import FrontEnd, front_end
from topologies.spec import TopologySpec

DEFAULT_REQUESTS = 100    # per device, one after the other
REQUEST_TIMEOUT = 5.0     # seconds a request may take, connection included (the tree's calls take 3 s at most)
GIVE_UP_AFTER = 5         # failures in a row that end a device's stream early (the rest count as failed)
_LINE = re.compile(r"(\d{3}) (\d+(?:\.\d+)?)")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 < q <= 100) by the nearest-rank rule: a value that was measured; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(math.ceil(q / 100 * len(ordered)), 1) - 1]


@dataclass(frozen=True)
class DeviceStream:
    """What one device saw of its stream."""

    device: str
    site: str                         # the switch the device hangs off (its edge site)
    asked: int                        # requests the stream was to send
    latencies_ms: tuple[float, ...]   # of the requests answered 200 (the whole call tree answered), in order

    @property
    def failed(self) -> int:
        """Requests not answered 200: an error, a timeout, or not sent after GIVE_UP_AFTER failures in a row."""
        return self.asked - len(self.latencies_ms)


@dataclass(frozen=True)
class LatencySummary:
    """Percentiles of the answered requests of one or more streams."""

    requests: int = 0    # asked of every stream together (0: nothing measured)
    failed: int = 0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0

    def words(self) -> str:
        if not self.requests:
            return "not measured"
        return (f"p50 {self.p50_ms:.1f} ms, p90 {self.p90_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, "
                f"{self.failed}/{self.requests} failed")


def summarize(streams: Sequence[DeviceStream]) -> LatencySummary:
    """The streams' answered requests pooled: nearest-rank p50, p90, p99; failures summed."""
    latencies = [ms for s in streams for ms in s.latencies_ms]
    return LatencySummary(sum(s.asked for s in streams), sum(s.failed for s in streams),
                          percentile(latencies, 50), percentile(latencies, 90), percentile(latencies, 99))


def by_site(streams: Sequence[DeviceStream]) -> dict[str, LatencySummary]:
    """The summary of each site's streams, sites in the order first seen."""
    sites = dict.fromkeys(s.site for s in streams)
    return {site: summarize([s for s in streams if s.site == site]) for site in sites}


def sampled_devices(spec: TopologySpec, per_site: int = 1) -> list[tuple[str, str]]:
    """(device, site) of the first `per_site` devices of every site (the switch a device hangs off),
    in the topology's order: every site is heard and the stream stays bounded on big networks."""
    taken: dict[str, int] = {}
    chosen = []
    for host in spec.hosts_with_role("device"):
        if taken.get(host.switch, 0) < per_site:
            taken[host.switch] = taken.get(host.switch, 0) + 1
            chosen.append((host.name, host.switch))
    return chosen


def stream_command(vip: str, port: int, requests: int, timeout: float = REQUEST_TIMEOUT) -> str:
    """A shell command sending `requests` GET /call to vip:port one after the other, each on a new
    connection (as a new user's would be) within `timeout` seconds; it prints one line per request
    sent, "STATUS SECONDS" (curl's status, 000 when no answer came, and its total time), and stops
    after GIVE_UP_AFTER failures in a row."""
    ask = (f"curl -s -o /dev/null --connect-timeout {timeout:g} --max-time {timeout:g} "
           f"-w '%{{http_code}} %{{time_total}}' http://{vip}:{port}/call")
    return (f"( f=0; for i in $(seq {requests}); do r=$({ask}); echo \"$r\"; "
            f"case \"$r\" in '200 '*) f=0 ;; *) f=$((f + 1)); [ $f -ge {GIVE_UP_AFTER} ] && break ;; esac; done )")


def parse_stream(output: str, device: str, site: str, requests: int) -> DeviceStream:
    """The stream_command output of one device: latencies of the requests answered 200, in ms;
    a request without a line (not sent) or with another status is a failure."""
    latencies = []
    for line in output.splitlines():
        match = _LINE.fullmatch(line.strip())
        if match and match.group(1) == "200" and len(latencies) < requests:
            latencies.append(float(match.group(2)) * 1000)
    return DeviceStream(device, site, requests, tuple(latencies))


def front_end_choices(values: Sequence[str], apps: Sequence[AppSpec], given: Sequence[str] = ()) -> dict[str, FrontEnd]:
    """Every app's front end (app name -> FrontEnd), with the user's `--front-end` values: "SERVICE"
    (for every app that has a service of that name) or "APP=SERVICE" (APP: the app's name or, from
    `given`, the name it was given by, in the apps' order). ValueError naming a value that fits no
    app, or an app given two front ends."""
    names = {app.name: app.name for app in apps} | {g: app.name for g, app in zip(given, apps)}
    chosen: dict[str, str] = {}
    for value in values:
        target, equals, service = value.rpartition("=")
        if equals and target not in names:
            raise ValueError(f"--front-end {value}: no app {target!r} in this run (apps: {', '.join(names)})")
        owners = [names[target]] if equals else [app.name for app in apps
                                                 if any(service in (s.name, s.group) for s in app.services)]
        if not owners:
            raise ValueError(f"--front-end {value}: no app of this run has a service {service!r}")
        for owner in owners:
            if chosen.get(owner, service) != service:
                raise ValueError(f"--front-end {value}: app {owner!r} already has front end {chosen[owner]!r}")
            chosen[owner] = service
    try:
        return {app.name: front_end(app, chosen.get(app.name, "")) for app in apps}
    except AppError as exc:  # APP=SERVICE naming a service APP does not have
        raise ValueError(f"--front-end: {exc}") from None


def front_end_address(app: AppSpec, addresses: Sequence, front: FrontEnd) -> tuple[str, int]:
    """(VIP, port) of the front end among a deployment's addresses (GetDeployment's: one per service,
    versions of a service sharing its VIP); LookupError if none is routed yet."""
    for address in addresses:
        if app.service(address.service).group == front.service and address.vip:
            return address.vip, address.port
    raise LookupError(f'app "{app.name}": its front end {front.service} has no VIP')


def measure_request_latency(net, devices: Sequence[tuple[str, str]], vip: str, port: int, requests: int,
                            timeout: float = REQUEST_TIMEOUT) -> list[DeviceStream]:
    """Each device's stream to vip:port, one device after the other (so no device's requests queue
    behind another's), run in the device's namespace of the Mininet network `net`."""
    return [parse_stream(net.get(device).cmd(stream_command(vip, port, requests, timeout)), device, site, requests)
            for device, site in devices]
