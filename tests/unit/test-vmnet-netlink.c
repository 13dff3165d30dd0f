/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hostlink's netlink requests read back with libnl's parser (nlmsg_parse, nla_parse_nested):
 * type, flags, header and every attribute against the test's own fixtures; the NIC snapshot as
 * text (a hand-written golden file), read back, and refused when it is junk.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include "golden.h"
#include "kvmlab/hostlink.h"

static const MacAddr mac = {{0x52, 0x54, 0x00, 0xab, 0xcd, 0xef}};

static void ip4(const char *s, uint8_t *out)
{
    assert_int_equal(inet_pton(AF_INET, s, out), 1);
}
static void ip6(const char *s, uint8_t *out)
{
    assert_int_equal(inet_pton(AF_INET6, s, out), 1);
}

/* The attribute's bytes equal @want (@len bytes). */
static void assert_attr_bytes(struct nlattr *a, const void *want, int len)
{
    assert_non_null(a);
    assert_int_equal(nla_len(a), len);
    assert_memory_equal(nla_data(a), want, (size_t)len);
}

static void assert_attr_ip4(struct nlattr *a, const char *s)
{
    uint8_t b[4];
    ip4(s, b);
    assert_attr_bytes(a, b, 4);
}

static void assert_attr_string(struct nlattr *a, const char *want)
{
    assert_non_null(a);
    assert_string_equal((const char *)nla_data(a), want);
}

static struct ifinfomsg *parse_link(struct nl_msg *msg, struct nlattr **tb)
{
    struct nlmsghdr *hdr = nlmsg_hdr(msg);
    assert_int_equal(nlmsg_parse(hdr, sizeof(struct ifinfomsg), tb, IFLA_MAX, NULL), 0);
    return nlmsg_data(hdr);
}

static void test_bridge_add(void **state)
{
    (void)state;
    struct nl_msg *msg = NULL;
    struct nlattr *tb[IFLA_MAX + 1];
    Error err = ERROR_INIT;

    assert_int_equal(
            hostlink_build_bridge_add("khlbr0", &mac, "kvmlab lab=a key=vmnet0", &msg, &err), 0);
    struct nlmsghdr *hdr = nlmsg_hdr(msg);
    assert_int_equal(hdr->nlmsg_type, RTM_NEWLINK);
    assert_int_equal(hdr->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL), NLM_F_CREATE | NLM_F_EXCL);
    struct ifinfomsg *ifi = parse_link(msg, tb);
    assert_int_equal(ifi->ifi_index, 0);
    /* no flag changes: a new link keeps BROADCAST and MULTICAST */
    assert_int_equal(ifi->ifi_change, 0);
    assert_attr_string(tb[IFLA_IFNAME], "khlbr0");
    assert_attr_bytes(tb[IFLA_ADDRESS], mac.b, 6);
    assert_attr_string(tb[IFLA_IFALIAS], "kvmlab lab=a key=vmnet0");
    assert_null(tb[IFLA_MASTER]);

    struct nlattr *li[IFLA_INFO_MAX + 1], *br[IFLA_BR_MAX + 1];
    assert_non_null(tb[IFLA_LINKINFO]);
    assert_int_equal(nla_parse_nested(li, IFLA_INFO_MAX, tb[IFLA_LINKINFO], NULL), 0);
    assert_attr_string(li[IFLA_INFO_KIND], "bridge");
    assert_non_null(li[IFLA_INFO_DATA]);
    assert_int_equal(nla_parse_nested(br, IFLA_BR_MAX, li[IFLA_INFO_DATA], NULL), 0);
    assert_non_null(br[IFLA_BR_FORWARD_DELAY]);
    assert_int_equal(nla_get_u32(br[IFLA_BR_FORWARD_DELAY]), 0);
    assert_non_null(br[IFLA_BR_STP_STATE]);
    assert_int_equal(nla_get_u32(br[IFLA_BR_STP_STATE]), 0);
    nlmsg_free(msg);

    /* neither MAC nor alias: neither attribute */
    assert_int_equal(hostlink_build_bridge_add("br1", NULL, NULL, &msg, &err), 0);
    parse_link(msg, tb);
    assert_attr_string(tb[IFLA_IFNAME], "br1");
    assert_null(tb[IFLA_ADDRESS]);
    assert_null(tb[IFLA_IFALIAS]);
    nlmsg_free(msg);

    /* 16 characters do not fit IFNAMSIZ */
    msg = NULL;
    assert_int_equal(hostlink_build_bridge_add("abcdefghijklmnop", NULL, NULL, &msg, &err),
                     -EINVAL);
    assert_null(msg);
    assert_non_null(strstr(err.message, "'abcdefghijklmnop'"));
    error_clear(&err);
}

static void test_link_del_and_set(void **state)
{
    (void)state;
    struct nl_msg *msg = NULL;
    struct nlattr *tb[IFLA_MAX + 1];
    Error err = ERROR_INIT;

    assert_int_equal(hostlink_build_link_del(42, &msg, &err), 0);
    assert_int_equal(nlmsg_hdr(msg)->nlmsg_type, RTM_DELLINK);
    assert_int_equal(parse_link(msg, tb)->ifi_index, 42);
    nlmsg_free(msg);

    assert_int_equal(hostlink_build_link_set(5, true, 7, &msg, &err), 0);
    assert_int_equal(nlmsg_hdr(msg)->nlmsg_type, RTM_NEWLINK);
    assert_int_equal(nlmsg_hdr(msg)->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL), 0);
    struct ifinfomsg *ifi = parse_link(msg, tb);
    assert_int_equal(ifi->ifi_index, 5);
    assert_int_equal(ifi->ifi_flags, IFF_UP);
    assert_int_equal(ifi->ifi_change, IFF_UP); /* only IFF_UP changes */
    assert_non_null(tb[IFLA_MASTER]);
    assert_int_equal(nla_get_u32(tb[IFLA_MASTER]), 7);
    assert_null(tb[IFLA_IFNAME]);
    nlmsg_free(msg);

    assert_int_equal(hostlink_build_link_set(5, false, -1, &msg, &err), 0);
    ifi = parse_link(msg, tb);
    assert_int_equal(ifi->ifi_flags & IFF_UP, 0);
    assert_int_equal(ifi->ifi_change, IFF_UP);
    assert_null(tb[IFLA_MASTER]);
    nlmsg_free(msg);

    /* master 0: out of the bridge */
    assert_int_equal(hostlink_build_link_set(5, true, 0, &msg, &err), 0);
    parse_link(msg, tb);
    assert_non_null(tb[IFLA_MASTER]);
    assert_int_equal(nla_get_u32(tb[IFLA_MASTER]), 0);
    nlmsg_free(msg);

    assert_int_equal(hostlink_build_link_mtu(5, 1400, &msg, &err), 0);
    ifi = parse_link(msg, tb);
    assert_int_equal(ifi->ifi_index, 5);
    assert_int_equal(ifi->ifi_change, 0);
    assert_non_null(tb[IFLA_MTU]);
    assert_int_equal(nla_get_u32(tb[IFLA_MTU]), 1400);
    nlmsg_free(msg);

    msg = NULL;
    assert_int_equal(hostlink_build_link_del(0, &msg, &err), -EINVAL);
    assert_null(msg);
    error_clear(&err);
}

static struct ifaddrmsg *parse_addr(struct nl_msg *msg, struct nlattr **tb)
{
    struct nlmsghdr *hdr = nlmsg_hdr(msg);
    assert_int_equal(nlmsg_parse(hdr, sizeof(struct ifaddrmsg), tb, IFA_MAX, NULL), 0);
    return nlmsg_data(hdr);
}

static void test_addr(void **state)
{
    (void)state;
    struct nl_msg *msg = NULL;
    struct nlattr *tb[IFA_MAX + 1];
    Error err = ERROR_INIT;

    /* a secondary with noprefixroute, as a dump reports it */
    HostAddr a = {.family = AF_INET,
                  .prefix = 24,
                  .scope = RT_SCOPE_UNIVERSE,
                  .flags = IFA_F_SECONDARY | IFA_F_PERMANENT | IFA_F_NOPREFIXROUTE,
                  .label = "lan0:1",
                  .has_broadcast = true,
                  .valid_lft = 0xffffffffu,
                  .preferred_lft = 0xffffffffu};
    ip4("10.77.0.6", a.local);
    ip4("10.77.0.255", a.broadcast);
    assert_int_equal(hostlink_build_addr(true, 9, &a, &msg, &err), 0);
    assert_int_equal(nlmsg_hdr(msg)->nlmsg_type, RTM_NEWADDR);
    assert_int_equal(nlmsg_hdr(msg)->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL),
                     NLM_F_CREATE | NLM_F_EXCL);
    struct ifaddrmsg *ifa = parse_addr(msg, tb);
    assert_int_equal(ifa->ifa_family, AF_INET);
    assert_int_equal(ifa->ifa_prefixlen, 24);
    assert_int_equal(ifa->ifa_index, 9);
    assert_int_equal(ifa->ifa_scope, RT_SCOPE_UNIVERSE);
    assert_attr_ip4(tb[IFA_LOCAL], "10.77.0.6");
    assert_attr_ip4(tb[IFA_ADDRESS], "10.77.0.6");
    assert_attr_ip4(tb[IFA_BROADCAST], "10.77.0.255");
    assert_attr_string(tb[IFA_LABEL], "lan0:1");
    /* what the kernel decides (secondary, permanent) is not asked for */
    assert_non_null(tb[IFA_FLAGS]);
    assert_int_equal(nla_get_u32(tb[IFA_FLAGS]), IFA_F_NOPREFIXROUTE);
    assert_int_equal(ifa->ifa_flags & (IFA_F_SECONDARY | IFA_F_PERMANENT), 0);
    assert_null(tb[IFA_CACHEINFO]); /* forever is the default */
    nlmsg_free(msg);

    /* point-to-point: IFA_ADDRESS is the peer */
    HostAddr p = {.family = AF_INET, .prefix = 32, .has_peer = true, .scope = RT_SCOPE_UNIVERSE};
    ip4("192.0.2.1", p.local);
    ip4("192.0.2.2", p.peer);
    assert_int_equal(hostlink_build_addr(false, 3, &p, &msg, &err), 0);
    assert_int_equal(nlmsg_hdr(msg)->nlmsg_type, RTM_DELADDR);
    ifa = parse_addr(msg, tb);
    assert_int_equal(ifa->ifa_prefixlen, 32);
    assert_int_equal(ifa->ifa_index, 3);
    assert_attr_ip4(tb[IFA_LOCAL], "192.0.2.1");
    assert_attr_ip4(tb[IFA_ADDRESS], "192.0.2.2");
    assert_null(tb[IFA_BROADCAST]);
    assert_null(tb[IFA_LABEL]);
    nlmsg_free(msg);

    /* IPv6 with running lifetimes */
    HostAddr s = {.family = AF_INET6,
                  .prefix = 64,
                  .scope = RT_SCOPE_UNIVERSE,
                  .flags = IFA_F_NODAD,
                  .valid_lft = 3600,
                  .preferred_lft = 1800};
    ip6("2001:db8:77::5", s.local);
    assert_int_equal(hostlink_build_addr(true, 4, &s, &msg, &err), 0);
    ifa = parse_addr(msg, tb);
    assert_int_equal(ifa->ifa_family, AF_INET6);
    assert_int_equal(ifa->ifa_prefixlen, 64);
    assert_int_equal(ifa->ifa_flags, IFA_F_NODAD);
    uint8_t want6[16];
    ip6("2001:db8:77::5", want6);
    assert_attr_bytes(tb[IFA_LOCAL], want6, 16);
    assert_non_null(tb[IFA_CACHEINFO]);
    struct ifa_cacheinfo *ci = nla_data(tb[IFA_CACHEINFO]);
    assert_int_equal(ci->ifa_valid, 3600);
    assert_int_equal(ci->ifa_prefered, 1800);
    nlmsg_free(msg);

    s.prefix = 129;
    msg = NULL;
    assert_int_equal(hostlink_build_addr(true, 4, &s, &msg, &err), -EINVAL);
    assert_null(msg);
    error_clear(&err);
}

static void test_host_addr_ipv4(void **state)
{
    (void)state;
    uint32_t ip;
    uint8_t want[4];
    assert_int_equal(addr_ipv4_parse("192.168.208.2", &ip), 0);
    HostAddr a = host_addr_ipv4(ip, 24, "vmnet8");
    assert_int_equal(a.family, AF_INET);
    ip4("192.168.208.2", want);
    assert_memory_equal(a.local, want, 4);
    assert_true(a.has_broadcast);
    ip4("192.168.208.255", want);
    assert_memory_equal(a.broadcast, want, 4);
    assert_int_equal(a.prefix, 24);
    assert_string_equal(a.label, "vmnet8");
    assert_false(a.has_peer);
    assert_int_equal(a.valid_lft, 0xffffffffu);
    a = host_addr_ipv4(ip, 31, "x");
    assert_false(a.has_broadcast);
    a = host_addr_ipv4(ip, 32, "x");
    assert_false(a.has_broadcast);
}

static struct rtmsg *parse_route(struct nl_msg *msg, struct nlattr **tb)
{
    struct nlmsghdr *hdr = nlmsg_hdr(msg);
    assert_int_equal(nlmsg_parse(hdr, sizeof(struct rtmsg), tb, RTA_MAX, NULL), 0);
    return nlmsg_data(hdr);
}

static void test_route(void **state)
{
    (void)state;
    struct nl_msg *msg = NULL;
    struct nlattr *tb[RTA_MAX + 1];
    Error err = ERROR_INIT;

    HostRoute rt = {.family = AF_INET,
                    .table = RT_TABLE_MAIN,
                    .dst_len = 16,
                    .has_gateway = true,
                    .protocol = RTPROT_BOOT,
                    .scope = RT_SCOPE_UNIVERSE,
                    .type = RTN_UNICAST,
                    .priority = 50,
                    .has_priority = true};
    ip4("10.88.0.0", rt.dst);
    ip4("10.77.0.1", rt.gateway);
    assert_int_equal(hostlink_build_route(true, 6, &rt, &msg, &err), 0);
    assert_int_equal(nlmsg_hdr(msg)->nlmsg_type, RTM_NEWROUTE);
    assert_int_equal(nlmsg_hdr(msg)->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL),
                     NLM_F_CREATE | NLM_F_EXCL);
    struct rtmsg *rtm = parse_route(msg, tb);
    assert_int_equal(rtm->rtm_family, AF_INET);
    assert_int_equal(rtm->rtm_dst_len, 16);
    assert_int_equal(rtm->rtm_table, RT_TABLE_MAIN);
    assert_int_equal(rtm->rtm_protocol, RTPROT_BOOT);
    assert_int_equal(rtm->rtm_scope, RT_SCOPE_UNIVERSE);
    assert_int_equal(rtm->rtm_type, RTN_UNICAST);
    assert_attr_ip4(tb[RTA_DST], "10.88.0.0");
    assert_attr_ip4(tb[RTA_GATEWAY], "10.77.0.1");
    assert_non_null(tb[RTA_OIF]);
    assert_int_equal(nla_get_u32(tb[RTA_OIF]), 6);
    assert_non_null(tb[RTA_PRIORITY]);
    assert_int_equal(nla_get_u32(tb[RTA_PRIORITY]), 50);
    assert_null(tb[RTA_PREFSRC]);
    nlmsg_free(msg);

    /* the default route through a gateway, no metric, deleted */
    HostRoute def = {.family = AF_INET,
                     .table = RT_TABLE_MAIN,
                     .has_gateway = true,
                     .protocol = RTPROT_STATIC,
                     .type = RTN_UNICAST};
    ip4("10.77.0.1", def.gateway);
    assert_int_equal(hostlink_build_route(false, 6, &def, &msg, &err), 0);
    assert_int_equal(nlmsg_hdr(msg)->nlmsg_type, RTM_DELROUTE);
    rtm = parse_route(msg, tb);
    assert_int_equal(rtm->rtm_dst_len, 0);
    assert_int_equal(rtm->rtm_protocol, RTPROT_STATIC);
    if (tb[RTA_DST])
        assert_attr_ip4(tb[RTA_DST], "0.0.0.0");
    assert_attr_ip4(tb[RTA_GATEWAY], "10.77.0.1");
    assert_null(tb[RTA_PRIORITY]);
    nlmsg_free(msg);

    /* a link route in a table above 255, with a preferred source, IPv6, onlink */
    HostRoute six = {.family = AF_INET6,
                     .table = 1000,
                     .dst_len = 48,
                     .has_prefsrc = true,
                     .protocol = RTPROT_STATIC,
                     .scope = RT_SCOPE_LINK,
                     .type = RTN_UNICAST,
                     .priority = 1024,
                     .has_priority = true};
    ip6("2001:db8:88::", six.dst);
    ip6("2001:db8:77::5", six.prefsrc);
    assert_int_equal(hostlink_build_route(true, 8, &six, &msg, &err), 0);
    rtm = parse_route(msg, tb);
    assert_int_equal(rtm->rtm_family, AF_INET6);
    assert_int_equal(rtm->rtm_dst_len, 48);
    assert_int_equal(rtm->rtm_scope, RT_SCOPE_LINK);
    assert_non_null(tb[RTA_TABLE]);
    assert_int_equal(nla_get_u32(tb[RTA_TABLE]), 1000);
    uint8_t want[16];
    ip6("2001:db8:88::", want);
    assert_attr_bytes(tb[RTA_DST], want, 16);
    ip6("2001:db8:77::5", want);
    assert_attr_bytes(tb[RTA_PREFSRC], want, 16);
    assert_null(tb[RTA_GATEWAY]);
    assert_int_equal(nla_get_u32(tb[RTA_OIF]), 8);
    nlmsg_free(msg);

    HostRoute onlink = def;
    onlink.flags = RTNH_F_ONLINK;
    assert_int_equal(hostlink_build_route(true, 6, &onlink, &msg, &err), 0);
    rtm = parse_route(msg, tb);
    assert_int_equal(rtm->rtm_flags & RTNH_F_ONLINK, RTNH_F_ONLINK);
    nlmsg_free(msg);

    def.dst_len = 33;
    msg = NULL;
    assert_int_equal(hostlink_build_route(true, 6, &def, &msg, &err), -EINVAL);
    assert_null(msg);
    error_clear(&err);
}

/* The fixture of the snapshot tests: what the integration test's NIC looks like. */
static NicSnapshot *fixture_snapshot(void)
{
    NicSnapshot *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    strcpy(s->ifname, "lan0");
    s->ifindex = 2;
    s->mac = mac;
    s->mtu = 1500;
    s->up = true;
    s->n_addrs = 3;
    s->addrs = calloc(3, sizeof(HostAddr));
    s->addrs[0] = (HostAddr){.family = AF_INET,
                             .prefix = 24,
                             .has_broadcast = true,
                             .flags = IFA_F_PERMANENT,
                             .label = "lan0",
                             .valid_lft = 0xffffffffu,
                             .preferred_lft = 0xffffffffu};
    ip4("10.77.0.5", s->addrs[0].local);
    ip4("10.77.0.255", s->addrs[0].broadcast);
    s->addrs[1] = (HostAddr){.family = AF_INET6,
                             .prefix = 64,
                             .flags = IFA_F_PERMANENT,
                             .valid_lft = 0xffffffffu,
                             .preferred_lft = 0xffffffffu};
    ip6("2001:db8:77::5", s->addrs[1].local);
    s->addrs[2] = (HostAddr){.family = AF_INET6,
                             .prefix = 64,
                             .scope = RT_SCOPE_LINK,
                             .flags = IFA_F_PERMANENT,
                             .valid_lft = 0xffffffffu,
                             .preferred_lft = 0xffffffffu};
    ip6("fe80::5054:ff:feab:cdef", s->addrs[2].local);
    s->n_routes = 2;
    s->routes = calloc(2, sizeof(HostRoute));
    s->routes[0] = (HostRoute){.family = AF_INET,
                               .table = 254,
                               .has_gateway = true,
                               .protocol = RTPROT_BOOT,
                               .type = RTN_UNICAST};
    ip4("10.77.0.1", s->routes[0].gateway);
    s->routes[1] = (HostRoute){.family = AF_INET,
                               .table = 254,
                               .dst_len = 24,
                               .has_prefsrc = true,
                               .protocol = RTPROT_KERNEL,
                               .scope = RT_SCOPE_LINK,
                               .type = RTN_UNICAST,
                               .priority = 50,
                               .has_priority = true};
    ip4("10.77.0.0", s->routes[1].dst);
    ip4("10.77.0.5", s->routes[1].prefsrc);
    return s;
}

static void assert_addr_equal(const HostAddr *a, const HostAddr *b)
{
    assert_int_equal(a->family, b->family);
    assert_memory_equal(a->local, b->local, 16);
    assert_int_equal(a->has_peer, b->has_peer);
    assert_memory_equal(a->peer, b->peer, 16);
    assert_int_equal(a->has_broadcast, b->has_broadcast);
    assert_memory_equal(a->broadcast, b->broadcast, 4);
    assert_int_equal(a->prefix, b->prefix);
    assert_int_equal(a->scope, b->scope);
    assert_int_equal(a->flags, b->flags);
    assert_string_equal(a->label, b->label);
    assert_int_equal(a->valid_lft, b->valid_lft);
    assert_int_equal(a->preferred_lft, b->preferred_lft);
}

static void assert_route_equal(const HostRoute *a, const HostRoute *b)
{
    assert_int_equal(a->family, b->family);
    assert_int_equal(a->table, b->table);
    assert_memory_equal(a->dst, b->dst, 16);
    assert_int_equal(a->dst_len, b->dst_len);
    assert_int_equal(a->has_gateway, b->has_gateway);
    assert_memory_equal(a->gateway, b->gateway, 16);
    assert_int_equal(a->has_prefsrc, b->has_prefsrc);
    assert_memory_equal(a->prefsrc, b->prefsrc, 16);
    assert_int_equal(a->protocol, b->protocol);
    assert_int_equal(a->scope, b->scope);
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->has_priority, b->has_priority);
    assert_int_equal(a->priority, b->priority);
    assert_int_equal(a->flags, b->flags);
}

static void test_snapshot_roundtrip(void **state)
{
    (void)state;
    Error err = ERROR_INIT;
    NicSnapshot *s = fixture_snapshot();
    char *text = nic_snapshot_format(s);
    assert_non_null(text);
    assert_int_equal(golden_check("nic-snapshot/lan0.out", text), 0);

    NicSnapshot *back = NULL;
    assert_int_equal(nic_snapshot_parse(text, &back, &err), 0);
    assert_string_equal(back->ifname, "lan0");
    assert_int_equal(back->ifindex, 2);
    assert_memory_equal(back->mac.b, mac.b, 6);
    assert_int_equal(back->mtu, 1500);
    assert_true(back->up);
    assert_string_equal(back->master, "");
    assert_int_equal(back->n_addrs, 3);
    assert_int_equal(back->n_routes, 2);
    for (size_t i = 0; i < 3; i++)
        assert_addr_equal(&back->addrs[i], &s->addrs[i]);
    for (size_t i = 0; i < 2; i++)
        assert_route_equal(&back->routes[i], &s->routes[i]);
    char *again = nic_snapshot_format(back);
    assert_string_equal(again, text);
    free(again);
    nic_snapshot_free(back);

    /* a master and a label with a space and '=' come back as they were */
    strcpy(s->master, "br old");
    strcpy(s->addrs[0].label, "lan0:a=b");
    free(text);
    text = nic_snapshot_format(s);
    assert_non_null(strstr(text, " master=br%20old"));
    assert_int_equal(nic_snapshot_parse(text, &back, &err), 0);
    assert_string_equal(back->master, "br old");
    assert_string_equal(back->addrs[0].label, "lan0:a=b");
    nic_snapshot_free(back);
    free(text);
    nic_snapshot_free(s);
    nic_snapshot_free(NULL);
}

static void test_snapshot_junk(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *needle; /* in the error message */
    } cases[] = {
            {"", "no 'header'"},
            {"garbage\n", "Line 1"},
            {"kvmlab-nic-snapshot 1\n", "no 'nic' line"},
            {"kvmlab-nic-snapshot 2\nnic ifname=a ifindex=1 mac=52:54:00:00:00:01 mtu=1500 "
             "up=yes\n",
             "Line 1"},
            {"kvmlab-nic-snapshot 1\nnic ifname=a ifindex=1 mac=zz mtu=1500 up=yes\n", "'zz'"},
            {"kvmlab-nic-snapshot 1\nnic ifname=a ifindex=1 mac=52:54:00:00:00:01 mtu=1500\n",
             "has no 'up'"},
            {"kvmlab-nic-snapshot 1\nnic ifname=a ifindex=1 mac=52:54:00:00:00:01 mtu=1500 up=yes "
             "color=red\n",
             "unknown key 'color'"},
            {"kvmlab-nic-snapshot 1\naddr family=inet local=10.0.0.1 prefix=8 scope=0 flags=0 "
             "valid=forever preferred=forever\n",
             "unexpected 'addr'"},
            {"kvmlab-nic-snapshot 1\nnic ifname=a ifindex=1 mac=52:54:00:00:00:01 mtu=1500 up=yes\n"
             "addr family=inet local=10.0.0.1 prefix=33 scope=0 flags=0 valid=forever "
             "preferred=forever\n",
             "'33'"},
            {"kvmlab-nic-snapshot 1\nnic ifname=a ifindex=1 mac=52:54:00:00:00:01 mtu=1500 up=yes\n"
             "addr family=inet local=10.0.0.256 prefix=8 scope=0 flags=0 valid=forever "
             "preferred=forever\n",
             "'10.0.0.256'"},
            {"kvmlab-nic-snapshot 1\nnic ifname=a ifindex=1 mac=52:54:00:00:00:01 mtu=1500 up=yes\n"
             "route family=inet table=254 dst=10.0.0.0 protocol=3 scope=0 type=1 flags=0x0\n",
             "'10.0.0.0'"},
            {"kvmlab-nic-snapshot 1\nnic ifname=a ifindex=1 mac=52:54:00:00:00:01 mtu=1500 up=yes\n"
             "route family=ipx table=254 dst=10.0.0.0/8 protocol=3 scope=0 type=1 flags=0x0\n",
             "'ipx'"},
            {"kvmlab-nic-snapshot 1\nnic ifname=a%ZZ ifindex=1 mac=52:54:00:00:00:01 mtu=1500 "
             "up=yes\n",
             "'a%ZZ'"},
            {"kvmlab-nic-snapshot 1\nnic ifname=a ifindex=-1 mac=52:54:00:00:00:01 mtu=1500 "
             "up=yes\n",
             "'-1'"},
            {"kvmlab-nic-snapshot 1\nnic ifname=a ifindex=1 mac=52:54:00:00:00:01 mtu=1500 up=yes\n"
             "nic ifname=b ifindex=1 mac=52:54:00:00:00:01 mtu=1500 up=yes\n",
             "unexpected 'nic'"},
            {"kvmlab-nic-snapshot 1\nnic ifname=a ifindex=1 mac=52:54:00:00:00:01 mtu=1500 up=yes\n"
             "route family=inet table=254 dst=0.0.0.0/0 protocol=3 scope=0 type=1 flags=0x0 x\n",
             "'x' is not key=value"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Error err = ERROR_INIT;
        NicSnapshot *s = (NicSnapshot *)0x1;
        int r = nic_snapshot_parse(cases[i].text, &s, &err);
        if (r != -EINVAL || !err.message || !strstr(err.message, cases[i].needle))
            fail_msg("case %zu: r=%d message '%s', wanted '%s'", i, r,
                     err.message ? err.message : "(none)", cases[i].needle);
        assert_ptr_equal(s, (NicSnapshot *)0x1); /* untouched on failure */
        error_clear(&err);
    }
}

static void test_link_info_clear(void **state)
{
    (void)state;
    HostLinkInfo l = {.ifindex = 3};
    l.alias = strdup("kvmlab lab=a");
    l.ipv4 = calloc(1, sizeof(uint32_t));
    l.ipv4_prefix = calloc(1, sizeof(unsigned));
    l.n_ipv4 = 1;
    host_link_info_clear(&l);
    assert_null(l.alias);
    assert_int_equal(l.n_ipv4, 0);
    assert_int_equal(l.ifindex, 0);
    host_link_info_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_bridge_add),    cmocka_unit_test(test_link_del_and_set),
            cmocka_unit_test(test_addr),          cmocka_unit_test(test_host_addr_ipv4),
            cmocka_unit_test(test_route),         cmocka_unit_test(test_snapshot_roundtrip),
            cmocka_unit_test(test_snapshot_junk), cmocka_unit_test(test_link_info_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
