/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for vmw_dhcpd_parse(): any byte string as VMware's dhcpd.conf. A crash, a
 * sanitizer report, a leak or an input that runs longer than the runner's -timeout is a
 * finding. The input is passed with its length and without a terminating NUL; reading past it
 * is a finding too. The parser never fails but for memory, and every string it returns must be
 * NUL-free within its strlen() (touched here so ASan checks it is readable).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kvmlab/error.h"
#include "kvmlab/vmware.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Error err = ERROR_INIT;
    VmwWarnings w = {0};
    VmwDhcpd out = {0};
    size_t total = 0;

    if (vmw_dhcpd_parse((const char *)data, size, "fuzz", &out, &w, &err) == 0) {
        for (size_t i = 0; i < out.n_hosts; i++)
            total += strlen(out.hosts[i].name);
        total += out.n_subnets;
    }
    for (size_t i = 0; i < w.n; i++)
        total += strlen(w.v[i]);
    vmw_dhcpd_clear(&out);
    vmw_warnings_clear(&w);
    error_clear(&err);
    return total == SIZE_MAX; /* keeps the reads */
}
