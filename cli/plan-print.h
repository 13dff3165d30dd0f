/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "kvmlab/engine.h"

/* Print @p as a table (one action a line, unchanged ones only with @show_unchanged) or JSON. */
void cli_plan_print(const Plan *p, bool json, bool show_unchanged, FILE *f);
