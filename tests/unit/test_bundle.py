"""The OCI bundle config: the pod's namespace joined, CPU shares, read-only binds and files, limits, seccomp."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from dataplane.agent.bundle import (DEFAULT_MEMORY_LIMIT_MIB, DEFAULT_PIDS_LIMIT, cpu_shares, effective_memory_limit_mib,
                                    runtime_config, seccomp_profile)
from dataplane.agent.node import NodeConfig


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


DOCKER_DEFAULT_CAPABILITIES = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
}
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET, CLONE_THREAD = 0x00020000, 0x10000000, 0x40000000, 0x00010000


def seccomp_outcome(profile, syscall, args=()):
    """What the kernel would do for one call, as libseccomp builds the filter: the first matching
    rule's (action, errno), else the default action. Argument rules compare as the spec says."""
    def matches(condition):
        value = args[condition["index"]] if condition["index"] < len(args) else 0
        if condition["op"] == "SCMP_CMP_MASKED_EQ":
            return value & condition["value"] == condition["valueTwo"]
        if condition["op"] == "SCMP_CMP_EQ":
            return value == condition["value"]
        raise AssertionError(f"operator {condition['op']} not modelled")

    for rule in profile["syscalls"]:
        if syscall in rule["names"] and all(matches(c) for c in rule.get("args", [])):
            return rule["action"], rule.get("errnoRet")
    return profile["defaultAction"], None


def test_every_container_has_a_pids_limit():
    assert make_config()["linux"]["resources"]["pids"] == {"limit": DEFAULT_PIDS_LIMIT}
    assert make_config(pids_limit=64)["linux"]["resources"]["pids"] == {"limit": 64}
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            make_config(pids_limit=bad)


def test_a_container_without_a_limit_gets_the_default_or_its_request():
    assert effective_memory_limit_mib(256, 64, DEFAULT_MEMORY_LIMIT_MIB) == 256  # its own limit wins
    assert effective_memory_limit_mib(0, 64, 512) == 512
    assert effective_memory_limit_mib(0, 2048, 512) == 2048  # a request above the default is kept
    assert effective_memory_limit_mib(0, 64, 0) == 0  # the node turned the default off


def test_the_node_applies_its_default_limits():
    config = NodeConfig(name="edge1", ip="10.0.0.3", switch="s1", pod_cidr="10.1.0.0/24", cpu_millicores=1000,
                        storage_capacity_bytes=1, state_dir=Path("/nonexistent"), registry_url="http://10.0.0.2:5000",
                        image_scale=0.01)
    assert config.memory_limit_mib(0, 0) == DEFAULT_MEMORY_LIMIT_MIB == 512
    assert config.pids_limit == DEFAULT_PIDS_LIMIT == 1024
    with pytest.raises(ValueError):
        NodeConfig(**{**config.__dict__, "pids_limit": 0})
    with pytest.raises(ValueError):
        NodeConfig(**{**config.__dict__, "default_memory_limit_mib": float("nan")})


def test_the_default_seccomp_profile_denies_what_containers_must_not_do():
    profile = make_config()["linux"]["seccomp"]
    assert profile == seccomp_profile()
    for syscall in ("mount", "umount2", "unshare", "setns", "pivot_root", "bpf", "init_module", "kexec_load",
                    "reboot", "keyctl", "open_by_handle_at", "fsopen", "io_uring_setup", "userfaultfd"):
        assert seccomp_outcome(profile, syscall) == ("SCMP_ACT_ERRNO", errno.EPERM), syscall
    assert seccomp_outcome(profile, "clone3") == ("SCMP_ACT_ERRNO", errno.ENOSYS)  # libc falls back to clone


def test_clone_makes_threads_and_processes_but_no_namespaces():
    profile = seccomp_profile()
    assert seccomp_outcome(profile, "clone", [CLONE_THREAD])[0] == "SCMP_ACT_ALLOW"
    assert seccomp_outcome(profile, "clone", [0x11])[0] == "SCMP_ACT_ALLOW"  # fork: SIGCHLD
    for flag in (CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET, CLONE_THREAD | CLONE_NEWNET):
        assert seccomp_outcome(profile, "clone", [flag]) == ("SCMP_ACT_ERRNO", errno.EPERM), hex(flag)


def test_ordinary_syscalls_are_allowed():
    profile = seccomp_profile()
    for syscall in ("read", "write", "openat", "socket", "bind", "execve", "futex", "epoll_wait", "ptrace"):
        assert seccomp_outcome(profile, syscall) == ("SCMP_ACT_ALLOW", None), syscall
    assert {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"} <= set(profile["architectures"])


def test_no_new_privileges_and_fewer_capabilities_than_docker():
    config = make_config(capabilities=["CAP_NET_RAW"])
    assert config["process"]["noNewPrivileges"] is True
    for kind, capabilities in config["process"]["capabilities"].items():
        assert set(capabilities) <= DOCKER_DEFAULT_CAPABILITIES, kind
        assert "CAP_SYS_ADMIN" not in capabilities and "CAP_NET_ADMIN" not in capabilities
    assert "CAP_NET_RAW" not in make_config()["process"]["capabilities"]["bounding"]


def test_kernel_interfaces_are_masked_or_read_only():
    linux = make_config()["linux"]
    assert {"/proc/kcore", "/proc/keys", "/sys/firmware", "/sys/devices/virtual/powercap"} <= set(linux["maskedPaths"])
    assert {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq"} <= set(linux["readonlyPaths"])
