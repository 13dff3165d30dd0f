/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for vmw_networking_parse(): any byte string as VMware's networking. A crash, a
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
    VmwNetworking out = {0};
    size_t total = 0;

    if (vmw_networking_parse((const char *)data, size, "fuzz", &out, &w, &err) == 0) {
        for (size_t i = 0; i < out.n; i++) {
            const VmwVnet *v = &out.v[i];
            if (i > 0 && out.v[i - 1].n >= v->n)
                __builtin_trap(); /* sorted, one per vnet */
            if (v->bridge_interface)
                total += strlen(v->bridge_interface);
            for (size_t k = 0; k < v->n_forwards; k++)
                if (v->forwards[k].description)
                    total += strlen(v->forwards[k].description);
            total += v->n_reservations;
        }
        if (out.auto_bridge_interface)
            total += strlen(out.auto_bridge_interface);
    }
    for (size_t i = 0; i < w.n; i++)
        total += strlen(w.v[i]);
    vmw_networking_clear(&out);
    vmw_warnings_clear(&w);
    error_clear(&err);
    return total == SIZE_MAX; /* keeps the reads */
}
