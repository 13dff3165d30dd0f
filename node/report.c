/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The in-guest report read back from the serial console log. The guest's kvmlab-report
 * (templates/kvmlab-report.sh) prints, on every boot once cloud-init is done:
 *
 *   KVMLAB-REPORT: begin boot=<boot_id>
 *   KVMLAB-REPORT: cloud_init=<cloud-init status>
 *   KVMLAB-REPORT: hostname=<name>
 *   KVMLAB-REPORT: product_uuid=<uuid, lower case>
 *   KVMLAB-REPORT: mac=<mac>                                (one per NIC)
 *   KVMLAB-REPORT: address=<IPv4>                           (one per address)
 *   KVMLAB-REPORT: check=<name> ok=<1|0|warn> detail=<text to the end of the line>
 *   KVMLAB-REPORT: end
 *
 * A console log holds more than that: kernel messages, \r before each \n, earlier boots, a
 * report cut short when the log was read. Lines without the marker are skipped; noise before
 * the marker on its line is too; unknown keys are ignored, so the guest's side can grow.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/node.h"

#define MARKER "KVMLAB-REPORT: "

static int strv_push(char ***v, size_t *n, const char *s, size_t len, bool lower)
{
    char **nv = reallocarray(*v, *n + 1, sizeof(char *));
    if (!nv)
        return -ENOMEM;
    *v = nv;
    char *c = strndup(s, len);
    if (!c)
        return -ENOMEM;
    if (lower)
        for (char *q = c; *q; q++)
            *q = (char)tolower((unsigned char)*q);
    nv[(*n)++] = c;
    return 0;
}

static int str_replace(char **dst, const char *s, size_t len)
{
    char *c = strndup(s, len);
    if (!c)
        return -ENOMEM;
    free(*dst);
    *dst = c;
    return 0;
}

/* "NAME ok=1|0|warn detail=TEXT"; a line of another shape is ignored. */
static int parse_check(NodeReport *r, const char *s, size_t len)
{
    const char *end = s + len;
    const char *sp = memchr(s, ' ', len);
    if (!sp || sp == s || (size_t)(end - sp) < 5 || memcmp(sp + 1, "ok=", 3) != 0)
        return 0;
    const char *ok = sp + 4;
    const char *ok_end = memchr(ok, ' ', (size_t)(end - ok));
    if (!ok_end)
        ok_end = end;
    size_t ok_len = (size_t)(ok_end - ok);
    const char *detail = "";
    size_t detail_len = 0;
    if (ok_end < end) {
        if ((size_t)(end - ok_end) < 8 || memcmp(ok_end + 1, "detail=", 7) != 0)
            return 0;
        detail = ok_end + 8;
        detail_len = (size_t)(end - detail);
    }

    NodeCheck c = {0};
    if (ok_len == 1 && *ok == '1')
        c.ok = true;
    else if (ok_len == 4 && memcmp(ok, "warn", 4) == 0)
        c.ok = c.warn = true;
    else if (!(ok_len == 1 && *ok == '0'))
        return 0;
    NodeCheck *nc = reallocarray(r->checks, r->n_checks + 1, sizeof(NodeCheck));
    if (!nc)
        return -ENOMEM;
    r->checks = nc;
    c.check = strndup(s, (size_t)(sp - s));
    c.detail = strndup(detail, detail_len);
    if (!c.check || !c.detail) {
        free(c.check);
        free(c.detail);
        return -ENOMEM;
    }
    r->checks[r->n_checks++] = c;
    return 0;
}

static bool key_is(const char *s, size_t len, const char *key, const char **ret_value)
{
    size_t k = strlen(key);
    if (len <= k || memcmp(s, key, k) != 0 || s[k] != '=')
        return false;
    *ret_value = s + k + 1;
    return true;
}

/* One "key=value" line inside a block. */
static int parse_field(NodeReport *r, const char *s, size_t len)
{
    const char *v;
    if (key_is(s, len, "cloud_init", &v))
        return str_replace(&r->cloud_init, v, (size_t)(s + len - v));
    if (key_is(s, len, "hostname", &v))
        return str_replace(&r->hostname, v, (size_t)(s + len - v));
    if (key_is(s, len, "product_uuid", &v))
        return str_replace(&r->product_uuid, v, (size_t)(s + len - v));
    if (key_is(s, len, "mac", &v))
        return strv_push(&r->macs, &r->n_macs, v, (size_t)(s + len - v), true);
    if (key_is(s, len, "address", &v))
        return strv_push(&r->addresses, &r->n_addresses, v, (size_t)(s + len - v), false);
    if (key_is(s, len, "check", &v))
        return parse_check(r, v, (size_t)(s + len - v));
    return 0;
}

/* What a guest prints reaches JSON and terminals: anything but printable ASCII becomes '?'. */
static void sanitize(char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            *s = '?';
}

static void report_sanitize(NodeReport *r)
{
    sanitize(r->cloud_init);
    sanitize(r->hostname);
    sanitize(r->product_uuid);
    sanitize(r->boot_id);
    for (size_t i = 0; i < r->n_macs; i++)
        sanitize(r->macs[i]);
    for (size_t i = 0; i < r->n_addresses; i++)
        sanitize(r->addresses[i]);
    for (size_t i = 0; i < r->n_checks; i++) {
        sanitize(r->checks[i].check);
        sanitize(r->checks[i].detail);
    }
}

int node_report_parse(const char *log, size_t len, NodeReport *ret)
{
    NodeReport done = {0}, cur = {0};
    bool open = false;
    const char *p = log, *end = log + len;
    int r = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *m = memmem(p, (size_t)(le - p), MARKER, strlen(MARKER));
        p = nl ? nl + 1 : end;
        if (!m)
            continue;
        const char *s = m + strlen(MARKER);
        const char *e = le;
        while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        size_t n = (size_t)(e - s);
        if (memchr(s, 0, n))
            continue; /* a NUL: not a line the guest wrote */

        if (n >= 5 && memcmp(s, "begin", 5) == 0 && (n == 5 || s[5] == ' ')) {
            /* a new report: whatever was open was cut short (a reboot, a crash) */
            node_report_clear(&cur);
            open = true;
            const char *b = memmem(s, n, " boot=", 6);
            if (b) {
                const char *bv = b + 6, *be = memchr(bv, ' ', (size_t)(e - bv));
                if ((r = str_replace(&cur.boot_id, bv, (size_t)((be ? be : e) - bv))) < 0)
                    goto fail;
            }
        } else if (n == 3 && memcmp(s, "end", 3) == 0) {
            if (!open)
                continue;
            node_report_clear(&done);
            done = cur;
            done.found = true;
            cur = (NodeReport){0};
            open = false;
        } else if (open) {
            if ((r = parse_field(&cur, s, n)) < 0)
                goto fail;
        }
    }

    /* A later boot has begun its report and not finished it: the one we have is stale. */
    if (open && done.found &&
        (!cur.boot_id || !done.boot_id || strcmp(cur.boot_id, done.boot_id) != 0))
        node_report_clear(&done);
    node_report_clear(&cur);
    report_sanitize(&done);
    *ret = done;
    return 0;

fail:
    node_report_clear(&cur);
    node_report_clear(&done);
    return r;
}

void node_report_clear(NodeReport *r)
{
    if (!r)
        return;
    free(r->boot_id);
    free(r->cloud_init);
    free(r->hostname);
    free(r->product_uuid);
    for (size_t i = 0; i < r->n_macs; i++)
        free(r->macs[i]);
    free(r->macs);
    for (size_t i = 0; i < r->n_addresses; i++)
        free(r->addresses[i]);
    free(r->addresses);
    for (size_t i = 0; i < r->n_checks; i++) {
        free(r->checks[i].check);
        free(r->checks[i].detail);
    }
    free(r->checks);
    *r = (NodeReport){0};
}
