/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pure: VMware's networks and machines as a kvmlab lab file. Every value that came from a
 * VMware file is either checked against the lab file's own rules (lab/addrplan.c: subnets,
 * ranges, reserved addresses, interface names) or made safe (vmw_safe_name), and every string is
 * written double-quoted with escapes, so nothing from the files reaches the lab file raw.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/addrplan.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/lab.h"
#include "kvmlab/vmware.h"

#define LEASE_MAX_S   (7 * 24 * 3600)
#define NODE_NAME_MAX 24
#define NET_NAME_MAX  15

/* ---- the summary ----------------------------------------------------------------------- */

typedef struct Ctx {
    VmwWarnings *summary;
    int oom;
} Ctx;

static void say(Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(Ctx *c, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&msg, fmt, ap);
    va_end(ap);
    char **v = r >= 0 ? realloc(c->summary->v, (c->summary->n + 1) * sizeof(*v)) : NULL;
    if (!v) {
        free(msg);
        c->oom = -ENOMEM;
        return;
    }
    c->summary->v = v;
    v[c->summary->n++] = msg;
}

/* ---- YAML text -------------------------------------------------------------------------- */

/* Whether @s is UTF-8 without control characters: what a lab file may carry in a string. */
static bool text_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
        int n = *p < 0x80             ? 0
                : (*p & 0xe0) == 0xc0 ? 1
                : (*p & 0xf0) == 0xe0 ? 2
                : (*p & 0xf8) == 0xf0 ? 3
                                      : -1;
        if (n < 0 || (n == 1 && *p < 0xc2))
            return false;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xc0) != 0x80)
                return false;
    }
    return true;
}

/* A double-quoted YAML scalar of @s (text_ok() already holds). */
static void yq(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static const char *ip_str(uint32_t ip, char *buf)
{
    return addr_ipv4_format(ip, buf);
}

/* ---- networks -------------------------------------------------------------------------- */

typedef struct Fwd {
    VmwProto proto;
    uint16_t host_port, guest_port;
    uint32_t guest_ip;
} Fwd;

typedef struct Net {
    bool used;    /* a node's NIC is on it */
    bool dropped; /* cannot be made: not written, NICs on it dropped */
    char key[NET_NAME_MAX + 8];
    unsigned vnet; /* VMware's number; UINT32 max for a custom name */
    VmnetType type;
    char *interface; /* bridged */
    bool has_subnet;
    Ipv4Net subnet;
    bool has_range;
    uint32_t start, end, lease;
    VmwReservation *res;
    size_t n_res;
    Fwd *fwd;
    size_t n_fwd;
} Net;

typedef struct Nets {
    Net *v;
    size_t n;
} Nets;

static Net *net_find(Nets *nets, const char *key)
{
    for (size_t i = 0; i < nets->n; i++)
        if (strcmp(nets->v[i].key, key) == 0)
            return &nets->v[i];
    return NULL;
}

static Net *net_add(Ctx *c, Nets *nets, const char *key, unsigned vnet)
{
    Net *v = realloc(nets->v, (nets->n + 1) * sizeof(*v));
    if (!v) {
        c->oom = -ENOMEM;
        return NULL;
    }
    nets->v = v;
    Net *n = &v[nets->n++];
    memset(n, 0, sizeof(*n));
    snprintf(n->key, sizeof(n->key), "%s", key);
    n->vnet = vnet;
    return n;
}

static unsigned mask_prefix(uint32_t mask, bool *ok)
{
    unsigned p = 0;
    while (p < 32 && (mask & (0x80000000u >> p)))
        p++;
    *ok = p == 32 || (mask << p) == 0;
    return p;
}

static const VmwDhcpSubnet *dhcp_subnet(const VmwDhcpd *d, const Ipv4Net *net)
{
    for (size_t i = 0; d && i < d->n_subnets; i++)
        if ((d->subnets[i].subnet & addr_netmask(net->prefix)) == net->addr)
            return &d->subnets[i];
    return NULL;
}

static void res_add(Ctx *c, Net *n, const MacAddr *mac, uint32_t ip, const char *from)
{
    char a[IPV4_STRLEN], m[MAC_STRLEN];
    const char *role;
    if (!addr_net_contains(&n->subnet, ip)) {
        say(c, "dropped: %s reservation %s -> %s: outside %s's subnet", from,
            addr_mac_format(mac, m), ip_str(ip, a), n->key);
        return;
    }
    if ((role = addrplan_reserved_role(n->type, &n->subnet, ip))) {
        say(c, "dropped: %s reservation %s -> %s: that is %s of %s", from, addr_mac_format(mac, m),
            ip_str(ip, a), role, n->key);
        return;
    }
    if (mac->b[0] & 1) {
        say(c, "dropped: %s reservation %s: a multicast MAC", from, addr_mac_format(mac, m));
        return;
    }
    for (size_t i = 0; i < n->n_res; i++)
        if (addr_mac_equal(&n->res[i].mac, mac) || n->res[i].ip == ip) {
            say(c, "dropped: %s reservation %s -> %s: the same MAC or address is reserved already",
                from, addr_mac_format(mac, m), ip_str(ip, a));
            return;
        }
    VmwReservation *v = realloc(n->res, (n->n_res + 1) * sizeof(*v));
    if (!v) {
        c->oom = -ENOMEM;
        return;
    }
    n->res = v;
    v[n->n_res++] = (VmwReservation){*mac, ip};
}

static void fwd_add(Ctx *c, Net *n, const VmwPortFwd *f)
{
    for (size_t i = 0; i < n->n_fwd; i++)
        if (n->fwd[i].proto == f->proto && n->fwd[i].host_port == f->host_port)
            return; /* networking and nat.conf often say the same */
    Fwd *v = realloc(n->fwd, (n->n_fwd + 1) * sizeof(*v));
    if (!v) {
        c->oom = -ENOMEM;
        return;
    }
    n->fwd = v;
    v[n->n_fwd++] = (Fwd){f->proto, f->host_port, f->guest_port, f->guest_ip};
}

/* vmnetN from VMware's networking, dhcpd.conf and nat.conf. */
static void net_from_vnet(Ctx *c, const VmwImportInput *in, Nets *nets, const VmwVnet *vn)
{
    char key[NET_NAME_MAX + 8];
    snprintf(key, sizeof(key), "vmnet%u", vn->n);
    if (vn->n > 255) {
        say(c, "dropped: vmnet%u: VMware numbers its networks 0 to 255", vn->n);
        return;
    }
    Net *n = net_add(c, nets, key, vn->n);
    if (!n)
        return;
    const char *iface = vn->bridge_interface ? vn->bridge_interface
                        : vn->n == 0         ? in->default_bridge_nic
                                             : NULL;
    if (vn->n == 0 || vn->bridge_interface) {
        n->type = VMNET_BRIDGED;
        if (!iface) {
            say(c,
                "dropped: %s: bridged, but to which host NIC is not known (no "
                "add_bridge_mapping, no default route)",
                key);
            n->dropped = true;
            return;
        }
        if (!addrplan_ifname_valid(iface)) {
            say(c, "dropped: %s: bridged to an interface whose name is not usable", key);
            n->dropped = true;
            return;
        }
        n->interface = strdup(iface);
        if (!n->interface)
            c->oom = -ENOMEM;
        return;
    }
    n->type = vn->nat ? VMNET_NAT : vn->virtual_adapter ? VMNET_HOSTONLY : VMNET_ISOLATED;
    if (n->type == VMNET_ISOLATED && vn->dhcp)
        say(c,
            "%s: host-only without a host adapter is an isolated network here, and isolated "
            "networks have no DHCP server: its DHCP is dropped",
            key);
    if (vn->has_subnet) {
        bool ok;
        unsigned prefix = mask_prefix(vn->netmask, &ok);
        Ipv4Net s = {vn->subnet & addr_netmask(prefix), prefix};
        if (!ok || !addrplan_prefix_fits(n->type, prefix)) {
            char a[IPV4_STRLEN];
            say(c,
                "dropped: %s's subnet %s with netmask %s: not a subnet kvmlab can lay out; a "
                "free /24 is picked instead",
                key, ip_str(vn->subnet, a), ip_str(vn->netmask, (char[IPV4_STRLEN]){0}));
        } else {
            n->has_subnet = true;
            n->subnet = s;
        }
    }
    if (!n->has_subnet && n->type == VMNET_ISOLATED)
        return;
    if (!n->has_subnet) {
        if (vn->n_reservations || vn->n_forwards)
            say(c,
                "dropped: %s's reservations and port forwards: without its subnet they "
                "cannot be placed",
                key);
        return;
    }
    if (!vn->dhcp && addrplan_has_dhcp(n->type))
        say(c,
            "%s: VMware runs no DHCP on it, kvmlab's networks always do; guests with "
            "static addresses keep them",
            key);
    const VmwDhcpd *d = in->windows ? in->dhcpd[0] : in->dhcpd[vn->n];
    const VmwDhcpSubnet *ds = dhcp_subnet(d, &n->subnet);
    if (ds && ds->has_range && addrplan_has_dhcp(n->type)) {
        uint32_t bad = 0;
        AddrplanRange rc =
                addrplan_range_check(n->type, &n->subnet, ds->range_start, ds->range_end, &bad);
        char a[IPV4_STRLEN], b[IPV4_STRLEN];
        if (rc == ADDRPLAN_RANGE_OK) {
            n->has_range = true;
            n->start = ds->range_start;
            n->end = ds->range_end;
        } else {
            say(c,
                "dropped: %s's DHCP range %s-%s: it takes addresses kvmlab's plan keeps; "
                "VMware's default pool is used",
                key, ip_str(ds->range_start, a), ip_str(ds->range_end, b));
        }
    }
    if (!n->has_range && n->subnet.prefix != 24 && addrplan_has_dhcp(n->type)) {
        /* a pool is needed in the file when the subnet is not a /24 */
        addrplan_default_pool(&n->subnet, &n->start, &n->end);
        n->has_range = true;
    }
    if (ds && ds->default_lease) {
        uint32_t l = ds->default_lease;
        if (l < ADDRPLAN_LEASE_MIN_S || l > LEASE_MAX_S) {
            say(c, "%s: lease %u s is outside 2 minutes to a week; kept within", key, l);
            l = l < ADDRPLAN_LEASE_MIN_S ? ADDRPLAN_LEASE_MIN_S : LEASE_MAX_S;
        }
        n->lease = l;
    }
    if (addrplan_has_dhcp(n->type)) {
        for (size_t i = 0; d && i < d->n_hosts; i++)
            if (addr_net_contains(&n->subnet, d->hosts[i].ip))
                res_add(c, n, &d->hosts[i].mac, d->hosts[i].ip, "dhcpd.conf");
        for (size_t i = 0; i < vn->n_reservations; i++)
            res_add(c, n, &vn->reservations[i].mac, vn->reservations[i].ip, "networking");
    } else if (vn->n_reservations) {
        say(c, "dropped: %s's reservations: %s networks have no DHCP server", key,
            vmnet_type_to_string(n->type));
    }
    const VmwNatConf *nc = in->windows ? in->nat[0] : in->nat[vn->n];
    if (n->type == VMNET_NAT) {
        for (size_t i = 0; nc && i < nc->n_forwards; i++)
            fwd_add(c, n, &nc->forwards[i]);
        for (size_t i = 0; i < vn->n_forwards; i++)
            fwd_add(c, n, &vn->forwards[i]);
    } else if (vn->n_forwards) {
        say(c, "dropped: %s's port forwards: only NAT networks forward ports", key);
    }
}

/* Without a networking file (Windows keeps it in the registry): the vmnets the DHCP files know
 * by the host's adapter on them (MAC 00:50:56:C0:00:NN), each on the subnet that holds the
 * adapter's address; NAT where nat.conf's gateway lies in it (Windows: vmnet8's). */
static void nets_from_adapters(Ctx *c, const VmwImportInput *in, Nets *nets)
{
    for (unsigned k = 0; k < 256; k++) {
        const VmwDhcpd *d = in->dhcpd[k];
        for (size_t i = 0; d && i < d->n_adapters; i++) {
            unsigned vnet = d->adapters[i].vnet;
            char key[NET_NAME_MAX + 8];
            snprintf(key, sizeof(key), "vmnet%u", vnet);
            if (net_find(nets, key) || (!in->windows && vnet != k))
                continue;
            const VmwDhcpSubnet *s = NULL;
            for (size_t j = 0; j < d->n_subnets && !s; j++) {
                Ipv4Net n = {d->subnets[j].subnet, 0};
                bool ok;
                n.prefix = mask_prefix(d->subnets[j].netmask, &ok);
                if (ok && addr_net_contains(&n, d->adapters[i].ip))
                    s = &d->subnets[j];
            }
            if (!s)
                continue;
            const VmwNatConf *nc = in->windows ? in->nat[0] : in->nat[vnet];
            Ipv4Net sn = {s->subnet, 0};
            bool ok;
            sn.prefix = mask_prefix(s->netmask, &ok);
            bool nat = nc && nc->has_host && addr_net_contains(&sn, nc->host_ip);
            VmwVnet v = {.n = vnet,
                         .nat = nat,
                         .dhcp = true,
                         .virtual_adapter = true,
                         .has_subnet = true,
                         .subnet = s->subnet,
                         .netmask = s->netmask};
            say(c, "%s: from the DHCP file's host adapter %s (no networking file)", key,
                nat ? "and nat.conf's gateway" : "");
            net_from_vnet(c, in, nets, &v);
        }
    }
}

/* The network a VMware NIC is on: nat vmnet8, hostonly vmnet1, bridged (or none) vmnet0,
 * custom the named vnet. NULL with a summary line when it cannot be placed. */
static Net *net_for_nic(Ctx *c, const VmwImportInput *in, Nets *nets, const VmwNic *nic,
                        const char *node)
{
    const char *t = nic->connection_type;
    char key[NET_NAME_MAX + 8];
    unsigned vnet = 0;
    if (!t || strcasecmp(t, "bridged") == 0)
        vnet = 0;
    else if (strcasecmp(t, "nat") == 0)
        vnet = 8;
    else if (strcasecmp(t, "hostonly") == 0)
        vnet = 1;
    else if (strcasecmp(t, "custom") == 0 && nic->vnet) {
        /* "vmnet5", Windows "VMnet5"; anything else is a name made safe */
        const char *p = nic->vnet;
        const char *base = strrchr(p, '\\') ? strrchr(p, '\\') + 1 : p;
        char *end = NULL;
        if (strncasecmp(base, "vmnet", 5) == 0 && base[5] >= '0' && base[5] <= '9' &&
            (vnet = (unsigned)strtoul(base + 5, &end, 10), end && !*end) && vnet <= 255) {
            ;
        } else {
            _cleanup_free_ char *safe = vmw_safe_name(nic->vnet, NET_NAME_MAX);
            if (!safe) {
                c->oom = -ENOMEM;
                return NULL;
            }
            Net *n = net_find(nets, safe);
            if (!n && (n = net_add(c, nets, safe, 0xffffffffu))) {
                n->type = VMNET_HOSTONLY;
                say(c,
                    "%s: custom network '%s' is not in VMware's networking file: a host-only "
                    "network with a subnet kvmlab picks",
                    safe, safe);
            }
            return n;
        }
    } else {
        say(c, "dropped: a NIC of %s: connection type '%s' is not one VMware writes", node,
            text_ok(t) ? t : "(not text)");
        return NULL;
    }
    snprintf(key, sizeof(key), "vmnet%u", vnet);
    Net *n = net_find(nets, key);
    if (n)
        return n->dropped ? NULL : n;
    if (in->networking)
        say(c, "%s: not in %s: VMware's defaults for it", key,
            in->networking_file ? in->networking_file : "the networking file");
    /* VMware's defaults: VMnet0 bridged, VMnet1 host-only, VMnet8 NAT, custom host-only */
    VmwVnet def = {.n = vnet, .nat = vnet == 8, .virtual_adapter = vnet != 0, .dhcp = vnet != 0};
    net_from_vnet(c, in, nets, &def);
    n = net_find(nets, key);
    return n && !n->dropped ? n : NULL;
}

static void nets_clear(Nets *nets)
{
    for (size_t i = 0; i < nets->n; i++) {
        free(nets->v[i].interface);
        free(nets->v[i].res);
        free(nets->v[i].fwd);
    }
    free(nets->v);
}

/* ---- nodes ------------------------------------------------------------------------------- */

typedef struct NodeNic {
    Net *net;
    MacAddr mac;
    bool has_mac;
    uint32_t ip; /* a VMware reservation of its MAC on its network: its fixed address */
    const char *model;
} NodeNic;

typedef struct Node {
    bool dropped; /* no disk to boot from: not written */
    char *name;
    const VmwImportVm *vm;
    const char *os;
    NodeNic *nics;
    size_t n_nics;
} Node;

static bool name_taken(const Node *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return true;
    return false;
}

/* The node's name: its display name (else the .vmx's file name) made safe, numbered when taken. */
static char *node_name(const VmwImportVm *vm, const Node *done, size_t n_done)
{
    const char *raw = vm->vmx->display_name;
    _cleanup_free_ char *file = NULL;
    if (!raw || !*raw) {
        const char *b = strrchr(vm->vmx_path, '/') ? strrchr(vm->vmx_path, '/') + 1 : vm->vmx_path;
        file = strndup(b, strcspn(b, "."));
        raw = file ? file : "vm";
    }
    char *name = vmw_safe_name(raw, NODE_NAME_MAX - 3);
    for (unsigned k = 2; name && name_taken(done, n_done, name) && k < 1000; k++) {
        char *again = NULL;
        _cleanup_free_ char *base = vmw_safe_name(raw, NODE_NAME_MAX - 4);
        if (!base || asprintf(&again, "%s-%u", base, k) < 0) {
            free(name);
            return NULL;
        }
        free(name);
        name = again;
    }
    return name;
}

static void nodes_clear(Node *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].nics);
    }
    free(v);
}

/* A NIC's fixed address: a VMware reservation of its MAC on its network becomes the NIC's, and
 * the reservation goes (kvmlab reserves a node's address itself). */
static uint32_t take_reservation(Net *n, const MacAddr *mac)
{
    for (size_t i = 0; i < n->n_res; i++)
        if (addr_mac_equal(&n->res[i].mac, mac)) {
            uint32_t ip = n->res[i].ip;
            memmove(&n->res[i], &n->res[i + 1], (n->n_res - i - 1) * sizeof(*n->res));
            n->n_res--;
            return ip;
        }
    return 0;
}

/* Can disk @i of @vm be written into a lab file? */
static bool disk_importable(const VmwImportVm *vm, size_t i)
{
    const char *p = vm->paths ? vm->paths[i] : NULL;
    return vm->vmx->disks[i].kind == VMW_DISK && p && vm->exists[i] && text_ok(p);
}

static void node_from_vm(Ctx *c, const VmwImportInput *in, Nets *nets, Node *node,
                         const VmwImportVm *vm)
{
    const VmwVmx *x = vm->vmx;
    node->vm = vm;
    size_t disks = 0;
    for (size_t i = 0; i < x->n_disks; i++)
        disks += disk_importable(vm, i);
    if (!disks) {
        for (size_t i = 0; i < x->n_disks; i++)
            if (x->disks[i].kind == VMW_DISK)
                say(c, "dropped: %s's disk %s: %s", node->name, x->disks[i].slot,
                    !vm->paths || !vm->paths[i] ? "it names no file"
                    : !vm->exists[i]            ? "its file is not there"
                                     : "its path has bytes a lab file cannot hold (not UTF-8, or "
                                       "control characters)");
        say(c, "dropped: %s (%s): no disk could be imported, so it has nothing to boot from",
            node->name, text_ok(vm->vmx_path) ? vm->vmx_path : "a .vmx");
        node->dropped = true;
        return;
    }
    node->os = x->guest_os ? vmw_guest_os_osinfo(x->guest_os) : NULL;
    if (x->guest_os && !node->os)
        say(c,
            "%s: guestOS '%s' has no osinfo id here: disk buses and NIC models are chosen "
            "without the OS's facts",
            node->name, text_ok(x->guest_os) ? x->guest_os : "(not text)");
    node->nics = calloc(x->n_nics + 1, sizeof(*node->nics));
    if (!node->nics) {
        c->oom = -ENOMEM;
        return;
    }
    for (size_t i = 0; i < x->n_nics; i++) {
        const VmwNic *vn = &x->nics[i];
        Net *n = net_for_nic(c, in, nets, vn, node->name);
        if (!n)
            continue;
        NodeNic *nn = &node->nics[node->n_nics];
        nn->net = n;
        if (vn->has_mac && !(vn->mac.b[0] & 1)) {
            nn->mac = vn->mac;
            nn->has_mac = true;
            if (n->type != VMNET_BRIDGED && n->has_subnet)
                nn->ip = take_reservation(n, &vn->mac);
        } else if (vn->has_mac) {
            say(c, "%s: ethernet%u has a multicast MAC: a new one is derived", node->name,
                vn->index);
        }
        /* the model the guest has drivers for: kvmlab's own choice (virtio) when its OS has
         * virtio-net, else the emulated one nearest VMware's */
        nn->model = vm->virtio_net ? NULL : vmw_nic_model(vn->virtual_dev, false);
        node->n_nics++;
        n->used = true;
    }
}

/* The port forwards of @n whose address is a node's: their node; the others are dropped. */
static const char *forward_node(const Node *nodes, size_t n_nodes, const Net *n, uint32_t ip)
{
    for (size_t i = 0; i < n_nodes; i++)
        for (size_t k = 0; k < nodes[i].n_nics && !nodes[i].dropped; k++)
            if (nodes[i].nics[k].net == n && nodes[i].nics[k].ip == ip)
                return nodes[i].name;
    return NULL;
}

/* ---- writing ------------------------------------------------------------------------------ */

static void write_net(Ctx *c, FILE *f, const Net *n, const Node *nodes, size_t n_nodes)
{
    char a[IPV4_STRLEN], b[IPV4_STRLEN], cidr[CIDR_STRLEN], m[MAC_STRLEN];
    fprintf(f, "  %s:\n    type: %s\n", n->key, vmnet_type_to_string(n->type));
    if (n->type == VMNET_BRIDGED) {
        /* VMware's bridged mode moves nothing on the host, but its guests share the LAN with
         * the host: kvmlab's bridge backend is what gives both */
        fputs("    interface: ", f);
        yq(f, n->interface);
        fputs("\n    backend: bridge\n", f);
        say(c,
            "%s: bridged to %s; `up` moves %s onto a bridge kvmlab makes for it (say macvtap: "
            "true and drop backend to leave the host as it is)",
            n->key, n->interface, n->interface);
        return;
    }
    if (n->has_subnet)
        fprintf(f, "    subnet: %s\n", addr_cidr_format(&n->subnet, cidr));
    if (n->has_range || n->lease) {
        fputs("    dhcp: {", f);
        if (n->has_range)
            fprintf(f, "start: %s, end: %s", ip_str(n->start, a), ip_str(n->end, b));
        if (n->lease)
            fprintf(f, "%slease: %u", n->has_range ? ", " : "", n->lease);
        fputs("}\n", f);
    }
    if (n->n_res) {
        fputs("    reservations:\n", f);
        for (size_t i = 0; i < n->n_res; i++)
            fprintf(f, "      - {mac: \"%s\", ip: %s}\n", addr_mac_format(&n->res[i].mac, m),
                    ip_str(n->res[i].ip, a));
    }
    size_t kept = 0;
    for (size_t i = 0; i < n->n_fwd; i++) {
        const Fwd *fw = &n->fwd[i];
        const char *node = forward_node(nodes, n_nodes, n, fw->guest_ip);
        if (!node) {
            say(c,
                "dropped: %s port forward %s/%u -> %s:%u: no imported VM has that address "
                "(give its .vmx, or add the forward by hand with node:)",
                n->key, fw->proto == VMW_TCP ? "tcp" : "udp", fw->host_port,
                ip_str(fw->guest_ip, a), fw->guest_port);
            continue;
        }
        if (!kept++)
            fputs("    port_forwards:\n", f);
        fprintf(f, "      - {proto: %s, host_port: %u, node: %s, port: %u}\n",
                fw->proto == VMW_TCP ? "tcp" : "udp", fw->host_port, node, fw->guest_port);
    }
    say(c, "%s: %s%s%s, %zu reservation%s, %zu port forward%s", n->key,
        vmnet_type_to_string(n->type), n->has_subnet ? " " : " (subnet picked by kvmlab)",
        n->has_subnet ? addr_cidr_format(&n->subnet, cidr) : "", n->n_res, n->n_res == 1 ? "" : "s",
        kept, kept == 1 ? "" : "s");
}

/* The controllers the lab file takes as a hint for the disk bus. */
static bool controller_known(const char *ctl)
{
    static const char *const known[] = {"lsilogic", "lsisas1068", "pvscsi", "buslogic",
                                        "sata",     "ide",        "nvme",   NULL};
    for (size_t i = 0; ctl && known[i]; i++)
        if (strcmp(ctl, known[i]) == 0)
            return true;
    return false;
}

static void write_node(Ctx *c, FILE *f, const Node *node, bool convert)
{
    const VmwVmx *x = node->vm->vmx;
    const VmwImportVm *vm = node->vm;
    fprintf(f, "  - name: %s\n", node->name);
    if (node->os)
        fprintf(f, "    os: %s\n", node->os);
    fprintf(f, "    cpus: %u\n", x->numvcpus ? x->numvcpus : 1);
    fprintf(f, "    memory: %llu\n", (unsigned long long)(x->memsize_mib ? x->memsize_mib : 1024));
    if (x->firmware && strcasecmp(x->firmware, "efi") == 0) {
        fputs("    firmware: efi\n", f);
        if (x->secure_boot)
            fputs("    secure_boot: true\n", f);
    }
    /* imported guests have no cloud-init seed to read: ready once they have an address */
    fputs("    cloud_init: false\n", f);
    size_t n_disks = 0, n_cd = 0;
    for (size_t i = 0; i < x->n_disks; i++) {
        const VmwDisk *d = &x->disks[i];
        if (d->kind != VMW_DISK)
            continue;
        const char *p = vm->paths ? vm->paths[i] : NULL;
        if (!p || !vm->exists[i] || !text_ok(p)) {
            say(c, "dropped: %s's disk %s: %s", node->name, d->slot,
                !p               ? "it names no file"
                : !vm->exists[i] ? "its file is not there"
                                 : "its path has bytes a lab file cannot hold (not UTF-8, or "
                                   "control characters)");
            continue;
        } else if (convert) {
            if (!n_disks++)
                fputs("    disks:\n", f);
            fprintf(f, "      - {image: %s-disk%zu", node->name, n_disks - 1);
        } else {
            if (!n_disks++)
                fputs("    disks:\n", f);
            fputs("      - {path: ", f);
            yq(f, p);
        }
        if (controller_known(d->controller))
            fprintf(f, ", controller: %s", d->controller);
        fputs("}\n", f);
    }
    for (size_t i = 0; i < x->n_disks; i++) {
        const VmwDisk *d = &x->disks[i];
        if (d->kind != VMW_CDROM)
            continue;
        const char *p = vm->paths ? vm->paths[i] : NULL;
        if (!n_cd++)
            fputs("    cdroms:\n", f);
        if (d->host_drive || !p || !vm->exists[i] || !text_ok(p)) {
            if (!d->host_drive && p)
                say(c, "%s: the ISO of %s cannot be found: an empty drive instead", node->name,
                    d->slot);
            fputs("      - null\n", f);
            continue;
        }
        fputs("      - ", f);
        yq(f, p);
        fputc('\n', f);
    }
    if (node->n_nics) {
        fputs("    networks:\n", f);
        for (size_t i = 0; i < node->n_nics; i++) {
            const NodeNic *nn = &node->nics[i];
            char m[MAC_STRLEN], a[IPV4_STRLEN];
            fprintf(f, "      - {network: %s", nn->net->key);
            if (nn->has_mac)
                fprintf(f, ", mac: \"%s\"", addr_mac_format(&nn->mac, m));
            if (nn->ip)
                fprintf(f, ", ip: %s", ip_str(nn->ip, a));
            if (nn->model)
                fprintf(f, ", model: %s", nn->model);
            fputs("}\n", f);
        }
    }
    say(c, "%s: from %s: %u vCPU, %llu MiB, %zu disk%s, %zu CD-ROM%s, %zu NIC%s%s%s", node->name,
        text_ok(vm->vmx_path) ? vm->vmx_path : "(a .vmx)", x->numvcpus ? x->numvcpus : 1,
        (unsigned long long)(x->memsize_mib ? x->memsize_mib : 1024), n_disks,
        n_disks == 1 ? "" : "s", n_cd, n_cd == 1 ? "" : "s", node->n_nics,
        node->n_nics == 1 ? "" : "s", node->os ? ", os " : "", node->os ? node->os : "");
}

int vmw_import_build(const VmwImportInput *in, char **ret_text, VmwWarnings *summary, Error *err)
{
    Ctx c = {.summary = summary};
    Nets nets = {0};
    Node *nodes = calloc(in->n_vms + 1, sizeof(*nodes));
    size_t n_nodes = 0;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = NULL;
    int r = 0;

    if (!nodes)
        return error_set(err, -ENOMEM, "Out of memory");
    for (size_t i = 0; in->networking && i < in->networking->n; i++)
        net_from_vnet(&c, in, &nets, &in->networking->v[i]);
    if (!in->networking)
        nets_from_adapters(&c, in, &nets);
    for (size_t i = 0; i < in->n_vms && !c.oom; i++) {
        Node *node = &nodes[n_nodes];
        node->name = node_name(&in->vms[i], nodes, n_nodes);
        if (!node->name) {
            c.oom = -ENOMEM;
            break;
        }
        n_nodes++;
        node_from_vm(&c, in, &nets, node, &in->vms[i]);
    }
    size_t n_nets = 0;
    for (size_t i = 0; i < nets.n; i++)
        n_nets += !nets.v[i].dropped;
    if (c.oom)
        goto oom;
    size_t n_kept = 0;
    for (size_t i = 0; i < n_nodes; i++)
        n_kept += !nodes[i].dropped;
    if (n_nets == 0 && n_kept == 0) {
        r = error_set(err, -EINVAL,
                      "Nothing to import: no VMware network and no virtual machine was found");
        goto out;
    }
    if (!(f = open_memstream(&buf, &len)))
        goto oom;
    fputs("# Imported from VMware Workstation by `kvmlab import vmware`.\n", f);
    fprintf(f, "lab: %s\n", in->lab);
    if (n_nets) {
        fputs("networks:\n", f);
        for (size_t i = 0; i < nets.n; i++)
            if (!nets.v[i].dropped)
                write_net(&c, f, &nets.v[i], nodes, n_nodes);
    }
    if (in->convert) {
        /* every disk a node could take, as an image of the lab: converted into the store */
        bool any = false;
        for (size_t i = 0; i < n_nodes; i++) {
            const VmwImportVm *vm = nodes[i].vm;
            size_t k = 0;
            if (nodes[i].dropped)
                continue;
            for (size_t d = 0; d < vm->vmx->n_disks; d++) {
                const char *p = vm->paths ? vm->paths[d] : NULL;
                if (vm->vmx->disks[d].kind != VMW_DISK || !p || !vm->exists[d] || !text_ok(p))
                    continue;
                if (!any)
                    fputs("images:\n", f);
                any = true;
                fprintf(f, "  %s-disk%zu: {path: ", nodes[i].name, k++);
                yq(f, p);
                if (nodes[i].os)
                    fprintf(f, ", os: %s", nodes[i].os);
                fputs("}\n", f);
            }
        }
    }
    if (n_kept) {
        fputs("nodes:\n", f);
        for (size_t i = 0; i < n_nodes; i++)
            if (!nodes[i].dropped)
                write_node(&c, f, &nodes[i], in->convert);
    }
    if (fclose(f) != 0) {
        f = NULL;
        goto oom;
    }
    f = NULL;
    if (c.oom)
        goto oom;
    *ret_text = steal_pointer(&buf);
    goto out;
oom:
    r = error_set(err, -ENOMEM, "Out of memory");
out:
    if (f)
        fclose(f);
    free(buf);
    nodes_clear(nodes, n_nodes);
    nets_clear(&nets);
    return r;
}
