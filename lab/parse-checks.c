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

void check_forwards(Ctx *c)
{
    const Lab *lab = c->lab;

    for (size_t i = 0; i < c->n_forwards; i++) {
        const ForwardAux *fa = &c->forwards[i];
        const LabNetwork *net = &lab->networks[fa->net];
        const LabPortForward *pf = &net->port_forwards[fa->pf];
        const LabNode *node = lab_find_node(lab, pf->node);

        if (!node) {
            const NodeEntry *base = NULL;
            for (size_t j = 0; j < c->n_entries && !base; j++)
                if (c->entries[j].n > 0 && c->entries[j].has_count &&
                    streq(lab->nodes[c->entries[j].first].base_name, pf->node))
                    base = &c->entries[j];
            if (base) {
                diag(c, fa->node_loc,
                     "port forward targets '%s', which has count %u; name one of its copies, such "
                     "as '%s'",
                     pf->node, base->count, lab->nodes[base->first].name);
            } else {
                _cleanup_free_ const char **names = names_of(lab, NAMES_NODES);
                diag_suggest(c, fa->node_loc, closest(pf->node, names),
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
        for (size_t j = 0; j < i; j++) {
            const ForwardAux *fb = &c->forwards[j];
            const LabNetwork *other = &lab->networks[fb->net];
            const LabPortForward *pg = &other->port_forwards[fb->pf];
            if (pg->proto == pf->proto && pg->host_port == pf->host_port) {
                diag(c, fa->host_port_loc,
                     "host port %s/%u is already forwarded by network '%s' at line %d",
                     lab_proto_to_string(pf->proto), pf->host_port, other->name,
                     fb->host_port_loc.line);
                break;
            }
        }
    }
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

/* Duplicates are reported at the later one in the file, naming the first. */
void check_duplicates(Ctx *c)
{
    const Lab *lab = c->lab;
    char s[MAC_STRLEN > IPV4_STRLEN ? MAC_STRLEN : IPV4_STRLEN];

    if (c->n_macs > 1)
        qsort(c->macs, c->n_macs, sizeof(*c->macs), mac_use_cmp);
    for (size_t i = 0; i < c->n_macs; i++) {
        for (size_t j = 0; j < i; j++) {
            /* copies of one name derive one MAC: that is the duplicate name, reported below */
            if (addr_mac_equal(&c->macs[i].mac, &c->macs[j].mac) &&
                !streq(c->macs[i].owner, c->macs[j].owner)) {
                diag(c, c->macs[i].loc, "MAC '%s' of %s is already used by %s at line %d",
                     addr_mac_format(&c->macs[i].mac, s), c->macs[i].owner, c->macs[j].owner,
                     c->macs[j].loc.line);
                break;
            }
        }
    }
    if (c->n_ips > 1)
        qsort(c->ips, c->n_ips, sizeof(*c->ips), ip_use_cmp);
    for (size_t i = 0; i < c->n_ips; i++) {
        for (size_t j = 0; j < i; j++) {
            if (c->ips[i].net == c->ips[j].net && c->ips[i].ip == c->ips[j].ip) {
                diag(c, c->ips[i].loc,
                     "IP '%s' of %s on network '%s' is already used by %s at line %d",
                     addr_ipv4_format(c->ips[i].ip, s), c->ips[i].owner,
                     lab->networks[c->ips[i].net].name, c->ips[j].owner, c->ips[j].loc.line);
                break;
            }
        }
    }
    for (size_t e = 0; e < c->n_entries; e++) {
        const NodeEntry *en = &c->entries[e];
        bool reported = false;
        for (size_t i = en->first; i < en->first + en->n && !reported; i++) {
            for (size_t j = 0; j < en->first && !reported; j++) {
                if (streq(lab->nodes[i].name, lab->nodes[j].name) && *lab->nodes[i].name) {
                    diag(c, en->name_loc, "node name '%s' is already used by the node at line %d",
                         lab->nodes[i].name, lab->nodes[j].loc.line);
                    reported = true;
                }
            }
        }
    }
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
