"""Incremental bookkeeping of a (partial) placement, by index: loads, layer counts, newly stored size,
and each ruled service's replicas per server and per spread domain (state.Loads.fits honours the
hard rules, so every heuristic that asks it does)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import rules as R
from .client_delay import banned_servers
from .model import Problem

# Capacity comparisons allow for float rounding in sums of demands.
REL_TOL = 1e-9


@dataclass(frozen=True)
class SpreadIndex:
    """One spread of one ruled service, by index."""

    rule: int  # index into Instance.rules
    max_skew: int
    hard: bool
    domain_of: tuple[int, ...]  # server -> domain, -1 for none
    placed: tuple[int, ...]  # domain -> replicas already running there
    past: frozenset[int]  # hard: domains past the skew with `placed` alone, closed to new replicas


class Instance:
    """A Problem by index: servers 0..N-1, containers 0..I-1, layers 0..L-1 (used layers only)."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.server_names = [s.name for s in problem.servers]
        self.container_names = [c.name for c in problem.containers]
        self.P = [s.cpu for s in problem.servers]
        self.S = [s.storage for s in problem.servers]
        self.B = [s.bandwidth for s in problem.servers]
        self.M = [s.memory_limit for s in problem.servers]  # infinite where no memory is given
        self.digests = list(problem.used_layers)
        index = {d: k for k, d in enumerate(self.digests)}
        self.size = [problem.layer_size[d] for d in self.digests]
        self.d = [c.cpu for c in problem.containers]
        self.b = [c.bandwidth for c in problem.containers]
        self.m = [c.memory for c in problem.containers]
        self.need = [tuple(index[d] for d in c.layers) for c in problem.containers]
        self.image = [sum(self.size[l] for l in need) for need in self.need]
        # Used layers each server already holds: free there, and they take none of S_n.
        self.held = [frozenset(index[d] for d in s.held if d in index) for s in problem.servers]
        # Servers each container may not run on: a client farther than its max_client_delay_ms.
        self.banned = banned_servers(problem)
        self.users: list[list[int]] = [[] for _ in self.digests]
        for i, need in enumerate(self.need):
            for l in need:
                self.users[l].append(i)
        # Rules: rule_of[i] is the index of container i's service rule, -1 for none.
        self.rules = list(problem.rules)
        rule_index = {rule.name: k for k, rule in enumerate(self.rules)}
        self.rule_of = [rule_index.get(c.service_name, -1) for c in problem.containers]
        self.members = [[i for i, k in enumerate(self.rule_of) if k == r] for r in range(len(self.rules))]
        self.placed = [[rule.placed_on.get(name, 0) for name in self.server_names] for rule in self.rules]
        self.max_per_server = [rule.max_per_server or math.inf for rule in self.rules]
        self.spreads: list[SpreadIndex] = []
        self.spreads_of: list[list[int]] = [[] for _ in self.rules]
        # Servers where a service may get no new replica whatever else is placed: outside a hard
        # spread's domains (no zone), in a domain past the skew, or full with replicas running.
        self.closed: list[set[int]] = [set() for _ in self.rules]
        for k, rule in enumerate(self.rules):
            self.closed[k].update(n for n in range(self.n_servers) if self.placed[k][n] >= self.max_per_server[k])
            for spread in rule.spread:
                domain_of, names = R.domains(problem, spread.topology)
                placed = R.domain_counts(domain_of, len(names), self.placed[k])
                past = R.past_domains(placed, spread.max_skew) if spread.hard else frozenset()
                self.spreads_of[k].append(len(self.spreads))
                self.spreads.append(SpreadIndex(k, spread.max_skew, spread.hard, tuple(domain_of),
                                                tuple(placed), past))
                if spread.hard:
                    self.closed[k].update(n for n, d in enumerate(domain_of) if d < 0 or d in past)

    @property
    def n_servers(self) -> int:
        return len(self.P)

    @property
    def n_containers(self) -> int:
        return len(self.d)

    def named(self, where: list[int]) -> dict[str, str]:
        return {self.container_names[i]: self.server_names[n] for i, n in enumerate(where)}

    @property
    def has_soft_rules(self) -> bool:
        return any(rule.prefer_apart for rule in self.rules) or any(not h.hard for h in self.spreads)


def within(used: float, capacity: float) -> bool:
    return used <= capacity + REL_TOL * max(1.0, abs(capacity))


class Loads:
    """Which container is where, and the CPU, memory, bandwidth, layer counts and storage that follow.

    With sharing, a server stores each layer once however many of its containers need it, and
    none it already holds; without, every container stores its own copy of its whole image.
    `sto` and the objective count newly stored layers only.
    """

    def __init__(self, inst: Instance, *, sharing: bool = True):
        self.inst = inst
        self.sharing = sharing
        n = inst.n_servers
        self.where = [-1] * inst.n_containers
        self.cpu = [0.0] * n
        self.bw = [0.0] * n
        self.mem = [0.0] * n
        self.sto = [0.0] * n
        self.count: list[dict[int, int]] = [{} for _ in range(n)]  # server -> layer -> users there
        self.svc = [list(placed) for placed in inst.placed]  # rule -> server -> replicas (running + placed)
        self.dom = [list(h.placed) for h in inst.spreads]  # spread -> domain -> replicas

    def copy(self) -> "Loads":
        other = Loads.__new__(Loads)
        other.inst, other.sharing = self.inst, self.sharing
        other.where = list(self.where)
        other.cpu, other.bw, other.sto = list(self.cpu), list(self.bw), list(self.sto)
        other.mem = list(self.mem)
        other.count = [dict(c) for c in self.count]
        other.svc = [list(row) for row in self.svc]
        other.dom = [list(row) for row in self.dom]
        return other

    def added_storage(self, i: int, n: int) -> float:
        """Storage placing container i on server n would add."""
        if not self.sharing:
            return self.inst.image[i]
        count, held, size = self.count[n], self.inst.held[n], self.inst.size
        return sum(size[l] for l in self.inst.need[i] if l not in count and l not in held)

    def freed_storage(self, i: int) -> float:
        """Storage removing container i from its server would free."""
        if not self.sharing:
            return self.inst.image[i]
        n = self.where[i]
        count, held, size = self.count[n], self.inst.held[n], self.inst.size
        return sum(size[l] for l in self.inst.need[i] if count[l] == 1 and l not in held)

    def fits(self, i: int, n: int, added: float | None = None) -> bool:
        """Container i, unplaced, may go on server n: its resources fit and its hard rules allow it."""
        return self.fits_resources(i, n, added) and self.allowed(i, n)

    def fits_resources(self, i: int, n: int, added: float | None = None) -> bool:
        inst = self.inst
        if added is None:
            added = self.added_storage(i, n)
        return (within(self.cpu[n] + inst.d[i], inst.P[n])
                and within(self.bw[n] + inst.b[i], inst.B[n])
                and within(self.mem[n] + inst.m[i], inst.M[n])
                and within(self.sto[n] + added, inst.S[n]))

    def allowed(self, i: int, n: int) -> bool:
        """n is within container i's client delay bound, and the hard rules let one more replica
        of i's service onto n, as kube-scheduler's filters decide it: below max_per_server there,
        and for each hard spread, n's domain open and its count after adding at most the fewest of
        any domain (after adding) + max_skew. From a state where every spread holds, the state
        after holds too."""
        inst = self.inst
        if n in inst.banned[i]:
            return False
        k = inst.rule_of[i]
        if k < 0:
            return True
        if not self._room_on(k, n):
            return False
        for h in inst.spreads_of[k]:
            spread = inst.spreads[h]
            if spread.hard:
                counts, d = self.dom[h], spread.domain_of[n]
                low = min(c + (e == d) for e, c in enumerate(counts))
                if counts[d] + 1 > low + spread.max_skew:
                    return False
        return True

    def _room_on(self, k: int, n: int) -> bool:
        """Service k's rules let n take one more of its replicas: n not closed to it, and below
        its max_per_server there."""
        return n not in self.inst.closed[k] and self.svc[k][n] + 1 <= self.inst.max_per_server[k]

    def movable(self, i: int, n: int, added: float | None = None) -> bool:
        """Container i may move from its server to server n: n has room for it and is within its
        client delay bound, and with it moved
        every hard rule of its service holds (checked over the whole service, as leaving a
        domain can make another one past the skew)."""
        if not self.fits_resources(i, n, added):
            return False
        inst = self.inst
        if n in inst.banned[i]:
            return False
        k = inst.rule_of[i]
        if k < 0:
            return True
        if not self._room_on(k, n):
            return False
        a = self.where[i]
        for h in inst.spreads_of[k]:
            spread = inst.spreads[h]
            da, dn = spread.domain_of[a], spread.domain_of[n]
            if spread.hard and da != dn:
                counts = list(self.dom[h])
                counts[da] -= 1
                counts[dn] += 1
                if R.skew_excess(counts, spread.max_skew, spread.past):
                    return False
        return True

    def rules_hold(self, k: int | None = None) -> bool:
        """Every hard rule of service rule k (default: of every service) holds in this state."""
        inst = self.inst
        for r in range(len(inst.rules)) if k is None else (k,):
            svc, placed = self.svc[r], inst.placed[r]
            if any(svc[n] > inst.max_per_server[r] or (svc[n] > placed[n] and n in inst.closed[r])
                   for n in range(inst.n_servers)):
                return False
            for h in inst.spreads_of[r]:
                spread = inst.spreads[h]
                if spread.hard and R.skew_excess(self.dom[h], spread.max_skew, spread.past):
                    return False
        return True

    def soft(self, k: int) -> int:
        """Service rule k's soft cost in this state (rules.soft_cost, for one service)."""
        inst = self.inst
        cost = sum(max(0, c - 1) for c in self.svc[k]) if inst.rules[k].prefer_apart else 0
        for h in inst.spreads_of[k]:
            spread = inst.spreads[h]
            if not spread.hard:
                cost += R.skew_excess(self.dom[h], spread.max_skew)
        return cost

    def soft_delta(self, i: int, n: int) -> int:
        """Change of the soft cost if container i went to server n (from its server, if placed)."""
        k = self.inst.rule_of[i]
        if k < 0 or not (self.inst.rules[k].prefer_apart or any(
                not self.inst.spreads[h].hard for h in self.inst.spreads_of[k])):
            return 0
        a = self.where[i]
        before = self.soft(k)
        if a >= 0:
            self._count_rules(i, a, -1)
        self._count_rules(i, n, +1)
        after = self.soft(k)
        self._count_rules(i, n, -1)
        if a >= 0:
            self._count_rules(i, a, +1)
        return after - before

    def soft_total(self) -> int:
        return sum(self.soft(k) for k in range(len(self.inst.rules)))

    def _count_rules(self, i: int, n: int, step: int) -> None:
        inst = self.inst
        k = inst.rule_of[i]
        if k < 0:
            return
        self.svc[k][n] += step
        for h in inst.spreads_of[k]:
            d = inst.spreads[h].domain_of[n]
            if d >= 0:
                self.dom[h][d] += step

    def place(self, i: int, n: int) -> None:
        inst = self.inst
        self.sto[n] += self.added_storage(i, n)
        self.where[i] = n
        self.cpu[n] += inst.d[i]
        self.bw[n] += inst.b[i]
        self.mem[n] += inst.m[i]
        count = self.count[n]
        for l in inst.need[i]:
            count[l] = count.get(l, 0) + 1
        self._count_rules(i, n, +1)

    def remove(self, i: int) -> int:
        """Take container i off its server; returns that server."""
        inst, n = self.inst, self.where[i]
        self.sto[n] -= self.freed_storage(i)
        self.cpu[n] -= inst.d[i]
        self.bw[n] -= inst.b[i]
        self.mem[n] -= inst.m[i]
        count = self.count[n]
        for l in inst.need[i]:
            if count[l] == 1:
                del count[l]
            else:
                count[l] -= 1
        self._count_rules(i, n, -1)
        self.where[i] = -1
        return n

    def objective(self) -> float:
        return sum(self.sto)

    def complete(self) -> bool:
        return all(n >= 0 for n in self.where)
