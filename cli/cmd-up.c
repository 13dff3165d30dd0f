/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>

#include "cli.h"
#include "kvmlab/session.h"
#include "plan-print.h"
#include "progress.h"

typedef struct UpProgress {
    const CliGlobals *g;
    CliProgress line; /* image imports and downloads */
} UpProgress;

static void progress(const Action *a, int phase, void *userdata)
{
    UpProgress *u = userdata;
    const CliGlobals *g = u->g;
    cli_progress_end(&u->line);
    if (g->quiet || g->json || phase != 1)
        return;
    printf("%s %s '%s': done\n", action_type_to_string(a->type), resource_kind_to_string(a->kind),
           a->want ? a->want->name : a->have->name);
}

static int run(const CliGlobals *g, int argc, char **argv)
{
    CliLab c;
    int r = cli_lab_open("up", argc, argv, SESSION_WRITE, &c);
    if (r < 0)
        return cli_help("up");
    if (r != EXIT_OK)
        return r;
    Error err = ERROR_INIT;
    Plan *plan = NULL;
    int ret = EXIT_FAIL;
    const char *name = c.lab->name;
    if (c.info.sandboxed && !g->quiet && !g->json)
        printf("sandbox for lab '%s': %s (%s)\n", name,
               c.info.sandbox_started ? "started" : "running", c.info.uri);
    if (lab_session_plan(c.session, &plan, &err) < 0)
        goto fail;
    if (plan_changes(plan) > 0 && !g->quiet && !g->json) {
        cli_plan_print(plan, false, false, stdout);
        /* the daemon runs now: its answer decides the buses, and is cached for plan */
        cli_plan_print_disks(plan, c.lab, c.session, stdout);
    }
    UpProgress up = {.g = g};
    cli_progress_init(&up.line, g);
    lab_session_set_progress(c.session, cli_progress_fn, &up.line);
    r = lab_session_apply(c.session, plan, progress, &up, &err);
    cli_progress_end(&up.line);
    if (r < 0)
        goto fail;
    if (g->json)
        cli_plan_print(plan, true, true, stdout);
    else if (!g->quiet && plan_changes(plan) == 0)
        printf("Lab '%s' is up to date: nothing changed.\n", name);
    else if (!g->quiet)
        printf("Lab '%s' is up.\n", name);
    ret = EXIT_OK;
    goto done;
fail:
    cli_print_error(&err);
    lab_session_abort(c.session);
done:
    error_clear(&err);
    plan_free(plan);
    cli_lab_close(&c);
    return ret;
}

const CliCommand cli_cmd_up = {
        .name = "up",
        .args = "[--wait] [--delete-disks] [FILE]",
        .summary = "Make the lab real (idempotent)",
        .help = "Reads FILE (default: kvmlab.yaml), starts the lab's sandbox when it uses one,\n"
                "and creates, updates or recreates what the plan says. Running it again with an\n"
                "unchanged file changes nothing. When a step fails, what this run created is\n"
                "removed again and the error is printed. SIGINT, SIGTERM and SIGHUP stop it the\n"
                "same way at the next safe point (exit status 1).\n\n"
                "One kvmlab at a time per lab: while another up or down of the same lab runs,\n"
                "up refuses at once naming its PID; with --wait it waits for it instead.\n\n"
                "Disks are matched by their place in a node's disks: list. A disk beyond a\n"
                "shorter list is deleted with its data only with --delete-disks (taking a disk\n"
                "out of the middle deletes the last one); a node taken out of the file takes its\n"
                "disks with it.\n",
        .run = run,
        .changes_host = true,
};
