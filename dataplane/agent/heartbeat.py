"""The node's link to the orchestrator: register once, then heartbeat what runs and what is stored.

The link is best effort by design (edge autonomy, as KubeEdge's and OpenYurt's edge nodes): when
the orchestrator cannot be reached the agent keeps its containers running and restarting, and
registers again as soon as the orchestrator answers.
"""

from __future__ import annotations

import logging
import threading

import grpc

from component_base.pki import Identity
from component_base.tls import Tls, open_channel

from .node import Node
from .runtime import process_alive
from .state import RUNNING

log = logging.getLogger("strata.agent")

DEFAULT_INTERVAL = 1.0  # seconds; the orchestrator's answer can change it


class OrchestratorLink:
    def __init__(self, node: Node, address: str, *, agent_address: str, blob_address: str,
                 bandwidth_mbps: float, interval: float = DEFAULT_INTERVAL, tls: Tls | None = None):
        from strata.v1 import orchestrator_pb2_grpc

        self.node = node
        self.address = address
        self.agent_address = agent_address
        self.blob_address = blob_address
        self.bandwidth_mbps = bandwidth_mbps
        self.interval = interval
        self.channel = open_channel(address, tls, Identity("orchestrator"))
        self.stub = orchestrator_pb2_grpc.OrchestratorServiceStub(self.channel)
        self.registered = False
        self.connected = False  # the last call got an answer
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register_request(self):
        from strata.v1 import orchestrator_pb2

        config = self.node.config
        return orchestrator_pb2.RegisterNodeRequest(
            name=config.name, agent_address=self.agent_address, ip=config.ip, switch=config.switch,
            blob_address=self.blob_address, cpu_millicores=config.cpu_millicores,
            storage_bytes=self.node.store.capacity_bytes, bandwidth_mbps=self.bandwidth_mbps,
            memory_mib=config.memory_mib)

    def heartbeat_request(self):
        from strata.v1 import orchestrator_pb2

        node = self.node
        containers = [orchestrator_pb2.ContainerStatus(
            name=r.name, running=r.state == RUNNING and process_alive(r.pid), ip=r.ip, restarts=r.restarts,
            labels=r.labels, ready=node.ready(r), last_termination_reason=r.last_termination_reason)
            for r in node.containers()]
        layers = [orchestrator_pb2.StoredLayer(digest=d, size_bytes=held.size)
                  for d, held in sorted(node.store.held().items())]
        return orchestrator_pb2.HeartbeatRequest(
            node=node.config.name, containers=containers, layers=layers,
            storage_used_bytes=node.store.used_bytes(), pulled_bytes_total=node.pulled_bytes_total,
            peer_bytes_total=node.peer_bytes_total)

    def beat_once(self) -> None:
        """Register if needed, then one heartbeat; an unreachable orchestrator is logged, not raised."""
        try:
            if not self.registered:
                self.stub.RegisterNode(self.register_request(), timeout=5)
                self.registered = True
                log.info("registered with the orchestrator at %s", self.address)
            answer = self.stub.Heartbeat(self.heartbeat_request(), timeout=5)
            if answer.interval_seconds > 0:
                self.interval = answer.interval_seconds
            if not self.connected:
                log.info("heartbeats to the orchestrator flow")
            self.connected = True
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:  # it forgot us (a fresh orchestrator): register again
                self.registered = False
            if self.connected:
                log.warning("orchestrator unreachable (%s); containers keep running", exc.code().name)
            self.connected = False

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.beat_once()
                except Exception:
                    log.exception("heartbeat failed")
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=loop, name="heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=6)
        self.channel.close()
