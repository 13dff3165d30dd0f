/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>

#include "cli.h"
#include "kvmlab/interrupt.h"
#include "kvmlab/session.h"
#include "plan-print.h"

static void progress(const Action *a, int phase, void *userdata)
{
    const CliGlobals *g = userdata;
    if (g->quiet || g->json || phase != 1)
        return;
    printf("%s %s '%s': done\n", action_type_to_string(a->type), resource_kind_to_string(a->kind),
           a->want ? a->want->name : a->have->name);
}

static int run(const CliGlobals *g, int argc, char **argv)
{
    const char *file = NULL;
    bool wait = false;
    int r = cli_parse_run_args("up", argc, argv, &file, &wait);
    if (r < 0)
        return cli_help("up");
    if (r != EXIT_OK)
        return r;
    Lab *lab = NULL;
    r = cli_load_lab(file, &lab);
    if (r != EXIT_OK)
        return r;

    /* SIGINT, SIGTERM and SIGHUP stop the run at its next safe point, which undoes the step */
    interrupt_install();
    LabLock *lock = NULL;
    r = cli_lab_lock(lab, wait, &lock);
    if (r != EXIT_OK) {
        lab_free(lab);
        return r;
    }

    Error err = ERROR_INIT;
    LabSession *s = NULL;
    Plan *plan = NULL;
    int ret = EXIT_FAIL;
    if (lab_session_open(lab, NULL, SESSION_WRITE, &s, &err) < 0)
        goto fail;
    if (s->sandbox && !g->quiet && !g->json)
        printf("sandbox for lab '%s': %s (%s)\n", lab->name,
               s->sandbox_started ? "started" : "running", s->sandbox->uri);
    if (interrupt_pending()) {
        error_set(&err, -EINTR, "Interrupted by %s; nothing of lab '%s' was changed",
                  interrupt_signal_name(), lab->name);
        goto fail;
    }
    if (lab_session_plan(s, &plan, &err) < 0)
        goto fail;
    if (plan_changes(plan) > 0 && !g->quiet && !g->json)
        cli_plan_print(plan, false, false, stdout);
    if (lab_session_apply(s, plan, progress, (void *)g, &err) < 0)
        goto fail;
    if (g->json)
        cli_plan_print(plan, true, true, stdout);
    else if (!g->quiet && plan_changes(plan) == 0)
        printf("Lab '%s' is up to date: nothing changed.\n", lab->name);
    else if (!g->quiet)
        printf("Lab '%s' is up.\n", lab->name);
    ret = EXIT_OK;
    goto done;
fail:
    cli_print_error(&err);
    lab_session_abort(s);
done:
    error_clear(&err);
    plan_free(plan);
    lab_session_free(s);
    lablock_release(lock);
    lab_free(lab);
    return ret;
}

const CliCommand cli_cmd_up = {
        .name = "up",
        .args = "[--wait] [FILE]",
        .summary = "Make the lab real (idempotent)",
        .help = "Reads FILE (default: kvmlab.yaml), starts the lab's sandbox when it uses one,\n"
                "and creates, updates or recreates what the plan says. Running it again with an\n"
                "unchanged file changes nothing. When a step fails, what this run created is\n"
                "removed again and the error is printed. SIGINT, SIGTERM and SIGHUP stop it the\n"
                "same way at the next safe point (exit status 1).\n\n"
                "One kvmlab at a time per lab: while another up or down of the same lab runs,\n"
                "up refuses at once naming its PID; with --wait it waits for it instead.\n",
        .run = run,
};
