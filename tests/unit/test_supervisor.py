"""The supervisor: a dead component started again after its back-off, deaths in a row backing off
up to 30 s and a long run starting the count again, a replacement on purpose not counted, a
component held down left alone, and the status file `strata status` reads."""

from __future__ import annotations

import json

from harness.supervisor import Supervisor, Target, read_status, restart_delay


class FakeProcess:
    def __init__(self):
        self.pid, self.running, self.code, self.starts = 100, True, None, 0

    def alive(self):
        return self.running

    def exit_code(self):
        return None if self.running else self.code

    def start(self):
        self.starts += 1
        self.pid += 1
        self.running, self.code = True, None
        return self

    def die(self, code=-9):
        self.running, self.code = False, code


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def supervisor(tmp_path, processes, held=()):
    clock = Clock()
    said = []
    targets = lambda: {name: Target((lambda p=p, n=name: None if n in held else p), "daemon")  # noqa: E731
                       for name, p in processes.items()}
    return Supervisor(targets, tmp_path / "supervision.json", clock=clock, say=said.append), clock, said


def test_the_back_off_doubles_up_to_thirty_seconds():
    assert [restart_delay(k) for k in range(1, 9)] == [0, 1, 2, 4, 8, 16, 30, 30]


def test_a_dead_component_is_started_again_at_once_then_after_its_back_off(tmp_path):
    orchestrator = FakeProcess()
    sup, clock, said = supervisor(tmp_path, {"orchestrator": orchestrator})
    sup.check_once()
    orchestrator.die(-9)
    clock.now += 5
    sup.check_once()  # a first death: started again in the same look
    entry = sup.watched["orchestrator"]
    assert "orchestrator (pid 100) died with status -9 after 5 s; starting it again in 0 s" in said[0]
    assert orchestrator.starts == 1 and entry.restarts == 1 and entry.pid == 101 and entry.state == "running"
    orchestrator.die(-9)  # again at once: now it waits a second
    sup.check_once()
    assert orchestrator.starts == 1 and sup.watched["orchestrator"].state == "restarting"
    clock.now += 1
    sup.check_once()
    assert orchestrator.starts == 2 and sup.watched["orchestrator"].restarts == 2
    status = read_status(tmp_path / "supervision.json")
    assert status["components"][0]["restarts"] == 2 and status["components"][0]["last_exit"] == -9


def test_deaths_in_a_row_back_off_and_a_long_run_starts_the_count_again(tmp_path):
    agent = FakeProcess()
    sup, clock, _ = supervisor(tmp_path, {"agent/edge1": agent})
    sup.check_once()
    waits = []
    for _ in range(4):  # each dies right after its start
        agent.die(1)
        sup.check_once()
        waits.append(sup.watched["agent/edge1"].next_try - clock.now)
        clock.now = sup.watched["agent/edge1"].next_try
        sup.check_once()
    assert waits == [0, 1, 2, 4] and agent.starts == 4
    clock.now += 61  # a minute up: the next death is started again at once
    starts = agent.starts
    agent.die(1)
    sup.check_once()
    assert agent.starts == starts + 1 and sup.watched["agent/edge1"].streak == 1


def test_a_replacement_on_purpose_is_not_a_restart_and_a_held_component_stays_down(tmp_path):
    processes = {"mesh": FakeProcess(), "orchestrator": FakeProcess()}
    held = set()
    sup, clock, said = supervisor(tmp_path, processes, held)
    sup.check_once()
    with sup.paused():  # as Stack.restart_mesh: a new process in its place
        processes["mesh"] = FakeProcess()
        processes["mesh"].pid = 500
    sup, clock, said = supervisor(tmp_path, processes, held)
    sup.check_once()
    assert sup.watched["mesh"].pid == 500 and sup.watched["mesh"].restarts == 0
    held.add("orchestrator")  # as Stack.stop_orchestrator
    processes["orchestrator"].die()
    clock.now += 60
    sup.check_once()
    assert processes["orchestrator"].starts == 0 and not said
    assert json.loads((tmp_path / "supervision.json").read_text())["components"]


def test_a_start_that_fails_is_tried_again_later(tmp_path):
    class Failing(FakeProcess):
        def start(self):
            raise OSError("no such file")

    broken = Failing()
    sup, clock, said = supervisor(tmp_path, {"sdn": broken})
    sup.check_once()
    broken.die(2)
    clock.now += 1
    sup.check_once()
    clock.now += 1
    sup.check_once()
    assert "starting sdn again failed: no such file" in said[-1]
    assert sup.watched["sdn"].state == "restarting" and sup.watched["sdn"].next_try > clock.now
