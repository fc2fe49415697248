#!/bin/sh
# Precision and recall of the documents a fuzzy-dedup run removed, against
# tools/gen_dedup_corpus's ground truth (a corpus made with --int-ids).
#   bench/fuzzy_score.sh CORPUS_DIR REMOVED_DIR
# A copy is every id of a truth cluster but its first (the original); a
# removed document is a line of REMOVED_DIR/*.jsonl (remove_duplicates'
# removed_ids_path).  Prints one line: counts, precision, recall.
set -eu
corpus=$1
removed=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -n 's/.*"ids": *\[\([^]]*\)\].*/\1/p' "$corpus/truth/clusters.jsonl" |
    awk -F', *' '{ for (i = 2; i <= NF; i++) print $i }' | sort -u > "$tmp/copies"
docs=$(cat "$corpus"/docs/*.jsonl | wc -l)
if ls "$removed"/*.jsonl > /dev/null 2>&1; then
    sed -n 's/^{"id": *\([0-9][0-9]*\).*/\1/p' "$removed"/*.jsonl | sort -u > "$tmp/removed"
else
    : > "$tmp/removed"
fi
copies=$(wc -l < "$tmp/copies")
n_removed=$(wc -l < "$tmp/removed")
hits=$(comm -12 "$tmp/copies" "$tmp/removed" | wc -l)
awk -v d="$docs" -v c="$copies" -v r="$n_removed" -v h="$hits" 'BEGIN {
    p = r > 0 ? h / r : 1; q = c > 0 ? h / c : 1
    printf "%d documents, %d copies in the ground truth; removed %d, of which %d copies: precision %.4f, recall %.4f\n", d, c, r, h, p, q
}'
