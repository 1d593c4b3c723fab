#!/usr/bin/env bash
# llm-eval's refusals: a missing, corrupt or truncated model, data of another tokenizer or a
# larger vocabulary, a docs stream, standard input, a corrupt stream, bad prompts, and usage
# errors; each with its message and exit status (1 for the model and the data, 2 for usage),
# and no output file left behind by a failed -o.
. "$(dirname "$0")/lib.sh"
DRIVER=$LLM_BUILD/tests/eval_model_driver
[ -x "$DRIVER" ] || { fail setup "$DRIVER is not built (make test builds it)"; exit 0; }

llm-collate -q "$DATA/sft_chat.jsonl" -o sft.bin
"$DRIVER" m sft.bin 1 2 16 32 3 1 || fail setup "eval_model_driver m"
check model-ok llm-eval -q -m m -d sft.bin

# ---- the model ---------------------------------------------------------------------------
expect_fail missing-model 1 "nowhere: No such file or directory" llm-eval -m nowhere -d sft.bin
mkdir empty
expect_fail empty-folder 1 "empty: no checkpoint there" llm-eval -m empty -d sft.bin
cp -r m trunc
head -c 3000 m/model.safetensors >trunc/model.safetensors
expect_fail truncated-weights 1 "trunc/model.safetensors: tensor" llm-eval -m trunc -d sft.bin
expect_stderr_has truncated-weights-says-so "truncated" llm-eval -m trunc -d sft.bin
cp -r m garbage
printf 'not a safetensors file at all' | dd of=garbage/model.safetensors conv=notrunc status=none
expect_fail corrupt-weights 1 "garbage/model.safetensors: header length" llm-eval -m garbage -d sft.bin
cp -r m noweights
rm noweights/model.safetensors
expect_fail missing-weights 1 "noweights/model.safetensors" llm-eval -m noweights -d sft.bin
cp -r m nan
"$PY" -c '
import json, struct, sys
f = open(sys.argv[1], "r+b")
n = struct.unpack("<Q", f.read(8))[0]
f.seek(8 + n + json.loads(f.read(n))["transformer.wte.weight"]["data_offsets"][0])
f.write(struct.pack("<f", float("nan")))' nan/model.safetensors
expect_fail nan-weights 1 "nan: the loss is nan: the model's outputs are not finite" llm-eval -m nan -d sft.bin \
    -o nan.json
expect_eq nan-no-output "" "$(ls nan.json 2>/dev/null)"
cp -r m badconfig
echo '{"model_type": "gpt2", "n_embd": 30, "n_head": 4}' >badconfig/config.json
expect_fail bad-config 1 "badconfig/config.json" llm-eval -m badconfig -d sft.bin
expect_fail corrupt-weights-generate 1 "garbage/model.safetensors" llm-eval -m garbage -g -p hi

# ---- the data ----------------------------------------------------------------------------
printf 'hello world\n' | llm-tokenize -q --no-eos --tokenizer "$ROOT/tests/tokenizers/bl_tiny.json" |
    llm-pack -q -b 2 -o tiny.bin
expect_fail other-tokenizer 1 "tiny.bin: tokenized with bl_tiny" llm-eval -m m -d tiny.bin
"$DRIVER" m61 61 1 2 16 32 3 1
expect_fail larger-vocabulary 1 "sft.bin: vocabulary of 50257 tokens, more than the model's 61" \
    llm-eval -m m61 -d sft.bin
printf 'hello world\n' | llm-tokenize -q -o docs.bin
expect_fail docs-stream 1 "docs.bin: a docs stream" llm-eval -m m -d docs.bin
expect_fail stdin-data 1 "the data must be a file" llm-eval -m m -d - <sft.bin
expect_fail missing-data 1 "nothing.bin: No such file or directory" llm-eval -m m -d nothing.bin
head -c 200 sft.bin >cut.bin
expect_fail truncated-data 1 "cut.bin" llm-eval -m m -d cut.bin
expect_status failed-output-status 1 llm-eval -m m -d docs.bin -o out.json
if [ -e out.json ]; then fail failed-output-left "out.json exists"; else pass failed-output-left; fi
expect_no_temps failed-output-no-temps
check output-file llm-eval -q -m m -d sft.bin -o out.json
expect_eq output-file-json '{"tokens":' "$(head -c 10 out.json)"

# ---- prompts -----------------------------------------------------------------------------
printf '{"prompt":"a"}\n\n{"text":"no prompt"}\n' >bad.jsonl
expect_fail prompt-missing 1 'bad.jsonl:3: expected an object with a "prompt" string' \
    llm-eval -m m -g --prompts bad.jsonl -o gen.jsonl
if [ -e gen.jsonl ]; then fail prompt-failed-output "gen.jsonl exists"; else pass prompt-failed-output; fi
printf '{"prompt":' >broken.jsonl
expect_fail prompt-bad-json 1 "broken.jsonl:1:" llm-eval -m m -g --prompts broken.jsonl
expect_fail prompts-missing 1 "nope.jsonl: No such file or directory" llm-eval -m m -g --prompts nope.jsonl
"$DRIVER" nameless 61 1 2 16 32 3 1
expect_fail no-tokenizer 1 "give --tokenizer" llm-eval -m nameless -g -p hi

# ---- usage -------------------------------------------------------------------------------
expect_fail no-model 2 "give --model" llm-eval -d sft.bin
expect_fail no-data 2 "give --data" llm-eval -m m
expect_fail data-and-generate 2 "choose one" llm-eval -m m -d sft.bin -g -p hi
expect_fail generate-no-prompt 2 "--prompt TEXT or --prompts FILE" llm-eval -m m -g
expect_fail prompt-and-prompts 2 "choose one" llm-eval -m m -g -p hi --prompts bad.jsonl
expect_fail sampling-without-generate 2 "go with --generate" llm-eval -m m -d sft.bin --top-k 5
expect_fail batch-with-generate 2 "--batch-size, --doc-attention and --label-smoothing go with --data" llm-eval -m m -g -p hi -b 4
expect_fail doc-attention-with-generate 2 "go with --data, not --generate" llm-eval -m m -g -p hi \
    --doc-attention=off
expect_fail smoothing-with-generate 2 "go with --data, not --generate" llm-eval -m m -g -p hi \
    --label-smoothing=0.1
expect_fail smoothing-range 2 "--label-smoothing: expected a number from 0 to 0.999, got '-0.1'" llm-eval -m m \
    -d x.bin --label-smoothing=-0.1
expect_fail bad-top-p 2 "--top-p" llm-eval -m m -g -p hi --top-p 0
expect_fail bad-top-p-big 2 "--top-p" llm-eval -m m -g -p hi --top-p 1.5
expect_fail bad-temperature 2 "--temperature" llm-eval -m m -g -p hi --temperature -1
expect_fail bad-top-k 2 "--top-k" llm-eval -m m -g -p hi --top-k 0
expect_fail bad-batch 2 "--batch-size" llm-eval -m m -d sft.bin -b 0
expect_fail bad-doc-attention 2 "doc-attention" llm-eval -m m -d sft.bin --doc-attention=maybe
expect_fail bad-threads 2 "threads" llm-eval -m m -d sft.bin -j 0
expect_fail unknown-option 2 "unknown option" llm-eval -m m -d sft.bin --frobnicate
expect_fail stray-argument 2 "unexpected argument" llm-eval -m m sft.bin
check help llm-eval --help
expect_file_has help-usage "Usage: llm-eval" "$LAST_OUT"
check version llm-eval --version
