/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "kvmlab/addr.h"
#include "kvmlab/error.h"
#include "kvmlab/lab.h"

/*
 * The engine: lab --plan--> desired --observe--> actual --diff--> actions --apply--> host.
 * plan and diff are pure; observe and apply go through a backend per resource kind, so a new kind
 * (Linux bridges, port forwards, pools, volumes, domains) plugs in as one more EngineBackend.
 */

typedef enum ResourceKind {
    RESOURCE_NETWORK, /* a libvirt network */
    RESOURCE_PORTFWD, /* the lab's nftables table: NAT masquerade and port forwards */
    RESOURCE_KIND_MAX,
} ResourceKind;

/* A desired resource, fully specified. */
typedef struct Resource {
    ResourceKind kind;
    char *key;    /* the lab file's name: vmnet8 */
    char *name;   /* the object name: <lab>-<key> */
    char *hash;   /* hash of the canonical spec */
    char *spec;   /* canonical spec text, "key=value" lines; "live." keys change in place */
    char *note;   /* what planning decided on its own (a picked subnet), may be NULL */
    char *bridge; /* Linux bridge the object claims, may be NULL */
    bool has_subnet;
    Ipv4Net subnet; /* address range the object claims */
    void *data;     /* kind-specific realisation input (VmnetSpec *) */
    void (*data_free)(void *);
} Resource;

/* An object found on the host (owned by this lab, another lab, or nobody we know). */
typedef struct Observed {
    ResourceKind kind;
    char *name;
    char *lab; /* owner lab from the metadata; NULL: not a kvmlab object */
    char *key;
    char *hash;
    char *spec;
    char *bridge;
    bool has_subnet;
    Ipv4Net subnet;
    bool active;
    bool autostart;
} Observed;

typedef enum ActionType {
    ACTION_NONE,     /* up to date */
    ACTION_CREATE,   /* missing */
    ACTION_START,    /* defined and current, but not running */
    ACTION_UPDATE,   /* live fields changed: updated in place */
    ACTION_RECREATE, /* other fields changed: deleted and created again */
    ACTION_DELETE,   /* ours, no longer in the lab file */
} ActionType;

typedef struct Action {
    ActionType type;
    ResourceKind kind;
    const Resource *want; /* NULL for DELETE */
    const Observed *have; /* NULL for CREATE */
    char *reason;         /* one sentence for `plan` */
} Action;

typedef struct Plan {
    char *lab;
    Resource *want;
    size_t n_want;
    Observed *have;
    size_t n_have;
    Action *actions;
    size_t n_actions;
    size_t n_unmade_nodes; /* nodes in the file that no resource kind makes yet */
} Plan;

/* How the engine reaches the host for one resource kind. ctx is the backend's own. */
typedef struct EngineBackend {
    ResourceKind kind;
    const char *label; /* "network" */
    /* every object of this kind, ours or not (clash detection needs all) */
    int (*observe)(void *ctx, Observed **ret, size_t *ret_n, Error *err);
    int (*create)(void *ctx, const Resource *want, Error *err);
    int (*start)(void *ctx, const Observed *have, Error *err);
    int (*update)(void *ctx, const Resource *want, const Observed *have, Error *err);
    int (*remove)(void *ctx, const Observed *have, Error *err);
    /* optional: replace @have by @want so that a failure leaves @have as it was; without it
     * a recreate is remove then create, and a failed create loses the old object */
    int (*recreate)(void *ctx, const Resource *want, const Observed *have, Error *err);
    void *ctx;
} EngineBackend;

/* Progress of apply, for the CLI's output; may be NULL. */
typedef void (*EngineProgressFn)(const Action *a, int phase /* 0 start, 1 done */, void *userdata);

void resource_clear(Resource *r);
void observed_clear(Observed *o);
void plan_free(Plan *p);

/*
 * Pure diff: compare desired resources with observed objects of one lab and fill @plan's
 * actions (ordered: deletes of objects no longer wanted, then per desired resource in order).
 * Refuses with -EEXIST and a clear sentence when a desired object would take over an object that
 * is not this lab's (same name, same bridge, or an overlapping subnet).
 */
int engine_diff(Plan *plan, Error *err);

/* Count of actions that change something. */
size_t plan_changes(const Plan *p);

/*
 * Apply the plan's actions through @backends (one per kind). When a step fails, objects this call
 * created are removed again (in reverse order) and the first error is returned.
 */
int engine_apply(const Plan *plan, const EngineBackend *backends, size_t n_backends,
                 EngineProgressFn progress, void *userdata, Error *err);

/* The human words for an action type: "create", "update in place", ... */
const char *action_type_to_string(ActionType t);
const char *resource_kind_to_string(ResourceKind k);

/* Which canonical spec keys differ between two spec texts, as "a, b, c" (new string; "" when
 * equal). *ret_live_only tells whether every differing key is a "live." key. */
char *engine_spec_changes(const char *old_spec, const char *new_spec, bool *ret_live_only);
