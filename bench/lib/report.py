#!/usr/bin/env python3
"""Write bench/RESULTS.md from the raw results of bench/run.sh.

    report.py RESULTS_DIR RESULTS_MD
"""
import gzip
import json
import math
import os
import re
import sys

out_dir, md_path = sys.argv[1], sys.argv[2]


def load(name):
    with open(os.path.join(out_dir, name)) as f:
        return json.load(f)["results"]


def text(name):
    p = os.path.join(out_dir, name)
    return open(p).read() if os.path.exists(p) else ""


def ms(x):
    return f"{x * 1000:.1f} ms" if x < 10 else f"{x:.2f} s"


def row(r, base=None):
    cells = [r["command"], f"{ms(r['mean'])} ± {ms(r['stddev'] or 0)}", ms(r["median"]),
             ms(r["min"]), ms(r["max"])]
    if base is not None:
        cells.append(f"{r['mean'] / base['mean']:.2f}x / {r['median'] / base['median']:.2f}x")
    return "| " + " | ".join(cells) + " |"


machine = dict(l.split("=", 1) for l in text("machine.txt").splitlines() if "=" in l)
L = []
w = L.append
w("# kvmlab benchmarks: results")
w("")
w(f"Written by `bench/run.sh` on {machine.get('date', '?')}; re-run it to refresh this file "
  "(raw hyperfine JSON, strace and perf output in `bench/results/`). Every number below comes "
  "from one run of the script, on one sandbox daemon (lab `kvb`, namespace `kvmlab-kvb`).")
w("")
w("## Machine")
w("")
w("| nproc | CPU | kernel | OS | libvirt | hyperfine | kvmlab commit | load average after the run |")
w("|---|---|---|---|---|---|---|---|")
w(f"| {machine.get('nproc')} | {machine.get('cpu')} | {machine.get('kernel')} | {machine.get('os')} | "
  f"{machine.get('libvirt')} | {machine.get('hyperfine')} | {machine.get('kvmlab')} | {machine.get('load')} |")
w("")
w(f"Runs per command: {machine.get('runs')}. The machine is shared (2 cores, other people's "
  "builds run between the benchmarks; each benchmark holds `/tmp/kvmlab-heavy.lock`, which "
  "keeps other heavy tests out but not compilers): read the medians and minimums as well as "
  "the means.")
w("")

# --- 1
ud = load("updown.json")
w("## 1. `up` + `down` of a four-network lab against virsh")
w("")
w("The lab (`bench/results/four.yaml`): `vmnet8` NAT with a port forward (host 2222 -> "
  "192.168.208.10:22), `vmnet1` host-only, `vmnet2` isolated, `vmnet5` a custom NAT network. "
  "The sandbox daemon stays up through every run on both sides: it holds one network that "
  "kvmlab did not make (`kvb-keep`, defined, never started), so `kvmlab down` removes the lab's "
  "networks and NAT table and keeps the sandbox (it says so).")
w("")
w("- **kvmlab**: `kvmlab up` (observe, plan, define + start + autostart 4 networks, write the "
  "NAT table `ip kvmlab-kvb` in the namespace with libnftables), then `kvmlab down` (observe, "
  "destroy + undefine 4 networks, delete the table).")
w("- **virsh, one process per step**: the same four network definitions kvmlab made (its XML "
  "with uuid, MAC and metadata removed, names `kvbv-*`, `bench/results/virsh-four/`): "
  "`virsh net-define`, `net-start`, `net-autostart` per network (12 processes), the same NAT "
  "table with `ip netns exec kvmlab-kvb nft -f`, then `nft delete table` and `net-destroy`, "
  "`net-undefine` per network (8 processes). This is what a shell script with virsh does.")
w("- **virsh, one batch process**: the same steps in one `virsh` process per direction "
  "(`virsh -c URI 'net-define A; net-start a; ...'`): the fastest virsh can be.")
w("")
w("| command | mean ± σ | median | min | max | against kvmlab (mean / median) |")
w("|---|---|---|---|---|---|")
for r in ud:
    w(row(r, ud[0]))
w("")

# --- 2
no = load("noop.json")
base = no[-1]
w("## 2. No-op `up` and `plan` on a converged lab against `virsh net-list`")
w("")
w("The four-network lab is up; `kvmlab up` and `kvmlab plan` find nothing to do; `virsh "
  "net-list` lists the same daemon's networks (5: the lab's 4 and `kvb-keep`). hyperfine "
  "runs them without a shell (`-N`). Goal: at most 1.2x (before, on main: 77 ms against 46 ms, 1.65x).")
w("")
w("| command | mean ± σ | median | min | max | against virsh net-list (mean / median) |")
w("|---|---|---|---|---|---|")
for r in no:
    w(row(r, base))
w("")
for r in no[:2]:
    ratio = r["median"] / base["median"]
    w(f"- {r['command']}: {ratio:.2f}x virsh net-list (median), goal 1.2x: "
      f"{'met' if ratio <= 1.2 else 'NOT met'}.")
w("")

# profile
w("### Where the no-op `up` spends its time")
w("")
dc = {}
for l in text("daemon-cpu.txt").splitlines():
    what, ticks, hz = l.split()
    dc[what] = int(ticks) / int(hz) / 20
if dc:
    w(f"- **The daemon's CPU per call** (libvirtd's utime+stime over 20 calls, /proc): "
      f"`kvmlab up` {dc.get('up', 0) * 1000:.1f} ms, `virsh net-list` "
      f"{dc.get('net-list', 0) * 1000:.1f} ms.")


def strace_top(name, n=8):
    rows = []
    for l in text(name).splitlines():
        m = re.match(r"\s*([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(?:(\d+)\s+)?(\w+)$", l)
        if m:
            rows.append((float(m.group(2)), int(m.group(4)), m.group(6), m.group(5) or "0"))
    total = None
    for l in text(name).splitlines():
        m = re.match(r"\s*100\.00\s+([\d.]+)\s+\d+\s+(\d+)", l)
        if m:
            total = (float(m.group(1)), int(m.group(2)))
    return rows[:n], total


for name, who in (("strace-c-up.txt", "kvmlab up (no-op)"), ("strace-c-netlist.txt", "virsh net-list")):
    rows, total = strace_top(name)
    if total:
        w(f"- **`strace -c -f` of {who}**: {total[1]} system calls, {total[0] * 1000:.1f} ms in "
          "the kernel; top: " + ", ".join(f"`{s}` {c}x {t * 1000:.2f} ms ({e} errors)"
                                          for t, c, s, e in rows[:6]) + ".")


def timeline(name):
    """Wall-clock landmarks of one run from strace -f -tt -T."""
    ev = []
    t0 = None
    for l in text(name).splitlines():
        m = re.match(r"(\d+)\s+(\d+):(\d+):([\d.]+)\s+(.*)", l)
        if not m:
            continue
        t = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + float(m.group(4))
        if t0 is None:
            t0 = t
        ev.append((t - t0, m.group(5)))
    return ev


def landmarks(ev):
    marks = []
    seen = set()

    def mark(label, pred, first=True):
        hits = [t for t, s in ev if pred(s)]
        if hits and label not in seen:
            seen.add(label)
            marks.append((hits[0] if first else hits[-1], label))

    mark("program started (execve)", lambda s: s.startswith("execve("))
    mark("lab file opened", lambda s: s.startswith("openat(") and ".yaml" in s)
    mark("connected to the daemon's socket", lambda s: s.startswith("connect(") and "libvirt-sock" in s)
    hits = [t for t, s in ev if s.startswith("connect(") and "libvirt-sock" in s]
    for i, t in enumerate(hits[1:], 2):
        marks.append((t, f"connection {i} to the daemon's socket"))
    mark("first namespace switch (nft observe thread)", lambda s: s.startswith("setns("))
    mark("last namespace switch", lambda s: s.startswith("setns("), first=False)
    mark("netlink socket (host routes)", lambda s: s.startswith("socket(AF_NETLINK") and "NETLINK_ROUTE" in s)
    mark("first write to stdout", lambda s: s.startswith("write(1,"))
    mark("exit", lambda s: s.startswith("exit_group(") or "+++ exited" in s, first=False)
    return sorted(marks)


ev = timeline("strace-tt-up.txt")
if ev:
    marks = landmarks(ev)
    w("- **Timeline of one no-op `up` under `strace -f -tt`** (strace slows every system call, "
      "so read the shares, not the absolute times): " +
      "; ".join(f"{t * 1000:.1f} ms {label}" for t, label in marks) + ".")
    rpc = sum(1 for t, s in ev if re.match(r"(write|sendmsg|writev)\((\d+)", s) and "libvirt" not in s
              and not s.startswith("write(1,") and not s.startswith("write(2,"))
    polls = [re.search(r"<([\d.]+)>$", s) for t, s in ev if s.startswith(("poll(", "ppoll("))]
    wait = sum(float(p.group(1)) for p in polls if p)
    w(f"  Writes to sockets and files: {rpc}; time blocked in `poll` (waiting for the daemon): "
      f"{wait * 1000:.1f} ms over {len(polls)} calls.")
ev2 = timeline("strace-tt-netlist.txt")
if ev2:
    polls = [re.search(r"<([\d.]+)>$", s) for t, s in ev2 if s.startswith(("poll(", "ppoll("))]
    wait = sum(float(p.group(1)) for p in polls if p)
    w(f"- virsh net-list under the same strace: {ev2[-1][0] * 1000:.1f} ms wall, "
      f"{wait * 1000:.1f} ms in `poll` over {len(polls)} calls.")
th = dict(l.split() for l in text("perf-threads.txt").splitlines() if l.strip())
if th:
    w(f"- **CPU samples by thread** (`perf script`, {th['samples']} samples of the kvmlab process "
      f"over 20 no-op `up`s): main thread {float(th['main']) * 100:.1f}%, the short-lived "
      f"thread that runs libnftables inside the namespace (`vmnet/nftapply.c`, one `list "
      f"ruleset ip`) {float(th['nft']) * 100:.1f}%.")
perf = text("perf-up-dso.txt").strip().splitlines()
if perf:
    w("- **`perf record -g` of 20 no-op `up`s, by library** (client process only; share of "
      "CPU samples, self time):")
    w("")
    w("```")
    for l in perf[:12]:
        w(l.rstrip())
    w("```")
perf = text("perf-up.txt").strip().splitlines()
if perf:
    w("- by symbol (top 25):")
    w("")
    w("```")
    for l in perf[:25]:
        w(l.rstrip())
    w("```")
w("")

# --- 3
up = load("scale-up.json")
pl = load("scale-plan.json")


def size(r):
    return int(r["parameters"]["n"])


def rss(kind, n):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text(f"time-{kind}-{n}.txt"))
    return int(m.group(1)) if m else None


def wall(kind, n):
    m = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", text(f"time-{kind}-{n}.txt"))
    if not m:
        return None
    return int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


series = {}
def kind_of(cmd):
    if "virsh-nets.sh" in cmd:
        return "virsh batch up"
    if "net-list" in cmd:
        return "virsh net-list"
    return "kvmlab plan" if " plan " in cmd else "kvmlab up"


for r in up + pl:
    kind = kind_of(r["command"])
    series.setdefault(kind, {})[size(r)] = r
sizes = sorted({size(r) for r in up})
w(f"## 3. {', '.join(map(str, sizes))} networks: `up` from nothing, then `plan` on the converged lab")
w("")
w("Lab files `bench/results/n<N>.yaml`: host-only networks `vmnet10`... without a subnet, so "
  "kvmlab picks every /24 (the lab-file limit is 256 networks). `up` runs after `kvmlab down` "
  "(the sandbox stays, as above). The virsh reference defines, starts and autostarts the same "
  "definitions (kvmlab's, renamed) in one batch process: what libvirt itself costs. `plan` runs "
  "on the converged lab; `virsh net-list` on the same daemon at the same moment.")
w("")
w("| N | kvmlab up (mean ± σ, median) | virsh batch up (mean ± σ, median) | kvmlab up / virsh "
  "(median) | kvmlab plan | virsh net-list | plan / net-list | max RSS up | max RSS plan |")
w("|---|---|---|---|---|---|---|---|---|")
for n in sizes:
    ku, vu = series["kvmlab up"][n], series["virsh batch up"][n]
    kp, vl = series["kvmlab plan"][n], series["virsh net-list"][n]
    w(f"| {n} | {ms(ku['mean'])} ± {ms(ku['stddev'] or 0)}, {ms(ku['median'])} | "
      f"{ms(vu['mean'])} ± {ms(vu['stddev'] or 0)}, {ms(vu['median'])} | "
      f"{ku['median'] / vu['median']:.2f}x | {ms(kp['median'])} | {ms(vl['median'])} | "
      f"{kp['median'] / vl['median']:.2f}x | "
      f"{rss('up', n) / 1024:.1f} MiB | {rss('plan', n) / 1024:.1f} MiB |")
w("")
w("`plan` and `net-list`: median. Max RSS from "
  "`/usr/bin/time -v` (one run each, outside hyperfine).")
w("")
w("Growth of the medians: t(N2)/t(N1) against N2/N1, and the same as a factor per doubling, "
  "(t(N2)/t(N1))^(1/log2(N2/N1)). Goal: at most 2.2 per doubling. (Medians: with 3 runs of "
  "up, one run slowed by a neighbour moves the mean by a third of its delay.)")
w("")
w("| series | " + " | ".join(f"{a} -> {b}" for a, b in zip(sizes, sizes[1:])) + " | goal met |")
w("|---|" + "---|" * (len(sizes)) )
for kind, stat in (("kvmlab up", "median"), ("virsh batch up", "median"), ("kvmlab plan", "median"),
                   ("virsh net-list", "median")):
    cells, ok = [], True
    for a, b in zip(sizes, sizes[1:]):
        ra = series[kind][b][stat] / series[kind][a][stat]
        per = ra ** (1 / math.log2(b / a))
        ok = ok and per <= 2.2
        cells.append(f"{ra:.2f} for {b / a:.0f}x N, {per:.2f} per doubling")
    w(f"| {kind} | " + " | ".join(cells) + f" | {'yes' if ok else 'NO'} |")
w("")
w("Max RSS per N (KiB): " + "; ".join(f"N={n}: up {rss('up', n)}, plan {rss('plan', n)}"
                                      for n in sizes) + ".")
w("")

# --- 4: storage (bench/storage.sh, results in RESULTS_DIR/storage)
sdir = os.path.join(out_dir, "storage")


def sjson(name):
    with open(os.path.join(sdir, name)) as f:
        return json.load(f)["results"]


def stext(name):
    p = os.path.join(sdir, name)
    if os.path.exists(p + ".gz"):
        with gzip.open(p + ".gz", "rt") as f:
            return f.read()
    return open(p).read() if os.path.exists(p) else ""


def cpu(r):
    return ms(r["user"] + r["system"])


if all(os.path.exists(os.path.join(sdir, f)) for f in ("overlay.json", "lab.json", "machine.txt")):
    sm = dict(l.split("=", 1) for l in stext("machine.txt").splitlines() if "=" in l)
    nodes = sm.get("runs", "").split("nodes=")[-1] if "nodes=" in sm.get("runs", "") else "20"
    ov = sjson("overlay.json")
    lab = sjson("lab.json")
    w(f"## 4. Storage: an overlay on a 1 GiB and on a 20 GiB base; the volumes of a {nodes}-node lab")
    w("")
    w(f"Written by `bench/storage.sh` (run by `bench/run.sh`, or alone) on {sm.get('date', '?')}: "
      f"kvmlab {sm.get('kvmlab')}, libvirt {sm.get('libvirt')}, qemu-img {sm.get('qemu-img')}, "
      f"file systems {sm.get('fs')}, load average after the run {sm.get('load')}, "
      f"{sm.get('runs', '').split()[0]} runs per command, taken in "
      f"{sm.get('runs', '').split('rounds=')[-1].split()[0]} rounds (a hyperfine call per round "
      "with every command in it, one warm-up run in the first, merged by `lib/hfmerge.py`: on "
      "this shared machine a neighbour's burst of load then falls on every command alike, not "
      "on the one hyperfine happens to be running). Raw data in `bench/results/storage/`. One sandbox daemon (lab `kvbs`, namespace "
      "`kvmlab-kvbs`), kept alive through `kvmlab down` by a network kvmlab did not make "
      "(`kvbs-keep`, defined, never started), so every command below works on a running daemon.")
    w("")
    w("The bases (`bench/results/storage/bases.txt`): `qemu-img create -f qcow2` of 1 GiB and "
      "20 GiB, then one `qemu-io` with 20 writes of 16 MiB, each its own byte pattern, spread "
      "evenly over the whole disk (320 MiB of data in each, at every 51 MiB and every 1 GiB). "
      "The script imports both into kvmlab's shared store once (`kvmlab up`, then `down`: the "
      "store keeps them), so no timed `up` imports anything: it finds the image in the store.")
    w("")
    w("```")
    w(stext("bases.txt").strip())
    w("```")
    w("")
    w("### 4a. Overlay creation time, 1 GiB against 20 GiB base (goal: flat, ratio <= 1.1)")
    w("")
    w("A one-node lab (`bench/results/storage/o1g.yaml`, `o20g.yaml`): node `n1` on the base, no "
      "`disks:`, so its root disk is a qcow2 overlay of the base's size with the stored base as "
      "backing store.")
    w("")
    w("- **kvmlab up from nothing**: `--prepare kvmlab down --lab kvbs`; the timed `up` observes, "
      "plans, makes the pool `kvbs-pool` (directory, marker, define, start, autostart), takes "
      "the image into use (store record, the store pool `kvmlab-images` refreshed) and creates "
      "the overlay `n1-0.qcow2`.")
    w("- **kvmlab up remaking the overlay only**: the lab is up and the prepare step deletes "
      "`n1-0.qcow2` with `virsh vol-delete`; the timed `up` sees the drift and creates that one "
      "volume again: start-up, observation and planning plus the overlay.")
    w("- **virsh vol-create-as**: the same overlay (name, capacity, `--allocation 0 --format "
      "qcow2 --backing-vol STORE-FILE --backing-vol-format qcow2`, read back from kvmlab's "
      "volume) in a pool of the virsh side's own (`kvbsv-pool`, kvmlab's pool XML renamed); the "
      "prepare step deletes it.")
    w("")
    w("| command | mean ± σ | median | min | max | client CPU (user+sys, mean) |")
    w("|---|---|---|---|---|---|")
    for r in ov:
        w(row(r) + f" {cpu(r)} |")
    w("")
    w("| series | 20g / 1g (median) | 20g / 1g (mean) | 20g / 1g (min) | 20g - 1g (median) | goal <= 1.1 |")
    w("|---|---|---|---|---|---|")
    by = {r["command"]: r for r in ov}
    for r in ov:
        if "1g base" not in r["command"]:
            continue
        other = by.get(r["command"].replace("1g base", "20g base"))
        if not other:
            continue
        rm = other["median"] / r["median"]
        w(f"| {r['command'].replace(', 1g base', '').replace(', overlay on the 1g base', '')} | "
          f"{rm:.3f} | {other['mean'] / r['mean']:.3f} | {other['min'] / r['min']:.3f} | "
          f"{(other['median'] - r['median']) * 1000:+.1f} ms | {'met' if rm <= 1.1 else 'NOT met'} |")
    w("")
    w("### 4b. The volumes of a %s-node lab: `kvmlab up` against `virsh vol-create-as` (goal: <= 1.0x)" % nodes)
    w("")
    nvol = len([l for l in stext(f"lab{nodes}-volumes.txt").splitlines() if l.strip()])
    w(f"The lab (`bench/results/storage/lab{nodes}.yaml`): {nodes} nodes on the 1 GiB base, each "
      "with `disks: [{size: 8G}, {size: 2G}]`, so a root overlay grown to 8 GiB and a 2 GiB data "
      f"disk: {nvol} qcow2 volumes in the pool `kvbs-pool`. Both sides make the pool and the "
      f"volumes from nothing (`bench/results/storage/lab{nodes}-volumes.txt` lists them as "
      "kvmlab made them: name, capacity, backing file).")
    w("")
    w("- **kvmlab up**: `--prepare kvmlab down --lab kvbs`. The time includes kvmlab's start-up, "
      "reading the lab file (which checks each `os:` id against osinfo-db, loading the whole "
      "database through libosinfo), observation (networks, pools, volumes, the store) and "
      "planning, the pool (directory, marker, define, start, autostart), the image's use (store "
      "record, `kvmlab-images` refreshed) and one `virStorageVolCreateXML` per volume, each after "
      "a write of the lab's volume record.")
    w("- **kvmlab up, the lab without os: ids**: the same lab file with `os: debian11` taken off "
      "the image (`lab%s-noos.yaml`): the same pool and volumes, but nothing reads osinfo-db." % nodes)
    w("- **kvmlab plan from nothing**: start-up, reading the lab file, observation and planning, "
      "making nothing: the part of `up` that is not the pool and volumes.")
    w("- **kvmlab validate**: start-up and reading the lab file only (no daemon).")
    w("- **virsh, one process per step**: `pool-define` (kvmlab's pool XML renamed `kvbsv-pool`), "
      "`pool-build`, `pool-start`, `pool-autostart`, then one `virsh vol-create-as` per volume "
      f"({nvol + 4} virsh processes, `lib/virsh-vols.sh per-command up`); the prepare step "
      "deletes the volumes and the pool.")
    w("- **virsh, one batch process**: the same steps in one `virsh` process, one connection "
      "(`virsh -c URI 'pool-define ...; ...; vol-create-as ...; ...'`, `lib/virsh-vols.sh batch up`).")
    w("")
    w("Compare the minimums as well as the medians: the rounds spread a neighbour's load over "
      "every command, they do not remove it.")
    w("")
    w("| command | mean ± σ | median | min | max | client CPU (user+sys, mean) | kvmlab up against it (median / min) |")
    w("|---|---|---|---|---|---|---|")
    kup = lab[0]
    for r in lab:
        w(row(r) + f" {cpu(r)} | {kup['median'] / r['median']:.2f}x / {kup['min'] / r['min']:.2f}x |")
    w("")
    byl = {r["command"]: r for r in lab}
    ups = [r for r in lab if r["command"].startswith("kvmlab up")]
    for v in (r for r in lab if r["command"].startswith("virsh")):
        for u in ups:
            rm, rmin = u["median"] / v["median"], u["min"] / v["min"]
            w(f"- {u['command']} against {v['command']}: {rm:.2f}x (median), {rmin:.2f}x (min); "
              f"goal 1.0x: {'met' if max(rm, rmin) <= 1.0 else 'met by the median only' if rm <= 1.0 else 'NOT met'}.")
    kplan = byl.get("kvmlab plan from nothing")
    kval = byl.get("kvmlab validate")
    if kplan:
        w(f"- kvmlab plan from nothing is {kplan['median'] / kup['median'] * 100:.0f}% of kvmlab up "
          f"(median {ms(kplan['median'])} of {ms(kup['median'])}); kvmlab up less that, the pool "
          f"and volumes alone: {ms(kup['median'] - kplan['median'])} (median), "
          f"{ms(kup['min'] - kplan['min'])} (min).")
    if kval:
        w(f"- kvmlab validate (reading the lab file, osinfo-db included): median {ms(kval['median'])}.")
    w("")
    w(f"### Where the {nodes}-node `up` spends its time")
    w("")
    dc = {}
    for l in stext("daemon-cpu.txt").splitlines():
        what, ticks, calls, hz = l.split()
        dc[what] = int(ticks) / int(hz) / int(calls)
    if dc:
        w(f"- **The daemon's CPU per call** (libvirtd's utime+stime with its reaped children, "
          f"the `qemu-img` processes it runs, from /proc over 5 calls): `kvmlab up` "
          f"{dc.get('up', 0) * 1000:.0f} ms, virsh batch {dc.get('virsh', 0) * 1000:.0f} ms.")
    ev = []
    t0 = None
    for l in stext("strace-tt-up.txt").splitlines():
        m = re.match(r"(\d+)\s+(\d+):(\d+):([\d.]+)\s+(.*)", l)
        if m:
            t = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + float(m.group(4))
            t0 = t if t0 is None else t0
            ev.append((t - t0, m.group(5)))
    if ev:
        osi = [t for t, e in ev if e.startswith("openat(") and "osinfo" in e]
        con = [t for t, e in ev if e.startswith("connect(") and "libvirt-sock" in e]
        rec = [t for t, e in ev if e.startswith("rename(") and "/volumes" in e]
        parts = []
        if osi:
            parts.append(f"{len(osi)} osinfo-db files opened from {osi[0] * 1000:.0f} to "
                         f"{osi[-1] * 1000:.0f} ms")
        if con:
            parts.append(f"connected to the daemon at {con[0] * 1000:.0f} ms")
        if rec:
            parts.append(f"the volume record written {len(rec)} times (once per volume, before "
                         f"its creation) from {rec[0] * 1000:.0f} to {rec[-1] * 1000:.0f} ms")
        parts.append(f"exit at {ev[-1][0] * 1000:.0f} ms")
        w("- **Timeline of one `up` under `strace -f -tt -T`** (strace slows every system call, "
          "the file-heavy osinfo-db load most: read the order and the shares): " + "; ".join(parts) + ".")
    perf = stext("perf-plan.txt").strip().splitlines()
    if perf:
        w("- **`perf record -F 500 --call-graph dwarf,65528` of 3 `kvmlab plan` from nothing** (client "
          "process; inclusive share of all CPU samples per function, top of the list; the unwinder "
          "loses some stacks at `__pthread_once_slow`, so the shares of the callers above it, "
          "`main` included, are lower bounds):")
        w("")
        w("```")
        for l in perf[:22]:
            w(l.rstrip())
        w("```")
    for name, who in (("strace-c-up.txt", "kvmlab up"), ("strace-c-virsh.txt", "the virsh batch (sh + virsh)")):
        srows, total = [], None
        for l in stext(name).splitlines():
            m = re.match(r"\s*([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(?:(\d+)\s+)?(\w+)$", l)
            if m:
                srows.append((float(m.group(2)), int(m.group(4)), m.group(6)))
            m = re.match(r"\s*100\.00\s+([\d.]+)\s+\d+\s+(\d+)", l)
            if m:
                total = (float(m.group(1)), int(m.group(2)))
        if total:
            w(f"- **`strace -c -f` of {who}**: {total[1]} system calls, {total[0] * 1000:.1f} ms in "
              "the kernel; top: " + ", ".join(f"`{s}` {c}x {t * 1000:.2f} ms" for t, c, s in srows[:6]) + ".")
    w("")

# --- 5: nodes (bench/nodes.sh, results in RESULTS_DIR/nodes; its section carries its commands)
if os.path.exists(os.path.join(out_dir, "nodes", "up2.json")):
    import subprocess
    here = os.path.dirname(os.path.abspath(__file__))
    L.extend(subprocess.check_output(
        [sys.executable, os.path.join(here, "nodes-report.py"), os.path.join(out_dir, "nodes")],
        text=True).rstrip("\n").split("\n"))
    w("")

# --- commands
w("## Exact commands")
w("")
w("Run as root from the worktree: `bench/setup.sh` once, then `bench/run.sh`. The hyperfine "
  "command lines as run (paths of the run's temporary directory; the lab files are copied to "
  "`bench/results/`; `lib/virsh-nets.sh` is the virsh side):")
w("")
w("```")
w(text("commands.txt").strip())
w("```")
w("")
if os.path.exists(os.path.join(out_dir, "storage", "commands.txt")):
    w("The storage benchmarks (`bench/storage.sh`; `lib/virsh-vols.sh` is the virsh side):")
    w("")
    w("```")
    w(open(os.path.join(out_dir, "storage", "commands.txt")).read().strip())
    w("```")
    w("")
w("Profiling: `strace -c -f`, `strace -f -tt -T` and `perf record -F 20000 -g` of the no-op "
  "`up` (20 runs), `perf report --no-children --sort dso,sym`; the daemon's CPU from "
  "`/proc/PID/stat` before and after 20 calls of each.")
open(md_path, "w").write("\n".join(L) + "\n")
