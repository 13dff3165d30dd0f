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

DEFINE_TRIVIAL_CLEANUP_FUNC(VmnetSpec *, vmnet_spec_free)

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
        /* until kvmlab makes its own bridge for a NIC, guests join the named bridge itself */
        if (!(s->bridge = strdup(net->interface)))
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
    if (s->dhcp) {
        fprintf(f, "domain=%s\n", s->domain);
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
