#!/usr/bin/env bash
# llm-clean's failures and edge cases of its input and output: a write error while the
# workers still hold batches of a mapped input, JSONL told by the shape of its first line,
# file names refused before any work, the record that stops a run counted, and ledger lines
# in JSONL input carried forward.
. "$(dirname "$0")/lib.sh"

# ---- a write error with batches in flight ----
# An input of a megabyte or more is mapped and its lines cleaned where they lie: a write
# error must not unmap it while workers still read it. The crash came one run in two or
# three, so several runs and thread counts.
$PY -c '
for i in range(60000): print("line number %d of some text" % i)' >big.txt
if [ -w /dev/full ]; then
    crashed=""
    for j in 2 3 4 2 3 4; do
        run sh -c "llm-clean -q -j$j big.txt >/dev/full"
        if [ "$RC" -ne 1 ] || ! grep -qF "llm-clean: (stdout): write error: No space left on device" "$LAST_ERR"; then
            crashed="-j$j: $(last_diag)"
            break
        fi
    done
    expect_eq write-error-mapped-input "" "$crashed"
else
    skip write-error-mapped-input "no /dev/full"
fi
run sh -c "llm-clean -q -j2 big.txt >&-"
expect_eq write-error-closed-stdout "1" "$RC"
run bash -c "trap '' PIPE; llm-clean -q -j2 big.txt | head -c 10 >/dev/null; exit \${PIPESTATUS[0]}"
expect_eq write-error-broken-pipe "1" "$RC"
expect_file_has write-error-broken-pipe-message "llm-clean: (stdout): write error: Broken pipe" "$LAST_ERR"

# ---- --in=auto: JSONL by the shape of the first line ----
# A first record that does not parse is a JSONL error like any later one, not the sign of
# a text file; ill-formed UTF-8 in a record is repaired as in text (U+FFFD).
printf '{"text":"caf\xe9"}\n{"text":"second"}\n' >bad-utf8-first.jsonl
run llm-clean -j1 bad-utf8-first.jsonl
expect_eq auto-first-record-invalid-utf8 "$(printf '{"text":"caf\xef\xbf\xbd"}\n{"text":"second"}')" "$(cat "$LAST_OUT")"
expect_eq auto-first-record-invalid-utf8-summary "llm-clean: 2 in, 2 kept, 0 dropped" "$(head -n 1 "$LAST_ERR")"
printf '{"text":"a\tb"}\n{"text":"c"}\n' >raw-tab-first.jsonl
expect_fail auto-first-record-raw-tab 1 "raw-tab-first.jsonl:1: malformed JSON" llm-clean -j1 raw-tab-first.jsonl
expect_eq auto-first-record-raw-tab-no-output "" "$(cat "$LAST_OUT")"
run llm-clean -j1 --on-error=skip raw-tab-first.jsonl
expect_eq auto-first-record-raw-tab-skipped '{"text":"c"}
llm-clean: 2 in, 1 kept, 1 dropped (malformed-json 1)' "$(cat "$LAST_OUT"; head -n 1 "$LAST_ERR")"
printf '{"id":1,"text":1e999}\n{"text":"b"}\n' >big-number-first.jsonl
# valid JSON, but its text is no string (1e999 reads as no value): an error, never "e99"
expect_fail auto-first-record-big-number 1 "big-number-first.jsonl:1:" llm-clean -j1 big-number-first.jsonl
printf '  { }\n{"text":"b"}\n' >empty-object-first.jsonl
expect_fail auto-first-record-empty-object 1 "empty-object-first.jsonl:1: missing-field" llm-clean -j1 empty-object-first.jsonl
# What has no object's shape stays text: no quoted key, or no closing brace.
printf '{not json}\n{"text" and more\n' >brace-text.txt
run llm-clean -j1 --out=lines brace-text.txt
expect_eq auto-brace-text-is-text '{not json}
{"text" and more' "$(cat "$LAST_OUT")"

# Ill-formed UTF-8 anywhere in a record is repaired before it is parsed, other members
# too, or drops the record with --invalid=drop; the rejects file holds it repaired.
printf '{"id":"\xff","text":"caf\xe9  ok"}\n{"text":"x"}\n' >bad-utf8.jsonl
run llm-clean -j1 --in=jsonl --min-chars=2 --rejects=rej-utf8.jsonl bad-utf8.jsonl
expect_eq jsonl-invalid-utf8-repaired "$(printf '{"id":"\xef\xbf\xbd","text":"caf\xef\xbf\xbd ok"}')" "$(cat "$LAST_OUT")"
run llm-clean -j1 --in=jsonl --invalid=drop --rejects=rej-utf8.jsonl bad-utf8.jsonl
expect_eq jsonl-invalid-utf8-dropped '{"text":"x"}
llm-clean: 2 in, 1 kept, 1 dropped (invalid-utf8 1)' "$(cat "$LAST_OUT"; head -n 1 "$LAST_ERR")"
expect_eq jsonl-invalid-utf8-rejects-repaired \
    "$(printf '{"reason":"invalid-utf8","file":"bad-utf8.jsonl","line":1,"record":{"id":"\xef\xbf\xbd","text":"caf\xef\xbf\xbd  ok"}}')" \
    "$(cat rej-utf8.jsonl)"

# ---- the record that stops a run is counted ----
# in = kept + dropped + failed: the malformed record read and refused is in the summary.
printf '{"text":"a"}\n{bad\n' >stops.jsonl
expect_fail failed-record-stops 1 "stops.jsonl:2: malformed JSON" llm-clean -j1 --in=jsonl stops.jsonl
expect_eq failed-record-counted "llm-clean: 2 in, 1 kept, 0 dropped, 1 failed" "$(sed -n 2p "$LAST_ERR")"
printf '{"text":"a"}\n{"text":"b"}\n{"id":3}\n{"text":"c"}\n' >stops2.jsonl
run llm-clean -j2 --drop-if=b stops2.jsonl
expect_eq failed-record-counted-with-drops "1 llm-clean: 3 in, 1 kept, 1 dropped (drop-if 1), 1 failed" "$RC $(sed -n 2p "$LAST_ERR")"

# ---- ledger lines in JSONL input are carried forward ----
# llm-clean --ledger-inline | llm-clean: the first stage's ledger line is no document; the
# second run sums such lines, adds its own stage and ends its JSONL output with the whole
# history, as llm-tokenize and llm-collate carry it.
ledger_stages() { $PY -c '
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
for l in lines[:-1]:
    assert "llm_ledger" not in json.loads(l), l
for s in json.loads(lines[-1])["llm_ledger"]:
    print(s["program"], s["runs"], s["in"]["records"], s["out"]["records"], sorted(s["dropped"]))' "$1"; }
printf 'hello world\nhi\nanother line\n' >three.txt
llm-clean -q -j1 --min-chars=3 --ledger-inline three.txt >stage1.jsonl
run llm-clean -j2 --ledger-inline --max-chars=11 stage1.jsonl
cp "$LAST_OUT" stage2.jsonl
expect_eq ledger-line-carried "0 {\"text\":\"hello world\"}
llm-clean 1 3 2 ['min-chars']
llm-clean 1 2 1 ['max-chars']
llm-clean: 2 in, 1 kept, 1 dropped (max-chars 1)" "$RC $(head -n 1 stage2.jsonl)
$(ledger_stages stage2.jsonl)
$(head -n 1 "$LAST_ERR")"
# Without --ledger-inline the history still goes on in JSONL output; --ledger FILE has it too.
run llm-clean -q -j1 --ledger=stage2.ledger stage1.jsonl
expect_eq ledger-line-carried-without-option "llm-clean 1 3 2 ['min-chars']
llm-clean 1 2 2 []" "$(ledger_stages "$LAST_OUT")"
expect_eq ledger-file-carries-stages "2" "$($PY -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' stage2.ledger)"
# Two inputs' ledger lines are summed stage by stage.
run llm-clean -q -j1 stage1.jsonl stage1.jsonl
expect_eq ledger-lines-summed "llm-clean 2 6 4 ['min-chars']
llm-clean 1 4 4 []" "$(ledger_stages "$LAST_OUT")"
expect_fail ledger-line-lines-out-note 0 "note: the input's ledger goes no further: --out=lines" \
    llm-clean -q --out=lines stage1.jsonl
expect_eq ledger-line-lines-out "hello world
another line" "$(cat "$LAST_OUT")"
{ head -n 1 stage1.jsonl; echo '{"llm_ledger":[{"program":1}]}'; } >badledger.jsonl
expect_fail ledger-line-bad 1 "badledger.jsonl:2: a ledger line that does not parse" llm-clean -q --on-error=skip badledger.jsonl
# --max-drop judges this run's stage, not the first one's.
expect_fail ledger-max-drop-own-stage 1 "dropped 50.00% of its input" llm-clean -q --max-chars=11 --max-drop=40 stage1.jsonl
check ledger-max-drop-own-stage-within llm-clean -q --max-drop=0 stage1.jsonl
