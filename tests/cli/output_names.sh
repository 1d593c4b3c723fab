#!/usr/bin/env bash
# Output file names that can only fail are refused as usage errors (status 2) before any
# work: an empty -o in every program; in llm-clean and llm-collate an empty or clashing
# --rejects or --ledger, or one of them on standard output when the output is there; and
# llm-pack's --val and llm-tokenize's --save-tokenizer on the output's file. Names clash
# by the file they reach (./x, a link); an extra output may not name an input. And every
# program names the unknown option it refused.
. "$(dirname "$0")/lib.sh"

printf '{"text":"a"}\n{"bad":1}\n' >in.jsonl
for p in clean tokenize pack collate cat eval; do
    expect_fail "output-empty-name-$p" 2 "llm-$p: --output: the file name is empty" "llm-$p" -o '' in.jsonl
done
# Every program names an unknown short option as typed, also inside a group (-Zq).
for p in clean tokenize pack collate cat eval train; do
    expect_fail "unknown-short-in-group-$p" 2 "llm-$p: unknown option, or one missing its value: '-Z'" "llm-$p" -Zq in.jsonl
done

expect_fail clean-rejects-empty-name 2 "llm-clean: --rejects: the file name is empty" llm-clean --rejects= in.jsonl
expect_fail clean-ledger-empty-name 2 "llm-clean: --ledger: the file name is empty" llm-clean --ledger= in.jsonl
expect_fail clean-rejects-stdout 2 "llm-clean: --rejects: give a file name: standard output has the cleaned documents" \
    llm-clean --on-error=skip --rejects=- in.jsonl
expect_eq clean-rejects-stdout-no-output "" "$(cat "$LAST_OUT")"
expect_fail clean-ledger-stdout 2 "llm-clean: --ledger: give a file name: standard output has the cleaned documents" \
    llm-clean --ledger=- -o - in.jsonl
expect_fail clean-rejects-ledger-stdout 2 "llm-clean: --rejects and --ledger both name standard output" \
    llm-clean --rejects=- --ledger=- -o out.jsonl in.jsonl
expect_fail clean-output-ledger-same 2 "llm-clean: --output and --ledger name the same file" \
    llm-clean --ledger=out.jsonl -o out.jsonl in.jsonl
# With -o FILE standard output is free for one of them.
run llm-clean -q --on-error=skip --rejects=- -o out.jsonl in.jsonl
expect_eq clean-rejects-stdout-with-output "0 {\"text\":\"a\"}
{\"reason\":\"missing-field\",\"file\":\"in.jsonl\",\"line\":2,\"error\":\"no field \\\"text\\\"\",\"record\":{\"bad\":1}}" \
    "$RC $(cat out.jsonl; cat "$LAST_OUT")"

printf '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}\n{"x":1}\n' >sft.jsonl
expect_fail collate-rejects-empty-name 2 "llm-collate: --rejects: the file name is empty" llm-collate --rejects= sft.jsonl
expect_fail collate-rejects-stdout 2 "llm-collate: --rejects: give a file name: standard output has the stream" \
    llm-collate --on-error=skip --rejects=- sft.jsonl
run llm-collate -q --on-error=skip --rejects=- -o sft.bin sft.jsonl
expect_eq collate-rejects-stdout-with-output "0 missing-field" "$RC $($PY -c '
import json, sys
print(json.loads(sys.stdin.readline())["reason"])' <"$LAST_OUT")"

# The same check (lib/cli.c llm_outputs_apart) in llm-collate and llm-pack, made before any
# input is opened.
expect_fail collate-output-rejects-same 2 "llm-collate: --output and --rejects name the same file" \
    llm-collate --rejects=sft.out -o sft.out sft.jsonl
expect_fail pack-output-val-same 2 "llm-pack: --output and --val name the same file" \
    llm-pack -b 8 --val=blocks.bin --val-fraction=0.5 -o blocks.bin docs.bin
# llm-tokenize saves the tokenizer before the stream is renamed onto the same name.
expect_fail tokenize-output-save-tokenizer-same 2 "llm-tokenize: --output and --save-tokenizer name the same file" \
    llm-tokenize --save-tokenizer=tok.out -o tok.out in.jsonl

# Names that differ but reach one file clash too: through ./ or a link, existing or not.
expect_fail pack-output-val-dot-same 2 "llm-pack: --output and --val name the same file" \
    llm-pack -b 8 --val=./new.bin --val-fraction=0.5 -o new.bin docs.bin
: >old.bin
ln -sf old.bin link.bin
expect_fail clean-output-ledger-link-same 2 "llm-clean: --output and --ledger name the same file" \
    llm-clean --ledger=link.bin -o old.bin in.jsonl
mkdir -p sub
expect_fail collate-output-rejects-dir-same 2 "llm-collate: --output and --rejects name the same file" \
    llm-collate --rejects=sub/../sft.new -o sft.new sft.jsonl
# /dev/null is not renamed over: two outputs may both go there.
check clean-rejects-ledger-dev-null llm-clean -q --on-error=skip --rejects=/dev/null --ledger=/dev/null -o out2.jsonl in.jsonl
expect_eq clean-rejects-ledger-dev-null-output '{"text":"a"}' "$(cat out2.jsonl)"

# llm-pack's validation stream may take standard output when -o names a file.
printf '{"text":"one two three"}\n{"text":"four five six seven"}\n{"text":"eight"}\n' |
    llm-tokenize -q -o three.bin
expect_fail pack-val-stdout-taken 2 "llm-pack: --val: give a file name: standard output has the training stream" \
    llm-pack -b 2 --val=- --val-docs=1 three.bin
expect_fail pack-val-empty-name 2 "llm-pack: --val: the file name is empty" llm-pack -b 2 --val= --val-docs=1 three.bin
expect_status pack-val-stdout 0 llm-pack -b 2 --val=- --val-docs=1 -o train3.bin three.bin
expect_file_has pack-val-stdout-summary "validation: 1 documents" "$LAST_ERR"
mv "$LAST_OUT" val3-stdout.bin
check pack-val-file llm-pack -q -b 2 --val=val3.bin --val-docs=1 -o train3-file.bin three.bin
expect_eq pack-val-stdout-same-blocks "$(llm-cat -q --to=ids val3.bin) | $(llm-cat -q --to=ids train3-file.bin)" \
    "$(llm-cat -q --to=ids val3-stdout.bin) | $(llm-cat -q --to=ids train3.bin)"

# Only -o replaces an input (renamed into place once all is read); an extra file naming an
# input would overwrite it.
printf '{"text":"a"}\n{"bad":1}\n' >own.jsonl
expect_fail clean-rejects-input 2 "llm-clean: --rejects would overwrite the input ./own.jsonl (only -o may replace an input)" \
    llm-clean --on-error=skip --rejects=own.jsonl -o out3.jsonl ./own.jsonl
expect_fail clean-ledger-input 2 "llm-clean: --ledger would overwrite the input own.jsonl" \
    llm-clean --ledger=own.jsonl -o out3.jsonl in.jsonl own.jsonl
expect_fail collate-rejects-input 2 "llm-collate: --rejects would overwrite the input sft.jsonl" \
    llm-collate --rejects=sft.jsonl -o sft3.bin sft.jsonl
expect_fail tokenize-save-tokenizer-input 2 "llm-tokenize: --save-tokenizer would overwrite the input own.jsonl" \
    llm-tokenize --save-tokenizer=own.jsonl -o own3.bin own.jsonl
expect_fail pack-val-input 2 "llm-pack: --val would overwrite the input three.bin" \
    llm-pack -b 2 --val=three.bin --val-docs=1 -o train4.bin three.bin
expect_eq extra-outputs-spare-inputs "$(printf '{"text":"a"}\n{"bad":1}')" "$(cat own.jsonl)"
check clean-output-replaces-input llm-clean -q --on-error=skip -o own.jsonl own.jsonl
expect_eq clean-output-replaced-input '{"text":"a"}' "$(cat own.jsonl)"
