/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host side: the namespace's whole ruleset, its bridge sysctl and the lab's allow rules, through
 * libnftables on a thread inside the namespace. The text is made by vmnet/firewall.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nftables/libnftables.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/firewall.h"
#include "nftrun.h"

typedef struct SysctlJob {
    int value; /* -1 absent */
    int error;
} SysctlJob;

/* /proc/sys/net is the opening thread's namespace's, so it is opened on the namespace's thread. */
static void read_br_nf(void *p)
{
    SysctlJob *j = p;
    char buf[16] = "";
    j->value = -1;
    _cleanup_close_ int fd =
            open("/proc/sys/net/bridge/bridge-nf-call-iptables", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        /* no br_netfilter: nothing bridged goes through iptables */
        if (errno != ENOENT)
            j->error = -errno;
        return;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n < 0) {
        j->error = -errno;
        return;
    }
    buf[n] = '\0';
    j->value = atoi(buf) != 0 ? 1 : 0;
}

int firewall_ruleset_read(const char *netns, char **ret_ruleset, int *ret_br_nf, Error *err)
{
    _cleanup_free_ char *text = NULL;
    int r = nft_run_in_netns(netns, "list ruleset", NFT_CTX_OUTPUT_HANDLE, &text,
                             "list the nftables ruleset", err);
    if (r < 0)
        return r;
    SysctlJob j = {0};
    int setns_failed = 0;
    r = netns_call(netns, read_br_nf, &j, &setns_failed);
    if (r < 0 && setns_failed)
        return error_set_errno(err, r,
                               "Cannot read net.bridge.bridge-nf-call-iptables: cannot enter "
                               "network namespace '%s'",
                               netns);
    if (r == 0)
        r = j.error;
    if (r < 0)
        return error_set_errno(err, r, "Cannot read net.bridge.bridge-nf-call-iptables");
    *ret_ruleset = steal_pointer(&text);
    *ret_br_nf = j.value;
    return 0;
}

int firewall_allow_apply(const char *netns, const FirewallFinding *v, size_t n, Error *err)
{
    _cleanup_free_ char *script = firewall_allow_build(v, n);
    if (!script)
        return error_set(err, -ENOMEM, "Out of memory");
    if (!*script)
        return 0;
    /* one transaction: every allow or none */
    return nft_run_in_netns(netns, script, 0, NULL, "add the lab's firewall allow rules", err);
}

int firewall_allow_remove(const char *netns, const char *lab, Error *err)
{
    _cleanup_free_ char *listing = NULL;
    int r = nft_run_in_netns(netns, "list ruleset", NFT_CTX_OUTPUT_HANDLE, &listing,
                             "list the nftables ruleset", err);
    if (r < 0)
        return r;
    _cleanup_free_ char *script = firewall_allow_delete_build(listing, lab);
    if (!script)
        return error_set(err, -ENOMEM, "Out of memory");
    if (!*script)
        return 0;
    return nft_run_in_netns(netns, script, 0, NULL, "remove the lab's firewall allow rules", err);
}
