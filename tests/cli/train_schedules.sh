#!/usr/bin/env bash
# llm-train's learning-rate schedules against transformers' get_scheduler, each one's formula
# written out in tests/cli/lr_reference.py and stepped by torch's LambdaLR over a real AdamW:
# every step's lr in the log within 1e-7 relative (the log's 9 digits), for each
# lr_scheduler_type and its scheduler_specific_kwargs; reduce_lr_on_plateau against torch's
# ReduceLROnPlateau stepped with the logged val losses. Then --resume with a schedule changed
# where no step taken has a new rate (a warmup_stable_decay run made longer in its stable
# phase) ends as the longer run straight, and a change that would rewrite a step taken is
# refused by name.
. "$(dirname "$0")/lib.sh"
need_programs llm-train
REF="$PY $CLI_DIR/lr_reference.py"
if ! "$PY" -c 'import torch' 2>/dev/null; then
    skip train-schedules "python3-torch is not installed (make deps)"
    exit 0
fi

learnable_stream train.bin
TINY=(--n-layer 1 --n-head 1 --n-embd 16 --block-size 40 --micro-batch 4 --lr 2e-3 -j1 -q)
# log_numbers LOG: the step lines' step, loss, lr and grad norm (not the timings).
log_numbers() { grep '"loss"' "$1" | sed 's/,"tokens_per_s".*//'; }

# schedule NAME STEPS WARMUP "LLM-TRAIN OPTIONS" KIND [KWARGS...]: a run of STEPS with the
# options, whose warmup comes to WARMUP steps, against transformers' KIND with the kwargs.
schedule() {
    local name=$1 steps=$2 warmup=$3 opts=$4
    shift 4
    # shellcheck disable=SC2086 # the options are words
    run llm-train --data train.bin --out "$name" "${TINY[@]}" --max-steps "$steps" --save-every 0 $opts
    if [ "$RC" -ne 0 ]; then fail "$name" "$(last_diag)"; return; fi
    $REF "$name" "$name/log.jsonl" "$1" "$steps" "$warmup" 2e-3 "${@:2}"
}

schedule linear 30 3 "--warmup-steps 3" linear
schedule cosine-min-lr 30 3 "--schedule cosine --warmup-steps 3 --min-lr 2e-4" cosine_with_min_lr min_lr=2e-4
schedule restarts 30 4 "--schedule cosine_with_restarts --warmup-steps 4 --cycles 3" cosine_with_restarts num_cycles=3
schedule restarts-one 30 0 "--schedule cosine_with_restarts" cosine_with_restarts
schedule polynomial 30 2 "--schedule polynomial --warmup-steps 2 --power 2" polynomial power=2.0
schedule polynomial-end 30 0 "--schedule polynomial --power 0.5 --min-lr 3e-4" polynomial power=0.5 lr_end=3e-4
schedule inverse-sqrt 30 5 "--schedule inverse_sqrt --warmup-steps 5" inverse_sqrt
schedule inverse-sqrt-timescale 30 0 "--schedule inverse_sqrt --timescale 7" inverse_sqrt timescale=7
schedule inverse-sqrt-default 30 0 "--schedule inverse_sqrt" inverse_sqrt
schedule constant 30 0 "--schedule constant" constant
schedule constant-warmup 30 3 "--schedule constant_with_warmup --warmup-ratio 0.1" constant_with_warmup
schedule wsd 30 4 "--schedule warmup_stable_decay --warmup-steps 4 --decay-steps 10 --min-lr 3e-4" \
    warmup_stable_decay num_decay_steps=10 min_lr_ratio=0.15
schedule wsd-shapes 30 3 "--schedule warmup_stable_decay --warmup-ratio 0.1 --decay-ratio 0.3 --warmup-type 1-sqrt --decay-type linear" \
    warmup_stable_decay num_decay_steps=9 warmup_type=1-sqrt decay_type=linear
schedule wsd-cosine-warmup 30 6 "--schedule warmup_stable_decay --warmup-steps 6 --decay-steps 24 --warmup-type cosine --decay-type 1-sqrt" \
    warmup_stable_decay num_decay_steps=24 warmup_type=cosine decay_type=1-sqrt

# The reference must catch a wrong rate: the linear run's log against the cosine's formula.
"$PY" "$CLI_DIR/lr_reference.py" wrong linear/log.jsonl cosine 30 3 2e-3 | grep -q '^FAIL wrong: step 5' &&
    pass reference-catches-a-wrong-rate || fail reference-catches-a-wrong-rate "the linear log passed as cosine"

# ---- warmup_stable_decay made longer on --resume while stable: 16 steps stopped at 5 and
# resumed as 24 end as 24 straight (its decay of 4 now starts at 20, not 12) ----
WSD=(--schedule warmup_stable_decay --warmup-steps 2 --decay-steps 4 --save-every 5)
check wsd-straight llm-train --data train.bin --out wsd24 "${TINY[@]}" "${WSD[@]}" --max-steps 24
LLM_TRAIN_TEST_PAUSE_AFTER_SAVE=60 llm-train --data train.bin --out wsd16 "${TINY[@]}" "${WSD[@]}" \
    --max-steps 16 2>/dev/null &
pid=$!
for _ in $(seq 600); do [ "$(cat wsd16/latest 2>/dev/null)" = checkpoint-5 ] && break; sleep 0.05; done
kill -TERM $pid
wait $pid
expect_eq wsd-stopped 130 $?
expect_fail wsd-decay-moved-back 1 "--resume: the decay has 13 steps now but 4 in the checkpoint, which changes the learning rate of step 5, taken already, from 0.002 to 0.00197" \
    llm-train --data train.bin --out wsd16 "${TINY[@]}" "${WSD[@]:0:4}" --decay-steps 13 --save-every 5 --max-steps 16 --resume
expect_fail wsd-warmup-changed 1 "--resume: the warmup has 3 steps now but 2 in the checkpoint, which changes the learning rate of step 2" \
    llm-train --data train.bin --out wsd16 "${TINY[@]}" "${WSD[@]}" --warmup-steps 3 --max-steps 16 --resume
check wsd-longer llm-train --data train.bin --out wsd16 "${TINY[@]}" "${WSD[@]}" --max-steps 24 --resume
expect_same_file wsd-longer-weights wsd24/checkpoint-24/model.safetensors wsd16/checkpoint-24/model.safetensors
expect_eq wsd-longer-log "$(log_numbers wsd24/log.jsonl)" "$(log_numbers wsd16/log.jsonl)"
expect_file_has wsd-state-kwargs '"decay_steps": 4, "warmup_type": "linear", "decay_type": "cosine"' \
    wsd24/checkpoint-24/trainer_state.json

# ---- reduce_lr_on_plateau: torch's ReduceLROnPlateau itself, stepped after each evaluation
# with the logged val loss, as Trainer steps it. The val set is noise, whose loss stops
# falling soon; resumed from step 10 the run ends as the straight one ----
"$PY" -c '
import json, random
random.seed(1)
for _ in range(16):
    print(json.dumps({"input_ids": [random.randrange(63) for _ in range(40)]}))' >noise.jsonl
stream_from_ids noise.bin noise.jsonl 64 --kind=blocks --eos=63
PLATEAU=(--val noise.bin --eval-every 2 --schedule reduce_lr_on_plateau --plateau-patience 1
         --plateau-factor 0.5 --plateau-threshold 0.001 --plateau-cooldown 1 --min-lr 3e-4)
schedule plateau 30 0 "${PLATEAU[*]}" reduce_lr_on_plateau factor=0.5 patience=1 threshold=0.001 \
    cooldown=1 min_lr=3e-4
check plateau-short llm-train --data train.bin --out plateau10 "${TINY[@]}" "${PLATEAU[@]}" --max-steps 10 \
    --save-every 10
check plateau-longer llm-train --data train.bin --out plateau10 "${TINY[@]}" "${PLATEAU[@]}" --max-steps 30 \
    --save-every 10 --resume
expect_eq plateau-longer-log "$(log_numbers plateau/log.jsonl)" "$(log_numbers plateau10/log.jsonl)"
expect_same_file plateau-longer-weights plateau/checkpoint-30/model.safetensors \
    plateau10/checkpoint-30/model.safetensors
expect_fail plateau-factor-changed 1 "--resume: --plateau-factor is 0.25 now but 0.5 in the checkpoint, and the rates of the steps taken followed the checkpoint's" \
    llm-train --data train.bin --out plateau10 "${TINY[@]}" "${PLATEAU[@]}" --plateau-factor 0.25 --max-steps 40 \
    --save-every 10 --resume
expect_fail plateau-warmup 2 "--schedule reduce_lr_on_plateau has no warmup" \
    llm-train --data train.bin --out x "${TINY[@]}" "${PLATEAU[@]}" --warmup-steps 2 --max-steps 4
expect_fail plateau-no-eval 2 "--schedule reduce_lr_on_plateau moves the rate after evaluations: it needs --val FILE and --eval-every N" \
    llm-train --data train.bin --out x "${TINY[@]}" --schedule reduce_lr_on_plateau --max-steps 4
expect_fail plateau-setting-alone 2 "--plateau-cooldown is a setting of --schedule reduce_lr_on_plateau" \
    llm-train --data train.bin --out x "${TINY[@]}" --plateau-cooldown 2 --max-steps 4

# ---- greedy: transformers' GreedyLR, written out in lr_reference.py, stepped after each
# evaluation with the logged val loss: the rate rises while the noise's loss falls, falls
# when it stops, reaches --min-lr and starts over; every kwarg set. Resumed from step 20
# (the smoothing window and counters in the checkpoint) the run ends as the straight one ----
GREEDY=(--val noise.bin --eval-every 2 --schedule greedy --greedy-patience 0 --greedy-factor 0.5
        --greedy-threshold 0.002 --greedy-threshold-mode abs --greedy-cooldown 1 --greedy-warmup 1
        --min-lr 5e-4 --max-lr 4e-3 --greedy-smooth 2 --greedy-reset 2)
schedule greedy 60 0 "${GREEDY[*]}" greedy factor=0.5 patience=0 threshold=0.002 threshold_mode=abs \
    cooldown=1 warmup=1 min_lr=5e-4 max_lr=4e-3 smooth=True window_size=2 reset_start=2
check greedy-short llm-train --data train.bin --out greedy20 "${TINY[@]}" "${GREEDY[@]}" --max-steps 20 \
    --save-every 20
check greedy-longer llm-train --data train.bin --out greedy20 "${TINY[@]}" "${GREEDY[@]}" --max-steps 60 \
    --save-every 20 --resume
expect_eq greedy-longer-log "$(log_numbers greedy/log.jsonl)" "$(log_numbers greedy20/log.jsonl)"
expect_file_has greedy-state-kwargs '"factor": 0.5, "threshold": 0.002, "threshold_mode": "abs", "patience": 0, "cooldown": 1, "warmup": 1, "max_lr": 0.004, "smooth": true, "window_size": 2, "reset_start": 2' \
    greedy20/checkpoint-20/trainer_state.json
expect_fail greedy-changed 1 "--resume: --greedy-smooth is 3 now but 2 in the checkpoint" \
    llm-train --data train.bin --out greedy20 "${TINY[@]}" "${GREEDY[@]}" --greedy-smooth 3 --max-steps 80 --resume
schedule greedy-rel 30 0 "--val noise.bin --eval-every 2 --schedule greedy --greedy-patience 0 --greedy-threshold 0.01 \
    --greedy-threshold-mode rel --min-lr 1e-4" greedy patience=0 threshold=0.01 threshold_mode=rel min_lr=1e-4
expect_stderr_has greedy-floor-above "greedy: --min-lr 0.001 (GreedyLR's floor, 1e-3 unless given) is not below --lr 5e-05" \
    llm-train --data train.bin --out greedy-default --n-layer 1 --n-head 1 --n-embd 16 --block-size 40 \
    --val noise.bin --eval-every 2 --schedule greedy --max-steps 2
expect_fail greedy-warmup-steps 2 "--schedule greedy has no warmup" \
    llm-train --data train.bin --out x "${TINY[@]}" "${GREEDY[@]}" --warmup-steps 2 --max-steps 4
expect_fail greedy-no-eval 2 "--schedule greedy moves the rate after evaluations: it needs --val FILE and --eval-every N" \
    llm-train --data train.bin --out x "${TINY[@]}" --schedule greedy --max-steps 4
expect_fail greedy-setting-alone 2 "--max-lr is a setting of --schedule greedy" \
    llm-train --data train.bin --out x "${TINY[@]}" --max-lr 1 --max-steps 4
expect_fail greedy-window-range 2 "--greedy-smooth: expected 1 to 256, got '257'" \
    llm-train --data train.bin --out x "${TINY[@]}" "${GREEDY[@]}" --greedy-smooth 257 --max-steps 4
