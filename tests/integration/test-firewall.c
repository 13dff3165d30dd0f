/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host firewall awareness against a real kernel, without kvmlab or libvirt: a router namespace
 * kfw-PID with a bridge kfwbr0 (10.66.0.1/24) that a client namespace (10.66.0.10) hangs off,
 * and a routed link to an "outside" namespace (10.67.0.1 <-> 10.67.0.2) with a TCP listener.
 * Docker's rules, made by iptables-nft inside the router namespace, drop the client's traffic;
 * firewall_scan() names it, firewall_allow_apply() lets it through, firewall_allow_remove() puts
 * the ruleset back (the real nft's stateless listing, byte for byte) and the drop is back.
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
#include "kvmlab/cleanup.h"
#include "kvmlab/firewall.h"

static char router[32], client[32], outside[32];
static const char *const bridges[] = {"kfwbr0"};
static Ipv4Net subnet = {.addr = 0x0a420000, .prefix = 24};
static FirewallLab lab = {
        .lab = "kfwlab", .bridges = bridges, .n_bridges = 1, .subnets = &subnet, .n_subnets = 1};

/* Run argv in @netns; a failure to run or a non-zero exit is reported. */
static int run(const char *netns, const char *const *argv)
{
    int st = fixture_run(netns, argv, NULL, 20000);
    if (st != 0) {
        fprintf(stderr, "# in '%s':", netns ? netns : "");
        for (const char *const *a = argv; *a; a++)
            fprintf(stderr, " %s", *a);
        fprintf(stderr, ": status %d\n", st);
    }
    return st;
}

#define RUN(ns, ...) run(ns, (const char *const[]){__VA_ARGS__, NULL})

static void remove_namespaces(void)
{
    const char *names[] = {client, outside, router};
    for (size_t i = 0; i < ELEMENTSOF(names); i++)
        if (names[i][0])
            fixture_run(NULL, (const char *const[]){"ip", "netns", "del", names[i], NULL}, NULL,
                        20000);
}

static int setup(void **state)
{
    (void)state;
    if (!fixture_is_root())
        return -1;
    snprintf(router, sizeof(router), "kfw-%d", (int)getpid());
    snprintf(client, sizeof(client), "kfw-%d-c", (int)getpid());
    snprintf(outside, sizeof(outside), "kfw-%d-o", (int)getpid());
    /* even when an assertion aborts the run */
    atexit(remove_namespaces);
    int bad = 0;
    bad |= RUN(NULL, "ip", "netns", "add", router);
    bad |= RUN(NULL, "ip", "netns", "add", client);
    bad |= RUN(NULL, "ip", "netns", "add", outside);
    if (bad)
        return -1;
    /* every link is made inside the router namespace and moved from there: the root namespace's
     * interfaces are never touched */
    bad |= RUN(router, "ip", "link", "add", "kfwbr0", "type", "bridge");
    bad |= RUN(router, "ip", "addr", "add", "10.66.0.1/24", "dev", "kfwbr0");
    bad |= RUN(router, "ip", "link", "set", "kfwbr0", "up");
    bad |= RUN(router, "ip", "link", "add", "kfwc0", "type", "veth", "peer", "name", "kfwc1",
               "netns", client);
    bad |= RUN(router, "ip", "link", "set", "kfwc0", "master", "kfwbr0", "up");
    bad |= RUN(client, "ip", "addr", "add", "10.66.0.10/24", "dev", "kfwc1");
    bad |= RUN(client, "ip", "link", "set", "kfwc1", "up");
    bad |= RUN(client, "ip", "link", "set", "lo", "up");
    bad |= RUN(client, "ip", "route", "add", "default", "via", "10.66.0.1");
    bad |= RUN(router, "ip", "link", "add", "kfwo0", "type", "veth", "peer", "name", "kfwo1",
               "netns", outside);
    bad |= RUN(router, "ip", "addr", "add", "10.67.0.1/24", "dev", "kfwo0");
    bad |= RUN(router, "ip", "link", "set", "kfwo0", "up");
    bad |= RUN(outside, "ip", "addr", "add", "10.67.0.2/24", "dev", "kfwo1");
    bad |= RUN(outside, "ip", "link", "set", "kfwo1", "up");
    bad |= RUN(outside, "ip", "route", "add", "default", "via", "10.67.0.1");
    bad |= RUN(router, "sysctl", "-qw", "net.ipv4.ip_forward=1");
    return bad ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    remove_namespaces();
    router[0] = client[0] = outside[0] = '\0';
    return 0;
}

/* A TCP connection from the client to the outside listener: the address the listener saw
 * (new string), or NULL when nothing arrived. */
static char *connect_out(void)
{
    FixturePeer *peer = fixture_peer_start(outside, "10.67.0.2", 8080, 4);
    assert_non_null(peer);
    _cleanup_free_ char *out = NULL;
    fixture_run(client,
                (const char *const[]){"busybox", "nc", "-w", "2", "10.67.0.2", "8080", NULL}, &out,
                20000);
    char *seen = fixture_peer_finish(peer);
    /* the client heard the answer exactly when the listener saw it */
    if (seen) {
        assert_non_null(out);
        assert_non_null(strstr(out, "SEEN=10.66.0.10"));
    }
    return seen;
}

/* The real nft's stateless listing with handles: what must come back unchanged. */
static char *nft_listing(void)
{
    char *out = NULL;
    assert_int_equal(fixture_run(router,
                                 (const char *const[]){"nft", "-a", "-s", "list", "ruleset", NULL},
                                 &out, 20000),
                     0);
    assert_non_null(out);
    return out;
}

/* Without any firewall the client reaches the outside (the set-up itself works). */
static void test_open_path(void **state)
{
    (void)state;
    _cleanup_free_ char *seen = connect_out();
    assert_non_null(seen);
    assert_string_equal(seen, "10.66.0.10");
}

/* Docker's FORWARD policy drop and chains, as dockerd makes them through iptables-nft. */
static void test_docker_drops(void **state)
{
    (void)state;
    int bad = 0;
    bad |= RUN(router, "iptables", "-N", "DOCKER");
    bad |= RUN(router, "iptables", "-N", "DOCKER-ISOLATION-STAGE-1");
    bad |= RUN(router, "iptables", "-N", "DOCKER-ISOLATION-STAGE-2");
    bad |= RUN(router, "iptables", "-N", "DOCKER-USER");
    bad |= RUN(router, "iptables", "-P", "FORWARD", "DROP");
    bad |= RUN(router, "iptables", "-A", "FORWARD", "-j", "DOCKER-USER");
    bad |= RUN(router, "iptables", "-A", "FORWARD", "-j", "DOCKER-ISOLATION-STAGE-1");
    bad |= RUN(router, "iptables", "-A", "FORWARD", "-o", "docker0", "-m", "conntrack", "--ctstate",
               "RELATED,ESTABLISHED", "-j", "ACCEPT");
    bad |= RUN(router, "iptables", "-A", "FORWARD", "-o", "docker0", "-j", "DOCKER");
    bad |= RUN(router, "iptables", "-A", "FORWARD", "-i", "docker0", "!", "-o", "docker0", "-j",
               "ACCEPT");
    bad |= RUN(router, "iptables", "-A", "DOCKER-ISOLATION-STAGE-1", "-j", "RETURN");
    bad |= RUN(router, "iptables", "-A", "DOCKER-ISOLATION-STAGE-2", "-j", "RETURN");
    bad |= RUN(router, "iptables", "-A", "DOCKER-USER", "-j", "RETURN");
    assert_int_equal(bad, 0);
    _cleanup_free_ char *seen = connect_out();
    assert_null(seen);
}

static int br_nf_of_router(void)
{
    _cleanup_free_ char *out = NULL;
    int st = fixture_run(
            router,
            (const char *const[]){"cat", "/proc/sys/net/bridge/bridge-nf-call-iptables", NULL},
            &out, 20000);
    return st == 0 && out ? atoi(out) : -1;
}

static FirewallFinding *scan(size_t *ret_n)
{
    Error err = ERROR_INIT;
    _cleanup_free_ char *ruleset = NULL;
    int br_nf = -2;
    int r = firewall_ruleset_read(router, &ruleset, &br_nf, &err);
    if (r < 0)
        fprintf(stderr, "# %s\n", err.message);
    assert_int_equal(r, 0);
    /* the sysctl as the namespace's own cat reads it */
    assert_int_equal(br_nf, br_nf_of_router());
    FirewallFinding *v = NULL;
    assert_int_equal(firewall_scan(ruleset, br_nf, &lab, &v, ret_n, &err), 0);
    return v;
}

#define ALLOW                                                                                      \
    "insert rule ip filter DOCKER-USER iifname \"kfwbr0\" accept comment \"kvmlab-allow "          \
    "lab=kfwlab\"\n"                                                                               \
    "insert rule ip filter DOCKER-USER oifname \"kfwbr0\" accept comment \"kvmlab-allow "          \
    "lab=kfwlab\"\n"

/* The scan names Docker's drop; applying the allows opens the path, removing them closes it and
 * leaves the ruleset as it was. */
static void test_allow_round_trip(void **state)
{
    (void)state;
    size_t n = 0;
    FirewallFinding *v = scan(&n);
    int br_nf = br_nf_of_router();
    assert_int_equal(n, br_nf == 1 ? 2 : 1);
    assert_int_equal(v[0].kind, FIREWALL_FORWARD_DROP);
    assert_string_equal(v[0].who, "Docker");
    assert_string_equal(v[0].where, "table ip filter chain FORWARD (policy drop)");
    assert_string_equal(v[0].bridge, "kfwbr0");
    assert_string_equal(v[0].allow, ALLOW);
    if (n == 2) {
        assert_int_equal(v[1].kind, FIREWALL_BR_NETFILTER);
        assert_string_equal(v[1].allow, ALLOW);
    }

    _cleanup_free_ char *before = nft_listing();
    Error err = ERROR_INIT;
    int r = firewall_allow_apply(router, v, n, &err);
    if (r < 0)
        fprintf(stderr, "# %s\n", err.message);
    assert_int_equal(r, 0);
    firewall_findings_free(v, n);

    /* the rules sit at the top of DOCKER-USER, once each (br_netfilter's repeat not added) */
    _cleanup_free_ char *chain = NULL;
    assert_int_equal(fixture_run(router,
                                 (const char *const[]){"nft", "list", "chain", "ip", "filter",
                                                       "DOCKER-USER", NULL},
                                 &chain, 20000),
                     0);
    assert_non_null(strstr(chain, "\t\toifname \"kfwbr0\" accept comment \"kvmlab-allow "
                                  "lab=kfwlab\"\n\t\tiifname \"kfwbr0\" accept comment "
                                  "\"kvmlab-allow lab=kfwlab\"\n\t\tcounter"));
    char *second = strstr(chain, "iifname \"kfwbr0\"");
    assert_null(strstr(second + 1, "iifname \"kfwbr0\""));

    _cleanup_free_ char *seen = connect_out();
    assert_non_null(seen);
    assert_string_equal(seen, "10.66.0.10");
    /* nothing left to find */
    v = scan(&n);
    assert_int_equal(n, 0);
    firewall_findings_free(v, n);

    r = firewall_allow_remove(router, "kfwlab", &err);
    if (r < 0)
        fprintf(stderr, "# %s\n", err.message);
    assert_int_equal(r, 0);
    _cleanup_free_ char *after = nft_listing();
    if (strcmp(before, after) != 0)
        fprintf(stderr, "# before:\n%s# after:\n%s", before, after);
    assert_string_equal(after, before);
    _cleanup_free_ char *seen2 = connect_out();
    assert_null(seen2);
    /* removing again finds nothing to remove */
    assert_int_equal(firewall_allow_remove(router, "kfwlab", &err), 0);
    _cleanup_free_ char *again = nft_listing();
    assert_string_equal(again, before);
}

/* A namespace that is not there is an error with a sentence, not a crash. */
static void test_missing_netns(void **state)
{
    (void)state;
    Error err = ERROR_INIT;
    char *ruleset = NULL;
    int br_nf = 0;
    assert_int_equal(firewall_ruleset_read("kfw-missing-ns", &ruleset, &br_nf, &err), -ENOENT);
    assert_string_equal(err.message, "Cannot list the nftables ruleset: cannot enter network "
                                     "namespace 'kfw-missing-ns': No such file or directory");
    assert_null(ruleset);
    error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_open_path),
            cmocka_unit_test(test_docker_drops),
            cmocka_unit_test(test_allow_round_trip),
            cmocka_unit_test(test_missing_netns),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
