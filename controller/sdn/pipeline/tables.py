"""The pipeline's numbering, defined once: tables, priorities, registers, connection marks, cookies, groups.

docs/sdn.md holds the same table of tables; tests/unit/test_sdn_pipeline_doc.py checks it against `Table`.
"""

from __future__ import annotations

from enum import IntEnum, unique


@unique  # two names for one number would be an alias, not a second table
class Table(IntEnum):
    """The OpenFlow tables, by number; each member also says what its table does."""

    def __new__(cls, number: int, does: str):
        table = int.__new__(cls, number)
        table._value_ = number
        table.does = does
        return table

    CLASSIFY = 0, ("ARP to the controller; TCP and UDP through the switch's service zone (`ct(nat)`: a packet of a "
                   "translated connection is translated, forward or back) on to 9; a packet for the gateway first "
                   "through the hairpin zone, on to 5; a chained service's reply looked at untranslated, on to 7; "
                   "the rest on to 2")
    SERVICE = 1, ("a new connection to a VIP:port goes (through the service's meter) to its SELECT group, whose "
                  "buckets load the service and endpoint numbers into registers and resubmit to 3; later packets of "
                  "a connection committed here are counted per endpoint and direction by its `ct_mark`, metered, and "
                  "a hairpin connection's sent through the hairpin zone; the rest on to 2")
    STEER = 2, ("VNF chains: classified traffic to the first VNF, what a VNF sends back (its MAC as source) to the "
                "next or, after the last, on to 10; a symmetric chain's replies back through the VNFs; the rest on to 10")
    ENDPOINT = 3, ("per endpoint: commit the connection with a destination NAT to the endpoint and a `ct_mark` naming "
                   "service and endpoint, on to 2; when the client is the endpoint itself, with the hairpin bit, on to 4")
    HAIRPIN = 4, "commit a source NAT to the gateway (the endpoint answers the gateway, not itself), on to 2"
    UNSNAT = 5, "after the hairpin zone, through the service zone (as 0 does), on to 9"
    FORWARD = 6, ("per destination IP: set the destination MAC and output along a shortest path (through a "
                  "fast-failover group where a loop-free alternate exists; back out of the ingress port for a hairpin "
                  "connection), with the bandwidth-reserved paths above it per (source, destination); unmatched: dropped")
    UNTRANSLATED = 7, ("a chained service's replies at the client's switch, before their translation back: by their "
                       "connection's mark to the chain's last VNF; the rest through the service zone on to 9")
    TOWARD = 8, "a chain's hop of several instances: on toward the instance its SELECT group chose (by destination MAC)"
    ISOLATE = 9, ("pods and the control plane: a packet that came in by a pod's port is marked as a pod's (a "
                  "register) and looked at again; a pod's new TCP connection (`+trk+new`) to a control port of "
                  "an infrastructure host (node agents, blob servers, registry, daemons) is dropped; the rest on to 1")
    POLICY_EGRESS = 10, ("network policies, the side that opens, at the pod's own switch: a new connection "
                         "(`+trk+new`, after service translation) from a pod isolated for egress passes if a rule "
                         "allows it (a conjunctive match of pod, peer and port sets; a register says so), else it "
                         "is dropped; the rest on to 11")
    POLICY_INGRESS = 11, ("network policies, the side that answers, at the pod's own switch: a new connection to a pod "
                          "isolated for ingress passes if a rule allows it (as 10) or comes from a control-plane "
                          "host (probes), else it is dropped; a connection "
                          "allowed here or in 10, or to or from a pod isolated the other way, is committed in the "
                          "service zone (so its replies pass) and forwarded (6); the rest on to 6")

ETH_IPV4, ETH_ARP = 0x0800, 0x0806

# priorities, by table
PRIORITY_MISS = 0                                     # every table: what nothing else matches
PRIORITY_TRACK, PRIORITY_UNSNAT, PRIORITY_ARP = 50, 60, 100                  # table 0
PRIORITY_CHAIN_REPLY, PRIORITY_CHAIN_REPLY_ON = 55, 57  # table 0, between tracking (50) and un-SNAT (60)
PRIORITY_HAIRPIN_EST, PRIORITY_ACCOUNT, PRIORITY_SERVICE = 250, 260, 300     # table 1
PRIORITY_STEER_IN, PRIORITY_STEER_SERVICE, PRIORITY_STEER_TO, PRIORITY_STEER_ON, PRIORITY_STEER_BACK = (
    400, 410, 500, 510, 520)                                                 # table 2 (STEER_TO also 8)
PRIORITY_STEER_OWN = 530                                                     # table 2
PRIORITY_ENDPOINT, PRIORITY_ENDPOINT_HAIRPIN = 100, 110                      # table 3
PRIORITY_FORWARD, PRIORITY_FORWARD_BACK, PRIORITY_PATH = 200, 210, 250       # table 6
PRIORITY_UNTRANSLATED_REPLY, PRIORITY_UNTRANSLATED_VNF = 10, 20              # table 7
PRIORITY_POD_ON, PRIORITY_FROM_POD, PRIORITY_TO_CONTROL = 50, 100, 200       # table 9
PRIORITY_POLICY_COMMIT, PRIORITY_POLICY_REPLY_DST, PRIORITY_POLICY_REPLY_SRC = 10, 11, 12  # table 11
PRIORITY_POLICY_DENY, PRIORITY_POLICY_ALLOW, PRIORITY_POLICY_OPEN = 100, 200, 210          # tables 10 and 11
PRIORITY_POLICY_CONTROL = 150  # table 11: the control plane's hosts reach isolated pods (probes)

# registers a service's group bucket loads for table 3
REG_SERVICE, REG_ENDPOINT = "reg0", "reg1"
# table 9's: bit 0 set once the packet is known to come from a pod's port
REG_ORIGIN, FROM_POD = "reg2", 0x1

# tables 10 and 11's: the connection was allowed by a policy rule (it is committed before forwarding)
REG_POLICY, POLICY_ALLOWED = "reg3", 0x1

# ct_state bits (Open vSwitch) and the (value, mask) matches the rules use
CT_NEW, CT_EST, CT_RPL, CT_TRK = 0x01, 0x02, 0x08, 0x20
CT_NEW_CONNECTION = (CT_TRK | CT_NEW, CT_TRK | CT_NEW)
# A packet of a committed connection, either way (its ct_mark says which): the client's side is +new
# until the first reply (UDP streams one way stay so), so only the direction is matched.
CT_COMMITTED_FORWARD = (CT_TRK, CT_TRK | CT_RPL)
CT_COMMITTED_REPLY = (CT_TRK | CT_RPL, CT_TRK | CT_RPL)

# ct_mark of a connection committed to a service: service id (16 bits) | endpoint slot (15) | hairpin
HAIRPIN_MARK = 0x1  # the client is the endpoint itself
MAX_SERVICE_ID, MAX_SLOT = 0xFFFF, 0x7FFF
MARK_ENDPOINT_MASK = 0xFFFF_FFFE  # service and endpoint, either hairpin bit
MARK_SERVICE_MASK = 0xFFFF_0000   # the service alone


def connection_mark(service_id: int, slot: int, hairpin: bool = False) -> int:
    return service_id << 16 | slot << 1 | int(hairpin)


def mark_fields(mark: int) -> tuple[int, int, bool]:
    """(service id, endpoint slot, hairpin) from a connection's ct_mark."""
    return mark >> 16, (mark >> 1) & MAX_SLOT, bool(mark & HAIRPIN_MARK)


# cookies: the family (top 16 bits) says which kind of owner a rule has, the rest which one
COOKIE_BASELINE = 0x1
COOKIE_SERVICE_BASE = 0x5EC0_0000_0000_0000  # | service id
COOKIE_PATH_BASE = 0x9A70_0000_0000_0000     # | path id
COOKIE_CHAIN_BASE = 0xC4A1_0000_0000_0000    # | chain id
COOKIE_POLICY_BASE = 0x9011_0000_0000_0000   # | policy rule's conjunction id (0: shared by the rules)
COOKIE_FAMILY_MASK = 0xFFFF_0000_0000_0000


def service_cookie(service_id: int) -> int:
    return COOKIE_SERVICE_BASE | service_id


def path_cookie(path_id: int) -> int:
    return COOKIE_PATH_BASE | path_id


def chain_cookie(chain_id: int) -> int:
    return COOKIE_CHAIN_BASE | chain_id


def policy_cookie(conjunction: int) -> int:
    return COOKIE_POLICY_BASE | conjunction


# group ids (a service's group and meter id is its own small id)
CHAIN_GROUP_BASE = 0x2000_0000     # | chain id << 6 | hop: a chain hop's SELECT group
FAILOVER_GROUP_BASE = 0x4000_0000  # + the target switch's index: fast failover toward it


def chain_group_id(chain_id: int, hop: int) -> int:
    return CHAIN_GROUP_BASE | chain_id << 6 | hop
