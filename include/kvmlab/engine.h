/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "kvmlab/addr.h"
#include "kvmlab/error.h"
#include "kvmlab/imagestore.h"
#include "kvmlab/lab.h"
#include "kvmlab/resource.h"

/*
 * The engine: host --observe--> HostState; lab + HostState --plan--> desired resources and
 * --diff--> actions; --apply--> host with a journal of inverse operations. plan and diff are
 * pure (unit-tested on hand-written HostStates); observe and apply go through one backend per
 * resource kind (resource.h), so a new kind plugs in as one more EngineBackend.
 */

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
    bool drift;           /* the live object differs from what kvmlab made (a hand edit) */
} Action;

/*
 * Everything planning needs to know about the host, read once by observation: every object of
 * every kind (ours, other labs', foreign), the subnets the host itself uses, and what other labs
 * recorded. Hand-written in unit tests.
 */
typedef struct HostState {
    Observed *objects;
    size_t n_objects;
    Ipv4Net *host_nets; /* addresses and routes of the host */
    size_t n_host_nets;
    Ipv4Net *lab_nets; /* subnets other labs recorded (their own daemons are not observed) */
    size_t n_lab_nets;
    char **lab_bridges; /* bridge names other labs recorded */
    size_t n_lab_bridges;
    /* kvmlab can write the lab's own nftables table where the networks live (the sandbox or the
     * local system daemon): VMware's NAT with port forwards. Otherwise NAT is libvirt's own. */
    bool nat_table;
    char *uri; /* the libvirt URI, for messages */
    /* storage: kvmlab can make pools and volumes there (a daemon on this machine, which sees
     * kvmlab's state directory); where they live; the shared store's complete images; the
     * volumes this lab recorded as made ("\n"-joined names with one around each, NULL: none) */
    bool storage;
    char *state_root;
    ImageInfo *images;
    size_t n_images;
    char *volume_record;
    /* what the files the nodes' disks name as their content are (qemu-img info, storage.h),
     * sorted by the file's name as the lab writes it */
    struct DiskSource *disk_sources;
    size_t n_disk_sources;
    /* the user said disks that a node's shorter disks: list drops may be deleted with their
     * data (up --delete-disks); otherwise planning refuses to */
    bool delete_disks;
    /* nodes: what the hypervisor offers per machine type (none: chosen without it); whether it
     * offers kvm, and whether kvm was seen never to run a guest on this host (accel auto then
     * starts nodes under tcg at once); the lab's secrets (NULL: not made yet, for `plan`) */
    struct HvCaps *caps;
    size_t n_caps;
    bool kvm;
    char *kvm_silent; /* why kvm is known not to run guests here, NULL */
    struct LabSecrets *secrets;
    /* the bridge backend: whether kvmlab can make Linux bridges where the guests are (the
     * sandbox's namespace, or this host's for a daemon on this machine) and, when it cannot,
     * why (NULL: it can); the links of that namespace, for bridged networks' NICs */
    bool bridges;
    char *bridge_refusal;
    struct HostLinkInfo *links;
    size_t n_links;
    /* firewall awareness: the ruleset of the namespace the lab's bridges live in (NULL: not
     * read), net.bridge.bridge-nf-call-iptables there (-1: absent), and whether the lab's
     * allow rules are to be added (up --allow-firewall or `firewall: allow`) */
    char *ruleset;
    int br_nf_call_iptables;
    bool firewall_allow;
} HostState;

typedef struct Plan {
    char *lab;
    Resource *want;
    size_t n_want;
    size_t n_want_alloc;
    Observed *have; /* every observed object (the HostState's, taken over) */
    size_t n_have;
    Action *actions;
    size_t n_actions;
    char **notes; /* what `plan` should tell beside the actions (NAT without a table) */
    size_t n_notes;
    size_t n_unmade_nodes; /* nodes in the file that no resource kind makes yet */
} Plan;

/* Progress of apply, for the CLI's output; may be NULL. */
typedef void (*EngineProgressFn)(const Action *a, int phase /* 0 start, 1 done */, void *userdata);

void plan_free(Plan *p);
void host_state_clear(HostState *h);

/*
 * Pure planning: every resource @lab wants on a host in state @host, fully specified (picked
 * subnets, bridge names, the names objects already carry), then diffed against what is there.
 * Takes over @host's contents (left empty). 0, or a negative errno with @err set when the lab
 * cannot be made on this host (no free subnet, a clash with something not ours, port forwards
 * where kvmlab cannot write its NAT table).
 */
int engine_plan(const Lab *lab, HostState *host, Plan **ret, Error *err);

/*
 * Pure diff: compare desired resources with observed objects of one lab and fill @plan's
 * actions (ordered: deletes of objects no longer wanted, then per desired resource in order).
 * Refuses with -EEXIST and a clear sentence when a desired object would take over an object that
 * is not this lab's (same name, same bridge, or an overlapping subnet).
 */
int engine_diff(Plan *plan, Error *err);

/* How a kind words one drifted fact ("dhcp range 192.168.236.200-.254, want .128-.254"); @have
 * or @want is NULL when that side lacks the value. New string. */
typedef char *(*DriftPhraseFn)(const char *key, const char *have, const char *want);

/* Count of actions that change something. */
size_t plan_changes(const Plan *p);

/*
 * Apply the plan's actions through @backends (one per kind), keeping a journal of inverse
 * operations. When a step fails (or an interrupt arrives between steps), the failed step and
 * every step before it are undone newest first (a create is removed, anything else is restored
 * from what observation saw), so the host is as it was, and the first error is returned.
 */
int engine_apply(const Plan *plan, const EngineBackend *backends, size_t n_backends,
                 EngineProgressFn progress, void *userdata, Error *err);

/*
 * Apply every action on its own, for `down`: a step that fails is undone alone and the others
 * still run (what is removed stays removed); an interrupt stops between steps. Returns the first
 * error (0 when every step worked).
 */
int engine_apply_each(const Plan *plan, const EngineBackend *backends, size_t n_backends,
                      EngineProgressFn progress, void *userdata, Error *err);

/* The human words for an action type: "create", "update in place", ... */
const char *action_type_to_string(ActionType t);

/* Which canonical spec keys differ between two spec texts, as "a, b, c" (new string; "" when
 * equal). *ret_live_only tells whether every differing key is a "live." key. */
char *engine_spec_changes(const char *old_spec, const char *new_spec, bool *ret_live_only);
