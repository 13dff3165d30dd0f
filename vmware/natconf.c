/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pure: VMware's NAT configuration, nat.conf (per vmnet on Linux/macOS) or vmnetnat.conf
 * (Windows): INI sections with `key = value` lines, `#` and `;` comments. Read: [host] ip and
 * netmask, and the port forwards of [incomingtcp] and [incomingudp] (`HOSTPORT = IP:PORT`).
 * The other settings of VMware's sections ([host], [udp], [dns], [netbios]) are skipped
 * silently; unknown sections and lines with a warning.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kvmlab/cleanup.h"
#include "vmware/nettext.h"

typedef enum Section {
    SECTION_NONE, /* before the first header */
    SECTION_HOST,
    SECTION_QUIET, /* [udp], [dns], [netbios]: nothing kvmlab needs */
    SECTION_TCP,
    SECTION_UDP,
    SECTION_UNKNOWN, /* warned about at its header, its lines skipped silently */
} Section;

enum {
    SEEN_IP = 1 << 0,
    SEEN_NETMASK = 1 << 1,
};

typedef struct Ctx {
    const char *file;
    VmwWarnings *w;
    VmwNatConf out;
    Section section;
    unsigned seen;
    bool mask_from_prefix; /* netmask set by "ip = A/LEN", not by a netmask line */
} Ctx;

/* "[name]" (blanks inside allowed), with only a comment after it */
static int parse_header(Ctx *c, unsigned line, char *s)
{
    char ex[VMW_EXCERPT_BUF];
    char *close = strchr(s, ']');
    if (!close)
        return vmw_warn(c->w, c->file, line, "section header '%s' without ']' skipped",
                        vmw_net_excerpt(s, ex));
    *close = '\0';
    char *name = vmw_trim(s + 1), *rest = vmw_trim(close + 1);
    int r = 0;
    if (*rest && *rest != '#' && *rest != ';')
        r = vmw_warn(c->w, c->file, line, "text after section '[%s]' skipped: '%s'",
                     vmw_net_excerpt(name, ex), rest);
    if (r < 0)
        return r;
    if (strcasecmp(name, "host") == 0)
        c->section = SECTION_HOST;
    else if (strcasecmp(name, "incomingtcp") == 0)
        c->section = SECTION_TCP;
    else if (strcasecmp(name, "incomingudp") == 0)
        c->section = SECTION_UDP;
    else if (strcasecmp(name, "udp") == 0 || strcasecmp(name, "dns") == 0 ||
             strcasecmp(name, "netbios") == 0)
        c->section = SECTION_QUIET;
    else {
        c->section = SECTION_UNKNOWN;
        r = vmw_warn(c->w, c->file, line, "unknown section '[%s]' skipped",
                     vmw_net_excerpt(name, ex));
    }
    return r;
}

/* [host] ip = A (or A/LEN), netmask = M */
static int parse_host_key(Ctx *c, unsigned line, const char *key, char *value)
{
    char ex[VMW_EXCERPT_BUF];
    uint32_t a;
    if (strcasecmp(key, "ip") == 0) {
        char *slash = strchr(value, '/');
        Ipv4Net net = {0};
        if (slash) {
            /* "A/LEN": the address is not the network, so read LEN alone */
            uint32_t prefix;
            *slash = '\0';
            if (addr_ipv4_parse(value, &a) < 0 || vmw_net_uint(slash + 1, 32, &prefix) < 0) {
                *slash = '/';
                return vmw_warn(c->w, c->file, line,
                                "[host] ip '%s' is not an IPv4 address: skipped",
                                vmw_net_excerpt(value, ex));
            }
            net.prefix = prefix;
        } else if (addr_ipv4_parse(value, &a) < 0) {
            return vmw_warn(c->w, c->file, line, "[host] ip '%s' is not an IPv4 address: skipped",
                            vmw_net_excerpt(value, ex));
        }
        int r = 0;
        if (c->seen & SEEN_IP)
            r = vmw_warn(c->w, c->file, line, "[host] ip given again: the last one is used");
        c->seen |= SEEN_IP;
        c->out.has_host = true;
        c->out.host_ip = a;
        if (slash && (!(c->seen & SEEN_NETMASK) || c->mask_from_prefix)) {
            c->out.netmask = addr_netmask(net.prefix);
            c->mask_from_prefix = true;
        }
        return r;
    }
    if (strcasecmp(key, "netmask") == 0) {
        if (addr_ipv4_parse(value, &a) < 0 || !vmw_net_is_netmask(a))
            return vmw_warn(c->w, c->file, line, "[host] netmask '%s' is not a netmask: skipped",
                            vmw_net_excerpt(value, ex));
        int r = 0;
        if ((c->seen & SEEN_NETMASK) && !c->mask_from_prefix)
            r = vmw_warn(c->w, c->file, line, "[host] netmask given again: the last one is used");
        c->seen |= SEEN_NETMASK;
        c->mask_from_prefix = false;
        c->out.netmask = a;
        return r;
    }
    return 0; /* device, activeFTP, allowAnyOUI, ...: VMware's own */
}

/* [incomingtcp] / [incomingudp]: HOSTPORT = IP:PORT */
static int parse_forward(Ctx *c, unsigned line, const char *key, char *value)
{
    char ex[VMW_EXCERPT_BUF];
    VmwProto proto = c->section == SECTION_UDP ? VMW_UDP : VMW_TCP;
    const char *sect = proto == VMW_UDP ? "incomingudp" : "incomingtcp";
    VmwPortFwd f = {.proto = proto};
    if (vmw_net_port(key, &f.host_port) < 0)
        return vmw_warn(c->w, c->file, line, "[%s] '%s' is not a host port (1 to 65535): skipped",
                        sect, vmw_net_excerpt(key, ex));
    char *p = value, *target = vmw_net_word(&p);
    char *colon = target ? strrchr(target, ':') : NULL;
    if (!colon)
        return vmw_warn(c->w, c->file, line, "[%s] %u: '%s' is not IP:PORT: skipped", sect,
                        f.host_port, vmw_net_excerpt(target ? target : "", ex));
    *colon = '\0';
    if (addr_ipv4_parse(target, &f.guest_ip) < 0 || vmw_net_port(colon + 1, &f.guest_port) < 0) {
        *colon = ':';
        return vmw_warn(c->w, c->file, line, "[%s] %u: '%s' is not IP:PORT: skipped", sect,
                        f.host_port, vmw_net_excerpt(target, ex));
    }
    int r;
    char *rest = vmw_net_unquote(vmw_trim(p));
    if (*rest) {
        r = vmw_warn(c->w, c->file, line,
                     "[%s] %u: text after IP:PORT read as its "
                     "description: '%s'",
                     sect, f.host_port, vmw_net_excerpt(rest, ex));
        if (r < 0)
            return r;
        if (!(f.description = strdup(rest)))
            return -ENOMEM;
    }
    VmwNatConf *o = &c->out;
    for (size_t i = 0; i < o->n_forwards; i++)
        if (o->forwards[i].proto == proto && o->forwards[i].host_port == f.host_port) {
            free(o->forwards[i].description);
            o->forwards[i] = f;
            return vmw_warn(c->w, c->file, line,
                            "[%s] host port %u given again: the last one is used", sect,
                            f.host_port);
        }
    r = vmw_net_fwd_append(&o->forwards, &o->n_forwards, &f);
    free(f.description);
    return r;
}

/* A value without a comment after it (blanks then '#' or ';') and without quotes. */
static char *value_of(char *v)
{
    for (char *p = v; *p; p++)
        if ((*p == '#' || *p == ';') && p > v && (p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            break;
        }
    return vmw_net_unquote(vmw_trim(v));
}

static int parse_line(Ctx *c, unsigned line, char *s)
{
    char ex[VMW_EXCERPT_BUF];
    s = vmw_trim(s);
    if (!*s || *s == '#' || *s == ';')
        return 0;
    if (*s == '[')
        return parse_header(c, line, s);
    if (c->section == SECTION_UNKNOWN)
        return 0;
    char *eq = strchr(s, '=');
    if (!eq || eq == s)
        return vmw_warn(c->w, c->file, line, "unknown line '%s' skipped", vmw_net_excerpt(s, ex));
    *eq = '\0';
    char *key = vmw_trim(s), *value = value_of(eq + 1);
    switch (c->section) {
    case SECTION_NONE:
        return vmw_warn(c->w, c->file, line, "'%s' outside a section skipped",
                        vmw_net_excerpt(key, ex));
    case SECTION_HOST:
        return parse_host_key(c, line, key, value);
    case SECTION_TCP:
    case SECTION_UDP:
        return parse_forward(c, line, key, value);
    case SECTION_QUIET:
    case SECTION_UNKNOWN:
        break;
    }
    return 0;
}

static int parse_line_cb(void *ctx, unsigned number, char *line)
{
    return parse_line(ctx, number, line);
}

/**
 * vmw_natconf_parse: read a nat.conf or vmnetnat.conf (@text, @len bytes, may hold NULs;
 * @file names it in warnings). Fills *@ret (clear it with vmw_natconf_clear()): [host] ip
 * and netmask, and the port forwards in file order. Adds a warning to @w for each line or value
 * it skips. Returns 0, or -ENOMEM with @err set (then *@ret is untouched).
 */
int vmw_natconf_parse(const char *text, size_t len, const char *file, VmwNatConf *ret,
                      VmwWarnings *w, Error *err)
{
    Ctx c = {.file = file, .w = w};
    int r = vmw_lines_each(text, len, parse_line_cb, &c);
    if (r < 0) {
        vmw_natconf_clear(&c.out);
        return error_set(err, r, "Out of memory while reading VMware's NAT configuration '%s'",
                         file ? file : "-");
    }
    *ret = c.out;
    return 0;
}

/**
 * vmw_natconf_clear: free what vmw_natconf_parse() filled and zero @c. Accepts a zeroed struct.
 */
void vmw_natconf_clear(VmwNatConf *c)
{
    vmw_net_fwds_free(c->forwards, c->n_forwards);
    *c = (VmwNatConf){0};
}
