/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lab file parser: The 'networks' section.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "kvmlab/addrplan.h"
#include "kvmlab/cleanup.h"
#include "parser.h"

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

/* ---- networks --------------------------------------------------------------------------- */

static const char *const vmnet_type_names[] = {"nat", "hostonly", "bridged", "isolated", NULL};
static const char *const vmnet_backend_names[] = {"libvirt", "bridge", NULL};
static const char *const proto_names[] = {"tcp", "udp", NULL};

/* A guest address on @net: inside the subnet and not one the address plan reserves. */
bool check_guest_ip(Ctx *c, const LabNetwork *net, uint32_t ip, LabLoc loc, const char *what)
{
    char a[IPV4_STRLEN], cidr[CIDR_STRLEN];
    const char *role;

    if (!addr_net_contains(&net->subnet, ip)) {
        diag(c, loc, "%s '%s' is outside subnet '%s' of network '%s'", what,
             addr_ipv4_format(ip, a), addr_cidr_format(&net->subnet, cidr), net->name);
        return false;
    }
    if ((role = addrplan_reserved_role(net->type, &net->subnet, ip))) {
        diag(c, loc, "%s '%s' is %s of network '%s'", what, addr_ipv4_format(ip, a), role,
             net->name);
        return false;
    }
    return true;
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
            uint32_t reserved = 0;
            char f[IPV4_STRLEN];
            switch (addrplan_range_check(net->type, &net->subnet, s, e, &reserved)) {
            case ADDRPLAN_RANGE_OK:
                break;
            case ADDRPLAN_RANGE_START_OUTSIDE:
            case ADDRPLAN_RANGE_END_OUTSIDE:
                ok = false; /* reported above */
                break;
            case ADDRPLAN_RANGE_EMPTY:
                diag(c, start->loc, "dhcp range '%s' to '%s' is empty: 'start' comes after 'end'",
                     addr_ipv4_format(s, a), addr_ipv4_format(e, b));
                ok = false;
                break;
            case ADDRPLAN_RANGE_RESERVED:
                diag(c, start->loc, "dhcp range '%s' to '%s' includes '%s', %s",
                     addr_ipv4_format(s, a), addr_ipv4_format(e, b), addr_ipv4_format(reserved, f),
                     addrplan_reserved_role(net->type, &net->subnet, reserved));
                ok = false;
                break;
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
        else if (secs < ADDRPLAN_LEASE_MIN_S)
            diag(c, lease->loc, "dhcp lease '%s' is shorter than %d seconds", s,
                 ADDRPLAN_LEASE_MIN_S);
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
    for (size_t i = 0; i < rp->value->n_items && !c->stop; i++) {
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
    for (size_t i = 0; i < fp->value->n_items && !c->stop; i++) {
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

void parse_network(Ctx *c, const YPair *np)
{
    static const char *const keys[] = {"type",      "backend",      "subnet",
                                       "dhcp",      "reservations", "port_forwards",
                                       "interface", "macvtap",      NULL};
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
        net->backend_loc = map_pair(m, "backend")->key->loc;
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
        if (!y_cidr(c, p->value, "subnet", &net->subnet)) {
            aux->subnet_bad = true;
        } else if (aux->type_known && !addrplan_prefix_fits(net->type, net->subnet.prefix)) {
            char cidr[CIDR_STRLEN];
            diag(c, p->value->loc,
                 addrplan_has_dhcp(net->type)
                         ? "subnet '%s' of %s network '%s' leaves no room for the address plan "
                           "(host, static addresses and a DHCP pool); use a prefix from /%d to /%u"
                         : "subnet '%s' of %s network '%s' is too small; use a prefix from /%d to "
                           "/%u",
                 addr_cidr_format(&net->subnet, cidr), vmnet_type_to_string(net->type), net->name,
                 ADDRPLAN_PREFIX_MIN, addrplan_prefix_max(net->type));
            aux->subnet_bad = true;
        } else {
            net->has_subnet = true;
        }
    }

    const YNode *iface = map_get(m, "interface");
    if (iface && aux->type_known && !bridged) {
        diag(c, map_pair(m, "interface")->key->loc,
             "'interface' only applies to bridged networks, and network '%s' is %s", net->name,
             vmnet_type_to_string(net->type));
    } else if (iface) {
        const char *s = y_str(c, iface, "'interface'");
        if (s && !addrplan_ifname_valid(s))
            diag(c, iface->loc,
                 "interface '%s' is not a usable interface name: 1 to %d letters, digits, '-', '_' "
                 "or '.', and not '.' or '..'",
                 s, ADDRPLAN_IFNAME_MAX);
        else if (s)
            net->interface = xstrdup(s);
    } else if (bridged) {
        diag(c, m->loc,
             "bridged network '%s' needs 'interface', the host NIC or bridge to attach to",
             net->name);
    }

    if ((p = map_pair(m, "macvtap"))) {
        if (aux->type_known && !bridged)
            diag(c, p->key->loc,
                 "'macvtap' only applies to bridged networks, and network '%s' is %s", net->name,
                 vmnet_type_to_string(net->type));
        else if (y_bool(c, p->value, "'macvtap'", &net->macvtap) && net->macvtap &&
                 net->backend == VMNET_BACKEND_BRIDGE)
            diag(c, p->key->loc,
                 "network '%s' asks for 'macvtap' and backend 'bridge': macvtap attaches guests "
                 "to the NIC without a bridge; choose one",
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
