#!/usr/bin/env python3
"""The nodes section of bench/RESULTS.md from bench/results/nodes/ (bench/nodes.sh's raw data),
in Markdown on stdout.
    nodes-report.py RESULTS-DIR"""
import glob
import json
import os
import re
import sys

D = sys.argv[1]


def hf(name):
    p = f"{D}/{name}.json"
    if not os.path.exists(p):
        return None
    r = json.load(open(p))["results"][0]
    return {"t": r["mean"], "cpu": r["user"] + r["system"]}


def timev(name):
    p = f"{D}/{name}.time-v.txt"
    if not os.path.exists(p):
        return None
    t = open(p).read()
    g = lambda k: re.search(re.escape(k) + r": (\S+)", t).group(1)
    return {"rss": int(g("Maximum resident set size (kbytes)")), "user": float(g("User time (seconds)")),
            "sys": float(g("System time (seconds)"))}


def uptime(log):
    """cloud-init's own "finished ... Up N seconds": the guest's uptime when cloud-init was done"""
    m = re.findall(r"Up ([0-9.]+) seconds", open(log, errors="replace").read())
    return float(m[-1]) if m else None


def ups(prefix):
    out = []
    for log in sorted(glob.glob(f"{D}/{prefix}*.console.log")):
        n = os.path.basename(log)[len(prefix):-len(".console.log")]
        out.append(f"{n} {uptime(log):.1f} s" if uptime(log) else f"{n} ?")
    return ", ".join(out)


def s(x):
    return f"{x:.1f} s"


rows = [("up2", "kvmlab up, two nodes (cp 2 vCPU/2048 MiB, worker 1/1536)", "up2."),
        ("peer2", "virt-install, the same two nodes, waited for the same way", "peer2."),
        ("up1", "kvmlab up, one node (worker shape)", "up1."),
        ("up3", "kvmlab up, three nodes (worker shape)", "up3.")]
print("| run | wall time to ready | client CPU (user+sys) | peak RSS of kvmlab | cloud-init done at guest uptime |")
print("|---|---|---|---|---|")
for name, label, pfx in rows:
    h = hf(name)
    if h is None:
        continue
    tv = timev(name)
    rss = f"{tv['rss'] / 1024:.1f} MiB" if tv else "-"
    cpu = f"{(tv['user'] + tv['sys']):.2f} s" if tv else f"{h['cpu']:.2f} s"
    logs = ups(pfx or "peer2.")
    print(f"| {label} | {s(h['t'])} | {cpu} | {rss} | {logs} |")
a, b = hf("up2"), hf("peer2")
if a and b:
    print(f"\n- kvmlab up / virt-install, two nodes: **{a['t'] / b['t']:.3f}x** ({s(a['t'])} against {s(b['t'])}, "
          f"difference {a['t'] - b['t']:+.1f} s); goal <= 1.10x: {'met' if a['t'] / b['t'] <= 1.10 else 'missed'}.")
a, c = hf("up1"), hf("up3")
if a and c:
    print(f"- growth, one node to three: {s(a['t'])} to {s(c['t'])}, {c['t'] / a['t']:.2f}x for 3x the nodes "
          f"({(c['t'] - a['t']) / 2:.1f} s per added node).")
