/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "kvmlab/nodedomain.h"
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

static const char *phase_word(NodePhase p)
{
    switch (p) {
    case NODE_PHASE_BOOTING:
        return "booting";
    case NODE_PHASE_ADDRESS:
        return "address";
    case NODE_PHASE_CLOUDINIT:
        return "cloud-init";
    case NODE_PHASE_READY:
        return "ready";
    case NODE_PHASE_FAILED:
        return "FAILED";
    }
    return "?";
}

typedef struct WaitOut {
    const CliGlobals *g;
    bool tty;
    bool drawn;
} WaitOut;

/* One line per node: redrawn in place on a terminal, a new line per change otherwise. */
static void wait_progress(const NodeWait *w, size_t n, size_t changed, void *userdata)
{
    WaitOut *o = userdata;
    if (o->g->quiet || o->g->json)
        return;
    if (!o->tty) {
        const NodeWait *x = &w[changed];
        printf("node '%s': %s%s%s\n", x->node, phase_word(x->phase), x->detail ? ": " : "",
               x->detail ? x->detail : "");
        fflush(stdout);
        return;
    }
    if (o->drawn)
        printf("\033[%zuA", n);
    for (size_t i = 0; i < n; i++)
        printf("\033[2K  %-16s %-10s %s\n", w[i].node, phase_word(w[i].phase),
               w[i].detail ? w[i].detail : "");
    o->drawn = true;
    fflush(stdout);
}

/* Wait for the nodes; print what each one said. EXIT_OK when all are ready. */
static int wait_nodes(const CliGlobals *g, CliLab *c, const Plan *plan, Error *err)
{
    if (cli_start_only) {
        if (g->json)
            printf(", \"nodes\": null}\n");
        return 0;
    }
    NodeWait *w = NULL;
    size_t n = 0;
    WaitOut o = {.g = g, .tty = isatty(STDOUT_FILENO) == 1};
    if (!g->quiet && !g->json) {
        for (size_t i = 0; i < plan->n_want; i++)
            if (plan->want[i].kind == RESOURCE_DOMAIN && !plan->want[i].passive) {
                printf("Waiting for the nodes (at most %d s; Ctrl-C leaves them booting):\n",
                       cli_timeout_s);
                break;
            }
    }
    int r = lab_session_wait(c->session, plan, cli_timeout_s, wait_progress, &o, &w, &n, err);
    for (size_t i = 0; i < n && !g->quiet; i++) {
        if (w[i].warning)
            fprintf(stderr, "kvmlab: warning: node '%s': %s\n", w[i].node, w[i].warning);
        if (w[i].fell_back && !g->json)
            printf("node '%s': kvm gave no sign of life in %.0f s; restarted under tcg\n",
                   w[i].node, w[i].fallback_s);
    }
    if (g->json) {
        printf(", \"nodes\": [");
        for (size_t i = 0; i < n; i++) {
            printf("%s{\"name\": ", i ? ", " : "");
            cli_json_string(stdout, w[i].node);
            printf(", \"state\": \"%s\", \"address\": ", phase_word(w[i].phase));
            if (w[i].address)
                cli_json_string(stdout, w[i].address);
            else
                printf("null");
            printf(", \"detail\": ");
            cli_json_string(stdout, w[i].detail ? w[i].detail : "");
            printf(", \"warning\": ");
            if (w[i].warning)
                cli_json_string(stdout, w[i].warning);
            else
                printf("null");
            printf("}");
        }
        printf("]}\n");
    }
    for (size_t i = 0; i < n; i++)
        node_wait_clear(&w[i]);
    free(w);
    return r;
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
    /* the lab's SSH key, token and CA exist before any of its nodes does */
    c.session->make_secrets = true;
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
    lab_session_prune_nodes(c.session, plan);
    if (g->json) {
        /* one object: {"plan": ..., "nodes": [...]} */
        printf("{\"plan\": ");
        cli_plan_print(plan, true, true, stdout);
    }
    /* the nodes are made now; a node that does not get ready leaves them as they are: the next
     * `up` waits for them again */
    if (wait_nodes(g, &c, plan, &err) < 0) {
        cli_print_error(&err);
        ret = EXIT_FAIL;
        goto done;
    } else if (!g->quiet && !g->json && plan_changes(plan) == 0)
        printf("Lab '%s' is up to date: nothing changed.\n", name);
    else if (!g->quiet && !g->json)
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
        .args = "[--wait] [--delete-disks] [--allow-firewall] [--timeout S] [--start-only] "
                "[FILE]",
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
                "disks with it.\n\n"
                "Then up waits for every node at once (at most --timeout seconds, default 1800):\n"
                "its address, cloud-init done, and the preflight report the guest prints on its\n"
                "console. A node that is not ready in time, or whose preflight fails, is named\n"
                "with the last lines of its console; the nodes stay as they are (exit status 1)\n"
                "and the next up waits for them again. Ctrl-C while waiting does the same.\n"
                "--start-only makes and starts the nodes without waiting for them (nodes whose\n"
                "disks hold no OS yet, scripts that wait their own way).\n",
        .run = run,
        .changes_host = true,
};
