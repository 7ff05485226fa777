"""`tocsin server` runs the evaluator and the dispatcher in child processes: they work, their metrics reach
/metrics, they die with the server on kill -9, a child that dies is restarted, and `--single-process` keeps
everything in one process."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.server.helpers import automation, event, reactive, wait_for
from tocsin.server.processes import PROCESS_NAMES


# on one usable CPU the server runs as one process (test_on_one_cpu_the_server_runs_as_one_process)
needs_two_cpus = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one usable CPU: no child processes")


def children_of(pid: int) -> dict[int, str]:
    """pid -> command line of the processes whose parent is `pid`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found[int(entry.name)] = cmdline
    return found


def roles(pid: int) -> dict[str, int]:
    """role -> pid of the server's children, by the name each gives itself (/proc/PID/comm)."""
    names = {name: role for role, name in PROCESS_NAMES.items()}
    out = {}
    for child in children_of(pid):
        try:
            comm = Path(f"/proc/{child}/comm").read_text().strip()
        except OSError:
            continue
        if comm in names:
            out[names[comm]] = child
    return out


def shared_anonymous_mb(pid: int) -> float:
    """Anonymous memory (the Python heap) this process shares with others: a forked child shares the
    parent's until either writes to it; a freshly started interpreter shares none."""
    total_kb, anonymous = 0, False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        first = line.split(maxsplit=1)[0]
        if "-" in first and not first.endswith(":"):
            fields = line.split()
            anonymous = len(fields) < 6 or fields[5] == "[heap]"
        elif anonymous and first in ("Shared_Clean:", "Shared_Dirty:"):
            total_kb += int(line.split()[1])
    return total_kb / 1024


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def fire_once(sp, name: str) -> None:
    with httpx.Client(base_url=sp.api, headers=sp.headers(), timeout=10) as c:
        aid = c.post("/automations/", json=automation(name, reactive(expect=name))).json()["id"]
        c.post("/events", json=[event(name)]).raise_for_status()
        wait_for(lambda: c.get(f"/automations/{aid}/state").json()["recent_firings"], timeout=20)


@needs_two_cpus
def test_evaluator_and_dispatcher_run_in_child_processes_and_report_metrics(server_process) -> None:
    sp = server_process()
    assert sp.proc is not None
    found = wait_for(lambda: roles(sp.proc.pid) if len(roles(sp.proc.pid)) == 2 else None)
    assert set(found) == {"evaluator", "dispatcher"}
    for pid in found.values():  # forked from the API process after start-up: its heap is shared, not copied
        assert shared_anonymous_mb(pid) > 10
    fire_once(sp, "test.split")
    with httpx.Client(base_url=sp.base_url, headers=sp.headers()) as c:
        text = c.get("/metrics").text
    # counted in the evaluator's process, served by the API's
    assert metric(text, "tocsin_firings_total") >= 1
    assert metric(text, "tocsin_events_evaluated_total") >= 2
    assert metric(text, "tocsin_events_ingested_total") >= 1
    assert metric(text, "tocsin_evaluation_leader") == 1
    sp.terminate()  # SIGTERM: the children stop first, in pipeline order
    log = sp.log()
    assert log.index("evaluator process stopped") < log.index("dispatcher process stopped")
    assert "tocsin server stopped" in log
    for pid in found.values():
        assert not alive(pid)


@needs_two_cpus
def test_kill_9_of_the_server_takes_its_children_down(server_process) -> None:
    sp = server_process()
    assert sp.proc is not None
    found = wait_for(lambda: roles(sp.proc.pid) if len(roles(sp.proc.pid)) == 2 else None)
    sp.kill()
    wait_for(lambda: not any(alive(pid) for pid in found.values()), timeout=5)


@needs_two_cpus
def test_a_child_that_dies_is_restarted_and_work_goes_on(server_process) -> None:
    sp = server_process()
    assert sp.proc is not None
    found = wait_for(lambda: roles(sp.proc.pid) if len(roles(sp.proc.pid)) == 2 else None)
    os.kill(found["evaluator"], signal.SIGKILL)
    replaced = wait_for(lambda: (r := roles(sp.proc.pid)).get("evaluator") not in (None, found["evaluator"]) and r,
                        timeout=10)
    assert replaced["dispatcher"] == found["dispatcher"]
    # the replacement is a fresh interpreter (forking a process that runs threads is unsafe)
    assert children_of(sp.proc.pid)[replaced["evaluator"]].endswith("tocsin.server.processes evaluator")
    fire_once(sp, "test.after.restart")
    assert "the evaluator process exited" in sp.log()
    with httpx.Client(base_url=sp.base_url, headers=sp.headers()) as c:
        assert 'tocsin_process_restarts_total{role="evaluator"} 1.0' in c.get("/metrics").text
    sp.terminate()


def test_single_process_mode_starts_no_children(server_process) -> None:
    sp = server_process(args=["--single-process"])
    assert sp.proc is not None
    fire_once(sp, "test.single")
    time.sleep(0.2)
    assert not roles(sp.proc.pid)
    with httpx.Client(base_url=sp.base_url, headers=sp.headers()) as c:
        assert metric(c.get("/metrics").text, "tocsin_firings_total") >= 1
    sp.terminate()


def test_on_one_cpu_the_server_runs_as_one_process(server_process) -> None:
    """Children cannot run beside the API on one CPU; they would only cost memory."""
    sp = server_process(wrapper=["taskset", "-c", "0"])
    assert sp.proc is not None
    fire_once(sp, "test.one.cpu")
    time.sleep(0.2)
    assert not roles(sp.proc.pid)
    assert "one CPU available" in sp.log()
    sp.terminate()


def test_a_server_whose_port_is_taken_exits_with_an_error_and_stops_its_children(server_process) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        sp = server_process(start=False)
        sp.port = taken.getsockname()[1]
        sp.start(wait=False)
        assert sp.proc is not None
        started = time.monotonic()
        assert sp.proc.wait(timeout=30) == 3
        assert time.monotonic() - started < 8  # children stopped at once, not after their stop timeout
    assert sp.log_path is not None
    log = sp.log_path.read_text()
    assert "address already in use" in log
    if len(os.sched_getaffinity(0)) > 1:  # the children were told to stop and did, before the server exited
        assert "evaluator process stopped" in log and "dispatcher process stopped" in log
