/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kvmlab: argument parsing and dispatch. Every error is printed here or in cli/common.c, once. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/interrupt.h"

static const CliCommand *const commands[] = {
        &cli_cmd_init, &cli_cmd_validate, &cli_cmd_plan,   &cli_cmd_up,
        &cli_cmd_down, &cli_cmd_status,   &cli_cmd_ssh,    &cli_cmd_console,
        &cli_cmd_disk, &cli_cmd_image,    &cli_cmd_import,
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: kvmlab [OPTIONS] COMMAND [ARGS]\n\n"
               "VM labs on libvirt: VMware's VMnet networks, disks and kubeadm-ready nodes from "
               "one lab file.\n\nCommands:\n");
    for (size_t i = 0; i < ELEMENTSOF(commands); i++)
        fprintf(f, "  %-9s %-8s %s\n", commands[i]->name, commands[i]->args, commands[i]->summary);
    fprintf(f, "  %-9s %-8s %s\n", "help", "[CMD]", "Show help for a command");
    fprintf(f, "\nOptions:\n"
               "  --json            machine-readable output (plan, status, up, down, image list, "
               "image build, disk explain)\n"
               "  -f, --file FILE   the lab file (default: kvmlab.yaml); commands also take it as "
               "an argument\n"
               "  -q, --quiet       print only errors\n"
               "  --state-dir DIR   where sandboxes and state live (default: $KVMLAB_STATE_DIR "
               "or /var/lib/kvmlab)\n"
               "  -h, --help        show this help\n"
               "  -V, --version     show the version\n\n"
               "Exit status: 0 success, 1 failure, 2 bad usage or invalid lab file.\n"
               "See kvmlab(1).\n");
}

static const CliCommand *find_command(const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(commands); i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

int cli_help(const char *name)
{
    if (!name) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(name, "help") == 0) {
        printf("Usage: kvmlab help [COMMAND]\n\nShow the help of COMMAND, or the overview.\n");
        return EXIT_OK;
    }
    const CliCommand *c = find_command(name);
    if (!c) {
        fprintf(stderr, "kvmlab: unknown command '%s'; see 'kvmlab --help'\n", name);
        return EXIT_USAGE;
    }
    printf("Usage: kvmlab %s %s\n\n%s\n\n%s", c->name, c->args, c->summary, c->help);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    CliGlobals g = {0};
    static const struct option opts[] = {
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {"json", no_argument, NULL, 'j'},
            {"quiet", no_argument, NULL, 'q'},
            {"state-dir", required_argument, NULL, 's'},
            {"file", required_argument, NULL, 'f'},
            {0},
    };
    int c;

    /* '+': stop at the command; its own options belong to it */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+hVqf:", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case 'V':
            printf("kvmlab %s\n", KVMLAB_VERSION);
            return EXIT_OK;
        case 'j':
            g.json = true;
            break;
        case 'q':
            g.quiet = true;
            break;
        case 's':
            g.state_dir = optarg;
            break;
        case 'f':
            cli_lab_file = optarg;
            break;
        default:
            if (optopt == 'f') {
                fprintf(stderr, "kvmlab: '-f' needs a lab file; see 'kvmlab --help'\n");
                return EXIT_USAGE;
            }
            if (optopt)
                fprintf(stderr, "kvmlab: unknown option '-%c'; see 'kvmlab --help'\n", optopt);
            else
                fprintf(stderr, "kvmlab: unknown option '%s'; see 'kvmlab --help'\n",
                        argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0)
        return cli_help(optind + 1 < argc ? argv[optind + 1] : NULL);
    if (strcmp(name, "version") == 0) {
        printf("kvmlab %s\n", KVMLAB_VERSION);
        return EXIT_OK;
    }
    const CliCommand *cmd = find_command(name);
    if (!cmd) {
        fprintf(stderr, "kvmlab: unknown command '%s'; see 'kvmlab --help'\n", name);
        return EXIT_USAGE;
    }
    /* global options may also follow the command (`kvmlab status --json`) */
    int k = optind + 1;
    for (int i = optind + 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            while (i < argc)
                argv[k++] = argv[i++];
            break;
        }
        if (strcmp(argv[i], "--json") == 0)
            g.json = true;
        else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0)
            g.quiet = true;
        else if (strcmp(argv[i], "--state-dir") == 0 && i + 1 < argc)
            g.state_dir = argv[++i];
        else if (strncmp(argv[i], "--state-dir=", 12) == 0)
            g.state_dir = argv[i] + 12;
        else if ((strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--file") == 0) && i + 1 < argc)
            cli_lab_file = argv[++i];
        else if (strncmp(argv[i], "--file=", 7) == 0)
            cli_lab_file = argv[i] + 7;
        else if (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--file") == 0) {
            fprintf(stderr, "kvmlab: '%s' needs a lab file; see 'kvmlab --help'\n", argv[i]);
            return EXIT_USAGE;
        } else if (strcmp(argv[i], "--state-dir") == 0) {
            fprintf(stderr, "kvmlab: '--state-dir' needs a directory; see 'kvmlab --help'\n");
            return EXIT_USAGE;
        } else
            argv[k++] = argv[i];
    }
    argc = k;
    argv[argc] = NULL;
    if (g.state_dir && !*g.state_dir) {
        fprintf(stderr, "kvmlab: '--state-dir' needs a directory; see 'kvmlab --help'\n");
        return EXIT_USAGE;
    }
    if (g.state_dir)
        setenv("KVMLAB_STATE_DIR", g.state_dir, 1);
    /* the subcommand sees argv[0] = its name */
    optind++;
    if (cmd->changes_host)
        interrupt_install();
    return cmd->run(&g, argc - optind + 1, argv + optind - 1);
}
