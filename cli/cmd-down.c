/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/session.h"
#include "plan-print.h"

/*
 * `down --lab NAME [--connect URI]`: remove a lab whose file is gone or no longer valid. The
 * name goes through the lab-file parser, so it is checked like one.
 */
static int lab_from_name(const char *name, const char *connect, Lab **ret)
{
    /* a name is [a-z0-9-] only and a URI has no control characters: nothing can break out of
     * the quoted YAML scalars below (a quote in the URI is doubled, YAML's own escape) */
    if (strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(name) || !*name) {
        fprintf(stderr, "kvmlab: '%s' is not a lab name\n", name);
        return EXIT_USAGE;
    }
    for (const char *p = connect; p && *p; p++)
        if ((unsigned char)*p < 0x20) {
            fprintf(stderr, "kvmlab: the --connect URI holds a control character\n");
            return EXIT_USAGE;
        }
    char *quoted = NULL;
    size_t qlen = 0;
    FILE *q = open_memstream(&quoted, &qlen);
    if (!q)
        return EXIT_FAIL;
    for (const char *p = connect; p && *p; p++)
        fputs(*p == '\'' ? "''" : (char[]){*p, 0}, q);
    fclose(q);
    _cleanup_free_ char *qc = quoted;
    _cleanup_free_ char *text = NULL;
    if (asprintf(&text, "lab: '%s'\n%s%s%s", name, connect ? "connect: '" : "", connect ? qc : "",
                 connect ? "'\n" : "") < 0)
        return EXIT_FAIL;
    LabDiags d = {0};
    Error err = ERROR_INIT;
    int r = lab_load_string("--lab", text, strlen(text), ret, &d, &err);
    if (r < 0) {
        fprintf(stderr, "kvmlab: %s\n", d.n ? d.items[0].message : err.message);
        lab_diags_clear(&d);
        error_clear(&err);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

static int run(const CliGlobals *g, int argc, char **argv)
{
    const char *file = NULL, *name = NULL, *connect = NULL;
    bool wait = false;
    int r;
    /* --lab/--connect first (until "--"); what is left is the usual [FILE] */
    int k = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            while (i < argc)
                argv[k++] = argv[i++];
            break;
        }
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return cli_help("down");
        if ((strcmp(argv[i], "--lab") == 0 || strcmp(argv[i], "--connect") == 0) && i + 1 >= argc)
            return cli_usage_error("down", "'%s' needs a value", argv[i]);
        if (strcmp(argv[i], "--wait") == 0)
            wait = true;
        else if (strcmp(argv[i], "--lab") == 0)
            name = argv[++i];
        else if (strncmp(argv[i], "--lab=", 6) == 0)
            name = argv[i] + 6;
        else if (strcmp(argv[i], "--connect") == 0)
            connect = argv[++i];
        else if (strncmp(argv[i], "--connect=", 10) == 0)
            connect = argv[i] + 10;
        else
            argv[k++] = argv[i];
    }
    argc = k;
    argv[argc] = NULL;
    Lab *lab = NULL;
    if (name) {
        if (argc > 1)
            return cli_usage_error("down", "give either a lab file or --lab, not both");
        r = lab_from_name(name, connect, &lab);
        if (r != EXIT_OK)
            return r;
        /* no file to say where it lives: its sandbox when it has one */
        if (!lab->connect && lab_session_has_sandbox(NULL, lab->name))
            lab->connect = strdup("sandbox");
    } else {
        if (connect)
            return cli_usage_error("down", "--connect goes with --lab");
        r = cli_parse_file_args("down", argc, argv, &file);
        if (r < 0)
            return cli_help("down");
        if (r != EXIT_OK)
            return r;
        r = cli_load_lab(file, &lab);
        if (r != EXIT_OK)
            return r;
    }

    CliLab c;
    r = cli_lab_attach(lab, SESSION_REMOVE, wait, &c);
    if (r != EXIT_OK)
        return r;
    Error err = ERROR_INIT;
    Plan *plan = NULL;
    bool kept = false;
    int ret = EXIT_FAIL;
    const char *lab_name = c.lab->name;
    if (c.info.warning)
        fprintf(stderr, "kvmlab: sandbox of lab '%s': %s; removing it anyway\n", lab_name,
                c.info.warning);
    if (c.info.sandbox_started && !g->quiet && !g->json)
        printf("started the sandbox of lab '%s' to see what is inside\n", lab_name);
    if (lab_session_down(c.session, &plan, &kept, &err) < 0) {
        cli_print_error(&err);
        goto done;
    }
    if (g->json) {
        cli_plan_print(plan, true, false, stdout);
    } else if (!g->quiet) {
        for (size_t i = 0; i < plan->n_actions; i++) {
            const Action *a = &plan->actions[i];
            if (a->kind == RESOURCE_IMAGE)
                printf("released image '%s' (kept in the shared store: 'kvmlab image rm %s' "
                       "deletes it)\n",
                       a->have->name, a->have->name);
            else
                printf("deleted %s '%s'\n", resource_kind_to_string(a->kind), a->have->name);
        }
        if (c.info.sandboxed && kept)
            printf("kept the sandbox of lab '%s': it holds objects kvmlab did not make\n",
                   lab_name);
        else if (c.info.sandbox_exists)
            printf("removed the sandbox of lab '%s'\n", lab_name);
        printf("Lab '%s' is down.\n", lab_name);
    }
    ret = EXIT_OK;
done:
    error_clear(&err);
    plan_free(plan);
    cli_lab_close(&c);
    return ret;
}

const CliCommand cli_cmd_down = {
        .name = "down",
        .args = "[--wait] [FILE]",
        .summary = "Remove exactly what the lab made",
        .help = "Deletes every object whose metadata names this lab (whatever the file says now)\n"
                "and never touches others. A lab in a sandbox also has its sandbox removed,\n"
                "unless objects that kvmlab did not make are inside it.\n\n"
                "kvmlab down --lab NAME [--connect URI]: without a usable lab file,\n"
                "remove lab NAME (from its sandbox if it has one, else from\n"
                "--connect URI or the default libvirt).\n\n"
                "SIGINT, SIGTERM and SIGHUP stop it at the next safe point (exit status 1); run\n"
                "it again to finish. While another up or down of the same lab runs, down refuses\n"
                "at once naming its PID; with --wait it waits for it instead.\n",
        .run = run,
        .changes_host = true,
};
