/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kvmlab/dnsmasq.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/spawn.h"

/*
 * The host side of kvmlab's own dnsmasq: its files written, the process started in the lab's
 * network namespace, found again through its pid file, reloaded and stopped. The text comes
 * from vmnet/dnsmasq-conf.c.
 *
 * Measured with dnsmasq 2.90 (Debian 12): `dnsmasq --conf-file=CONF` forks, the daemon writes
 * the pid file before the first process exits (so the spawn returns with the file in place,
 * in about 10 ms) and keeps none of our pipes open; start-up failures (an address not on the
 * bridge, a bad option) come back as the first process's exit status and a "dnsmasq: ..."
 * line on stderr. The daemon then runs as 'nobody' (Debian's compiled-in user): the lease file,
 * pid file and log are opened as root before the drop (the pid file and log are handed to
 * 'nobody'), while dhcp-hostsfile and addn-hosts are read after it, at start and on SIGHUP. In
 * a directory 'nobody' cannot search, dnsmasq only logs "Permission denied" and hands out pool
 * addresses instead of the reservations, so dnsmasq_files_write() refuses such a directory.
 * On SIGTERM the daemon leaves its pid file behind (it cannot remove it from a root-owned
 * directory): dnsmasq_stop() removes it.
 */

/* Every directory from / down to @dir must let other users in (search permission), or the
 * unprivileged dnsmasq cannot read its hosts files. 0 or -EACCES with @err. */
static int dir_chain_check(const char *dir, Error *err)
{
    _cleanup_free_ char *p = realpath(dir, NULL);
    struct stat st;

    if (!p)
        return error_set_errno(err, -errno, "Cannot resolve directory '%s'", dir);
    for (char *s = p;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        const char *cur = *p ? p : "/";
        if (stat(cur, &st) < 0)
            return error_set_errno(err, -errno, "Cannot read directory '%s'", cur);
        if (!(st.st_mode & S_IXOTH))
            return error_set(err, -EACCES,
                             "Directory '%s' (mode %04o) does not let other users in: dnsmasq "
                             "reads its reservations as an unprivileged user and would ignore "
                             "them; allow search permission or use another state directory",
                             cur, (unsigned)(st.st_mode & 07777));
        *s = c;
        if (!c)
            break;
    }
    return 0;
}

int dnsmasq_files_write(const DnsmasqPaths *p, const char *conf, const char *hosts,
                        const char *addn_hosts, Error *err)
{
    int r = fs_mkdir_p(p->dir, 0755, err);
    if (r < 0)
        return r;
    r = dir_chain_check(p->dir, err);
    if (r < 0)
        return r;
    /* the hosts files first: a configuration never names files that are not there yet */
    r = fs_write_atomic(p->hosts, hosts, 0644, err);
    if (r < 0)
        return r;
    r = fs_write_atomic(p->addn_hosts, addn_hosts, 0644, err);
    if (r < 0)
        return r;
    return fs_write_atomic(p->conf, conf, 0644, err);
}

/* The pid a pid file names: > 0, or 0 when it is missing or holds no pid. */
static pid_t pid_file_read(const char *path)
{
    _cleanup_free_ char *text = NULL;
    char *end = NULL;

    if (fs_read_all(path, &text, NULL, NULL) < 0)
        return 0;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || v <= 0 || v > INT32_MAX || (*end && *end != '\n'))
        return 0;
    return (pid_t)v;
}

/* Whether @pid exists and is not a zombie (a daemon whose parent has not reaped it is gone for
 * us). */
static bool pid_alive(pid_t pid)
{
    char path[64];
    _cleanup_free_ char *stat = NULL;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (fs_read_all(path, &stat, NULL, NULL) < 0)
        return false;
    /* "PID (COMM) STATE ...": COMM may hold spaces and parentheses, the last ')' ends it */
    const char *close = strrchr(stat, ')');
    return close && close[1] == ' ' && close[2] != 'Z' && close[2] != 'X';
}

pid_t dnsmasq_find(const DnsmasqPaths *p)
{
    _cleanup_free_ char *cmdline = NULL, *want = NULL;
    char path[64];
    size_t len = 0;
    pid_t pid = pid_file_read(p->pid);

    if (pid <= 0 || !pid_alive(pid) || asprintf(&want, "--conf-file=%s", p->conf) < 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    if (fs_read_all(path, &cmdline, &len, NULL) < 0 || len == 0)
        return 0;

    /* argv[0] is dnsmasq (any path), and one argument names our configuration file */
    const char *end = cmdline + len;
    const char *arg0 = strrchr(cmdline, '/') ? strrchr(cmdline, '/') + 1 : cmdline;
    if (strcmp(arg0, "dnsmasq") != 0)
        return 0;
    for (const char *a = cmdline + strlen(cmdline) + 1; a < end; a += strlen(a) + 1)
        if (strcmp(a, want) == 0)
            return pid;
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int dnsmasq_start(const char *netns, const DnsmasqPaths *p, pid_t *ret_pid, Error *err)
{
    _cleanup_free_ char *arg = NULL;
    SpawnResult res = {0};
    int r;

    if (asprintf(&arg, "--conf-file=%s", p->conf) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    /* a pid file left by a dnsmasq that is gone must not be taken for the new one */
    if (unlink(p->pid) < 0 && errno != ENOENT)
        return error_set_errno(err, -errno, "Cannot remove the stale pid file '%s'", p->pid);

    const char *argv[] = {"dnsmasq", arg, NULL};
    SpawnOpts opts = {.netns = netns, .timeout_ms = 10000};
    r = spawn_run(argv, &opts, &res, err);
    if (r < 0)
        return r;
    if (res.status != 0) {
        /* dnsmasq starts its complaint with an empty line: "\ndnsmasq: failed to ..." */
        const char *msg = res.err ? res.err + strspn(res.err, " \t\r\n") : "";
        size_t n = strcspn(msg, "\r\n");
        if (n == 0)
            r = error_set(err, -EIO, "dnsmasq for '%s' did not start (status %d)", p->conf,
                          res.status);
        else
            r = error_set(err, -EIO, "dnsmasq for '%s' did not start: %.*s", p->conf, (int)n, msg);
        spawn_result_clear(&res);
        return r;
    }
    spawn_result_clear(&res);

    /* the daemon writes the pid file before the first process exits; wait a little anyway */
    for (int i = 0; i < 250; i++) {
        pid_t pid = dnsmasq_find(p);
        if (pid > 0) {
            *ret_pid = pid;
            return 0;
        }
        sleep_ms(20);
    }
    return error_set(err, -ETIMEDOUT,
                     "dnsmasq for '%s' started but no running dnsmasq is named by its pid file "
                     "'%s' after 5 s; see '%s'",
                     p->conf, p->pid, p->log);
}

int dnsmasq_reload(pid_t pid, Error *err)
{
    if (pid <= 0)
        return error_set(err, -EINVAL, "Cannot reload dnsmasq: no process given");
    if (kill(pid, SIGHUP) < 0)
        return error_set_errno(err, -errno, "Cannot reload dnsmasq (PID %d)", (int)pid);
    return 0;
}

/* Wait up to @ms for @pid to be gone. */
static bool wait_gone(pid_t pid, long ms)
{
    for (long t = 0; t <= ms; t += 20) {
        if (!pid_alive(pid))
            return true;
        sleep_ms(20);
    }
    return !pid_alive(pid);
}

int dnsmasq_stop(pid_t pid, const DnsmasqPaths *p, Error *err)
{
    if (pid > 0 && pid_alive(pid)) {
        if (kill(pid, SIGTERM) < 0 && errno != ESRCH)
            return error_set_errno(err, -errno, "Cannot stop dnsmasq (PID %d)", (int)pid);
        if (!wait_gone(pid, 5000)) {
            if (kill(pid, SIGKILL) < 0 && errno != ESRCH)
                return error_set_errno(err, -errno, "Cannot kill dnsmasq (PID %d)", (int)pid);
            if (!wait_gone(pid, 2000))
                return error_set(err, -ETIMEDOUT,
                                 "dnsmasq (PID %d) is still there 2 s after SIGKILL", (int)pid);
        }
    }
    if (p && unlink(p->pid) < 0 && errno != ENOENT)
        return error_set_errno(err, -errno, "Cannot remove the pid file '%s'", p->pid);
    return 0;
}
