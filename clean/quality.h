/* The published heuristic quality filters, as llm-clean's --quality presets: Gopher
 * (Rae et al. 2021, MassiveText) and C4 (Raffel et al. 2020). Each rule has a name that
 * the summary and the rejects file report. Text in scripts written without spaces
 * (Chinese, Japanese) is judged by the rules that make sense for it, never dropped for
 * lacking spaces. */
#ifndef LLM_CLEAN_QUALITY_H
#define LLM_CLEAN_QUALITY_H

#include "buf.h"

/* Gopher: returns NULL when text[0..n) (valid UTF-8, whitespace already cleaned: single
 * spaces, trimmed lines, '\n' between lines) passes, else the failing rule's name, e.g.
 * "gopher-word-count", or "out-of-memory" when its scratch memory could not be had.
 * Thread-safe; no state. */
const char *clean_quality_gopher(const char *text, size_t n);

/* C4: removes the lines C4 removes (no terminal punctuation, too few words, "javascript",
 * policy boilerplate) and appends what is left to out. Returns NULL when the document is
 * kept (out holds its new text), else the failing rule's name, e.g. "c4-lorem-ipsum", with
 * out as it was. When out runs out of memory it returns NULL and out is failed. */
const char *clean_quality_c4(const char *text, size_t n, llm_buf *out);

#endif
