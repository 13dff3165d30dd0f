/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kvmlab/spawn.h"

#include <errno.h>
#include <linux/close_range.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kvmlab/cleanup.h"

void spawn_result_clear(SpawnResult *r)
{
    if (!r)
        return;
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

char *spawn_argv_join(const char *const *argv)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    for (size_t i = 0; argv[i]; i++)
        fprintf(f, "%s%s", i ? " " : "", argv[i]);
    fclose(f);
    return buf;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct Buf {
    char *data;
    size_t len, cap;
} Buf;

static int buf_append(Buf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return -ENOMEM;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

/* In the child: enter the namespace, wire the pipes, exec. Never returns. */
static void child_exec(const char *const *argv, const SpawnOpts *o, int in_fd, int out_fd,
                       int err_fd)
{
    if (o->netns) {
        char path[256];
        snprintf(path, sizeof(path), "/run/netns/%s", o->netns);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
            dprintf(err_fd, "cannot enter network namespace '%s': %s\n", o->netns, strerror(errno));
            _exit(127);
        }
    }
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || (err_fd != 2 && dup2(err_fd, 2) < 0))
        _exit(127);
    /* after the redirections, so a setup may still change where output goes */
    if (o->child_setup) {
        int r = o->child_setup(o->child_setup_data);
        if (r < 0) {
            dprintf(2, "cannot prepare '%s': %s\n", argv[0], strerror(-r));
            _exit(127);
        }
    }
    /* a fresh signal state: the parent may block or ignore some */
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    signal(SIGPIPE, SIG_DFL);
    /* nothing but 0-2 goes to the child: a daemon it starts (the sandbox's libvirtd) would keep
     * an inherited lock or pipe open long after kvmlab exits (found: a caller's flock held by the
     * sandbox's libvirtd). Marked close-on-exec, not closed, so the setup above could use them. */
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    execvp(argv[0], (char *const *)argv);
    dprintf(2, "cannot execute '%s': %s\n", argv[0], strerror(errno));
    _exit(127);
}

int spawn_run(const char *const *argv, const SpawnOpts *opts, SpawnResult *ret, Error *err)
{
    static const SpawnOpts defaults = {0};
    const SpawnOpts *o = opts ? opts : &defaults;
    int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
    Buf bout = {0}, berr = {0};
    int r;

    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(er, O_CLOEXEC) < 0) {
        r = error_set_errno(err, -errno, "Cannot create pipes for '%s'", argv[0]);
        goto cleanup;
    }
    pid_t pid = fork();
    if (pid < 0) {
        r = error_set_errno(err, -errno, "Cannot start '%s'", argv[0]);
        goto cleanup;
    }
    if (pid == 0)
        child_exec(argv, o, in[0], out[1], o->keep_stderr ? 2 : er[1]);

    close(in[0]);
    in[0] = -1;
    close(out[1]);
    out[1] = -1;
    close(er[1]);
    er[1] = -1;

    const char *feed = o->stdin_data;
    size_t feed_left = feed ? strlen(feed) : 0;
    if (!feed_left) {
        close(in[1]);
        in[1] = -1;
    } else {
        fcntl(in[1], F_SETFL, O_NONBLOCK);
    }

    long long deadline = now_ms() + (o->timeout_ms > 0 ? o->timeout_ms : 60000);
    bool timed_out = false;
    while (out[0] >= 0 || er[0] >= 0 || in[1] >= 0) {
        struct pollfd p[3];
        int np = 0, iout = -1, ierr = -1, iin = -1;
        if (out[0] >= 0)
            iout = np, p[np++] = (struct pollfd){.fd = out[0], .events = POLLIN};
        if (er[0] >= 0)
            ierr = np, p[np++] = (struct pollfd){.fd = er[0], .events = POLLIN};
        if (in[1] >= 0)
            iin = np, p[np++] = (struct pollfd){.fd = in[1], .events = POLLOUT};
        long long left = deadline - now_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        int n = poll(p, (nfds_t)np, (int)(left > 1000 ? 1000 : left));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        char chunk[8192];
        if (iout >= 0 && p[iout].revents) {
            ssize_t k = read(out[0], chunk, sizeof(chunk));
            if (k > 0)
                buf_append(&bout, chunk, (size_t)k);
            else if (k == 0 || errno != EINTR) {
                close(out[0]);
                out[0] = -1;
            }
        }
        if (ierr >= 0 && p[ierr].revents) {
            ssize_t k = read(er[0], chunk, sizeof(chunk));
            if (k > 0)
                buf_append(&berr, chunk, (size_t)k);
            else if (k == 0 || errno != EINTR) {
                close(er[0]);
                er[0] = -1;
            }
        }
        if (iin >= 0 && p[iin].revents) {
            ssize_t k = write(in[1], feed, feed_left);
            if (k > 0) {
                feed += k;
                feed_left -= (size_t)k;
            }
            if (feed_left == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
                close(in[1]);
                in[1] = -1;
            }
        }
    }
    /* the child may close its output and keep running: the deadline holds until it exits */
    int status = 0;
    for (;;) {
        if (timed_out)
            kill(pid, SIGKILL);
        pid_t w = waitpid(pid, &status, timed_out ? 0 : WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            r = error_set_errno(err, -errno, "Cannot wait for '%s'", argv[0]);
            goto cleanup;
        }
        if (w == 0) {
            if (now_ms() >= deadline)
                timed_out = true;
            else
                poll(NULL, 0, 20);
        }
    }
    if (timed_out) {
        _cleanup_free_ char *cmd = spawn_argv_join(argv);
        r = error_set(err, -ETIME, "Command '%s' did not finish within %d ms", cmd,
                      o->timeout_ms > 0 ? o->timeout_ms : 60000);
        goto cleanup;
    }
    if (ret) {
        ret->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        ret->out = bout.data ? bout.data : strdup("");
        ret->err = berr.data ? berr.data : strdup("");
        ret->timeout = false;
        bout.data = berr.data = NULL;
    }
    r = 0;
cleanup:
    for (int i = 0; i < 2; i++) {
        closep(&in[i]);
        closep(&out[i]);
        closep(&er[i]);
    }
    free(bout.data);
    free(berr.data);
    return r;
}

int spawn_check(const char *const *argv, const SpawnOpts *opts, char **ret_out, Error *err)
{
    SpawnResult res = {0};
    int r = spawn_run(argv, opts, &res, err);
    if (r < 0)
        return r;
    if (res.status != 0) {
        _cleanup_free_ char *cmd = spawn_argv_join(argv);
        const char *e = res.err && *res.err ? res.err : res.out;
        int len = (int)strcspn(e ? e : "", "\n");
        r = error_set(err, -EIO, "Command '%s' failed with status %d%s%.*s", cmd, res.status,
                      len ? ": " : "", len, e ? e : "");
        spawn_result_clear(&res);
        return r;
    }
    if (ret_out)
        *ret_out = steal_pointer(&res.out);
    spawn_result_clear(&res);
    return 0;
}
