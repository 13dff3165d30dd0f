/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Printing plans: the human table and --json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kvmlab/storage.h"
#include "plan-print.h"

static const char *symbol(ActionType t)
{
    switch (t) {
    case ACTION_CREATE:
        return "+";
    case ACTION_START:
        return ">";
    case ACTION_UPDATE:
        return "~";
    case ACTION_RECREATE:
        return "-/+";
    case ACTION_DELETE:
        return "-";
    case ACTION_NONE:
        break;
    }
    return "=";
}

static const char *action_name(const Action *a)
{
    return a->want ? a->want->name : a->have ? a->have->name : "?";
}

/* The plan as JSON without its closing brace, so a caller can add members. */
static void plan_json_open(const Plan *p, FILE *f);
static void plan_print_table(const Plan *p, bool show_unchanged, FILE *f);

void cli_plan_print(const Plan *p, bool json, bool show_unchanged, FILE *f)
{
    if (json) {
        plan_json_open(p, f);
        fprintf(f, "}\n");
        return;
    }
    plan_print_table(p, show_unchanged, f);
}

static void plan_json_open(const Plan *p, FILE *f)
{
    fprintf(f, "{\"lab\":");
    cli_json_string(f, p->lab);
    fprintf(f, ",\"changes\":%zu,\"unmade_nodes\":%zu,\"actions\":[", plan_changes(p),
            p->n_unmade_nodes);
    for (size_t i = 0; i < p->n_actions; i++) {
        const Action *a = &p->actions[i];
        fprintf(f, "%s{\"action\":", i ? "," : "");
        cli_json_string(f, action_type_to_string(a->type));
        fprintf(f, ",\"kind\":");
        cli_json_string(f, resource_kind_to_string(a->kind));
        fprintf(f, ",\"name\":");
        cli_json_string(f, action_name(a));
        fprintf(f, ",\"reason\":");
        cli_json_string(f, a->reason);
        fprintf(f, ",\"drift\":%s}", a->drift ? "true" : "false");
    }
    fprintf(f, "],\"notes\":[");
    for (size_t i = 0; i < p->n_notes; i++) {
        fputs(i ? "," : "", f);
        cli_json_string(f, p->notes[i]);
    }
    fprintf(f, "]");
}

static void plan_print_table(const Plan *p, bool show_unchanged, FILE *f)
{
    int width = 20; /* the name column fits the longest name (volumes are pool/file) */
    for (size_t i = 0; i < p->n_actions; i++) {
        size_t l = strlen(action_name(&p->actions[i]));
        if (l > (size_t)width && l < 64)
            width = (int)l;
    }
    for (size_t i = 0; i < p->n_actions; i++) {
        const Action *a = &p->actions[i];
        if (a->type == ACTION_NONE && !show_unchanged)
            continue;
        fprintf(f, "%-3s %-8s %-*s %-16s %s\n", symbol(a->type), resource_kind_to_string(a->kind),
                width, action_name(a), action_type_to_string(a->type), a->reason ? a->reason : "");
    }
    size_t n = plan_changes(p);
    for (size_t i = 0; i < p->n_notes; i++)
        fprintf(f, "Note: %s.\n", p->notes[i]);
    if (p->n_unmade_nodes > 0)
        fprintf(f,
                "Note: the %zu node%s in the lab file %s not made yet: this version makes the "
                "lab's networks, port forwards and disks.\n",
                p->n_unmade_nodes, p->n_unmade_nodes == 1 ? "" : "s",
                p->n_unmade_nodes == 1 ? "is" : "are");
    if (n == 0)
        fprintf(f, "Lab '%s' is up to date: nothing to change.\n", p->lab);
    else
        fprintf(f, "%zu change%s for lab '%s'.\n", n, n == 1 ? "" : "s", p->lab);
}

static bool plan_has_volume(const Plan *p, const char *key)
{
    for (size_t i = 0; i < p->n_want; i++)
        if (p->want[i].kind == RESOURCE_VOLUME && strcmp(p->want[i].key, key) == 0)
            return true;
    return false;
}

void cli_plan_print_disks(const Plan *p, const Lab *lab, LabSession *s, FILE *f)
{
    bool header = false;
    for (size_t i = 0; i < lab->n_nodes; i++) {
        const LabNode *node = &lab->nodes[i];
        NodeDisks d = {0};
        Error err = ERROR_INIT;
        char key[256];
        bool known = false;
        snprintf(key, sizeof(key), "%s-0", node->name);
        if (!plan_has_volume(p, key))
            continue;
        if (!header) {
            fprintf(f, "Disks:\n");
            header = true;
        }
        if (lab_session_node_disks(s, node, &d, &known, &err) < 0) {
            fprintf(f, "  %s: %s\n", node->name, err.message);
            error_clear(&err);
        } else if (!known) {
            fprintf(f, "  %s (machine %s): buses chosen at up, when the hypervisor is asked\n",
                    node->name, d.machine.machine);
        } else {
            fprintf(f, "  %s, machine %s\n", node->name, d.machine.reason);
            for (size_t k = 0; k < d.n_disks; k++)
                fprintf(f, "    %-20s %-7s %-12s %s\n", d.disks[k].serial,
                        disk_bus_to_string(d.disks[k].choice.bus),
                        d.disks[k].choice.controller ? d.disks[k].choice.controller : "-",
                        d.disks[k].choice.reason);
        }
        node_disks_clear(&d);
    }
}

void cli_plan_print_json_disks(const Plan *p, const Lab *lab, LabSession *s, FILE *f)
{
    plan_json_open(p, f);
    fprintf(f, ",\"disks\":[");
    bool first = true;
    for (size_t i = 0; i < lab->n_nodes; i++) {
        const LabNode *node = &lab->nodes[i];
        NodeDisks d = {0};
        Error err = ERROR_INIT;
        char key[256];
        bool known = false;
        snprintf(key, sizeof(key), "%s-0", node->name);
        if (!plan_has_volume(p, key) || lab_session_node_disks(s, node, &d, &known, &err) < 0) {
            error_clear(&err);
            continue;
        }
        for (size_t k = 0; k < d.n_disks; k++) {
            fprintf(f, "%s{\"node\":", first ? "" : ",");
            first = false;
            cli_json_string(f, node->name);
            fprintf(f, ",\"serial\":");
            cli_json_string(f, d.disks[k].serial);
            fprintf(f, ",\"machine\":");
            cli_json_string(f, d.machine.machine);
            fprintf(f, ",\"bus\":");
            cli_json_string(f, known ? disk_bus_to_string(d.disks[k].choice.bus) : NULL);
            fprintf(f, ",\"controller\":");
            cli_json_string(f, known ? d.disks[k].choice.controller : NULL);
            fprintf(f, ",\"reason\":");
            cli_json_string(f, known ? d.disks[k].choice.reason : "chosen at up");
            fputc('}', f);
        }
        node_disks_clear(&d);
    }
    fprintf(f, "]}\n");
}
