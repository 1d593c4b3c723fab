#!/usr/bin/env bash
# llm-eval's loss, perplexity and accuracy against PyTorch (tests/cli/eval_reference.py, an
# independent GPT-2 reading the same checkpoint): masked data from llm-collate (variable
# lengths: padding in the batch; --pad=max; --pack), llm-pack blocks with document starts
# (concat --boundaries, fit), and small-vocabulary records with masks, starts, empty records
# and records longer than the context, with document attention on and off and several batch
# sizes. Tolerance: 1e-5 relative on the loss and the perplexity; the accuracy's count exact
# (but for positions whose two best logits are within 1e-4, none so far). eval_loss, 1e-5 too,
# against Trainer's evaluation loop transcribed over batches of -b records.
. "$(dirname "$0")/lib.sh"
DRIVER=$LLM_BUILD/tests/eval_model_driver
REF="$PY $CLI_DIR/eval_reference.py"

if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
    skip eval-torch "python3-torch is not installed (make deps)"
    exit 0
fi
[ -x "$DRIVER" ] || { fail setup "$DRIVER is not built (make test builds it)"; exit 0; }

# compare NAME MODEL DATA DOC [LLM-EVAL OPTIONS...]: llm-eval on DATA.bin against the
# reference on DATA.ids (its llm-cat --to=ids); a --label-smoothing=E and a -b N go to both.
compare() {
    local name=$1 model=$2 data=$3 doc=$4
    shift 4
    run llm-eval -q -m "$model" -d "$data.bin" --doc-attention="$doc" -o "$name.json" "$@"
    if [ "$RC" -ne 0 ]; then fail "$name" "$(last_diag)"; return; fi
    [ "$doc" = auto ] && doc=on
    local smoothing=0 batch=8 prev= arg
    for arg in "$@"; do
        case $arg in --label-smoothing=*) smoothing=${arg#*=} ;; esac
        [ "$prev" = -b ] && batch=$arg
        prev=$arg
    done
    $REF score "$model" "$data.ids" --doc-attention "$doc" --label-smoothing "$smoothing" --batch "$batch" \
        --check "$name.json" "$name"
}

# ---- small vocabulary: masks, document starts, empty and long records --------------------
# Each token repeats the one before half the time, so the random model's argmax (close to
# "the same token again") gets a quarter of them right: the accuracy means something.
$PY -c '
import json, random
r = random.Random(5)
V = 61
for i in range(80):
    n = r.choice([0, 1, 2, r.randint(3, 40), r.randint(3, 40), r.randint(40, 70)])
    ids = []
    for t in range(n):
        ids.append(ids[-1] if ids and r.random() < 0.5 else r.randrange(V))
    labels = [x if r.random() > 0.3 else -100 for x in ids] if r.random() < 0.5 else list(ids)
    rec = {"input_ids": ids, "labels": labels}
    if n > 3 and r.random() < 0.5:
        rec["doc_starts"] = sorted(r.sample(range(n), r.randint(1, 4)))
    print(json.dumps(rec))
' >small.in
llm-cat -q --from=ids --kind=blocks --vocab-size=61 --eos=60 --frame-size=4k small.in -o small.bin
llm-cat -q --to=ids small.bin >small.ids
"$DRIVER" m61 small.bin 2 4 32 48 7 3 || fail setup "eval_model_driver m61"

compare small-auto m61 small auto
compare small-on-b1 m61 small on -b 1
compare small-off m61 small off
compare small-off-b3-j1 m61 small off -b 3 -j 1
compare small-smoothed m61 small auto --label-smoothing=0.1
compare small-b5-smoothed m61 small auto -b 5 --label-smoothing=0.1
expect_file_has small-smoothed-noted '"label_smoothing":0.1,' small-smoothed.json
# Records count different numbers of labels here, so Trainer's mean of batch means is not the
# mean over tokens: the check above tells them apart.
check small-eval-loss-differs py '
import json, sys
a = json.load(open(sys.argv[1]))
sys.exit(not abs(a["eval_loss"] - a["loss"]) > 1e-3 * a["loss"])' small-auto.json

# A batch whose every label is masked (Trainer's loss NaN) is left out of eval_loss, and said.
$PY -c '
import json
for i in range(10):
    ids = [(7 * i + t) % 61 for t in range(5 + i)]
    labels = [-100] * len(ids) if i < 3 else ids
    print(json.dumps({"input_ids": ids, "labels": labels}))
' >masked.in
llm-cat -q --from=ids --kind=blocks --vocab-size=61 --eos=60 masked.in -o masked.bin
llm-cat -q --to=ids masked.bin >masked.ids
compare masked-batch m61 masked auto -b 3
expect_stderr_has masked-batch-said "1 of the 4 batches of 3 records count no position" \
    llm-eval -m m61 -d masked.bin -b 3
check small-has-accuracy py 'import json, sys; a = json.load(open(sys.argv[1]))["accuracy"]; sys.exit(not a > 0.1)' small-auto.json
expect_eq small-doc-attention-reported '"doc_attention":true' "$(grep -o '"doc_attention":[a-z]*' small-auto.json)"

# The same numbers for any batch size: padding never counts.
llm-eval -q -m m61 -d small.bin -b 1 | sed 's/"perplexity":[^,]*,//' >b1.json
llm-eval -q -m m61 -d small.bin -b 7 | sed 's/"perplexity":[^,]*,//' >b7.json
check small-batch-sizes-agree py '
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
sys.exit(not (a["tokens"] == b["tokens"] and a["accuracy"] == b["accuracy"] and abs(a["loss"] - b["loss"]) <= 1e-6 * a["loss"]))' b1.json b7.json

# ---- GPT-2's tokenizer: llm-collate and llm-pack data ------------------------------------
cat "$DATA/sft_chat.jsonl" "$DATA/sft_alpaca.jsonl" >sft.jsonl
llm-collate -q sft.jsonl -o collate.bin
llm-collate -q --pad=max -b 40 sft.jsonl -o collate-pad.bin
llm-collate -q --pack -b 48 sft.jsonl -o collate-pack.bin
# Documents: the README's lines and the fine-tuning answers, GPT-2 tokens.
{ grep -v '^ *$' "$ROOT/README.md" | head -n 60; $PY -c '
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    for m in d.get("messages", []):
        print(m["content"].replace("\n", " "))
    if "output" in d:
        print(d["output"].replace("\n", " "))' sft.jsonl; } | llm-tokenize -q -o docs.bin
llm-pack -q -b 40 --boundaries --remainder=pad docs.bin -o pack-concat.bin
llm-pack -q -b 40 --mode=fit docs.bin -o pack-fit.bin
for d in collate collate-pad collate-pack pack-concat pack-fit; do
    llm-cat -q --to=ids "$d.bin" >"$d.ids"
done
# A context of 32 cuts the longer fine-tuning records (counted, and the reference cuts them too).
"$DRIVER" m50k collate.bin 2 4 32 32 11 3 || fail setup "eval_model_driver m50k"
"$DRIVER" m50k-long collate.bin 1 2 16 64 12 3 || fail setup "eval_model_driver m50k-long"

compare collate m50k collate auto
compare collate-smoothed m50k collate auto -b 3 --label-smoothing=0.2
compare collate-long m50k-long collate auto -b 3
compare collate-pad m50k-long collate-pad auto
compare collate-pack-on m50k-long collate-pack on
compare collate-pack-off m50k-long collate-pack off
compare pack-concat-on m50k-long pack-concat on -b 4
compare pack-concat-off m50k-long pack-concat off
compare pack-fit-on m50k-long pack-fit auto
compare pack-fit-off m50k-long pack-fit off

# ---- the sliding-window perplexity: llm-pack --stride, then llm-eval, against Hugging
# Face's "Perplexity of fixed-length models" loop over the same tokens (each counted once,
# the window's earlier tokens its context), a stride that divides the window, one that does
# not, and none (stride = window, the short tail kept) ----
llm-cat -q --to=ids docs.bin >docs.ids
for w in 64/16 40/7 64/64; do
    name=strided-${w%/*}-${w#*/}
    llm-pack -q -b "${w%/*}" --stride "${w#*/}" docs.bin -o "$name.bin"
    run llm-eval -q -m m50k-long -d "$name.bin" -o "$name.json"
    if [ "$RC" -ne 0 ]; then fail "$name" "$(last_diag)"; continue; fi
    $REF strided m50k-long docs.ids --max-length "${w%/*}" --stride "${w#*/}" --check "$name.json" "$name"
done
