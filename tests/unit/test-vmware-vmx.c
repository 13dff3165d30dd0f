/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VMware .vmx machines -> VmwVmx, and the mappings to the lab's words. The fixtures under
 * tests/data/vmware/vmx/ were written by hand after the .vmx files VMware Workstation writes;
 * sjis.vmx and cp949.vmx hold real Shift_JIS (CP932) and windows-949 bytes, written with
 * Python's own codecs (not glibc's iconv, which the parser uses). Every expected field and
 * warning below is read off those files by hand. The guestOS table is checked against the
 * installed osinfo-db, read here straight from its XML files.
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "golden.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/vmware.h"

/* tests/data/vmware/vmx/NAME, its length in *ret_len; not NUL-terminated, so reading past the
 * length is a sanitizer finding */
static char *read_fixture(const char *name, size_t *ret_len)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "vmware/vmx/%s", name);
    char *path = golden_path(rel);
    assert_non_null(path);
    FILE *f = fopen(path, "re");
    if (!f)
        fprintf(stderr, "cannot open '%s'\n", path);
    assert_non_null(f);
    free(path);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf), f);
    assert_true(n < sizeof(buf));
    fclose(f);
    char *text = malloc(n ? n : 1);
    assert_non_null(text);
    memcpy(text, buf, n);
    *ret_len = n;
    return text;
}

static void parse_text(const char *text, size_t len, const char *name, VmwVmx *v, VmwWarnings *w)
{
    Error err = ERROR_INIT;
    /* an exact-size copy: the parser must honour @len */
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    int r = vmw_vmx_parse(copy, len, name, v, w, &err);
    free(copy);
    if (r < 0)
        fprintf(stderr, "%s\n", err.message);
    assert_int_equal(r, 0);
    assert_false(error_is_set(&err));
}

static void parse_fixture(const char *name, VmwVmx *v, VmwWarnings *w)
{
    size_t len;
    char *text = read_fixture(name, &len);
    parse_text(text, len, name, v, w);
    free(text);
}

static void check_warnings(const VmwWarnings *w, const char *const *want, size_t n)
{
    bool same = w->n == n;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(w->v[i], want[i]) == 0;
    if (!same) {
        fprintf(stderr, "warnings (%zu):\n", w->n);
        for (size_t i = 0; i < w->n; i++)
            fprintf(stderr, "  got  %s\n", w->v[i]);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "  want %s\n", want[i]);
    }
    assert_true(same);
}

static void check_disk(const VmwDisk *d, const char *slot, const char *controller, VmwDiskKind kind,
                       const char *file, bool host_drive)
{
    assert_string_equal(d->slot, slot);
    assert_string_equal(d->controller, controller);
    assert_int_equal(d->kind, kind);
    if (file)
        assert_string_equal(d->file, file);
    else
        assert_null(d->file);
    assert_int_equal(d->host_drive, host_drive);
}

static void check_str(const char *got, const char *want)
{
    if (want)
        assert_string_equal(got, want);
    else
        assert_null(got);
}

static void check_nic(const VmwNic *n, unsigned index, const char *type, const char *vnet,
                      const char *mac, const char *dev)
{
    assert_int_equal(n->index, index);
    check_str(n->connection_type, type);
    check_str(n->vnet, vnet);
    check_str(n->virtual_dev, dev);
    assert_int_equal(n->has_mac, mac != NULL);
    if (mac) {
        char buf[MAC_STRLEN];
        assert_string_equal(addr_mac_format(&n->mac, buf), mac);
    }
}

static void test_linux(void **state)
{
    VmwVmx v;
    VmwWarnings w = {0};
    parse_fixture("linux.vmx", &v, &w);
    check_warnings(&w, NULL, 0);
    assert_string_equal(v.display_name, "Ubuntu Server 22.04");
    assert_string_equal(v.guest_os, "ubuntu-64");
    assert_null(v.firmware);
    assert_false(v.secure_boot);
    assert_int_equal(v.numvcpus, 2);
    assert_int_equal(v.memsize_mib, 4096);
    assert_int_equal(v.n_disks, 2);
    check_disk(&v.disks[0], "scsi0:0", "lsilogic", VMW_DISK, "Ubuntu Server 22.04.vmdk", false);
    check_disk(&v.disks[1], "sata0:1", "sata", VMW_CDROM,
               "/home/ana/iso/ubuntu-22.04.3-live-server-amd64.iso", false);
    assert_int_equal(v.n_nics, 1);
    check_nic(&v.nics[0], 0, "nat", NULL, "00:0c:29:ab:cd:ef", "e1000");
    vmw_vmx_clear(&v);
    vmw_warnings_clear(&w);
}

static void test_win10(void **state)
{
    VmwVmx v;
    VmwWarnings w = {0};
    parse_fixture("win10.vmx", &v, &w);
    check_warnings(&w, NULL, 0);
    assert_string_equal(v.display_name, "Windows 10 x64");
    assert_string_equal(v.guest_os, "windows9-64");
    assert_string_equal(v.firmware, "efi");
    assert_true(v.secure_boot);
    assert_int_equal(v.numvcpus, 4);
    assert_int_equal(v.memsize_mib, 8192);
    /* VMware's order: sata before nvme, whatever the file's order */
    assert_int_equal(v.n_disks, 2);
    check_disk(&v.disks[0], "sata0:1", "sata", VMW_CDROM, "D:\\ISO\\Win10_22H2_English_x64.iso",
               false);
    check_disk(&v.disks[1], "nvme0:0", "nvme", VMW_DISK, "Windows 10 x64.vmdk", false);
    assert_int_equal(v.n_nics, 1);
    check_nic(&v.nics[0], 0, "custom", "VMnet5", "00:50:56:01:02:03", "e1000e");
    vmw_vmx_clear(&v);
    vmw_warnings_clear(&w);
}

static void test_winxp(void **state)
{
    VmwVmx v;
    VmwWarnings w = {0};
    parse_fixture("winxp.vmx", &v, &w);
    check_warnings(&w, NULL, 0);
    assert_string_equal(v.display_name, "Windows XP Professional");
    assert_string_equal(v.guest_os, "winxppro");
    assert_null(v.firmware);
    assert_int_equal(v.numvcpus, 0);
    assert_int_equal(v.memsize_mib, 512);
    assert_int_equal(v.n_disks, 2);
    check_disk(&v.disks[0], "ide0:0", "ide", VMW_DISK, "Windows XP Professional.vmdk", false);
    /* the host's drive: fileName as written */
    check_disk(&v.disks[1], "ide1:0", "ide", VMW_CDROM, "auto detect", true);
    assert_int_equal(v.n_nics, 1);
    /* keys in any case; no connectionType: bridged, left NULL */
    check_nic(&v.nics[0], 0, NULL, NULL, "00:0c:29:12:34:56", "vlance");
    vmw_vmx_clear(&v);
    vmw_warnings_clear(&w);
}

static void test_quirks(void **state)
{
    VmwVmx v;
    VmwWarnings w = {0};
    parse_fixture("quirks.vmx", &v, &w);
    /* first the lines, in order; then what the machine's reading found */
    static const char *const want[] = {
            "quirks.vmx:4: 'displayname' was already set on line 3; the last value wins",
            "quirks.vmx:7: not a 'key = \"value\"' line: skipped",
            "quirks.vmx:9: not a 'key = \"value\"' line: skipped",
            "quirks.vmx:31: the value of 'tools.upgrade.policy' has no closing quote: skipped",
            "quirks.vmx:32: 'SCSI0:2.FILENAME' was already set on line 15; the last value wins",
            "quirks.vmx:33: text after the value of 'ethernet0.virtualDev' ignored",
            "quirks.vmx:34: a NUL byte (|00) in the value of 'annotation' dropped",
            "quirks.vmx:8: 'memsize' is '20x48', not a number up to 16777216: ignored",
            "quirks.vmx:17: scsi1:0 is on controller scsi1, which is not present: skipped",
            "quirks.vmx:36: nvme0:0 is on controller nvme0, which is not present: skipped",
            "quirks.vmx:16: disk scsi0:3 has no fileName: skipped",
            ("quirks.vmx:27: 'ethernet2.generatedAddress' is '00:0c:29:zz:00:01', not a MAC "
             "address: ignored"),
    };
    check_warnings(&w, want, ELEMENTSOF(want));
    assert_string_equal(v.display_name, "Quirky \"VM\" | test");
    assert_string_equal(v.guest_os, "other5xlinux-64");
    assert_null(v.firmware);
    assert_true(v.secure_boot); /* unquoted, on the last line without a newline */
    assert_int_equal(v.numvcpus, 2);
    assert_int_equal(v.memsize_mib, 0);
    /* numeric order: scsi0:10 after scsi0:2; the last fileName of scsi0:2 */
    assert_int_equal(v.n_disks, 3);
    check_disk(&v.disks[0], "scsi0:2", "pvscsi", VMW_DISK, "two-b.vmdk", false);
    check_disk(&v.disks[1], "scsi0:10", "pvscsi", VMW_DISK, "ten.vmdk", false);
    check_disk(&v.disks[2], "ide1:0", "ide", VMW_CDROM, NULL, true);
    /* by index; ethernet1 is not present; a NUL byte inside "bri\0dged" is dropped */
    assert_int_equal(v.n_nics, 2);
    check_nic(&v.nics[0], 0, "bridged", NULL, NULL, "e1000");
    check_nic(&v.nics[1], 2, "hostonly", NULL, NULL, "vmxnet3");
    vmw_vmx_clear(&v);
    vmw_warnings_clear(&w);
}

static void test_shift_jis(void **state)
{
    VmwVmx v;
    VmwWarnings w = {0};
    parse_fixture("sjis.vmx", &v, &w);
    /* annotation holds the same bad byte but is not read: no warning for it */
    static const char *const want[] = {
            "sjis.vmx:9: the value of 'sata0:1.fileName' is not valid Shift_JIS: kept as it is",
    };
    check_warnings(&w, want, ELEMENTSOF(want));
    /* "ポ" is 0x83 0x7C: a raw '|' not followed by hex digits is itself */
    assert_string_equal(v.display_name, "仮想マシン ポート");
    assert_string_equal(v.guest_os, "windows9-64");
    assert_int_equal(v.n_disks, 2);
    /* 0x5C stays a backslash (Windows' Shift_JIS); "ポ" escaped as 0x83 |7C */
    check_disk(&v.disks[0], "sata0:0", "sata", VMW_DISK, "C:\\仮想マシン\\ディスクポ.vmdk", false);
    check_disk(&v.disks[1], "sata0:1", "sata", VMW_CDROM, "D:\\iso\\bad\x80name.iso", false);
    assert_int_equal(v.n_nics, 1);
    check_nic(&v.nics[0], 0, "custom", "VMnet2", NULL, NULL);
    char *name = vmw_safe_name(v.display_name, 63);
    assert_string_equal(name, "vm"); /* no ASCII letter or digit in it */
    free(name);
    vmw_vmx_clear(&v);
    vmw_warnings_clear(&w);
}

static void test_windows_949(void **state)
{
    VmwVmx v;
    VmwWarnings w = {0};
    parse_fixture("cp949.vmx", &v, &w);
    check_warnings(&w, NULL, 0);
    assert_string_equal(v.display_name, "가상 머신 윈도우 11");
    assert_string_equal(v.guest_os, "windows11-64");
    assert_string_equal(v.firmware, "efi");
    assert_false(v.secure_boot);
    assert_int_equal(v.n_disks, 1);
    check_disk(&v.disks[0], "nvme0:0", "nvme", VMW_DISK, "윈도우 11.vmdk", false);
    assert_int_equal(v.n_nics, 1);
    /* vCenter's "vpx" addresses are generated ones */
    check_nic(&v.nics[0], 0, "bridged", NULL, "00:50:56:aa:bb:cc", "vmxnet3");
    char *name = vmw_safe_name(v.display_name, 63);
    assert_string_equal(name, "vm-11");
    free(name);
    vmw_vmx_clear(&v);
    vmw_warnings_clear(&w);
}

static void test_hostile(void **state)
{
    VmwVmx v;
    VmwWarnings w = {0};
    parse_fixture("hostile.vmx", &v, &w);
    check_warnings(&w, NULL, 0);
    /* the parser keeps every byte but NUL ... */
    assert_string_equal(v.display_name, "\"; rm -rf / ;\" ../../etc/passwd\nnext line \xff\xfe");
    assert_string_equal(v.guest_os, "../../x\"y");
    assert_int_equal(v.n_disks, 1);
    check_disk(&v.disks[0], "scsi0:0", "lsisas1068", VMW_DISK, "../../../../etc/shadow", false);
    assert_int_equal(v.n_nics, 1);
    check_nic(&v.nics[0], 0, "custom", "../vmnet1;reboot", NULL, NULL);
    /* ... and names are made of them only through vmw_safe_name() */
    char *name = vmw_safe_name(v.display_name, 63);
    assert_string_equal(name, "rm-rf-etc-passwd-next-line");
    free(name);
    name = vmw_safe_name(v.nics[0].vnet, 63);
    assert_string_equal(name, "vmnet1-reboot");
    free(name);
    assert_null(vmw_guest_os_osinfo(v.guest_os));
    vmw_vmx_clear(&v);
    vmw_warnings_clear(&w);
}

#define S(lit) lit, sizeof(lit) - 1

static void test_encodings(void **state)
{
    VmwVmx v;
    VmwWarnings w = {0};

    /* windows-1252: é and the euro sign (0x80) */
    parse_text(S(".encoding = \"windows-1252\"\ndisplayName = \"Caf\xe9 \x80\"\n"), "a.vmx", &v,
               &w);
    check_warnings(&w, NULL, 0);
    assert_string_equal(v.display_name, "Café €");
    vmw_vmx_clear(&v);

    /* GBK: 中文 */
    parse_text(S("displayName = \"\xd6\xd0\xce\xc4\"\n.encoding = \"GBK\"\n"), "b.vmx", &v, &w);
    check_warnings(&w, NULL, 0);
    assert_string_equal(v.display_name, "中文");
    vmw_vmx_clear(&v);

    /* an unknown charset, and a value that is no charset name: bytes kept */
    parse_text(S("\n.encoding = \"x-klingon\"\ndisplayName = \"caf\xe9\"\n"), "c.vmx", &v, &w);
    static const char *const want_c[] = {
            "c.vmx:2: unknown .encoding 'x-klingon': values are kept as they are",
    };
    check_warnings(&w, want_c, 1);
    assert_string_equal(v.display_name, "caf\xe9");
    vmw_vmx_clear(&v);
    vmw_warnings_clear(&w);
    parse_text(S(".encoding = \"UTF-8//../x\"\ndisplayName = \"x\"\n"), "d.vmx", &v, &w);
    static const char *const want_d[] = {
            "d.vmx:1: unknown .encoding '(not a charset name)': values are kept as they are",
    };
    check_warnings(&w, want_d, 1);
    assert_string_equal(v.display_name, "x");
    vmw_vmx_clear(&v);
    vmw_warnings_clear(&w);

    /* UTF-8 (and no .encoding): bytes as they are, even invalid ones */
    parse_text(S("\xef\xbb\xbf"
                 "displayName = \"\xc3\xa9t\xe9\"\n"),
               "e.vmx", &v, &w);
    check_warnings(&w, NULL, 0);
    assert_string_equal(v.display_name, "\xc3\xa9t\xe9");
    vmw_vmx_clear(&v);
}

static void test_edges(void **state)
{
    VmwVmx v;
    VmwWarnings w = {0};
    Error err = ERROR_INIT;

    /* nothing at all */
    assert_int_equal(vmw_vmx_parse(NULL, 0, "n.vmx", &v, &w, &err), 0);
    assert_null(v.display_name);
    assert_int_equal(v.n_disks, 0);
    assert_int_equal(v.n_nics, 0);
    check_warnings(&w, NULL, 0);
    vmw_vmx_clear(&v);

    /* NUL bytes in keys and values end nothing; SCSI without virtualDev: BusLogic (VMware's
     * default); booleans in other spellings; a bad one warned about; sizes out of range */
    parse_text(S("scsi0.present = \"TRUE\"\nscsi0:0.pre\0sent = yes\nscsi0:0.fileName = "
                 "\"a\0.vmdk\"\nethernet0.present = \"maybe\"\nethernet1.present = 1\n"
                 "numvcpus = \"99999\"\nmemsize = \"-5\"\nfirmware = \"EFI\"\n"
                 "ethernet1.addressType = \"static\"\nethernet1.generatedAddress = "
                 "\"00:0c:29:00:00:01\"\nethernet1.connectionType = \"wormhole\"\n"
                 "scsi00:1.present = \"TRUE\"\nscsi0:1x.present = \"TRUE\"\n"),
               "f.vmx", &v, &w);
    static const char *const want[] = {
            "f.vmx:6: 'numvcpus' is '99999', not a number up to 4096: ignored",
            "f.vmx:7: 'memsize' is '-5', not a number up to 16777216: ignored",
            "f.vmx:4: 'ethernet0.present' is 'maybe', not TRUE or FALSE: taken as FALSE",
            "f.vmx:11: ethernet1 has an unknown connectionType 'wormhole'",
            "f.vmx:9: ethernet1 has a static address type but no address",
    };
    check_warnings(&w, want, ELEMENTSOF(want));
    assert_string_equal(v.firmware, "efi");
    assert_int_equal(v.numvcpus, 0);
    assert_int_equal(v.memsize_mib, 0);
    assert_int_equal(v.n_disks, 1);
    check_disk(&v.disks[0], "scsi0:0", "buslogic", VMW_DISK, "a.vmdk", false);
    assert_int_equal(v.n_nics, 1);
    check_nic(&v.nics[0], 1, "wormhole", NULL, NULL, NULL);
    vmw_vmx_clear(&v);
    vmw_warnings_clear(&w);

    /* an empty fileName is no file: a CD-ROM keeps its slot, a disk is skipped */
    parse_text(S("sata0.present = TRUE\nsata0:0.present = TRUE\nsata0:0.fileName = \"\"\n"
                 "sata0:1.present = TRUE\nsata0:1.fileName = \"\"\n"
                 "sata0:1.deviceType = \"cdrom-image\"\nfirmware = \"uboot\"\n"),
               "g.vmx", &v, &w);
    static const char *const want_g[] = {
            "g.vmx:7: unknown firmware 'uboot': taken as BIOS (VMware's default)",
            "g.vmx:2: disk sata0:0 has no fileName: skipped",
    };
    check_warnings(&w, want_g, ELEMENTSOF(want_g));
    assert_null(v.firmware);
    assert_int_equal(v.n_disks, 1);
    check_disk(&v.disks[0], "sata0:1", "sata", VMW_CDROM, NULL, false);
    vmw_vmx_clear(&v);
    vmw_warnings_clear(&w);
    vmw_vmx_clear(NULL);
}

/* ---- mappings ---------------------------------------------------------------------------- */

typedef struct Ids {
    char **v;
    size_t n;
} Ids;
static Ids db_ids;

/* every <short-id> of one osinfo-db XML file */
static int collect_ids(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    size_t l = strlen(path);
    if (type != FTW_F || l < 4 || strcmp(path + l - 4, ".xml") != 0)
        return 0;
    FILE *f = fopen(path, "re");
    assert_non_null(f);
    char *text = NULL;
    size_t cap = 0;
    ssize_t n = getdelim(&text, &cap, '\0', f);
    fclose(f);
    assert_true(n > 0);
    for (const char *p = text; (p = strstr(p, "<short-id>"));) {
        p += strlen("<short-id>");
        const char *end = strstr(p, "</short-id>");
        assert_non_null(end);
        db_ids.v = realloc(db_ids.v, (db_ids.n + 1) * sizeof(*db_ids.v));
        assert_non_null(db_ids.v);
        db_ids.v[db_ids.n++] = strndup(p, (size_t)(end - p));
    }
    free(text);
    return 0;
}

static bool in_db(const char *id)
{
    for (size_t i = 0; i < db_ids.n; i++)
        if (strcmp(db_ids.v[i], id) == 0)
            return true;
    return false;
}

static void test_guest_os(void **state)
{
    assert_int_equal(nftw("/usr/share/osinfo/os", collect_ids, 16, FTW_PHYS), 0);
    /* osinfo-db 20221203 holds some 860 short ids */
    assert_true(db_ids.n > 500);
    assert_true(in_db("win10"));
    assert_false(in_db("debian12"));

    /* every entry of the table names an id the installed osinfo-db has */
    size_t n = 0;
    const char *vmware, *osinfo;
    while ((vmware = vmw_guest_os_entry(n, &osinfo))) {
        if (!in_db(osinfo))
            fprintf(stderr, "'%s' maps to '%s', which osinfo-db lacks\n", vmware, osinfo);
        assert_true(in_db(osinfo));
        assert_string_equal(vmw_guest_os_osinfo(vmware), osinfo);
        n++;
    }
    assert_true(n >= 100);

    /* by hand: VMware's guestOS for each release, and osinfo's id for it */
    static const char *const cases[][2] = {
            {"windows7", "win7"},
            {"windows7-64", "win7"},
            {"windows8", "win8"},
            {"windows8-64", "win8"},
            {"windows9", "win10"},
            {"windows9-64", "win10"},
            {"Windows9-64", "win10"},
            {"windows11-64", "win11"},
            {"winxppro", "winxp"},
            {"winxppro-64", "winxp"},
            {"winnetstandard", "win2k3"},
            {"windows7srv-64", "win2k8r2"},
            {"windows2019srv-64", "win2k19"},
            {"windows2019srvnext-64", "win2k22"},
            {"windows2022srvnext-64", "win2k22"},
            {"ubuntu", "ubuntu22.04"},
            {"ubuntu-64", "ubuntu22.04"},
            {"debian10", "debian10"},
            {"debian10-64", "debian10"},
            {"debian11-64", "debian11"},
            {"debian12-64", "debian11"},
            {"rhel6-64", "rhel6-unknown"},
            {"rhel7-64", "rhel7-unknown"},
            {"rhel8-64", "rhel8-unknown"},
            {"rhel9-64", "rhel9-unknown"},
            {"centos7-64", "centos7"},
            {"centos8-64", "centos8"},
            {"other3xlinux-64", "linux2016"},
            {"other5xlinux-64", "linux2020"},
            {"other6xlinux-64", "linux2022"},
            {"freebsd13-64", "freebsd13.1"},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        const char *got = vmw_guest_os_osinfo(cases[i][0]);
        if (!got || strcmp(got, cases[i][1]) != 0)
            fprintf(stderr, "'%s': got '%s', want '%s'\n", cases[i][0], got ? got : "(null)",
                    cases[i][1]);
        assert_non_null(got);
        assert_string_equal(got, cases[i][1]);
        assert_true(in_db(got));
    }
    static const char *const unknown[] = {"darwin21-64",     "other", "other-64",    "vmkernel7",
                                          "winserver2008r2", "",      "windows9-64 "};
    for (size_t i = 0; i < ELEMENTSOF(unknown); i++)
        assert_null(vmw_guest_os_osinfo(unknown[i]));
    assert_null(vmw_guest_os_osinfo(NULL));

    for (size_t i = 0; i < db_ids.n; i++)
        free(db_ids.v[i]);
    free(db_ids.v);
}

static void test_nic_model(void **state)
{
    assert_string_equal(vmw_nic_model("e1000", true), "virtio");
    assert_string_equal(vmw_nic_model(NULL, true), "virtio");
    assert_string_equal(vmw_nic_model("e1000e", false), "e1000e");
    assert_string_equal(vmw_nic_model("vmxnet3", false), "e1000e");
    assert_string_equal(vmw_nic_model("VMXNET3", false), "e1000e");
    assert_string_equal(vmw_nic_model("e1000", false), "e1000");
    assert_string_equal(vmw_nic_model("vlance", false), "pcnet");
    assert_string_equal(vmw_nic_model("vmxnet", false), "e1000");
    assert_string_equal(vmw_nic_model(NULL, false), "e1000");
}

static void test_safe_name(void **state)
{
    static const struct {
        const char *raw;
        size_t max;
        const char *want;
    } cases[] = {
            {"Windows 10 x64", 63, "windows-10-x64"},
            {"UPPER_case.Name", 63, "upper-case-name"},
            {"--a--b--", 63, "a-b"},
            {"123 Go", 63, "vm-123-go"},
            {"../../", 63, "vm"},
            {"", 63, "vm"},
            {NULL, 63, "vm"},
            {"日本語", 63, "vm"},
            {"abcdefghij", 5, "abcde"},
            {"ab-cd", 3, "ab"},
            {"9", 2, "vm"},
            {"9", 4, "vm-9"},
            {"x", 0, "x"},
            {"xyz", 0, "xy"},
            {"a\"b;c`d$e\nf\xff", 63, "a-b-c-d-e-f"},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        char *got = vmw_safe_name(cases[i].raw, cases[i].max);
        assert_non_null(got);
        if (strcmp(got, cases[i].want) != 0)
            fprintf(stderr, "case %zu: got '%s', want '%s'\n", i, got, cases[i].want);
        assert_string_equal(got, cases[i].want);
        free(got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_linux),     cmocka_unit_test(test_win10),
            cmocka_unit_test(test_winxp),     cmocka_unit_test(test_quirks),
            cmocka_unit_test(test_shift_jis), cmocka_unit_test(test_windows_949),
            cmocka_unit_test(test_hostile),   cmocka_unit_test(test_encodings),
            cmocka_unit_test(test_edges),     cmocka_unit_test(test_guest_os),
            cmocka_unit_test(test_nic_model), cmocka_unit_test(test_safe_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
