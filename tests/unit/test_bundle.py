"""The OCI bundle config: the pod's namespace joined, CPU shares, read-only binds and files."""

from __future__ import annotations

from dataplane.agent.bundle import cpu_shares, runtime_config


def make_config(**overrides):
    arguments = dict(args=["python3", "-m", "http.server", "80"], env=["APP=web"], cwd="/srv",
                     hostname="web-1", netns_path="/var/run/netns/edge1-web-1", cpu_millicores=500,
                     host_dirs=("/usr", "/lib64"))
    arguments.update(overrides)
    return runtime_config(**arguments)


def mount_at(config, destination):
    matches = [mount for mount in config["mounts"] if mount["destination"] == destination]
    assert len(matches) == 1, f"{destination}: {matches}"
    return matches[0]


def test_joins_the_named_network_namespace_and_creates_the_others():
    namespaces = {ns["type"]: ns for ns in make_config()["linux"]["namespaces"]}
    assert set(namespaces) == {"pid", "network", "ipc", "uts", "mount"}
    assert namespaces["network"]["path"] == "/var/run/netns/edge1-web-1"
    assert all("path" not in ns for kind, ns in namespaces.items() if kind != "network")


def test_cpu_shares_follow_kubernetes():
    assert cpu_shares(1000) == 1024
    assert cpu_shares(500) == 512
    assert cpu_shares(250) == 256
    assert cpu_shares(0) == 2
    assert cpu_shares(1) == 2
    assert cpu_shares(10_000_000) == 262144
    assert make_config(cpu_millicores=1500)["linux"]["resources"]["cpu"]["shares"] == 1536


def test_process_runs_the_command_with_a_default_path():
    process = make_config()["process"]
    assert process["args"] == ["python3", "-m", "http.server", "80"]
    assert process["cwd"] == "/srv"
    assert process["terminal"] is False
    assert "APP=web" in process["env"]
    assert any(entry.startswith("PATH=") and "/usr/bin" in entry for entry in process["env"])
    for kind in ("bounding", "effective", "permitted"):
        assert "CAP_NET_BIND_SERVICE" in process["capabilities"][kind]


def test_a_given_path_is_kept():
    env = make_config(env=["PATH=/opt/bin"])["process"]["env"]
    assert [entry for entry in env if entry.startswith("PATH=")] == ["PATH=/opt/bin"]


def test_host_dirs_binds_and_files_are_read_only_binds():
    config = make_config(binds=[("/data/site", "/srv")], files=[("/run/agent/web-1/hosts", "/etc/hosts")])
    for source, destination in [("/usr", "/usr"), ("/lib64", "/lib64"), ("/data/site", "/srv"),
                                ("/run/agent/web-1/hosts", "/etc/hosts")]:
        mount = mount_at(config, destination)
        assert mount["type"] == "bind"
        assert mount["source"] == source
        assert "ro" in mount["options"]
    assert not [mount for mount in config["mounts"] if mount["destination"] in ("/bin", "/sbin")]


def test_kernel_filesystems_and_a_writable_root():
    config = make_config(rootfs="/var/lib/strata/edge1/web-1/rootfs")
    assert config["root"] == {"path": "/var/lib/strata/edge1/web-1/rootfs", "readonly": False}
    assert mount_at(config, "/proc")["type"] == "proc"
    assert mount_at(config, "/dev")["type"] == "tmpfs"
    assert mount_at(config, "/dev/pts")["type"] == "devpts"
    assert "ro" in mount_at(config, "/sys")["options"]
    assert config["hostname"] == "web-1"
    assert "/proc/kcore" in config["linux"]["maskedPaths"]
    assert "/proc/sys" in config["linux"]["readonlyPaths"]


def test_default_host_dirs_are_the_ones_this_machine_has():
    destinations = {mount["destination"] for mount in runtime_config(
        args=["sh"], env=[], cwd="/", hostname="h", netns_path="/var/run/netns/x", cpu_millicores=100)["mounts"]}
    assert "/usr" in destinations


def test_a_memory_limit_caps_memory_and_swap_in_bytes():
    memory = make_config(memory_limit_mib=16)["linux"]["resources"]["memory"]
    assert memory == {"limit": 16 * 2**20, "swap": 16 * 2**20}
    assert make_config(memory_limit_mib=0.5)["linux"]["resources"]["memory"]["limit"] == 524288


def test_no_memory_limit_leaves_memory_unset():
    assert "memory" not in make_config()["linux"]["resources"]
    assert "memory" not in make_config(memory_limit_mib=0)["linux"]["resources"]
