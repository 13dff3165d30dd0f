/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Out of memory while reading a lab file is an error (-ENOMEM in Error), never an abort: every
 * allocation of the parser is made to fail in turn (-Wl,--wrap on the allocation functions it
 * calls), for a valid file and for one full of problems.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "golden.h"
#include "kvmlab/lab.h"

static long fail_at; /* fail the Nth allocation from now; 0: never */
static long calls;

static bool fail_now(void)
{
    return fail_at && ++calls == fail_at;
}

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_reallocarray(void *p, size_t n, size_t size);
char *__real_strndup(const char *s, size_t n);
int __real_vasprintf(char **ret, const char *fmt, va_list ap);

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_reallocarray(void *p, size_t n, size_t size);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_vasprintf(char **ret, const char *fmt, va_list ap);

void *__wrap_malloc(size_t size)
{
    return fail_now() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_reallocarray(void *p, size_t n, size_t size)
{
    return fail_now() ? NULL : __real_reallocarray(p, n, size);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return fail_now() ? NULL : __real_strndup(s, n);
}

int __wrap_vasprintf(char **ret, const char *fmt, va_list ap)
{
    if (fail_now())
        return -1;
    return __real_vasprintf(ret, fmt, ap);
}

/* Fail each allocation of loading @rel in turn; returns how many allocations a load makes. */
static long fail_each(const char *rel, int ok_result)
{
    char *text = golden_read(rel);
    long n;

    assert_non_null(text);
    for (n = 1;; n++) {
        Lab *lab = NULL;
        LabDiags d = {0};
        Error err = ERROR_INIT;
        calls = 0;
        fail_at = n;
        int r = lab_load_string("oom.yaml", text, strlen(text), &lab, &d, &err);
        fail_at = 0;
        if (calls < n) {
            /* no allocation failed: the load ran to its end */
            assert_int_equal(r, ok_result);
            lab_free(lab);
            lab_diags_clear(&d);
            error_clear(&err);
            break;
        }
        if (r != -ENOMEM)
            fprintf(stderr, "allocation %ld failed, but the load returned %d\n", n, r);
        assert_int_equal(r, -ENOMEM);
        assert_null(lab);
        assert_int_equal(d.n, 0);
        assert_true(error_is_set(&err));
        assert_int_equal(err.code, -ENOMEM);
        error_clear(&err);
        lab_diags_clear(&d);
    }
    free(text);
    return n;
}

static void test_oom_valid(void **state)
{
    assert_true(fail_each("lab-parse/ok-anchors.yaml", 0) > 50);
}

static void test_oom_problems(void **state)
{
    assert_true(fail_each("lab-parse/many-problems.yaml", -EINVAL) > 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_oom_valid),
            cmocka_unit_test(test_oom_problems),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
