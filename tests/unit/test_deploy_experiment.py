"""The deploy experiment's pure parts: several apps, replicas and spread settings, records, CSVs, probes, the CLI."""

from __future__ import annotations

import csv
from types import SimpleNamespace

import pytest

from api.app import AppSpec, ServiceSpec, SpreadSpec
from cli import EXIT_BAD_INPUT, build_parser, main
from harness.deploy_experiment import (BUNDLED_APPS, AppRun, DeployRun, answered, app_rows, dataset_images_of,
                                       load_app, load_apps, percentile, probe_command, read_app_csv, read_csv, split_algorithm,
                                       waiting_instances, whole_run, with_settings, write_app_csv, write_csv)

NODE_SPREAD = SpreadSpec("node", 1, True)


def test_percentile_is_a_measured_value_by_nearest_rank():
    values = [5.0, 1.0, 4.0, 2.0, 3.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    assert (percentile(values, 50), percentile(values, 90), percentile(values, 100)) == (5.0, 9.0, 10.0)
    assert percentile([3.5], 50) == percentile([3.5], 90) == 3.5
    assert percentile([], 50) == 0.0
    assert percentile([1.0, 2.0, 3.0], 50) == 2.0 and percentile([1.0, 2.0, 3.0], 90) == 3.0


def test_replicas_set_every_service_and_spread_goes_to_those_of_several_replicas():
    app = AppSpec("shop", (ServiceSpec("web", "nginx", replicas=3), ServiceSpec("db", "redis"),
                           ServiceSpec("api", "acme/api", replicas=2, spread=(SpreadSpec("zone", 1, False),)),
                           ServiceSpec("cache", "memcached", replicas=2, spread=(SpreadSpec("node", 2, False),))))
    assert with_settings(app) == app
    spread = {s.name: s.spread for s in with_settings(app, spread=True).services}
    assert spread == {"web": (NODE_SPREAD,), "db": (), "api": (SpreadSpec("zone", 1, False), NODE_SPREAD),
                      "cache": (SpreadSpec("node", 2, False),)}  # a node spread of the manifest's own is kept
    both = with_settings(app, replicas=2, spread=True)
    assert [s.replicas for s in both.services] == [2, 2, 2, 2]
    assert both.service("db").spread == (NODE_SPREAD,)
    assert all(s.spread in ((), app.service(s.name).spread) for s in with_settings(app, replicas=1, spread=True).services)
    assert [s.replicas for s in with_settings(app, replicas=1).services] == [1, 1, 1, 1]


def test_bundled_apps_load_with_the_settings():
    app = load_app(BUNDLED_APPS["teastore"], replicas=3, spread=True)
    assert len(app.services) == 7
    assert all(s.replicas == 3 and s.spread == (NODE_SPREAD,) for s in app.services)


def test_several_apps_load_in_order_and_need_different_names(tmp_path):
    apps = load_apps(["online-boutique", "teastore"], replicas=2)
    assert [a.name for a in apps] == ["online-boutique-kubernetes-manifests", "teastore-kubernetes-clusterip"]
    with pytest.raises(ValueError, match="need different names"):
        load_apps(["teastore", str(BUNDLED_APPS["teastore"])])
    with pytest.raises(ValueError, match="neither a bundled app"):
        load_apps(["teastore", str(tmp_path / "missing.yaml")])
    # A run at another image scale builds the dataset bases of every app's images.
    assert dataset_images_of(*apps) == sorted(set(dataset_images_of(apps[0])) | set(dataset_images_of(apps[1])))
    assert "tomcat" in dataset_images_of(apps[1]) and "mariadb" in dataset_images_of(apps[1])


def _records():
    answers = {("shop", "web"): 2.0, ("shop", "db"): 4.0, ("blog", "web"): 3.0, ("blog", "api"): 9.0,
               ("blog", "db"): 6.0}
    deployments = {"shop": (100, 4, {"edge1", "edge2"}), "blog": (50, 3, {"edge2", "edge3"})}
    rows = app_rows("strata", True, ["shop", "blog"], {"shop": 4.5, "blog": 9.5}, answers, deployments)
    run = whole_run("strata", True, rows, answers, deployments, pulled=1000, peer=10, stored=900, uplink=800,
                    image_scale=0.01, replicas=2, spread=True, profile="edge-small", delays=True)
    return rows, run


def test_per_app_and_whole_run_records():
    rows, run = _records()
    assert rows == [AppRun("strata", True, "shop", 4.5, 2.0, 4.0, 100, 4, 2),
                    AppRun("strata", True, "blog", 9.5, 6.0, 9.0, 50, 3, 2)]
    assert (run.ready_seconds, run.planned_bytes, run.instances, run.nodes_used) == (9.5, 150, 7, 3)
    assert (run.pulled_bytes, run.peer_bytes, run.stored_bytes, run.uplink_bytes) == (1000, 10, 900, 800)
    assert (run.apps, run.replicas, run.spread, run.profile, run.delays) == ("shop+blog", 2, True, "edge-small", True)
    assert (run.service_p50_seconds, run.service_p90_seconds) == (4.0, 9.0)
    unset = whole_run("strata", True, rows, {}, {"shop": (0, 0, set()), "blog": (0, 0, set())}, pulled=0, peer=0,
                      stored=0, uplink=0, image_scale=0.01, replicas=None, spread=False, profile="roomy",
                      delays=False)
    assert unset.replicas == 0  # as the manifests say
    assert not unset.delays


def test_records_round_trip_through_csv_with_their_settings(tmp_path):
    rows, run = _records()
    write_csv([run], tmp_path / "deploy.csv")
    write_app_csv(rows, tmp_path / "deploy-apps.csv")
    header = (tmp_path / "deploy.csv").read_text().splitlines()[0].split(",")
    assert header[:6] == ["algorithm", "peers", "pulled_bytes", "peer_bytes", "stored_bytes", "ready_seconds"]
    assert {"apps", "replicas", "spread", "profile", "service_p50_seconds", "service_p90_seconds",
            "delays"} <= set(header)
    assert read_csv(tmp_path / "deploy.csv") == [run]
    assert read_app_csv(tmp_path / "deploy-apps.csv") == rows


def test_a_csv_from_before_the_settings_reads_with_their_defaults(tmp_path):
    old = ["algorithm", "peers", "pulled_bytes", "peer_bytes", "stored_bytes", "ready_seconds", "uplink_bytes",
           "planned_bytes", "instances", "nodes_used", "image_scale"]
    path = tmp_path / "deploy.csv"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(old)
        writer.writerow(["strata", "True", 100, 5, 90, 1.23, 80, 90, 12, 1, 0.01])
    [run] = read_csv(path)
    assert run == DeployRun("strata", True, 100, 5, 90, 1.23, 80, 90, 12, 1, 0.01)
    assert (run.apps, run.replicas, run.spread, run.profile) == ("", 0, False, "roomy")
    assert not run.delays  # no delay was applied before the setting was recorded


def test_a_probe_asks_every_vip_at_once_and_counts_answers_that_name_their_service():
    command = probe_command([("10.96.0.1", 80), ("10.96.0.2", 8080)])
    assert command.startswith("( ") and command.endswith(" wait )") and command.count(" & ") == 2
    assert "http://10.96.0.1:80/" in command and "http://10.96.0.2:8080/" in command
    output = ('1 {"service": "cart", "node": "edge2"}\r\n'
              '0 \n'
              '2 {"service": "other"}\n'
              '[1]+  Done  stray line\n'
              '7 {"service": "web"}\n'
              '3 not json\n')
    assert answered(output, ["web", "cart", "db", "api"]) == {1}
    assert answered('0 {"service": "web"}\n3 ["list"]\n', ["web", "cart", "db", "api"]) == {0}


def test_cli_takes_several_apps_and_the_run_settings():
    parser = build_parser()
    args = parser.parse_args(["experiment", "deploy", "--out", "x", "--app", "online-boutique", "--app", "teastore",
                              "--replicas", "2", "--spread", "on", "--profile", "edge-small"])
    assert (args.app, args.replicas, args.spread, args.profile) == (["online-boutique", "teastore"], 2, "on",
                                                                    "edge-small")
    defaults = parser.parse_args(["experiment", "deploy", "--out", "x"])
    assert (defaults.app, defaults.replicas, defaults.spread, defaults.profile) == (None, None, "off", "roomy")
    assert defaults.ready_timeout == 600.0


@pytest.mark.parametrize("option, value", [("--replicas", "0"), ("--replicas", "-1"), ("--replicas", "two"),
                                           ("--spread", "yes"), ("--profile", "huge"), ("--ready-timeout", "0")])
def test_cli_refuses_bad_settings(option, value, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["experiment", "deploy", "--out", "x", option, value])
    assert exit_.value.code == 2 and option in capsys.readouterr().err


@pytest.mark.parametrize("apps", [["nosuch-app"], ["teastore", "teastore"]])
def test_cli_refuses_bad_apps_before_building_anything(apps, tmp_path, capsys):
    argv = ["experiment", "deploy", "--out", str(tmp_path / "out")]
    for app in apps:
        argv += ["--app", app]
    assert main(argv) == EXIT_BAD_INPUT
    assert "--app" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_strata_at_a_weight_runs_strata_with_its_start_up_objective():
    assert split_algorithm("kube-default") == ("kube-default", {})
    assert split_algorithm("strata@0.5") == ("strata", {"startup_weight": 0.5})
    assert split_algorithm("strata@1") == ("strata", {"startup_weight": 1.0})
    for bad in ("strata@0", "strata@1.5", "strata@x", "strata@", "kube-default@0.5"):
        with pytest.raises(ValueError, match="strata@0.5"):
            split_algorithm(bad)


def test_at_latency_runs_strata_or_ilp_with_the_client_delay_objective():
    assert split_algorithm("strata@latency=20") == ("strata", {"latency_weight": 20.0})
    assert split_algorithm("ilp@latency=0.5") == ("ilp", {"latency_weight": 0.5})
    for bad in ("strata@latency=0", "strata@latency=-1", "strata@latency=inf", "strata@latency=x",
                "kube-default@latency=5", "strata@delay=5"):
        with pytest.raises(ValueError, match="strata@latency=20"):
            split_algorithm(bad)


@pytest.mark.parametrize("algorithms", ["strata,nosuch", "strata@2", "ilp@0.5"])
def test_cli_refuses_bad_algorithms_before_building_anything(algorithms, tmp_path, capsys):
    assert main(["experiment", "deploy", "--out", str(tmp_path / "out"), "--algorithms", algorithms]) == EXIT_BAD_INPUT
    assert algorithms.split(",")[-1] in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_a_run_that_is_not_ready_says_what_its_instances_wait_for():
    def instance(name, node="", phase=1, message=""):
        return SimpleNamespace(name=name, node=node, phase=phase, message=message)

    instances = [instance("web-1", "edge1", 2), instance("web-2", message="no server has room for it"),
                 instance("db-1", "edge2"), instance("db-2"), instance("web-3", message="no server has room for it")]
    assert waiting_instances(instances) == ("2 instance(s) (web-2, web-3): no server has room for it; "
                                            "1 instance(s) (db-1): on edge2, not running yet; "
                                            "1 instance(s) (db-2): not placed")
    assert waiting_instances(instances, shown=1).startswith("2 instance(s) (web-2, ...): no server")
    assert waiting_instances([instance("web-1", "edge1", 2)]) == "every instance runs; a VIP did not answer"


def test_clients_option_declares_a_services_clients():
    from harness.deploy_experiment import with_clients

    apps = load_apps(["online-boutique"])
    declared = with_clients(apps, ["frontend=site1=3,site3"])
    assert declared[0].service("frontend").clients == (("site1", 3.0), ("site3", 1.0))
    assert declared[0].service("cartservice").clients == ()
    for bad in ("frontend", "frontend=", "=site1", "frontend=site1=0", "nosuch=site1"):
        with pytest.raises(ValueError, match="--clients"):
            with_clients(apps, [bad])
