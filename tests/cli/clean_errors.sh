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
