/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VMware address plan as a spec: names, plan values, host placement, port forwards, the
 * canonical text (golden files in tests/data/network-spec/) and subnet picking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/vmnet.h"
#include "vmnet-lab.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(Lab *, lab_free)

/* Build the spec of network @key or fail the test, printing the error. */
static VmnetSpec *build_ok(const Lab *lab, const char *key, const Ipv4Net *subnet)
{
    Error err = ERROR_INIT;
    VmnetSpec *s = NULL;
    int r = vmnet_spec_build(lab, lab_find_network(lab, key), subnet, &s, &err);
    if (r < 0)
        fprintf(stderr, "vmnet_spec_build: %s\n", err.message);
    assert_int_equal(r, 0);
    assert_non_null(s);
    error_clear(&err);
    return s;
}

/* Build and expect failure @code with exactly @message. */
static void build_fails(const Lab *lab, const char *key, int code, const char *message)
{
    Error err = ERROR_INIT;
    VmnetSpec *s = NULL;
    assert_int_equal(vmnet_spec_build(lab, lab_find_network(lab, key), NULL, &s, &err), code);
    assert_null(s);
    assert_non_null(err.message);
    assert_string_equal(err.message, message);
    error_clear(&err);
}

static const VmnetHost *host_named(const VmnetSpec *s, const char *name)
{
    for (size_t i = 0; i < s->n_hosts; i++)
        if (s->hosts[i].name && strcmp(s->hosts[i].name, name) == 0)
            return &s->hosts[i];
    return NULL;
}

static uint32_t ip_of(const VmnetSpec *s, const char *name)
{
    const VmnetHost *h = host_named(s, name);
    assert_non_null(h);
    return h->ip;
}

static void test_names(void **state)
{
    (void)state;
    _cleanup_free_ char *obj = vmnet_object_name("demo", "vmnet8");
    _cleanup_free_ char *br = vmnet_bridge_name("demo", "vmnet8");
    assert_string_equal(obj, "demo-vmnet8");
    assert_string_equal(br, "demo-vmnet8");

    /* 11 characters stay as they are (libvirt's "<bridge>-nic" helper device is shortened past
     * 15, so two longer names could collide); longer ones shorten the lab and vmnetN to vN */
    _cleanup_free_ char *br11 = vmnet_bridge_name("abc", "vmnet12");
    assert_string_equal(br11, "abc-vmnet12");
    _cleanup_free_ char *br12 = vmnet_bridge_name("abcd", "vmnet12");
    assert_string_equal(br12, "abcd-v12");
    _cleanup_free_ char *br16 = vmnet_bridge_name("abcdefgh", "vmnet12");
    assert_string_equal(br16, "abcdefg-v12");
    _cleanup_free_ char *obj16 = vmnet_object_name("abcdefgh", "vmnet12");
    assert_string_equal(obj16, "abcdefgh-vmnet12"); /* the libvirt name is never shortened */
    _cleanup_free_ char *lan = vmnet_bridge_name("kubelab", "management");
    assert_string_equal(lan, "kube-manage");
    _cleanup_free_ char *dash = vmnet_bridge_name("cka-lab-one", "vmnet8");
    assert_string_equal(dash, "cka-lab-v8"); /* no "--": a cut lab loses its trailing '-' */

    /* the variants that break a clash: same shape, 11 characters at most, all different */
    _cleanup_free_ char *v1 = vmnet_bridge_name_alt("netdemo", "vmnet8", 1);
    _cleanup_free_ char *v2 = vmnet_bridge_name_alt("netdemo", "vmnet8", 2);
    _cleanup_free_ char *v1again = vmnet_bridge_name_alt("netdemo", "vmnet8", 1);
    assert_true(strlen(v1) <= 11 && strlen(v2) <= 11);
    assert_memory_equal(v1, "netde", 5);
    assert_string_equal(v1 + strlen(v1) - 3, "-v8");
    assert_string_not_equal(v1, v2);
    assert_string_equal(v1, v1again);

    /* characters an interface name must not carry are left out */
    _cleanup_free_ char *odd = vmnet_bridge_name("a b", "x");
    assert_string_equal(odd, "ab-x");
}

/* Every case's canonical text against its golden file; the text is deterministic. */
static void test_spec_golden(void **state)
{
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(vmnet_cases); i++) {
        const VmnetCase *c = &vmnet_cases[i];
        _cleanup_(lab_freep) Lab *lab = c->build();
        _cleanup_(vmnet_spec_freep) VmnetSpec *s = build_ok(lab, c->key, NULL);
        _cleanup_(vmnet_spec_freep) VmnetSpec *s2 = build_ok(lab, c->key, NULL);
        _cleanup_free_ char *text = vmnet_spec_format(s);
        _cleanup_free_ char *text2 = vmnet_spec_format(s2);
        _cleanup_free_ char *rel = NULL;
        assert_non_null(text);
        assert_string_equal(text, text2);
        assert_true(asprintf(&rel, "network-spec/%s.out", c->name) > 0);
        assert_int_equal(golden_check(rel, text), 0);
    }
}

static void test_nat_plan(void **state)
{
    (void)state;
    _cleanup_(lab_freep) Lab *lab = case_nat_default();
    _cleanup_(vmnet_spec_freep) VmnetSpec *s = build_ok(lab, "vmnet8", NULL);

    assert_string_equal(s->lab, "demo");
    assert_string_equal(s->key, "vmnet8");
    assert_string_equal(s->name, "demo-vmnet8");
    assert_string_equal(s->bridge, "demo-vmnet8");
    assert_string_equal(s->domain, "demo.lab");
    assert_int_equal(s->type, VMNET_NAT);
    assert_true(s->has_subnet);
    assert_false(s->subnet_picked);
    assert_int_equal(s->host_ip, tl_ip("192.168.100.1"));
    assert_int_equal(s->gateway_ip, tl_ip("192.168.100.2"));
    assert_true(s->dhcp);
    assert_int_equal(s->dhcp_start, tl_ip("192.168.100.128"));
    assert_int_equal(s->dhcp_end, tl_ip("192.168.100.254"));
    assert_int_equal(s->lease_seconds, 1800);
    assert_int_equal(s->max_lease_seconds, 7200);
    assert_null(s->interface);
    assert_int_equal(s->n_hosts, 0);
    assert_int_equal(s->n_forwards, 0);
}

static void test_hostonly_plan(void **state)
{
    (void)state;
    _cleanup_(lab_freep) Lab *lab = case_hostonly();
    _cleanup_(vmnet_spec_freep) VmnetSpec *s = build_ok(lab, "vmnet1", NULL);

    assert_int_equal(s->host_ip, tl_ip("192.168.56.1"));
    assert_int_equal(s->gateway_ip, 0); /* no router handed out */
    assert_int_equal(s->dhcp_start, tl_ip("192.168.56.128"));
    assert_int_equal(s->dhcp_end, tl_ip("192.168.56.254"));
    assert_int_equal(s->n_hosts, 1);
}

/* A non-/24 keeps VMware's shape: the pool is the upper half, statics below it. */
static void test_custom_prefix_plan(void **state)
{
    (void)state;
    _cleanup_(lab_freep) Lab *lab = case_custom_vmnet();
    _cleanup_(vmnet_spec_freep) VmnetSpec *s = build_ok(lab, "vmnet3", NULL);

    assert_int_equal(s->dhcp_start, tl_ip("10.33.1.0"));
    assert_int_equal(s->dhcp_end, tl_ip("10.33.1.254"));
    uint32_t a = ip_of(s, "alpha");
    assert_true(a >= tl_ip("10.33.0.3") && a <= tl_ip("10.33.0.255"));
    assert_int_equal(ip_of(s, "beta"), tl_ip("10.33.0.77"));

    /* /29 and /30 leave no room for the plan; /28 still does */
    lab->networks[0].subnet = tl_net("10.33.0.0/30");
    build_fails(lab, "vmnet3", -EINVAL,
                "Subnet '10.33.0.0/30' of network 'vmnet3' does not fit the VMware address plan; "
                "use a prefix between /8 and /28");
}

static void test_picked_subnet(void **state)
{
    (void)state;
    _cleanup_(lab_freep) Lab *lab = tl_lab_new("demo");
    tl_net_add(lab, "vmnet8", VMNET_NAT, NULL);
    build_fails(lab, "vmnet8", -EINVAL,
                "Network 'vmnet8' has no subnet and none was picked for it");

    Ipv4Net picked = tl_net("192.168.100.0/24");
    _cleanup_(vmnet_spec_freep) VmnetSpec *s = build_ok(lab, "vmnet8", &picked);
    assert_true(s->subnet_picked);
    assert_int_equal(s->subnet.addr, picked.addr);

    /* writing the picked subnet into the file later changes nothing that needs re-creating */
    _cleanup_(lab_freep) Lab *explicit = case_nat_default();
    _cleanup_(vmnet_spec_freep) VmnetSpec *e = build_ok(explicit, "vmnet8", NULL);
    _cleanup_free_ char *h1 = vmnet_spec_hash(s);
    _cleanup_free_ char *h2 = vmnet_spec_hash(e);
    assert_string_equal(h1, h2);

    /* a subnet in the file wins over the planner's */
    Ipv4Net other = tl_net("10.200.0.0/24");
    _cleanup_(vmnet_spec_freep) VmnetSpec *f = build_ok(explicit, "vmnet8", &other);
    assert_false(f->subnet_picked);
    assert_int_equal(f->subnet.addr, tl_ip("192.168.100.0"));
}

static void test_lease(void **state)
{
    (void)state;
    _cleanup_(lab_freep) Lab *lab = case_nat_default();
    LabNetwork *n = tl_net_get(lab, "vmnet8");

    n->lease_seconds = 3600;
    _cleanup_(vmnet_spec_freep) VmnetSpec *a = build_ok(lab, "vmnet8", NULL);
    assert_int_equal(a->lease_seconds, 3600);
    assert_int_equal(a->max_lease_seconds, 7200);

    n->lease_seconds = 86400;
    _cleanup_(vmnet_spec_freep) VmnetSpec *b = build_ok(lab, "vmnet8", NULL);
    assert_int_equal(b->lease_seconds, 86400);
    assert_int_equal(b->max_lease_seconds, 86400);

    n->lease_seconds = 60;
    build_fails(
            lab, "vmnet8", -EINVAL,
            "Lease time '60s' of network 'vmnet8' is shorter than the 2 minutes dnsmasq accepts");
}

static void test_dhcp_range(void **state)
{
    (void)state;
    _cleanup_(lab_freep) Lab *lab = case_nat_custom_dhcp_lease();
    _cleanup_(vmnet_spec_freep) VmnetSpec *s = build_ok(lab, "vmnet8", NULL);
    assert_int_equal(s->dhcp_start, tl_ip("192.168.50.100"));
    assert_int_equal(s->dhcp_end, tl_ip("192.168.50.199"));
    uint32_t web = ip_of(s, "web");
    assert_true(web >= tl_ip("192.168.50.3") && web <= tl_ip("192.168.50.99"));

    tl_net_dhcp(tl_net_get(lab, "vmnet8"), "192.168.50.2", "192.168.50.199");
    build_fails(lab, "vmnet8", -EINVAL,
                "DHCP range '192.168.50.2-192.168.50.199' of network 'vmnet8' must lie inside "
                "'192.168.50.0/24' between the gateway and the broadcast address");
    tl_net_dhcp(tl_net_get(lab, "vmnet8"), "192.168.50.100", "192.168.51.10");
    build_fails(lab, "vmnet8", -EINVAL,
                "DHCP range '192.168.50.100-192.168.51.10' of network 'vmnet8' must lie inside "
                "'192.168.50.0/24' between the gateway and the broadcast address");
}

/* 110 nodes and two reservations in the static range: every address distinct, inside
 * N.3-N.127, sorted, and the same on a second build. */
static void test_hosts_collision_free(void **state)
{
    (void)state;
    _cleanup_(lab_freep) Lab *lab = tl_lab_new("big");
    LabNetwork *n = tl_net_add(lab, "vmnet8", VMNET_NAT, "192.168.100.0/24");
    tl_net_reserve(n, "00:50:56:00:00:01", "192.168.100.50");
    tl_net_reserve(n, "00:50:56:00:00:02", "192.168.100.51");
    for (int i = 0; i < 110; i++) {
        char name[32];
        snprintf(name, sizeof(name), "node-%d", i);
        tl_node_on(lab, name, "vmnet8", i == 100 ? "192.168.100.99" : NULL);
    }
    _cleanup_(vmnet_spec_freep) VmnetSpec *s = build_ok(lab, "vmnet8", NULL);
    _cleanup_(vmnet_spec_freep) VmnetSpec *s2 = build_ok(lab, "vmnet8", NULL);
    assert_int_equal(s->n_hosts, 112);
    for (size_t i = 0; i < s->n_hosts; i++) {
        assert_true(s->hosts[i].ip >= tl_ip("192.168.100.3"));
        assert_true(s->hosts[i].ip <= tl_ip("192.168.100.127") ||
                    s->hosts[i].ip == tl_ip("192.168.100.200"));
        if (i > 0)
            assert_true(s->hosts[i - 1].ip < s->hosts[i].ip); /* sorted, hence distinct */
        assert_int_equal(s->hosts[i].ip, s2->hosts[i].ip);
        assert_true(addr_mac_equal(&s->hosts[i].mac, &s2->hosts[i].mac));
    }
    assert_int_equal(ip_of(s, "node-100"), tl_ip("192.168.100.99"));
}

/* Adding a node at the end of the file moves nobody. */
static void test_hosts_stable_when_appending(void **state)
{
    (void)state;
    _cleanup_(lab_freep) Lab *lab = tl_lab_new("demo");
    tl_net_add(lab, "vmnet8", VMNET_NAT, "192.168.100.0/24");
    tl_node_on(lab, "a", "vmnet8", NULL);
    tl_node_on(lab, "b", "vmnet8", NULL);
    _cleanup_(vmnet_spec_freep) VmnetSpec *before = build_ok(lab, "vmnet8", NULL);
    tl_node_on(lab, "c", "vmnet8", NULL);
    _cleanup_(vmnet_spec_freep) VmnetSpec *after = build_ok(lab, "vmnet8", NULL);
    assert_int_equal(ip_of(before, "a"), ip_of(after, "a"));
    assert_int_equal(ip_of(before, "b"), ip_of(after, "b"));
    assert_int_not_equal(ip_of(after, "c"), ip_of(after, "a"));

    /* the address comes from lab, node and NIC: another lab places the same node elsewhere
     * (for these names; a hash, so checked rather than assumed for all) */
    _cleanup_(lab_freep) Lab *other = tl_lab_new("other");
    tl_net_add(other, "vmnet8", VMNET_NAT, "192.168.100.0/24");
    tl_node_on(other, "a", "vmnet8", NULL);
    _cleanup_(vmnet_spec_freep) VmnetSpec *o = build_ok(other, "vmnet8", NULL);
    assert_int_not_equal(ip_of(o, "a"), ip_of(before, "a"));
}

static uint32_t probe_next(uint32_t ip)
{
    /* linear probing wraps from N.127 back to N.3 */
    return ip == tl_ip("192.168.100.127") ? tl_ip("192.168.100.3") : ip + 1;
}

/* An automatic address steps past a fixed address of a LATER node and past a reservation. */
static void test_hosts_probe_past_taken(void **state)
{
    (void)state;
    _cleanup_(lab_freep) Lab *lab = tl_lab_new("demo");
    tl_net_add(lab, "vmnet8", VMNET_NAT, "192.168.100.0/24");
    tl_node_on(lab, "a", "vmnet8", NULL);
    _cleanup_(vmnet_spec_freep) VmnetSpec *alone = build_ok(lab, "vmnet8", NULL);
    uint32_t natural = ip_of(alone, "a");
    char ip[IPV4_STRLEN], ip2[IPV4_STRLEN];

    tl_node_on(lab, "later", "vmnet8", addr_ipv4_format(natural, ip));
    _cleanup_(vmnet_spec_freep) VmnetSpec *s = build_ok(lab, "vmnet8", NULL);
    assert_int_equal(ip_of(s, "later"), natural);
    assert_int_equal(ip_of(s, "a"), probe_next(natural));

    tl_net_reserve(tl_net_get(lab, "vmnet8"), "00:50:56:00:00:09",
                   addr_ipv4_format(probe_next(natural), ip2));
    _cleanup_(vmnet_spec_freep) VmnetSpec *t = build_ok(lab, "vmnet8", NULL);
    assert_int_equal(ip_of(t, "a"), probe_next(probe_next(natural)));

    /* two NICs of one node on one network get two addresses */
    tl_nic_add(lab, "a", "vmnet8", NULL);
    _cleanup_(vmnet_spec_freep) VmnetSpec *u = build_ok(lab, "vmnet8", NULL);
    assert_int_equal(u->n_hosts, 4);
}

static void test_static_range_full(void **state)
{
    (void)state;
    _cleanup_(lab_freep) Lab *lab = tl_lab_new("demo");
    LabNetwork *n = tl_net_add(lab, "vmnet8", VMNET_NAT, "192.168.100.0/24");
    tl_net_dhcp(n, "192.168.100.10", "192.168.100.254"); /* statics: .3-.9, seven */
    for (int i = 0; i < 7; i++) {
        char name[16];
        snprintf(name, sizeof(name), "n%d", i);
        tl_node_on(lab, name, "vmnet8", NULL);
    }
    _cleanup_(vmnet_spec_freep) VmnetSpec *s = build_ok(lab, "vmnet8", NULL);
    for (size_t i = 0; i < s->n_hosts; i++)
        assert_int_equal(s->hosts[i].ip, tl_ip("192.168.100.3") + i);

    tl_node_on(lab, "n7", "vmnet8", NULL);
    build_fails(lab, "vmnet8", -ENOSPC,
                "No address is left for node 'n7' on network 'vmnet8': the static range "
                "'192.168.100.3'-'192.168.100.9' below the DHCP pool is full");
}

static void test_host_conflicts(void **state)
{
    (void)state;
    _cleanup_(lab_freep) Lab *lab = tl_lab_new("demo");
    LabNetwork *n = tl_net_add(lab, "vmnet8", VMNET_NAT, "192.168.100.0/24");
    tl_net_reserve(n, "00:50:56:00:00:01", "192.168.100.10");
    tl_node_on(lab, "a", "vmnet8", "192.168.100.10");
    build_fails(lab, "vmnet8", -EEXIST,
                "Address '192.168.100.10' on network 'vmnet8' is given to both a reservation and "
                "node 'a'");

    lab->nodes[0].nics[0].ip = tl_ip("192.168.100.2");
    build_fails(lab, "vmnet8", -EINVAL,
                "Address '192.168.100.2' of node 'a' is reserved on network 'vmnet8' (network, "
                "broadcast, host or gateway address)");

    lab->nodes[0].nics[0].ip = tl_ip("10.0.0.5");
    build_fails(lab, "vmnet8", -EINVAL,
                "Address '10.0.0.5' of node 'a' is outside network 'vmnet8' ('192.168.100.0/24')");

    lab->nodes[0].nics[0].ip = tl_ip("192.168.100.11");
    lab->nodes[0].nics[0].mac = tl_mac("00:50:56:00:00:01");
    build_fails(lab, "vmnet8", -EEXIST,
                "MAC address '00:50:56:00:00:01' on network 'vmnet8' is given to both a "
                "reservation and node 'a'");
}

static void test_forwards(void **state)
{
    (void)state;
    _cleanup_(lab_freep) Lab *lab = case_nat_reservations_and_nodes();
    _cleanup_(vmnet_spec_freep) VmnetSpec *s = build_ok(lab, "vmnet8", NULL);
    assert_int_equal(s->n_forwards, 1);
    assert_int_equal(s->forwards[0].proto, LAB_PROTO_TCP);
    assert_int_equal(s->forwards[0].host_port, 2222);
    assert_int_equal(s->forwards[0].target_ip, tl_ip("192.168.100.10"));
    assert_int_equal(s->forwards[0].target_port, 22);
    assert_string_equal(s->forwards[0].node, "cp");
    _cleanup_free_ char *text = vmnet_forwards_format(s);
    assert_string_equal(text, "forward=tcp/2222,192.168.100.10:22,cp\n");

    /* an automatic address is resolved too */
    tl_net_forward(tl_net_get(lab, "vmnet8"), LAB_PROTO_UDP, 5353, "worker-2", 53);
    _cleanup_(vmnet_spec_freep) VmnetSpec *t = build_ok(lab, "vmnet8", NULL);
    assert_int_equal(t->forwards[1].target_ip, ip_of(t, "worker-2"));

    /* forwards live outside the network's text: adding one leaves the hash alone */
    _cleanup_free_ char *h1 = vmnet_spec_hash(s);
    _cleanup_free_ char *h2 = vmnet_spec_hash(t);
    assert_string_equal(h1, h2);

    tl_net_forward(tl_net_get(lab, "vmnet8"), LAB_PROTO_TCP, 2223, "jump", 22);
    build_fails(
            lab, "vmnet8", -EINVAL,
            "Port forward 'tcp/2223' targets node 'jump', which has no NIC on network 'vmnet8'");

    free(lab->networks[0].port_forwards[2].node);
    lab->networks[0].port_forwards[2].node = tl_strdup("ghost");
    build_fails(lab, "vmnet8", -EINVAL,
                "Port forward 'tcp/2223' targets node 'ghost', which does not exist");

    _cleanup_(lab_freep) Lab *ho = case_hostonly();
    tl_net_forward(tl_net_get(ho, "vmnet1"), LAB_PROTO_TCP, 8080, "db", 80);
    build_fails(ho, "vmnet1", -EINVAL,
                "Port forward 'tcp/8080' is on network 'vmnet1' of type 'hostonly'; port "
                "forwards need a 'nat' network");
}

static void test_isolated_and_bridged(void **state)
{
    (void)state;
    _cleanup_(lab_freep) Lab *iso = case_isolated();
    _cleanup_(vmnet_spec_freep) VmnetSpec *s = build_ok(iso, "lan", NULL);
    assert_true(s->has_subnet);
    assert_false(s->dhcp);
    assert_int_equal(s->host_ip, 0);
    assert_int_equal(s->gateway_ip, 0);
    assert_int_equal(s->n_hosts, 0);
    assert_string_equal(s->bridge, "demo-lan");

    iso->nodes[0].nics[0].ip = tl_ip("10.10.11.5");
    build_fails(iso, "lan", -EINVAL,
                "Address '10.10.11.5' of node 'a' is outside network 'lan' ('10.10.10.0/24')");

    iso->nodes[0].nics[0].ip = tl_ip("10.10.10.5");
    tl_net_reserve(tl_net_get(iso, "lan"), "00:50:56:00:00:01", "10.10.10.9");
    build_fails(iso, "lan", -EINVAL,
                "Network 'lan' of type 'isolated' has no DHCP, so reservations cannot apply");

    _cleanup_(lab_freep) Lab *br = case_bridged();
    _cleanup_(vmnet_spec_freep) VmnetSpec *b = build_ok(br, "vmnet0", NULL);
    assert_false(b->has_subnet);
    assert_false(b->dhcp);
    assert_int_equal(b->n_hosts, 0);
    assert_string_equal(b->interface, "br0");
    assert_string_equal(b->bridge, "br0");
    assert_string_equal(b->name, "demo-vmnet0");

    br->networks[0].lease_seconds = 600;
    build_fails(br, "vmnet0", -EINVAL,
                "Network 'vmnet0' of type 'bridged' has no DHCP, so a lease time cannot apply");
    br->networks[0].lease_seconds = 0;

    free(br->networks[0].interface);
    br->networks[0].interface = NULL;
    build_fails(br, "vmnet0", -EINVAL, "Bridged network 'vmnet0' names no 'interface'");
    br->networks[0].interface = tl_strdup("eth0:1");
    build_fails(br, "vmnet0", -EINVAL,
                "Interface 'eth0:1' of network 'vmnet0' is not a valid interface name");
}

static void test_hash(void **state)
{
    (void)state;
    _cleanup_(lab_freep) Lab *lab = case_nat_reservations_and_nodes();
    _cleanup_(vmnet_spec_freep) VmnetSpec *s = build_ok(lab, "vmnet8", NULL);
    _cleanup_free_ char *text = vmnet_spec_format(s);
    _cleanup_free_ char *hash = vmnet_spec_hash(s);
    char expect[17];
    snprintf(expect, sizeof(expect), "%016" PRIx64, hash_fnv1a(HASH_FNV_INIT, text, strlen(text)));
    assert_string_equal(hash, expect);

    /* a changed reservation changes only live lines, and the hash */
    lab->networks[0].reservations[0].ip = tl_ip("192.168.100.201");
    _cleanup_(vmnet_spec_freep) VmnetSpec *t = build_ok(lab, "vmnet8", NULL);
    _cleanup_free_ char *text2 = vmnet_spec_format(t);
    _cleanup_free_ char *hash2 = vmnet_spec_hash(t);
    assert_string_not_equal(hash, hash2);
    assert_non_null(strstr(text2, "live.host=00:50:56:aa:00:01,192.168.100.201,-\n"));
}

static void test_subnet_pick(void **state)
{
    (void)state;
    Ipv4Net r;
    char buf[CIDR_STRLEN];

    assert_int_equal(vmnet_subnet_pick(NULL, 0, &r), 0);
    assert_string_equal(addr_cidr_format(&r, buf), "192.168.100.0/24");

    /* skips used /24s, a host route inside one, and a wider block around another */
    Ipv4Net used[] = {tl_net("192.168.100.0/24"), tl_net("192.168.101.7/32"),
                      tl_net("192.168.102.0/23"), tl_net("10.0.0.0/8")};
    assert_int_equal(vmnet_subnet_pick(used, ELEMENTSOF(used), &r), 0);
    assert_string_equal(addr_cidr_format(&r, buf), "192.168.104.0/24");

    /* all of 192.168/16 taken: the 10.200 block */
    Ipv4Net all192[] = {tl_net("192.168.0.0/16"), tl_net("10.200.0.0/24")};
    assert_int_equal(vmnet_subnet_pick(all192, ELEMENTSOF(all192), &r), 0);
    assert_string_equal(addr_cidr_format(&r, buf), "10.200.1.0/24");

    /* the last candidate of each block, and then nothing */
    Ipv4Net last[] = {tl_net("192.168.0.0/17"),   tl_net("192.168.128.0/18"),
                      tl_net("192.168.192.0/19"), tl_net("192.168.224.0/20"),
                      tl_net("192.168.240.0/21"), tl_net("192.168.248.0/22"),
                      tl_net("192.168.252.0/23")};
    assert_int_equal(vmnet_subnet_pick(last, ELEMENTSOF(last), &r), 0);
    assert_string_equal(addr_cidr_format(&r, buf), "192.168.254.0/24");
    Ipv4Net full[] = {tl_net("192.168.0.0/16"), tl_net("10.0.0.0/8")};
    assert_int_equal(vmnet_subnet_pick(full, ELEMENTSOF(full), &r), -ENOSPC);
    Ipv4Net everything[] = {tl_net("0.0.0.0/0")};
    assert_int_equal(vmnet_subnet_pick(everything, 1, &r), -ENOSPC);
    Ipv4Net almost[] = {
            tl_net("192.168.0.0/16"),  tl_net("10.0.0.0/9"),      tl_net("10.128.0.0/10"),
            tl_net("10.192.0.0/11"),   tl_net("10.224.0.0/12"),   tl_net("10.240.0.0/13"),
            tl_net("10.248.0.0/14"),   tl_net("10.252.0.0/15"),   tl_net("10.254.0.0/17"),
            tl_net("10.254.128.0/18"), tl_net("10.254.192.0/19"), tl_net("10.254.224.0/20"),
            tl_net("10.254.240.0/21"), tl_net("10.254.248.0/22"), tl_net("10.254.252.0/23"),
            tl_net("10.254.254.0/24")};
    assert_int_equal(vmnet_subnet_pick(almost, ELEMENTSOF(almost), &r), 0);
    assert_string_equal(addr_cidr_format(&r, buf), "10.254.255.0/24");
}

/* qemu:///session and kvmlab's bridges: each missing piece named with its fix. */
static void test_session_bridge_refusal(void **state)
{
    (void)state;
    static const struct {
        const char *helper;
        bool setuid;
        const char *conf;
        const char *want; /* NULL: it can */
    } cases[] = {
            {NULL, false, NULL, "qemu-bridge-helper, which is not installed"},
            {"/usr/lib/qemu/qemu-bridge-helper", false, "allow all\n",
             "`chmod u+s /usr/lib/qemu/qemu-bridge-helper` as root"},
            {"/usr/lib/qemu/qemu-bridge-helper", true, NULL,
             "it does not exist; add the line 'allow all'"},
            {"/usr/lib/qemu/qemu-bridge-helper", true, "# allow all\n", "it allows none"},
            {"/usr/lib/qemu/qemu-bridge-helper", true, "\tallowance\n", "it allows none"},
            {"/usr/lib/qemu/qemu-bridge-helper", true, "allow all", NULL},
            {"/usr/lib/qemu/qemu-bridge-helper", true, "# kvmlab\n  allow kvbr-eth0\n", NULL},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_free_ char *why =
                vmnet_session_bridge_refusal(cases[i].helper, cases[i].setuid, cases[i].conf);
        if (!cases[i].want) {
            if (why)
                fail_msg("case %zu: refused: %s", i, why);
            continue;
        }
        if (!why || !strstr(why, cases[i].want))
            fail_msg("case %zu: '%s' lacks '%s'", i, why ? why : "(nothing)", cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_names),
            cmocka_unit_test(test_spec_golden),
            cmocka_unit_test(test_nat_plan),
            cmocka_unit_test(test_hostonly_plan),
            cmocka_unit_test(test_custom_prefix_plan),
            cmocka_unit_test(test_picked_subnet),
            cmocka_unit_test(test_lease),
            cmocka_unit_test(test_dhcp_range),
            cmocka_unit_test(test_hosts_collision_free),
            cmocka_unit_test(test_hosts_stable_when_appending),
            cmocka_unit_test(test_hosts_probe_past_taken),
            cmocka_unit_test(test_static_range_full),
            cmocka_unit_test(test_host_conflicts),
            cmocka_unit_test(test_forwards),
            cmocka_unit_test(test_isolated_and_bridged),
            cmocka_unit_test(test_hash),
            cmocka_unit_test(test_subnet_pick),
            cmocka_unit_test(test_session_bridge_refusal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
