#!/usr/bin/env python3
"""The peer of llm-clean's benchmark: the cleaning loop users write in Python. Reads a document
a line from stdin (UTF-8, errors replaced), strips tags, collapses whitespace, keeps texts of
more than 10 characters, one a line on stdout."""
import re
import sys

TAG = re.compile(r'<[^>]+>')
SPACE = re.compile(r'\s+')


def main():
    sys.stdin.reconfigure(encoding='utf-8', errors='replace')
    sys.stdout.reconfigure(encoding='utf-8')
    out = sys.stdout
    for text in sys.stdin:
        text = TAG.sub('', text)
        text = SPACE.sub(' ', text).strip()
        if len(text) > 10:
            out.write(text + '\n')


if __name__ == '__main__':
    main()
