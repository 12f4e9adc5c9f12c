"""Network policies: Kubernetes' NetworkPolicy read and checked, the Compose label form, and resolution into address rules."""

from __future__ import annotations

import ipaddress

import pytest
import yaml

from api.network_policy import (EGRESS, INGRESS, SERVICE_LABEL, AddressRule, IPBlock, PolicyError, PolicyPod,
                                PortRange, compose_policies, parse_network_policy, resolve)

PODS = [
    PolicyPod("shop", "web-0", "10.0.128.2", ((SERVICE_LABEL, "web"), ("role", "frontend")),
              (("http", "tcp", 8080),)),
    PolicyPod("shop", "db-0", "10.0.128.3", ((SERVICE_LABEL, "db"), ("role", "db")), (("sql", "tcp", 5432),)),
    PolicyPod("shop", "db-1", "10.0.128.4", ((SERVICE_LABEL, "db"), ("role", "db")), (("sql", "tcp", 5433),)),
    PolicyPod("shop", "cache-0", "10.0.128.5", ((SERVICE_LABEL, "cache"),)),
    PolicyPod("blog", "api-0", "10.0.129.2", ((SERVICE_LABEL, "api"), ("role", "frontend"))),
]


def policy(text: str, app: str = "shop"):
    return parse_network_policy(yaml.safe_load(text), app)


def allowed(resolved, src: str, dst: str, proto: str = "tcp", port: int = 80) -> bool:
    """What the switches enforce, evaluated directly: both ends' directions must let it through."""
    def inside(address: str, networks) -> bool:
        return networks is None or any(ipaddress.IPv4Address(address) in ipaddress.IPv4Network(n) for n in networks)

    def opened(kind: str, me: str, other: str) -> bool:
        isolated = resolved.isolated_ingress if kind == INGRESS else resolved.isolated_egress
        if f"{me}/32" not in isolated:
            return True
        return any(r.direction == kind and f"{me}/32" in r.selected and inside(other, r.peers)
                   and (not r.ports or any(p.protocol == proto and (p.first == 0 or p.first <= port <= p.last)
                                           for p in r.ports))
                   for r in resolved.rules)
    return opened(EGRESS, src, dst) and opened(INGRESS, dst, src)


WEB, DB0, DB1, CACHE, API = (p.ip for p in PODS)
OUTSIDE = "172.17.1.9"

# Kubernetes' documented example (concepts/services-networking/network-policies), in the app's namespace
EXAMPLE = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: test-network-policy}
spec:
  podSelector: {matchLabels: {role: db}}
  policyTypes: [Ingress, Egress]
  ingress:
    - from:
        - ipBlock: {cidr: 172.17.0.0/16, except: [172.17.1.0/24]}
        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: blog}}
        - podSelector: {matchLabels: {role: frontend}}
      ports: [{protocol: TCP, port: 6379}]
  egress:
    - to: [{ipBlock: {cidr: 10.0.0.0/24}}]
      ports: [{protocol: TCP, port: 5978}]
"""


def test_the_documented_example_isolates_the_db_pods_both_ways():
    r = resolve([policy(EXAMPLE)], PODS)
    assert r.isolated_ingress == r.isolated_egress == (f"{DB0}/32", f"{DB1}/32")
    assert allowed(r, WEB, DB0, port=6379)            # a frontend pod of its namespace
    assert allowed(r, API, DB1, port=6379)            # any pod of the namespace the selector names
    assert not allowed(r, CACHE, DB0, port=6379)      # not a frontend
    assert not allowed(r, WEB, DB0, port=80)          # not the port
    assert not allowed(r, WEB, DB0, "udp", 6379)      # not the protocol
    assert allowed(r, "172.17.2.1", DB0, port=6379)   # inside the block
    assert not allowed(r, OUTSIDE, DB0, port=6379)    # in its exception
    assert allowed(r, DB0, "10.0.0.7", port=5978)     # egress: inside the block, the port
    assert not allowed(r, DB0, WEB, port=5978)        # egress elsewhere
    assert allowed(r, WEB, CACHE)                     # pods no policy selects are not isolated


def test_default_deny_and_allow_all_as_documented():
    deny = policy("metadata: {name: default-deny-ingress}\nspec: {podSelector: {}, policyTypes: [Ingress]}")
    r = resolve([deny], PODS)
    assert not allowed(r, WEB, DB0) and not allowed(r, API, CACHE)
    assert allowed(r, WEB, API)  # the other app's pods are not isolated
    assert not allowed(r, API, WEB) and allowed(r, WEB, OUTSIDE)  # egress is not restricted
    allow_all = policy("metadata: {name: allow-all-ingress}\nspec: {podSelector: {}, ingress: [{}], "
                       "policyTypes: [Ingress]}")
    r = resolve([deny, allow_all], PODS)
    assert allowed(r, API, WEB) and allowed(r, OUTSIDE, DB1, "udp", 53)
    deny_egress = policy("metadata: {name: default-deny-egress}\nspec: {podSelector: {}, policyTypes: [Egress]}")
    r = resolve([deny_egress], PODS)
    assert not allowed(r, WEB, API) and allowed(r, API, WEB) and r.isolated_ingress == ()


def test_policies_selecting_a_pod_add_up():
    one = policy("metadata: {name: a}\nspec: {podSelector: {matchLabels: {role: db}}, ingress: "
                 "[{from: [{podSelector: {matchLabels: {role: frontend}}}]}]}")
    two = policy("metadata: {name: b}\nspec: {podSelector: {matchLabels: {role: db}}, ingress: "
                 "[{from: [{podSelector: {matchLabels: {strata.io/service: cache}}}]}]}")
    r = resolve([one, two], PODS)
    assert allowed(r, WEB, DB0) and allowed(r, CACHE, DB0) and not allowed(r, API, DB0)


def test_a_peer_with_both_selectors_is_their_intersection_and_a_pod_selector_alone_is_the_own_app():
    both = policy("""
metadata: {name: both}
spec:
  podSelector: {matchLabels: {role: db}}
  ingress:
    - from: [{namespaceSelector: {}, podSelector: {matchLabels: {role: frontend}}}]
""")
    r = resolve([both], PODS)
    assert allowed(r, WEB, DB0) and allowed(r, API, DB0) and not allowed(r, CACHE, DB0)
    alone = policy("metadata: {name: alone}\nspec: {podSelector: {matchLabels: {role: db}}, ingress: "
                   "[{from: [{podSelector: {matchLabels: {role: frontend}}}]}]}")
    r = resolve([alone], PODS)
    assert allowed(r, WEB, DB0) and not allowed(r, API, DB0)  # the other app's frontend is not its own


def test_match_expressions():
    text = """
metadata: {name: expr}
spec:
  podSelector: {matchExpressions: [{key: role, operator: In, values: [db]}]}
  ingress:
    - from:
        - podSelector:
            matchExpressions:
              - {key: role, operator: NotIn, values: [db]}
              - {key: role, operator: Exists}
"""
    r = resolve([policy(text)], PODS)
    assert allowed(r, WEB, DB0) and not allowed(r, CACHE, DB0) and not allowed(r, DB1, DB0)
    gone = policy("metadata: {name: x}\nspec: {podSelector: {matchExpressions: [{key: role, operator: "
                  "DoesNotExist}]}, policyTypes: [Ingress]}")
    assert resolve([gone], PODS).isolated_ingress == (f"{CACHE}/32",)


def test_named_ports_resolve_on_each_destination_pod_and_ranges_cover_their_ends():
    named = policy("metadata: {name: sql}\nspec: {podSelector: {matchLabels: {role: db}}, ingress: "
                   "[{ports: [{port: sql}]}]}")
    r = resolve([named], PODS)
    assert allowed(r, WEB, DB0, port=5432) and not allowed(r, WEB, DB0, port=5433)
    assert allowed(r, WEB, DB1, port=5433) and not allowed(r, WEB, DB1, port=5432)
    egress = policy("metadata: {name: out}\nspec: {podSelector: {matchLabels: {role: frontend}}, policyTypes: "
                    "[Egress], egress: [{to: [{podSelector: {matchLabels: {role: db}}}], ports: [{port: sql}]}]}")
    r = resolve([egress], PODS)
    assert allowed(r, WEB, DB0, port=5432) and allowed(r, WEB, DB1, port=5433) and not allowed(r, WEB, DB0, port=5433)
    ranged = policy("metadata: {name: r}\nspec: {podSelector: {}, ingress: [{ports: [{protocol: UDP, port: 32000, "
                    "endPort: 32768}]}]}")
    r = resolve([ranged], PODS)
    assert [allowed(r, WEB, DB0, "udp", p) for p in (31999, 32000, 32500, 32768, 32769)] == \
        [False, True, True, True, False]
    assert not allowed(r, WEB, DB0, "tcp", 32000)


def test_a_rule_whose_peers_are_nobody_allows_nothing_and_a_policy_selecting_nobody_isolates_nobody():
    nobody = policy("metadata: {name: n}\nspec: {podSelector: {matchLabels: {role: db}}, ingress: "
                    "[{from: [{podSelector: {matchLabels: {role: nobody}}}]}]}")
    r = resolve([nobody], PODS)
    assert r.rules == () and not allowed(r, WEB, DB0)
    idle = policy("metadata: {name: i}\nspec: {podSelector: {matchLabels: {role: none}}, policyTypes: [Ingress]}")
    assert resolve([idle], PODS).empty


def test_resolved_rules_are_the_address_sets_not_their_product():
    r = resolve([policy(EXAMPLE)], PODS)
    ingress = [x for x in r.rules if x.direction == INGRESS]
    assert ingress == [AddressRule("shop/test-network-policy", INGRESS, (f"{DB0}/32", f"{DB1}/32"),
                                   tuple(sorted(IPBlock("172.17.0.0/16", ("172.17.1.0/24",)).networks()
                                                + [f"{WEB}/32", f"{API}/32"])),
                                   (PortRange("tcp", 6379, 6379),))]


def test_ip_block_without_its_exceptions():
    assert IPBlock("10.0.0.0/24", ("10.0.0.0/25",)).networks() == ["10.0.0.128/25"]
    assert IPBlock("10.0.0.0/24", ("10.0.0.64/26", "10.0.0.0/25")).networks() == ["10.0.0.128/25"]
    nets = IPBlock("10.0.0.0/24", ("10.0.0.7/32",)).networks()
    covered = {a for n in nets for a in ipaddress.IPv4Network(n)}
    assert len(covered) == 255 and ipaddress.IPv4Address("10.0.0.7") not in covered


@pytest.mark.parametrize("text, field", [
    ("metadata: {name: p}\nspec: {podSelector: {}, ingress: [{ports: [{protocol: SCTP, port: 1}]}]}",
     "spec.ingress[0].ports[0].protocol"),
    ("metadata: {name: p}\nspec: {podSelector: {}, ingress: [{ports: [{port: 0}]}]}", "spec.ingress[0].ports[0].port"),
    ("metadata: {name: p}\nspec: {podSelector: {}, ingress: [{ports: [{port: 80, endPort: 79}]}]}",
     "spec.ingress[0].ports[0].endPort"),
    ("metadata: {name: p}\nspec: {podSelector: {}, ingress: [{ports: [{port: http, endPort: 90}]}]}",
     "spec.ingress[0].ports[0].endPort"),
    ("metadata: {name: p}\nspec: {podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8, except: "
     "[11.0.0.0/8]}}]}]}", "spec.egress[0].to[0].ipBlock.except[0]"),
    ("metadata: {name: p}\nspec: {podSelector: {}, egress: [{to: [{ipBlock: {cidr: nowhere}}]}]}",
     "spec.egress[0].to[0].ipBlock.cidr"),
    ("metadata: {name: p}\nspec: {podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]}",
     "spec.egress[0].to[0]"),
    ("metadata: {name: p}\nspec: {podSelector: {matchExpressions: [{key: a, operator: In}]}}",
     "spec.podSelector.matchExpressions[0].values"),
    ("metadata: {name: p}\nspec: {podSelector: {matchExpressions: [{key: a, operator: Near}]}}",
     "spec.podSelector.matchExpressions[0].operator"),
    ("metadata: {name: p}\nspec: {podSelector: {}, policyTypes: [Sideways]}", "spec.policyTypes[0]"),
    ("metadata: {name: p}\nspec: {ingress: []}", "spec.podSelector"),
    ("metadata: {name: p}\nspec: {podSelector: {}, ingres: []}", "spec.ingres"),
    ("metadata: {name: p, namespace: other}\nspec: {podSelector: {}}", "metadata.namespace"),
])
def test_bad_input_names_the_policy_and_the_field(text, field):
    with pytest.raises(PolicyError) as caught:
        policy(text)
    assert str(caught.value).startswith(f'NetworkPolicy "p": {field}:'), caught.value


def test_compose_label_form():
    labels = {"web": {"strata.io/egress-to": "db, 10.9.0.0/16"}, "db": {"strata.io/ingress-from": "web"},
              "cache": {"strata.io/ingress-from": ""}}
    policies = compose_policies("shop", labels)
    assert [p.name for p in policies] == ["web-egress-to", "db-ingress-from", "cache-ingress-from"]
    r = resolve(policies, PODS)
    assert allowed(r, WEB, DB0) and not allowed(r, CACHE, DB0)
    assert allowed(r, WEB, "10.9.3.3") and not allowed(r, WEB, API)
    assert not allowed(r, WEB, CACHE) and not allowed(r, DB0, CACHE)  # an empty list admits nothing
    with pytest.raises(PolicyError, match='"db-ingress-from": services.db.labels.strata.io/ingress-from: "nope"'):
        compose_policies("shop", {"db": {"strata.io/ingress-from": "nope"}})


def test_the_kubernetes_form_written_back_reads_as_the_same_policy():
    from api.network_policy import policy_to_dict
    for text in (EXAMPLE, "metadata: {name: p}\nspec: {podSelector: {matchExpressions: [{key: a, operator: Exists}]}, "
                 "egress: [{to: [{namespaceSelector: {}, podSelector: {matchLabels: {x: y}}}], "
                 "ports: [{port: http, protocol: UDP}, {port: 1, endPort: 9}]}]}"):
        parsed = policy(text)
        assert parse_network_policy(policy_to_dict(parsed), "shop") == parsed


K8S_APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: front}}
    spec: {containers: [{name: web, image: nginx, ports: [{containerPort: 8080, name: http}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: shop}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: redis, ports: [{containerPort: 6379, name: redis}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-front, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{podSelector: {matchLabels: {tier: front}}}], ports: [{port: redis}]}]
"""


def test_kubernetes_manifests_carry_their_network_policies_and_the_pods_labels_and_port_names():
    from api.app import app_from_dict, app_to_dict
    from client.manifests import load_manifest_text

    warnings = []
    app = load_manifest_text(K8S_APP, "shop.yaml", warn=warnings.append)
    assert warnings == []  # NetworkPolicy is a kind Strata models now
    assert [p.name for p in app.policies] == ["db-from-front"] and app.policies[0].app == "shop"
    db = app.service("db")
    assert dict(db.labels) == {"app": "db"} and db.port_name == "redis"
    assert app_from_dict(app_to_dict(app)) == app  # stored with the app
    pods = [PolicyPod("shop", f"{s.name}-0", ip, tuple(sorted({**dict(s.labels), SERVICE_LABEL: s.name}.items())),
                      ((s.port_name, "tcp", s.target_port),)) for s, ip in zip(app.services, (WEB, DB0))]
    r = resolve(app.policies, pods)
    assert allowed(r, WEB, DB0, port=6379) and not allowed(r, WEB, DB0, port=8080)
    with pytest.raises(Exception, match='NetworkPolicy "db-from-front": spec.ingress\\[0\\].ports\\[0\\].protocol'):
        load_manifest_text(K8S_APP.replace("ports: [{port: redis}]", "ports: [{port: redis, protocol: SCTP}]"),
                           "shop.yaml", warn=warnings.append)


def test_compose_labels_become_policies_with_services_named_as_written():
    from client.manifests import load_manifest_text

    text = """
services:
  Web:
    image: nginx
    labels: {"strata.io/egress-to": "db"}
  db:
    image: redis
    labels: {"strata.io/ingress-from": "Web", "tier": "back"}
"""
    app = load_manifest_text(text, "shop.yaml", warn=lambda _: None)
    assert [(p.name, p.policy_types) for p in app.policies] == [("web-egress-to", (EGRESS,)),
                                                                  ("db-ingress-from", (INGRESS,))]
    assert dict(app.service("db").labels)["tier"] == "back"
    r = resolve(app.policies, [PolicyPod("shop", "web-0", WEB, ((SERVICE_LABEL, "web"),)),
                               PolicyPod("shop", "db-0", DB0, ((SERVICE_LABEL, "db"),))])
    assert allowed(r, WEB, DB0) and not allowed(r, OUTSIDE, DB0) and not allowed(r, WEB, OUTSIDE)


def test_the_documented_default_policies_for_egress_and_both_ways():
    allow_egress = policy("metadata: {name: allow-all-egress}\nspec: {podSelector: {}, egress: [{}], "
                          "policyTypes: [Egress]}")
    deny_egress = policy("metadata: {name: default-deny-egress}\nspec: {podSelector: {}, policyTypes: [Egress]}")
    r = resolve([deny_egress, allow_egress], PODS)
    assert allowed(r, WEB, OUTSIDE, "udp", 53) and allowed(r, DB0, API)
    deny_all = policy("metadata: {name: default-deny-all}\nspec: {podSelector: {}, policyTypes: [Ingress, Egress]}")
    r = resolve([deny_all], PODS)
    assert not allowed(r, WEB, DB0) and not allowed(r, WEB, OUTSIDE) and not allowed(r, OUTSIDE, WEB)
    assert not allowed(r, API, WEB) and not allowed(r, WEB, API)  # blog's pods are not isolated, shop's are
    assert allowed(r, API, OUTSIDE)
