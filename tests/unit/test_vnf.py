"""The VNF programs' pure parts: frames built byte by byte with struct, decisions on a fake clock."""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from programs.vnf import program as vnf
from programs.vnf.program import (ConfigError, Firewall, FlowTable, Forwarder, MalformedPacket, Monitor,
                                  RateLimiter, TokenBucket, flow_key, parse_frame, reverse_key)

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "programs" / "vnf" / "program.py"
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

VNF_MAC = bytes.fromhex("02766e000003")
CLI_MAC = bytes.fromhex("02766e000001")
SRV_MAC = bytes.fromhex("02766e000002")
CLI, SRV, VNF_IP, OTHER = "10.1.0.1", "10.1.0.2", "10.1.0.3", "192.168.5.9"


# ----------------------------------------------------------------------------- frame building

def checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(src: str, dst: str, proto: int, payload: bytes, *, frag: int = 0, options: bytes = b"",
         version: int = 4) -> bytes:
    ihl = 5 + len(options) // 4
    header = struct.pack("!BBHHHBBH4s4s", (version << 4) | ihl, 0, ihl * 4 + len(payload), 0x1234, frag,
                         64, proto, 0, socket.inet_aton(src), socket.inet_aton(dst)) + options
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + payload


def ether(dst: bytes, src: bytes, payload: bytes, ethertype: int = 0x0800) -> bytes:
    frame = dst + src + struct.pack("!H", ethertype) + payload
    return frame + bytes(max(0, 60 - len(frame)))  # padded to the Ethernet minimum, as on the wire


def tcp(sport: int, dport: int, data: bytes = b"", flags: int = 0x02) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 65535, 0, 0) + data


def udp(sport: int, dport: int, data: bytes = b"") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def icmp_echo(kind: int, ident: int, seq: int = 1, data: bytes = b"x" * 56) -> bytes:
    return struct.pack("!BBHHH", kind, 0, 0, ident, seq) + data


def frame(src: str, dst: str, proto: int, l4: bytes, *, dst_mac: bytes = VNF_MAC, src_mac: bytes = CLI_MAC,
          **ip_kwargs) -> bytes:
    return ether(dst_mac, src_mac, ipv4(src, dst, proto, l4, **ip_kwargs))


def packet(src: str, dst: str, proto: int, l4: bytes, **kwargs) -> vnf.Packet:
    return parse_frame(frame(src, dst, proto, l4, **kwargs))


def ip(text: str) -> int:
    return vnf.ip_to_int(text)


# ----------------------------------------------------------------------------- parsing

def test_parse_tcp_udp_icmp():
    p = packet(CLI, SRV, 6, tcp(40000, 80, b"GET / HTTP/1.0\r\n\r\n"))
    assert (p.src, p.dst, p.proto, p.src_port, p.dst_port, p.fragment) == (ip(CLI), ip(SRV), 6, 40000, 80, False)
    assert p.length == 14 + 20 + 20 + 18

    p = packet(CLI, SRV, 17, udp(5353, 53, b"q"))
    assert (p.proto, p.src_port, p.dst_port, p.length) == (17, 5353, 53, 60)  # padded frame: its length

    p = packet(CLI, SRV, 1, icmp_echo(8, 0xBEEF))
    assert (p.proto, p.src_port, p.dst_port, p.icmp_type, p.icmp_id) == (1, None, None, 8, 0xBEEF)
    unreachable = struct.pack("!BBHI", 3, 3, 0, 0) + bytes(28)
    p = packet(SRV, CLI, 1, unreachable)
    assert (p.icmp_type, p.icmp_id) == (3, None)


def test_parse_other_frames_and_options():
    arp = ether(b"\xff" * 6, CLI_MAC, bytes(28), ethertype=0x0806)
    assert parse_frame(arp) is None
    assert parse_frame(b"\x00" * 10) is None
    # An IPv4 header with options (IHL 6): the ports are after them.
    p = packet(CLI, SRV, 17, udp(1000, 2000), options=b"\x01\x01\x01\x00")
    assert (p.src_port, p.dst_port) == (1000, 2000)
    # Only `length` bytes of a larger receive buffer count.
    data = frame(CLI, SRV, 17, udp(1, 2, b"abc"))
    buffer = bytearray(2048)
    buffer[:len(data)] = data
    assert parse_frame(memoryview(buffer), len(data)) == parse_frame(data)


def test_parse_fragments_have_no_ports():
    later = packet(CLI, SRV, 17, b"continuation....", frag=185)  # offset 185 * 8
    assert later.fragment and later.src_port is None and later.dst_port is None
    first = packet(CLI, SRV, 17, udp(1, 2, b"abc"), frag=0x2000)  # more fragments, offset 0
    assert not first.fragment and first.dst_port == 2
    tiny = packet(CLI, SRV, 6, b"\x01\x02")  # a transport header too short to hold the ports
    assert tiny.src_port is None and not tiny.fragment


@pytest.mark.parametrize("proto", [6, 17])
def test_exactly_four_transport_bytes_hold_the_ports(proto):
    # an IPv4 total length of 20 + 4: the ports and nothing after them (the frame's padding is not
    # the packet's); one byte fewer and the ports are unknown
    four = packet(CLI, SRV, proto, struct.pack("!HH", 40000, 80))
    assert (four.proto, four.src_port, four.dst_port, four.fragment, four.length) == (proto, 40000, 80, False, 60)
    three = packet(CLI, SRV, proto, struct.pack("!HB", 40000, 0))
    assert (three.src_port, three.dst_port) == (None, None)


@pytest.mark.parametrize("proto, name", [(6, "tcp"), (17, "udp")])
def test_firewall_and_monitor_act_on_the_ports_of_a_four_byte_transport_header(proto, name):
    data = frame(CLI, SRV, proto, struct.pack("!HH", 40000, 80))
    reply = frame(SRV, CLI, proto, struct.pack("!HH", 80, 40000))
    allow_80 = firewall({"default": "deny", "rules": [{"protocol": name, "dst_port": 80, "action": "allow"}]})
    fwd = Forwarder(allow_80, VNF_MAC, ip(VNF_IP))
    assert fwd.handle(bytearray(data), len(data), vnf.PACKET_HOST, 1.0) is True  # the rule read port 80
    assert fwd.handle(bytearray(reply), len(reply), vnf.PACKET_HOST, 1.1) is True  # its reply, by state
    assert allow_80.rules[0].hits == 1 and allow_80.established_hits == 1 and allow_80.malformed == 0
    deny_80 = firewall({"default": "allow", "rules": [{"protocol": name, "dst_port": 80, "action": "deny"}]})
    assert Forwarder(deny_80, VNF_MAC, ip(VNF_IP)).handle(bytearray(data), len(data), vnf.PACKET_HOST, 1.0) is False
    assert deny_80.rules[0].hits == 1 and deny_80.malformed == 0
    monitor = Monitor(idle_timeout=5)
    for now, frame_bytes in [(0, data), (0.1, reply), (0.2, data)]:
        assert Forwarder(monitor, VNF_MAC, ip(VNF_IP)).handle(bytearray(frame_bytes), len(frame_bytes),
                                                              vnf.PACKET_HOST, now) is True
    assert monitor.flows.total == 1 and monitor.direction_packets == [2, 1] and monitor.malformed == 0


@pytest.mark.parametrize("data", [
    ether(VNF_MAC, CLI_MAC, b"\x45\x00"),                                           # cut inside the header
    ether(VNF_MAC, CLI_MAC, ipv4(CLI, SRV, 17, udp(1, 2), version=6)),             # not version 4
    ether(VNF_MAC, CLI_MAC, b"\x44" + ipv4(CLI, SRV, 17, udp(1, 2))[1:]),          # IHL 4 < 5
])
def test_parse_malformed(data):
    with pytest.raises(MalformedPacket):
        parse_frame(data)


def test_parse_total_length_beyond_frame():
    data = bytearray(frame(CLI, SRV, 17, udp(1, 2, b"x" * 100)))
    struct.pack_into("!H", data, 16, 400)
    with pytest.raises(MalformedPacket):
        parse_frame(data)


def test_flow_keys_pair_both_directions():
    request = packet(CLI, SRV, 1, icmp_echo(8, 77))
    reply = packet(SRV, CLI, 1, icmp_echo(0, 77))
    assert reverse_key(flow_key(request)) == flow_key(reply)
    syn = packet(CLI, SRV, 6, tcp(40000, 80))
    synack = packet(SRV, CLI, 6, tcp(80, 40000, flags=0x12))
    assert reverse_key(flow_key(syn)) == flow_key(synack)
    assert flow_key(packet(CLI, SRV, 47, b"gre-payload")) == (47, ip(CLI), ip(SRV), 0, 0)


# ----------------------------------------------------------------------------- firewall

def firewall(config: dict) -> Firewall:
    return vnf.build_vnf("firewall", vnf.parse_vnf_config("firewall", json.dumps(config)), 0.0)


def test_first_match_wins_and_default():
    allow_first = firewall({"default": "deny", "rules": [
        {"protocol": "tcp", "dst_port": 80, "action": "allow"},
        {"protocol": "tcp", "action": "deny"}], "stateful": False})
    deny_first = firewall({"default": "allow", "rules": [
        {"protocol": "tcp", "action": "deny"},
        {"protocol": "tcp", "dst_port": 80, "action": "allow"}], "stateful": False})
    web = packet(CLI, SRV, 6, tcp(40000, 80))
    assert allow_first.process(web, 1.0) is True
    assert deny_first.process(web, 1.0) is False
    assert [r.hits for r in allow_first.rules] == [1, 0] and [r.hits for r in deny_first.rules] == [1, 0]
    ssh = packet(CLI, SRV, 6, tcp(40000, 22))
    assert allow_first.process(ssh, 1.0) is False and allow_first.rules[1].hits == 1
    dns = packet(CLI, SRV, 17, udp(5353, 53))
    assert allow_first.process(dns, 1.0) is False and allow_first.default_hits == 1
    assert deny_first.process(dns, 1.0) is True and deny_first.default_hits == 1
    assert (allow_first.passed, allow_first.dropped) == (1, 2)


def test_cidrs_and_protocols():
    fw = firewall({"default": "deny", "stateful": False, "rules": [
        {"src_cidr": "10.1.0.0/30", "dst_cidr": "10.1.0.2/32", "protocol": "udp", "action": "allow"},
        {"src_cidr": "192.168.0.0/16", "protocol": "icmp", "action": "allow"}]})
    assert fw.process(packet(CLI, SRV, 17, udp(1, 2)), 0) is True
    assert fw.process(packet(CLI, VNF_IP, 17, udp(1, 2)), 0) is False    # dst outside /32
    assert fw.process(packet("10.1.0.4", SRV, 17, udp(1, 2)), 0) is False  # src outside /30
    assert fw.process(packet(CLI, SRV, 6, tcp(1, 2)), 0) is False         # protocol
    assert fw.process(packet(OTHER, SRV, 1, icmp_echo(8, 1)), 0) is True


def test_port_ranges():
    fw = firewall({"default": "deny", "stateful": False, "rules": [
        {"protocol": "any", "dst_port": "1000-1010", "src_port": 5000, "action": "allow"}]})
    assert fw.process(packet(CLI, SRV, 6, tcp(5000, 1000)), 0) is True
    assert fw.process(packet(CLI, SRV, 17, udp(5000, 1010)), 0) is True
    assert fw.process(packet(CLI, SRV, 17, udp(5000, 999)), 0) is False
    assert fw.process(packet(CLI, SRV, 17, udp(5000, 1011)), 0) is False
    assert fw.process(packet(CLI, SRV, 17, udp(5001, 1005)), 0) is False
    # Ports known nowhere: ICMP under protocol any, a later fragment.
    assert fw.process(packet(CLI, SRV, 1, icmp_echo(8, 1)), 0) is False
    assert fw.process(packet(CLI, SRV, 17, b"more data", frag=10), 0) is False
    assert vnf.parse_port_range("7-7", "x") == (7, 7) and vnf.parse_port_range(" 80 ", "x") == (80, 80)


def test_stateful_replies_pass_under_default_deny():
    fw = firewall({"default": "deny", "idle_timeout": 10, "rules": [
        {"src_cidr": f"{CLI}/32", "protocol": "tcp", "dst_port": 80, "action": "allow"}]})
    syn = packet(CLI, SRV, 6, tcp(40000, 80))
    synack = packet(SRV, CLI, 6, tcp(80, 40000, flags=0x12), src_mac=SRV_MAC)
    assert fw.process(synack, 0.0) is False            # no flow allowed yet
    assert fw.process(syn, 1.0) is True
    assert fw.process(synack, 2.0) is True             # the reply of an allowed flow
    assert fw.established_hits == 1
    assert fw.process(packet(SRV, CLI, 6, tcp(80, 40001)), 2.0) is False  # another port: not a reply
    assert fw.process(packet(SRV, CLI, 6, tcp(8080, 40000)), 2.0) is False
    assert fw.process(synack, 11.5) is True            # 9.5 s idle: still alive, refreshed
    assert fw.process(synack, 21.0) is True
    assert fw.process(synack, 31.5) is False           # 10.5 s idle: forgotten
    assert fw.process(syn, 32.0) is True and fw.process(synack, 32.1) is True  # the client reopens it
    # Replies under stateful off.
    stateless = firewall({"default": "deny", "stateful": False, "rules": [
        {"src_cidr": f"{CLI}/32", "protocol": "tcp", "dst_port": 80, "action": "allow"}]})
    assert stateless.process(syn, 1.0) is True and stateless.process(synack, 2.0) is False


def test_stateful_ping_and_expiry_sweep():
    fw = firewall({"default": "deny", "idle_timeout": 2,
                   "rules": [{"protocol": "icmp", "dst_cidr": f"{SRV}/32", "action": "allow"}]})
    assert fw.process(packet(CLI, SRV, 1, icmp_echo(8, 9)), 0.0) is True
    assert fw.process(packet(SRV, CLI, 1, icmp_echo(0, 9)), 0.1) is True
    assert fw.process(packet(SRV, CLI, 1, icmp_echo(0, 10)), 0.2) is False  # another identifier
    assert len(fw.state) == 1
    fw.process(packet(OTHER, SRV, 17, udp(1, 2)), 10.0)   # a later packet runs the sweep
    assert len(fw.state) == 0 and fw.flows.active == 1


def test_state_table_is_bounded():
    fw = firewall({"default": "allow", "max_flows": 2})
    for port in range(5):
        assert fw.process(packet(CLI, SRV, 17, udp(1000 + port, 53)), 1.0) is True
    assert len(fw.state) == 2 and fw.state_full == 3
    assert fw.flows.active == 2 and fw.flows.untracked == 3


# ----------------------------------------------------------------------------- rate limiter

def test_token_bucket_math():
    bucket = TokenBucket(rate=1000.0, capacity=3000.0, now=10.0)
    assert bucket.allow(3000, 10.0)                  # starts full: the burst
    assert not bucket.allow(1, 10.0)
    assert not bucket.allow(600, 10.5)               # 500 tokens after 0.5 s
    assert bucket.allow(500, 10.5) and bucket.tokens == 0
    assert bucket.allow(3000, 100.0)                 # refill caps at the capacity
    assert not bucket.allow(1, 100.0)
    assert not bucket.allow(1, 99.0)                 # a clock stepping back adds nothing
    assert bucket.allow(1000, 101.0)


def test_ratelimit_holds_its_rate():
    limiter = vnf.build_vnf("ratelimit", vnf.parse_vnf_config(
        "ratelimit", json.dumps({"rate_mbps": 1, "burst_kbytes": 10})), 0.0)
    assert isinstance(limiter, RateLimiter) and limiter.bucket.rate == 125_000
    p = packet(CLI, SRV, 17, udp(1, 2, bytes(958)))     # 1000-byte frames
    assert p.length == 1000
    # 8 Mbit/s offered for 10 s (one frame per ms) against 1 Mbit/s.
    for i in range(10_000):
        limiter.process(p, i / 1000)
    assert limiter.bytes_passed == pytest.approx(10_000 + 125_000 * 9.999, abs=1000)
    assert limiter.passed + limiter.dropped == 10_000


# ----------------------------------------------------------------------------- monitor

def test_monitor_counts_flows_both_directions_as_one():
    monitor = Monitor(idle_timeout=5)
    syn = packet(CLI, SRV, 6, tcp(40000, 80))
    synack = packet(SRV, CLI, 6, tcp(80, 40000, flags=0x12))
    for now, p in [(0, syn), (0.1, synack), (0.2, syn), (0.3, synack), (0.4, syn)]:
        assert monitor.process(p, now) is True
    assert monitor.flows.total == 1
    assert monitor.direction_packets == [3, 2]
    assert monitor.direction_bytes == [3 * syn.length, 2 * synack.length]
    monitor.process(packet(CLI, SRV, 6, tcp(40001, 80)), 0.5)         # a second connection
    monitor.process(packet(CLI, SRV, 1, icmp_echo(8, 3)), 0.6)
    monitor.process(packet(SRV, CLI, 1, icmp_echo(0, 3)), 0.7)        # the ping's reply
    monitor.process(packet(CLI, SRV, 17, b"frag", frag=40), 0.8)      # a fragment: no flow of its own
    assert monitor.flows.total == 3 and monitor.flows.active == 3
    assert monitor.passed == 9 and monitor.dropped == 0
    monitor.process(synack, 20.0)                                     # idle too long: counted again,
    assert monitor.flows.total == 4 and monitor.flows.active == 1     # from the side now sending first
    assert monitor.direction_packets == [7, 3]


def test_flow_table_bound():
    table = FlowTable(idle_timeout=5, max_flows=1)
    assert table.observe((17, 1, 2, 3, 4), 0) is True
    assert table.observe((17, 2, 1, 4, 3), 0) is False
    assert table.observe((17, 1, 2, 3, 5), 0) is True and table.untracked == 1 and table.total == 1


# ----------------------------------------------------------------------------- forwarding on the buffer

def forwarder(kind: str = "monitor", **kwargs) -> Forwarder:
    return Forwarder(vnf.build_vnf(kind, {}, 0.0), VNF_MAC, ip(VNF_IP), **kwargs)


def test_forwarder_rewrites_only_the_source_mac():
    fwd = forwarder()
    data = frame(CLI, SRV, 17, udp(1, 2, b"payload"))
    buffer = bytearray(4096)
    buffer[:len(data)] = data
    assert fwd.handle(memoryview(buffer), len(data), vnf.PACKET_HOST, 1.0) is True
    out = bytes(buffer[:len(data)])
    assert out[:6] == VNF_MAC and out[6:12] == VNF_MAC and out[12:] == data[12:]


def test_forwarder_next_hops():
    hops = vnf.parse_next_hops(f"{SRV}=02:76:6e:00:00:02, {CLI}=2:76:6e:0:0:1")
    fwd = forwarder(next_hops=hops)
    to_server = bytearray(frame(CLI, SRV, 17, udp(1, 2)))
    assert fwd.handle(to_server, len(to_server), vnf.PACKET_HOST, 0) and to_server[:6] == SRV_MAC
    to_client = bytearray(frame(SRV, CLI, 17, udp(2, 1)))
    assert fwd.handle(to_client, len(to_client), vnf.PACKET_HOST, 0) and to_client[:6] == CLI_MAC
    elsewhere = bytearray(frame(CLI, OTHER, 17, udp(1, 2)))
    assert fwd.handle(elsewhere, len(elsewhere), vnf.PACKET_HOST, 0) and elsewhere[:6] == VNF_MAC
    default = vnf.parse_next_hops(f"02:00:00:00:00:09,{SRV}=02:76:6e:00:00:02")
    assert default.default == bytes.fromhex("020000000009") and default.by_destination == {ip(SRV): SRV_MAC}
    assert vnf.parse_next_hops(" ") is None


def test_forwarder_leaves_what_is_not_its_own():
    fwd = forwarder()
    cases = [
        (frame(CLI, SRV, 17, udp(1, 2), dst_mac=SRV_MAC), vnf.PACKET_HOST),   # another MAC
        (frame(CLI, VNF_IP, 6, tcp(40000, 9100)), vnf.PACKET_HOST),           # to its own address
        (ether(VNF_MAC, CLI_MAC, bytes(28), ethertype=0x0806), vnf.PACKET_HOST),  # ARP
        (frame(CLI, SRV, 17, udp(1, 2)), vnf.PACKET_OUTGOING),                # its own frame going out
        (frame(CLI, SRV, 17, udp(1, 2), dst_mac=b"\xff" * 6), 1),             # broadcast
    ]
    for data, pkttype in cases:
        buffer = bytearray(data)
        assert fwd.handle(buffer, len(buffer), pkttype, 0) is False
        assert bytes(buffer) == data
    assert fwd.ignored == len(cases) and fwd.vnf.passed + fwd.vnf.dropped == 0


def test_forwarder_drops_malformed_and_what_the_vnf_drops():
    fwd = Forwarder(firewall({"default": "deny"}), VNF_MAC, ip(VNF_IP))
    broken = ether(VNF_MAC, CLI_MAC, b"\x45\x00\x00")
    assert fwd.handle(bytearray(broken), len(broken), vnf.PACKET_HOST, 0) is False
    data = frame(CLI, SRV, 17, udp(1, 2))
    assert fwd.handle(bytearray(data), len(data), vnf.PACKET_HOST, 0) is False
    assert (fwd.vnf.malformed, fwd.vnf.dropped, fwd.vnf.passed) == (1, 2, 0)


# ----------------------------------------------------------------------------- configuration

FIREWALL_OK = {"default": "deny", "rules": [{"protocol": "tcp", "dst_port": 80, "action": "allow"}]}


def rule(**fields) -> dict:
    return {"default": "deny", "rules": [{"action": "allow", **fields}]}


@pytest.mark.parametrize("kind,config,field", [
    ("firewall", {"rules": []}, "default"),
    ("firewall", {"default": "drop"}, "default"),
    ("firewall", {"default": "deny", "stateful": "yes"}, "stateful"),
    ("firewall", {"default": "deny", "rules": {}}, "rules"),
    ("firewall", {"default": "deny", "rules": ["allow"]}, "rules[0]"),
    ("firewall", {"default": "deny", "rules": [{"protocol": "tcp"}]}, "rules[0].action"),
    ("firewall", rule(action="permit"), "rules[0].action"),
    ("firewall", {"default": "deny", "rules": [{"action": "allow"}, {"action": "deny", "protocol": "sctp"}]},
     "rules[1].protocol"),
    ("firewall", rule(protocol=["tcp"]), "rules[0].protocol"),
    ("firewall", rule(src_cidr="10.0.0.300/24"), "rules[0].src_cidr"),
    ("firewall", rule(dst_cidr="10.0.0.1/24"), "rules[0].dst_cidr"),   # host bits set
    ("firewall", rule(dst_cidr=24), "rules[0].dst_cidr"),
    ("firewall", rule(protocol="tcp", dst_port="90-80"), "rules[0].dst_port"),
    ("firewall", rule(protocol="tcp", dst_port=70000), "rules[0].dst_port"),
    ("firewall", rule(protocol="udp", src_port="http"), "rules[0].src_port"),
    ("firewall", rule(protocol="udp", src_port=True), "rules[0].src_port"),
    ("firewall", rule(protocol="icmp", dst_port=80), "rules[0].dst_port"),
    ("firewall", rule(dest_cidr="10.0.0.0/8"), "rules[0].dest_cidr"),
    ("firewall", rule(name=7), "rules[0].name"),
    ("firewall", {"default": "deny", "idle_timeout": 0}, "idle_timeout"),
    ("firewall", {"default": "deny", "max_flows": 1.5}, "max_flows"),
    ("firewall", {"default": "deny", "rule": []}, "rule"),
    ("ratelimit", {"burst_kbytes": 64}, "rate_mbps"),
    ("ratelimit", {"rate_mbps": 10}, "burst_kbytes"),
    ("ratelimit", {"rate_mbps": -1, "burst_kbytes": 64}, "rate_mbps"),
    ("ratelimit", {"rate_mbps": True, "burst_kbytes": 64}, "rate_mbps"),
    ("ratelimit", {"rate_mbps": 10, "burst_kbytes": 1}, "burst_kbytes"),
    ("ratelimit", {"rate_mbps": 10, "burst_kbytes": "64"}, "burst_kbytes"),
    ("monitor", {"idle_timeout": "long"}, "idle_timeout"),
    ("monitor", {"rate_mbps": 1}, "rate_mbps"),
])
def test_bad_config_names_the_field(kind, config, field):
    with pytest.raises(ConfigError) as error:
        vnf.load_config({"STRATA_VNF_KIND": kind, "STRATA_VNF_CONFIG": json.dumps(config)})
    assert str(error.value).startswith(f"STRATA_VNF_CONFIG: {field}: "), str(error.value)


@pytest.mark.parametrize("env,variable", [
    ({}, "STRATA_VNF_KIND"),
    ({"STRATA_VNF_KIND": "nat"}, "STRATA_VNF_KIND"),
    ({"STRATA_VNF_KIND": "firewall"}, "STRATA_VNF_CONFIG"),
    ({"STRATA_VNF_KIND": "firewall", "STRATA_VNF_CONFIG": "{default: deny}"}, "STRATA_VNF_CONFIG"),
    ({"STRATA_VNF_KIND": "monitor", "STRATA_VNF_CONFIG": "[]"}, "STRATA_VNF_CONFIG"),
    ({"STRATA_VNF_KIND": "monitor", "STRATA_VNF_METRICS_PORT": "http"}, "STRATA_VNF_METRICS_PORT"),
    ({"STRATA_VNF_KIND": "monitor", "STRATA_VNF_METRICS_PORT": "70000"}, "STRATA_VNF_METRICS_PORT"),
    ({"STRATA_VNF_KIND": "monitor", "STRATA_VNF_INTERFACE": "a/b"}, "STRATA_VNF_INTERFACE"),
    ({"STRATA_VNF_KIND": "monitor", "STRATA_VNF_NEXT_MAC": "02:00:00:00:00"}, "STRATA_VNF_NEXT_MAC"),
    ({"STRATA_VNF_KIND": "monitor", "STRATA_VNF_NEXT_MAC": "10.0.0.x=02:00:00:00:00:01"}, "STRATA_VNF_NEXT_MAC"),
])
def test_bad_environment_names_the_variable(env, variable):
    with pytest.raises(ConfigError) as error:
        vnf.load_config(env)
    assert str(error.value).startswith(f"{variable}: "), str(error.value)


def test_good_config_and_defaults():
    config = vnf.load_config({"STRATA_VNF_KIND": "monitor"})
    assert (config.interface, config.metrics_port, config.metrics_bind, config.next_hops) == \
        ("eth0", 9100, "0.0.0.0", None)
    config = vnf.load_config({"STRATA_VNF_KIND": "firewall", "STRATA_VNF_CONFIG": json.dumps(FIREWALL_OK)})
    assert config.settings["stateful"] is True and config.settings["default_allow"] is False
    built = vnf.build_vnf(config.kind, config.settings, 0.0)
    assert built.flows.idle_timeout == vnf.DEFAULT_IDLE_TIMEOUT


def test_program_exits_2_naming_the_field(tmp_path):
    program = tmp_path / "opt" / "strata" / "vnf.py"   # alone, as in a container
    program.parent.mkdir(parents=True)
    program.write_bytes(PROGRAM.read_bytes())
    env = {"PATH": "/usr/bin:/bin", "STRATA_VNF_KIND": "firewall",
           "STRATA_VNF_CONFIG": json.dumps(rule(protocol="tcp", dst_port="1-x"))}
    result = subprocess.run([PYTHON, "-I", str(program)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "STRATA_VNF_CONFIG: rules[0].dst_port:" in result.stderr


# ----------------------------------------------------------------------------- kernel forwarding

def test_kernel_forwarding_is_turned_off_or_refused(tmp_path, monkeypatch):
    sysctl = tmp_path / "ip_forward"
    sysctl.write_text("0\n")
    assert vnf.disable_kernel_forwarding(str(sysctl)) == "kernel forwarding is off"
    sysctl.write_text("1\n")
    assert "set to 0" in vnf.disable_kernel_forwarding(str(sysctl))
    assert sysctl.read_text().strip() == "0"

    sysctl.write_text("1\n")
    real_open = open

    def read_only(path, mode="r", *args, **kwargs):  # /proc/sys as runc mounts it
        if "w" in mode:
            raise OSError(30, "Read-only file system")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(vnf, "open", read_only, raising=False)
    with pytest.raises(vnf.StartError, match="ip_forward is 1.*not writable"):
        vnf.disable_kernel_forwarding(str(sysctl))


# ----------------------------------------------------------------------------- counters out

def firewall_forwarder() -> Forwarder:
    fw = firewall({"default": "deny", "rules": [
        {"name": "web \"80\"", "protocol": "tcp", "dst_port": 80, "action": "allow"}]})
    fwd = Forwarder(fw, VNF_MAC, ip(VNF_IP))
    for data in (frame(CLI, SRV, 6, tcp(40000, 80)), frame(SRV, CLI, 6, tcp(80, 40000)),
                 frame(CLI, SRV, 17, udp(1, 2))):
        fwd.handle(bytearray(data), len(data), vnf.PACKET_HOST, 1.0)
    return fwd


def test_snapshot_and_metrics_text():
    stats = vnf.snapshot(firewall_forwarder(), name="fw1", interface="eth0", started=0.0, now=5.0)
    assert stats["packets"] == {"seen": 3, "passed": 2, "dropped": 1, "malformed": 0}
    assert stats["flows"]["total"] == 2
    assert stats["firewall"]["rules"][0]["hits"] == 1 and stats["firewall"]["established_hits"] == 1
    assert stats["mac"] == "02:76:6e:00:00:03" and stats["ip"] == VNF_IP
    text = vnf.render_metrics(stats)
    samples = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert line.split()[1] in ("HELP", "TYPE")
            continue
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    assert samples['strata_vnf_packets_total{kind="firewall",verdict="pass"}'] == 2
    assert samples['strata_vnf_packets_total{kind="firewall",verdict="drop"}'] == 1
    assert samples['strata_vnf_rule_hits_total{kind="firewall",rule="0",name="web \\"80\\"",action="allow"}'] == 1
    assert samples['strata_vnf_rule_hits_total{kind="firewall",rule="default",name="",action="deny"}'] == 1
    assert samples['strata_vnf_rule_hits_total{kind="firewall",rule="established",name="",action="allow"}'] == 1
    assert samples['strata_vnf_flows_total{kind="firewall"}'] == 2
    assert "# TYPE strata_vnf_flows_active gauge" in text


def test_metrics_server_routes():
    fwd = firewall_forwarder()
    server = vnf.MetricsServer("127.0.0.1", 0, lambda: vnf.snapshot(fwd))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        def get(path):
            connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            connection.close()
            return response.status, response.getheader("Content-Type"), body

        status, kind, body = get("/stats")
        assert status == 200 and kind == "application/json" and json.loads(body)["packets"]["passed"] == 2
        status, kind, body = get("/metrics")
        assert status == 200 and kind.startswith("text/plain; version=0.0.4")
        assert b'strata_vnf_packets_total{kind="firewall",verdict="pass"} 2' in body
        assert get("/healthz")[:2] == (200, "application/json")
        assert get("/nope")[0] == 404
    finally:
        server.shutdown()
        server.server_close()
