#!/bin/sh
# run_compare.sh LIB CMD [ARG...]: run CMD without and then with LD_PRELOAD=LIB; succeed when
# both exit 0 and print the same standard output. The preload reaches every process CMD
# starts. Used by the preload tests with real programs (python3, sqlite3, git, C++).
set -u
lib=$1
shift
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$@" >"$dir/plain.out" 2>"$dir/plain.err"
plain=$?
LD_PRELOAD="$lib${LD_PRELOAD:+:$LD_PRELOAD}" "$@" >"$dir/pymt.out" 2>"$dir/pymt.err"
pymt=$?
status=0
if [ "$plain" -ne 0 ]; then
    echo "without the preload: exit $plain"; cat "$dir/plain.err"; status=1
fi
if [ "$pymt" -ne 0 ]; then
    echo "with the preload: exit $pymt"; cat "$dir/pymt.err"; status=1
fi
if ! cmp -s "$dir/plain.out" "$dir/pymt.out"; then
    echo "outputs differ:"; diff "$dir/plain.out" "$dir/pymt.out" | head -40; status=1
fi
if [ ! -s "$dir/plain.out" ]; then
    echo "no output to compare"; status=1
fi
[ "$status" -eq 0 ] && echo "same output with and without the preload ($(wc -l <"$dir/plain.out") lines)"
exit "$status"
