#!/bin/sh
# trace_replay.sh PYMT_PYTHON REPLAY SCRIPT: PYMT_BENCH_TRACE records a run's allocations under
# pymt and under CPython's pymalloc, the two traces agree, and pymt-alloc-replay runs one against
# both allocators; bad input gets a clear error.
set -eu
py=$1 replay=$2 script=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

PYTHONHASHSEED=0 PYMT_BENCH_TRACE=$dir/pymt.trace "$py" "$script" >/dev/null
PYTHONHASHSEED=0 PYTHONMALLOC=pymalloc PYMT_BENCH_TRACE=$dir/pymalloc.trace "$py" "$script" >/dev/null
a=$(wc -c <"$dir/pymt.trace") b=$(wc -c <"$dir/pymalloc.trace")
[ $((a % 16)) -eq 0 ] && [ $((b % 16)) -eq 0 ] || fail "a trace is not whole records: $a $b"
# the same program asks the same of either allocator: within 1% of the calls (a few differ,
# e.g. containers keyed by address)
[ "$a" -gt 160000 ] || fail "only $a bytes of trace"
d=$((a > b ? a - b : b - a))
[ $((d * 100)) -le "$a" ] || fail "the traces differ by $d bytes of $a"

out=$("$replay" "$dir/pymalloc.trace" --reps 1 --pairs 2)
echo "$out"
calls=$(echo "$out" | sed -n 's/^\([0-9]*\) calls, .*/\1/p')
[ "${calls:-0}" -ge 10000 ] || fail "replayed ${calls:-no} calls"
echo "$out" | grep -q '^pymt  *2 processes of 1 reps after one warm-up: medians ' || fail "no pymt line"
echo "$out" | grep -q '^pymalloc 2 processes of 1 reps after one warm-up: medians ' || fail "no pymalloc line"
echo "$out" | grep -q '^pymt / pymalloc, pair by pair: median ' || fail "no ratio"
"$replay" "$dir/pymt.trace" --alloc pymt --reps 1 | grep -q '^pymt  *1 reps after one warm-up: min ' ||
    fail "--alloc pymt"

# only the process itself is traced: a forked child and a child interpreter leave the trace
# whole (a child writing into it, or truncating it, would leave frees of unknown blocks)
PYMT_BENCH_TRACE=$dir/fork.trace "$py" -c "
import os, subprocess, sys
pid = os.fork()
if pid == 0:
    x = [str(i) for i in range(20000)]
    os._exit(0)
os.waitpid(pid, 0)
subprocess.run([sys.executable, '-c', 'x = [str(i) for i in range(20000)]'], check=True)
y = [str(i) for i in range(20000)]
print(len(y))" >/dev/null
out=$("$replay" "$dir/fork.trace" --alloc pymt --reps 1)
echo "$out" | grep -q ', 0 calls on blocks from before the trace' || fail "the forked run's trace: $out"

# bad input: a clear message and a failing status, nothing written
printf 'not a trace' >"$dir/bad"
if "$replay" "$dir/bad" 2>"$dir/err"; then fail "a bad trace was accepted"; fi
grep -q 'not a trace' "$dir/err" || fail "no message for a bad trace"
if PYMT_BENCH_TRACE=$dir/none/t "$py" -c pass 2>"$dir/err"; then fail "an unwritable trace was accepted"; fi
grep -q 'PYMT_BENCH_TRACE=' "$dir/err" || fail "no message for an unwritable trace"
echo "trace and replay ok"
