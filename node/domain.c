/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Nodes as libvirt domains: the engine backend of RESOURCE_DOMAIN. A node is made by writing
 * its seed, defining its domain and starting it; removed by stopping and undefining it. Its
 * directory in the lab's state (seed, console log) stays until the session prunes it, so that
 * undoing a removal can start the domain again on the same seed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/nodedomain.h"
#include "kvmlab/virt.h"

/* Replace the values of KEY= lines of @spec by @vals (in order), keeping every other line. */
static void spec_put(FILE *f, const char *spec, const char *key, char *const *vals, size_t n,
                     bool *done)
{
    (void)spec;
    if (*done)
        return;
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s=%s\n", key, vals[i]);
    *done = true;
}

char *node_domain_live_spec(const char *spec, const char *xml)
{
    DomainLive live = {0};
    Error ignore = ERROR_INIT;
    char *out = NULL;
    size_t len = 0;
    if (!spec || node_domain_parse(xml, &live, &ignore) < 0) {
        error_clear(&ignore);
        return NULL;
    }
    FILE *f = open_memstream(&out, &len);
    if (!f) {
        domain_live_clear(&live);
        return NULL;
    }
    bool macs_done = false;
    for (const char *line = spec; *line;) {
        const char *end = strchr(line, '\n');
        size_t l = end ? (size_t)(end - line) : strlen(line);
        if (l >= 5 && strncmp(line, "cpus=", 5) == 0)
            fprintf(f, "cpus=%u\n", live.cpus);
        else if (l >= 7 && strncmp(line, "memory=", 7) == 0)
            fprintf(f, "memory=%llu\n", (unsigned long long)live.memory_mib);
        else if (l >= 4 && strncmp(line, "mac=", 4) == 0)
            spec_put(f, spec, "mac", live.macs, live.n_macs, &macs_done);
        else {
            fwrite(line, 1, l, f);
            fputc('\n', f);
        }
        line = end ? end + 1 : line + l;
    }
    /* a domain given NICs by hand that the spec never had */
    if (!macs_done)
        spec_put(f, spec, "mac", live.macs, live.n_macs, &macs_done);
    domain_live_clear(&live);
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

static int observe_one(virDomainPtr dom, Observed *o, Error *err)
{
    _cleanup_free_ char *xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    DomainLive live = {0};
    int autostart = 0;
    o->kind = RESOURCE_DOMAIN;
    o->name = strdup(virDomainGetName(dom));
    if (!o->name)
        return error_set(err, -ENOMEM, "Out of memory");
    if (!xml)
        return 0; /* gone while we looked: nothing to say about it */
    Error ignore = ERROR_INIT;
    if (node_domain_parse(xml, &live, &ignore) < 0) {
        /* a domain kvmlab cannot read is not ours; its name still counts for clashes */
        error_clear(&ignore);
        return 0;
    }
    o->lab = steal_pointer(&live.lab);
    o->key = steal_pointer(&live.key);
    o->hash = steal_pointer(&live.hash);
    o->spec = steal_pointer(&live.spec);
    domain_live_clear(&live);
    if (o->lab && o->spec)
        o->live_spec = node_domain_live_spec(o->spec, xml);
    o->definition = steal_pointer(&xml);
    o->active = virDomainIsActive(dom) == 1;
    if (virDomainGetAutostart(dom, &autostart) == 0)
        o->autostart = autostart;
    return 0;
}

static int domain_observe(void *ctx, Observed **ret, size_t *ret_n, Error *err)
{
    virConnectPtr conn = ctx;
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(conn, &doms, 0);
    if (n < 0)
        return virt_error(err, "Cannot list the domains");
    Observed *v = calloc((size_t)n + 1, sizeof(*v));
    int r = v ? 0 : error_set(err, -ENOMEM, "Out of memory");
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        if (r >= 0) {
            r = observe_one(doms[i], &v[k], err);
            k++;
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    if (r < 0) {
        for (size_t i = 0; i < k; i++)
            observed_clear(&v[i]);
        free(v);
        return r;
    }
    *ret = v;
    *ret_n = k;
    return 0;
}

/* The node's directory in the lab's state: 0711, so a daemon that runs QEMU as another user
 * (qemu:///system) reaches the seed, which libvirt hands to that user; the seed itself is 0600
 * (it carries secrets), and nobody can list the directory. */
static int node_dir(const DomainPlan *d, Error *err)
{
    int r = fs_mkdir_p(d->dir, 0711, err);
    if (r < 0)
        return r;
    if (chmod(d->dir, 0711) < 0)
        return error_set_errno(err, -errno, "Cannot set the mode of '%s'", d->dir);
    return 0;
}

/* Undefine with whatever libvirt keeps beside a domain; a driver that knows none of those
 * flags (libvirt's test driver) gets the plain call. */
static int undefine(virDomainPtr dom)
{
    if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                                            VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA) == 0)
        return 0;
    virErrorPtr e = virGetLastError();
    if (e && (e->code == VIR_ERR_INVALID_ARG || e->code == VIR_ERR_NO_SUPPORT))
        return virDomainUndefine(dom);
    return -1;
}

static int write_seed(const DomainPlan *d, Error *err)
{
    if (!d->seed_path)
        return 0;
    SeedFile files[3] = {
            {"meta-data", d->seed.meta_data, strlen(d->seed.meta_data)},
            {"network-config", d->seed.network_config, strlen(d->seed.network_config)},
            {"user-data", d->seed.user_data, strlen(d->seed.user_data)},
    };
    return node_seed_write(d->seed_path, files, 3, err);
}

static int domain_create(void *ctx, const Resource *want, Error *err)
{
    virConnectPtr conn = ctx;
    const DomainPlan *d = want->data;
    int r = node_dir(d, err);
    if (r >= 0)
        r = write_seed(d, err);
    if (r < 0)
        return r;
    /* the console log of this boot only: the readiness wait reads it from the start */
    if (unlink(d->console_log) < 0 && errno != ENOENT)
        return error_set_errno(err, -errno, "Cannot remove the old console log '%s'",
                               d->console_log);
    _cleanup_domain_ virDomainPtr dom = virDomainDefineXML(conn, d->xml);
    if (!dom) {
        r = virt_error(err, "Cannot define node '%s'", want->key);
        goto fail;
    }
    if (d->start && virDomainCreate(dom) < 0) {
        r = virt_error(err, "Cannot start node '%s'", want->key);
        undefine(dom);
        goto fail;
    }
    return 0;
fail:
    /* nothing of the node stays: its seed carries secrets */
    if (d->seed_path)
        (void)unlink(d->seed_path);
    (void)rmdir(d->dir);
    return r;
}

static int domain_start(void *ctx, const Observed *have, Error *err)
{
    virConnectPtr conn = ctx;
    _cleanup_domain_ virDomainPtr dom = virDomainLookupByName(conn, have->name);
    if (!dom)
        return virt_error(err, "Cannot find node '%s'", have->name);
    if (virDomainIsActive(dom) == 1)
        return 0;
    if (virDomainCreate(dom) < 0)
        return virt_error(err, "Cannot start node '%s'", have->key ? have->key : have->name);
    return 0;
}

static int domain_remove(void *ctx, const Observed *have, Error *err)
{
    virConnectPtr conn = ctx;
    _cleanup_domain_ virDomainPtr dom = virDomainLookupByName(conn, have->name);
    if (!dom)
        return 0; /* already gone */
    if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0 && virDomainIsActive(dom) == 1)
        return virt_error(err, "Cannot stop node '%s'", have->key ? have->key : have->name);
    if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                                            VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA) < 0)
        return virt_error(err, "Cannot undefine node '%s'", have->key ? have->key : have->name);
    return 0;
}

/* A domain has no facts that change on a running guest: any change makes it again, on the same
 * disks (the engine never asks for this; it is here for completeness of the contract). */
static int domain_update(void *ctx, const Resource *want, const Observed *have, Error *err)
{
    int r = domain_remove(ctx, have, err);
    return r < 0 ? r : domain_create(ctx, want, err);
}

static int domain_restore(void *ctx, const Observed *have, Error *err)
{
    virConnectPtr conn = ctx;
    if (!have->definition)
        return error_set(err, -EINVAL, "Cannot restore node '%s': its definition was not read",
                         have->name);
    int r = domain_remove(ctx, have, err);
    if (r < 0)
        return r;
    _cleanup_domain_ virDomainPtr dom = virDomainDefineXML(conn, have->definition);
    if (!dom)
        return virt_error(err, "Cannot define node '%s' again", have->name);
    if (have->autostart)
        (void)virDomainSetAutostart(dom, 1);
    if (have->active && virDomainCreate(dom) < 0)
        return virt_error(err, "Cannot start node '%s' again", have->name);
    return 0;
}

void node_domain_backend(void *conn, EngineBackend *ret)
{
    *ret = (EngineBackend){
            .kind = RESOURCE_DOMAIN,
            .label = "node",
            .observe = domain_observe,
            .create = domain_create,
            .start = domain_start,
            .update = domain_update,
            .remove = domain_remove,
            .recreate = NULL,
            .restore = domain_restore,
            .ctx = conn,
    };
}
