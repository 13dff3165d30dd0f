/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Shared pieces of the integration and e2e tests: root check, a unique lab name, the state root
 * under the build tree (so libvirt's capability cache survives between runs), and the test guest
 * (tests/guest/) booted as a libvirt domain whose serial console is read back.
 */
#include <stdbool.h>
#include <stddef.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

/* True when the test may touch namespaces (root); prints a TAP-friendly reason otherwise. */
bool fixture_is_root(void);

/* $KVMLAB_BUILD_ROOT/test-state (created). Static string. */
const char *fixture_state_root(void);

/* "<prefix><pid % 100000>" (at most 12 characters): unique per test process. Static buffer. */
const char *fixture_lab_name(const char *prefix);

/* Build or reuse the test guest; fills static strings. 0 or -1 (message on stderr). */
int fixture_guest_image(const char **ret_kernel, const char **ret_initrd);

typedef struct FixtureNic {
    const char *network; /* libvirt network name */
    const char *mac;     /* "52:54:00:..." */
} FixtureNic;

/*
 * Define and start a TCG test guest NAME on @conn with @nics, its console written to
 * @console_path, extra kernel command line @append (may be NULL). 0 or -1.
 */
int fixture_guest_start(virConnectPtr conn, const char *name, const FixtureNic *nics, size_t n_nics,
                        const char *console_path, const char *append);

/* Destroy and undefine NAME (missing is fine). */
void fixture_guest_remove(virConnectPtr conn, const char *name);

/* Wait until the console file holds a line containing @needle, or @timeout_s passes.
 * Returns a new string with that whole line (from "KVMLAB-E2E: "), or NULL. */
char *fixture_console_wait(const char *path, const char *needle, int timeout_s);
/* The same for a line that holds both @needle and @needle2. */
char *fixture_console_wait2(const char *path, const char *needle, const char *needle2,
                            int timeout_s);

/* The value of "key=" in a KVMLAB-E2E line (up to the next space). New string or NULL. */
char *fixture_line_field(const char *line, const char *key);

/* Run an argv inside network namespace @netns (NULL: here); stdout in *ret_out (may be NULL).
 * Returns the exit status, or -1 when it could not run. */
int fixture_run(const char *netns, const char *const *argv, char **ret_out, int timeout_ms);
