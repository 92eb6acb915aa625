#!/bin/sh
# preload_bench.sh: preload_workload under glibc and under each preloaded allocator, in one run.
#
# Allocators: glibc (no preload), pymt (libpymt-malloc.so), and mimalloc, jemalloc, tcmalloc
# (gperftools' tcmalloc_minimal) where ldconfig knows them. Each workload x threads x allocator
# runs RUNS times (default 5); the table shows the median of millions of malloc+free pairs per
# second and, for each allocator, its ratio to glibc (higher is better).
# Usage: preload_bench.sh BUILD_DIR [RUNS] [OPS_PER_THREAD]
#   BUILD_DIR holds clients/libpymt-malloc.so and clients/bench/preload_workload.
set -eu
build=${1:?usage: preload_bench.sh BUILD_DIR [RUNS] [OPS_PER_THREAD]}
runs=${2:-5}
ops=${3:-2000000}
prog=$build/clients/bench/preload_workload
pymt=$build/clients/libpymt-malloc.so
[ -x "$prog" ] && [ -f "$pymt" ] || { echo "build $prog and $pymt first" >&2; exit 1; }

find_lib() { ldconfig -p | awk -v n="$1" '$1 == n { print $NF; exit }'; }
allocs="glibc pymt"
lib_glibc=""
lib_pymt=$(readlink -f "$pymt")
for pair in mimalloc:libmimalloc.so.2 jemalloc:libjemalloc.so.2 tcmalloc:libtcmalloc_minimal.so.4; do
    name=${pair%%:*}
    path=$(find_lib "${pair#*:}")
    if [ -n "$path" ]; then
        allocs="$allocs $name"
        eval "lib_$name=\$path"
    else
        echo "($name not installed: skipped)" >&2
    fi
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "Mpairs/s (median of $runs runs, $ops malloc+free pairs per thread); (x) = ratio to glibc"
echo
printf '| workload | threads |'
for a in $allocs; do printf ' %s |' "$a"; done
printf '\n|---|---:|'
for a in $allocs; do printf -- '---:|'; done
printf '\n'
for kind in local xthread; do
    for threads in 1 2 4; do
        [ "$kind" = xthread ] && [ "$threads" = 1 ] && continue
        printf '| %s | %s |' "$kind" "$threads"
        base=""
        for a in $allocs; do
            eval "lib=\$lib_$a"
            vals=""
            i=0
            while [ $i -lt "$runs" ]; do
                if [ -n "$lib" ]; then
                    v=$(LD_PRELOAD="$lib" "$prog" "$kind" "$threads" "$ops" | awk '{ print $5 }')
                else
                    v=$("$prog" "$kind" "$threads" "$ops" | awk '{ print $5 }')
                fi
                vals="$vals$v
"
                i=$((i + 1))
            done
            m=$(printf '%s' "$vals" | median)
            [ -z "$base" ] && base=$m
            printf ' %s (%s) |' "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN { printf "%.2f", a / b }')"
        done
        printf '\n'
    done
done
