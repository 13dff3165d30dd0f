/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The model's small pure helpers: durations, sizes, names of enums, diagnostics, look-ups. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kvmlab/lab.h"

static void check_duration(const char *s, int want_r, uint32_t want)
{
    uint32_t v = 12345;
    int r = lab_duration_parse(s, &v);
    if (r != want_r)
        fprintf(stderr, "lab_duration_parse('%s') = %d, expected %d\n", s ? s : "(null)", r,
                want_r);
    assert_int_equal(r, want_r);
    /* on failure the output stays untouched */
    assert_int_equal(v, want_r == 0 ? want : 12345);
}

static void test_duration(void **state)
{
    check_duration("30m", 0, 1800);
    check_duration("2h", 0, 7200);
    check_duration("1800", 0, 1800);
    check_duration("1d", 0, 86400);
    check_duration("1w", 0, 604800);
    check_duration("90s", 0, 90);
    check_duration("1h30m", 0, 5400);
    check_duration("1d2h3m4s", 0, 93784);
    check_duration("0", 0, 0);
    check_duration("007m", 0, 420);
    check_duration("4294967295", 0, UINT32_MAX);
    check_duration("4294967296", -ERANGE, 0);
    check_duration("49711d", -ERANGE, 0);
    check_duration("99999999999999999999", -ERANGE, 0);
    check_duration(NULL, -EINVAL, 0);
    check_duration("", -EINVAL, 0);
    check_duration("m", -EINVAL, 0);
    check_duration("30M", -EINVAL, 0); /* minutes or months? refuse */
    check_duration("30 m", -EINVAL, 0);
    check_duration(" 30m", -EINVAL, 0);
    check_duration("-5", -EINVAL, 0);
    check_duration("1h30", -EINVAL, 0);
    check_duration("1.5h", -EINVAL, 0);
    check_duration("30mm", -EINVAL, 0);
    check_duration("2y", -EINVAL, 0);
}

static void check_size(const char *s, int want_r, uint64_t want)
{
    uint64_t v = 12345;
    int r = lab_size_parse(s, &v);
    if (r != want_r)
        fprintf(stderr, "lab_size_parse('%s') = %d, expected %d\n", s ? s : "(null)", r, want_r);
    assert_int_equal(r, want_r);
    assert_int_equal(v, want_r == 0 ? want : 12345);
}

static void test_size(void **state)
{
    check_size("20G", 0, 20ULL << 30);
    check_size("512M", 0, 512ULL << 20);
    check_size("5GiB", 0, 5ULL << 30);
    check_size("5GB", 0, 5ULL << 30); /* binary, whatever the suffix */
    check_size("5Gi", 0, 5ULL << 30);
    check_size("1T", 0, 1ULL << 40);
    check_size("1TiB", 0, 1ULL << 40);
    check_size("4K", 0, 4096);
    check_size("4k", 0, 4096);
    check_size("2g", 0, 2ULL << 30);
    check_size("1048576", 0, 1048576);
    check_size("7B", 0, 7);
    check_size("0", 0, 0);
    check_size("20 G", 0, 20ULL << 30);
    check_size("16777215T", 0, 16777215ULL << 40);
    check_size("18446744073709551615", 0, UINT64_MAX);
    check_size("18446744073709551616", -ERANGE, 0);
    check_size("16777216T", -ERANGE, 0);
    check_size("17179869184G", -ERANGE, 0);
    check_size(NULL, -EINVAL, 0);
    check_size("", -EINVAL, 0);
    check_size("G", -EINVAL, 0);
    check_size("1.5G", -EINVAL, 0);
    check_size("20X", -EINVAL, 0);
    check_size("20GiBB", -EINVAL, 0);
    check_size("20iB", -EINVAL, 0);
    check_size("20Gb", -EINVAL, 0); /* bits? refuse */
    check_size("-1", -EINVAL, 0);
    check_size(" 20G", -EINVAL, 0);
    check_size("20P", -EINVAL, 0);
}

static void test_to_string(void **state)
{
    assert_string_equal(vmnet_type_to_string(VMNET_NAT), "nat");
    assert_string_equal(vmnet_type_to_string(VMNET_HOSTONLY), "hostonly");
    assert_string_equal(vmnet_type_to_string(VMNET_BRIDGED), "bridged");
    assert_string_equal(vmnet_type_to_string(VMNET_ISOLATED), "isolated");
    assert_string_equal(vmnet_type_to_string((VmnetType)99), "unknown");
    assert_string_equal(vmnet_backend_to_string(VMNET_BACKEND_LIBVIRT), "libvirt");
    assert_string_equal(vmnet_backend_to_string(VMNET_BACKEND_BRIDGE), "bridge");
    assert_string_equal(lab_proto_to_string(LAB_PROTO_TCP), "tcp");
    assert_string_equal(lab_proto_to_string(LAB_PROTO_UDP), "udp");
    assert_string_equal(lab_role_to_string(LAB_ROLE_NONE), "none");
    assert_string_equal(lab_role_to_string(LAB_ROLE_CONTROL_PLANE), "control-plane");
    assert_string_equal(lab_role_to_string(LAB_ROLE_WORKER), "worker");
}

static void test_diags_format(void **state)
{
    LabDiags d = {0};
    char *s = lab_diags_format(&d);
    assert_string_equal(s, "");
    free(s);

    d.file = strdup("lab.yaml");
    d.items = calloc(2, sizeof(*d.items));
    d.n = 2;
    d.items[0] = (LabDiag){{3, 5}, strdup("unknown key 'x' in the lab")};
    d.items[1] = (LabDiag){{0, 0}, strdup("the lab file is empty")};
    s = lab_diags_format(&d);
    assert_string_equal(s, "lab.yaml:3:5: unknown key 'x' in the lab\n"
                           "lab.yaml: the lab file is empty\n");
    free(s);
    lab_diags_clear(&d);
    assert_null(d.items);
    assert_null(d.file);
    assert_int_equal(d.n, 0);
    lab_diags_clear(&d);
    lab_diags_clear(NULL);
}

static void test_find(void **state)
{
    Lab *lab = calloc(1, sizeof(*lab));
    lab->name = strdup("t");
    lab->networks = calloc(2, sizeof(*lab->networks));
    lab->n_networks = 2;
    lab->networks[0].name = strdup("vmnet8");
    lab->networks[1].name = strdup("vmnet1");
    lab->images = calloc(1, sizeof(*lab->images));
    lab->n_images = 1;
    lab->images[0].name = strdup("debian12");
    lab->nodes = calloc(1, sizeof(*lab->nodes));
    lab->n_nodes = 1;
    lab->nodes[0].name = strdup("worker-1");
    lab->nodes[0].base_name = strdup("worker");

    assert_ptr_equal(lab_find_network(lab, "vmnet1"), &lab->networks[1]);
    assert_null(lab_find_network(lab, "vmnet"));
    assert_null(lab_find_network(lab, NULL));
    assert_null(lab_find_network(NULL, "vmnet1"));
    assert_ptr_equal(lab_find_image(lab, "debian12"), &lab->images[0]);
    assert_null(lab_find_image(lab, "debian"));
    assert_ptr_equal(lab_find_node(lab, "worker-1"), &lab->nodes[0]);
    assert_null(lab_find_node(lab, "worker"));
    lab_free(lab);
    lab_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_duration),  cmocka_unit_test(test_size),
            cmocka_unit_test(test_to_string), cmocka_unit_test(test_diags_format),
            cmocka_unit_test(test_find),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
