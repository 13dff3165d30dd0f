/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "kvmlab/addr.h"
#include "kvmlab/error.h"

/*
 * The contract between the engine and the backends that make resources real: what a desired
 * resource is, what an observed object is, and the callbacks a backend offers. It sits below
 * both, so a backend (libvirt networks, the NAT table, later pools, volumes and domains) never
 * links the engine and the engine never knows a backend's insides.
 */

typedef enum ResourceKind {
    RESOURCE_NETWORK,  /* a libvirt network */
    RESOURCE_PORTFWD,  /* the lab's nftables table: NAT masquerade and port forwards */
    RESOURCE_POOL,     /* the lab's directory storage pool */
    RESOURCE_IMAGE,    /* a base image in the shared store, used by this lab */
    RESOURCE_VOLUME,   /* a disk of a node: a volume in the lab's pool */
    RESOURCE_DOMAIN,   /* a node: a libvirt domain with its cloud-init seed */
    RESOURCE_BRIDGE,   /* a network on the bridge backend: kvmlab's own Linux bridge, its
                         addresses and dnsmasq, or a host NIC moved onto a bridge */
    RESOURCE_FIREWALL, /* the lab's allow rules in another table that drops its traffic */
    RESOURCE_KIND_MAX,
} ResourceKind;

/* A desired resource, fully specified. */
typedef struct Resource {
    ResourceKind kind;
    char *key;    /* the lab file's name: vmnet8 */
    char *name;   /* the object name: <lab>-<key> (or the name an earlier up gave it) */
    char *hash;   /* hash of the canonical spec */
    char *spec;   /* canonical spec text, "key=value" lines; "live." keys change in place */
    char *note;   /* what planning decided on its own (a picked subnet), may be NULL */
    char *bridge; /* Linux bridge the object claims, may be NULL */
    bool has_subnet;
    Ipv4Net subnet; /* address range the object claims */
    bool passive;   /* made but not started (a node with start: false): not running is no change */
    void *data;     /* kind-specific realisation input (VmnetSpec *) */
    void (*data_free)(void *);
} Resource;

/* An object found on the host (owned by this lab, another lab, or nobody we know). */
typedef struct Observed {
    ResourceKind kind;
    char *name;
    char *lab; /* owner lab from the metadata; NULL: not a kvmlab object */
    char *key;
    char *hash; /* the spec hash the metadata records */
    char *spec; /* the canonical spec text the metadata records (what kvmlab made) */
    /* the same canonical text read from the live object itself; NULL when the backend cannot
     * read it. It differs from @spec after a hand edit or an older kvmlab's formatter: drift. */
    char *live_spec;
    /* everything needed to put the object back exactly as it is (a network's XML, a table's
     * listing); backend-specific; NULL when the backend cannot restore it */
    char *definition;
    char *bridge;
    bool has_subnet;
    Ipv4Net subnet;
    bool active;
    bool autostart;
} Observed;

/* How the engine reaches the host for one resource kind. ctx is the backend's own. Every
 * mutation returns 0 or a negative errno with @err set. */
typedef struct EngineBackend {
    ResourceKind kind;
    const char *label; /* "network" */
    /* every object of this kind, ours or not (clash detection needs all) */
    int (*observe)(void *ctx, Observed **ret, size_t *ret_n, Error *err);
    int (*create)(void *ctx, const Resource *want, Error *err);
    int (*start)(void *ctx, const Observed *have, Error *err);
    int (*update)(void *ctx, const Resource *want, const Observed *have, Error *err);
    /* remove @have; an object that is already gone is not an error */
    int (*remove)(void *ctx, const Observed *have, Error *err);
    /* optional: replace @have by @want; without it a recreate is remove then create */
    int (*recreate)(void *ctx, const Resource *want, const Observed *have, Error *err);
    /* put the object back exactly as @have describes it (its definition, running state and
     * autostart), replacing whatever carries its name now: the inverse of every action but
     * create. */
    int (*restore)(void *ctx, const Observed *have, Error *err);
    void *ctx;
} EngineBackend;

void resource_clear(Resource *r);
void observed_clear(Observed *o);
/* Deep copy of @o into *ret; 0 or -ENOMEM. */
int observed_copy(const Observed *o, Observed *ret);
/* What a resource looks like once made: an Observed borrowing @r's strings (do not clear it). */
Observed resource_as_observed(const Resource *r, const char *lab);

const char *resource_kind_to_string(ResourceKind k);
