#!/bin/sh
# run.sh BUILD_DIR WORK_DIR: prove that a built pymt can be used from outside.
#   1. install BUILD_DIR into WORK_DIR/prefix (cmake --install);
#   2. configure and build this directory's project against the prefix with find_package,
#      linking pymt::pymt (shared) and pymt::pymt_static;
#   3. build main.c with cc and `pkg-config --cflags --libs pymt`, and with --static;
#   4. configure and build the project against the build tree (-Dpymt_DIR=BUILD_DIR);
# and run every binary, checking that the shared ones load libpymt.so and the static ones
# do not. Environment: CMAKE and CC name the tools (default cmake and cc).
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

step() { printf '== %s\n' "$*"; }

# run_bin BIN shared|static: run it and check how it links libpymt.
run_bin() {
    "$1"
    if readelf -d "$1" | grep -q 'NEEDED.*libpymt'; then linked=shared; else linked=static; fi
    if [ "$linked" != "$2" ]; then
        echo "$1: expected a $2 link to libpymt, found $linked" >&2
        exit 1
    fi
}

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

step "install into a temporary prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$work/install.log"

step "find_package against the installed prefix"
cmake_consumer "$work/cmake-installed" -DCMAKE_PREFIX_PATH="$prefix"

step "pkg-config against the installed prefix"
pc=$(find "$prefix" -name pymt.pc | head -n 1)
[ -n "$pc" ] || { echo "no pymt.pc installed" >&2; exit 1; }
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
libdir=$(pkg-config --variable=libdir pymt)
# shellcheck disable=SC2046 # pkg-config output is meant to be split
"$cc" -o "$work/pc_shared" "$here/main.c" $(pkg-config --cflags --libs pymt) \
    -Wl,-rpath,"$libdir"
run_bin "$work/pc_shared" shared
# shellcheck disable=SC2046
"$cc" -static -o "$work/pc_static" "$here/main.c" -DPYMT_STATIC_DEFINE \
    $(pkg-config --cflags --libs --static pymt)
run_bin "$work/pc_static" static

step "find_package against the build tree"
cmake_consumer "$work/cmake-buildtree" -Dpymt_DIR="$build"

step "all consumers ok"
