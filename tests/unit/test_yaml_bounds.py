"""YAML alias bombs are refused before expansion in VNF descriptors and app files; ordinary anchors still work."""

from __future__ import annotations

import time

import pytest
import yaml

from api.app import AppError
from api.yaml_bounds import MAX_ALIAS_NODES, AliasBomb, BoundedSafeLoader
from client.manifests import load_manifest_text
from component_base.errors import InvalidArgument
from mano.descriptors import parse_vnfd


def laughs(levels: int, width: int = 9) -> str:
    """The "billion laughs": each level a list of `width` aliases of the one before."""
    lines = ['l0: &l0 "lol"']
    for k in range(1, levels + 1):
        lines.append(f"l{k}: &l{k} [{', '.join([f'*l{k - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def test_a_bomb_is_refused_in_time_proportional_to_its_text():
    text = laughs(9)  # 9^9 = 387 million strings once expanded
    started = time.perf_counter()
    with pytest.raises(AliasBomb):
        yaml.load(text, Loader=BoundedSafeLoader)
    assert time.perf_counter() - started < 0.5


def test_aliases_up_to_the_bound_load_and_past_it_do_not():
    ok = 'a: &a [1, 2, 3, 4]\n' + "".join(f"b{k}: *a\n" for k in range(MAX_ALIAS_NODES // 5))
    assert len(yaml.load(ok, Loader=BoundedSafeLoader)) == MAX_ALIAS_NODES // 5 + 1
    with pytest.raises(AliasBomb):
        yaml.load(ok + "".join(f"c{k}: *a\n" for k in range(2)), Loader=BoundedSafeLoader)


def test_an_alias_inside_its_own_anchor_is_refused():
    with pytest.raises(AliasBomb):
        yaml.load("a: &a [1, *a]\n", Loader=BoundedSafeLoader)


def test_a_vnf_descriptor_bomb_is_invalid_argument():
    text = laughs(8) + "name: fw\nkind: firewall\nimage: alpine:3.18\n"
    with pytest.raises(InvalidArgument, match="aliases expand"):
        parse_vnfd(text)


def test_deep_nesting_is_invalid_argument_not_a_crash():
    with pytest.raises(InvalidArgument, match="nested too deeply"):
        parse_vnfd("[" * 5000 + "]" * 5000)
    with pytest.raises(AppError, match="nested too deeply"):
        load_manifest_text("[" * 5000 + "]" * 5000, "compose.yaml", warn=lambda _: None)


COMPOSE = """\
x-common: &common
  labels: {strata.io/bandwidth-mbps: "5"}
services:
  web:
    <<: *common
    image: nginx:1.25
  api:
    <<: *common
    image: redis:7
"""


def test_compose_anchors_and_merge_keys_still_work():
    app = load_manifest_text(COMPOSE, "compose.yaml", warn=lambda _: None)
    assert sorted(s.name for s in app.services) == ["api", "web"]
    assert all(s.bandwidth_mbps == 5 for s in app.services)


def test_a_compose_bomb_is_refused():
    text = laughs(9).replace("l0:", "x-l0:").replace("\nl", "\nx-l") + "services:\n  web:\n    image: nginx\n"
    with pytest.raises(AppError, match="aliases expand"):
        load_manifest_text(text, "compose.yaml", warn=lambda _: None)


@pytest.mark.parametrize("name", ["../../etc", "/etc", "a/b", "-web", "we b"])
def test_a_compose_service_named_like_a_path_is_refused_not_renamed(name):
    with pytest.raises(AppError, match="name"):
        load_manifest_text(f'services:\n  "{name}":\n    image: nginx\n', "compose.yaml", warn=lambda _: None)


def test_compose_names_that_are_not_dns_labels_are_still_renamed():
    notes = []
    app = load_manifest_text("services:\n  My_Web:\n    image: nginx\n", "compose.yaml", warn=notes.append)
    assert [s.name for s in app.services] == ["my-web"]
