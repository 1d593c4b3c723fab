#!/usr/bin/env bash
# llm-cat output safety: atomic -o (no temporary left, old content kept on failure),
# signals during a write, the terminal check, and write/close errors reported with exit 1
# (a full device, and the LD_PRELOAD shim build/tests/inject_errors.so).
. "$(dirname "$0")/lib.sh"

$GEN --seed 71 --records 3000 --vocab 50257 --max-len 200 >in.jsonl
stream_from_ids in.bin in.jsonl 50257 --eos=50256 --kind=docs
$GEN --seed 72 --records 200 --vocab 50257 --min-len 64 --max-len 64 >blk.jsonl
stream_from_ids blk.bin blk.jsonl 50257 --kind=blocks --block-size=64

# Each case runs in its own directory so that "nothing else is there" is easy to check.
fresh() { rm -rf "$W/d" && mkdir "$W/d" && cd "$W/d" || exit 1; }
only_has() {    # only_has NAME FILE...: the directory holds exactly these names (ls -A)
    local name=$1 want got
    shift
    want=$(printf '%s\n' "$@" | sort)
    got=$(ls -A | sort)
    expect_eq "$name" "$want" "$got"
}

# ---- atomic -o ---------------------------------------------------------------------------

for to in stream ids raw npy; do
    fresh
    run llm-cat -q ../in.bin --to=$to -o out.$to
    expect_eq "o-$to-success" 0 "$RC"
    only_has "o-$to-no-temp" out.$to
    # failure: a bad second input after many good records; the old file stays as it was
    echo old >out.$to
    printf 'junk' >junk
    run llm-cat -q ../in.bin junk --to=$to -o out.$to
    expect_eq "o-$to-failure-keeps-old" "1 old" "$RC $(cat out.$to)"
    only_has "o-$to-failure-no-temp" out.$to junk
    # failure in the middle of the data: truncated input
    head -c 200000 ../in.bin >cut
    run llm-cat -q cut --to=$to -o out.$to
    expect_eq "o-$to-truncated-keeps-old" "1 old" "$RC $(cat out.$to)"
    only_has "o-$to-truncated-no-temp" out.$to junk cut
    rm -f out.$to
    run llm-cat -q cut --to=$to -o out.$to
    only_has "o-$to-truncated-no-file" junk cut
done
cd "$W"

fresh
run llm-cat -q ../in.bin --header -o h.json
only_has o-header-no-temp h.json
echo old >h.json
run llm-cat -q ../in.bin ../in.jsonl --header -o h.json
expect_eq o-header-failure-keeps-old "1 old" "$RC $(cat h.json)"
only_has o-header-failure-no-temp h.json
fresh
run llm-cat -q --from=ids --vocab-size=100 ../in.jsonl -o bad.bin
expect_eq o-import-failure "1" "$RC"
only_has o-import-failure-no-file
cd "$W"

expect_fail o-missing-directory 1 "cannot create" llm-cat -q in.bin -o no/such/dir/out.bin

# Written with the permissions of a plain create (umask), not mkstemp's 0600.
fresh
(umask 022 && llm-cat -q ../in.bin -o m022.bin && touch t022)
(umask 077 && llm-cat -q ../in.bin -o m077.bin && touch t077)
expect_eq o-mode-umask "$(stat -c %a t022) $(stat -c %a t077)" "$(stat -c %a m022.bin) $(stat -c %a m077.bin)"
cd "$W"

# Writing over its own input works: the input is read before the rename.
cp in.bin self.bin
run llm-cat -q self.bin -o self.bin
expect_eq o-onto-own-input "0 $(md5sum <in.jsonl)" "$RC $(llm-cat -q self.bin --to=ids | md5sum)"

# "-o -" is standard output.
llm-cat -q in.bin -o - --to=ids >dash.out
expect_same_file o-dash-is-stdout in.jsonl dash.out

# ---- signals -----------------------------------------------------------------------------

# signal_case NAME SIGNAL STATUS FEED ARGS...: llm-cat ARGS reads from a FIFO held open;
# once its temporary exists, send SIGNAL; it must die by it and leave nothing behind.
signal_case() {
    local name=$1 sig=$2 want=$3 feed=$4
    shift 4
    fresh
    mkfifo fifo
    llm-cat -q "$@" -o out.bin <fifo 2>err &
    local pid=$! i
    exec 3>fifo
    cat "$feed" >&3
    for ((i = 0; i < 200; i++)); do
        ls -A | grep -q '^\.out\.bin\.' && break
        sleep 0.02
    done
    local tmp_seen
    tmp_seen=$(ls -A | grep -c '^\.out\.bin\.')
    kill -"$sig" "$pid"
    wait "$pid" 2>/dev/null
    local status=$?
    exec 3>&-
    if [ "$tmp_seen" = 1 ] && [ "$status" = "$want" ] && [ "$(ls -A | sort | tr '\n' ' ')" = "err fifo " ]; then
        pass "$name"
    else
        fail "$name" "temporary seen: $tmp_seen; exit status $status (want $want)" "left: $(ls -A)" "$(cat err)"
    fi
    cd "$W"
}
head -n 500 in.jsonl >part.jsonl
signal_case signal-int-import INT 130 "$W/part.jsonl" --from=ids --vocab-size=50257
signal_case signal-term-import TERM 143 "$W/part.jsonl" --from=ids --vocab-size=50257
signal_case signal-hup-import HUP 129 "$W/part.jsonl" --from=ids --vocab-size=50257 --to=ids
signal_case signal-int-stream INT 130 "$W/in.bin"
signal_case signal-term-npy TERM 143 "$W/in.bin" --to=npy

# ---- terminal check ------------------------------------------------------------------------

if command -v script >/dev/null 2>&1 && script -qec true /dev/null >/dev/null 2>&1; then
    tty_run() {    # tty_run CMD: runs CMD with stdout on a pseudo-terminal; output in tty.out
        script -qec "$1" /dev/null >tty.out 2>&1
    }
    tty_run "llm-cat in.bin"
    rc=$?
    expect_eq tty-refuses-stream "1 yes" "$rc $(grep -q 'refusing to write a binary stream to a terminal' tty.out && echo yes)"
    tty_run "llm-cat in.bin --to=raw"
    expect_eq tty-refuses-raw "1" "$?"
    tty_run "llm-cat in.bin --to=npy"
    expect_eq tty-refuses-npy "1" "$?"
    tty_run "llm-cat -f --head=3 in.bin"
    rc=$?
    expect_eq tty-force "0 yes" "$rc $([ "$(wc -c <tty.out)" -gt 100 ] && echo yes)"
    tty_run "llm-cat --head=2 in.bin --to=ids"
    rc=$?
    expect_eq tty-ids-allowed "0 2" "$rc $(grep -c input_ids tty.out)"
    tty_run "llm-cat in.bin --stats"
    expect_eq tty-stats-allowed 0 "$?"
    tty_run "llm-cat in.bin -o tty.bin"
    rc=$?
    expect_eq tty-o-file-allowed "0 $(md5sum <in.jsonl)" "$rc $(llm-cat -q tty.bin --to=ids | md5sum)"
    tty_run "llm-cat -q in.bin -o tty2.bin"
    expect_eq tty-quiet "0 0" "$? $(wc -c <tty.out)"
else
    skip tty-refuses-stream "no script(1)"
fi

# ---- write errors: a full device -------------------------------------------------------------

full_case() {    # full_case NAME ARGS...: llm-cat ARGS >/dev/full must fail with a write error
    local name=$1
    shift
    run sh -c 'llm-cat "$@" >/dev/full' sh "$@"
    if [ "$RC" -eq 1 ] && grep -qF "write error" "$LAST_ERR"; then
        pass "$name"
    else
        fail "$name" "command: llm-cat $* >/dev/full" "want exit 1 and 'write error'" "$(last_diag)"
    fi
}
full_case full-stream in.bin
full_case full-stream-small --head=1 in.bin
full_case full-ids in.bin --to=ids
full_case full-ids-small --head=1 in.bin --to=ids
full_case full-raw in.bin --to=raw
full_case full-header --header in.bin
full_case full-stats --stats in.bin
full_case full-import --from=ids --vocab-size=50257 in.jsonl
closed_stdout() { llm-cat -q "$@" >&-; }
expect_fail closed-stdout-stream 1 "write error" closed_stdout in.bin
expect_fail closed-stdout-ids 1 "write error" closed_stdout in.bin --to=ids

# ---- write and close errors through the shim -------------------------------------------------

SHIM=$LLM_BUILD/tests/inject_errors.so
if ! [ -f "$SHIM" ] && [ -f "$ROOT/tests/unit/inject_errors.c" ]; then
    make -s -C "$ROOT" "$SHIM" >/dev/null 2>&1
fi
if [ -f "$SHIM" ]; then
    # A sanitizer build links libasan dynamically; the shim then comes first in the load order.
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
    # shim_case NAME AFTER ARGS...: write() fails with ENOSPC after AFTER bytes.
    shim_case() {
        local name=$1 after=$2 dest
        shift 2
        fresh
        echo old >out
        case " $* " in *" -o out "*) dest=file ;; *) dest=stdout ;; esac
        LD_PRELOAD=$SHIM LLM_FAIL_WRITE_AFTER=$after llm-cat -q "$@" >stdout 2>err
        local rc=$?
        local left
        left=$(ls -A | sort | tr '\n' ' ')
        if [ "$rc" -eq 1 ] && grep -qF "write error" err &&
            { [ "$dest" = stdout ] || [ "$(cat out)" = old ]; } && [ "$left" = "err out stdout " ]; then
            pass "$name"
        else
            fail "$name" "command: LLM_FAIL_WRITE_AFTER=$after llm-cat $*" "exit status $rc (want 1)" \
                "stderr: $(cat err)" "out: $(head -c 20 out | od -c | head -n 2)" "left: $left"
        fi
        cd "$W"
    }
    for after in 0 100 5000 300000; do
        shim_case "shim-stream-stdout-$after" "$after" ../in.bin
        shim_case "shim-stream-file-$after" "$after" ../in.bin -o out
        shim_case "shim-ids-stdout-$after" "$after" ../in.bin --to=ids
        shim_case "shim-ids-file-$after" "$after" ../in.bin --to=ids -o out
        shim_case "shim-raw-stdout-$after" "$after" ../in.bin --to=raw
        shim_case "shim-raw-file-$after" "$after" ../in.bin --to=raw -o out
        shim_case "shim-npy-file-$after" "$after" ../in.bin --to=npy -o out
    done
    shim_case shim-header-stdout 10 --header ../in.bin
    shim_case shim-stats-stdout 10 --stats ../in.bin
    shim_case shim-stats-file 10 --stats ../in.bin -o out
    shim_case shim-header-file 10 --header ../in.bin -o out
    shim_case shim-import-stdout 1000 --from=ids --vocab-size=50257 ../in.jsonl
    shim_case shim-import-file 1000 --from=ids --vocab-size=50257 ../in.jsonl -o out

    # A failing close of standard output is reported too.
    close_case() {    # close_case NAME ARGS...
        local name=$1
        shift
        LD_PRELOAD=$SHIM LLM_FAIL_CLOSE=1 llm-cat -q "$@" >close.out 2>close.err
        local rc=$?
        if [ "$rc" -eq 1 ] && [ -s close.err ]; then
            pass "$name"
        else
            fail "$name" "command: LLM_FAIL_CLOSE=1 llm-cat $*" "exit status $rc (want 1 and a message)" "stderr: $(cat close.err)"
        fi
    }
    close_case shim-close-stream in.bin
    close_case shim-close-ids in.bin --to=ids
    close_case shim-close-raw in.bin --to=raw
    close_case shim-close-header --header in.bin
    close_case shim-close-stats --stats in.bin
    close_case shim-close-help --help
    close_case shim-close-version --version
    # Without a failure planned, the shim changes nothing.
    LD_PRELOAD=$SHIM llm-cat -q in.bin --to=ids >noshim.out 2>noshim.err
    expect_eq shim-no-failure "0" "$?$(cmp -s in.jsonl noshim.out || echo ' output differs')"
else
    skip shim-write-errors "$SHIM not built (tests/unit/inject_errors.c missing or failing)"
fi

# ---- -o through a symbolic link: the target gets the stream, the link stays a link; a link
# to a file not made yet creates it ----
mkdir -p real
echo old >real/target.bin
ln -s real/target.bin link.bin
ln -s real/new.bin dangling.bin
check symlink-out llm-cat -q in.bin -o link.bin
check symlink-dangling-out llm-cat -q in.bin -o dangling.bin
expect_eq symlink-kept "link link" "$([ -L link.bin ] && echo link) $([ -L dangling.bin ] && echo link)"
expect_eq symlink-target "$(cat in.jsonl)" "$(llm-cat -q --to=ids real/target.bin)"
expect_eq symlink-new "$(cat in.jsonl)" "$(llm-cat -q --to=ids real/new.bin)"

exit 0
