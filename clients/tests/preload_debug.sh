#!/bin/sh
# preload_debug.sh PRELOAD PROGRAM: each fault of preload_debug_faults.c, run under the drop-in
# malloc with PYMT_MALLOC=debug, must end in SIGABRT with pymt's report naming the fault and
# the C library's functions; the clean run must exit 0, with the start-up note on stderr and no
# report. The faults the hardened mode promises to stop (docs/hardening.md) must end the same
# way under PYMT_HARDEN=1, whose clean run must exit 0 without a word on stderr.
preload=$1
prog=$2
fail=0
mode=PYMT_MALLOC=debug
check() { # fault, then strings the report must contain; run with $mode in the environment
    fault=$1
    shift
    err=$(env $mode LD_PRELOAD="$preload" "$prog" "$fault" 2>&1 >/dev/null)
    status=$?
    if [ "$status" -ne 134 ]; then
        echo "FAIL $mode $fault: exit status $status, want 134 (SIGABRT)"
        echo "$err" | sed 's/^/    /'
        fail=1
        return
    fi
    for want in "$@"; do
        case $err in
        *"$want"*) ;;
        *)
            echo "FAIL $mode $fault: report lacks [$want]"
            echo "$err" | sed 's/^/    /'
            fail=1
            return
            ;;
        esac
    done
    echo "ok   $mode $fault"
}
check double "double free" "allocated by the C library interface (libpymt-malloc.so) (malloc)" \
    "now passed to the C library interface (libpymt-malloc.so) (free)"
check overrun "buffer overrun" "40 bytes requested" "found by free"
check underrun "buffer underrun"
check uaf "use after free" "offset 3"
check big "buffer overrun" "5000 bytes requested"
check interior "never handed out by pymt" "(free)"
check realloc_freed "realloc of a freed block" \
    "now passed to the C library interface (libpymt-malloc.so) (realloc)"
check realloc_interior "never handed out by pymt" "(realloc)"
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

mode="PYMT_MALLOC=pymalloc PYMT_HARDEN=1" # pymalloc: a debug build defaults to debug
check double "hardened mode: free of block" "already free: a double free"
check interior "hardened mode: free(" "not the start of a block"
check realloc_freed "hardened mode: realloc of block" "already free: a use after free"
check realloc_interior "hardened mode: realloc(" "not the start of a block"
err=$(env $mode LD_PRELOAD="$preload" "$prog" clean 2>&1 >/dev/null)
status=$?
if [ "$status" -ne 0 ] || [ -n "$err" ]; then
    echo "FAIL $mode clean: exit $status, stderr [$err]"
    fail=1
else
    echo "ok   $mode clean"
fi
exit $fail
