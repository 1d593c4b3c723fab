#!/usr/bin/env bash
# llm-collate without the npm data (GPT-2's embedded tokenizer, whose pad is its EOS, as in
# Qwen): padding that never counts while the answer's EOS does, truncation and drops by
# --max-len, packing with masked example starts, the summary's accounting and length
# percentiles, malformed records (errors with the line number, or counted skips and the
# rejects file), template files, usage errors, and the same bytes for any -j.
. "$(dirname "$0")/lib.sh"
need_programs llm-collate
unset LLM_TOKENIZER_DIR

# rows FILE.bin: llm-cat --to=ids's JSONL.
rows() { llm-cat -q --to=ids "$1"; }

# With GPT-2 and the plain template, "q" is 80 and " a" 257: {"query":"q","answer":" a"×k}
# is q, k × " a" and <|endoftext|> (50256): k + 2 tokens, the last k + 1 trained.
answer() { local k=$1 s=""; while [ "$k" -gt 0 ]; do s="$s a"; k=$((k - 1)); done; printf '%s' "$s"; }
rec() { printf '{"query":"q","answer":"%s"}\n' "$(answer "$1")"; }

# ---- padding: pad == EOS, the padding masked, the real EOS trained ----
rec 2 >two.jsonl
run llm-collate -q --template=plain --pad=max -b 7 two.jsonl -o pad.bin
expect_eq pad-eos \
    '{"input_ids":[80,257,257,50256,50256,50256,50256],"labels":[-100,257,257,50256,-100,-100,-100]}' "$(rows pad.bin)"
expect_eq pad-header '"kind":"blocks" "pad":50256 "block_size":7' \
    "$(llm-cat --header pad.bin | grep -o '"pad":[0-9]*\|"block_size":[0-9]*\|"kind":"[a-z]*"' | tr '\n' ' ' | sed 's/ $//')"
run llm-collate -q --template=plain --pad=max -b 5 --pad-id=0 two.jsonl -o pad0.bin
expect_eq pad-id '{"input_ids":[80,257,257,50256,0],"labels":[-100,257,257,50256,-100]}' "$(rows pad0.bin)"
# an id past the vocabulary is refused whatever the layout, also one that never pads
expect_fail pad-id-range 1 "--pad-id 50257: not below the vocabulary size 50257" \
    llm-collate -q --template=plain --pad-id=50257 two.jsonl -o nopad.bin
expect_eq pad-id-range-no-output "" "$(ls nopad.bin 2>/dev/null)"
run llm-collate -q --template=plain two.jsonl -o none.bin
expect_eq pad-none '{"input_ids":[80,257,257,50256],"labels":[-100,257,257,50256]}' "$(rows none.bin)"
expect_eq pad-none-header '"block_size":0' "$(llm-cat --header none.bin | grep -o '"block_size":[0-9]*')"

# ---- --max-len: truncate, drop, nothing left ----
{ rec 10; printf '{"query":"q q q q q q","answer":" a"}\n'; rec 1; } >long.jsonl
run llm-collate --template=plain -b 5 --rejects=rej.jsonl long.jsonl -o trunc.bin
cp "$LAST_ERR" trunc.err
expect_eq truncate \
'{"input_ids":[80,257,257,257,257],"labels":[-100,257,257,257,257]}
{"input_ids":[80,257,50256],"labels":[-100,257,50256]}' "$(rows trunc.bin)"
expect_file_has truncate-summary '3 examples in, 2 written (1 truncated), 1 dropped, 0 skipped (malformed): no-answer-left 1' trunc.err
expect_eq truncate-reject 'no-answer-left 2' "$(py 'import json,sys; r=json.loads(open(sys.argv[1]).read()); print(r["reason"], r["line"])' rej.jsonl)"
run llm-collate --template=plain -b 5 --overflow=drop --rejects=rej2.jsonl long.jsonl -o drop.bin
cp "$LAST_ERR" drop.err
expect_eq drop '{"input_ids":[80,257,50256],"labels":[-100,257,50256]}' "$(rows drop.bin)"
expect_file_has drop-summary '3 examples in, 1 written (0 truncated), 2 dropped, 0 skipped (malformed): too-long 2' drop.err
expect_eq drop-rejects 'too-long 1,too-long 2' \
    "$(py 'import json,sys; print(",".join("%s %d" % (r["reason"], r["line"]) for r in map(json.loads, open(sys.argv[1]))))' rej2.jsonl)"
# without -b, an example longer than a stream record holds (67108848 tokens) is a counted drop,
# not a failed write after it was counted as written
py 'import sys; sys.stdout.write("{\"query\":\"q\",\"answer\":\"" + " a" * 67108847 + "\"}\n")' >huge.jsonl
rec 1 >>huge.jsonl
run llm-collate --template=plain --rejects=huge-rej.jsonl huge.jsonl -o huge.bin
expect_eq huge-status 0 "$RC"
expect_file_has huge-summary '2 examples in, 1 written (0 truncated), 1 dropped, 0 skipped (malformed): too-long 1' "$LAST_ERR"
expect_eq huge-reject 'too-long 1 67108849 tokens, more than a stream record holds (67108848): give --max-len to cut it' \
    "$(py 'import json,sys; r=json.loads(open(sys.argv[1]).readline()); print(r["reason"], r["line"], r["error"])' huge-rej.jsonl)"
expect_eq huge-rows '{"input_ids":[80,257,50256],"labels":[-100,257,50256]}' "$(rows huge.bin)"
rm -f huge.jsonl huge-rej.jsonl

# ---- the length distribution: examples of 3 to 102 tokens ----
for k in $(seq 1 100); do rec "$k"; done >lengths.jsonl
run llm-collate --template=plain -b 50 lengths.jsonl -o lengths.bin
expect_file_has lengths 'lengths in tokens: min 3, max 102, mean 52.5, p50 52, p90 92, p99 101 (of 100 examples, before --max-len)' "$LAST_ERR"

# ---- --pack: whole examples, starts recorded, each start masked, nothing lost ----
for k in 3 9 1 5 12 2 7 4 6 8 3 1; do rec "$k"; done >pack.jsonl
run llm-collate -q --template=plain --pack -b 16 pack.jsonl -o pack.bin
rows pack.bin >pack.rows
expect_eq pack-check ok "$(py '
import json, sys
ids = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    x, y, st = r["input_ids"], r["labels"], r["doc_starts"]
    assert len(x) == 16, "a block of %d" % len(x)
    ends = st[1:] + [len(x)]
    for s, e in zip(st, ends):
        assert y[s] == -100, "an example start that counts"
        ex = x[s:e]
        n = ex.index(50256) + 1          # the example, then padding
        assert ex[0] == 80 and all(t == 257 for t in ex[1:n - 1]), "a split example"
        assert all(t == 50256 for t in ex[n:]) and all(l == -100 for l in y[s + n:e]), "padding that counts"
        assert y[s + 1:s + n] == ex[1:n], "an answer token masked"
        ids += n
assert ids == sum(k + 2 for k in (3, 9, 1, 5, 12, 2, 7, 4, 6, 8, 3, 1)), "tokens lost: %d" % ids
print("ok")' pack.rows 2>&1)"
# a packed example whose only counted token is its first has nothing left to learn: dropped
rec 1 >first.jsonl
run llm-collate --template=plain --train-on-inputs --pack -b 1 --rejects=first-rej.jsonl first.jsonl -o first.bin
expect_file_has pack-first-only '1 examples in, 0 written (0 truncated), 1 dropped, 0 skipped (malformed): no-answer-left 1' "$LAST_ERR"
expect_eq pack-first-only-rows '' "$(rows first.bin)"
printf '{"query":"","answer":" a"}\n' >first2.jsonl
printf 'user = "{content}"\nassistant = "{content}"\n' >noeos.txt
run llm-collate --template=noeos.txt --pack -b 4 --rejects=first-rej2.jsonl first2.jsonl -o first2.bin
expect_file_has pack-first-only-untruncated 'no-answer-left 1' "$LAST_ERR"
expect_file_has pack-first-only-reject 'packed, its first token is masked' first-rej2.jsonl

# ---- the same bytes for any -j ----
for i in $(seq 1 3000); do rec $((i % 37)); printf '{"messages":[{"role":"user","content":"n%d"},{"role":"assistant","content":"r%d"}]}\n' "$i" "$i"; done |
    grep -v '"answer":""' >many.jsonl
llm-collate -q --template=plain -j1 -b 20 many.jsonl -o j1.bin
llm-collate -q --template=plain -j3 -b 20 many.jsonl -o j3.bin
expect_same_file threads j1.bin j3.bin
llm-collate -q --template=plain -j1 --pack -b 64 many.jsonl -o p1.bin
llm-collate -q --template=plain -j3 --pack -b 64 many.jsonl -o p3.bin
expect_same_file threads-pack p1.bin p3.bin

# ---- malformed records ----
cat >bad.jsonl <<'EOF'
{"query":"q","answer":" a"}
{"query":"q","answer":" a"
{"query":"q"}
{"query":"q","answer":7}
{"query":"q","answer":"  "}
{"messages":[{"role":"robot","content":"x"}]}
{"messages":[{"role":"user","content":"x"}]}
{"text":"a pretraining document"}
[1,2]
{"instruction":"i","output":"o"}
EOF
expect_fail error-line 1 'bad.jsonl:2:' llm-collate -q --template=plain bad.jsonl -o bad.bin
expect_stderr_has error-hint '--on-error=skip' llm-collate -q --template=plain bad.jsonl -o bad.bin
expect_eq error-no-output '' "$(ls bad.bin 2>/dev/null)"
run llm-collate --template=plain bad.jsonl -o bad.bin
expect_file_has error-summary-counts-failed '2 examples in, 1 written (0 truncated), 0 dropped, 0 skipped (malformed); 1 failed' "$LAST_ERR"
sed -n 3p bad.jsonl >missing.jsonl
expect_fail missing-field 1 'missing.jsonl:1: no "answer" member' llm-collate -q --template=plain missing.jsonl -o m.bin
sed -n 4p bad.jsonl >type.jsonl
expect_fail wrong-type 1 '"answer" is integer, not a string' llm-collate -q --template=plain type.jsonl -o m.bin
sed -n 5p bad.jsonl >empty.jsonl
expect_fail empty-answer 1 '"answer" is empty' llm-collate -q --template=plain empty.jsonl -o m.bin
run llm-collate --template=plain --on-error=skip --rejects=bad-rej.jsonl bad.jsonl -o skip.bin
cp "$LAST_ERR" skip.err
expect_eq skip-status 0 "$RC"
expect_file_has skip-summary '10 examples in, 2 written (0 truncated), 0 dropped, 8 skipped (malformed): malformed-json 2, missing-field 2, wrong-type 1, empty-answer 1, bad-chat 2' skip.err
expect_eq skip-rejects '2 malformed-json,3 missing-field,4 wrong-type,5 empty-answer,6 bad-chat,7 bad-chat,8 missing-field,9 malformed-json' \
    "$(py 'import json,sys; print(",".join("%d %s" % (r["line"], r["reason"]) for r in map(json.loads, open(sys.argv[1]))))' bad-rej.jsonl)"
# the shape of llm-clean's rejects: "record" as read, or "raw" for a line that is not JSON;
# "file" only when reading named files
expect_eq skip-rejects-lines '{"reason":"malformed-json","file":"bad.jsonl","line":2,"error":"invalid JSON: The JSON document has an improper structure: missing or superfluous commas, braces, missing keys, etc.","raw":"{\"query\":\"q\",\"answer\":\" a\""}
{"reason":"wrong-type","file":"bad.jsonl","line":4,"error":"\"answer\" is integer, not a string","record":{"query":"q","answer":7}}' \
    "$(sed -n '1p;3p' bad-rej.jsonl)"
run llm-collate --template=plain --on-error=skip --rejects=stdin-rej.jsonl -o skip.bin <bad.jsonl
expect_eq skip-rejects-stdin '{"reason":"wrong-type","line":4,"error":"\"answer\" is integer, not a string","record":{"query":"q","answer":7}}' \
    "$(sed -n 3p stdin-rej.jsonl)"

# ---- templates: a file, --system, errors ----
cat >t.txt <<'EOF'
# a template of my own
system    = "SYSTEM: {content}\n"
user      = "USER: {content}\n"
assistant_start = "BOT: "
assistant = "{content}{eos}"   # the answer: what counts
EOF
printf '{"query":"Hi","answer":"Yo"}\n{"query":"Hi","answer":"Yo","system":"Own."}\n' >sys.jsonl
run llm-collate -q --template=t.txt --system='Be brief.' --render sys.jsonl
expect_eq template-file '{"text":"SYSTEM: Be brief.\nUSER: Hi\nBOT: Yo<|endoftext|>","trained":[[32,47]]}
{"text":"SYSTEM: Own.\nUSER: Hi\nBOT: Yo<|endoftext|>","trained":[[27,42]]}' "$(cat "$LAST_OUT")"
printf 'user = "{content}"\nasistant = "{content}"\n' >typo.txt
expect_fail template-typo 1 "typo.txt:2: unknown key 'asistant'" llm-collate -q --template=typo.txt two.jsonl -o x.bin
expect_fail template-special 1 '<|im_start|> is not a special token of gpt2' llm-collate -q --template=chatml two.jsonl -o x.bin
expect_fail template-missing 1 'nonesuch.txt' llm-collate -q --template=nonesuch.txt two.jsonl -o x.bin
# a line with no place for a message's text would drop it from every example
printf 'user = "{input}"\nassistant = "{content}"\n' >lost-user.txt
expect_fail template-user-lost 1 'lost-user.txt: user: no {content} or {instruction}' \
    llm-collate -q --template=lost-user.txt two.jsonl -o x.bin
printf 'system = "SYSTEM\\n"\nuser = "{content}"\nassistant = "{content}"\n' >lost-system.txt
expect_fail template-system-lost 1 'lost-system.txt: system: no {content}' \
    llm-collate -q --template=lost-system.txt --system=S two.jsonl -o x.bin
printf 'user = "{instruction}"\nassistant = "{content}"\n' >lost-input.txt
expect_fail template-input-lost 1 "a record's input would be lost" \
    llm-collate -q --template=lost-input.txt two.jsonl -o x.bin
printf 'user = "{instruction}"\nuser_input = "{input}"\nassistant = "{content}"\n' >lost-instruction.txt
expect_fail template-instruction-lost 1 'user_input: no {content}, nor {instruction} and {input}' \
    llm-collate -q --template=lost-instruction.txt two.jsonl -o x.bin
# a byte order mark, as some editors write one, is not a key
printf '\xef\xbb\xbfuser = "U:{content}"\r\nassistant = "{content}"\r\n' >bom.txt
run llm-collate -q --template=bom.txt --render two.jsonl
expect_eq template-bom '{"text":"U:q a a","trained":[[3,7]]}' "$(cat "$LAST_OUT")"
run llm-collate --template=alpaca --show-template
expect_file_has show-template '### Instruction:' "$LAST_OUT"
expect_fail show-template-none 2 '--show-template: name the template with --template, or the tokenizer' \
    llm-collate --show-template
printf 'user = "{content}"\nassistant = "{content}"\ntrim = YES\n' >trim.txt
expect_fail template-trim-value 1 "trim.txt:3: trim: expected yes or no, got 'YES'" \
    llm-collate -q --template=trim.txt two.jsonl -o x.bin
printf 'user = "{content}"\nassistant = "{content}"\ntrim = yes please # a comment\n' >trim2.txt
expect_fail template-trim-words 1 "trim2.txt:3: trim: expected yes or no, got 'yes please'" \
    llm-collate -q --template=trim2.txt two.jsonl -o x.bin
# the tool lines must place what they stand for, like the others
tl() { printf 'user = "{content}"\nassistant = "%s"\n%b' "$1" "$2" >tl.txt; }
tl '{content}' 'tool_start = "<"\n'
expect_fail template-tool-start-alone 1 'tl.txt: tool_start without a tool line' llm-collate -q --template=tl.txt two.jsonl -o x.bin
tl '{content}' 'tool = "T:"\n'
expect_fail template-tool-lost 1 "tl.txt: tool: no {content}, where the tool's response goes" \
    llm-collate -q --template=tl.txt two.jsonl -o x.bin
tl '{content}' 'tool_call = "{name}({arguments})"\n'
expect_fail template-calls-lost 1 'tl.txt: assistant: no {tool_calls}, where the tool_call lines go' \
    llm-collate -q --template=tl.txt two.jsonl -o x.bin
tl '{content}{tool_calls}' ''
expect_fail template-calls-no-line 1 'tl.txt: assistant: {tool_calls} without a tool_call line' \
    llm-collate -q --template=tl.txt two.jsonl -o x.bin
tl '{content}{tool_calls}' 'tool_call = "{name}"\n'
expect_fail template-call-arguments 1 'tl.txt: tool_call: no {arguments}' llm-collate -q --template=tl.txt two.jsonl -o x.bin
tl '{content}' 'tools = "{system}"\n'
expect_fail template-tools-lost 1 "tl.txt: tools: no {tools}, where the record's tools go" \
    llm-collate -q --template=tl.txt two.jsonl -o x.bin
tl '{content}' 'tool = "{name}"\n'
expect_fail template-tool-name 1 'tl.txt:3: tool: {name} has no meaning here' llm-collate -q --template=tl.txt two.jsonl -o x.bin
# a template file of my own with every tool line: where each text goes, and what counts
cat >tools.txt <<'EOF'
tools         = "TOOLS {system}[{tools}]\n"
system        = "S: {content}\n"
user          = "U: {content}\n"
tool_start    = "R:"
tool          = " ({content})"
tool_end      = "\n"
assistant_start = "A: "
assistant     = "{content}{tool_calls}{eos}"
tool_call     = "{name}<{arguments}>"
tool_call_sep = "; "
EOF
printf '%s\n' '{"system":"Sys","tools":[{"name":"f","d":{"x":[1,true,null]}},{"name":"g"}],"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"","tool_calls":[{"name":"f","arguments":{"a":"é"}},{"function":{"name":"g","arguments":"raw {"}}]},{"role":"tool","content":"r1"},{"role":"tool","content":"r2"},{"role":"assistant","content":"ok","tool_calls":[{"name":"f","arguments":{}}]}]}' >tools.jsonl
run llm-collate -q --template=tools.txt --render tools.jsonl
expect_eq template-tools-file \
    '{"text":"TOOLS Sys\n\n[{\"name\": \"f\", \"d\": {\"x\": [1, true, null]}}\n{\"name\": \"g\"}]\nU: q\nA: f<{\"a\": \"é\"}>; g<raw {><|endoftext|>R: (r1) (r2)\nA: ok; f<{}><|endoftext|>","trained":[[78,115],[131,153]]}' \
    "$(cat "$LAST_OUT")"

# OpenAI writes "content": null beside tool calls, or leaves it out: the same as empty
sed 's/"content":"","tool_calls"/"content":null,"tool_calls"/' tools.jsonl >tools-null.jsonl
sed 's/"content":"","tool_calls"/"tool_calls"/' tools.jsonl >tools-none.jsonl
expect_eq tools-content-null "$(cat "$LAST_OUT")" "$(llm-collate -q --template=tools.txt --render tools-null.jsonl)"
expect_eq tools-content-none "$(cat "$LAST_OUT")" "$(llm-collate -q --template=tools.txt --render tools-none.jsonl)"

# ---- tool use that a template has no place for, malformed tool calls, two system messages ----
msgs='"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"","tool_calls":'
cat >toolbad.jsonl <<EOF
{$msgs[{"name":"f","arguments":"{}"}]}]}
{$msgs"f"}]}
{$msgs[{"function":{"arguments":{}}}]}]}
{$msgs[{"name":"f","arguments":7}]}]}
{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"},{"role":"tool","content":"r"}]}
{"tools":[{"name":"f"}],"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}
{"system":"S","messages":[{"role":"system","content":"T"},{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}
{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":" "}]}
{"system":"","messages":[{"role":"system","content":"T"},{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}
{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":null}]}
EOF
run llm-collate --template=alpaca --on-error=skip --rejects=toolbad-rej.jsonl toolbad.jsonl -o toolbad.bin
expect_file_has tool-skips-summary '10 examples in, 1 written (0 truncated), 0 dropped, 9 skipped (malformed): missing-field 1, wrong-type 3, empty-answer 1, bad-chat 4' "$LAST_ERR"
expect_eq tool-skips \
'1 bad-chat an assistant message with tool_calls, and template alpaca has no tool_call line to render them
2 wrong-type "messages[1].tool_calls" is string, not an array
3 missing-field no "messages[1].tool_calls[0].function.name" member
4 wrong-type "messages[1].tool_calls[0].arguments" is integer, not a string or an object
5 bad-chat a tool message, and template alpaca has no tool line to render it
6 bad-chat a "tools" list, and template alpaca has no tools line to render it
7 bad-chat "system" member and a system message at messages[0]: one system message per conversation
8 empty-answer messages[1]: the assistant'"'"'s content is empty, and it has no tool_calls
10 wrong-type "messages[1].content" is null, not a string' \
    "$(py 'import json,sys; print("\n".join("%d %s %s" % (r["line"], r["reason"], r["error"]) for r in map(json.loads, open(sys.argv[1]))))' toolbad-rej.jsonl)"
sed -n 1p toolbad.jsonl >toolcall.jsonl
expect_fail tool-calls-alpaca 1 'toolcall.jsonl:1: an assistant message with tool_calls, and template alpaca has no tool_call line to render them' \
    llm-collate -q --template=alpaca toolcall.jsonl -o x.bin
# an empty "system" member is no second system message
sed -n 9p toolbad.jsonl >ownsys.jsonl
run llm-collate -q --template=t.txt --system=Default --render ownsys.jsonl
expect_eq system-empty-member '{"text":"SYSTEM: T\nUSER: q\nBOT: a<|endoftext|>","trained":[[23,37]]}' "$(cat "$LAST_OUT")"

# ---- usage ----
expect_fail usage-pack 2 '--pack needs --max-len' llm-collate --pack two.jsonl
expect_fail usage-pad 2 '--pad=max needs --max-len' llm-collate --pad=max two.jsonl
expect_fail usage-max-len-range 2 '--max-len: expected 1 to 67108848 tokens' llm-collate --pad=max -b 67108849 two.jsonl
expect_fail usage-render 2 '--render writes text' llm-collate --render -b 5 two.jsonl
# --render writes no stream: the options of the stream would be ignored
expect_fail usage-render-max-drop 2 '--max-drop has no meaning with it' llm-collate --render --max-drop=5 two.jsonl
expect_fail usage-render-level 2 '--level has no meaning with it' llm-collate --render -l 9 two.jsonl
expect_fail usage-render-pad-id 2 '--pad-id has no meaning with it' llm-collate --render --pad-id=0 two.jsonl
expect_fail usage-overflow 2 '--overflow goes with --max-len' llm-collate --overflow=drop two.jsonl -o x.bin
expect_fail usage-schema 2 '--schema' llm-collate --schema=nope two.jsonl
expect_fail usage-both 2 'choose one' llm-collate --pack --pad=max -b 5 two.jsonl
expect_no_temps no-temps
