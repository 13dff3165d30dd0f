/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kvmlab/addr.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int addr_ipv4_parse(const char *s, uint32_t *ret)
{
    uint32_t a = 0;
    const char *p = s;

    if (!s)
        return -EINVAL;
    for (int i = 0; i < 4; i++) {
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        unsigned v = 0;
        const char *start = p;
        while (isdigit((unsigned char)*p)) {
            v = v * 10 + (unsigned)(*p - '0');
            if (v > 255)
                return -EINVAL;
            p++;
        }
        if (p - start > 1 && *start == '0')
            return -EINVAL;
        a = (a << 8) | v;
        if (i < 3) {
            if (*p != '.')
                return -EINVAL;
            p++;
        }
    }
    if (*p)
        return -EINVAL;
    if (ret)
        *ret = a;
    return 0;
}

char *addr_ipv4_format(uint32_t a, char *buf)
{
    snprintf(buf, IPV4_STRLEN, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
    return buf;
}

uint32_t addr_netmask(unsigned prefix)
{
    return prefix == 0 ? 0 : prefix >= 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1);
}

int addr_cidr_parse(const char *s, Ipv4Net *ret)
{
    char buf[IPV4_STRLEN];
    const char *slash;
    uint32_t a;

    if (!s || !(slash = strchr(s, '/')))
        return -EINVAL;
    size_t n = (size_t)(slash - s);
    if (n == 0 || n >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, n);
    buf[n] = 0;
    if (addr_ipv4_parse(buf, &a) < 0)
        return -EINVAL;
    const char *p = slash + 1;
    if (!isdigit((unsigned char)*p) || (p[0] == '0' && p[1]))
        return -EINVAL;
    unsigned len = 0;
    while (isdigit((unsigned char)*p)) {
        len = len * 10 + (unsigned)(*p - '0');
        if (len > 32)
            return -EINVAL;
        p++;
    }
    if (*p)
        return -EINVAL;
    if (a & ~addr_netmask(len))
        return -EDOM;
    if (ret) {
        ret->addr = a;
        ret->prefix = len;
    }
    return 0;
}

char *addr_cidr_format(const Ipv4Net *n, char *buf)
{
    char ip[IPV4_STRLEN];
    snprintf(buf, CIDR_STRLEN, "%s/%u", addr_ipv4_format(n->addr, ip), n->prefix);
    return buf;
}

bool addr_net_contains(const Ipv4Net *n, uint32_t a)
{
    uint32_t m = addr_netmask(n->prefix);
    return (a & m) == (n->addr & m);
}

bool addr_net_overlaps(const Ipv4Net *a, const Ipv4Net *b)
{
    unsigned p = a->prefix < b->prefix ? a->prefix : b->prefix;
    uint32_t m = addr_netmask(p);
    return (a->addr & m) == (b->addr & m);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int addr_mac_parse(const char *s, MacAddr *ret)
{
    MacAddr m;
    if (!s || strlen(s) != 17)
        return -EINVAL;
    for (int i = 0; i < 6; i++) {
        int hi = hexval((unsigned char)s[i * 3]), lo = hexval((unsigned char)s[i * 3 + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        if (i < 5 && s[i * 3 + 2] != ':')
            return -EINVAL;
        m.b[i] = (uint8_t)(hi << 4 | lo);
    }
    if (ret)
        *ret = m;
    return 0;
}

char *addr_mac_format(const MacAddr *m, char *buf)
{
    snprintf(buf, MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", m->b[0], m->b[1], m->b[2], m->b[3],
             m->b[4], m->b[5]);
    return buf;
}

bool addr_mac_equal(const MacAddr *a, const MacAddr *b)
{
    return memcmp(a->b, b->b, 6) == 0;
}

uint64_t hash_fnv1a(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t hash_fnv1a_str(uint64_t h, const char *s)
{
    /* include the terminator so ("ab","c") and ("a","bc") differ */
    return hash_fnv1a(h, s ? s : "", (s ? strlen(s) : 0) + 1);
}

MacAddr addr_mac_derive(const char *lab, const char *node, unsigned nic)
{
    uint64_t h = HASH_FNV_INIT;
    h = hash_fnv1a_str(h, "kvmlab-mac");
    h = hash_fnv1a_str(h, lab);
    h = hash_fnv1a_str(h, node);
    char index[16];
    snprintf(index, sizeof(index), "%u", nic); /* text, so the MAC never depends on byte order */
    h = hash_fnv1a_str(h, index);
    MacAddr m = {{0x52, 0x54, 0x00, (uint8_t)(h >> 40), (uint8_t)(h >> 48), (uint8_t)(h >> 56)}};
    return m;
}
