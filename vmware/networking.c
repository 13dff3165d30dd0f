/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pure: VMware Workstation's `networking` file (/etc/vmware/networking on Linux, the same on
 * macOS): "VERSION=1,0", then one command a line: `answer VNET_N_KEY VALUE`,
 * `add_bridge_mapping IFACE N`, `add_nat_portfwd N PROTO HOSTPORT IP PORT` and
 * `add_dhcp_mac_to_ip N MAC IP`. Answers that VMware writes and kvmlab does not need
 * (VNET_N_DHCP_CFG_HASH, VNET_N_NAT_PARAM_*, VNL_*, ...) are skipped silently; anything else
 * kvmlab does not understand is skipped with a warning.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kvmlab/cleanup.h"
#include "vmware/nettext.h"

/* VMware numbers its virtual networks vmnet0 to vmnet255 */
#define VNET_MAX 255

/* the answers kvmlab reads, as bits of Ctx.seen (for "given again" warnings) */
enum {
    SEEN_NAT = 1 << 0,
    SEEN_DHCP = 1 << 1,
    SEEN_ADAPTER = 1 << 2,
    SEEN_SUBNET = 1 << 3,
    SEEN_NETMASK = 1 << 4,
    SEEN_BRIDGE = 1 << 5,
};

typedef struct Ctx {
    const char *file;
    VmwWarnings *w;
    VmwNetworking out;
    uint8_t seen[VNET_MAX + 1];
    bool version_seen, auto_seen;
} Ctx;

static void vnet_clear(VmwVnet *v)
{
    free(v->bridge_interface);
    free(v->reservations);
    vmw_net_fwds_free(v->forwards, v->n_forwards);
}

/* The vnet numbered @n, added in its sorted place when new. NULL: out of memory. */
static VmwVnet *vnet_get(VmwNetworking *net, unsigned n)
{
    size_t i = 0;
    while (i < net->n && net->v[i].n < n)
        i++;
    if (i < net->n && net->v[i].n == n)
        return &net->v[i];
    VmwVnet *v = realloc(net->v, (net->n + 1) * sizeof(*v));
    if (!v)
        return NULL;
    net->v = v;
    memmove(&v[i + 1], &v[i], (net->n - i) * sizeof(*v));
    v[i] = (VmwVnet){.n = n};
    net->n++;
    return &v[i];
}

/* A vmnet number (0 to 255) or -1, or a warning naming @what. 1: read, 0: skipped, <0: -ENOMEM. */
static int read_vnet_number(Ctx *c, unsigned line, const char *s, const char *what, unsigned *ret)
{
    uint32_t n;
    char ex[VMW_EXCERPT_BUF];
    if (vmw_net_uint(s, VNET_MAX, &n) < 0) {
        int r = vmw_warn(c->w, c->file, line, "%s: '%s' is not a vmnet number (0 to %d): skipped",
                         what, vmw_net_excerpt(s, ex), VNET_MAX);
        return r < 0 ? r : 0;
    }
    *ret = n;
    return 1;
}

/* Warn about text left after a command's arguments, unless it is a '#' comment. */
static int warn_extra(Ctx *c, unsigned line, const char *what, const char *rest)
{
    char ex[VMW_EXCERPT_BUF];
    if (!*rest || *rest == '#')
        return 0;
    return vmw_warn(c->w, c->file, line, "text after %s skipped: '%s'", what,
                    vmw_net_excerpt(rest, ex));
}

/* Mark @bit seen on @vnet; warn when it was already. */
static int check_again(Ctx *c, unsigned line, unsigned vnet, unsigned bit, const char *what)
{
    if (c->seen[vnet] & bit)
        return vmw_warn(c->w, c->file, line, "%s given again: the last one is used", what);
    c->seen[vnet] |= (uint8_t)bit;
    return 0;
}

static int parse_yes_no(Ctx *c, unsigned line, const char *key, const char *value, bool *ret)
{
    char ex[VMW_EXCERPT_BUF];
    if (strcasecmp(value, "yes") == 0)
        *ret = true;
    else if (strcasecmp(value, "no") == 0)
        *ret = false;
    else {
        int r = vmw_warn(c->w, c->file, line, "'%s' is '%s', not yes or no: skipped", key,
                         vmw_net_excerpt(value, ex));
        return r < 0 ? r : 0;
    }
    return 1;
}

/* `answer KEY VALUE [# comment]` (@p: what follows "answer") */
static int parse_answer(Ctx *c, unsigned line, char *p)
{
    char ex[VMW_EXCERPT_BUF], ex2[VMW_EXCERPT_BUF];
    char *key = vmw_net_word(&p);
    if (!key)
        return vmw_warn(c->w, c->file, line, "'answer' without a key: skipped");
    if (strncmp(key, "VNET_", 5) != 0) {
        /* VMware's own settings of the network library (VNL_DEFAULT_BRIDGE_VNET, ...) */
        if (strncmp(key, "VNL_", 4) == 0)
            return 0;
        return vmw_warn(c->w, c->file, line, "unknown answer '%s' skipped",
                        vmw_net_excerpt(key, ex));
    }
    const char *num = key + 5, *field = strchr(num, '_');
    if (!field || field == num || !field[1]) {
        return vmw_warn(c->w, c->file, line, "unknown answer '%s' skipped",
                        vmw_net_excerpt(key, ex));
    }
    _cleanup_free_ char *numstr = strndup(num, (size_t)(field - num));
    if (!numstr)
        return -ENOMEM;
    field++;
    unsigned n;
    int r = read_vnet_number(c, line, numstr, vmw_net_excerpt(key, ex2), &n);
    if (r <= 0)
        return r;

    unsigned bit;
    if (strcmp(field, "NAT") == 0)
        bit = SEEN_NAT;
    else if (strcmp(field, "DHCP") == 0)
        bit = SEEN_DHCP;
    else if (strcmp(field, "VIRTUAL_ADAPTER") == 0)
        bit = SEEN_ADAPTER;
    else if (strcmp(field, "HOSTONLY_SUBNET") == 0)
        bit = SEEN_SUBNET;
    else if (strcmp(field, "HOSTONLY_NETMASK") == 0)
        bit = SEEN_NETMASK;
    else /* VMware's, not needed (DHCP_CFG_HASH, NAT_PARAM_*, HOSTONLY_UUID, ...) */
        return vnet_get(&c->out, n) ? 0 : -ENOMEM;

    char *raw = vmw_net_word(&p);
    if (!raw)
        return vmw_warn(c->w, c->file, line, "answer '%s' has no value: skipped", key);
    const char *value = vmw_net_unquote(raw);
    char what[VMW_EXCERPT_BUF + 32];
    snprintf(what, sizeof(what), "the value of '%s'", vmw_net_excerpt(key, ex));
    r = warn_extra(c, line, what, vmw_trim(p));
    if (r < 0)
        return r;

    bool b = false;
    uint32_t a = 0;
    switch (bit) {
    case SEEN_NAT:
    case SEEN_DHCP:
    case SEEN_ADAPTER:
        r = parse_yes_no(c, line, key, value, &b);
        if (r <= 0)
            return r;
        break;
    default:
        if (addr_ipv4_parse(value, &a) < 0)
            return vmw_warn(c->w, c->file, line, "'%s' is '%s', not an IPv4 address: skipped", key,
                            vmw_net_excerpt(value, ex));
        if (bit == SEEN_NETMASK && !vmw_net_is_netmask(a))
            return vmw_warn(c->w, c->file, line, "'%s' is '%s', not a netmask: skipped", key,
                            value);
        break;
    }
    VmwVnet *v = vnet_get(&c->out, n);
    if (!v)
        return -ENOMEM;
    snprintf(what, sizeof(what), "'%s'", key);
    r = check_again(c, line, n, bit, what);
    if (r < 0)
        return r;
    switch (bit) {
    case SEEN_NAT:
        v->nat = b;
        break;
    case SEEN_DHCP:
        v->dhcp = b;
        break;
    case SEEN_ADAPTER:
        v->virtual_adapter = b;
        break;
    case SEEN_SUBNET:
        v->subnet = a;
        v->has_subnet = true;
        break;
    default:
        v->netmask = a;
        break;
    }
    return 0;
}

/* `add_bridge_mapping IFACE N` */
static int parse_bridge(Ctx *c, unsigned line, char *p)
{
    char ex[VMW_EXCERPT_BUF];
    char *iface = vmw_net_word(&p), *num = vmw_net_word(&p);
    if (!num)
        return vmw_warn(c->w, c->file, line,
                        "add_bridge_mapping needs an interface and a vmnet number: skipped");
    int r = warn_extra(c, line, "add_bridge_mapping", vmw_trim(p));
    if (r < 0)
        return r;
    iface = vmw_net_unquote(iface);
    if (!*iface)
        return vmw_warn(c->w, c->file, line, "add_bridge_mapping with an empty interface: skipped");
    _cleanup_free_ char *copy = strdup(iface);
    if (!copy)
        return -ENOMEM;

    if (strcmp(num, "-1") == 0) {
        /* seen in the wild; VMware's meaning is not documented: no vmnet is bridged by it */
        r = vmw_warn(c->w, c->file, line,
                     "add_bridge_mapping '%s' -1 (automatic) names no vmnet: no vmnet is "
                     "bridged to it",
                     vmw_net_excerpt(iface, ex));
        if (r < 0)
            return r;
        if (c->auto_seen) {
            r = vmw_warn(c->w, c->file, line,
                         "add_bridge_mapping -1 given again: the last one is used");
            if (r < 0)
                return r;
        }
        c->auto_seen = true;
        free(c->out.auto_bridge_interface);
        c->out.auto_bridge_interface = steal_pointer(&copy);
        return 0;
    }
    unsigned n;
    r = read_vnet_number(c, line, num, "add_bridge_mapping", &n);
    if (r <= 0)
        return r;
    VmwVnet *v = vnet_get(&c->out, n);
    if (!v)
        return -ENOMEM;
    char what[32];
    snprintf(what, sizeof(what), "add_bridge_mapping of vmnet%u", n);
    r = check_again(c, line, n, SEEN_BRIDGE, what);
    if (r < 0)
        return r;
    free(v->bridge_interface);
    v->bridge_interface = steal_pointer(&copy);
    return 0;
}

/* `add_nat_portfwd N PROTO HOSTPORT IP PORT [description]` */
static int parse_portfwd(Ctx *c, unsigned line, char *p)
{
    char ex[VMW_EXCERPT_BUF];
    char *num = vmw_net_word(&p), *proto = vmw_net_word(&p), *hport = vmw_net_word(&p);
    char *ip = vmw_net_word(&p), *gport = vmw_net_word(&p);
    if (!gport)
        return vmw_warn(c->w, c->file, line,
                        "add_nat_portfwd needs a vmnet, tcp or udp, a host port, an address and "
                        "a port: skipped");
    unsigned n;
    int r = read_vnet_number(c, line, num, "add_nat_portfwd", &n);
    if (r <= 0)
        return r;
    VmwPortFwd f = {0};
    if (strcasecmp(proto, "tcp") == 0)
        f.proto = VMW_TCP;
    else if (strcasecmp(proto, "udp") == 0)
        f.proto = VMW_UDP;
    else
        return vmw_warn(c->w, c->file, line, "add_nat_portfwd: '%s' is not tcp or udp: skipped",
                        vmw_net_excerpt(proto, ex));
    if (vmw_net_port(hport, &f.host_port) < 0)
        return vmw_warn(c->w, c->file, line,
                        "add_nat_portfwd: '%s' is not a port (1 to 65535): skipped",
                        vmw_net_excerpt(hport, ex));
    if (addr_ipv4_parse(ip, &f.guest_ip) < 0)
        return vmw_warn(c->w, c->file, line,
                        "add_nat_portfwd: '%s' is not an IPv4 address: skipped",
                        vmw_net_excerpt(ip, ex));
    if (vmw_net_port(gport, &f.guest_port) < 0)
        return vmw_warn(c->w, c->file, line,
                        "add_nat_portfwd: '%s' is not a port (1 to 65535): skipped",
                        vmw_net_excerpt(gport, ex));
    char *rest = vmw_trim(p);
    if (*rest && *rest != '#') {
        rest = vmw_net_unquote(rest);
        r = vmw_warn(c->w, c->file, line,
                     "text after add_nat_portfwd read as its description: "
                     "'%s'",
                     vmw_net_excerpt(rest, ex));
        if (r < 0)
            return r;
        if (*rest && !(f.description = strdup(rest)))
            return -ENOMEM;
    }

    VmwVnet *v = vnet_get(&c->out, n);
    if (!v) {
        free(f.description);
        return -ENOMEM;
    }
    for (size_t i = 0; i < v->n_forwards; i++) {
        VmwPortFwd *o = &v->forwards[i];
        if (o->proto == f.proto && o->host_port == f.host_port) {
            r = vmw_warn(c->w, c->file, line,
                         "%s port %u of vmnet%u forwarded again: the last one is used",
                         vmw_net_proto_name(f.proto), f.host_port, n);
            free(o->description);
            *o = f;
            return r;
        }
    }
    r = vmw_net_fwd_append(&v->forwards, &v->n_forwards, &f);
    free(f.description);
    return r;
}

/* `add_dhcp_mac_to_ip N MAC IP` */
static int parse_reservation(Ctx *c, unsigned line, char *p)
{
    char ex[VMW_EXCERPT_BUF];
    char *num = vmw_net_word(&p), *mac = vmw_net_word(&p), *ip = vmw_net_word(&p);
    if (!ip)
        return vmw_warn(c->w, c->file, line,
                        "add_dhcp_mac_to_ip needs a vmnet, a MAC and an address: skipped");
    unsigned n;
    int r = read_vnet_number(c, line, num, "add_dhcp_mac_to_ip", &n);
    if (r <= 0)
        return r;
    VmwReservation res;
    if (vmw_net_mac(mac, &res.mac) < 0)
        return vmw_warn(c->w, c->file, line, "add_dhcp_mac_to_ip: '%s' is not a MAC: skipped",
                        vmw_net_excerpt(mac, ex));
    if (addr_ipv4_parse(ip, &res.ip) < 0)
        return vmw_warn(c->w, c->file, line,
                        "add_dhcp_mac_to_ip: '%s' is not an IPv4 address: skipped",
                        vmw_net_excerpt(ip, ex));
    r = warn_extra(c, line, "add_dhcp_mac_to_ip", vmw_trim(p));
    if (r < 0)
        return r;
    VmwVnet *v = vnet_get(&c->out, n);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < v->n_reservations; i++)
        if (addr_mac_equal(&v->reservations[i].mac, &res.mac)) {
            char m[MAC_STRLEN];
            v->reservations[i] = res;
            return vmw_warn(c->w, c->file, line,
                            "MAC '%s' of vmnet%u reserved again: the last one is used",
                            addr_mac_format(&res.mac, m), n);
        }
    VmwReservation *nv = realloc(v->reservations, (v->n_reservations + 1) * sizeof(*nv));
    if (!nv)
        return -ENOMEM;
    v->reservations = nv;
    nv[v->n_reservations++] = res;
    return 0;
}

/* "VERSION=1,0" (blanks around '=' allowed) */
static int parse_version(Ctx *c, unsigned line, char *p)
{
    char ex[VMW_EXCERPT_BUF];
    int r = 0;
    p = vmw_trim(p);
    if (c->version_seen)
        r = vmw_warn(c->w, c->file, line, "VERSION given again: skipped");
    else if (strcmp(vmw_net_unquote(p), "1,0") != 0)
        r = vmw_warn(c->w, c->file, line, "version '%s' is not 1,0: read as 1,0",
                     vmw_net_excerpt(p, ex));
    c->version_seen = true;
    return r;
}

static int parse_line(Ctx *c, unsigned number, char *line)
{
    char ex[VMW_EXCERPT_BUF];
    char *s = vmw_trim(line);
    if (!*s || *s == '#')
        return 0;
    if (strncmp(s, "VERSION", 7) == 0) {
        char *eq = s + 7;
        while (*eq == ' ' || *eq == '\t')
            eq++;
        if (*eq == '=')
            return parse_version(c, number, eq + 1);
    }
    char *p = s;
    char *cmd = vmw_net_word(&p);
    if (strcmp(cmd, "answer") == 0)
        return parse_answer(c, number, p);
    if (strcmp(cmd, "add_bridge_mapping") == 0)
        return parse_bridge(c, number, p);
    if (strcmp(cmd, "add_nat_portfwd") == 0)
        return parse_portfwd(c, number, p);
    if (strcmp(cmd, "add_dhcp_mac_to_ip") == 0)
        return parse_reservation(c, number, p);
    /* vmw_net_word() cut the line after the command: quote the whole of it */
    if (*p)
        p[-1] = ' ';
    return vmw_warn(c->w, c->file, number, "unknown line '%s' skipped", vmw_net_excerpt(s, ex));
}

static int parse_line_cb(void *ctx, unsigned number, char *line)
{
    return parse_line(ctx, number, line);
}

/**
 * vmw_networking_parse: read VMware's `networking` file (@text, @len bytes, may hold NULs;
 * @file names it in warnings). Fills *@ret (clear it with vmw_networking_clear()) and adds a
 * warning to @w for each line or value it skips. Returns 0, or -ENOMEM with @err set (then
 * *@ret is untouched).
 */
int vmw_networking_parse(const char *text, size_t len, const char *file, VmwNetworking *ret,
                         VmwWarnings *w, Error *err)
{
    Ctx c = {.file = file, .w = w};
    int r = vmw_lines_each(text, len, parse_line_cb, &c);
    if (r >= 0 && !c.version_seen)
        r = vmw_warn(w, file, 0, "no 'VERSION=1,0' line: read as version 1,0");
    if (r < 0) {
        vmw_networking_clear(&c.out);
        return error_set(err, r, "Out of memory while reading VMware's networking file '%s'",
                         file ? file : "-");
    }
    *ret = c.out;
    return 0;
}

/**
 * vmw_networking_clear: free what vmw_networking_parse() filled and zero @n. Accepts a zeroed
 * struct.
 */
void vmw_networking_clear(VmwNetworking *n)
{
    for (size_t i = 0; i < n->n; i++)
        vnet_clear(&n->v[i]);
    free(n->v);
    free(n->auto_bridge_interface);
    *n = (VmwNetworking){0};
}
