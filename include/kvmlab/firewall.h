/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "kvmlab/addr.h"
#include "kvmlab/error.h"

/*
 * Host firewall awareness. A drop in another table's forward hook drops the lab's packets
 * whatever the lab's own table accepts (Docker's `filter FORWARD` policy DROP), ufw and firewalld
 * drop DHCP and DNS on input, and br_netfilter sends bridged frames through iptables. kvmlab
 * reads the namespace's ruleset, names each such drop with the exact rule that would let the
 * lab's bridges through, and on request adds exactly those rules (commented
 * "kvmlab-allow lab=LAB") where the dropping table expects them (the DOCKER-USER chain for Docker)
 * and removes exactly them again.
 */

/* What the lab needs to pass: its bridges and their subnets. */
typedef struct FirewallLab {
    const char *lab;
    const char *const *bridges; /* Linux bridge names the lab's guests sit on */
    size_t n_bridges;
    const Ipv4Net *subnets; /* their subnets (NAT traffic leaving through other interfaces) */
    size_t n_subnets;
} FirewallLab;

typedef enum FirewallKind {
    FIREWALL_FORWARD_DROP, /* a forward-hook chain of another table drops (policy or rule) */
    FIREWALL_INPUT_DROP,   /* an input-hook chain drops DHCP/DNS from the lab's bridges */
    FIREWALL_BR_NETFILTER, /* bridge-nf-call-iptables=1: bridged frames go through iptables */
} FirewallKind;

/* One finding: what drops, who made it, and the rule that lets the lab through. */
typedef struct FirewallFinding {
    FirewallKind kind;
    char *who;    /* "Docker", "ufw", "firewalld", "an nftables table" */
    char *where;  /* "table ip filter chain FORWARD (policy drop)" */
    char *bridge; /* the lab bridge concerned (NULL: all of them) */
    /* the nft commands (one per line) that let the lab through, with their comment
     * "kvmlab-allow lab=LAB"; `nft -f` takes them as they are */
    char *allow;
} FirewallFinding;

void firewall_findings_free(FirewallFinding *v, size_t n);

/*
 * Pure: scan @ruleset (`nft list ruleset` text as libnftables prints it) and the value of
 * net.bridge.bridge-nf-call-iptables (@br_nf_call_iptables: -1 unknown/absent, 0, 1) for what
 * would drop the lab's traffic. Tables named "kvmlab-*" are kvmlab's and never a finding. A
 * chain that already carries the lab's allow rules is no finding. *ret may be NULL with 0.
 */
int firewall_scan(const char *ruleset, int br_nf_call_iptables, const FirewallLab *lab,
                  FirewallFinding **ret, size_t *ret_n, Error *err);

/* Pure: the allow commands of @v as one nft script, each command once (br_netfilter's finding
 * repeats the forward ones). New string (empty when there are none), NULL when out of memory. */
char *firewall_allow_build(const FirewallFinding *v, size_t n);

/* Pure: the rules of @ruleset carrying "kvmlab-allow lab=LAB" as nft delete commands
 * ("delete rule ip filter DOCKER-USER handle 12"); @ruleset must be listed with handles
 * (`nft -a list ruleset`). New string, empty when there are none. */
char *firewall_allow_delete_build(const char *ruleset_with_handles, const char *lab);

/*
 * Host side, in network namespace @netns (NULL: this one), through libnftables: the ruleset
 * with handles, the bridge sysctl, adding the findings' allow rules in one transaction, and
 * removing every rule of the lab's. 0 or a negative errno with @err set.
 */
int firewall_ruleset_read(const char *netns, char **ret_ruleset, int *ret_br_nf, Error *err);
int firewall_allow_apply(const char *netns, const FirewallFinding *v, size_t n, Error *err);
int firewall_allow_remove(const char *netns, const char *lab, Error *err);
