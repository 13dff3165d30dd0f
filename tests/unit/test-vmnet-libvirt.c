/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The libvirt network backend on libvirt's in-process test:///default driver: create, update in
 * place, and — with a failure injected into virNetworkUpdate() through -Wl,--wrap — the fallback
 * that makes the network anew so it never stays half-updated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kvmlab/engine.h"
#include "kvmlab/virt.h"
#include "kvmlab/vmnet.h"

/* failure injection: the Nth call of virNetworkUpdate() fails (0: none) */
static int update_calls, fail_at;
int __real_virNetworkUpdate(virNetworkPtr n, unsigned cmd, unsigned section, int parent,
                            const char *xml, unsigned flags);
int __wrap_virNetworkUpdate(virNetworkPtr n, unsigned cmd, unsigned section, int parent,
                            const char *xml, unsigned flags);
int __wrap_virNetworkUpdate(virNetworkPtr n, unsigned cmd, unsigned section, int parent,
                            const char *xml, unsigned flags)
{
    if (++update_calls == fail_at)
        return -1; /* as libvirt does when it refuses */
    return __real_virNetworkUpdate(n, cmd, section, parent, xml, flags);
}

static virConnectPtr conn;

static Lab *load(const char *reservations)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "lab: unit\n"
             "networks:\n"
             "  vmnet8:\n"
             "    type: nat\n"
             "    subnet: 10.91.0.0/24\n"
             "%s",
             reservations);
    Lab *lab = NULL;
    LabDiags d = {0};
    Error err = ERROR_INIT;
    assert_int_equal(lab_load_string("unit.yaml", text, strlen(text), &lab, &d, &err), 0);
    return lab;
}

static void resource_for(const Lab *lab, Resource *w)
{
    VmnetSpec *spec = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(vmnet_spec_build(lab, &lab->networks[0], NULL, &spec, &err), 0);
    *w = (Resource){.kind = RESOURCE_NETWORK,
                    .key = strdup("vmnet8"),
                    .name = strdup(spec->name),
                    .hash = vmnet_spec_hash(spec),
                    .spec = vmnet_spec_format(spec),
                    .data = spec,
                    .data_free = (void (*)(void *))vmnet_spec_free};
}

/* The backend's view of "unit-vmnet8". */
static void observe_one(EngineBackend *be, Observed *ret)
{
    Observed *o = NULL;
    size_t n = 0;
    Error err = ERROR_INIT;
    int r = be->observe(be->ctx, &o, &n, &err);
    if (r < 0)
        fprintf(stderr, "# %s\n", err.message);
    assert_int_equal(r, 0);
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(o[i].name, "unit-vmnet8") == 0) {
            *ret = o[i];
            found = true;
        } else {
            observed_clear(&o[i]);
        }
    }
    free(o);
    assert_true(found);
}

static void uuid_of(char *buf)
{
    virNetworkPtr n = virNetworkLookupByName(conn, "unit-vmnet8");
    assert_non_null(n);
    assert_int_equal(virNetworkGetUUIDString(n, buf), 0);
    virNetworkFree(n);
}

static void test_update_in_place_and_fallback(void **state)
{
    (void)state;
    EngineBackend be;
    Error err = ERROR_INIT;
    vmnet_libvirt_backend(conn, &be);

    Lab *lab1 = load("");
    Resource w1;
    resource_for(lab1, &w1);
    assert_int_equal(be.create(be.ctx, &w1, &err), 0);
    char uuid1[VIR_UUID_STRING_BUFLEN], uuid2[VIR_UUID_STRING_BUFLEN];
    uuid_of(uuid1);

    /* a new reservation: in place, the same network object, the new hash stored */
    Lab *lab2 = load("    reservations: [{mac: \"52:54:00:aa:00:01\", ip: 10.91.0.10}]\n");
    Resource w2;
    resource_for(lab2, &w2);
    Observed have;
    observe_one(&be, &have);
    update_calls = 0;
    fail_at = 0;
    int r = be.update(be.ctx, &w2, &have, &err);
    if (r < 0)
        fprintf(stderr, "# %s\n", err.message);
    assert_int_equal(r, 0);
    assert_true(update_calls > 0);
    uuid_of(uuid2);
    assert_string_equal(uuid1, uuid2);
    /* (the test driver shows only the live definition, whose metadata an in-place update does
     * not touch; the integration test reads the stored one from a real daemon) */
    virNetworkPtr n = virNetworkLookupByName(conn, "unit-vmnet8");
    char *xml = virNetworkGetXMLDesc(n, 0);
    assert_non_null(strstr(xml, "52:54:00:aa:00:01"));
    free(xml);
    virNetworkFree(n);

    /* another one, with libvirt refusing half-way: the network is made anew from the spec */
    Lab *lab3 = load("    reservations: [{mac: \"52:54:00:aa:00:01\", ip: 10.91.0.10},\n"
                     "                   {mac: \"52:54:00:aa:00:02\", ip: 10.91.0.11}]\n");
    Resource w3;
    resource_for(lab3, &w3);
    update_calls = 0;
    fail_at = 1;
    r = be.update(be.ctx, &w3, &have, &err);
    if (r < 0)
        fprintf(stderr, "# %s\n", err.message);
    assert_int_equal(r, 0);
    observed_clear(&have);
    observe_one(&be, &have);
    assert_string_equal(have.hash, w3.hash);
    assert_true(have.active);
    uuid_of(uuid2);
    assert_string_not_equal(uuid1, uuid2); /* a new object */
    n = virNetworkLookupByName(conn, "unit-vmnet8");
    xml = virNetworkGetXMLDesc(n, 0);
    assert_non_null(strstr(xml, "52:54:00:aa:00:02"));
    free(xml);
    virNetworkFree(n);

    observed_clear(&have);
    observe_one(&be, &have);
    assert_int_equal(be.remove(be.ctx, &have, &err), 0);
    observed_clear(&have);
    resource_clear(&w1);
    resource_clear(&w2);
    resource_clear(&w3);
    lab_free(lab1);
    lab_free(lab2);
    lab_free(lab3);
    error_clear(&err);
}

static int setup(void **state)
{
    (void)state;
    Error err = ERROR_INIT;
    return virt_connect("test:///default", &conn, &err);
}

static int teardown(void **state)
{
    (void)state;
    virConnectClose(conn);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_update_in_place_and_fallback),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
