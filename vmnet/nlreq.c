/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pure: the netlink requests of hostlink (libnl-3 route builders), made apart from sending. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/hostlink.h"

#ifndef IFALIASZ
#define IFALIASZ 256 /* linux/if.h, which clashes with net/if.h */
#endif

/* Flags the kernel keeps for itself: a request that carries them is refused or misread. */
#define ADDR_KERNEL_FLAGS                                                                          \
    (IFA_F_SECONDARY | IFA_F_PERMANENT | IFA_F_TENTATIVE | IFA_F_DADFAILED | IFA_F_DEPRECATED)

static void link_freep(struct rtnl_link **p)
{
    if (*p)
        rtnl_link_put(*p);
}
static void addr_freep(struct rtnl_addr **p)
{
    if (*p)
        rtnl_addr_put(*p);
}
static void route_freep(struct rtnl_route **p)
{
    if (*p)
        rtnl_route_put(*p);
}
static void nladdr_freep(struct nl_addr **p)
{
    if (*p)
        nl_addr_put(*p);
}

static size_t family_len(int family)
{
    return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

static int nl_fail(Error *err, int nlerr, const char *what)
{
    if (nlerr == -NLE_NOMEM)
        return error_set(err, -ENOMEM, "Out of memory");
    return error_set(err, -EINVAL, "Cannot build the request to %s: %s", what, nl_geterror(nlerr));
}

/* A new nl_addr of @family holding @bytes with prefix length @prefix. */
static int make_addr(int family, const uint8_t *bytes, unsigned prefix, struct nl_addr **ret)
{
    struct nl_addr *a = nl_addr_build(family, bytes, family_len(family));
    if (!a)
        return -NLE_NOMEM;
    nl_addr_set_prefixlen(a, (int)prefix);
    *ret = a;
    return 0;
}

int hostlink_build_bridge_add(const char *name, const MacAddr *mac, const char *alias,
                              struct nl_msg **ret, Error *err)
{
    _cleanup_(link_freep) struct rtnl_link *l = NULL;
    _cleanup_(nladdr_freep) struct nl_addr *lladdr = NULL;
    struct nl_msg *msg = NULL;

    if (!name || !*name || strlen(name) >= IFNAMSIZ)
        return error_set(err, -EINVAL, "Bridge name '%s' is not a valid interface name",
                         name ? name : "");
    l = rtnl_link_alloc();
    if (!l)
        return error_set(err, -ENOMEM, "Out of memory");
    rtnl_link_set_name(l, name);
    if (mac) {
        lladdr = nl_addr_build(AF_LLC, mac->b, sizeof(mac->b));
        if (!lladdr)
            return error_set(err, -ENOMEM, "Out of memory");
        rtnl_link_set_addr(l, lladdr);
    }
    if (alias)
        rtnl_link_set_ifalias(l, alias);
    /* No type on the object: libnl 3.7 has no bridge options, so the IFLA_LINKINFO nest (kind
     * and data) is written below, once. */
    int r = rtnl_link_build_add_request(l, NLM_F_CREATE | NLM_F_EXCL, &msg);
    if (r < 0)
        return nl_fail(err, r, "add a bridge");
    /* libnl asks the kernel to change every flag (ifi_change ~0), which on a new link clears
     * IFF_MULTICAST and IFF_BROADCAST; ask for no flag change at all. */
    struct ifinfomsg *ifi = nlmsg_data(nlmsg_hdr(msg));
    ifi->ifi_flags = 0;
    ifi->ifi_change = 0;
    struct nlattr *info = nla_nest_start(msg, IFLA_LINKINFO);
    if (!info || nla_put_string(msg, IFLA_INFO_KIND, "bridge") < 0)
        goto nomem;
    struct nlattr *data = nla_nest_start(msg, IFLA_INFO_DATA);
    if (!data || nla_put_u32(msg, IFLA_BR_FORWARD_DELAY, 0) < 0 ||
        nla_put_u32(msg, IFLA_BR_STP_STATE, 0) < 0)
        goto nomem;
    nla_nest_end(msg, data);
    nla_nest_end(msg, info);
    *ret = msg;
    return 0;
nomem:
    nlmsg_free(msg);
    return error_set(err, -ENOMEM, "Out of memory");
}

int hostlink_build_link_del(int ifindex, struct nl_msg **ret, Error *err)
{
    _cleanup_(link_freep) struct rtnl_link *l = rtnl_link_alloc();
    if (!l)
        return error_set(err, -ENOMEM, "Out of memory");
    if (ifindex <= 0)
        return error_set(err, -EINVAL, "Interface index %d is not valid", ifindex);
    rtnl_link_set_ifindex(l, ifindex);
    int r = rtnl_link_build_delete_request(l, ret);
    return r < 0 ? nl_fail(err, r, "delete a link") : 0;
}

/* A change request on @ifindex made by libnl from an object with that index only, so exactly
 * the attributes of @changes are sent. */
static int build_change(int ifindex, struct rtnl_link *changes, struct nl_msg **ret, Error *err)
{
    _cleanup_(link_freep) struct rtnl_link *orig = rtnl_link_alloc();
    if (!orig)
        return error_set(err, -ENOMEM, "Out of memory");
    if (ifindex <= 0)
        return error_set(err, -EINVAL, "Interface index %d is not valid", ifindex);
    rtnl_link_set_ifindex(orig, ifindex);
    int r = rtnl_link_build_change_request(orig, changes, 0, ret);
    return r < 0 ? nl_fail(err, r, "change a link") : 0;
}

int hostlink_build_link_set(int ifindex, bool up, int master, struct nl_msg **ret, Error *err)
{
    _cleanup_(link_freep) struct rtnl_link *c = rtnl_link_alloc();
    if (!c)
        return error_set(err, -ENOMEM, "Out of memory");
    if (up)
        rtnl_link_set_flags(c, IFF_UP);
    else
        rtnl_link_unset_flags(c, IFF_UP);
    if (master >= 0)
        rtnl_link_set_master(c, master);
    return build_change(ifindex, c, ret, err);
}

int hostlink_build_link_alias(int ifindex, const char *alias, struct nl_msg **ret, Error *err)
{
    _cleanup_(link_freep) struct rtnl_link *c = rtnl_link_alloc();
    if (!c)
        return error_set(err, -ENOMEM, "Out of memory");
    if (!alias || strlen(alias) >= IFALIASZ)
        return error_set(err, -EINVAL, "Link alias '%s' is longer than %d characters",
                         alias ? alias : "", IFALIASZ - 1);
    rtnl_link_set_ifalias(c, alias);
    return build_change(ifindex, c, ret, err);
}

int hostlink_build_link_mtu(int ifindex, unsigned mtu, struct nl_msg **ret, Error *err)
{
    _cleanup_(link_freep) struct rtnl_link *c = rtnl_link_alloc();
    if (!c)
        return error_set(err, -ENOMEM, "Out of memory");
    rtnl_link_set_mtu(c, mtu);
    return build_change(ifindex, c, ret, err);
}

int hostlink_build_addr(bool add, int ifindex, const HostAddr *a, struct nl_msg **ret, Error *err)
{
    _cleanup_(addr_freep) struct rtnl_addr *o = rtnl_addr_alloc();
    _cleanup_(nladdr_freep) struct nl_addr *local = NULL;
    _cleanup_(nladdr_freep) struct nl_addr *peer = NULL;
    _cleanup_(nladdr_freep) struct nl_addr *bcast = NULL;
    unsigned max = a->family == AF_INET ? 32 : 128;
    int r;

    if (!o)
        return error_set(err, -ENOMEM, "Out of memory");
    if (family_len(a->family) == 0 || a->prefix > max)
        return error_set(err, -EINVAL, "Address family %d with prefix %u is not valid", a->family,
                         a->prefix);
    if (ifindex <= 0)
        return error_set(err, -EINVAL, "Interface index %d is not valid", ifindex);
    rtnl_addr_set_ifindex(o, ifindex);
    rtnl_addr_set_family(o, a->family);
    if ((r = make_addr(a->family, a->local, 0, &local)) < 0 ||
        (r = rtnl_addr_set_local(o, local)) < 0)
        return nl_fail(err, r, "change an address");
    if (a->has_peer) {
        if ((r = make_addr(a->family, a->peer, 0, &peer)) < 0 ||
            (r = rtnl_addr_set_peer(o, peer)) < 0)
            return nl_fail(err, r, "change an address");
    }
    if (a->has_broadcast && a->family == AF_INET) {
        if ((r = make_addr(AF_INET, a->broadcast, 0, &bcast)) < 0 ||
            (r = rtnl_addr_set_broadcast(o, bcast)) < 0)
            return nl_fail(err, r, "change an address");
    }
    /* after local and peer: each of them resets it */
    rtnl_addr_set_prefixlen(o, (int)a->prefix);
    rtnl_addr_set_scope(o, (int)a->scope);
    if (a->flags & ~ADDR_KERNEL_FLAGS)
        rtnl_addr_set_flags(o, a->flags & ~ADDR_KERNEL_FLAGS);
    if (a->label[0] && a->family == AF_INET && (r = rtnl_addr_set_label(o, a->label)) < 0)
        return nl_fail(err, r, "change an address");
    /* lifetimes only when they run out: forever is what the kernel assumes */
    if (add && (a->valid_lft != 0xffffffffu || a->preferred_lft != 0xffffffffu)) {
        rtnl_addr_set_valid_lifetime(o, a->valid_lft);
        rtnl_addr_set_preferred_lifetime(o, a->preferred_lft);
    }
    r = add ? rtnl_addr_build_add_request(o, NLM_F_CREATE | NLM_F_EXCL, ret)
            : rtnl_addr_build_delete_request(o, 0, ret);
    return r < 0 ? nl_fail(err, r, add ? "add an address" : "delete an address") : 0;
}

int hostlink_build_route(bool add, int ifindex, const HostRoute *rt, struct nl_msg **ret,
                         Error *err)
{
    _cleanup_(route_freep) struct rtnl_route *o = rtnl_route_alloc();
    _cleanup_(nladdr_freep) struct nl_addr *dst = NULL;
    _cleanup_(nladdr_freep) struct nl_addr *gw = NULL;
    _cleanup_(nladdr_freep) struct nl_addr *src = NULL;
    unsigned max = rt->family == AF_INET ? 32 : 128;
    int r;

    if (!o)
        return error_set(err, -ENOMEM, "Out of memory");
    if (family_len(rt->family) == 0 || rt->dst_len > max)
        return error_set(err, -EINVAL, "Route family %d with prefix %u is not valid", rt->family,
                         rt->dst_len);
    if (ifindex <= 0)
        return error_set(err, -EINVAL, "Interface index %d is not valid", ifindex);
    rtnl_route_set_family(o, (uint8_t)rt->family);
    rtnl_route_set_table(o, rt->table);
    rtnl_route_set_protocol(o, (uint8_t)rt->protocol);
    rtnl_route_set_scope(o, (uint8_t)rt->scope);
    rtnl_route_set_type(o, (uint8_t)rt->type);
    if ((r = make_addr(rt->family, rt->dst, rt->dst_len, &dst)) < 0 ||
        (r = rtnl_route_set_dst(o, dst)) < 0)
        return nl_fail(err, r, "change a route");
    if (rt->has_prefsrc) {
        if ((r = make_addr(rt->family, rt->prefsrc, 0, &src)) < 0 ||
            (r = rtnl_route_set_pref_src(o, src)) < 0)
            return nl_fail(err, r, "change a route");
    }
    if (rt->has_priority)
        rtnl_route_set_priority(o, rt->priority);
    struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
    if (!nh)
        return error_set(err, -ENOMEM, "Out of memory");
    rtnl_route_nh_set_ifindex(nh, ifindex);
    if (rt->flags & RTNH_F_ONLINK)
        rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
    if (rt->has_gateway) {
        if ((r = make_addr(rt->family, rt->gateway, 0, &gw)) < 0) {
            rtnl_route_nh_free(nh);
            return nl_fail(err, r, "change a route");
        }
        rtnl_route_nh_set_gateway(nh, gw);
    }
    rtnl_route_add_nexthop(o, nh); /* the route owns it now */
    r = add ? rtnl_route_build_add_request(o, NLM_F_EXCL, ret)
            : rtnl_route_build_del_request(o, 0, ret);
    return r < 0 ? nl_fail(err, r, add ? "add a route" : "delete a route") : 0;
}

HostAddr host_addr_ipv4(uint32_t ip, unsigned prefix, const char *ifname)
{
    HostAddr a = {
            .family = AF_INET,
            .prefix = prefix,
            .scope = RT_SCOPE_UNIVERSE,
            .valid_lft = 0xffffffffu,
            .preferred_lft = 0xffffffffu,
    };
    uint32_t n = htonl(ip);
    memcpy(a.local, &n, 4);
    /* /31 and /32 have no broadcast address (RFC 3021) */
    if (prefix < 31) {
        uint32_t b = htonl(ip | ~addr_netmask(prefix));
        memcpy(a.broadcast, &b, 4);
        a.has_broadcast = true;
    }
    if (ifname)
        snprintf(a.label, sizeof(a.label), "%s", ifname);
    return a;
}
