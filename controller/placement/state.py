"""Incremental bookkeeping of a (partial) placement, by index: loads, layer counts, newly stored size."""

from __future__ import annotations

from .model import Problem

# Capacity comparisons allow for float rounding in sums of demands.
REL_TOL = 1e-9


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
        self.users: list[list[int]] = [[] for _ in self.digests]
        for i, need in enumerate(self.need):
            for l in need:
                self.users[l].append(i)

    @property
    def n_servers(self) -> int:
        return len(self.P)

    @property
    def n_containers(self) -> int:
        return len(self.d)

    def named(self, where: list[int]) -> dict[str, str]:
        return {self.container_names[i]: self.server_names[n] for i, n in enumerate(where)}


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

    def copy(self) -> "Loads":
        other = Loads.__new__(Loads)
        other.inst, other.sharing = self.inst, self.sharing
        other.where = list(self.where)
        other.cpu, other.bw, other.sto = list(self.cpu), list(self.bw), list(self.sto)
        other.mem = list(self.mem)
        other.count = [dict(c) for c in self.count]
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
        inst = self.inst
        if added is None:
            added = self.added_storage(i, n)
        return (within(self.cpu[n] + inst.d[i], inst.P[n])
                and within(self.bw[n] + inst.b[i], inst.B[n])
                and within(self.mem[n] + inst.m[i], inst.M[n])
                and within(self.sto[n] + added, inst.S[n]))

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
        self.where[i] = -1
        return n

    def objective(self) -> float:
        return sum(self.sto)

    def complete(self) -> bool:
        return all(n >= 0 for n in self.where)
