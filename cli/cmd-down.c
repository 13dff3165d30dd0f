/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "cli.h"
#include "kvmlab/session.h"
#include "plan-print.h"

static int run(const CliGlobals *g, int argc, char **argv)
{
    const char *file = NULL;
    int r = cli_parse_file_args("down", argc, argv, &file);
    if (r < 0)
        return cli_help("down");
    if (r != EXIT_OK)
        return r;
    Lab *lab = NULL;
    r = cli_load_lab(file, &lab);
    if (r != EXIT_OK)
        return r;

    Error err = ERROR_INIT;
    LabSession *s = NULL;
    Plan *plan = NULL;
    bool kept = false, had_sandbox = false;
    int ret = EXIT_FAIL;
    if (lab_session_open(lab, NULL, SESSION_REMOVE, &s, &err) < 0)
        goto fail;
    had_sandbox = s->sandbox && sandbox_exists(s->sandbox);
    if (s->sandbox && s->sandbox_started && !g->quiet && !g->json)
        printf("started the sandbox of lab '%s' to see what is inside\n", lab->name);
    if (lab_session_down(s, &plan, &kept, &err) < 0) {
    fail:
        cli_print_error(&err);
        goto done;
    }
    if (g->json) {
        cli_plan_print(plan, true, false, stdout);
    } else if (!g->quiet) {
        for (size_t i = 0; i < plan->n_actions; i++)
            printf("deleted %s '%s'\n", resource_kind_to_string(plan->actions[i].kind),
                   plan->actions[i].have->name);
        if (s->sandbox && kept)
            printf("kept the sandbox of lab '%s': it holds objects kvmlab did not make\n",
                   lab->name);
        else if (had_sandbox)
            printf("removed the sandbox of lab '%s'\n", lab->name);
        printf("Lab '%s' is down.\n", lab->name);
    }
    ret = EXIT_OK;
done:
    error_clear(&err);
    plan_free(plan);
    lab_session_free(s);
    lab_free(lab);
    return ret;
}

const CliCommand cli_cmd_down = {
        .name = "down",
        .args = "[FILE]",
        .summary = "Remove exactly what the lab made",
        .help = "Deletes every object whose metadata names this lab (whatever the file says now)\n"
                "and never touches others. A lab in a sandbox also has its sandbox removed,\n"
                "unless objects that kvmlab did not make are inside it.\n",
        .run = run,
};
