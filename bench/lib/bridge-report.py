#!/usr/bin/env python3
"""Section 6 of bench/RESULTS.md from bench/results/bridge/ (bench/bridge.sh).

    bridge-report.py RESULTS_DIR RESULTS.md

Replaces the section "## 6. ..." of RESULTS.md (up to the next "## " heading), or inserts it
before "## Exact commands"; the rest of the file is left as it is. A reading added by hand
below the generated text belongs in a "### Reading" subsection, which is kept.
"""
import json
import os
import re
import statistics
import sys

out_dir, md_path = sys.argv[1], sys.argv[2]
TITLE = "## 6. The bridge backend against the libvirt backend"


def text(name):
    p = os.path.join(out_dir, name)
    return open(p).read() if os.path.exists(p) else ""


def results(name):
    return {r["command"]: r for r in json.load(open(os.path.join(out_dir, name)))["results"]}


def t(s):
    return f"{s:.2f} s" if s >= 10 else f"{s * 1000:.1f} ms"


machine = dict(l.split("=", 1) for l in text("machine.txt").splitlines() if "=" in l)
L = []
w = L.append
w(TITLE)
w("")
w(f"Written by `bench/bridge.sh` on {machine.get('date')}: kvmlab {machine.get('kvmlab')}, "
  f"libvirt {machine.get('libvirt')}, QEMU {machine.get('qemu')}, dnsmasq "
  f"{machine.get('dnsmasq')}, hyperfine {machine.get('hyperfine')}, {machine.get('nproc')} "
  f"cores, load average after the run {machine.get('load')}. Raw data in "
  "`bench/results/bridge/`. One sandbox daemon (lab `kbb`), kept alive through `kvmlab down` by "
  "a network kvmlab did not make (`kbb-keep`, defined, never started), so no timed command "
  "starts or stops the sandbox. Commands of both backends run in rounds (a hyperfine call per "
  "round with both commands in it, merged by `lib/hfmerge.py`), so a neighbour's burst of load "
  "falls on both alike.")
w("")

# --- 6a
w("### 6a. `up` and `down` of four networks (goal: the bridge backend no slower)")
w("")
w("The same lab on each backend (`bench/results/bridge/libvirt.yaml`, `bridge.yaml`): `vmnet8` "
  "NAT 192.168.218.0/24 without port forwards, `vmnet1` host-only 192.168.211.0/24, `vmnet2` "
  "isolated, `vmnet3` host-only 192.168.213.0/24, every network `backend: libvirt` or every "
  "one `backend: bridge`. On libvirt: `up` defines, starts and autostarts four libvirt "
  "networks (the daemon makes each bridge and starts a dnsmasq for the three with DHCP) and "
  "writes the NAT table; `down` destroys and undefines them. On bridge: `up` makes four Linux "
  "bridges and their addresses with netlink in the sandbox's namespace, writes three dnsmasq "
  "configurations and starts three dnsmasq, sets `ip_forward`, writes the NAT table; `down` "
  "stops the dnsmasq (SIGTERM, then a 20 ms poll until each is gone), deletes the bridges and "
  "puts `ip_forward` back. `up` alone runs after `kvmlab down --lab kbb` (hyperfine "
  "`--prepare`), `down` alone after the backend's `up`.")
w("")
w("| command | mean ± σ | median | min | max | client CPU (user+sys, mean) |")
w("|---|---|---|---|---|---|")
pairs = []
for name in ("updown", "up", "down"):
    rs = results(f"{name}.json")
    for c, r in rs.items():
        w(f"| {c} | {t(r['mean'])} ± {t(r['stddev'] or 0)} | {t(r['median'])} | {t(r['min'])} | "
          f"{t(r['max'])} | {t(r['user'] + r['system'])} |")
    lv = next(r for c, r in rs.items() if c.startswith("libvirt"))
    br = next(r for c, r in rs.items() if c.startswith("bridge"))
    pairs.append((lv["command"].split(": ", 1)[1], lv, br))
w("")
w("| operation | bridge / libvirt (mean) | (median) | (min) | bridge − libvirt (median) | goal: no slower |")
w("|---|---|---|---|---|---|")
for op, lv, br in pairs:
    rm = br["median"] / lv["median"]
    w(f"| {op} | {br['mean'] / lv['mean']:.2f}x | {rm:.2f}x | {br['min'] / lv['min']:.2f}x | "
      f"{(br['median'] - lv['median']) * 1000:+.0f} ms | {'met' if rm <= 1.0 else 'NOT met'} |")
w("")

w("#### Where the time goes")
w("")
dc = {}
for l in text("daemon-cpu.txt").splitlines():
    b, ticks, calls, hz = l.split()
    dc[b] = int(ticks) / int(hz) / int(calls)
if dc:
    w(f"- **libvirtd's CPU per `up` + `down`** (utime+stime and its reaped children's, from "
      f"`/proc/PID/stat` over 5 pairs): libvirt backend {dc.get('libvirt', 0) * 1000:.0f} ms, "
      f"bridge backend {dc.get('bridge', 0) * 1000:.0f} ms (observation only: the bridge "
      "backend asks the daemon for nothing else).")
w("- **`strace -f -b execve -c -w` of one `up` and one `down` per backend** (wall time per "
  "system call, all of kvmlab's threads; strace slows each call, so read the shares): `poll` "
  "is kvmlab waiting for the daemon's replies, `sendmsg`/`recvmsg` the netlink requests (the "
  "kernel making or deleting a bridge inside `sendmsg`), `clock_nanosleep` the waits for "
  "dnsmasq to exit, `futex` the short threads that enter the namespace.")
w("")
w("| run | total wall in system calls | top calls (wall time, count) |")
w("|---|---|---|")
for b in ("libvirt", "bridge"):
    for c in ("up", "down"):
        rows, total = [], None
        for l in text(f"strace-c-{b}-{c}.txt").splitlines():
            m = re.match(r"\s*([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(?:(\d+)\s+)?(\w+)$", l)
            if m and m.group(6) != "total":
                rows.append((float(m.group(2)), int(m.group(4)), m.group(6)))
            m = re.match(r"\s*100\.00\s+([\d.]+)\s+\d+\s+(\d+)", l)
            if m:
                total = float(m.group(1))
        if total is not None:
            w(f"| {b} backend: {c} | {total * 1000:.0f} ms | " +
              ", ".join(f"`{s}` {x * 1000:.0f} ms ({n}x)" for x, n, s in rows[:5]) + " |")
w("")

# --- 6b
guest = dict(kv.split("=", 1) for kv in text("guest.txt").split())
rs = results("boot.json")
w("### 6b. A guest's start to lease on a NAT network of each backend")
w("")
w(f"The e2e test guest (`tests/guest`, kernel {guest.get('kernel')}, busybox initramfs, built by "
  "`tests/guest/mkguest.sh KVMLAB_BUILD_ROOT/test-state/guest` as the tests do) in the domain "
  "of `tests/lib/fixture.c` `fixture_guest_start()`: `type='qemu'` (TCG), 256 MiB, 1 vCPU, "
  "machine `pc`, direct kernel boot, one virtio NIC, serial console to a file "
  "(`bench/results/bridge/kbb-g*.xml`). One lab (`guest.yaml`) holds a NAT network of each "
  "backend side by side: `vmnet8` `backend: libvirt` (the guest's NIC `<interface "
  "type='network'>`) and `vmnet5` `backend: bridge` (`<interface type='bridge'>` on its Linux "
  "bridge), each with a reservation for its guest's MAC, as kvmlab gives every node. A boot "
  "(`lib/boot-lease.sh`) is `virsh start`, then the console log polled every 0.05 s until it "
  "holds `KVMLAB-E2E: LEASE`; hyperfine's `--prepare` destroys the guest and removes its log. "
  f"One warm-up boot each, then {len(next(iter(rs.values()))['times'])} rounds with one boot "
  "per backend, the order swapped every second round.")
w("")
w("| command | mean ± σ | median | min | max | spread (max − min) |")
w("|---|---|---|---|---|---|")
for c, r in rs.items():
    w(f"| {c} | {t(r['mean'])} ± {t(r['stddev'] or 0)} | {t(r['median'])} | {t(r['min'])} | "
      f"{t(r['max'])} | {t(r['max'] - r['min'])} |")
lv = next(r for c, r in rs.items() if c.startswith("libvirt"))
br = next(r for c, r in rs.items() if c.startswith("bridge"))
w("")
w(f"- bridge / libvirt: **{br['mean'] / lv['mean']:.3f}x** (mean), {br['median'] / lv['median']:.3f}x "
  f"(median), {br['min'] / lv['min']:.3f}x (min); difference of the medians "
  f"{(br['median'] - lv['median']) * 1000:+.0f} ms.")
per = {}
for l in text("boots.txt").splitlines():
    f = l.split()
    d = dict(x.split("=", 1) for x in f[1:])
    if "uptime=" in l and not re.search(r"uptime=( |$)", l):
        per.setdefault("libvirt" if f[0].endswith("glibvirt") else "bridge", []).append(
            {k: float(v) for k, v in d.items() if v})
w("")
w("What each boot's own record says (`bench/results/bridge/boots.txt`; medians over the timed "
  "boots): `virsh start` is the time until the domain runs; the guest's uptime at LEASE is its "
  "kernel's clock; LEASE − MODULES is the guest's DHCP (udhcpc's start, DISCOVER, OFFER, "
  "REQUEST, ACK), the only part a network backend serves; the rest of the wall time is QEMU's "
  "start, SeaBIOS and loading kernel and initramfs under TCG before the guest's clock starts.")
w("")
w("| backend | boots | `virsh start` | start to LEASE seen (wall) | guest uptime at LEASE | LEASE − MODULES (DHCP) | wall − uptime |")
w("|---|---|---|---|---|---|---|")
for b in ("libvirt", "bridge"):
    rows = per.get(b, [])
    if not rows:
        continue
    med = lambda k: statistics.median(r[k] for r in rows if k in r)
    dh = statistics.median(r["uptime"] - r["modules"] for r in rows if "modules" in r)
    wu = statistics.median(r["lease"] - r["uptime"] for r in rows)
    w(f"| {b} | {len(rows)} | {med('start'):.3f} s | {med('lease'):.3f} s | {med('uptime'):.2f} s | "
      f"{dh:.2f} s | {wu:.2f} s |")
w("")
w("The command lines as run (`bench/results/bridge/commands.txt`):")
w("")
w("```")
w(text("commands.txt").strip())
w("```")
section = "\n".join(L) + "\n"

# --- splice into RESULTS.md, keeping a hand-written "### Reading" of an earlier run
md = open(md_path).read()
m = re.search(r"^## 6\. .*?(?=^## |\Z)", md, re.S | re.M)
if m:
    old = m.group(0)
    r = re.search(r"^### Reading.*", old, re.S | re.M)
    if r:
        section += "\n" + r.group(0).rstrip("\n") + "\n"
    md = md[:m.start()] + section + "\n" + md[m.end():]
else:
    i = md.find("\n## Exact commands")
    i = len(md) if i < 0 else i + 1
    md = md[:i] + section + "\n" + md[i:]
open(md_path, "w").write(md)
