/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pure: short human phrases for drifted facts of canonical spec text (plan reasons). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/vmnet.h"

/* Length of the "a.b.c." that @x and @y share as their first three octets, or 0. */
static size_t shared_24(const char *x, const char *y)
{
    uint32_t a, b;
    const char *dot = strrchr(x, '.');
    if (!dot || addr_ipv4_parse(x, &a) < 0 || addr_ipv4_parse(y, &b) < 0 ||
        (a & 0xffffff00u) != (b & 0xffffff00u))
        return 0;
    return (size_t)(dot - x);
}

/* A DHCP range "START-END" with END shortened to ".N" when it shares START's first three octets,
 * and START too when it shares them with the start of the range @base. New string. */
static char *range_short(const char *range, const char *base)
{
    const char *dash = strchr(range, '-');
    char *out = NULL;
    if (!dash)
        return strdup(range);
    _cleanup_free_ char *start = strndup(range, (size_t)(dash - range));
    const char *end = dash + 1;
    if (!start)
        return NULL;
    size_t se = shared_24(start, end), sb = 0;
    if (base) {
        const char *bdash = strchr(base, '-');
        _cleanup_free_ char *bstart = bdash ? strndup(base, (size_t)(bdash - base)) : strdup(base);
        if (!bstart)
            return NULL;
        sb = shared_24(bstart, start);
    }
    if (asprintf(&out, "%s-%s", start + sb, end + se) < 0)
        return NULL;
    return out;
}

/* Seconds as the largest exact unit: "30 min", "2 h", "90 s". New string. */
static char *duration(const char *v)
{
    char *end, *out = NULL;
    unsigned long s = strtoul(v, &end, 10);
    int r;
    if (*v == '\0' || *end != '\0')
        return strdup(v);
    if (s == 0)
        r = asprintf(&out, "infinite");
    else if (s % 3600 == 0)
        r = asprintf(&out, "%lu h", s / 3600);
    else if (s % 60 == 0)
        r = asprintf(&out, "%lu min", s / 60);
    else
        r = asprintf(&out, "%lu s", s);
    return r < 0 ? NULL : out;
}

/* "MAC,IP,NAME" as "MAC IP (NAME)", without the name when it is "-"; a name that
 * vmnet_libvirt_xml_essentials() marked ("web (no DNS)") reads "(web, no DNS)". New string. */
static char *host_words(const char *v)
{
    char *out = NULL;
    const char *c1 = strchr(v, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
    if (!c2)
        return strdup(v);
    const char *name = c2 + 1, *mark = strstr(name, " (");
    int n = mark ? (int)(mark - name) : (int)strlen(name);
    bool unnamed = n == 1 && name[0] == '-';
    int r;
    if (unnamed && !mark)
        r = asprintf(&out, "%.*s %.*s", (int)(c1 - v), v, (int)(c2 - c1 - 1), c1 + 1);
    else if (unnamed)
        r = asprintf(&out, "%.*s %.*s %s", (int)(c1 - v), v, (int)(c2 - c1 - 1), c1 + 1, mark + 1);
    else if (mark)
        r = asprintf(&out, "%.*s %.*s (%.*s, %s", (int)(c1 - v), v, (int)(c2 - c1 - 1), c1 + 1, n,
                     name, mark + 2);
    else
        r = asprintf(&out, "%.*s %.*s (%s)", (int)(c1 - v), v, (int)(c2 - c1 - 1), c1 + 1, name);
    return r < 0 ? NULL : out;
}

/* "PROTO/PORT,IP:PORT" as "PROTO/PORT to IP:PORT". New string. */
static char *forward_words(const char *v)
{
    char *out = NULL;
    const char *c = strchr(v, ',');
    if (!c)
        return strdup(v);
    return asprintf(&out, "%.*s to %s", (int)(c - v), v, c + 1) < 0 ? NULL : out;
}

/* A one-per-item fact (a reservation, a rule) that one side lacks, or that changed. */
static char *item_phrase(const char *what, const char *have, const char *want)
{
    char *out = NULL;
    int r;
    if (!have && !want)
        return NULL;
    if (!have)
        r = asprintf(&out, "%s %s missing", what, want);
    else if (!want)
        r = asprintf(&out, "%s %s not wanted", what, have);
    else
        r = asprintf(&out, "%s %s, want %s", what, have, want);
    return r < 0 ? NULL : out;
}

/* "LABEL HAVE, want WANT", with "none" for a missing side. */
static char *pair_phrase(const char *label, const char *have, const char *want)
{
    char *out = NULL;
    if (asprintf(&out, "%s %s, want %s", label, have ? have : "none", want ? want : "none") < 0)
        return NULL;
    return out;
}

/*
 * A short phrase for the key @key whose live value is @have and wanted value @want (either may
 * be NULL when that side has no such line), to follow "drift: " in a plan's reason. New string,
 * NULL on ENOMEM.
 */
char *vmnet_spec_drift_phrase(const char *key, const char *have, const char *want)
{
    static const struct {
        const char *key, *label;
    } labels[] = {
            {"type", "type"},       {"backend", "backend"},     {"name", "name"},
            {"bridge", "bridge"},   {"subnet", "subnet"},       {"host", "host address"},
            {"gateway", "gateway"}, {"interface", "interface"}, {"domain", "DNS domain"},
    };

    if (!key)
        key = "?";
    if (strcmp(key, "dhcp") == 0) {
        _cleanup_free_ char *h = have ? range_short(have, NULL) : NULL;
        _cleanup_free_ char *w = want ? range_short(want, have) : NULL;
        if ((have && !h) || (want && !w))
            return NULL;
        return pair_phrase("dhcp range", h, w);
    }
    if (strcmp(key, "live.lease") == 0 || strcmp(key, "live.max-lease") == 0) {
        _cleanup_free_ char *h = have ? duration(have) : NULL;
        _cleanup_free_ char *w = want ? duration(want) : NULL;
        if ((have && !h) || (want && !w))
            return NULL;
        return pair_phrase(strcmp(key, "live.lease") == 0 ? "lease" : "max lease", h, w);
    }
    if (strcmp(key, "live.host") == 0) {
        _cleanup_free_ char *h = have ? host_words(have) : NULL;
        _cleanup_free_ char *w = want ? host_words(want) : NULL;
        if ((have && !h) || (want && !w))
            return NULL;
        return item_phrase("reservation", h, w);
    }
    if (strcmp(key, "forward") == 0) {
        _cleanup_free_ char *h = have ? forward_words(have) : NULL;
        _cleanup_free_ char *w = want ? forward_words(want) : NULL;
        if ((have && !h) || (want && !w))
            return NULL;
        return item_phrase("port forward", h, w);
    }
    if (strcmp(key, "masquerade") == 0)
        return item_phrase("masquerade for", have, want);
    if (strcmp(key, "chain") == 0)
        return item_phrase("nft chain", have, want);
    if (strcmp(key, "other") == 0)
        return item_phrase("nft rule", have, want);
    for (size_t i = 0; i < ELEMENTSOF(labels); i++)
        if (strcmp(key, labels[i].key) == 0)
            return pair_phrase(labels[i].label, have, want);
    return pair_phrase(key, have, want);
}
