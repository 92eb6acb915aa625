#!/bin/sh
# python_exports.sh STOCK EMBEDDER: every Py*/_Py* symbol the stock interpreter exports, the
# embedder exports too (extension modules and ctypes.pythonapi look them up in the process).
# Prints the missing ones and fails when there are any.
set -eu
stock=$1
embedder=$2
names() {
    nm -D --defined-only "$1" | awk '$3 ~ /^_?Py/ { print $3 }' | sort -u
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
names "$stock" > "$tmp/stock"
names "$embedder" > "$tmp/embedder"
missing=$(comm -23 "$tmp/stock" "$tmp/embedder")
if [ -n "$missing" ]; then
    echo "exported by $stock but not by $embedder:"
    echo "$missing"
    exit 1
fi
echo "all $(wc -l < "$tmp/stock") Py symbols of $stock exported"
