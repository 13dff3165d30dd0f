/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VMnets as a guest sees them: a node with a NIC on VMnet8 (NAT) and one on VMnet1 (host-only)
 * boots the test guest with the node's derived MACs. On NAT it gets the fixed address the test's
 * lab text gives it, with router and DNS N.2; on host-only its fixed address and no router at all
 * (the expected addresses are this file's, never read back from the plan under test). A TCP port forward from the host side (the sandbox's
 * namespace) reaches a listener in the guest, and the node's DNS name resolves. down removes the
 * forward table. All traffic stays inside the sandbox's namespace.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
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
static char console[4096];
static char guest[64];
static char client[64]; /* a namespace outside the host, on a veth into the sandbox's */

/* the node's fixed addresses in the lab text below: what the guest must be given */
#define IP8 "192.168.208.50"
#define IP1 "192.168.201.60"

static int setup(void **state)
{
    if (!fixture_is_root())
        return 0;
    const char *name = fixture_lab_name("e2ev");
    char *text = NULL;
    /* the node is the test's own guest (booted below with the node's MACs): kvmlab defines its
     * domain on a blank disk and leaves it stopped (start: false) */
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
                 "    subnet: 192.168.208.0/24\n"
                 "    port_forwards: [{proto: tcp, host_port: 2222, node: cp, port: 22}]\n"
                 "  vmnet1: {type: hostonly, subnet: 192.168.201.0/24}\n"
                 "images:\n"
                 "  debian12: {path: %s, os: debian12}\n"
                 "nodes:\n"
                 "  - name: cp\n"
                 "    image: debian12\n"
                 "    start: false\n"
                 "    networks: [{network: vmnet8, ip: " IP8 "}, {network: vmnet1, ip: " IP1 "}]\n",
                 name, base) < 0)
        return -1;
    lab = fixture_lab_load("vmnet.yaml", text);
    free(text);
    if (!lab)
        return -1;
    snprintf(console, sizeof(console), "%s/%s-console.log", fixture_state_root(), name);
    snprintf(guest, sizeof(guest), "%s-guest", name);
    return 0;
}

static int teardown(void **state)
{
    if (session) {
        if (session->conn)
            fixture_guest_remove(session->conn, guest);
        Plan *p = NULL;
        bool kept = false;
        lab_session_down(session, &p, &kept, NULL);
        plan_free(p);
        if (session->sandbox)
            sandbox_destroy(session->sandbox, NULL);
        lab_session_free(session);
    }
    if (client[0]) {
        const char *del[] = {"ip", "netns", "delete", client, NULL};
        fixture_run(NULL, del, NULL, 10000);
    }
    lab_free(lab);
    unlink(console);
    return 0;
}

/* Run one `ip` argv, asserting success. */
static void ip(const char *const *argv)
{
    char *out = NULL;
    assert_int_equal(fixture_run(NULL, argv, &out, 10000), 0);
    free(out);
}

/* The LEASE line of the NIC with @mac (two NICs report in either order). */
static char *lease_for(const char *mac)
{
    char want[64];
    snprintf(want, sizeof(want), "mac=%s ", mac);
    return fixture_console_wait2(console, "LEASE ", want, 180);
}

static void test_guest_on_vmnets(void **state)
{
    if (!lab)
        skip();
    Error err = ERROR_INIT;
    Plan *plan = NULL;
    int r = lab_session_open(lab, fixture_state_root(), SESSION_WRITE, &session, &err);
    if (r >= 0)
        r = lab_session_plan(session, &plan, &err);
    if (r >= 0)
        r = lab_session_apply(session, plan, NULL, NULL, &err);
    if (r < 0)
        fprintf(stderr, "# %s\n", err.message);
    assert_int_equal(r, 0);

    const LabNode *cp = lab_find_node(lab, "cp");
    assert_non_null(cp);
    assert_int_equal(cp->n_nics, 2);
    char mac8[MAC_STRLEN], mac1[MAC_STRLEN];
    addr_mac_format(&cp->nics[0].mac, mac8);
    addr_mac_format(&cp->nics[1].mac, mac1);
    plan_free(plan);

    char n8[64], n1[64];
    snprintf(n8, sizeof(n8), "%s-vmnet8", lab->name);
    snprintf(n1, sizeof(n1), "%s-vmnet1", lab->name);
    /* "outside the host": a client namespace on a veth into the sandbox's namespace, with a
     * TCP peer that tells the guest which source address it saw */
    snprintf(client, sizeof(client), "%sc", session->sandbox->netns);
    const char *sb = session->sandbox->netns;
    ip((const char *[]){"ip", "netns", "add", client, NULL});
    ip((const char *[]){"ip", "-n", sb, "link", "add", "kvtpf0", "type", "veth", "peer", "name",
                        "kvtpf1", "netns", client, NULL});
    ip((const char *[]){"ip", "-n", sb, "addr", "add", "10.250.0.1/24", "dev", "kvtpf0", NULL});
    ip((const char *[]){"ip", "-n", sb, "link", "set", "kvtpf0", "up", NULL});
    ip((const char *[]){"ip", "-n", client, "addr", "add", "10.250.0.2/24", "dev", "kvtpf1", NULL});
    ip((const char *[]){"ip", "-n", client, "link", "set", "kvtpf1", "up", NULL});
    FixturePeer *peer = fixture_peer_start(client, "10.250.0.2", 7777, 240);
    assert_non_null(peer);

    FixtureNic nics[] = {{n8, mac8}, {n1, mac1}};
    assert_int_equal(fixture_guest_start(session->conn, guest, nics, 2, console,
                                         "kvmlab.hold=180 kvmlab.listen=22 "
                                         "kvmlab.connect=10.250.0.2:7777"),
                     0);

    /* NAT: the node's fixed address, router and DNS on N.2 */
    char *l8 = lease_for(mac8);
    assert_non_null(l8);
    printf("# vmnet8: %s\n", l8);
    char *v = fixture_line_field(l8, "ip");
    assert_string_equal(v, IP8);
    free(v);
    v = fixture_line_field(l8, "router");
    assert_string_equal(v, "192.168.208.2");
    free(v);
    v = fixture_line_field(l8, "dns");
    assert_string_equal(v, "192.168.208.2");
    free(v);
    free(l8);

    /* host-only: the fixed address, and no router handed out */
    char *l1 = lease_for(mac1);
    assert_non_null(l1);
    printf("# vmnet1: %s\n", l1);
    v = fixture_line_field(l1, "ip");
    assert_string_equal(v, IP1);
    free(v);
    v = fixture_line_field(l1, "router");
    assert_string_equal(v, "");
    free(v);
    free(l1);

    /* the port forward: host side (the sandbox's namespace) N.1:2222 -> guest:22 */
    char *listen = fixture_console_wait(console, "LISTEN proto=tcp port=22", 120);
    assert_non_null(listen);
    free(listen);
    char *out = NULL;
    const char *nc[] = {"busybox", "nc", "-w", "10", "192.168.208.1", "2222", NULL};
    int st = fixture_run(session->sandbox->netns, nc, &out, 30000);
    printf("# nc 192.168.208.1:2222 -> %s", out ? out : "(nothing)\n");
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "KVMLAB-PONG"));
    assert_non_null(strstr(out, " 22"));
    free(out);
    char *conn = fixture_console_wait(console, "CONNECT port=22", 30);
    assert_non_null(conn);
    free(conn);

    /* from outside the host: VMware forwards incoming connections; libvirt's own NAT rules
     * would reject them, the lab's table does not */
    const char *nc2[] = {"busybox", "nc", "-w", "10", "10.250.0.1", "2222", NULL};
    st = fixture_run(client, nc2, &out, 30000);
    printf("# from outside, nc 10.250.0.1:2222 -> %s", out ? out : "(nothing)\n");
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "KVMLAB-PONG"));
    free(out);

    /* masquerade: the guest reached the outside peer, which saw the host's address on its side,
     * not the guest's */
    char *seen = fixture_peer_finish(peer);
    char *connected = fixture_console_wait(console, "CONNECTED to=10.250.0.2:7777", 60);
    printf("# outside peer saw %s; guest: %s\n", seen ? seen : "(nothing)",
           connected ? connected : "(no CONNECTED line)");
    assert_non_null(seen);
    assert_string_equal(seen, "10.250.0.1");
    assert_non_null(connected);
    assert_non_null(strstr(connected, "reply=SEEN=10.250.0.1"));
    free(seen);
    free(connected);

    /* the node's name resolves through the network's DNS on N.2 */
    char fqdn[64];
    snprintf(fqdn, sizeof(fqdn), "cp.%s.lab", lab->name);
    const char *ns[] = {"busybox", "nslookup", fqdn, "192.168.208.2", NULL};
    st = fixture_run(session->sandbox->netns, ns, &out, 20000);
    /* every line a TAP comment */
    printf("# nslookup %s:\n", fqdn);
    for (const char *l = out ? out : "(nothing)"; *l;) {
        size_t len = strcspn(l, "\n");
        printf("#   %.*s\n", (int)len, l);
        l += len + (l[len] == '\n');
    }
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, IP8));
    free(out);
    error_clear(&err);
}

static void test_down_removes_forwards(void **state)
{
    if (!session)
        skip();
    Error err = ERROR_INIT;
    Plan *p = NULL;
    bool kept = false;
    const char *list[] = {"nft", "list", "tables", NULL};
    char *out = NULL;
    assert_int_equal(fixture_run(session->sandbox->netns, list, &out, 10000), 0);
    assert_non_null(strstr(out, "kvmlab-"));
    free(out);
    /* the guest is not kvmlab's (the node's own domain never ran): down keeps the sandbox for it */
    assert_int_equal(lab_session_down(session, &p, &kept, &err), 0);
    assert_true(kept);
    /* two networks, the NAT table, and the node's domain, volume, pool and image use */
    size_t nets = 0, nodes = 0;
    for (size_t i = 0; i < p->n_actions; i++) {
        assert_int_equal(p->actions[i].type, ACTION_DELETE);
        nets += p->actions[i].kind == RESOURCE_NETWORK || p->actions[i].kind == RESOURCE_PORTFWD;
        nodes += p->actions[i].kind == RESOURCE_DOMAIN;
    }
    assert_int_equal(nets, 3);
    assert_int_equal(nodes, 1);
    plan_free(p);
    assert_int_equal(fixture_run(session->sandbox->netns, list, &out, 10000), 0);
    assert_null(strstr(out, "kvmlab-"));
    free(out);
    error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_guest_on_vmnets),
            cmocka_unit_test(test_down_removes_forwards),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
