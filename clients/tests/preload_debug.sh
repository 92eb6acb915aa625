#!/bin/sh
# preload_debug.sh PRELOAD PROGRAM: each fault of preload_debug_faults.c, run under the drop-in
# malloc with PYMT_MALLOC=debug, must end in SIGABRT with pymt's report naming the fault and
# the C library's functions; the clean run must exit 0, with the start-up note on stderr and no
# report.
preload=$1
prog=$2
fail=0
check() { # fault, then strings the report must contain
    fault=$1
    shift
    err=$(PYMT_MALLOC=debug LD_PRELOAD="$preload" "$prog" "$fault" 2>&1 >/dev/null)
    status=$?
    if [ "$status" -ne 134 ]; then
        echo "FAIL $fault: exit status $status, want 134 (SIGABRT)"
        echo "$err" | sed 's/^/    /'
        fail=1
        return
    fi
    for want in "$@"; do
        case $err in
        *"$want"*) ;;
        *)
            echo "FAIL $fault: report lacks [$want]"
            echo "$err" | sed 's/^/    /'
            fail=1
            return
            ;;
        esac
    done
    echo "ok   $fault"
}
check double "double free" "allocated by the C library interface (libpymt-malloc.so) (malloc)" \
    "now passed to the C library interface (libpymt-malloc.so) (free)"
check overrun "buffer overrun" "40 bytes requested" "found by free"
check underrun "buffer underrun"
check uaf "use after free" "offset 3"
check big "buffer overrun" "5000 bytes requested"
check interior "never handed out by pymt" "(free)"
out=$(PYMT_MALLOC=debug LD_PRELOAD="$preload" "$prog" clean 2>/tmp/preload_debug.$$)
status=$?
err=$(cat /tmp/preload_debug.$$)
rm -f /tmp/preload_debug.$$
case $err in
*"pymt debug:"*) echo "FAIL clean: a report"; echo "$err" | sed 's/^/    /'; fail=1 ;;
*"debug mode in libpymt-malloc.so"*) ;;
*) echo "FAIL clean: no start-up note on stderr"; fail=1 ;;
esac
if [ "$status" -ne 0 ] || [ "$out" != "clean" ]; then
    echo "FAIL clean: exit $status, output [$out]"
    fail=1
else
    echo "ok   clean"
fi
exit $fail
