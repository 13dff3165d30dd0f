/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host side, read-only: which IPv4 subnets this network namespace already uses (libnl-3). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/route.h>

#include "kvmlab/vmnet.h"

typedef struct Collect {
    Ipv4Net *v;
    size_t n;
    int error;
} Collect;

static void collect_push(Collect *c, struct nl_addr *a)
{
    if (!a || nl_addr_get_family(a) != AF_INET || nl_addr_get_len(a) != 4)
        return;
    unsigned prefix = nl_addr_get_prefixlen(a);
    if (prefix == 0 || prefix > 32)
        return; /* default routes claim nothing */
    const uint8_t *b = nl_addr_get_binary_addr(a);
    uint32_t ip = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    if ((ip >> 24) == 127)
        return;
    Ipv4Net *nv = realloc(c->v, (c->n + 1) * sizeof(*nv));
    if (!nv) {
        c->error = -ENOMEM;
        return;
    }
    c->v = nv;
    c->v[c->n++] = (Ipv4Net){ip & addr_netmask(prefix), prefix};
}

static void route_cb(struct nl_object *obj, void *data)
{
    struct rtnl_route *r = (struct rtnl_route *)obj;
    if (rtnl_route_get_table(r) != RT_TABLE_MAIN || rtnl_route_get_type(r) != RTN_UNICAST)
        return;
    collect_push(data, rtnl_route_get_dst(r));
}

static void addr_cb(struct nl_object *obj, void *data)
{
    collect_push(data, rtnl_addr_get_local((struct rtnl_addr *)obj));
}

int vmnet_host_subnets(Ipv4Net **ret, size_t *ret_n, Error *err)
{
    struct nl_sock *sk = nl_socket_alloc();
    struct nl_cache *routes = NULL, *addrs = NULL;
    Collect c = {0};
    int r;

    if (!sk)
        return error_set(err, -ENOMEM, "Out of memory");
    r = nl_connect(sk, NETLINK_ROUTE);
    if (r < 0) {
        r = error_set(err, -EIO, "Cannot open a netlink socket: %s", nl_geterror(r));
        goto done;
    }
    r = rtnl_route_alloc_cache(sk, AF_INET, 0, &routes);
    if (r < 0) {
        r = error_set(err, -EIO, "Cannot read the routing table: %s", nl_geterror(r));
        goto done;
    }
    r = rtnl_addr_alloc_cache(sk, &addrs);
    if (r < 0) {
        r = error_set(err, -EIO, "Cannot read the interface addresses: %s", nl_geterror(r));
        goto done;
    }
    nl_cache_foreach(routes, route_cb, &c);
    nl_cache_foreach(addrs, addr_cb, &c);
    if (c.error < 0) {
        r = error_set(err, c.error, "Out of memory");
        goto done;
    }
    *ret = c.v;
    *ret_n = c.n;
    c.v = NULL;
    r = 0;
done:
    free(c.v);
    if (routes)
        nl_cache_free(routes);
    if (addrs)
        nl_cache_free(addrs);
    nl_socket_free(sk);
    return r;
}
