#!/usr/bin/env bash
# llm-clean on a table of hard inputs: each row is NAME | OPTIONS | INPUT | EXPECTED OUTPUT,
# with INPUT and OUTPUT written as printf %b escapes (\n, \t, \r, \0, \xHH). The whole
# output must match byte for byte, and the summary must account for every document.
. "$(dirname "$0")/lib.sh"

while IFS='|' read -r name opts input want; do
    case $name in ''|'#'*) continue ;; esac
    name=${name%% } opts=${opts# } opts=${opts% } input=${input# } input=${input% } want=${want# } want=${want% }
    printf '%b' "$input" >in.txt
    printf '%b' "$want" >want.txt
    # shellcheck disable=SC2086
    run llm-clean -j1 $opts in.txt
    if [ "$RC" -ne 0 ]; then
        fail "$name" "options: $opts" "$(last_diag)"
    elif ! cmp -s want.txt "$LAST_OUT"; then
        fail "$name" "options: $opts" "want: $(od -An -c want.txt | head -c 600)" "got:  $(od -An -c "$LAST_OUT" | head -c 600)"
    else
        pass "$name"
    fi
done <<'TABLE'
# ---- whitespace ----
spaces-collapsed       |                          | a   b\t\tc  \n                               | {"text":"a b c"}\n
lines-trimmed          | --in=paragraphs          |   one  \n\t two\t\n                       | {"text":"one\\ntwo"}\n
blank-lines-capped     | --in=jsonl               | {"text":"a\\n\\n\\n\\n b\\n\\n"}\n         | {"text":"a\\n\\nb"}\n
blank-lines-zero       | --in=jsonl --max-blank-lines=0 | {"text":"a\\n\\n\\nb"}\n            | {"text":"a\\nb"}\n
collapse-newlines      | --in=jsonl --collapse-newlines | {"text":" a \\n\\n b\\tc \\n"}\n    | {"text":"a b c"}\n
unicode-spaces         |                          | a\xc2\xa0\xc2\xa0b\xe3\x80\x80c\xe2\x80\x83d\n | {"text":"a b c d"}\n
crlf                   | --in=paragraphs          | one\r\ntwo\r\n\r\nthree\r\n               | {"text":"one\\ntwo"}\n{"text":"three"}\n
lone-cr                | --in=jsonl               | {"text":"a\\rb\\r\\nc"}\n                  | {"text":"a\\nb\\nc"}\n
same-job-html          | --out=lines --collapse-newlines --normalize=none | <div>\xff  one</div>\t\t<td>two&nbsp;&nbsp;three</td>   <br/>\xe4\xb8  four &amp; five <b a=3D"x">six</b>\xe3\x80\x80\xe3\x80\x80seven\xc2\xa0\n | \xef\xbf\xbd one two three \xef\xbf\xbd four & five six seven\n
same-job-long-runs     | --out=lines --collapse-newlines --normalize=none | <p>aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa    <b>b</b>                                        c\xc2\xa0\xc2\xa0<i x=y/>\xe2\x80\x8a\xe2\x80\x8a  d\xe1\x9a\x80</p>    \n | aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa b c d\n
# ---- UTF-8 and control characters ----
bom-at-start           |                          | \xef\xbb\xbfhello\n                        | {"text":"hello"}\n
bom-inside             |                          | a\xef\xbb\xbfb\n                           | {"text":"ab"}\n
nul-removed            |                          | a\0b\0\n                                  | {"text":"ab"}\n
controls-removed       |                          | a\x01b\x1bc\x7fd\xc2\x80e\xc2\x9ff\n      | {"text":"abcdef"}\n
tab-kept-as-space      |                          | a\tb\n                                    | {"text":"a b"}\n
vt-ff-nel-are-breaks   | --in=jsonl               | {"text":"a\\u000bb\\fc\\u0085d\\u2028e"}\n | {"text":"a\\nb\\nc\\nd\\ne"}\n
invalid-start          |                          | \xffabc\n                                  | {"text":"\xef\xbf\xbdabc"}\n
invalid-middle         |                          | ab\xc3(cd\n                                | {"text":"ab\xef\xbf\xbd(cd"}\n
invalid-end            |                          | abc\xe4\xb8\n                              | {"text":"abc\xef\xbf\xbd"}\n
invalid-maximal-part   |                          | a\xf0\x9f\x98b\xed\xa0\x80c\n              | {"text":"a\xef\xbf\xbdb\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdc"}\n
invalid-dropped        | --invalid=drop           | good\nbad\xff\n                            | {"text":"good"}\n
overlong-slash         |                          | a\xc0\xafb\n                               | {"text":"a\xef\xbf\xbd\xef\xbf\xbdb"}\n
# ---- normalization ----
nfc-combining          |                          | e\xcc\x81t\xc3\xa9\n                       | {"text":"\xc3\xa9t\xc3\xa9"}\n
nfc-keeps-fullwidth    |                          | \xef\xbc\xa1\xef\xbc\x91\n                 | {"text":"\xef\xbc\xa1\xef\xbc\x91"}\n
nfkc-fullwidth         | --normalize=nfkc         | \xef\xbc\xa1\xef\xbc\x91\xef\xac\x81\n     | {"text":"A1fi"}\n
nfkc-combining         | --normalize=nfkc         | A\xcc\x8a\n                                | {"text":"\xc3\x85"}\n
nfc-mark-order         |                          | q\xcc\x87\xcc\xa3\n                        | {"text":"q\xcc\xa3\xcc\x87"}\n
none-keeps-combining   | --normalize=none         | e\xcc\x81\n                                | {"text":"e\xcc\x81"}\n
hangul-jamo            |                          | \xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8\n      | {"text":"\xea\xb0\x81"}\n
emoji-kept             |                          | ok \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\n | {"text":"ok \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9"}\n
# ---- Chinese ----
poem-linebreaks        | --in=paragraphs          | \xe5\xba\x8a\xe5\x89\x8d\xe6\x98\x8e\xe6\x9c\x88\xe5\x85\x89\xef\xbc\x8c\n\xe7\x96\x91\xe6\x98\xaf\xe5\x9c\xb0\xe4\xb8\x8a\xe9\x9c\x9c\xe3\x80\x82\n | {"text":"\xe5\xba\x8a\xe5\x89\x8d\xe6\x98\x8e\xe6\x9c\x88\xe5\x85\x89\xef\xbc\x8c\\n\xe7\x96\x91\xe6\x98\xaf\xe5\x9c\xb0\xe4\xb8\x8a\xe9\x9c\x9c\xe3\x80\x82"}\n
poem-collapsed         | --in=paragraphs --collapse-newlines | \xe5\xba\x8a\xe5\x89\x8d\n\xe7\x96\x91\xe6\x98\xaf\n | {"text":"\xe5\xba\x8a\xe5\x89\x8d \xe7\x96\x91\xe6\x98\xaf"}\n
cjk-chars-counted      | --min-chars=4            | \xe4\xb8\xad\xe6\x96\x87\xe5\xad\x97\n\xe4\xb8\xad\xe6\x96\x87\xe5\xad\x97\xe5\x85\xa8\n | {"text":"\xe4\xb8\xad\xe6\x96\x87\xe5\xad\x97\xe5\x85\xa8"}\n
# ---- length, empty documents ----
empty-dropped          |                          | \n   \nx\n                                 | {"text":"x"}\n
min-chars              | --min-chars=3            | ab\nabc\n                                 | {"text":"abc"}\n
max-chars              | --max-chars=3            | abcd\nabc\n                               | {"text":"abc"}\n
min-chars-after-clean  | --min-chars=3            | a    b\n                                  | {"text":"a b"}\n
# ---- JSONL ----
jsonl-passthrough      |                          | {"id": 7, "text": "a  b", "meta": {"u": [1, 2.50]}}\n | {"id":7,"text":"a b","meta":{"u": [1, 2.50]}}\n
jsonl-field            | --field=body             | {"body":"x  y","text":"keep  me"}\n       | {"body":"x y","text":"keep  me"}\n
jsonl-escapes          |                          | {"text":"tab\\there \\"q\\" \\u4e2d \\ud83d\\ude00"}\n | {"text":"tab here \\"q\\" \xe4\xb8\xad \xf0\x9f\x98\x80"}\n
jsonl-blank-lines      | --in=jsonl               | {"text":"a"}\n\n   \n{"text":"b"}\n         | {"text":"a"}\n{"text":"b"}\n
jsonl-auto             |                          | {"text":"a"}\n{"text":"b"}\n               | {"text":"a"}\n{"text":"b"}\n
text-starting-brace    |                          | {not json}\n                              | {"text":"{not json}"}\n
out-lines              | --out=lines              | a  b\n c\n                                | a b\nc\n
# ---- rules ----
drop-if                | --drop-if=spam           | ham\nspam here\n                          | {"text":"ham"}\n
keep-if                | --keep-if=\p{Han}        | abc\n\xe4\xb8\xad\n                       | {"text":"\xe4\xb8\xad"}\n
replace-groups         | --replace=(\d+)-(\d+)=$2-$1  | call 555-1234 now\n                   | {"text":"call 1234-555 now"}\n
replace-in-order       | --replace=a=b --replace=b=c | ab\n                                  | {"text":"cc"}\n
replace-escaped-equals | --replace=x\=1=y         | x=1\n                                     | {"text":"y"}\n
replace-then-empty     | --replace=.+=            | abc\n                                     |
replace-unset-group    | --replace=(a)?b=[$1]     | xbx\n                                     | {"text":"x[]x"}\n
dedup                  | --dedup                  | a\nb\na\n a \nb\n                          | {"text":"a"}\n{"text":"b"}\n
TABLE

# ---- accounting and rejects ----

printf 'keep me\nx\n\nbad\xff\n{"text":1}\nkeep me\n' >mixed.txt
run llm-clean -j1 --min-chars=3 --invalid=drop --dedup --rejects=rej.jsonl mixed.txt
expect_eq summary-counts "llm-clean: 6 in, 2 kept, 4 dropped (duplicate 1, empty 1, invalid-utf8 1, min-chars 1)" \
    "$(head -n1 "$LAST_ERR")"
expect_eq summary-bytes "llm-clean: bytes: 35 in, 43 out, 12 in dropped documents" "$(sed -n 2p "$LAST_ERR")"
expect_eq rejects-lines '{"reason":"min-chars","file":"mixed.txt","line":2,"text":"x"}
{"reason":"empty","file":"mixed.txt","line":3,"text":""}
{"reason":"invalid-utf8","file":"mixed.txt","line":4,"text":"bad\ufffd"}
{"reason":"duplicate","file":"mixed.txt","line":6,"text":"keep me"}' "$(cat rej.jsonl)"

printf '{"id":1,"text":"ok"}\n{"id":2,"text":"x","n":1}\n{"id":3}\n{"id":4,"text":null}\n[1]\nnot json\n{"id":7,"text":"ok too"}\n' >recs.jsonl
expect_fail malformed-fails 1 "recs.jsonl:3: missing-field: no field \"text\"" llm-clean -j1 recs.jsonl
expect_eq malformed-fails-output '{"id":1,"text":"ok"}
{"id":2,"text":"x","n":1}' "$(cat "$LAST_OUT")"
expect_eq malformed-fails-summary "llm-clean: 3 in, 2 kept, 0 dropped, 1 failed" "$(sed -n 2p "$LAST_ERR")"
run llm-clean -j2 --on-error=skip --min-chars=2 --rejects=rej2.jsonl <recs.jsonl
expect_eq malformed-skipped "llm-clean: 7 in, 2 kept, 5 dropped (malformed-json 2, missing-field 2, min-chars 1)" \
    "$(head -n1 "$LAST_ERR")"
expect_eq malformed-rejects '{"reason":"min-chars","line":2,"record":{"id":2,"text":"x","n":1}}
{"reason":"missing-field","line":3,"error":"no field \"text\"","record":{"id":3}}
{"reason":"missing-field","line":4,"error":"field \"text\" is null, not a string","record":{"id":4,"text":null}}
malformed-json 5 [1]
malformed-json 6 not json' "$(head -n3 rej2.jsonl; tail -n2 rej2.jsonl | $PY -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l); print(r["reason"], r["line"], r["raw"])')"

printf '{"text":"a"}\n' >a.jsonl
printf 'b\n' >b.txt
run llm-clean -j1 --out=lines a.jsonl b.txt
expect_eq formats-per-file "a
b" "$(cat "$LAST_OUT")"

# A document far longer than any buffer (20 MiB on one line), with markup every so often.
$PY -c '
import sys
unit = "word <b>bold</b> &amp; more   text "
sys.stdout.write(unit * (20 * 1024 * 1024 // len(unit)) + "\n")' >long.txt
run llm-clean -j2 --out=lines long.txt
want=$($PY -c '
unit = "word bold & more text "
n = 20 * 1024 * 1024 // len("word <b>bold</b> &amp; more   text ")
import hashlib; print(hashlib.sha256(((unit * n).rstrip() + "\n").encode()).hexdigest())')
expect_eq long-document "$want" "$(sha256sum <"$LAST_OUT" | cut -d" " -f1)"

# ---- property: random input, any thread count ----

$PY - <<'PYEOF' >random.txt
import random
random.seed(7)
pieces = ["a", "b c", "  ", "\t", "<p>", "</p>", "<b>", "&amp;", "&#x4e2d;", "&bogus;", "<", ">", "e\u0301",
          "\u4e2d\u6587", "\uff21", "\x00", "\r", "\xa0", "x" * 40, "\U0001F600", "<script>x</script>", "{"]
out = bytearray()
for _ in range(30000):
    doc = "".join(random.choice(pieces) for _ in range(random.randint(0, 12))).encode()
    if random.random() < 0.05:
        doc += bytes([random.choice([0xff, 0xc3, 0xe4, 0x80])])
    out += doc.replace(b"\n", b" ") + b"\n"
import sys; sys.stdout.buffer.write(bytes(out))
PYEOF
opts="--min-chars=5 --max-chars=60 --drop-if=bogus --dedup --invalid=drop"
# shellcheck disable=SC2086
llm-clean -j1 $opts --rejects=r1.jsonl random.txt >o1.jsonl 2>e1.txt
# shellcheck disable=SC2086
llm-clean -j2 $opts --rejects=r2.jsonl random.txt >o2.jsonl 2>e2.txt
# shellcheck disable=SC2086
llm-clean -j3 $opts --rejects=r3.jsonl <random.txt >o3.jsonl 2>e3.txt
expect_same_file threads-1-2-output o1.jsonl o2.jsonl
expect_same_file threads-1-3-output o1.jsonl o3.jsonl
expect_same_file threads-1-2-rejects r1.jsonl r2.jsonl
expect_same_file threads-1-2-summary e1.txt e2.txt
read -r docs_in kept dropped < <(sed -n '1s/^llm-clean: \([0-9]*\) in, \([0-9]*\) kept, \([0-9]*\) dropped.*/\1 \2 \3/p' e1.txt)
expect_eq property-in-is-kept-plus-dropped "30000 $((kept + dropped))" "$docs_in $docs_in"
expect_eq property-kept-lines "$kept" "$(wc -l <o1.jsonl)"
expect_eq property-rejects-lines "$dropped" "$(wc -l <r1.jsonl)"
reasons_sum=$(sed -n '1s/.*(\(.*\))/\1/p' e1.txt | tr ',' '\n' | awk '{s += $NF} END {print s}')
expect_eq property-reasons-sum "$dropped" "$reasons_sum"

# ---- batches the workers split: inputs over a few MiB, read from a file and a pipe ----
# The main thread hands workers whole stretches of lines; the line numbers in the rejects
# file and in errors must still count every line, blank JSONL lines, CRLF, lines longer
# than a batch and a last line without '\n' included.
$PY - <<'PYEOF'
import random
random.seed(11)
lines, want = [], []
for i in range(1, 160001):
    r = random.random()
    if i in (50000, 120000):
        line = "long " * 300000                        # 1.5 MB: longer than a batch
    elif r < 0.02:
        line = ""
    elif r < 0.04:
        line = "x"
    elif r < 0.06:
        line = "x\r"
    else:
        line = "words and more words %d" % i + ("\r" if r < 0.1 else "")
    lines.append(line)
    if line == "":
        want.append("empty %d" % i)
    elif line.rstrip("\r") == "x":
        want.append("min-chars %d" % i)
open("chunks.txt", "w").write("\n".join(lines))     # no '\n' after the last line
open("chunks-want.txt", "w").write("\n".join(want) + "\n")
recs, rwant = [], []
for i in range(1, 120001):
    r = random.random()
    if i == 110000:
        recs.append("{not json")
        rwant.append("malformed-json %d" % i)
    elif r < 0.03:
        recs.append("  ")
    elif r < 0.05:
        recs.append('{"id":%d,"text":"x"}\r' % i)
        rwant.append("min-chars %d" % i)
    else:
        recs.append('{"id":%d,"text":"a record of words %d"}' % (i, i))
open("chunks.jsonl", "w").write("\n".join(recs) + "\n")
open("chunks-jsonl-want.txt", "w").write("\n".join(rwant) + "\n")
PYEOF
reasons_and_lines() { $PY -c '
import json, sys
for l in open(sys.argv[1]): r = json.loads(l); print(r["reason"], r["line"])' "$1"; }
llm-clean -j1 --min-chars=2 --rejects=c1.rej chunks.txt >c1.out 2>c1.err
llm-clean -j2 --min-chars=2 --rejects=c2.rej chunks.txt >c2.out 2>c2.err
cat chunks.txt | llm-clean -j2 --min-chars=2 --rejects=c3.rej >c3.out 2>c3.err
expect_eq chunks-reject-lines "$(cat chunks-want.txt)" "$(reasons_and_lines c1.rej)"
expect_same_file chunks-file-j1-j2 c1.out c2.out
expect_same_file chunks-file-pipe c1.out c3.out
expect_same_file chunks-rejects-j1-j2 c1.rej c2.rej
expect_eq chunks-rejects-pipe "$(cat chunks-want.txt)" "$(reasons_and_lines c3.rej)"
expect_eq chunks-kept "$(($(wc -l <chunks-want.txt) + $(wc -l <c1.out)))" 160000
expect_eq chunks-last-line "{\"text\":\"words and more words 160000\"}" "$(tail -n 1 c1.out)"
llm-clean -j2 --on-error=skip --min-chars=2 --rejects=j2.rej chunks.jsonl >j2.out 2>j2.err
cat chunks.jsonl | llm-clean -j2 --on-error=skip --min-chars=2 --rejects=j3.rej >j3.out 2>j3.err
expect_eq chunks-jsonl-reject-lines "$(cat chunks-jsonl-want.txt)" "$(reasons_and_lines j2.rej)"
expect_eq chunks-jsonl-pipe-rejects "$(cat chunks-jsonl-want.txt)" "$(reasons_and_lines j3.rej)"
expect_same_file chunks-jsonl-pipe-output j2.out j3.out
expect_fail chunks-jsonl-error-line 1 "chunks.jsonl:110000: malformed JSON" llm-clean -j2 chunks.jsonl

# ---- usage ----

expect_fail usage-bad-choice 2 "--normalize: expected nfc, nfkc or none, got 'nfd'" llm-clean --normalize=nfd
expect_fail usage-bad-regex 2 "--drop-if: bad pattern '(' at offset 1" llm-clean --drop-if='('
expect_fail usage-replace-no-equals 2 "--replace: expected RE=REPLACEMENT" llm-clean --replace=abc
expect_eq usage-replace-named-once "llm-clean: --replace: expected RE=REPLACEMENT, got 'abc'" "$(head -n 1 "$LAST_ERR")"
# A replacement PCRE2 cannot use is refused before any work, not a rule-error per document.
expect_fail usage-replace-unknown-group 2 "--replace: bad replacement '\$2' at offset 2: unknown substring" \
    llm-clean --replace='(b)=$2'
expect_fail usage-replace-bad-syntax 2 "--replace: bad replacement '\${1'" llm-clean --replace='(b)=${1'
printf 'replace (?<w>b)=${v}\n' >bad-repl.rules
expect_fail usage-replace-rules-file 2 "bad-repl.rules:1: bad replacement '\${v}'" llm-clean --rules=bad-repl.rules
expect_fail usage-names-short-in-group 2 "unknown option, or one missing its value: '-Z'" llm-clean -Zq
# Options that would do nothing with the others given are refused, not ignored.
expect_fail usage-field-with-lines 2 "--field goes with JSONL input (--in=jsonl or auto), not --in=lines" \
    llm-clean --in=lines --field=body
expect_fail usage-on-error-with-paragraphs 2 "--on-error goes with JSONL input" llm-clean --on-error=skip --in=paragraphs
expect_fail usage-max-blank-with-collapse 2 "--max-blank-lines goes with --keep-linebreaks" \
    llm-clean --max-blank-lines=2 --collapse-newlines
expect_fail usage-min-max 2 "--max-chars is below --min-chars" llm-clean --min-chars=5 --max-chars=3
expect_fail missing-file 1 "llm-clean: nosuch.txt: No such file or directory" llm-clean nosuch.txt
printf 'drop-if ^x\n# comment\n\nreplace a=b\nbogus rule\n' >bad.rules
expect_fail rules-file-bad-line 2 "bad.rules:5: expected drop-if RE" llm-clean --rules=bad.rules
printf 'drop-if ^x\n# comment\n\nreplace a=b\n' >good.rules
printf 'xa\naa\n' >r.txt
run llm-clean -j1 --out=lines --rules=good.rules r.txt
expect_eq rules-file "bb" "$(cat "$LAST_OUT")"
check help llm-clean --help
expect_file_has help-mentions-quality "--quality=PRESET" "$LAST_OUT"
