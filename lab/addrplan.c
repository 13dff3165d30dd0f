/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VMware address plan's rules (see addrplan.h). */
#include "kvmlab/addrplan.h"

#include <string.h>

/* Whether networks of @type run kvmlab's DHCP server; see addrplan.h. */
bool addrplan_has_dhcp(VmnetType type)
{
    return type == VMNET_NAT || type == VMNET_HOSTONLY;
}

/* The largest prefix for @type; see addrplan.h. */
unsigned addrplan_prefix_max(VmnetType type)
{
    return addrplan_has_dhcp(type) ? ADDRPLAN_PREFIX_MAX : ADDRPLAN_PREFIX_MAX_NO_DHCP;
}

/* Whether @prefix fits a @type network; see addrplan.h. */
bool addrplan_prefix_fits(VmnetType type, unsigned prefix)
{
    return prefix >= ADDRPLAN_PREFIX_MIN && prefix <= addrplan_prefix_max(type);
}

/* N.1; see addrplan.h. */
uint32_t addrplan_host(const Ipv4Net *subnet)
{
    return addr_net_host(subnet, 1);
}

/* N.2 on nat networks, else 0; see addrplan.h. */
uint32_t addrplan_gateway(VmnetType type, const Ipv4Net *subnet)
{
    return type == VMNET_NAT ? addr_net_host(subnet, 2) : 0;
}

/* The broadcast address; see addrplan.h. */
uint32_t addrplan_broadcast(const Ipv4Net *subnet)
{
    return subnet->addr | ~addr_netmask(subnet->prefix);
}

/* N.3; see addrplan.h. */
uint32_t addrplan_static_first(const Ipv4Net *subnet)
{
    return addr_net_host(subnet, 3);
}

/* The upper half less the broadcast address; see addrplan.h. */
void addrplan_default_pool(const Ipv4Net *subnet, uint32_t *ret_start, uint32_t *ret_end)
{
    uint64_t size = (uint64_t)~addr_netmask(subnet->prefix) + 1;
    *ret_start = addr_net_host(subnet, (uint32_t)(size / 2));
    *ret_end = addr_net_host(subnet, (uint32_t)(size - 2));
}

/* What @ip is when guests cannot use it, else NULL; see addrplan.h. */
const char *addrplan_reserved_role(VmnetType type, const Ipv4Net *subnet, uint32_t ip)
{
    if (ip == subnet->addr)
        return "the network address";
    if (ip == addrplan_broadcast(subnet))
        return "the broadcast address";
    /* isolated networks give the host no address, but the plan keeps N.1 for it anyway so
     * that a later change of type does not move a guest */
    if (ip == addrplan_host(subnet))
        return "the host's address";
    if (type == VMNET_NAT && ip == addrplan_gateway(type, subnet))
        return "the NAT gateway's address";
    return NULL;
}

/* The first problem of a DHCP pool; see addrplan.h. */
AddrplanRange addrplan_range_check(VmnetType type, const Ipv4Net *subnet, uint32_t start,
                                   uint32_t end, uint32_t *ret_reserved)
{
    if (!addr_net_contains(subnet, start))
        return ADDRPLAN_RANGE_START_OUTSIDE;
    if (!addr_net_contains(subnet, end))
        return ADDRPLAN_RANGE_END_OUTSIDE;
    if (start > end)
        return ADDRPLAN_RANGE_EMPTY;
    /* the reserved addresses are N.0-N.2 and the broadcast address: check those, lowest first */
    uint32_t fixed[] = {subnet->addr, addr_net_host(subnet, 1), addr_net_host(subnet, 2),
                        addrplan_broadcast(subnet)};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (fixed[i] >= start && fixed[i] <= end &&
            addrplan_reserved_role(type, subnet, fixed[i])) {
            if (ret_reserved)
                *ret_reserved = fixed[i];
            return ADDRPLAN_RANGE_RESERVED;
        }
    }
    return ADDRPLAN_RANGE_OK;
}

/* Kernel and tool-safe interface names; see addrplan.h. */
bool addrplan_ifname_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > ADDRPLAN_IFNAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    /* stricter than the kernel (which only forbids '/', ':' and blanks): these are the
     * characters every tool that takes an interface name accepts unquoted */
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return false;
    return true;
}
