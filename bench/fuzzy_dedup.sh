#!/bin/sh
# End-to-end fuzzy dedup of a generated corpus with the winnow command:
# examples/pipelines/fuzzy-dedup.json (minhash, lsh over the ucx shuffle,
# buckets_to_edges, connected_components over ucx comms -> labels), then
# fuzzy-remove.json (remove_duplicates -> deduplicated corpus).  Prints each
# run's wall time, peak RSS and winnow's per-stage summary, and precision
# and recall against the generator's ground truth.
#   bench/fuzzy_dedup.sh [--bytes N] [--files F] [--build DIR] [--work DIR] [--keep]
#       [--set KEY=VALUE]...   (extra --set for the dedup pipeline)
# Defaults: 256 MiB, one file per 16 MiB, <source>/_build, a temporary
# directory removed at the end unless --keep.  Not run by make check.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${WN_BUILD_DIR:-$top/_build}
bytes=268435456
files=
work=
keep=0
sets=
while [ $# -gt 0 ]; do
    case $1 in
    --bytes) bytes=$2; shift 2 ;;
    --files) files=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --set) sets="$sets --set $2"; shift 2 ;;
    *) echo "usage: $0 [--bytes N] [--files F] [--build DIR] [--work DIR] [--keep] [--set K=V]..." >&2
       exit 2 ;;
    esac
done
if [ -z "$files" ]; then
    files=$((bytes / 16777216))
    [ "$files" -ge 4 ] || files=4
fi
if [ -z "$work" ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/winnow-fuzzy-bench-XXXXXX")
    [ "$keep" = 1 ] || trap 'rm -rf "$work"' EXIT
fi
WINNOW_PLUGIN_PATH=$(find "$build/plugins" -type d -name .libs | sort | paste -sd: -)
export WINNOW_PLUGIN_PATH
winnow=$build/cli/winnow

# Runs winnow with /usr/bin/time when there is one: "wall_s peak_rss_kib" to $work/$1.time
timed() {
    name=$1
    shift
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f '%e %M' -o "$work/$name.time" "$@"
    else
        start=$(date +%s.%N)
        "$@"
        echo "$(echo "$(date +%s.%N) - $start" | bc) ?" > "$work/$name.time"
    fi
}

echo "== generating $bytes bytes in $files files under $work/corpus"
start=$(date +%s.%N)
"$build/tools/gen_dedup_corpus" --bytes "$bytes" --files "$files" --seed 42 --int-ids \
    --out "$work/corpus"
echo "   ($(echo "$(date +%s.%N) - $start" | bc | cut -c1-6) s)"

cd "$work"
echo "== winnow run fuzzy-dedup.json (labels)"
# shellcheck disable=SC2086
timed dedup "$winnow" run "$top/examples/pipelines/fuzzy-dedup.json" \
    --set "stages.0.params.paths=[\"$work/corpus/docs\"]" \
    --set "stages.6.params.path=$work/labels" $sets
mkdir -p "$work/labels"
echo "== winnow run fuzzy-remove.json (deduplicated corpus)"
timed remove "$winnow" run "$top/examples/pipelines/fuzzy-remove.json" \
    --set "stages.0.params.paths=[\"$work/corpus/docs\"]" \
    --set "stages.2.params.labels_path=$work/labels" \
    --set "stages.2.params.removed_ids_path=$work/removed" \
    --set "stages.3.params.path=$work/deduplicated"

read -r d_wall d_rss < "$work/dedup.time"
read -r r_wall r_rss < "$work/remove.time"
corpus_bytes=$(cat "$work"/corpus/docs/*.jsonl | wc -c)
echo "== results"
echo "corpus: $corpus_bytes bytes"
echo "labels run: $d_wall s wall, peak RSS $d_rss KiB; $(echo "scale=1; $corpus_bytes / 1048576 / $d_wall" | bc) MiB/s"
echo "remove run: $r_wall s wall, peak RSS $r_rss KiB"
echo "total: $(echo "$d_wall + $r_wall" | bc) s"
"$top/bench/fuzzy_score.sh" "$work/corpus" "$work/removed"
