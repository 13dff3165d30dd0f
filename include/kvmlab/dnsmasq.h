/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kvmlab/addr.h"
#include "kvmlab/error.h"
#include "kvmlab/vmnet.h"

/*
 * kvmlab's own dnsmasq for a network on the bridge backend: DHCP and DNS on the lab's bridge,
 * VMware's plan (router and DNS N.2 on NAT, no router on host-only), reservations in a hosts
 * file. The text is made by pure functions (golden files, checked by `dnsmasq --test`); the
 * process is a child started with an argv inside the lab's network namespace, found again by
 * its pid file when kvmlab runs again.
 */

/* Where one network's dnsmasq keeps its files: DIR/{dnsmasq.conf,hosts,addn-hosts,leases,pid,log}.
 * DIR is STATE/labs/<lab>/net/<key>. */
typedef struct DnsmasqPaths {
    char *dir;
    char *conf;
    char *hosts;      /* dhcp-hostsfile: reservations (re-read on SIGHUP) */
    char *addn_hosts; /* DNS names of the lab's nodes (re-read on SIGHUP) */
    char *leases;
    char *pid;
    char *log; /* dnsmasq's own log (log-facility): start-up, DHCP exchanges */
} DnsmasqPaths;

/* The paths under @dir. 0 or -ENOMEM. */
int dnsmasq_paths_init(DnsmasqPaths *p, const char *dir);
void dnsmasq_paths_clear(DnsmasqPaths *p);

/*
 * Pure: the configuration file of @s's dnsmasq: bound to bridge @s->bridge only
 * (bind-interfaces, except-interface=lo), listening on N.1 and (NAT) N.2, DHCP range
 * dhcp_start..dhcp_end with the lease time, router N.2 and DNS N.2 on NAT (no router and DNS
 * N.1 on host-only), domain @s->domain (local), no-ping,
 * dhcp-authoritative, the hosts files and lease and pid files of @p, no /etc/resolv.conf or
 * /etc/hosts of the host (no-resolv, no-hosts; NAT forwards DNS to the servers the host uses,
 * passed as @upstream, may be NULL/0). A spec without DHCP (dhcp false) gets DNS only.
 * Isolated and bridged networks have no host address on the bridge and get -EINVAL: they have
 * no dnsmasq. New string in *ret; 0 or a negative errno with @err.
 */
int dnsmasq_conf_build(const VmnetSpec *s, const DnsmasqPaths *p, const uint32_t *upstream,
                       size_t n_upstream, char **ret, Error *err);
/* Pure: the dhcp-hostsfile ("MAC,IP,NAME" per reservation, sorted by IP). New string. */
char *dnsmasq_hosts_build(const VmnetSpec *s);
/* Pure: the addn-hosts file ("IP NAME.DOMAIN NAME" per named reservation). New string. */
char *dnsmasq_addn_hosts_build(const VmnetSpec *s);

/* One line of dnsmasq's lease file. */
typedef struct DnsmasqLease {
    int64_t expiry; /* epoch seconds, 0: infinite */
    MacAddr mac;
    uint32_t ip;
    char *hostname;  /* NULL for "*" */
    char *client_id; /* NULL for "*" */
} DnsmasqLease;

/* Pure: parse a lease file; lines that are not leases (IPv6 "duid" lines, junk) are skipped. */
int dnsmasq_leases_parse(const char *text, DnsmasqLease **ret, size_t *ret_n, Error *err);
void dnsmasq_leases_free(DnsmasqLease *v, size_t n);

/*
 * Host side. Start dnsmasq with the written configuration (`dnsmasq --conf-file=CONF`) inside
 * network namespace @netns (NULL: this one); it daemonises and writes its pid file. Waits for
 * the pid file and returns the PID. The files must be written first (dnsmasq_files_write).
 * 0 or a negative errno with @err naming dnsmasq's own complaint.
 */
int dnsmasq_start(const char *netns, const DnsmasqPaths *p, pid_t *ret_pid, Error *err);
/* Write conf, hosts and addn-hosts atomically (0644 in a 0755 directory: dnsmasq drops to an
 * unprivileged user and re-reads the hosts files as that user). */
int dnsmasq_files_write(const DnsmasqPaths *p, const char *conf, const char *hosts,
                        const char *addn_hosts, Error *err);
/* The PID of the dnsmasq @p's pid file names when that process is alive and is a dnsmasq run
 * with @p's conf (its /proc/PID/cmdline says so): > 0; 0 when there is none (stale pid file,
 * another program, no file). Never signals anything. */
pid_t dnsmasq_find(const DnsmasqPaths *p);
/* SIGHUP: re-read the hosts files (reservations changed). */
int dnsmasq_reload(pid_t pid, Error *err);
/* SIGTERM, wait up to 5 s for it to go (then SIGKILL), remove the pid file. A @pid of 0 or a
 * process that is already gone is no error. */
int dnsmasq_stop(pid_t pid, const DnsmasqPaths *p, Error *err);
