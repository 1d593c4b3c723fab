#!/usr/bin/env bash
# llm-train end to end on tiny models: a run killed (SIGKILL) after a checkpoint and resumed
# ends with the same bytes as one that never stopped, and so does one stopped by SIGTERM;
# the same -j gives the same bytes; the log, the chart and --keep; --init with vocabulary
# growth; the loss falls on learnable data; and every refusal (data, run folder, changed
# settings, corrupt checkpoints) is a clear message.
. "$(dirname "$0")/lib.sh"
need_programs llm-train

learnable_stream train.bin
head -n 16 blocks.jsonl >val.jsonl
stream_from_ids val.bin val.jsonl 64 --kind=blocks --eos=63
TINY=(--n-layer 2 --n-head 2 --n-embd 32 --block-size 40 --micro-batch 4 --lr 3e-3 --warmup-steps 3
      --schedule cosine --weight-decay 0.1 --grad-accum 2 -q)

# log_numbers LOG: the step lines' step, loss, lr and grad norm (not the timings).
log_numbers() { grep '"loss"' "$1" | sed 's/,"tokens_per_s".*//'; }

# ---- resume: 20 steps in one run == 10, SIGKILL, --resume to 20 ----
check straight-run llm-train --data train.bin --val val.bin --out straight "${TINY[@]}" --max-steps 20 \
    --save-every 10 --eval-every 10 -j2
LLM_TRAIN_TEST_PAUSE_AFTER_SAVE=60 llm-train --data train.bin --val val.bin --out killed "${TINY[@]}" \
    --max-steps 20 --save-every 10 --eval-every 10 -j2 2>/dev/null &
pid=$!
for _ in $(seq 600); do [ "$(cat killed/latest 2>/dev/null)" = checkpoint-10 ] && break; sleep 0.05; done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
if [ "$(cat killed/latest 2>/dev/null)" = checkpoint-10 ] && ! [ -d killed/checkpoint-20 ]; then
    pass killed-after-checkpoint-10
else
    fail killed-after-checkpoint-10 "latest: $(cat killed/latest 2>/dev/null)" "$(ls killed 2>&1)"
fi
check resume-run llm-train --data train.bin --val val.bin --out killed "${TINY[@]}" --max-steps 20 \
    --save-every 10 --eval-every 10 -j2 --resume
expect_same_file resume-weights straight/checkpoint-20/model.safetensors killed/checkpoint-20/model.safetensors
expect_same_file resume-moments straight/checkpoint-20/optimizer.safetensors killed/checkpoint-20/optimizer.safetensors
expect_eq resume-log "$(log_numbers straight/log.jsonl)" "$(log_numbers killed/log.jsonl)"
expect_eq resume-val "$(grep -o '"val_loss":[^,]*' straight/log.jsonl)" "$(grep -o '"val_loss":[^,]*' killed/log.jsonl)"

# ---- SIGTERM: the current step ends (here the pause after checkpoint-5), a checkpoint is
# saved unless it just was, status 130; --resume goes on ----
LLM_TRAIN_TEST_PAUSE_AFTER_SAVE=60 llm-train --data train.bin --val val.bin --out termed "${TINY[@]}" \
    --max-steps 20 --save-every 5 --eval-every 10 -j2 2>term.err &
pid=$!
for _ in $(seq 600); do [ "$(cat termed/latest 2>/dev/null)" = checkpoint-5 ] && break; sleep 0.05; done
kill -TERM $pid
wait $pid
expect_eq sigterm-status 130 $?
expect_file_has sigterm-message "stopped at step 5; --resume continues" term.err
check sigterm-resume llm-train --data train.bin --val val.bin --out termed "${TINY[@]}" --max-steps 20 \
    --save-every 5 --eval-every 10 -j2 --resume
expect_same_file sigterm-weights straight/checkpoint-20/model.safetensors termed/checkpoint-20/model.safetensors

# ---- the constant schedule's length sets no learning rate: 6 steps, then --resume to 12, ends
# as 12 straight; a decaying schedule refuses a new length that changes a step taken ----
CONST=(--n-layer 2 --n-head 2 --n-embd 32 --block-size 40 --micro-batch 4 --lr 3e-3 --warmup-steps 3
       --schedule constant_with_warmup --grad-accum 2 -j2 -q)
check constant-straight llm-train --data train.bin --out const12 "${CONST[@]}" --max-steps 12
check constant-short llm-train --data train.bin --out const6 "${CONST[@]}" --max-steps 6
check constant-longer llm-train --data train.bin --out const6 "${CONST[@]}" --max-steps 12 --resume
expect_same_file constant-longer-weights const12/checkpoint-12/model.safetensors \
    const6/checkpoint-12/model.safetensors
expect_eq constant-longer-log "$(log_numbers const12/log.jsonl)" "$(log_numbers const6/log.jsonl)"
# (CONST without its last word, -q: the message is a progress line)
expect_stderr_has resume-finished "const6: the run ended at step 12 already: nothing to do" \
    llm-train --data train.bin --out const6 "${CONST[@]:0:${#CONST[@]}-1}" --max-steps 12 --resume
expect_fail resume-past-the-end 1 "the checkpoint is at step 12, so a run of 8 steps has nothing left to do" \
    llm-train --data train.bin --out const6 "${CONST[@]}" --max-steps 8 --resume
expect_fail resume-longer-cosine 1 "the run has 30 steps now but 20 in the checkpoint, which changes the learning rate of step 5, taken already, from 0.00297445965 to 0.00298985754" \
    llm-train --data train.bin --out straight "${TINY[@]}" --max-steps 30 --resume

# ---- best: the saved checkpoint of the lowest val loss, as Trainer's best_model_checkpoint.
# The val set is noise, whose loss rises as the model learns the training data; step 2 is
# evaluated but not saved, so it cannot be best. --keep 1 keeps it beside the latest, and a
# run resumed from step 8 ends with the same best as the straight one ----
py '
import json, random
random.seed(1)
for _ in range(16):
    print(json.dumps({"input_ids": [random.randrange(63) for _ in range(40)]}))' >noise.jsonl
stream_from_ids noise.bin noise.jsonl 64 --kind=blocks --eos=63
BEST=(--data train.bin --val noise.bin "${CONST[@]}" --eval-every 2 --save-every 4 --keep 1)
check best-run llm-train "${BEST[@]}" --out best --max-steps 12
want=$(py '
import json, sys
evals = [e for e in map(json.loads, open(sys.argv[1])) if "val_loss" in e and e["step"] % 4 == 0]
print("checkpoint-%d" % min(evals, key=lambda e: e["val_loss"])["step"])' best/log.jsonl)
expect_eq best-link "$want" "$(readlink best/best)"
expect_eq best-kept "$want checkpoint-12" "$(cd best && ls -d checkpoint-* | sort -t- -k2 -n | paste -sd' ')"
expect_eq best-state "${want#checkpoint-}" \
    "$(py 'import json, sys; print(json.load(open(sys.argv[1]))["best_step"])' best/checkpoint-12/trainer_state.json)"
check best-eval llm-eval -q --model best/best --data noise.bin -o best-eval.json
# llm-eval of best/ gives the val loss logged at its step (1e-6: another batch order of the sums)
expect_eq best-eval-loss ok "$(py '
import json, sys
step = int(sys.argv[1])
logged = next(e["val_loss"] for e in map(json.loads, open(sys.argv[2])) if e["step"] == step and "val_loss" in e)
got = json.load(open(sys.argv[3]))["loss"]
print("ok" if abs(got - logged) < 1e-6 else "%r != %r" % (got, logged))' "${want#checkpoint-}" best/log.jsonl best-eval.json)"
check best-short llm-train "${BEST[@]}" --out best8 --max-steps 8
check best-resumed llm-train "${BEST[@]}" --out best8 --max-steps 12 --resume
expect_eq best-resumed-link "$want" "$(readlink best8/best)"

# ---- --patience: stop when that many evaluations in a row have not lowered the best val loss
# by more than --min-delta, by EarlyStoppingCallback's rule run over the log of a run without
# it. The learnable val set's loss falls by less than 0.08 now and then, so the count starts
# over before it stops. The stop is saved; --resume under the same --patience has nothing to do,
# and a larger one goes on as if the run had never stopped ----
# early_stop LOG PATIENCE DELTA: the step EarlyStoppingCallback stops at over LOG's evaluations
early_stop() {
    py '
import json, sys
patience, delta = int(sys.argv[2]), float(sys.argv[3])
best, count = None, 0
for e in (e for e in map(json.loads, open(sys.argv[1])) if "val_loss" in e):
    count = 0 if best is None or (e["val_loss"] < best and abs(e["val_loss"] - best) > delta) else count + 1
    best = e["val_loss"] if best is None else min(best, e["val_loss"])
    if count >= patience:
        sys.exit(print(e["step"]))
print("none")' "$@"
}
PAT=(--data train.bin --val val.bin "${CONST[@]:0:${#CONST[@]}-1}" --eval-every 2 --save-every 4 --max-steps 40)
check patience-none llm-train "${PAT[@]}" -q --out nopat
stop=$(early_stop nopat/log.jsonl 2 0.08)
check patience-run llm-train "${PAT[@]}" -q --patience 2 --min-delta 0.08 --out pat
expect_eq patience-stop "checkpoint-$stop" "$(cat pat/latest)"
expect_file_has patience-message "early stop at step $stop of 40: 2 evaluations in a row did not lower the best val loss by more than 0.08" "$LAST_ERR"
expect_eq patience-log "$(log_numbers nopat/log.jsonl | head -n "$stop")" "$(log_numbers pat/log.jsonl)"
# (without -q: the message is a progress line)
expect_stderr_has patience-resume-same "pat: --patience 2 stopped the run at step $stop already: nothing to do" \
    llm-train "${PAT[@]}" --patience 2 --min-delta 0.08 --out pat --resume
stop3=$(early_stop nopat/log.jsonl 3 0.08)
check patience-resume-more llm-train "${PAT[@]}" -q --patience 3 --min-delta 0.08 --out pat --resume
expect_eq patience-resume-more-stop "checkpoint-$stop3" "$(cat pat/latest)"
expect_eq patience-resume-more-log "$(log_numbers nopat/log.jsonl | head -n "$stop3")" "$(log_numbers pat/log.jsonl)"
# every evaluation lowers it: no early stop
expect_eq patience-falling none "$(early_stop nopat/log.jsonl 2 0)"
check patience-no-stop llm-train "${PAT[@]}" -q --patience 2 --out patall
expect_eq patience-no-stop-latest checkpoint-40 "$(cat patall/latest)"

# ---- --eval-every epoch, --save-every epoch: at each epoch's end (96 records, 4 rows a pass,
# 2 passes a step: 12 steps), as Trainer's "epoch" strategies, and at the end of 2.5 epochs ----
check epoch-run llm-train --data train.bin --val val.bin "${CONST[@]}" --epochs 2.5 --eval-every epoch \
    --save-every epoch --out epochs
expect_eq epoch-evals "12 1 24 2 30 2.5" \
    "$(py 'import json, sys; print(" ".join("%d %g" % (e["step"], e["epoch"]) for e in map(json.loads, open(sys.argv[1])) if "val_loss" in e))' epochs/log.jsonl)"
expect_eq epoch-saves "checkpoint-12 checkpoint-24 checkpoint-30" \
    "$(cd epochs && ls -d checkpoint-* | sort -t- -k2 -n | paste -sd' ')"

# ---- the same thread count, the same bytes; another count, nearly the same numbers ----
check rerun llm-train --data train.bin --val val.bin --out again "${TINY[@]}" --max-steps 20 --save-every 10 \
    --eval-every 10 -j2
expect_same_file same-threads straight/checkpoint-20/model.safetensors again/checkpoint-20/model.safetensors
check one-thread llm-train --data train.bin --out one "${TINY[@]}" --max-steps 20 -j1
got=$("$PY" -c '
import json, sys
a = [json.loads(l)["loss"] for l in open(sys.argv[1]) if "\"loss\"" in l]
b = [json.loads(l)["loss"] for l in open(sys.argv[2]) if "\"loss\"" in l]
print("close" if len(a) == len(b) == 20 and max(abs(x - y) / abs(x) for x, y in zip(a, b)) < 1e-4 else (a, b))
' straight/log.jsonl one/log.jsonl)
expect_eq threads-close close "$got"

# ---- the log, the chart, the checkpoints ----
got=$("$PY" -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
steps = [l for l in lines if "loss" in l]
evals = [l for l in lines if "val_loss" in l]
need = {"step", "epoch", "tokens", "loss", "lr", "grad_norm", "tokens_per_s", "elapsed_s"}
ok = [s["step"] for s in steps] == list(range(1, 21)) and all(need <= set(s) for s in steps)
ok = ok and [e["step"] for e in evals] == [10, 20] and all(
    abs(e["val_perplexity"] - __import__("math").exp(e["val_loss"])) < 1e-3 * e["val_perplexity"] for e in evals)
ok = ok and steps[0]["lr"] == 0 and steps[-1]["loss"] < steps[0]["loss"] - 0.5
print("ok" if ok else lines)' straight/log.jsonl)
expect_eq log-lines ok "$got"
expect_file_has loss-chart '<svg' straight/loss.svg
expect_eq checkpoint-files "config.json ledger.json model.safetensors optimizer.safetensors trainer_state.json" \
    "$(ls straight/checkpoint-20 | tr '\n' ' ' | sed 's/ $//')"
expect_eq config-vocab '"vocab_size": 64' "$(grep -o '"vocab_size": [0-9]*' straight/checkpoint-20/config.json)"
(umask 027 && llm-train --data train.bin --out modes "${TINY[@]}" --max-steps 1 2>/dev/null)
expect_eq checkpoint-mode "750 640" "$(stat -c %a modes/checkpoint-1) $(stat -c %a modes/checkpoint-1/config.json)"
check keep-run llm-train --data train.bin --out kept "${TINY[@]}" --max-steps 12 --save-every 3 --keep 2
expect_eq keep "checkpoint-12 checkpoint-9 latest log.jsonl loss.svg" "$(ls kept | tr '\n' ' ' | sed 's/ $//')"

# ---- --epochs as Trainer's loop: 10 records in micro-batches of 4, 2 a step, are the steps
# [4 4] [2] an epoch (never a micro-batch across two epochs), so 3 epochs are 6 steps that
# end at epoch 3 having seen every token 3 times; 1.5 epochs are ceil(1.5 x 2) = 3 steps ----
head -n 10 blocks.jsonl >ten.jsonl
stream_from_ids ten.bin ten.jsonl 64 --kind=blocks --eos=63
ten_tokens=$("$PY" -c 'import json, sys; print(sum(len(json.loads(l)["input_ids"]) for l in open(sys.argv[1])))' ten.jsonl)
# epoch_walk LOG: each step's epoch and tokens, as "1:0.8:N ..."
epoch_walk() { "$PY" -c '
import json, sys
print(" ".join("%d:%g:%d" % (l["step"], l["epoch"], l["tokens"]) for l in map(json.loads, open(sys.argv[1])) if "loss" in l))' "$1"; }
check epochs-run llm-train --data ten.bin --out ep3 "${TINY[@]}" --epochs 3
walk=$(epoch_walk ep3/log.jsonl)
expect_eq epochs-steps "6 3 $((3 * ten_tokens))" "$(echo "$walk" | awk '{ n = split($NF, a, ":"); print NF, a[2], a[3] }')"
expect_eq epochs-boundaries "2:1 4:2 6:3" "$(echo "$walk" | tr ' ' '\n' | awk -F: '$2 == int($2) { printf "%s%d:%d", sep, $1, $2; sep = " " }')"
check epochs-one-pass llm-train --data ten.bin --out ep8 "${TINY[@]}" --micro-batch 8 --grad-accum 1 --epochs 3
expect_eq epochs-same-tokens "$(echo "$walk" | tr ' ' '\n' | cut -d: -f2,3 | sed -n '2p;4p;6p')" \
    "$(epoch_walk ep8/log.jsonl | tr ' ' '\n' | cut -d: -f2,3 | sed -n '2p;4p;6p')"
check epochs-fraction llm-train --data ten.bin --out ep15 "${TINY[@]}" --epochs 1.5
expect_eq epochs-fraction-steps 3 "$(grep -c '"loss"' ep15/log.jsonl)"

# ---- the loss falls: 150 steps on the counting data end far below ln 64 = 4.16 ----
check learn-run llm-train --data train.bin --val val.bin --out learn "${TINY[@]}" --max-steps 150 --eval-every 150
got=$("$PY" -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
first = [l["loss"] for l in lines if "loss" in l][0]
val = [l["val_loss"] for l in lines if "val_loss" in l][-1]
print("ok" if first > 3.9 and val < 2.5 else (first, val))' learn/log.jsonl)
expect_eq loss-falls ok "$got"

# ---- --init: a new run from a checkpoint, the vocabulary grown to the data's ----
sed 's/"input_ids":\[/"input_ids":[70,/; s/"labels":\[/"labels":[70,/' blocks.jsonl | "$PY" -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    r.pop("doc_starts", None)
    print(json.dumps(r, separators=(",", ":")))' >grown.jsonl
stream_from_ids grown.bin grown.jsonl 72 --kind=blocks --eos=63
expect_stderr_has init-grow "growing the vocabulary from 64 to 72 tokens" \
    llm-train --data grown.bin --init straight --out grown --max-steps 2 --micro-batch 4
expect_eq init-vocab '"vocab_size": 72' "$(grep -o '"vocab_size": [0-9]*' grown/checkpoint-2/config.json)"
# another encoding's stream is not growth, whatever its vocabulary (here named gpt2 vs cl100k_base)
stream_from_ids named.bin blocks.jsonl 64 --kind=blocks --eos=63 --tokenizer=gpt2 --tokenizer-hash=xxh3:1
check init-named llm-train --data named.bin --out named "${TINY[@]}" --max-steps 1
stream_from_ids other.bin grown.jsonl 72 --kind=blocks --eos=63 --tokenizer=cl100k_base --tokenizer-hash=xxh3:2
expect_fail init-other-encoding 1 "tokenized with cl100k_base, but the model was trained on gpt2; a larger" \
    llm-train --data other.bin --init named --out other --max-steps 1
stream_from_ids added.bin grown.jsonl 72 --kind=blocks --eos=63 --tokenizer=gpt2 --tokenizer-hash=xxh3:3
expect_stderr_has init-added "growing the vocabulary from 64 to 72 tokens" \
    llm-train --data added.bin --init named --out added --max-steps 1
expect_fail init-sizes 1 "--n-layer 3, but the model of straight has 2" llm-train --data train.bin --init straight --out x --n-layer 3

# ---- nothing lost silently: records cut to the context are counted (here 48 tokens for 40
# positions, 8 records a step); steps whose every label is masked are counted; a loss that
# is not finite ends the run ----
"$PY" -c '
import json
for i in range(8):
    ids = [(i + k) % 64 for k in range(48)]
    print(json.dumps({"input_ids": ids, "labels": ids if i < 4 else [-100] * 48}))' >long.jsonl
stream_from_ids long.bin long.jsonl 64 --kind=blocks --eos=63
expect_stderr_has cut-counted "16 records taken were longer than the model's context of 40 tokens and cut to it: 128 tokens not trained on" \
    llm-train --data long.bin --out long "${TINY[@]}" --micro-batch 8 --grad-accum 1 --max-steps 2 --seed 1
"$PY" -c 'import json; print(json.dumps({"input_ids": list(range(30)), "labels": [-100] * 30}))' >masked.jsonl
stream_from_ids masked.bin masked.jsonl 64 --kind=blocks --eos=63
expect_stderr_has uncounted-steps "3 of 3 steps had no counted label" \
    llm-train --data masked.bin --out masked "${TINY[@]}" --max-steps 3
expect_eq uncounted-log-null 3 "$(grep -c '"loss":null' masked/log.jsonl)"
cp -r straight/checkpoint-20 nan
"$PY" -c '
import json, struct, sys
f = open(sys.argv[1], "r+b")
n = struct.unpack("<Q", f.read(8))[0]
f.seek(8 + n + json.loads(f.read(n))["transformer.wte.weight"]["data_offsets"][0])
f.write(struct.pack("<f", float("nan")))' nan/model.safetensors
expect_fail nan-stops 1 "step 1: the loss is nan, so training stops" llm-train --data train.bin --init nan \
    --out nanrun --max-steps 3
expect_eq nan-no-checkpoint "" "$(ls nanrun 2>/dev/null | grep checkpoint)"

# ---- refusals ----
llm-cat -q --from=ids --vocab-size=64 -o docs.bin blocks.jsonl
expect_fail docs-stream 1 "a docs stream; training data is blocks" llm-train --data docs.bin --out x
expect_fail stdin-data 1 "standard input" llm-train --data - --out x
: >empty.jsonl
stream_from_ids empty.bin empty.jsonl 64 --kind=blocks
expect_fail empty-data 1 "empty.bin: no tokens to train on" llm-train --data empty.bin --out x
expect_fail missing-data 1 "nothing.bin" llm-train --data nothing.bin --out x
expect_fail run-exists 1 "holds a run already" llm-train --data train.bin --out straight "${TINY[@]}"
expect_fail resume-nothing 1 "holds no checkpoint" llm-train --data train.bin --out empty --resume
expect_fail resume-changed 1 "--lr is 0.001 now but 0.003" llm-train --data train.bin --out killed \
    "${TINY[@]}" --max-steps 20 --lr 1e-3 --resume
expect_fail resume-doc-attention 1 "--doc-attention is off now but on in the checkpoint" llm-train \
    --data train.bin --out killed "${TINY[@]}" --max-steps 20 --doc-attention off --resume
expect_fail resume-other-data 1 "not the data this run was trained on" llm-train --data val.bin --out killed \
    "${TINY[@]}" --max-steps 20 --resume
"$PY" -c 'import numpy as np, sys; (np.arange(64 * 1024) % 50257).astype(np.uint16).tofile(sys.argv[1])' wide.raw
llm-cat -q --from=raw --vocab-size=50257 --kind=blocks --block-size=1024 wide.raw -o wide.bin
expect_fail cpu-rows 1 "--micro-batch 64: on the CPU a pass takes at most 41 rows of 1024 tokens" \
    llm-train --device cpu --data wide.bin --out wide --n-layer 1 --n-head 1 --n-embd 8 --block-size 1024 \
    --micro-batch 64 --max-steps 1
expect_fail usage-no-out 2 "--out DIR is required" llm-train --data train.bin
expect_fail usage-both-warmups 2 "not both" llm-train --data train.bin --out x --warmup-steps 2 --warmup-ratio 0.1
expect_fail usage-bad-lr 2 "--lr" llm-train --data train.bin --out x --lr fast
expect_fail usage-eval-no-val 2 "evaluate --val FILE, which is not given" llm-train --data train.bin --out x \
    --eval-every 5

# ---- --label-smoothing, Trainer's label_smoothing_factor, in its val loss too: the run's last
# val loss is llm-eval --label-smoothing's on its checkpoint (which eval_torch checks against
# torch's LabelSmoother); a step's loss is not the plain run's; another factor on --resume
# is refused ----
check smooth-run llm-train --data train.bin --val val.bin --out smooth "${TINY[@]}" --max-steps 4 \
    --save-every 2 --label-smoothing 0.1
check smooth-eval llm-eval -q -m smooth/checkpoint-4 -d val.bin --label-smoothing=0.1 -o smooth.json
# same_val_loss NAME LOG EVAL.json: the log's last val loss is llm-eval's eval_loss (Trainer's,
# in batches of the same size), within 1e-6.
same_val_loss() {
    "$PY" -c '
import json, sys
last = [e for e in map(json.loads, open(sys.argv[2])) if "val_loss" in e][-1]
ev = json.load(open(sys.argv[3]))
err = abs(last["val_loss"] - ev["eval_loss"]) / ev["eval_loss"]
print(("ok " if err < 1e-6 else "FAIL ") + sys.argv[1] + " (llm-train %r, llm-eval %r)" % (last["val_loss"],
      ev["eval_loss"]))
' "$@"
}
same_val_loss smooth-val-loss smooth/log.jsonl smooth.json
if [ "$(log_numbers smooth/log.jsonl | head -n 2)" != "$(log_numbers straight/log.jsonl | head -n 2)" ]; then
    pass smooth-loss-differs
else
    fail smooth-loss-differs "the smoothed run logged the plain run's first steps"
fi
expect_file_has smooth-state '"label_smoothing_factor": 0.1' smooth/checkpoint-4/trainer_state.json
expect_fail smooth-resume-changed 1 "--resume: --label-smoothing is 0.2 now but 0.1 in the checkpoint" \
    llm-train --data train.bin --val val.bin --out smooth "${TINY[@]}" --max-steps 6 --save-every 2 \
    --label-smoothing 0.2 --resume
expect_fail smooth-range 2 "--label-smoothing: expected a number from 0 to 0.999, got '1'" \
    llm-train --data train.bin --out x --label-smoothing 1

# ---- --neftune-alpha, Trainer's neftune_noise_alpha (tests/train/gpt2_reference.py checks
# the noise's place and size against torch): the steps' losses move, the evaluations stay
# clean (the last val loss is llm-eval's on the checkpoint), a run resumed adds the noise the
# straight run added, and another alpha on --resume is refused ----
NEF=(--data train.bin --val val.bin "${TINY[@]}" --schedule constant_with_warmup --neftune-alpha 5 -q)
check neftune-run llm-train "${NEF[@]}" --out neftune --max-steps 8
check neftune-eval llm-eval -q -m neftune/checkpoint-8 -d val.bin -o neftune.json
same_val_loss neftune-val-clean neftune/log.jsonl neftune.json
check neftune-off llm-train "${NEF[@]}" --out neftune0 --max-steps 8 --neftune-alpha 0
if [ "$(log_numbers neftune/log.jsonl | head -n 1)" != "$(log_numbers neftune0/log.jsonl | head -n 1)" ]; then
    pass neftune-loss-differs
else
    fail neftune-loss-differs "the noisy run logged the clean run's first step"
fi
check neftune-first-4 llm-train "${NEF[@]}" --out neftune-resumed --max-steps 4
check neftune-resumed llm-train "${NEF[@]}" --out neftune-resumed --max-steps 8 --resume
expect_same_file neftune-resume-weights neftune/checkpoint-8/model.safetensors \
    neftune-resumed/checkpoint-8/model.safetensors
expect_file_has neftune-state '"neftune_noise_alpha": 5' neftune/checkpoint-8/trainer_state.json
expect_fail neftune-resume-changed 1 "--resume: --neftune-alpha is 10 now but 5 in the checkpoint" \
    llm-train "${NEF[@]}" --out neftune-resumed --max-steps 12 --neftune-alpha 10 --resume

# ---- the val loss is Trainer's eval_loss: the mean of the losses of batches of --eval-batch
# records (default 8, as per_device_eval_batch_size), whatever rows the forwards take (4
# here: two forwards a batch of 8 or of 6, one of 3); llm-eval -b gives the same
# (tests/cli/eval_torch.sh checks it against Trainer's loop); --eval-batches counts batches.
# The records count different numbers of labels, so the batch size matters. ----
"$PY" -c '
import json, random
r = random.Random(9)
for i in range(23):
    n = r.randint(4, 40)
    ids = [r.randrange(63) for _ in range(n)]
    cut = r.randint(1, n - 2)
    print(json.dumps({"input_ids": ids, "labels": [-100] * cut + ids[cut:]}))
' >sft-val.jsonl
stream_from_ids sft-val.bin sft-val.jsonl 64 --kind=blocks --eos=63
EB=(--data train.bin --val sft-val.bin "${TINY[@]}" --max-steps 2)
for eb in 8 3 6; do
    given=(--eval-batch "$eb")
    [ "$eb" = 8 ] && given=()
    check "eval-batch-$eb-run" llm-train "${EB[@]}" --out "eb$eb" "${given[@]}"
    check "eval-batch-$eb-eval" llm-eval -q -m "eb$eb/checkpoint-2" -d sft-val.bin -b "$eb" -o "eb$eb.json"
    same_val_loss "eval-batch-$eb-val-loss" "eb$eb/log.jsonl" "eb$eb.json"
done
if [ "$(grep -o '"val_loss":[^,]*' eb3/log.jsonl)" != "$(grep -o '"val_loss":[^,]*' eb6/log.jsonl)" ]; then
    pass eval-batch-matters
else
    fail eval-batch-matters "--eval-batch 3 and 6 logged the same val loss"
fi
check eval-batches-run llm-train "${EB[@]}" --out eb3x2 --eval-batch 3 --eval-batches 2
llm-cat -q --head=6 sft-val.bin -o sft-val6.bin
check eval-batches-eval llm-eval -q -m eb3x2/checkpoint-2 -d sft-val6.bin -b 3 -o eb3x2.json
same_val_loss eval-batches-val-loss eb3x2/log.jsonl eb3x2.json
"$PY" -c '
import json
for i in range(7):
    ids = [(5 * i + t) % 63 for t in range(6 + i)]
    print(json.dumps({"input_ids": ids, "labels": [-100] * len(ids) if i < 3 else ids}))
' >masked-val.jsonl
stream_from_ids masked-val.bin masked-val.jsonl 64 --kind=blocks --eos=63
expect_stderr_has eval-batch-uncounted-said "1 of the 3 batches of an evaluation count no label" \
    llm-train --data train.bin --val masked-val.bin --out ebmasked --n-layer 2 --n-head 2 --n-embd 32 \
    --block-size 40 --max-steps 1 --eval-batch 3
expect_fail eval-batch-no-val 2 "--eval-every, --eval-batch and --eval-batches evaluate --val FILE" \
    llm-train --data train.bin --out x --eval-batch 4
expect_fail eval-batch-range 2 "--eval-batch: expected 1 to 1048576, got '0'" \
    llm-train --data train.bin --val val.bin --out x --eval-batch 0

cp -r straight broken
head -c 1000 straight/checkpoint-20/model.safetensors >broken/checkpoint-20/model.safetensors
expect_fail corrupt-resume 1 "model.safetensors" llm-train --data train.bin --val val.bin --out broken \
    "${TINY[@]}" --max-steps 30 --resume
expect_fail corrupt-init 1 "model.safetensors" llm-train --data train.bin --init broken/checkpoint-20 --out y \
    --max-steps 1
printf '{"model_type": "gpt2", "n_layer": ' >broken/checkpoint-20/config.json
expect_fail corrupt-config 1 "config.json" llm-train --data train.bin --init broken/checkpoint-20 --out z \
    --max-steps 1
