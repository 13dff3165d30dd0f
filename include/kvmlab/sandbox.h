/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "kvmlab/error.h"

/*
 * The sandbox: a lab's own libvirtd inside a network namespace and a private mount namespace,
 * with libvirt's state directories bind-mounted from the lab's state directory and its socket
 * reachable from outside. It persists across commands, is reused while alive and is removed by
 * sandbox_destroy(). Nothing on the host's own network changes.
 *
 * Layout under the state root (KVMLAB_STATE_DIR, default /var/lib/kvmlab):
 *   sandbox/<lab>/{etc,run,lib,log,sock}  per-lab state, removed with the sandbox
 *   cache/libvirt                         libvirt's cache (QEMU capabilities), shared and kept,
 *                                         so a new sandbox starts in well under a second
 */
typedef struct Sandbox {
    char *lab;   /* lab name */
    char *root;  /* the state root */
    char *netns; /* network namespace name: <prefix><lab> */
    char *dir;   /* the lab's sandbox state directory */
    char *cache; /* shared libvirt cache directory */
    char *sock;  /* libvirtd's read-write socket */
    char *uri;   /* qemu+unix:///system?socket=<sock> */
} Sandbox;

/* The state root: $KVMLAB_STATE_DIR, else /var/lib/kvmlab. New string. */
char *sandbox_state_root(void);

/*
 * Describe (not start) the sandbox of lab @lab under @state_root (NULL: sandbox_state_root()).
 * The namespace name is $KVMLAB_NETNS_PREFIX (default "kvmlab-") followed by the lab name.
 */
int sandbox_new(const char *state_root, const char *lab, Sandbox **ret, Error *err);
void sandbox_free(Sandbox *sb);

/* Whether the sandbox's libvirtd runs and answers. Fills *ret_pid when non-NULL. */
bool sandbox_is_running(const Sandbox *sb, pid_t *ret_pid);

/* Whether anything of the sandbox exists (namespace or state directory). */
bool sandbox_exists(const Sandbox *sb);

/*
 * Make sure the sandbox runs: reuse a live one, otherwise create the namespace, write the
 * configuration and start libvirtd, waiting until its socket answers. On failure whatever this
 * call created is removed again. *ret_started tells whether a daemon was started.
 */
int sandbox_ensure(Sandbox *sb, bool *ret_started, Error *err);

/*
 * Remove the sandbox: destroy and undefine its domains and networks, end libvirtd and every
 * process left in the namespace (by PID), delete the namespace and the state directory. Missing
 * pieces are fine. The first error is kept, but every step is tried.
 */
int sandbox_destroy(Sandbox *sb, Error *err);

/* Pure: the libvirtd.conf and qemu.conf the sandbox runs with. New strings. */
char *sandbox_libvirtd_conf_format(const Sandbox *sb);
char *sandbox_qemu_conf_format(void);

/* The PIDs of processes whose network namespace is @netns. New array (may be empty). */
int sandbox_netns_pids(const char *netns, pid_t **ret, size_t *ret_n, Error *err);
