/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host side: the lab's NAT table through libnftables, inside the lab's network namespace. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nftables/libnftables.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/resource.h"
#include "kvmlab/vmnet.h"

typedef struct NftJob {
    const char *netns;
    const char *cmd;
    char *out;
    char *errout;
    int rc;
    int setns_error;
} NftJob;

/* setns() moves only the calling thread, so a short-lived thread runs libnftables inside the
 * namespace while the rest of the process stays where it is. */
static void *nft_thread(void *p)
{
    NftJob *j = p;
    if (j->netns) {
        char path[256];
        snprintf(path, sizeof(path), "/run/netns/%s", j->netns);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
            j->setns_error = -errno;
            if (fd >= 0)
                close(fd);
            return NULL;
        }
        close(fd);
    }
    struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!ctx) {
        j->rc = -ENOMEM;
        return NULL;
    }
    nft_ctx_buffer_output(ctx);
    nft_ctx_buffer_error(ctx);
    j->rc = nft_run_cmd_from_buffer(ctx, j->cmd);
    const char *o = nft_ctx_get_output_buffer(ctx);
    const char *e = nft_ctx_get_error_buffer(ctx);
    j->out = strdup(o ? o : "");
    j->errout = strdup(e ? e : "");
    nft_ctx_free(ctx);
    return NULL;
}

/* Run @cmd; output in *ret_out (may be NULL). 0, or a negative errno with @err set. */
static int nft_run(const char *netns, const char *cmd, char **ret_out, const char *what, Error *err)
{
    NftJob j = {.netns = netns, .cmd = cmd};
    pthread_t t;
    int r = pthread_create(&t, NULL, nft_thread, &j);
    if (r != 0)
        return error_set_errno(err, -r, "Cannot %s", what);
    pthread_join(t, NULL);
    if (j.setns_error < 0)
        r = error_set_errno(err, j.setns_error, "Cannot %s: cannot enter network namespace '%s'",
                            what, netns);
    else if (j.rc != 0)
        r = error_set(err, -EIO, "Cannot %s: %.*s", what,
                      (int)strcspn(j.errout ? j.errout : "", "\n"), j.errout ? j.errout : "");
    else
        r = 0;
    if (r == 0 && ret_out)
        *ret_out = steal_pointer(&j.out);
    free(j.out);
    free(j.errout);
    return r;
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
