/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pure: what every VMware file parser shares: warnings with FILE:LINE, lines of messy text. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/vmware.h"

int vmw_warn(VmwWarnings *w, const char *file, unsigned line, const char *fmt, ...)
{
    char *msg = NULL, *full = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (r < 0)
        return -ENOMEM;
    if (line)
        r = asprintf(&full, "%s:%u: %s", file ? file : "-", line, msg);
    else
        r = asprintf(&full, "%s: %s", file ? file : "-", msg);
    free(msg);
    if (r < 0)
        return -ENOMEM;
    char **v = realloc(w->v, (w->n + 1) * sizeof(*v));
    if (!v) {
        free(full);
        return -ENOMEM;
    }
    w->v = v;
    v[w->n++] = full;
    return 0;
}

void vmw_warnings_clear(VmwWarnings *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->v[i]);
    free(w->v);
    w->v = NULL;
    w->n = 0;
}

void vmw_lines_init(VmwLineIter *it, const char *text, size_t len)
{
    *it = (VmwLineIter){.text = text, .len = text ? len : 0};
}

bool vmw_lines_next(VmwLineIter *it, const char **ret_line, unsigned *ret_number)
{
    if (it->pos >= it->len)
        return false;
    size_t start = it->pos, end = start;
    while (end < it->len && it->text[end] != '\n')
        end++;
    it->pos = end < it->len ? end + 1 : end;
    if (end > start && it->text[end - 1] == '\r')
        end--;
    size_t need = end - start + 1;
    if (need > it->cap) {
        char *b = realloc(it->buf, need);
        if (!b) {
            /* out of memory: the rest of the text is not read, and the parser says so */
            it->pos = it->len;
            it->oom = true;
            return false;
        }
        it->buf = b;
        it->cap = need;
    }
    size_t k = 0;
    for (size_t i = start; i < end; i++)
        if (it->text[i] != '\0')
            it->buf[k++] = it->text[i];
    it->buf[k] = '\0';
    it->line++;
    *ret_line = it->buf;
    *ret_number = it->line;
    return true;
}

void vmw_lines_clear(VmwLineIter *it)
{
    free(it->buf);
    it->buf = NULL;
    it->cap = 0;
}

char *vmw_trim(char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

int vmw_lines_each(const char *text, size_t len, int (*fn)(void *ctx, unsigned number, char *line),
                   void *ctx)
{
    VmwLineIter it;
    const char *line;
    unsigned number;
    int r = 0;

    vmw_lines_init(&it, text, len);
    while (r >= 0 && vmw_lines_next(&it, &line, &number)) {
        /* the iterator's buffer is its own; @fn gets a line it may cut up */
        char *copy = strdup(line);
        if (!copy) {
            r = -ENOMEM;
            break;
        }
        r = fn(ctx, number, copy);
        free(copy);
    }
    if (r >= 0 && it.oom)
        r = -ENOMEM; /* stopped early: the text was not read to its end */
    vmw_lines_clear(&it);
    return r;
}
