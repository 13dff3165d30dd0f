/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host side: the lab's NAT table through libnftables, inside the lab's network namespace. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/resource.h"
#include "kvmlab/vmnet.h"
#include "nftrun.h"

/* Run @cmd in the lab's namespace; output in *ret_out (may be NULL). 0, or a negative errno
 * with @err set. */
static int nft_run(const char *netns, const char *cmd, char **ret_out, const char *what, Error *err)
{
    return nft_run_in_netns(netns, cmd, 0, ret_out, what, err);
}

static int observe(void *ctx, Observed **ret, size_t *ret_n, Error *err)
{
    const char *netns = ctx;
    _cleanup_free_ char *all = NULL;
    /* one listing of every ip table: libnftables builds its cache once (two commands, each on a
     * fresh context, cost a third of a no-op plan) */
    int r = nft_run(netns, "list ruleset ip", &all, "list the nftables ruleset", err);
    if (r < 0)
        return r;
    Observed *out = NULL;
    size_t n = 0;
    for (const char *p = all; p && *p;) {
        /* a table is "table ip NAME {" ... "}" at the start of a line */
        char name[128];
        p += strspn(p, "\n");
        if (!*p)
            break;
        const char *end = strstr(p, "\n}\n");
        const char *next = end ? end + 3 : p + strlen(p);
        if (sscanf(p, "table ip %127s {", name) != 1 || strncmp(name, "kvmlab-", 7) != 0 || !end) {
            p = next;
            continue;
        }
        _cleanup_free_ char *listing = strndup(p, (size_t)(next - p));
        p = next;
        Observed *no = realloc(out, (n + 1) * sizeof(*no));
        if (!listing || !no) {
            if (no)
                out = no;
            r = error_set(err, -ENOMEM, "Out of memory");
            goto fail;
        }
        out = no;
        Observed *o = &out[n++];
        memset(o, 0, sizeof(*o));
        o->kind = RESOURCE_PORTFWD;
        o->name = strdup(name);
        if (!o->name) {
            r = error_set(err, -ENOMEM, "Out of memory");
            goto fail;
        }
        o->active = true;
        o->autostart = true;
        if (vmnet_nft_comment_parse(listing, &o->lab, &o->hash) == 0)
            o->key = strdup("nat");
        /* what the table really does, and (nft reads its own listing back) what restores it */
        if (vmnet_nft_listing_essentials(listing, &o->live_spec, NULL) < 0)
            o->live_spec = NULL;
        o->definition = steal_pointer(&listing);
    }
    *ret = out;
    *ret_n = n;
    return 0;
fail:
    for (size_t i = 0; i < n; i++)
        observed_clear(&out[i]);
    free(out);
    return r;
}

static int create(void *ctx, const Resource *want, Error *err)
{
    const VmnetForwardSet *set = want->data;
    _cleanup_free_ char *text = vmnet_nft_table_format(set, want->hash);
    if (!text)
        return error_set(err, -ENOMEM, "Out of memory");
    return nft_run(ctx, text, NULL, "add the NAT table", err);
}

static int remove_table(void *ctx, const Observed *have, Error *err)
{
    _cleanup_free_ char *cmd = NULL;
    /* adding first makes the delete valid when the table is already gone */
    if (asprintf(&cmd, "add table ip %s\ndelete table ip %s", have->name, have->name) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    return nft_run(ctx, cmd, NULL, "remove the NAT table", err);
}

/* Put the table back as observation listed it, in one transaction. */
static int restore(void *ctx, const Observed *have, Error *err)
{
    _cleanup_free_ char *cmd = NULL;
    if (!have->definition)
        return error_set(err, -ENOTSUP, "Table '%s' has no listing to restore", have->name);
    if (asprintf(&cmd, "add table ip %s\ndelete table ip %s\n%s", have->name, have->name,
                 have->definition) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    return nft_run(ctx, cmd, NULL, "restore the NAT table", err);
}

/* Replace the table in one transaction, so no packet sees it half-made. */
static int replace(void *ctx, const Resource *want, const Observed *have, Error *err)
{
    const VmnetForwardSet *set = want->data;
    _cleanup_free_ char *text = vmnet_nft_table_format(set, want->hash);
    _cleanup_free_ char *cmd = NULL;
    if (!text ||
        asprintf(&cmd, "add table ip %s\ndelete table ip %s\n%s", have->name, have->name, text) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    return nft_run(ctx, cmd, NULL, "replace the NAT table", err);
}

static int start(void *ctx, const Observed *have, Error *err)
{
    (void)ctx;
    (void)have;
    (void)err;
    return 0; /* a table is active while it exists */
}

void vmnet_nft_backend(const char *netns, EngineBackend *ret)
{
    *ret = (EngineBackend){
            .kind = RESOURCE_PORTFWD,
            .label = "nat",
            .observe = observe,
            .create = create,
            .start = start,
            .update = replace,
            .remove = remove_table,
            .recreate = replace, /* one nft transaction: all or nothing */
            .restore = restore,
            .ctx = (void *)netns,
    };
}
