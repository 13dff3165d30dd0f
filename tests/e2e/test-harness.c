/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The harness, end to end: a sandbox comes up, `up` defines a VMnet8-style NAT network in it, a
 * test guest boots under TCG on that network and reports its DHCP lease on the serial console,
 * and the lease is read back from libvirt too. Everything is removed afterwards, also on failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "kvmlab/session.h"
#include "kvmlab/virt.h"

static Lab *lab;
static LabSession *session;
static char console[4096];
static char guest[64];
static char mac[32];
static char disk[4096];
static char seed[4096];

static int setup(void **state)
{
    if (!fixture_is_root())
        return 0;
    const char *name = fixture_lab_name("e2eh");
    char *text = NULL;
    if (asprintf(&text,
                 "lab: %s\n"
                 "connect: sandbox\n"
                 "networks:\n"
                 "  vmnet8: {type: nat, subnet: 192.168.208.0/24}\n",
                 name) < 0)
        return -1;
    lab = fixture_lab_load("harness.yaml", text);
    free(text);
    if (!lab)
        return -1;
    snprintf(console, sizeof(console), "%s/%s-console.log", fixture_state_root(), name);
    snprintf(guest, sizeof(guest), "%s-guest", name);
    snprintf(disk, sizeof(disk), "%s/%s-disk0.qcow2", fixture_state_root(), name);
    snprintf(seed, sizeof(seed), "%s/%s-seed.iso", fixture_state_root(), name);
    snprintf(mac, sizeof(mac), "52:54:00:e2:%02x:%02x", (getpid() >> 8) & 0xff, getpid() & 0xff);
    return 0;
}

static int teardown(void **state)
{
    if (!lab)
        return 0;
    Error err = ERROR_INIT;
    if (session && session->conn)
        fixture_guest_remove(session->conn, guest);
    /* whatever happened, nothing of the test stays: down, then the sandbox itself */
    if (session) {
        Plan *p = NULL;
        bool kept = false;
        if (lab_session_down(session, &p, &kept, &err) < 0)
            fprintf(stderr, "# down: %s\n", err.message);
        plan_free(p);
        if (session->sandbox)
            sandbox_destroy(session->sandbox, NULL);
        lab_session_free(session);
    }
    lab_free(lab);
    unlink(console);
    unlink(disk);
    unlink(seed);
    error_clear(&err);
    return 0;
}

static void test_nat_lease(void **state)
{
    if (!lab)
        skip();
    Error err = ERROR_INIT;
    Plan *plan = NULL;

    int r = lab_session_open(lab, fixture_state_root(), SESSION_WRITE, &session, &err);
    if (r < 0)
        fprintf(stderr, "# %s\n", err.message);
    assert_int_equal(r, 0);
    assert_non_null(session->sandbox);
    r = lab_session_plan(session, &plan, &err);
    if (r >= 0)
        r = lab_session_apply(session, plan, NULL, NULL, &err);
    if (r < 0)
        fprintf(stderr, "# %s\n", err.message);
    assert_int_equal(r, 0);
    plan_free(plan);

    char netname[64];
    snprintf(netname, sizeof(netname), "%s-vmnet8", lab->name);
    FixtureNic nic = {netname, mac};
    FixtureDisk d = {disk, "kvmlab-disk0"};
    assert_int_equal(fixture_make_disk(disk, "64M"), 0);
    assert_int_equal(fixture_make_seed(seed, "instance-id: harness-1\nlocal-hostname: probe\n",
                                       "#cloud-config\nlocale: C.UTF-8\n"),
                     0);
    assert_int_equal(fixture_guest_start_ex(session->conn, guest, &nic, 1, &d, 1, seed, console,
                                            "kvmlab.hold=120"),
                     0);

    char *lease = fixture_console_wait(console, "LEASE ", 180);
    if (!lease) {
        char *fail = fixture_console_wait(console, "", 1);
        fprintf(stderr, "# no lease on the console; last line: %s\n", fail ? fail : "(none)");
        free(fail);
    }
    assert_non_null(lease);
    printf("# guest: %s\n", lease);
    char *ip = fixture_line_field(lease, "ip");
    char *router = fixture_line_field(lease, "router");
    char *dns = fixture_line_field(lease, "dns");
    char *secs = fixture_line_field(lease, "lease");
    /* VMware's NAT plan: gateway and DNS on N.2, pool N.128-N.254, 30 minute leases */
    assert_string_equal(router, "192.168.208.2");
    assert_string_equal(dns, "192.168.208.2");
    assert_string_equal(secs, "1800");
    uint32_t a = 0;
    assert_int_equal(addr_ipv4_parse(ip, &a), 0);
    assert_true((a & 0xff) >= 128 && (a & 0xff) <= 254);
    assert_int_equal(a >> 8, (192u << 16) | (168u << 8) | 208u);

    /* the rest of the report: the disk by serial with its driver chain, no swap, the seed */
    char *dl = fixture_console_wait(console, "serial=kvmlab-disk0", 60);
    assert_non_null(dl);
    printf("# disk: %s\n", dl);
    assert_non_null(strstr(dl, "drivers=virtio_blk"));
    assert_non_null(strstr(dl, "sectors=131072"));
    free(dl);
    char *sw = fixture_console_wait(console, "SWAP ", 30);
    assert_non_null(sw);
    assert_non_null(strstr(sw, "total_kb=0"));
    free(sw);
    char *sl = fixture_console_wait(console, "SEED file=meta-data line=instance-id: harness-1", 30);
    assert_non_null(sl);
    free(sl);
    sl = fixture_console_wait(console, "SEED file=user-data line=#cloud-config", 30);
    assert_non_null(sl);
    free(sl);

    /* the same lease, seen by libvirt */
    virNetworkPtr net = virNetworkLookupByName(session->conn, netname);
    assert_non_null(net);
    virNetworkDHCPLeasePtr *leases = NULL;
    int n = virNetworkGetDHCPLeases(net, mac, &leases, 0);
    assert_int_equal(n, 1);
    assert_string_equal(leases[0]->ipaddr, ip);
    virNetworkDHCPLeaseFree(leases[0]);
    free(leases);
    virNetworkFree(net);

    free(ip);
    free(router);
    free(dns);
    free(secs);
    free(lease);
    error_clear(&err);
}

static void test_down_removes_everything(void **state)
{
    if (!lab || !session)
        skip();
    Error err = ERROR_INIT;
    Plan *p = NULL;
    bool kept = true;
    fixture_guest_remove(session->conn, guest);
    int r = lab_session_down(session, &p, &kept, &err);
    if (r < 0)
        fprintf(stderr, "# %s\n", err.message);
    assert_int_equal(r, 0);
    assert_false(kept);
    assert_int_equal(p->n_actions, 2); /* the network and the NAT table */
    plan_free(p);
    assert_false(sandbox_exists(session->sandbox));
    pid_t *pids = NULL;
    size_t n = 0;
    assert_int_equal(sandbox_netns_pids(session->sandbox->netns, &pids, &n, &err), 0);
    assert_int_equal(n, 0);
    free(pids);
    error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_nat_lease),
            cmocka_unit_test(test_down_removes_everything),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
