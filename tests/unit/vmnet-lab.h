/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Hand-built labs for the vmnet unit tests, so they do not depend on the lab-file parser: the
 * same plain data lab_load_file() produces (every NIC with its derived MAC), freed with
 * lab_free(). Also the table of golden cases shared by test-vmnet-spec and test-vmnet-xml.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/addr.h"
#include "kvmlab/lab.h"

static inline void *tl_alloc_or_die(void *p)
{
    if (!p) {
        fprintf(stderr, "out of memory\n");
        abort();
    }
    return p;
}

static inline char *tl_strdup(const char *s)
{
    return s ? tl_alloc_or_die(strdup(s)) : NULL;
}

static inline uint32_t tl_ip(const char *s)
{
    uint32_t a;
    if (addr_ipv4_parse(s, &a) < 0)
        abort();
    return a;
}

static inline Ipv4Net tl_net(const char *s)
{
    Ipv4Net n;
    if (addr_cidr_parse(s, &n) < 0)
        abort();
    return n;
}

static inline MacAddr tl_mac(const char *s)
{
    MacAddr m;
    if (addr_mac_parse(s, &m) < 0)
        abort();
    return m;
}

static inline Lab *tl_lab_new(const char *name)
{
    Lab *lab = tl_alloc_or_die(calloc(1, sizeof(*lab)));
    lab->name = tl_strdup(name);
    return lab;
}

/* Add a network; @cidr NULL leaves the subnet to the planner. */
static inline LabNetwork *tl_net_add(Lab *lab, const char *key, VmnetType type, const char *cidr)
{
    lab->networks =
            tl_alloc_or_die(realloc(lab->networks, (lab->n_networks + 1) * sizeof(*lab->networks)));
    LabNetwork *n = &lab->networks[lab->n_networks++];
    *n = (LabNetwork){.name = tl_strdup(key), .type = type, .backend = VMNET_BACKEND_LIBVIRT};
    if (cidr) {
        n->has_subnet = true;
        n->subnet = tl_net(cidr);
    }
    return n;
}

static inline LabNetwork *tl_net_get(Lab *lab, const char *key)
{
    for (size_t i = 0; i < lab->n_networks; i++)
        if (strcmp(lab->networks[i].name, key) == 0)
            return &lab->networks[i];
    abort();
}

static inline void tl_net_dhcp(LabNetwork *n, const char *start, const char *end)
{
    n->has_dhcp_range = true;
    n->dhcp_start = tl_ip(start);
    n->dhcp_end = tl_ip(end);
}

static inline void tl_net_reserve(LabNetwork *n, const char *mac, const char *ip)
{
    n->reservations = tl_alloc_or_die(
            realloc(n->reservations, (n->n_reservations + 1) * sizeof(*n->reservations)));
    n->reservations[n->n_reservations++] = (LabReservation){.mac = tl_mac(mac), .ip = tl_ip(ip)};
}

static inline void tl_net_forward(LabNetwork *n, LabProto proto, uint16_t host_port,
                                  const char *node, uint16_t port)
{
    n->port_forwards = tl_alloc_or_die(
            realloc(n->port_forwards, (n->n_port_forwards + 1) * sizeof(*n->port_forwards)));
    n->port_forwards[n->n_port_forwards++] = (LabPortForward){
            .proto = proto, .host_port = host_port, .node = tl_strdup(node), .port = port};
}

static inline LabNode *tl_node_add(Lab *lab, const char *name)
{
    lab->nodes = tl_alloc_or_die(realloc(lab->nodes, (lab->n_nodes + 1) * sizeof(*lab->nodes)));
    LabNode *n = &lab->nodes[lab->n_nodes++];
    *n = (LabNode){
            .name = tl_strdup(name), .base_name = tl_strdup(name), .cpus = 1, .memory_mib = 1024};
    return n;
}

static inline LabNode *tl_node_get(Lab *lab, const char *name)
{
    for (size_t i = 0; i < lab->n_nodes; i++)
        if (strcmp(lab->nodes[i].name, name) == 0)
            return &lab->nodes[i];
    abort();
}

/* Add a NIC on network @net to node @node; @ip NULL for an automatic address. The MAC is
 * derived as the parser does when the file gives none. */
static inline LabNic *tl_nic_add(Lab *lab, const char *node, const char *net, const char *ip)
{
    LabNode *n = tl_node_get(lab, node);
    n->nics = tl_alloc_or_die(realloc(n->nics, (n->n_nics + 1) * sizeof(*n->nics)));
    LabNic *nic = &n->nics[n->n_nics];
    *nic = (LabNic){.network = tl_strdup(net),
                    .mac = addr_mac_derive(lab->name, node, (unsigned)n->n_nics)};
    if (ip) {
        nic->has_ip = true;
        nic->ip = tl_ip(ip);
    }
    n->n_nics++;
    return nic;
}

/* A node with one NIC. */
static inline void tl_node_on(Lab *lab, const char *node, const char *net, const char *ip)
{
    tl_node_add(lab, node);
    tl_nic_add(lab, node, net, ip);
}

/* The golden cases: one per network type and option. Each builds a lab; @key is the network
 * whose spec and XML are compared with tests/data/network-{spec,xml}/<name>.out. */
typedef struct VmnetCase {
    const char *name;
    const char *key;
    Lab *(*build)(void);
} VmnetCase;

static inline Lab *case_nat_default(void)
{
    Lab *lab = tl_lab_new("demo");
    tl_net_add(lab, "vmnet8", VMNET_NAT, "192.168.100.0/24");
    return lab;
}

static inline Lab *case_nat_custom_dhcp_lease(void)
{
    Lab *lab = tl_lab_new("demo");
    LabNetwork *n = tl_net_add(lab, "vmnet8", VMNET_NAT, "192.168.50.0/24");
    tl_net_dhcp(n, "192.168.50.100", "192.168.50.199");
    n->lease_seconds = 10800; /* above VMware's 7200 s max: the max follows it */
    tl_node_on(lab, "web", "vmnet8", NULL);
    return lab;
}

static inline Lab *case_nat_reservations_and_nodes(void)
{
    Lab *lab = tl_lab_new("k8s");
    LabNetwork *n = tl_net_add(lab, "vmnet8", VMNET_NAT, "192.168.100.0/24");
    tl_net_reserve(n, "00:50:56:aa:00:01", "192.168.100.200");
    tl_net_reserve(n, "00:50:56:aa:00:02", "192.168.100.20");
    tl_net_forward(n, LAB_PROTO_TCP, 2222, "cp", 22);
    tl_net_add(lab, "vmnet1", VMNET_HOSTONLY, "192.168.56.0/24");
    tl_node_on(lab, "cp", "vmnet8", "192.168.100.10");
    tl_node_on(lab, "worker-1", "vmnet8", NULL);
    tl_node_on(lab, "worker-2", "vmnet8", NULL);
    /* a second NIC on another network, and a node only there: neither appears on vmnet8 */
    tl_nic_add(lab, "worker-2", "vmnet1", NULL);
    tl_node_on(lab, "jump", "vmnet1", NULL);
    return lab;
}

static inline Lab *case_hostonly(void)
{
    Lab *lab = tl_lab_new("demo");
    tl_net_add(lab, "vmnet1", VMNET_HOSTONLY, "192.168.56.0/24");
    tl_node_on(lab, "db", "vmnet1", NULL);
    return lab;
}

static inline Lab *case_isolated(void)
{
    Lab *lab = tl_lab_new("demo");
    /* the subnet only validates static node addresses: no host address, no DHCP */
    tl_net_add(lab, "lan", VMNET_ISOLATED, "10.10.10.0/24");
    tl_node_on(lab, "a", "lan", "10.10.10.5");
    tl_node_on(lab, "b", "lan", NULL);
    return lab;
}

static inline Lab *case_bridged(void)
{
    Lab *lab = tl_lab_new("demo");
    LabNetwork *n = tl_net_add(lab, "vmnet0", VMNET_BRIDGED, NULL);
    n->interface = tl_strdup("br0");
    tl_node_on(lab, "pc", "vmnet0", NULL);
    return lab;
}

static inline Lab *case_custom_vmnet(void)
{
    Lab *lab = tl_lab_new("demo");
    tl_net_add(lab, "vmnet3", VMNET_HOSTONLY, "10.33.0.0/23");
    tl_node_on(lab, "alpha", "vmnet3", NULL);
    tl_node_on(lab, "beta", "vmnet3", "10.33.0.77");
    return lab;
}

static inline Lab *case_long_lab_name_bridge(void)
{
    Lab *lab = tl_lab_new("longlabname1");
    tl_net_add(lab, "vmnet12", VMNET_NAT, "192.168.120.0/24");
    tl_node_on(lab, "n1", "vmnet12", NULL);
    return lab;
}

static const VmnetCase vmnet_cases[] = {
        {"nat-default", "vmnet8", case_nat_default},
        {"nat-custom-dhcp-lease", "vmnet8", case_nat_custom_dhcp_lease},
        {"nat-reservations-and-nodes", "vmnet8", case_nat_reservations_and_nodes},
        {"hostonly", "vmnet1", case_hostonly},
        {"isolated", "lan", case_isolated},
        {"bridged", "vmnet0", case_bridged},
        {"custom-vmnet", "vmnet3", case_custom_vmnet},
        {"long-lab-name-bridge", "vmnet12", case_long_lab_name_bridge},
};
