#!/bin/sh
# readme_example.sh README LIBDIR INCLUDEDIR WORKDIR: the README's example must compile as
# pasted and run. Takes the first ```c block after the heading "## The three families",
# compiles it as C11 with warnings as errors against the built libpymt.so, and runs it.
# Environment: CC (default cc).
set -eu

readme=$1
libdir=$2
incdir=$3
work=$4
cc=${CC:-cc}

mkdir -p "$work"
src=$work/readme_example.c
awk '
    /^## The three families/ { under = 1; next }
    under && /^## / { exit }
    under && !inside && /^```c$/ { inside = 1; next }
    inside && /^```$/ { exit }
    inside { print }
' "$readme" >"$src"
[ -s "$src" ] || { echo "readme_example: no \`\`\`c block under '## The three families' in $readme" >&2; exit 1; }

"$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror -pthread -I"$incdir" -o "$work/readme_example" \
    "$src" -L"$libdir" -lpymt -Wl,-rpath,"$libdir"
"$work/readme_example"
