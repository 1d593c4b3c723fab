# Helpers for the end-to-end tests, sourced by every tests/cli/*.sh (tests/run.sh skips this file).
#
# Each test case prints one line, "ok NAME" or "FAIL NAME" followed by indented diagnostics;
# a script always exits 0 (the runner counts the FAIL lines). Every script runs in a fresh
# empty directory ($W, the current directory) that is removed on exit; the captured output
# of the last command run by a helper is in $LAST_OUT / $LAST_ERR and its status in $RC.
set -u

CLI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$CLI_DIR/../.." && pwd)
: "${LLM_BIN:=$ROOT/bin}" "${LLM_BUILD:=$ROOT/build}"
export LLM_BIN LLM_BUILD
export PATH="$LLM_BIN:$PATH"
export LC_ALL=C
# The CPU tests stay on the CPU on a machine with a GPU too (their expected bytes are the CPU's);
# tests/cli/train_cuda.sh names --device itself.
export LLM_DEVICE=cpu
PY=/usr/bin/python3          # has numpy; not whatever python3 PATH finds
GEN="$PY $CLI_DIR/gen_ids.py"
DATA=$ROOT/tests/data

T=$(mktemp -d "${TMPDIR:-/tmp}/llm-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
mkdir "$T/w" "$T/cap"
W=$T/w
LAST_OUT=$T/cap/out
LAST_ERR=$T/cap/err
RC=0
cd "$W" || exit 1
exec </dev/null              # no test may wait on the terminal

if ! [ -x "$LLM_BIN/llm-cat" ]; then
    echo "FAIL setup"
    echo "  $LLM_BIN/llm-cat is missing: run make first"
    exit 0
fi

pass() { echo "ok $1"; }

# fail NAME DETAIL...: the FAIL line, then each detail line indented.
fail() {
    local name=$1
    shift
    echo "FAIL $name"
    local d
    for d in "$@"; do
        printf '%s\n' "$d" | head -n 20 | sed 's/^/    /'
    done
}

# need_programs NAME...: a FAIL setup line, and the end of the test, when one is not built.
need_programs() {
    local p
    for p in "$@"; do
        if ! [ -x "$LLM_BIN/$p" ]; then
            fail setup "$LLM_BIN/$p is missing: run make first"
            exit 0
        fi
    done
}

skip() { echo "ok $1 # skipped: $2"; }

# run CMD...: runs it with stdout and stderr captured; sets RC.
run() {
    "$@" >"$LAST_OUT" 2>"$LAST_ERR"
    RC=$?
}

last_diag() {
    echo "exit status $RC"
    echo "stderr:"
    head -c 2000 "$LAST_ERR"
}

# check NAME CMD...: passes when CMD exits 0.
check() {
    local name=$1
    shift
    run "$@"
    if [ "$RC" -eq 0 ]; then pass "$name"; else fail "$name" "command: $*" "$(last_diag)" "stdout:" "$(head -c 1000 "$LAST_OUT")"; fi
}

# expect_eq NAME WANT GOT: passes when the two strings are equal.
expect_eq() {
    if [ "$2" == "$3" ]; then
        pass "$1"
    else
        fail "$1" "want: $(printf '%s' "$2" | head -c 1500)" "got:  $(printf '%s' "$3" | head -c 1500)"
    fi
}

# expect_same_file NAME WANT_FILE GOT_FILE: byte-identical files.
expect_same_file() {
    if cmp -s "$2" "$3"; then
        pass "$1"
    else
        fail "$1" "files differ: $2 $3" "$(cmp "$2" "$3" 2>&1)" "$(diff "$2" "$3" 2>/dev/null | head -n 6 | cut -c1-300)"
    fi
}

# expect_status NAME CODE CMD...: passes when CMD exits with CODE.
expect_status() {
    local name=$1 code=$2
    shift 2
    run "$@"
    if [ "$RC" -eq "$code" ]; then pass "$name"; else fail "$name" "command: $*" "want exit status $code" "$(last_diag)"; fi
}

# expect_stderr_has NAME TEXT CMD...: passes when CMD's stderr holds TEXT (any exit status).
expect_stderr_has() {
    local name=$1 text=$2
    shift 2
    run "$@"
    if grep -qF -- "$text" "$LAST_ERR"; then pass "$name"; else fail "$name" "command: $*" "want stderr to contain: $text" "$(last_diag)"; fi
}

# expect_file_has NAME TEXT FILE: FILE holds TEXT (e.g. a saved copy of $LAST_ERR).
expect_file_has() {
    if grep -qF -- "$2" "$3"; then pass "$1"; else fail "$1" "want $3 to contain: $2" "it holds:" "$(head -c 2000 "$3")"; fi
}

# expect_fail NAME CODE TEXT CMD...: exit status CODE and TEXT on stderr.
expect_fail() {
    local name=$1 code=$2 text=$3
    shift 3
    run "$@"
    if [ "$RC" -eq "$code" ] && grep -qF -- "$text" "$LAST_ERR"; then
        pass "$name"
    else
        fail "$name" "command: $*" "want exit status $code and stderr containing: $text" "$(last_diag)"
    fi
}

# expect_no_temps NAME [DIR]: no hidden temporary (llm_output's ".NAME.XXXXXX") left in DIR.
expect_no_temps() {
    local left
    left=$(ls -A "${2:-.}" | grep '^\.' || true)
    if [ -z "$left" ]; then pass "$1"; else fail "$1" "temporary files left behind:" "$left"; fi
}

# py SCRIPT [ARGS...]: runs a Python snippet with numpy's interpreter.
py() {
    local code=$1
    shift
    "$PY" -c "$code" "$@"
}

# tokens_of FILE.jsonl WIDTH: the records' tokens as a little-endian array on stdout.
tokens_of() {
    "$PY" -c '
import json, sys, struct
fmt = {"2": "<H", "4": "<I"}[sys.argv[2]]
out = bytearray()
for line in open(sys.argv[1]):
    if line.strip():
        for t in json.loads(line)["input_ids"]:
            out += struct.pack(fmt, t)
sys.stdout.buffer.write(bytes(out))' "$1" "$2"
}

# learnable_blocks: 96 JSONL blocks over a vocabulary of 64 that a tiny model learns fast:
# each record counts up from a random start by a random stride (mod 64), so the next token
# follows from the two before it. Some records have a masked prompt and document starts,
# some are shorter (padding). Only json and random: the GPU machines' python3 has them.
learnable_blocks() {
    "$PY" - <<'PYEOF'
import json, random
r = random.Random(7)
for i in range(96):
    n = 33 if i % 4 else r.randint(12, 33)
    a, d = r.randrange(64), r.randrange(1, 8)
    ids = [(a + d * k) % 64 for k in range(n)]
    rec = {"input_ids": ids, "labels": [-100 if (i % 3 == 0 and k < 4) else t for k, t in enumerate(ids)]}
    if i % 5 == 0:
        rec["doc_starts"] = [0, n // 2]
    print(json.dumps(rec, separators=(",", ":")))
PYEOF
}

# learnable_stream OUT.bin: learnable_blocks (left in blocks.jsonl) as a blocks stream.
learnable_stream() {
    learnable_blocks >blocks.jsonl
    stream_from_ids "$1" blocks.jsonl 64 --kind=blocks --eos=63
}

# stream_from_ids OUT.bin IN.jsonl VOCAB [OPTIONS...]: imports JSONL quietly.
stream_from_ids() {
    local out=$1 in=$2 vocab=$3
    shift 3
    llm-cat -q --from=ids --vocab-size="$vocab" "$@" -o "$out" "$in"
}
