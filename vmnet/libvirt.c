/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host side: libvirt networks as an engine backend. All XML text comes from netxml.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/resource.h"
#include "kvmlab/spectext.h"
#include "kvmlab/virt.h"
#include "kvmlab/vmnet.h"

/* The persistent definition (it carries the metadata of the last `up`); drivers without
 * VIR_NETWORK_XML_INACTIVE (libvirt's test driver) give the one definition they have. */
static char *definition_xml(virNetworkPtr net)
{
    char *xml = virNetworkGetXMLDesc(net, VIR_NETWORK_XML_INACTIVE);
    if (!xml && virGetLastErrorCode() == VIR_ERR_INVALID_ARG)
        xml = virNetworkGetXMLDesc(net, 0);
    return xml;
}

/* The names of the networks that list @flags gives, "\n"-joined with one around each (a
 * membership test is then one strstr). One round trip for every network instead of one each. */
static char *names_with(virConnectPtr conn, unsigned flags)
{
    virNetworkPtr *v = NULL;
    int n = virConnectListAllNetworks(conn, &v, flags);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = n >= 0 ? open_memstream(&buf, &len) : NULL;
    for (int i = 0; i < n; i++) {
        if (f)
            fprintf(f, "\n%s", virNetworkGetName(v[i]));
        virNetworkFree(v[i]);
    }
    free(v);
    if (f) {
        fputc('\n', f);
        fclose(f);
    }
    return buf;
}

static bool names_have(const char *names, const char *name)
{
    size_t l = strlen(name);
    for (const char *p = names ? strstr(names, name) : NULL; p; p = strstr(p + 1, name))
        if (p > names && p[-1] == '\n' && p[l] == '\n')
            return true;
    return false;
}

static int observe(void *ctx, Observed **ret, size_t *ret_n, Error *err)
{
    virConnectPtr conn = ctx;
    virNetworkPtr *nets = NULL;
    int n = virConnectListAllNetworks(conn, &nets, 0);
    if (n < 0)
        return virt_error(err, "Cannot list libvirt networks");
    _cleanup_free_ char *active = names_with(conn, VIR_CONNECT_LIST_NETWORKS_ACTIVE);
    _cleanup_free_ char *autostart = names_with(conn, VIR_CONNECT_LIST_NETWORKS_AUTOSTART);
    Observed *out = calloc((size_t)n + 1, sizeof(*out));
    int r = 0;
    if (!out) {
        r = error_set(err, -ENOMEM, "Out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        Observed *o = &out[i];
        o->kind = RESOURCE_NETWORK;
        o->name = strdup(virNetworkGetName(nets[i]));
        if (!o->name) {
            r = error_set(err, -ENOMEM, "Out of memory");
            goto done;
        }
        if (!active || !autostart) {
            r = virt_error(err, "Cannot list libvirt networks");
            goto done;
        }
        o->active = names_have(active, o->name);
        o->autostart = names_have(autostart, o->name);
        /* the persistent definition carries the metadata of the last `up` */
        _cleanup_free_ char *xml = definition_xml(nets[i]);
        if (!xml) {
            r = virt_error(err, "Cannot read the definition of network '%s'", o->name);
            goto done;
        }
        VmnetOwner owner = {0};
        if (vmnet_owner_parse(xml, &owner, NULL) == 0) {
            o->lab = steal_pointer(&owner.lab);
            o->key = steal_pointer(&owner.key);
            o->hash = steal_pointer(&owner.hash);
            o->spec = steal_pointer(&owner.spec);
        }
        vmnet_owner_clear(&owner);
        r = vmnet_libvirt_xml_summary(xml, &o->bridge, &o->has_subnet, &o->subnet, err);
        if (r < 0) {
            error_prefix(err, "Network '%s'", o->name);
            goto done;
        }
        /* what it really does: the running network's, else (or when that matches the
         * record) its stored definition's, which a hand edit may have changed for the next start */
        if (o->active && o->lab) {
            /* ours only: a foreign network's summary comes from its definition */
            _cleanup_free_ char *live = virNetworkGetXMLDesc(nets[i], 0);
            if (live && vmnet_libvirt_xml_essentials(live, o->spec, &o->live_spec, NULL) < 0)
                o->live_spec = NULL;
        }
        if (!o->live_spec || (o->spec && strcmp(o->live_spec, o->spec) == 0)) {
            free(o->live_spec);
            if (vmnet_libvirt_xml_essentials(xml, o->spec, &o->live_spec, NULL) < 0)
                o->live_spec = NULL;
        }
        /* what restores it exactly after a failed change */
        o->definition = steal_pointer(&xml);
    }
    *ret = steal_pointer(&out);
    *ret_n = (size_t)n;
done:
    if (out) {
        for (int i = 0; i < n; i++)
            observed_clear(&out[i]);
        free(out);
    }
    for (int i = 0; i < n; i++)
        virNetworkFree(nets[i]);
    free(nets);
    return r;
}

static int define_and_start(virConnectPtr conn, const Resource *want, Error *err)
{
    const VmnetSpec *spec = want->data;
    _cleanup_free_ char *xml = NULL;
    int r = vmnet_libvirt_xml_format(spec, &xml, err);
    if (r < 0)
        return r;
    _cleanup_network_ virNetworkPtr net = virNetworkDefineXML(conn, xml);
    if (!net)
        return virt_error(err, "Cannot define network '%s'", want->name);
    if (virNetworkCreate(net) < 0) {
        r = virt_error(err, "Cannot start network '%s'", want->name);
        virNetworkUndefine(net);
        return r;
    }
    if (virNetworkSetAutostart(net, 1) < 0) {
        r = virt_error(err, "Cannot mark network '%s' autostart", want->name);
        virNetworkDestroy(net);
        virNetworkUndefine(net);
        return r;
    }
    return 0;
}

static int create(void *ctx, const Resource *want, Error *err)
{
    return define_and_start(ctx, want, err);
}

static int start(void *ctx, const Observed *have, Error *err)
{
    _cleanup_network_ virNetworkPtr net = virNetworkLookupByName(ctx, have->name);
    if (!net)
        return virt_error(err, "Cannot find network '%s'", have->name);
    if (virNetworkCreate(net) < 0)
        return virt_error(err, "Cannot start network '%s'", have->name);
    return 0;
}

static int remove_net(void *ctx, const Observed *have, Error *err)
{
    virNetworkPtr net = virNetworkLookupByName(ctx, have->name);
    if (!net && virGetLastErrorCode() == VIR_ERR_NO_NETWORK)
        return 0; /* already gone */
    if (!net)
        return virt_error(err, "Cannot find network '%s'", have->name);
    int r = 0;
    if (virNetworkIsActive(net) == 1 && virNetworkDestroy(net) < 0)
        r = virt_error(err, "Cannot stop network '%s'", have->name);
    else if (virNetworkUndefine(net) < 0)
        r = virt_error(err, "Cannot undefine network '%s'", have->name);
    virNetworkFree(net);
    return r;
}

static bool strv_contains(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] && strcmp(v[i], s) == 0)
            return true;
    return false;
}

/* "mac,ip,name" of a canonical host line back into a VmnetHost (name NULL for "-"). */
static int host_from_line(const char *line, VmnetHost *h)
{
    char mac[MAC_STRLEN] = "", ip[IPV4_STRLEN] = "", name[256] = "";
    if (sscanf(line, "%17[^,],%15[^,],%255s", mac, ip, name) < 2)
        return -EINVAL;
    if (addr_mac_parse(mac, &h->mac) < 0 || addr_ipv4_parse(ip, &h->ip) < 0)
        return -EINVAL;
    h->name = (name[0] && strcmp(name, "-") != 0) ? strdup(name) : NULL;
    return 0;
}

/* The <ip> element that carries DHCP: N.2 (the second) on NAT networks, N.1 (the only one) on
 * host-only ones. Named explicitly: with -1 libvirt picks the first IPv4 <ip> when it cannot
 * tell, which on NAT is the wrong one. */
static int dhcp_ip_index(const VmnetSpec *s)
{
    return s->type == VMNET_NAT ? 1 : 0;
}

static int net_update(virNetworkPtr net, unsigned cmd, unsigned section, int parent,
                      const char *xml, const char *what, const char *netname, Error *err)
{
    unsigned flags = VIR_NETWORK_UPDATE_AFFECT_LIVE | VIR_NETWORK_UPDATE_AFFECT_CONFIG;
    if (virNetworkUpdate(net, cmd, section, parent, xml, flags) < 0)
        return virt_error(err, "Cannot %s in network '%s'", what, netname);
    return 0;
}

/* Change reservations and DNS hosts of a running network in place (virNetworkUpdate), then
 * store the new definition (metadata included) for the next start. */
static int update_in_place(void *ctx, const Resource *want, const Observed *have, Error *err)
{
    const VmnetSpec *spec = want->data;
    _cleanup_network_ virNetworkPtr net = virNetworkLookupByName(ctx, have->name);
    if (!net)
        return virt_error(err, "Cannot find network '%s'", have->name);

    char **oldv = NULL, **newv = NULL;
    /* what the network really holds (a hand edit included), not what its record says */
    const char *was = have->live_spec ? have->live_spec : have->spec;
    size_t n_old = spec_text_values(was, "live.host", &oldv);
    size_t n_new = spec_text_values(want->spec, "live.host", &newv);
    int r = 0;

    for (size_t i = 0; i < n_old && r >= 0; i++) {
        if (strv_contains(newv, n_new, oldv[i]))
            continue;
        VmnetHost h = {0};
        if (host_from_line(oldv[i], &h) < 0)
            continue;
        _cleanup_free_ char *dhcp = vmnet_libvirt_dhcp_host_format(spec, &h);
        r = net_update(net, VIR_NETWORK_UPDATE_COMMAND_DELETE, VIR_NETWORK_SECTION_IP_DHCP_HOST,
                       dhcp_ip_index(spec), dhcp, "remove a DHCP reservation", have->name, err);
        if (r >= 0 && h.name) {
            _cleanup_free_ char *dns = vmnet_libvirt_dns_host_format(&h, spec->domain);
            r = net_update(net, VIR_NETWORK_UPDATE_COMMAND_DELETE, VIR_NETWORK_SECTION_DNS_HOST, -1,
                           dns, "remove a DNS host", have->name, err);
        }
        free(h.name);
    }
    for (size_t i = 0; i < n_new && r >= 0; i++) {
        if (strv_contains(oldv, n_old, newv[i]))
            continue;
        VmnetHost h = {0};
        if (host_from_line(newv[i], &h) < 0)
            continue;
        _cleanup_free_ char *dhcp = vmnet_libvirt_dhcp_host_format(spec, &h);
        r = net_update(net, VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, VIR_NETWORK_SECTION_IP_DHCP_HOST,
                       dhcp_ip_index(spec), dhcp, "add a DHCP reservation", have->name, err);
        if (r >= 0 && h.name) {
            _cleanup_free_ char *dns = vmnet_libvirt_dns_host_format(&h, spec->domain);
            r = net_update(net, VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, VIR_NETWORK_SECTION_DNS_HOST,
                           -1, dns, "add a DNS host", have->name, err);
        }
        free(h.name);
    }
    spec_text_values_free(oldv, n_old);
    spec_text_values_free(newv, n_new);
    if (r < 0)
        return r;

    /* lease time: libvirt cannot modify a range, but can delete and add it again */
    char **ol = NULL, **nl = NULL;
    size_t n_ol = spec_text_values(was, "live.lease", &ol);
    size_t n_nl = spec_text_values(want->spec, "live.lease", &nl);
    bool lease_changed = n_ol != n_nl || (n_ol && strcmp(ol[0], nl[0]) != 0);
    spec_text_values_free(ol, n_ol);
    spec_text_values_free(nl, n_nl);
    if (lease_changed && spec->dhcp) {
        _cleanup_free_ char *range = vmnet_libvirt_dhcp_range_format(spec);
        r = net_update(net, VIR_NETWORK_UPDATE_COMMAND_DELETE, VIR_NETWORK_SECTION_IP_DHCP_RANGE,
                       dhcp_ip_index(spec), range, "remove the DHCP range", have->name, err);
        if (r >= 0)
            r = net_update(net, VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
                           VIR_NETWORK_SECTION_IP_DHCP_RANGE, dhcp_ip_index(spec), range,
                           "add the DHCP range", have->name, err);
        if (r < 0)
            return r;
    }

    /* the persistent definition now gets the new metadata (libvirt 9.0 has no
     * virNetworkSetMetadata); redefining a running network only touches its config */
    _cleanup_free_ char *xml = NULL;
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (virNetworkGetUUIDString(net, uuid) < 0)
        return virt_error(err, "Cannot read the UUID of network '%s'", have->name);
    r = vmnet_libvirt_xml_format_uuid(spec, uuid, &xml, err);
    if (r < 0)
        return r;
    _cleanup_network_ virNetworkPtr redef = virNetworkDefineXML(ctx, xml);
    if (!redef)
        return virt_error(err, "Cannot store the new definition of network '%s'", have->name);
    return 0;
}

/* Replace a network by a new definition; when the new one cannot be made, the old definition
 * is defined and started again, so a failed `up` never loses a working network. */
/* What a network was before a change, to put it back when the change fails. */
typedef struct NetSnapshot {
    char *xml;
    bool active;
    int autostart;
} NetSnapshot;

static int snapshot_take(virConnectPtr conn, const char *name, NetSnapshot *ret, Error *err)
{
    _cleanup_network_ virNetworkPtr net = virNetworkLookupByName(conn, name);
    if (!net)
        return virt_error(err, "Cannot find network '%s'", name);
    ret->xml = definition_xml(net);
    if (!ret->xml)
        return virt_error(err, "Cannot read the definition of network '%s'", name);
    ret->active = virNetworkIsActive(net) == 1;
    ret->autostart = 0;
    virNetworkGetAutostart(net, &ret->autostart);
    return 0;
}

/* Make @want from scratch in place of @have; when that fails, define and start @before again
 * and say in @err how far that got (the first error stays the one reported). */
static int recreate_from(virConnectPtr conn, const Resource *want, const Observed *have,
                         const NetSnapshot *before, Error *err)
{
    int r = remove_net(conn, have, err);
    if (r < 0)
        return r;
    r = define_and_start(conn, want, err);
    if (r >= 0)
        return 0;
    virNetworkPtr back = virNetworkDefineXML(conn, before->xml);
    if (!back) {
        error_prefix(err, "Network '%s' is gone and could not be defined again", have->name);
        return r;
    }
    bool ok = !before->active || virNetworkCreate(back) == 0;
    if (before->autostart)
        virNetworkSetAutostart(back, 1);
    virNetworkFree(back);
    if (ok)
        error_prefix(err, "Network '%s' was left as it was", have->name);
    else
        error_prefix(err, "Network '%s' was defined again but could not be started", have->name);
    return r;
}

static int recreate(void *ctx, const Resource *want, const Observed *have, Error *err)
{
    NetSnapshot before = {0};
    int r = snapshot_take(ctx, have->name, &before, err);
    if (r >= 0)
        r = recreate_from(ctx, want, have, &before, err);
    free(before.xml);
    return r;
}

/* In place first; when libvirt refuses a step half-way (the network then matches neither
 * spec), make it anew from the wanted spec, restoring what it was before the update if even
 * that fails. */
static int update(void *ctx, const Resource *want, const Observed *have, Error *err)
{
    NetSnapshot before = {0};
    Error first = ERROR_INIT;
    int r = snapshot_take(ctx, have->name, &before, err);
    if (r < 0)
        return r;
    r = update_in_place(ctx, want, have, &first);
    if (r < 0) {
        r = recreate_from(ctx, want, have, &before, err);
        if (r < 0)
            error_prefix(err, "%s; then", first.message ? first.message : "Update failed");
    }
    error_clear(&first);
    free(before.xml);
    return r;
}

/* Put a network back as observation saw it: whatever has its name now goes, its definition is
 * defined again (same UUID, same metadata), started and marked autostart as it was. */
static int restore(void *ctx, const Observed *have, Error *err)
{
    if (!have->definition)
        return error_set(err, -ENOTSUP, "Network '%s' has no definition to restore", have->name);
    int r = remove_net(ctx, have, err);
    if (r < 0)
        return r;
    _cleanup_network_ virNetworkPtr net = virNetworkDefineXML(ctx, have->definition);
    if (!net)
        return virt_error(err, "Cannot define network '%s' again", have->name);
    if (have->active && virNetworkCreate(net) < 0)
        return virt_error(err, "Cannot start network '%s' again", have->name);
    if (virNetworkSetAutostart(net, have->autostart ? 1 : 0) < 0)
        return virt_error(err, "Cannot set the autostart of network '%s' again", have->name);
    return 0;
}

void vmnet_libvirt_backend(void *conn, EngineBackend *ret)
{
    *ret = (EngineBackend){
            .kind = RESOURCE_NETWORK,
            .label = "network",
            .observe = observe,
            .create = create,
            .start = start,
            .update = update,
            .remove = remove_net,
            .recreate = recreate,
            .restore = restore,
            .ctx = conn,
    };
}

int vmnet_libvirt_lease_count(void *conn, const char *name, Error *err)
{
    _cleanup_network_ virNetworkPtr net = virNetworkLookupByName(conn, name);
    if (!net)
        return virt_error(err, "Cannot find network '%s'", name);
    if (virNetworkIsActive(net) != 1)
        return 0;
    virNetworkDHCPLeasePtr *leases = NULL;
    int n = virNetworkGetDHCPLeases(net, NULL, &leases, 0);
    if (n < 0)
        return virt_error(err, "Cannot read the DHCP leases of network '%s'", name);
    for (int i = 0; i < n; i++)
        virNetworkDHCPLeaseFree(leases[i]);
    free(leases);
    return n;
}
