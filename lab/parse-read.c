/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lab file parser: Typed readers over the tree: each reports what is wrong with a value where it was written.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "kvmlab/cleanup.h"
#include "parser.h"

/* ---- reading values --------------------------------------------------------------------- */

bool y_is_null(const YNode *n)
{
    if (!n)
        return true;
    if (n->type != Y_SCALAR || !n->plain)
        return false;
    return !*n->text || streq(n->text, "~") || streq(n->text, "null") || streq(n->text, "Null") ||
           streq(n->text, "NULL");
}

const char *y_kind(const YNode *n)
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
void diag_type(Ctx *c, const YNode *n, const char *what, const char *expected)
{
    if (n->bad)
        return;
    if (n->type == Y_SCALAR && !y_is_null(n))
        diag(c, n->loc, "%s must be %s, not '%s'", what, expected, n->text);
    else
        diag(c, n->loc, "%s must be %s, not %s", what, expected, y_kind(n));
}

/* The first pair whose key is @key (duplicates are skipped, they were reported). */
YPair *map_pair(const YNode *m, const char *key)
{
    for (size_t i = 0; m && m->type == Y_MAP && i < m->n_pairs; i++)
        if (!m->pairs[i].skip && streq(m->pairs[i].key->text, key))
            return &m->pairs[i];
    return NULL;
}

YNode *map_get(const YNode *m, const char *key)
{
    YPair *p = map_pair(m, key);
    return p ? p->value : NULL;
}

/* Report every key of @m that is not in @keys, with a did-you-mean. @where: "in the lab". */
void map_check_keys(Ctx *c, const YNode *m, const char *const *keys, const char *where)
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
bool y_want_map(Ctx *c, const YNode *n, const char *what, const char *expected)
{
    if (!n || y_is_null(n))
        return false;
    if (n->type != Y_MAP) {
        diag_type(c, n, what, expected);
        return false;
    }
    return true;
}

bool y_want_seq(Ctx *c, const YNode *n, const char *what, const char *expected)
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
const char *y_text(Ctx *c, const YNode *n, const char *what, const char *expected)
{
    if (n->type != Y_SCALAR || y_is_null(n)) {
        diag_type(c, n, what, expected);
        return NULL;
    }
    return n->text;
}

const char *y_str(Ctx *c, const YNode *n, const char *what)
{
    return y_text(c, n, what, "a string");
}

bool y_uint(Ctx *c, const YNode *n, const char *what, uint64_t min, uint64_t max, uint64_t *ret)
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
bool y_bool(Ctx *c, const YNode *n, const char *what, bool *ret)
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
int y_enum(Ctx *c, const YNode *n, const char *what, const char *const *names)
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

bool y_ipv4(Ctx *c, const YNode *n, const char *what, uint32_t *ret)
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

bool y_mac(Ctx *c, const YNode *n, const char *what, MacAddr *ret)
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
bool y_cidr(Ctx *c, const YNode *n, const char *what, Ipv4Net *ret)
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
bool name_is_simple(const char *s)
{
    if (!(*s >= 'a' && *s <= 'z'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
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

void check_os(Ctx *c, const YNode *n, char **ret)
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
