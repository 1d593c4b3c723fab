#!/usr/bin/env bash
# llm-train's refusals and notes that take a one-layer model a step or two (seconds in all;
# tests/cli/train_run.sh has the long runs): the run folder, the options that would do
# nothing, and the data a run would otherwise lose without a word.
. "$(dirname "$0")/lib.sh"
need_programs llm-train

learnable_stream train.bin
ONE=(--n-layer 1 --n-head 1 --n-embd 16 --block-size 40 --micro-batch 4 -q)

# ---- the run folder ----
check one-run llm-train --data train.bin --out run "${ONE[@]}" --max-steps 4 --save-every 2
# a checkpoint folder is not a run folder: resuming there nested a new run inside it
expect_fail resume-in-checkpoint 1 "run/checkpoint-2 is a checkpoint, not a run folder" \
    llm-train --data train.bin --out run/checkpoint-2 "${ONE[@]}" --max-steps 4 --save-every 2 --resume
expect_eq resume-in-checkpoint-untouched "config.json ledger.json model.safetensors optimizer.safetensors trainer_state.json" \
    "$(ls run/checkpoint-2 | tr '\n' ' ' | sed 's/ $//')"
expect_fail fresh-in-checkpoint 1 "--init run/checkpoint-2 starts a new run from it" \
    llm-train --data train.bin --out run/checkpoint-2 "${ONE[@]}" --max-steps 4

# sizes that differ from the folder's name the option typed: --model's preset, or the size
expect_fail resume-preset 1 "--model gpt2-medium has --n-layer 24, but the model of run/checkpoint-4 has 1" \
    llm-train --data train.bin --out run --max-steps 4 --save-every 2 --micro-batch 4 -q --resume --model gpt2-medium
expect_fail init-size 1 "--n-head 2, but the model of run has 1" \
    llm-train --data train.bin --init run --out init --n-head 2 --max-steps 1 -q

# ---- nothing lost silently: --val's records longer than the context are counted as
# llm-eval counts them (8 records of 48 tokens for 40 positions) ----
"$PY" -c '
import json
for i in range(8):
    ids = [(i + k) % 64 for k in range(48)]
    print(json.dumps({"input_ids": ids, "labels": ids}))' >long.jsonl
stream_from_ids long.bin long.jsonl 64 --kind=blocks --eos=63
check val-cut-run llm-train --data train.bin --val long.bin --out longval "${ONE[@]}" --max-steps 2 --eval-every 1
expect_file_has val-cut-counted "long.bin: 8 records longer than the model's context of 40 tokens were cut to it in each evaluation: 64 tokens not evaluated" "$LAST_ERR"

# a --val whose every label is masked has a null val_loss, and says why
"$PY" -c '
import json
for i in range(4):
    ids = [(i + k) % 64 for k in range(40)]
    print(json.dumps({"input_ids": ids, "labels": [-100] * 40}))' >masked.jsonl
stream_from_ids masked.bin masked.jsonl 64 --kind=blocks --eos=63
check val-masked-run llm-train --data train.bin --val masked.bin --out maskedval "${ONE[@]}" --max-steps 2 --eval-every 1
expect_file_has val-masked-noted "masked.bin: no label counts in the loss in the records evaluated (every one masked)" \
    "$LAST_ERR"

# an empty --val is refused as an empty --data is (its evaluations were all null)
: >empty.jsonl
stream_from_ids empty.bin empty.jsonl 64 --kind=blocks
expect_fail empty-val 1 "empty.bin: no tokens to evaluate on" llm-train --data train.bin --val empty.bin \
    --out emptyval "${ONE[@]}" --max-steps 1

# ---- options that would do nothing ----
expect_fail min-lr-constant 2 "--min-lr is where a decay ends; --schedule constant has none" \
    llm-train --data train.bin --out x "${ONE[@]}" --max-steps 1 --schedule constant --min-lr 1e-6
expect_fail min-lr-inverse-sqrt 2 "--schedule inverse_sqrt has none" \
    llm-train --data train.bin --out x "${ONE[@]}" --max-steps 1 --schedule inverse_sqrt --min-lr 1e-6
expect_fail min-lr-above 2 "--min-lr 0.01 is not below --lr 0.001" \
    llm-train --data train.bin --out x "${ONE[@]}" --max-steps 1 --lr 1e-3 --min-lr 1e-2
expect_fail polynomial-lr-end 2 "--min-lr 0.001 is not below --lr 0.001" \
    llm-train --data train.bin --out x "${ONE[@]}" --max-steps 1 --lr 1e-3 --schedule polynomial --min-lr 1e-3
# transformers' constant schedule takes no warmup (get_scheduler drops it): refused, not dropped
expect_fail constant-warmup 2 "--schedule constant has no warmup, as transformers' get_constant_schedule has none; --schedule constant_with_warmup has one" \
    llm-train --data train.bin --out x "${ONE[@]}" --max-steps 1 --schedule constant --warmup-ratio 0.1
expect_fail cycles-of-cosine 2 "--cycles is a setting of --schedule cosine_with_restarts" \
    llm-train --data train.bin --out x "${ONE[@]}" --max-steps 1 --schedule cosine --cycles 2
expect_fail power-of-linear 2 "--power is a setting of --schedule polynomial" \
    llm-train --data train.bin --out x "${ONE[@]}" --max-steps 1 --power 2
expect_fail timescale-of-linear 2 "--timescale is a setting of --schedule inverse_sqrt" \
    llm-train --data train.bin --out x "${ONE[@]}" --max-steps 1 --timescale 20
expect_fail decay-type-of-cosine 2 "--decay-type is a setting of --schedule warmup_stable_decay" \
    llm-train --data train.bin --out x "${ONE[@]}" --max-steps 1 --schedule cosine --decay-type linear
expect_fail decay-type-unknown 2 "--decay-type: expected linear, cosine or 1-sqrt, got 'square'" \
    llm-train --data train.bin --out x "${ONE[@]}" --max-steps 1 --schedule warmup_stable_decay --decay-type square
expect_fail wsd-no-decay 2 "--schedule warmup_stable_decay needs --decay-steps N or --decay-ratio F" \
    llm-train --data train.bin --out x "${ONE[@]}" --max-steps 1 --schedule warmup_stable_decay
expect_fail wsd-decay-both 2 "give --decay-steps or --decay-ratio, not both" \
    llm-train --data train.bin --out x "${ONE[@]}" --max-steps 1 --schedule warmup_stable_decay --decay-steps 1 \
    --decay-ratio 0.5
expect_fail wsd-too-long 1 "--schedule warmup_stable_decay: a warmup of 4 steps and a decay of 7 are more than the run's 10" \
    llm-train --data train.bin --out x "${ONE[@]}" --max-steps 10 --schedule warmup_stable_decay --warmup-steps 4 \
    --decay-steps 7
expect_fail schedule-unknown 2 "--schedule: expected constant, linear, cosine, constant_with_warmup, cosine_with_restarts, polynomial, inverse_sqrt, warmup_stable_decay, reduce_lr_on_plateau or greedy, got 'exponential'" \
    llm-train --data train.bin --out x "${ONE[@]}" --max-steps 1 --schedule exponential

expect_fail patience-no-eval 2 "--patience counts evaluations during the run: it needs --val FILE and --eval-every N" \
    llm-train --data train.bin --val train.bin --out x "${ONE[@]}" --max-steps 1 --patience 2
expect_fail patience-unevaluated-saves 1 "--patience: --save-every 500 is not a multiple of --eval-every 3 (steps)" \
    llm-train --data train.bin --val train.bin --out x "${ONE[@]}" --max-steps 1 --patience 2 --eval-every 3
# an epoch of 96 records is 24 steps of 4
expect_fail patience-unevaluated-saves-epoch 1 "--patience: --save-every 500 is not a multiple of --eval-every 24 (steps)" \
    llm-train --data train.bin --val train.bin --out x "${ONE[@]}" --max-steps 1 --patience 2 --eval-every epoch
expect_fail eval-every-word 2 "--eval-every: expected a count of steps or epoch, got 'often'" \
    llm-train --data train.bin --val train.bin --out x "${ONE[@]}" --eval-every often
expect_fail min-delta-alone 2 "--min-delta is --patience's threshold: give --patience N too" \
    llm-train --data train.bin --val train.bin --out x "${ONE[@]}" --max-steps 1 --eval-every 1 --min-delta 0.1

# sizes no model can have are a usage error that names the options (status 1 before)
expect_fail width-heads 2 "--model, --n-layer, --n-head, --n-embd: width 16 is not a multiple of the 3 heads" \
    llm-train --data train.bin --out x --n-layer 1 --n-head 3 --n-embd 16 --max-steps 1

# --doc-attention=on over records without document starts says it did nothing, as llm-eval does
check doc-on-run llm-train --data long.bin --out docon --n-layer 1 --n-head 1 --n-embd 16 --block-size 48 \
    --max-steps 1 --doc-attention on
expect_file_has doc-on-note "--doc-attention=on: no record taken recorded document starts" "$LAST_ERR"
run llm-train --data train.bin --out docon2 --n-layer 1 --n-head 1 --n-embd 16 --block-size 40 --max-steps 1 \
    --doc-attention on
expect_eq doc-on-no-note-with-starts "0 0" "$RC $(grep -c 'no record taken recorded' "$LAST_ERR")"

# --recompute is taken on the CPU, so that one command serves either device, with a note
check recompute-cpu llm-train --data train.bin --out recompute --n-layer 1 --n-head 1 --n-embd 16 --block-size 40 \
    --micro-batch 4 --max-steps 1 --device cpu --recompute
expect_file_has recompute-cpu-noted "note: --recompute is for the GPU: the CPU keeps every activation" "$LAST_ERR"
