/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "kvmlab/engine.h"
#include "kvmlab/error.h"
#include "kvmlab/imagestore.h"
#include "kvmlab/lab.h"
#include "kvmlab/node.h"
#include "kvmlab/sandbox.h"
#include "kvmlab/vmnet.h"

struct HvCaps;
struct NodeDisks;
struct NodeWait;

/*
 * A lab bound to a host: which libvirt it talks to (its sandbox or a URI), the connection, and
 * the engine backends on it. plan, up, down and status all go through one.
 */
typedef struct LabSession {
    const Lab *lab;       /* borrowed */
    char *state_root;     /* where sandboxes and per-lab state live */
    Sandbox *sandbox;     /* NULL when the lab names a libvirt URI */
    char *uri;            /* the libvirt URI in use */
    void *conn;           /* virConnectPtr, NULL while there is no host to talk to */
    bool sandbox_started; /* this session started the sandbox's daemon */
    char *warning;        /* what the caller should tell the user (down of a broken sandbox) */
    EngineBackend backends[RESOURCE_KIND_MAX];
    size_t n_backends;
    struct StorageCtx *storage; /* the storage backends' context, NULL without storage */
    bool delete_disks;          /* a node's disks its shorter disks: list drops may be deleted */
    bool make_secrets;          /* planning makes the lab's secrets when missing (up) */
    bool secrets_made;          /* ... and this session made them (a failed up removes them) */
    bool allow_firewall;        /* add the lab's allow rules to a firewall that drops it */
    VmnetBridgeCtx bridge_ctx;  /* the bridge backend's: the namespace its bridges live in */
} LabSession;

/* How lab_session_open() treats a sandbox that does not run. */
typedef enum SessionMode {
    SESSION_READ,   /* plan/status: do not start it; conn stays NULL */
    SESSION_WRITE,  /* up: start it */
    SESSION_REMOVE, /* down: start it only when it exists, to see what is inside */
} SessionMode;

/*
 * The URI a lab's `connect` means: "sandbox" (or no connect and no system libvirtd socket)
 * gives NULL in *ret_uri and true in *ret_sandbox. Pure apart from checking the socket.
 */
int lab_session_resolve(const Lab *lab, char **ret_uri, bool *ret_sandbox, Error *err);

int lab_session_open(const Lab *lab, const char *state_root, SessionMode mode, LabSession **ret,
                     Error *err);
void lab_session_free(LabSession *s);

/* What the CLI tells the user about a session, without reaching into the sandbox. */
typedef struct LabSessionInfo {
    bool sandboxed;       /* the lab lives in its own sandbox */
    bool sandbox_exists;  /* the sandbox's state exists (its daemon may not run) */
    bool sandbox_started; /* this session started the sandbox's daemon */
    bool connected;       /* there is a host to talk to */
    const char *uri;      /* borrowed */
    const char *warning;  /* borrowed; NULL when there is nothing to tell */
} LabSessionInfo;
void lab_session_info(const LabSession *s, LabSessionInfo *ret);

/* Whether lab @lab has a sandbox under @state_root (NULL: the default), for `down --lab`. */
bool lab_session_has_sandbox(const char *state_root, const char *lab);

/* Where image imports and downloads report their progress during apply (NULL: nowhere). */
void lab_session_set_progress(LabSession *s, ImageProgressFn fn, void *userdata);

/* Whether kvmlab can make storage with this session's daemon: one on this machine, which sees
 * kvmlab's state directory (the sandbox, qemu:///system, qemu:///session, test:///). */
bool lab_session_local(const LabSession *s);

/* Where a node's lease on lab network @key is found, for node_address_lookup(): the libvirt
 * network's name, "file:PATH" (the bridge backend's dnsmasq lease file), or NULL (bridged: the
 * guest agent tells). New string. */
char *lab_session_lease_source(const LabSession *s, const char *key);

/* Plan what `up` would do: observe, pick subnets, build every resource, diff. */
int lab_session_plan(LabSession *s, Plan **ret, Error *err);

/* Apply a plan from lab_session_plan() and record the lab's subnets for other labs' picking. */
int lab_session_apply(LabSession *s, const Plan *plan, EngineProgressFn progress, void *userdata,
                      Error *err);

/*
 * Remove everything this lab made: its objects (whatever the file says now), then its sandbox
 * unless something not made by this lab is still inside it (then *ret_kept_sandbox is true).
 * Fills *ret_plan with the deletions done (for printing).
 */
int lab_session_down(LabSession *s, Plan **ret_plan, bool *ret_kept_sandbox, Error *err);

/* After a failed up: when this session started the sandbox and nothing of the lab exists in it
 * (apply rolled back), remove the sandbox again so nothing is left half-made. */
void lab_session_abort(LabSession *s);

/* The observed objects of this lab; new array. */
int lab_session_observe(LabSession *s, Observed **ret, size_t *ret_n, Error *err);

/* One network of a lab as `status` shows it: what the live object does (not what its record
 * says), with the leases dnsmasq holds. Fields NULL when they do not apply. */
typedef struct LabNetStatus {
    char *name, *key;
    char *type, *bridge, *subnet, *host, *gateway, *dhcp;
    bool active;
    bool drift; /* the live object differs from what kvmlab made */
    int leases;
    char *backend;   /* "libvirt" or "bridge" */
    int dnsmasq_pid; /* the bridge backend's dnsmasq, 0: none runs */
} LabNetStatus;

/* One disk volume of the lab as it is on the host. */
typedef struct LabVolStatus {
    char *name;     /* <pool>/<file> */
    char *key;      /* <node>-<n> */
    char *capacity; /* bytes the guest sees */
    char *backing;  /* the base image's file, NULL for a data disk */
} LabVolStatus;

typedef struct LabStatus {
    bool running; /* there is a host to look at (a sandbox that runs, or a URI) */
    char *uri;
    LabNetStatus *nets;
    size_t n_nets;
    LabVolStatus *vols;
    size_t n_vols;
} LabStatus;

/* The lab's state for `status`. 0, or a negative errno with @err set. */
int lab_session_status(LabSession *s, LabStatus **ret, Error *err);
void lab_status_free(LabStatus *st);

/*
 * What the hypervisor offers for each machine type in @machines (virConnectGetDomainCapabilities),
 * as HvCaps in the same order: from the lab's running daemon (the answer is then cached under
 * the state root), else from that cache. *ret_known is false when neither had an answer for
 * every machine (the array then holds what was found). 0 or a negative errno with @err set.
 */
int lab_session_caps(LabSession *s, char *const *machines, size_t n, struct HvCaps **ret,
                     size_t *ret_n, bool *ret_known, Error *err);

/*
 * Every disk of @node with its bus and reason, checked against what the hypervisor offers when
 * lab_session_caps() knows it (*ret_known true); otherwise the choice without it (*ret_known
 * false). 0 or a negative errno with @err set (an OS no rule places, a bus that cannot be).
 */
int lab_session_node_disks(LabSession *s, const LabNode *node, struct NodeDisks *ret,
                           bool *ret_known, Error *err);

/* ---- nodes (engine/session-nodes.c) ------------------------------------------------------- */

/* What planning needs about the nodes: the hypervisor's answers, kvm, the lab's secrets (made
 * when @make_secrets and missing). */
int lab_session_observe_nodes(LabSession *s, HostState *h, bool make_secrets, Error *err);

/*
 * After lab_session_apply(): wait until every node of @plan is ready (node_wait_all()), with
 * @progress told of each change. The per-node results go to *ret (free each with
 * node_wait_clear(), then the array) even when it fails. 0 or a negative errno with @err set.
 */
typedef void (*LabWaitProgressFn)(const struct NodeWait *w, size_t n, size_t changed,
                                  void *userdata);
int lab_session_wait(LabSession *s, const Plan *plan, int timeout_s, LabWaitProgressFn progress,
                     void *userdata, struct NodeWait **ret, size_t *ret_n, Error *err);

/* One node as `status` and `ssh` see it: its domain's state, its addresses (leases of its
 * NICs, the file's static ones, what the guest reported) and the report on its console. */
typedef struct LabNodeStatus {
    const LabNode *node; /* borrowed */
    char *domain;
    char *state; /* "running", "shut off", "paused", "absent", "other" */
    bool running;
    char **addresses;
    size_t n_addresses;
    char *console_log;
    NodeReport report; /* found false when the guest printed none (yet) */
} LabNodeStatus;
int lab_session_node_status(LabSession *s, const LabNode *node, LabNodeStatus *ret, Error *err);
void lab_node_status_clear(LabNodeStatus *n);

/* The network namespace the lab's guests are reachable from (its sandbox's), NULL: this one. */
const char *lab_session_netns(const LabSession *s);
/* The lab's SSH private key's path (made by the first up). New string. */
char *lab_session_ssh_key(const LabSession *s);

/* Remove the state directories of nodes that @plan does not want (NULL: none is wanted) and
 * whose domain does not exist, and the seeds of wanted nodes that are not their current one. */
void lab_session_prune_nodes(LabSession *s, const Plan *plan);
/* After a failed up: remove the lab's secrets when this session made them. */
void lab_session_forget_secrets(LabSession *s);
