/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/node.h"
#include "kvmlab/session.h"

static const char *dash(const char *s)
{
    return s ? s : "-";
}

static void json_strv(char *const *v, size_t n)
{
    printf("[");
    for (size_t i = 0; i < n; i++) {
        printf("%s", i ? "," : "");
        cli_json_string(stdout, v[i]);
    }
    printf("]");
}

/* The nodes: state, addresses, cloud-init and the preflight report their guests printed. */
static void print_nodes(const CliGlobals *g, CliLab *c, bool running)
{
    const Lab *lab = c->lab;
    if (g->json)
        printf(",\"nodes\":[");
    else if (running && lab->n_nodes)
        printf("\n%-16s %-9s %-16s %-10s %s\n", "NODE", "STATE", "ADDRESS", "CLOUD-INIT",
               "PREFLIGHT");
    size_t shown = 0;
    for (size_t i = 0; i < lab->n_nodes; i++) {
        LabNodeStatus n = {0};
        Error err = ERROR_INIT;
        if (lab_session_node_status(c->session, &lab->nodes[i], &n, &err) < 0) {
            error_clear(&err);
            continue;
        }
        const NodeReport *r = &n.report;
        size_t failed = 0, warned = 0;
        for (size_t k = 0; k < r->n_checks; k++) {
            failed += !r->checks[k].ok && !r->checks[k].warn;
            warned += r->checks[k].warn;
        }
        const char *ci = !lab->nodes[i].cloud_init ? "none" : r->found ? r->cloud_init : NULL;
        if (g->json) {
            printf("%s{\"name\":", shown++ ? "," : "");
            cli_json_string(stdout, lab->nodes[i].name);
            printf(",\"domain\":");
            cli_json_string(stdout, n.domain);
            printf(",\"state\":");
            cli_json_string(stdout, n.state);
            printf(",\"addresses\":");
            json_strv(n.addresses, n.n_addresses);
            printf(",\"cloud_init\":");
            cli_json_string(stdout, ci);
            printf(",\"hostname\":");
            cli_json_string(stdout, r->found ? r->hostname : NULL);
            printf(",\"product_uuid\":");
            cli_json_string(stdout, r->found ? r->product_uuid : NULL);
            printf(",\"macs\":");
            json_strv(r->macs, r->n_macs);
            printf(",\"preflight\":[");
            for (size_t k = 0; k < r->n_checks; k++) {
                printf("%s{\"check\":", k ? "," : "");
                cli_json_string(stdout, r->checks[k].check);
                printf(",\"ok\":%s,\"warn\":%s,\"detail\":", r->checks[k].ok ? "true" : "false",
                       r->checks[k].warn ? "true" : "false");
                cli_json_string(stdout, r->checks[k].detail);
                printf("}");
            }
            printf("],\"console_log\":");
            cli_json_string(stdout, n.console_log);
            printf("}");
        } else if (running) {
            char pf[64];
            if (!r->found)
                snprintf(pf, sizeof(pf), "-");
            else if (failed)
                snprintf(pf, sizeof(pf), "%zu of %zu failed", failed, r->n_checks);
            else
                snprintf(pf, sizeof(pf), "%zu passed%s", r->n_checks, warned ? ", warnings" : "");
            printf("%-16s %-9s %-16s %-10s %s\n", lab->nodes[i].name, n.state,
                   n.n_addresses ? n.addresses[0] : "-", dash(ci), pf);
            for (size_t k = 0; k < r->n_checks; k++)
                if (!r->checks[k].ok || r->checks[k].warn)
                    printf("  %s: %s\n", r->checks[k].check, dash(r->checks[k].detail));
        }
        lab_node_status_clear(&n);
    }
    if (g->json)
        printf("]}\n");
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
            printf(",\"backend\":");
            cli_json_string(stdout, n->backend ? n->backend : "libvirt");
            printf(",\"active\":%s,\"drift\":%s,\"leases\":%d,\"dnsmasq_pid\":%d}",
                   n->active ? "true" : "false", n->drift ? "true" : "false", n->leases,
                   n->dnsmasq_pid);
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
        printf("]");
    } else if (st->n_vols) {
        printf("\n%-32s %-14s %s\n", "VOLUME", "CAPACITY", "BASE");
        for (size_t i = 0; i < st->n_vols; i++) {
            const LabVolStatus *v = &st->vols[i];
            const char *base = v->backing ? strrchr(v->backing, '/') : NULL;
            printf("%-32s %-14s %s\n", v->name, dash(v->capacity),
                   base ? base + 1 : "- (data disk)");
        }
    }
    print_nodes(g, &c, st->running);
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
                "each disk volume: its capacity in bytes and the base image it rests on; then\n"
                "each node: its state, address, cloud-init's result and the preflight report its\n"
                "guest printed (failed checks and warnings spelled out). --json gives the same as\n"
                "one JSON object (nodes: name, state, addresses, cloud_init, preflight as a list\n"
                "of {check, ok, warn, detail}, console_log).\n",
        .run = run,
};
