/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pure planning: the resources a lab wants on a host in a given state, then the diff. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/engine.h"
#include "kvmlab/spectext.h"
#include "kvmlab/vmnet.h"
#include "planner.h"
#include "kvmlab/hostlink.h"

typedef struct NetList {
    Ipv4Net *v;
    size_t n;
} NetList;

static int netlist_add(NetList *l, const Ipv4Net *n)
{
    Ipv4Net *v = realloc(l->v, (l->n + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    l->v = v;
    l->v[l->n++] = *n;
    return 0;
}

typedef struct NameList {
    const char **v; /* borrowed */
    size_t n;
} NameList;

static int namelist_add(NameList *l, const char *s)
{
    const char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    l->v = v;
    l->v[l->n++] = s;
    return 0;
}

static bool namelist_has(const NameList *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

static bool needs_subnet(const LabNetwork *n)
{
    return n->type == VMNET_NAT || n->type == VMNET_HOSTONLY;
}

static void spec_data_free(void *p)
{
    vmnet_spec_free(p);
}

static void forward_set_free(void *p)
{
    VmnetForwardSet *set = p;
    if (!set)
        return;
    free(set->lab);
    free(set->masquerade);
    free(set->forwards);
    free(set);
}

/* One resource for the lab's NAT: its nftables table with masquerade for the NAT networks and
 * every port forward. The subnets and the forwards' target addresses come from the networks'
 * specs, planned just before. */
static int plan_forwards(const Lab *lab, Plan *p, bool nat_table, Error *err)
{
    VmnetForwardSet *set = calloc(1, sizeof(*set));
    char *buf = NULL;
    size_t len = 0;
    FILE *f = NULL;

    if (!set || !(set->lab = strdup(lab->name)) || !(f = open_memstream(&buf, &len)))
        goto oom;
    for (size_t i = 0; i < p->n_want; i++) {
        const Resource *r = &p->want[i];
        /* the bridge backend's NAT is always kvmlab's table; libvirt's where kvmlab writes it */
        const VmnetSpec *spec =
                (r->kind == RESOURCE_NETWORK && nat_table) || r->kind == RESOURCE_BRIDGE ? r->data
                                                                                         : NULL;
        if (!spec || spec->type != VMNET_NAT)
            continue;
        if (spec->has_subnet) {
            char cidr[CIDR_STRLEN];
            Ipv4Net *m = realloc(set->masquerade, (set->n_masquerade + 1) * sizeof(*m));
            if (!m)
                goto oom;
            set->masquerade = m;
            m[set->n_masquerade++] = spec->subnet;
            fprintf(f, "masquerade=%s\n", addr_cidr_format(&spec->subnet, cidr));
        }
        if (spec->n_forwards == 0)
            continue;
        VmnetForward *v = realloc(set->forwards, (set->n + spec->n_forwards) * sizeof(*v));
        if (!v)
            goto oom;
        set->forwards = v;
        memcpy(v + set->n, spec->forwards, spec->n_forwards * sizeof(*v));
        set->n += spec->n_forwards;
        char *text = vmnet_forwards_format(spec);
        fputs(text ? text : "", f);
        free(text);
    }
    fclose(f);
    f = NULL;
    if (set->n == 0 && set->n_masquerade == 0) {
        /* no NAT: a table left from an earlier up is deleted by the diff */
        forward_set_free(set);
        free(buf);
        return 0;
    }
    Resource *w = &p->want[p->n_want++];
    w->kind = RESOURCE_PORTFWD;
    w->key = strdup("nat");
    const Observed *o = ours_by_key(p, RESOURCE_PORTFWD, "nat");
    w->name = o ? strdup(o->name) : vmnet_nft_table_name(lab->name);
    /* compared with what the live table does; the hash (in the table's comment) covers the
     * node names too */
    w->spec = vmnet_nft_set_essentials(set);
    if (asprintf(&w->hash, "%016llx", (unsigned long long)hash_fnv1a_str(HASH_FNV_INIT, buf)) < 0)
        w->hash = NULL;
    free(buf);
    w->data = set;
    w->data_free = forward_set_free;
    if (!w->key || !w->name || !w->hash || !w->spec)
        return error_set(err, -ENOMEM, "Out of memory");
    return 0;
oom:
    if (f)
        fclose(f);
    free(buf);
    forward_set_free(set);
    return error_set(err, -ENOMEM, "Out of memory");
}

/* Subnets for the networks that need one and whose file gives none: first the ones an earlier
 * `up` picked (whatever the file order), then new ones clear of everything in @used. */
static bool netlist_overlaps(const NetList *l, const Ipv4Net *n)
{
    for (size_t i = 0; i < l->n; i++)
        if (addr_net_overlaps(&l->v[i], n))
            return true;
    return false;
}

static int pick_subnets(const Lab *lab, Plan *p, NetList *used, const NetList *fixed,
                        Ipv4Net *chosen, bool *has, char **notes, Error *err)
{
    char cidr[CIDR_STRLEN];
    NetList kept = {0};
    for (size_t i = 0; i < lab->n_networks; i++) {
        const LabNetwork *net = &lab->networks[i];
        if (net->has_subnet || !needs_subnet(net))
            continue;
        const Observed *o = ours_network(p, net->name);
        _cleanup_free_ char *v = o ? spec_text_get(o->spec, "subnet") : NULL;
        /* an earlier pick stays unless something fixed took it since: a subnet the file now
         * gives, another lab, an object not ours (our own bridge's route does not count) */
        if (v && addr_cidr_parse(v, &chosen[i]) == 0 && !netlist_overlaps(fixed, &chosen[i]) &&
            !netlist_overlaps(&kept, &chosen[i])) {
            if (netlist_add(&kept, &chosen[i]) < 0) {
                free(kept.v);
                return error_set(err, -ENOMEM, "Out of memory");
            }
            has[i] = true;
            if (asprintf(&notes[i], "keeps subnet %s picked earlier",
                         addr_cidr_format(&chosen[i], cidr)) < 0)
                notes[i] = NULL;
            if (netlist_add(used, &chosen[i]) < 0) {
                free(kept.v);
                return error_set(err, -ENOMEM, "Out of memory");
            }
        }
    }
    free(kept.v);
    for (size_t i = 0; i < lab->n_networks; i++) {
        const LabNetwork *net = &lab->networks[i];
        if (net->has_subnet || !needs_subnet(net) || has[i])
            continue;
        int r = vmnet_subnet_pick(used->v, used->n, &chosen[i]);
        if (r < 0)
            return error_set(err, r, "No free /24 is left for network '%s'; give it a subnet",
                             net->name);
        has[i] = true;
        if (asprintf(&notes[i],
                     "subnet %s picked: clear of host routes, other networks and other labs",
                     addr_cidr_format(&chosen[i], cidr)) < 0)
            notes[i] = NULL;
        if (netlist_add(used, &chosen[i]) < 0)
            return error_set(err, -ENOMEM, "Out of memory");
    }
    return 0;
}

/* The resource kind a network of the file is: a libvirt network, or the bridge backend's. */
static ResourceKind net_kind(const LabNetwork *net)
{
    return net->backend == VMNET_BACKEND_BRIDGE ? RESOURCE_BRIDGE : RESOURCE_NETWORK;
}

/* The bridge of network @net: the one this lab's object already has (a changed naming scheme
 * never renames it), else a readable name no other object or lab uses. New string. */
static char *choose_bridge(const Lab *lab, const Plan *p, const LabNetwork *net,
                           const NameList *taken)
{
    const Observed *o = ours_by_key(p, net_kind(net), net->name);
    char *b = o ? spec_text_get(o->spec, "bridge") : NULL;
    if (b)
        return b;
    for (unsigned attempt = 0; attempt < 4096; attempt++) {
        b = vmnet_bridge_name_alt(lab->name, net->name, attempt);
        if (!b || !namelist_has(taken, b))
            return b;
        free(b);
    }
    return NULL;
}

static const HostLinkInfo *host_link(const HostState *host, const char *name)
{
    for (size_t i = 0; i < host->n_links; i++)
        if (strcmp(host->links[i].name, name) == 0)
            return &host->links[i];
    return NULL;
}

/* Can the NIC of bridged network @net be moved onto a bridge (bridge backend), or joined as
 * the bridge it is (libvirt)? Refused with the reason before anything changes. */
static int check_bridged_nic(const Lab *lab, const HostState *host, const LabNetwork *net,
                             Error *err)
{
    const char *file = lab->file ? lab->file : "lab file";
    const HostLinkInfo *l = host->links ? host_link(host, net->interface) : NULL;
    if (!host->links || net->macvtap)
        return 0; /* nothing known about the host's links (a remote daemon): libvirt decides */
    if (!l)
        return error_set(err, -ENODEV,
                         "%s:%d:%d: network '%s': there is no interface '%s' where the lab's "
                         "guests run%s",
                         file, net->loc.line, net->loc.col, net->name, net->interface,
                         host->uri ? "" : " (the lab's sandbox is a network namespace of its own)");
    bool is_bridge = strcmp(l->kind, "bridge") == 0;
    if (net->backend == VMNET_BACKEND_LIBVIRT) {
        if (is_bridge)
            return 0;
        return error_set(err, -EINVAL,
                         "%s:%d:%d: network '%s': interface '%s' is not a bridge; add 'backend: "
                         "bridge' to have kvmlab move it onto a bridge of its own, or 'macvtap: "
                         "true' to leave the host unchanged (the host then cannot reach the "
                         "guests)",
                         file, net->loc.line, net->loc.col, net->name, net->interface);
    }
    _cleanup_free_ char *ours = vmnet_nic_bridge_name(net->interface);
    if (is_bridge)
        return error_set(err, -EINVAL,
                         "%s:%d:%d: network '%s': interface '%s' is a bridge already; guests join "
                         "it as it is without 'backend: bridge'",
                         file, net->loc.line, net->loc.col, net->name, net->interface);
    if (l->wireless)
        return error_set(err, -EOPNOTSUPP,
                         "%s:%d:%d: network '%s': interface '%s' is wireless, and a wireless NIC "
                         "cannot be a bridge port; use 'macvtap: true' or a wired NIC",
                         file, net->loc.line, net->loc.col, net->name, net->interface);
    if (l->master[0] && (!ours || strcmp(l->master, ours) != 0))
        return error_set(err, -EBUSY,
                         "%s:%d:%d: network '%s': interface '%s' is a port of '%s' already; "
                         "bridge '%s' instead",
                         file, net->loc.line, net->loc.col, net->name, net->interface, l->master,
                         l->master);
    if (l->managed_by && !l->master[0])
        return error_set(err, -EBUSY,
                         "%s:%d:%d: network '%s': interface '%s' is managed by %s, which would "
                         "fight kvmlab over its addresses; bridge it with %s instead, or stop %s "
                         "managing it",
                         file, net->loc.line, net->loc.col, net->name, net->interface,
                         l->managed_by, l->managed_by, l->managed_by);
    return 0;
}

static int plan_network(const Lab *lab, const HostState *host, Plan *p, const LabNetwork *net,
                        const Ipv4Net *subnet, char *note, NameList *bridges, Error *err)
{
    Resource *w = &p->want[p->n_want++];
    const Observed *o = ours_by_key(p, net_kind(net), net->name);
    VmnetSpec *spec = NULL;

    w->kind = net_kind(net);
    w->note = note;
    if (net->backend == VMNET_BACKEND_BRIDGE && !host->bridges)
        return error_set(err, -ENOTSUP, "%s:%d:%d: network '%s' asks for backend 'bridge', but %s",
                         lab->file ? lab->file : "lab file", net->backend_loc.line,
                         net->backend_loc.col, net->name,
                         host->bridge_refusal ? host->bridge_refusal
                                              : "kvmlab cannot make bridges here");
    if (net->type == VMNET_BRIDGED) {
        int r = check_bridged_nic(lab, host, net, err);
        if (r < 0)
            return r;
    }
    if (net->type == VMNET_BRIDGED && net->macvtap) {
        char *why = NULL;
        if (asprintf(&why,
                     "network '%s' puts guests on macvtap devices of '%s': the host is left as "
                     "it is, but the host and its guests cannot reach each other through '%s' "
                     "(other machines on the LAN can); 'backend: bridge' moves the NIC onto a "
                     "bridge instead",
                     net->name, net->interface, net->interface) < 0 ||
            add_note(p, why) < 0)
            return error_set(err, -ENOMEM, "Out of memory");
    }
    if (net->type == VMNET_NAT && !host->nat_table && net->n_port_forwards > 0 &&
        net->backend != VMNET_BACKEND_BRIDGE)
        return error_set(err, -ENOTSUP,
                         "Network '%s' has port forwards, but kvmlab cannot write its NAT table "
                         "where the libvirt at '%s' keeps its networks (a remote or private "
                         "daemon), and libvirt's own NAT forwards no ports; remove its "
                         "'port_forwards' or connect to 'sandbox' or 'qemu:///system'",
                         net->name, host->uri ? host->uri : "?");
    int r = vmnet_spec_build(lab, net, subnet, &spec, err);
    if (r < 0)
        return r;
    w->data = spec;
    w->data_free = spec_data_free;
    w->key = strdup(net->name);
    if (o) {
        /* the object keeps the name it has */
        free(spec->name);
        spec->name = strdup(o->name);
    }
    if (net->type != VMNET_BRIDGED) {
        free(spec->bridge);
        spec->bridge = choose_bridge(lab, p, net, bridges);
    }
    spec->nat_libvirt =
            net->type == VMNET_NAT && !host->nat_table && net->backend == VMNET_BACKEND_LIBVIRT;
    if (!w->key || !spec->name || !spec->bridge)
        return error_set(err, -ENOMEM, "Out of memory");
    w->name = strdup(spec->name);
    w->spec = vmnet_spec_format(spec);
    w->hash = vmnet_spec_hash(spec);
    w->bridge = net->type != VMNET_BRIDGED ? strdup(spec->bridge) : NULL;
    w->has_subnet = spec->has_subnet && net->type != VMNET_ISOLATED;
    w->subnet = spec->subnet;
    if (!w->name || !w->spec || !w->hash || (net->type != VMNET_BRIDGED && !w->bridge))
        return error_set(err, -ENOMEM, "Out of memory");
    if (w->bridge && namelist_add(bridges, w->bridge) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    return 0;
}

int engine_plan(const Lab *lab, HostState *host, Plan **ret, Error *err)
{
    Plan *p = calloc(1, sizeof(*p));
    NetList used = {0}, fixed = {0};
    NameList bridges = {0};
    NameList kept = {0}; /* owns its strings: the bridges this lab's networks have */
    Ipv4Net *chosen = calloc(lab->n_networks + 1, sizeof(*chosen));
    bool *has = calloc(lab->n_networks + 1, sizeof(*has));
    char **notes = calloc(lab->n_networks + 1, sizeof(*notes));
    int r = -ENOMEM;

    if (!p || !chosen || !has || !notes || !(p->lab = strdup(lab->name)))
        goto oom;
    p->have = steal_pointer(&host->objects);
    p->n_have = host->n_objects;
    host->n_objects = 0;
    p->want = calloc(lab->n_networks + 2, sizeof(*p->want));
    if (!p->want)
        goto oom;
    p->n_want_alloc = lab->n_networks + 2;

    /* what this lab's subnets and bridges must stay clear of: the host, other labs, objects
     * that are not ours, and the subnets the file gives */
    for (size_t i = 0; i < host->n_host_nets; i++)
        if (netlist_add(&used, &host->host_nets[i]) < 0)
            goto oom;
    for (size_t i = 0; i < host->n_lab_nets; i++)
        if (netlist_add(&used, &host->lab_nets[i]) < 0)
            goto oom;
    for (size_t i = 0; i < host->n_lab_bridges; i++)
        if (namelist_add(&bridges, host->lab_bridges[i]) < 0)
            goto oom;
    for (size_t i = 0; i < p->n_have; i++) {
        const Observed *o = &p->have[i];
        if (is_ours(p, o))
            continue;
        if (o->has_subnet && netlist_add(&used, &o->subnet) < 0)
            goto oom;
        if (o->bridge && namelist_add(&bridges, o->bridge) < 0)
            goto oom;
    }
    for (size_t i = 0; i < lab->n_networks; i++)
        if (lab->networks[i].has_subnet && netlist_add(&used, &lab->networks[i].subnet) < 0)
            goto oom;
    /* what an earlier pick must give way to: all of the above but the host's own routes */
    for (size_t i = host->n_host_nets; i < used.n; i++)
        if (netlist_add(&fixed, &used.v[i]) < 0)
            goto oom;
    /* bridges this lab's networks already have are theirs, whatever the file order */
    for (size_t i = 0; i < lab->n_networks; i++) {
        const Observed *o = ours_network(p, lab->networks[i].name);
        if (!o || lab->networks[i].type == VMNET_BRIDGED)
            continue;
        char *b = spec_text_get(o->spec, "bridge");
        if (b && namelist_add(&kept, b) < 0) {
            free(b);
            goto oom;
        }
        if (b && namelist_add(&bridges, b) < 0)
            goto oom;
    }

    r = pick_subnets(lab, p, &used, &fixed, chosen, has, notes, err);
    if (r < 0)
        goto fail;
    for (size_t i = 0; i < lab->n_networks; i++) {
        r = plan_network(lab, host, p, &lab->networks[i], has[i] ? &chosen[i] : NULL,
                         steal_pointer(&notes[i]), &bridges, err);
        if (r < 0)
            goto fail;
    }
    r = plan_forwards(lab, p, host->nat_table, err);
    if (r < 0)
        goto fail;
    if (!host->nat_table) {
        for (size_t i = 0; i < lab->n_networks; i++) {
            if (lab->networks[i].type != VMNET_NAT ||
                lab->networks[i].backend == VMNET_BACKEND_BRIDGE)
                continue;
            r = add_note(p, strdup("NAT networks use libvirt's own NAT here: kvmlab cannot add "
                                   "its table where this libvirt keeps its networks, so port "
                                   "forwards from outside the host are not available"));
            if (r < 0)
                goto oom;
            break;
        }
    }
    r = plan_firewall(lab, host, p, err);
    if (r < 0)
        goto fail;
    r = plan_storage(lab, host, p, err);
    if (r < 0)
        goto fail;
    r = plan_nodes(lab, host, p, err);
    if (r < 0)
        goto fail;
    r = engine_diff(p, err);
    if (r < 0)
        goto fail;
    r = plan_storage_drift(lab, host, p, err);
    if (r < 0)
        goto fail;
    *ret = steal_pointer(&p);
    r = 0;
    goto done;
oom:
    r = error_set(err, -ENOMEM, "Out of memory");
fail:
    plan_free(p);
done:
    for (size_t i = 0; notes && i < lab->n_networks; i++)
        free(notes[i]);
    free(notes);
    free(chosen);
    free(has);
    free(used.v);
    free(fixed.v);
    free(bridges.v);
    for (size_t i = 0; i < kept.n; i++)
        free((char *)kept.v[i]);
    free(kept.v);
    return r;
}
