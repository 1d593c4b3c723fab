#!/usr/bin/env bash
# Runs tests/run.sh with every program and unit test under valgrind's memcheck (make valgrind),
# for what the sanitizers of `make sanitize` do not see: reads of uninitialised memory.
# Each process writes its own log; a log with an error, or with memory definitely or
# indirectly lost, is a "FAIL valgrind" line, the last lines count them. The tests keep
# their own verdicts (they run some 20 to 50 times slower: VALGRIND_TESTS picks them,
# default the unit tests, the fuzz replays and the CLI tests named below; not cli/train_run,
# whose training runs take minutes natively).
#   VALGRIND_TESTS="GLOB..."  as LLM_TESTS for tests/run.sh
set -u
cd "$(dirname "$0")/.." || exit 2
: "${LLM_BIN:=$PWD/bin}" "${LLM_BUILD:=$PWD/build}"
: "${VALGRIND_TESTS:=test_* replay/* cli/cat_* cli/pack_* cli/collate_layout cli/tokenize_basic cli/ledger
cli/clean_table cli/clean_errors cli/eval_errors cli/eval_generate}"
command -v valgrind >/dev/null || { echo "skipped: valgrind (not installed)"; exit 0; }

# The logs stay in $LLM_BUILD/valgrind/logs (one a process) for a look after the run.
work=$LLM_BUILD/valgrind
rm -rf "$work" && mkdir -p "$work/bin" "$work/logs" || exit 1
# Only what is ours is checked: scripts and the peers run as they are.
wrap="valgrind --log-file=$work/logs/%p.log --leak-check=full
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
    --suppressions=$PWD/tests/valgrind.supp --num-callers=30"
# A test that closes a standard stream runs the program as it is: valgrind's log would take
# the closed descriptor and the program would write into the log.
for p in "$LLM_BIN"/llm-*; do
    [ -x "$p" ] || continue
    printf '#!/bin/sh\nfor fd in 0 1 2; do [ -e /proc/$$/fd/$fd ] || exec %s "$@"; done\nexec %s %s "$@"\n' \
        "$p" "$(echo $wrap)" "$p" >"$work/bin/${p##*/}"
    chmod +x "$work/bin/${p##*/}"
done

LLM_BIN=$work/bin LLM_BUILD=$LLM_BUILD LLM_WRAP="$(echo $wrap)" LLM_TESTS="$VALGRIND_TESTS" FUZZ_SHORT=0 \
    tests/run.sh
status=$?

bad=0 logs=0
for f in "$work"/logs/*.log; do
    [ -e "$f" ] || continue
    logs=$((logs + 1))
    # definite and indirect leaks count as errors (--errors-for-leak-kinds); a forked child
    # that ends by _exit or a signal writes no summary, only what it found
    if grep -q 'ERROR SUMMARY:' "$f"; then
        grep -q 'ERROR SUMMARY: 0 errors' "$f" && continue
    else
        sed '1,/Parent PID:/d' "$f" | grep -q -v '^==[0-9]*== *$' || continue
    fi
    bad=$((bad + 1))
    echo "FAIL valgrind: $(grep -m1 -o 'Command: .*' "$f" || echo "process ${f##*/}")"
    grep -v '^==[0-9]*== *$' "$f" | sed -n '/Command:/,$p' | head -n 60 | sed 's/^/  /'
done
echo "valgrind: $logs processes, $bad with errors or leaks"
[ "$status" -eq 0 ] && [ "$bad" -eq 0 ]
