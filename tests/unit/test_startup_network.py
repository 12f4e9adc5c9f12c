"""The orchestrator's side of start-up-aware placement: the network section from the SDN's switch graph,
and the scheduler asking for the start-up objective."""

from __future__ import annotations

import pytest
from test_orchestrator_core import MB, Cluster, FakePlacer, app

from component_base.errors import InvalidArgument
from controller.orchestrator.controllers.startup_network import network_section, with_network
from controller.orchestrator.core import Orchestrator
from controller.orchestrator.daemon import build
from controller.orchestrator.sources import SwitchGraph
from controller.orchestrator.store import NodeRecord, Store
from controller.placement.algorithms import run
from controller.placement.model import Problem, ProblemError, network_from_dict, problem_from_dict
from controller.placement.startup import ready_seconds


def graph(*, down=False):
    """The registry on core; edge1 on site1, edge2 on site2; core-site1 100 Mbit/s with 20 reserved
    one way, core-site2 down when asked."""
    links = [("core", "site1", 100, 20, True), ("site1", "core", 100, 0, True),
             ("core", "site2", 100, 0, not down), ("site2", "core", 100, 0, True)]
    return SwitchGraph(links, {"registry": "core", "edge1": "site1", "edge2": "site2"},
                       {"registry": 100.0, "edge1": 8.0, "edge2": 0.0})


def test_the_section_has_free_bandwidth_of_cables_up_both_ways_and_the_access_links():
    section = network_section(graph(), ["edge1", "edge2"], "registry", 2**20, start_seconds=0.5)
    assert section["links"] == [{"between": ["core", "site1"], "mbps": 80}, {"between": ["core", "site2"], "mbps": 100}]
    assert section["registry"] == {"switch": "core", "mbps": 100.0}
    assert section["servers"] == {"edge1": {"switch": "site1", "mbps": 8.0}, "edge2": {"switch": "site2", "mbps": 0.0}}
    assert section["size_bytes"] == 2**20 and section["start_seconds"] == 0.5
    network_from_dict(section, ["edge1", "edge2"])  # valid
    assert network_section(graph(down=True), ["edge1"], "registry", 1.0)["links"] == [
        {"between": ["core", "site1"], "mbps": 80}]


def problem() -> Problem:
    return problem_from_dict({
        "servers": [{"name": n, "cpu": 10, "storage": 100, "bandwidth": 10} for n in ("edge1", "edge2")],
        "layers": [{"digest": "a", "size": 1}],
        "containers": [{"name": "x", "cpu": 1, "bandwidth": 1, "layers": ["a"]}],
    })


def test_with_network_estimates_over_the_graph_and_leaves_the_problem_when_it_cannot():
    placed = with_network(problem(), graph(), "registry", 1e6)
    assert ready_seconds(placed, {"x": "edge1"}) == pytest.approx(1.0 + placed.network.start_seconds)  # 1 MB at 1 MB/s
    assert with_network(problem(), graph(down=True), "registry", 1e6).network is None  # edge2 cut off
    with pytest.raises(ProblemError, match="nowhere"):
        network_section(graph(), ["edge1"], "nowhere", 1.0)
    assert with_network(problem(), graph(), "nowhere", 1e6).network is None


class WeighingPlacer(FakePlacer):
    def __init__(self):
        super().__init__()
        self.weights = []

    def solve(self, problem, algorithm, startup_weight=0.0):
        self.problems.append(problem)
        self.weights.append(startup_weight)
        return run(algorithm, problem, time_limit=10, startup_weight=startup_weight)


@pytest.mark.parametrize(("algorithm", "weight", "expected", "networked"),
                         [("strata", 0.5, 0.5, True), ("strata", 0.0, 0.0, True), ("first-fit", 0.5, 0.0, False)])
def test_the_scheduler_asks_for_the_startup_objective_with_the_network(tmp_path, algorithm, weight, expected,
                                                                        networked):
    # strata always gets the network (at w = 0 its ties of bytes go to the plan ready soonest)
    c = Cluster(tmp_path)
    c.placer = WeighingPlacer()
    c.o = Orchestrator(Store(tmp_path / "weighted.db"), placer=c.placer, sdn=c.sdn, mesh=c.sdn, agents=c.agents,
                       images=c.o.images, service_range="10.0.127.0/24", registry_host="registry", clock=c.clock,
                       startup_weight=weight)
    for name in c.nodes:
        c.o.register_node(NodeRecord(name, f"unix:/x/{name}.sock", f"10.0.0.{name[-1]}", "s1", f"http://10.0.0.{name[-1]}:50061",
                                     2000, 500 * MB, 1000, 0.0))
    c.beat()
    c.o.deploy(app(), algorithm=algorithm)
    c.schedule()
    assert c.placer.weights == [expected]
    network = c.placer.problems[0].network
    assert (network is not None) == networked
    if network is not None:
        assert network.registry.switch == "s2" and network.attachment["edge3"].switch == "s3"
    assert all(i.record.node for i in c.o.deployment("shop").instances)



@pytest.mark.parametrize("weight", [-0.1, 1.5, "0.5", True, float("nan")])
def test_the_daemon_refuses_a_startup_weight_out_of_range(weight):
    with pytest.raises(InvalidArgument, match="startup_weight"):
        build({"startup_weight": weight})
