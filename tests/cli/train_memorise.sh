#!/usr/bin/env bash
# The memorisation run of issue 6: the ten instruction -> answer records of
# scripts/sample/sft.jsonl (Alpaca, query/answer and chat records, English and Chinese)
# collated with llm-collate through the Alpaca template, the prompts masked; a tiny GPT-2
# trained on them for 100 steps; then greedy generation from each rendered prompt returns
# exactly its answer and stops at the end-of-text token. Also llm-eval on the same data: the
# counted positions are the answers' tokens, nearly all predicted right.
. "$(dirname "$0")/lib.sh"
need_programs llm-train llm-eval llm-collate
unset LLM_TOKENIZER_DIR

check collate llm-collate -q --template=alpaca "$ROOT/scripts/sample/sft.jsonl" -o sft.bin
check train llm-train -q -j2 --data sft.bin --out mem --n-layer 2 --n-head 2 --n-embd 64 --block-size 256 \
    --micro-batch 10 --max-steps 100 --lr 3e-3 --warmup-steps 10 --schedule constant_with_warmup --save-every 0

# The prompt of each record is its rendered text up to its last trained span; the answer is
# that span less the end-of-text token.
llm-collate -q --template=alpaca --render "$ROOT/scripts/sample/sft.jsonl" | "$PY" -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    text = r["text"].encode()
    start, end = r["trained"][-1]
    answer = text[start:end].decode()
    assert answer.endswith("<|endoftext|>")
    print(json.dumps({"prompt": text[:start].decode(), "answer": answer[:-len("<|endoftext|>")]}))
' >cases.jsonl
expect_eq cases 10 "$(wc -l <cases.jsonl)"

i=0
while IFS= read -r line; do
    i=$((i + 1))
    prompt=$("$PY" -c 'import json, sys; print(json.loads(sys.argv[1])["prompt"], end="")' "$line")
    answer=$("$PY" -c 'import json, sys; print(json.loads(sys.argv[1])["answer"], end="")' "$line")
    run llm-eval -j2 --model mem --generate --tokenizer gpt2 --max-new-tokens 40 --prompt "$prompt"
    got=$(cat "$LAST_OUT")
    if [ "$RC" -eq 0 ] && [ "$got" == "$answer" ]; then
        pass "answer-$i"
    else
        fail "answer-$i" "prompt: ...${prompt: -60}" "want: $answer" "got:  $got" "$(last_diag)"
    fi
done <cases.jsonl

run llm-eval -j2 --model mem --data sft.bin
got=$("$PY" -c '
import json, sys
r = json.load(open(sys.argv[1]))
# 46 answer tokens: labels counted are exactly the unmasked ones.
print("ok" if r["tokens"] == 46 and r["accuracy"] > 0.99 and r["loss"] < 0.05 else r)' "$LAST_OUT" 2>&1)
expect_eq eval-memorised ok "$got"
