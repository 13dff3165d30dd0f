/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host side: the lab's allow rules in the tables of a host firewall that would drop its
 * traffic (Docker's DOCKER-USER, ufw's and firewalld's input chains), as an engine backend.
 * The rules carry the comment "kvmlab-allow lab=LAB" (firewall.c writes them); the text that
 * made them is the lab's record, STATE/labs/LAB/firewall, written before the rules go in.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nftables/libnftables.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/firewall.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/resource.h"
#include "kvmlab/vmnet.h"
#include "nftrun.h"

static char *record_file(const VmnetBridgeCtx *c, const char *lab)
{
    char *p = NULL;
    if (asprintf(&p, "%s/labs/%s/firewall", c->state_root, lab) < 0)
        return NULL;
    return p;
}

/* The labs whose allow rules are in @ruleset, "\n"-joined with one around each. */
static char *labs_in(const char *ruleset)
{
    static const char mark[] = "comment \"kvmlab-allow lab=";
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fputc('\n', f);
    for (const char *p = strstr(ruleset, mark); p; p = strstr(p + 1, mark)) {
        const char *lab = p + strlen(mark);
        size_t n = strcspn(lab, "\"\n");
        fflush(f);
        /* once each */
        char probe[160];
        snprintf(probe, sizeof(probe), "\n%.*s\n", (int)(n < 150 ? n : 150), lab);
        if (!strstr(buf, probe))
            fprintf(f, "%.*s\n", (int)n, lab);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int observe(void *ctx, Observed **ret, size_t *ret_n, Error *err)
{
    const VmnetBridgeCtx *c = ctx;
    _cleanup_free_ char *ruleset = NULL;
    int br_nf;
    int r = firewall_ruleset_read(c->netns, &ruleset, &br_nf, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *labs = labs_in(ruleset);
    if (!labs)
        return error_set(err, -ENOMEM, "Out of memory");
    Observed *v = NULL;
    size_t n = 0;
    for (char *save = NULL, *lab = strtok_r(labs, "\n", &save); lab;
         lab = strtok_r(NULL, "\n", &save)) {
        Observed *nv = realloc(v, (n + 1) * sizeof(*nv));
        if (!nv)
            goto oom;
        v = nv;
        Observed *o = &v[n++];
        *o = (Observed){.kind = RESOURCE_FIREWALL, .active = true, .autostart = true};
        _cleanup_free_ char *file = record_file(c, lab);
        o->lab = strdup(lab);
        o->key = strdup("firewall");
        o->name = strdup("firewall");
        if (!o->lab || !o->key || !o->name || !file)
            goto oom;
        if (fs_read_all(file, &o->spec, NULL, NULL) >= 0) {
            o->definition = strdup(o->spec);
            if (asprintf(&o->hash, "%016llx",
                         (unsigned long long)hash_fnv1a_str(HASH_FNV_INIT, o->spec)) < 0)
                goto oom;
        }
    }
    *ret = v;
    *ret_n = n;
    return 0;
oom:
    for (size_t i = 0; i < n; i++)
        observed_clear(&v[i]);
    free(v);
    return error_set(err, -ENOMEM, "Out of memory");
}

/* The rules of @text in, after the lab's own rules are out: one transaction each. */
static int rules_replace(const VmnetBridgeCtx *c, const char *lab, const char *text, Error *err)
{
    _cleanup_free_ char *file = record_file(c, lab);
    _cleanup_free_ char *dir = NULL;
    if (!file || asprintf(&dir, "%s/labs/%s", c->state_root, lab) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    int r = fs_mkdir_p(dir, 0711, err);
    if (r >= 0)
        r = fs_write_atomic(file, text, 0600, err);
    if (r >= 0)
        r = firewall_allow_remove(c->netns, lab, err);
    if (r >= 0 && *text)
        r = nft_run_in_netns(c->netns, text, 0, NULL, "add the lab's firewall allow rules", err);
    return r;
}

static int create(void *ctx, const Resource *want, Error *err)
{
    /* the lab is the first word after "lab=" of any comment; the resource knows it as key */
    const char *p = strstr(want->spec ? want->spec : "", "kvmlab-allow lab=");
    if (!p)
        return error_set(err, -EINVAL, "The firewall rules name no lab");
    p += strlen("kvmlab-allow lab=");
    _cleanup_free_ char *lab = strndup(p, strcspn(p, "\"\n"));
    if (!lab)
        return error_set(err, -ENOMEM, "Out of memory");
    return rules_replace(ctx, lab, want->spec, err);
}

static int update(void *ctx, const Resource *want, const Observed *have, Error *err)
{
    (void)have;
    return create(ctx, want, err);
}

static int start(void *ctx, const Observed *have, Error *err)
{
    return have->definition ? rules_replace(ctx, have->lab, have->definition, err) : 0;
}

static int remove_one(void *ctx, const Observed *have, Error *err)
{
    const VmnetBridgeCtx *c = ctx;
    int r = firewall_allow_remove(c->netns, have->lab, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *file = record_file(c, have->lab);
    if (file)
        unlink(file);
    return 0;
}

static int restore(void *ctx, const Observed *have, Error *err)
{
    const VmnetBridgeCtx *c = ctx;
    if (have->definition)
        return rules_replace(c, have->lab, have->definition, err);
    return firewall_allow_remove(c->netns, have->lab, err);
}

void vmnet_firewall_backend(VmnetBridgeCtx *ctx, EngineBackend *ret)
{
    *ret = (EngineBackend){
            .kind = RESOURCE_FIREWALL,
            .label = "firewall",
            .observe = observe,
            .create = create,
            .start = start,
            .update = update,
            .remove = remove_one,
            .restore = restore,
            .ctx = ctx,
    };
}
