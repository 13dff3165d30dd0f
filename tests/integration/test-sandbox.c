/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sandbox for real: a private libvirtd in its own network and mount namespaces. */
#include <errno.h>
#include <net/if.h>
#include <unistd.h>
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

#include <cmocka.h>

#include "fixture.h"
#include "kvmlab/sandbox.h"
#include "kvmlab/virt.h"

static Sandbox *sb;

static int setup(void **state)
{
    if (!fixture_is_root())
        return 0;
    Error err = ERROR_INIT;
    if (sandbox_new(fixture_state_root(), fixture_lab_name("itsb"), &sb, &err) < 0) {
        fprintf(stderr, "# %s\n", err.message);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    if (sb) {
        sandbox_destroy(sb, NULL);
        sandbox_free(sb);
    }
    return 0;
}

static size_t count_root_links(void)
{
    struct if_nameindex *l = if_nameindex(), *p;
    size_t n = 0;
    for (p = l; p && p->if_index; p++)
        n++;
    if_freenameindex(l);
    return n;
}

static ino_t ns_inode(pid_t pid)
{
    char path[64];
    struct stat st;
    snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, "net");
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

static ino_t mnt_inode(pid_t pid)
{
    char path[64];
    struct stat st;
    snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* Ended: no such process, or a zombie its parent has not reaped yet. */
static bool gone(pid_t pid)
{
    char path[64], line[256] = "";
    if (kill(pid, 0) < 0)
        return true;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return true;
    if (!fgets(line, sizeof(line), f))
        line[0] = 0;
    fclose(f);
    char *end = strrchr(line, ')');
    return end && end[1] == ' ' && end[2] == 'Z';
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_lifecycle(void **state)
{
    if (!sb)
        skip();
    Error err = ERROR_INIT;
    size_t links_before = count_root_links();
    bool started = false;

    double t0 = now();
    int r = sandbox_ensure(sb, &started, &err);
    if (r < 0)
        fprintf(stderr, "# %s\n", err.message);
    assert_int_equal(r, 0);
    assert_true(started);
    printf("# sandbox start: %.2f s\n", now() - t0);

    pid_t pid = 0;
    assert_true(sandbox_is_running(sb, &pid));
    assert_true(pid > 0);
    /* the daemon lives in other network and mount namespaces than we do */
    assert_int_not_equal(ns_inode(pid), ns_inode(getpid()));
    assert_int_not_equal(mnt_inode(pid), mnt_inode(getpid()));

    /* reachable from here through the socket in the state directory */
    virConnectPtr c = NULL;
    assert_int_equal(virt_connect(sb->uri, &c, &err), 0);
    char *caps = virConnectGetCapabilities(c);
    assert_non_null(caps);
    assert_non_null(strstr(caps, "qemu-system-x86_64"));
    free(caps);
    /* a network defined inside the sandbox makes its bridge there, not here */
    const char *xml = "<network><name>probe</name><bridge name='kvtprobe0'/>"
                      "<ip address='10.251.7.1' prefix='24'/></network>";
    virNetworkPtr net = virNetworkCreateXML(c, xml);
    if (!net)
        fprintf(stderr, "# %s\n", virGetLastErrorMessage());
    assert_non_null(net);
    assert_int_equal(if_nametoindex("kvtprobe0"), 0);
    char *out = NULL;
    const char *argv[] = {"ip", "-o", "addr", "show", "dev", "kvtprobe0", NULL};
    assert_int_equal(fixture_run(sb->netns, argv, &out, 10000), 0);
    assert_non_null(strstr(out, "10.251.7.1/24"));
    free(out);
    virNetworkFree(net);
    virConnectClose(c);

    /* a second ensure reuses the running daemon */
    started = true;
    assert_int_equal(sandbox_ensure(sb, &started, &err), 0);
    assert_false(started);
    pid_t pid2 = 0;
    assert_true(sandbox_is_running(sb, &pid2));
    assert_int_equal(pid, pid2);

    /* destroy leaves nothing: no daemon, no processes, no namespace, no state directory */
    assert_int_equal(sandbox_destroy(sb, &err), 0);
    assert_true(gone(pid));
    pid_t *pids = NULL;
    size_t n = 0;
    assert_int_equal(sandbox_netns_pids(sb->netns, &pids, &n, &err), 0);
    assert_int_equal(n, 0);
    free(pids);
    assert_false(sandbox_exists(sb));
    assert_int_equal(count_root_links(), links_before);

    /* a new sandbox reuses libvirt's capability cache: it starts much faster than cold */
    t0 = now();
    assert_int_equal(sandbox_ensure(sb, &started, &err), 0);
    assert_true(started);
    printf("# sandbox warm start: %.2f s\n", now() - t0);
    struct stat st;
    char cache[4096];
    snprintf(cache, sizeof(cache), "%s/qemu/capabilities", sb->cache);
    assert_int_equal(stat(cache, &st), 0);
    assert_int_equal(sandbox_destroy(sb, &err), 0);
    assert_false(sandbox_exists(sb));
    error_clear(&err);
}

static void test_stale_pidfile(void **state)
{
    if (!sb)
        skip();
    Error err = ERROR_INIT;
    /* a pid file naming some other process must not be mistaken for our daemon */
    char dir[4096], pidfile[4200];
    snprintf(dir, sizeof(dir), "%s", sb->dir);
    assert_int_equal(mkdir(dir, 0700) == 0 || errno == EEXIST, 1);
    snprintf(pidfile, sizeof(pidfile), "%s/libvirtd.pid", dir);
    FILE *f = fopen(pidfile, "w");
    assert_non_null(f);
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    assert_false(sandbox_is_running(sb, NULL));
    /* destroy must not kill us, and must clean the directory */
    assert_int_equal(sandbox_destroy(sb, &err), 0);
    assert_false(sandbox_exists(sb));
    error_clear(&err);
}

/* Start `sleep 300` inside @netns in the background, as a user's shell there would be. */
static pid_t start_sleeper(const char *netns)
{
    pid_t pid = fork();
    if (pid == 0) {
        execlp("ip", "ip", "netns", "exec", netns, "sleep", "300", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static bool alive(pid_t pid)
{
    return waitpid(pid, NULL, WNOHANG) == 0;
}

static void test_user_process_survives(void **state)
{
    if (!sb)
        skip();
    Error err = ERROR_INIT;
    assert_int_equal(sandbox_ensure(sb, NULL, &err), 0);
    pid_t user = start_sleeper(sb->netns);
    assert_true(user > 0);
    usleep(300000);
    assert_true(alive(user));
    /* destroy ends the daemon and what it started, never a user's process in the namespace */
    assert_int_equal(sandbox_destroy(sb, &err), 0);
    assert_false(sandbox_exists(sb));
    assert_true(alive(user));
    kill(user, SIGKILL);
    waitpid(user, NULL, 0);
    error_clear(&err);
}

static void test_foreign_namespace_untouched(void **state)
{
    if (!sb)
        skip();
    Error err = ERROR_INIT;
    /* somebody made a namespace with the sandbox's name: kvmlab neither uses nor removes it */
    const char *add[] = {"ip", "netns", "add", sb->netns, NULL};
    assert_int_equal(fixture_run(NULL, add, NULL, 10000), 0);
    pid_t user = start_sleeper(sb->netns);
    usleep(300000);
    int r = sandbox_ensure(sb, NULL, &err);
    assert_int_equal(r, -EEXIST);
    assert_non_null(strstr(err.message, "not made by kvmlab"));
    error_clear(&err);
    assert_true(sandbox_destroy(sb, &err) < 0);
    error_clear(&err);
    assert_true(alive(user));
    char path[128];
    snprintf(path, sizeof(path), "/run/netns/%s", sb->netns);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    kill(user, SIGKILL);
    waitpid(user, NULL, 0);
    const char *del[] = {"ip", "netns", "delete", sb->netns, NULL};
    assert_int_equal(fixture_run(NULL, del, NULL, 10000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_lifecycle),
            cmocka_unit_test(test_stale_pidfile),
            cmocka_unit_test(test_user_process_survives),
            cmocka_unit_test(test_foreign_namespace_untouched),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
