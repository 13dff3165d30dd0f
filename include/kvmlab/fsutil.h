/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "kvmlab/error.h"

/* Create @path and its parents with @mode; existing directories are fine. 0 or -errno. */
int fs_mkdir_p(const char *path, mode_t mode, Error *err);

/* Write @data to @path through a temporary file and rename(), so readers never see half. */
int fs_write_atomic(const char *path, const char *data, mode_t mode, Error *err);

/* Read a whole file into a new NUL-terminated string. -ENOENT (with @err set) when missing. */
int fs_read_all(const char *path, char **ret, size_t *ret_len, Error *err);

/* Remove @path recursively (does not follow symlinks, stays on one filesystem). Missing is fine. */
int fs_rm_rf(const char *path, Error *err);

/* Join two path parts with one '/'. New string, NULL on OOM. */
char *fs_path_join(const char *a, const char *b);
