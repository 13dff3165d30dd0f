/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The lab's NAT table as nft text: golden files, and the owner comment read back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "golden.h"
#include "kvmlab/vmnet.h"

static void test_table_golden(void **state)
{
    (void)state;
    Ipv4Net nat[2];
    assert_int_equal(addr_cidr_parse("192.168.208.0/24", &nat[0]), 0);
    assert_int_equal(addr_cidr_parse("10.55.0.0/24", &nat[1]), 0);
    VmnetForward fw[2] = {
            {LAB_PROTO_TCP, 2222, 0, 22, (char *)"cp"},
            {LAB_PROTO_UDP, 5353, 0, 53, (char *)"worker-1"},
    };
    assert_int_equal(addr_ipv4_parse("192.168.208.10", &fw[0].target_ip), 0);
    assert_int_equal(addr_ipv4_parse("10.55.0.20", &fw[1].target_ip), 0);
    VmnetForwardSet set = {(char *)"cka", nat, 2, fw, 2};
    char *text = vmnet_nft_table_format(&set, "0123456789abcdef");
    assert_int_equal(golden_check("nft/nat-and-forwards.out", text), 0);

    /* observation tells ours by the comment */
    char *lab = NULL, *hash = NULL;
    assert_int_equal(vmnet_nft_comment_parse(text, &lab, &hash), 0);
    assert_string_equal(lab, "cka");
    assert_string_equal(hash, "0123456789abcdef");
    free(lab);
    free(hash);
    free(text);

    VmnetForwardSet only_nat = {(char *)"home", nat, 1, NULL, 0};
    text = vmnet_nft_table_format(&only_nat, "feedfacefeedface");
    assert_int_equal(golden_check("nft/nat-only.out", text), 0);
    free(text);
}

static void test_foreign_table(void **state)
{
    (void)state;
    char *lab = NULL, *hash = NULL;
    assert_int_equal(vmnet_nft_comment_parse("table ip kvmlab-x {\n}\n", &lab, &hash), -ENOENT);
    assert_int_equal(
            vmnet_nft_comment_parse("table ip kvmlab-x {\n\tcomment \"mine\"\n}\n", &lab, &hash),
            -ENOENT);
    char *name = vmnet_nft_table_name("cka");
    assert_string_equal(name, "kvmlab-cka");
    free(name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_table_golden),
            cmocka_unit_test(test_foreign_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
