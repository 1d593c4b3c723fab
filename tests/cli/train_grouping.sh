#!/usr/bin/env bash
# llm-train --group-by-length against Trainer's group_by_length: transformers'
# get_length_grouped_indices, transcribed in tests/cli/group_reference.py, applied to the
# shuffled order a plain run takes, must give the records of each step (read from the tokens
# the log's steps add; every record's length differs). The batch it groups for is a step's
# (micro-batch x grad-accum); the grouping is saved, a resumed run ends as a straight one, and
# a resume that changes it is refused. The padding report shows what it saves.
. "$(dirname "$0")/lib.sh"
need_programs llm-train llm-cat
REF="$PY $CLI_DIR/group_reference.py"

# 60 records of lengths 3 to 62 in a random order, random tokens.
"$PY" - >lengths.jsonl <<'PYEOF'
import json, random
r = random.Random(3)
lengths = list(range(3, 63))
r.shuffle(lengths)
for n in lengths:
    print(json.dumps({"input_ids": [r.randrange(32) for _ in range(n)]}))
PYEOF
stream_from_ids train.bin lengths.jsonl 32 --kind=blocks --eos=31
TINY=(--data train.bin --n-layer 1 --n-head 1 --n-embd 16 --block-size 64 --schedule constant --lr 1e-3
      --save-every 0 -j1)

check plain-one-a-step llm-train "${TINY[@]}" --out plain --micro-batch 1 --epochs 2 -q
check grouped-one-a-step llm-train "${TINY[@]}" --out g1 --micro-batch 1 --epochs 2 --group-by-length -q
$REF one-a-step plain/log.jsonl g1/log.jsonl 1 60
check grouped-2x3 llm-train "${TINY[@]}" --out g6 --micro-batch 2 --grad-accum 3 --epochs 2 --group-by-length
cp "$LAST_ERR" g6.err
$REF two-by-three plain/log.jsonl g6/log.jsonl 6 60
# The reference must catch a wrong batch: the run groups for a step's 6 records, not a pass's 2.
$REF wrong-batch plain/log.jsonl g6/log.jsonl 6 60 2 | grep -q '^FAIL wrong-batch: step' &&
    pass reference-catches-a-wrong-batch || fail reference-catches-a-wrong-batch "batches of 2 passed"

# Padding: the same batches without grouping pad far more, and the report says what helps.
check plain-2x3 llm-train "${TINY[@]}" --out p6 --micro-batch 2 --grad-accum 3 --epochs 2
cp "$LAST_ERR" p6.err
padding_of() { sed -n 's/.*padding: \([0-9.]*\)%.*/\1/p' "$1"; }
grouped_pad=$(padding_of g6.err) plain_pad=$(padding_of p6.err)
awk -v g="$grouped_pad" -v p="$plain_pad" 'BEGIN { exit !(g > 0 && 2 * g < p) }' &&
    pass padding-halved || fail padding-halved "padding ${grouped_pad}% grouped, ${plain_pad}% plain"
expect_file_has plain-padding-hint "takes records of like lengths together" p6.err
grep -q "like lengths" g6.err && fail grouped-no-hint "$(cat g6.err)" || pass grouped-no-hint

# Resumed mid-epoch (step 13 of 20, epoch 2), the run ends as a straight one: weights and log.
check straight-20 llm-train "${TINY[@]}" --out s20 --micro-batch 2 --grad-accum 3 --max-steps 20 --group-by-length -q
check first-13 llm-train "${TINY[@]}" --out r20 --micro-batch 2 --grad-accum 3 --max-steps 13 --group-by-length -q
check resumed-to-20 llm-train "${TINY[@]}" --out r20 --micro-batch 2 --grad-accum 3 --max-steps 20 --group-by-length \
    --resume -q
expect_same_file resumed-weights s20/checkpoint-20/model.safetensors r20/checkpoint-20/model.safetensors
numbers() { grep '"lr"' "$1" | sed 's/,"tokens_per_s".*//'; }
expect_eq resumed-log "$(numbers s20/log.jsonl)" "$(numbers r20/log.jsonl)"
expect_file_has state-says-grouped '"group_by_length": ["0x0000000000000001"]' r20/checkpoint-20/trainer_state.json
expect_fail resume-without-grouping 1 "was made with --group-by-length; resume it with it" \
    llm-train "${TINY[@]}" --out r20 --micro-batch 2 --grad-accum 3 --max-steps 30 --resume -q
expect_fail resume-with-grouping 1 "was made without --group-by-length; resume it without it" \
    llm-train "${TINY[@]}" --out plain --micro-batch 1 --epochs 3 --resume --group-by-length -q
