/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host side of hostlink: the links, addresses and routes of a network namespace read through
 * the socket of nlsock.c, sysfs and sysctl read there, and the NIC migration of VMnet0 bridged.
 * Every message goes through hostlink_send(); requests come from the pure builders of nlreq.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/hostlink.h"

#include "hostlink-priv.h"

static void msg_freep(struct nl_msg **p)
{
    if (*p)
        nlmsg_free(*p);
}

/* Send @msg (consumed) whose failure with @ignore (0: none) is no failure. */
static int send_msg(HostLink *h, struct nl_msg *msg, int ignore, const char *what, Error *err)
{
    _cleanup_(msg_freep) struct nl_msg *m = msg;
    Error e = ERROR_INIT;
    int r = hostlink_send(h, m, what, &e);
    if (r < 0 && r == ignore)
        r = 0;
    else if (r < 0)
        error_set(err, r, "%s", e.message);
    error_clear(&e);
    return r;
}

/* A dump of @type for @family, each answer handed to @fn. */
static int dump(HostLink *h, int type, int family, MsgHandler fn, void *arg, const char *what,
                Error *err)
{
    _cleanup_(msg_freep) struct nl_msg *msg = nlmsg_alloc_simple(type, NLM_F_DUMP);
    int r;
    if (!msg)
        return error_set(err, -ENOMEM, "Out of memory");
    if (type == RTM_GETLINK) {
        struct ifinfomsg ifi = {.ifi_family = (unsigned char)family};
        r = nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO);
    } else if (type == RTM_GETADDR) {
        struct ifaddrmsg ifa = {.ifa_family = (unsigned char)family};
        r = nlmsg_append(msg, &ifa, sizeof(ifa), NLMSG_ALIGNTO);
    } else {
        struct rtmsg rtm = {.rtm_family = (unsigned char)family};
        r = nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO);
    }
    if (r < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    h->on_msg = fn;
    h->on_arg = arg;
    r = hostlink_send(h, msg, what, err);
    h->on_msg = NULL;
    h->on_arg = NULL;
    return r;
}

/* ---- reading links, addresses, routes ------------------------------------------------------ */

typedef struct RawLink {
    HostLinkInfo info;
    int master_index;
} RawLink;

typedef struct LinkList {
    RawLink *v;
    size_t n;
} LinkList;

static void link_list_clear(LinkList *l)
{
    for (size_t i = 0; i < l->n; i++)
        host_link_info_clear(&l->v[i].info);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int on_link(struct nlmsghdr *hdr, void *arg)
{
    LinkList *l = arg;
    struct nlattr *tb[IFLA_MAX + 1];
    if (hdr->nlmsg_type != RTM_NEWLINK)
        return 0;
    struct ifinfomsg *ifi = nlmsg_data(hdr);
    if (nlmsg_parse(hdr, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0 || !tb[IFLA_IFNAME])
        return 0;
    RawLink *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
    if (!nv)
        return -ENOMEM;
    l->v = nv;
    RawLink *rl = &l->v[l->n];
    memset(rl, 0, sizeof(*rl));
    HostLinkInfo *i = &rl->info;
    nla_strlcpy(i->name, tb[IFLA_IFNAME], sizeof(i->name));
    i->ifindex = ifi->ifi_index;
    i->up = ifi->ifi_flags & IFF_UP;
    if (tb[IFLA_MTU])
        i->mtu = nla_get_u32(tb[IFLA_MTU]);
    if (tb[IFLA_ADDRESS] && nla_len(tb[IFLA_ADDRESS]) == 6)
        memcpy(i->mac.b, nla_data(tb[IFLA_ADDRESS]), 6);
    if (tb[IFLA_MASTER])
        rl->master_index = (int)nla_get_u32(tb[IFLA_MASTER]);
    if (tb[IFLA_IFALIAS] && nla_len(tb[IFLA_IFALIAS]) > 0) {
        i->alias = strndup(nla_data(tb[IFLA_IFALIAS]), (size_t)nla_len(tb[IFLA_IFALIAS]));
        if (!i->alias)
            return -ENOMEM;
    }
    if (tb[IFLA_LINKINFO]) {
        struct nlattr *li[IFLA_INFO_MAX + 1];
        if (nla_parse_nested(li, IFLA_INFO_MAX, tb[IFLA_LINKINFO], NULL) == 0 && li[IFLA_INFO_KIND])
            nla_strlcpy(i->kind, li[IFLA_INFO_KIND], sizeof(i->kind));
    }
    l->n++;
    return 0;
}

/* Every link, masters resolved to names. */
static int links_read(HostLink *h, LinkList *ret, Error *err)
{
    LinkList l = {0};
    int r = dump(h, RTM_GETLINK, AF_UNSPEC, on_link, &l, "Cannot list the network links", err);
    if (r < 0) {
        link_list_clear(&l);
        return r;
    }
    for (size_t i = 0; i < l.n; i++)
        for (size_t k = 0; l.v[i].master_index > 0 && k < l.n; k++)
            if (l.v[k].info.ifindex == l.v[i].master_index)
                snprintf(l.v[i].info.master, sizeof(l.v[i].info.master), "%s", l.v[k].info.name);
    *ret = l;
    return 0;
}

static RawLink *links_find(LinkList *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].info.name, name) == 0)
            return &l->v[i];
    return NULL;
}

/* The index of link @name: 0, or -ENODEV (@err untouched) when there is none. */
static int link_index(HostLink *h, const char *name, int *ret, bool *ret_up, Error *err)
{
    LinkList l = {0};
    int r = links_read(h, &l, err);
    if (r < 0)
        return r;
    RawLink *rl = links_find(&l, name);
    if (rl) {
        *ret = rl->info.ifindex;
        if (ret_up)
            *ret_up = rl->info.up;
    }
    link_list_clear(&l);
    return rl ? 0 : -ENODEV;
}

typedef struct AddrList {
    int ifindex; /* 0: every link */
    int family;  /* AF_UNSPEC: both */
    HostAddr *v;
    int *owner; /* the link of each */
    size_t n;
} AddrList;

static int on_addr(struct nlmsghdr *hdr, void *arg)
{
    AddrList *l = arg;
    struct nlattr *tb[IFA_MAX + 1];
    if (hdr->nlmsg_type != RTM_NEWADDR)
        return 0;
    struct ifaddrmsg *ifa = nlmsg_data(hdr);
    if (nlmsg_parse(hdr, sizeof(*ifa), tb, IFA_MAX, NULL) < 0)
        return 0;
    if ((l->ifindex && (int)ifa->ifa_index != l->ifindex) ||
        (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) ||
        (l->family != AF_UNSPEC && ifa->ifa_family != l->family))
        return 0;
    size_t alen = ifa->ifa_family == AF_INET ? 4 : 16;
    struct nlattr *local = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
    if (!local || nla_len(local) != (int)alen)
        return 0;
    HostAddr *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
    if (!nv)
        return -ENOMEM;
    l->v = nv;
    int *no = realloc(l->owner, (l->n + 1) * sizeof(*no));
    if (!no)
        return -ENOMEM;
    l->owner = no;
    HostAddr *a = &l->v[l->n];
    memset(a, 0, sizeof(*a));
    a->family = ifa->ifa_family;
    memcpy(a->local, nla_data(local), alen);
    if (tb[IFA_LOCAL] && tb[IFA_ADDRESS] && nla_len(tb[IFA_ADDRESS]) == (int)alen &&
        memcmp(nla_data(tb[IFA_ADDRESS]), a->local, alen) != 0) {
        memcpy(a->peer, nla_data(tb[IFA_ADDRESS]), alen);
        a->has_peer = true;
    }
    if (a->family == AF_INET && tb[IFA_BROADCAST] && nla_len(tb[IFA_BROADCAST]) == 4) {
        memcpy(a->broadcast, nla_data(tb[IFA_BROADCAST]), 4);
        a->has_broadcast = true;
    }
    a->prefix = ifa->ifa_prefixlen;
    a->scope = ifa->ifa_scope;
    a->flags = tb[IFA_FLAGS] ? nla_get_u32(tb[IFA_FLAGS]) : ifa->ifa_flags;
    if (a->family == AF_INET && tb[IFA_LABEL])
        nla_strlcpy(a->label, tb[IFA_LABEL], sizeof(a->label));
    a->valid_lft = a->preferred_lft = 0xffffffffu;
    if (tb[IFA_CACHEINFO] && nla_len(tb[IFA_CACHEINFO]) >= (int)sizeof(struct ifa_cacheinfo)) {
        struct ifa_cacheinfo *ci = nla_data(tb[IFA_CACHEINFO]);
        a->valid_lft = ci->ifa_valid;
        a->preferred_lft = ci->ifa_prefered;
    }
    l->owner[l->n++] = (int)ifa->ifa_index;
    return 0;
}

static int addrs_read(HostLink *h, int ifindex, int family, AddrList *ret, Error *err)
{
    *ret = (AddrList){.ifindex = ifindex, .family = family};
    int r = dump(h, RTM_GETADDR, family, on_addr, ret, "Cannot list the addresses", err);
    if (r < 0) {
        free(ret->v);
        free(ret->owner);
        *ret = (AddrList){0};
    }
    return r;
}

static void addrs_clear(AddrList *l)
{
    free(l->v);
    free(l->owner);
    *l = (AddrList){0};
}

typedef struct RouteList {
    int ifindex;
    HostRoute *v;
    size_t n;
} RouteList;

static int on_route(struct nlmsghdr *hdr, void *arg)
{
    RouteList *l = arg;
    struct nlattr *tb[RTA_MAX + 1];
    if (hdr->nlmsg_type != RTM_NEWROUTE)
        return 0;
    struct rtmsg *rtm = nlmsg_data(hdr);
    if (nlmsg_parse(hdr, sizeof(*rtm), tb, RTA_MAX, NULL) < 0)
        return 0;
    /* one output device only: multipath routes and cached clones are not the link's own */
    if ((rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6) || tb[RTA_MULTIPATH] ||
        (rtm->rtm_flags & RTM_F_CLONED) || !tb[RTA_OIF] ||
        (int)nla_get_u32(tb[RTA_OIF]) != l->ifindex)
        return 0;
    size_t alen = rtm->rtm_family == AF_INET ? 4 : 16;
    HostRoute *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
    if (!nv)
        return -ENOMEM;
    l->v = nv;
    HostRoute *rt = &l->v[l->n];
    memset(rt, 0, sizeof(*rt));
    rt->family = rtm->rtm_family;
    rt->table = tb[RTA_TABLE] ? nla_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
    rt->dst_len = rtm->rtm_dst_len;
    if (tb[RTA_DST] && nla_len(tb[RTA_DST]) == (int)alen)
        memcpy(rt->dst, nla_data(tb[RTA_DST]), alen);
    if (tb[RTA_GATEWAY] && nla_len(tb[RTA_GATEWAY]) == (int)alen) {
        memcpy(rt->gateway, nla_data(tb[RTA_GATEWAY]), alen);
        rt->has_gateway = true;
    }
    if (tb[RTA_PREFSRC] && nla_len(tb[RTA_PREFSRC]) == (int)alen) {
        memcpy(rt->prefsrc, nla_data(tb[RTA_PREFSRC]), alen);
        rt->has_prefsrc = true;
    }
    rt->protocol = rtm->rtm_protocol;
    rt->scope = rtm->rtm_scope;
    rt->type = rtm->rtm_type;
    if (tb[RTA_PRIORITY]) {
        rt->priority = nla_get_u32(tb[RTA_PRIORITY]);
        rt->has_priority = true;
    }
    /* the kernel adds state (linkdown, dead, offload) to these; only onlink is asked for */
    rt->flags = rtm->rtm_flags & RTNH_F_ONLINK;
    l->n++;
    return 0;
}

static int routes_read(HostLink *h, int ifindex, RouteList *ret, Error *err)
{
    *ret = (RouteList){.ifindex = ifindex};
    int r = dump(h, RTM_GETROUTE, AF_UNSPEC, on_route, ret, "Cannot list the routes", err);
    if (r < 0) {
        free(ret->v);
        *ret = (RouteList){0};
    }
    return r;
}

/* ---- sysfs and sysctl inside the namespace ------------------------------------------------- */

typedef struct WirelessJob {
    bool use_own_sysfs;
    HostLinkInfo **links;
    size_t n;
} WirelessJob;

static int wireless_fn(void *arg)
{
    WirelessJob *j = arg;
    /* /sys/class/net shows the namespace of whoever mounted /sys: mount a fresh sysfs in a
     * mount namespace of this thread alone (as `ip netns exec` does) */
    if (j->use_own_sysfs) {
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", "none", MS_SLAVE | MS_REC, NULL) < 0)
            return -errno;
        if (umount2("/sys", MNT_DETACH) < 0 && errno != EINVAL)
            return -errno;
        if (mount("sysfs", "/sys", "sysfs", 0, NULL) < 0)
            return -errno;
    }
    size_t seen = 0;
    for (size_t i = 0; i < j->n; i++) {
        char path[128];
        struct stat st;
        snprintf(path, sizeof(path), "/sys/class/net/%s", j->links[i]->name);
        seen += stat(path, &st) == 0;
        snprintf(path, sizeof(path), "/sys/class/net/%s/wireless", j->links[i]->name);
        bool w = stat(path, &st) == 0;
        snprintf(path, sizeof(path), "/sys/class/net/%s/phy80211", j->links[i]->name);
        j->links[i]->wireless = w || stat(path, &st) == 0;
    }
    /* a sysfs that shows none of the links is another namespace's: its answers mean nothing */
    return j->n > 0 && seen == 0 ? -ENXIO : 0;
}

static int wireless_fill(HostLink *h, HostLinkInfo **links, size_t n, Error *err)
{
    WirelessJob j = {.use_own_sysfs = h->netns != NULL, .links = links, .n = n};
    int r = hostlink_run_in_netns(h->netns, wireless_fn, &j, "read /sys/class/net", err);
    if (r < 0)
        return error_set_errno(err, r, "Cannot read /sys/class/net in network namespace '%s'",
                               h->netns ? h->netns : "(this one)");
    return 0;
}

static int ipv4_fill(HostLinkInfo *i, const AddrList *a)
{
    for (size_t k = 0; k < a->n; k++) {
        if (a->owner[k] != i->ifindex || a->v[k].family != AF_INET)
            continue;
        uint32_t *nv = realloc(i->ipv4, (i->n_ipv4 + 1) * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        i->ipv4 = nv;
        unsigned *np = realloc(i->ipv4_prefix, (i->n_ipv4 + 1) * sizeof(*np));
        if (!np)
            return -ENOMEM;
        i->ipv4_prefix = np;
        uint32_t be;
        memcpy(&be, a->v[k].local, 4);
        i->ipv4[i->n_ipv4] = ntohl(be);
        i->ipv4_prefix[i->n_ipv4++] = a->v[k].prefix;
    }
    return 0;
}

int hostlink_list(HostLink *h, HostLinkInfo **ret, size_t *ret_n, Error *err)
{
    LinkList l = {0};
    AddrList a = {0};
    HostLinkInfo *out = NULL;
    HostLinkInfo **ptrs = NULL;
    int r = links_read(h, &l, err);
    if (r < 0)
        return r;
    r = addrs_read(h, 0, AF_INET, &a, err);
    if (r < 0)
        goto done;
    out = calloc(l.n ? l.n : 1, sizeof(*out));
    ptrs = calloc(l.n ? l.n : 1, sizeof(*ptrs));
    if (!out || !ptrs) {
        r = error_set(err, -ENOMEM, "Out of memory");
        goto done;
    }
    for (size_t i = 0; i < l.n; i++) {
        out[i] = l.v[i].info;
        memset(&l.v[i].info, 0, sizeof(l.v[i].info));
        ptrs[i] = &out[i];
        if (ipv4_fill(&out[i], &a) < 0) {
            r = error_set(err, -ENOMEM, "Out of memory");
            goto done;
        }
    }
    r = wireless_fill(h, ptrs, l.n, err);
    if (r < 0)
        goto done;
    *ret = steal_pointer(&out);
    *ret_n = l.n;
done:
    if (out)
        for (size_t i = 0; i < l.n; i++)
            host_link_info_clear(&out[i]);
    free(out);
    free(ptrs);
    addrs_clear(&a);
    link_list_clear(&l);
    return r;
}

int hostlink_get(HostLink *h, const char *name, HostLinkInfo *ret, Error *err)
{
    LinkList l = {0};
    AddrList a = {0};
    int r = links_read(h, &l, err);
    if (r < 0)
        return r;
    RawLink *rl = links_find(&l, name);
    if (!rl) {
        link_list_clear(&l);
        return error_set(err, -ENODEV, "There is no network link '%s'", name);
    }
    HostLinkInfo info = rl->info;
    memset(&rl->info, 0, sizeof(rl->info));
    link_list_clear(&l);
    HostLinkInfo *p = &info;
    r = addrs_read(h, info.ifindex, AF_INET, &a, err);
    if (r == 0 && ipv4_fill(&info, &a) < 0)
        r = error_set(err, -ENOMEM, "Out of memory");
    if (r == 0)
        r = wireless_fill(h, &p, 1, err);
    addrs_clear(&a);
    if (r < 0) {
        host_link_info_clear(&info);
        return r;
    }
    *ret = info;
    return 0;
}

typedef struct SysctlJob {
    const char *key;
    const char *value; /* NULL: read */
    char *out;
} SysctlJob;

static int sysctl_fn(void *arg)
{
    SysctlJob *j = arg;
    char path[512];
    snprintf(path, sizeof(path), "/proc/sys/%s", j->key);
    _cleanup_close_ int fd = open(path, (j->value ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (j->value) {
        size_t len = strlen(j->value);
        ssize_t n = write(fd, j->value, len);
        if (n < 0)
            return -errno;
        return (size_t)n == len ? 0 : -EIO;
    }
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n < 0)
        return -errno;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    buf[n] = '\0';
    j->out = strdup(buf + strspn(buf, " \t"));
    return j->out ? 0 : -ENOMEM;
}

static int sysctl_run(const char *netns, SysctlJob *j, Error *err)
{
    const char *what = j->value ? "write a sysctl" : "read a sysctl";
    if (!j->key || !*j->key || j->key[0] == '/' || strstr(j->key, ".."))
        return error_set(err, -EINVAL, "'%s' is not a sysctl key", j->key ? j->key : "");
    int r = hostlink_check_netns(netns, what, err);
    if (r < 0)
        return r;
    r = hostlink_run_in_netns(netns, sysctl_fn, j, what, err);
    if (r == -ENOENT)
        return error_set(err, r, "There is no sysctl '%s'", j->key);
    if (r < 0)
        return error_set_errno(err, r, "Cannot %s sysctl '%s'", j->value ? "write" : "read",
                               j->key);
    return 0;
}

int hostlink_sysctl_get(const char *netns, const char *key, char **ret, Error *err)
{
    SysctlJob j = {.key = key};
    int r = sysctl_run(netns, &j, err);
    if (r < 0)
        return r;
    *ret = j.out;
    return 0;
}

int hostlink_sysctl_set(const char *netns, const char *key, const char *value, Error *err)
{
    SysctlJob j = {.key = key, .value = value};
    return sysctl_run(netns, &j, err);
}

/* ---- links and addresses ------------------------------------------------------------------- */

static char *addr_text(const HostAddr *a, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(a->family, a->local, ip, sizeof(ip));
    snprintf(buf, size, "%s/%u", ip, a->prefix);
    return buf;
}

static char *route_text(const HostRoute *rt, char *buf, size_t size)
{
    char dst[INET6_ADDRSTRLEN], gw[INET6_ADDRSTRLEN];
    inet_ntop(rt->family, rt->dst, dst, sizeof(dst));
    if (rt->dst_len == 0)
        snprintf(dst, sizeof(dst), "default");
    if (rt->has_gateway) {
        inet_ntop(rt->family, rt->gateway, gw, sizeof(gw));
        if (rt->dst_len == 0)
            snprintf(buf, size, "default via %s", gw);
        else
            snprintf(buf, size, "%s/%u via %s", dst, rt->dst_len, gw);
    } else if (rt->dst_len == 0)
        snprintf(buf, size, "default");
    else
        snprintf(buf, size, "%s/%u", dst, rt->dst_len);
    return buf;
}

static int link_set(HostLink *h, int ifindex, const char *name, bool up, int master, Error *err)
{
    struct nl_msg *msg = NULL;
    char what[128];
    int r = hostlink_build_link_set(ifindex, up, master, &msg, err);
    if (r < 0)
        return r;
    if (master > 0)
        snprintf(what, sizeof(what), "Cannot make '%s' a bridge port", name);
    else if (master == 0)
        snprintf(what, sizeof(what), "Cannot take '%s' out of its bridge", name);
    else
        snprintf(what, sizeof(what), "Cannot set '%s' %s", name, up ? "up" : "down");
    return send_msg(h, msg, 0, what, err);
}

int hostlink_bridge_add(HostLink *h, const char *name, const MacAddr *mac, const char *alias,
                        Error *err)
{
    struct nl_msg *msg = NULL;
    char what[128];
    int ifindex = 0;
    int r = hostlink_build_bridge_add(name, mac, alias, &msg, err);
    if (r < 0)
        return r;
    snprintf(what, sizeof(what), "Cannot create bridge '%s'", name);
    r = send_msg(h, msg, 0, what, err);
    if (r < 0)
        return r;
    r = link_index(h, name, &ifindex, NULL, err);
    if (r == -ENODEV)
        return error_set(err, r, "Bridge '%s' is gone right after it was made", name);
    if (r < 0)
        return r;
    if (alias) {
        if ((r = hostlink_build_link_alias(ifindex, alias, &msg, err)) < 0)
            return r;
        snprintf(what, sizeof(what), "Cannot set the alias of bridge '%s'", name);
        if ((r = send_msg(h, msg, 0, what, err)) < 0)
            return r;
    }
    return link_set(h, ifindex, name, true, -1, err);
}

int hostlink_link_del(HostLink *h, const char *name, Error *err)
{
    struct nl_msg *msg = NULL;
    char what[128];
    int ifindex = 0;
    int r = link_index(h, name, &ifindex, NULL, err);
    if (r == -ENODEV)
        return 0;
    if (r < 0)
        return r;
    r = hostlink_build_link_del(ifindex, &msg, err);
    if (r < 0)
        return r;
    snprintf(what, sizeof(what), "Cannot delete link '%s'", name);
    return send_msg(h, msg, -ENODEV, what, err);
}

int hostlink_addr_add(HostLink *h, const char *name, const HostAddr *a, Error *err)
{
    struct nl_msg *msg = NULL;
    char what[160], text[64];
    int ifindex = 0;
    int r = link_index(h, name, &ifindex, NULL, err);
    if (r == -ENODEV)
        return error_set(err, r, "Cannot add address '%s' to '%s': there is no such link",
                         addr_text(a, text, sizeof(text)), name);
    if (r < 0)
        return r;
    r = hostlink_build_addr(true, ifindex, a, &msg, err);
    if (r < 0)
        return r;
    snprintf(what, sizeof(what), "Cannot add address '%s' to '%s'",
             addr_text(a, text, sizeof(text)), name);
    return send_msg(h, msg, -EEXIST, what, err);
}

/* ---- the NIC snapshot and its migration ---------------------------------------------------- */

int hostlink_nic_snapshot(HostLink *h, const char *ifname, NicSnapshot **ret, Error *err)
{
    LinkList l = {0};
    AddrList a = {0};
    RouteList rl = {0};
    NicSnapshot *s = NULL;
    int r = links_read(h, &l, err);
    if (r < 0)
        return r;
    RawLink *nic = links_find(&l, ifname);
    if (!nic) {
        r = error_set(err, -ENODEV, "There is no network link '%s'", ifname);
        goto done;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        r = error_set(err, -ENOMEM, "Out of memory");
        goto done;
    }
    snprintf(s->ifname, sizeof(s->ifname), "%s", nic->info.name);
    s->ifindex = nic->info.ifindex;
    s->mac = nic->info.mac;
    s->mtu = nic->info.mtu;
    s->up = nic->info.up;
    snprintf(s->master, sizeof(s->master), "%s", nic->info.master);
    if ((r = addrs_read(h, s->ifindex, AF_UNSPEC, &a, err)) < 0 ||
        (r = routes_read(h, s->ifindex, &rl, err)) < 0)
        goto done;
    s->addrs = steal_pointer(&a.v);
    s->n_addrs = a.n;
    s->routes = steal_pointer(&rl.v);
    s->n_routes = rl.n;
    *ret = steal_pointer(&s);
done:
    nic_snapshot_free(s);
    addrs_clear(&a);
    free(rl.v);
    link_list_clear(&l);
    return r;
}

static bool addr_is_ll6(const HostAddr *a)
{
    return a->family == AF_INET6 && a->local[0] == 0xfe && (a->local[1] & 0xc0) == 0x80;
}

/* Routes the kernel makes itself with an address (prefix, local, broadcast, multicast). */
static bool route_is_kernel(const HostRoute *rt)
{
    return rt->protocol == RTPROT_KERNEL;
}

/* The order that gives the kernel's list back: IPv4 appended in order, IPv6 put in front of
 * the addresses of its scope (so added newest last). Index @k of @n to add k-th. */
static const HostAddr *addr_in_add_order(const HostAddr *v, size_t n, size_t k)
{
    size_t n4 = 0;
    for (size_t i = 0; i < n; i++)
        n4 += v[i].family == AF_INET;
    size_t seen = 0;
    if (k < n4) {
        for (size_t i = 0; i < n; i++)
            if (v[i].family == AF_INET && seen++ == k)
                return &v[i];
    } else {
        k -= n4;
        for (size_t i = n; i-- > 0;)
            if (v[i].family != AF_INET && seen++ == k)
                return &v[i];
    }
    return NULL;
}

static int addr_change(HostLink *h, bool add, int ifindex, const char *dev, const HostAddr *a,
                       Error *err)
{
    struct nl_msg *msg = NULL;
    char what[160], text[64];
    int r = hostlink_build_addr(add, ifindex, a, &msg, err);
    if (r < 0)
        return r;
    snprintf(what, sizeof(what),
             add ? "Cannot add address '%s' to '%s'" : "Cannot remove address '%s' from '%s'",
             addr_text(a, text, sizeof(text)), dev);
    /* an IPv4 primary takes its secondaries with it */
    return send_msg(h, msg, add ? 0 : -EADDRNOTAVAIL, what, err);
}

static int route_change(HostLink *h, bool add, int ifindex, const char *dev, const HostRoute *rt,
                        int ignore, Error *err)
{
    struct nl_msg *msg = NULL;
    char what[200], text[128];
    int r = hostlink_build_route(add, ifindex, rt, &msg, err);
    if (r < 0)
        return r;
    snprintf(what, sizeof(what),
             add ? "Cannot add route '%s' through '%s'" : "Cannot remove route '%s' through '%s'",
             route_text(rt, text, sizeof(text)), dev);
    return send_msg(h, msg, ignore, what, err);
}

/* Add the routes of @v that are not the kernel's (nor in @have): link routes, then those
 * through a gateway. */
static int routes_add(HostLink *h, int ifindex, const char *dev, const HostRoute *v, size_t n,
                      const RouteList *have, Error *err);

static bool route_equal(const HostRoute *a, const HostRoute *b)
{
    size_t len = a->family == AF_INET ? 4 : 16;
    return a->family == b->family && a->table == b->table && a->dst_len == b->dst_len &&
           memcmp(a->dst, b->dst, len) == 0 && a->has_gateway == b->has_gateway &&
           (!a->has_gateway || memcmp(a->gateway, b->gateway, len) == 0) &&
           a->has_prefsrc == b->has_prefsrc &&
           (!a->has_prefsrc || memcmp(a->prefsrc, b->prefsrc, len) == 0) &&
           (a->has_priority ? a->priority : 0) == (b->has_priority ? b->priority : 0) &&
           a->protocol == b->protocol && a->scope == b->scope && a->type == b->type &&
           (a->flags & RTNH_F_ONLINK) == (b->flags & RTNH_F_ONLINK);
}

static bool route_in(const HostRoute *rt, const HostRoute *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (route_equal(rt, &v[i]))
            return true;
    return false;
}

static int routes_add(HostLink *h, int ifindex, const char *dev, const HostRoute *v, size_t n,
                      const RouteList *have, Error *err)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            if (route_is_kernel(&v[i]) || v[i].has_gateway != (pass == 1))
                continue;
            if (have && route_in(&v[i], have->v, have->n))
                continue;
            int r = route_change(h, true, ifindex, dev, &v[i], 0, err);
            if (r < 0)
                return r;
        }
    return 0;
}

/* @label with the NIC's name in front replaced by the bridge's ("eth0:1" -> "br0:1"). */
static void label_move(const char *label, const char *nic, const char *bridge, char *out,
                       size_t size)
{
    size_t n = strlen(nic);
    const char *rest = strncmp(label, nic, n) == 0 ? label + n : "";
    if ((size_t)snprintf(out, size, "%s%s", bridge, rest) >= size)
        snprintf(out, size, "%s", bridge);
}

typedef struct PingJob {
    const char *dev;
    uint8_t gateway[4];
    int timeout_ms;
} PingJob;

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static uint16_t icmp_sum(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t)~sum);
}

/* ICMP echo to the gateway out of @dev until an answer or the timeout: 0 or -ETIMEDOUT. */
static int ping_fn(void *arg)
{
    PingJob *j = arg;
    _cleanup_close_ int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, j->dev, (socklen_t)strlen(j->dev)) < 0)
        return -errno;
    struct sockaddr_in to = {.sin_family = AF_INET};
    memcpy(&to.sin_addr, j->gateway, 4);
    uint16_t id = (uint16_t)(syscall(SYS_gettid) & 0xffff);
    long deadline = now_ms() + j->timeout_ms;
    for (uint16_t seq = 1;; seq++) {
        struct icmphdr req = {.type = ICMP_ECHO};
        req.un.echo.id = htons(id);
        req.un.echo.sequence = htons(seq);
        req.checksum = icmp_sum(&req, sizeof(req));
        /* a send can fail while the neighbour is unresolved; the next round retries */
        (void)sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&to, sizeof(to));
        long round_end = now_ms() + 200;
        for (;;) {
            long left = (round_end < deadline ? round_end : deadline) - now_ms();
            if (left <= 0)
                break;
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            if (poll(&pfd, 1, (int)left) <= 0)
                continue;
            uint8_t buf[1500];
            ssize_t n = recv(fd, buf, sizeof(buf), 0);
            if (n < (ssize_t)sizeof(struct iphdr))
                continue;
            struct iphdr *ip = (struct iphdr *)buf;
            size_t hl = (size_t)ip->ihl * 4;
            if ((size_t)n < hl + sizeof(struct icmphdr) || memcmp(&ip->saddr, j->gateway, 4) != 0)
                continue;
            struct icmphdr *rep = (struct icmphdr *)(buf + hl);
            if (rep->type == ICMP_ECHOREPLY && rep->un.echo.id == htons(id))
                return 0;
        }
        if (now_ms() >= deadline)
            return -ETIMEDOUT;
    }
}

static int gateway_check(HostLink *h, const NicSnapshot *snap, const char *bridge, int timeout_ms,
                         Error *err)
{
    const HostRoute *def = NULL;
    for (size_t i = 0; i < snap->n_routes && !def; i++) {
        const HostRoute *rt = &snap->routes[i];
        if (rt->family == AF_INET && rt->dst_len == 0 && rt->has_gateway &&
            rt->table == RT_TABLE_MAIN && rt->type == RTN_UNICAST)
            def = rt;
    }
    if (!def)
        return 0;
    char gw[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, def->gateway, gw, sizeof(gw));
    PingJob j = {.dev = bridge, .timeout_ms = timeout_ms > 0 ? timeout_ms : 1};
    memcpy(j.gateway, def->gateway, 4);
    int r = hostlink_run_in_netns(h->netns, ping_fn, &j, "check the default gateway", err);
    if (r == -ETIMEDOUT)
        return error_set(err, r,
                         "The default gateway '%s' does not answer through bridge '%s' "
                         "(no ICMP echo reply within %d ms)",
                         gw, bridge, timeout_ms);
    if (r < 0)
        return error_set_errno(err, r, "Cannot check the default gateway '%s' through '%s'", gw,
                               bridge);
    return 0;
}

int hostlink_nic_to_bridge(HostLink *h, const NicSnapshot *snap, const char *bridge,
                           const char *alias, int gateway_timeout_ms, Error *err)
{
    int nic = 0, br = 0, r;

    if (snap->master[0])
        return error_set(err, -EBUSY, "Cannot move '%s' onto bridge '%s': it is a port of '%s'",
                         snap->ifname, bridge, snap->master);
    r = link_index(h, bridge, &br, NULL, err);
    if (r == 0)
        return error_set(err, -EEXIST, "Cannot create bridge '%s': a link of that name exists",
                         bridge);
    if (r != -ENODEV)
        return r;
    r = link_index(h, snap->ifname, &nic, NULL, err);
    if (r == -ENODEV)
        return error_set(err, r, "There is no network link '%s'", snap->ifname);
    if (r < 0)
        return r;

    /* from here on the bridge is ours: its name was free a moment ago */
    r = hostlink_bridge_add(h, bridge, &snap->mac, alias, err);
    if (r < 0)
        goto undo;
    if ((r = link_index(h, bridge, &br, NULL, err)) < 0) {
        if (r == -ENODEV)
            r = error_set(err, r, "Bridge '%s' is gone right after it was made", bridge);
        goto undo;
    }
    if ((r = link_set(h, nic, snap->ifname, true, br, err)) < 0)
        goto undo;

    /* the addresses on the bridge first, so the host keeps them all the way */
    for (size_t k = 0; k < snap->n_addrs; k++) {
        HostAddr a = *addr_in_add_order(snap->addrs, snap->n_addrs, k);
        if (addr_is_ll6(&a))
            continue;
        if (a.family == AF_INET)
            label_move(snap->addrs[k].label, snap->ifname, bridge, a.label, sizeof(a.label));
        if ((r = addr_change(h, true, br, bridge, &a, err)) < 0)
            goto undo;
    }
    /* the NIC's own routes out (a twin through the bridge would clash), then its addresses */
    for (size_t i = snap->n_routes; i-- > 0;) {
        if (route_is_kernel(&snap->routes[i]))
            continue;
        if ((r = route_change(h, false, nic, snap->ifname, &snap->routes[i], -ESRCH, err)) < 0)
            goto undo;
    }
    for (size_t i = snap->n_addrs; i-- > 0;) {
        if (addr_is_ll6(&snap->addrs[i]))
            continue;
        if ((r = addr_change(h, false, nic, snap->ifname, &snap->addrs[i], err)) < 0)
            goto undo;
    }
    if ((r = routes_add(h, br, bridge, snap->routes, snap->n_routes, NULL, err)) < 0)
        goto undo;
    if ((r = gateway_check(h, snap, bridge, gateway_timeout_ms, err)) < 0)
        goto undo;
    return 0;

undo:;
    Error undo = ERROR_INIT;
    if (hostlink_nic_restore(h, snap, bridge, &undo) < 0)
        error_append(err, "putting '%s' back failed too: %s", snap->ifname, undo.message);
    error_clear(&undo);
    return r;
}

static bool addr_same(const HostAddr *a, const HostAddr *b)
{
    size_t len = a->family == AF_INET ? 4 : 16;
    const uint32_t ignore = IFA_F_TENTATIVE | IFA_F_OPTIMISTIC;
    return a->family == b->family && memcmp(a->local, b->local, len) == 0 &&
           a->prefix == b->prefix && a->has_peer == b->has_peer &&
           (!a->has_peer || memcmp(a->peer, b->peer, len) == 0) &&
           a->has_broadcast == b->has_broadcast &&
           (!a->has_broadcast || memcmp(a->broadcast, b->broadcast, 4) == 0) &&
           a->scope == b->scope && (a->flags & ~ignore) == (b->flags & ~ignore) &&
           strcmp(a->label, b->label) == 0;
}

/* Whether the NIC's addresses but IPv6 link-local are those of @snap, in its order. */
static bool addrs_match(const AddrList *have, const NicSnapshot *snap)
{
    size_t i = 0, k = 0;
    for (;;) {
        while (i < have->n && addr_is_ll6(&have->v[i]))
            i++;
        while (k < snap->n_addrs && addr_is_ll6(&snap->addrs[k]))
            k++;
        if (i == have->n || k == snap->n_addrs)
            return i == have->n && k == snap->n_addrs;
        if (!addr_same(&have->v[i++], &snap->addrs[k++]))
            return false;
    }
}

/* Wait (bounded) until duplicate address detection of the NIC's IPv6 addresses is over, so
 * `ip addr` no longer says "tentative". */
static int dad_wait(HostLink *h, int ifindex, Error *err)
{
    long deadline = now_ms() + 5000;
    for (;;) {
        AddrList a;
        bool tentative = false;
        int r = addrs_read(h, ifindex, AF_INET6, &a, err);
        if (r < 0)
            return r;
        for (size_t i = 0; i < a.n; i++)
            tentative |= (a.v[i].flags & IFA_F_TENTATIVE) && !(a.v[i].flags & IFA_F_DADFAILED);
        addrs_clear(&a);
        if (!tentative || now_ms() >= deadline)
            return 0;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int hostlink_nic_restore(HostLink *h, const NicSnapshot *snap, const char *bridge, Error *err)
{
    const char *name = snap->ifname;
    int nic = 0, master = 0, r;
    bool up = false, readded6 = false;
    LinkList l = {0};
    AddrList have = {0};
    RouteList routes = {0};

    if (bridge && (r = hostlink_link_del(h, bridge, err)) < 0)
        return r;
    if ((r = links_read(h, &l, err)) < 0)
        return r;
    RawLink *rl = links_find(&l, name);
    if (!rl) {
        r = error_set(err, -ENODEV, "Cannot put '%s' back: there is no such link", name);
        goto done;
    }
    nic = rl->info.ifindex;
    up = rl->info.up;
    if (snap->master[0]) {
        RawLink *m = links_find(&l, snap->master);
        if (!m) {
            r = error_set(err, -ENODEV, "Cannot put '%s' back into '%s': there is no such link",
                          name, snap->master);
            goto done;
        }
        master = m->info.ifindex;
    }
    if (strcmp(rl->info.master, snap->master) != 0 &&
        (r = link_set(h, nic, name, up, master, err)) < 0)
        goto done;
    if (rl->info.mtu != snap->mtu) {
        struct nl_msg *msg = NULL;
        char what[128];
        if ((r = hostlink_build_link_mtu(nic, snap->mtu, &msg, err)) < 0)
            goto done;
        snprintf(what, sizeof(what), "Cannot set the MTU of '%s' back to %u", name, snap->mtu);
        if ((r = send_msg(h, msg, 0, what, err)) < 0)
            goto done;
    }

    if ((r = addrs_read(h, nic, AF_UNSPEC, &have, err)) < 0)
        goto done;
    if (!addrs_match(&have, snap)) {
        for (size_t i = have.n; i-- > 0;) {
            if (addr_is_ll6(&have.v[i]))
                continue;
            if ((r = addr_change(h, false, nic, name, &have.v[i], err)) < 0)
                goto done;
        }
        for (size_t k = 0; k < snap->n_addrs; k++) {
            const HostAddr *a = addr_in_add_order(snap->addrs, snap->n_addrs, k);
            if (addr_is_ll6(a))
                continue;
            readded6 |= a->family == AF_INET6;
            if ((r = addr_change(h, true, nic, name, a, err)) < 0)
                goto done;
        }
    }

    if ((r = routes_read(h, nic, &routes, err)) < 0)
        goto done;
    for (size_t i = routes.n; i-- > 0;) {
        const HostRoute *rt = &routes.v[i];
        if (route_is_kernel(rt) || route_in(rt, snap->routes, snap->n_routes))
            continue;
        if ((r = route_change(h, false, nic, name, rt, -ESRCH, err)) < 0)
            goto done;
    }
    if ((r = routes_add(h, nic, name, snap->routes, snap->n_routes, &routes, err)) < 0)
        goto done;

    if (up != snap->up && (r = link_set(h, nic, name, snap->up, -1, err)) < 0)
        goto done;
    if (readded6 && snap->up)
        r = dad_wait(h, nic, err);
done:
    free(routes.v);
    addrs_clear(&have);
    link_list_clear(&l);
    return r;
}
