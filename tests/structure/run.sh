#!/usr/bin/env bash
# tests/structure/run.sh: ci/check-structure on fixture trees, one good and one bad per rule.
#
# good/ is a whole tree (src/ with LAYERS, include/, clients/, tests/) that passes every check.
# Each bad/<case>/ holds only the files that differ from good/ (and optionally "cflags", extra
# compiler flags for that case); the case's tree is good/ with them copied over. Every tree's
# src/*.c and clients/*.c are compiled into a build directory laid out as CMake lays one out
# (build/src/CMakeFiles/<target>.dir/x.c.o), so the nm checks see real objects.
# For each case the checker's exit status and the lines it must print are checked below.
#   tests/structure/run.sh [WORKDIR]     (default: a temporary directory, removed at the end)
# Environment: CC (default cc).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
checker="$here/../../ci/check-structure"
cc=${CC:-cc}
if [[ $# -ge 1 ]]; then
  work=$1
  rm -rf "$work" && mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi

passed=0 failed=0

# make_case NAME: lay out and compile the case's tree in $work/NAME; prints its path.
make_case() {
  local name=$1 dir=$work/$1 flags=()
  cp -R "$here/good" "$dir"
  if [[ $name != good ]]; then
    (cd "$here/bad/$name" && find . -type f ! -name cflags -exec cp --parents {} "$dir" \;)
    [[ -f $here/bad/$name/cflags ]] && read -r -a flags < "$here/bad/$name/cflags"
  fi
  mkdir -p "$dir/build/src/CMakeFiles/lib.dir" "$dir/build/clients/CMakeFiles/cli.dir"
  local f
  for f in "$dir"/src/*.c; do
    [[ -e $f ]] || continue
    "$cc" -O2 "${flags[@]}" -I "$dir/src" -I "$dir/include" -I "$dir/tests" -I "$dir/clients" \
      -c "$f" -o "$dir/build/src/CMakeFiles/lib.dir/$(basename "$f").o" || return 1
  done
  for f in "$dir"/clients/*.c; do
    "$cc" -O2 -fno-builtin -I "$dir/clients" -c "$f" \
      -o "$dir/build/clients/CMakeFiles/cli.dir/$(basename "$f").o" || return 1
  done
  echo "$dir"
}

# expect NAME STATUS LINE...: the checker on case NAME exits STATUS and prints every LINE
# (fixed strings, each matched against one line of its output).
expect() {
  local name=$1 want=$2 dir out rc line ok=1
  shift 2
  if ! dir=$(make_case "$name"); then
    echo "FAIL $name: the fixture does not compile"
    failed=$((failed + 1))
    return
  fi
  out=$("$checker" --src "$dir/src" --build "$dir/build" 2>&1)
  rc=$?
  if [[ $rc -ne $want ]]; then
    echo "FAIL $name: exit status $rc, expected $want"
    ok=0
  fi
  for line in "$@"; do
    if ! grep -qF -- "$line" <<<"$out"; then
      echo "FAIL $name: no line containing: $line"
      ok=0
    fi
  done
  if [[ $ok -eq 1 ]]; then
    echo "ok   $name"
    passed=$((passed + 1))
  else
    sed 's/^/     | /' <<<"$out"
    failed=$((failed + 1))
  fi
}

# The good tree's base.c must really reach the nm check as fwrite (GCC's substitution for
# fprintf), or the case below would not show that an allowed fprintf covers it.
if dir=$(make_case good) && nm -u "$dir/build/src/CMakeFiles/lib.dir/base.c.o" | grep -qw fwrite
then
  echo "ok   good fixture: base.c.o calls fwrite for its fprintf"
  passed=$((passed + 1))
else
  echo "FAIL good fixture: base.c.o does not call fwrite; the implied-name case is not exercised"
  failed=$((failed + 1))
fi
rm -rf "$work/good"

expect good 0 \
  "layers: ok (7 files, 9 includes)" "cycles: ok" "clients: ok (9 includes," "nm: ok (3 objects)"
expect up_include 1 \
  'layers: FAIL (1 problem)' \
  'src/base.h:5: #include "sys_cfg.h": layer base (#1) includes layer sys (#2), which is above it' \
  "cycles: ok" "nm: ok (3 objects)"
expect cycle 1 \
  "layers: ok" "cycles: FAIL (1 problem)" \
  "include cycle: src/util.h -> src/util2.h -> src/util.h"
expect unlisted 1 "layers: FAIL (1 problem)" "src/extra.h: not listed in LAYERS" "cycles: ok"
expect missing 1 "layers: FAIL (1 problem)" \
  "src/gone.c: listed in LAYERS (layer api) but does not exist"
expect client_include 1 "layers: ok" "clients: FAIL" \
  'src/top.c:2: #include "../clients/drop.h" reaches into clients/drop.h'
expect tests_include 1 "layers: ok" "clients: FAIL (1 problem)" \
  'src/top.c:2: #include "check.h" reaches into tests/check.h'
expect client_symbol 1 "layers: ok" "clients: FAIL (1 problem)" \
  "src/CMakeFiles/lib.dir/top.c.o refers to client_helper, defined only in clients" \
  "nm: ok (3 objects)"
expect forbidden_call 1 "layers: ok" "clients: ok" "nm: FAIL (1 problem)" \
  "src/CMakeFiles/lib.dir/top.c.o: calls malloc; only files of an 'allow malloc' line"
expect fortify 1 "nm: FAIL (1 problem)" \
  "src/CMakeFiles/lib.dir/top.c.o: calls snprintf (as __snprintf_chk)"
expect bad_allow 1 "layers: FAIL (1 problem)" "LAYERS:5: allow mallok: not a checked name" \
  "src/CMakeFiles/lib.dir/sys.c.o: calls malloc"

# No objects at all is a usage error, not a pass.
mkdir -p "$work/empty-build"
cp -R "$here/good" "$work/nobuild"
out=$("$checker" --src "$work/nobuild/src" --build "$work/empty-build" 2>&1)
rc=$?
if [[ $rc -eq 2 ]] && grep -qF "no library objects under" <<<"$out"; then
  echo "ok   no_objects"
  passed=$((passed + 1))
else
  echo "FAIL no_objects: exit status $rc"
  sed 's/^/     | /' <<<"$out"
  failed=$((failed + 1))
fi

echo "structure: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
