/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmlab/addr.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/error.h"

/*
 * The one small layer through which kvmlab changes a host's links, addresses and routes
 * (libnl-3 route), always inside one network namespace. Requests are built apart from sending
 * them (hostlink_build_*: pure, the shape of libnl's rtnl_link_build_add_request), so unit tests
 * read the built messages back; hostlink_* then send them on a socket opened in the namespace.
 *
 * The NIC migration of VMnet0 bridged: a snapshot of a NIC (MAC, MTU, link state, every
 * address and every route through it), a bridge made with the NIC's MAC, the NIC enslaved, its
 * addresses and routes moved onto the bridge, the default gateway checked; any failure puts the
 * snapshot back exactly (`ip addr` and `ip route` print the same bytes again).
 */

struct nl_msg;

#define HOSTLINK_ALIAS_PREFIX "kvmlab "

/* One address of a link (IPv4 or IPv6), as the kernel reports it. */
typedef struct HostAddr {
    int family;        /* AF_INET or AF_INET6 */
    uint8_t local[16]; /* IFA_LOCAL (IPv4) / IFA_ADDRESS (IPv6), network order */
    uint8_t peer[16];  /* IFA_ADDRESS when it differs from local (point-to-point), else zero */
    bool has_peer;
    uint8_t broadcast[4]; /* IPv4 IFA_BROADCAST, zero when none */
    bool has_broadcast;
    unsigned prefix;
    unsigned scope;                    /* RT_SCOPE_* */
    uint32_t flags;                    /* IFA_F_* (noprefixroute, nodad, ...) */
    char label[16];                    /* IPv4 label ("eth0", "eth0:1"); empty for IPv6 */
    uint32_t valid_lft, preferred_lft; /* seconds; 0xffffffff: forever */
} HostAddr;

/* One route whose output device is the link (any table, IPv4 or IPv6). */
typedef struct HostRoute {
    int family;
    uint32_t table;
    uint8_t dst[16];
    unsigned dst_len;
    uint8_t gateway[16];
    bool has_gateway;
    uint8_t prefsrc[16];
    bool has_prefsrc;
    unsigned protocol; /* RTPROT_* */
    unsigned scope;
    unsigned type;     /* RTN_* */
    uint32_t priority; /* metric */
    bool has_priority;
    uint32_t flags; /* RTNH_F_ONLINK ... */
} HostRoute;

/* What a NIC is, enough to put it back exactly. */
typedef struct NicSnapshot {
    char ifname[16];
    int ifindex;
    MacAddr mac;
    unsigned mtu;
    bool up;         /* IFF_UP was set */
    char master[16]; /* the bridge or bond it was enslaved to, empty when none */
    HostAddr *addrs; /* in the kernel's order */
    size_t n_addrs;
    HostRoute *routes; /* in the kernel's dump order */
    size_t n_routes;
} NicSnapshot;

void nic_snapshot_free(NicSnapshot *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(NicSnapshot *, nic_snapshot_free)

/* Pure: the snapshot as text (one "key=value ..." line per fact), kept in a state file so a
 * later process (`down`) puts the NIC back; and the text read back. */
char *nic_snapshot_format(const NicSnapshot *s);
int nic_snapshot_parse(const char *text, NicSnapshot **ret, Error *err);

/* A link as observation sees it. */
typedef struct HostLinkInfo {
    char name[16];
    int ifindex;
    char kind[16]; /* "bridge", "veth", "" for a physical NIC, ... */
    char master[16];
    char *alias; /* IFLA_IFALIAS, NULL when none; kvmlab's bridges carry "kvmlab lab=.. key=.." */
    MacAddr mac;
    unsigned mtu;
    bool up;
    bool wireless;    /* /sys/class/net/NAME/wireless or phy80211 exists */
    char *managed_by; /* who else configures it ("NetworkManager", "a DHCP client"), NULL;
                         filled by the caller, freed by host_link_info_clear() */
    uint32_t *ipv4;   /* IPv4 addresses (host order) with their prefixes */
    unsigned *ipv4_prefix;
    size_t n_ipv4;
} HostLinkInfo;

void host_link_info_clear(HostLinkInfo *l);

/*
 * Pure builders: netlink requests ready to send (libnl objects, no socket). The caller frees
 * *ret with nlmsg_free(). 0 or a negative errno with @err set.
 */
/* RTM_NEWLINK NLM_F_CREATE|NLM_F_EXCL, kind bridge, IFLA_IFNAME, IFLA_ADDRESS when @mac is
 * non-NULL, IFLA_IFALIAS when @alias is non-NULL, forward delay 0, STP off. */
int hostlink_build_bridge_add(const char *name, const MacAddr *mac, const char *alias,
                              struct nl_msg **ret, Error *err);
/* RTM_DELLINK by index. */
int hostlink_build_link_del(int ifindex, struct nl_msg **ret, Error *err);
/* RTM_NEWLINK on @ifindex: flags IFF_UP set or cleared, and IFLA_MASTER when @master >= 0
 * (0: no master). */
int hostlink_build_link_set(int ifindex, bool up, int master, struct nl_msg **ret, Error *err);
/* RTM_NEWLINK on @ifindex: IFLA_IFALIAS @alias. The kernel does not apply an alias given at
 * creation (rtnl_newlink sets it only on an existing link), so hostlink_bridge_add sends this. */
int hostlink_build_link_alias(int ifindex, const char *alias, struct nl_msg **ret, Error *err);
/* RTM_NEWLINK on @ifindex: IFLA_MTU @mtu (the NIC's MTU put back). */
int hostlink_build_link_mtu(int ifindex, unsigned mtu, struct nl_msg **ret, Error *err);
/* RTM_NEWADDR / RTM_DELADDR of @a on @ifindex (every field of HostAddr that is set). */
int hostlink_build_addr(bool add, int ifindex, const HostAddr *a, struct nl_msg **ret, Error *err);
/* RTM_NEWROUTE (NLM_F_CREATE|NLM_F_EXCL) / RTM_DELROUTE of @rt through @ifindex. */
int hostlink_build_route(bool add, int ifindex, const HostRoute *rt, struct nl_msg **ret,
                         Error *err);

/* An IPv4 HostAddr for ip/prefix with the broadcast address and label @ifname. Pure. */
HostAddr host_addr_ipv4(uint32_t ip, unsigned prefix, const char *ifname);

/*
 * Host side. A HostLink is a NETLINK_ROUTE socket opened inside network namespace @netns
 * (NULL: the namespace this process runs in); every call below acts there.
 */
typedef struct HostLink HostLink;

int hostlink_open(const char *netns, HostLink **ret, Error *err);
void hostlink_free(HostLink *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(HostLink *, hostlink_free)

/* Send one built message and wait for the kernel's answer. The only function that sends:
 * tests inject failures here with -Wl,--wrap=hostlink_send. @what names the step for the error
 * ("Cannot add address '10.0.0.5/24' to 'kvbr-eth0'"). 0 or a negative errno with @err set. */
int hostlink_send(HostLink *h, struct nl_msg *msg, const char *what, Error *err);

/* Every link of the namespace (*ret_n may be 0). */
int hostlink_list(HostLink *h, HostLinkInfo **ret, size_t *ret_n, Error *err);
/* One link by name: 0, -ENODEV when there is none. */
int hostlink_get(HostLink *h, const char *name, HostLinkInfo *ret, Error *err);

/* A bridge named @name with @alias (and @mac when non-NULL), up, with no addresses yet. */
int hostlink_bridge_add(HostLink *h, const char *name, const MacAddr *mac, const char *alias,
                        Error *err);
/* Delete link @name; one that is not there is no error. */
int hostlink_link_del(HostLink *h, const char *name, Error *err);
/* Add @a to link @name; one it already has is no error. */
int hostlink_addr_add(HostLink *h, const char *name, const HostAddr *a, Error *err);

/* The NIC's snapshot as it is now. -ENODEV when there is no such link. */
int hostlink_nic_snapshot(HostLink *h, const char *ifname, NicSnapshot **ret, Error *err);

/*
 * Move the NIC of @snap onto a new bridge @bridge (the NIC's MAC, @alias): bridge made and up,
 * NIC enslaved and up, every address of the NIC (IPv4, and IPv6 but link-local) added to the
 * bridge and removed from the NIC, every route through the NIC added through the bridge (in
 * an order the kernel accepts: link routes before gateway routes), then the IPv4 default
 * gateway (if any) must answer within @gateway_timeout_ms (an ICMP echo from the bridge's
 * address). On any failure everything done is undone (hostlink_nic_restore) and the first
 * error is reported, with an undo failure after it.
 */
int hostlink_nic_to_bridge(HostLink *h, const NicSnapshot *snap, const char *bridge,
                           const char *alias, int gateway_timeout_ms, Error *err);

/*
 * Put the NIC back exactly as @snap has it: bridge @bridge deleted (when it exists), the NIC
 * out of it, its MTU and master as before, its addresses and routes as before (in the
 * snapshot's order, so `ip addr` and `ip route` print the same), its link state as before.
 * Works from any half-way state of hostlink_nic_to_bridge().
 */
int hostlink_nic_restore(HostLink *h, const NicSnapshot *snap, const char *bridge, Error *err);

/* Read / write a sysctl of the namespace (/proc/sys/...: "net/ipv4/ip_forward"). The value is
 * trimmed. -ENOENT when the key does not exist there. */
int hostlink_sysctl_get(const char *netns, const char *key, char **ret, Error *err);
int hostlink_sysctl_set(const char *netns, const char *key, const char *value, Error *err);
