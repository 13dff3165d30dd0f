/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lab file parser: libfyaml's events -> a small located tree.
 *
 * libfyaml 0.7's document API does not expose where a mapping or sequence starts, and every
 * diagnostic must point at a line and column; so we keep a tree of its events. The tree also
 * lets us report duplicate keys ourselves (libfyaml would stop at the first).
 */
#include <errno.h>
#include <libfyaml.h>
#include <stdlib.h>

#include "kvmlab/cleanup.h"
#include "parser.h"

/* ---- building the tree from libfyaml events --------------------------------------------- */

static YNode *y_new(Ctx *c, YType type, LabLoc loc)
{
    YNode *n = xcalloc(1, sizeof(*n));
    n->type = type;
    n->loc = loc;
    *ARRAY_PUSH(c->ynodes, c->n_ynodes) = n;
    return n;
}

static char *token_text(struct fy_token *t)
{
    size_t len = 0;
    const char *s = t ? fy_token_get_text(t, &len) : NULL;
    return s ? xstrndup(s, len) : xstrdup("");
}

/* The event's position; events without one (an empty value) get the last known position,
 * which is the key they belong to. */
static LabLoc event_loc(Ctx *c, struct fy_event *ev)
{
    const struct fy_mark *m = fy_event_start_mark(ev);
    if (m)
        c->last_loc = (LabLoc){m->line + 1, m->column + 1};
    return c->last_loc;
}

static void y_attach(YFrame *stack, size_t depth, YNode *n, YNode **root)
{
    if (depth == 0) {
        if (!*root)
            *root = n;
        return;
    }
    YNode *p = stack[depth - 1].node;
    if (p->type == Y_SEQ) {
        *ARRAY_PUSH(p->items, p->n_items) = n;
    } else if (p->n_pairs > 0 && !p->pairs[p->n_pairs - 1].value) {
        p->pairs[p->n_pairs - 1].value = n;
    } else {
        YPair *pair = ARRAY_PUSH(p->pairs, p->n_pairs);
        pair->key = n;
    }
}

static YNode *y_anchor_find(Ctx *c, const char *name)
{
    /* the latest definition wins, as YAML allows redefining an anchor */
    for (size_t i = c->n_anchors; i > 0; i--)
        if (streq(c->anchors[i - 1].name, name))
            return c->anchors[i - 1].node;
    return NULL;
}

static void y_anchor_add(Ctx *c, char *name, YNode *n)
{
    YAnchor *a = ARRAY_PUSH(c->anchors, c->n_anchors);
    a->name = name;
    a->node = n;
}

/* Report duplicate and non-string keys once, here, so the walkers can simply skip them. */
static void y_map_check(Ctx *c, YNode *m)
{
    for (size_t i = 0; i < m->n_pairs; i++) {
        YPair *p = &m->pairs[i];
        if (!p->value) {
            p->skip = true;
            continue;
        }
        if (p->key->type != Y_SCALAR) {
            diag(c, p->key->loc, "a mapping key must be a string, not %s", y_kind(p->key));
            p->skip = true;
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            const YPair *q = &m->pairs[j];
            if (!q->skip && streq(q->key->text, p->key->text)) {
                diag(c, p->key->loc, "duplicate key '%s'; it was first given at line %d",
                     p->key->text, q->key->loc.line);
                p->skip = true;
                break;
            }
        }
    }
}

int y_build(Ctx *c, struct fy_parser *fyp, YNode **ret_root)
{
    YFrame *stack = NULL;
    size_t depth = 0;
    YNode *root = NULL;
    unsigned docs = 0;
    bool stop = false;
    struct fy_event *ev;

    while (!stop && (ev = fy_parser_parse(fyp))) {
        YNode *n;
        struct fy_token *anchor;

        switch (ev->type) {
        case FYET_DOCUMENT_START:
            if (++docs > 1) {
                diag(c, event_loc(c, ev),
                     "the file holds more than one YAML document; a lab is one document");
                stop = true;
            }
            break;
        case FYET_MAPPING_START:
        case FYET_SEQUENCE_START: {
            bool is_map = ev->type == FYET_MAPPING_START;
            n = y_new(c, is_map ? Y_MAP : Y_SEQ, event_loc(c, ev));
            anchor = is_map ? ev->mapping_start.anchor : ev->sequence_start.anchor;
            y_attach(stack, depth, n, &root);
            YFrame *f = ARRAY_PUSH(stack, depth);
            f->node = n;
            f->anchor = anchor ? token_text(anchor) : NULL;
            break;
        }
        case FYET_MAPPING_END:
        case FYET_SEQUENCE_END:
            if (depth > 0) {
                YFrame *f = &stack[--depth];
                if (f->node->type == Y_MAP)
                    y_map_check(c, f->node);
                /* registered only when complete, so an alias can never form a cycle */
                if (f->anchor)
                    y_anchor_add(c, steal_pointer(&f->anchor), f->node);
            }
            break;
        case FYET_SCALAR:
            n = y_new(c, Y_SCALAR, event_loc(c, ev));
            n->text = token_text(ev->scalar.value);
            n->plain = !ev->scalar.value || fy_token_scalar_style(ev->scalar.value) == FYSS_PLAIN;
            y_attach(stack, depth, n, &root);
            if (ev->scalar.anchor)
                y_anchor_add(c, token_text(ev->scalar.anchor), n);
            break;
        case FYET_ALIAS: {
            LabLoc loc = event_loc(c, ev);
            _cleanup_free_ char *name = token_text(ev->alias.anchor);
            YNode *target = y_anchor_find(c, name);
            if (!target) {
                diag(c, loc, "alias '*%s' does not refer to an anchor defined before it", name);
                /* an empty stand-in keeps the surrounding mapping whole */
                n = y_new(c, Y_SCALAR, loc);
                n->text = xstrdup("");
                n->plain = true;
                n->bad = true;
            } else {
                /* a shallow copy, so that problems with the value point at the alias */
                n = y_new(c, target->type, loc);
                n->text = target->text;
                n->plain = target->plain;
                n->items = target->items;
                n->n_items = target->n_items;
                n->pairs = target->pairs;
                n->n_pairs = target->n_pairs;
                n->bad = target->bad;
                n->shared = true;
            }
            y_attach(stack, depth, n, &root);
            break;
        }
        default:
            break;
        }
        fy_parser_event_free(fyp, ev);
    }
    for (size_t i = 0; i < depth; i++)
        free(stack[i].anchor);
    free(stack);
    *ret_root = root;
    return fy_parser_get_stream_error(fyp) ? -EINVAL : 0;
}
