/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
/*
 * The lab-file parser's private interface (not installed), shared by its parts:
 *   parse-yaml.c        libfyaml events -> a located tree (YNode), anchors and aliases
 *   parse-read.c        typed readers: strings, integers, booleans, enums, addresses, names
 *   parse-diag.c        allocation, diagnostics and did-you-mean
 *   parse-networks.c    networks:   (names, type, subnet, interface, dhcp, reservations, forwards)
 *   parse-images.c      images:
 *   parse-nodes.c       nodes:      (count expansion, disks, NICs)
 *   parse-kubernetes.c  kubernetes:
 *   parse-checks.c      checks across sections (overlaps, forwards, duplicates, kubeadm)
 *   parse.c             the lab's top level and the entry points lab_load_string/lab_load_file
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kvmlab/lab.h"

struct fy_parser;

#define NODE_NAME_MAX    32
#define NETWORK_NAME_MAX 15
#define NODE_COUNT_MAX   64
#define NODE_CPUS_MAX    64
#define MEMORY_MIN_MIB   128
#define MEMORY_MAX_MIB   (1024ULL * 1024)
#define DISK_MIN_BYTES   (1ULL << 20)
#define DISK_MAX_BYTES   (64ULL << 40)
#define LEASE_LIMIT_S    (7 * 86400)
#define KUBEADM_CP_CPUS  2
#define KUBEADM_CP_MIB   1700

/* Allocation failure longjmps back to lab_load_string() (see parse_oom()), which reports
 * -ENOMEM: so callers never see NULL. */
void parse_oom_target(jmp_buf *target);
_Noreturn void parse_oom(void);
void *xrealloc(void *p, size_t n, size_t size);
void *xcalloc(size_t n, size_t size);
char *xstrndup(const char *s, size_t n);
/* NULL for NULL. */
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Append a zeroed element to a dynamic array and return a pointer to it. The capacity is the
 * next power of two (grown when @n is 0 or a power of two), so pushing N elements costs O(N);
 * only ARRAY_PUSH may grow such an array. */
#define ARRAY_PUSH(arr, n)                                                                         \
    ({                                                                                             \
        if (((n) & ((n)-1)) == 0)                                                                  \
            (arr) = xrealloc((arr), (n) ? 2 * (n) : 1, sizeof(*(arr)));                            \
        memset(&(arr)[(n)], 0, sizeof(*(arr)));                                                    \
        &(arr)[(n)++];                                                                             \
    })

static inline bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* ---- hash index (parse-index.c) -------------------------------------------------------- */

typedef struct IndexSlot {
    bool used;
    uint64_t hash;
    size_t entry;
} IndexSlot;

/* Entries are numbers (indexes into the caller's array); the caller says how to compare. */
typedef struct Index {
    IndexSlot *slots;
    size_t cap; /* a power of two */
    size_t n;
} Index;

typedef bool (*IndexEq)(const void *ud, size_t entry);

/* The stored entry added with hash @h for which @eq(@ud, entry) holds (the caller may change
 * it in place), or NULL. */
size_t *index_find(const Index *ix, uint64_t h, IndexEq eq, const void *ud);
/* Add @entry under hash @h (duplicates are the caller's to avoid). */
void index_add(Index *ix, uint64_t h, size_t entry);
void index_clear(Index *ix);
uint64_t index_hash_str(const char *s);

/* ---- the YAML tree ---------------------------------------------------------------------- */

typedef enum YType {
    Y_SCALAR,
    Y_MAP,
    Y_SEQ,
} YType;

typedef struct YNode YNode;

typedef struct YPair {
    YNode *key;
    YNode *value;
    bool skip; /* duplicate or non-string key, already reported */
} YPair;

struct YNode {
    YType type;
    LabLoc loc;
    char *text; /* scalars: the value, escapes resolved */
    bool plain; /* scalars: written without quotes, so "~" and "" mean null */
    YNode **items;
    size_t n_items;
    YPair *pairs;
    size_t n_pairs;
    uint64_t weight; /* values it stands for, aliases expanded (saturating) */
    bool shared;     /* an alias: text, items and pairs belong to the anchored node */
    bool bad;        /* already reported (an alias to nowhere): stay quiet about it */
};

typedef struct YAnchor {
    char *name;
    YNode *node;
} YAnchor;

typedef struct YFrame {
    YNode *node;
    char *anchor;
} YFrame;

/* ---- parse context ---------------------------------------------------------------------- */

typedef struct NetAux {
    bool type_known;
    bool subnet_bad; /* given but invalid: checks that need it stay quiet */
    LabLoc subnet_loc;
} NetAux;

/* One entry of `nodes:` in the file, before count expansion. */
typedef struct NodeEntry {
    char *label; /* "node 'cp'", or "the node at line 5" when it has no usable name */
    LabLoc loc;
    LabLoc name_loc;
    LabLoc cpus_loc;
    LabLoc memory_loc;
    LabLoc count_loc;
    bool has_count;
    unsigned count;
    size_t first, n; /* its expanded nodes in Lab.nodes */
} NodeEntry;

typedef struct ForwardAux {
    size_t net, pf;
    LabLoc node_loc;
    LabLoc host_port_loc;
} ForwardAux;

typedef struct MacUse {
    MacAddr mac;
    LabLoc loc;
    size_t seq; /* registration order, to sort copies of one node stably */
    char *owner;
} MacUse;

typedef struct IpUse {
    size_t net;
    uint32_t ip;
    LabLoc loc;
    size_t seq;
    char *owner;
} IpUse;

/* A MAC derived for a node's NIC, by node name (the LabNode's own string). */
typedef struct DerivedMac {
    MacAddr mac;
    const char *node;
} DerivedMac;

typedef struct Ctx {
    LabDiag *diags;
    size_t n_diags;
    bool stop;          /* LAB_DIAGS_MAX reached: walkers stop early */
    bool nodes_full;    /* LAB_NODES_MAX reached and reported: later nodes were not read */
    bool networks_full; /* LAB_NETWORKS_MAX reached and reported: later networks were not read */
    LabLoc last_loc;
    const char *text; /* the whole document, for the raw text of quoted scalars */
    size_t text_len;

    YNode **ynodes; /* every tree node, for freeing: aliases share them */
    size_t n_ynodes;
    YAnchor *anchors;
    size_t n_anchors;
    Index anchor_index;
    uint64_t alias_values; /* what all aliases so far stand for */
    bool aliases_full;     /* LAB_ALIAS_VALUES_MAX reached and reported */

    Lab *lab;
    NetAux *net_aux; /* parallel to lab->networks */
    NodeEntry *entries;
    size_t n_entries;
    ForwardAux *forwards;
    size_t n_forwards;
    MacUse *macs;
    size_t n_macs;
    DerivedMac *derived;
    size_t n_derived;
    Index derived_index;
    char **bridge_keys; /* "bridge:<key>", owners of the bridges' derived MACs */
    size_t n_bridge_keys;
    IpUse *ips;
    size_t n_ips;
    LabLoc k8s_bootstrap_loc;
    LabLoc k8s_pod_loc;
    LabLoc k8s_service_loc;
} Ctx;

typedef enum NameKind {
    NAMES_NETWORKS,
    NAMES_IMAGES,
    NAMES_NODES,
} NameKind;

/* ---- diagnostics (parse-diag.c) --------------------------------------------------------- */

/* Record a problem at @loc. */
void diag(Ctx *c, LabLoc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* As diag(), ending in "; did you mean 'SUGGESTION'?" when @suggestion is not NULL. */
void diag_suggest(Ctx *c, LabLoc loc, const char *suggestion, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* The candidate (NULL-terminated list) closest to @word, when close enough to be a typo. */
const char *closest(const char *word, const char *const *cands);
/* "a, b, c" from a NULL-terminated list. New string. */
char *join(const char *const *v);
/* The names of all networks, images or nodes, NULL-terminated, for did-you-mean. Free the
 * array only: the names belong to the lab. */
const char **names_of(const Lab *lab, NameKind kind);

/* ---- the tree (parse-yaml.c) ------------------------------------------------------------ */

/* Build the tree of the whole stream into *ret_root (NULL for an empty one); -EINVAL when
 * libfyaml reported a syntax error, which its diag object holds. */
int y_build(Ctx *c, struct fy_parser *fyp, YNode **ret_root);

/* ---- typed readers (parse-read.c) ------------------------------------------------------- */

bool y_is_null(const YNode *n);
/* "a mapping", "a list", "a string" or "an empty value", for messages. */
const char *y_kind(const YNode *n);
/* "WHAT must be EXPECTED, not VALUE". */
void diag_type(Ctx *c, const YNode *n, const char *what, const char *expected);
/* The first pair whose key is @key (duplicates are skipped, they were reported). */
YPair *map_pair(const YNode *m, const char *key);
YNode *map_get(const YNode *m, const char *key);
/* Report every key of @m that is not in @keys, with a did-you-mean. @where: "in the lab". */
void map_check_keys(Ctx *c, const YNode *m, const char *const *keys, const char *where);
/* A mapping (or list), or an empty value (treated as empty, false); reports anything else. */
bool y_want_map(Ctx *c, const YNode *n, const char *what, const char *expected);
bool y_want_seq(Ctx *c, const YNode *n, const char *what, const char *expected);
/* A non-empty scalar's text, or NULL after reporting that @what must be @expected. */
const char *y_text(Ctx *c, const YNode *n, const char *what, const char *expected);
const char *y_str(Ctx *c, const YNode *n, const char *what);
/* The readers below return false after reporting the problem. */
bool y_uint(Ctx *c, const YNode *n, const char *what, uint64_t min, uint64_t max, uint64_t *ret);
bool y_bool(Ctx *c, const YNode *n, const char *what, bool *ret);
/* Index of the value in @names, or -1 after reporting it with a did-you-mean. */
int y_enum(Ctx *c, const YNode *n, const char *what, const char *const *names);
bool y_ipv4(Ctx *c, const YNode *n, const char *what, uint32_t *ret);
bool y_mac(Ctx *c, const YNode *n, const char *what, MacAddr *ret);
bool y_cidr(Ctx *c, const YNode *n, const char *what, Ipv4Net *ret);
/* [a-z][a-z0-9-]* */
bool name_is_simple(const char *s);
/* An osinfo short id into *ret (new string), or a diagnostic. */
void check_os(Ctx *c, const YNode *n, char **ret);

/* ---- sections (parse-networks.c, parse-images.c, parse-nodes.c, parse-kubernetes.c) ----- */

void parse_network(Ctx *c, const YPair *np);
/* A guest address on @net: inside the subnet and not one the address plan reserves. */
bool check_guest_ip(Ctx *c, const LabNetwork *net, uint32_t ip, LabLoc loc, const char *what);
void parse_image(Ctx *c, const YPair *ip);
void parse_node(Ctx *c, const YNode *m);
LabAccel parse_accel(Ctx *c, const YNode *v);
/* Keep node NICs from deriving the MACs of the networks' bridges; after the networks are read. */
void reserve_bridge_macs(Ctx *c);
void parse_kubernetes(Ctx *c, const YNode *m);

/* ---- checks across sections (parse-checks.c) -------------------------------------------- */

/* Register a MAC or IP for the duplicate checks; @owner (new string, taken) names its user. */
void use_mac(Ctx *c, const MacAddr *mac, LabLoc loc, char *owner);
void use_ip(Ctx *c, size_t net, uint32_t ip, LabLoc loc, char *owner);
int loc_cmp(LabLoc a, LabLoc b);
void check_overlaps(Ctx *c);
void check_forwards(Ctx *c);
/* Duplicates are reported at the later one in the file, naming the first. */
void check_duplicates(Ctx *c);
void check_kubernetes(Ctx *c);
/* Every automatic NIC address fits the static range of its network. */
void check_static_space(Ctx *c);
