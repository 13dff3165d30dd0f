/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lab file (format v1): YAML -> Lab, with every problem collected and located.
 *
 * libfyaml's event parser does the YAML; we keep a small tree of its events because libfyaml
 * 0.7's document API does not expose where a mapping or sequence starts, and every diagnostic
 * must point at a line and column. The tree also lets us report duplicate keys ourselves
 * (libfyaml would stop at the first) and keep going after a bad value so that a file's problems
 * are all reported at once.
 */
#include "kvmlab/lab.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/cleanup.h"

#define NODE_NAME_MAX        32
#define NETWORK_NAME_MAX     15
#define IFNAME_MAX           15
#define NODE_COUNT_MAX       64
#define NODE_CPUS_MAX        64
#define MEMORY_MIN_MIB       128
#define MEMORY_MAX_MIB       (1024ULL * 1024)
#define DISK_MIN_BYTES       (1ULL << 20)
#define DISK_MAX_BYTES       (64ULL << 40)
#define LEASE_MIN_S          120 /* libvirt and dnsmasq refuse shorter leases */
#define LEASE_LIMIT_S        (7 * 86400)
#define KUBEADM_CP_CPUS      2
#define KUBEADM_CP_MIB       1700
#define EDIT_DISTANCE_MAXLEN 64

/* Allocation failure aborts, as libvirt does since it moved to GLib: a parser that half-fails
 * on ENOMEM would only trade a clear crash for a misleading diagnostic. */
static void *xrealloc(void *p, size_t n, size_t size)
{
    void *q = reallocarray(p, n ? n : 1, size ? size : 1);
    if (!q)
        abort();
    return q;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        abort();
    return p;
}

static char *xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (!p)
        abort();
    return p;
}

static char *xstrdup(const char *s)
{
    return s ? xstrndup(s, strlen(s)) : NULL;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (r < 0)
        abort();
    return s;
}

/* Append a zeroed element to a dynamic array and return a pointer to it. */
#define ARRAY_PUSH(arr, n)                                                                         \
    ({                                                                                             \
        (arr) = xrealloc((arr), (n) + 1, sizeof(*(arr)));                                          \
        memset(&(arr)[(n)], 0, sizeof(*(arr)));                                                    \
        &(arr)[(n)++];                                                                             \
    })

static bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* ---- the YAML tree ---------------------------------------------------------------------- */

typedef enum YType {
    Y_SCALAR,
    Y_MAP,
    Y_SEQ,
} YType;

typedef struct YNode YNode;

typedef struct YPair {
    YNode *key;
    YNode *value;
    bool skip; /* duplicate or non-string key, already reported */
} YPair;

struct YNode {
    YType type;
    LabLoc loc;
    char *text; /* scalars: the value, escapes resolved */
    bool plain; /* scalars: written without quotes, so "~" and "" mean null */
    YNode **items;
    size_t n_items;
    YPair *pairs;
    size_t n_pairs;
    bool shared; /* an alias: text, items and pairs belong to the anchored node */
    bool bad;    /* already reported (an alias to nowhere): stay quiet about it */
};

typedef struct YAnchor {
    char *name;
    YNode *node;
} YAnchor;

typedef struct YFrame {
    YNode *node;
    char *anchor;
} YFrame;

/* ---- parse context ---------------------------------------------------------------------- */

typedef struct NetAux {
    bool type_known;
    bool subnet_bad; /* given but invalid: checks that need it stay quiet */
    LabLoc subnet_loc;
} NetAux;

/* One entry of `nodes:` in the file, before count expansion. */
typedef struct NodeEntry {
    char *label; /* "node 'cp'", or "the node at line 5" when it has no usable name */
    LabLoc loc;
    LabLoc name_loc;
    LabLoc cpus_loc;
    LabLoc memory_loc;
    bool has_count;
    unsigned count;
    size_t first, n; /* its expanded nodes in Lab.nodes */
} NodeEntry;

typedef struct ForwardAux {
    size_t net, pf;
    LabLoc node_loc;
    LabLoc host_port_loc;
} ForwardAux;

typedef struct MacUse {
    MacAddr mac;
    LabLoc loc;
    size_t seq; /* registration order, to sort copies of one node stably */
    char *owner;
} MacUse;

typedef struct IpUse {
    size_t net;
    uint32_t ip;
    LabLoc loc;
    size_t seq;
    char *owner;
} IpUse;

typedef struct Ctx {
    LabDiag *diags;
    size_t n_diags;
    LabLoc last_loc;

    YNode **ynodes; /* every tree node, for freeing: aliases share them */
    size_t n_ynodes;
    YAnchor *anchors;
    size_t n_anchors;

    Lab *lab;
    NetAux *net_aux; /* parallel to lab->networks */
    NodeEntry *entries;
    size_t n_entries;
    ForwardAux *forwards;
    size_t n_forwards;
    MacUse *macs;
    size_t n_macs;
    IpUse *ips;
    size_t n_ips;
    LabLoc k8s_bootstrap_loc;
    LabLoc k8s_pod_loc;
    LabLoc k8s_service_loc;
} Ctx;

static void diag_vadd(Ctx *c, LabLoc loc, const char *suggestion, const char *fmt, va_list ap)
{
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        abort();
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

static void diag(Ctx *c, LabLoc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void diag(Ctx *c, LabLoc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(c, loc, NULL, fmt, ap);
    va_end(ap);
}

/* As diag(), ending in "; did you mean 'SUGGESTION'?" when @suggestion is not NULL. */
static void diag_suggest(Ctx *c, LabLoc loc, const char *suggestion, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void diag_suggest(Ctx *c, LabLoc loc, const char *suggestion, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(c, loc, suggestion, fmt, ap);
    va_end(ap);
}

/* ---- did you mean ----------------------------------------------------------------------- */

/* Optimal string alignment distance (Levenshtein plus adjacent swaps: 'netwroks' is one edit
 * from 'networks'), ignoring case. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    uint8_t d[EDIT_DISTANCE_MAXLEN + 1][EDIT_DISTANCE_MAXLEN + 1];

    if (la > EDIT_DISTANCE_MAXLEN || lb > EDIT_DISTANCE_MAXLEN)
        return SIZE_MAX;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (uint8_t)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (uint8_t)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int ai = tolower((unsigned char)a[i - 1]), bj = tolower((unsigned char)b[j - 1]);
            unsigned best = d[i - 1][j - 1] + (ai != bj);
            if (d[i - 1][j] + 1u < best)
                best = d[i - 1][j] + 1u;
            if (d[i][j - 1] + 1u < best)
                best = d[i][j - 1] + 1u;
            if (i > 1 && j > 1 && ai == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == bj && d[i - 2][j - 2] + 1u < best)
                best = d[i - 2][j - 2] + 1u;
            d[i][j] = (uint8_t)best;
        }
    }
    return d[la][lb];
}

/* The candidate (NULL-terminated list) closest to @word, when close enough to be a typo. */
static const char *closest(const char *word, const char *const *cands)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;

    for (; cands && *cands; cands++) {
        size_t len = strlen(*cands);
        /* short words are one or two edits from everything: demand more similarity */
        size_t limit = len <= 3 ? 1 : 2;
        size_t d = edit_distance(word, *cands);
        if (d <= limit && d < best_d) {
            best = *cands;
            best_d = d;
        }
    }
    return best;
}

/* "a, b, c" from a NULL-terminated list. */
static char *join(const char *const *v)
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

static const char *y_kind(const YNode *n);

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

static int y_build(Ctx *c, struct fy_parser *fyp, YNode **ret_root)
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

/* ---- reading values --------------------------------------------------------------------- */

static bool y_is_null(const YNode *n)
{
    if (!n)
        return true;
    if (n->type != Y_SCALAR || !n->plain)
        return false;
    return !*n->text || streq(n->text, "~") || streq(n->text, "null") || streq(n->text, "Null") ||
           streq(n->text, "NULL");
}

static const char *y_kind(const YNode *n)
{
    if (y_is_null(n))
        return "an empty value";
    switch (n->type) {
    case Y_MAP:
        return "a mapping";
    case Y_SEQ:
        return "a list";
    case Y_SCALAR:
        break;
    }
    return "a string";
}

/* "WHAT must be EXPECTED, not VALUE". */
static void diag_type(Ctx *c, const YNode *n, const char *what, const char *expected)
{
    if (n->bad)
        return;
    if (n->type == Y_SCALAR && !y_is_null(n))
        diag(c, n->loc, "%s must be %s, not '%s'", what, expected, n->text);
    else
        diag(c, n->loc, "%s must be %s, not %s", what, expected, y_kind(n));
}

/* The first pair whose key is @key (duplicates are skipped, they were reported). */
static YPair *map_pair(const YNode *m, const char *key)
{
    for (size_t i = 0; m && m->type == Y_MAP && i < m->n_pairs; i++)
        if (!m->pairs[i].skip && streq(m->pairs[i].key->text, key))
            return &m->pairs[i];
    return NULL;
}

static YNode *map_get(const YNode *m, const char *key)
{
    YPair *p = map_pair(m, key);
    return p ? p->value : NULL;
}

/* Report every key of @m that is not in @keys, with a did-you-mean. @where: "in the lab". */
static void map_check_keys(Ctx *c, const YNode *m, const char *const *keys, const char *where)
{
    for (size_t i = 0; i < m->n_pairs; i++) {
        const YPair *p = &m->pairs[i];
        bool known = false;
        if (p->skip)
            continue;
        for (const char *const *k = keys; *k && !known; k++)
            known = streq(*k, p->key->text);
        if (known)
            continue;
        const char *dym = closest(p->key->text, keys);
        if (dym) {
            diag_suggest(c, p->key->loc, dym, "unknown key '%s' %s", p->key->text, where);
        } else {
            _cleanup_free_ char *list = join(keys);
            diag(c, p->key->loc, "unknown key '%s' %s; known keys are: %s", p->key->text, where,
                 list);
        }
    }
}

/* A mapping, or an empty value (treated as an empty mapping); reports anything else. */
static bool y_want_map(Ctx *c, const YNode *n, const char *what, const char *expected)
{
    if (!n || y_is_null(n))
        return false;
    if (n->type != Y_MAP) {
        diag_type(c, n, what, expected);
        return false;
    }
    return true;
}

static bool y_want_seq(Ctx *c, const YNode *n, const char *what, const char *expected)
{
    if (!n || y_is_null(n))
        return false;
    if (n->type != Y_SEQ) {
        diag_type(c, n, what, expected);
        return false;
    }
    return true;
}

/* A non-empty scalar's text, or NULL after reporting that @what must be @expected. */
static const char *y_text(Ctx *c, const YNode *n, const char *what, const char *expected)
{
    if (n->type != Y_SCALAR || y_is_null(n)) {
        diag_type(c, n, what, expected);
        return NULL;
    }
    return n->text;
}

static const char *y_str(Ctx *c, const YNode *n, const char *what)
{
    return y_text(c, n, what, "a string");
}

static bool y_uint(Ctx *c, const YNode *n, const char *what, uint64_t min, uint64_t max,
                   uint64_t *ret)
{
    char expected[64];
    snprintf(expected, sizeof(expected), "an integer from %" PRIu64 " to %" PRIu64, min, max);
    if (n->type != Y_SCALAR || y_is_null(n)) {
        diag_type(c, n, what, expected);
        return false;
    }
    uint64_t v = 0;
    bool digits = true;
    for (const char *p = n->text; *p && digits; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (!isdigit((unsigned char)*p))
            digits = false;
        else if (v > (UINT64_MAX - d) / 10)
            v = UINT64_MAX; /* saturate: still out of range below */
        else
            v = v * 10 + d;
    }
    if (digits && !n->plain) {
        diag(c, n->loc, "%s must be %s, not the quoted string '%s'; remove the quotes", what,
             expected, n->text);
        return false;
    }
    if (!digits || v < min || v > max) {
        diag_type(c, n, what, expected);
        return false;
    }
    *ret = v;
    return true;
}

/* YAML 1.2 core schema booleans. */
static bool y_bool(Ctx *c, const YNode *n, const char *what, bool *ret)
{
    static const char *const yes[] = {"true", "True", "TRUE"};
    static const char *const no[] = {"false", "False", "FALSE"};

    if (n->type == Y_SCALAR && n->plain) {
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
            if (streq(n->text, yes[i])) {
                *ret = true;
                return true;
            }
            if (streq(n->text, no[i])) {
                *ret = false;
                return true;
            }
        }
    }
    diag_type(c, n, what, "true or false");
    return false;
}

/* Index of the value in @names, or -1 after reporting it with a did-you-mean. */
static int y_enum(Ctx *c, const YNode *n, const char *what, const char *const *names)
{
    const char *s = y_str(c, n, what);
    if (!s)
        return -1;
    for (int i = 0; names[i]; i++)
        if (streq(s, names[i]))
            return i;
    _cleanup_free_ char *list = join(names);
    diag_suggest(c, n->loc, closest(s, names), "%s '%s' is not one of: %s", what, s, list);
    return -1;
}

static bool y_ipv4(Ctx *c, const YNode *n, const char *what, uint32_t *ret)
{
    const char *s = y_text(c, n, what, "an IPv4 address such as '192.168.208.10'");
    if (!s)
        return false;
    if (addr_ipv4_parse(s, ret) < 0) {
        diag(c, n->loc, "%s '%s' is not an IPv4 address such as '192.168.208.10'", what, s);
        return false;
    }
    return true;
}

static bool y_mac(Ctx *c, const YNode *n, const char *what, MacAddr *ret)
{
    static const MacAddr zero;
    const char *s = y_text(c, n, what, "a MAC address such as '52:54:00:12:34:56'");
    if (!s)
        return false;
    if (addr_mac_parse(s, ret) < 0) {
        diag(c, n->loc, "%s '%s' is not a MAC address such as '52:54:00:12:34:56'", what, s);
        return false;
    }
    if (ret->b[0] & 1) {
        diag(c, n->loc,
             "%s '%s' is a multicast address; a NIC needs a unicast one such as "
             "'52:54:00:12:34:56'",
             what, s);
        return false;
    }
    if (addr_mac_equal(ret, &zero)) {
        diag(c, n->loc, "%s '%s' is the all-zero address, which no NIC can use", what, s);
        return false;
    }
    return true;
}

/* A CIDR network with a prefix from /8 to /30 (anything smaller leaves no room for the host,
 * gateway and guests; anything larger is a typo). */
static bool y_cidr(Ctx *c, const YNode *n, const char *what, Ipv4Net *ret)
{
    const char *s = y_text(c, n, what, "an IPv4 network such as '192.168.208.0/24'");
    if (!s)
        return false;
    int r = addr_cidr_parse(s, ret);
    if (r == -EDOM) {
        /* the syntax is fine: recover address and prefix to say what is wrong with them */
        char buf[IPV4_STRLEN], fixed[CIDR_STRLEN];
        const char *slash = strchr(s, '/');
        size_t len = (size_t)(slash - s);
        uint32_t a = 0;
        memcpy(buf, s, len);
        buf[len] = 0;
        (void)addr_ipv4_parse(buf, &a);
        ret->prefix = (unsigned)strtoul(slash + 1, NULL, 10);
        ret->addr = a & addr_netmask(ret->prefix);
        if (ret->prefix >= 8 && ret->prefix <= 30) {
            diag(c, n->loc, "%s '%s' has host bits set; did you mean '%s'?", what, s,
                 addr_cidr_format(ret, fixed));
            return false;
        }
    } else if (r < 0) {
        diag(c, n->loc,
             "%s '%s' is not an IPv4 network in CIDR notation such as '192.168.208.0/24'", what, s);
        return false;
    }
    if (ret->prefix < 8 || ret->prefix > 30) {
        diag(c, n->loc, "%s '%s' has a /%u prefix; use a prefix from /8 to /30", what, s,
             ret->prefix);
        return false;
    }
    return true;
}

/* ---- names ------------------------------------------------------------------------------ */

/* [a-z][a-z0-9-]* */
static bool name_is_simple(const char *s)
{
    if (!(*s >= 'a' && *s <= 'z'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return false;
    return true;
}

static bool name_is_image(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr("._-", *s)))
            return false;
    return true;
}

/* osinfo short ids: debian12, centos7.0, ubuntu22.04, win10, fedora-rawhide. */
static bool name_is_os(const char *s)
{
    if (!(*s >= 'a' && *s <= 'z'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr(".-", *s)))
            return false;
    return true;
}

static void check_os(Ctx *c, const YNode *n, char **ret)
{
    const char *s = y_str(c, n, "'os'");
    if (!s)
        return;
    if (!name_is_os(s)) {
        diag(c, n->loc,
             "os '%s' is not an osinfo short id such as 'debian12', 'centos7.0' or 'win10'", s);
        return;
    }
    *ret = xstrdup(s);
}

static void check_network_name(Ctx *c, const YNode *k)
{
    const char *s = k->text;
    if (strncmp(s, "vmnet", 5) == 0 && s[5] && strspn(s + 5, "0123456789") == strlen(s + 5)) {
        if ((s[5] == '0' && s[6]) || strlen(s + 5) > 3 || atoi(s + 5) > 255)
            diag(c, k->loc,
                 "network name '%s' is not a VMware network: use vmnet0 to vmnet255, without "
                 "leading zeros",
                 s);
        return;
    }
    if (!name_is_simple(s))
        diag(c, k->loc,
             "network name '%s' must be vmnet0 to vmnet255, or start with a lower-case letter and "
             "contain only lower-case letters, digits and '-'",
             s);
    else if (strlen(s) > NETWORK_NAME_MAX)
        diag(c, k->loc, "network name '%s' is longer than %d characters", s, NETWORK_NAME_MAX);
}

/* Linux's dev_valid_name(): at most 15 bytes, not "." or "..", no '/', ':' or blanks. */
static bool ifname_is_valid(const char *s)
{
    if (!*s || strlen(s) > IFNAME_MAX || streq(s, ".") || streq(s, ".."))
        return false;
    for (; *s; s++)
        if (*s == '/' || *s == ':' || isspace((unsigned char)*s))
            return false;
    return true;
}

/* ---- networks --------------------------------------------------------------------------- */

static const char *const vmnet_type_names[] = {"nat", "hostonly", "bridged", "isolated", NULL};
static const char *const vmnet_backend_names[] = {"libvirt", "bridge", NULL};
static const char *const proto_names[] = {"tcp", "udp", NULL};

/* What @ip is in @net's address plan when guests cannot use it, else NULL. */
static const char *net_reserved_role(const LabNetwork *net, uint32_t ip)
{
    uint32_t host_mask = ~addr_netmask(net->subnet.prefix);
    if (ip == net->subnet.addr)
        return "the network address";
    if (ip == (net->subnet.addr | host_mask))
        return "the broadcast address";
    if (ip == addr_net_host(&net->subnet, 1))
        return "the host's address";
    if (net->type == VMNET_NAT && ip == addr_net_host(&net->subnet, 2))
        return "the NAT gateway's address";
    return NULL;
}

/* A guest address on @net: inside the subnet and not one the address plan reserves. */
static bool check_guest_ip(Ctx *c, const LabNetwork *net, uint32_t ip, LabLoc loc, const char *what)
{
    char a[IPV4_STRLEN], cidr[CIDR_STRLEN];
    const char *role;

    if (!addr_net_contains(&net->subnet, ip)) {
        diag(c, loc, "%s '%s' is outside subnet '%s' of network '%s'", what,
             addr_ipv4_format(ip, a), addr_cidr_format(&net->subnet, cidr), net->name);
        return false;
    }
    if ((role = net_reserved_role(net, ip))) {
        diag(c, loc, "%s '%s' is %s of network '%s'", what, addr_ipv4_format(ip, a), role,
             net->name);
        return false;
    }
    return true;
}

static void use_mac(Ctx *c, const MacAddr *mac, LabLoc loc, char *owner)
{
    MacUse *u = ARRAY_PUSH(c->macs, c->n_macs);
    u->mac = *mac;
    u->loc = loc;
    u->seq = c->n_macs;
    u->owner = owner;
}

static void use_ip(Ctx *c, size_t net, uint32_t ip, LabLoc loc, char *owner)
{
    IpUse *u = ARRAY_PUSH(c->ips, c->n_ips);
    u->net = net;
    u->ip = ip;
    u->loc = loc;
    u->seq = c->n_ips;
    u->owner = owner;
}

static void parse_dhcp(Ctx *c, LabNetwork *net, const NetAux *aux, const YPair *dp)
{
    static const char *const keys[] = {"start", "end", "lease", NULL};
    _cleanup_free_ char *where = xasprintf("in the dhcp settings of network '%s'", net->name);
    const YNode *m = dp->value;

    if (!y_want_map(c, m, "'dhcp'", "a mapping with 'start', 'end' and 'lease'"))
        return;
    map_check_keys(c, m, keys, where);

    const YNode *start = map_get(m, "start"), *end = map_get(m, "end");
    if (start || end) {
        uint32_t s = 0, e = 0;
        char a[IPV4_STRLEN], b[IPV4_STRLEN], cidr[CIDR_STRLEN];
        bool s_ok = start && y_ipv4(c, start, "dhcp start", &s);
        bool e_ok = end && y_ipv4(c, end, "dhcp end", &e);
        bool ok = s_ok && e_ok;

        if (!start || !end)
            diag(c, m->loc, "the dhcp range of network '%s' needs both 'start' and 'end'",
                 net->name);
        if (!net->has_subnet && !aux->subnet_bad) {
            diag(c, dp->key->loc,
                 "network '%s' needs a 'subnet' when 'dhcp' gives a range, so the range can be "
                 "checked",
                 net->name);
            ok = false;
        }
        if (net->has_subnet) {
            addr_cidr_format(&net->subnet, cidr);
            if (s_ok && !addr_net_contains(&net->subnet, s)) {
                diag(c, start->loc, "dhcp start '%s' is outside subnet '%s' of network '%s'",
                     addr_ipv4_format(s, a), cidr, net->name);
                ok = false;
            }
            if (e_ok && !addr_net_contains(&net->subnet, e)) {
                diag(c, end->loc, "dhcp end '%s' is outside subnet '%s' of network '%s'",
                     addr_ipv4_format(e, a), cidr, net->name);
                ok = false;
            }
        }
        if (ok && net->has_subnet) {
            if (s > e) {
                diag(c, start->loc, "dhcp range '%s' to '%s' is empty: 'start' comes after 'end'",
                     addr_ipv4_format(s, a), addr_ipv4_format(e, b));
                ok = false;
            }
            if (ok) {
                /* the plan's fixed addresses: network, host, gateway (NAT), broadcast */
                uint32_t fixed[] = {net->subnet.addr, addr_net_host(&net->subnet, 1),
                                    addr_net_host(&net->subnet, 2),
                                    net->subnet.addr | ~addr_netmask(net->subnet.prefix)};
                for (size_t i = 0; i < ELEMENTSOF(fixed); i++) {
                    const char *role = net_reserved_role(net, fixed[i]);
                    char f[IPV4_STRLEN];
                    if (role && fixed[i] >= s && fixed[i] <= e) {
                        diag(c, start->loc, "dhcp range '%s' to '%s' includes '%s', %s",
                             addr_ipv4_format(s, a), addr_ipv4_format(e, b),
                             addr_ipv4_format(fixed[i], f), role);
                        ok = false;
                        break;
                    }
                }
            }
        }
        if (ok) {
            net->has_dhcp_range = true;
            net->dhcp_start = s;
            net->dhcp_end = e;
        }
    }

    const YNode *lease = map_get(m, "lease");
    if (lease) {
        const char *s = y_text(c, lease, "dhcp lease", "a duration such as '30m'");
        uint32_t secs = 0;
        if (!s)
            return;
        int r = lab_duration_parse(s, &secs);
        if (r == -EINVAL)
            diag(c, lease->loc,
                 "dhcp lease '%s' is not a duration such as '30m', '2h' or '1800' (seconds)", s);
        else if (r < 0 || secs > LEASE_LIMIT_S)
            diag(c, lease->loc, "dhcp lease '%s' is longer than one week", s);
        else if (secs < LEASE_MIN_S)
            diag(c, lease->loc, "dhcp lease '%s' is shorter than %d seconds", s, LEASE_MIN_S);
        else
            net->lease_seconds = secs;
    }
}

static void parse_reservations(Ctx *c, size_t idx, const YPair *rp)
{
    static const char *const keys[] = {"mac", "ip", NULL};
    LabNetwork *net = &c->lab->networks[idx];
    const NetAux *aux = &c->net_aux[idx];
    _cleanup_free_ char *where = xasprintf("in a reservation of network '%s'", net->name);

    if (!y_want_seq(c, rp->value, "'reservations'", "a list of {mac, ip} mappings"))
        return;
    if (aux->type_known && (net->type == VMNET_BRIDGED || net->type == VMNET_ISOLATED)) {
        diag(c, rp->key->loc,
             "reservations need kvmlab's DHCP server, which %s network '%s' does not have",
             vmnet_type_to_string(net->type), net->name);
        return;
    }
    if (!net->has_subnet && !aux->subnet_bad)
        diag(c, rp->key->loc, "network '%s' needs a 'subnet' when it has 'reservations'",
             net->name);
    for (size_t i = 0; i < rp->value->n_items; i++) {
        const YNode *item = rp->value->items[i];
        if (!y_want_map(c, item, "a reservation", "a mapping with 'mac' and 'ip'")) {
            if (y_is_null(item))
                diag(c, item->loc,
                     "a reservation must be a mapping with 'mac' and 'ip', not an empty value");
            continue;
        }
        map_check_keys(c, item, keys, where);
        const YNode *mac = map_get(item, "mac"), *ip = map_get(item, "ip");
        if (!mac || !ip) {
            diag(c, item->loc, "a reservation needs both 'mac' and 'ip'");
            continue;
        }
        LabReservation r = {.loc = item->loc};
        bool ok = y_mac(c, mac, "reservation MAC", &r.mac);
        if (!y_ipv4(c, ip, "reservation IP", &r.ip))
            ok = false;
        else if (net->has_subnet && !check_guest_ip(c, net, r.ip, ip->loc, "reservation IP"))
            ok = false;
        if (!ok)
            continue;
        *ARRAY_PUSH(net->reservations, net->n_reservations) = r;
        use_mac(c, &r.mac, mac->loc, xasprintf("a reservation of network '%s'", net->name));
        use_ip(c, idx, r.ip, ip->loc, xasprintf("a reservation of network '%s'", net->name));
    }
}

static void parse_port_forwards(Ctx *c, size_t idx, const YPair *fp)
{
    static const char *const keys[] = {"proto", "host_port", "node", "port", NULL};
    LabNetwork *net = &c->lab->networks[idx];
    _cleanup_free_ char *where = xasprintf("in a port forward of network '%s'", net->name);

    if (!y_want_seq(c, fp->value, "'port_forwards'",
                    "a list of {proto, host_port, node, port} mappings"))
        return;
    if (c->net_aux[idx].type_known && net->type != VMNET_NAT) {
        diag(c, fp->key->loc, "port forwards need NAT, and network '%s' is %s", net->name,
             vmnet_type_to_string(net->type));
        return;
    }
    for (size_t i = 0; i < fp->value->n_items; i++) {
        const YNode *item = fp->value->items[i];
        if (!y_want_map(c, item, "a port forward",
                        "a mapping with 'host_port', 'node' and 'port'")) {
            if (y_is_null(item))
                diag(c, item->loc,
                     "a port forward must be a mapping with 'host_port', 'node' and 'port', not an "
                     "empty value");
            continue;
        }
        map_check_keys(c, item, keys, where);
        LabPortForward pf = {.proto = LAB_PROTO_TCP, .loc = item->loc};
        const YNode *proto = map_get(item, "proto"), *host_port = map_get(item, "host_port");
        const YNode *node = map_get(item, "node"), *port = map_get(item, "port");
        bool ok = true;
        uint64_t v;
        const char *s = NULL;

        if (proto) {
            int p = y_enum(c, proto, "port forward protocol", proto_names);
            if (p < 0)
                ok = false;
            else
                pf.proto = (LabProto)p;
        }
        if (!host_port || !node || !port) {
            diag(c, item->loc, "a port forward needs 'host_port', 'node' and 'port'");
            ok = false;
        }
        if (host_port) {
            if (y_uint(c, host_port, "'host_port'", 1, 65535, &v))
                pf.host_port = (uint16_t)v;
            else
                ok = false;
        }
        if (port) {
            if (y_uint(c, port, "'port'", 1, 65535, &v))
                pf.port = (uint16_t)v;
            else
                ok = false;
        }
        if (node && !(s = y_str(c, node, "port forward 'node'")))
            ok = false;
        if (!ok)
            continue;
        pf.node = xstrdup(s);
        *ARRAY_PUSH(net->port_forwards, net->n_port_forwards) = pf;
        ForwardAux *fa = ARRAY_PUSH(c->forwards, c->n_forwards);
        fa->net = idx;
        fa->pf = net->n_port_forwards - 1;
        fa->node_loc = node->loc;
        fa->host_port_loc = host_port->loc;
    }
}

static void parse_network(Ctx *c, const YPair *np)
{
    static const char *const keys[] = {"type",         "backend",       "subnet",    "dhcp",
                                       "reservations", "port_forwards", "interface", NULL};
    Lab *lab = c->lab;
    size_t idx = lab->n_networks;
    LabNetwork *net = ARRAY_PUSH(lab->networks, lab->n_networks);
    NetAux *aux;
    /* keep the two arrays parallel */
    c->net_aux = xrealloc(c->net_aux, lab->n_networks, sizeof(*c->net_aux));
    aux = memset(&c->net_aux[idx], 0, sizeof(*aux));

    net->name = xstrdup(np->key->text);
    net->loc = np->key->loc;
    net->backend = VMNET_BACKEND_LIBVIRT;
    check_network_name(c, np->key);

    _cleanup_free_ char *what = xasprintf("network '%s'", net->name);
    _cleanup_free_ char *where = xasprintf("in network '%s'", net->name);
    const YNode *m = np->value;
    if (m->type != Y_MAP) {
        diag_type(c, m, what, "a mapping with at least 'type'");
        return;
    }
    map_check_keys(c, m, keys, where);

    const YNode *v = map_get(m, "type");
    if (!v) {
        diag(c, m->loc, "network '%s' needs a 'type': nat, hostonly, bridged or isolated",
             net->name);
    } else {
        int t = y_enum(c, v, "network type", vmnet_type_names);
        if (t >= 0) {
            net->type = (VmnetType)t;
            aux->type_known = true;
        }
    }
    if ((v = map_get(m, "backend"))) {
        int b = y_enum(c, v, "network backend", vmnet_backend_names);
        if (b >= 0)
            net->backend = (VmnetBackend)b;
    }

    bool bridged = aux->type_known && net->type == VMNET_BRIDGED;
    const YPair *p = map_pair(m, "subnet");
    if (p && bridged) {
        diag(c, p->key->loc,
             "bridged network '%s' gets its addresses from the LAN; remove 'subnet'", net->name);
        /* the rest of the file is checked as if it had none */
        aux->subnet_bad = true;
    } else if (p) {
        aux->subnet_loc = p->value->loc;
        if (y_cidr(c, p->value, "subnet", &net->subnet))
            net->has_subnet = true;
        else
            aux->subnet_bad = true;
    }

    const YNode *iface = map_get(m, "interface");
    if (iface && aux->type_known && !bridged) {
        diag(c, map_pair(m, "interface")->key->loc,
             "'interface' only applies to bridged networks, and network '%s' is %s", net->name,
             vmnet_type_to_string(net->type));
    } else if (iface) {
        const char *s = y_str(c, iface, "'interface'");
        if (s && !ifname_is_valid(s))
            diag(c, iface->loc,
                 "interface '%s' is not a Linux interface name (at most %d characters, no '/', ':' "
                 "or blanks)",
                 s, IFNAME_MAX);
        else if (s)
            net->interface = xstrdup(s);
    } else if (bridged) {
        diag(c, m->loc,
             "bridged network '%s' needs 'interface', the host NIC or bridge to attach to",
             net->name);
    }

    p = map_pair(m, "dhcp");
    if (p && !y_is_null(p->value) && aux->type_known &&
        (net->type == VMNET_BRIDGED || net->type == VMNET_ISOLATED)) {
        diag(c, p->key->loc,
             net->type == VMNET_BRIDGED
                     ? "bridged network '%s' uses the LAN's DHCP server; remove 'dhcp'"
                     : "isolated network '%s' has no DHCP server; remove 'dhcp' or use type "
                       "'hostonly'",
             net->name);
    } else if (p) {
        parse_dhcp(c, net, aux, p);
    }
    bool range_given = p && map_get(p->value, "start") && map_get(p->value, "end");
    if (net->has_subnet && net->subnet.prefix != 24 && !range_given && aux->type_known &&
        (net->type == VMNET_NAT || net->type == VMNET_HOSTONLY)) {
        char cidr[CIDR_STRLEN];
        diag(c, aux->subnet_loc,
             "subnet '%s' of network '%s' is not a /24, so the default DHCP pool (.128 to .254) "
             "does not apply; give 'dhcp' with 'start' and 'end'",
             addr_cidr_format(&net->subnet, cidr), net->name);
    }

    if ((p = map_pair(m, "reservations")))
        parse_reservations(c, idx, p);
    if ((p = map_pair(m, "port_forwards")))
        parse_port_forwards(c, idx, p);
}

/* ---- images ----------------------------------------------------------------------------- */

static bool sha256_is_valid(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s))
            return false;
    return true;
}

static void parse_image(Ctx *c, const YPair *ip)
{
    static const char *const keys[] = {"build", "path", "url", "sha256", "os", NULL};
    static const char *const sources[] = {"build", "path", "url"};
    Lab *lab = c->lab;
    LabImage *img = ARRAY_PUSH(lab->images, lab->n_images);
    const YNode *m = ip->value;

    img->name = xstrdup(ip->key->text);
    img->loc = ip->key->loc;
    if (!name_is_image(img->name))
        diag(c, ip->key->loc,
             "image name '%s' must start with a lower-case letter or digit and contain only "
             "lower-case letters, digits, '.', '_' and '-'",
             img->name);

    _cleanup_free_ char *what = xasprintf("image '%s'", img->name);
    _cleanup_free_ char *where = xasprintf("in image '%s'", img->name);
    if (m->type != Y_MAP) {
        diag_type(c, m, what, "a mapping with one of 'build', 'path' or 'url'");
        return;
    }
    map_check_keys(c, m, keys, where);

    const YPair *src = NULL;
    for (size_t i = 0; i < m->n_pairs; i++) {
        const YPair *p = &m->pairs[i];
        for (size_t k = 0; !p->skip && k < ELEMENTSOF(sources); k++) {
            if (!streq(p->key->text, sources[k]))
                continue;
            if (src) {
                diag(c, p->key->loc, "image '%s' has both '%s' and '%s'; give exactly one source",
                     img->name, src->key->text, p->key->text);
                continue;
            }
            src = p;
            img->kind = (LabImageKind)k;
        }
    }
    if (!src) {
        diag(c, m->loc, "image '%s' needs a source: 'build', 'path' or 'url'", img->name);
    } else {
        _cleanup_free_ char *swhat = xasprintf("image '%s'", src->key->text);
        const char *s = y_str(c, src->value, swhat);
        if (s && img->kind == LAB_IMAGE_URL && strncmp(s, "http://", 7) != 0 &&
            strncmp(s, "https://", 8) != 0 && strncmp(s, "file://", 7) != 0)
            diag(c, src->value->loc,
                 "image URL '%s' must start with 'http://', 'https://' or 'file://'", s);
        else if (s)
            img->source = xstrdup(s);
    }

    const YPair *sp = map_pair(m, "sha256");
    if (sp && src && img->kind == LAB_IMAGE_BUILD) {
        diag(c, sp->key->loc, "'sha256' applies to 'url' and 'path' images, not to built ones");
    } else if (sp) {
        const char *s = y_str(c, sp->value, "'sha256'");
        if (s && !sha256_is_valid(s)) {
            diag(c, sp->value->loc, "sha256 '%s' must be 64 hexadecimal digits", s);
        } else if (s) {
            img->sha256 = xstrdup(s);
            for (char *q = img->sha256; *q; q++)
                *q = (char)tolower((unsigned char)*q);
        }
    } else if (src && img->kind == LAB_IMAGE_URL) {
        diag(c, src->key->loc,
             "image '%s' comes from a URL and needs 'sha256' to verify the download", img->name);
    }

    const YNode *os = map_get(m, "os");
    if (os)
        check_os(c, os, &img->os);
}

/* ---- nodes ------------------------------------------------------------------------------ */

static const char *const role_names[] = {"control-plane", "worker", NULL};
static const char *const bus_names[] = {"virtio", "scsi", "sata", "ide", NULL};

static bool machine_is_valid(const char *s)
{
    if (streq(s, "pc") || streq(s, "q35"))
        return true;
    if (strncmp(s, "pc-", 3) != 0 || !s[3])
        return false;
    for (s += 3; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' || *s == '-'))
            return false;
    return true;
}

static bool machine_is_q35(const char *s)
{
    return s && (streq(s, "q35") || strncmp(s, "pc-q35", 6) == 0);
}

typedef enum NameKind {
    NAMES_NETWORKS,
    NAMES_IMAGES,
    NAMES_NODES,
} NameKind;

/* The names of all networks, images or nodes, NULL-terminated, for did-you-mean. */
static const char **names_of(const Lab *lab, NameKind kind)
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

static void parse_memory(Ctx *c, const YNode *n, uint64_t *ret_mib)
{
    const char *s = y_text(c, n, "'memory'", "a number of MiB or a size such as '2G'");
    uint64_t mib;
    if (!s)
        return;
    if (strspn(s, "0123456789") == strlen(s)) {
        /* a plain number counts MiB, as in libvirt's <memory unit='MiB'> */
        errno = 0;
        mib = strtoull(s, NULL, 10);
        if (errno == ERANGE)
            mib = UINT64_MAX;
    } else {
        uint64_t bytes;
        int r = lab_size_parse(s, &bytes);
        if (r == -EINVAL) {
            diag(c, n->loc, "memory '%s' is not a number of MiB or a size such as '2G' or '1536M'",
                 s);
            return;
        }
        if (r < 0) {
            mib = UINT64_MAX;
        } else if (bytes % (1ULL << 20)) {
            diag(c, n->loc, "memory '%s' is not a whole number of MiB", s);
            return;
        } else {
            mib = bytes >> 20;
        }
    }
    if (mib < MEMORY_MIN_MIB)
        diag(c, n->loc, "memory '%s' is too small: a node needs at least %d MiB", s,
             MEMORY_MIN_MIB);
    else if (mib > MEMORY_MAX_MIB)
        diag(c, n->loc, "memory '%s' is more than 1 TiB", s);
    else
        *ret_mib = mib;
}

static void parse_disks(Ctx *c, const YNode *seq, const NodeEntry *e, const char *machine,
                        LabNode *tmpl)
{
    static const char *const keys[] = {"size", "bus", NULL};
    _cleanup_free_ char *where = xasprintf("in a disk of %s", e->label);

    if (!y_want_seq(c, seq, "'disks'", "a list of {size, bus} mappings"))
        return;
    for (size_t i = 0; i < seq->n_items; i++) {
        const YNode *item = seq->items[i];
        if (item->type != Y_MAP) {
            diag_type(c, item, "a disk", "a mapping with 'size' and optionally 'bus'");
            continue;
        }
        map_check_keys(c, item, keys, where);
        LabDisk d = {.loc = item->loc};
        const YNode *size = map_get(item, "size"), *bus = map_get(item, "bus");
        bool ok = true;
        if (!size) {
            diag(c, item->loc, "a disk needs a 'size' such as '20G'");
            ok = false;
        } else {
            const char *s = y_text(c, size, "disk size", "a size such as '20G'");
            int r = s ? lab_size_parse(s, &d.size_bytes) : 0;
            ok = false;
            if (!s)
                ok = false; /* already reported */
            else if (r == -EINVAL)
                diag(c, size->loc, "disk size '%s' is not a size such as '20G' or '512M'", s);
            else if (r < 0 || d.size_bytes > DISK_MAX_BYTES)
                diag(c, size->loc, "disk size '%s' is larger than 64 TiB", s);
            else if (d.size_bytes < DISK_MIN_BYTES)
                diag(c, size->loc,
                     "disk size '%s' is smaller than 1 MiB (a plain number counts bytes; add a "
                     "unit such as 'G')",
                     s);
            else
                ok = true;
        }
        if (bus) {
            int b = y_enum(c, bus, "disk bus", bus_names);
            if (b < 0) {
                ok = false;
            } else if (streq(bus_names[b], "ide") && machine_is_q35(machine)) {
                diag(c, bus->loc,
                     "machine '%s' has no IDE bus; use 'sata' or 'virtio' for this disk", machine);
                ok = false;
            } else {
                d.bus = xstrdup(bus_names[b]);
            }
        }
        if (ok)
            *ARRAY_PUSH(tmpl->disks, tmpl->n_disks) = d;
        else
            free(d.bus);
    }
}

/* Where a NIC's ip and mac were written, parallel to the template's nics. */
typedef struct NicLocs {
    LabLoc ip;
    LabLoc mac;
} NicLocs;

static void parse_nics(Ctx *c, const YNode *seq, const NodeEntry *e, LabNode *tmpl, NicLocs **locs)
{
    static const char *const keys[] = {"network", "ip", "mac", NULL};
    _cleanup_free_ char *where = xasprintf("in a NIC of %s", e->label);
    const Lab *lab = c->lab;

    if (!y_want_seq(c, seq, "'networks'", "a list of network names or {network, ip, mac} mappings"))
        return;
    for (size_t i = 0; i < seq->n_items; i++) {
        const YNode *item = seq->items[i], *netn = item, *ip = NULL, *mac = NULL;
        LabNic nic = {.loc = item->loc};
        bool ok = true;

        if (item->type == Y_MAP) {
            map_check_keys(c, item, keys, where);
            netn = map_get(item, "network");
            ip = map_get(item, "ip");
            mac = map_get(item, "mac");
            if (!netn) {
                diag(c, item->loc, "a NIC needs a 'network'");
                continue;
            }
        }
        const char *name = y_str(c, netn, "a NIC's network");
        if (!name)
            continue;
        const LabNetwork *net = lab_find_network(lab, name);
        size_t net_idx = net ? (size_t)(net - lab->networks) : 0;
        if (!net) {
            _cleanup_free_ const char **names = names_of(lab, NAMES_NETWORKS);
            if (lab->n_networks == 0)
                diag(c, netn->loc,
                     "%s is attached to undefined network '%s'; the lab defines no networks",
                     e->label, name);
            else
                diag_suggest(c, netn->loc, closest(name, names),
                             "%s is attached to undefined network '%s'", e->label, name);
            ok = false;
        }
        if (ip && y_ipv4(c, ip, "IP", &nic.ip)) {
            char a[IPV4_STRLEN];
            addr_ipv4_format(nic.ip, a);
            if (e->count > 1) {
                diag(c, ip->loc,
                     "%s has count %u, so all its copies would share IP '%s'; remove 'ip' "
                     "or list the nodes one by one",
                     e->label, e->count, a);
                ok = false;
            } else if (net && !net->has_subnet) {
                if (!c->net_aux[net_idx].subnet_bad)
                    diag(c, ip->loc, "IP '%s' needs network '%s' to have a 'subnet'", a, name);
                ok = false;
            } else if (net && !check_guest_ip(c, net, nic.ip, ip->loc, "IP")) {
                ok = false;
            }
            nic.has_ip = true;
        } else if (ip) {
            ok = false;
        }
        if (mac && y_mac(c, mac, "MAC", &nic.mac)) {
            if (e->count > 1) {
                diag(c, mac->loc,
                     "%s has count %u, so all its copies would share MAC '%s'; remove 'mac' "
                     "or list the nodes one by one",
                     e->label, e->count, mac->text);
                ok = false;
            }
            nic.has_mac = true;
        } else if (mac) {
            ok = false;
        }
        if (!ok)
            continue;
        nic.network = xstrdup(name);
        *ARRAY_PUSH(tmpl->nics, tmpl->n_nics) = nic;
        /* for the duplicate checks after expansion */
        *locs = xrealloc(*locs, tmpl->n_nics, sizeof(**locs));
        (*locs)[tmpl->n_nics - 1] = (NicLocs){ip ? ip->loc : nic.loc, mac ? mac->loc : nic.loc};
    }
}

static void node_template_clear(LabNode *n)
{
    free(n->name);
    for (size_t i = 0; i < n->n_disks; i++)
        free(n->disks[i].bus);
    free(n->disks);
    for (size_t i = 0; i < n->n_nics; i++)
        free(n->nics[i].network);
    free(n->nics);
    free(n->image);
    free(n->os);
    free(n->machine);
}

/* Append one expanded copy of @tmpl to the lab. */
static void node_expand(Ctx *c, const LabNode *tmpl, const NicLocs *locs, unsigned index)
{
    Lab *lab = c->lab;
    LabNode *n = ARRAY_PUSH(lab->nodes, lab->n_nodes);

    *n = *tmpl;
    n->base_name = xstrdup(tmpl->name);
    n->name = index ? xasprintf("%s-%u", tmpl->name, index) : xstrdup(tmpl->name);
    n->index = index;
    n->image = xstrdup(tmpl->image);
    n->os = xstrdup(tmpl->os);
    n->machine = xstrdup(tmpl->machine);
    n->disks = tmpl->n_disks ? xcalloc(tmpl->n_disks, sizeof(*n->disks)) : NULL;
    for (size_t i = 0; i < tmpl->n_disks; i++) {
        n->disks[i] = tmpl->disks[i];
        n->disks[i].bus = xstrdup(tmpl->disks[i].bus);
    }
    n->nics = tmpl->n_nics ? xcalloc(tmpl->n_nics, sizeof(*n->nics)) : NULL;
    for (size_t i = 0; i < tmpl->n_nics; i++) {
        LabNic *nic = &n->nics[i];
        *nic = tmpl->nics[i];
        nic->network = xstrdup(tmpl->nics[i].network);
        if (!nic->has_mac)
            nic->mac = addr_mac_derive(lab->name ? lab->name : "", n->name, (unsigned)i);
        use_mac(c, &nic->mac, locs[i].mac,
                nic->has_mac ? xasprintf("node '%s'", n->name)
                             : xasprintf("node '%s' (derived for NIC %zu)", n->name, i));
        if (nic->has_ip) {
            const LabNetwork *net = lab_find_network(lab, nic->network);
            use_ip(c, (size_t)(net - lab->networks), nic->ip, locs[i].ip,
                   xasprintf("node '%s'", n->name));
        }
    }
}

static void parse_node(Ctx *c, const YNode *m)
{
    static const char *const keys[] = {"name", "count",  "role",  "image",    "os", "machine",
                                       "cpus", "memory", "disks", "networks", NULL};
    Lab *lab = c->lab;
    NodeEntry *e = ARRAY_PUSH(c->entries, c->n_entries);
    LabNode tmpl = {.cpus = LAB_DEFAULT_CPUS, .memory_mib = LAB_DEFAULT_MEMORY_MIB, .loc = m->loc};
    _cleanup_free_ NicLocs *locs = NULL;
    const YNode *v;
    uint64_t u;

    e->loc = m->loc;
    e->first = lab->n_nodes;
    e->count = 1;
    e->label = xasprintf("the node at line %d", m->loc.line);
    if (m->type != Y_MAP) {
        diag_type(c, m, "a node", "a mapping with at least 'name' and 'image'");
        return;
    }

    const YNode *name = map_get(m, "name");
    const char *s = name ? y_str(c, name, "node 'name'") : NULL;
    if (!name)
        diag(c, m->loc, "a node needs a 'name'");
    tmpl.name = xstrdup(s ? s : "");
    if (s) {
        free(e->label);
        e->label = xasprintf("node '%s'", s);
    }
    _cleanup_free_ char *where = xasprintf("in %s", e->label);
    map_check_keys(c, m, keys, where);

    if ((v = map_get(m, "count")) && y_uint(c, v, "'count'", 1, NODE_COUNT_MAX, &u)) {
        e->has_count = true;
        e->count = (unsigned)u;
    }
    if (s) {
        /* a node repeated by an alias is reported where the alias is, not at its anchor */
        e->name_loc = m->shared ? m->loc : name->loc;
        int suffix = e->has_count ? snprintf(NULL, 0, "-%u", e->count) : 0;
        if (!name_is_simple(s) || s[strlen(s) - 1] == '-')
            diag(c, name->loc,
                 "node name '%s' must start with a lower-case letter, contain only lower-case "
                 "letters, digits and '-', and not end with '-'",
                 s);
        else if (strlen(s) + (size_t)suffix > NODE_NAME_MAX)
            diag(c, name->loc,
                 suffix ? "node name '%s' is too long: with its '-N' suffix it must fit in %d "
                          "characters"
                        : "node name '%s' is longer than %d characters",
                 s, NODE_NAME_MAX);
    }
    if ((v = map_get(m, "role"))) {
        int r = y_enum(c, v, "node role", role_names);
        if (r >= 0)
            tmpl.role = (LabRole)(r + 1);
    }

    if (!(v = map_get(m, "image"))) {
        diag(c, m->loc, "%s needs an 'image'", e->label);
    } else if ((s = y_str(c, v, "node 'image'"))) {
        tmpl.image = xstrdup(s);
        if (!lab_find_image(lab, s)) {
            _cleanup_free_ const char **names = names_of(lab, NAMES_IMAGES);
            if (lab->n_images == 0)
                diag(c, v->loc, "%s uses undefined image '%s'; the lab defines no images", e->label,
                     s);
            else
                diag_suggest(c, v->loc, closest(s, names), "%s uses undefined image '%s'", e->label,
                             s);
        }
    }
    if ((v = map_get(m, "os")))
        check_os(c, v, &tmpl.os);
    if ((v = map_get(m, "machine")) && (s = y_str(c, v, "'machine'"))) {
        if (!machine_is_valid(s))
            diag(c, v->loc,
                 "machine '%s' is not a PC machine type: use 'pc', 'q35' or a versioned 'pc-q35-*' "
                 "or 'pc-i440fx-*'",
                 s);
        else
            tmpl.machine = xstrdup(s);
    }
    if ((v = map_get(m, "cpus"))) {
        e->cpus_loc = v->loc;
        if (y_uint(c, v, "'cpus'", 1, NODE_CPUS_MAX, &u))
            tmpl.cpus = (unsigned)u;
    }
    if ((v = map_get(m, "memory"))) {
        e->memory_loc = v->loc;
        parse_memory(c, v, &tmpl.memory_mib);
    }
    if ((v = map_get(m, "disks")))
        parse_disks(c, v, e, tmpl.machine, &tmpl);
    if ((v = map_get(m, "networks")))
        parse_nics(c, v, e, &tmpl, &locs);

    if (!e->has_count) {
        node_expand(c, &tmpl, locs, 0);
    } else {
        for (unsigned i = 1; i <= e->count; i++)
            node_expand(c, &tmpl, locs, i);
    }
    e->n = lab->n_nodes - e->first;
    node_template_clear(&tmpl);
}

/* ---- kubernetes ------------------------------------------------------------------------- */

static bool version_is_valid(const char *s)
{
    int parts = 0;
    while (*s) {
        size_t n = strspn(s, "0123456789");
        if (n == 0)
            return false;
        parts++;
        s += n;
        if (*s == '.' && s[1])
            s++;
        else if (*s)
            return false;
    }
    return parts == 2 || parts == 3;
}

static void parse_kubernetes(Ctx *c, const YNode *m)
{
    static const char *const keys[] = {"version", "pod_subnet", "service_subnet", "bootstrap",
                                       NULL};
    LabKubernetes *k = &c->lab->kubernetes;
    const YNode *v;
    const char *s;

    if (!y_want_map(c, m, "'kubernetes'",
                    "a mapping with 'version', 'pod_subnet', 'service_subnet' and 'bootstrap'"))
        return;
    k->present = true;
    k->loc = m->loc;
    map_check_keys(c, m, keys, "in the kubernetes settings");
    /* YAML reads 1.31 as a float; the scalar text as written is what we want */
    if ((v = map_get(m, "version")) && (s = y_str(c, v, "kubernetes 'version'"))) {
        if (!version_is_valid(s))
            diag(c, v->loc,
                 "kubernetes version '%s' must be MAJOR.MINOR or MAJOR.MINOR.PATCH, such as '1.31'",
                 s);
        else
            k->version = xstrdup(s);
    }
    if ((v = map_get(m, "pod_subnet"))) {
        c->k8s_pod_loc = v->loc;
        k->has_pod_subnet = y_cidr(c, v, "pod_subnet", &k->pod_subnet);
    }
    if ((v = map_get(m, "service_subnet"))) {
        c->k8s_service_loc = v->loc;
        k->has_service_subnet = y_cidr(c, v, "service_subnet", &k->service_subnet);
    }
    if ((v = map_get(m, "bootstrap"))) {
        c->k8s_bootstrap_loc = v->loc;
        (void)y_bool(c, v, "kubernetes 'bootstrap'", &k->bootstrap);
    }
}

/* ---- checks across sections ------------------------------------------------------------- */

static void check_overlaps(Ctx *c)
{
    const Lab *lab = c->lab;
    const LabKubernetes *k = &lab->kubernetes;
    char a[CIDR_STRLEN], b[CIDR_STRLEN];

    for (size_t i = 0; i < lab->n_networks; i++) {
        const LabNetwork *ni = &lab->networks[i];
        for (size_t j = 0; ni->has_subnet && j < i; j++) {
            const LabNetwork *nj = &lab->networks[j];
            if (nj->has_subnet && addr_net_overlaps(&ni->subnet, &nj->subnet)) {
                diag(c, c->net_aux[i].subnet_loc,
                     "subnet '%s' of network '%s' overlaps subnet '%s' of network '%s'",
                     addr_cidr_format(&ni->subnet, a), ni->name, addr_cidr_format(&nj->subnet, b),
                     nj->name);
                break;
            }
        }
    }
    struct {
        bool has;
        const Ipv4Net *net;
        const char *key;
        LabLoc loc;
    } k8s[] = {
            {k->has_pod_subnet, &k->pod_subnet, "pod_subnet", c->k8s_pod_loc},
            {k->has_service_subnet, &k->service_subnet, "service_subnet", c->k8s_service_loc},
    };
    for (size_t i = 0; i < ELEMENTSOF(k8s); i++) {
        if (!k8s[i].has)
            continue;
        for (size_t j = 0; j < lab->n_networks; j++) {
            const LabNetwork *nj = &lab->networks[j];
            if (nj->has_subnet && addr_net_overlaps(k8s[i].net, &nj->subnet)) {
                diag(c, k8s[i].loc, "kubernetes %s '%s' overlaps subnet '%s' of network '%s'",
                     k8s[i].key, addr_cidr_format(k8s[i].net, a), addr_cidr_format(&nj->subnet, b),
                     nj->name);
                break;
            }
        }
    }
    if (k->has_pod_subnet && k->has_service_subnet &&
        addr_net_overlaps(&k->pod_subnet, &k->service_subnet))
        diag(c, c->k8s_service_loc, "kubernetes service_subnet '%s' overlaps pod_subnet '%s'",
             addr_cidr_format(&k->service_subnet, a), addr_cidr_format(&k->pod_subnet, b));
}

static void check_forwards(Ctx *c)
{
    const Lab *lab = c->lab;

    for (size_t i = 0; i < c->n_forwards; i++) {
        const ForwardAux *fa = &c->forwards[i];
        const LabNetwork *net = &lab->networks[fa->net];
        const LabPortForward *pf = &net->port_forwards[fa->pf];
        const LabNode *node = lab_find_node(lab, pf->node);

        if (!node) {
            const NodeEntry *base = NULL;
            for (size_t j = 0; j < c->n_entries && !base; j++)
                if (c->entries[j].n > 0 && c->entries[j].has_count &&
                    streq(lab->nodes[c->entries[j].first].base_name, pf->node))
                    base = &c->entries[j];
            if (base) {
                diag(c, fa->node_loc,
                     "port forward targets '%s', which has count %u; name one of its copies, such "
                     "as '%s'",
                     pf->node, base->count, lab->nodes[base->first].name);
            } else {
                _cleanup_free_ const char **names = names_of(lab, NAMES_NODES);
                diag_suggest(c, fa->node_loc, closest(pf->node, names),
                             "port forward targets undefined node '%s'", pf->node);
            }
        } else {
            bool attached = false;
            for (size_t j = 0; j < node->n_nics && !attached; j++)
                attached = streq(node->nics[j].network, net->name);
            if (!attached)
                diag(c, fa->node_loc,
                     "port forward on network '%s' targets node '%s', which has no NIC on that "
                     "network",
                     net->name, pf->node);
        }
        for (size_t j = 0; j < i; j++) {
            const ForwardAux *fb = &c->forwards[j];
            const LabNetwork *other = &lab->networks[fb->net];
            const LabPortForward *pg = &other->port_forwards[fb->pf];
            if (pg->proto == pf->proto && pg->host_port == pf->host_port) {
                diag(c, fa->host_port_loc,
                     "host port %s/%u is already forwarded by network '%s' at line %d",
                     lab_proto_to_string(pf->proto), pf->host_port, other->name,
                     fb->host_port_loc.line);
                break;
            }
        }
    }
}

static int loc_cmp(LabLoc a, LabLoc b)
{
    if (a.line != b.line)
        return a.line < b.line ? -1 : 1;
    return a.col < b.col ? -1 : a.col > b.col;
}

static int mac_use_cmp(const void *x, const void *y)
{
    const MacUse *a = x, *b = y;
    int r = loc_cmp(a->loc, b->loc);
    return r ? r : (a->seq > b->seq) - (a->seq < b->seq);
}

static int ip_use_cmp(const void *x, const void *y)
{
    const IpUse *a = x, *b = y;
    int r = loc_cmp(a->loc, b->loc);
    return r ? r : (a->seq > b->seq) - (a->seq < b->seq);
}

/* Duplicates are reported at the later one in the file, naming the first. */
static void check_duplicates(Ctx *c)
{
    const Lab *lab = c->lab;
    char s[MAC_STRLEN > IPV4_STRLEN ? MAC_STRLEN : IPV4_STRLEN];

    if (c->n_macs > 1)
        qsort(c->macs, c->n_macs, sizeof(*c->macs), mac_use_cmp);
    for (size_t i = 0; i < c->n_macs; i++) {
        for (size_t j = 0; j < i; j++) {
            /* copies of one name derive one MAC: that is the duplicate name, reported below */
            if (addr_mac_equal(&c->macs[i].mac, &c->macs[j].mac) &&
                !streq(c->macs[i].owner, c->macs[j].owner)) {
                diag(c, c->macs[i].loc, "MAC '%s' of %s is already used by %s at line %d",
                     addr_mac_format(&c->macs[i].mac, s), c->macs[i].owner, c->macs[j].owner,
                     c->macs[j].loc.line);
                break;
            }
        }
    }
    if (c->n_ips > 1)
        qsort(c->ips, c->n_ips, sizeof(*c->ips), ip_use_cmp);
    for (size_t i = 0; i < c->n_ips; i++) {
        for (size_t j = 0; j < i; j++) {
            if (c->ips[i].net == c->ips[j].net && c->ips[i].ip == c->ips[j].ip) {
                diag(c, c->ips[i].loc,
                     "IP '%s' of %s on network '%s' is already used by %s at line %d",
                     addr_ipv4_format(c->ips[i].ip, s), c->ips[i].owner,
                     lab->networks[c->ips[i].net].name, c->ips[j].owner, c->ips[j].loc.line);
                break;
            }
        }
    }
    for (size_t e = 0; e < c->n_entries; e++) {
        const NodeEntry *en = &c->entries[e];
        bool reported = false;
        for (size_t i = en->first; i < en->first + en->n && !reported; i++) {
            for (size_t j = 0; j < en->first && !reported; j++) {
                if (streq(lab->nodes[i].name, lab->nodes[j].name) && *lab->nodes[i].name) {
                    diag(c, en->name_loc, "node name '%s' is already used by the node at line %d",
                         lab->nodes[i].name, lab->nodes[j].loc.line);
                    reported = true;
                }
            }
        }
    }
}

static void check_kubernetes(Ctx *c)
{
    const Lab *lab = c->lab;
    bool any_cp = false;

    if (!lab->kubernetes.bootstrap)
        return;
    for (size_t e = 0; e < c->n_entries; e++) {
        const NodeEntry *en = &c->entries[e];
        if (en->n == 0)
            continue;
        const LabNode *n = &lab->nodes[en->first];
        if (n->role != LAB_ROLE_CONTROL_PLANE)
            continue;
        any_cp = true;
        /* kubeadm's preflight refuses these; say so now rather than after a boot */
        if (n->cpus < KUBEADM_CP_CPUS)
            diag(c, en->cpus_loc.line ? en->cpus_loc : en->loc,
                 "%s needs at least %d CPUs as a kubeadm control plane, not %u", en->label,
                 KUBEADM_CP_CPUS, n->cpus);
        if (n->memory_mib < KUBEADM_CP_MIB)
            diag(c, en->memory_loc.line ? en->memory_loc : en->loc,
                 "%s needs at least %d MiB of memory as a kubeadm control plane, not %" PRIu64,
                 en->label, KUBEADM_CP_MIB, n->memory_mib);
    }
    if (!any_cp)
        diag(c, c->k8s_bootstrap_loc,
             "kubernetes 'bootstrap: true' needs at least one node with role 'control-plane'");
}

/* ---- the lab ---------------------------------------------------------------------------- */

static void check_lab_name(Ctx *c, const YNode *v)
{
    const char *s = y_str(c, v, "the lab name");
    if (!s)
        return;
    if (!name_is_simple(s))
        diag(c, v->loc,
             "lab name '%s' must start with a lower-case letter and contain only lower-case "
             "letters, digits and '-'",
             s);
    else if (strlen(s) > LAB_NAME_MAX)
        diag(c, v->loc,
             "lab name '%s' is longer than %d characters; it prefixes every object the lab makes",
             s, LAB_NAME_MAX);
    /* kept even when invalid, so derived MACs and messages still have a name */
    c->lab->name = xstrdup(s);
}

static void parse_lab(Ctx *c, const YNode *root)
{
    static const char *const keys[] = {"lab",   "connect",    "networks", "images",
                                       "nodes", "kubernetes", NULL};
    const YNode *v;

    if (!root || y_is_null(root)) {
        diag(c, (LabLoc){1, 1}, "the lab file is empty; it needs at least 'lab', the lab's name");
        return;
    }
    if (root->type != Y_MAP) {
        diag_type(c, root, "the lab file", "a mapping with at least the key 'lab'");
        return;
    }
    map_check_keys(c, root, keys, "in the lab");

    if (!(v = map_get(root, "lab")))
        diag(c, root->loc, "the lab file needs 'lab', the lab's name");
    else
        check_lab_name(c, v);

    const char *s;
    if ((v = map_get(root, "connect")) && (s = y_str(c, v, "'connect'"))) {
        if (!streq(s, "sandbox") && !strstr(s, "://"))
            diag(c, v->loc,
                 "connect '%s' must be 'sandbox' or a libvirt URI such as 'qemu:///system'", s);
        else
            c->lab->connect = xstrdup(s);
    }

    /* fixed order, whatever the file's: nodes refer to networks and images */
    v = map_get(root, "networks");
    if (y_want_map(c, v, "'networks'", "a mapping from network names to networks"))
        for (size_t i = 0; i < v->n_pairs; i++)
            if (!v->pairs[i].skip)
                parse_network(c, &v->pairs[i]);
    v = map_get(root, "images");
    if (y_want_map(c, v, "'images'", "a mapping from image names to images"))
        for (size_t i = 0; i < v->n_pairs; i++)
            if (!v->pairs[i].skip)
                parse_image(c, &v->pairs[i]);
    if ((v = map_get(root, "kubernetes")))
        parse_kubernetes(c, v);
    v = map_get(root, "nodes");
    if (y_want_seq(c, v, "'nodes'", "a list of nodes"))
        for (size_t i = 0; i < v->n_items; i++)
            parse_node(c, v->items[i]);

    check_overlaps(c);
    check_forwards(c);
    check_duplicates(c);
    check_kubernetes(c);
}

static void fy_diag_discard(struct fy_diag *d, void *user, const char *buf, size_t len)
{
    /* errors are collected instead: libfyaml must not write to our stderr */
    (void)d;
    (void)user;
    (void)buf;
    (void)len;
}

static void ctx_clear(Ctx *c)
{
    for (size_t i = 0; i < c->n_diags; i++)
        free(c->diags[i].message);
    free(c->diags);
    for (size_t i = 0; i < c->n_ynodes; i++) {
        if (!c->ynodes[i]->shared) {
            free(c->ynodes[i]->text);
            free(c->ynodes[i]->items);
            free(c->ynodes[i]->pairs);
        }
        free(c->ynodes[i]);
    }
    free(c->ynodes);
    for (size_t i = 0; i < c->n_anchors; i++)
        free(c->anchors[i].name);
    free(c->anchors);
    free(c->net_aux);
    for (size_t i = 0; i < c->n_entries; i++)
        free(c->entries[i].label);
    free(c->entries);
    free(c->forwards);
    for (size_t i = 0; i < c->n_macs; i++)
        free(c->macs[i].owner);
    free(c->macs);
    for (size_t i = 0; i < c->n_ips; i++)
        free(c->ips[i].owner);
    free(c->ips);
    lab_free(c->lab);
}

/* Stable sort by position, so problems read top to bottom; unlocated ones go last. */
static void diags_sort(LabDiag *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        LabDiag d = v[i];
        size_t j = i;
        while (j > 0) {
            LabLoc a = v[j - 1].loc, b = d.loc;
            bool after = a.line == 0 ? b.line != 0 : b.line != 0 && loc_cmp(a, b) > 0;
            if (!after)
                break;
            v[j] = v[j - 1];
            j--;
        }
        v[j] = d;
    }
}

/* As lab_load_file(), from memory; @name is used in diagnostics and as Lab.file. @ret may be
 * NULL to only validate. */
int lab_load_string(const char *name, const char *text, size_t len, Lab **ret, LabDiags *diags,
                    Error *err)
{
    Ctx c = {0};
    struct fy_diag_cfg dcfg;
    struct fy_diag *fdiag;
    struct fy_parser *fyp;
    YNode *root = NULL;
    int r = 0;

    if (!name || !text)
        return error_set(err, -EINVAL, "No lab file given");
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = fy_diag_discard;
    dcfg.colorize = false;
    fdiag = fy_diag_create(&dcfg);
    if (!fdiag)
        return error_set(err, -ENOMEM, "Cannot set up the YAML parser for '%s'", name);
    fy_diag_set_collect_errors(fdiag, true);
    struct fy_parse_cfg cfg = {
            .flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2,
            .diag = fdiag,
    };
    fyp = fy_parser_create(&cfg);
    if (!fyp || fy_parser_set_string(fyp, text, len) < 0) {
        r = error_set(err, -ENOMEM, "Cannot set up the YAML parser for '%s'", name);
        goto finish;
    }

    c.lab = xcalloc(1, sizeof(*c.lab));
    c.lab->file = xstrdup(name);
    if (y_build(&c, fyp, &root) < 0) {
        void *iter = NULL;
        struct fy_diag_error *e;
        bool any = false;
        while ((e = fy_diag_errors_iterate(fdiag, &iter))) {
            if (e->type < FYET_ERROR)
                continue;
            LabLoc loc = {e->line > 0 ? e->line : 0, e->column > 0 ? e->column : 0};
            diag(&c, loc, "invalid YAML: %s", e->msg ? e->msg : "syntax error");
            any = true;
        }
        if (!any)
            diag(&c, c.last_loc, "invalid YAML");
    } else {
        parse_lab(&c, root);
    }

    if (c.n_diags > 0) {
        diags_sort(c.diags, c.n_diags);
        if (diags) {
            lab_diags_clear(diags);
            diags->file = xstrdup(name);
            diags->items = steal_pointer(&c.diags);
            diags->n = c.n_diags;
            c.n_diags = 0;
        }
        r = -EINVAL;
    } else if (ret) {
        *ret = steal_pointer(&c.lab);
    }

finish:
    ctx_clear(&c);
    fy_parser_destroy(fyp);
    fy_diag_destroy(fdiag);
    return r;
}

/* Read the whole file at @path; -errno with @err set when it cannot be read. */
static int read_file(const char *path, char **ret, size_t *ret_len, Error *err)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return error_set_errno(err, -errno, "Cannot open lab file '%s'", path);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) {
        int r = -errno;
        fclose(f);
        return error_set_errno(err, r, "Cannot read lab file '%s'", path);
    }
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, m);
    int r = ferror(f) ? -EIO : 0;
    fclose(f);
    if (fclose(m) != 0 && r == 0)
        r = -ENOMEM;
    if (r < 0) {
        free(buf);
        return error_set_errno(err, r, "Cannot read lab file '%s'", path);
    }
    *ret = buf;
    *ret_len = len;
    return 0;
}

/* Parse and validate the lab file at @path; see lab.h. */
int lab_load_file(const char *path, Lab **ret, LabDiags *diags, Error *err)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;

    if (!path)
        return error_set(err, -EINVAL, "No lab file given");
    int r = read_file(path, &text, &len, err);
    if (r < 0)
        return r;
    return lab_load_string(path, text, len, ret, diags, err);
}
