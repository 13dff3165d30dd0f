/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "kvmlab/error.h"

/*
 * One kvmlab at a time per lab: a whole `up` or `down` (sandboxed or on a URI) holds the lab's
 * lock, `<state root>/sandbox/.<lab>.lock`, an flock(2) on a file that holds the holder's PID.
 * The file exists only while somebody holds it: release unlinks it while still locked, and take
 * re-checks that the file it locked is still the one at the path (the inode), so a taker never
 * ends up holding a lock on an unlinked file. A crashed holder's lock is released by the kernel;
 * its file is reused and removed by the next holder.
 *
 * Taking a lock this process already holds just counts (sandbox_ensure() inside an `up` that
 * holds it), so nested takes never deadlock.
 */
typedef struct LabLock LabLock;

/* The lock file of lab @lab under @state_root. New string. */
char *lablock_path(const char *state_root, const char *lab);

/*
 * Take the lock of lab @lab under @state_root (NULL: sandbox_state_root()'s rule). With @wait
 * false a lock held elsewhere fails at once with -EBUSY, naming the holder's PID; with @wait true
 * it waits, and a pending SIGINT/SIGTERM/SIGHUP (see interrupt.h) ends the wait with -EINTR.
 * *ret_holder (when non-NULL) gets the holder's PID on -EBUSY, 0 when unknown.
 */
int lablock_take(const char *state_root, const char *lab, bool wait, LabLock **ret,
                 pid_t *ret_holder, Error *err);

/* Release (and, when this was the last take in this process, remove the file). Accepts NULL. */
void lablock_release(LabLock *lock);
