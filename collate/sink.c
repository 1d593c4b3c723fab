/* Where finished examples go: each (ids, mask) pair becomes stream records as the layout says.
 * --pad=none writes the example as it is, for a trainer that pads each batch; --pad=max pads
 * every record to max_len with the pad id, its positions masked whatever the id (Qwen pads
 * with its end-of-text token, which an answer may end with and keep its loss); --pack
 * bin-packs whole examples into blocks (lib/packer.h, best fit), recording where each starts. */
#include "collate.h"
#include "packer.h"

#include <stdlib.h>
#include <string.h>

static int put_record(col_sink *s, const llm_record *rec, llm_error *err)
{
    if (llm_writer_put(s->stream, rec) < 0)
        return llm_error_set(err, "%s", llm_writer_error(s->stream));
    s->records++;
    return 0;
}

/* The packer's callback: a finished block. */
static int put_block(void *ctx, const llm_record *block)
{
    col_sink *s = ctx;
    return put_record(s, block, s->block_err);
}

int col_sink_init(col_sink *s, col_layout layout, uint32_t max_len, uint32_t pad_id, llm_writer *stream,
                  llm_error *err)
{
    memset(s, 0, sizeof *s);
    s->layout = layout;
    s->max_len = max_len;
    s->pad_id = pad_id;
    s->stream = stream;
    if (layout == COL_LAYOUT_PAD) {
        s->pad_ids = malloc((size_t)max_len * sizeof *s->pad_ids);
        s->pad_mask = malloc(max_len);
        if (!s->pad_ids || !s->pad_mask)
            return llm_error_set(err, "out of memory");
    } else if (layout == COL_LAYOUT_PACK) {
        llm_packer_opts po = {.mode = LLM_PACK_FIT, .block_size = max_len, .pad_id = pad_id};
        if (!(s->packer = llm_packer_new(&po, put_block, s, err)))
            return -1;
    }
    return 0;
}

int col_sink_put(col_sink *s, const uint32_t *ids, const uint8_t *mask, size_t n, llm_error *err)
{
    for (size_t i = 0; i < n; i++)
        s->counted += mask[i];
    s->tokens += n;
    llm_record rec = {.n_tokens = (uint32_t)n, .token_bytes = 4, .tokens = ids, .mask = mask};
    if (s->layout == COL_LAYOUT_NONE)
        return put_record(s, &rec, err);
    if (s->layout == COL_LAYOUT_PACK) {
        s->block_err = err;
        return llm_packer_add(s->packer, &rec, err);
    }
    /* COL_LAYOUT_PAD: the example, then the padding, which never counts. */
    memcpy(s->pad_ids, ids, n * sizeof *ids);
    memcpy(s->pad_mask, mask, n);
    for (size_t i = n; i < s->max_len; i++)
        s->pad_ids[i] = s->pad_id;
    memset(s->pad_mask + n, 0, s->max_len - n);
    s->padding += s->max_len - n;
    rec.n_tokens = s->max_len;
    rec.tokens = s->pad_ids;
    rec.mask = s->pad_mask;
    return put_record(s, &rec, err);
}

int col_sink_finish(col_sink *s, llm_error *err)
{
    if (s->layout != COL_LAYOUT_PACK)
        return 0;
    s->block_err = err;
    if (llm_packer_finish(s->packer, err) < 0)
        return -1;
    s->padding = llm_packer_stats_get(s->packer)->pad_tokens;
    return 0;
}

void col_sink_free(col_sink *s)
{
    free(s->pad_ids);
    free(s->pad_mask);
    llm_packer_free(s->packer);
    memset(s, 0, sizeof *s);
}
