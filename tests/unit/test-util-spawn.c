/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The child-process seam: argv only, output captured, exit status, and no descriptor but 0-2
 * passed on (a daemon started through it kept a caller's lock open). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvmlab/spawn.h"

static void test_output_and_status(void **state)
{
    (void)state;
    SpawnResult res = {0};
    const char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    assert_int_equal(spawn_run(argv, NULL, &res, NULL), 0);
    assert_int_equal(res.status, 3);
    assert_string_equal(res.out, "out\n");
    assert_string_equal(res.err, "err\n");
    spawn_result_clear(&res);
}

/* A descriptor the parent holds without close-on-exec (as a flock(1) caller's lock is) does not
 * reach the child. */
static void test_no_inherited_descriptors(void **state)
{
    (void)state;
    int fd = open("/dev/null", O_RDONLY); /* deliberately without O_CLOEXEC */
    assert_true(fd >= 3);
    SpawnResult res = {0};
    const char *argv[] = {"ls", "/proc/self/fd", NULL};
    assert_int_equal(spawn_run(argv, NULL, &res, NULL), 0);
    assert_int_equal(res.status, 0);
    /* 0, 1, 2, and the directory ls itself opened to list */
    int n = 0, saw_fd = 0;
    char want[16];
    snprintf(want, sizeof(want), "%d", fd);
    for (char *l = strtok(res.out, "\n"); l; l = strtok(NULL, "\n")) {
        n++;
        if (strcmp(l, want) == 0 && fd != 3)
            saw_fd = 1;
    }
    assert_false(saw_fd);
    assert_true(n <= 4);
    spawn_result_clear(&res);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_output_and_status),
            cmocka_unit_test(test_no_inherited_descriptors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
