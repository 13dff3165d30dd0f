#!/bin/sh
# Install what the benchmarks need beyond the project's own dependencies, then build kvmlab.
# Idempotent; root for the packages. Not part of CI.
#   bench/setup.sh
set -eu
cd "$(dirname "$0")/.."
# hyperfine: the timings; strace and linux-perf: the no-op profile; time: /usr/bin/time -v (max
# RSS); python3: the XML renaming and the report; util-linux: flock.
PACKAGES="hyperfine strace linux-perf time python3 util-linux"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "bench/setup.sh: missing packages:$missing; run this script as root" >&2
    exit 1
  fi
  echo "bench/setup.sh: installing$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends $missing
fi
scripts/setup.sh build
