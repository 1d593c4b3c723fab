#!/usr/bin/env bash
# llm-tokenize on small hand-made inputs, with the embedded GPT-2 tokenizer (no data files):
# known ids, EOS/BOS, special-token strings as text or as specials, input formats, lone
# surrogates in JSONL, malformed JSONL (an error with the line number, or a counted skip), the accounting in = written +
# empty + skipped, the header, -o, and llm-cat --decode with its tokenizer check.
. "$(dirname "$0")/lib.sh"
need_programs llm-tokenize
# No rank files: everything here must work from the embedded default alone.
export LLM_TOKENIZER_DIR=$T/no-tokenizers

# ids FILE.bin: each record's ids, space-separated, one line a record.
ids() {
    llm-cat -q --to=ids "$1" | sed 's/^{"input_ids":\[\([^]]*\)\].*/\1/; s/,/ /g'
}

# Known GPT-2 ids (tiktoken.get_encoding("gpt2")).
printf '{"text":"Hello world"}\n{"text":" hello world!!!"}\n' >known.jsonl
check known-run llm-tokenize -q -j1 known.jsonl -o known.bin
expect_eq known-ids "$(printf '15496 995 50256\n23748 995 10185 50256')" "$(ids known.bin)"
run llm-tokenize -q --no-eos known.jsonl -o noeos.bin
expect_eq no-eos "$(printf '15496 995\n23748 995 10185')" "$(ids noeos.bin)"
run llm-tokenize -q --bos known.jsonl -o bos.bin
expect_eq bos "$(printf '50256 15496 995 50256\n50256 23748 995 10185 50256')" "$(ids bos.bin)"

# Special-token strings: plain text by default, the special token with --special=allow.
printf '{"text":"a<|endoftext|>b"}\n' >special.jsonl
run llm-tokenize -q special.jsonl -o special-text.bin
expect_eq special-as-text "64 27 91 437 1659 5239 91 29 65 50256" "$(ids special-text.bin)"
run llm-tokenize -q --special=allow special.jsonl -o special-allow.bin
expect_eq special-allow "64 50256 65 50256" "$(ids special-allow.bin)"
expect_status special-bad-choice 2 llm-tokenize --special=maybe special.jsonl

# The header: tokenizer name and hash, ids, width, vocabulary, the command line.
run llm-cat --header bos.bin
hdr=$(cat "$LAST_OUT")
expect_eq header-fields "gpt2 xxh3:b67cc71d2e6c415d 50256 50256 2 50257 docs" "$(py '
import json, sys
h = json.loads(sys.argv[1])
print(h["tokenizer"]["name"], h["tokenizer"]["hash"], h["special"]["eos"], h["special"]["bos"],
      h["token_bytes"], h["vocab_size"], h["kind"])' "$hdr")"
# The command line less -j, -o, -q and -f, which do not change the stream.
expect_eq header-provenance '["llm-tokenize", "--bos", "known.jsonl"]' \
    "$(py 'import json, sys; print(json.dumps(json.loads(sys.argv[1])["provenance"][0]["argv"]))' "$hdr")"

# Input formats: auto-detected text is a document a line; blank lines are empty documents.
printf 'Hello world\n\n hello world!!!\n' >lines.txt
run llm-tokenize -j2 lines.txt -o lines.bin
expect_eq lines-ids "$(printf '15496 995 50256\n23748 995 10185 50256')" "$(ids lines.bin)"
expect_file_has lines-summary "llm-tokenize: 3 in, 2 written, 1 empty, 0 skipped (malformed)" "$LAST_ERR"
run llm-tokenize -q --in=whole lines.txt -o whole.bin
expect_eq whole-one-record 1 "$(ids whole.bin | wc -l)"
run llm-cat -q --decode=raw whole.bin -o whole.txt
expect_same_file whole-roundtrip lines.txt whole.txt
printf '{"body":"Hello world","text":7}\n' >field.jsonl
run llm-tokenize -q --field=body field.jsonl -o field.bin
expect_eq field "15496 995 50256" "$(ids field.bin)"
printf '\xef\xbb\xbf{"text":"Hello world"}\n' >bom.jsonl
run llm-tokenize -q bom.jsonl -o bom.bin
expect_eq bom-jsonl "15496 995 50256" "$(ids bom.bin)"

# Lone surrogates escaped in JSON (\ud800, \udc00, a high one before a non-low one) are U+FFFD,
# as JSON.parse and a conversion to UTF-8 make them (tiktoken gives the same ids); a pair
# is its character. llm-clean, which reads JSONL the same way, passes them on as U+FFFD.
printf '{"text":"a\\ud800b"}\n{"text":"\\udc00\\ud800\\u0041"}\n{"text":"\\ud83d\\ude00"}\n' >surrogates.jsonl
run llm-tokenize -q --no-eos surrogates.jsonl -o surrogates.bin
expect_eq lone-surrogates "$(printf '64 4210 65\n6353 32\n47249 222')" "$(ids surrogates.bin)"
run llm-clean -q surrogates.jsonl
expect_eq lone-surrogates-clean "$(printf '{"text":"a\xef\xbf\xbdb"}\n{"text":"\xef\xbf\xbd\xef\xbf\xbdA"}\n{"text":"\xf0\x9f\x98\x80"}')" \
    "$(cat "$LAST_OUT")"

# Malformed JSONL: an error naming the line, nothing left under -o; or counted skips.
printf '{"text":"a"}\n{"text":"b"\n\n{"txt":"c"}\n{"text":5}\n[1]\n{"text":""}\n{"text":"ok"}\n' >bad.jsonl
expect_fail malformed-line 1 "bad.jsonl:2: malformed JSON" llm-tokenize -j2 bad.jsonl -o bad.bin
expect_no_temps malformed-no-temps
# The line that stops the run is counted in, as failed (blank lines are not documents).
expect_file_has malformed-summary "llm-tokenize: 2 in, 1 written, 0 empty, 0 skipped (malformed), 1 failed" "$LAST_ERR"
if [ -e bad.bin ]; then fail malformed-no-output "bad.bin was left behind"; else pass malformed-no-output; fi
printf '{"text":"a"}\n\n{"txt":"c"}\n' >nofield.jsonl
expect_fail missing-field 1 'nofield.jsonl:3: malformed JSON: no "text" member' llm-tokenize nofield.jsonl -o x.bin
run llm-tokenize --on-error=skip -j2 bad.jsonl -o skip.bin
expect_file_has skip-summary "llm-tokenize: 7 in, 2 written, 1 empty, 4 skipped (malformed)" "$LAST_ERR"
expect_eq skip-ids "$(printf '64 50256\n482 50256')" "$(ids skip.bin)"
expect_file_has skip-tokens "tokens: 4 out (2 of text)" "$LAST_ERR"

# Accounting on a bigger mixed input: in = written + empty + skipped, for any -j.
py '
import json, random
r = random.Random(7)
with open("mixed.jsonl", "w") as f:
    for i in range(30000):
        k = r.random()
        if k < 0.05: f.write("{\"text\": broken\n")
        elif k < 0.1: f.write(json.dumps({"text": ""}) + "\n")
        else: f.write(json.dumps({"text": "doc %d " % i + "word " * r.randrange(0, 50)}) + "\n")'
run llm-tokenize -j1 --on-error=skip mixed.jsonl -o mixed1.bin
cp "$LAST_ERR" mixed1.err
run llm-tokenize -j3 --on-error=skip mixed.jsonl -o mixed3.bin
expect_same_file mixed-j1-j3 mixed1.bin mixed3.bin
expect_eq mixed-accounting "ok" "$(py '
import re, sys
l = open(sys.argv[1]).read().splitlines()[0]
m = re.fullmatch(r"llm-tokenize: (\d+) in, (\d+) written, (\d+) empty, (\d+) skipped \(malformed\)", l)
n = [int(x) for x in m.groups()]
print("ok" if n[0] == 30000 == n[1] + n[2] + n[3] and n[3] > 1000 and n[2] > 1000 else l)' mixed1.err)"
expect_eq mixed-records "$(sed -n 's/.* in, \([0-9]*\) written.*/\1/p' mixed1.err)" \
    "$(llm-cat --stats --json -q mixed1.bin | py 'import json, sys; print(json.load(sys.stdin)["records"])')"

# -o is atomic, a stream to a terminal is refused, usage errors exit 2.
expect_status bad-threads 2 llm-tokenize -j0 known.jsonl
expect_status bad-in 2 llm-tokenize --in=csv known.jsonl
expect_fail unknown-tokenizer 1 "unknown tokenizer 'nope'" llm-tokenize --tokenizer=nope known.jsonl
expect_fail missing-tiktoken-file 1 "./no/gpt2.tiktoken: No such file or directory" \
    llm-tokenize --tokenizer=./no/gpt2.tiktoken known.jsonl
echo x >mine.tiktoken
expect_fail tiktoken-file-name 1 "mine.tiktoken: the file name does not name a tiktoken encoding" \
    llm-tokenize --tokenizer=mine.tiktoken known.jsonl
expect_fail missing-input 1 "nothere.jsonl" llm-tokenize nothere.jsonl -o x.bin
expect_no_temps no-temps-after-errors

# llm-cat --decode: the text back, BOS and EOS left out; a tokenizer with another hash is refused.
run llm-cat -q --decode bos.bin
expect_eq decode-jsonl "$(printf '{"text":"Hello world"}\n{"text":" hello world!!!"}')" "$(cat "$LAST_OUT")"
run llm-cat -q --decode=text special-allow.bin
expect_eq decode-special "a<|endoftext|>b" "$(cat "$LAST_OUT")"
stream_from_ids other.bin <(echo '{"input_ids":[1,2,3]}') 100 --tokenizer=mine --tokenizer-hash=xxh3:0123456789abcdef
expect_fail decode-unknown 1 "tokenized with mine (xxh3:0123456789abcdef), which is not available" llm-cat --decode other.bin
expect_fail decode-mismatch 1 "tokenizer mismatch: the stream was tokenized with mine" \
    llm-cat --decode --tokenizer=gpt2 other.bin
expect_status decode-and-to 2 llm-cat --decode --to=ids bos.bin
expect_status tokenizer-alone 2 llm-cat --tokenizer=gpt2 bos.bin
run llm-cat -q --decode --tokenizer=gpt2 known.bin
expect_eq decode-with-gpt2 "$(printf '{"text":"Hello world"}\n{"text":" hello world!!!"}')" "$(cat "$LAST_OUT")"

# A tokenizer.json whose post-processor adds <s> (id 1): BOS by default, --no-bos leaves it
# out, </s> (id 2) ends each document; --decode needs the file, by path.
SP=$ROOT/tests/tokenizers/sp_tiny.json
if [ -f "$SP" ]; then
    printf 'hello world\n' >sp.txt
    run llm-tokenize -q --tokenizer="$SP" sp.txt -o sp.bin
    expect_eq template-bos "1 2" "$(ids sp.bin | awk '{ print $1, $NF }')"
    expect_eq template-bos-header "1 2" "$(llm-cat --header sp.bin | py '
import json, sys; h = json.load(sys.stdin); print(h["special"]["bos"], h["special"]["eos"])')"
    run llm-tokenize -q --no-bos --tokenizer="$SP" sp.txt -o sp-nobos.bin
    expect_eq no-bos "$(ids sp.bin | cut -d' ' -f2-)" "$(ids sp-nobos.bin)"
    expect_fail decode-needs-file 1 "tokenized with sp_tiny" llm-cat -q --decode sp.bin
    run llm-cat -q --decode=text --tokenizer="$SP" sp.bin
    expect_eq decode-template "hello world" "$(cat "$LAST_OUT")"
else
    skip template-bos "no $SP"
fi

# Ill-formed UTF-8 takes linear time: each ill-formed sequence is a piece of its own, and the
# text after each one was once validated again to the end (a megabyte of continuation bytes
# took 44 s, of Latin-1 9 s). 4 MB now take a fraction of a second; the limit is generous.
# The embedded GPT-2 and a tokenizer.json (the Hugging Face encoder) each; the bytes come back.
py 'import sys
open("latin1.txt", "wb").write(b" caf\xe9" * 800000)   # a space first: bl_tiny adds none
open("cont.txt", "wb").write(bytes(0x80 + i % 64 for i in range(4 << 20)))'
for tok in "" "$ROOT/tests/tokenizers/bl_tiny.json"; do
    for f in latin1 cont; do
        name=ill-formed-linear-$f${tok:+-$(basename "$tok" .json)}
        run timeout 20 llm-tokenize -q -j1 --no-eos --in=whole ${tok:+--tokenizer="$tok"} "$f.txt" -o "$f.bin"
        if [ "$RC" -ne 0 ]; then
            fail "$name" "$([ "$RC" -eq 124 ] && echo "over 20 s for 4 MB")" "$(last_diag)"
            continue
        fi
        run llm-cat -q --decode=raw ${tok:+--tokenizer="$tok"} "$f.bin" -o "$f.back"
        expect_same_file "$name" "$f.txt" "$f.back"
    done
done

# A full disk is an error, never a silently short stream.
if [ -w /dev/full ]; then
    expect_fail full-disk 1 "No space left on device" llm-tokenize -q known.jsonl -o /dev/full
fi
