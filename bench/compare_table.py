"""Merge bench/e2e.py and the Prefect anchor's results.json into one Markdown table (with ratios).

Usage: python bench/compare_table.py TOCSIN.json PREFECT.json [--write bench/RESULTS.md]
With --write, the section "## Side by side with Prefect" of that file is replaced (or appended).
"""

from __future__ import annotations

import argparse
import json
import math
import re
from datetime import date
from pathlib import Path
from typing import Any

SECTION = "## Side by side with Prefect"


def by_scenario(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r.get("scenario", "?"): r for r in rows if isinstance(r, dict)}


def prefect_rows(data: Any) -> dict[str, dict[str, Any]]:
    """The anchor's results.json: {"meta", "runs": [...]}; its restart run lists starts, the first on a fresh DB."""
    rows = by_scenario(data.get("runs", []) if isinstance(data, dict) else data)
    restart = rows.get("restart")
    if restart and restart.get("starts"):
        starts = restart["starts"]
        fresh = [s["cold_start_s"] for s in starts if s.get("fresh_db")] or [s["cold_start_s"] for s in starts]
        fresh += [r["cold_start_fresh_db_s"] for r in rows.values() if r.get("cold_start_fresh_db_s")]
        rss = sorted(s["rss_idle_mb"] for s in starts if s.get("rss_idle_mb"))
        restart["cold_start_s"] = sorted(fresh)[len(fresh) // 2]
        restart["rss_idle_mb"] = rss[len(rss) // 2] if rss else None
    return rows


def num(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def fmt(value: Any, unit: str = "") -> str:
    f = num(value)
    if f is None:
        return "–"
    text = f"{f:,.0f}" if abs(f) >= 100 else f"{f:,.2f}".rstrip("0").rstrip(".")
    return text + unit


def ratio(ours: Any, theirs: Any, higher_is_better: bool) -> str:
    a, b = num(ours), num(theirs)
    if a is None or b is None or a == 0 or b == 0:
        return "–"
    r = a / b if higher_is_better else b / a
    if 0.95 <= r <= 1.05:
        return "same"
    return f"{r:,.1f}x better" if r >= 1 else f"{1 / r:,.1f}x worse"


def pick(row: dict[str, Any] | None, *keys: str) -> Any:
    for key in keys:
        if row and row.get(key) is not None:
            return row[key]
    return None


def table(tocsin: dict[str, dict[str, Any]], prefect: dict[str, dict[str, Any]]) -> str:
    lines = ["| measure | Tocsin | Prefect 3.9.1 | ratio |", "|---|---:|---:|---:|"]

    def add(label: str, ours: Any, theirs: Any, unit: str, higher: bool) -> None:
        lines.append(f"| {label} | {fmt(ours, unit)} | {fmt(theirs, unit)} | {ratio(ours, theirs, higher)} |")

    t, p = tocsin.get("restart"), prefect.get("restart")
    add("cold start, fresh DB (median)", pick(t, "cold_start_s"), pick(p, "cold_start_s"), " s", False)
    add("idle RSS (summed over processes)", pick(t, "idle_rss_mb"), pick(p, "rss_idle_mb"), " MB", False)
    lines.append(f"| idle PSS (shared pages counted once) | {fmt(pick(t, 'idle_pss_mb'), ' MB')} | not measured | |")
    for name in sorted(k for k in tocsin if k.startswith(("paced", "reactive", "fanout"))):
        t, p = tocsin[name], prefect.get(name)
        add(f"{name}: ingest events/s", pick(t, "ingest_ev_s"), pick(p, "ingest_rate_eps"), "", True)
        add(f"{name}: actions/s end to end", pick(t, "e2e_act_s"), pick(p, "e2e_rate_aps"), "", True)
        add(f"{name}: latency p50", pick(t, "p50_ms"), pick(p, "lat_p50_ms"), " ms", False)
        add(f"{name}: latency p99", pick(t, "p99_ms"), pick(p, "lat_p99_ms"), " ms", False)
        lost_t, lost_p = pick(t, "lost"), pick(p, "lost")
        dup_t, dup_p = pick(t, "dup"), pick(p, "duplicates")
        lines.append(f"| {name}: lost / duplicated | {fmt(lost_t)} / {fmt(dup_t)} | {fmt(lost_p)} / {fmt(dup_p)} | |")
    t, p = tocsin.get("proactive"), prefect.get("proactive")
    add("proactive: lateness after deadline p50", pick(t, "lateness_p50_s"), pick(p, "lateness_p50_s"), " s", False)
    add("proactive: lateness max", pick(t, "lateness_max_s"), pick(p, "lateness_max_s"), " s", False)
    lines.append(f"| proactive: correct / wrong / duplicate firings | {fmt(pick(t, 'correct'))} / {fmt(pick(t, 'wrong'))}"
                 f" / {fmt(pick(t, 'dup'))} | {fmt(pick(p, 'correct_firings'))} / {fmt(pick(p, 'wrong_firings'))}"
                 f" / {fmt(pick(p, 'duplicate_firings'))} | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tocsin", type=Path)
    parser.add_argument("prefect", type=Path)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    tocsin = by_scenario(json.loads(args.tocsin.read_text()))
    prefect = prefect_rows(json.loads(args.prefect.read_text()))
    body = (f"{SECTION}\n\nMeasured by `bench/compare.sh` on {date.today().isoformat()}, both engines on the same "
            "2-core machine, one after the other, SQLite, loopback webhook sink, fresh database per scenario.\n\n"
            + table(tocsin, prefect) + "\n")
    print(body)
    if args.write:
        text = args.write.read_text() if args.write.exists() else "# Benchmark results\n"
        if SECTION in text:
            text = re.sub(re.escape(SECTION) + r".*?(?=\n## |\Z)", body.rstrip("\n"), text, flags=re.S)
        else:
            text = text.rstrip("\n") + "\n\n" + body
        args.write.write_text(text)


if __name__ == "__main__":
    main()
