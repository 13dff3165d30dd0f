#!/usr/bin/env python3
"""Summarise meson's testlog.json: the subtests of each TAP test, then one line
'N passed, N failed' (', N skipped' when any). --clean / --left-behind count the leftover
check as one more passed / failed test. Exit 1 when anything failed or nothing ran."""
import json
import os
import sys

passed = failed = skipped = 0
log = sys.argv[1]
lines = []
if os.path.exists(log):
    with open(log) as f:
        lines = f.readlines()
else:
    print(f"no test log at {log}: the tests did not run")
    failed += 1
if True:
    for line in lines:
        if not line.strip():
            continue
        t = json.loads(line)
        result = t.get("result", "")
        # count TAP subtests when meson recorded the output; otherwise the test as one
        ok = nok = skip = 0
        for out in (t.get("stdout") or "").splitlines():
            if out.startswith("ok "):
                if "# SKIP" in out:
                    skip += 1
                else:
                    ok += 1
            elif out.startswith("not ok "):
                if "# TODO" in out:
                    continue
                nok += 1
        if ok + nok + skip == 0:
            if result in ("OK", "EXPECTEDFAIL"):
                ok = 1
            elif result == "SKIP":
                skip = 1
            else:
                nok = 1
        elif result not in ("OK", "SKIP", "EXPECTEDFAIL") and nok == 0:
            nok = 1  # crashed or timed out after its last reported subtest
        print(f"{t.get('name')}: {result} ({ok} passed, {nok} failed, {skip} skipped)")
        passed += ok
        failed += nok
        skipped += skip
ran = passed + failed + skipped
if ran == 0:
    print("no test ran")
    failed += 1
if "--meson-failed" in sys.argv and failed == 0:
    print("meson test failed without a failed test in its log")
    failed += 1
if "--clean" in sys.argv:
    passed += 1
if "--left-behind" in sys.argv:
    failed += 1
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(1 if failed else 0)
