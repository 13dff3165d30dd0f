/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kvmlab/dnsmasq.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"

/*
 * The text side of kvmlab's own dnsmasq (bridge backend): paths, the configuration file, the
 * two hosts files and the lease file read back. Nothing here touches the host; vmnet/dnsmasq.c
 * writes the files and runs the process.
 *
 * Choices, each measured with dnsmasq 2.90 (Debian 12) in a private namespace:
 *  - DNS stays on (no port=0): guests resolve <node>.<domain> and the short name, as on the
 *    libvirt backend. dnsmasq answers only on the bridge (interface=, bind-interfaces,
 *    except-interface=lo), on N.1 and on NAT also N.2, which it hands out as DNS.
 *  - no-ping: dnsmasq otherwise pings each new pool address for about 3 s before offering it,
 *    one client after the other (TESTING.md); the lab owns the subnet and the lease file, so
 *    the conflict that ping guards against has no other source.
 *  - no expand-hosts: the addn-hosts file carries both the qualified and the short name, like
 *    the libvirt backend's DNS hosts; names from DHCP clients get the domain from domain=.
 *  - dhcp-authoritative: the lab's dnsmasq is the only server on the bridge, so a client that
 *    asks for an address from an old lease file gets a NAK at once instead of a timeout.
 *  - no user=: dnsmasq drops to its compiled-in user ('nobody' on Debian) after opening the
 *    lease, pid and log files as root; the hosts files are read after the drop, at start and on
 *    every SIGHUP (vmnet/dnsmasq.c checks that they can be).
 */

/* Free the paths' strings. Accepts a cleared or half-initialised struct. */
void dnsmasq_paths_clear(DnsmasqPaths *p)
{
    if (!p)
        return;
    free(p->dir);
    free(p->conf);
    free(p->hosts);
    free(p->addn_hosts);
    free(p->leases);
    free(p->pid);
    free(p->log);
    *p = (DnsmasqPaths){0};
}

int dnsmasq_paths_init(DnsmasqPaths *p, const char *dir)
{
    DnsmasqPaths n = {0};

    if (!(n.dir = strdup(dir)) || !(n.conf = fs_path_join(dir, "dnsmasq.conf")) ||
        !(n.hosts = fs_path_join(dir, "hosts")) ||
        !(n.addn_hosts = fs_path_join(dir, "addn-hosts")) ||
        !(n.leases = fs_path_join(dir, "leases")) || !(n.pid = fs_path_join(dir, "pid")) ||
        !(n.log = fs_path_join(dir, "log"))) {
        dnsmasq_paths_clear(&n);
        return -ENOMEM;
    }
    *p = n;
    return 0;
}

/* Close @f and hand out its buffer, or NULL when writing failed. */
static char *memstream_finish(FILE *f, char **buf)
{
    if (fclose(f) != 0) {
        free(*buf);
        *buf = NULL;
        return NULL;
    }
    return steal_pointer(buf);
}

/* dnsmasq reads one option per line: a value with a newline would start another option. */
static bool conf_value_ok(const char *s)
{
    return s && *s && !strpbrk(s, "\n\r");
}

int dnsmasq_conf_build(const VmnetSpec *s, const DnsmasqPaths *p, const uint32_t *upstream,
                       size_t n_upstream, char **ret, Error *err)
{
    _cleanup_free_ char *buf = NULL;
    char a[IPV4_STRLEN], b[IPV4_STRLEN], m[IPV4_STRLEN];
    size_t len = 0;
    FILE *f;

    /* isolated and bridged networks have no address of the host on the bridge: nothing for
     * dnsmasq to listen on, and no DHCP */
    if ((s->type != VMNET_NAT && s->type != VMNET_HOSTONLY) || !s->has_subnet || !s->host_ip)
        return error_set(err, -EINVAL,
                         "Network '%s' of type '%s' has no address of the host on its bridge, so "
                         "it has no dnsmasq",
                         s->key, vmnet_type_to_string(s->type));
    if (!conf_value_ok(s->bridge) || !conf_value_ok(s->domain) || !conf_value_ok(p->hosts) ||
        !conf_value_ok(p->addn_hosts) || !conf_value_ok(p->leases) || !conf_value_ok(p->pid) ||
        !conf_value_ok(p->log))
        return error_set(err, -EINVAL,
                         "Cannot write a dnsmasq configuration for network '%s': a name or path "
                         "is empty or holds a line break",
                         s->key);
    if (!(f = open_memstream(&buf, &len)))
        return error_set(err, -ENOMEM, "Out of memory");

    fprintf(f, "# dnsmasq for network '%s' of lab '%s' (kvmlab writes this file)\n", s->key,
            s->lab);
    fputs("\n# only on the lab's bridge\n", f);
    fprintf(f, "interface=%s\n", s->bridge);
    fputs("except-interface=lo\n", f);
    fputs("bind-interfaces\n", f);
    fprintf(f, "listen-address=%s\n", addr_ipv4_format(s->host_ip, a));
    if (s->type == VMNET_NAT)
        fprintf(f, "listen-address=%s\n", addr_ipv4_format(s->gateway_ip, a));
    fprintf(f, "pid-file=%s\n", p->pid);
    fprintf(f, "log-facility=%s\n", p->log);

    fputs("\n# DNS: the lab's names; nothing from the host's resolv.conf or /etc/hosts\n", f);
    fputs("no-resolv\n", f);
    fputs("no-hosts\n", f);
    /* host-only networks reach nothing beyond the host, names included (VMware's host-only) */
    if (s->type == VMNET_NAT)
        for (size_t i = 0; i < n_upstream; i++)
            fprintf(f, "server=%s\n", addr_ipv4_format(upstream[i], a));
    fprintf(f, "domain=%s\n", s->domain);
    fprintf(f, "local=/%s/\n", s->domain);
    fprintf(f, "addn-hosts=%s\n", p->addn_hosts);

    if (s->dhcp) {
        fputs("\n# DHCP: VMware's plan\n", f);
        fprintf(f, "dhcp-range=%s,%s,%s,%" PRIu32 "\n", addr_ipv4_format(s->dhcp_start, a),
                addr_ipv4_format(s->dhcp_end, b),
                addr_ipv4_format(addr_netmask(s->subnet.prefix), m), s->lease_seconds);
        /* the pool plus every reservation, which may lie outside it (the static range) */
        fprintf(f, "dhcp-lease-max=%" PRIu32 "\n",
                s->dhcp_end - s->dhcp_start + 1 + (uint32_t)s->n_hosts);
        fprintf(f, "dhcp-leasefile=%s\n", p->leases);
        fprintf(f, "dhcp-hostsfile=%s\n", p->hosts);
        fputs("dhcp-authoritative\n", f);
        fputs("dhcp-no-override\n", f);
        fputs("no-ping\n", f);
        if (s->type == VMNET_NAT) {
            /* dnsmasq would hand out the first address of the bridge (N.1, the host) */
            addr_ipv4_format(s->gateway_ip, a);
            fprintf(f, "dhcp-option=option:router,%s\n", a);
            fprintf(f, "dhcp-option=option:dns-server,%s\n", a);
        } else {
            /* an empty option sends none: host-only hands out no router */
            fputs("dhcp-option=option:router\n", f);
            fprintf(f, "dhcp-option=option:dns-server,%s\n", addr_ipv4_format(s->host_ip, a));
        }
    }

    char *out = memstream_finish(f, &buf);
    if (!out)
        return error_set(err, -ENOMEM, "Out of memory");
    *ret = out;
    return 0;
}

static int host_ptr_cmp(const void *a, const void *b)
{
    uint32_t x = (*(const VmnetHost *const *)a)->ip, y = (*(const VmnetHost *const *)b)->ip;
    return x < y ? -1 : x > y;
}

/* The spec's hosts sorted by IP (the spec keeps them so; sorted again to not depend on it).
 * New array of borrowed pointers, NULL on ENOMEM (and for no hosts: *ret_n is then 0). */
static const VmnetHost **hosts_sorted(const VmnetSpec *s)
{
    if (s->n_hosts == 0)
        return NULL;
    const VmnetHost **v = calloc(s->n_hosts, sizeof(*v));
    if (!v)
        return NULL;
    for (size_t i = 0; i < s->n_hosts; i++)
        v[i] = &s->hosts[i];
    if (s->n_hosts > 1)
        qsort(v, s->n_hosts, sizeof(*v), host_ptr_cmp);
    return v;
}

char *dnsmasq_hosts_build(const VmnetSpec *s)
{
    _cleanup_free_ char *buf = NULL;
    _cleanup_free_ const VmnetHost **v = hosts_sorted(s);
    char mac[MAC_STRLEN], ip[IPV4_STRLEN];
    size_t len = 0;
    FILE *f;

    if ((s->n_hosts > 0 && !v) || !(f = open_memstream(&buf, &len)))
        return NULL;
    for (size_t i = 0; i < s->n_hosts; i++) {
        fprintf(f, "%s,%s", addr_mac_format(&v[i]->mac, mac), addr_ipv4_format(v[i]->ip, ip));
        /* the name is also the host name handed to the client (DHCP option 12) */
        if (v[i]->name)
            fprintf(f, ",%s", v[i]->name);
        fputc('\n', f);
    }
    return memstream_finish(f, &buf);
}

char *dnsmasq_addn_hosts_build(const VmnetSpec *s)
{
    _cleanup_free_ char *buf = NULL;
    _cleanup_free_ const VmnetHost **v = hosts_sorted(s);
    char ip[IPV4_STRLEN];
    size_t len = 0;
    FILE *f;

    if ((s->n_hosts > 0 && !v) || !(f = open_memstream(&buf, &len)))
        return NULL;
    for (size_t i = 0; i < s->n_hosts; i++)
        if (v[i]->name)
            fprintf(f, "%s %s.%s %s\n", addr_ipv4_format(v[i]->ip, ip), v[i]->name, s->domain,
                    v[i]->name);
    return memstream_finish(f, &buf);
}

/* Free the leases and the array. Accepts NULL. */
void dnsmasq_leases_free(DnsmasqLease *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].hostname);
        free(v[i].client_id);
    }
    free(v);
}

/* A field of a lease line as a new string, NULL for dnsmasq's "*" (none). 0 or -ENOMEM. */
static int field_dup(const char *s, char **ret)
{
    *ret = NULL;
    if (strcmp(s, "*") == 0)
        return 0;
    return (*ret = strdup(s)) ? 0 : -ENOMEM;
}

/*
 * One IPv4 lease: "EXPIRY MAC IP HOSTNAME CLIENTID" (dnsmasq's lease file, see lease.c). Lines
 * of another shape (the "duid" line and IPv6 leases, non-Ethernet hardware, junk) give
 * -EINVAL and are skipped by the caller.
 */
static int lease_line_parse(char *line, DnsmasqLease *ret)
{
    char *save = NULL, *f[6];
    size_t n = 0;
    for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        if (n == ELEMENTSOF(f))
            return -EINVAL;
        f[n++] = t;
    }
    if (n != 5)
        return -EINVAL;

    char *end = NULL;
    errno = 0;
    long long expiry = strtoll(f[0], &end, 10);
    DnsmasqLease l = {0};
    if (errno || end == f[0] || *end || expiry < 0 || addr_mac_parse(f[1], &l.mac) < 0 ||
        addr_ipv4_parse(f[2], &l.ip) < 0)
        return -EINVAL;
    l.expiry = expiry;
    if (field_dup(f[3], &l.hostname) < 0 || field_dup(f[4], &l.client_id) < 0) {
        free(l.hostname);
        return -ENOMEM;
    }
    *ret = l;
    return 0;
}

int dnsmasq_leases_parse(const char *text, DnsmasqLease **ret, size_t *ret_n, Error *err)
{
    _cleanup_free_ char *copy = strdup(text ? text : "");
    DnsmasqLease *v = NULL;
    size_t n = 0;
    char *save = NULL;

    if (!copy)
        return error_set(err, -ENOMEM, "Out of memory");
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        DnsmasqLease l;
        int r = lease_line_parse(line, &l);
        if (r == -EINVAL)
            continue;
        DnsmasqLease *nv = r < 0 ? NULL : realloc(v, (n + 1) * sizeof(*v));
        if (!nv) {
            if (r == 0) {
                free(l.hostname);
                free(l.client_id);
            }
            dnsmasq_leases_free(v, n);
            return error_set(err, -ENOMEM, "Out of memory");
        }
        v = nv;
        v[n++] = l;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}
