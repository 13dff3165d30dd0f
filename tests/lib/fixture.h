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

/* Parse a lab from @text (named @name in diagnostics); prints the problems and returns NULL
 * when it does not validate. */
struct Lab;
struct Lab *fixture_lab_load(const char *name, const char *text);

/* Build or reuse the test guest; fills static strings. 0 or -1 (message on stderr). */
int fixture_guest_image(const char **ret_kernel, const char **ret_initrd);

typedef struct FixtureNic {
    const char *network; /* libvirt network name, or "bridge:NAME" for a Linux bridge */
    const char *mac;     /* "52:54:00:..." */
} FixtureNic;

/*
 * Define and start a TCG test guest NAME on @conn with @nics, its console written to
 * @console_path, extra kernel command line @append (may be NULL). 0 or -1.
 */
int fixture_guest_start(virConnectPtr conn, const char *name, const FixtureNic *nics, size_t n_nics,
                        const char *console_path, const char *append);

typedef struct FixtureDisk {
    const char *path;   /* a qcow2 file (fixture_make_disk) */
    const char *serial; /* what the guest should report for it */
} FixtureDisk;

/* As fixture_guest_start(), with virtio disks and a NoCloud seed ISO on an IDE CD-ROM (pc). */
int fixture_guest_start_ex(virConnectPtr conn, const char *name, const FixtureNic *nics,
                           size_t n_nics, const FixtureDisk *disks, size_t n_disks,
                           const char *seed_iso, const char *console_path, const char *append);

/* A new qcow2 image of @size (qemu-img syntax, "64M"). 0 or -1. */
int fixture_make_disk(const char *path, const char *size);

/* A NoCloud seed ISO (volume label "cidata") with meta-data and user-data. 0 or -1. */
int fixture_make_seed(const char *path, const char *meta_data, const char *user_data);

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

/*
 * A TCP peer "outside": listens on @ip:@port inside network namespace @netns (a thread that
 * setns()es there), accepts one connection within @timeout_s, answers "SEEN=<peer address>" and
 * records that address. Start it, boot the guest, then wait for it.
 */
typedef struct FixturePeer FixturePeer;
FixturePeer *fixture_peer_start(const char *netns, const char *ip, int port, int timeout_s);
/* Wait for the peer's thread; returns the address it saw (new string) or NULL; frees @p. */
char *fixture_peer_finish(FixturePeer *p);
