"""Fixtures for the placement tests: algorithm runs cached for the session, so that the ILP
optimum of an instance is solved once however many tests compare against it."""

from __future__ import annotations

import pytest

from controller.placement.algorithms import ALGORITHMS

import placement_cases

TIME_LIMIT = 10.0  # seconds per run: keeps the suite fast; every instance used solves well within it


@pytest.fixture(scope="session")
def generated_problem():
    """name -> Problem, for the names in placement_cases.ALL_GENERATED (built once)."""
    cache = {}

    def get(name: str):
        if name not in cache:
            cache[name] = placement_cases.ALL_GENERATED[name]()
        return cache[name]

    return get


@pytest.fixture(scope="session")
def solved(generated_problem):
    """(instance name, algorithm, solver, seed) -> PlacementResult, each run once per session."""
    cache = {}

    def get(name: str, algorithm: str, solver: str = "cbc", seed: int = 0):
        key = (name, algorithm, solver, seed)
        if key not in cache:
            cache[key] = ALGORITHMS[algorithm](generated_problem(name), solver=solver,
                                               time_limit=TIME_LIMIT, seed=seed)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def ilp_optimum(solved):
    """The proven optimum of a generated instance (the test fails if the ILP cannot prove it)."""

    def get(name: str) -> float:
        result = solved(name, "ilp", "cbc")
        assert result.status == "optimal", f"ILP did not prove the optimum of {name}: {result.status}"
        return result.objective

    return get


@pytest.fixture(autouse=True)
def no_running_stack(monkeypatch, tmp_path_factory):
    """The CLI finds no stack description unless a test gives one: a stack running on the machine
    (its /run/strata/stack.json naming certificates) must not change what a unit test does."""
    monkeypatch.setenv("STRATA_STACK", str(tmp_path_factory.getbasetemp() / "no-stack.json"))
