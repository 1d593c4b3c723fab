/* Reads a file descriptor line by line, any line length, with the padding simdjson
 * wants after every line so JSONL parses without a copy. A large regular file is mapped
 * rather than read, and most of its lines can then be kept without a copy. */
#ifndef LLM_LINES_H
#define LLM_LINES_H

#include "common.h"

typedef struct llm_lines llm_lines;

/* Reads from fd (not closed by llm_lines_close). NULL when out of memory. */
llm_lines *llm_lines_open(int fd);
void llm_lines_close(llm_lines *l);

/* Next line without its '\n' (a '\r' before it is kept; the caller decides). The last line
 * may lack '\n'. The pointer stays valid until the next call, and LLM_JSON_PADDING (64)
 * readable bytes follow line+len. Returns 1 for a line, 0 at end of input, -1 on a read
 * error or out of memory (err set). */
int llm_lines_next(llm_lines *l, const char **line, size_t *len, llm_error *err);

/* 1 when the last line returned lies in a mapping of the file: it and its padding stay
 * valid until llm_lines_release passes it or llm_lines_close, so callers may keep the
 * pointer instead of copying the line. */
int llm_lines_stable(const llm_lines *l);

/* The caller keeps no stable line before upto any more: the mapping's pages before it may
 * leave this process's memory (they stay in the page cache), so its resident size stays
 * bounded on any file size. A no-op for lines that are not stable. */
void llm_lines_release(llm_lines *l, const char *upto);

/* Shows the input not yet returned without consuming it, so a caller can hand whole
 * stretches of lines to other threads instead of splitting them itself: *p and *len, at
 * least `want` bytes when the input still has them (fewer only at its end), followed by
 * LLM_JSON_PADDING readable bytes. *stable says whether they lie in the mapping (see
 * llm_lines_stable); otherwise they are valid until the next call. Returns 1, 0 at the
 * end of input, -1 on a read error or out of memory (err set). */
int llm_lines_peek(llm_lines *l, size_t want, const char **p, size_t *len, int *stable, llm_error *err);
/* Consumes the first n bytes llm_lines_peek showed, which end with a '\n'. The lines in
 * them are not counted by llm_lines_number: the caller counts what it splits. */
void llm_lines_skip(llm_lines *l, size_t n);

uint64_t llm_lines_number(const llm_lines *l);   /* 1-based number of the last line returned */
uint64_t llm_lines_offset(const llm_lines *l);   /* byte offset where that line starts */
uint64_t llm_lines_bytes(const llm_lines *l);    /* bytes consumed so far */

#endif
