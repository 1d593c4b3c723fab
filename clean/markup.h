/* HTML/XML markup removal for llm-clean: tags stripped, <script>/<style> contents and
 * comments dropped, character references decoded, and prose such as "a < b and c > d"
 * left alone. */
#ifndef LLM_CLEAN_MARKUP_H
#define LLM_CLEAN_MARKUP_H

#include "buf.h"

/* Appends to out the text of in[0..n) (valid UTF-8, no NUL) with markup removed:
 *  - a tag is '<' followed by a name (or '/' and a name), attributes and a closing '>';
 *    block-level tags (p, div, br, li, tr, h1..h6, ...) become "\n", table cells a space,
 *    other tags nothing; '<' that does not open a well-formed tag is text;
 *  - <script>, <style> (and their contents) up to the matching close tag are dropped,
 *    to the end of the text when unclosed; comments <!-- --> and <!DOCTYPE>, <?...?>
 *    likewise; CDATA sections keep their contents;
 *  - character references: every HTML5 named reference with its ';', the legacy ones
 *    (&amp &lt &gt &quot &nbsp ...) without it when no letter or digit follows, and
 *    numeric ones (&#65; &#x4e2d;), with invalid code points decoded as U+FFFD and
 *    0x80-0x9F as Windows-1252, as HTML5 says. Decoded text is never parsed again.
 * Returns the number of tags and references removed or decoded (0: out got in unchanged). */
size_t clean_markup_strip(const char *in, size_t n, llm_buf *out);

#endif
