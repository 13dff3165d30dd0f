/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "kvmlab/error.h"

/*
 * The one seam for child processes: an argv (never a shell), captured output, a timeout, and
 * optionally a network namespace to run in. Tests inject failures with -Wl,--wrap=spawn_run.
 */
typedef struct SpawnOpts {
    const char *netns;      /* run inside /run/netns/NETNS when non-NULL */
    const char *stdin_data; /* fed to the child's stdin when non-NULL */
    int timeout_ms;         /* 0: 60 s; the child is killed (SIGKILL) when it runs longer */
    bool keep_stderr;       /* let stderr through to ours instead of capturing it */
    /* Run in the child after entering @netns and before exec (namespaces, mounts). Returns 0 or
     * a negative errno; a failure is reported as exit status 127 with a message on stderr. */
    int (*child_setup)(void *userdata);
    void *child_setup_data;
} SpawnOpts;

typedef struct SpawnResult {
    int status;   /* exit status (0..255), or 128+signal */
    char *out;    /* captured stdout, NUL-terminated, owned */
    char *err;    /* captured stderr, NUL-terminated, owned */
    bool timeout; /* killed because the timeout passed */
} SpawnResult;

/*
 * Run argv[0] (looked up in PATH) with @argv and wait for it. Returns 0 when the child ran (its
 * exit status is in @ret, whatever it is); a negative errno when it could not be started or
 * waited for, or when it timed out (-ETIME), with @err set. @ret may be NULL.
 */
int spawn_run(const char *const *argv, const SpawnOpts *opts, SpawnResult *ret, Error *err);

/*
 * spawn_run() that also treats a non-zero exit as failure: -EIO with @err naming the command and
 * quoting the first line of its stderr. Stdout is stored in *ret_out when non-NULL.
 */
int spawn_check(const char *const *argv, const SpawnOpts *opts, char **ret_out, Error *err);

void spawn_result_clear(SpawnResult *r);

/* Join argv into one line for messages ("ip netns add x"). New string. */
char *spawn_argv_join(const char *const *argv);
