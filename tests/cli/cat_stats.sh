#!/usr/bin/env bash
# llm-cat --stats: exact counts, masked share and the length distribution (nearest-rank
# percentiles), in text and with --json, against values computed independently in Python.
. "$(dirname "$0")/lib.sh"

# expected FILE.jsonl KIND text|json: what --stats should print, computed from the JSONL.
expected() {
    py '
import json, math, sys
path, kind, fmt = sys.argv[1:]
recs = [json.loads(l) for l in open(path) if l.strip()]
lens = sorted(len(r["input_ids"]) for r in recs)
n = len(lens)
tokens = sum(lens)
masked = sum(sum(1 for x in r.get("labels") or [] if x == -100) for r in recs)
with_mask = sum(1 for r in recs if -100 in (r.get("labels") or []))
with_starts = sum(1 for r in recs if r.get("doc_starts"))
starts = sum(len(r.get("doc_starts") or []) for r in recs)
def rank(p):    # nearest rank: the smallest length with at least p% of records no longer
    if not n: return 0
    return lens[max(1, -(-p * n // 100)) - 1]
share = masked / tokens if tokens else 0.0
mean = tokens / n if n else 0.0
lo, hi = (lens[0], lens[-1]) if n else (0, 0)
if fmt == "json":
    print(json.dumps({"kind": kind, "records": n, "tokens": tokens, "masked_tokens": masked,
        "masked_share": round(share, 6), "records_with_mask": with_mask,
        "records_with_doc_starts": with_starts, "doc_starts": starts,
        "length": {"min": lo, "max": hi, "mean": round(mean, 3),
                   "p50": rank(50), "p90": rank(90), "p99": rank(99)}}, sort_keys=True))
else:
    print("kind         %s" % kind)
    print("records      %d" % n)
    print("tokens       %d" % tokens)
    print("masked       %d tokens (%.2f%%) in %d records with a mask" % (masked, 100 * share, with_mask))
    if with_starts:
        print("doc starts   %d in %d records" % (starts, with_starts))
    print("length       min %d  p50 %d  p90 %d  p99 %d  max %d  mean %.1f" % (lo, rank(50), rank(90), rank(99), hi, mean))
' "$@"
}

# normalise_json: --stats --json output with sorted keys, to compare with expected().
normalise_json() { py 'import json,sys; print(json.dumps(json.load(sys.stdin), sort_keys=True))'; }

stats_case() {    # stats_case NAME JSONL [IMPORT OPTIONS...]
    local name=$1 in=$2
    shift 2
    local kind=docs
    case " $* " in *" --kind=blocks "*) kind=blocks ;; esac
    stream_from_ids "$name.bin" "$in" 50257 "$@"
    run llm-cat "$name.bin" --stats
    expect_eq "stats-$name" "$(expected "$in" "$kind" text)" "$(cat "$LAST_OUT")"
    run llm-cat -q "$name.bin" --stats --json
    local got
    got=$(normalise_json <"$LAST_OUT" 2>&1)
    expect_eq "stats-json-$name" "$(expected "$in" "$kind" json)" "$got"
}

# Hand-made: lengths 3, 2, 4, 0 and 10; two masked tokens; doc starts in one record.
cat >known.jsonl <<'EOF'
{"input_ids":[1,2,3],"labels":[-100,2,3]}
{"input_ids":[5,6],"labels":[5,6]}
{"input_ids":[7,8,9,10],"labels":[7,8,9,10],"doc_starts":[0,2]}
{"input_ids":[],"labels":[]}
{"input_ids":[1,1,1,1,1,1,1,1,1,1],"labels":[1,1,1,1,1,-100,1,1,1,1]}
EOF
stream_from_ids known.bin known.jsonl 50257
run llm-cat known.bin --stats
expect_eq stats-known-text "kind         docs
records      5
tokens       19
masked       2 tokens (10.53%) in 2 records with a mask
doc starts   2 in 1 records
length       min 0  p50 3  p90 10  p99 10  max 10  mean 3.8" "$(cat "$LAST_OUT")"
expect_eq stats-known-summary "llm-cat: 5 records read from 1 input: 5 counted" "$(cat "$LAST_ERR")"
run llm-cat -q known.bin --stats --json
got=$(py '
import json, sys
s = json.load(open(sys.argv[1]))
print(s["records"], s["tokens"], s["masked_tokens"], s["masked_share"], s["records_with_mask"],
      s["records_with_doc_starts"], s["doc_starts"], s["length"])' "$LAST_OUT" 2>&1)
expect_eq stats-known-json "5 19 2 0.105263 2 1 2 {'min': 0, 'max': 10, 'mean': 3.8, 'p50': 3, 'p90': 10, 'p99': 10}" "$got"
expect_eq stats-json-one-line 1 "$(wc -l <"$LAST_OUT")"

# Generated inputs whose percentiles fall on both sides of rank boundaries.
$GEN --seed 51 --lengths 7 >one.jsonl
stats_case one one.jsonl
$GEN --seed 52 --lengths 9,2 >two.jsonl
stats_case two two.jsonl
$GEN --seed 53 --lengths "$(seq -s, 1 70)" --mask 0.5 >seventy.jsonl
stats_case seventy seventy.jsonl
$GEN --seed 54 --lengths "$(seq -s, 100 -1 1),500" --starts 0.6 >hundred1.jsonl
stats_case hundred1 hundred1.jsonl
$GEN --seed 55 --records 1000 --max-len 300 --mask 0.5 --starts 0.5 >random.jsonl
stats_case random1000 random.jsonl
$GEN --seed 56 --records 37 --min-len 64 --max-len 64 >blocks.jsonl
stats_case blocks blocks.jsonl --kind=blocks --block-size=64
$GEN --seed 57 --records 3 --min-len 3000 --max-len 20000 >long.jsonl
stats_case long long.jsonl

# Over a selection, and over nothing.
head -n 600 random.jsonl | tail -n 200 >sel.jsonl
run llm-cat -q random1000.bin --skip=400 --head=200 --stats
expect_eq stats-selection "$(expected sel.jsonl docs text)" "$(cat "$LAST_OUT")"
: >none.jsonl
run llm-cat -q random1000.bin --skip=1000 --stats --json
expect_eq stats-empty "0 $(expected none.jsonl docs json)" "$RC $(normalise_json <"$LAST_OUT" 2>&1)"
# Straight from JSONL, without a stream in between.
run llm-cat -q --from=ids --vocab-size=50257 random.jsonl --stats
expect_eq stats-from-ids "$(expected random.jsonl docs text)" "$(cat "$LAST_OUT")"

expect_fail stats-json-needs-stats 2 "--json goes with --stats" llm-cat --json known.bin
# -o FILE: the same text, written atomically; a failure keeps the old file.
llm-cat -q random1000.bin --stats -o stats.txt
llm-cat -q random1000.bin --stats >stats.stdout
expect_same_file stats-to-file stats.stdout stats.txt
echo old >stats.txt
run llm-cat -q random1000.bin known.jsonl --stats -o stats.txt
expect_eq stats-to-file-failure-keeps-old "1 old" "$RC $(cat stats.txt)"
expect_no_temps stats-to-file-no-temps

# --to, --stats and --header exclude one another, whichever comes first.
HINT="Try 'llm-cat --help'"
expect_fail stats-not-with-to 2 "$HINT" llm-cat --to=ids --stats known.bin
expect_fail stats-not-with-to-after 2 "$HINT" llm-cat --stats --to=ids known.bin
expect_fail header-not-with-to 2 "$HINT" llm-cat --to=raw --header known.bin
expect_fail header-not-with-to-after 2 "$HINT" llm-cat --header --to=raw known.bin
expect_fail header-not-with-stats 2 "$HINT" llm-cat --header --stats known.bin
expect_fail stats-not-with-header 2 "$HINT" llm-cat --stats --header known.bin

exit 0
