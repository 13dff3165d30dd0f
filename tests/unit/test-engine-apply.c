/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Rollback of every action kind, through the real libvirt network backend on libvirt's test
 * driver: a fault seam (-Wl,--wrap on every libvirt call that changes a network) fails the Nth
 * mutation, for every N of a lab's apply, and the networks afterwards are compared field by
 * field (definition XML, running state, autostart) with what was there before.
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
#include "kvmlab/engine.h"
#include "kvmlab/virt.h"
#include "kvmlab/vmnet.h"

/* ---- the fault seam: the fail_at-th mutation fails once (0: none) ---- */
static int mutations, fail_at;

static bool fault(void)
{
    return ++mutations == fail_at;
}

virNetworkPtr __real_virNetworkDefineXML(virConnectPtr c, const char *xml);
virNetworkPtr __wrap_virNetworkDefineXML(virConnectPtr c, const char *xml);
virNetworkPtr __wrap_virNetworkDefineXML(virConnectPtr c, const char *xml)
{
    return fault() ? NULL : __real_virNetworkDefineXML(c, xml);
}

#define WRAP1(fn)                                                                                  \
    int __real_##fn(virNetworkPtr n);                                                              \
    int __wrap_##fn(virNetworkPtr n);                                                              \
    int __wrap_##fn(virNetworkPtr n)                                                               \
    {                                                                                              \
        return fault() ? -1 : __real_##fn(n);                                                      \
    }
WRAP1(virNetworkCreate)
WRAP1(virNetworkDestroy)
WRAP1(virNetworkUndefine)

int __real_virNetworkSetAutostart(virNetworkPtr n, int a);
int __wrap_virNetworkSetAutostart(virNetworkPtr n, int a);
int __wrap_virNetworkSetAutostart(virNetworkPtr n, int a)
{
    return fault() ? -1 : __real_virNetworkSetAutostart(n, a);
}

int __real_virNetworkUpdate(virNetworkPtr n, unsigned cmd, unsigned section, int parent,
                            const char *xml, unsigned flags);
int __wrap_virNetworkUpdate(virNetworkPtr n, unsigned cmd, unsigned section, int parent,
                            const char *xml, unsigned flags);
int __wrap_virNetworkUpdate(virNetworkPtr n, unsigned cmd, unsigned section, int parent,
                            const char *xml, unsigned flags)
{
    return fault() ? -1 : __real_virNetworkUpdate(n, cmd, section, parent, xml, flags);
}

/* ---- the lab before and after ---- */

/* Before: four networks; vmnet3 is then stopped by hand. */
#define LAB_BEFORE                                                                                 \
    "lab: rb\n"                                                                                    \
    "networks:\n"                                                                                  \
    "  vmnet1:\n    type: hostonly\n    subnet: 10.61.0.0/24\n"                                    \
    "    reservations: [{mac: '52:54:00:aa:00:01', ip: 10.61.0.10}]\n"                             \
    "  vmnet2: {type: nat, subnet: 10.62.0.0/24}\n"                                                \
    "  vmnet3: {type: isolated}\n"                                                                 \
    "  vmnet4: {type: hostonly, subnet: 10.64.0.0/24}\n"

/* After: vmnet4 deleted, vmnet5 created, vmnet3 started, vmnet1 updated in place (other
 * reservations), vmnet2 recreated (another subnet). */
#define LAB_AFTER                                                                                  \
    "lab: rb\n"                                                                                    \
    "networks:\n"                                                                                  \
    "  vmnet1:\n    type: hostonly\n    subnet: 10.61.0.0/24\n"                                    \
    "    reservations: [{mac: '52:54:00:aa:00:02', ip: 10.61.0.11}]\n"                             \
    "  vmnet2: {type: nat, subnet: 10.72.0.0/24}\n"                                                \
    "  vmnet3: {type: isolated}\n"                                                                 \
    "  vmnet5: {type: hostonly, subnet: 10.65.0.0/24}\n"

typedef struct NetState {
    char *name;
    char *xml;
    int active;
    int autostart;
} NetState;

typedef struct Snapshot {
    NetState v[16];
    size_t n;
} Snapshot;

static void snapshot_take(virConnectPtr conn, Snapshot *s)
{
    virNetworkPtr *nets = NULL;
    int n = virConnectListAllNetworks(conn, &nets, 0);
    assert_true(n >= 0 && n <= 16);
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < n; i++) {
        NetState *e = &s->v[s->n++];
        e->name = strdup(virNetworkGetName(nets[i]));
        e->xml = virNetworkGetXMLDesc(nets[i], 0);
        e->active = virNetworkIsActive(nets[i]);
        virNetworkGetAutostart(nets[i], &e->autostart);
        virNetworkFree(nets[i]);
    }
    free(nets);
}

static void snapshot_clear(Snapshot *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].name);
        free(s->v[i].xml);
    }
    s->n = 0;
}

static void snapshot_compare(const Snapshot *a, const Snapshot *b, int n)
{
    if (a->n != b->n)
        fail_msg("fault %d: %zu networks before, %zu after", n, a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const NetState *x = &a->v[i];
        const NetState *y = NULL;
        for (size_t j = 0; j < b->n; j++)
            if (strcmp(b->v[j].name, x->name) == 0)
                y = &b->v[j];
        if (!y)
            fail_msg("fault %d: network '%s' is gone", n, x->name);
        if (strcmp(x->xml, y->xml) != 0)
            fail_msg("fault %d: network '%s' differs:\n%s\n---\n%s", n, x->name, x->xml, y->xml);
        if (x->active != y->active || x->autostart != y->autostart)
            fail_msg("fault %d: network '%s' active %d->%d autostart %d->%d", n, x->name, x->active,
                     y->active, x->autostart, y->autostart);
    }
}

static Plan *plan_on(virConnectPtr conn, const char *text)
{
    Lab *lab = fixture_lab_load("rollback.yaml", text);
    assert_non_null(lab);
    EngineBackend be;
    vmnet_libvirt_backend(conn, &be);
    HostState h = {.nat_table = false};
    Error err = ERROR_INIT;
    if (be.observe(be.ctx, &h.objects, &h.n_objects, &err) < 0)
        fail_msg("observe: %s", err.message);
    Plan *p = NULL;
    if (engine_plan(lab, &h, &p, &err) < 0)
        fail_msg("plan: %s", err.message);
    host_state_clear(&h);
    lab_free(lab);
    return p;
}

static int apply(virConnectPtr conn, const Plan *p, Error *err)
{
    EngineBackend be;
    vmnet_libvirt_backend(conn, &be);
    return engine_apply(p, &be, 1, NULL, NULL, err);
}

/* An empty test-driver host description in @path (a mkstemp template): each connection to
 * test://PATH is a host of its own. */
static void node_file(char *path)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "<node/>\n", 8), 8);
    close(fd);
}

/* A fresh test-driver host holding the "before" lab, vmnet3 stopped. */
static virConnectPtr host_before(const char *node_xml)
{
    virConnectPtr conn = NULL;
    _cleanup_free_ char *uri = NULL;
    assert_true(asprintf(&uri, "test://%s", node_xml) > 0);
    assert_int_equal(virt_connect(uri, &conn, NULL), 0);
    fail_at = 0;
    Plan *p = plan_on(conn, LAB_BEFORE);
    Error err = ERROR_INIT;
    if (apply(conn, p, &err) < 0)
        fail_msg("set-up: %s", err.message);
    plan_free(p);
    virNetworkPtr n3 = virNetworkLookupByName(conn, "rb-vmnet3");
    assert_non_null(n3);
    assert_int_equal(virNetworkDestroy(n3), 0);
    virNetworkFree(n3);
    return conn;
}

static void test_rollback_every_fault(void **state)
{
    (void)state;
    char node_xml[] = "/tmp/kvmlab-test-node-XXXXXX";
    node_file(node_xml);

    /* the plan has every kind of action */
    virConnectPtr conn = host_before(node_xml);
    Plan *p = plan_on(conn, LAB_AFTER);
    int kinds = 0;
    for (size_t i = 0; i < p->n_actions; i++)
        kinds |= 1 << p->actions[i].type;
    int every = (1 << ACTION_CREATE) | (1 << ACTION_START) | (1 << ACTION_UPDATE) |
                (1 << ACTION_RECREATE) | (1 << ACTION_DELETE);
    assert_int_equal(kinds & every, every);
    plan_free(p);
    virConnectClose(conn);

    int n;
    for (n = 1; n < 200; n++) {
        conn = host_before(node_xml);
        Snapshot before, after;
        snapshot_take(conn, &before);
        p = plan_on(conn, LAB_AFTER);
        Error err = ERROR_INIT;
        mutations = 0;
        fail_at = n;
        int r = apply(conn, p, &err);
        fail_at = 0;
        bool done = mutations < n; /* the fault never came: every mutation of the apply passed */
        if (done) {
            assert_int_equal(r, 0);
        } else if (r >= 0) {
            /* the backend worked around the fault (an update refused half-way is made anew):
             * then the lab must be exactly what the file wants */
            Plan *again = plan_on(conn, LAB_AFTER);
            for (size_t i = 0; i < again->n_actions; i++)
                if (again->actions[i].type != ACTION_NONE)
                    fail_msg("fault %d: apply succeeded but left: %s", n, again->actions[i].reason);
            plan_free(again);
        } else {
            assert_non_null(err.message);
            snapshot_take(conn, &after);
            snapshot_compare(&before, &after, n);
            snapshot_clear(&after);
        }
        error_clear(&err);
        snapshot_clear(&before);
        plan_free(p);
        virConnectClose(conn);
        if (done)
            break;
    }
    /* a lab like this takes well over ten mutations: every one of them was a fault once */
    assert_true(n > 10);
    print_message("# %d faults injected, each rolled back exactly\n", n - 1);
    unlink(node_xml);
}

/* A reservation removed by hand on the running network (metadata kept) is drift fixed in place:
 * after up, a new plan has nothing left to do (reproduced: the update compared with the record
 * instead of the live network and never put the reservation back). */
static void test_drift_in_place_converges(void **state)
{
    (void)state;
    char node_xml[] = "/tmp/kvmlab-test-node-XXXXXX";
    node_file(node_xml);
    virConnectPtr conn = host_before(node_xml);
    virNetworkPtr n1 = virNetworkLookupByName(conn, "rb-vmnet1");
    assert_non_null(n1);
    /* what `virsh net-update rb-vmnet1 delete ip-dhcp-host ... --live --config` does */
    assert_int_equal(
            virNetworkUpdate(n1, VIR_NETWORK_UPDATE_COMMAND_DELETE,
                             VIR_NETWORK_SECTION_IP_DHCP_HOST, 0,
                             "<host mac='52:54:00:aa:00:01' ip='10.61.0.10'/>",
                             VIR_NETWORK_UPDATE_AFFECT_LIVE | VIR_NETWORK_UPDATE_AFFECT_CONFIG),
            0);
    virNetworkFree(n1);
    Plan *p = plan_on(conn, LAB_BEFORE);
    const Action *a = NULL;
    for (size_t i = 0; i < p->n_actions; i++)
        if (p->actions[i].type != ACTION_NONE && p->actions[i].type != ACTION_START)
            a = &p->actions[i];
    assert_non_null(a);
    assert_int_equal(a->type, ACTION_UPDATE);
    assert_true(a->drift);
    Error err = ERROR_INIT;
    if (apply(conn, p, &err) < 0)
        fail_msg("apply: %s", err.message);
    plan_free(p);
    p = plan_on(conn, LAB_BEFORE);
    for (size_t i = 0; i < p->n_actions; i++)
        if (p->actions[i].type != ACTION_NONE && p->actions[i].type != ACTION_START)
            fail_msg("left after up: %s", p->actions[i].reason);
    plan_free(p);
    virConnectClose(conn);
    unlink(node_xml);
}

int main(void)
{
    virt_init();
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_rollback_every_fault),
            cmocka_unit_test(test_drift_in_place_converges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
