/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the .vmx parser: any byte string as a VMware machine. A crash, a
 * sanitizer report, a leak or an input that runs longer than the runner's -timeout is a
 * finding. The input is passed with its length and without a terminating NUL, as
 * vmw_vmx_parse() promises to honour the length; reading past it is a finding too. What the
 * parser returns goes through the mappings an import makes of it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/error.h"
#include "kvmlab/vmware.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parse one input, map its names and models as an import would, and free everything. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Error err = ERROR_INIT;
    VmwWarnings w = {0};
    VmwVmx v;

    if (vmw_vmx_parse((const char *)data, size, "fuzz.vmx", &v, &w, &err) == 0) {
        free(vmw_safe_name(v.display_name, 63));
        (void)vmw_guest_os_osinfo(v.guest_os);
        for (size_t i = 0; i < v.n_disks; i++)
            if (v.disks[i].file && strlen(v.disks[i].file) == 0)
                abort(); /* an empty fileName is NULL */
        for (size_t i = 0; i < v.n_nics; i++) {
            (void)vmw_nic_model(v.nics[i].virtual_dev, i % 2);
            free(vmw_safe_name(v.nics[i].vnet, 15));
        }
        vmw_vmx_clear(&v);
    }
    vmw_warnings_clear(&w);
    error_clear(&err);
    return 0;
}
