#!/usr/bin/env bash
# llm-pack's selection and I/O: the validation split (deterministic by content, whatever the
# order, the thread count or the token width), --shard, --shuffle (a permutation, fixed by
# the seed), several inputs, bad input and usage errors, atomic output.
. "$(dirname "$0")/lib.sh"
CHECK="$PY $CLI_DIR/pack_check.py"

# ids_of FILE.bin: its records as llm-cat --to=ids prints them.
ids_of() { llm-cat -q --to=ids "$1"; }
# docs_of FILE.bin: each record's ids less the masked padding after them, a line each.
docs_of() { ids_of "$1" >"$1.ids" && $CHECK docs "$1.ids"; }

$GEN --seed 11 --records 2000 --vocab 50256 --min-len 1 --max-len 300 --mask 0 --starts 0 >docs.jsonl
llm-cat -q --from=ids --vocab-size=50257 --eos=50256 --frame-size=8k docs.jsonl -o docs.bin
tac docs.jsonl >rev.jsonl
llm-cat -q --from=ids --vocab-size=50257 --eos=50256 rev.jsonl -o rev.bin
llm-cat -q --from=ids --vocab-size=50257 --eos=50256 --token-bytes=4 docs.jsonl -o wide.bin

# ---- --val-fraction ------------------------------------------------------------------

# Concat of one document a block keeps documents whole, so the split can be read back.
split() {   # split NAME INPUT [OPTIONS...]: fit mode, blocks of 301, documents listed sorted
    local name=$1 in=$2
    shift 2
    llm-pack -q --mode=fit -b 301 --window 1 "$@" "$in" -o "$name.train.bin" --val "$name.val.bin" &&
        docs_of "$name.val.bin" | sort >"$name.val.docs" &&
        docs_of "$name.train.bin" | sort >"$name.train.docs"
}
split a docs.bin --val-fraction 0.1
n_val=$(wc -l <a.val.docs)
n_train=$(wc -l <a.train.docs)
expect_eq val-fraction-adds-up 2000 "$((n_val + n_train))"
if [ "$n_val" -gt 140 ] && [ "$n_val" -lt 260 ]; then pass val-fraction-share; else fail val-fraction-share "$n_val of 2000 in validation, want about 200"; fi
split b rev.bin --val-fraction 0.1
expect_same_file val-fraction-any-order a.val.docs b.val.docs
split c wide.bin --val-fraction 0.1 -j 3
expect_same_file val-fraction-any-width a.val.docs c.val.docs
split d docs.bin --val-fraction 0.2
if comm -23 a.val.docs d.val.docs | grep -q .; then
    fail val-fraction-nested "a document in the 10% split is not in the 20% one"
else
    pass val-fraction-nested
fi
# Validation and training together are the input, in concat mode too.
mkdir j1 j3
(cd j1 && llm-pack -q -b 64 --remainder=pad --boundaries ../docs.bin -o t.bin --val v.bin --val-fraction 0.3 -j 1)
(cd j3 && llm-pack -q -b 64 --remainder=pad --boundaries ../docs.bin -o t.bin --val v.bin --val-fraction 0.3 -j 3)
expect_same_file val-deterministic-train j1/t.bin j3/t.bin
expect_same_file val-deterministic-val j1/v.bin j3/v.bin

# ---- --val-docs ----------------------------------------------------------------------

split e docs.bin --val-docs 37
expect_eq val-docs-count 37 "$(wc -l <e.val.docs)"
expect_eq val-docs-adds-up 1963 "$(wc -l <e.train.docs)"
split f rev.bin --val-docs 37
expect_same_file val-docs-any-order e.val.docs f.val.docs
split g docs.bin --val-docs 5000
expect_eq val-docs-more-than-all 2000 "$(wc -l <g.val.docs)"

# ---- --shard ---------------------------------------------------------------------------

llm-pack -q --mode=fit -b 301 --window 1 --shard 0/3 docs.bin -o s0.bin
llm-pack -q --mode=fit -b 301 --window 1 --shard 1/3 docs.bin -o s1.bin
llm-pack -q --mode=fit -b 301 --window 1 --shard 2/3 docs.bin -o s2.bin
for k in 0 1 2; do ids_of s$k.bin >s$k.ids; done
run $CHECK same-docs docs.jsonl s0.ids s1.ids s2.ids
if [ "$RC" -eq 0 ]; then pass shard-partition; else fail shard-partition "$(cat "$LAST_OUT")"; fi
$CHECK docs docs.jsonl >docs.list
expect_eq shard-first "$(sed -n '1p' docs.list)" "$(docs_of s0.bin | sed -n 1p)"
expect_eq shard-second "$(sed -n '2p' docs.list)" "$(docs_of s1.bin | sed -n 1p)"
run llm-pack --mode=fit -b 301 --shard 1/3 docs.bin -o s1.bin
expect_file_has shard-summary "1333 documents in other shards" "$LAST_ERR"
# What was read is every document and token of the input, those of other shards too, and
# the note says how many tokens the other shards took: the summary adds up.
cp "$LAST_ERR" s1.err
run llm-pack --mode=fit -b 301 docs.bin -o all.bin
expect_eq shard-summary-read "$(head -n 1 "$LAST_ERR")" "$(head -n 1 s1.err | sed 's/; .*//')"
in_tokens=$(sed -n 's/.* documents, \([0-9]*\) tokens read.*/\1/p' s1.err)
shard_tokens=$(sed -n 's/.*train: [0-9]* documents, \([0-9]*\) tokens:.*/\1/p' s1.err)
expect_file_has shard-summary-tokens "(--shard 1/3, $((in_tokens - shard_tokens)) tokens)" s1.err

# ---- --shuffle -----------------------------------------------------------------------

llm-pack -q -b 50 docs.bin -o plain.bin
ids_of plain.bin | sort >plain.sorted
for how in full buffer; do
    opts=(--shuffle --seed 5)
    [ "$how" = buffer ] && opts+=(--shuffle-buffer 100)
    llm-pack -q -b 50 "${opts[@]}" docs.bin -o sh1.bin
    llm-pack -q -b 50 "${opts[@]}" -j 3 docs.bin -o sh2.bin
    TMPDIR=$W llm-pack -q -b 50 "${opts[@]/--seed/--seed}" --seed 6 docs.bin -o sh3.bin
    ids_of sh1.bin | sort >sh1.sorted
    expect_same_file "shuffle-$how-same-blocks" plain.sorted sh1.sorted
    if cmp -s <(ids_of plain.bin) <(ids_of sh1.bin); then fail "shuffle-$how-moves" "the order did not change"; else pass "shuffle-$how-moves"; fi
    expect_same_file "shuffle-$how-seeded" sh1.bin sh2.bin
    if cmp -s sh1.bin sh3.bin; then fail "shuffle-$how-seed-matters" "seeds 5 and 6 gave the same order"; else pass "shuffle-$how-seed-matters"; fi
done
expect_eq shuffle-no-temporary-left "" "$(ls "$W" | grep llm-pack-shuffle)"
expect_fail shuffle-bad-tmp-dir 1 "temporary file in /nonexistent" llm-pack -q --shuffle --tmp-dir /nonexistent docs.bin -o x.bin

# ---- several inputs and pipes ----------------------------------------------------------

head -n 700 docs.jsonl >p1.jsonl
tail -n +701 docs.jsonl >p2.jsonl
llm-cat -q --from=ids --vocab-size=50257 --eos=50256 p1.jsonl -o p1.bin
llm-cat -q --from=ids --vocab-size=50257 --eos=50256 p2.jsonl -o p2.bin
llm-pack -q -b 128 p1.bin p2.bin -o two.bin
llm-pack -q -b 128 docs.bin -o one.bin
expect_same_file two-inputs "$(ids_of one.bin >one.ids; echo one.ids)" "$(ids_of two.bin >two.ids; echo two.ids)"
cat p1.bin | llm-pack -q -b 128 - p2.bin >piped.bin
expect_same_file pipe-input one.ids "$(ids_of piped.bin >piped.ids; echo piped.ids)"
# A file of concatenated streams: the packed header holds the steps of both.
cat p1.bin p2.bin >p12.bin
run llm-pack -b 128 p12.bin -o p12-packed.bin
expect_eq concatenated-provenance "1 1 0 notes: 0" "$(llm-cat --header p12-packed.bin | py 'import json, sys
p = json.load(sys.stdin)["provenance"]
print(sum("p1.jsonl" in s["argv"] for s in p), sum("p2.jsonl" in s["argv"] for s in p), len(p) - 3)') notes: $(grep -c provenance "$LAST_ERR")"
pipe_pack() { cat p1.bin p2.bin | llm-pack -b 128 -o p12-piped.bin; }
expect_stderr_has concatenated-pipe-noted "whose provenance is not in the output header" pipe_pack
llm-pack -q -b 128 -j 1 docs.bin -o j1.bin
llm-pack -q -b 128 -j 4 docs.bin -o j4.bin
expect_same_file threads-same-bytes j1.bin j4.bin

# ---- errors ----------------------------------------------------------------------------

expect_fail refuses-blocks 1 "a blocks stream; llm-pack wants a docs stream" llm-pack -q one.bin -o x.bin
llm-cat -q --from=ids --vocab-size=50257 --tokenizer other docs.jsonl -o other.bin
expect_fail refuses-mismatch 1 "does not match docs.bin" llm-pack -q docs.bin other.bin -o x.bin
llm-cat -q --from=ids --vocab-size=50257 docs.jsonl -o noeos.bin
expect_fail pad-needed 1 "give --pad-id" llm-pack -q --mode=fit noeos.bin -o x.bin
check pad-given llm-pack -q --mode=fit --pad-id 0 noeos.bin -o x.bin
run llm-pack -b 128 --mode=fit docs.bin -o x.bin
expect_file_has no-eos-noted-fit "2000 documents do not end in the end-of-text token (llm-tokenize --no-eos?): the model is never" \
    "$LAST_ERR"
run llm-pack -b 128 docs.bin -o x.bin
expect_file_has no-eos-noted "2000 documents do not end in the end-of-text token (llm-tokenize --no-eos?): each runs into" \
    "$LAST_ERR"
expect_fail pad-id-range 1 "not below the vocabulary size" llm-pack -q --remainder=pad --pad-id 50257 docs.bin -o x.bin
head -c 20000 docs.bin >trunc.bin
rm -f x.bin
expect_fail truncated 1 "trunc.bin" llm-pack -q trunc.bin -o x.bin
if [ -e x.bin ] || ls .x.bin* >/dev/null 2>&1; then fail truncated-no-output "$(ls -a)"; else pass truncated-no-output; fi
expect_fail missing-file 1 "nothere.bin" llm-pack -q nothere.bin -o x.bin
# Neither output is put in place unless both are written: here the validation stream,
# written at the end (one frame), is over the file size limit; the training stream of an
# earlier run stays as it was.
head -n 100 docs.jsonl | llm-cat -q --from=ids --vocab-size=50257 --eos=50256 -o few.bin
echo earlier >earlier.bin
run sh -c "trap '' XFSZ; ulimit -f 8; exec llm-pack -q -b 16 --val big-val.bin --val-fraction 0.9 few.bin -o earlier.bin"
expect_eq val-fails-train-kept "1 earlier no-val" "$RC $(cat earlier.bin) $([ -e big-val.bin ] && echo val || echo no-val)"
# A write error names the output that failed: with --val there are two.
expect_fail val-write-error-named 1 "llm-pack: /dev/full: write error" \
    llm-pack -q --val /dev/full --val-fraction 0.5 docs.bin -o x.bin
expect_status usage-val-alone 2 llm-pack --val v.bin docs.bin
expect_status usage-fraction-alone 2 llm-pack --val-fraction 0.1 docs.bin
expect_status usage-fraction-range 2 llm-pack --val v.bin --val-fraction 1.5 docs.bin
expect_status usage-both-val 2 llm-pack --val v.bin --val-fraction 0.1 --val-docs 3 docs.bin
expect_status usage-fit-remainder 2 llm-pack --mode=fit --remainder=pad docs.bin
expect_status usage-concat-long 2 llm-pack --long=drop docs.bin
expect_status usage-block-zero 2 llm-pack -b 0 docs.bin
expect_status usage-buffer-alone 2 llm-pack --shuffle-buffer 10 docs.bin
expect_fail usage-seed-alone 2 "go with --shuffle" llm-pack --seed 0 docs.bin
expect_fail usage-tmp-dir-alone 2 "go with --shuffle" llm-pack --tmp-dir /tmp docs.bin
expect_fail usage-tmp-dir-buffer 2 "--tmp-dir is for the full --shuffle" \
    llm-pack --shuffle --shuffle-buffer 10 --tmp-dir /tmp docs.bin
expect_status usage-bad-mode 2 llm-pack --mode=squash docs.bin
expect_status refuses-terminal-check 0 llm-pack --help
