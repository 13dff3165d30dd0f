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

static bool is_white(char ch)
{
    return ch == ' ' || ch == '\t';
}

/*
 * The value of a single-quoted scalar from its raw text @s (between the quotes): '' is one
 * quote, and lines fold as YAML 1.2 says for flow scalars (a line break between text becomes a
 * space, each empty line a newline, white space around breaks goes). libfyaml 0.7.12 does this
 * too, but leaks its chunk buffer on a run of quotes (twelve quotes leaked 512 bytes).
 */
static char *single_quoted_text(const char *s, size_t len)
{
    char *out = xcalloc(len + 1, 1), *o = out;
    size_t i = 0, empty = 0;
    bool first = true;

    for (;;) {
        /* one line: [i, e) without its line break */
        size_t e = i;
        while (e < len && s[e] != '\n' && s[e] != '\r')
            e++;
        bool last = e >= len;
        size_t a = i, b = e;
        if (!first)
            while (a < b && is_white(s[a]))
                a++;
        if (!last)
            while (b > a && is_white(s[b - 1]))
                b--;
        if (!first && a == b && !last) {
            empty++; /* folded below, into the break before the next line with text */
        } else {
            if (!first) {
                if (empty == 0)
                    *o++ = ' ';
                for (; empty > 0; empty--)
                    *o++ = '\n';
            }
            for (size_t k = a; k < b; k++) {
                *o++ = s[k];
                if (s[k] == '\'' && k + 1 < b && s[k + 1] == '\'')
                    k++;
            }
        }
        if (last)
            break;
        i = e + (s[e] == '\r' && e + 1 < len && s[e + 1] == '\n' ? 2 : 1);
        first = false;
    }
    *o = 0;
    return out;
}

static char *token_text(Ctx *c, struct fy_token *t)
{
    size_t len = 0;

    if (t && fy_token_get_type(t) == FYTT_SCALAR &&
        fy_token_scalar_style(t) == FYSS_SINGLE_QUOTED) {
        /* the marks hold the text between the quotes */
        const struct fy_mark *a = fy_token_start_mark(t), *b = fy_token_end_mark(t);
        if (a && b && a->input_pos >= 1 && b->input_pos >= a->input_pos &&
            b->input_pos < c->text_len && c->text[a->input_pos - 1] == '\'' &&
            c->text[b->input_pos] == '\'')
            return single_quoted_text(c->text + a->input_pos, b->input_pos - a->input_pos);
    }
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

typedef struct NameKey {
    const Ctx *c;
    const char *name;
} NameKey;

static bool anchor_eq(const void *ud, size_t entry)
{
    const NameKey *k = ud;
    return streq(k->c->anchors[entry].name, k->name);
}

static YNode *y_anchor_find(Ctx *c, const char *name)
{
    NameKey k = {c, name};
    size_t *e = index_find(&c->anchor_index, index_hash_str(name), anchor_eq, &k);
    return e ? c->anchors[*e].node : NULL;
}

/* Takes @name. */
static void y_anchor_add(Ctx *c, char *name, YNode *n)
{
    NameKey k = {c, name};
    uint64_t h = index_hash_str(name);
    size_t *e = index_find(&c->anchor_index, h, anchor_eq, &k);

    /* the latest definition wins, as YAML allows redefining an anchor */
    if (e) {
        c->anchors[*e].node = n;
        free(name);
        return;
    }
    YAnchor *a = ARRAY_PUSH(c->anchors, c->n_anchors);
    a->name = name;
    a->node = n;
    index_add(&c->anchor_index, h, c->n_anchors - 1);
}

/* a + b, stopping at UINT64_MAX */
static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* How many values @n stands for with every alias in it expanded. */
static void y_weigh(YNode *n)
{
    uint64_t w = 1;
    for (size_t i = 0; i < n->n_items; i++)
        w = add_sat(w, n->items[i]->weight);
    for (size_t i = 0; i < n->n_pairs; i++) {
        w = add_sat(w, n->pairs[i].key->weight);
        if (n->pairs[i].value)
            w = add_sat(w, n->pairs[i].value->weight);
    }
    n->weight = w;
}

typedef struct PairKey {
    const YPair *pairs;
    const char *text;
} PairKey;

static bool key_eq(const void *ud, size_t entry)
{
    const PairKey *k = ud;
    return streq(k->pairs[entry].key->text, k->text);
}

/* Report duplicate and non-string keys once, here, so the walkers can simply skip them. */
static void y_map_check(Ctx *c, YNode *m)
{
    Index seen = {0};

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
        PairKey k = {m->pairs, p->key->text};
        uint64_t h = index_hash_str(p->key->text);
        const size_t *first = index_find(&seen, h, key_eq, &k);
        if (first) {
            diag(c, p->key->loc, "duplicate key '%s'; it was first given at line %d", p->key->text,
                 m->pairs[*first].key->loc.line);
            p->skip = true;
            continue;
        }
        index_add(&seen, h, i);
    }
    index_clear(&seen);
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
            f->anchor = anchor ? token_text(c, anchor) : NULL;
            break;
        }
        case FYET_MAPPING_END:
        case FYET_SEQUENCE_END:
            if (depth > 0) {
                YFrame *f = &stack[--depth];
                y_weigh(f->node);
                if (f->node->type == Y_MAP)
                    y_map_check(c, f->node);
                /* registered only when complete, so an alias can never form a cycle */
                if (f->anchor)
                    y_anchor_add(c, steal_pointer(&f->anchor), f->node);
            }
            break;
        case FYET_SCALAR:
            n = y_new(c, Y_SCALAR, event_loc(c, ev));
            n->weight = 1;
            n->text = token_text(c, ev->scalar.value);
            n->plain = !ev->scalar.value || fy_token_scalar_style(ev->scalar.value) == FYSS_PLAIN;
            y_attach(stack, depth, n, &root);
            if (ev->scalar.anchor)
                y_anchor_add(c, token_text(c, ev->scalar.anchor), n);
            break;
        case FYET_ALIAS: {
            LabLoc loc = event_loc(c, ev);
            _cleanup_free_ char *name = token_text(c, ev->alias.anchor);
            YNode *target = y_anchor_find(c, name);
            /* every use of an alias is walked in full: bound what all of them add together */
            if (target && !c->aliases_full &&
                add_sat(c->alias_values, target->weight) > LAB_ALIAS_VALUES_MAX) {
                diag(c, loc,
                     "alias '*%s' makes the aliases of the lab file stand for more than %d values "
                     "in all",
                     name, LAB_ALIAS_VALUES_MAX);
                c->aliases_full = true;
            }
            if (!target || c->aliases_full) {
                if (!target)
                    diag(c, loc, "alias '*%s' does not refer to an anchor defined before it", name);
                /* an empty stand-in keeps the surrounding mapping whole */
                n = y_new(c, Y_SCALAR, loc);
                n->weight = 1;
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
                n->weight = target->weight;
                c->alias_values += target->weight;
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
