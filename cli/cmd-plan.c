/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "cli.h"
#include "kvmlab/session.h"
#include "plan-print.h"

static int run(const CliGlobals *g, int argc, char **argv)
{
    const char *file = NULL;
    int r = cli_parse_file_args("plan", argc, argv, &file);
    if (r < 0)
        return cli_help("plan");
    if (r != EXIT_OK)
        return r;
    Lab *lab = NULL;
    r = cli_load_lab(file, &lab);
    if (r != EXIT_OK)
        return r;

    Error err = ERROR_INIT;
    LabSession *s = NULL;
    Plan *plan = NULL;
    int ret = EXIT_FAIL;
    if (lab_session_open(lab, NULL, SESSION_READ, &s, &err) < 0 ||
        lab_session_plan(s, &plan, &err) < 0) {
        cli_print_error(&err);
        goto done;
    }
    if (!g->quiet || g->json)
        cli_plan_print(plan, g->json, true, stdout);
    if (!g->json && !g->quiet && s->sandbox && !s->conn && sandbox_exists(s->sandbox))
        printf("Note: the sandbox of lab '%s' exists but its daemon does not run, so what it "
               "holds is not known here; 'kvmlab up' starts it and then changes only what "
               "differs.\n",
               lab->name);
    ret = EXIT_OK;
done:
    error_clear(&err);
    plan_free(plan);
    lab_session_free(s);
    lab_free(lab);
    return ret;
}

const CliCommand cli_cmd_plan = {
        .name = "plan",
        .args = "[FILE]",
        .summary = "Show what 'up' would change, and why",
        .help = "Reads FILE (default: kvmlab.yaml), looks at what the lab's host already has and\n"
                "prints one line per object: + create, > start, ~ update in place, -/+ recreate,\n"
                "- delete, = unchanged, each with its reason. Changes nothing; does not start the\n"
                "lab's sandbox.\n",
        .run = run,
};
