/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "kvmlab/engine.h"

/* Print @p as a table (one action a line, unchanged ones only with @show_unchanged) or JSON. */
void cli_plan_print(const Plan *p, bool json, bool show_unchanged, FILE *f);

#include "kvmlab/lab.h"
#include "kvmlab/session.h"

/* Under a plan: the bus of every disk the plan makes or keeps, with its reason, from what the
 * hypervisor offers when that is known without starting anything ("chosen at up" when not). */
void cli_plan_print_disks(const Plan *p, const Lab *lab, LabSession *s, FILE *f);
/* The plan as JSON with a "disks" member: one {node, serial, machine, bus, controller, reason}
 * per disk the plan makes or keeps (bus and controller null when chosen at up). */
void cli_plan_print_json_disks(const Plan *p, const Lab *lab, LabSession *s, FILE *f);
