#!/usr/bin/env python3
"""Merge hyperfine JSON exports of the same commands (rounds of one benchmark) into one.

    hfmerge.py OUT.json ROUND.json...

Each command's run times are joined in round order and its statistics computed again (mean,
sample standard deviation, median, min, max); user and system time are the means weighted by
the runs of each round. The output has hyperfine's layout, with "rounds" added.
"""
import json
import statistics
import sys

out, rounds = sys.argv[1], sys.argv[2:]
merged = {}
order = []
for path in rounds:
    with open(path) as f:
        for r in json.load(f)["results"]:
            m = merged.get(r["command"])
            if m is None:
                m = merged[r["command"]] = {"command": r["command"], "times": [], "exit_codes": [],
                                            "user_sum": 0.0, "system_sum": 0.0, "rounds": 0}
                if "parameters" in r:
                    m["parameters"] = r["parameters"]
                order.append(r["command"])
            n = len(r["times"])
            m["times"] += r["times"]
            m["exit_codes"] += r.get("exit_codes", [])
            m["user_sum"] += r["user"] * n
            m["system_sum"] += r["system"] * n
            m["rounds"] += 1
results = []
for c in order:
    m = merged[c]
    t = m["times"]
    results.append({
        "command": c,
        "mean": statistics.mean(t),
        "stddev": statistics.stdev(t) if len(t) > 1 else None,
        "median": statistics.median(t),
        "user": m.pop("user_sum") / len(t),
        "system": m.pop("system_sum") / len(t),
        "min": min(t),
        "max": max(t),
        **{k: v for k, v in m.items() if k != "command"},
    })
with open(out, "w") as f:
    json.dump({"results": results}, f, indent=2)
