/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/session.h"

static const char *dash(const char *s)
{
    return s ? s : "-";
}

static int run(const CliGlobals *g, int argc, char **argv)
{
    CliLab c;
    int r = cli_lab_open("status", argc, argv, SESSION_READ, &c);
    if (r < 0)
        return cli_help("status");
    if (r != EXIT_OK)
        return r;
    const Lab *lab = c.lab;
    Error err = ERROR_INIT;
    LabStatus *st = NULL;
    int ret = EXIT_FAIL;
    if (lab_session_status(c.session, &st, &err) < 0) {
        cli_print_error(&err);
        goto done;
    }
    if (g->json) {
        printf("{\"lab\":");
        cli_json_string(stdout, lab->name);
        printf(",\"uri\":");
        cli_json_string(stdout, st->uri);
        printf(",\"running\":%s,\"networks\":[", st->running ? "true" : "false");
    } else if (!st->running) {
        printf("Lab '%s' is not up (its sandbox does not run).\n", lab->name);
    } else {
        printf("Lab '%s' on %s\n", lab->name, st->uri);
        printf("%-18s %-9s %-16s %-18s %-15s %-15s %-33s %-6s %s\n", "NETWORK", "TYPE", "BRIDGE",
               "SUBNET", "HOST", "GATEWAY", "DHCP POOL", "ACTIVE", "LEASES");
    }
    for (size_t i = 0; i < st->n_nets; i++) {
        const LabNetStatus *n = &st->nets[i];
        if (g->json) {
            printf("%s{\"name\":", i ? "," : "");
            cli_json_string(stdout, n->name);
            printf(",\"key\":");
            cli_json_string(stdout, n->key);
            const char *const cols[] = {"type", "bridge", "subnet", "host", "gateway", "dhcp"};
            const char *vals[] = {n->type, n->bridge, n->subnet, n->host, n->gateway, n->dhcp};
            for (size_t k = 0; k < ELEMENTSOF(cols); k++) {
                printf(",\"%s\":", cols[k]);
                cli_json_string(stdout, vals[k]);
            }
            printf(",\"active\":%s,\"drift\":%s,\"leases\":%d}", n->active ? "true" : "false",
                   n->drift ? "true" : "false", n->leases);
        } else {
            printf("%-18s %-9s %-16s %-18s %-15s %-15s %-33s %-6s %d%s\n", n->name, dash(n->type),
                   dash(n->bridge), dash(n->subnet), dash(n->host), dash(n->gateway), dash(n->dhcp),
                   n->active ? "yes" : "no", n->leases,
                   n->drift ? "  (changed by hand: see plan)" : "");
        }
    }
    if (g->json) {
        printf("],\"volumes\":[");
        for (size_t i = 0; i < st->n_vols; i++) {
            const LabVolStatus *v = &st->vols[i];
            printf("%s{\"name\":", i ? "," : "");
            cli_json_string(stdout, v->name);
            printf(",\"key\":");
            cli_json_string(stdout, v->key);
            printf(",\"capacity\":%s,\"backing\":", v->capacity ? v->capacity : "null");
            cli_json_string(stdout, v->backing);
            printf("}");
        }
        printf("]}\n");
    } else if (st->n_vols) {
        printf("\n%-32s %-14s %s\n", "VOLUME", "CAPACITY", "BASE");
        for (size_t i = 0; i < st->n_vols; i++) {
            const LabVolStatus *v = &st->vols[i];
            const char *base = v->backing ? strrchr(v->backing, '/') : NULL;
            printf("%-32s %-14s %s\n", v->name, dash(v->capacity),
                   base ? base + 1 : "- (data disk)");
        }
    }
    ret = EXIT_OK;
done:
    error_clear(&err);
    lab_status_free(st);
    cli_lab_close(&c);
    return ret;
}

const CliCommand cli_cmd_status = {
        .name = "status",
        .args = "[FILE]",
        .summary = "List the lab's objects and their state",
        .help = "For each network of the lab: name, type, bridge, subnet, host address, gateway,\n"
                "DHCP pool, whether it is active and how many DHCP leases are in use, as the\n"
                "network really is (a hand edit shows, marked; 'plan' shows its repair); then\n"
                "each disk volume: its capacity in bytes and the base image it rests on. --json\n"
                "gives the same as one JSON object.\n",
        .run = run,
};
