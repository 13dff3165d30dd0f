/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "cli.h"

static int run(const CliGlobals *g, int argc, char **argv)
{
    const char *file = NULL;
    int r = cli_parse_file_args("validate", argc, argv, &file);
    if (r < 0)
        return cli_help("validate");
    if (r != EXIT_OK)
        return r;
    Lab *lab = NULL;
    r = cli_load_lab(file, &lab);
    if (r != EXIT_OK)
        return r;
    if (!g->quiet)
        printf("%s: lab '%s' is valid: %zu network%s, %zu image%s, %zu node%s\n", file, lab->name,
               lab->n_networks, lab->n_networks == 1 ? "" : "s", lab->n_images,
               lab->n_images == 1 ? "" : "s", lab->n_nodes, lab->n_nodes == 1 ? "" : "s");
    lab_free(lab);
    return EXIT_OK;
}

const CliCommand cli_cmd_validate = {
        .name = "validate",
        .args = "[FILE]",
        .summary = "Check a lab file without touching the host",
        .help = "Parses FILE (default: kvmlab.yaml) and checks everything that can be checked\n"
                "without a host: keys, types, names, addresses, subnets and DHCP ranges,\n"
                "duplicates and references. Every problem is printed as FILE:LINE:COL: message.\n"
                "Exit status 2 when the file has problems.\n",
        .run = run,
};
