/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "cli.h"
#include "kvmlab/session.h"
#include "plan-print.h"

static int run(const CliGlobals *g, int argc, char **argv)
{
    CliLab c;
    int r = cli_lab_open("plan", argc, argv, SESSION_READ, &c);
    if (r < 0)
        return cli_help("plan");
    if (r != EXIT_OK)
        return r;
    Error err = ERROR_INIT;
    Plan *plan = NULL;
    int ret = EXIT_FAIL;
    if (lab_session_plan(c.session, &plan, &err) < 0) {
        cli_print_error(&err);
        goto done;
    }
    if (g->json)
        cli_plan_print_json_disks(plan, c.lab, c.session, stdout);
    else if (!g->quiet)
        cli_plan_print(plan, false, true, stdout);
    if (!g->quiet && !g->json)
        cli_plan_print_disks(plan, c.lab, c.session, stdout);
    if (!g->json && !g->quiet && c.info.sandboxed && !c.info.connected && c.info.sandbox_exists)
        printf("Note: the sandbox of lab '%s' exists but its daemon does not run, so what it "
               "holds is not known here; 'kvmlab up' starts it and then changes only what "
               "differs.\n",
               c.lab->name);
    ret = EXIT_OK;
done:
    error_clear(&err);
    plan_free(plan);
    cli_lab_close(&c);
    return ret;
}

const CliCommand cli_cmd_plan = {
        .name = "plan",
        .args = "[--delete-disks] [--allow-firewall] [FILE]",
        .summary = "Show what 'up' would change, and why",
        .help = "Reads FILE (default: kvmlab.yaml), looks at what the lab's host already has and\n"
                "prints one line per object: + create, > start, ~ update in place, -/+ recreate,\n"
                "- delete, = unchanged, each with its reason. Changes nothing; does not start the\n"
                "lab's sandbox.\n",
        .run = run,
};
