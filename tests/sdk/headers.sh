#!/bin/sh
# Every public header compiles on its own with -std=c11 -pedantic -Werror,
# without build_config.h, and (when a C++ compiler exists) as C++11 too.
set -u
top_srcdir=${WN_TOP_SRCDIR:?run through make check}
top_builddir=${WN_TOP_BUILDDIR:?run through make check}
cc=${CC:-cc}
cxx=${CXX:-c++}
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
failed=0
passed=0
headers=$(cd "$top_srcdir/sdk/winnow" && ls *.h) || exit 99
headers="$headers version.h"
for h in $headers; do
    printf '#include <winnow/%s>\n#include <winnow/%s>\nint header_check_anchor;\n' "$h" "$h" > "$tmp/t.c"
    if $cc -std=c11 -pedantic -Wall -Wextra -Werror -Wstrict-prototypes -fsyntax-only \
        -I"$top_srcdir/sdk" -I"$top_builddir/sdk" "$tmp/t.c" 2> "$tmp/err"; then
        passed=$((passed + 1))
    else
        echo "FAIL: winnow/$h does not compile alone as C11:"; cat "$tmp/err"
        failed=$((failed + 1))
    fi
    if command -v "$cxx" > /dev/null 2>&1; then
        cp "$tmp/t.c" "$tmp/t.cc"
        if $cxx -std=c++11 -Wall -Wextra -Werror -fsyntax-only \
            -I"$top_srcdir/sdk" -I"$top_builddir/sdk" "$tmp/t.cc" 2> "$tmp/err"; then
            passed=$((passed + 1))
        else
            echo "FAIL: winnow/$h does not compile alone as C++11:"; cat "$tmp/err"
            failed=$((failed + 1))
        fi
    fi
done
[ "$passed" -ge 10 ] || { echo "only $passed header checks ran"; exit 99; }
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
