/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kvmlab import vmware: VMware Workstation's networks and machines as a lab file. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/imagestore.h"
#include "kvmlab/interrupt.h"
#include "kvmlab/storage.h"
#include "kvmlab/vmware.h"
#include "progress.h"

#define VMX_MAX_BYTES (4u << 20)

typedef struct Inputs {
    VmwNetworking networking;
    bool has_networking;
    VmwDhcpd dhcpd[256];
    VmwNatConf nat[256];
    VmwVmx *vmx;
    VmwImportVm *vms;
    size_t n_vms;
    VmwWarnings warnings;
} Inputs;

static void inputs_clear(Inputs *in)
{
    vmw_networking_clear(&in->networking);
    for (size_t i = 0; i < 256; i++) {
        vmw_dhcpd_clear(&in->dhcpd[i]);
        vmw_natconf_clear(&in->nat[i]);
    }
    for (size_t i = 0; i < in->n_vms; i++) {
        for (size_t k = 0; k < in->vmx[i].n_disks; k++)
            free(in->vms[i].paths[k]);
        free(in->vms[i].paths);
        free(in->vms[i].exists);
        vmw_vmx_clear(&in->vmx[i]);
    }
    free(in->vmx);
    free(in->vms);
    vmw_warnings_clear(&in->warnings);
}

/* Read @path whole (at most VMX_MAX_BYTES: VMware's files are small). 0, -ENOENT, or another
 * negative errno with @err set. */
static int read_small(const char *path, char **ret, size_t *ret_len, Error *err)
{
    int r = fs_read_all(path, ret, ret_len, err);
    if (r >= 0 && *ret_len > VMX_MAX_BYTES) {
        free(*ret);
        *ret = NULL;
        error_clear(err);
        return error_set(err, -EFBIG, "'%s' is larger than %u MiB; not a VMware file", path,
                         VMX_MAX_BYTES >> 20);
    }
    return r;
}

/* The interface of this host's IPv4 default route (/proc/net/route), NULL when none. */
static char *default_route_nic(void)
{
    _cleanup_free_ char *text = NULL;
    if (fs_read_all("/proc/net/route", &text, NULL, NULL) < 0)
        return NULL;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char ifname[32], dst[16];
        if (sscanf(l, "%31s %15s", ifname, dst) == 2 && strcmp(dst, "00000000") == 0)
            return strdup(ifname);
    }
    return NULL;
}

/* Parse one of VMware's network files when it is there; a missing one is no error. */
static int read_netfile(const char *path,
                        int (*parse)(const char *, size_t, const char *, void *, VmwWarnings *,
                                     Error *),
                        void *ret, VmwWarnings *w, bool *ret_found, Error *err)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    Error why = ERROR_INIT;
    int r = read_small(path, &text, &len, &why);
    *ret_found = r >= 0;
    if (r == -ENOENT) {
        error_clear(&why);
        return 0;
    }
    if (r < 0) {
        r = error_set(err, r, "%s", why.message);
        error_clear(&why);
        return r;
    }
    return parse(text, len, path, ret, w, err);
}

static int parse_networking(const char *t, size_t n, const char *f, void *ret, VmwWarnings *w,
                            Error *e)
{
    return vmw_networking_parse(t, n, f, ret, w, e);
}
static int parse_dhcpd(const char *t, size_t n, const char *f, void *ret, VmwWarnings *w, Error *e)
{
    return vmw_dhcpd_parse(t, n, f, ret, w, e);
}
static int parse_nat(const char *t, size_t n, const char *f, void *ret, VmwWarnings *w, Error *e)
{
    return vmw_natconf_parse(t, n, f, ret, w, e);
}

/* A .vmx and what the file system says about its disks. */
static int read_vmx(const char *path, VmwVmx *vmx, VmwImportVm *vm, VmwWarnings *w, Error *err)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    int r = read_small(path, &text, &len, err);
    if (r < 0)
        return r;
    r = vmw_vmx_parse(text, len, path, vmx, w, err);
    if (r < 0)
        return r;
    vm->vmx_path = path;
    vm->vmx = vmx;
    vm->paths = calloc(vmx->n_disks + 1, sizeof(*vm->paths));
    vm->exists = calloc(vmx->n_disks + 1, sizeof(*vm->exists));
    if (!vm->paths || !vm->exists)
        return error_set(err, -ENOMEM, "Out of memory");
    /* VMware writes disk paths relative to the .vmx's directory */
    char real[PATH_MAX];
    _cleanup_free_ char *copy = strdup(path);
    if (!copy)
        return error_set(err, -ENOMEM, "Out of memory");
    const char *dir = realpath(dirname(copy), real) ? real : ".";
    for (size_t i = 0; i < vmx->n_disks; i++) {
        const char *f = vmx->disks[i].file;
        if (!f || !*f || vmx->disks[i].host_drive)
            continue;
        vm->paths[i] = f[0] == '/' ? strdup(f) : fs_path_join(dir, f);
        if (!vm->paths[i])
            return error_set(err, -ENOMEM, "Out of memory");
        vm->exists[i] = access(vm->paths[i], R_OK) == 0;
    }
    return 0;
}

static void import_progress(const char *what, uint64_t done, uint64_t total, void *userdata)
{
    cli_progress_fn(what, done, total, userdata);
}

/* --convert: every path image of the written lab into the shared store (qemu-img convert), as
 * `up` would import it; a later `up` finds them there. */
static int convert_images(const CliGlobals *g, const Lab *lab, const char *base_dir, Error *err)
{
    for (size_t i = 0; i < lab->n_images; i++) {
        const LabImage *img = &lab->images[i];
        if (img->kind != LAB_IMAGE_PATH)
            continue;
        CliProgress line;
        cli_progress_init(&line, g);
        ImageInfo info = {0};
        int r = image_store_import(NULL, img, base_dir, import_progress, &line, &info, err);
        cli_progress_end(&line);
        if (r < 0)
            return r;
        if (!g->quiet)
            fprintf(stderr, "converted: %s -> the shared store's %s\n", img->source, info.name);
        image_info_clear(&info);
    }
    return 0;
}

static int run(const CliGlobals *g, int argc, char **argv)
{
    static const struct option opts[] = {{"networking", required_argument, NULL, 'n'},
                                         {"vmnet-dir", required_argument, NULL, 'd'},
                                         {"lab", required_argument, NULL, 'l'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"convert", no_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *networking = NULL, *vmnet_dir = NULL, *lab_name = "vmware", *out = NULL;
    bool convert = false;
    if (argc < 2 || strcmp(argv[1], "vmware") != 0) {
        if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
            return cli_help("import");
        return cli_usage_error("import", "'import' needs a source: 'import vmware'");
    }
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc - 1, argv + 1, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            networking = optarg;
            break;
        case 'd':
            vmnet_dir = optarg;
            break;
        case 'l':
            lab_name = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'c':
            convert = true;
            break;
        case 'h':
            return cli_help("import");
        default:
            return cli_usage_error("import", "unknown option '%s' for 'import vmware'",
                                   argv[optind]);
        }
    }
    int first = optind + 1;

    Inputs in = {0};
    VmwImportInput imp = {.lab = lab_name, .convert = convert};
    Error err = ERROR_INIT;
    VmwWarnings summary = {0};
    _cleanup_free_ char *text = NULL, *nic = NULL, *net_path = NULL;
    Lab *lab = NULL;
    LabDiags diags = {0};
    int ret = EXIT_FAIL, r = 0;
    bool found = false;

    /* the networking file: named, or in the vmnet directory, or VMware's own on Linux */
    if (networking)
        net_path = strdup(networking);
    else if (vmnet_dir)
        net_path = fs_path_join(vmnet_dir, "networking");
    else if (access("/etc/vmware/networking", R_OK) == 0)
        net_path = strdup("/etc/vmware/networking");
    if (!vmnet_dir && !networking && net_path)
        vmnet_dir = "/etc/vmware";
    if (net_path) {
        r = read_netfile(net_path, parse_networking, &in.networking, &in.warnings, &found, &err);
        if (r < 0)
            goto fail;
        if (!found && networking) {
            error_set(&err, -ENOENT, "Cannot read VMware's networking file '%s'", networking);
            goto fail;
        }
        in.has_networking = found;
    }
    if (vmnet_dir) {
        /* Windows: one vmnetdhcp.conf and one vmnetnat.conf at the top; Linux and macOS: one
         * of each per vmnet */
        _cleanup_free_ char *wd = fs_path_join(vmnet_dir, "vmnetdhcp.conf");
        _cleanup_free_ char *wn = fs_path_join(vmnet_dir, "vmnetnat.conf");
        bool wd_found = false, wn_found = false;
        if (!wd || !wn)
            goto oom;
        r = read_netfile(wd, parse_dhcpd, &in.dhcpd[0], &in.warnings, &wd_found, &err);
        if (r >= 0)
            r = read_netfile(wn, parse_nat, &in.nat[0], &in.warnings, &wn_found, &err);
        if (r < 0)
            goto fail;
        imp.windows = wd_found || wn_found;
        for (unsigned v = 0; v < 256 && !imp.windows; v++) {
            char *d = NULL, *n = NULL;
            if (asprintf(&d, "%s/vmnet%u/dhcpd/dhcpd.conf", vmnet_dir, v) < 0 ||
                asprintf(&n, "%s/vmnet%u/nat/nat.conf", vmnet_dir, v) < 0) {
                free(d);
                goto oom;
            }
            bool f1 = false, f2 = false;
            r = read_netfile(d, parse_dhcpd, &in.dhcpd[v], &in.warnings, &f1, &err);
            if (r >= 0)
                r = read_netfile(n, parse_nat, &in.nat[v], &in.warnings, &f2, &err);
            free(d);
            free(n);
            if (r < 0)
                goto fail;
            imp.dhcpd[v] = f1 ? &in.dhcpd[v] : NULL;
            imp.nat[v] = f2 ? &in.nat[v] : NULL;
        }
        if (imp.windows) {
            imp.dhcpd[0] = wd_found ? &in.dhcpd[0] : NULL;
            imp.nat[0] = wn_found ? &in.nat[0] : NULL;
        }
    }
    imp.networking = in.has_networking ? &in.networking : NULL;
    imp.networking_file = net_path;
    nic = default_route_nic();
    imp.default_bridge_nic = nic;

    size_t n_vmx = (size_t)(argc - first);
    in.vmx = calloc(n_vmx + 1, sizeof(*in.vmx));
    in.vms = calloc(n_vmx + 1, sizeof(*in.vms));
    if (!in.vmx || !in.vms)
        goto oom;
    for (size_t i = 0; i < n_vmx; i++) {
        r = read_vmx(argv[first + i], &in.vmx[i], &in.vms[i], &in.warnings, &err);
        in.n_vms = i + 1;
        if (r < 0)
            goto fail;
    }
    /* NIC models: virtio where the guest's OS has the drivers (osinfo-db) */
    for (size_t i = 0; i < in.n_vms; i++) {
        const char *os = in.vmx[i].guest_os ? vmw_guest_os_osinfo(in.vmx[i].guest_os) : NULL;
        OsFacts facts = {0};
        if (os && os_facts_lookup(os, &facts, NULL) >= 0)
            in.vms[i].virtio_net = facts.virtio_net;
        os_facts_clear(&facts);
    }
    imp.vms = in.vms;
    imp.n_vms = in.n_vms;

    r = vmw_import_build(&imp, &text, &summary, &err);
    if (r < 0)
        goto fail;
    /* one rule set: what the importer writes, validate accepts; a refusal here is a bug */
    r = lab_load_string(out ? out : "(import)", text, strlen(text), &lab, &diags, &err);
    if (r < 0) {
        _cleanup_free_ char *d = lab_diags_format(&diags);
        if (!error_is_set(&err))
            error_set(&err, -EINVAL, "The lab file written from VMware's files is not valid:\n%s",
                      d ? d : "");
        goto fail;
    }
    if (convert) {
        char cwd[PATH_MAX];
        _cleanup_free_ char *copy = out ? strdup(out) : NULL;
        const char *base = out ? dirname(copy) : getcwd(cwd, sizeof(cwd)) ? cwd : ".";
        interrupt_install();
        r = convert_images(g, lab, base, &err);
        if (r < 0)
            goto fail;
    }
    if (out) {
        r = fs_write_atomic(out, text, 0644, &err);
        if (r < 0)
            goto fail;
    } else {
        fputs(text, stdout);
    }
    for (size_t i = 0; i < in.warnings.n; i++)
        fprintf(stderr, "warning: %s\n", in.warnings.v[i]);
    for (size_t i = 0; !g->quiet && i < summary.n; i++)
        fprintf(stderr, "%s\n", summary.v[i]);
    ret = EXIT_OK;
    goto done;
oom:
    error_set(&err, -ENOMEM, "Out of memory");
fail:
    for (size_t i = 0; i < in.warnings.n; i++)
        fprintf(stderr, "warning: %s\n", in.warnings.v[i]);
    cli_print_error(&err);
done:
    error_clear(&err);
    lab_diags_clear(&diags);
    lab_free(lab);
    vmw_warnings_clear(&summary);
    inputs_clear(&in);
    return ret;
}

const CliCommand cli_cmd_import = {
        .name = "import",
        .args = "vmware [--networking FILE] [--vmnet-dir DIR] [--lab NAME] [--convert] [-o FILE] "
                "[VMX...]",
        .summary = "Write a lab file from VMware Workstation's networks and machines",
        .help = "Reads VMware Workstation's network settings (the `networking` file, and the\n"
                "dhcpd.conf and nat.conf of each vmnet under --vmnet-dir; on Windows its one\n"
                "vmnetdhcp.conf and vmnetnat.conf) and each .vmx given, and writes a lab file\n"
                "(to stdout, or -o FILE) that `kvmlab validate` accepts and `kvmlab up` runs:\n"
                "networks with VMware's subnets, DHCP ranges, lease times, reservations and\n"
                "port forwards; nodes with the VMs' vCPUs, memory, osinfo id, firmware, disks\n"
                "(each an overlay on the VMware disk, which is never written; its controller a\n"
                "hint for the disk bus), CD-ROMs and NICs with their MACs and models.\n"
                "Without --networking and --vmnet-dir, /etc/vmware is read when it exists.\n"
                "--convert turns each disk into a qcow2 image of the shared store (qemu-img\n"
                "convert, snapshot chains followed) and the lab file names it. On stderr: what\n"
                "was mapped, and what was dropped and why; FILE:LINE for every line skipped.\n"
                "The lab is named 'vmware' unless --lab NAME.",
        .run = run,
        .changes_host = true,
};
