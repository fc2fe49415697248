#!/bin/sh
# libwinnow exports only wn_* symbols; every plugin exports only winnow_plugin_v1.
set -u
top_builddir=${WN_TOP_BUILDDIR:?run through make check}
failed=0
passed=0
check() { # file, allowed-pattern
    bad=$(nm -D --defined-only "$1" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | grep -Ev "$2")
    if [ -n "$bad" ]; then
        echo "FAIL: $1 exports symbols outside $2:"; echo "$bad" | head -n 20
        failed=$((failed + 1))
    else
        passed=$((passed + 1))
    fi
}
lib="$top_builddir/libwinnow/.libs/libwinnow.so"
[ -f "$lib" ] || { echo "missing $lib"; exit 99; }
check "$lib" '^wn_'
n_plugins=0
for so in "$top_builddir"/plugins/*/*/.libs/*.so; do
    [ -f "$so" ] || continue
    check "$so" '^winnow_plugin_v1$'
    nm -D --defined-only "$so" | grep -q ' T winnow_plugin_v1$' || {
        echo "FAIL: $so has no winnow_plugin_v1"; failed=$((failed + 1)); }
    n_plugins=$((n_plugins + 1))
done
[ "$n_plugins" -ge 3 ] || { echo "FAIL: expected at least 3 plugins, found $n_plugins"; failed=$((failed + 1)); }
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
