/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One progress line on a terminal for downloads and conversions. */
#include "progress.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KIB (1024ULL)
#define MIB (1024ULL * 1024)
#define GIB (1024ULL * 1024 * 1024)

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cli_progress_init(CliProgress *p, const CliGlobals *g)
{
    *p = (CliProgress){.out = stderr, .percent = -1};
    p->enabled = !(g && g->quiet) && isatty(STDERR_FILENO);
}

static void amount(char *buf, size_t size, uint64_t v, uint64_t unit)
{
    if (unit == GIB)
        snprintf(buf, size, "%.1f", (double)v / (double)GIB);
    else
        snprintf(buf, size, "%" PRIu64, v / unit);
}

void cli_progress_format(char *buf, size_t size, const char *what, uint64_t done, uint64_t total)
{
    uint64_t big = total > done ? total : done;
    uint64_t unit = big >= GIB ? GIB : big >= MIB ? MIB : KIB;
    const char *uname = unit == GIB ? "GiB" : unit == MIB ? "MiB" : "KiB";
    char d[32], t[32];
    amount(d, sizeof(d), done, unit);
    amount(t, sizeof(t), total, unit);
    if (total > 0) {
        unsigned pct = (unsigned)(done >= total ? 100 : done * 100 / total);
        snprintf(buf, size, "%s: %u%% (%s/%s %s)", what, pct, d, t, uname);
    } else {
        snprintf(buf, size, "%s: %s %s", what, d, uname);
    }
}

void cli_progress_fn(const char *what, uint64_t done, uint64_t total, void *userdata)
{
    CliProgress *p = userdata;
    if (!p || !p->enabled)
        return;
    bool same = p->open_line && strncmp(p->what, what, sizeof(p->what) - 1) == 0;
    int percent = total ? (int)(done >= total ? 100 : done * 100 / total) : -1;
    long long now = now_ms();
    bool end = total && done >= total;
    if (same) {
        if (!end && now - p->last_ms < 100)
            return; /* ten redraws a second are plenty */
        if (percent >= 0 ? percent == p->percent : done == p->shown_done)
            return; /* nothing visible changed */
    }
    if (p->open_line && !same)
        fputc('\n', p->out);
    char line[256];
    cli_progress_format(line, sizeof(line), what, done, total);
    /* \r and "erase to the end of the line": the new text may be shorter */
    fprintf(p->out, "\r%s\033[K", line);
    fflush(p->out);
    snprintf(p->what, sizeof(p->what), "%s", what);
    p->open_line = true;
    p->percent = percent;
    p->shown_done = done;
    p->last_ms = now;
}

void cli_progress_end(CliProgress *p)
{
    if (p && p->enabled && p->open_line) {
        fputc('\n', p->out);
        fflush(p->out);
    }
    if (p)
        p->open_line = false;
}
