/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmlab/addr.h"
#include "kvmlab/error.h"

/*
 * Reading VMware Workstation's own files (pure: text in, structs out): the `networking` file,
 * `dhcpd.conf` (per vmnet on Linux/macOS, one `vmnetdhcp.conf` on Windows), `nat.conf` (one
 * `vmnetnat.conf` on Windows) and `.vmx` machines. Real files are messy: CRLF, comments, unquoted
 * values, duplicated keys (the last wins, with a warning), junk lines, non-UTF-8 bytes, no final
 * newline. The parsers accept what VMware accepts, add a "FILE:LINE: what was skipped" warning
 * for the rest, and never fail but for lack of memory. Every string they return is NUL-free and
 * may hold any other byte: names are made safe only where they become lab names
 * (vmw_safe_name()).
 */

/* ---- warnings and lines (vmware/text.c) ---------------------------------------------------- */

typedef struct VmwWarnings {
    char **v; /* "FILE:LINE: message" */
    size_t n;
} VmwWarnings;

/* Add a warning "FILE:LINE: message" (@line 0: "FILE: message"). -ENOMEM or 0. */
int vmw_warn(VmwWarnings *w, const char *file, unsigned line, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
void vmw_warnings_clear(VmwWarnings *w);

/* Iterate over the lines of @text (@len bytes, may hold NULs, which end nothing and are kept
 * out of the line): each call gives the next line without its "\n" or "\r\n", its 1-based
 * number, and returns false at the end. A last line without a newline counts. */
typedef struct VmwLineIter {
    const char *text;
    size_t len, pos;
    unsigned line;
    char *buf; /* the current line, owned by the iterator */
    size_t cap;
    bool oom; /* vmw_lines_next() stopped for lack of memory, not at the end */
} VmwLineIter;
void vmw_lines_init(VmwLineIter *it, const char *text, size_t len);
bool vmw_lines_next(VmwLineIter *it, const char **ret_line, unsigned *ret_number);
void vmw_lines_clear(VmwLineIter *it);

/* Call @fn(@ctx, number, line) for every line of @text, the line a copy @fn may change, until
 * @fn returns a negative errno. 0, @fn's error, or -ENOMEM (the text was not read to its end). */
int vmw_lines_each(const char *text, size_t len, int (*fn)(void *ctx, unsigned number, char *line),
                   void *ctx);

/* @s with blanks at both ends taken off, in place. */
char *vmw_trim(char *s);

/* ---- the `networking` file (vmware/networking.c) ------------------------------------------- */

typedef struct VmwReservation {
    MacAddr mac;
    uint32_t ip;
} VmwReservation;

typedef enum VmwProto { VMW_TCP, VMW_UDP } VmwProto;

typedef struct VmwPortFwd {
    VmwProto proto;
    uint16_t host_port;
    uint32_t guest_ip;
    uint16_t guest_port;
    char *description; /* may be NULL */
} VmwPortFwd;

typedef struct VmwVnet {
    unsigned n;           /* vmnetN */
    bool nat;             /* VNET_N_NAT yes */
    bool dhcp;            /* VNET_N_DHCP yes */
    bool virtual_adapter; /* VNET_N_VIRTUAL_ADAPTER yes */
    bool has_subnet;
    uint32_t subnet, netmask;     /* VNET_N_HOSTONLY_SUBNET / _NETMASK (host order) */
    char *bridge_interface;       /* add_bridge_mapping IFACE N, NULL when not bridged */
    VmwReservation *reservations; /* add_dhcp_mac_to_ip N MAC IP */
    size_t n_reservations;
    VmwPortFwd *forwards; /* add_nat_portfwd N tcp|udp HOSTPORT IP PORT */
    size_t n_forwards;
} VmwVnet;

typedef struct VmwNetworking {
    VmwVnet *v; /* sorted by n, one per vnet the file mentions (vmnet0, VMware's bridged
                   network, only when the file names it) */
    size_t n;
    char *auto_bridge_interface; /* add_bridge_mapping IFACE -1 (tied to no vmnet), or NULL */
} VmwNetworking;

int vmw_networking_parse(const char *text, size_t len, const char *file, VmwNetworking *ret,
                         VmwWarnings *w, Error *err);
void vmw_networking_clear(VmwNetworking *n);

/* ---- dhcpd.conf / vmnetdhcp.conf (vmware/dhcpd.c) ------------------------------------------ */

typedef struct VmwDhcpHost {
    char *name;
    MacAddr mac;
    uint32_t ip;
} VmwDhcpHost;

typedef struct VmwDhcpSubnet {
    uint32_t subnet, netmask;
    bool has_range;
    uint32_t range_start, range_end;
    uint32_t default_lease, max_lease; /* seconds, 0: not given */
    uint32_t router;                   /* option routers, 0: none */
} VmwDhcpSubnet;

typedef struct VmwDhcpd {
    VmwDhcpSubnet *subnets; /* Windows' one file has one per vmnet */
    size_t n_subnets;
    VmwDhcpHost *hosts; /* guest reservations only: the block VMware writes for the host's own
                           adapter (host vmnetN, MAC 00:50:56:C0:00:xx) is left out */
    size_t n_hosts;
    /* the host's own adapters: (vnet number from the MAC's last byte, its fixed address), what
     * tells on Windows, which has no networking file, which subnet is which vmnet */
    struct {
        unsigned vnet;
        uint32_t ip;
    } * adapters;
    size_t n_adapters;
} VmwDhcpd;

int vmw_dhcpd_parse(const char *text, size_t len, const char *file, VmwDhcpd *ret, VmwWarnings *w,
                    Error *err);
void vmw_dhcpd_clear(VmwDhcpd *d);

/* ---- nat.conf / vmnetnat.conf (vmware/natconf.c) ------------------------------------------- */

typedef struct VmwNatConf {
    bool has_host;
    uint32_t host_ip, netmask; /* [host] ip = N.2, netmask */
    VmwPortFwd *forwards;      /* [incomingtcp] / [incomingudp]: HOSTPORT = IP:PORT */
    size_t n_forwards;
} VmwNatConf;

int vmw_natconf_parse(const char *text, size_t len, const char *file, VmwNatConf *ret,
                      VmwWarnings *w, Error *err);
void vmw_natconf_clear(VmwNatConf *c);

/* ---- .vmx machines (vmware/vmx.c) ---------------------------------------------------------- */

typedef enum VmwDiskKind {
    VMW_DISK,  /* a virtual disk (.vmdk) */
    VMW_CDROM, /* cdrom-image (an ISO) or atapi-cdrom / cdrom-raw (the host's drive) */
} VmwDiskKind;

typedef struct VmwDisk {
    char *slot;       /* "scsi0:0", "sata0:1", "ide1:0", "nvme0:0" */
    char *controller; /* "lsilogic", "lsisas1068", "pvscsi", "buslogic", "sata", "ide", "nvme" */
    VmwDiskKind kind;
    char *file; /* fileName as written (resolved by the caller against the .vmx), NULL: empty */
    bool host_drive; /* a CD-ROM on the host's own drive (atapi-cdrom, cdrom-raw) */
} VmwDisk;

typedef struct VmwNic {
    unsigned index;        /* ethernetN */
    char *connection_type; /* "nat", "hostonly", "bridged", "custom"; NULL: absent (bridged) */
    char *vnet;            /* custom: "vmnet5" (or a path on Windows: "VMnet5") */
    bool has_mac;
    MacAddr mac;       /* address (static) or generatedAddress */
    char *virtual_dev; /* "e1000", "e1000e", "vmxnet3", "vlance", NULL */
} VmwNic;

typedef struct VmwVmx {
    char *display_name;
    char *guest_os;       /* guestOS as written: "ubuntu-64", "windows9-64", "rhel8-64", ... */
    char *firmware;       /* "efi", "bios" or NULL (VMware's default: bios) */
    bool secure_boot;     /* uefi.secureBoot.enabled */
    unsigned numvcpus;    /* 0: not given (VMware's default 1) */
    uint64_t memsize_mib; /* 0: not given */
    VmwDisk *disks;       /* present ones only, in VMware's order (scsi, sata, ide, nvme; N:M) */
    size_t n_disks;
    VmwNic *nics; /* present ones, by index */
    size_t n_nics;
} VmwVmx;

/* .encoding is honoured: values are turned into UTF-8 from that charset (iconv); a value that
 * does not convert keeps its bytes, with a warning. */
int vmw_vmx_parse(const char *text, size_t len, const char *file, VmwVmx *ret, VmwWarnings *w,
                  Error *err);
void vmw_vmx_clear(VmwVmx *v);

/* ---- mappings (vmware/map.c, pure) ---------------------------------------------------------- */

/* The osinfo short id for VMware's guestOS (table with its source), NULL when unknown. */
const char *vmw_guest_os_osinfo(const char *guest_os);
/* The @i-th entry of that table: its guestOS (NULL past the end) and, in @ret_osinfo (may be
 * NULL), its osinfo id. For tests and listings. */
const char *vmw_guest_os_entry(size_t i, const char **ret_osinfo);

/* The NIC model for a guest: "virtio" when the OS has virtio-net drivers (@virtio_net), else
 * the emulated model nearest VMware's virtualDev ("e1000e" for e1000e and vmxnet3, "e1000" for
 * e1000, "pcnet" for vlance, "e1000" when unknown). */
const char *vmw_nic_model(const char *virtual_dev, bool virtio_net);

/* A name safe for a lab, node or network: lower case, [a-z0-9-] (other bytes become '-', runs
 * of '-' squeezed, none at either end), at most @max characters, starting with a letter
 * ("vm-" put in front otherwise), "vm" when nothing is left. @raw may be NULL; a @max below 2
 * counts as 2. New string, NULL when out of memory. */
char *vmw_safe_name(const char *raw, size_t max);

/* ---- the lab file an import writes (vmware/import.c, pure) --------------------------------- */

/* One .vmx to import, with what only the file system can tell (filled by the caller). */
typedef struct VmwImportVm {
    const char *vmx_path; /* as given, for messages */
    const VmwVmx *vmx;
    /* per vmx->disks[i]: the file resolved against the .vmx's directory and made absolute
     * (NULL: none), and whether it exists */
    char **paths;
    bool *exists;
    /* the guest's OS has virtio-net drivers (osinfo-db): its NICs are left to kvmlab's choice,
     * virtio; otherwise each keeps the emulated model nearest VMware's */
    bool virtio_net;
} VmwImportVm;

typedef struct VmwImportInput {
    const char *lab;                 /* the lab's name */
    const char *networking_file;     /* for messages; NULL when there was none */
    const VmwNetworking *networking; /* NULL: none read */
    /* dhcpd.conf and nat.conf per vnet (Linux/macOS), or Windows' one file each at [0] with
     * @windows set; entries may be NULL */
    const VmwDhcpd *dhcpd[256];
    const VmwNatConf *nat[256];
    bool windows;
    /* the host NIC VMnet0 bridges to when the networking file has no add_bridge_mapping for it
     * (the NIC of the default route), NULL when unknown */
    const char *default_bridge_nic;
    const VmwImportVm *vms;
    size_t n_vms;
    /* --convert: every disk becomes an image of the lab (`images: {NODE-diskN: {path: FILE}}`,
     * which the caller then imports into the shared store as qcow2) and the disk names it */
    bool convert;
} VmwImportInput;

/*
 * Pure: the lab file (YAML text, every string quoted) that @in maps to, and a summary of what
 * was mapped and what was dropped and why, one line each ("vmnet8: nat 172.16.1.0/24, DHCP
 * .128-.254, lease 1800 s, 2 reservations, 1 port forward"; "dropped: ..."). Names from the
 * files are made safe (vmw_safe_name) or refused, never passed through. *ret_text is a new
 * string. 0, or -ENOMEM / -EINVAL (nothing importable: no network and no VM) with @err set.
 */
int vmw_import_build(const VmwImportInput *in, char **ret_text, VmwWarnings *summary, Error *err);
