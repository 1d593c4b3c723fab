#!/usr/bin/env bash
# Writes lib/gpt2.tokens.zst, the embedded default tokenizer (lib/tokenizer_embedded.c), from
# the npm `tiktoken` package that `make data` installs. Run once by hand; the output is
# committed, so a build needs neither node nor the package.
#
# Layout before compression: the 8 bytes "LLMTOK1\n", the token count as a little-endian u32,
# then every token of GPT-2's rank file in rank (= id) order as one length byte (1..255)
# followed by the token's bytes. Compressed with zstd -19, one frame with its content size.
#   LLM_DATA=data/npm (the npm prefix), NODE=node, OUT=lib/gpt2.tokens.zst
set -eu
cd "$(dirname "$0")/.." || exit 1
: "${LLM_DATA:=data/npm}" "${NODE:=node}" "${OUT:=lib/gpt2.tokens.zst}"
src=$LLM_DATA/node_modules/tiktoken/encoders/gpt2.json
[ -f "$src" ] || { echo "make-embedded-tokenizer.sh: $src not found (run make data first)" >&2; exit 1; }
tmp=$(mktemp)
trap 'rm -f "$tmp" "$OUT.tmp"' EXIT
# shellcheck disable=SC2016
"$NODE" -e '
const fs = require("fs");
const enc = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const tokens = [];
for (const line of enc.bpe_ranks.split("\n")) {
    if (line === "") continue;
    const f = line.split(" ");
    if (f[0] !== "!" || Number(f[1]) !== tokens.length) throw new Error("ranks are not consecutive at " + line.slice(0, 40));
    for (let i = 2; i < f.length; i++) tokens.push(Buffer.from(f[i], "base64"));
}
const parts = [Buffer.from("LLMTOK1\n"), Buffer.alloc(4)];
parts[1].writeUInt32LE(tokens.length);
for (const t of tokens) {
    if (t.length < 1 || t.length > 255) throw new Error("token of " + t.length + " bytes");
    parts.push(Buffer.from([t.length]), t);
}
fs.writeFileSync(process.argv[2], Buffer.concat(parts));
' "$src" "$tmp"
zstd -q -19 --content-size -f "$tmp" -o "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "embedded tokenizer: wrote $OUT ($(wc -c <"$OUT") bytes, from $src)"
