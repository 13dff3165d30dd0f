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
    if not os.path.exists(p) or not os.path.getsize(p):
        return None  # not run, or running
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



def kv(path):
    r = {}
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                r[k] = v
    return r


m = kv(f"{D}/machine.txt")
loads = open(f"{D}/load.txt").read().strip().splitlines() if os.path.exists(f"{D}/load.txt") else []
P = print
P("## 5. Nodes: kubeadm-ready nodes to ready, `kvmlab up` against virt-install (goal: <= 1.10x)")
P()
P(f"Written by `bench/nodes.sh` on {m.get('date', '?')}: kvmlab {m.get('kvmlab', '?')}, libvirt "
  f"{m.get('libvirt', '?')}, QEMU {m.get('qemu', '?')} (TCG: `accel: tcg`), virt-install "
  f"{m.get('virt-install', '?')}, hyperfine {m.get('hyperfine', '?')}, image `{m.get('image', '?')}` "
  f"from the store (cached, nothing built), {m.get('nproc', '?')} cores, {m.get('mem_total_mib', '?')} MiB. "
  "One run of each (`hyperfine --runs 1`: a boot under TCG takes minutes), the whole script under "
  "`/tmp/kvmlab-heavy.lock`, one sandbox daemon (lab `kn`). Raw data in `bench/results/nodes/`.")
P()
P("Both sides start with the lab's networks up and its daemon running (`kvmlab up` of `nets.yaml`, "
  "the lab with its networks only; after each timed run the same file takes the nodes away again "
  "and keeps networks and daemon). The base, its kernel and initrd are read once before the first "
  "run (page cache).")
P()
P("- **kvmlab up** (`two.yaml`, `one.yaml`, `three.yaml`): `up -f FILE --timeout 1800` under "
  "`/usr/bin/time -v`: plan, the networks' DHCP reservations updated in place, the pool, the "
  "image's use, one overlay per node, each node's seed ISO, define and start, then the wait (address, "
  "then `KVMLAB-REPORT: end` on the console, polled every 0.5 s) until every node is ready.")
P("- **virt-install** (`lib/virt-install-nodes.sh`): the same DHCP reservations (`virsh net-update`), "
  "then per node `qemu-img create` of an overlay on the same base with kvmlab's capacity, a NoCloud "
  "seed (`genisoimage -V cidata -J -R`) of kvmlab's own user-data, meta-data and network-config "
  "(taken out of its `seed.iso` with `isoinfo -R -x`), `virt-install --import` with kvmlab's vCPUs, "
  "memory, machine, kernel, initrd and command line, root and seed buses, NICs with kvmlab's MACs on "
  "the lab's networks, the guest-agent channel, RNG, no balloon, no USB, and a serial console logged "
  "to a file; then the same wait on every console log (0.5 s polls). Both sides' domain XML is in "
  "the raw data (`up2.kn-*.xml`, `peer2.knp-*.xml`).")
P()
rows = [("up2", "kvmlab up, two nodes (cp 2 vCPU/2048 MiB, worker 1/1536)", "up2."),
        ("peer2", "virt-install, the same two nodes, waited for the same way", "peer2."),
        ("peer2hpet", "virt-install as above with kvmlab's timers (`--clock offset=utc,hpet_present=yes`)", "peer2hpet."),
        ("up1", "kvmlab up, one node (worker shape)", "up1."),
        ("up3", "kvmlab up, three nodes (worker shape)", "up3.")]
P("| run | wall time to ready | client CPU (user+sys) | peak RSS of kvmlab | cloud-init done at guest uptime | wall time less the slowest guest's uptime |")
P("|---|---|---|---|---|---|")
for name, label, pfx in rows:
    h = hf(name)
    if h is None:
        continue
    tv = timev(name)
    rss = f"{tv['rss'] / 1024:.1f} MiB" if tv else "-"
    cpu = f"{(tv['user'] + tv['sys']):.2f} s" if tv else f"{h['cpu']:.2f} s"
    ut = [uptime(f) for f in sorted(glob.glob(f"{D}/{pfx}*.console.log"))]
    ut = [u for u in ut if u is not None]
    rest = f"{h['t'] - max(ut):.1f} s" if ut else "?"
    P(f"| {label} | {s(h['t'])} | {cpu} | {rss} | {ups(pfx)} | {rest} |")
P()
a, b = hf("up2"), hf("peer2")
if a and b:
    P(f"- kvmlab up / virt-install, two nodes: **{a['t'] / b['t']:.3f}x** ({s(a['t'])} against {s(b['t'])}, "
      f"difference {a['t'] - b['t']:+.1f} s); goal <= 1.10x: {'met' if a['t'] / b['t'] <= 1.10 else 'missed'}.")
c = hf("peer2hpet")
if a and c:
    P(f"- kvmlab up / virt-install with kvmlab's timers (HPET present, no tick policies): "
      f"**{a['t'] / c['t']:.3f}x** ({s(a['t'])} against {s(c['t'])}); virt-install's own timers against "
      f"kvmlab's on the same peer: {b['t'] / c['t']:.3f}x." if b else "")
a, c = hf("up1"), hf("up3")
if a and c:
    P(f"- growth, one node to three (the worker's shape): {s(a['t'])} to {s(c['t'])}, {c['t'] / a['t']:.2f}x "
      f"for 3x the nodes ({(c['t'] - a['t']) / 2:.1f} s per added node).")
P("- \"cloud-init done at guest uptime\" is cloud-init's own final line on each console (`Up N seconds`); "
  "the last column is what the guest's boot does not explain: making the objects, QEMU's start, "
  "firmware, the report service after cloud-init, and the last poll.")
if loads:
    P("- load average around each run (1, 5, 15 min): " + "; ".join(
        l.split(" load=")[0] + " " + l.split(" load=")[1].split(" mem_")[0] for l in loads) + ".")
P()
P("The command lines as run (`bench/results/nodes/commands.txt`):")
P()
P("```")
P(open(f"{D}/commands.txt").read().strip() if os.path.exists(f"{D}/commands.txt") else "")
P("```")
P()
