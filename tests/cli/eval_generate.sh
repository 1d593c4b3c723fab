#!/usr/bin/env bash
# llm-eval --generate: greedy continuations equal PyTorch's greedy argmax (tests/cli/
# eval_reference.py) token for token from the same checkpoint and prompt ids; generation
# stops at the end-of-text token, at an end-of-turn token, at --max-new-tokens and at the
# model's context; a long prompt keeps its end; sampling is the same for the same seed,
# top-k 1 and a tiny top-p are greedy; --prompt prints the JSONL's completions as lines.
. "$(dirname "$0")/lib.sh"
DRIVER=$LLM_BUILD/tests/eval_model_driver
REF="$PY $CLI_DIR/eval_reference.py"
[ -x "$DRIVER" ] || { fail setup "$DRIVER is not built (make test builds it)"; exit 0; }
HAVE_TORCH=1
"$PY" -c 'import torch, numpy' 2>/dev/null || HAVE_TORCH=0

# ids_of TEXT: GPT-2's ids of TEXT, comma-separated (50256 for an empty prompt, the start
# llm-eval gives it).
ids_of() {
    if [ -z "$1" ]; then echo 50256; return; fi
    printf '%s' "$1" | llm-tokenize -q --no-eos --in=whole | llm-cat -q --to=ids |
        py 'import json, sys; print(",".join(map(str, json.load(sys.stdin)["input_ids"])))'
}

# field FILE.jsonl LINE NAME: a member of a JSONL record (lists comma-separated).
field() {
    py '
import json, sys
v = json.loads(open(sys.argv[1]).read().splitlines()[int(sys.argv[2]) - 1])[sys.argv[3]]
print(",".join(map(str, v)) if isinstance(v, list) else v)' "$@"
}

llm-collate -q "$DATA/sft_chat.jsonl" -o sft.bin
"$DRIVER" m sft.bin 2 4 32 64 21 3 || fail setup "eval_model_driver m"

prompts=("The cat sat on the" "Once upon a time, in a land far away" "")
py '
import json, sys
for p in sys.argv[1:]:
    print(json.dumps({"prompt": p, "id": len(p)}))' "${prompts[@]}" >prompts.jsonl

# ---- greedy against PyTorch --------------------------------------------------------------
check greedy-run llm-eval -q -m m --generate --prompts prompts.jsonl -n 12 -o greedy.jsonl
expect_eq greedy-keeps-members '{"prompt":"The cat sat on the","id":18,"completion":' \
    "$(head -n 1 greedy.jsonl | grep -o '^{"prompt":"The cat sat on the","id":18,"completion":')"
if [ "$HAVE_TORCH" = 1 ]; then
    for i in 1 2 3; do
        want=$($REF greedy m --prompt-ids "$(ids_of "${prompts[i - 1]}")" --max-new 12 --stop 50256)
        expect_eq "greedy-equals-torch-$i" "$want" "$(field greedy.jsonl "$i" completion_ids)"
    done
else
    skip greedy-equals-torch "python3-torch is not installed (make deps)"
fi
expect_eq greedy-stop-length length "$(field greedy.jsonl 1 stop)"

# --prompt: each completion on its line, the same text as the JSONL's.
run llm-eval -q -m m -g -p "${prompts[0]}" -p "${prompts[1]}" -p "" -n 12
py '
import json, sys
for line in open(sys.argv[1]):
    sys.stdout.write(json.loads(line)["completion"] + "\n")' greedy.jsonl >want.txt
expect_same_file prompt-lines want.txt "$LAST_OUT"

# Standard input, and the same bits again (and on one thread).
llm-eval -q -m m -g --prompts - -n 12 <prompts.jsonl >stdin.jsonl
expect_same_file prompts-from-stdin greedy.jsonl stdin.jsonl
llm-eval -q -m m -g --prompts prompts.jsonl -n 12 -j 1 >j1.jsonl
expect_same_file greedy-one-thread greedy.jsonl j1.jsonl

# ---- stops -------------------------------------------------------------------------------
# The end-of-text token: make the 5th new token (one not seen before it) the model's eos.
llm-eval -q -m m -g --prompts prompts.jsonl -n 30 -o long.jsonl
all=$(field long.jsonl 2 completion_ids)
k=$(py '
import sys
ids = sys.argv[1].split(",")
print(next(k for k in range(4, len(ids)) if ids[k] not in ids[:k]))' "$all")
eos=$(echo "$all" | cut -d, -f$((k + 1)))
cp -r m m-eos
py '
import json, sys
c = json.load(open(sys.argv[1]))
c["eos_token_id"] = c["llm_tools"]["eos_id"] = int(sys.argv[2])
json.dump(c, open(sys.argv[1], "w"), indent=2)' m-eos/config.json "$eos"
llm-eval -q -m m-eos -g --prompts prompts.jsonl -n 30 -o eos.jsonl
expect_eq eos-stops "$(echo "$all" | cut -d, -f1-"$k")" "$(field eos.jsonl 2 completion_ids)"
expect_eq eos-stop-reason eos "$(field eos.jsonl 2 stop)"

# The model's context: 64 positions, so a prompt of 5 tokens gets 59 new ones.
run llm-eval -m m -g --prompts prompts.jsonl -n 100 -o ctx.jsonl
expect_file_has context-message "stopped at the model's context of 64 tokens" "$LAST_ERR"
expect_eq context-stop-reason context "$(field ctx.jsonl 1 stop)"
if [ "$HAVE_TORCH" = 1 ]; then
    expect_eq context-equals-torch "$($REF greedy m --prompt-ids "$(ids_of "${prompts[0]}")" --max-new 100 --stop 50256)" \
        "$(field ctx.jsonl 1 completion_ids)"
fi

# A prompt longer than the context leaves: its last 64 - 8 tokens are kept.
long=$(printf 'one two three four %.0s' $(seq 30))
printf '{"prompt":"%s"}\n' "$long" >longprompt.jsonl
run llm-eval -m m -g --prompts longprompt.jsonl -n 8 -o cut.jsonl
expect_file_has long-prompt-message "kept the last 56" "$LAST_ERR"
expect_eq long-prompt-tokens 56 "$(field cut.jsonl 1 prompt_tokens)"
if [ "$HAVE_TORCH" = 1 ]; then
    tail_ids=$(ids_of "$long" | tr , '\n' | tail -n 56 | paste -sd,)
    expect_eq long-prompt-equals-torch "$($REF greedy m --prompt-ids "$tail_ids" --max-new 8 --stop 50256)" \
        "$(field cut.jsonl 1 completion_ids)"
fi

# An end-of-turn token (<|im_end|> of Qwen3's tokenizer, when make tokenizers fetched it):
# a model that always says it first says nothing.
if llm-collate -q --tokenizer qwen3 "$DATA/sft_chat.jsonl" -o qwen.bin 2>/dev/null; then
    "$DRIVER" mq qwen.bin 1 2 16 32 5 3 || fail setup "eval_model_driver mq"
    im_end=$(printf '<|im_end|>' | llm-tokenize -q --tokenizer qwen3 --in=whole --special=allow --no-eos |
        llm-cat -q --to=ids | py 'import json, sys; print(json.load(sys.stdin)["input_ids"][0])')
    if [ "$HAVE_TORCH" = 1 ]; then
        $REF favour mq "$im_end"
        run llm-eval -q -m mq -g --prompts prompts.jsonl -n 5 -o turn.jsonl
        expect_eq end-of-turn-stops "eos:end_of_turn:" \
            "eos:$(field turn.jsonl 1 stop):$(field turn.jsonl 1 completion)"
    fi
else
    skip end-of-turn "the qwen3 tokenizer is not in data/tokenizers (make tokenizers)"
fi

# ---- sampling ----------------------------------------------------------------------------
llm-eval -q -m m -g --prompts prompts.jsonl -n 20 --temperature 0.9 --seed 5 -o s5a.jsonl
llm-eval -q -m m -g --prompts prompts.jsonl -n 20 --temperature 0.9 --seed 5 -o s5b.jsonl
llm-eval -q -m m -g --prompts prompts.jsonl -n 20 --temperature 0.9 --seed 6 -o s6.jsonl
llm-eval -q -m m -g --prompts prompts.jsonl -n 20 -o g20.jsonl
expect_same_file sample-same-seed s5a.jsonl s5b.jsonl
if cmp -s s5a.jsonl s6.jsonl; then fail sample-other-seed "seeds 5 and 6 gave the same text"; else pass sample-other-seed; fi
if cmp -s s5a.jsonl g20.jsonl; then fail sample-not-greedy "temperature 0.9 gave the greedy text"; else pass sample-not-greedy; fi
llm-eval -q -m m -g --prompts prompts.jsonl -n 20 --top-k 1 --temperature 3 --seed 9 -o k1.jsonl
expect_same_file top-k-1-is-greedy g20.jsonl k1.jsonl
llm-eval -q -m m -g --prompts prompts.jsonl -n 20 --top-p 1e-9 --seed 9 -o p0.jsonl
expect_same_file tiny-top-p-is-greedy g20.jsonl p0.jsonl
llm-eval -q -m m -g --prompts prompts.jsonl -n 20 --temperature 0 --top-k 50 -o t0.jsonl
expect_same_file temperature-0-is-greedy g20.jsonl t0.jsonl
# A seed draws nothing when decoding is greedy: a note says so; sampling takes it silently.
expect_stderr_has greedy-seed-note "note: --seed changes nothing here: decoding is greedy" \
    llm-eval -m m -g -p "${prompts[0]}" -n 2 --top-k 1 --temperature 3 --seed 9
run llm-eval -m m -g -p "${prompts[0]}" -n 2 --temperature 0.9 --seed 9
expect_eq sampled-seed-no-note "0 0" "$RC $(grep -c 'note: --seed' "$LAST_ERR")"

# ---- the tokenizer -----------------------------------------------------------------------
expect_fail wrong-tokenizer 1 "is not the model's" \
    llm-eval -m m -g -p hi --tokenizer "$ROOT/tests/tokenizers/bl_tiny.json"
check explicit-tokenizer llm-eval -q -m m -g -p "${prompts[0]}" -n 12 --tokenizer gpt2
expect_eq explicit-tokenizer-same "$(sed -n 1p want.txt)" "$(cat "$LAST_OUT")"
