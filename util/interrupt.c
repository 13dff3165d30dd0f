/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SIGINT, SIGTERM and SIGHUP as a flag that long operations poll at their safe points. */
#include "kvmlab/interrupt.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

static volatile sig_atomic_t pending;

static void on_signal(int sig)
{
    /* the first signal wins: its name is the one the user is told */
    if (!pending)
        pending = sig;
}

int interrupt_install(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* no SA_RESTART: a sleep or poll returns with EINTR and its loop looks at the flag */
    sa.sa_flags = 0;
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct sigaction old;
        /* a signal the caller ignores stays ignored: `nohup kvmlab up` survives a hangup, and
         * a shell's background job is not stopped by the terminal's ^C */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;
        if (sigaction(sigs[i], &sa, NULL) < 0)
            return -errno;
    }
    return 0;
}

int interrupt_pending(void)
{
    return pending;
}

const char *interrupt_signal_name(void)
{
    switch (pending) {
    case 0:
        return NULL;
    case SIGINT:
        return "SIGINT";
    case SIGTERM:
        return "SIGTERM";
    case SIGHUP:
        return "SIGHUP";
    default:
        return "a signal";
    }
}

void interrupt_reset(void)
{
    pending = 0;
}

void interrupt_raise(int sig)
{
    on_signal(sig);
}
