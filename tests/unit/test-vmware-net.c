/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* VMware Workstation's network files: `networking`, dhcpd.conf / vmnetdhcp.conf and nat.conf /
 * vmnetnat.conf read from the hand-written fixtures in tests/data/vmware/net/, every field and
 * every warning (with its line) checked against what each fixture says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/vmware.h"

/* A fixture's bytes (NULs included) in a new buffer, its length in *@ret_len. */
static char *read_fixture(const char *name, size_t *ret_len)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "vmware/net/%s", name);
    _cleanup_free_ char *path = golden_path(rel);
    assert_non_null(path);
    FILE *f = fopen(path, "re");
    if (!f)
        fprintf(stderr, "cannot open fixture '%s'\n", path);
    assert_non_null(f);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    assert_non_null(m);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(f);
    fclose(m);
    *ret_len = len;
    return buf;
}

/* The warnings are exactly @expected, in order (printed on a mismatch). */
static void check_warnings(const VmwWarnings *w, const char *const *expected, size_t n)
{
    bool same = w->n == n;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(w->v[i], expected[i]) == 0;
    if (!same) {
        fprintf(stderr, "warnings (%zu, %zu expected):\n", w->n, n);
        for (size_t i = 0; i < w->n; i++)
            fprintf(stderr, "  got  %s\n", w->v[i]);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "  want %s\n", expected[i]);
    }
    assert_true(same);
}

static void assert_ip(uint32_t got, const char *want)
{
    char buf[IPV4_STRLEN];
    assert_string_equal(addr_ipv4_format(got, buf), want);
}

static void assert_mac(const MacAddr *got, const char *want)
{
    char buf[MAC_STRLEN];
    assert_string_equal(addr_mac_format(got, buf), want);
}

static void assert_fwd(const VmwPortFwd *f, VmwProto proto, unsigned host_port, const char *ip_s,
                       unsigned guest_port, const char *description)
{
    assert_int_equal(f->proto, proto);
    assert_int_equal(f->host_port, host_port);
    assert_ip(f->guest_ip, ip_s);
    assert_int_equal(f->guest_port, guest_port);
    if (description)
        assert_string_equal(f->description, description);
    else
        assert_null(f->description);
}

static void parse_networking(const char *name, VmwNetworking *net, VmwWarnings *w)
{
    size_t len;
    _cleanup_free_ char *text = read_fixture(name, &len);
    Error err = ERROR_INIT;
    assert_int_equal(vmw_networking_parse(text, len, name, net, w, &err), 0);
    assert_null(err.message);
}

static void test_networking_linux(void **state)
{
    (void)state;
    VmwNetworking net = {0};
    VmwWarnings w = {0};
    parse_networking("networking-linux", &net, &w);
    check_warnings(&w, NULL, 0);
    assert_null(net.auto_bridge_interface);
    assert_int_equal(net.n, 5);

    /* vmnet0: add_bridge_mapping eth0 0 */
    const VmwVnet *v = &net.v[0];
    assert_int_equal(v->n, 0);
    assert_string_equal(v->bridge_interface, "eth0");
    assert_false(v->nat || v->dhcp || v->virtual_adapter || v->has_subnet);
    assert_int_equal(v->n_reservations + v->n_forwards, 0);

    /* vmnet1: host-only with DHCP; its CFG_HASH and UUID answers skipped silently */
    v = &net.v[1];
    assert_int_equal(v->n, 1);
    assert_false(v->nat);
    assert_true(v->dhcp);
    assert_true(v->virtual_adapter);
    assert_true(v->has_subnet);
    assert_ip(v->subnet, "192.168.56.0");
    assert_ip(v->netmask, "255.255.255.0");
    assert_null(v->bridge_interface);
    assert_int_equal(v->n_reservations + v->n_forwards, 0);

    /* vmnet2: add_bridge_mapping enp3s0 2 */
    v = &net.v[2];
    assert_int_equal(v->n, 2);
    assert_string_equal(v->bridge_interface, "enp3s0");
    assert_false(v->nat || v->dhcp || v->virtual_adapter || v->has_subnet);

    /* vmnet3: every answer "no" */
    v = &net.v[3];
    assert_int_equal(v->n, 3);
    assert_false(v->nat || v->dhcp || v->virtual_adapter);
    assert_true(v->has_subnet);
    assert_ip(v->subnet, "10.3.0.0");
    assert_ip(v->netmask, "255.255.0.0");
    assert_null(v->bridge_interface);

    /* vmnet8: NAT, DHCP, two forwards and a reservation */
    v = &net.v[4];
    assert_int_equal(v->n, 8);
    assert_true(v->nat);
    assert_true(v->dhcp);
    assert_true(v->virtual_adapter);
    assert_true(v->has_subnet);
    assert_ip(v->subnet, "172.16.1.0");
    assert_ip(v->netmask, "255.255.255.0");
    assert_null(v->bridge_interface);
    assert_int_equal(v->n_forwards, 2);
    assert_fwd(&v->forwards[0], VMW_TCP, 8080, "172.16.1.128", 80, NULL);
    assert_fwd(&v->forwards[1], VMW_UDP, 5353, "172.16.1.128", 53, NULL);
    assert_int_equal(v->n_reservations, 1);
    assert_mac(&v->reservations[0].mac, "00:0c:29:aa:bb:cc");
    assert_ip(v->reservations[0].ip, "172.16.1.50");

    vmw_networking_clear(&net);
    assert_int_equal(net.n, 0);
    assert_null(net.v);
    vmw_warnings_clear(&w);
}

static void test_networking_quirks(void **state)
{
    (void)state;
    VmwNetworking net = {0};
    VmwWarnings w = {0};
    parse_networking("networking-quirks", &net, &w);
    static const char *const want[] = {
            "networking-quirks:5: 'VNET_1_DHCP' given again: the last one is used",
            "networking-quirks:8: unknown line 'this is junk' skipped",
            "networking-quirks:9: 'VNET_1_VIRTUAL_ADAPTER' is 'maybe', not yes or no: skipped",
            "networking-quirks:10: VNET_300_DHCP: '300' is not a vmnet number (0 to 255): skipped",
            "networking-quirks:11: 'VNET_8_HOSTONLY_SUBNET' is '172.16.1.256', not an IPv4 "
            "address: skipped",
            "networking-quirks:12: 'VNET_8_HOSTONLY_NETMASK' is '255.0.255.0', not a netmask: "
            "skipped",
            "networking-quirks:13: unknown answer 'FOO' skipped",
            "networking-quirks:14: add_bridge_mapping 'eth1' -1 (automatic) names no vmnet: no "
            "vmnet is bridged to it",
            "networking-quirks:17: tcp port 8080 of vmnet8 forwarded again: the last one is used",
            "networking-quirks:18: add_nat_portfwd: 'sctp' is not tcp or udp: skipped",
            "networking-quirks:19: add_nat_portfwd: '0' is not a port (1 to 65535): skipped",
            "networking-quirks:20: text after add_nat_portfwd read as its description: 'ssh to "
            "web'",
            "networking-quirks:21: add_dhcp_mac_to_ip: '00:0c:29:zz:bb:cc' is not a MAC: skipped",
            "networking-quirks:23: MAC '00:0c:29:aa:bb:cc' of vmnet8 reserved again: the last one "
            "is used",
            "networking-quirks:25: VERSION given again: skipped",
    };
    check_warnings(&w, want, ELEMENTSOF(want));
    assert_string_equal(net.auto_bridge_interface, "eth1");
    assert_int_equal(net.n, 3);

    /* vmnet1: DHCP's last answer (no), the quoted subnet, the netmask before '# user note' */
    const VmwVnet *v = &net.v[0];
    assert_int_equal(v->n, 1);
    assert_false(v->dhcp);
    assert_false(v->nat);
    assert_false(v->virtual_adapter);
    assert_true(v->has_subnet);
    assert_ip(v->subnet, "192.168.56.0");
    assert_ip(v->netmask, "255.255.255.0");
    assert_null(v->bridge_interface);

    /* vmnet4: bridged to an interface name that is not UTF-8, bytes kept */
    v = &net.v[1];
    assert_int_equal(v->n, 4);
    assert_string_equal(v->bridge_interface, "en\xe9th0");

    /* vmnet8: NAT from the line with a NUL inside, DHCP from the last line (no newline); the
     * bad subnet and netmask left nothing */
    v = &net.v[2];
    assert_int_equal(v->n, 8);
    assert_true(v->nat);
    assert_true(v->dhcp);
    assert_false(v->virtual_adapter);
    assert_false(v->has_subnet);
    assert_int_equal(v->netmask, 0);
    assert_int_equal(v->n_forwards, 2);
    assert_fwd(&v->forwards[0], VMW_TCP, 8080, "172.16.1.129", 8080, NULL);
    assert_fwd(&v->forwards[1], VMW_TCP, 2222, "172.16.1.130", 22, "ssh to web");
    assert_int_equal(v->n_reservations, 1);
    assert_mac(&v->reservations[0].mac, "00:0c:29:aa:bb:cc");
    assert_ip(v->reservations[0].ip, "172.16.1.51");

    vmw_networking_clear(&net);
    vmw_warnings_clear(&w);
}

static void test_networking_version_and_arity(void **state)
{
    (void)state;
    VmwNetworking net = {0};
    VmwWarnings w = {0};
    parse_networking("networking-version", &net, &w);
    static const char *const want[] = {
            "networking-version:2: version '2,0' is not 1,0: read as 1,0",
            "networking-version:4: add_bridge_mapping needs an interface and a vmnet number: "
            "skipped",
            "networking-version:5: add_bridge_mapping: '256' is not a vmnet number (0 to 255): "
            "skipped",
            "networking-version:6: add_nat_portfwd needs a vmnet, tcp or udp, a host port, an "
            "address and a port: skipped",
            "networking-version:7: add_dhcp_mac_to_ip needs a vmnet, a MAC and an address: "
            "skipped",
            "networking-version:8: 'answer' without a key: skipped",
            "networking-version:9: answer 'VNET_5_DHCP' has no value: skipped",
            "networking-version:10: VNET_X_DHCP: 'X' is not a vmnet number (0 to 255): skipped",
            "networking-version:11: text after the value of 'VNET_5_NAT' skipped: 'please'",
            "networking-version:12: add_bridge_mapping '\\x1b[31mred' -1 (automatic) names no "
            "vmnet: no vmnet is bridged to it",
    };
    check_warnings(&w, want, ELEMENTSOF(want));
    /* the interface keeps its bytes; only the warning escapes the control byte */
    assert_string_equal(net.auto_bridge_interface, "\x1b[31mred");
    assert_int_equal(net.n, 1);
    const VmwVnet *v = &net.v[0];
    assert_int_equal(v->n, 5);
    assert_true(v->nat);
    assert_false(v->dhcp);
    assert_true(v->has_subnet);
    assert_ip(v->subnet, "10.5.0.0");
    assert_int_equal(v->netmask, 0);
    vmw_networking_clear(&net);
    vmw_warnings_clear(&w);
}

/* Text made here: nothing, NULs only, a line of 300,000 bytes. */
static void test_networking_edges(void **state)
{
    (void)state;
    VmwNetworking net = {0};
    VmwWarnings w = {0};
    Error err = ERROR_INIT;

    assert_int_equal(vmw_networking_parse(NULL, 0, "empty", &net, &w, &err), 0);
    static const char *const want_empty[] = {"empty: no 'VERSION=1,0' line: read as version 1,0"};
    check_warnings(&w, want_empty, 1);
    assert_int_equal(net.n, 0);
    vmw_networking_clear(&net);
    vmw_warnings_clear(&w);

    static const char nuls[] = "\0\0\0\n\0";
    assert_int_equal(vmw_networking_parse(nuls, sizeof(nuls) - 1, "nuls", &net, &w, &err), 0);
    static const char *const want_nuls[] = {"nuls: no 'VERSION=1,0' line: read as version 1,0"};
    check_warnings(&w, want_nuls, 1);
    assert_int_equal(net.n, 0);
    vmw_networking_clear(&net);
    vmw_warnings_clear(&w);

    /* absurdly long lines: a hash VMware's own key ignores, then junk */
    size_t big = 300000;
    char *text = malloc(2 * big + 128);
    assert_non_null(text);
    size_t k = (size_t)sprintf(text, "VERSION=1,0\nanswer VNET_8_DHCP_CFG_HASH ");
    memset(text + k, 'A', big);
    k += big;
    text[k++] = '\n';
    memset(text + k, 'x', big);
    k += big;
    k += (size_t)sprintf(text + k, "\nanswer VNET_8_NAT yes");
    assert_int_equal(vmw_networking_parse(text, k, "long", &net, &w, &err), 0);
    free(text);
    static const char *const want_long[] = {
            "long:3: unknown line 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' skipped",
    };
    check_warnings(&w, want_long, 1);
    assert_int_equal(net.n, 1);
    assert_int_equal(net.v[0].n, 8);
    assert_true(net.v[0].nat);
    vmw_networking_clear(&net);
    vmw_warnings_clear(&w);
    assert_null(err.message);
}

static void parse_dhcpd(const char *name, VmwDhcpd *d, VmwWarnings *w)
{
    size_t len;
    _cleanup_free_ char *text = read_fixture(name, &len);
    Error err = ERROR_INIT;
    assert_int_equal(vmw_dhcpd_parse(text, len, name, d, w, &err), 0);
    assert_null(err.message);
}

static void assert_subnet(const VmwDhcpSubnet *s, const char *subnet, const char *mask,
                          const char *start, const char *end, uint32_t dflt, uint32_t max,
                          const char *router)
{
    assert_ip(s->subnet, subnet);
    assert_ip(s->netmask, mask);
    assert_int_equal(s->has_range, start != NULL);
    if (start) {
        assert_ip(s->range_start, start);
        assert_ip(s->range_end, end);
    } else {
        assert_int_equal(s->range_start, 0);
        assert_int_equal(s->range_end, 0);
    }
    assert_int_equal(s->default_lease, dflt);
    assert_int_equal(s->max_lease, max);
    if (router)
        assert_ip(s->router, router);
    else
        assert_int_equal(s->router, 0);
}

static void assert_host(const VmwDhcpHost *h, const char *name, const char *mac, const char *ip_s)
{
    assert_string_equal(h->name, name);
    assert_mac(&h->mac, mac);
    assert_ip(h->ip, ip_s);
}

/* The host adapter's block (host vmnet8, 00:50:56:C0:00:08) is not a guest's reservation. */
static void test_dhcpd_vmnet8(void **state)
{
    (void)state;
    VmwDhcpd d = {0};
    VmwWarnings w = {0};
    parse_dhcpd("dhcpd-vmnet8.conf", &d, &w);
    check_warnings(&w, NULL, 0);
    assert_int_equal(d.n_subnets, 1);
    assert_subnet(&d.subnets[0], "172.16.1.0", "255.255.255.0", "172.16.1.128", "172.16.1.254",
                  1800, 7200, "172.16.1.2");
    assert_int_equal(d.n_hosts, 1);
    assert_host(&d.hosts[0], "myvm", "00:0c:29:11:22:33", "172.16.1.60");
    vmw_dhcpd_clear(&d);
    assert_null(d.subnets);
    assert_int_equal(d.n_hosts, 0);
    vmw_warnings_clear(&w);
}

/* The top-level default lease applies to the subnet, which keeps its own max lease. */
static void test_dhcpd_vmnet1(void **state)
{
    (void)state;
    VmwDhcpd d = {0};
    VmwWarnings w = {0};
    parse_dhcpd("dhcpd-vmnet1.conf", &d, &w);
    check_warnings(&w, NULL, 0);
    assert_int_equal(d.n_subnets, 1);
    assert_subnet(&d.subnets[0], "192.168.56.0", "255.255.255.0", "192.168.56.128",
                  "192.168.56.254", 1800, 3600, NULL);
    assert_int_equal(d.n_hosts, 0);
    vmw_dhcpd_clear(&d);
    vmw_warnings_clear(&w);
}

/* CRLF, two subnets, VMnet1/VMnet8 adapter blocks, a statement over two lines, braces on the
 * statements' lines, a host in a group with a quoted name, short MAC groups, two addresses. */
static void test_dhcpd_windows(void **state)
{
    (void)state;
    VmwDhcpd d = {0};
    VmwWarnings w = {0};
    parse_dhcpd("vmnetdhcp-windows.conf", &d, &w);
    check_warnings(&w, NULL, 0);
    assert_int_equal(d.n_subnets, 2);
    assert_subnet(&d.subnets[0], "192.168.80.0", "255.255.255.0", "192.168.80.128",
                  "192.168.80.254", 1800, 7200, NULL);
    assert_subnet(&d.subnets[1], "192.168.174.0", "255.255.255.0", "192.168.174.128",
                  "192.168.174.254", 3600, 14400, "192.168.174.2");
    assert_int_equal(d.n_hosts, 2);
    assert_host(&d.hosts[0], "win10", "00:0c:29:4f:5a:6b", "192.168.174.140");
    assert_host(&d.hosts[1], "db server", "00:0c:29:01:02:03", "192.168.80.150");
    vmw_dhcpd_clear(&d);
    vmw_warnings_clear(&w);
}

static void test_dhcpd_quirks(void **state)
{
    (void)state;
    VmwDhcpd d = {0};
    VmwWarnings w = {0};
    parse_dhcpd("dhcpd-quirks.conf", &d, &w);
    static const char *const want[] = {
            "dhcpd-quirks.conf:2: 'default-lease-time' given again: the last one is used",
            "dhcpd-quirks.conf:3: 'max-lease-time' needs a number of seconds: 'forever' skipped",
            "dhcpd-quirks.conf:4: unknown statement 'frobnicate' skipped",
            "dhcpd-quirks.conf:5: unknown statement 'this' skipped",
            "dhcpd-quirks.conf:9: 'range' given again: the last one is used",
            "dhcpd-quirks.conf:10: range '10.0.1.10' to '10.0.1.20' is not inside its subnet: "
            "skipped",
            "dhcpd-quirks.conf:12: 'option routers' needs an IPv4 address: '10.0.0.300' skipped",
            "dhcpd-quirks.conf:13: 'range' given again: the last one is used",
            "dhcpd-quirks.conf:14: 'hardware' outside a host skipped",
            "dhcpd-quirks.conf:16: subnet '10.0.0.5' netmask '255.255.255.0' is not a network: "
            "skipped",
            "dhcpd-quirks.conf:19: statement 'default-lease-time' has no ';' before '}': skipped",
            "dhcpd-quirks.conf:23: host 'nomac' has no hardware ethernet: skipped",
            "dhcpd-quirks.conf:24: host 'noip' has no fixed-address: skipped",
            "dhcpd-quirks.conf:25: 'hardware ethernet' given again: the last one is used",
            "dhcpd-quirks.conf:26: host 'inner' given again: the last one is used",
            "dhcpd-quirks.conf:27: MAC '00:0c:29:00:00:05' reserved again by host 'other': the "
            "last one is used",
            "dhcpd-quirks.conf:28: 'hardware' needs 'ethernet' and a MAC: '00:0c:29:00:00' "
            "skipped",
            "dhcpd-quirks.conf:28: host 'badmac' has no hardware ethernet: skipped",
            "dhcpd-quirks.conf:29: '}' without a block skipped",
            "dhcpd-quirks.conf:31: subnet '10.9.0.0' given again: the last one is used",
            "dhcpd-quirks.conf:33: string not closed at the end of the line: read up to there",
            "dhcpd-quirks.conf:33: statement 'option' has no ';' at the end of the file: skipped",
    };
    check_warnings(&w, want, ELEMENTSOF(want));
    /* top level: default 900 (the second), no max lease (the bad one skipped) */
    assert_int_equal(d.n_subnets, 3);
    assert_subnet(&d.subnets[0], "10.0.0.0", "255.255.255.0", "10.0.0.30", "10.0.0.30", 900, 0,
                  "10.0.0.1");
    assert_subnet(&d.subnets[1], "10.1.0.0", "255.255.0.0", NULL, NULL, 900, 0, NULL);
    assert_subnet(&d.subnets[2], "10.9.0.0", "255.255.255.0", NULL, NULL, 900, 0, "10.9.0.2");
    assert_int_equal(d.n_hosts, 3);
    assert_host(&d.hosts[0], "inner", "00:0c:29:00:00:06", "10.1.0.11");
    assert_host(&d.hosts[1], "other", "00:0c:29:00:00:05", "10.1.0.12");
    /* a name that is not UTF-8, its NUL dropped */
    assert_host(&d.hosts[2], "caf\xe9s", "00:0c:29:00:00:07", "10.1.0.14");
    vmw_dhcpd_clear(&d);
    vmw_warnings_clear(&w);
}

/* An unclosed block at the end of the text keeps what it read. */
static void test_dhcpd_unclosed(void **state)
{
    (void)state;
    VmwDhcpd d = {0};
    VmwWarnings w = {0};
    Error err = ERROR_INIT;
    static const char text[] = "subnet 10.3.0.0 netmask 255.255.255.0 {\n"
                               "  range 10.3.0.5 10.3.0.6; host h { hardware ethernet "
                               "00:0c:29:00:00:09; fixed-address 10.3.0.5;";
    assert_int_equal(vmw_dhcpd_parse(text, sizeof(text) - 1, "open", &d, &w, &err), 0);
    static const char *const want[] = {
            "open:2: 2 block(s) not closed at the end of the file: closed there",
    };
    check_warnings(&w, want, 1);
    assert_int_equal(d.n_subnets, 1);
    assert_subnet(&d.subnets[0], "10.3.0.0", "255.255.255.0", "10.3.0.5", "10.3.0.6", 0, 0, NULL);
    assert_int_equal(d.n_hosts, 1);
    assert_host(&d.hosts[0], "h", "00:0c:29:00:00:09", "10.3.0.5");
    vmw_dhcpd_clear(&d);
    vmw_warnings_clear(&w);

    /* nothing at all */
    assert_int_equal(vmw_dhcpd_parse(NULL, 0, "none", &d, &w, &err), 0);
    check_warnings(&w, NULL, 0);
    assert_int_equal(d.n_subnets + d.n_hosts, 0);
    vmw_dhcpd_clear(&d);
    assert_null(err.message);
}

static void parse_nat(const char *name, VmwNatConf *c, VmwWarnings *w)
{
    size_t len;
    _cleanup_free_ char *text = read_fixture(name, &len);
    Error err = ERROR_INIT;
    assert_int_equal(vmw_natconf_parse(text, len, name, c, w, &err), 0);
    assert_null(err.message);
}

static void test_nat_vmnet8(void **state)
{
    (void)state;
    VmwNatConf c = {0};
    VmwWarnings w = {0};
    parse_nat("nat-vmnet8.conf", &c, &w);
    check_warnings(&w, NULL, 0);
    assert_true(c.has_host);
    assert_ip(c.host_ip, "172.16.1.2");
    assert_ip(c.netmask, "255.255.255.0");
    assert_int_equal(c.n_forwards, 3);
    assert_fwd(&c.forwards[0], VMW_TCP, 8080, "172.16.1.128", 80, NULL);
    assert_fwd(&c.forwards[1], VMW_TCP, 2222, "172.16.1.128", 22, NULL);
    assert_fwd(&c.forwards[2], VMW_UDP, 5353, "172.16.1.128", 53, NULL);
    vmw_natconf_clear(&c);
    assert_null(c.forwards);
    vmw_warnings_clear(&w);
}

static void test_nat_windows(void **state)
{
    (void)state;
    VmwNatConf c = {0};
    VmwWarnings w = {0};
    parse_nat("vmnetnat-windows.conf", &c, &w);
    check_warnings(&w, NULL, 0);
    assert_true(c.has_host);
    assert_ip(c.host_ip, "192.168.174.2");
    assert_ip(c.netmask, "255.255.255.0");
    assert_int_equal(c.n_forwards, 2);
    assert_fwd(&c.forwards[0], VMW_TCP, 8889, "192.168.80.130", 22, NULL);
    assert_fwd(&c.forwards[1], VMW_TCP, 3389, "192.168.174.140", 3389, NULL);
    vmw_natconf_clear(&c);
    vmw_warnings_clear(&w);
}

static void test_nat_quirks(void **state)
{
    (void)state;
    VmwNatConf c = {0};
    VmwWarnings w = {0};
    parse_nat("nat-quirks.conf", &c, &w);
    static const char *const want[] = {
            "nat-quirks.conf:1: 'stray' outside a section skipped",
            "nat-quirks.conf:4: [host] ip given again: the last one is used",
            "nat-quirks.conf:6: [host] netmask '255.0.255.0' is not a netmask: skipped",
            "nat-quirks.conf:7: [host] netmask given again: the last one is used",
            "nat-quirks.conf:8: unknown line 'junk without equals' skipped",
            "nat-quirks.conf:9: unknown section '[Weird]' skipped",
            "nat-quirks.conf:14: [incomingtcp] host port 8080 given again: the last one is used",
            "nat-quirks.conf:15: [incomingtcp] '99999' is not a host port (1 to 65535): skipped",
            "nat-quirks.conf:16: [incomingtcp] 81: '172.16.5.128' is not IP:PORT: skipped",
            "nat-quirks.conf:17: [incomingtcp] 82: '172.16.5.300:80' is not IP:PORT: skipped",
            "nat-quirks.conf:18: [incomingtcp] 83: text after IP:PORT read as its description: "
            "'ssh into web'",
            "nat-quirks.conf:20: section header '[incomingudp' without ']' skipped",
            "nat-quirks.conf:24: [incomingudp] '\xff\xfe' is not a host port (1 to 65535): "
            "skipped",
    };
    check_warnings(&w, want, ELEMENTSOF(want));
    assert_true(c.has_host);
    assert_ip(c.host_ip, "172.16.5.3");
    assert_ip(c.netmask, "255.255.254.0");
    assert_int_equal(c.n_forwards, 6);
    assert_fwd(&c.forwards[0], VMW_TCP, 8080, "172.16.5.129", 8080, NULL);
    assert_fwd(&c.forwards[1], VMW_TCP, 83, "172.16.5.128", 22, "ssh into web");
    assert_fwd(&c.forwards[2], VMW_TCP, 84, "172.16.5.128", 23, NULL);
    assert_fwd(&c.forwards[3], VMW_UDP, 53, "172.16.5.128", 53, NULL);
    assert_fwd(&c.forwards[4], VMW_UDP, 8080, "172.16.5.130", 80, NULL);
    assert_fwd(&c.forwards[5], VMW_UDP, 54, "172.16.5.128", 54, NULL);
    vmw_natconf_clear(&c);
    vmw_warnings_clear(&w);
}

/* "ip = A/LEN" gives the netmask when no netmask line does; no [host] at all is has_host false. */
static void test_nat_prefix_and_empty(void **state)
{
    (void)state;
    VmwNatConf c = {0};
    VmwWarnings w = {0};
    Error err = ERROR_INIT;
    static const char text[] = "[host]\nip = 192.168.174.2/24\n";
    assert_int_equal(vmw_natconf_parse(text, sizeof(text) - 1, "p", &c, &w, &err), 0);
    check_warnings(&w, NULL, 0);
    assert_true(c.has_host);
    assert_ip(c.host_ip, "192.168.174.2");
    assert_ip(c.netmask, "255.255.255.0");
    vmw_natconf_clear(&c);

    static const char none[] = "[dns]\r\npolicy = order\r\n";
    assert_int_equal(vmw_natconf_parse(none, sizeof(none) - 1, "n", &c, &w, &err), 0);
    check_warnings(&w, NULL, 0);
    assert_false(c.has_host);
    assert_int_equal(c.host_ip, 0);
    assert_int_equal(c.netmask, 0);
    assert_int_equal(c.n_forwards, 0);
    vmw_natconf_clear(&c);
    assert_null(err.message);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_networking_linux),
            cmocka_unit_test(test_networking_quirks),
            cmocka_unit_test(test_networking_version_and_arity),
            cmocka_unit_test(test_networking_edges),
            cmocka_unit_test(test_dhcpd_vmnet8),
            cmocka_unit_test(test_dhcpd_vmnet1),
            cmocka_unit_test(test_dhcpd_windows),
            cmocka_unit_test(test_dhcpd_quirks),
            cmocka_unit_test(test_dhcpd_unclosed),
            cmocka_unit_test(test_nat_vmnet8),
            cmocka_unit_test(test_nat_windows),
            cmocka_unit_test(test_nat_quirks),
            cmocka_unit_test(test_nat_prefix_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
