/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the planner's files share: plan-common.c has these helpers; plan.c plans networks and calls
 * plan-storage.c for the storage. */

#include "kvmlab/engine.h"

bool is_ours(const Plan *p, const Observed *o);
/* This lab's object of @kind made for lab-file key @key, or NULL. */
const Observed *ours_by_key(const Plan *p, ResourceKind kind, const char *key);
/* This lab's network (libvirt or bridge backend) for lab-file key @key, or NULL. */
const Observed *ours_network(const Plan *p, const char *key);
/* The desired network (either backend) for lab-file key @key, or NULL. */
const Resource *want_network(const Plan *p, const char *key);
/* Add a note for `plan` (takes @note; -ENOMEM when it or the list cannot be had). */
int add_note(Plan *p, char *note);
/* Room for @n more desired resources. 0 or -ENOMEM. */
int plan_want_reserve(Plan *p, size_t n);

/* The lab's storage: its pool, the base images its nodes use, every disk's volume. */
int plan_storage(const Lab *lab, const HostState *host, Plan *p, Error *err);
/* After the diff: a volume that this lab made and that is gone is drift (deleted by hand). */
int plan_storage_drift(const Lab *lab, const HostState *host, Plan *p, Error *err);

/* The lab's nodes: one domain each, after the storage (their disks are its volumes). */
int plan_nodes(const Lab *lab, const HostState *host, Plan *p, Error *err);

/* After the networks: what the host's firewall drops of the lab's traffic (HostState.ruleset):
 * notes naming each drop and its allow rules, or (HostState.firewall_allow) a RESOURCE_FIREWALL
 * holding them. */
int plan_firewall(const Lab *lab, const HostState *host, Plan *p, Error *err);
