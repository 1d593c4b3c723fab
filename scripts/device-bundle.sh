#!/usr/bin/env bash
# Packs the programs and the GPU tests built here, with every shared library they load and
# this machine's own dynamic loader, into one archive for a machine that has a GPU but no
# package registry and perhaps another C library (the lent GPU machines: their device time
# is short, so nothing should be built or fixed there). The archive unpacks to device/:
#   device/bin/llm-*      wrappers that start device/real/llm-* through device/lib's loader
#   device/tests/test_cuda_ops, test_cuda_gpt2   the same for the GPU unit tests
#   device/lib/           the libraries, the C library's whole (not the GPU driver's, nor
#                         cuBLASLt: those are the machine's, found as on any machine)
# so that LLM_BIN=device/bin LLM_BUILD=device bench/run.sh gpu (or tests/cli/train_cuda.sh)
# runs there as here. Python's tarfile unpacks it (no xz or zstd tool needed there).
# Usage: scripts/device-bundle.sh [ARCHIVE]   (default build/device.tar.xz)
set -eu
cd "$(dirname "$0")/.."
: "${LLM_BUILD:=$PWD/build}" "${LLM_BIN:=$PWD/bin}"
archive=${1:-$LLM_BUILD/device.tar.xz}
tests=(test_cuda_ops test_cuda_gpt2)

make -s -j"$(nproc)" CUDA=1 all "${tests[@]/#/$LLM_BUILD/tests/}" >/dev/null
stage=$(mktemp -d "${TMPDIR:-/tmp}/device-bundle.XXXXXX")
trap 'rm -rf "$stage"' EXIT
d=$stage/device
mkdir -p "$d/bin" "$d/tests" "$d/real" "$d/lib"

binaries=()
for p in "$LLM_BIN"/llm-*; do binaries+=("$p"); done
for t in "${tests[@]}"; do binaries+=("$LLM_BUILD/tests/$t"); done

loader=
for b in "${binaries[@]}"; do
    name=$(basename "$b")
    strip -o "$d/real/$name" "$b"
    # the libraries as this machine resolves them: "name => path (address)", and the loader
    while read -r lib; do
        case $lib in
        */ld-linux*) loader=$lib ;;
        esac
        [ -e "$d/lib/$(basename "$lib")" ] || cp -L "$lib" "$d/lib/"
    done < <(ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
    case $name in
    test_*) dir=tests ;;
    *) dir=bin ;;
    esac
    # the loader runs the program, so the libraries are these whatever the machine's are;
    # --argv0 keeps the name the program reports itself by
    cat >"$d/$dir/$name" <<EOF
#!/bin/sh
here=\$(cd "\$(dirname "\$0")/.." && pwd)
exec "\$here/lib/$(basename "${loader:-ld-linux-x86-64.so.2}")" --library-path "\$here/lib" --argv0 "\$0" "\$here/real/$name" "\$@"
EOF
    chmod +x "$d/$dir/$name"
done
[ -n "$loader" ] || { echo "scripts/device-bundle.sh: ldd named no dynamic loader" >&2; exit 1; }
# The driver and cuBLASLt, loaded there with dlopen, may name these parts of the C library:
# they must come from the same C library as the loader, never from the machine's.
libc_dir=$(dirname "$(ldd "$LLM_BIN/llm-train" | awk '$1 == "libc.so.6" { print $3 }')")
for lib in libdl.so.2 libpthread.so.0 librt.so.1 libutil.so.1; do
    [ -e "$libc_dir/$lib" ] && cp -L "$libc_dir/$lib" "$d/lib/"
done

mkdir -p "$(dirname "$archive")"
tar -C "$stage" -cJf "$archive.tmp" device
mv "$archive.tmp" "$archive"
echo "$archive: $(du -k "$archive" | cut -f1) KiB; $(ls "$d/lib" | wc -l) libraries, $(du -sk "$d" | cut -f1) KiB unpacked"
