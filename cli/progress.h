/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"

/*
 * Progress of long steps (image downloads, conversions) on a terminal: one line, rewritten in
 * place, "downloading NAME: 45% (120/300 MiB)". Nothing at all when stderr is not a terminal
 * or --quiet was given, so logs and pipes stay clean. Pass cli_progress_fn and a CliProgress as
 * an ImageProgressFn and its userdata.
 */
typedef struct CliProgress {
    FILE *out;      /* stderr */
    bool enabled;   /* a terminal and not --quiet */
    bool open_line; /* a progress line is shown and not finished yet */
    char what[128]; /* what the shown line is about */
    int percent;    /* shown percentage, -1 none */
    uint64_t shown_done;
    long long last_ms; /* when the line was last drawn */
} CliProgress;

/* Start: enabled when stderr is a terminal and @g is not quiet. */
void cli_progress_init(CliProgress *p, const CliGlobals *g);

/* An ImageProgressFn: @userdata is a CliProgress. Redraws at most ten times a second, and
 * always when a step starts or ends. */
void cli_progress_fn(const char *what, uint64_t done, uint64_t total, void *userdata);

/* Finish the shown line (before printing anything else). */
void cli_progress_end(CliProgress *p);

/* "(120/300 MiB)", "(1.2/3.4 GiB)", "(12 KiB)" into @buf: @done of @total (0: unknown) in
 * one unit, chosen by the larger. Pure, for tests. */
void cli_progress_format(char *buf, size_t size, const char *what, uint64_t done, uint64_t total);
