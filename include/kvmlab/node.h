/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmlab/addr.h"
#include "kvmlab/error.h"
#include "kvmlab/lab.h"

/*
 * Nodes: what a node VM is made of. Everything here is pure (text in, text out) except the
 * seed writer (node_seed_write, a file) and the secrets (node/secrets.c, files in the lab's
 * state). The engine's domain backend and the readiness wait build on these.
 *
 *   node/template.c   a small mustache-like renderer for the files in templates/
 *   node/cloudinit.c  meta-data, network-config v2 and user-data of one node (SeedInput)
 *   node/report.c     the in-guest report (cloud-init result, preflight) read from the console log
 *   node/seed.c       the NoCloud seed ISO (label cidata), written in-process with libisofs
 *   node/secrets.c    bootstrap token, cluster CA and its hash (OpenSSL), the lab's SSH key
 *   node/domxml.c     the libvirt domain XML of a node and its kvmlab metadata read back
 */

/* The user kvmlab makes in every cloud-init node (passwordless sudo, the lab's SSH key). */
#define NODE_USER "kvmlab"

/* ---- templates (node/template.c, pure) ---------------------------------------------------- */

/*
 * A value tree for a template: a string, a boolean, or a list of maps. Templates use {{name}}
 * (the string, inserted verbatim), {{#name}}...{{/name}} (a true boolean or a non-empty string:
 * once; a list: once per item, with the item's names in scope first), {{^name}}...{{/name}} (the
 * opposite), {{! comment }}. A name that is not defined is an error naming it and its line.
 * A section, closing or comment tag alone on its line takes the line with it (as in mustache);
 * a {{name}} alone on its line (blanks before it, a newline after it) has each line of its value
 * indented as far as the tag and ends with one newline, for multi-line texts in YAML blocks.
 */
typedef struct TplVars TplVars;

TplVars *tpl_vars_new(void);
void tpl_vars_free(TplVars *v);
/* Each returns 0 or -ENOMEM; a name set twice keeps the last value. */
int tpl_vars_set(TplVars *v, const char *name, const char *value);
int tpl_vars_set_bool(TplVars *v, const char *name, bool value);
/* Append a new map to list @name (made on first use) and return it in *ret (owned by @v). */
int tpl_vars_add_item(TplVars *v, const char *name, TplVars **ret);

/* Render template text @tpl (named @tpl_name in errors: "user-data.yaml:12: ...") with @vars.
 * New string in *ret. 0; -EINVAL with @err set for a syntax error or an undefined name. */
int tpl_render(const char *tpl_name, const char *tpl, const TplVars *vars, char **ret, Error *err);

/*
 * The text of template file @file ("user-data.yaml"): from @override_dir when that directory
 * has it (the lab's `templates: DIR`), else from $KVMLAB_TEMPLATES when set (a source tree, as
 * `kvmlab init` reads it), else from the installed data directory (KVMLAB_DATADIR/templates),
 * else from the source tree (KVMLAB_SOURCE_ROOT/templates, for an uninstalled build). New string
 * in *ret, the path it came from in *ret_path (may be NULL). 0 or -ENOENT.
 */
int tpl_load(const char *override_dir, const char *file, char **ret, char **ret_path, Error *err);

/* ---- cloud-init seed content (node/cloudinit.c, pure but for tpl_load) --------------------- */

typedef struct SeedNic {
    MacAddr mac;
    bool dhcp;        /* true: DHCP (the network reserves @ip for @mac); false: static @ip */
    uint32_t ip;      /* host order; the reserved or static address, 0 when none is known */
    unsigned prefix;  /* 24 */
    uint32_t gateway; /* static only: the default route's next hop, 0 for none */
    uint32_t dns;     /* static only: 0 for none */
} SeedNic;

typedef struct SeedHost {
    const char *name;
    uint32_t ip; /* host order */
} SeedHost;

typedef struct SeedInput {
    const char *lab;
    const char *node;        /* the node's name, its hostname */
    const char *instance_id; /* changes when the seed's content changes */
    LabRole role;            /* LAB_ROLE_NONE: a plain VM (no kubeadm preparation) */
    const char *ssh_pubkey;  /* the lab's public key, one OpenSSH line */
    const SeedNic *nics;
    size_t n_nics;
    const SeedHost *hosts; /* every node of the lab, for /etc/hosts */
    size_t n_hosts;
    /* kubernetes (only for a node with a role) */
    const char *k8s_version;        /* "1.31" */
    const char *k8s_repository;     /* apt repository URL, NULL: pkgs.k8s.io for the version */
    const char *k8s_repository_key; /* URL of its signing key; NULL: <repository>/Release.key;
                                       "none": the repository is trusted without a key */
    LabInstallPackages install_packages;
    bool bootstrap;
    const char *token;         /* bootstrap: the token "abcdef.0123456789abcdef" */
    const char *ca_cert_pem;   /* bootstrap: the cluster CA certificate */
    const char *ca_key_pem;    /* bootstrap: the CA key, control plane only (NULL on workers) */
    const char *ca_hash;       /* bootstrap: "sha256:<64 hex>" */
    uint32_t control_plane_ip; /* bootstrap: the first control plane's address */
    const char *control_plane; /* its name */
    const char *pod_subnet;    /* "10.244.0.0/16", NULL: kubeadm's default */
    const char *service_subnet;
    const char *templates_dir; /* the lab's `templates: DIR`, NULL */
} SeedInput;

typedef struct SeedFiles {
    char *meta_data;
    char *network_config;
    char *user_data;
} SeedFiles;

/* The three files of @in's seed, rendered from the templates. 0 or a negative errno with @err
 * set (a template missing or broken). */
int node_seed_render(const SeedInput *in, SeedFiles *ret, Error *err);
void seed_files_clear(SeedFiles *f);

/* The pause image containerd is told to use for Kubernetes @version ("1.31" -> a
 * "registry.k8s.io/pause:3.10"); static string. */
const char *node_sandbox_image(const char *version);

/* ---- the in-guest report (node/report.c, pure) --------------------------------------------- */

/* One preflight check as the guest reported it. */
typedef struct NodeCheck {
    /* "swap", "ip_forward", "modules", "bridge_nf", "containerd", "ports", "cpus", "memory",
       "hostname", "packages", "bootstrap" */
    char *check;
    bool ok;
    bool warn;    /* ok, but worth telling (packages skipped: the repository was unreachable) */
    char *detail; /* one line */
} NodeCheck;

typedef struct NodeReport {
    bool found;       /* the console holds a complete report of the latest boot */
    char *boot_id;    /* the boot it is of (/proc/sys/kernel/random/boot_id) */
    char *cloud_init; /* "done", "error", "disabled", ... as cloud-init status said */
    char *hostname;
    char *product_uuid;
    char **macs; /* of every NIC, lower case */
    size_t n_macs;
    char **addresses; /* IPv4 addresses the guest has */
    size_t n_addresses;
    NodeCheck *checks;
    size_t n_checks;
} NodeReport;

/* The report of the latest boot in console log text @log (the guest prints it on ttyS0 when
 * cloud-init is done, on every boot; templates/README.md has the format): the last complete
 * "begin".."end" block, unless a later block of another boot has begun and not yet ended (then
 * found is false: that boot has not reported yet). Lines may carry console noise before the
 * marker and a trailing \r; unknown keys are ignored. Fills *ret (found false when there is
 * none yet). 0 or -ENOMEM. */
int node_report_parse(const char *log, size_t len, NodeReport *ret);
void node_report_clear(NodeReport *r);

/* ---- the seed ISO (node/seed.c) ------------------------------------------------------------ */

typedef struct SeedFile {
    const char *name; /* "meta-data" */
    const char *data;
    size_t len;
} SeedFile;

/* Write an ISO 9660 image (Joliet and Rock Ridge, volume id "cidata") holding @files at its
 * root to @path, mode 0600, through a temporary file renamed into place. 0 or a negative errno
 * with @err set. */
int node_seed_write(const char *path, const SeedFile *files, size_t n, Error *err);

/* ---- secrets (node/secrets.c) -------------------------------------------------------------- */

/* A new bootstrap token "[a-z0-9]{6}.[a-z0-9]{16}" from the system's random source. */
int node_token_new(char **ret, Error *err);
/* Whether @s has a bootstrap token's form. */
bool node_token_valid(const char *s);

/* A new cluster CA: an RSA 2048 key and a self-signed CA certificate "CN=kubernetes" valid for
 * ten years, both PEM. 0 or a negative errno with @err set. */
int node_ca_new(char **ret_cert_pem, char **ret_key_pem, Error *err);
/* kubeadm's --discovery-token-ca-cert-hash of @cert_pem: "sha256:" and the hex SHA-256 of the
 * certificate's DER SubjectPublicKeyInfo. */
int node_ca_hash(const char *cert_pem, char **ret, Error *err);

/* The lab's secrets in @dir (made 0700 when missing): the bootstrap token ("token"), the CA
 * ("ca.crt", "ca.key") and the SSH key ("id_ed25519", "id_ed25519.pub"), each made on first use
 * and read back later, files 0600. A field the caller does not want may be NULL. */
typedef struct LabSecrets {
    char *token;
    char *ca_cert_pem;
    char *ca_key_pem;
    char *ca_hash;
    char *ssh_key_path; /* the private key's path, for ssh -i */
    char *ssh_pubkey;   /* one OpenSSH line */
} LabSecrets;
int lab_secrets_load(const char *dir, bool bootstrap, LabSecrets *ret, Error *err);
void lab_secrets_clear(LabSecrets *s);

/* ---- domain XML (node/domxml.c, pure) ------------------------------------------------------ */

typedef struct DomainNic {
    const char *network; /* a libvirt network's name, or NULL with @bridge */
    const char *bridge;  /* a Linux bridge's name (the bridge backend), NULL with @network */
    MacAddr mac;
    const char *model; /* "virtio", "e1000e", ... */
} DomainNic;

typedef struct DomainSpec {
    const char *name; /* <lab>-<node> */
    const char *uuid; /* the node's SMBIOS uuid, "8-4-4-4-12" hex */
    /* kvmlab <metadata>: */
    const char *lab, *key, *hash, *spec;
    const char *accel_fallback; /* why the node runs under tcg though kvm was asked, NULL */
    bool kvm;                   /* <domain type='kvm'>, else 'qemu' (TCG) */
    unsigned cpus;
    uint64_t memory_mib;
    const char *machine; /* "q35", "pc" */
    const char *kernel;  /* direct kernel boot; NULL: boot from the first disk */
    const char *initrd;
    const char *cmdline;
    /* UEFI firmware (libvirt picks OVMF from its firmware descriptors), else BIOS; secure boot
     * with Microsoft's keys enrolled and SMM on (q35 only) */
    bool efi;
    bool secure_boot;
    const char *disks_xml; /* <disk> and <controller> elements (storage_disks_xml), seed included */
    const DomainNic *nics;
    size_t n_nics;
    const char *console_log; /* the serial console's log file */
} DomainSpec;

/* The domain XML of @s. New string in *ret; 0, -EINVAL for a spec that cannot be (no name),
 * -ENOMEM. */
int node_domain_xml(const DomainSpec *s, char **ret, Error *err);

/* What kvmlab reads back from a live domain's XML. */
typedef struct DomainLive {
    char *lab, *key, *hash, *spec; /* from the kvmlab metadata; NULL when it has none */
    char *accel_fallback;
    bool kvm;
    unsigned cpus;
    uint64_t memory_mib;
    char **macs; /* lower case, in order */
    size_t n_macs;
    char *console_log;
} DomainLive;
int node_domain_parse(const char *xml, DomainLive *ret, Error *err);
void domain_live_clear(DomainLive *d);

/* The SMBIOS uuid of node @node in lab @lab: stable, unique per lab and node (a version 5 style
 * name-based uuid). New string. */
char *node_uuid(const char *lab, const char *node);
