/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the lab parser: any byte string as a lab file. A crash, a sanitizer
 * report, a leak or an input that runs longer than the runner's -timeout is a finding. The
 * input is passed with its length and without a terminating NUL, as lab_load_string()
 * promises to honour the length; reading past it is a finding too.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "kvmlab/error.h"
#include "kvmlab/lab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parse one input, format its diagnostics (the text a user sees) and free everything. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Error err = ERROR_INIT;
    LabDiags diags = {0};
    Lab *lab = NULL;

    int r = lab_load_string("fuzz.yaml", (const char *)data, size, &lab, &diags, &err);
    if (r == -EINVAL) {
        char *text = lab_diags_format(&diags);
        free(text);
    }
    lab_free(lab);
    lab_diags_clear(&diags);
    error_clear(&err);
    return 0;
}
