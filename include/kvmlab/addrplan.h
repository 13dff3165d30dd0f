/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "kvmlab/addr.h"
#include "kvmlab/lab.h"

/*
 * The VMware address plan as rules, the one place both the lab parser (which reports a broken
 * rule at FILE:LINE:COL) and vmnet/ (which builds the network from it) ask. Pure.
 *
 * On a subnet N.0/P of a nat or hostonly network: N.1 is the host, N.2 the NAT gateway and DNS
 * (nat only), the static range runs from N.3 up to the DHCP pool, and the pool defaults to the
 * upper half (N.128-N.254 on a /24). Bridged and isolated networks have no plan of their own:
 * a subnet there only checks the nodes' fixed addresses.
 */

/* nat and hostonly need N.1, N.2, a static range and a pool: /28 is the smallest subnet that
 * has all four; below /8 the address arithmetic would leave the private ranges anyway. */
#define ADDRPLAN_PREFIX_MIN 8
#define ADDRPLAN_PREFIX_MAX 28
/* isolated networks only need room for guests */
#define ADDRPLAN_PREFIX_MAX_NO_DHCP 30
/* dnsmasq refuses shorter leases, and libvirt rejects them when it parses the network */
#define ADDRPLAN_LEASE_MIN_S 120
/* the kernel's IFNAMSIZ less its terminating zero */
#define ADDRPLAN_IFNAME_MAX 15

/* Whether networks of @type run kvmlab's DHCP server and so follow the plan: nat, hostonly. */
bool addrplan_has_dhcp(VmnetType type);

/* The largest prefix a subnet of a @type network may have. */
unsigned addrplan_prefix_max(VmnetType type);

/* Whether a subnet with @prefix fits a @type network (see ADDRPLAN_PREFIX_*). */
bool addrplan_prefix_fits(VmnetType type, unsigned prefix);

/* N.1, the host's address; N.2 on nat networks, else 0; the broadcast address. */
uint32_t addrplan_host(const Ipv4Net *subnet);
uint32_t addrplan_gateway(VmnetType type, const Ipv4Net *subnet);
uint32_t addrplan_broadcast(const Ipv4Net *subnet);

/* The first address of the static range, N.3: a DHCP pool and automatic addresses start here
 * or above. */
uint32_t addrplan_static_first(const Ipv4Net *subnet);

/* The default DHCP pool: the upper half of the subnet, less the broadcast address. */
void addrplan_default_pool(const Ipv4Net *subnet, uint32_t *ret_start, uint32_t *ret_end);

/*
 * What @ip is on @subnet of a @type network when no guest may have it, as a phrase for messages
 * ("the network address", "the broadcast address", "the host's address", "the NAT gateway's
 * address"), or NULL when a guest may use it. The caller checks that @ip is inside @subnet.
 */
const char *addrplan_reserved_role(VmnetType type, const Ipv4Net *subnet, uint32_t ip);

typedef enum AddrplanRange {
    ADDRPLAN_RANGE_OK,
    ADDRPLAN_RANGE_START_OUTSIDE, /* start is outside the subnet */
    ADDRPLAN_RANGE_END_OUTSIDE,   /* end is outside the subnet */
    ADDRPLAN_RANGE_EMPTY,         /* start comes after end */
    ADDRPLAN_RANGE_RESERVED,      /* includes an address addrplan_reserved_role() names */
} AddrplanRange;

/*
 * Check a DHCP pool [@start, @end] on @subnet of a @type network. Returns the first problem in
 * the order of the enum; for ADDRPLAN_RANGE_RESERVED stores the lowest reserved address inside
 * the range in *ret_reserved (may be NULL).
 */
AddrplanRange addrplan_range_check(VmnetType type, const Ipv4Net *subnet, uint32_t start,
                                   uint32_t end, uint32_t *ret_reserved);

/*
 * Whether @s is an interface name that the kernel (dev_valid_name: 1 to 15 bytes, not "." or
 * "..", no '/', ':' or blanks) and every tool that takes one unquoted accept: only letters,
 * digits, '-', '_' and '.'.
 */
bool addrplan_ifname_valid(const char *s);
