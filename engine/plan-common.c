/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the planner's steps share: finding this lab's objects, growing the wanted list, notes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "planner.h"

bool is_ours(const Plan *p, const Observed *o)
{
    return o->lab && strcmp(o->lab, p->lab) == 0;
}

/* This lab's object of @kind made for lab-file key @key, or NULL. */
const Observed *ours_by_key(const Plan *p, ResourceKind kind, const char *key)
{
    for (size_t i = 0; i < p->n_have; i++) {
        const Observed *o = &p->have[i];
        if (o->kind == kind && is_ours(p, o) && o->key && strcmp(o->key, key) == 0)
            return o;
    }
    return NULL;
}

const Observed *ours_network(const Plan *p, const char *key)
{
    const Observed *o = ours_by_key(p, RESOURCE_NETWORK, key);
    return o ? o : ours_by_key(p, RESOURCE_BRIDGE, key);
}

const Resource *want_network(const Plan *p, const char *key)
{
    for (size_t i = 0; i < p->n_want; i++) {
        const Resource *w = &p->want[i];
        if ((w->kind == RESOURCE_NETWORK || w->kind == RESOURCE_BRIDGE) && w->key &&
            strcmp(w->key, key) == 0)
            return w;
    }
    return NULL;
}

int plan_want_reserve(Plan *p, size_t n)
{
    if (p->n_want + n <= p->n_want_alloc)
        return 0;
    size_t cap = (p->n_want + n) * 2;
    Resource *v = realloc(p->want, cap * sizeof(*v));
    if (!v)
        return -ENOMEM;
    memset(v + p->n_want_alloc, 0, (cap - p->n_want_alloc) * sizeof(*v));
    p->want = v;
    p->n_want_alloc = cap;
    return 0;
}

int add_note(Plan *p, char *note)
{
    char **v = note ? realloc(p->notes, (p->n_notes + 1) * sizeof(*v)) : NULL;
    if (!v) {
        free(note);
        return -ENOMEM;
    }
    p->notes = v;
    v[p->n_notes++] = note;
    return 0;
}
