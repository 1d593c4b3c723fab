#!/usr/bin/env bash
# llm-cat selection: --head, --skip, --shard K/N, their order (shard, then skip, then head),
# and the --skip fast path through the index of regular files, which must give the same
# records and the same summary as reading through a pipe.
. "$(dirname "$0")/lib.sh"

# 3000 records in small frames (about 150), split into three streams as well.
$GEN --seed 41 --records 3000 --vocab 50257 --max-len 120 >all.jsonl
stream_from_ids all.bin all.jsonl 50257 --frame-size=4k
head -n 1000 all.jsonl >p1.jsonl
sed -n '1001,1700p' all.jsonl >p2.jsonl
tail -n +1701 all.jsonl >p3.jsonl
stream_from_ids p1.bin p1.jsonl 50257 --frame-size=4k
stream_from_ids p2.bin p2.jsonl 50257 --frame-size=4k
stream_from_ids p3.bin p3.jsonl 50257 --frame-size=4k
cat p1.bin p2.bin p3.bin >cc.bin              # one file, three segments with chained indexes
llm-cat -q --from=ids --vocab-size=50257 --frame-size=4k all.jsonl | cat >noindex.bin
llm-cat -q p1.bin >app.bin && llm-cat -q p2.bin >>app.bin && llm-cat -q p3.bin >>app.bin   # appended

# lines FIRST COUNT: COUNT records of all.jsonl from record FIRST (0-based).
lines() { tail -n "+$(($1 + 1))" all.jsonl | head -n "$2"; }

# ---- --head and --skip -----------------------------------------------------------------

for n in 0 1 999 3000 5000; do
    llm-cat -q all.bin --head="$n" --to=ids >h.out
    lines 0 "$n" >h.want
    expect_same_file "head-$n" h.want h.out
done
for n in 0 1 2999 3000 3001 100000; do
    llm-cat -q all.bin --skip="$n" --to=ids >s.out
    lines "$n" 3000 >s.want
    expect_same_file "skip-$n" s.want s.out
done
llm-cat -q all.bin --skip=100 --head=50 --to=ids >sh.out
lines 100 50 >sh.want
expect_same_file skip-then-head sh.want sh.out

run llm-cat all.bin --skip=4000 --to=ids
expect_eq skip-past-end "0 0 llm-cat: 3000 records read from 1 input: 0 written as JSONL, 3000 skipped (--skip)" \
    "$RC $(wc -c <"$LAST_OUT") $(cat "$LAST_ERR")"
run llm-cat all.bin --head=10 --to=ids
expect_eq head-summary "llm-cat: 10 records read from 1 input: 10 written as JSONL; stopped at --head 10" "$(cat "$LAST_ERR")"

# --head stops reading: an endless input ends the run.
endless_head() {
    yes '{"input_ids":[1,2]}' | timeout 20 llm-cat -q --from=ids --vocab-size=10 --head=5 --to=ids
    return "${PIPESTATUS[1]}"
}
run endless_head
expect_eq head-endless-input "0 5" "$RC $(wc -l <"$LAST_OUT")"

# Selection of --from=ids input and into a stream.
llm-cat -q --from=ids --vocab-size=50257 --skip=7 --head=20 all.jsonl --to=ids >imp.out
lines 7 20 >imp.want
expect_same_file select-from-ids imp.want imp.out
llm-cat -q all.bin --skip=1234 --head=500 -o sel.bin
llm-cat -q sel.bin --to=ids >sel.out
lines 1234 500 >sel.want
expect_same_file select-into-stream sel.want sel.out

# ---- --shard --------------------------------------------------------------------------

shard_want() {    # shard_want K N SKIP HEAD: shard, then skip, then head, in Python
    py '
import sys
k, n, skip, head = map(int, sys.argv[1:])
lines = open("all.jsonl").read().splitlines(True)
sel = [l for i, l in enumerate(lines) if i % n == k][skip:]
if head >= 0: sel = sel[:head]
sys.stdout.write("".join(sel))' "$@"
}

for n in 1 2 3 7; do
    ok=1
    rm -f shard.*.out
    for ((k = 0; k < n; k++)); do
        llm-cat -q all.bin --shard="$k/$n" --to=ids >"shard.$k.out"
        shard_want "$k" "$n" 0 -1 >shard.want
        cmp -s shard.want "shard.$k.out" || ok=0
    done
    # Interleaving the shards record by record gives back the input: a disjoint cover, in order.
    py '
import sys
n = int(sys.argv[1])
shards = [open("shard.%d.out" % k).read().splitlines(True) for k in range(n)]
out = []
for i in range(sum(map(len, shards))):
    out.append(shards[i % n][i // n])
sys.stdout.write("".join(out))' "$n" >union.out 2>&1
    cmp -s all.jsonl union.out || ok=0
    total=$(cat shard.*.out | wc -l)
    if [ "$ok" = 1 ] && [ "$total" = 3000 ]; then pass "shard-cover-$n"; else fail "shard-cover-$n" "shards of $n: union or order wrong ($total records)"; fi
done

for args in "1 3 5 7" "0 4 0 10" "2 5 100 0" "6 7 400 1000" "0 2 2000 5"; do
    set -- $args
    llm-cat -q all.bin --shard="$1/$2" --skip="$3" --head="$4" --to=ids >ssh.out
    shard_want "$1" "$2" "$3" "$4" >ssh.want
    expect_same_file "shard-skip-head-$1-$2-$3-$4" ssh.want ssh.out
done
# Option order on the command line does not change the order of application.
llm-cat -q all.bin --head=7 --skip=5 --shard=1/3 --to=ids >order.out
shard_want 1 3 5 7 >order.want
expect_same_file selection-order-fixed order.want order.out

run llm-cat all.bin --shard=1/3 --skip=5 --head=7 --to=ids
expect_eq shard-summary \
    "llm-cat: 35 records read from 1 input: 7 written as JSONL, 23 in other shards, 5 skipped (--skip); stopped at --head 7" \
    "$(cat "$LAST_ERR")"

# Shards across several inputs number records across them all.
llm-cat -q p1.bin p2.bin p3.bin --shard=2/3 --to=ids >multi.out
shard_want 2 3 0 -1 >multi.want
expect_same_file shard-across-inputs multi.want multi.out

# ---- --skip through the index ------------------------------------------------------------

# Every skip count at and around frame and segment boundaries; file, several files, a
# file of concatenated streams and a pipe must agree on records and on the summary.
bad=""
for n in 0 1 5 17 18 19 250 999 1000 1001 1699 1700 1701 2222 2999 3000 3001 9999; do
    lines "$n" 3000 >w.out
    for how in all cc parts noindex app stdin pipe pipecc; do
        case $how in
        stdin) llm-cat --skip="$n" --to=ids <cc.bin ;;
        app) llm-cat --skip="$n" app.bin --to=ids ;;
        all) llm-cat --skip="$n" all.bin --to=ids ;;
        cc) llm-cat --skip="$n" cc.bin --to=ids ;;
        parts) llm-cat --skip="$n" p1.bin p2.bin p3.bin --to=ids ;;
        noindex) llm-cat --skip="$n" noindex.bin --to=ids ;;
        pipe) cat all.bin | llm-cat --skip="$n" --to=ids ;;
        pipecc) cat p1.bin p2.bin p3.bin | llm-cat --skip="$n" --to=ids ;;
        esac >g.out 2>g.err
        cmp -s w.out g.out || bad="$bad $how:$n(records)"
        want="3000 records read from $( [ $how = parts ] && echo "3 inputs" || echo "1 input"): $((n < 3000 ? 3000 - n : 0)) written as JSONL"
        [ "$n" -gt 0 ] && want="$want, $((n < 3000 ? n : 3000)) skipped (--skip)"
        [ "$(cat g.err)" = "llm-cat: $want" ] || bad="$bad $how:$n(summary: $(cat g.err))"
    done
done
if [ -z "$bad" ]; then pass skip-index-equals-pipe; else fail skip-index-equals-pipe "differ:$bad"; fi

# The fast path also feeds stream output and --head.
llm-cat -q cc.bin --skip=1500 --head=300 -o fast.bin
cat cc.bin | llm-cat -q --skip=1500 --head=300 -o slow.bin
expect_eq skip-index-stream-output "$(llm-cat -q slow.bin --to=ids | md5sum)" "$(llm-cat -q fast.bin --to=ids | md5sum)"
llm-cat -q --skip=1500 --head=300 cc.bin --to=raw >fast.raw
lines 1500 300 >fr.jsonl
tokens_of fr.jsonl 2 >fr.want
expect_same_file skip-index-raw-output fr.want fast.raw

# Skipping whole files, then part of the next.
llm-cat -q --skip=1800 p1.bin p2.bin p3.bin p1.bin --head=2000 --to=ids >wrap.out
{ lines 1800 3000; head -n 800 p1.jsonl; } >wrap.want
expect_same_file skip-whole-files wrap.want wrap.out

# --stats and --skip agree with the pipe.
expect_eq skip-index-stats "$(cat cc.bin | llm-cat -q --stats --json --skip=2100)" "$(llm-cat -q --stats --json --skip=2100 cc.bin)"

exit 0
