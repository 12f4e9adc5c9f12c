"""Request latency from devices: the stream's command run for real against service programs on loopback,
its parse, percentiles, devices sampled per site, the front-end option, and the deploy experiment's records."""

from __future__ import annotations

import csv
import subprocess
from types import SimpleNamespace

import pytest

from api.app import AppSpec, ServiceSpec
from cli import EXIT_BAD_INPUT, build_parser, main
from harness.deploy_experiment import (AppRun, DeployRun, SiteRun, read_app_csv, read_csv, read_site_csv, site_rows,
                                       with_request_latency, write_site_csv)
from harness.request_latency import (GIVE_UP_AFTER, DeviceStream, LatencySummary, by_site, front_end_address,
                                     front_end_choices, parse_stream, percentile, sampled_devices, stream_command,
                                     summarize)
from test_service_program import free_port, services  # noqa: F401 - the fixture
from topologies.catalog import load_topology


def run_stream(port: int, requests: int) -> str:
    """The device's command, run in a plain shell on this host (a device runs it in its namespace)."""
    return subprocess.run(["bash", "-c", stream_command("127.0.0.1", port, requests, timeout=2)],
                          capture_output=True, text=True, timeout=60).stdout


def test_the_stream_times_every_request_through_the_whole_call_tree(services):  # noqa: F811
    services.start("db")
    services.start("web", ["db"])
    stream = parse_stream(run_stream(services.port("web"), 8), "dev1", "site1", 8)
    assert stream.failed == 0 and len(stream.latencies_ms) == 8
    assert all(0 < ms < 2000 for ms in stream.latencies_ms)


def test_a_tree_that_fails_counts_as_failed_and_the_stream_gives_up_after_failures_in_a_row(services):  # noqa: F811
    services.start("web", ["gone"], STRATA_CALL_TIMEOUT="1")  # answers 502: a call of its tree failed
    output = run_stream(services.port("web"), GIVE_UP_AFTER + 3)
    assert [line.split()[0] for line in output.splitlines()] == ["502"] * GIVE_UP_AFTER
    stream = parse_stream(output, "dev1", "site1", GIVE_UP_AFTER + 3)
    assert (stream.latencies_ms, stream.failed) == ((), GIVE_UP_AFTER + 3)
    nothing = run_stream(free_port(), 2)  # nothing listens: no answer
    assert [line.split()[0] for line in nothing.splitlines()] == ["000", "000"]


def test_the_parse_keeps_answered_requests_in_milliseconds_and_counts_the_rest():
    output = "200 0.012500\r\n502 0.004\n000 2.001\nstray prompt\n200 1.5\n200 0.25\n"
    stream = parse_stream(output, "dev1", "site1", 6)
    assert stream.latencies_ms == (12.5, 1500.0, 250.0)
    assert stream.failed == 3  # a 502, a timeout and one never sent
    assert parse_stream("200 0.1\n200 0.2\n", "d", "s", 1).latencies_ms == (100.0,)  # never more than asked
    assert parse_stream("", "d", "s", 4).failed == 4


def test_percentiles_by_nearest_rank_and_pooled_or_per_site():
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 90), percentile(values, 99)) == (50.0, 90.0, 99.0)
    assert percentile(values[:10], 99) == 10.0 and percentile([], 99) == 0.0
    streams = [DeviceStream("dev1", "site1", 4, (1.0, 2.0, 3.0, 4.0)), DeviceStream("dev3", "site2", 5, (10.0, 20.0)),
               DeviceStream("dev2", "site1", 2, (5.0,))]
    assert summarize(streams) == LatencySummary(11, 4, 4.0, 20.0, 20.0)
    sites = by_site(streams)
    assert list(sites) == ["site1", "site2"]
    assert sites["site1"] == LatencySummary(6, 1, 3.0, 5.0, 5.0) and sites["site2"] == LatencySummary(5, 3, 10.0,
                                                                                                       20.0, 20.0)
    assert LatencySummary().words() == "not measured"
    assert "p99 20.0 ms" in summarize(streams).words() and "4/11 failed" in summarize(streams).words()


def test_one_device_per_site_is_sampled():
    spec = load_topology("edge-tiered")
    chosen = sampled_devices(spec)
    assert [site for _, site in chosen] == ["site1", "site2", "site3"]
    assert all(spec.host(device).role == "device" and spec.host(device).switch == site for device, site in chosen)
    assert len(sampled_devices(spec, per_site=2)) == len(spec.hosts_with_role("device")) == 6


SHOP = AppSpec("shop", (ServiceSpec("web", "nginx", dependencies=("db",), exposed=True), ServiceSpec("db", "redis")))
BLOG = AppSpec("blog", (ServiceSpec("front", "nginx", dependencies=("db",)), ServiceSpec("db", "redis")))


def test_front_end_option_per_app_or_for_every_app_that_has_the_service():
    assert {a: f.service for a, f in front_end_choices([], [SHOP, BLOG]).items()} == {"shop": "web", "blog": "front"}
    assert {a: f.service for a, f in front_end_choices(["db"], [SHOP, BLOG]).items()} == {"shop": "db", "blog": "db"}
    chosen = front_end_choices(["blog=db"], [SHOP, BLOG])
    assert (chosen["shop"].service, chosen["blog"].service, chosen["blog"].guessed) == ("web", "db", False)
    # an app by the name it was given on --app
    assert front_end_choices(["teastore=db"], [SHOP, BLOG], ["online-boutique", "teastore"])["blog"].service == "db"
    for bad, fragment in ((["nosuch"], "no app of this run has a service"), (["shop=nosuch"], "no such service"),
                          (["cms=web"], "no app 'cms'"), (["shop=web", "shop=db"], "already has front end")):
        with pytest.raises(ValueError, match=fragment):
            front_end_choices(bad, [SHOP, BLOG])


def test_the_front_ends_vip_is_any_of_its_versions_addresses():
    app = AppSpec("shop", (ServiceSpec("web-v1", "nginx", mesh_service="web", version="v1", exposed=True),
                           ServiceSpec("web-v2", "nginx", mesh_service="web", version="v2")))
    [chosen] = front_end_choices([], [app]).values()
    addresses = [SimpleNamespace(service="web-v1", vip="", port=8080),
                 SimpleNamespace(service="web-v2", vip="10.96.0.7", port=8080)]
    assert front_end_address(app, addresses, chosen) == ("10.96.0.7", 8080)
    with pytest.raises(LookupError):
        front_end_address(app, addresses[:1], chosen)


def test_records_carry_request_latency_and_old_csvs_read_as_not_measured(tmp_path):
    summary = LatencySummary(300, 2, 4.5, 7.25, 12.0)
    run = with_request_latency(DeployRun("strata", True, 1, 2, 3, 4.0, 5, 6, 7, 1), summary)
    assert (run.requests, run.requests_failed, run.request_p50_ms, run.request_p90_ms, run.request_p99_ms) == (
        300, 2, 4.5, 7.25, 12.0)
    row = with_request_latency(AppRun("strata", True, "shop", 4.0, 1.0, 2.0, 6, 7, 1, front_end="web"), summary)
    streams = {"shop": [DeviceStream("dev1", "site1", 3, (1.0, 2.0)), DeviceStream("dev3", "site2", 3, (3.0,) * 3)]}
    sites = site_rows("strata", True, streams)
    assert sites == [SiteRun("strata", True, "shop", "site1", "dev1", 3, 1, 1.0, 2.0, 2.0),
                     SiteRun("strata", True, "shop", "site2", "dev3", 3, 0, 3.0, 3.0, 3.0)]
    write_site_csv(sites, tmp_path / "deploy-sites.csv")
    assert read_site_csv(tmp_path / "deploy-sites.csv") == sites
    # deploy-apps.csv and deploy.csv written before request latency: every request column reads 0
    for path, header, values, read in (
            (tmp_path / "apps.csv", ["algorithm", "peers", "app", "ready_seconds", "service_p50_seconds",
                                     "service_p90_seconds", "planned_bytes", "instances", "nodes_used"],
             ["strata", "True", "shop", 4.0, 1.0, 2.0, 6, 7, 1], read_app_csv),
            (tmp_path / "runs.csv", ["algorithm", "peers", "pulled_bytes", "peer_bytes", "stored_bytes",
                                     "ready_seconds", "uplink_bytes", "planned_bytes", "instances", "nodes_used"],
             ["strata", "True", 1, 2, 3, 4.0, 5, 6, 7, 1], read_csv)):
        with path.open("w", newline="") as out:
            csv.writer(out).writerows([header, values])
        [old] = read(path)
        assert (old.requests, old.requests_failed, old.request_p50_ms, old.request_p99_ms) == (0, 0, 0.0, 0.0)
    assert row.front_end == "web" and row.request_p99_ms == 12.0


def test_cli_takes_the_number_of_requests_and_front_ends():
    parser = build_parser()
    args = parser.parse_args(["experiment", "deploy", "--out", "x", "--requests", "0", "--front-end", "web",
                              "--front-end", "blog=front"])
    assert (args.requests, args.front_end) == (0, ["web", "blog=front"])
    defaults = parser.parse_args(["experiment", "deploy", "--out", "x"])
    assert (defaults.requests, defaults.front_end) == (100, None)
    with pytest.raises(SystemExit):
        parser.parse_args(["experiment", "deploy", "--out", "x", "--requests", "-1"])


def test_cli_refuses_a_bad_front_end_before_building_anything(tmp_path, capsys):
    assert main(["experiment", "deploy", "--out", str(tmp_path / "out"), "--front-end", "nosuch"]) == EXIT_BAD_INPUT
    assert "--front-end nosuch" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_the_demo_passes_its_latency_check_only_when_nearly_every_request_was_answered(capsys):
    from harness.demo import DeployFigures, DemoReport, _latency_check

    def plan(name: str, failed: int) -> DeployFigures:
        return DeployFigures(name, 0, 0, 0, 1.0, 1, 1, LatencySummary(150, failed, 3.0, 5.0, 9.0))

    report = DemoReport()
    _latency_check(report, [plan("kube-default", 0), plan("strata", 1)], "frontend")
    _latency_check(report, [plan("kube-default", 0), plan("strata", 2)], "frontend")
    _latency_check(report, [DeployFigures("strata", 0, 0, 0, 1.0, 1, 1)], "frontend")  # nothing measured
    assert [c.ok for c in report.checks] == [True, False, False]
    assert "strata p50 3.0 ms, p90 5.0 ms, p99 9.0 ms, 1/150 failed" in report.checks[0].detail
