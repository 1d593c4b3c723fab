#!/usr/bin/env bash
# lib/normalize_inert.h is what its generator writes with the installed utf8proc (where that
# has the Unicode version the file names; with another, lib/normalize.c computes the tables
# at run time and tests/unit/test_text.c holds those to utf8proc).
. "$(dirname "$0")/lib.sh"

gen=$LLM_BUILD/scripts/gen-normalize-inert
committed=$ROOT/lib/normalize_inert.h
if ! [ -x "$gen" ]; then
    fail normalize_inert_generated "$gen is missing: run make test"
elif ! run "$gen"; then
    fail normalize_inert_generated "$(last_diag)"
elif ! grep -q '^static const char inert_unicode_version\[\] = "[0-9.]*";$' "$LAST_OUT"; then
    fail normalize_inert_generated "no version line in the generator's output" "$(head -5 "$LAST_OUT")"
elif [ "$(grep inert_unicode_version "$LAST_OUT")" != "$(grep inert_unicode_version "$committed")" ]; then
    skip normalize_inert_generated "utf8proc has another Unicode version than lib/normalize_inert.h"
elif cmp -s "$LAST_OUT" "$committed"; then
    pass normalize_inert_generated
else
    fail normalize_inert_generated "lib/normalize_inert.h is stale: make normalize-inert" \
        "$(diff "$committed" "$LAST_OUT" | head -10)"
fi
