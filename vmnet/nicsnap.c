/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pure: a NIC snapshot as text and back. The text is what `up` leaves in the lab's state so a
 * later `down` puts the NIC back:
 *
 *   kvmlab-nic-snapshot 1
 *   nic ifname=eth0 ifindex=2 mac=52:54:00:12:34:56 mtu=1500 up=yes master=br0
 *   addr family=inet local=10.0.0.5 prefix=24 broadcast=10.0.0.255 scope=0 flags=0x80 label=eth0
 *        valid=forever preferred=forever                             (one line)
 *   route family=inet table=254 dst=0.0.0.0/0 gateway=10.0.0.1 protocol=3 scope=0 type=1
 *         metric=100 flags=0x0                                       (one line)
 *
 * Optional keys (master, peer, broadcast, label, gateway, prefsrc, metric) are left out when
 * unset. Names are written with %XX for bytes that are not printable or are '%' or '='.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/hostlink.h"

#define SNAP_MAGIC "kvmlab-nic-snapshot 1"

void nic_snapshot_free(NicSnapshot *s)
{
    if (!s)
        return;
    free(s->addrs);
    free(s->routes);
    free(s);
}

void host_link_info_clear(HostLinkInfo *l)
{
    if (!l)
        return;
    free(l->alias);
    free(l->managed_by);
    free(l->ipv4);
    free(l->ipv4_prefix);
    memset(l, 0, sizeof(*l));
}

static const char *family_name(int family)
{
    return family == AF_INET ? "inet" : "inet6";
}

static void put_name(FILE *f, const char *key, const char *s)
{
    fprintf(f, " %s=", key);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= ' ' || *p >= 0x7f || *p == '%' || *p == '=')
            fprintf(f, "%%%02X", *p);
        else
            fputc(*p, f);
    }
}

static void put_ip(FILE *f, const char *key, int family, const uint8_t *bytes)
{
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(family, bytes, buf, sizeof(buf));
    fprintf(f, " %s=%s", key, buf);
}

static void put_lft(FILE *f, const char *key, uint32_t v)
{
    if (v == 0xffffffffu)
        fprintf(f, " %s=forever", key);
    else
        fprintf(f, " %s=%u", key, v);
}

char *nic_snapshot_format(const NicSnapshot *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    char mac[MAC_STRLEN];

    if (!f)
        return NULL;
    fprintf(f, SNAP_MAGIC "\nnic");
    put_name(f, "ifname", s->ifname);
    fprintf(f, " ifindex=%d mac=%s mtu=%u up=%s", s->ifindex, addr_mac_format(&s->mac, mac), s->mtu,
            s->up ? "yes" : "no");
    if (s->master[0])
        put_name(f, "master", s->master);
    fputc('\n', f);
    for (size_t i = 0; i < s->n_addrs; i++) {
        const HostAddr *a = &s->addrs[i];
        fprintf(f, "addr family=%s", family_name(a->family));
        put_ip(f, "local", a->family, a->local);
        fprintf(f, " prefix=%u", a->prefix);
        if (a->has_peer)
            put_ip(f, "peer", a->family, a->peer);
        if (a->has_broadcast)
            put_ip(f, "broadcast", AF_INET, a->broadcast);
        fprintf(f, " scope=%u flags=0x%x", a->scope, a->flags);
        if (a->label[0])
            put_name(f, "label", a->label);
        put_lft(f, "valid", a->valid_lft);
        put_lft(f, "preferred", a->preferred_lft);
        fputc('\n', f);
    }
    for (size_t i = 0; i < s->n_routes; i++) {
        const HostRoute *rt = &s->routes[i];
        char dst[INET6_ADDRSTRLEN];
        inet_ntop(rt->family, rt->dst, dst, sizeof(dst));
        fprintf(f, "route family=%s table=%u dst=%s/%u", family_name(rt->family), rt->table, dst,
                rt->dst_len);
        if (rt->has_gateway)
            put_ip(f, "gateway", rt->family, rt->gateway);
        if (rt->has_prefsrc)
            put_ip(f, "prefsrc", rt->family, rt->prefsrc);
        fprintf(f, " protocol=%u scope=%u type=%u", rt->protocol, rt->scope, rt->type);
        if (rt->has_priority)
            fprintf(f, " metric=%u", rt->priority);
        fprintf(f, " flags=0x%x\n", rt->flags);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* One "key=value" of a line being read. */
typedef struct Field {
    char key[16];
    char value[64];
    bool used;
} Field;

#define MAX_FIELDS 16

typedef struct Line {
    const char *type;
    Field f[MAX_FIELDS];
    size_t n;
    unsigned lineno;
} Line;

static int line_split(char *text, unsigned lineno, Line *ret, Error *err)
{
    char *save = NULL;
    char *tok = strtok_r(text, " ", &save);
    memset(ret, 0, sizeof(*ret));
    ret->type = tok;
    ret->lineno = lineno;
    while ((tok = strtok_r(NULL, " ", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok)
            return error_set(err, -EINVAL, "Line %u of the NIC snapshot: '%s' is not key=value",
                             lineno, tok);
        if (ret->n == MAX_FIELDS || (size_t)(eq - tok) >= sizeof(ret->f[0].key) ||
            strlen(eq + 1) >= sizeof(ret->f[0].value))
            return error_set(err, -EINVAL, "Line %u of the NIC snapshot: '%s' is too long", lineno,
                             tok);
        Field *fl = &ret->f[ret->n++];
        memcpy(fl->key, tok, (size_t)(eq - tok));
        strcpy(fl->value, eq + 1);
    }
    return 0;
}

/* The value of @key, NULL when absent (then an error when @required). */
static const char *field(Line *l, const char *key, bool required, Error *err)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->f[i].key, key) == 0) {
            l->f[i].used = true;
            return l->f[i].value;
        }
    if (required)
        error_set(err, -EINVAL, "Line %u of the NIC snapshot: '%s' has no '%s'", l->lineno, l->type,
                  key);
    return NULL;
}

static int bad(Line *l, const char *key, const char *value, Error *err)
{
    return error_set(err, -EINVAL, "Line %u of the NIC snapshot: '%s' is not a valid %s", l->lineno,
                     value, key);
}

static int get_uint(Line *l, const char *key, bool required, uint32_t max, uint32_t *ret,
                    Error *err)
{
    const char *v = field(l, key, required, err);
    if (!v)
        return required ? -EINVAL : 0;
    if (strcmp(v, "forever") == 0 && max == 0xffffffffu) {
        *ret = 0xffffffffu;
        return 1;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 0);
    if (!*v || *v == '-' || *end || errno || n > max)
        return bad(l, key, v, err);
    *ret = (uint32_t)n;
    return 1;
}

static int get_name(Line *l, const char *key, bool required, char *buf, size_t size, Error *err)
{
    const char *v = field(l, key, required, err);
    size_t n = 0;
    if (!v)
        return required ? -EINVAL : 0;
    for (const char *p = v; *p; p++) {
        char c = *p;
        if (c == '%') {
            unsigned x;
            if (sscanf(p + 1, "%2x", &x) != 1 || !p[1] || !p[2] || x == 0)
                return bad(l, key, v, err);
            c = (char)x;
            p += 2;
        }
        if (n + 1 >= size)
            return bad(l, key, v, err);
        buf[n++] = c;
    }
    if (n == 0)
        return bad(l, key, v, err);
    buf[n] = '\0';
    return 1;
}

static int get_family(Line *l, int *ret, Error *err)
{
    const char *v = field(l, "family", true, err);
    if (!v)
        return -EINVAL;
    if (strcmp(v, "inet") == 0)
        *ret = AF_INET;
    else if (strcmp(v, "inet6") == 0)
        *ret = AF_INET6;
    else
        return bad(l, "family", v, err);
    return 0;
}

static int get_ip(Line *l, const char *key, bool required, int family, uint8_t *ret, Error *err)
{
    const char *v = field(l, key, required, err);
    if (!v)
        return required ? -EINVAL : 0;
    if (inet_pton(family, v, ret) != 1)
        return bad(l, key, v, err);
    return 1;
}

static int check_all_used(Line *l, Error *err)
{
    for (size_t i = 0; i < l->n; i++)
        if (!l->f[i].used)
            return error_set(err, -EINVAL, "Line %u of the NIC snapshot: unknown key '%s'",
                             l->lineno, l->f[i].key);
    return 0;
}

static int parse_nic(Line *l, NicSnapshot *s, Error *err)
{
    uint32_t v;
    int r;
    const char *mac, *up;
    if ((r = get_name(l, "ifname", true, s->ifname, sizeof(s->ifname), err)) < 0)
        return r;
    if ((r = get_uint(l, "ifindex", true, 0x7fffffff, &v, err)) < 0)
        return r;
    s->ifindex = (int)v;
    if ((r = get_uint(l, "mtu", true, 0xffffffffu - 1, &v, err)) < 0)
        return r;
    s->mtu = v;
    if (!(mac = field(l, "mac", true, err)))
        return -EINVAL;
    if (addr_mac_parse(mac, &s->mac) < 0)
        return bad(l, "mac", mac, err);
    if (!(up = field(l, "up", true, err)))
        return -EINVAL;
    if (strcmp(up, "yes") != 0 && strcmp(up, "no") != 0)
        return bad(l, "up", up, err);
    s->up = strcmp(up, "yes") == 0;
    if ((r = get_name(l, "master", false, s->master, sizeof(s->master), err)) < 0)
        return r;
    return check_all_used(l, err);
}

static int parse_addr(Line *l, HostAddr *a, Error *err)
{
    uint32_t v;
    int r;
    memset(a, 0, sizeof(*a));
    if ((r = get_family(l, &a->family, err)) < 0 ||
        (r = get_ip(l, "local", true, a->family, a->local, err)) < 0 ||
        (r = get_uint(l, "prefix", true, a->family == AF_INET ? 32 : 128, &v, err)) < 0)
        return r;
    a->prefix = v;
    if ((r = get_ip(l, "peer", false, a->family, a->peer, err)) < 0)
        return r;
    a->has_peer = r > 0;
    if (a->family == AF_INET) {
        if ((r = get_ip(l, "broadcast", false, AF_INET, a->broadcast, err)) < 0)
            return r;
        a->has_broadcast = r > 0;
    }
    if ((r = get_uint(l, "scope", true, 255, &v, err)) < 0)
        return r;
    a->scope = v;
    if ((r = get_uint(l, "flags", true, 0xffffffffu - 1, &a->flags, err)) < 0 ||
        (r = get_name(l, "label", false, a->label, sizeof(a->label), err)) < 0 ||
        (r = get_uint(l, "valid", true, 0xffffffffu, &a->valid_lft, err)) < 0 ||
        (r = get_uint(l, "preferred", true, 0xffffffffu, &a->preferred_lft, err)) < 0)
        return r;
    return check_all_used(l, err);
}

static int parse_route(Line *l, HostRoute *rt, Error *err)
{
    uint32_t v;
    int r;
    memset(rt, 0, sizeof(*rt));
    if ((r = get_family(l, &rt->family, err)) < 0 ||
        (r = get_uint(l, "table", true, 0xffffffffu - 1, &rt->table, err)) < 0)
        return r;
    const char *dst = field(l, "dst", true, err);
    if (!dst)
        return -EINVAL;
    char ip[INET6_ADDRSTRLEN];
    const char *slash = strchr(dst, '/');
    char *end = NULL;
    unsigned long len = slash ? strtoul(slash + 1, &end, 10) : 0;
    if (!slash || (size_t)(slash - dst) >= sizeof(ip) || !slash[1] || *end ||
        len > (rt->family == AF_INET ? 32u : 128u))
        return bad(l, "dst", dst, err);
    memcpy(ip, dst, (size_t)(slash - dst));
    ip[slash - dst] = '\0';
    if (inet_pton(rt->family, ip, rt->dst) != 1)
        return bad(l, "dst", dst, err);
    rt->dst_len = (unsigned)len;
    if ((r = get_ip(l, "gateway", false, rt->family, rt->gateway, err)) < 0)
        return r;
    rt->has_gateway = r > 0;
    if ((r = get_ip(l, "prefsrc", false, rt->family, rt->prefsrc, err)) < 0)
        return r;
    rt->has_prefsrc = r > 0;
    if ((r = get_uint(l, "protocol", true, 255, &v, err)) < 0)
        return r;
    rt->protocol = v;
    if ((r = get_uint(l, "scope", true, 255, &v, err)) < 0)
        return r;
    rt->scope = v;
    if ((r = get_uint(l, "type", true, 255, &v, err)) < 0)
        return r;
    rt->type = v;
    if ((r = get_uint(l, "metric", false, 0xffffffffu - 1, &rt->priority, err)) < 0)
        return r;
    rt->has_priority = r > 0;
    if ((r = get_uint(l, "flags", true, 0xffffffffu - 1, &rt->flags, err)) < 0)
        return r;
    return check_all_used(l, err);
}

/* Append one zeroed element to *v (n elements of @size). */
static void *grow(void *v, size_t n, size_t size)
{
    void *nv = realloc(v, (n + 1) * size);
    if (nv)
        memset((char *)nv + n * size, 0, size);
    return nv;
}

int nic_snapshot_parse(const char *text, NicSnapshot **ret, Error *err)
{
    _cleanup_free_ char *copy = strdup(text ? text : "");
    NicSnapshot *s = calloc(1, sizeof(*s));
    char *save = NULL;
    unsigned lineno = 0;
    bool magic = false, nic = false;
    int r = 0;

    if (!copy || !s) {
        free(s);
        return error_set(err, -ENOMEM, "Out of memory");
    }
    /* strtok_r would skip empty lines; they are refused below as junk anyway */
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        Line l;
        lineno++;
        if (!magic) {
            if (strcmp(line, SNAP_MAGIC) != 0) {
                r = error_set(err, -EINVAL, "Line 1 of the NIC snapshot is not '" SNAP_MAGIC "'");
                goto fail;
            }
            magic = true;
            continue;
        }
        if ((r = line_split(line, lineno, &l, err)) < 0)
            goto fail;
        if (l.type && strcmp(l.type, "nic") == 0 && !nic) {
            if ((r = parse_nic(&l, s, err)) < 0)
                goto fail;
            nic = true;
        } else if (l.type && strcmp(l.type, "addr") == 0 && nic) {
            HostAddr *na = grow(s->addrs, s->n_addrs, sizeof(*na));
            if (!na) {
                r = error_set(err, -ENOMEM, "Out of memory");
                goto fail;
            }
            s->addrs = na;
            if ((r = parse_addr(&l, &s->addrs[s->n_addrs], err)) < 0)
                goto fail;
            s->n_addrs++;
        } else if (l.type && strcmp(l.type, "route") == 0 && nic) {
            HostRoute *nr = grow(s->routes, s->n_routes, sizeof(*nr));
            if (!nr) {
                r = error_set(err, -ENOMEM, "Out of memory");
                goto fail;
            }
            s->routes = nr;
            if ((r = parse_route(&l, &s->routes[s->n_routes], err)) < 0)
                goto fail;
            s->n_routes++;
        } else {
            r = error_set(err, -EINVAL, "Line %u of the NIC snapshot: unexpected '%s'", lineno,
                          l.type ? l.type : "");
            goto fail;
        }
    }
    if (!magic || !nic) {
        r = error_set(err, -EINVAL, "The NIC snapshot has no '%s' line", magic ? "nic" : "header");
        goto fail;
    }
    *ret = s;
    return 0;
fail:
    nic_snapshot_free(s);
    return r;
}
