/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kvmlab/fsutil.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvmlab/cleanup.h"

int fs_mkdir_p(const char *path, mode_t mode, Error *err)
{
    _cleanup_free_ char *p = strdup(path);
    if (!p)
        return error_set(err, -ENOMEM, "Out of memory");
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(p, mode) < 0 && errno != EEXIST)
                return error_set_errno(err, -errno, "Cannot create directory '%s'", p);
            *s = c;
            if (!c)
                break;
        }
    }
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return error_set(err, -ENOTDIR, "Cannot create directory '%s': not a directory", path);
    return 0;
}

int fs_write_atomic(const char *path, const char *data, mode_t mode, Error *err)
{
    _cleanup_free_ char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return error_set_errno(err, -errno, "Cannot write '%s'", path);
    size_t left = strlen(data);
    const char *p = data;
    while (left) {
        ssize_t k = write(fd, p, left);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            int r = -errno;
            unlink(tmp);
            return error_set_errno(err, r, "Cannot write '%s'", path);
        }
        p += k;
        left -= (size_t)k;
    }
    if (fchmod(fd, mode) < 0 || rename(tmp, path) < 0) {
        int r = -errno;
        unlink(tmp);
        return error_set_errno(err, r, "Cannot write '%s'", path);
    }
    return 0;
}

int fs_read_all(const char *path, char **ret, size_t *ret_len, Error *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set_errno(err, -errno, "Cannot read '%s'", path);
    size_t cap = 4096, len = 0;
    _cleanup_free_ char *buf = malloc(cap);
    if (!buf)
        return error_set(err, -ENOMEM, "Out of memory");
    for (;;) {
        if (len + 1 >= cap) {
            char *n = realloc(buf, cap * 2);
            if (!n)
                return error_set(err, -ENOMEM, "Out of memory");
            buf = n;
            cap *= 2;
        }
        ssize_t k = read(fd, buf + len, cap - len - 1);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return error_set_errno(err, -errno, "Cannot read '%s'", path);
        }
        if (k == 0)
            break;
        len += (size_t)k;
    }
    buf[len] = 0;
    if (ret_len)
        *ret_len = len;
    *ret = steal_pointer(&buf);
    return 0;
}

static int rm_rf_at(int parent_fd, const char *name, dev_t dev, const char *top, Error *err)
{
    struct stat st;
    if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : error_set_errno(err, -errno, "Cannot remove '%s'", top);
    if (S_ISDIR(st.st_mode)) {
        if (st.st_dev != dev)
            return error_set(err, -EXDEV, "Refusing to remove '%s': a mount point lies inside",
                             top);
        int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return error_set_errno(err, -errno, "Cannot remove '%s'", top);
        DIR *d = fdopendir(fd);
        if (!d) {
            close(fd);
            return error_set_errno(err, -errno, "Cannot remove '%s'", top);
        }
        struct dirent *de;
        int r = 0;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            r = rm_rf_at(dirfd(d), de->d_name, dev, top, err);
            if (r < 0)
                break;
        }
        closedir(d);
        if (r < 0)
            return r;
        if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
            return error_set_errno(err, -errno, "Cannot remove '%s'", top);
        return 0;
    }
    if (unlinkat(parent_fd, name, 0) < 0 && errno != ENOENT)
        return error_set_errno(err, -errno, "Cannot remove '%s'", top);
    return 0;
}

int fs_rm_rf(const char *path, Error *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : error_set_errno(err, -errno, "Cannot remove '%s'", path);
    return rm_rf_at(AT_FDCWD, path, st.st_dev, path, err);
}

char *fs_path_join(const char *a, const char *b)
{
    char *p = NULL;
    size_t la = strlen(a);
    bool slash = la > 0 && a[la - 1] == '/';
    if (asprintf(&p, "%s%s%s", a, slash ? "" : "/", b[0] == '/' ? b + 1 : b) < 0)
        return NULL;
    return p;
}
