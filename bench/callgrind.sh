#!/usr/bin/env bash
# callgrind.sh: instructions per malloc+free pair of 32 bytes, counted by callgrind.
#
#   bench/callgrind.sh [-b BINARY] [-n PAIRS] [ALLOCATOR...]   (default: pymt glibc mimalloc)
#
# For each allocator it runs `pymt_bench --alloc=A --pairs=N` and `--pairs=2N` under
# valgrind --tool=callgrind, collecting only inside pymtbench_pairs_* (--toggle-collect), and
# prints (I(2N) - I(N)) / N: start-up, library initialisation and the first pool carving are
# in both runs and cancel, so what is left is the steady-state cost of one pair (including the
# two loop instructions and the call into the allocator's shared library).
# The binary comes from the bench preset (build/bench/bench/pymt_bench) unless -b is given.
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
[[ -x $bin ]] || { echo "callgrind.sh: $bin not built (cmake --preset bench && cmake --build --preset bench)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Total instructions collected in one run.
count() {  # alloc pairs
  local out=$tmp/cg.$1.$2
  local envs
  # valgrind does not follow the binary's own re-exec, so set its environment up front.
  envs=$("$bin" --alloc="$1" --print-env) || return 1
  # shellcheck disable=SC2086
  env $envs PYMT_BENCH_REEXEC=1 valgrind --tool=callgrind --callgrind-out-file="$out" \
    --toggle-collect='pymtbench_pairs_*' "$bin" --alloc="$1" --pairs="$2" >/dev/null 2>"$out.err" \
    || { tail -n 3 "$out.err" >&2; return 1; }
  awk '/^(summary|totals):/ { print $2; exit }' "$out"
}

printf "%-14s %12s %12s %14s\n" allocator "Ir(N)" "Ir(2N)" "instr/pair"
for a in "${allocs[@]}"; do
  i1=$(count "$a" "$n") || { printf "%-14s unavailable\n" "$a"; continue; }
  i2=$(count "$a" $((2 * n))) || { printf "%-14s unavailable\n" "$a"; continue; }
  awk -v a="$a" -v i1="$i1" -v i2="$i2" -v n="$n" \
    'BEGIN { printf "%-14s %12d %12d %14.2f\n", a, i1, i2, (i2 - i1) / n }'
done
echo "(N = $n pairs of 32 bytes; callgrind counts instructions, not time)"
