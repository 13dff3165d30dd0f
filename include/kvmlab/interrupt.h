/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/*
 * Interruption as a flag, never as an abrupt exit: the program installs handlers for SIGINT,
 * SIGTERM and SIGHUP once, and long-running code asks at its safe points whether one arrived,
 * undoes its unfinished step and returns -EINTR. Library code never installs handlers itself.
 */

/* Install the handlers (no SA_RESTART, so sleeps and waits return early); a signal that is
 * ignored when this is called stays ignored (nohup). Returns 0 or -errno. */
int interrupt_install(void);

/* The number of the first signal that arrived since interrupt_install(), 0 when none did. */
int interrupt_pending(void);

/* The name of the pending signal ("SIGINT"), or NULL when none is pending. Static string. */
const char *interrupt_signal_name(void);

/* Forget a pending signal (tests only). */
void interrupt_reset(void);

/* Test seam: behave as if @sig had arrived. */
void interrupt_raise(int sig);
