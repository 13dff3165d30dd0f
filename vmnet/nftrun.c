/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host side: libnftables and other per-namespace work on a thread inside a network namespace. */
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
#include "nftrun.h"

typedef struct NetnsJob {
    const char *netns;
    void (*fn)(void *data);
    void *data;
    int setns_error;
} NetnsJob;

static void *netns_thread(void *p)
{
    NetnsJob *j = p;
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
    j->fn(j->data);
    return NULL;
}

int netns_call(const char *netns, void (*fn)(void *data), void *data, int *ret_setns_failed)
{
    NetnsJob j = {.netns = netns, .fn = fn, .data = data};
    pthread_t t;
    int r = pthread_create(&t, NULL, netns_thread, &j);
    if (ret_setns_failed)
        *ret_setns_failed = 0;
    if (r != 0)
        return -r;
    pthread_join(t, NULL);
    if (j.setns_error < 0) {
        if (ret_setns_failed)
            *ret_setns_failed = 1;
        return j.setns_error;
    }
    return 0;
}

typedef struct NftJob {
    const char *cmd;
    unsigned flags;
    char *out;
    char *errout;
    int rc;
} NftJob;

static void nft_job(void *p)
{
    NftJob *j = p;
    struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!ctx) {
        j->rc = -ENOMEM;
        return;
    }
    if (j->flags)
        nft_ctx_output_set_flags(ctx, nft_ctx_output_get_flags(ctx) | j->flags);
    nft_ctx_buffer_output(ctx);
    nft_ctx_buffer_error(ctx);
    j->rc = nft_run_cmd_from_buffer(ctx, j->cmd);
    const char *o = nft_ctx_get_output_buffer(ctx);
    const char *e = nft_ctx_get_error_buffer(ctx);
    j->out = strdup(o ? o : "");
    j->errout = strdup(e ? e : "");
    nft_ctx_free(ctx);
}

int nft_run_in_netns(const char *netns, const char *cmd, unsigned output_flags, char **ret_out,
                     const char *what, Error *err)
{
    NftJob j = {.cmd = cmd, .flags = output_flags};
    int setns_failed = 0;
    int r = netns_call(netns, nft_job, &j, &setns_failed);
    if (r < 0 && setns_failed)
        r = error_set_errno(err, r, "Cannot %s: cannot enter network namespace '%s'", what, netns);
    else if (r < 0)
        r = error_set_errno(err, r, "Cannot %s", what);
    else if (j.rc != 0)
        r = error_set(err, -EIO, "Cannot %s: %.*s", what,
                      (int)strcspn(j.errout ? j.errout : "", "\n"), j.errout ? j.errout : "");
    if (r == 0 && ret_out)
        *ret_out = steal_pointer(&j.out);
    free(j.out);
    free(j.errout);
    return r;
}
