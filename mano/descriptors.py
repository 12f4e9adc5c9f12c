"""VNF descriptors (pure): a YAML document naming a VNF, its program and what it needs, checked
field by field.

    name: edge-firewall          # a DNS label, unique in the catalogue
    kind: firewall               # firewall | ratelimit | monitor (programs/vnf)
    image: alpine:3.18           # its image: its layers count in placement like any container's
    cpu_millicores: 200          # per instance (default 100)
    bandwidth_mbps: 20           # per instance (default 10)
    config:                      # the kind's configuration (docs/vnf.md)
      default: deny
      rules:
        - {protocol: tcp, dst_port: 8080, action: allow}
    scaling: {...}               # optional: autoscaling on the VNF's own counters (mano/autoscale.py)
    healing: {...}               # optional: a heal when its containers keep restarting
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import yaml

from component_base.errors import InvalidArgument
from api.app import parse_image_reference
from api.yaml_bounds import BoundedSafeLoader
from api.names import dns_label_problem

from .autoscale import parse_healing, parse_scaling, policy_json

FIELDS = ("name", "kind", "image", "cpu_millicores", "bandwidth_mbps", "config", "description", "scaling", "healing")
MAX_DESCRIPTOR = 64 * 1024


@dataclass(frozen=True)
class Vnfd:
    name: str
    kind: str
    image: str
    cpu_millicores: float = 100.0
    bandwidth_mbps: float = 10.0
    config: str = "{}"        # JSON, canonical
    description: str = ""
    scaling: str = ""         # the scaling policy, canonical JSON (mano.autoscale.ScalingPolicy); "" = none
    healing: str = ""         # the healing policy, canonical JSON (mano.autoscale.HealingPolicy); "" = none


def _number(value: Any, field: str, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (positive and value == 0):
        raise InvalidArgument(f"vnfd {field}: must be a {'positive' if positive else 'non-negative'} finite number, "
                              f"got {value!r}")
    return float(value)


def parse_vnfd(text: str, source: str = "descriptor") -> Vnfd:
    """The descriptor in `text` (YAML or JSON); InvalidArgument naming the field."""
    from programs.vnf.program import KINDS, ConfigError, parse_vnf_config

    if len(text) > MAX_DESCRIPTOR:
        raise InvalidArgument(f"{source}: {len(text)} bytes; a descriptor has at most {MAX_DESCRIPTOR}")
    try:
        doc = yaml.load(text, Loader=BoundedSafeLoader)  # aliases bounded before anything is built
    except RecursionError:
        raise InvalidArgument(f"{source}: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidArgument(f"{source}: not YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{source}: a descriptor is a mapping with {', '.join(FIELDS[:3])}, ...")
    unknown = sorted(str(k) for k in doc if k not in FIELDS)
    if unknown:
        raise InvalidArgument(f"{source}: unknown field(s) {', '.join(unknown)} (known: {', '.join(FIELDS)})")
    for field in ("name", "kind", "image"):
        if not isinstance(doc.get(field), str) or not doc[field].strip():
            raise InvalidArgument(f"vnfd {field}: required, a string")
    name = doc["name"].strip()
    if (why := dns_label_problem(name)) is not None:
        raise InvalidArgument(f"vnfd name: {why}")
    kind = doc["kind"].strip()
    if kind not in KINDS:
        raise InvalidArgument(f"vnfd kind: {kind!r} is not one of {', '.join(KINDS)}")
    image = doc["image"].strip()
    try:
        parse_image_reference(image)
    except InvalidArgument as exc:
        raise InvalidArgument(f"vnfd image: {exc}") from None
    config = doc.get("config", {})
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise InvalidArgument(f"vnfd config: must be a mapping, got {type(config).__name__}")
    text_config = json.dumps(config, sort_keys=True)
    try:
        parse_vnf_config(kind, text_config)
    except ConfigError as exc:
        raise InvalidArgument(f"vnfd config: {str(exc).removeprefix('STRATA_VNF_CONFIG: ')}") from None
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise InvalidArgument("vnfd description: must be a string")
    scaling = parse_scaling(doc["scaling"]) if doc.get("scaling") is not None else None
    healing = parse_healing(doc["healing"]) if doc.get("healing") is not None else None
    return Vnfd(name, kind, image,
                _number(doc.get("cpu_millicores", 100.0), "cpu_millicores", positive=True),
                _number(doc.get("bandwidth_mbps", 10.0), "bandwidth_mbps", positive=False),
                text_config, description, policy_json(scaling), policy_json(healing))
