/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
/* Private to vmnet/: the HostLink socket shared by nlsock.c (which alone sends, so tests can
 * -Wl,--wrap=hostlink_send: a wrap only reaches calls from another object file) and hostlink.c. */
#include <linux/netlink.h>

#include "kvmlab/hostlink.h"

struct nl_sock;

/* A handler for the data messages that answer a request (dumps). */
typedef int (*MsgHandler)(struct nlmsghdr *hdr, void *arg);

struct HostLink {
    struct nl_sock *sk;
    char *netns;       /* NULL: the namespace of the process */
    MsgHandler on_msg; /* set around a dump, NULL otherwise */
    void *on_arg;
};

/* Run @fn(@arg) in a short-lived thread inside network namespace @netns (NULL: here). @fn's
 * result, or a negative errno when the namespace cannot be entered (@err set only when the
 * thread cannot be made). */
int hostlink_run_in_netns(const char *netns, int (*fn)(void *), void *arg, const char *what,
                          Error *err);
/* 0 when @netns is NULL or names an existing /run/netns entry, else -errno with @err set. */
int hostlink_check_netns(const char *netns, const char *what, Error *err);
