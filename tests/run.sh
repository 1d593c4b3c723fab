#!/usr/bin/env bash
# Runs every test: C unit tests (build/tests/test_*), end-to-end shell tests (tests/cli/*.sh),
# the model's reference checks (tests/train/*.sh), fuzz corpus replays and, when clang's
# libFuzzer is available, a short fuzz run.
# Each test prints "ok NAME" or "FAIL NAME"; the last line counts them.
set -u
cd "$(dirname "$0")/.."
: "${LLM_BIN:=$PWD/bin}" "${LLM_BUILD:=$PWD/build}" "${FUZZ_SHORT:=10}"
# LLM_WRAP: a command the unit tests and fuzz replays run under (tests/valgrind.sh)
: "${LLM_WRAP:=}"
export LLM_BIN LLM_BUILD
export PATH="$LLM_BIN:$PATH"
log=$(mktemp -d "${TMPDIR:-/tmp}/llm-tests.XXXXXX")
trap 'rm -rf "$log"' EXIT

pass=0 fail=0 skip=0
tally() {   # tally NAME LOGFILE: counts ok/FAIL/skipped lines; a run that printed none but failed counts once
    local name=$1 out=$2 status=$3 ok bad skipped
    ok=$(grep -c '^ok ' "$out")
    bad=$(grep -c '^FAIL ' "$out")
    skipped=$(grep -c '^skipped: ' "$out")
    if [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then
        bad=1; echo "FAIL $name (exit $status)" >>"$out"
    fi
    pass=$((pass + ok)); fail=$((fail + bad)); skip=$((skip + skipped))
    if [ "$bad" -ne 0 ]; then
        echo "== $name: $bad failed"; grep -v '^ok ' "$out" | tail -n 40
    elif [ "$ok" -eq 0 ] && [ "$skipped" -ne 0 ]; then
        echo "== $name: $(grep -m1 '^skipped: ' "$out")"
    else
        echo "== $name: $ok passed"
    fi
}

# LLM_TESTS="GLOB..." runs only the tests whose names match (make check-gpu: the GPU ones).
wanted() {
    [ -z "${LLM_TESTS:-}" ] && return 0
    local g
    for g in $LLM_TESTS; do
        # shellcheck disable=SC2053
        [[ $1 == $g ]] && return 0
    done
    return 1
}

for t in "$LLM_BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    wanted "$name" || continue
    $LLM_WRAP "$t" >"$log/$name.out" 2>&1; tally "$name" "$log/$name.out" $?
done

# The GPU tests again on the CUDA emulator (tests/cuda_emu), where make built it: there a
# "skipped" is a failure, since the emulator is always a device.
emu_tally() {   # emu_tally NAME LOGFILE STATUS
    if grep -q '^skipped: ' "$2"; then
        echo "FAIL $1 (skipped on the emulator)" >>"$2"
    fi
    tally "$1" "$2" "$3"
}
if [ -d "$LLM_BUILD/emu/tests" ]; then
    for t in "$LLM_BUILD"/emu/tests/test_*; do
        [ -x "$t" ] || continue
        name=emu/$(basename "$t")
        wanted "$name" || continue
        "$t" >"$log/emu_${name#emu/}.out" 2>&1; emu_tally "$name" "$log/emu_${name#emu/}.out" $?
    done
    if wanted emu/cli/train_cuda && [ -x "$LLM_BUILD/emu/bin/llm-train" ]; then
        LLM_BIN=$LLM_BUILD/emu/bin PATH="$LLM_BUILD/emu/bin:$PATH" bash tests/cli/train_cuda.sh \
            >"$log/emu_train_cuda.out" 2>&1
        emu_tally emu/cli/train_cuda "$log/emu_train_cuda.out" $?
    fi
fi

for t in tests/cli/*.sh; do
    [ "$(basename "$t")" = lib.sh ] && continue
    name=$(basename "$t" .sh)
    wanted "cli/$name" || continue
    bash "$t" >"$log/$name.out" 2>&1; tally "cli/$name" "$log/$name.out" $?
done

# The model against its references (PyTorch), tests/train/*.sh.
for t in tests/train/*.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t" .sh)
    wanted "train/$name" || continue
    bash "$t" >"$log/train_$name.out" 2>&1; tally "train/$name" "$log/train_$name.out" $?
done

for r in "$LLM_BUILD"/tests/replay_fuzz_*; do
    [ -x "$r" ] || continue
    name=${r##*/replay_fuzz_}
    wanted "replay/$name" || continue
    $LLM_WRAP "$r" tests/fuzz/corpus/"$name" >"$log/replay_$name.out" 2>&1; tally "replay/$name" "$log/replay_$name.out" $?
done

if [ "$FUZZ_SHORT" != 0 ] && [ -z "${LLM_TESTS:-}" ]; then
    if command -v clang >/dev/null && make -s fuzz-build >"$log/fuzz-build.out" 2>&1; then
        for f in "$LLM_BUILD"/fuzz/fuzz_*; do
            [ -x "$f" ] || continue
            name=${f##*/fuzz_}
            tests/fuzz/run-fuzzer.sh "$f" tests/fuzz/corpus/"$name" "$FUZZ_SHORT" >"$log/fuzz_$name.out" 2>&1
            tally "fuzz/$name (${FUZZ_SHORT}s)" "$log/fuzz_$name.out" $?
        done
    else
        echo "skipped: short fuzz run (clang with libFuzzer not available)"
    fi
fi

[ "$skip" -eq 0 ] || echo "$skip skipped (see above: no GPU, or a tool missing)"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
