/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The per-lab lock: flock on a file that exists only while held. */
#include "kvmlab/lablock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/interrupt.h"

struct LabLock {
    char *path;
    int fd;
    pid_t owner; /* a forked child inherits the table, not the right to count on it */
    unsigned refs;
    LabLock *next;
};

/* The locks this process holds: a second take of one of them only counts. */
static LabLock *held;
static pthread_mutex_t held_mutex = PTHREAD_MUTEX_INITIALIZER;

char *lablock_path(const char *state_root, const char *lab)
{
    const char *env = getenv("KVMLAB_STATE_DIR");
    const char *root = state_root ? state_root : env && *env ? env : "/var/lib/kvmlab";
    char *p = NULL;
    if (asprintf(&p, "%s/sandbox/.%s.lock", root, lab) < 0)
        return NULL;
    return p;
}

static pid_t read_holder(int fd)
{
    char buf[32];
    /* the holder writes its PID right after it locks: give it a moment */
    for (int i = 0; i < 20; i++) {
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (n > 0) {
            buf[n] = 0;
            long pid = strtol(buf, NULL, 10);
            if (pid > 0)
                return (pid_t)pid;
        }
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* Whether @fd still is the file at @path (release unlinks it while locked). */
static bool still_linked(int fd, const char *path)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

int lablock_take(const char *state_root, const char *lab, bool wait, LabLock **ret,
                 pid_t *ret_holder, Error *err)
{
    _cleanup_free_ char *path = lablock_path(state_root, lab);
    int r;

    if (ret_holder)
        *ret_holder = 0;
    if (!path)
        return error_set(err, -ENOMEM, "Out of memory");

    pthread_mutex_lock(&held_mutex);
    for (LabLock *l = held; l; l = l->next)
        if (l->owner == getpid() && strcmp(l->path, path) == 0) {
            l->refs++;
            pthread_mutex_unlock(&held_mutex);
            *ret = l;
            return 0;
        }
    pthread_mutex_unlock(&held_mutex);

    _cleanup_free_ char *parent = strdup(path);
    if (!parent)
        return error_set(err, -ENOMEM, "Out of memory");
    *strrchr(parent, '/') = 0;

    for (int vanished = 0;;) {
        r = fs_mkdir_p(parent, 0700, err);
        if (r < 0)
            return r;
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
            if (errno == ENOENT && ++vanished < 100)
                continue; /* the directory went away under us (a `down` of the whole state) */
            return error_set_errno(err, -errno, "Cannot open lock file '%s'", path);
        }
        if (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
            r = -errno;
            if (r == -EWOULDBLOCK) {
                pid_t holder = read_holder(fd);
                close(fd);
                if (ret_holder)
                    *ret_holder = holder;
                if (holder > 0)
                    return error_set(err, -EBUSY,
                                     "Lab '%s' is busy: kvmlab with PID %d holds its lock '%s'; "
                                     "try again later or pass '--wait'",
                                     lab, (int)holder, path);
                return error_set(err, -EBUSY,
                                 "Lab '%s' is busy: another kvmlab holds its lock '%s'; try "
                                 "again later or pass '--wait'",
                                 lab, path);
            }
            close(fd);
            if (r == -EINTR && !interrupt_pending())
                continue;
            if (r == -EINTR)
                return error_set(err, -EINTR,
                                 "Interrupted by %s while waiting for the lock of lab '%s'",
                                 interrupt_signal_name(), lab);
            return error_set_errno(err, r, "Cannot lock '%s'", path);
        }
        if (!still_linked(fd, path)) {
            /* the previous holder removed it between our open and our lock: take the new one */
            close(fd);
            continue;
        }
        char pid[32];
        int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
        if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
            r = -errno;
            unlink(path);
            close(fd);
            return error_set_errno(err, r, "Cannot write lock file '%s'", path);
        }
        LabLock *l = calloc(1, sizeof(*l));
        if (!l) {
            unlink(path);
            close(fd);
            return error_set(err, -ENOMEM, "Out of memory");
        }
        l->path = steal_pointer(&path);
        l->fd = fd;
        l->owner = getpid();
        l->refs = 1;
        pthread_mutex_lock(&held_mutex);
        l->next = held;
        held = l;
        pthread_mutex_unlock(&held_mutex);
        *ret = l;
        return 0;
    }
}

void lablock_release(LabLock *lock)
{
    if (!lock)
        return;
    pthread_mutex_lock(&held_mutex);
    if (--lock->refs > 0) {
        pthread_mutex_unlock(&held_mutex);
        return;
    }
    for (LabLock **p = &held; *p; p = &(*p)->next)
        if (*p == lock) {
            *p = lock->next;
            break;
        }
    pthread_mutex_unlock(&held_mutex);
    /* unlink while still locked: a waiter that then gets the lock sees the inode is gone and
     * opens the path anew, so two holders can never exist */
    unlink(lock->path);
    close(lock->fd);
    free(lock->path);
    free(lock);
}
