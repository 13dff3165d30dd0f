/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pure: what the network-file parsers share beyond vmware/text.c (see nettext.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmware/nettext.h"

const char *vmw_net_excerpt(const char *s, char *buf)
{
    size_t k = 0, i;
    for (i = 0; s[i] && i < VMW_EXCERPT_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            k += (size_t)snprintf(buf + k, 5, "\\x%02x", c);
        else
            buf[k++] = (char)c;
    }
    if (s[i]) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = '\0';
    return buf;
}

char *vmw_net_word(char **p)
{
    char *s = *p;
    while (*s && isspace((unsigned char)*s))
        s++;
    if (!*s) {
        *p = s;
        return NULL;
    }
    char *start = s;
    while (*s && !isspace((unsigned char)*s))
        s++;
    if (*s)
        *s++ = '\0';
    *p = s;
    return start;
}

char *vmw_net_unquote(char *s)
{
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = '\0';
        return s + 1;
    }
    return s;
}

int vmw_net_uint(const char *s, uint32_t max, uint32_t *ret)
{
    uint64_t v = 0;
    if (!isdigit((unsigned char)s[0]) || (s[0] == '0' && s[1]))
        return -EINVAL;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > max)
            return -EINVAL;
    }
    *ret = (uint32_t)v;
    return 0;
}

int vmw_net_port(const char *s, uint16_t *ret)
{
    uint32_t v;
    if (vmw_net_uint(s, 65535, &v) < 0 || v == 0)
        return -EINVAL;
    *ret = (uint16_t)v;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int vmw_net_mac(const char *s, MacAddr *ret)
{
    MacAddr m;
    const char *p = s;
    for (int i = 0; i < 6; i++) {
        int v = 0, digits = 0;
        while (digits < 3 && hexval(*p) >= 0) {
            v = v * 16 + hexval(*p);
            p++;
            digits++;
        }
        if (digits < 1 || digits > 2)
            return -EINVAL;
        m.b[i] = (uint8_t)v;
        if (i < 5) {
            if (*p != ':')
                return -EINVAL;
            p++;
        }
    }
    if (*p)
        return -EINVAL;
    *ret = m;
    return 0;
}

bool vmw_net_is_netmask(uint32_t m)
{
    /* ones then zeros: the inverted mask plus one is a power of two (or zero) */
    uint32_t inv = ~m;
    return (inv & (inv + 1)) == 0;
}

int vmw_net_fwd_append(VmwPortFwd **v, size_t *n, VmwPortFwd *f)
{
    VmwPortFwd *nv = realloc(*v, (*n + 1) * sizeof(*nv));
    if (!nv)
        return -ENOMEM;
    *v = nv;
    nv[(*n)++] = *f;
    f->description = NULL;
    return 0;
}

void vmw_net_fwds_free(VmwPortFwd *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].description);
    free(v);
}

const char *vmw_net_proto_name(VmwProto p)
{
    return p == VMW_UDP ? "udp" : "tcp";
}
