/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lab file parser: allocation, the collected diagnostics and the did-you-mean suggestions.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/text.h"

#include "parser.h"

/* Where an allocation failure jumps to (lab_load_string()); per thread, as loads may run in
 * parallel. */
static __thread jmp_buf *oom_target;

/* Set (or with NULL clear) where parse_oom() jumps to. */
void parse_oom_target(jmp_buf *target)
{
    oom_target = target;
}

/* Out of memory: back to lab_load_string(), which reports -ENOMEM. Outside a load (a bug) this
 * still aborts rather than return NULL to code that does not expect it. */
_Noreturn void parse_oom(void)
{
    if (oom_target)
        longjmp(*oom_target, 1);
    abort();
}

void *xrealloc(void *p, size_t n, size_t size)
{
    void *q = reallocarray(p, n ? n : 1, size ? size : 1);
    if (!q)
        parse_oom();
    return q;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        parse_oom();
    return p;
}

char *xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (!p)
        parse_oom();
    return p;
}

char *xstrdup(const char *s)
{
    return s ? xstrndup(s, strlen(s)) : NULL;
}

char *xasprintf(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (r < 0)
        parse_oom();
    return s;
}

static void diag_vadd(Ctx *c, LabLoc loc, const char *suggestion, const char *fmt, va_list ap)
{
    char *msg = NULL;

    if (c->stop)
        return;
    if (c->n_diags == LAB_DIAGS_MAX) {
        /* the rest would only bury the first ones; the walkers stop early too */
        c->stop = true;
        msg = xasprintf("too many problems: stopped after reporting %d", LAB_DIAGS_MAX);
    } else if (vasprintf(&msg, fmt, ap) < 0) {
        parse_oom();
    }
    if (suggestion) {
        char *full = xasprintf("%s; did you mean '%s'?", msg, suggestion);
        free(msg);
        msg = full;
    }
    /* one problem, one line: user values may hold newlines or tabs */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    LabDiag *d = ARRAY_PUSH(c->diags, c->n_diags);
    d->loc = loc;
    d->message = msg;
}

void diag(Ctx *c, LabLoc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(c, loc, NULL, fmt, ap);
    va_end(ap);
}

/* As diag(), ending in "; did you mean 'SUGGESTION'?" when @suggestion is not NULL. */
void diag_suggest(Ctx *c, LabLoc loc, const char *suggestion, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(c, loc, suggestion, fmt, ap);
    va_end(ap);
}

/* ---- did you mean ----------------------------------------------------------------------- */

/* The candidate (NULL-terminated list) closest to @word, when close enough to be a typo. */
const char *closest(const char *word, const char *const *cands)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;

    for (; cands && *cands; cands++) {
        size_t len = strlen(*cands);
        /* short words are one or two edits from everything: demand more similarity */
        size_t limit = len <= 3 ? 1 : 2;
        size_t d = text_edit_distance(word, *cands);
        if (d <= limit && d < best_d) {
            best = *cands;
            best_d = d;
        }
    }
    return best;
}

/* "a, b, c" from a NULL-terminated list. */
char *join(const char *const *v)
{
    size_t len = 1;
    for (const char *const *p = v; *p; p++)
        len += strlen(*p) + 2;
    char *s = xcalloc(1, len);
    for (const char *const *p = v; *p; p++) {
        if (p != v)
            strcat(s, ", ");
        strcat(s, *p);
    }
    return s;
}

/* The names of all networks, images or nodes, NULL-terminated, for did-you-mean. */
const char **names_of(const Lab *lab, NameKind kind)
{
    size_t n = kind == NAMES_NETWORKS ? lab->n_networks
               : kind == NAMES_IMAGES ? lab->n_images
                                      : lab->n_nodes;
    const char **v = xcalloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = kind == NAMES_NETWORKS ? lab->networks[i].name
               : kind == NAMES_IMAGES ? lab->images[i].name
                                      : lab->nodes[i].name;
    return v;
}
