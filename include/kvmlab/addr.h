/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* IPv4 addresses are kept in host byte order. */
typedef struct Ipv4Net {
    uint32_t addr; /* network address (host bits zero once normalised) */
    unsigned prefix;
} Ipv4Net;

typedef struct MacAddr {
    uint8_t b[6];
} MacAddr;

#define IPV4_STRLEN 16
#define CIDR_STRLEN 19
#define MAC_STRLEN  18

/* Parse dotted-quad "a.b.c.d" strictly (no leading zeros, no trailing junk). 0 or -EINVAL. */
int addr_ipv4_parse(const char *s, uint32_t *ret);
/* Format into @buf (at least IPV4_STRLEN bytes); returns @buf. */
char *addr_ipv4_format(uint32_t a, char *buf);
/* Parse "a.b.c.d/len". -EINVAL for syntax, -EDOM when host bits are set. */
int addr_cidr_parse(const char *s, Ipv4Net *ret);
char *addr_cidr_format(const Ipv4Net *n, char *buf);
uint32_t addr_netmask(unsigned prefix);
bool addr_net_contains(const Ipv4Net *n, uint32_t a);
bool addr_net_overlaps(const Ipv4Net *a, const Ipv4Net *b);
/* The i-th address of the network (N.0 + i). */
static inline uint32_t addr_net_host(const Ipv4Net *n, uint32_t i)
{
    return n->addr + i;
}

/* Parse "aa:bb:cc:dd:ee:ff" (case-insensitive). 0 or -EINVAL. */
int addr_mac_parse(const char *s, MacAddr *ret);
char *addr_mac_format(const MacAddr *m, char *buf);
bool addr_mac_equal(const MacAddr *a, const MacAddr *b);
/* A locally stable MAC in QEMU's 52:54:00 range derived from the given strings (lab, node, NIC
 * index), so a re-created node keeps its DHCP reservation. */
MacAddr addr_mac_derive(const char *lab, const char *node, unsigned nic);

/* 64-bit FNV-1a over @len bytes, chained from @h (start with HASH_FNV_INIT). */
#define HASH_FNV_INIT 0xcbf29ce484222325ULL
uint64_t hash_fnv1a(uint64_t h, const void *data, size_t len);
uint64_t hash_fnv1a_str(uint64_t h, const char *s);
