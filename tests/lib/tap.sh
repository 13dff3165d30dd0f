# TAP helpers for the shell tests. The caller sets T (a scratch directory), n=0 and bad=0, and
# ends with: echo "1..$n"; [ "$bad" = 0 ]
#   check DESC EXIT CMD...        run CMD (output in $T/out and $T/err), expect exit status EXIT
#   grep_out DESC FILE PATTERN    PATTERN is in $T/FILE (out or err)
#   no_grep_out DESC FILE PATTERN PATTERN is not in $T/FILE
check() {
  desc=$1; want=$2; shift 2; n=$((n + 1))
  "$@" >"$T/out" 2>"$T/err"; got=$?
  if [ "$got" = "$want" ]; then echo "ok $n - $desc"; else
    bad=$((bad + 1)); echo "not ok $n - $desc (exit $got, wanted $want)"; sed 's/^/# /' "$T/out" "$T/err"; fi
}
grep_out() {
  n=$((n + 1))
  if grep -q -- "$3" "$T/$2"; then echo "ok $n - $1"; else
    bad=$((bad + 1)); echo "not ok $n - $1 ('$3' not in $2)"; sed 's/^/# /' "$T/$2"; fi
}
no_grep_out() {
  n=$((n + 1))
  if ! grep -q -- "$3" "$T/$2"; then echo "ok $n - $1"; else
    bad=$((bad + 1)); echo "not ok $n - $1 ('$3' in $2)"; sed 's/^/# /' "$T/$2"; fi
}
