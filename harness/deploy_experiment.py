"""`strata experiment deploy`: the paper's claim measured live. A real app is deployed with each
placement algorithm in turn, each on a fresh network, and what happened is measured, not computed:
bytes the registry sent (its interface's counter), bytes nodes sent each other (their blob servers),
bytes stored on the servers (their layer stores on disk), bytes that crossed the cloud site's
uplinks, and the seconds until every service answers on its VIP from a device.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from images import IMAGE_SCALE
from topologies.spec import TopologySpec

ROOT = Path(__file__).resolve().parents[1]
BUNDLED_APPS = {
    "socialNetwork": ROOT / "examples" / "apps" / "deathstarbench-socialNetwork-docker-compose.yml",
    "online-boutique": ROOT / "examples" / "apps" / "online-boutique-kubernetes-manifests.yaml",
    "teastore": ROOT / "examples" / "apps" / "teastore-kubernetes-clusterip.yaml",
}
DEFAULT_ALGORITHMS = ("strata", "ilp", "relax-round", "kube-default", "image-locality", "first-fit", "no-sharing")
READY_TIMEOUT = 600.0


@dataclass
class DeployRun:
    algorithm: str
    peers: bool
    pulled_bytes: int      # sent by the registry, counted on its interface
    peer_bytes: int        # sent by nodes' blob servers to other nodes
    stored_bytes: int      # layer blobs on the servers' disks
    ready_seconds: float   # Deploy call to every service answering on its VIP
    uplink_bytes: int      # left the registry's switch towards the edge
    planned_bytes: int     # what the placement said must be stored anew
    instances: int
    nodes_used: int
    image_scale: float = IMAGE_SCALE  # layers were this share of their real size (1: real sizes)


def app_file(name: str) -> Path:
    """A bundled app by name, or a Compose / Kubernetes file."""
    if name in BUNDLED_APPS:
        return BUNDLED_APPS[name]
    path = Path(name)
    if not path.is_file():
        raise ValueError(f"--app {name}: neither a bundled app ({', '.join(BUNDLED_APPS)}) nor a file")
    return path


def write_csv(runs: list[DeployRun], path: Path) -> None:
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=[f.name for f in fields(DeployRun)])
        writer.writeheader()
        for run in runs:
            writer.writerow({k: (round(v, 2) if isinstance(v, float) else v) for k, v in asdict(run).items()})


def read_csv(path: Path) -> list[DeployRun]:
    with path.open() as source:
        rows = list(csv.DictReader(source))
    kinds = {f.name: f.type for f in fields(DeployRun)}
    convert = {"str": str, "bool": lambda v: v == "True", "int": int, "float": float}
    return [DeployRun(**{k: convert[kinds[k]](v) for k, v in row.items()}) for row in rows]


def plot(runs: list[DeployRun], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.algorithm}\n{'peers' if r.peers else 'registry'}" for r in runs]
    fig, (left, right) = plt.subplots(1, 2, figsize=(max(8.0, 1.3 * len(runs) + 4), 4.5),
                                      gridspec_kw={"width_ratios": [3, 1.4]})
    x = range(len(runs))
    width = 0.27
    for k, (field, name) in enumerate((("pulled_bytes", "from the registry"), ("peer_bytes", "from peers"),
                                       ("stored_bytes", "stored on servers"))):
        left.bar([i + (k - 1) * width for i in x], [getattr(r, field) / 1e6 for r in runs], width, label=name)
    left.set_xticks(list(x), labels, fontsize=8)
    scale = runs[0].image_scale if runs else IMAGE_SCALE
    left.set_ylabel("MB (real sizes)" if scale == 1 else f"MB (image scale: real bytes x {scale:g})")
    left.legend(fontsize=8)
    left.set_title(title, fontsize=10)
    right.barh(list(x), [r.ready_seconds for r in runs], color="tab:gray")
    right.set_yticks(list(x), labels, fontsize=7)
    right.invert_yaxis()
    right.set_xlabel("seconds until every VIP answers")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _counter(path: str) -> int:
    return int(Path(path).read_text().strip())


def uplink_interfaces(stack) -> list[str]:
    """The registry switch's ends of its switch-to-switch links (root namespace interfaces)."""
    registry = stack.spec.hosts_with_role("registry")[0]
    net = stack.network.net
    names = []
    for link in stack.spec.links:
        if registry.switch in (link.a, link.b):
            for mn_link in net.linksBetween(net.get(link.a), net.get(link.b)):
                for intf in (mn_link.intf1, mn_link.intf2):
                    if intf.node.name == registry.switch:
                        names.append(intf.name)
    return names


def stored_on_disk(workdir: Path) -> int:
    return sum(p.stat().st_size for p in workdir.glob("nodes/*/layers/blobs/sha256/*") if p.is_file())


def load_app(path: Path, replicas: int | None = None):
    """The app of a manifest; `replicas` (when given) replaces every service's replica count."""
    import dataclasses

    from api.app import AppSpec
    from client.manifests import load_manifest

    app = load_manifest(path, warn=lambda _: None)
    if replicas is None:
        return app
    return AppSpec(app.name, tuple(dataclasses.replace(s, replicas=replicas) for s in app.services))


def dataset_images_of(app) -> list[str]:
    """The dataset images an app's images stand on (what a run at another image scale must build)."""
    from images.catalogue import resolve_image

    return sorted({resolve_image(s.image, base_image=s.base_image).base for s in app.services})


def measure_one(spec: TopologySpec, app_path: Path, algorithm: str, peers: bool, *, openflow_port: int,
                port_base: int, progress: Callable[[str], None], replicas: int | None = None,
                image_scale: float = IMAGE_SCALE) -> DeployRun:
    import grpc
    from strata.v1 import agent_pb2, agent_pb2_grpc
    from strata.v1 import orchestrator_pb2 as pb
    from strata.v1 import orchestrator_pb2_grpc

    from api.app_messages import service_message

    from .stack import Stack, port_addresses

    app = load_app(app_path, replicas)
    with Stack(spec, openflow_port=openflow_port, addresses=port_addresses(port_base), images=[],
               log=lambda _: None, image_scale=image_scale,
               build_only=None if image_scale == IMAGE_SCALE else dataset_images_of(app)) as stack:
        device = stack.network.net.get(stack.spec.hosts_with_role("device")[0].name)
        uplinks = uplink_interfaces(stack)
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(
            grpc.insecure_channel(f"unix:{stack.socket('orchestrator')}"))
        sent_before = stack.registry_sent_bytes()
        uplink_before = sum(_counter(f"/sys/class/net/{i}/statistics/tx_bytes") for i in uplinks)
        started = time.monotonic()
        stub.Deploy(pb.DeployRequest(application=app.name, services=[service_message(s) for s in app.services],
                                     algorithm=algorithm, registry_only=not peers), timeout=READY_TIMEOUT)
        answered: set[str] = set()
        while True:
            d = stub.GetDeployment(pb.GetDeploymentRequest(application=app.name), timeout=10)
            if d.ready:
                for address in d.addresses:
                    if address.service in answered:
                        continue
                    out = device.cmd(f"curl -s --max-time 3 http://{address.vip}:{address.port}/").strip()
                    try:
                        if json.loads(out).get("service") == address.service:
                            answered.add(address.service)
                    except ValueError:
                        pass
                if len(answered) == len(d.addresses):
                    break
            if time.monotonic() - started > READY_TIMEOUT:
                raise TimeoutError(f"{algorithm}: {app.name} not answering after {READY_TIMEOUT:g} s")
            time.sleep(0.2)
        ready_seconds = time.monotonic() - started
        sent = stack.registry_sent_bytes() - sent_before
        uplink = sum(_counter(f"/sys/class/net/{i}/statistics/tx_bytes") for i in uplinks) - uplink_before
        served = 0
        for socket in stack.agent_sockets.values():
            status = agent_pb2_grpc.NodeAgentStub(grpc.insecure_channel(f"unix:{socket}")).GetNode(
                agent_pb2.GetNodeRequest(), timeout=10)
            served += status.served_bytes_total
        run = DeployRun(algorithm, peers, sent, served, stored_on_disk(stack.workdir), ready_seconds, uplink,
                        d.planned_bytes, len(d.instances), len({i.node for i in d.instances}), image_scale)
    progress(f"  {algorithm:<15} peers {'on ' if peers else 'off'}: registry sent {run.pulled_bytes / 1e6:6.2f} MB, "
             f"peers {run.peer_bytes / 1e6:6.2f} MB, stored {run.stored_bytes / 1e6:6.2f} MB, uplink "
             f"{run.uplink_bytes / 1e6:6.2f} MB, {run.nodes_used} node(s), ready in {run.ready_seconds:.1f} s")
    return run


def run_deploy_experiment(app: str, topology: str, algorithms: list[str], peers: list[bool], out: Path, *,
                          replicas: int | None = None, openflow_port: int = 6663, port_base: int = 50200,
                          progress: Callable[[str], None] = print,
                          image_scale: float = IMAGE_SCALE) -> tuple[Path, Path]:
    from topologies.catalog import load_topology

    from .daemons import require_root
    from .signals import interrupt_on_signals

    require_root("the deploy experiment")
    interrupt_on_signals()  # Ctrl-C or SIGTERM: the network of the run under way is torn down
    path = app_file(app)
    spec = load_topology(topology)
    out.mkdir(parents=True, exist_ok=True)
    load_app(path, replicas)  # a bad file fails here, before any network is built
    shown = f"{path.name}{f' ({replicas} replicas per service)' if replicas else ''}"
    progress(f"deploying {shown} on {spec.name} with {', '.join(algorithms)} "
             f"(peers {'/'.join('on' if p else 'off' for p in peers)}), each on a fresh network, "
             f"images at scale {image_scale:g}" + (" (real sizes)" if image_scale == 1 else ""))
    runs = [measure_one(spec, path, algorithm, p, openflow_port=openflow_port, port_base=port_base,
                        progress=progress, replicas=replicas, image_scale=image_scale)
            for p in peers for algorithm in algorithms]
    csv_path, png_path = out / "deploy.csv", out / "deploy.png"
    write_csv(runs, csv_path)
    plot(runs, png_path, f"{shown} on {spec.name}, image scale {image_scale:g}")
    return csv_path, png_path
