"""Emulated servers, without root: what each server is given (names, addresses, private folders, SSH
configuration) and the commands that build it, checked for what they do; and `strata cluster`'s
refusals."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

from cli import main
from harness.emulated_cluster import (SERVER_INTERFACE, alive, cable_commands, enter_command, find_server,
                                      holder_command, hosts_file, known_hosts, mountpoints, plan_servers, private_mounts,
                                      server_commands, ssh_client_config, sshd_config)

FOLDER = Path("/tmp/strata-cluster-test")


def config(text: str) -> dict[str, list[str]]:
    """An sshd or ssh configuration's keywords (lower case) and their values."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            out.setdefault(key.lower(), []).append(value.strip())
    return out


def test_servers_get_distinct_names_and_addresses_on_the_subnet():
    servers = plan_servers(3, FOLDER, "10.9.0.0/24")
    assert [s.name for s in servers] == ["server1", "server2", "server3"]
    assert [s.address for s in servers] == ["10.9.0.1", "10.9.0.2", "10.9.0.3"]
    assert all(ipaddress.ip_address(s.address) in ipaddress.ip_network("10.9.0.0/24") for s in servers)
    assert len({s.folder for s in servers}) == 3 and all(s.folder.parent == FOLDER for s in servers)


@pytest.mark.parametrize("count, subnet", [(0, "10.9.0.0/24"), (7, "10.9.0.0/29"), (2, "10.9.0.0/31")])
def test_too_few_addresses_or_no_server_is_refused(count, subnet):
    with pytest.raises(ValueError):
        plan_servers(count, FOLDER, subnet)


def test_every_server_resolves_every_other_by_name():
    servers = plan_servers(3, FOLDER)
    names = {}
    for line in hosts_file(servers).splitlines():
        address, *aliases = line.split()
        for alias in aliases:
            names.setdefault(alias, address)
    assert {s.name: names[s.name] for s in servers} == {s.name: s.address for s in servers}
    assert names["localhost"] == "127.0.0.1"


def test_sshd_accepts_root_by_key_only_on_the_segment_and_allows_tunnels():
    server = plan_servers(2, FOLDER)[1]
    sshd = config(sshd_config(server))
    assert sshd["listenaddress"] == [server.address]
    assert sshd["permitrootlogin"] == ["prohibit-password"]
    assert sshd["passwordauthentication"] == ["no"] and sshd["kbdinteractiveauthentication"] == ["no"]
    assert sshd["permittunnel"] == ["yes"]
    assert sshd["usedns"] == ["no"]
    assert Path(sshd["hostkey"][0]).parent == server.folder and Path(sshd["pidfile"][0]).parent == server.folder


def test_the_client_trusts_only_the_servers_host_keys():
    client = config(ssh_client_config())
    assert client["stricthostkeychecking"] == ["yes"]
    assert client["userknownhostsfile"] == ["/root/.ssh/known_hosts"]
    servers = plan_servers(2, FOLDER)
    lines = known_hosts(servers, {"server1": "ssh-ed25519 AAA1", "server2": "ssh-ed25519 AAA2"}).splitlines()
    assert lines == ["server1,10.254.0.1 ssh-ed25519 AAA1", "server2,10.254.0.2 ssh-ed25519 AAA2"]


def test_what_ovs_sshd_and_strata_write_is_private_to_each_server():
    servers = plan_servers(2, FOLDER)
    ssh = FOLDER / "ssh"
    targets = [target for _, target in private_mounts(servers[0], ssh)]
    for shared in ("/run/openvswitch", "/etc/openvswitch", "/var/log/openvswitch", "/run/sshd", "/run/strata",
                   "/etc/hosts", "/root/.ssh"):
        assert shared in targets
    sources = [[source for source, _ in private_mounts(s, ssh)] for s in servers]
    for server, mine in zip(servers, sources):  # under the emulation's folder, each server's own but the key
        assert all(source == ssh or source.is_relative_to(server.folder) for source in mine)
    assert set(sources[0]) & set(sources[1]) == {ssh}
    assert dict(mountpoints(servers, ssh))["/etc/hosts"] is False  # a file: never created


def test_a_server_is_named_mounted_and_addressed_before_its_daemons_start():
    server = plan_servers(1, FOLDER)[0]
    commands = server_commands(server, FOLDER / "ssh", 24)
    programs = [argv[0] for argv in commands]
    first_daemon = programs.index("ovsdb-server")
    assert programs.index("hostname") < first_daemon
    assert max(k for k, p in enumerate(programs) if p == "mount") < first_daemon
    assert ["ip", "address", "add", f"{server.address}/24", "dev", SERVER_INTERFACE] in commands[:first_daemon]
    assert programs.index("ovsdb-tool") < first_daemon < programs.index("ovs-vswitchd")
    assert commands[-1][0].endswith("sshd") and commands[-1][-1] == str(server.folder / "sshd_config")
    # the OVS of the server uses the privately mounted paths, never another socket or database
    assert "--remote=punix:/run/openvswitch/db.sock" in commands[first_daemon]


def test_namespaces_and_cables():
    holder = holder_command()
    assert holder[0] == "unshare"
    for flag in ("--pid", "--fork", "--mount-proc", "--net", "--mount", "--uts"):
        assert flag in holder
    assert holder[holder.index("--propagation") + 1] == "private"  # mounts never reach the machine
    enter = enter_command(42, ["ip", "a"], "/work")
    assert enter[:1] == ["nsenter"] and "--target=42" in enter and enter[-3:] == ["--", "ip", "a"]
    assert {"--pid", "--net", "--mount", "--uts", "--wd=/work"} <= set(enter)
    server = plan_servers(1, FOLDER)[0]
    cable = cable_commands(server, 4242)
    assert cable[0][-4:] == ["name", SERVER_INTERFACE, "netns", "4242"]  # the far end lands in the server
    assert ["ip", "link", "set", cable[0][3], "master", "seg"] in cable
    assert all(len(argv[3]) <= 15 for argv in cable)  # interface names fit the kernel's limit


def test_exec_without_an_emulation_says_how_to_start_one(tmp_path, capsys):
    assert main(["cluster", "exec", "server1", "--dir", str(tmp_path), "--", "true"]) == 2
    assert "strata cluster emulate" in capsys.readouterr().err
    with pytest.raises(LookupError):
        find_server(tmp_path, "server1")


def test_exec_needs_a_command(tmp_path, capsys):
    assert main(["cluster", "exec", "server1", "--dir", str(tmp_path)]) == 2


def test_cluster_options_are_checked_before_anything_starts(capsys):
    assert main(["topo", "show", "edge-tiered", "--cluster", "a,b"]) == 2
    assert main(["topo", "launch", "edge-tiered", "--cluster", ",".join(f"10.0.0.{k}" for k in range(1, 9))]) == 2
    assert "too few" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["up", "--cluster", "a,a"])
    assert main(["up", "--cluster", "127.0.0.1,no-such-server.invalid"]) == 2
    assert "no-such-server.invalid" in capsys.readouterr().err



def test_a_server_is_alive_only_while_its_init_keeps_its_namespace():
    me = {"pid": os.getpid(), "net": os.readlink(f"/proc/{os.getpid()}/ns/net")}
    assert alive(me)
    assert not alive({**me, "net": "net:[1]"})  # the PID now belongs to another process
    assert not alive({"pid": me["pid"]})          # a state file without it: never trusted
