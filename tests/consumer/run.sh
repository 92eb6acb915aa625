#!/bin/sh
# run.sh BUILD_DIR WORK_DIR: prove that a built pymt can be used from outside.
#   1. install only the "library" component of BUILD_DIR into WORK_DIR/prefix and check that
#      it holds the library, headers and package files and none of the clients, and on
#      x86-64 that libpymt.a reaches its thread-local data by initial-exec only (the model
#      a shared object may hold: libpymt-pyhook.so and embedders link the archive into one);
#   2. configure and build this directory's project against the prefix with find_package,
#      linking pymt::pymt (shared) and pymt::pymt_static;
#   3. build main.c with cc and `pkg-config --cflags --libs pymt` (shared: must run without
#      LD_LIBRARY_PATH, through the run-time path pymt.pc carries), with pymt-static (no
#      libpymt.so in the binary), and fully static (-static, pkg-config --static);
#   4. configure and build the project against the build tree (-Dpymt_DIR=BUILD_DIR);
#   5. when BUILD_DIR built the clients: a default install (every component) has them, and
#      `--component clients` installs them and nothing of the library.
# Every binary is run, and readelf and ldd check how it links libpymt. Environment: CMAKE
# and CC name the tools (default cmake and cc).
set -eu

build=$(cd "$1" && pwd)
work=$2
cmake=${CMAKE:-cmake}
cc=${CC:-cc}
here=$(cd "$(dirname "$0")" && pwd)

rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
prefix=$work/prefix
# Nothing may find the library through the environment: only the binaries' own paths count.
unset LD_LIBRARY_PATH PKG_CONFIG_PATH

step() { printf '== %s\n' "$*"; }
fail() {
    echo "consumer: $*" >&2
    exit 1
}

# run_bin BIN shared|static: run it and check how it links libpymt.
run_bin() {
    "$1" || fail "$1 failed"
    if readelf -d "$1" | grep -q 'NEEDED.*libpymt'; then linked=shared; else linked=static; fi
    [ "$linked" = "$2" ] || fail "$1: expected a $2 link to libpymt, found $linked"
    # ldd is refused for a fully static binary; for the others it shows what the loader found
    if ldd "$1" >"$1.ldd" 2>&1; then
        if [ "$2" = shared ]; then
            grep -q "libpymt\.so.* => /" "$1.ldd" || fail "$1: libpymt.so not resolved: $(cat "$1.ldd")"
        elif grep -q libpymt "$1.ldd"; then
            fail "$1: static link, but ldd lists $(grep libpymt "$1.ldd")"
        fi
    fi
}

# has FILE... / lacks FILE...: paths relative to the prefix being looked at ($root).
has() { for f in "$@"; do [ -e "$root/$f" ] || fail "$root: $f missing"; done; }
lacks() { for f in "$@"; do [ ! -e "$root/$f" ] || fail "$root: $f should not be there"; done; }
libdir_of() { dirname "$(find "$1" -name 'libpymt.so.*' -o -name 'libpymt-malloc.so' | head -n 1)"; }

# cmake_consumer DIR ARGS...: configure, build and run the CMake consumer.
cmake_consumer() {
    dir=$1
    shift
    "$cmake" -S "$here" -B "$dir" -DCMAKE_C_COMPILER="$cc" "$@" >"$dir.log" 2>&1 ||
        { cat "$dir.log" >&2; exit 1; }
    "$cmake" --build "$dir" >>"$dir.log" 2>&1 || { cat "$dir.log" >&2; exit 1; }
    run_bin "$dir/consumer_shared" shared
    run_bin "$dir/consumer_static" static
}

step "install the library component into a temporary prefix"
"$cmake" --install "$build" --prefix "$prefix" --component library >"$work/install.log"
root=$prefix
lib=$(libdir_of "$prefix")
lib=${lib#"$prefix"/}
has include/pymt/pymt.h "$lib/libpymt.so" "$lib/libpymt.a" "$lib/cmake/pymt/pymtConfig.cmake" \
    "$lib/pkgconfig/pymt.pc" "$lib/pkgconfig/pymt-static.pc"
lacks bin/pymt-python "$lib/libpymt-malloc.so" "$lib/libpymt-pyhook.so"
if [ "$(uname -m)" = x86_64 ]; then
    # the relocations by which the code (not its debugging information, which names the
    # variable's offset in the TLS block) reaches the thread cache
    relocs=$(readelf -rW "$prefix/$lib/libpymt.a" |
        awk '/^Relocation section/ { debug = index($0, ".rela.debug") > 0 }
            !debug && $5 == "pymt__tc" { print $3 }' | sort -u | tr '\n' ' ')
    [ "$relocs" = "R_X86_64_GOTTPOFF " ] ||
        fail "libpymt.a reaches pymt__tc by '$relocs', not by initial-exec alone"
fi

step "find_package against the installed prefix"
cmake_consumer "$work/cmake-installed" -DCMAKE_PREFIX_PATH="$prefix"

step "pkg-config against the installed prefix"
PKG_CONFIG_PATH=$prefix/$lib/pkgconfig
export PKG_CONFIG_PATH
# shellcheck disable=SC2046 # pkg-config output is meant to be split
"$cc" -o "$work/pc_shared" "$here/main.c" $(pkg-config --cflags --libs pymt)
run_bin "$work/pc_shared" shared
grep -q "libpymt\.so.* => $prefix/" "$work/pc_shared.ldd" ||
    fail "pc_shared does not load the installed libpymt.so: $(cat "$work/pc_shared.ldd")"
# shellcheck disable=SC2046
"$cc" -o "$work/pc_static" "$here/main.c" $(pkg-config --cflags --libs pymt-static)
run_bin "$work/pc_static" static
# shellcheck disable=SC2046
"$cc" -static -o "$work/pc_fully_static" "$here/main.c" \
    $(pkg-config --cflags --libs --static pymt-static)
run_bin "$work/pc_fully_static" static
unset PKG_CONFIG_PATH

step "find_package against the build tree"
cmake_consumer "$work/cmake-buildtree" -Dpymt_DIR="$build"

if [ -e "$build/clients/libpymt-malloc.so" ]; then
    step "default install: every component"
    root=$work/prefix-all
    "$cmake" --install "$build" --prefix "$root" >"$work/install-all.log"
    has include/pymt/pymt.h "$lib/libpymt.so" "$lib/libpymt-malloc.so"
    [ ! -e "$build/clients/pymt-python" ] || has bin/pymt-python "$lib/libpymt-pyhook.so"

    step "the clients component alone"
    root=$work/prefix-clients
    "$cmake" --install "$build" --prefix "$root" --component clients >"$work/install-clients.log"
    has "$lib/libpymt-malloc.so"
    lacks include "$lib/libpymt.so" "$lib/libpymt.a" "$lib/pkgconfig" "$lib/cmake"
fi

step "all consumers ok"
