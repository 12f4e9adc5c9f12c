"""docs/sdn.md's pipeline table matches the tables the code defines (pipeline.tables.Table).

Numbers and names are compared, so neither can drift from the other.
"""

from __future__ import annotations

from pathlib import Path

from api.classifier import Classifier
from controller.sdn.model import Chain, ReservedPath, ServiceEndpoint, ServiceRoute
from controller.sdn.network import NetworkView
from controller.sdn.pipeline.desired import desired_rules
from controller.sdn.pipeline.tables import Table
from flow_table_sim import declared

TOPO = declared([("s1", "s2"), ("s2", "s3"), ("s3", "s1")], {"c1": "s1", "w1": "s2", "w2": "s3", "c3": "s3"})
DOC = Path(__file__).resolve().parents[2] / "docs" / "sdn.md"


def documented_tables(text: str) -> dict[int, str]:
    """Number -> name from the markdown table whose header starts `| table | name |`."""
    lines = iter(text.splitlines())
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:2] == ["table", "name"]:
            break
    else:
        raise AssertionError("docs/sdn.md has no table headed | table | name | ...")
    next(lines)  # the |---| separator
    out: dict[int, str] = {}
    for line in lines:
        if not line.startswith("|"):
            break
        number, name = (c.strip() for c in line.strip().strip("|").split("|")[:2])
        assert int(number) not in out, f"table {number} is documented twice"
        out[int(number)] = name
    return out


def test_the_documented_pipeline_is_the_one_in_the_code():
    assert documented_tables(DOC.read_text()) == {t.value: t.name.lower() for t in Table}


def test_the_parser_sees_a_drift():
    """A doc row with a wrong number or name would not compare equal (the check above can fail)."""
    text = "intro\n\n| table | name | what |\n|---|---|---|\n| 0 | classify | x |\n| 2 | forward | y |\n\nafter\n"
    assert documented_tables(text) == {0: "classify", 2: "forward"}
    assert documented_tables(text) != {t.value: t.name.lower() for t in Table}


def test_every_table_a_rule_uses_is_a_defined_table():
    """Every table a rule is in or sends packets to (goto, ct, resubmit) is one of `Table`'s, and
    every one of them holds rules: the definition is the whole pipeline."""
    view = NetworkView.from_declared(TOPO)
    web = ServiceRoute("web", "10.96.0.10", "tcp", 80, (ServiceEndpoint("w1", view.hosts["w1"].ip, 8080, 3),
                                                        ServiceEndpoint("w2", view.hosts["w2"].ip, 80, 1)), 5)
    path = ReservedPath(1, "c1", "c3", 10.0, tuple(view.path("c1", "c3")))
    guard = Chain("guard", Classifier(src_cidr="10.0.0.0/30", dst_cidr="10.96.0.10/32", protocol="tcp", dst_port=80),
                  (("w2", "c1"), ("c3",)), True, 1)
    rules = desired_rules(view, [web], [path], chains=[guard])
    actions = [a for f in rules.flows.values() for a in f.actions]
    actions += [a for g in rules.groups.values() for _, bucket in g.buckets for a in bucket]
    used = {f.table for f in rules.flows.values()} | {f.goto for f in rules.flows.values() if f.goto is not None}
    used |= {a[1].table for a in actions if a[0] == "ct"} | {a[1] for a in actions if a[0] == "resubmit"}
    assert used == {t.value for t in Table}
