/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kvmlab disk explain NODE [--json] [FILE]: every disk of a node with its bus and why. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/session.h"
#include "kvmlab/storage.h"

static void size_text(uint64_t b, char buf[32])
{
    if (!b)
        snprintf(buf, 32, "image's");
    else if (b % (1ULL << 30) == 0)
        snprintf(buf, 32, "%" PRIu64 "G", b >> 30);
    else if (b % (1ULL << 20) == 0)
        snprintf(buf, 32, "%" PRIu64 "M", b >> 20);
    else
        snprintf(buf, 32, "%" PRIu64, b);
}

static void print_json(const NodeDisks *d, FILE *f)
{
    fputc('[', f);
    for (size_t i = 0; i < d->n_disks; i++) {
        const DiskPlan *p = &d->disks[i];
        fprintf(f, "%s{\"serial\":", i ? "," : "");
        cli_json_string(f, p->serial);
        fprintf(f, ",\"bus\":");
        cli_json_string(f, disk_bus_to_string(p->choice.bus));
        fprintf(f, ",\"controller\":");
        cli_json_string(f, p->choice.controller);
        fprintf(f, ",\"reason\":");
        cli_json_string(f, p->choice.reason);
        fputc('}', f);
    }
    fputs("]\n", f);
}

static void print_human(const NodeDisks *d, FILE *f)
{
    fprintf(f, "Node '%s', machine %s\n", d->node, d->machine.reason);
    if (d->has_os && d->os.placed)
        fprintf(f, "OS: %s\n", d->os.placed);
    fprintf(f, "%-4s %-20s %-7s %-12s %-8s %s\n", "DISK", "SERIAL", "BUS", "CONTROLLER", "SIZE",
            "REASON");
    for (size_t i = 0; i < d->n_disks; i++) {
        const DiskPlan *p = &d->disks[i];
        char size[32];
        size_text(p->size_bytes, size);
        fprintf(f, "%-4zu %-20s %-7s %-12s %-8s %s\n", p->index, p->serial,
                disk_bus_to_string(p->choice.bus),
                p->choice.controller ? p->choice.controller : "-", size, p->choice.reason);
    }
    if (!d->caps_known)
        fprintf(f, "Note: what the hypervisor offers is not known, so these are checked again "
                   "at 'up'.\n");
}

/* The node's disks with what the hypervisor offers, asking the lab's daemon (started for the
 * question when nothing else knows) or kvmlab's cache of its last answer. */
static int explain(const Lab *lab, const LabNode *node, NodeDisks *ret, Error *err)
{
    LabSession *s = NULL;
    bool known = false;
    int r = lab_session_open(lab, NULL, SESSION_READ, &s, err);
    if (r >= 0)
        r = lab_session_node_disks(s, node, ret, &known, err);
    if (r >= 0 && !known && s->sandbox && !s->conn) {
        /* nothing knows yet: start the lab's sandbox to ask, and stop it again when it holds
         * nothing of the lab */
        node_disks_clear(ret);
        lab_session_free(s);
        s = NULL;
        r = lab_session_open(lab, NULL, SESSION_WRITE, &s, err);
        if (r >= 0)
            r = lab_session_node_disks(s, node, ret, &known, err);
        if (s)
            lab_session_abort(s);
    }
    lab_session_free(s);
    return r;
}

static int run(const CliGlobals *g, int argc, char **argv)
{
    static const struct option opts[] = {
            {"help", no_argument, NULL, 'h'}, {"json", no_argument, NULL, 'j'}, {0}};
    bool json = g->json;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h')
            return cli_help("disk");
        if (c == 'j') {
            json = true;
            continue;
        }
        return cli_usage_error("disk", "unknown option '%s' for 'disk'", argv[optind - 1]);
    }
    if (optind >= argc)
        return cli_usage_error("disk", "'disk' needs a subcommand: 'disk explain NODE [FILE]'");
    if (strcmp(argv[optind], "explain") != 0)
        return cli_usage_error("disk", "unknown subcommand 'disk %s'", argv[optind]);
    if (argc - optind < 2)
        return cli_usage_error("disk", "'disk explain' needs a node name");
    if (argc - optind > 3)
        return cli_usage_error("disk", "'disk explain' takes a node and at most one lab file");
    const char *name = argv[optind + 1];
    int status;
    const char *file = cli_file_arg("disk", argc - optind == 3 ? argv[optind + 2] : NULL, &status);
    if (!file)
        return status;

    Lab *lab = NULL;
    int r = cli_load_lab(file, &lab);
    if (r != EXIT_OK)
        return r;
    const LabNode *node = cli_find_node(lab, name);
    if (!node) {
        lab_free(lab);
        return EXIT_USAGE;
    }
    Error err = ERROR_INIT;
    NodeDisks d = {0};
    if (explain(lab, node, &d, &err) < 0) {
        cli_print_error(&err);
        error_clear(&err);
        lab_free(lab);
        return EXIT_FAIL;
    }
    if (json)
        print_json(&d, stdout);
    else
        print_human(&d, stdout);
    node_disks_clear(&d);
    lab_free(lab);
    return EXIT_OK;
}

const CliCommand cli_cmd_disk = {
        .name = "disk",
        .args = "explain NODE [--json] [FILE]",
        .summary = "Show each disk of a node: serial, bus, controller and why",
        .help = "'kvmlab disk explain NODE [--json] [FILE]' prints every disk of NODE as the lab\n"
                "file lists them (the root disk first; the cloud-init seed is not one of them):\n"
                "its serial, bus (virtio, scsi, sata or ide), controller and the reason for the\n"
                "choice, from the guest's OS (osinfo-db), the machine type and what the\n"
                "hypervisor offers. Works before 'up': what the hypervisor offers comes from the\n"
                "lab's running daemon, else from kvmlab's cache of its last answer, else the\n"
                "lab's sandbox is started to ask (and stopped again). --json prints a list of\n"
                "{\"serial\", \"bus\", \"controller\", \"reason\"}; controller is null for "
                "virtio.\n",
        .run = run,
};
