"""YAML loaders whose alias expansion is bounded before anything is built from a document (no alias bombs)."""

from __future__ import annotations

import yaml

# Nodes that aliases may add to a document once expanded: generous for Compose's anchors and merge keys
# (x-defaults: &d ... <<: *d), far below what makes reading slow (a 400-byte "billion laughs" is 10^9).
MAX_ALIAS_NODES = 10000


class AliasBomb(yaml.YAMLError):
    """A document whose aliases expand past MAX_ALIAS_NODES, or refer to themselves."""


def check_alias_expansion(root: yaml.Node, limit: int = MAX_ALIAS_NODES) -> None:
    """AliasBomb if the aliases in the node graph `root` (as the composer leaves it: an alias is the same
    node object met again) add more than `limit` nodes once expanded, or an alias is inside its own anchor.
    Each node is measured once, so this takes time in the size of the text, not of the expansion."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    aliased = 0

    def size(node: yaml.Node) -> int:
        nonlocal aliased
        key = id(node)
        if key in active:
            raise AliasBomb(f"an alias at line {node.start_mark.line + 1} refers to a node that contains it")
        if key in sizes:  # met again: an alias, expanded wherever it is used
            aliased += sizes[key]
            if aliased > limit:
                raise AliasBomb(f"aliases expand to more than {limit} nodes (at line {node.start_mark.line + 1}); "
                                "write the values out or use fewer aliases")
            return sizes[key]
        active.add(key)
        if isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        else:
            total = 1
        active.discard(key)
        sizes[key] = total
        return total

    size(root)


class BoundedSafeLoader(yaml.SafeLoader):
    """yaml.SafeLoader, refusing a document whose aliases expand too far before constructing it."""

    def compose_document(self):
        node = super().compose_document()
        if node is not None:
            check_alias_expansion(node)
        return node
