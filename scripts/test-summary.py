#!/usr/bin/env python3
"""Summarise test results: the subtests of each TAP test, the tests that were skipped and why,
then one closing line 'N passed, N failed, N skipped'.

  test-summary.py [LOG] [--log NAME=LOG] [--tap NAME=FILE] [--meson-failed[=]NAME]
                  [--skipped 'WHAT: WHY'] [--clean | --left-behind]

LOG is meson's testlog.json (NAME prefixes its test names, e.g. 'asan'); FILE is TAP output of
a runner outside meson (scripts/fuzz). --meson-failed NAME: meson test of that log exited non-zero,
a failure even without a failed test in the log (a rebuild error, a crash). --skipped: a suite the
runner did not start. --clean / --left-behind count the leftover check as one passed / failed test.
Exit 1 when anything failed, anything was skipped, or nothing ran: a run that did not test
everything it was asked to is not a green run."""
import json
import os
import sys

passed = failed = skipped = 0
skips = []  # "what: why" for every skipped test, named above the closing line


def tap_count(name, text, result=None):
    """Count the TAP lines of one test's output; result is meson's verdict when there is one."""
    ok = nok = skip = 0
    plan_skip = None
    for out in text.splitlines():
        if not (out.startswith("ok ") or out.startswith("not ok ")):
            if out.startswith("1..0"):
                plan_skip = out.partition("# SKIP")[2].strip() or "no reason given"
            continue
        if "# SKIP" in out:
            # "ok 3 - name # SKIP why" (TAP) or "not ok 3 # SKIP name" (cmocka)
            skip += 1
            desc, _, why = out.partition("# SKIP")
            desc = desc.split("ok", 1)[1].lstrip("0123456789 ").lstrip("- ").strip()
            skips.append(f"{name}: " + ": ".join(x for x in (desc, why.strip()) if x))
        elif "# TODO" in out:
            continue
        elif out.startswith("ok "):
            ok += 1
        else:
            nok += 1
    if ok + nok + skip == 0:
        if plan_skip is not None or result == "SKIP":
            skip = 1
            skips.append(f"{name}: {plan_skip or 'exit status 77'}")
        elif result in ("OK", "EXPECTEDFAIL"):
            ok = 1
        else:
            nok = 1
    elif result is not None and result not in ("OK", "SKIP", "EXPECTEDFAIL") and nok == 0:
        nok = 1  # crashed or timed out after its last reported subtest
    return ok, nok, skip


def add(name, result, counts):
    global passed, failed, skipped
    ok, nok, skip = counts
    print(f"{name}: {result} ({ok} passed, {nok} failed, {skip} skipped)")
    passed += ok
    failed += nok
    skipped += skip


def named(arg):
    name, sep, path = arg.partition("=")
    return (name, path) if sep else ("", arg)


logs, taps, meson_failed = [], [], []
args = sys.argv[1:]
i = 0
while i < len(args):
    a = args[i]
    if a in ("--log", "--tap", "--meson-failed", "--skipped") and i + 1 < len(args):
        v = args[i + 1]
        i += 2
        if a == "--log":
            logs.append(named(v))
        elif a == "--tap":
            taps.append(named(v))
        elif a == "--meson-failed":
            meson_failed.append(v)
        else:
            skipped += 1
            skips.append(v)
        continue
    if a.startswith("--meson-failed="):
        meson_failed.append(a.partition("=")[2])
    elif not a.startswith("--"):
        logs.append(("", a))
    i += 1

for prefix, log in logs:
    before = failed
    if not os.path.exists(log):
        print(f"no test log at {log}: the tests did not run")
        failed += 1
        continue
    with open(log) as f:
        for line in f:
            if not line.strip():
                continue
            t = json.loads(line)
            name = t.get("name")  # "kvmlab:unit / lab-parse"
            full = f"{prefix} {name}" if prefix else name
            result = t.get("result", "")
            add(full, result, tap_count(full, t.get("stdout") or "", result))
    if prefix in meson_failed and failed == before:
        print(f"meson test {prefix or 'run'} failed without a failed test in its log")
        failed += 1

for prefix, path in taps:
    if not os.path.exists(path):
        print(f"no output at {path}: {prefix} did not run")
        failed += 1
        continue
    with open(path) as f:
        text = f.read()
    add(prefix, "TAP", tap_count(prefix, text))

ran = passed + failed + skipped
if ran == 0:
    print("no test ran")
    failed += 1
if "--clean" in sys.argv:
    passed += 1
if "--left-behind" in sys.argv:
    failed += 1
for s in skips:
    print(f"skipped: {s}")
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or skipped else 0)
