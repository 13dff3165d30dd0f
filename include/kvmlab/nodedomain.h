/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmlab/error.h"
#include "kvmlab/node.h"
#include "kvmlab/resource.h"

/*
 * A node's domain as an engine resource (RESOURCE_DOMAIN): what planning decided (DomainPlan,
 * the resource's data), the backend that makes it real on libvirt (node/domain.c), and the wait
 * for readiness after `up` (node/ready.c).
 */

/* The kernel command line of a built image (its root file system carries this label). */
#define NODE_BUILD_CMDLINE "root=LABEL=kvmlab-root rw console=ttyS0 panic=-1"

/* Seconds a guest under kvm may stay silent on its console before accel auto gives up on kvm. */
#define NODE_KVM_SILENT_S 20

typedef struct DomainNicPlan {
    char *network; /* the lab file's network key */
    MacAddr mac;
    uint32_t ip; /* the reserved or static address, 0: unknown (bridged) */
} DomainNicPlan;

typedef struct DomainPlan {
    char *node;
    char *dir;         /* <state>/labs/<lab>/nodes/<node> */
    char *seed_path;   /* <dir>/seed.iso; NULL without cloud-init */
    char *console_log; /* <dir>/console.log */
    SeedFiles seed;    /* empty without cloud-init */
    char *xml;         /* the domain XML to define */
    /* accel auto, started under kvm: the same domain under TCG, with the reason, for when kvm
     * never runs the guest; NULL otherwise */
    char *xml_tcg;
    bool kvm;         /* @xml is type kvm */
    bool insist_kvm;  /* accel: kvm (a silent guest fails instead of falling back) */
    char *accel_note; /* why this node runs under tcg though auto was asked, NULL */
    bool cloud_init;
    bool start; /* false: defined, not started, not waited for (start: false) */
    LabRole role;
    unsigned cpus;
    uint64_t memory_mib;
    DomainNicPlan *nics;
    size_t n_nics;
} DomainPlan;

void domain_plan_free(void *p);

/* The backend of RESOURCE_DOMAIN on connection @conn (a virConnectPtr, borrowed: it is the
 * backend's whole context). Everything it makes is named by the plan's DomainPlan. */
void node_domain_backend(void *conn, EngineBackend *ret);

/* The canonical spec text of a live domain: @spec (what kvmlab made) with the facts the XML
 * shows (cpus, memory, MACs) read from @xml instead. New string; NULL on OOM or bad XML. */
char *node_domain_live_spec(const char *spec, const char *xml);

/* ---- readiness (node/ready.c) --------------------------------------------------------------- */

typedef enum NodePhase {
    NODE_PHASE_BOOTING,   /* started, nothing on the console yet */
    NODE_PHASE_ADDRESS,   /* waiting for its address */
    NODE_PHASE_CLOUDINIT, /* has an address, waiting for cloud-init and the report */
    NODE_PHASE_READY,
    NODE_PHASE_FAILED,
} NodePhase;

typedef struct NodeWait {
    /* in */
    const char *node;
    const char *domain;      /* libvirt name */
    const char *console_log; /* its serial log */
    const char *xml_tcg;     /* accel auto under kvm: what to restart it as; NULL */
    bool insist_kvm;
    bool cloud_init;
    bool bootstrap_expected; /* the report must show a passing bootstrap check */
    bool packages_required;  /* install_packages: true */
    const DomainNicPlan *nics;
    size_t n_nics;
    const char *const
            *net_names; /* libvirt network name per NIC (lease lookup; "file:PATH" a dnsmasq
                           lease file), entries may be NULL */
    /* out */
    NodePhase phase;
    char *detail;  /* what it waits for, or why it failed */
    char *address; /* the first address found */
    char *warning; /* told once: the tcg fallback, packages skipped */
    bool fell_back;
    double fallback_s; /* seconds kvm was given before the restart under tcg */
    NodeReport report;
    double ready_s;
} NodeWait;

typedef void (*NodeWaitProgressFn)(const NodeWait *w, size_t n, size_t changed, void *userdata);

/*
 * Wait, for all @n nodes at once, until each is ready (address; with cloud-init, its report of
 * the latest boot with cloud-init done and every check passing) or has failed, or @timeout_s
 * passed, or an interrupt arrived (-EINTR). Restarts under tcg a node whose console stays empty
 * NODE_KVM_SILENT_S seconds under kvm when @w->xml_tcg is given. 0 when all are ready; -ETIME
 * (timeout) or -EIO (a node failed) with @err naming the first node, what it waited for and the
 * last lines of its console log.
 */
int node_wait_all(void *conn, NodeWait *w, size_t n, int timeout_s, NodeWaitProgressFn progress,
                  void *userdata, Error *err);
void node_wait_clear(NodeWait *w);

/* The last @lines lines of file @path (console logs: control characters made visible). New
 * string, "" when the file is empty or missing. */
char *node_log_tail(const char *path, int lines);

/* The IPv4 address of @mac in network @net_name's DHCP leases ("file:PATH": a dnsmasq lease
 * file, the bridge backend's), or through the guest agent of @domain; new string or NULL. */
char *node_address_lookup(void *conn, const char *domain, const char *net_name, const MacAddr *mac);
