"""What the engine's processes cost, read from /proc (Linux): the server process and its children (the
evaluator and dispatcher processes), summed. Shared by the benchmark scripts."""

from __future__ import annotations

import os
from pathlib import Path


def engine_pids(pid: int) -> list[int]:
    """`pid` and the processes whose parent it is."""
    out = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except OSError:
                pass
    return out


def _field_mb(path: str, name: str) -> float:
    for line in Path(path).read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb(pids: list[int]) -> float:
    """Resident memory summed over the processes: pages they share are counted once per process."""
    return sum(_field_mb(f"/proc/{pid}/status", "VmRSS") for pid in pids)


def pss_mb(pids: list[int]) -> float:
    """Proportional set size summed over the processes: each shared page counted once in all (the forked
    children share most of the API process's heap), which is what the engine costs the machine."""
    return sum(_field_mb(f"/proc/{pid}/smaps_rollup", "Pss") for pid in pids)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far."""
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total
