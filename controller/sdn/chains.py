"""VNF chains: requests checked against the view and the other chains, numbered, persisted, kept as desired.

Not thread-safe: SdnCore holds its lock around every call.
"""

from __future__ import annotations

import dataclasses

from component_base.errors import AlreadyExists, InvalidArgument, NotFound

from api.classifier import Classifier, checked_classifier
from api.names import check_service_name

from .model import Chain, ServiceRoute
from .network import NetworkView
from .store import SdnStore


class Chains:
    def __init__(self, view: NetworkView, store: SdnStore):
        self.view = view
        self.store = store
        self.chains: dict[str, Chain] = {c.name: c for c in store.chains()}

    def get(self, name: str) -> Chain:
        if name not in self.chains:
            raise NotFound(f"no chain named {name!r} (installed: {', '.join(sorted(self.chains)) or 'none'})")
        return self.chains[name]

    def list(self) -> list[Chain]:
        return sorted(self.chains.values(), key=lambda c: c.chain_id)

    def steer_any(self, *routes: ServiceRoute | None) -> bool:
        """A chain names one of the routes' services: its rules follow those routes."""
        return any(chain.names_service(route) for chain in self.chains.values() for route in routes if route)

    def install(self, name: str, classifier: Classifier, hops: list[list[str]], symmetric: bool) -> Chain:
        check_service_name(name)
        classifier = checked_classifier(classifier)
        if symmetric and not classifier.dst_cidr:
            raise InvalidArgument("a symmetric chain needs a destination (dst_cidr): its replies are recognised "
                                  "by their source")
        if name in self.chains:
            raise AlreadyExists(f"chain {name!r} exists; update or remove it")
        chain = Chain(name, classifier, self._checked_hops(hops, name), symmetric,
                      max((c.chain_id for c in self.chains.values()), default=0) + 1)
        self.store.save_chain(chain)
        self.chains[name] = chain
        return chain

    def update(self, name: str, hops: list[list[str]]) -> Chain:
        chain = dataclasses.replace(self.get(name), hops=self._checked_hops(hops, name))
        self.store.save_chain(chain)
        self.chains[name] = chain
        return chain

    def remove(self, name: str) -> None:
        self.get(name)
        self.store.delete_chain(name)
        del self.chains[name]

    def _checked_hops(self, hops: list[list[str]], name: str) -> tuple[tuple[str, ...], ...]:
        if not hops:
            raise InvalidArgument("a chain needs at least one hop (a VNF instance)")
        if len(hops) > 63:
            raise InvalidArgument(f"{len(hops)} hops: a chain has at most 63")
        for k, hop in enumerate(hops):
            if not hop:
                raise InvalidArgument(f"hops[{k}]: no instance")
            for host in hop:
                if host not in self.view.hosts:
                    raise NotFound(f"hops[{k}]: {host!r} is not a host or attached endpoint of the topology")
        every = [h for hop in hops for h in hop]
        twice = sorted({h for h in every if every.count(h) > 1})
        if twice:
            raise InvalidArgument(f"hop(s) listed twice: {', '.join(twice)}")
        for other in self.chains.values():
            shared = sorted(set(every) & {h for hop in other.hops for h in hop})
            if other.name != name and shared:
                raise AlreadyExists(f"{', '.join(shared)} already steer(s) chain {other.name!r}: a VNF instance "
                                    "serves one chain")
        return tuple(tuple(hop) for hop in hops)
