/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The bridge backend as guests see it, in a sandbox whose namespace has a "physical" NIC: a veth
 * (lan0, 10.77.0.5/24, default route via 10.77.0.1) whose peer sits in a LAN namespace with its
 * own dnsmasq. Two test guests, booted with the MACs of two nodes kvmlab defines (start: false):
 *   - nat: on VMnet8 on the bridge backend: its reservation, router and DNS N.2 from kvmlab's
 *     dnsmasq; it reaches a listener in the LAN namespace through the lab's masquerade (the
 *     listener sees the host's LAN address); a port forward from the LAN (outside the host) to
 *     the host's LAN address reaches a listener in the guest.
 *   - lan: on VMnet0 bridged on lan0 (moved onto kvmlab's bridge): its lease comes from the
 *     LAN's own DHCP server, and the host reaches the guest (the point of VMware's bridged mode).
 * down puts lan0 back as it was. Expected addresses are this file's, never read from the plan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "kvmlab/session.h"
#include "kvmlab/virt.h"
#include "kvmlab/vmnet.h"

static Lab *lab;
static LabSession *session;
static char console_nat[4096], console_lan[4096];
static char guest_nat[64], guest_lan[64];
static char lanns[64];
static char lanconf[4096];
static pid_t lan_dnsmasq;

#define IP_NAT "192.168.218.50"

static int setup(void **state)
{
    if (!fixture_is_root())
        return 0;
    const char *name = fixture_lab_name("e2eb");
    char *text = NULL;
    char base[PATH_MAX];
    snprintf(base, sizeof(base), "%s/%s-base.qcow2", fixture_state_root(), name);
    if (fixture_make_disk(base, "16M") < 0)
        return -1;
    if (asprintf(&text,
                 "lab: %s\n"
                 "connect: sandbox\n"
                 "networks:\n"
                 "  vmnet8:\n"
                 "    type: nat\n"
                 "    backend: bridge\n"
                 "    subnet: 192.168.218.0/24\n"
                 "    port_forwards: [{proto: tcp, host_port: 2222, node: nat, port: 22}]\n"
                 "  vmnet0: {type: bridged, interface: lan0, backend: bridge}\n"
                 "images:\n"
                 "  debian12: {path: %s, os: debian12}\n"
                 "nodes:\n"
                 "  - name: nat\n"
                 "    image: debian12\n"
                 "    start: false\n"
                 "    networks: [{network: vmnet8, ip: " IP_NAT "}]\n"
                 "  - name: lan\n"
                 "    image: debian12\n"
                 "    start: false\n"
                 "    networks: [vmnet0]\n",
                 name, base) < 0)
        return -1;
    lab = fixture_lab_load("bridge.yaml", text);
    free(text);
    if (!lab)
        return -1;
    snprintf(console_nat, sizeof(console_nat), "%s/%s-nat.log", fixture_state_root(), name);
    snprintf(console_lan, sizeof(console_lan), "%s/%s-lan.log", fixture_state_root(), name);
    snprintf(guest_nat, sizeof(guest_nat), "%s-gnat", name);
    snprintf(guest_lan, sizeof(guest_lan), "%s-glan", name);
    return 0;
}

static int teardown(void **state)
{
    if (session) {
        if (session->conn) {
            fixture_guest_remove(session->conn, guest_nat);
            fixture_guest_remove(session->conn, guest_lan);
        }
        Plan *p = NULL;
        bool kept = false;
        lab_session_down(session, &p, &kept, NULL);
        plan_free(p);
        if (session->sandbox)
            sandbox_destroy(session->sandbox, NULL);
        lab_session_free(session);
    }
    if (lan_dnsmasq > 0)
        kill(lan_dnsmasq, SIGTERM);
    if (lanns[0]) {
        const char *del[] = {"ip", "netns", "delete", lanns, NULL};
        fixture_run(NULL, del, NULL, 10000);
    }
    lab_free(lab);
    unlink(console_nat);
    unlink(console_lan);
    return 0;
}

static void run_ok(const char *netns, const char *const *argv)
{
    char *out = NULL;
    int st = fixture_run(netns, argv, &out, 10000);
    if (st != 0)
        fail_msg("%s failed (%d): %s", argv[0], st, out ? out : "");
    free(out);
}

static char *field(const char *line, const char *key)
{
    char *v = fixture_line_field(line, key);
    assert_non_null(v);
    return v;
}

/* The LAN: a namespace with 10.77.0.1 and its own dnsmasq (pool .100-.150), and the sandbox's
 * NIC lan0 on it with 10.77.0.5 and the default route. */
static void lan_make(const char *sb)
{
    snprintf(lanns, sizeof(lanns), "%sl", sb);
    run_ok(NULL, (const char *[]){"ip", "netns", "add", lanns, NULL});
    run_ok(NULL, (const char *[]){"ip", "-n", sb, "link", "add", "lan0", "type", "veth", "peer",
                                  "name", "lanp", "netns", lanns, NULL});
    run_ok(NULL,
           (const char *[]){"ip", "-n", lanns, "addr", "add", "10.77.0.1/24", "dev", "lanp", NULL});
    run_ok(NULL, (const char *[]){"ip", "-n", lanns, "link", "set", "lanp", "up", NULL});
    run_ok(NULL, (const char *[]){"ip", "-n", lanns, "link", "set", "lo", "up", NULL});
    run_ok(NULL,
           (const char *[]){"ip", "-n", sb, "addr", "add", "10.77.0.5/24", "dev", "lan0", NULL});
    run_ok(NULL, (const char *[]){"ip", "-n", sb, "link", "set", "lan0", "up", NULL});
    run_ok(NULL,
           (const char *[]){"ip", "-n", sb, "route", "add", "default", "via", "10.77.0.1", NULL});
    char pidfile[4200], leases[4200];
    snprintf(lanconf, sizeof(lanconf), "%s/%s-lan", fixture_state_root(), lab->name);
    snprintf(pidfile, sizeof(pidfile), "--pid-file=%s.pid", lanconf);
    snprintf(leases, sizeof(leases), "--dhcp-leasefile=%s.leases", lanconf);
    run_ok(lanns,
           (const char *[]){"dnsmasq", "--port=0", "--bind-interfaces", "--interface=lanp",
                            "--except-interface=lo", "--dhcp-range=10.77.0.100,10.77.0.150,600",
                            "--dhcp-option=option:router,10.77.0.1", "--no-ping", pidfile, leases,
                            "--conf-file=/dev/null", NULL});
    char path[4200];
    snprintf(path, sizeof(path), "%s.pid", lanconf);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%d", &lan_dnsmasq), 1);
    fclose(f);
}

static void test_guests_on_bridges(void **state)
{
    if (!lab)
        skip();
    Error err = ERROR_INIT;
    Plan *plan = NULL;
    int r = lab_session_open(lab, fixture_state_root(), SESSION_WRITE, &session, &err);
    if (r < 0)
        fail_msg("%s", err.message);
    const char *sb = session->sandbox->netns;
    lan_make(sb);
    r = lab_session_plan(session, &plan, &err);
    if (r >= 0)
        r = lab_session_apply(session, plan, NULL, NULL, &err);
    if (r < 0)
        fprintf(stderr, "# %s\n", err.message);
    assert_int_equal(r, 0);
    plan_free(plan);

    const LabNode *nat = lab_find_node(lab, "nat"), *lan = lab_find_node(lab, "lan");
    assert_non_null(nat);
    assert_non_null(lan);
    char mac_nat[MAC_STRLEN], mac_lan[MAC_STRLEN];
    addr_mac_format(&nat->nics[0].mac, mac_nat);
    addr_mac_format(&lan->nics[0].mac, mac_lan);
    char br8[64];
    _cleanup_free_ char *b8 = vmnet_bridge_name(lab->name, "vmnet8");
    _cleanup_free_ char *b0 = vmnet_nic_bridge_name("lan0");
    snprintf(br8, sizeof(br8), "bridge:%s", b8);
    char br0[64];
    snprintf(br0, sizeof(br0), "bridge:%s", b0);

    /* a listener in the LAN that tells the NAT guest what source address it saw */
    FixturePeer *peer = fixture_peer_start(lanns, "10.77.0.1", 7777, 240);
    assert_non_null(peer);
    FixtureNic n1[] = {{br8, mac_nat}};
    assert_int_equal(fixture_guest_start(session->conn, guest_nat, n1, 1, console_nat,
                                         "kvmlab.hold=180 kvmlab.listen=22 "
                                         "kvmlab.connect=10.77.0.1:7777"),
                     0);
    FixtureNic n2[] = {{br0, mac_lan}};
    assert_int_equal(fixture_guest_start(session->conn, guest_lan, n2, 1, console_lan,
                                         "kvmlab.hold=180 kvmlab.listen=8080"),
                     0);

    /* NAT on the bridge backend: the reservation, router and DNS N.2 */
    char *l = fixture_console_wait(console_nat, "LEASE ", 180);
    assert_non_null(l);
    printf("# nat guest: %s\n", l);
    char *v = field(l, "ip");
    assert_string_equal(v, IP_NAT);
    free(v);
    v = field(l, "router");
    assert_string_equal(v, "192.168.218.2");
    free(v);
    v = field(l, "dns");
    assert_string_equal(v, "192.168.218.2");
    free(v);
    free(l);

    /* bridged: a lease from the LAN's own server, in its pool */
    l = fixture_console_wait(console_lan, "LEASE ", 180);
    assert_non_null(l);
    printf("# lan guest: %s\n", l);
    char *lan_ip = field(l, "ip");
    assert_int_equal(strncmp(lan_ip, "10.77.0.1", 9), 0); /* .100 - .150 */
    v = field(l, "router");
    assert_string_equal(v, "10.77.0.1");
    free(v);
    free(l);

    /* the host reaches the bridged guest */
    char *listen = fixture_console_wait(console_lan, "LISTEN proto=tcp port=8080", 120);
    assert_non_null(listen);
    free(listen);
    char *out = NULL;
    const char *nc[] = {"busybox", "nc", "-w", "10", lan_ip, "8080", NULL};
    int st = fixture_run(sb, nc, &out, 30000);
    printf("# host -> bridged guest %s:8080: %s", lan_ip, out ? out : "(nothing)\n");
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "KVMLAB-PONG"));
    free(out);
    free(lan_ip);

    /* masquerade: the LAN listener saw the host's LAN address, not the guest's */
    char *seen = fixture_peer_finish(peer);
    char *connected = fixture_console_wait(console_nat, "CONNECTED to=10.77.0.1:7777", 60);
    printf("# LAN peer saw %s; guest: %s\n", seen ? seen : "(nothing)",
           connected ? connected : "(no CONNECTED line)");
    assert_non_null(seen);
    assert_string_equal(seen, "10.77.0.5");
    assert_non_null(connected);
    free(seen);
    free(connected);

    /* a port forward from outside the host: the LAN to the host's LAN address */
    listen = fixture_console_wait(console_nat, "LISTEN proto=tcp port=22", 120);
    assert_non_null(listen);
    free(listen);
    const char *nc2[] = {"busybox", "nc", "-w", "10", "10.77.0.5", "2222", NULL};
    st = fixture_run(lanns, nc2, &out, 30000);
    printf("# from the LAN, nc 10.77.0.5:2222 -> %s", out ? out : "(nothing)\n");
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "KVMLAB-PONG"));
    assert_non_null(strstr(out, " 22"));
    free(out);
    error_clear(&err);
}

static void test_down_puts_lan0_back(void **state)
{
    if (!session)
        skip();
    fixture_guest_remove(session->conn, guest_nat);
    fixture_guest_remove(session->conn, guest_lan);
    Error err = ERROR_INIT;
    Plan *p = NULL;
    bool kept = false;
    int r = lab_session_down(session, &p, &kept, &err);
    if (r < 0)
        fail_msg("%s", err.message);
    plan_free(p);
    /* down stops the sandbox: what is left to look at is the lab's state */
    char path[4200];
    snprintf(path, sizeof(path), "%s/bridged", fixture_state_root());
    char *out = NULL;
    const char *find[] = {"find", path, "-name", "snapshot", NULL};
    fixture_run(NULL, find, &out, 10000);
    assert_true(!out || !strstr(out, "lan0"));
    free(out);
    error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_guests_on_bridges),
            cmocka_unit_test(test_down_puts_lan0_back),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
