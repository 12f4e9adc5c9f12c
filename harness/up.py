"""`strata topo launch` and `strata up`: a topology with the daemons, until interrupted (or a pingall)."""

from __future__ import annotations

import threading
from pathlib import Path

from images import IMAGE_SCALE
from topologies.spec import TopologySpec

from .signals import interrupt_on_signals
from .stack import BUILT_COMPONENTS, Stack


def _wait_for_interrupt() -> None:
    """Until Ctrl-C or SIGTERM (interrupt_on_signals makes both raise KeyboardInterrupt)."""
    threading.Event().wait()


def _describe(spec: TopologySpec) -> None:
    print(f"building {spec.name}: {len(spec.switches)} switches, {len(spec.hosts)} hosts, {len(spec.links)} links",
          flush=True)
    for note in spec.notes:
        print(f"  note: {note}")
    delayed = sum(1 for link in spec.links if link.delay_ms or link.loss_percent) + sum(
        1 for host in spec.hosts if host.access_delay_ms or host.access_loss_percent)
    if delayed:
        print(f"  {delayed} link(s) with delay or loss, spliced through the delay element (--delays off: none)")


def _describe_split(stack: Stack) -> None:
    """Which server runs what, and the links between servers (tunnels)."""
    split = stack.split
    if split is None:
        return
    hosts = {h.name for h in stack.spec.hosts}
    for k, server in enumerate(split.servers):
        nodes = split.nodes_on(server)
        switches = [n for n in nodes if n not in hosts]
        print(f"  {server}{' (this one: the daemons)' if k == 0 else ''}: {len(switches)} switches "
              f"({', '.join(switches)}), {len(nodes) - len(switches)} hosts")
    print(f"  {len(split.cut)} link(s) between servers, each an SSH tunnel: "
          + ", ".join(f"{link.a}-{link.b}" for link in split.cut), flush=True)


def launch(spec: TopologySpec, *, pingall: bool, openflow_port: int, sdn_address: str,
           sample_pairs: int = 0, cluster: list[str] | None = None) -> int:
    interrupt_on_signals()
    _describe(spec)
    try:
        # plaintext on loopback: no state file tells the CLI of certificates, and nothing in the
        # emulated network reaches the machine's loopback
        stack = Stack(spec, components=("sdn",), openflow_port=openflow_port, addresses={"sdn": sdn_address},
                      nodes=False, cluster=cluster, tls=False)
        _describe_split(stack)
        with stack:
            print(f"SDN daemon at {sdn_address}, OpenFlow at {stack.openflow_host}:{openflow_port}; "
                  f"logs in {stack.workdir}", flush=True)
            if pingall:
                return 0 if stack.network.ping_all() == 0 else 1
            if sample_pairs:
                return 0 if stack.network.sample_check(sample_pairs) == 0 else 1
            print("network is up; Ctrl-C to tear it down", flush=True)
            _wait_for_interrupt()
    except KeyboardInterrupt:
        print("interrupted: network and SDN daemon stopped", flush=True)
        return 130
    return 0


def up(spec: TopologySpec, *, all_in_one: bool, openflow_port: int, addresses: dict[str, str],
       state_file: Path, nodes: bool, images: list[str] | None, sample_pairs: int = 0,
       image_scale: float = IMAGE_SCALE, cluster: list[str] | None = None, tls: bool = True) -> int:
    interrupt_on_signals()
    _describe(spec)
    stack = Stack(spec, openflow_port=openflow_port, addresses=addresses, all_in_one=all_in_one, nodes=nodes,
                  images=images, state_file=state_file, image_scale=image_scale, cluster=cluster, tls=tls,
                  supervise=True)
    _describe_split(stack)
    if cluster and nodes:
        print("  on a cluster, strata up runs the control layer (placement, SDN) and the network: no registry, "
              "node agents, orchestrator, mesh or VNF manager", flush=True)
    print(f"run folder {stack.workdir} (logs, configurations)", flush=True)
    try:
        with stack:
            print("control layer:" + (" (one process)" if all_in_one else ""))
            for daemon in stack.daemons:
                print(f"  {daemon.name:<10} pid {daemon.pid}  log {daemon.log_path}")
            for name in BUILT_COMPONENTS:
                print(f"  {name:<10} gRPC {stack.addresses[name]}")
            print(f"  OpenFlow   {stack.openflow_host}:{openflow_port}")
            if stack.tls:
                print(f"  security   mutual TLS on every gRPC listener, callers authorised per method; certificates in "
                      f"{stack.pki_dir} (made in {stack.timings['pki'] * 1000:.0f} ms; the CLI uses admin's)")
            else:
                print("  security   plaintext gRPC (--insecure): loopback and Unix sockets only")
            metrics = [f"{name} {address}" for name, address in stack.metrics.items()]
            if stack.agent_metrics:
                metrics.append("agents " + ", ".join(stack.agent_metrics.values()))
            print(f"  metrics    {'; '.join(metrics)} (Prometheus; docs/metrics.md)")
            if stack.orchestrator is not None:
                print(f"  orchestrator pid {stack.orchestrator.pid} (on the registry host)  "
                      f"gRPC unix:{stack.socket('orchestrator')}  log {stack.orchestrator.log_path}")
            if stack.mesh is not None:
                print(f"  mesh       pid {stack.mesh.pid} (on the registry host)  "
                      f"gRPC unix:{stack.socket('mesh')}  log {stack.mesh.log_path}")
            if stack.mano is not None:
                print(f"  mano       pid {stack.mano.pid} (the VNF manager, on the registry host)  "
                      f"gRPC unix:{stack.socket('mano')}  log {stack.mano.log_path}")
            if stack.nodes:
                print(f"data plane: registry {stack.registry_url} (pid {stack.registry.pid}); "
                      f"agents on {', '.join(stack.agents)}; service VIPs from {stack.service_range}")
            print(f"state: {state_file}; every daemon, agent and the registry is started again if it dies "
                  "(strata status)")
            if stack.nodes:
                print("try: strata app deploy examples/apps/online-boutique-kubernetes-manifests.yaml --wait | "
                      "strata app ls | strata mesh services | strata mesh stats | strata node ls | strata sdn topology")
            else:  # no registry host (zoo networks), --no-nodes or a cluster: no orchestrator, mesh or agents
                where = "on a cluster" if stack.split else "on this network"
                print("try: strata sdn topology | strata sdn path SRC DST | strata place PROBLEM.json  "
                      f"(no registry and node agents {where}: app, mesh and node commands need them)")
            print(f"ready in {stack.timings['start']:.1f} s; Ctrl-C to shut everything down", flush=True)
            if sample_pairs and stack.network.sample_check(sample_pairs) != 0:
                print("some sampled pairs did not reach each other: shutting down", flush=True)
                return 1
            _wait_for_interrupt()
    except KeyboardInterrupt:
        print("interrupted: daemons, agents, containers, switches and hosts are gone", flush=True)
        return 130
    return 0
