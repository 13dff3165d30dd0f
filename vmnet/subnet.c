/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kvmlab/vmnet.h"

#include <errno.h>

#include "kvmlab/cleanup.h"

/* One block of candidate /24s: first..last third octets under a fixed /16 prefix. */
typedef struct SubnetBlock {
    uint32_t first; /* network address of the first candidate */
    uint32_t last;  /* network address of the last candidate */
} SubnetBlock;

/*
 * VMware itself picks from 192.168.x.0/24; libvirt's default network is 192.168.122.0/24 and is
 * avoided like any other used range. 10.200-10.254 come second because corporate networks
 * and VPNs tend to sit at the bottom of 10/8.
 */
static const SubnetBlock blocks[] = {
        {0xc0a86400u, 0xc0a8fe00u}, /* 192.168.100.0/24 .. 192.168.254.0/24 */
        {0x0ac80000u, 0x0afeff00u}, /* 10.200.0.0/24 .. 10.254.255.0/24 */
};

/* The first candidate /24 (see vmnet.h) that overlaps none of @used. 0 with *ret set, or
 * -ENOSPC when every candidate is taken. */
int vmnet_subnet_pick(const Ipv4Net *used, size_t n_used, Ipv4Net *ret)
{
    for (size_t b = 0; b < ELEMENTSOF(blocks); b++) {
        for (uint32_t a = blocks[b].first; a <= blocks[b].last; a += 0x100) {
            Ipv4Net cand = {.addr = a, .prefix = 24};
            bool clash = false;
            for (size_t i = 0; i < n_used && !clash; i++)
                clash = addr_net_overlaps(&cand, &used[i]);
            if (!clash) {
                *ret = cand;
                return 0;
            }
        }
    }
    return -ENOSPC;
}
