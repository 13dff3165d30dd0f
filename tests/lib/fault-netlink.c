/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel refusing one netlink request: linked into a kvmlab binary with
 * -Wl,--wrap=hostlink_send (STYLE: --wrap only to inject failures). KVMLAB_FAULT_NETLINK=N makes
 * the Nth request of the run fail with EPERM before it is sent; every other one is sent.
 */
#include <errno.h>
#include <stdlib.h>

#include "kvmlab/error.h"
#include "kvmlab/hostlink.h"

int __real_hostlink_send(HostLink *h, struct nl_msg *msg, const char *what, Error *err);
int __wrap_hostlink_send(HostLink *h, struct nl_msg *msg, const char *what, Error *err);

int __wrap_hostlink_send(HostLink *h, struct nl_msg *msg, const char *what, Error *err)
{
    static long count;
    const char *n = getenv("KVMLAB_FAULT_NETLINK");
    if (n && ++count == strtol(n, NULL, 10))
        return error_set(err, -EPERM, "%s: refused (injected by the test)", what);
    return __real_hostlink_send(h, msg, what, err);
}
