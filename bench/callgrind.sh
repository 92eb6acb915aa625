#!/usr/bin/env bash
# callgrind.sh: instructions per malloc+free pair of 32 bytes, counted by callgrind.
#
#   bench/callgrind.sh [-b BINARY] [-n PAIRS] [ALLOCATOR...]   (default: pymt glibc mimalloc)
#
# For each allocator it runs `pymt_bench --alloc=A --pairs=N` (pymt_pairs_* for pymt-static and
# pymt-shared: see below) and `--pairs=2N` under valgrind --tool=callgrind, collecting only inside
# pymtbench_pairs_* (--toggle-collect), and prints (I(2N) - I(N)) / N: start-up, library
# initialisation and the first pool carving are in both runs and cancel, so what is left is the
# steady-state cost of one pair, gross: the allocator's instructions and the harness loop's. The
# loop's own share (the instructions of pymtbench_pairs_* itself: the counter, the argument moves,
# the two calls and the two PLT jumps that callgrind charges to the caller; no PLT for pymt-static)
# is counted the same way from callgrind's per-function totals, and net = gross - loop is what the
# allocator's two functions execute per pair, their returns included.
# The binary comes from the bench preset (build/bench/bench/pymt_bench) unless -b is given;
# the allocators pymt-static and pymt-shared are the same loop in pymt_pairs_static and
# pymt_pairs_shared beside it (bench/pairs.c), pymt linked from libpymt.a and libpymt.so.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=build/bench/bench/pymt_bench
n=200000
while getopts "b:n:" opt; do
  case $opt in
    b) bin=$OPTARG ;;
    n) n=$OPTARG ;;
    *) echo "usage: bench/callgrind.sh [-b BINARY] [-n PAIRS] [ALLOCATOR...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
allocs=("$@")
[[ ${#allocs[@]} -gt 0 ]] || allocs=(pymt glibc mimalloc)

command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not installed" >&2; exit 1; }
command -v callgrind_annotate >/dev/null || { echo "callgrind.sh: callgrind_annotate (valgrind) not installed" >&2; exit 1; }
[[ -x $bin ]] || { echo "callgrind.sh: $bin not built (cmake --preset bench && cmake --build --preset bench)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Total instructions collected in one run, and those of the harness loop's own function.
count() {  # alloc pairs
  local out=$tmp/cg.$1.$2
  local envs bin=$bin
  if [[ $1 == pymt-static || $1 == pymt-shared ]]; then
    bin=$(dirname "$bin")/pymt_pairs_${1#pymt-}
    [[ -x $bin ]] || { echo "callgrind.sh: $bin not built" >&2; return 1; }
  fi
  # valgrind does not follow the binary's own re-exec, so set its environment up front.
  envs=$("$bin" --alloc="$1" --print-env) || return 1
  # shellcheck disable=SC2086
  env $envs PYMT_BENCH_REEXEC=1 valgrind --tool=callgrind --callgrind-out-file="$out" \
    --toggle-collect='pymtbench_pairs_*' "$bin" --alloc="$1" --pairs="$2" >/dev/null 2>"$out.err" \
    || { tail -n 3 "$out.err" >&2; return 1; }
  local total loop
  total=$(awk '/^(summary|totals):/ { print $2; exit }' "$out")
  loop=$(callgrind_annotate --inclusive=no --threshold=100 "$out" |
    awk '/pymtbench_pairs_/ { gsub(/,/, "", $1); print $1; exit }')
  echo "$total ${loop:-0}"
}

printf "%-14s %12s %12s %10s %10s %10s\n" allocator "Ir(N)" "Ir(2N)" "gross/pair" "loop/pair" "net/pair"
for a in "${allocs[@]}"; do
  r1=$(count "$a" "$n") || { printf "%-14s unavailable\n" "$a"; continue; }
  r2=$(count "$a" $((2 * n))) || { printf "%-14s unavailable\n" "$a"; continue; }
  awk -v a="$a" -v r1="$r1" -v r2="$r2" -v n="$n" 'BEGIN {
    split(r1, x, " "); split(r2, y, " ")
    gross = (y[1] - x[1]) / n; loop = (y[2] - x[2]) / n
    printf "%-14s %12d %12d %10.2f %10.2f %10.2f\n", a, x[1], y[1], gross, loop, gross - loop }'
done
echo "(N = $n pairs of 32 bytes; net = gross - the harness loop's own instructions;"
echo " callgrind counts instructions, not time)"
