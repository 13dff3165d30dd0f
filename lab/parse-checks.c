/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lab file parser: Checks across sections, once every section is read.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "kvmlab/addrplan.h"
#include "kvmlab/cleanup.h"
#include "parser.h"

void use_mac(Ctx *c, const MacAddr *mac, LabLoc loc, char *owner)
{
    MacUse *u = ARRAY_PUSH(c->macs, c->n_macs);
    u->mac = *mac;
    u->loc = loc;
    u->seq = c->n_macs;
    u->owner = owner;
}

void use_ip(Ctx *c, size_t net, uint32_t ip, LabLoc loc, char *owner)
{
    IpUse *u = ARRAY_PUSH(c->ips, c->n_ips);
    u->net = net;
    u->ip = ip;
    u->loc = loc;
    u->seq = c->n_ips;
    u->owner = owner;
}

/* ---- checks across sections ------------------------------------------------------------- */

void check_overlaps(Ctx *c)
{
    const Lab *lab = c->lab;
    const LabKubernetes *k = &lab->kubernetes;
    char a[CIDR_STRLEN], b[CIDR_STRLEN];

    for (size_t i = 0; i < lab->n_networks; i++) {
        const LabNetwork *ni = &lab->networks[i];
        for (size_t j = 0; ni->has_subnet && j < i; j++) {
            const LabNetwork *nj = &lab->networks[j];
            if (nj->has_subnet && addr_net_overlaps(&ni->subnet, &nj->subnet)) {
                diag(c, c->net_aux[i].subnet_loc,
                     "subnet '%s' of network '%s' overlaps subnet '%s' of network '%s'",
                     addr_cidr_format(&ni->subnet, a), ni->name, addr_cidr_format(&nj->subnet, b),
                     nj->name);
                break;
            }
        }
    }
    struct {
        bool has;
        const Ipv4Net *net;
        const char *key;
        LabLoc loc;
    } k8s[] = {
            {k->has_pod_subnet, &k->pod_subnet, "pod_subnet", c->k8s_pod_loc},
            {k->has_service_subnet, &k->service_subnet, "service_subnet", c->k8s_service_loc},
    };
    for (size_t i = 0; i < ELEMENTSOF(k8s); i++) {
        if (!k8s[i].has)
            continue;
        for (size_t j = 0; j < lab->n_networks; j++) {
            const LabNetwork *nj = &lab->networks[j];
            if (nj->has_subnet && addr_net_overlaps(k8s[i].net, &nj->subnet)) {
                diag(c, k8s[i].loc, "kubernetes %s '%s' overlaps subnet '%s' of network '%s'",
                     k8s[i].key, addr_cidr_format(k8s[i].net, a), addr_cidr_format(&nj->subnet, b),
                     nj->name);
                break;
            }
        }
    }
    if (k->has_pod_subnet && k->has_service_subnet &&
        addr_net_overlaps(&k->pod_subnet, &k->service_subnet))
        diag(c, c->k8s_service_loc, "kubernetes service_subnet '%s' overlaps pod_subnet '%s'",
             addr_cidr_format(&k->service_subnet, a), addr_cidr_format(&k->pod_subnet, b));
}

typedef struct NodeKey {
    const Lab *lab;
    const char *name;
    bool base; /* compare base names (of the entries' first copies) */
} NodeKey;

static bool node_eq(const void *ud, size_t entry)
{
    const NodeKey *k = ud;
    const LabNode *n = &k->lab->nodes[entry];
    return streq(k->base ? n->base_name : n->name, k->name);
}

/* Index of node names (first node of each name), or of base names of nodes with a count. */
static void node_index(const Ctx *c, Index *ix, bool base)
{
    const Lab *lab = c->lab;
    for (size_t e = 0; e < c->n_entries; e++) {
        const NodeEntry *en = &c->entries[e];
        for (size_t i = en->first; i < en->first + en->n; i++) {
            NodeKey k = {lab, base ? lab->nodes[i].base_name : lab->nodes[i].name, base};
            uint64_t h = index_hash_str(k.name);
            if ((base && (!en->has_count || i != en->first)) || index_find(ix, h, node_eq, &k))
                continue;
            index_add(ix, h, i);
        }
    }
}

void check_forwards(Ctx *c)
{
    const Lab *lab = c->lab;
    Index names = {0}, bases = {0};
    /* per protocol and host port, the first forward + 1 */
    _cleanup_free_ size_t *port_first = xcalloc(2 * 65536, sizeof(*port_first));

    if (c->n_forwards == 0)
        return;
    node_index(c, &names, false);
    node_index(c, &bases, true);
    for (size_t i = 0; i < c->n_forwards && !c->stop; i++) {
        const ForwardAux *fa = &c->forwards[i];
        const LabNetwork *net = &lab->networks[fa->net];
        const LabPortForward *pf = &net->port_forwards[fa->pf];
        NodeKey k = {lab, pf->node, false};
        const size_t *found = index_find(&names, index_hash_str(pf->node), node_eq, &k);
        const LabNode *node = found ? &lab->nodes[*found] : NULL;

        if (!node) {
            k.base = true;
            const size_t *b = index_find(&bases, index_hash_str(pf->node), node_eq, &k);
            const NodeEntry *base = NULL;
            for (size_t j = 0; b && j < c->n_entries && !base; j++)
                if (c->entries[j].n > 0 && c->entries[j].first == *b)
                    base = &c->entries[j];
            if (!base && c->nodes_full) {
                /* it may be one of the nodes past the limit, which were not read */
            } else if (base) {
                diag(c, fa->node_loc,
                     "port forward targets '%s', which has count %u; name one of its copies, such "
                     "as '%s'",
                     pf->node, base->count, lab->nodes[base->first].name);
            } else {
                _cleanup_free_ const char **list = names_of(lab, NAMES_NODES);
                diag_suggest(c, fa->node_loc, closest(pf->node, list),
                             "port forward targets undefined node '%s'", pf->node);
            }
        } else {
            bool attached = false;
            for (size_t j = 0; j < node->n_nics && !attached; j++)
                attached = streq(node->nics[j].network, net->name);
            if (!attached)
                diag(c, fa->node_loc,
                     "port forward on network '%s' targets node '%s', which has no NIC on that "
                     "network",
                     net->name, pf->node);
        }
        size_t *slot = &port_first[(size_t)pf->proto * 65536 + pf->host_port];
        if (*slot) {
            const ForwardAux *fb = &c->forwards[*slot - 1];
            diag(c, fa->host_port_loc,
                 "host port %s/%u is already forwarded by network '%s' at line %d",
                 lab_proto_to_string(pf->proto), pf->host_port, lab->networks[fb->net].name,
                 fb->host_port_loc.line);
        } else {
            *slot = i + 1;
        }
    }
    index_clear(&names);
    index_clear(&bases);
}

int loc_cmp(LabLoc a, LabLoc b)
{
    if (a.line != b.line)
        return a.line < b.line ? -1 : 1;
    return a.col < b.col ? -1 : a.col > b.col;
}

static int mac_use_cmp(const void *x, const void *y)
{
    const MacUse *a = x, *b = y;
    int r = loc_cmp(a->loc, b->loc);
    return r ? r : (a->seq > b->seq) - (a->seq < b->seq);
}

static int ip_use_cmp(const void *x, const void *y)
{
    const IpUse *a = x, *b = y;
    int r = loc_cmp(a->loc, b->loc);
    return r ? r : (a->seq > b->seq) - (a->seq < b->seq);
}

static bool mac_eq(const void *ud, size_t entry)
{
    const Ctx *c = ((const void *const *)ud)[0];
    const MacAddr *m = ((const void *const *)ud)[1];
    return addr_mac_equal(&c->macs[entry].mac, m);
}

static bool ip_eq(const void *ud, size_t entry)
{
    const Ctx *c = ((const void *const *)ud)[0];
    const IpUse *u = ((const void *const *)ud)[1];
    return c->ips[entry].net == u->net && c->ips[entry].ip == u->ip;
}

/* Duplicates are reported at the later one in the file, naming the first. Linear: each kind
 * of value has a hash index of its first use. */
void check_duplicates(Ctx *c)
{
    const Lab *lab = c->lab;
    char s[MAC_STRLEN > IPV4_STRLEN ? MAC_STRLEN : IPV4_STRLEN];
    /* per MAC: its first use, and the first use with another owner than that one */
    Index first = {0}, other = {0}, ips = {0}, names = {0};

    if (c->n_macs > 1)
        qsort(c->macs, c->n_macs, sizeof(*c->macs), mac_use_cmp);
    for (size_t i = 0; i < c->n_macs && !c->stop; i++) {
        const MacUse *u = &c->macs[i];
        const void *key[2] = {c, &u->mac};
        uint64_t h = hash_fnv1a(HASH_FNV_INIT, u->mac.b, sizeof(u->mac.b));
        const size_t *f = index_find(&first, h, mac_eq, key);
        if (!f) {
            index_add(&first, h, i);
            continue;
        }
        /* copies of one name derive one MAC: that is the duplicate name, reported below */
        const size_t *o = index_find(&other, h, mac_eq, key);
        size_t j = !streq(c->macs[*f].owner, u->owner) ? *f : o ? *o : SIZE_MAX;
        if (!o && !streq(c->macs[*f].owner, u->owner))
            index_add(&other, h, i);
        if (j == SIZE_MAX)
            continue;
        diag(c, u->loc, "MAC '%s' of %s is already used by %s at line %d",
             addr_mac_format(&u->mac, s), u->owner, c->macs[j].owner, c->macs[j].loc.line);
    }
    if (c->n_ips > 1)
        qsort(c->ips, c->n_ips, sizeof(*c->ips), ip_use_cmp);
    for (size_t i = 0; i < c->n_ips && !c->stop; i++) {
        const IpUse *u = &c->ips[i];
        const void *key[2] = {c, u};
        uint64_t h = hash_fnv1a(hash_fnv1a(HASH_FNV_INIT, &u->net, sizeof(u->net)), &u->ip,
                                sizeof(u->ip));
        const size_t *f = index_find(&ips, h, ip_eq, key);
        if (!f) {
            index_add(&ips, h, i);
            continue;
        }
        diag(c, u->loc, "IP '%s' of %s on network '%s' is already used by %s at line %d",
             addr_ipv4_format(u->ip, s), u->owner, lab->networks[u->net].name, c->ips[*f].owner,
             c->ips[*f].loc.line);
    }
    for (size_t e = 0; e < c->n_entries && !c->stop; e++) {
        const NodeEntry *en = &c->entries[e];
        for (size_t i = en->first; i < en->first + en->n; i++) {
            NodeKey k = {lab, lab->nodes[i].name, false};
            const size_t *f = index_find(&names, index_hash_str(k.name), node_eq, &k);
            if (f && *lab->nodes[i].name) {
                diag(c, en->name_loc, "node name '%s' is already used by the node at line %d",
                     lab->nodes[i].name, lab->nodes[*f].loc.line);
                break;
            }
        }
        for (size_t i = en->first; i < en->first + en->n; i++) {
            NodeKey k = {lab, lab->nodes[i].name, false};
            uint64_t h = index_hash_str(k.name);
            if (!index_find(&names, h, node_eq, &k))
                index_add(&names, h, i);
        }
    }
    index_clear(&first);
    index_clear(&other);
    index_clear(&ips);
    index_clear(&names);
}

void check_kubernetes(Ctx *c)
{
    const Lab *lab = c->lab;
    bool any_cp = false;

    if (!lab->kubernetes.bootstrap)
        return;
    for (size_t e = 0; e < c->n_entries; e++) {
        const NodeEntry *en = &c->entries[e];
        if (en->n == 0)
            continue;
        const LabNode *n = &lab->nodes[en->first];
        if (n->role != LAB_ROLE_CONTROL_PLANE)
            continue;
        if (any_cp || en->n > 1) {
            /* kubeadm init on one, the others would join as control planes: not made here */
            diag(c, en->loc,
                 "%s is a second control plane: 'bootstrap: true' initialises one control plane "
                 "and joins workers; give the others role 'worker', or bootstrap them yourself",
                 en->label);
        }
        any_cp = true;
        /* kubeadm's preflight refuses these; say so now rather than after a boot */
        if (n->cpus < KUBEADM_CP_CPUS)
            diag(c, en->cpus_loc.line ? en->cpus_loc : en->loc,
                 "%s needs at least %d CPUs as a kubeadm control plane, not %u", en->label,
                 KUBEADM_CP_CPUS, n->cpus);
        if (n->memory_mib < KUBEADM_CP_MIB)
            diag(c, en->memory_loc.line ? en->memory_loc : en->loc,
                 "%s needs at least %d MiB of memory as a kubeadm control plane, not %" PRIu64,
                 en->label, KUBEADM_CP_MIB, n->memory_mib);
    }
    if (!any_cp)
        diag(c, c->k8s_bootstrap_loc,
             "kubernetes 'bootstrap: true' needs at least one node with role 'control-plane'");
}

/* vmnet/ gives every NIC without a fixed IP on a nat or hostonly network a static address from
 * N.3 up to the DHCP pool: refuse a lab whose NICs cannot all get one. A network without a
 * subnet gets a /24, so its range is N.3-N.127. */
void check_static_space(Ctx *c)
{
    const Lab *lab = c->lab;
    char a[IPV4_STRLEN], b[IPV4_STRLEN];

    for (size_t i = 0; i < lab->n_networks; i++) {
        const LabNetwork *net = &lab->networks[i];
        Ipv4Net subnet = {0, 24};
        uint32_t start, end;

        if (!c->net_aux[i].type_known || c->net_aux[i].subnet_bad || !addrplan_has_dhcp(net->type))
            continue;
        if (net->has_subnet)
            subnet = net->subnet;
        addrplan_default_pool(&subnet, &start, &end);
        if (net->has_dhcp_range)
            start = net->dhcp_start;
        uint32_t lo = addrplan_static_first(&subnet), hi = start - 1;
        uint64_t room = hi >= lo && start > lo ? (uint64_t)hi - lo + 1 : 0;
        /* fixed addresses in the range take their place first */
        for (size_t r = 0; r < net->n_reservations; r++)
            if (net->reservations[r].ip >= lo && net->reservations[r].ip <= hi && room > 0)
                room--;
        for (size_t n = 0; n < lab->n_nodes; n++)
            for (size_t k = 0; k < lab->nodes[n].n_nics; k++) {
                const LabNic *nic = &lab->nodes[n].nics[k];
                if (nic->has_ip && streq(nic->network, net->name) && nic->ip >= lo &&
                    nic->ip <= hi && room > 0)
                    room--;
            }
        uint64_t used = 0;
        bool reported = false;
        for (size_t n = 0; n < lab->n_nodes && !reported; n++) {
            for (size_t k = 0; k < lab->nodes[n].n_nics && !reported; k++) {
                const LabNic *nic = &lab->nodes[n].nics[k];
                if (nic->has_ip || !streq(nic->network, net->name) || ++used <= room)
                    continue;
                if (net->has_subnet)
                    diag(c, nic->loc,
                         "no static address is left for node '%s' on network '%s': the static "
                         "range from '%s' up to the DHCP pool at '%s' has room for %" PRIu64
                         " automatic addresses; give fixed IPs, or move the pool up",
                         lab->nodes[n].name, net->name, addr_ipv4_format(lo, a),
                         addr_ipv4_format(start, b), room);
                else
                    diag(c, nic->loc,
                         "no static address is left for node '%s' on network '%s': a network "
                         "without 'subnet' gets a /24 with room for %" PRIu64
                         " automatic addresses (.3 to .127); give it a larger subnet",
                         lab->nodes[n].name, net->name, room);
                reported = true;
            }
        }
    }
}
