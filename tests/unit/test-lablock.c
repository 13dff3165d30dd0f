/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The per-lab lock (one run per lab, a file that exists only while held) and the interrupt flag.
 * Other holders are forked children, so the kernel's flock rules are what is tested. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvmlab/interrupt.h"
#include "kvmlab/lablock.h"

static char root[] = "/tmp/kvmlab-lablock-XXXXXX";

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* In a forked child: drop the inherited descriptors, as exec would (the lock's is O_CLOEXEC),
 * so the parent's lock is the parent's alone. */
static void close_inherited(void)
{
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
}

/* A child that takes the lock of "lab" (waiting or not) and exits with what it saw:
 * 0 taken, 1 busy naming @want_holder, 2 anything else. */
static pid_t child_take(bool wait, pid_t want_holder)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close_inherited();
        LabLock *l = NULL;
        pid_t holder = 0;
        Error err = ERROR_INIT;
        int r = lablock_take(root, "lab", wait, &l, &holder, &err);
        if (r == 0) {
            lablock_release(l);
            _exit(0);
        }
        char want[32];
        snprintf(want, sizeof(want), "PID %d ", (int)want_holder);
        _exit(r == -EBUSY && holder == want_holder && strstr(err.message, want) ? 1 : 2);
    }
    return pid;
}

static int child_status(pid_t pid)
{
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_take_release(void **state)
{
    char *path = lablock_path(root, "lab");
    char expect[4096];
    snprintf(expect, sizeof(expect), "%s/sandbox/.lab.lock", root);
    assert_string_equal(path, expect);

    LabLock *l = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(lablock_take(root, "lab", false, &l, NULL, &err), 0);
    assert_true(exists(path));
    /* the file names the holder */
    FILE *f = fopen(path, "r");
    int pid = 0;
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%d", &pid), 1);
    fclose(f);
    assert_int_equal(pid, (int)getpid());

    /* another process is refused at once, told who holds it */
    double t0 = now();
    assert_int_equal(child_status(child_take(false, getpid())), 1);
    assert_true(now() - t0 < 1.0);

    /* the same process again only counts: no deadlock, and the file stays until the last */
    LabLock *again = NULL;
    assert_int_equal(lablock_take(root, "lab", false, &again, NULL, &err), 0);
    assert_ptr_equal(again, l);
    lablock_release(again);
    assert_true(exists(path));
    assert_int_equal(child_status(child_take(false, getpid())), 1);

    /* released: the file is gone (its directory is the state root's sandbox/, which stays) */
    lablock_release(l);
    assert_false(exists(path));
    assert_int_equal(child_status(child_take(false, 0)), 0);
    assert_false(exists(path));
    free(path);
}

static void test_wait(void **state)
{
    char *path = lablock_path(root, "lab");
    LabLock *l = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(lablock_take(root, "lab", false, &l, NULL, &err), 0);
    /* a waiter blocks while we hold it, gets it once we let go (the file it opened was unlinked
     * meanwhile: it must take the new one), and leaves nothing */
    double t0 = now();
    pid_t w = child_take(true, 0);
    usleep(300000);
    assert_int_equal(waitpid(w, NULL, WNOHANG), 0);
    lablock_release(l);
    assert_int_equal(child_status(w), 0);
    assert_true(now() - t0 >= 0.3);
    assert_false(exists(path));
    free(path);
}

static void test_interrupt(void **state)
{
    interrupt_reset();
    assert_int_equal(interrupt_install(), 0);
    assert_int_equal(interrupt_pending(), 0);
    assert_null(interrupt_signal_name());
    /* a real signal only sets the flag; the first one is the one reported */
    raise(SIGTERM);
    raise(SIGINT);
    assert_int_equal(interrupt_pending(), SIGTERM);
    assert_string_equal(interrupt_signal_name(), "SIGTERM");
    interrupt_reset();

    /* a lock wait ends with -EINTR when a signal arrives (no SA_RESTART) */
    LabLock *l = NULL;
    Error err = ERROR_INIT;
    pid_t holder = fork();
    if (holder == 0) {
        close_inherited();
        LabLock *h = NULL;
        if (lablock_take(root, "lab", false, &h, NULL, NULL) < 0)
            _exit(2);
        sleep(10); /* bounded, should the test fail before it ends us */
        _exit(0);
    }
    char *path = lablock_path(root, "lab");
    for (int i = 0; i < 100 && !exists(path); i++)
        usleep(10000);
    usleep(50000);
    pid_t me = getpid();
    pid_t poker = fork();
    if (poker == 0) {
        usleep(200000);
        kill(me, SIGHUP);
        _exit(0);
    }
    assert_int_equal(lablock_take(root, "lab", true, &l, NULL, &err), -EINTR);
    assert_non_null(strstr(err.message, "Interrupted by SIGHUP"));
    error_clear(&err);
    waitpid(poker, NULL, 0);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    interrupt_reset();
    /* the holder died: its lock went with it, and the file is reused and then removed */
    assert_int_equal(lablock_take(root, "lab", false, &l, NULL, &err), 0);
    lablock_release(l);
    assert_false(exists(path));
    free(path);
}

static void test_ignored_stays_ignored(void **state)
{
    /* nohup: a signal ignored before install stays ignored */
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGHUP, SIG_IGN);
        interrupt_reset();
        if (interrupt_install() < 0)
            _exit(2);
        raise(SIGHUP);
        _exit(interrupt_pending() == 0 ? 0 : 1);
    }
    assert_int_equal(child_status(pid), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_take_release),
            cmocka_unit_test(test_wait),
            cmocka_unit_test(test_interrupt),
            cmocka_unit_test(test_ignored_stays_ignored),
    };
    if (!mkdtemp(root))
        return 1;
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/sandbox", root);
    rmdir(dir);
    rmdir(root);
    return r;
}
