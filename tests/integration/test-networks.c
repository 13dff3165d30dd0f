/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VMnet networks on a real private libvirtd: up creates nat, hostonly, isolated, a custom vmnet
 * with a picked subnet and a bridged network on a bridge the test made; a second up changes
 * nothing; a reservation edit updates in place; a clash is refused with nothing half-made; down
 * removes ours and leaves a foreign network alone.
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
#include "kvmlab/session.h"
#include "kvmlab/virt.h"

static char labname[16];
static LabSession *session; /* the session of the current lab text */
static Lab *lab;
static Sandbox *sandbox; /* for teardown */
static const char *vmnet3 = "  vmnet3: {type: hostonly}\n";

static Lab *load(const char *extra_vmnet8, const char *extra_networks)
{
    char *text = NULL;
    if (asprintf(&text,
                 "lab: %s\n"
                 "connect: sandbox\n"
                 "networks:\n"
                 "  vmnet8:\n"
                 "    type: nat\n"
                 "    subnet: 192.168.208.0/24\n"
                 "%s"
                 "  vmnet1: {type: hostonly, subnet: 192.168.201.0/24}\n"
                 "  vmnet2: {type: isolated}\n"
                 "%s"
                 "  vmnet0: {type: bridged, interface: kvtlan0}\n"
                 "%s",
                 labname, extra_vmnet8, vmnet3, extra_networks) < 0)
        return NULL;
    Lab *l = fixture_lab_load("networks.yaml", text);
    free(text);
    return l;
}

/* Re-open the session for a new lab text (the session borrows the Lab). */
static void use(Lab *l)
{
    Error err = ERROR_INIT;
    lab_session_free(session);
    session = NULL;
    lab_free(lab);
    lab = l;
    assert_non_null(lab);
    int r = lab_session_open(lab, fixture_state_root(), SESSION_WRITE, &session, &err);
    if (r < 0)
        fprintf(stderr, "# %s\n", err.message);
    assert_int_equal(r, 0);
    if (!sandbox)
        assert_int_equal(sandbox_new(fixture_state_root(), labname, &sandbox, &err), 0);
    error_clear(&err);
}

/* Counting wrappers around the real backends: prove how many host changes an apply made. */
static EngineBackend real[RESOURCE_KIND_MAX];
static int calls;
static const EngineBackend *real_of(void *ctx)
{
    return ctx;
}
static int c_create(void *ctx, const Resource *w, Error *e)
{
    calls++;
    return real_of(ctx)->create(real_of(ctx)->ctx, w, e);
}
static int c_start(void *ctx, const Observed *o, Error *e)
{
    calls++;
    return real_of(ctx)->start(real_of(ctx)->ctx, o, e);
}
static int c_update(void *ctx, const Resource *w, const Observed *o, Error *e)
{
    calls++;
    return real_of(ctx)->update(real_of(ctx)->ctx, w, o, e);
}
static int c_remove(void *ctx, const Observed *o, Error *e)
{
    calls++;
    return real_of(ctx)->remove(real_of(ctx)->ctx, o, e);
}
static int c_recreate(void *ctx, const Resource *w, const Observed *o, Error *e)
{
    calls++;
    return real_of(ctx)->recreate(real_of(ctx)->ctx, w, o, e);
}

static int up(Plan **ret_plan, Error *err)
{
    Plan *p = NULL;
    int r = lab_session_plan(session, &p, err);
    if (r < 0)
        return r;
    EngineBackend counting[RESOURCE_KIND_MAX];
    for (size_t i = 0; i < session->n_backends; i++) {
        real[i] = session->backends[i];
        counting[i] = real[i];
        counting[i].create = c_create;
        counting[i].start = c_start;
        counting[i].update = c_update;
        counting[i].remove = c_remove;
        counting[i].recreate = real[i].recreate ? c_recreate : NULL;
        counting[i].ctx = &real[i];
    }
    calls = 0;
    r = engine_apply(p, counting, session->n_backends, NULL, NULL, err);
    if (ret_plan)
        *ret_plan = p;
    else
        plan_free(p);
    return r;
}

static const Action *find_action(const Plan *p, const char *key)
{
    for (size_t i = 0; i < p->n_actions; i++) {
        const Action *a = &p->actions[i];
        const char *k = a->want ? a->want->key : a->have->key;
        if (k && strcmp(k, key) == 0)
            return a;
    }
    return NULL;
}

static char *netxml(const char *key, unsigned flags)
{
    char name[64];
    snprintf(name, sizeof(name), "%s-%s", labname, key);
    virNetworkPtr n = virNetworkLookupByName(session->conn, name);
    if (!n)
        return NULL;
    char *x = virNetworkGetXMLDesc(n, flags);
    virNetworkFree(n);
    return x;
}

static int setup(void **state)
{
    if (!fixture_is_root())
        return 0;
    snprintf(labname, sizeof(labname), "%s", fixture_lab_name("itnet"));
    return 0;
}

static int teardown(void **state)
{
    lab_session_free(session);
    lab_free(lab);
    if (sandbox) {
        sandbox_destroy(sandbox, NULL);
        sandbox_free(sandbox);
    }
    return 0;
}

static void test_up_creates_every_type(void **state)
{
    if (!labname[0])
        skip();
    Error err = ERROR_INIT;
    use(load("", ""));
    /* the LAN for the bridged network: a Linux bridge inside the sandbox's namespace */
    const char *mkbr[] = {"ip", "link", "add", "kvtlan0", "type", "bridge", NULL};
    assert_int_equal(fixture_run(sandbox->netns, mkbr, NULL, 10000), 0);
    const char *brup[] = {"ip", "link", "set", "kvtlan0", "up", NULL};
    assert_int_equal(fixture_run(sandbox->netns, brup, NULL, 10000), 0);

    Plan *p = NULL;
    int r = up(&p, &err);
    if (r < 0)
        fprintf(stderr, "# %s\n", err.message);
    assert_int_equal(r, 0);
    assert_int_equal(calls, 6); /* five networks and the NAT table */
    /* the custom host-only network got a free /24 and plan said which */
    const Action *a3 = find_action(p, "vmnet3");
    assert_non_null(a3);
    assert_non_null(strstr(a3->reason, "picked"));
    printf("# vmnet3: %s\n", a3->reason);
    plan_free(p);

    /* nat: forward nat, host .1 and gateway .2 on the bridge, router/DNS options .2 */
    char *x = netxml("vmnet8", 0);
    assert_non_null(x);
    assert_non_null(strstr(x, "<forward mode='open'"));
    assert_non_null(strstr(x, "dhcp-option=option:router,192.168.208.2"));
    free(x);
    char *out = NULL;
    const char *show[] = {"ip", "-o", "-4", "addr", "show", NULL};
    assert_int_equal(fixture_run(sandbox->netns, show, &out, 10000), 0);
    assert_non_null(strstr(out, "192.168.208.1/24"));
    assert_non_null(strstr(out, "192.168.208.2/24"));
    assert_non_null(strstr(out, "192.168.201.1/24"));
    /* host-only has no gateway: no N.2 on any interface... */
    assert_null(strstr(out, "192.168.201.2/"));
    free(out);
    /* hostonly: no forward, and DHCP hands out no router (an empty option 3, no gateway
     * option); isolated: no address at all; bridged: on our bridge */
    x = netxml("vmnet1", 0);
    assert_non_null(x);
    assert_null(strstr(x, "<forward"));
    assert_non_null(strstr(x, "'dhcp-option=3'"));
    assert_null(strstr(x, "option:router"));
    assert_null(strstr(x, "192.168.201.2'"));
    free(x);
    x = netxml("vmnet2", 0);
    assert_null(strstr(x, "<ip"));
    free(x);
    x = netxml("vmnet0", 0);
    assert_non_null(strstr(x, "<forward mode='bridge'"));
    assert_non_null(strstr(x, "kvtlan0"));
    free(x);
    /* NAT is the lab's own nftables table in the sandbox's namespace (libvirt adds none) */
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "kvmlab-%s", labname);
    const char *nft[] = {"nft", "list", "table", "ip", cmd, NULL};
    assert_int_equal(fixture_run(sandbox->netns, nft, &out, 10000), 0);
    assert_non_null(strstr(out, "ip saddr 192.168.208.0/24 ip daddr != 192.168.208.0/24"));
    assert_non_null(strstr(out, "masquerade"));
    assert_null(strstr(out, "192.168.201.0/24")); /* host-only is not masqueraded */
    free(out);
    const char *ipt[] = {"iptables", "-t", "nat", "-S", NULL};
    assert_int_equal(fixture_run(sandbox->netns, ipt, &out, 10000), 0);
    assert_null(strstr(out, "MASQUERADE"));
    free(out);
    error_clear(&err);
}

static void test_second_up_changes_nothing(void **state)
{
    if (!session)
        skip();
    Error err = ERROR_INIT;
    use(load("", "")); /* a fresh session on the running sandbox, as a second `kvmlab up` */
    assert_false(session->sandbox_started);
    Plan *p = NULL;
    assert_int_equal(up(&p, &err), 0);
    assert_int_equal(plan_changes(p), 0);
    assert_int_equal(calls, 0);
    plan_free(p);
    error_clear(&err);
}

static void test_reservation_edit_updates_in_place(void **state)
{
    if (!session)
        skip();
    Error err = ERROR_INIT;
    char *before = netxml("vmnet8", 0);
    assert_non_null(before);
    use(load("    reservations: [{mac: \"52:54:00:aa:bb:01\", ip: 192.168.208.10}]\n"
             "    dhcp: {lease: 1h}\n",
             ""));
    Plan *p = NULL;
    int r = up(&p, &err);
    if (r < 0)
        fprintf(stderr, "# %s\n", err.message);
    assert_int_equal(r, 0);
    const Action *a = find_action(p, "vmnet8");
    assert_int_equal(a->type, ACTION_UPDATE);
    printf("# vmnet8: %s\n", a->reason);
    assert_int_equal(plan_changes(p), 1);
    plan_free(p);
    /* live: the new reservation and lease are in effect without restarting the network */
    char *live = netxml("vmnet8", 0);
    assert_non_null(strstr(live, "52:54:00:aa:bb:01"));
    assert_non_null(strstr(live, "expiry='60'") ? live : strstr(live, "expiry='1'"));
    /* same UUID: the network object was not re-created */
    char *u1 = strstr(before, "<uuid>"), *u2 = strstr(live, "<uuid>");
    assert_non_null(u1);
    assert_non_null(u2);
    assert_memory_equal(u1, u2, 44);
    free(before);
    free(live);
    /* and the stored definition carries the new metadata: the next up changes nothing */
    use(load("    reservations: [{mac: \"52:54:00:aa:bb:01\", ip: 192.168.208.10}]\n"
             "    dhcp: {lease: 1h}\n",
             ""));
    assert_int_equal(up(&p, &err), 0);
    assert_int_equal(plan_changes(p), 0);
    plan_free(p);

    /* a subnet change cannot be done in place: recreate, with the reason */
    use(load("    reservations: [{mac: \"52:54:00:aa:bb:01\", ip: 192.168.208.10}]\n"
             "    dhcp: {lease: 1h}\n",
             "  vmnet9: {type: nat, subnet: 10.99.1.0/24}\n"));
    assert_int_equal(lab_session_plan(session, &p, &err), 0);
    a = find_action(p, "vmnet9");
    assert_int_equal(a->type, ACTION_CREATE);
    plan_free(p);
    error_clear(&err);
}

static void test_clash_refused_nothing_made(void **state)
{
    if (!session)
        skip();
    Error err = ERROR_INIT;
    /* a network nobody from kvmlab made, on a subnet the lab then asks for */
    const char *xml = "<network><name>someone-else</name><bridge name='kvtforeign0'/>"
                      "<ip address='10.77.0.1' prefix='24'/></network>";
    virNetworkPtr n = virNetworkDefineXML(session->conn, xml);
    assert_non_null(n);
    assert_int_equal(virNetworkCreate(n), 0);
    virNetworkFree(n);
    use(load("", "  vmnet6: {type: nat, subnet: 10.77.0.0/24}\n"
                 "  vmnet7: {type: hostonly, subnet: 10.78.0.0/24}\n"));
    Plan *p = NULL;
    int r = lab_session_plan(session, &p, &err);
    assert_int_equal(r, -EEXIST);
    assert_non_null(strstr(err.message, "someone-else"));
    printf("# refused: %s\n", err.message);
    error_clear(&err);
    assert_null(netxml("vmnet6", 0));
    assert_null(netxml("vmnet7", 0));

    /* a failure half-way through apply removes what that apply had created: libvirt refuses
     * to start a network on a subnet an interface of the namespace already uses */
    const char *mk[] = {"ip", "link", "add", "kvtdummy0", "type", "bridge", NULL};
    assert_int_equal(fixture_run(sandbox->netns, mk, NULL, 10000), 0);
    const char *ad[] = {"ip", "addr", "add", "10.79.0.1/24", "dev", "kvtdummy0", NULL};
    assert_int_equal(fixture_run(sandbox->netns, ad, NULL, 10000), 0);
    const char *upd[] = {"ip", "link", "set", "kvtdummy0", "up", NULL};
    assert_int_equal(fixture_run(sandbox->netns, upd, NULL, 10000), 0);
    use(load("", "  vmnet7: {type: hostonly, subnet: 10.78.0.0/24}\n"
                 "  vmnet4: {type: nat, subnet: 10.79.0.0/24}\n"));
    r = up(NULL, &err);
    assert_true(r < 0);
    assert_non_null(strstr(err.message, "vmnet4"));
    printf("# failed as expected: %s\n", err.message);
    error_clear(&err);
    assert_null(netxml("vmnet7", 0));

    /* a recreate that fails puts the old network back as it was */
    char *before = netxml("vmnet3", 0);
    assert_non_null(before);
    vmnet3 = "  vmnet3: {type: hostonly, subnet: 10.79.0.0/24}\n";
    use(load("", ""));
    p = NULL;
    r = up(&p, &err);
    vmnet3 = "  vmnet3: {type: hostonly}\n";
    assert_true(r < 0);
    assert_int_equal(find_action(p, "vmnet3")->type, ACTION_RECREATE);
    printf("# recreate failed as expected: %s\n", err.message);
    assert_non_null(strstr(err.message, "left as it was"));
    plan_free(p);
    error_clear(&err);
    char *after = netxml("vmnet3", 0);
    assert_non_null(after);
    char *u1 = strstr(before, "<ip "), *u2 = strstr(after, "<ip ");
    assert_non_null(u1);
    assert_non_null(u2);
    assert_int_equal(strncmp(u1, u2, 60), 0);
    char name3[64];
    snprintf(name3, sizeof(name3), "%s-vmnet3", labname);
    virNetworkPtr n3 = virNetworkLookupByName(session->conn, name3);
    assert_non_null(n3);
    assert_int_equal(virNetworkIsActive(n3), 1);
    virNetworkFree(n3);
    free(before);
    free(after);
    assert_null(netxml("vmnet4", 0));
}

static void test_down_leaves_foreign(void **state)
{
    if (!session)
        skip();
    Error err = ERROR_INIT;
    use(load("", ""));
    Plan *p = NULL;
    bool kept = false;
    int r = lab_session_down(session, &p, &kept, &err);
    if (r < 0)
        fprintf(stderr, "# %s\n", err.message);
    assert_int_equal(r, 0);
    assert_int_equal(p->n_actions, 6); /* our five and the NAT table, not someone-else */
    for (size_t i = 0; i < p->n_actions; i++)
        assert_int_equal(p->actions[i].type, ACTION_DELETE);
    plan_free(p);
    assert_true(kept); /* the sandbox holds a foreign network: it stays */
    virNetworkPtr n = virNetworkLookupByName(session->conn, "someone-else");
    assert_non_null(n);
    assert_int_equal(virNetworkIsActive(n), 1);
    virNetworkFree(n);
    Observed *o = NULL;
    size_t no = 0;
    assert_int_equal(lab_session_observe(session, &o, &no, &err), 0);
    assert_int_equal(no, 0);
    free(o);
    error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_up_creates_every_type),
            cmocka_unit_test(test_second_up_changes_nothing),
            cmocka_unit_test(test_reservation_edit_updates_in_place),
            cmocka_unit_test(test_clash_refused_nothing_made),
            cmocka_unit_test(test_down_leaves_foreign),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
