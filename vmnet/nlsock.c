/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host side of hostlink: the NETLINK_ROUTE socket opened inside a network namespace, and
 * hostlink_send(), the one function that talks to the kernel. It lives apart from hostlink.c so
 * that a test's -Wl,--wrap=hostlink_send reaches every call.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "hostlink-priv.h"
#include "nftrun.h"
#include "kvmlab/cleanup.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* ---- running code inside the namespace ---------------------------------------------------- */

typedef struct NsJob {
    int (*fn)(void *arg);
    void *arg;
    int rc;
} NsJob;

static void ns_job(void *p)
{
    NsJob *j = p;
    j->rc = j->fn(j->arg);
}

/* Run @fn(@arg) in a thread inside @netns (nftrun.c's netns_call). Its result, or a negative
 * errno: with @err set when no thread could start, without when the namespace cannot be entered
 * (the callers check it first with hostlink_check_netns()). */
int hostlink_run_in_netns(const char *netns, int (*fn)(void *), void *arg, const char *what,
                          Error *err)
{
    NsJob j = {.fn = fn, .arg = arg};
    int setns_failed = 0;
    int r = netns_call(netns, ns_job, &j, &setns_failed);
    if (r < 0 && !setns_failed)
        return error_set_errno(err, r, "Cannot %s", what);
    return r < 0 ? r : j.rc;
}

int hostlink_check_netns(const char *netns, const char *what, Error *err)
{
    char path[256];
    if (!netns)
        return 0;
    if (!*netns || strchr(netns, '/') || strlen(netns) > 200)
        return error_set(err, -EINVAL, "Cannot %s: '%s' is not a network namespace name", what,
                         netns);
    snprintf(path, sizeof(path), "/run/netns/%s", netns);
    if (access(path, F_OK) < 0)
        return error_set_errno(err, -errno, "Cannot %s: cannot enter network namespace '%s'", what,
                               netns);
    return 0;
}

/* ---- the socket ---------------------------------------------------------------------------- */

static int open_socket(void *arg)
{
    struct nl_sock **ret = arg;
    struct nl_sock *sk = nl_socket_alloc();
    int one = 1;
    if (!sk)
        return -ENOMEM;
    int r = nl_connect(sk, NETLINK_ROUTE);
    if (r < 0) {
        nl_socket_free(sk);
        return r == -NLE_NOMEM ? -ENOMEM : -EIO;
    }
    /* the kernel's own sentence about a refusal, and only the header of our request back */
    (void)setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    (void)setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    *ret = sk;
    return 0;
}

int hostlink_open(const char *netns, HostLink **ret, Error *err)
{
    const char *what = "open a netlink socket";
    struct nl_sock *sk = NULL;
    int r = hostlink_check_netns(netns, what, err);
    if (r < 0)
        return r;
    HostLink *h = calloc(1, sizeof(*h));
    if (!h || (netns && !(h->netns = strdup(netns)))) {
        free(h);
        return error_set(err, -ENOMEM, "Out of memory");
    }
    r = hostlink_run_in_netns(netns, open_socket, &sk, what, err);
    if (r < 0) {
        hostlink_free(h);
        if (netns)
            return error_set_errno(err, r, "Cannot open a netlink socket in network namespace '%s'",
                                   netns);
        return error_set_errno(err, r, "Cannot open a netlink socket");
    }
    h->sk = sk;
    *ret = h;
    return 0;
}

void hostlink_free(HostLink *h)
{
    if (!h)
        return;
    if (h->sk)
        nl_socket_free(h->sk);
    free(h->netns);
    free(h);
}

typedef struct Reply {
    HostLink *h;
    int error;        /* the kernel's negative errno */
    char extack[200]; /* its message, when it gave one */
    int handler_rc;
} Reply;

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
    Reply *rp = arg;
    struct nlmsghdr *hdr = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
    rp->error = e->error < 0 ? e->error : -EIO;
    if (hdr->nlmsg_flags & NLM_F_ACK_TLVS) {
        size_t off = sizeof(*e);
        if (!(hdr->nlmsg_flags & NLM_F_CAPPED))
            off += e->msg.nlmsg_len - sizeof(e->msg);
        int len = (int)hdr->nlmsg_len - NLMSG_HDRLEN - (int)NLA_ALIGN(off);
        if (len > 0) {
            struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
            struct nlattr *head = (struct nlattr *)((char *)e + NLA_ALIGN(off));
            if (nla_parse(tb, NLMSGERR_ATTR_MAX, head, len, NULL) == 0 && tb[NLMSGERR_ATTR_MSG])
                nla_strlcpy(rp->extack, tb[NLMSGERR_ATTR_MSG], sizeof(rp->extack));
        }
    }
    return NL_STOP;
}

static int on_valid(struct nl_msg *msg, void *arg)
{
    Reply *rp = arg;
    if (rp->h->on_msg && rp->handler_rc == 0) {
        int r = rp->h->on_msg(nlmsg_hdr(msg), rp->h->on_arg);
        if (r < 0)
            rp->handler_rc = r;
    }
    return NL_OK;
}

static int on_ack(struct nl_msg *msg, void *arg)
{
    return NL_STOP;
}

int hostlink_send(HostLink *h, struct nl_msg *msg, const char *what, Error *err)
{
    Reply rp = {.h = h};
    struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
    if (!cb)
        return error_set(err, -ENOMEM, "Out of memory");
    nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, &rp);
    nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, &rp);
    nl_cb_err(cb, NL_CB_CUSTOM, on_error, &rp);
    int r = nl_send_auto(h->sk, msg);
    if (r >= 0)
        r = nl_recvmsgs(h->sk, cb);
    nl_cb_put(cb);
    if (rp.error < 0) {
        if (rp.extack[0])
            return error_set(err, rp.error, "%s: %s (%s)", what, strerror(-rp.error), rp.extack);
        return error_set_errno(err, rp.error, "%s", what);
    }
    if (r < 0)
        return error_set(err, -EIO, "%s: %s", what, nl_geterror(r));
    if (rp.handler_rc < 0)
        return error_set_errno(err, rp.handler_rc, "%s", what);
    return 0;
}
