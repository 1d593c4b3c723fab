/* The error record every fallible libllm call fills: one formatted line, never printed here. */
#include <stdarg.h>
#include <stdio.h>

#include "common.h"

int llm_error_set(llm_error *err, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    /* vsnprintf truncates to the record's size and always NUL-terminates it. */
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}
