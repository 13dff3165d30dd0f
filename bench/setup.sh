#!/bin/sh
# Install what the benchmarks need beyond the project's own dependencies, then build kvmlab.
# Idempotent; root for the packages. Not part of CI.
#   bench/setup.sh
set -eu
cd "$(dirname "$0")/.."
# hyperfine: the timings; strace and linux-perf: the no-op profile; time: /usr/bin/time -v (max
# RSS); python3: the XML renaming and the report; util-linux: flock; virtinst: virt-install, the
# peer of bench/nodes.sh; genisoimage: isoinfo, to take kvmlab's seeds apart (scripts/setup.sh
# installs it too).
KVMLAB_EXTRA_PACKAGES="hyperfine strace linux-perf time python3 util-linux virtinst genisoimage" exec scripts/setup.sh build
