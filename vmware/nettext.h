/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Private to the network-file parsers (networking.c, dhcpd.c, natconf.c): strict number,
 * address and MAC readers, word splitting, and the excerpt of user text a warning quotes.
 * Pure.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmlab/vmware.h"

/* The most bytes of user text a warning quotes, and the buffer vmw_net_excerpt() needs
 * (every byte may become "\xNN", plus "..." and the NUL). */
#define VMW_EXCERPT_MAX 48
#define VMW_EXCERPT_BUF (VMW_EXCERPT_MAX * 4 + 4)

/* @s for a warning: control bytes as "\xNN", other bytes kept, cut after VMW_EXCERPT_MAX bytes
 * with "...". Returns @buf. */
const char *vmw_net_excerpt(const char *s, char *buf);

/* The next blank-separated word of *@p (NUL-terminated in place, *@p moved past it), NULL
 * when only blanks are left. */
char *vmw_net_word(char **p);

/* @s without one pair of double quotes around it (in place), when it has them. */
char *vmw_net_unquote(char *s);

/* A decimal number without sign or leading zero, at most @max. 0 or -EINVAL. */
int vmw_net_uint(const char *s, uint32_t max, uint32_t *ret);

/* A TCP/UDP port, 1 to 65535. 0 or -EINVAL. */
int vmw_net_port(const char *s, uint16_t *ret);

/* A MAC address as ISC dhcpd and VMware write it: six groups of one or two hex digits
 * separated by ':' ("00:0c:29:aa:bb:cc", "0:c:29:a:b:c"). 0 or -EINVAL. */
int vmw_net_mac(const char *s, MacAddr *ret);

/* Whether @m (host order) is a netmask: ones, then zeros. */
bool vmw_net_is_netmask(uint32_t m);

/* Append a copy of @f to *@v (the description is taken over). -ENOMEM or 0. */
int vmw_net_fwd_append(VmwPortFwd **v, size_t *n, VmwPortFwd *f);

/* Free the descriptions of @n forwards and the array. */
void vmw_net_fwds_free(VmwPortFwd *v, size_t n);

/* "tcp" or "udp". */
const char *vmw_net_proto_name(VmwProto p);
