#!/usr/bin/env bash
# The CPU model against PyTorch (tests/train/gpt2_reference.py on what build/tests/gpt2_driver
# writes): logits, loss, every gradient, ten AdamW steps. Then the same run twice on two
# threads gives the same bits, and one thread agrees with two within the reference's bounds.
set -u
cd "$(dirname "$0")/../.."
: "${LLM_BUILD:=$PWD/build}"
DRIVER=$LLM_BUILD/tests/gpt2_driver
PY=/usr/bin/python3    # Debian's python3-torch imports under the system python only
work=$(mktemp -d "${TMPDIR:-/tmp}/llm-gpt2.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

[ -x "$DRIVER" ] || { echo "FAIL gpt2_reference: $DRIVER is not built"; exit 1; }
mkdir "$work/a" "$work/b" "$work/one"
"$DRIVER" "$work/a" 2 || { echo "FAIL gpt2_driver (exit $?)"; exit 1; }

if "$PY" -c 'import torch, numpy' 2>/dev/null; then
    "$PY" tests/train/gpt2_reference.py "$work/a"
    rc=$?    # 1: its checks printed FAIL lines already
    [ $rc -le 1 ] || echo "FAIL gpt2_reference.py (exit $rc)"
else
    echo "skipped: PyTorch comparison (python3-torch not installed: make deps)"
fi

"$DRIVER" "$work/b" 2 || { echo "FAIL gpt2_driver (exit $?)"; exit 1; }
same=yes
for f in doc_logits.f32 doc_grads.f32 plain_grads.f32 neftune_grads.f32 smooth_grads.f32 decode_logits.f32 train_log.f32 params_final.f32; do
    cmp -s "$work/a/$f" "$work/b/$f" || { same=no; echo "differs: $f"; }
done
[ $same = yes ] && echo "ok same bits on two threads twice" || echo "FAIL same bits on two threads twice"

"$DRIVER" "$work/one" 1 || { echo "FAIL gpt2_driver 1 thread (exit $?)"; exit 1; }
if "$PY" -c 'import numpy' 2>/dev/null; then
    "$PY" - "$work/a" "$work/one" <<'PYEOF'
import sys, numpy as np
a, b = sys.argv[1], sys.argv[2]
worst = 0.0
for f in ("doc_logits.f32", "doc_grads.f32", "plain_grads.f32"):
    x = np.fromfile(f"{a}/{f}", dtype=np.float32).astype(np.float64)
    y = np.fromfile(f"{b}/{f}", dtype=np.float32).astype(np.float64)
    worst = max(worst, float(np.abs(x - y).max() / np.abs(y).max()))
print(f"{'ok' if worst <= 1e-5 else 'FAIL'} one thread agrees with two (err {worst:.2e}, tol 1e-05)")
PYEOF
fi
