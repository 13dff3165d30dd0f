/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One rule set: what `validate` accepts, vmnet/ builds. Every lab file under
 * tests/data/lab-parse/ and examples/ that the parser accepts must give a VmnetSpec for every
 * network (a subnet-less nat or hostonly network gets a picked 192.168.150.0/24, as the planner
 * would give it); and the address plan's rules (lab/addrplan.c) against VMware's documented plan.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "golden.h"
#include "kvmlab/addrplan.h"
#include "kvmlab/lab.h"
#include "kvmlab/vmnet.h"

static uint32_t ip(const char *s)
{
    uint32_t a = 0;
    assert_int_equal(addr_ipv4_parse(s, &a), 0);
    return a;
}

static Ipv4Net net(const char *s)
{
    Ipv4Net n;
    assert_int_equal(addr_cidr_parse(s, &n), 0);
    return n;
}

/* Build every network of every accepted file in @dir; returns how many files were accepted. */
static size_t build_all(const char *dir)
{
    const Ipv4Net picked = net("192.168.150.0/24");
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t accepted = 0;

    assert_non_null(d);
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        char *path = NULL;
        Lab *lab = NULL;
        Error err = ERROR_INIT;

        if (len < 5 || strcmp(de->d_name + len - 5, ".yaml") != 0)
            continue;
        assert_true(asprintf(&path, "%s/%s", dir, de->d_name) > 0);
        if (lab_load_file(path, &lab, NULL, &err) < 0) {
            error_clear(&err);
            free(path);
            continue;
        }
        accepted++;
        for (size_t i = 0; i < lab->n_networks; i++) {
            const LabNetwork *n = &lab->networks[i];
            bool pick = !n->has_subnet && (n->type == VMNET_NAT || n->type == VMNET_HOSTONLY);
            VmnetSpec *s = NULL;
            int r = vmnet_spec_build(lab, n, pick ? &picked : NULL, &s, &err);
            if (r < 0)
                fprintf(stderr, "%s: network '%s': %s\n", path, n->name, err.message);
            assert_int_equal(r, 0);
            vmnet_spec_free(s);
        }
        lab_free(lab);
        free(path);
    }
    closedir(d);
    return accepted;
}

static void test_accepted_files_build(void **state)
{
    char *dir = golden_path("lab-parse");
    char *examples = NULL;
    const char *root = getenv("KVMLAB_SOURCE_ROOT");

    /* ok-anchors, ok-minimal, ok-small-cp-no-bootstrap, ok-wide-subnet, ok-hostonly-range */
    assert_true(build_all(dir) >= 5);
    assert_true(asprintf(&examples, "%s/examples", root && *root ? root : KVMLAB_SOURCE_ROOT) > 0);
    assert_true(build_all(examples) >= 2);
    free(examples);
    free(dir);
}

/* Every network the parser accepts builds, swept over the boundaries where the parser's and
 * vmnet's rules could disagree: each prefix, pools starting at N.1 to N.4 and ending at the
 * broadcast address or just below, one node with and one without a fixed address. */
static void test_boundaries_build(void **state)
{
    static const char *const types[] = {"nat", "hostonly", "isolated"};
    size_t accepted = 0, refused = 0;

    for (size_t t = 0; t < 3; t++) {
        for (unsigned prefix = 8; prefix <= 30; prefix++) {
            for (uint32_t first = 1; first <= 4; first++) {
                for (uint32_t back = 1; back <= 2; back++) {
                    Ipv4Net n = {ip("10.0.0.0"), prefix};
                    uint32_t size = (uint32_t)(~addr_netmask(prefix) + 1);
                    char net[CIDR_STRLEN], a[IPV4_STRLEN], b[IPV4_STRLEN], fixed[IPV4_STRLEN];
                    char *text = NULL;
                    bool dhcp = t < 2;
                    assert_true(
                            asprintf(
                                    &text,
                                    "lab: sweep\nnetworks:\n  n: {type: %s, subnet: %s%s%s%s%s%s}\n"
                                    "images: {i: {build: d}}\nnodes:\n"
                                    "  - {name: a, image: i, networks: [n]}\n"
                                    "  - {name: b, image: i, networks: [{network: n, ip: %s}]}\n",
                                    types[t], addr_cidr_format(&n, net),
                                    dhcp ? ", dhcp: {start: " : "",
                                    dhcp ? addr_ipv4_format(n.addr + first, a) : "",
                                    dhcp ? ", end: " : "",
                                    dhcp ? addr_ipv4_format(n.addr + size - back, b) : "",
                                    dhcp ? "}" : "",
                                    addr_ipv4_format(n.addr + size - 2, fixed)) > 0);
                    Lab *lab = NULL;
                    Error err = ERROR_INIT;
                    if (lab_load_string("sweep.yaml", text, strlen(text), &lab, NULL, &err) < 0) {
                        refused++;
                        free(text);
                        continue;
                    }
                    accepted++;
                    VmnetSpec *spec = NULL;
                    int r = vmnet_spec_build(lab, &lab->networks[0], NULL, &spec, &err);
                    if (r < 0)
                        fprintf(stderr, "accepted but not built: %s\n%s\n", err.message, text);
                    assert_int_equal(r, 0);
                    vmnet_spec_free(spec);
                    lab_free(lab);
                    free(text);
                }
            }
        }
    }
    /* both sides of every rule were reached */
    assert_true(accepted > 20);
    assert_true(refused > 20);
}

/* VMware's plan on a /24: N.1 host, N.2 NAT gateway, pool N.128-N.254. */
static void test_plan_addresses(void **state)
{
    Ipv4Net n = net("192.168.208.0/24");
    uint32_t start = 0, end = 0;

    assert_int_equal(addrplan_host(&n), ip("192.168.208.1"));
    assert_int_equal(addrplan_gateway(VMNET_NAT, &n), ip("192.168.208.2"));
    assert_int_equal(addrplan_gateway(VMNET_HOSTONLY, &n), 0);
    assert_int_equal(addrplan_broadcast(&n), ip("192.168.208.255"));
    assert_int_equal(addrplan_static_first(&n), ip("192.168.208.3"));
    addrplan_default_pool(&n, &start, &end);
    assert_int_equal(start, ip("192.168.208.128"));
    assert_int_equal(end, ip("192.168.208.254"));

    Ipv4Net small = net("10.0.0.16/28");
    addrplan_default_pool(&small, &start, &end);
    assert_int_equal(start, ip("10.0.0.24"));
    assert_int_equal(end, ip("10.0.0.30"));

    assert_string_equal(addrplan_reserved_role(VMNET_NAT, &n, ip("192.168.208.0")),
                        "the network address");
    assert_string_equal(addrplan_reserved_role(VMNET_HOSTONLY, &n, ip("192.168.208.1")),
                        "the host's address");
    assert_string_equal(addrplan_reserved_role(VMNET_NAT, &n, ip("192.168.208.2")),
                        "the NAT gateway's address");
    assert_null(addrplan_reserved_role(VMNET_HOSTONLY, &n, ip("192.168.208.2")));
    assert_string_equal(addrplan_reserved_role(VMNET_ISOLATED, &n, ip("192.168.208.255")),
                        "the broadcast address");
    assert_null(addrplan_reserved_role(VMNET_NAT, &n, ip("192.168.208.3")));
}

static void test_plan_prefixes(void **state)
{
    assert_false(addrplan_prefix_fits(VMNET_NAT, 7));
    assert_true(addrplan_prefix_fits(VMNET_NAT, 8));
    assert_true(addrplan_prefix_fits(VMNET_NAT, 28));
    assert_false(addrplan_prefix_fits(VMNET_NAT, 29));
    assert_false(addrplan_prefix_fits(VMNET_HOSTONLY, 30));
    assert_true(addrplan_prefix_fits(VMNET_ISOLATED, 30));
    assert_false(addrplan_prefix_fits(VMNET_ISOLATED, 31));
}

static void test_plan_ranges(void **state)
{
    Ipv4Net n = net("192.168.50.0/24");
    uint32_t res = 0;

    assert_int_equal(
            addrplan_range_check(VMNET_NAT, &n, ip("192.168.50.3"), ip("192.168.50.254"), &res),
            ADDRPLAN_RANGE_OK);
    assert_int_equal(
            addrplan_range_check(VMNET_HOSTONLY, &n, ip("192.168.50.2"), ip("192.168.50.9"), &res),
            ADDRPLAN_RANGE_OK);
    assert_int_equal(
            addrplan_range_check(VMNET_NAT, &n, ip("192.168.50.2"), ip("192.168.50.9"), &res),
            ADDRPLAN_RANGE_RESERVED);
    assert_int_equal(res, ip("192.168.50.2"));
    assert_int_equal(
            addrplan_range_check(VMNET_HOSTONLY, &n, ip("192.168.50.0"), ip("192.168.50.9"), &res),
            ADDRPLAN_RANGE_RESERVED);
    assert_int_equal(res, ip("192.168.50.0"));
    assert_int_equal(
            addrplan_range_check(VMNET_NAT, &n, ip("192.168.50.200"), ip("192.168.50.255"), &res),
            ADDRPLAN_RANGE_RESERVED);
    assert_int_equal(res, ip("192.168.50.255"));
    assert_int_equal(
            addrplan_range_check(VMNET_NAT, &n, ip("192.168.50.9"), ip("192.168.50.3"), NULL),
            ADDRPLAN_RANGE_EMPTY);
    assert_int_equal(
            addrplan_range_check(VMNET_NAT, &n, ip("192.168.51.9"), ip("192.168.50.30"), NULL),
            ADDRPLAN_RANGE_START_OUTSIDE);
    assert_int_equal(
            addrplan_range_check(VMNET_NAT, &n, ip("192.168.50.9"), ip("192.168.51.30"), NULL),
            ADDRPLAN_RANGE_END_OUTSIDE);
}

static void test_ifnames(void **state)
{
    static const char *const good[] = {"eth0",      "br-lan", "enp0s31f6",
                                       "br_lan.10", "a",      "fifteen-chars-x"};
    static const char *const bad[] = {
            "",    ".",     "..",   "sixteen-chars-xx", "eth 0", "br'0", "br$0", "br0;x", "a/b",
            "a:b", "br\"0", "br`0", "\xc3\xa9th0"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(addrplan_ifname_valid(good[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(addrplan_ifname_valid(bad[i]));
    assert_false(addrplan_ifname_valid(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_accepted_files_build), cmocka_unit_test(test_boundaries_build),
            cmocka_unit_test(test_plan_addresses),       cmocka_unit_test(test_plan_prefixes),
            cmocka_unit_test(test_plan_ranges),          cmocka_unit_test(test_ifnames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
