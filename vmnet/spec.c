/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kvmlab/vmnet.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/addrplan.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/spectext.h"

/* "<lab>-<key>", the name of every libvirt object a lab makes. New string, NULL on ENOMEM. */
char *vmnet_object_name(const char *lab, const char *key)
{
    char *s = NULL;
    if (asprintf(&s, "%s-%s", lab, key) < 0)
        return NULL;
    return s;
}

/* Append to @out (room for @max characters) the characters of @s an interface name may hold,
 * at most @n of them, without a trailing '-'. */
static void name_part(char *out, size_t max, const char *s, size_t n)
{
    size_t len = strlen(out);
    for (const char *p = s; *p && n > 0 && len < max; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-')
            continue;
        out[len++] = *p;
        n--;
    }
    while (len > 0 && out[len - 1] == '-')
        len--;
    out[len] = '\0';
}

char *vmnet_bridge_name_alt(const char *lab, const char *key, unsigned attempt)
{
    char suffix[VMNET_IFNAMSIZ] = "", out[VMNET_IFNAMSIZ] = "";
    _cleanup_free_ char *full = vmnet_object_name(lab, key);
    const size_t max = VMNET_BRIDGE_READABLE_MAX;

    if (!full)
        return NULL;
    /* libvirt names a helper device "<bridge>-nic" and shortens it past 15 characters, so two
     * long bridge names could share one: names only up to 11 characters */
    if (attempt == 0 && addrplan_ifname_valid(full) && strlen(full) <= max)
        return steal_pointer(&full);
    /* vmnet8 -> v8; another key keeps as much as leaves the lab at least 4 characters */
    if (strncmp(key, "vmnet", 5) == 0 && key[5] && strspn(key + 5, "0123456789") == strlen(key + 5))
        snprintf(suffix, sizeof(suffix), "v%s", key + 5);
    else
        name_part(suffix, sizeof(suffix) - 1, key, max - 1 - 4);
    size_t room = max - 1 - strlen(suffix);
    if (attempt > 0) {
        /* a clash with a name in use: three hex digits of a hash break it */
        uint64_t h = hash_fnv1a_str(HASH_FNV_INIT, "kvmlab-bridge");
        h = hash_fnv1a_str(h, lab);
        h = hash_fnv1a_str(h, key);
        h += attempt;
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        name_part(out, sizeof(out) - 1, lab, room > 4 ? room - 3 : 1);
        snprintf(out + strlen(out), sizeof(out) - strlen(out), "%03x", (unsigned)(h & 0xfff));
    } else {
        name_part(out, sizeof(out) - 1, lab, room);
    }
    if (suffix[0])
        snprintf(out + strlen(out), sizeof(out) - strlen(out), "-%s", suffix);
    return strdup(out);
}

char *vmnet_bridge_name(const char *lab, const char *key)
{
    return vmnet_bridge_name_alt(lab, key, 0);
}

/* Free @s and everything it owns. Accepts NULL. */
void vmnet_spec_free(VmnetSpec *s)
{
    if (!s)
        return;
    free(s->lab);
    free(s->key);
    free(s->name);
    free(s->bridge);
    free(s->interface);
    free(s->domain);
    for (size_t i = 0; i < s->n_hosts; i++)
        free(s->hosts[i].name);
    free(s->hosts);
    for (size_t i = 0; i < s->n_forwards; i++)
        free(s->forwards[i].node);
    free(s->forwards);
    free(s);
}

static const VmnetHost *host_by_ip(const VmnetSpec *s, uint32_t ip)
{
    for (size_t i = 0; i < s->n_hosts; i++)
        if (s->hosts[i].ip == ip)
            return &s->hosts[i];
    return NULL;
}

/* Who holds @h, for messages: "node 'cp'" or "a reservation". */
static const char *host_owner(const VmnetHost *h, char *buf, size_t size)
{
    if (!h->name)
        return "a reservation";
    snprintf(buf, size, "node '%s'", h->name);
    return buf;
}

/*
 * Append a host entry after checking that its address is usable on the network and that
 * neither its address nor its MAC is already given to another entry. @what describes the
 * entry for messages ("node 'cp'", "a reservation").
 */
static int hosts_add(VmnetSpec *s, const char *name, const MacAddr *mac, uint32_t ip,
                     const char *what, Error *err)
{
    char ipbuf[IPV4_STRLEN], netbuf[CIDR_STRLEN], macbuf[MAC_STRLEN], other[128];

    addr_ipv4_format(ip, ipbuf);
    if (!addr_net_contains(&s->subnet, ip))
        return error_set(err, -EINVAL, "Address '%s' of %s is outside network '%s' ('%s')", ipbuf,
                         what, s->key, addr_cidr_format(&s->subnet, netbuf));
    const char *role = addrplan_reserved_role(s->type, &s->subnet, ip);
    if (role)
        return error_set(err, -EINVAL,
                         "Address '%s' of %s is reserved on network '%s' (network, broadcast, "
                         "host or gateway address)",
                         ipbuf, what, s->key);
    for (size_t i = 0; i < s->n_hosts; i++) {
        const VmnetHost *h = &s->hosts[i];
        if (h->ip == ip)
            return error_set(err, -EEXIST,
                             "Address '%s' on network '%s' is given to both %s and %s", ipbuf,
                             s->key, host_owner(h, other, sizeof(other)), what);
        if (addr_mac_equal(&h->mac, mac))
            return error_set(err, -EEXIST,
                             "MAC address '%s' on network '%s' is given to both %s and %s",
                             addr_mac_format(mac, macbuf), s->key,
                             host_owner(h, other, sizeof(other)), what);
    }

    VmnetHost *hosts = realloc(s->hosts, (s->n_hosts + 1) * sizeof(*hosts));
    if (!hosts)
        return error_set(err, -ENOMEM, "Out of memory");
    s->hosts = hosts;
    VmnetHost *h = &s->hosts[s->n_hosts];
    *h = (VmnetHost){.name = NULL, .mac = *mac, .ip = ip};
    if (name && !(h->name = strdup(name)))
        return error_set(err, -ENOMEM, "Out of memory");
    s->n_hosts++;
    return 0;
}

/*
 * The stable static address of NIC @nic of @node: a hash of lab, node and NIC index chooses a
 * slot in [lo, hi]; taken slots are skipped by linear probing, so a node keeps its address as
 * long as the nodes before it in the file keep theirs.
 */
static int static_address_pick(const VmnetSpec *s, const char *node, unsigned nic, uint32_t lo,
                               uint32_t hi, uint32_t *ret, Error *err)
{
    char ibuf[16], lobuf[IPV4_STRLEN], hibuf[IPV4_STRLEN];

    if (hi >= lo) {
        uint32_t n = hi - lo + 1;
        /* the index is hashed as text so the result does not depend on byte order */
        snprintf(ibuf, sizeof(ibuf), "%u", nic);
        uint64_t h = hash_fnv1a_str(HASH_FNV_INIT, "kvmlab-ip");
        h = hash_fnv1a_str(h, s->lab);
        h = hash_fnv1a_str(h, node);
        h = hash_fnv1a_str(h, ibuf);
        uint32_t start = (uint32_t)(h % n);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t ip = lo + (uint32_t)((start + (uint64_t)i) % n);
            if (!host_by_ip(s, ip)) {
                *ret = ip;
                return 0;
            }
        }
    }
    return error_set(err, -ENOSPC,
                     "No address is left for node '%s' on network '%s': the static range "
                     "'%s'-'%s' below the DHCP pool is full",
                     node, s->key, addr_ipv4_format(lo, lobuf), addr_ipv4_format(hi, hibuf));
}

/* Reservations from the file, then every node NIC on the network: fixed addresses first (so
 * an automatic address never takes one a later node asked for), then the automatic ones in
 * file order. */
static int hosts_build(VmnetSpec *s, const Lab *lab, const LabNetwork *net, Error *err)
{
    char what[128];
    int r;

    for (size_t i = 0; i < net->n_reservations; i++) {
        r = hosts_add(s, NULL, &net->reservations[i].mac, net->reservations[i].ip, "a reservation",
                      err);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < lab->n_nodes; i++) {
        const LabNode *node = &lab->nodes[i];
        for (size_t j = 0; j < node->n_nics; j++) {
            const LabNic *nic = &node->nics[j];
            if (!nic->has_ip || strcmp(nic->network, net->name) != 0)
                continue;
            snprintf(what, sizeof(what), "node '%s'", node->name);
            r = hosts_add(s, node->name, &nic->mac, nic->ip, what, err);
            if (r < 0)
                return r;
        }
    }

    /* the static range: above network, host and gateway, below the DHCP pool */
    uint32_t lo = addrplan_static_first(&s->subnet), hi = s->dhcp_start - 1;
    for (size_t i = 0; i < lab->n_nodes; i++) {
        const LabNode *node = &lab->nodes[i];
        for (size_t j = 0; j < node->n_nics; j++) {
            const LabNic *nic = &node->nics[j];
            uint32_t ip = 0;
            if (nic->has_ip || strcmp(nic->network, net->name) != 0)
                continue;
            r = static_address_pick(s, node->name, (unsigned)j, lo, hi, &ip, err);
            if (r < 0)
                return r;
            snprintf(what, sizeof(what), "node '%s'", node->name);
            r = hosts_add(s, node->name, &nic->mac, ip, what, err);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

/* Networks without DHCP get no host entries, but fixed node addresses must still fit; DHCP
 * settings on them would be silently lost, so they are refused. */
static int static_ips_check(const VmnetSpec *s, const Lab *lab, const LabNetwork *net, Error *err)
{
    char ipbuf[IPV4_STRLEN], netbuf[CIDR_STRLEN];
    const char *what = net->n_reservations   ? "reservations"
                       : net->has_dhcp_range ? "a DHCP range"
                       : net->lease_seconds  ? "a lease time"
                                             : NULL;

    if (what)
        return error_set(err, -EINVAL, "Network '%s' of type '%s' has no DHCP, so %s cannot apply",
                         s->key, vmnet_type_to_string(s->type), what);

    for (size_t i = 0; i < lab->n_nodes; i++) {
        const LabNode *node = &lab->nodes[i];
        for (size_t j = 0; j < node->n_nics; j++) {
            const LabNic *nic = &node->nics[j];
            if (!nic->has_ip || strcmp(nic->network, s->key) != 0)
                continue;
            if (!s->has_subnet)
                continue;
            if (!addr_net_contains(&s->subnet, nic->ip))
                return error_set(err, -EINVAL,
                                 "Address '%s' of node '%s' is outside network '%s' ('%s')",
                                 addr_ipv4_format(nic->ip, ipbuf), node->name, s->key,
                                 addr_cidr_format(&s->subnet, netbuf));
        }
    }
    return 0;
}

static int host_cmp(const void *a, const void *b)
{
    uint32_t x = ((const VmnetHost *)a)->ip, y = ((const VmnetHost *)b)->ip;
    return x < y ? -1 : x > y;
}

/* Resolve every port forward to the address of its node's first NIC on this network. */
static int forwards_build(VmnetSpec *s, const Lab *lab, const LabNetwork *net, Error *err)
{
    if (net->n_port_forwards == 0)
        return 0;
    s->forwards = calloc(net->n_port_forwards, sizeof(*s->forwards));
    if (!s->forwards)
        return error_set(err, -ENOMEM, "Out of memory");

    for (size_t i = 0; i < net->n_port_forwards; i++) {
        const LabPortForward *pf = &net->port_forwards[i];
        const char *proto = lab_proto_to_string(pf->proto);
        const LabNode *node = lab_find_node(lab, pf->node);
        const LabNic *nic = NULL;

        if (s->type != VMNET_NAT)
            return error_set(err, -EINVAL,
                             "Port forward '%s/%u' is on network '%s' of type '%s'; port forwards "
                             "need a 'nat' network",
                             proto, pf->host_port, s->key, vmnet_type_to_string(s->type));
        if (!node)
            return error_set(err, -EINVAL,
                             "Port forward '%s/%u' targets node '%s', which does not exist", proto,
                             pf->host_port, pf->node);
        for (size_t j = 0; j < node->n_nics && !nic; j++)
            if (strcmp(node->nics[j].network, s->key) == 0)
                nic = &node->nics[j];
        if (!nic)
            return error_set(
                    err, -EINVAL,
                    "Port forward '%s/%u' targets node '%s', which has no NIC on network '%s'",
                    proto, pf->host_port, pf->node, s->key);

        const VmnetHost *h = NULL;
        for (size_t k = 0; k < s->n_hosts && !h; k++)
            if (addr_mac_equal(&s->hosts[k].mac, &nic->mac))
                h = &s->hosts[k];
        if (!h) /* every NIC on a nat network has a host entry: a bug if we get here */
            return error_set(err, -EINVAL,
                             "Port forward '%s/%u': node '%s' has no address on network '%s'",
                             proto, pf->host_port, pf->node, s->key);

        VmnetForward *f = &s->forwards[s->n_forwards];
        f->proto = pf->proto;
        f->host_port = pf->host_port;
        f->target_ip = h->ip;
        f->target_port = pf->port;
        if (!(f->node = strdup(pf->node)))
            return error_set(err, -ENOMEM, "Out of memory");
        s->n_forwards++;
    }
    return 0;
}

/* The VMware plan for nat and hostonly on s->subnet: host N.1, gateway N.2 (nat), pool in the
 * upper half (N.128-N.254 on a /24) unless the file gives a range, lease 1800 s unless the
 * file gives one, max lease max(7200 s, lease). */
static int plan_apply(VmnetSpec *s, const LabNetwork *net, Error *err)
{
    char netbuf[CIDR_STRLEN], a[IPV4_STRLEN], b[IPV4_STRLEN];
    const Ipv4Net *n = &s->subnet;

    addr_cidr_format(n, netbuf);
    if (!addrplan_prefix_fits(s->type, n->prefix))
        return error_set(err, -EINVAL,
                         "Subnet '%s' of network '%s' does not fit the VMware address plan; use a "
                         "prefix between /%d and /%u",
                         netbuf, s->key, ADDRPLAN_PREFIX_MIN, addrplan_prefix_max(s->type));

    s->host_ip = addrplan_host(n);
    s->gateway_ip = addrplan_gateway(s->type, n);
    s->dhcp = true;
    if (net->has_dhcp_range) {
        s->dhcp_start = net->dhcp_start;
        s->dhcp_end = net->dhcp_end;
        if (addrplan_range_check(s->type, n, s->dhcp_start, s->dhcp_end, NULL) != ADDRPLAN_RANGE_OK)
            return error_set(err, -EINVAL,
                             "DHCP range '%s-%s' of network '%s' must lie inside '%s' between "
                             "the gateway and the broadcast address",
                             addr_ipv4_format(s->dhcp_start, a), addr_ipv4_format(s->dhcp_end, b),
                             s->key, netbuf);
    } else {
        addrplan_default_pool(n, &s->dhcp_start, &s->dhcp_end);
    }

    s->lease_seconds = net->lease_seconds ? net->lease_seconds : LAB_DEFAULT_LEASE_S;
    if (s->lease_seconds < ADDRPLAN_LEASE_MIN_S)
        return error_set(err, -EINVAL,
                         "Lease time '%us' of network '%s' is shorter than the 2 minutes dnsmasq "
                         "accepts",
                         s->lease_seconds, s->key);
    s->max_lease_seconds = s->lease_seconds > LAB_MAX_LEASE_S ? s->lease_seconds : LAB_MAX_LEASE_S;
    return 0;
}

/*
 * Resolve network @net of @lab into a spec (see vmnet.h). @subnet is used when the file gives
 * none. Stores a new spec in *ret (free with vmnet_spec_free()); 0 or a negative errno with
 * @err set.
 */
int vmnet_spec_build(const Lab *lab, const LabNetwork *net, const Ipv4Net *subnet, VmnetSpec **ret,
                     Error *err)
{
    _cleanup_(vmnet_spec_freep) VmnetSpec *s = calloc(1, sizeof(*s));
    char netbuf[CIDR_STRLEN];
    int r;

    if (!s || !(s->lab = strdup(lab->name)) || !(s->key = strdup(net->name)) ||
        !(s->name = vmnet_object_name(lab->name, net->name)) ||
        asprintf(&s->domain, "%s.lab", lab->name) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    s->type = net->type;
    s->backend = net->backend;

    if (net->has_subnet) {
        s->has_subnet = true;
        s->subnet = net->subnet;
    } else if (subnet) {
        s->has_subnet = true;
        s->subnet_picked = true;
        s->subnet = *subnet;
    }
    if (s->has_subnet &&
        (s->subnet.prefix > 32 || (s->subnet.addr & ~addr_netmask(s->subnet.prefix))))
        return error_set(err, -EINVAL, "Subnet '%s' of network '%s' has host bits set",
                         addr_cidr_format(&s->subnet, netbuf), s->key);

    switch (s->type) {
    case VMNET_NAT:
    case VMNET_HOSTONLY:
        if (!s->has_subnet)
            return error_set(err, -EINVAL, "Network '%s' has no subnet and none was picked for it",
                             s->key);
        r = plan_apply(s, net, err);
        if (r < 0)
            return r;
        r = hosts_build(s, lab, net, err);
        if (r < 0)
            return r;
        /* qsort() with a NULL array is undefined even for 0 elements (UBSan reports it) */
        if (s->n_hosts > 1)
            qsort(s->hosts, s->n_hosts, sizeof(*s->hosts), host_cmp);
        break;
    case VMNET_BRIDGED:
        if (!net->interface || !*net->interface)
            return error_set(err, -EINVAL, "Bridged network '%s' names no 'interface'", s->key);
        if (!addrplan_ifname_valid(net->interface))
            return error_set(err, -EINVAL,
                             "Interface '%s' of network '%s' is not a valid interface name",
                             net->interface, s->key);
        if (!(s->interface = strdup(net->interface)))
            return error_set(err, -ENOMEM, "Out of memory");
        /* libvirt: guests join the named bridge itself (or macvtap devices of the NIC); the
         * bridge backend moves the NIC onto a bridge of its own */
        s->macvtap = net->macvtap;
        s->bridge = net->macvtap                           ? strdup("")
                    : net->backend == VMNET_BACKEND_BRIDGE ? vmnet_nic_bridge_name(net->interface)
                                                           : strdup(net->interface);
        if (!s->bridge)
            return error_set(err, -ENOMEM, "Out of memory");
        r = static_ips_check(s, lab, net, err);
        if (r < 0)
            return r;
        break;
    case VMNET_ISOLATED:
        r = static_ips_check(s, lab, net, err);
        if (r < 0)
            return r;
        break;
    default:
        return error_set(err, -EINVAL, "Network '%s' has an unknown type", s->key);
    }
    if (!s->bridge && !(s->bridge = vmnet_bridge_name(lab->name, net->name)))
        return error_set(err, -ENOMEM, "Out of memory");

    r = forwards_build(s, lab, net, err);
    if (r < 0)
        return r;

    *ret = steal_pointer(&s);
    return 0;
}

/*
 * The canonical text (see vmnet.h), one "key=value" line per fact in this order, a line only
 * when it applies:
 *   type=, backend=, name=, bridge=,
 *   subnet=, host=, gateway= (nat), nat=libvirt (nat without kvmlab's table),
 *   dhcp=START-END                                      (nat, hostonly)
 *   interface=                                          (bridged)
 *   domain=, live.lease=SECONDS, live.max-lease=SECONDS (nat, hostonly)
 *   live.host=MAC,IP,NAME-or-"-"                        (one per host, sorted by IP)
 * Only facts the realised network carries are listed: an isolated or bridged network's subnet
 * only validates static node addresses, a picked subnet is the same network as one written in
 * the file, and port forwards are firewall rules (vmnet_forwards_format()), so none of those
 * changes may re-create the network.
 */
char *vmnet_spec_format(const VmnetSpec *s)
{
    char *buf = NULL;
    size_t len = 0;
    char a[CIDR_STRLEN], b[IPV4_STRLEN], m[MAC_STRLEN];
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        return NULL;
    fprintf(f, "type=%s\n", vmnet_type_to_string(s->type));
    fprintf(f, "backend=%s\n", vmnet_backend_to_string(s->backend));
    fprintf(f, "name=%s\n", s->name);
    fprintf(f, "bridge=%s\n", s->bridge);
    bool own = s->backend == VMNET_BACKEND_BRIDGE;
    if (s->has_subnet && !s->dhcp && own && s->host_ip) {
        /* the bridge backend gives a host-only network its host address without DHCP too */
        fprintf(f, "subnet=%s\n", addr_cidr_format(&s->subnet, a));
        fprintf(f, "host=%s\n", addr_ipv4_format(s->host_ip, b));
    }
    if (s->has_subnet && s->dhcp) {
        fprintf(f, "subnet=%s\n", addr_cidr_format(&s->subnet, a));
        fprintf(f, "host=%s\n", addr_ipv4_format(s->host_ip, b));
        if (s->gateway_ip)
            fprintf(f, "gateway=%s\n", addr_ipv4_format(s->gateway_ip, b));
        if (s->nat_libvirt)
            fputs("nat=libvirt\n", f);
        fprintf(f, "dhcp=%s-", addr_ipv4_format(s->dhcp_start, b));
        fprintf(f, "%s\n", addr_ipv4_format(s->dhcp_end, b));
    }
    if (s->interface)
        fprintf(f, "interface=%s\n", s->interface);
    if (s->macvtap)
        fputs("macvtap=yes\n", f);
    if (s->dhcp) {
        fprintf(f, "domain=%s\n", s->domain);
        /* the bridge backend's own dnsmasq serves DHCP and DNS; observation says whether it
         * runs, so a dnsmasq killed by hand is drift that `up` starts again in place */
        if (own)
            fputs("live.dnsmasq=running\n", f);
        fprintf(f, "live.lease=%" PRIu32 "\n", s->lease_seconds);
        fprintf(f, "live.max-lease=%" PRIu32 "\n", s->max_lease_seconds);
    }
    for (size_t i = 0; i < s->n_hosts; i++) {
        const VmnetHost *h = &s->hosts[i];
        fprintf(f, "live.host=%s,%s,%s\n", addr_mac_format(&h->mac, m), addr_ipv4_format(h->ip, b),
                h->name ? h->name : "-");
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* One "forward=PROTO/HOSTPORT,IP:PORT,NODE" line per port forward, in file order. Forwards are
 * realised as firewall rules, not by the network, so they stay out of the network's canonical
 * text and hash. New string (empty when there are none). */
char *vmnet_forwards_format(const VmnetSpec *s)
{
    char *buf = NULL;
    size_t len = 0;
    char ip[IPV4_STRLEN];
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        return NULL;
    for (size_t i = 0; i < s->n_forwards; i++) {
        const VmnetForward *fw = &s->forwards[i];
        fprintf(f, "forward=%s/%u,%s:%u,%s\n", lab_proto_to_string(fw->proto), fw->host_port,
                addr_ipv4_format(fw->target_ip, ip), fw->target_port, fw->node);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* FNV-1a 64 of vmnet_spec_format() as 16 lower-case hex digits. New string, NULL on ENOMEM. */
char *vmnet_spec_hash(const VmnetSpec *s)
{
    _cleanup_free_ char *text = vmnet_spec_format(s);
    char *hex = NULL;

    if (!text)
        return NULL;
    if (asprintf(&hex, "%016" PRIx64, hash_fnv1a(HASH_FNV_INIT, text, strlen(text))) < 0)
        return NULL;
    return hex;
}

char *vmnet_nic_bridge_name(const char *nic)
{
    char out[VMNET_IFNAMSIZ];
    /* "kvbr-" and up to 10 characters of the NIC's name; a longer one keeps 6 and three hex
     * digits of a hash of the whole name, so two long NIC names never share a bridge */
    if (strlen(nic) <= VMNET_IFNAMSIZ - 1 - 5) {
        snprintf(out, sizeof(out), "kvbr-%s", nic);
    } else {
        uint64_t h = hash_fnv1a_str(HASH_FNV_INIT, nic);
        snprintf(out, sizeof(out), "kvbr-%.6s%03x", nic, (unsigned)(h & 0xfff));
    }
    return strdup(out);
}

/* One "key=value" of @text as an address; false when missing or malformed. */
static bool spec_ip(const char *text, const char *key, uint32_t *ret)
{
    _cleanup_free_ char *v = spec_text_get(text, key);
    return v && addr_ipv4_parse(v, ret) == 0;
}

int vmnet_spec_parse(const char *text, const char *lab, const char *key, VmnetSpec **ret,
                     Error *err)
{
    _cleanup_(vmnet_spec_freep) VmnetSpec *s = calloc(1, sizeof(*s));
    _cleanup_free_ char *type = spec_text_get(text, "type");
    _cleanup_free_ char *backend = spec_text_get(text, "backend");
    _cleanup_free_ char *subnet = spec_text_get(text, "subnet");
    _cleanup_free_ char *dhcp = spec_text_get(text, "dhcp");
    _cleanup_free_ char *lease = spec_text_get(text, "live.lease");
    _cleanup_free_ char *max_lease = spec_text_get(text, "live.max-lease");
    _cleanup_free_ char *macvtap = spec_text_get(text, "macvtap");
    static const char *const types[] = {"nat", "hostonly", "bridged", "isolated", NULL};
    static const VmnetType type_v[] = {VMNET_NAT, VMNET_HOSTONLY, VMNET_BRIDGED, VMNET_ISOLATED};

    if (!s)
        return error_set(err, -ENOMEM, "Out of memory");
    s->lab = strdup(lab);
    s->key = strdup(key);
    s->name = spec_text_get(text, "name");
    s->bridge = spec_text_get(text, "bridge");
    s->interface = spec_text_get(text, "interface");
    s->domain = spec_text_get(text, "domain");
    if (!s->lab || !s->key)
        return error_set(err, -ENOMEM, "Out of memory");
    if (!type || !s->name || !s->bridge)
        return error_set(err, -EINVAL, "The record of network '%s' lacks its type, name or bridge",
                         key);
    size_t t = 0;
    while (types[t] && strcmp(types[t], type) != 0)
        t++;
    if (!types[t])
        return error_set(err, -EINVAL, "The record of network '%s' has an unknown type '%s'", key,
                         type);
    s->type = type_v[t];
    s->backend = backend && strcmp(backend, "bridge") == 0 ? VMNET_BACKEND_BRIDGE
                                                           : VMNET_BACKEND_LIBVIRT;
    s->macvtap = macvtap && strcmp(macvtap, "yes") == 0;
    _cleanup_free_ char *nat = spec_text_get(text, "nat");
    s->nat_libvirt = nat != NULL;
    if (subnet) {
        if (addr_cidr_parse(subnet, &s->subnet) < 0 || !spec_ip(text, "host", &s->host_ip))
            return error_set(err, -EINVAL,
                             "The record of network '%s' has a malformed subnet or host", key);
        s->has_subnet = true;
        (void)spec_ip(text, "gateway", &s->gateway_ip);
    }
    if (dhcp) {
        char *dash = strchr(dhcp, '-');
        if (!dash || !s->domain)
            return error_set(err, -EINVAL, "The record of network '%s' has a malformed DHCP range",
                             key);
        *dash = '\0';
        if (addr_ipv4_parse(dhcp, &s->dhcp_start) < 0 ||
            addr_ipv4_parse(dash + 1, &s->dhcp_end) < 0)
            return error_set(err, -EINVAL, "The record of network '%s' has a malformed DHCP range",
                             key);
        s->dhcp = true;
        s->lease_seconds = lease ? (uint32_t)strtoul(lease, NULL, 10) : LAB_DEFAULT_LEASE_S;
        s->max_lease_seconds = max_lease ? (uint32_t)strtoul(max_lease, NULL, 10) : LAB_MAX_LEASE_S;
    }
    char **hosts = NULL;
    size_t n = spec_text_values(text, "live.host", &hosts);
    s->hosts = calloc(n + 1, sizeof(*s->hosts));
    if (!s->hosts) {
        spec_text_values_free(hosts, n);
        return error_set(err, -ENOMEM, "Out of memory");
    }
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        /* MAC,IP,NAME-or-"-" */
        char *c1 = strchr(hosts[i], ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        VmnetHost *h = &s->hosts[s->n_hosts];
        if (!c2) {
            r = error_set(err, -EINVAL, "The record of network '%s' has a malformed host '%s'", key,
                          hosts[i]);
            break;
        }
        *c1 = *c2 = '\0';
        if (addr_mac_parse(hosts[i], &h->mac) < 0 || addr_ipv4_parse(c1 + 1, &h->ip) < 0) {
            r = error_set(err, -EINVAL, "The record of network '%s' has a malformed host", key);
            break;
        }
        if (strcmp(c2 + 1, "-") != 0 && !(h->name = strdup(c2 + 1))) {
            r = error_set(err, -ENOMEM, "Out of memory");
            break;
        }
        s->n_hosts++;
    }
    spec_text_values_free(hosts, n);
    if (r < 0)
        return r;
    *ret = steal_pointer(&s);
    return 0;
}

char *vmnet_session_bridge_refusal(const char *helper, bool helper_setuid_root,
                                   const char *bridge_conf)
{
    char *why = NULL;
    if (!helper) {
        if (asprintf(&why, "qemu:///session joins bridges through qemu-bridge-helper, which is not "
                           "installed (package qemu-system-common)") < 0)
            return NULL;
        return why;
    }
    if (!helper_setuid_root) {
        if (asprintf(&why,
                     "qemu:///session joins bridges through '%s', which is not setuid root; run "
                     "`chmod u+s %s` as root",
                     helper, helper) < 0)
            return NULL;
        return why;
    }
    /* an "allow" line that is not commented out */
    bool allowed = false;
    for (const char *l = bridge_conf; l && *l && !allowed;) {
        size_t n = strcspn(l, "\n");
        const char *p = l;
        while (p < l + n && (*p == ' ' || *p == '\t'))
            p++;
        allowed = (size_t)(l + n - p) >= 6 && strncmp(p, "allow", 5) == 0 &&
                  (p[5] == ' ' || p[5] == '\t');
        l += n + (l[n] == '\n');
    }
    if (!allowed) {
        if (asprintf(&why,
                     "qemu:///session may join only the bridges /etc/qemu/bridge.conf "
                     "allows, and it %s; add the line 'allow all' (or one 'allow BRIDGE' "
                     "line per bridge of the lab)",
                     bridge_conf ? "allows none" : "does not exist") < 0)
            return NULL;
        return why;
    }
    return NULL;
}
