/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmlab/addr.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/error.h"
#include "kvmlab/lab.h"
#include "kvmlab/xmlns.h"

/*
 * A lab network as a backend-independent model (VmnetSpec), fully resolved against VMware's
 * address plan, and its realisations. Everything declared here is pure (no host access) except
 * where a function says it touches libvirt.
 *
 * VMware plan on a /24 N.0: N.1 host, N.2 NAT gateway + DNS (nat only), N.3-N.127 static,
 * N.128-N.254 DHCP pool, leases 1800 s default / 7200 s max; host-only hands out no router.
 */

#define VMNET_IFNAMSIZ 16
/* longest readable bridge name: libvirt appends "-nic" to it for a helper device */
#define VMNET_BRIDGE_READABLE_MAX 11

typedef struct VmnetHost {
    char *name; /* node name (DNS host entry <name>.<lab>.lab and DHCP host name); may be NULL */
    MacAddr mac;
    uint32_t ip;
} VmnetHost;

typedef struct VmnetForward {
    LabProto proto;
    uint16_t host_port;
    uint32_t target_ip;
    uint16_t target_port;
    char *node;
} VmnetForward;

typedef struct VmnetSpec {
    char *lab;    /* lab name */
    char *key;    /* name in the lab file: vmnet8 */
    char *name;   /* libvirt object name: <lab>-<key> */
    char *bridge; /* Linux bridge name, at most 15 characters */
    VmnetType type;
    VmnetBackend backend;
    bool has_subnet;    /* false only for isolated and bridged networks without addresses */
    bool subnet_picked; /* true when the planner chose the subnet */
    Ipv4Net subnet;
    uint32_t host_ip;    /* N.1 (nat, hostonly) */
    uint32_t gateway_ip; /* N.2 (nat): router and DNS handed to guests */
    bool dhcp;
    uint32_t dhcp_start, dhcp_end;
    uint32_t lease_seconds;     /* default lease */
    uint32_t max_lease_seconds; /* VMware's max-lease-time; informational for libvirt */
    bool nat_libvirt;           /* nat: libvirt's own <forward mode='nat'/>, no kvmlab table */
    char *interface;            /* bridged: the bridge guests join, or (macvtap, bridge backend)
                                   the host NIC */
    bool macvtap;               /* bridged: guests on macvtap devices of the NIC (libvirt) */
    char *domain;               /* DNS domain: <lab>.lab */
    VmnetHost *hosts;           /* reservations (file) + node NICs, sorted by IP */
    size_t n_hosts;
    VmnetForward *forwards;
    size_t n_forwards;
} VmnetSpec;

/* The bridge kvmlab makes for host NIC @nic on the bridge backend ("kvbr-<nic>", shortened with
 * a hash when the NIC's name is long). One per NIC, shared by every lab that bridges it. New
 * string. */
char *vmnet_nic_bridge_name(const char *nic);

/*
 * Pure: a spec read back from its canonical text (vmnet_spec_format()'s lines), for the bridge
 * backend's restore and update of an object made by an earlier run. @lab and @key name it.
 * 0, or -EINVAL with @err set when a line the backend needs is missing or malformed.
 */
int vmnet_spec_parse(const char *text, const char *lab, const char *key, VmnetSpec **ret,
                     Error *err);

/* The libvirt object name <lab>-<key>. New string. */
char *vmnet_object_name(const char *lab, const char *key);
/* A bridge name a person can map to its lab: <lab>-<key> when it fits in 11 characters (libvirt
 * appends "-nic" for a helper device), else the lab shortened and vmnetN as vN: "netdemo-v8".
 * vmnet_bridge_name_alt() with @attempt > 0 gives other names of that shape with three hex
 * digits of a hash, to break a clash with a name in use. New strings. */
char *vmnet_bridge_name(const char *lab, const char *key);
char *vmnet_bridge_name_alt(const char *lab, const char *key, unsigned attempt);

/*
 * Build the resolved spec of network @net of @lab. @subnet is the subnet to use when the file
 * gives none (NULL when the network needs none or one was given). Node NICs on this network get
 * host entries: their fixed ip, or a stable address from the static range N.3-N.127 derived
 * from the lab, node and NIC so a re-created node keeps it. Pure; 0 or negative errno + @err.
 */
int vmnet_spec_build(const Lab *lab, const LabNetwork *net, const Ipv4Net *subnet, VmnetSpec **ret,
                     Error *err);
void vmnet_spec_free(VmnetSpec *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(VmnetSpec *, vmnet_spec_free)

/*
 * The canonical text of a spec: one "key=value" line per fact, in a fixed order. It is stored in
 * the libvirt object's metadata and compared field by field by the diff. Lines whose key starts
 * with "live." can change on a running network (reservations, DNS hosts, lease time); any other
 * change needs the network re-created. New string.
 */
char *vmnet_spec_format(const VmnetSpec *s);

/* FNV-1a 64 of the canonical text as 16 hex digits. New string. */
char *vmnet_spec_hash(const VmnetSpec *s);

/*
 * The port forwards of a spec, one "forward=PROTO/HOSTPORT,IP:PORT,NODE" line each in file
 * order. They are realised as firewall rules, not by the network, so they are not part of the
 * network's canonical text or hash. New string (empty when there are none).
 */
char *vmnet_forwards_format(const VmnetSpec *s);

/* Pure: the libvirt network XML for @s, including the kvmlab <metadata>. New string. */
int vmnet_libvirt_xml_format(const VmnetSpec *s, char **ret, Error *err);
/* The same with the <uuid> of an existing network, to redefine it in place. */
int vmnet_libvirt_xml_format_uuid(const VmnetSpec *s, const char *uuid, char **ret, Error *err);

/* Pure: the <host> element libvirt's virNetworkUpdate() takes for one reservation. */
char *vmnet_libvirt_dhcp_host_format(const VmnetSpec *s, const VmnetHost *h);
/* Pure: the DNS <host> element for virNetworkUpdate(). */
char *vmnet_libvirt_dns_host_format(const VmnetHost *h, const char *domain);

/*
 * Pure: pick a free /24 for a network without a subnet: the first of 192.168.100.0/24 ..
 * 192.168.254.0/24, then 10.200.0.0/24 .. 10.254.255.0/24, that overlaps none of @used.
 * 0, or -ENOSPC when everything is taken.
 */
int vmnet_subnet_pick(const Ipv4Net *used, size_t n_used, Ipv4Net *ret);

/* The metadata namespace of every kvmlab object: KVMLAB_XMLNS in kvmlab/xmlns.h. */

/* What an object's <metadata> says about its owner (parsed from libvirt XML; pure). */
typedef struct VmnetOwner {
    char *lab;  /* NULL: not a kvmlab object */
    char *key;  /* the lab file's name for it */
    char *hash; /* spec hash */
    char *spec; /* canonical spec text */
} VmnetOwner;

/* Parse the kvmlab metadata out of a network (or domain) XML document. A document without it
 * gives an owner with all fields NULL. 0 or -EINVAL with @err set when the XML is malformed. */
int vmnet_owner_parse(const char *xml, VmnetOwner *ret, Error *err);
void vmnet_owner_clear(VmnetOwner *o);

/* Pure: the bridge name and the first IPv4 subnet of any libvirt network XML (foreign ones
 * too), for clash detection. *ret_bridge is a new string or NULL. */
int vmnet_libvirt_xml_summary(const char *xml, char **ret_bridge, bool *ret_has_subnet,
                              Ipv4Net *ret_subnet, Error *err);

/*
 * Host side (touches libvirt): the engine backend for libvirt networks on connection @conn
 * (a virConnectPtr). The backend borrows the connection.
 */
struct EngineBackend;
void vmnet_libvirt_backend(void *conn, struct EngineBackend *ret);

/*
 * Host side: the engine backend for networks on the bridge backend (kind RESOURCE_BRIDGE):
 * kvmlab's own Linux bridges, their addresses and dnsmasq, and host NICs moved onto a bridge,
 * inside network namespace @netns (NULL: the one this process runs in), with their records
 * under @state_root. The context is borrowed and must outlive the backend.
 */
typedef struct VmnetBridgeCtx {
    const char *netns;
    const char *state_root;
} VmnetBridgeCtx;
void vmnet_bridge_backend(VmnetBridgeCtx *ctx, struct EngineBackend *ret);
/* Host side: the engine backend for the lab's allow rules in a host firewall that drops its
 * traffic (kind RESOURCE_FIREWALL), in the same namespace, records under the same root. */
void vmnet_firewall_backend(VmnetBridgeCtx *ctx, struct EngineBackend *ret);

/*
 * Pure: why qemu:///session cannot join kvmlab's bridges, NULL when it can. An unprivileged QEMU
 * joins a bridge through qemu-bridge-helper (@helper: its path, NULL when not installed), which
 * must be setuid root (@helper_setuid_root), and only the bridges /etc/qemu/bridge.conf allows
 * (@bridge_conf: its text, NULL when missing): "allow all", or "allow kvbr-*"-style lines kvmlab
 * cannot predict, so "allow all" or one line per bridge. New string naming what is missing and
 * the command that fixes it.
 */
char *vmnet_session_bridge_refusal(const char *helper, bool helper_setuid_root,
                                   const char *bridge_conf);

/* Host side (reads the current network namespace, read-only): every IPv4 subnet that an address
 * or route of this namespace uses, to keep picked subnets clear of them. */
int vmnet_host_subnets(Ipv4Net **ret, size_t *ret_n, Error *err);

/* Pure: the DHCP <range> element (with its <lease>) for virNetworkUpdate(). */
char *vmnet_libvirt_dhcp_range_format(const VmnetSpec *s);

/* Host side: the number of DHCP leases libvirt's dnsmasq holds on network @name (a
 * virConnectPtr in @conn). 0 or more, or a negative errno with @err set. */
int vmnet_libvirt_lease_count(void *conn, const char *name, Error *err);

/*
 * VMware's NAT for a lab, as the lab's own nftables table "ip kvmlab-<lab>": masquerade for every
 * NAT network's subnet going elsewhere, and port forwards (incoming TCP/UDP): DNAT from a host
 * port on any of the host's addresses to a node's address and port, for traffic arriving from
 * outside (prerouting) and made on the host itself (output). libvirt's side of a NAT network is
 * <forward mode='open'/>: routing, DHCP and DNS, and no firewall rules of its own.
 */
typedef struct VmnetForwardSet {
    char *lab;
    Ipv4Net *masquerade; /* NAT subnets */
    size_t n_masquerade;
    VmnetForward *forwards; /* node names borrowed from the networks' specs */
    size_t n;
} VmnetForwardSet;

/* "kvmlab-<lab>". New string. */
char *vmnet_nft_table_name(const char *lab);

/* Pure: the whole table as nft input (one atomic "table ... { }" block), with a comment that
 * carries the lab and @hash so observation can tell ours from others. New string. */
char *vmnet_nft_table_format(const VmnetForwardSet *set, const char *hash);

/* Pure: lab and hash from a table's comment ("kvmlab lab=LAB hash=HASH"); 0 or -ENOENT. */
int vmnet_nft_comment_parse(const char *listing, char **ret_lab, char **ret_hash);

/* Host side: the engine backend for the NAT table in network namespace @netns (NULL:
 * the namespace this process runs in). @netns is borrowed. */
void vmnet_nft_backend(const char *netns, struct EngineBackend *ret);

/*
 * Drift: what the live objects really do, as canonical text the engine compares with the spec.
 */

/*
 * Pure: the canonical spec text (vmnet_spec_format()'s lines and order) of what the libvirt
 * network in @xml really does, read from libvirt's own elements and never from the <metadata>:
 * type (forward mode 'nat' or 'open' is nat, 'bridge' bridged, none hostonly with an address
 * and isolated without; any other mode is written as itself), name, bridge, subnet and host
 * (first IPv4 <ip>), gateway (the dnsmasq router option; without one the first address on a
 * forwarding network, as dnsmasq does, or the second address when the document has no dnsmasq
 * option at all, as libvirt's test driver dumps kvmlab's NAT networks), dhcp (first <range>), interface (bridged), domain,
 * live.lease (libvirt's 3600 when the range names none), live.host (DHCP reservations with
 * their DNS names; a name only one of the two carries is marked, so it never equals a spec).
 * backend and live.max-lease, which the XML cannot carry, come from @stored_spec (may be NULL:
 * backend is then "libvirt" and max-lease is left out). Foreign or odd XML gives the facts it
 * has. Stores a new string in *ret_spec; 0, or -EINVAL when @xml is not XML, or -ENOMEM, with
 * @err set.
 */
int vmnet_libvirt_xml_essentials(const char *xml, const char *stored_spec, char **ret_spec,
                                 Error *err);

/*
 * Pure: the essentials of a NAT table as `nft list table ip kvmlab-LAB` prints it (libnftables'
 * default text output): "masquerade=CIDR" lines sorted by address, then
 * "forward=PROTO/HOSTPORT,IP:PORT" lines sorted by protocol and port. A forward is listed when
 * both the prerouting and the output chain carry it; one in only one chain gets
 * " (prerouting only)" or " (output only)". Chains whose hook, priority or policy differ from
 * what vmnet_nft_table_format() writes, and rules it never writes, appear as "chain=..." and
 * "other=CHAIN: RULE" lines, so no hand edit is silently ignored. Stores a new string in
 * *ret_spec; 0, or -EINVAL (not a table listing) or -ENOMEM with @err set.
 */
int vmnet_nft_listing_essentials(const char *listing, char **ret_spec, Error *err);

/* Pure: the same essentials for the table vmnet_nft_table_format() makes of @set, for the
 * engine to compare with the live ones. New string, NULL on ENOMEM. */
char *vmnet_nft_set_essentials(const VmnetForwardSet *set);

/*
 * Pure: a short phrase for one drifted fact of canonical spec text, for plan reasons after
 * "drift: ". @key is the line's key, @have the live value, @want the spec's; either may be NULL
 * (the line is missing on that side). Addresses of a range are shortened against its start
 * ("dhcp range 192.168.236.200-.254, want .128-.254"); live.host values name the MAC and IP
 * ("reservation 52:54:00:aa:bb:cc 192.168.1.10 (web) missing"). New string, NULL on ENOMEM.
 */
char *vmnet_spec_drift_phrase(const char *key, const char *have, const char *want);
