#!/bin/bash
# tests/faults/run.sh: run the fault tests one after another (they load the
# machine; never in parallel) and print each test's count line
#   faults/NAME: sent=N acked=A found=F lost=L ...
# then "faults: N passed, N failed[, N skipped]".  Exit 0 only if none failed.
#
#   SHAREKEEP_BIN=./sharekeep SHAREKEEP_SRCDIR=. bash tests/faults/run.sh [t_NAME.sh ...]
#
# `make check-faults` runs the same scripts through automake's test harness
# (one .log per test under tests/faults/).  Each test's full output goes to
# $FAULTS_LOGDIR (default: a temp dir, printed); a failed test's is shown.
set -u
here=$(cd "$(dirname "$0")" && pwd)
export SHAREKEEP_SRCDIR=${SHAREKEEP_SRCDIR:-$(cd "$here/../.." && pwd)}
export SHAREKEEP_BIN=${SHAREKEEP_BIN:-./sharekeep}
logdir=${FAULTS_LOGDIR:-$(mktemp -d "${TMPDIR:-/tmp}/skfaults.XXXXXX")}
mkdir -p "$logdir"

if [ $# -gt 0 ]; then
    tests=("$@")
else
    tests=("$here"/t_*.sh)
fi

pass=0 fail=0 skip=0 started=$SECONDS
for t in "${tests[@]}"; do
    case $t in */*) ;; *) t=$here/$t ;; esac
    name=$(basename "${t%.sh}")
    t0=$SECONDS
    bash "$t" >"$logdir/$name.log" 2>&1
    rc=$?
    line=$(grep -E '^faults/' "$logdir/$name.log" | tail -n 1)
    case $rc in
        0) pass=$((pass + 1)); r=PASS ;;
        77) skip=$((skip + 1)); r=SKIP ;;
        *) fail=$((fail + 1)); r=FAIL ;;
    esac
    printf '%-4s %-18s %3ss  %s\n' "$r" "$name" "$((SECONDS - t0))" "${line:-$(tail -n 1 "$logdir/$name.log")}"
    if [ "$r" = FAIL ]; then
        grep -E '^not ok|^#   ' "$logdir/$name.log" | head -n 40 | sed 's/^/    /'
    fi
done
echo "faults: $pass passed, $fail failed$([ "$skip" -gt 0 ] && echo ", $skip skipped") in $((SECONDS - started))s (logs: $logdir)"
[ "$fail" -eq 0 ]
