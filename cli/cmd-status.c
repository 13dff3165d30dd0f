/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/session.h"
#include "kvmlab/spectext.h"
#include "kvmlab/vmnet.h"

/* The value of KEY in a canonical spec ("-" when absent); new string. */
static char *spec_field(const char *spec, const char *key)
{
    char *v = spec_text_get(spec, key);
    return v ? v : strdup("-");
}

static const char *const columns[] = {"type", "bridge", "subnet", "host", "gateway", "dhcp"};

static int run(const CliGlobals *g, int argc, char **argv)
{
    const char *file = NULL;
    int r = cli_parse_file_args("status", argc, argv, &file);
    if (r < 0)
        return cli_help("status");
    if (r != EXIT_OK)
        return r;
    Lab *lab = NULL;
    r = cli_load_lab(file, &lab);
    if (r != EXIT_OK)
        return r;

    Error err = ERROR_INIT;
    LabSession *s = NULL;
    Observed *obs = NULL;
    size_t n = 0;
    int ret = EXIT_FAIL;
    if (lab_session_open(lab, NULL, SESSION_READ, &s, &err) < 0 ||
        lab_session_observe(s, &obs, &n, &err) < 0) {
        cli_print_error(&err);
        goto done;
    }
    if (g->json) {
        printf("{\"lab\":");
        cli_json_string(stdout, lab->name);
        printf(",\"uri\":");
        cli_json_string(stdout, s->conn ? s->uri : NULL);
        printf(",\"running\":%s,\"networks\":[", s->conn ? "true" : "false");
    } else if (!s->conn) {
        printf("Lab '%s' is not up (its sandbox does not run).\n", lab->name);
    } else {
        printf("Lab '%s' on %s\n", lab->name, s->uri);
        printf("%-18s %-9s %-16s %-18s %-15s %-15s %-33s %-6s %s\n", "NETWORK", "TYPE", "BRIDGE",
               "SUBNET", "HOST", "GATEWAY", "DHCP POOL", "ACTIVE", "LEASES");
    }
    for (size_t i = 0; i < n; i++) {
        const Observed *o = &obs[i];
        if (o->kind != RESOURCE_NETWORK)
            continue;
        char *v[ELEMENTSOF(columns)];
        for (size_t c = 0; c < ELEMENTSOF(columns); c++)
            v[c] = spec_field(o->spec, columns[c]);
        int leases = vmnet_libvirt_lease_count(s->conn, o->name, NULL);
        if (g->json) {
            printf("%s{\"name\":", i ? "," : "");
            cli_json_string(stdout, o->name);
            printf(",\"key\":");
            cli_json_string(stdout, o->key);
            for (size_t c = 0; c < ELEMENTSOF(columns); c++) {
                printf(",\"%s\":", columns[c]);
                cli_json_string(stdout, strcmp(v[c], "-") ? v[c] : NULL);
            }
            printf(",\"active\":%s,\"leases\":%d}", o->active ? "true" : "false",
                   leases < 0 ? 0 : leases);
        } else {
            printf("%-18s %-9s %-16s %-18s %-15s %-15s %-33s %-6s %d\n", o->name, v[0], v[1], v[2],
                   v[3], v[4], v[5], o->active ? "yes" : "no", leases < 0 ? 0 : leases);
        }
        for (size_t c = 0; c < ELEMENTSOF(columns); c++)
            free(v[c]);
    }
    if (g->json)
        printf("]}\n");
    ret = EXIT_OK;
done:
    for (size_t i = 0; i < n; i++)
        observed_clear(&obs[i]);
    free(obs);
    error_clear(&err);
    lab_session_free(s);
    lab_free(lab);
    return ret;
}

const CliCommand cli_cmd_status = {
        .name = "status",
        .args = "[FILE]",
        .summary = "List the lab's objects and their state",
        .help = "For each network of the lab: name, type, bridge, subnet, host address, gateway,\n"
                "DHCP pool, whether it is active and how many DHCP leases are in use. --json\n"
                "gives the same as one JSON object.\n",
        .run = run,
};
