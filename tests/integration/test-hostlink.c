/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hostlink on a real kernel, in two namespaces of the test's own (khl-nic-PID with the NIC
 * lan0, khl-lan-PID with the LAN side lanp0 and the gateway 10.77.0.1) joined by a veth pair:
 * the NIC moved onto a bridge and put back with `ip addr` and `ip route` printing the same
 * bytes again; the same after a failure injected into each netlink send of a migration
 * (-Wl,--wrap=hostlink_send), after a gateway that does not answer, and from a snapshot that
 * went through its text. Fixtures are made with ip(8); every check reads ip(8)'s output.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "kvmlab/hostlink.h"

#define BRIDGE "khlbr0"
#define ALIAS  HOSTLINK_ALIAS_PREFIX "lab=khl key=vmnet0"

static char ns_nic[32], ns_lan[32];
static char *before;       /* `ip addr` and `ip route` of the NIC's namespace at the start */
static NicSnapshot *start; /* the NIC at the start, to clean up after a test that failed */

/* ---- the seam: every netlink send counted, the Nth made to fail ---------------------------- */
int __real_hostlink_send(HostLink *h, struct nl_msg *msg, const char *what, Error *err);
int __wrap_hostlink_send(HostLink *h, struct nl_msg *msg, const char *what, Error *err);

static int sends, fail_at;

int __wrap_hostlink_send(HostLink *h, struct nl_msg *msg, const char *what, Error *err)
{
    if (++sends == fail_at)
        return error_set(err, -EIO, "%s: injected failure", what);
    return __real_hostlink_send(h, msg, what, err);
}

/* ---- ip(8) --------------------------------------------------------------------------------- */

/* Run @cmdline (words split on spaces, no shell) in namespace @ns; its output in *ret_out. */
static int run(const char *ns, const char *cmdline, char **ret_out)
{
    char *copy = strdup(cmdline), *save = NULL;
    const char *argv[32];
    size_t n = 0;
    for (char *w = strtok_r(copy, " ", &save); w && n < 31; w = strtok_r(NULL, " ", &save))
        argv[n++] = w;
    argv[n] = NULL;
    int st = fixture_run(ns, argv, ret_out, 10000);
    free(copy);
    return st;
}

static void must(const char *ns, const char *cmdline)
{
    if (run(ns, cmdline, NULL) != 0)
        fail_msg("'%s' in '%s' failed", cmdline, ns ? ns : "(host)");
}

static char *out_of(const char *ns, const char *cmdline)
{
    char *out = NULL;
    if (run(ns, cmdline, &out) != 0)
        fail_msg("'%s' in '%s' failed", cmdline, ns ? ns : "(host)");
    return out ? out : strdup("");
}

/* What must come back byte for byte: addresses and every routing table, both families. */
static char *state(void)
{
    char *addr = out_of(ns_nic, "ip addr");
    char *r4 = out_of(ns_nic, "ip route show table all");
    char *r6 = out_of(ns_nic, "ip -6 route show table all");
    char *all = NULL;
    assert_true(asprintf(&all, "%s--\n%s--\n%s", addr, r4, r6) > 0);
    free(addr);
    free(r4);
    free(r6);
    return all;
}

/* Until no address of the namespace is tentative (IPv6 duplicate address detection). */
static void dad_settle(const char *ns)
{
    for (int i = 0; i < 100; i++) {
        char *out = out_of(ns, "ip addr");
        bool tentative = strstr(out, "tentative") != NULL;
        free(out);
        if (!tentative)
            return;
        usleep(50000);
    }
    fail_msg("addresses in '%s' stay tentative", ns);
}

static void assert_state_is_before(const char *when)
{
    char *now = state();
    if (strcmp(now, before) != 0) {
        fprintf(stderr, "# %s: the NIC's namespace differs\n# before:\n%s\n# now:\n%s\n", when,
                before, now);
        free(now);
        fail_msg("%s: `ip addr` / `ip route` are not as before", when);
    }
    free(now);
}

static void remove_namespaces(void)
{
    if (ns_nic[0]) {
        char cmd[64];
        snprintf(cmd, sizeof(cmd), "ip netns del %s", ns_nic);
        if (run(NULL, cmd, NULL) != 0)
            fprintf(stderr, "# '%s' failed\n", cmd);
        snprintf(cmd, sizeof(cmd), "ip netns del %s", ns_lan);
        if (run(NULL, cmd, NULL) != 0)
            fprintf(stderr, "# '%s' failed\n", cmd);
        ns_nic[0] = ns_lan[0] = '\0';
    }
}

static int setup(void **state_)
{
    (void)state_;
    char cmd[256];
    Error err = ERROR_INIT;
    if (!fixture_is_root())
        return -1;
    snprintf(ns_nic, sizeof(ns_nic), "khl-nic-%d", (int)getpid());
    snprintf(ns_lan, sizeof(ns_lan), "khl-lan-%d", (int)getpid());
    atexit(remove_namespaces);
    snprintf(cmd, sizeof(cmd), "ip netns add %s", ns_nic);
    must(NULL, cmd);
    snprintf(cmd, sizeof(cmd), "ip netns add %s", ns_lan);
    must(NULL, cmd);
    snprintf(cmd, sizeof(cmd), "ip link add lan0 type veth peer name lanp0 netns %s", ns_lan);
    must(ns_nic, cmd);

    /* DAD quick (no random delay, 100 ms per probe), set with hostlink and checked by cat */
    assert_int_equal(
            hostlink_sysctl_set(ns_nic, "net/ipv6/conf/lan0/router_solicitation_delay", "0", &err),
            0);
    assert_int_equal(
            hostlink_sysctl_set(ns_nic, "net/ipv6/neigh/lan0/retrans_time_ms", "100", &err), 0);
    char *v = out_of(ns_nic, "cat /proc/sys/net/ipv6/neigh/lan0/retrans_time_ms");
    assert_string_equal(v, "100\n");
    free(v);

    must(ns_lan, "ip link set lo up");
    must(ns_lan, "ip addr add 10.77.0.1/24 dev lanp0");
    must(ns_lan, "ip addr add 2001:db8:77::1/64 dev lanp0");
    must(ns_lan, "ip link set lanp0 up");
    must(ns_nic, "ip link set lo up");
    must(ns_nic, "ip link set lan0 up");
    must(ns_nic, "ip addr add 10.77.0.5/24 brd + dev lan0");
    must(ns_nic, "ip addr add 10.77.0.6/24 dev lan0 label lan0:1");
    must(ns_nic, "ip addr add 2001:db8:77::5/64 dev lan0");
    must(ns_nic, "ip addr add 2001:db8:77::6/64 dev lan0"); /* listed before ::5 */
    must(ns_nic, "ip route add default via 10.77.0.1");
    must(ns_nic, "ip route add 10.88.0.0/16 via 10.77.0.1 metric 50");
    must(ns_nic, "ip -6 route add 2001:db8:99::/48 via 2001:db8:77::1");
    dad_settle(ns_nic);
    dad_settle(ns_lan);
    /* the fixture itself works: the gateway answers */
    must(ns_nic, "ping -c 1 -W 2 10.77.0.1");
    before = state();
    if (getenv("KHL_SHOW"))
        fprintf(stderr, "%s", before);
    HostLink *h = NULL;
    assert_int_equal(hostlink_open(ns_nic, &h, &err), 0);
    assert_int_equal(hostlink_nic_snapshot(h, "lan0", &start, &err), 0);
    hostlink_free(h);
    error_clear(&err);
    return 0;
}

/* After each test: the NIC as at the start even when the test stopped half-way. */
static int put_back(void **state_)
{
    (void)state_;
    HostLink *h = NULL;
    Error err = ERROR_INIT;
    fail_at = 0;
    if (hostlink_open(ns_nic, &h, &err) == 0)
        hostlink_nic_restore(h, start, BRIDGE, &err);
    hostlink_free(h);
    error_clear(&err);
    return 0;
}

static int teardown(void **state_)
{
    (void)state_;
    remove_namespaces();
    nic_snapshot_free(start);
    free(before);
    return 0;
}

static NicSnapshot *snapshot(HostLink *h)
{
    NicSnapshot *s = NULL;
    Error err = ERROR_INIT;
    int r = hostlink_nic_snapshot(h, "lan0", &s, &err);
    if (r < 0)
        fail_msg("snapshot: %s", err.message);
    return s;
}

static void test_migrate_and_restore(void **state_)
{
    (void)state_;
    HostLink *h = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(hostlink_open(ns_nic, &h, &err), 0);
    NicSnapshot *s = snapshot(h);
    /* what ip(8) says the NIC is */
    char *link = out_of(ns_nic, "ip -o link show lan0");
    char mac[MAC_STRLEN];
    assert_non_null(strstr(link, addr_mac_format(&s->mac, mac)));
    free(link);
    assert_true(s->up);
    assert_int_equal(s->mtu, 1500);

    int r = hostlink_nic_to_bridge(h, s, BRIDGE, ALIAS, 5000, &err);
    if (r < 0)
        fail_msg("nic_to_bridge: %s", err.message);

    char *a4 = out_of(ns_nic, "ip -o -4 addr show dev " BRIDGE);
    assert_non_null(strstr(a4, "inet 10.77.0.5/24 brd 10.77.0.255 scope global " BRIDGE));
    assert_non_null(strstr(a4, "inet 10.77.0.6/24 scope global secondary " BRIDGE ":1"));
    free(a4);
    char *a6 = out_of(ns_nic, "ip -o -6 addr show dev " BRIDGE);
    assert_non_null(strstr(a6, "2001:db8:77::5/64"));
    assert_non_null(strstr(a6, "2001:db8:77::6/64"));
    free(a6);
    char *nic4 = out_of(ns_nic, "ip -o addr show dev lan0");
    assert_null(strstr(nic4, "inet "));
    assert_null(strstr(nic4, "2001:db8"));
    assert_non_null(strstr(nic4, "inet6 fe80::")); /* link-local stays on the NIC */
    free(nic4);
    char *nl = out_of(ns_nic, "ip -o link show lan0");
    assert_non_null(strstr(nl, "master " BRIDGE));
    assert_non_null(strstr(nl, "state UP"));
    free(nl);
    char *routes = out_of(ns_nic, "ip route");
    assert_non_null(strstr(routes, "default via 10.77.0.1 dev " BRIDGE " \n"));
    assert_non_null(strstr(routes, "10.88.0.0/16 via 10.77.0.1 dev " BRIDGE " metric 50"));
    assert_null(strstr(routes, "dev lan0"));
    free(routes);
    char *r6 = out_of(ns_nic, "ip -6 route");
    assert_non_null(strstr(r6, "2001:db8:99::/48 via 2001:db8:77::1 dev " BRIDGE));
    free(r6);
    char *bl = out_of(ns_nic, "ip -d -o link show " BRIDGE);
    assert_non_null(strstr(bl, "alias " ALIAS));
    assert_non_null(strstr(bl, "bridge forward_delay 0"));
    assert_non_null(strstr(bl, "stp_state 0"));
    assert_non_null(strstr(bl, "link/ether "));
    assert_non_null(strstr(bl, addr_mac_format(&s->mac, mac)));
    free(bl);
    /* the gateway answers through the bridge, as ping(8) sees it */
    must(ns_nic, "ping -c 1 -W 2 -I " BRIDGE " 10.77.0.1");

    /* observation sees the same */
    HostLinkInfo bi = {0}, ni = {0};
    assert_int_equal(hostlink_get(h, BRIDGE, &bi, &err), 0);
    assert_string_equal(bi.kind, "bridge");
    assert_string_equal(bi.alias, ALIAS);
    assert_true(addr_mac_equal(&bi.mac, &s->mac));
    assert_true(bi.up);
    assert_false(bi.wireless);
    assert_int_equal(bi.n_ipv4, 2);
    char ip[IPV4_STRLEN];
    assert_string_equal(addr_ipv4_format(bi.ipv4[0], ip), "10.77.0.5");
    assert_int_equal(bi.ipv4_prefix[0], 24);
    assert_int_equal(hostlink_get(h, "lan0", &ni, &err), 0);
    assert_string_equal(ni.master, BRIDGE);
    assert_string_equal(ni.kind, "veth");
    assert_int_equal(ni.n_ipv4, 0);
    host_link_info_clear(&bi);
    host_link_info_clear(&ni);

    r = hostlink_nic_restore(h, s, BRIDGE, &err);
    if (r < 0)
        fail_msg("nic_restore: %s", err.message);
    assert_state_is_before("after restore");
    char *links = out_of(ns_nic, "ip -o link");
    assert_null(strstr(links, BRIDGE));
    free(links);
    /* a second restore finds nothing to do and changes nothing */
    assert_int_equal(hostlink_nic_restore(h, s, BRIDGE, &err), 0);
    assert_state_is_before("after a second restore");
    nic_snapshot_free(s);
    hostlink_free(h);
}

static void test_failure_in_each_send(void **state_)
{
    (void)state_;
    HostLink *h = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(hostlink_open(ns_nic, &h, &err), 0);
    NicSnapshot *s = snapshot(h);

    /* how many sends a whole migration makes */
    sends = 0;
    fail_at = 0;
    assert_int_equal(hostlink_nic_to_bridge(h, s, BRIDGE, ALIAS, 5000, &err), 0);
    int total = sends;
    assert_int_equal(hostlink_nic_restore(h, s, BRIDGE, &err), 0);
    assert_state_is_before("after the counting run");
    assert_in_range(total, 8, 200);
    fprintf(stderr, "# a migration makes %d netlink sends\n", total);

    for (int n = 1; n <= total; n++) {
        char when[64];
        sends = 0;
        fail_at = n;
        int r = hostlink_nic_to_bridge(h, s, BRIDGE, ALIAS, 5000, &err);
        fail_at = 0;
        if (r != -EIO || !err.message || !strstr(err.message, "injected failure"))
            fail_msg("send %d failed: r=%d '%s'", n, r, err.message ? err.message : "(none)");
        /* the first error stays first; an undo failure would be appended */
        assert_null(strstr(err.message, "putting 'lan0' back failed"));
        error_clear(&err);
        snprintf(when, sizeof(when), "after send %d of %d failed", n, total);
        assert_state_is_before(when);
    }
    nic_snapshot_free(s);
    hostlink_free(h);
}

static void test_gateway_silent(void **state_)
{
    (void)state_;
    HostLink *h = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(hostlink_open(ns_nic, &h, &err), 0);
    NicSnapshot *s = snapshot(h);
    must(ns_lan, "ip addr del 10.77.0.1/24 dev lanp0");
    int r = hostlink_nic_to_bridge(h, s, BRIDGE, ALIAS, 800, &err);
    must(ns_lan, "ip addr add 10.77.0.1/24 dev lanp0");
    assert_int_equal(r, -ETIMEDOUT);
    assert_non_null(strstr(err.message, "'10.77.0.1' does not answer"));
    assert_non_null(strstr(err.message, "'" BRIDGE "'"));
    error_clear(&err);
    assert_state_is_before("after the silent gateway");
    nic_snapshot_free(s);
    hostlink_free(h);
}

static void test_restore_from_text(void **state_)
{
    (void)state_;
    HostLink *h = NULL;
    Error err = ERROR_INIT;
    char path[] = "/tmp/khl-snapshot-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);

    /* `up`: snapshot, state file, migration */
    assert_int_equal(hostlink_open(ns_nic, &h, &err), 0);
    NicSnapshot *s = snapshot(h);
    char *text = nic_snapshot_format(s);
    assert_non_null(text);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(hostlink_nic_to_bridge(h, s, BRIDGE, ALIAS, 5000, &err), 0);
    nic_snapshot_free(s);
    hostlink_free(h);

    /* `down`, later: only the file */
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    unlink(path);
    buf[n] = '\0';
    assert_string_equal(buf, text);
    free(text);
    NicSnapshot *back = NULL;
    assert_int_equal(nic_snapshot_parse(buf, &back, &err), 0);
    assert_int_equal(hostlink_open(ns_nic, &h, &err), 0);
    int r = hostlink_nic_restore(h, back, BRIDGE, &err);
    if (r < 0)
        fail_msg("restore from text: %s", err.message);
    assert_state_is_before("after restore from the snapshot text");
    nic_snapshot_free(back);
    hostlink_free(h);
}

static void test_links_and_sysctl(void **state_)
{
    (void)state_;
    HostLink *h = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(hostlink_open(ns_nic, &h, &err), 0);

    HostLinkInfo *links = NULL;
    size_t n = 0;
    assert_int_equal(hostlink_list(h, &links, &n, &err), 0);
    char *iplinks = out_of(ns_nic, "ip -o link");
    size_t lines = 0;
    for (const char *p = iplinks; (p = strchr(p, '\n')); p++)
        lines++;
    free(iplinks);
    assert_int_equal(n, lines);
    bool seen_lan0 = false, seen_lo = false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(links[i].name, "lan0") == 0) {
            seen_lan0 = true;
            assert_string_equal(links[i].kind, "veth");
            assert_int_equal(links[i].n_ipv4, 2);
            char ip[IPV4_STRLEN];
            assert_string_equal(addr_ipv4_format(links[i].ipv4[1], ip), "10.77.0.6");
            assert_false(links[i].wireless);
            assert_true(links[i].up);
        }
        if (strcmp(links[i].name, "lo") == 0)
            seen_lo = true;
        host_link_info_clear(&links[i]);
    }
    free(links);
    assert_true(seen_lan0 && seen_lo);

    /* a bridge made, an address given twice (no error), deleted twice (no error) */
    assert_int_equal(hostlink_bridge_add(h, "khlbr9", NULL, ALIAS, &err), 0);
    uint32_t ip;
    assert_int_equal(addr_ipv4_parse("10.99.0.1", &ip), 0);
    HostAddr a = host_addr_ipv4(ip, 24, "khlbr9");
    assert_int_equal(hostlink_addr_add(h, "khlbr9", &a, &err), 0);
    assert_int_equal(hostlink_addr_add(h, "khlbr9", &a, &err), 0);
    char *o = out_of(ns_nic, "ip -o -d addr show dev khlbr9");
    assert_non_null(strstr(o, "inet 10.99.0.1/24 brd 10.99.0.255 scope global khlbr9"));
    free(o);
    o = out_of(ns_nic, "ip -o link show dev khlbr9");
    assert_non_null(strstr(o, "BROADCAST,MULTICAST,UP")); /* flags kept, up */
    free(o);
    HostLinkInfo bi = {0};
    assert_int_equal(hostlink_get(h, "khlbr9", &bi, &err), 0);
    assert_string_equal(bi.alias, ALIAS);
    host_link_info_clear(&bi);
    assert_int_equal(hostlink_link_del(h, "khlbr9", &err), 0);
    assert_int_equal(hostlink_link_del(h, "khlbr9", &err), 0);
    assert_int_equal(hostlink_get(h, "khlbr9", &bi, &err), -ENODEV);
    assert_non_null(strstr(err.message, "'khlbr9'"));
    error_clear(&err);
    hostlink_free(h);

    /* sysctl: read as cat(1) reads it, written, missing */
    char *want = out_of(ns_nic, "cat /proc/sys/net/ipv4/ip_forward");
    char *got = NULL;
    assert_int_equal(hostlink_sysctl_get(ns_nic, "net/ipv4/ip_forward", &got, &err), 0);
    assert_int_equal(strlen(got) + 1, strlen(want));
    assert_memory_equal(got, want, strlen(got));
    free(got);
    free(want);
    assert_int_equal(hostlink_sysctl_set(ns_nic, "net/ipv4/ip_forward", "1", &err), 0);
    want = out_of(ns_nic, "cat /proc/sys/net/ipv4/ip_forward");
    assert_string_equal(want, "1\n");
    free(want);
    assert_int_equal(hostlink_sysctl_set(ns_nic, "net/ipv4/ip_forward", "0", &err), 0);
    want = out_of(ns_nic, "cat /proc/sys/net/ipv4/ip_forward");
    assert_string_equal(want, "0\n");
    free(want);
    assert_int_equal(hostlink_sysctl_get(ns_nic, "net/ipv4/no_such_key", &got, &err), -ENOENT);
    assert_non_null(strstr(err.message, "'net/ipv4/no_such_key'"));
    error_clear(&err);
    assert_int_equal(hostlink_open("khl-no-such-namespace", &h, &err), -ENOENT);
    assert_non_null(strstr(err.message, "'khl-no-such-namespace'"));
    error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_teardown(test_migrate_and_restore, put_back),
            cmocka_unit_test_teardown(test_failure_in_each_send, put_back),
            cmocka_unit_test_teardown(test_gateway_silent, put_back),
            cmocka_unit_test_teardown(test_restore_from_text, put_back),
            cmocka_unit_test_teardown(test_links_and_sysctl, put_back),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
