/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The shared image store without a network: names, records, use and removal, concurrent
 * changes from several processes, import of qcow2/raw/vmdk files made here with qemu-img (what
 * is expected comes from qemu-img info, qemu-img compare and sha256sum, never from the store),
 * refusals, file:// downloads with resume, and `kvmlab image` on top (argv[1] is the binary).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "imagestore-priv.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/imagestore.h"
#include "kvmlab/interrupt.h"
#include "kvmlab/spawn.h"
#include "progress.h"

static char root[] = "/tmp/kvmlab-imgstore-XXXXXX";
static const char *kvmlab_bin;

/* A formatted path in one of a ring of static buffers: no frees to forget in the tests. */
static const char *P(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *P(const char *fmt, ...)
{
    static char ring[64][4096];
    static unsigned next;
    char *b = ring[next++ % 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, 4096, fmt, ap);
    va_end(ap);
    return b;
}

/* Run @argv; its exit status. stdout into *out (new string) when @out is not NULL. */
static int run(const char *const *argv, char **out, char **errout)
{
    SpawnResult res = {0};
    SpawnOpts o = {.timeout_ms = 60000};
    assert_int_equal(spawn_run(argv, &o, &res, NULL), 0);
    if (out)
        *out = res.out, res.out = NULL;
    if (errout)
        *errout = res.err, res.err = NULL;
    int st = res.status;
    spawn_result_clear(&res);
    return st;
}

static void must(const char *const *argv)
{
    char *err = NULL;
    int st = run(argv, NULL, &err);
    if (st != 0)
        print_error("%s failed: %s\n", argv[0], err);
    free(err);
    assert_int_equal(st, 0);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* What qemu-img (not the store) says the guest sees: "virtual size: 4 MiB (4194304 bytes)". */
static uint64_t qemu_virtual_size(const char *path)
{
    char *out = NULL;
    const char *argv[] = {"qemu-img", "info", path, NULL};
    assert_int_equal(run(argv, &out, NULL), 0);
    const char *v = strstr(out, "virtual size:");
    assert_non_null(v);
    const char *paren = strchr(v, '(');
    assert_non_null(paren);
    uint64_t size = strtoull(paren + 1, NULL, 10);
    free(out);
    return size;
}

/* qemu-img compare: 0 identical contents, 1 different. */
static int qemu_compare(const char *a, const char *b)
{
    const char *argv[] = {"qemu-img", "compare", a, b, NULL};
    return run(argv, NULL, NULL);
}

static void write_pattern(const char *path, size_t size, unsigned seed)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (size_t i = 0; i < size; i++)
        fputc((int)((i * 131 + seed * 7 + (i >> 12)) & 0xff), f);
    assert_int_equal(fclose(f), 0);
}

static void sha256sum(const char *path, char hex[65])
{
    char *out = NULL;
    const char *argv[] = {"sha256sum", path, NULL};
    assert_int_equal(run(argv, &out, NULL), 0);
    memcpy(hex, out, 64);
    hex[64] = 0;
    free(out);
}

/* Entries of the store of @state whose name starts with @prefix. */
static int store_count(const char *state, const char *prefix)
{
    DIR *d = opendir(P("%s/images", state));
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 && strcmp(de->d_name, ".") &&
            strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* Everything in the store but its permanent lock file. */
static int store_entries(const char *state)
{
    return store_count(state, "") - (exists(P("%s/images/.lock", state)) ? 1 : 0);
}

static const char *fresh_state(const char *tag)
{
    const char *s = P("%s/%s", root, tag);
    assert_int_equal(fs_mkdir_p(s, 0755, NULL), 0);
    return s;
}

typedef struct Seen {
    int calls;
    uint64_t last_done, last_total, first_done;
    char last_what[128];
    bool over; /* done > total at some call */
} Seen;

static void on_progress(const char *what, uint64_t done, uint64_t total, void *userdata)
{
    Seen *s = userdata;
    if (s->calls++ == 0)
        s->first_done = done;
    s->last_done = done;
    s->last_total = total;
    snprintf(s->last_what, sizeof(s->last_what), "%s", what);
    if (total && done > total)
        s->over = true;
}

/* Import @img and, when @lab is not NULL, record its use as `up` does (storage/pool.c):
 * image_store_import() then image_store_set_use(), *info read again to show the users. */
static int import_as(const char *st, const LabImage *img, const char *base, const char *lab,
                     ImageProgressFn progress, void *userdata, ImageInfo *info, Error *err)
{
    int r = image_store_import(st, img, base, progress, userdata, info, err);
    if (r < 0 || !lab)
        return r;
    bool changed = info->source_changed;
    char *name = strdup(info->name);
    image_info_clear(info);
    r = image_store_set_use(st, name, lab, true, err);
    if (r == 0)
        r = image_store_lookup(st, name, info, err);
    info->source_changed = changed;
    free(name);
    return r;
}

/* Source files shared by the tests: made once with qemu-img. */
static const char *src_raw, *src_qcow2, *src_vmdk;

static int group_setup(void **state)
{
    (void)state;
    if (!mkdtemp(root))
        return -1;
    if (fs_mkdir_p(P("%s/src", root), 0755, NULL) < 0)
        return -1;
    src_raw = strdup(P("%s/src/disk.img", root));
    src_qcow2 = strdup(P("%s/src/disk.qcow2", root));
    src_vmdk = strdup(P("%s/src/disk.vmdk", root));
    write_pattern(src_raw, 4 * 1024 * 1024, 1);
    const char *q[] = {"qemu-img", "convert", "-f", "raw", "-O", "qcow2", src_raw, src_qcow2, NULL};
    const char *v[] = {"qemu-img", "convert", "-f", "raw", "-O", "vmdk", src_raw, src_vmdk, NULL};
    must(q);
    must(v);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    fs_rm_rf(root, NULL);
    free((char *)src_raw);
    free((char *)src_qcow2);
    free((char *)src_vmdk);
    return 0;
}

static void write_prefix(const char *path, const char *from, size_t len, int fill);
static void copy_file(const char *from, const char *to);

/* ---- names --------------------------------------------------------------------------------- */

static void test_name(void **state)
{
    (void)state;
    /* the expected values: printf 'kvmlab-image-1\0path\0/srv/images/debian.qcow2\0\0' |
     * sha256sum (each field NUL-terminated, an absent sha256 empty); store names must stay
     * the same from one version to the next, or every store is orphaned */
    LabImage a = {.name = (char *)"debian",
                  .kind = LAB_IMAGE_PATH,
                  .source = (char *)"/srv/images/debian.qcow2"};
    char *n = image_store_name(&a, "/elsewhere");
    assert_string_equal(n, "debian-63d5d4989bfa");
    free(n);

    /* relative paths are taken against the lab file's directory, cleaned of . and .. */
    LabImage rel = a;
    rel.source = (char *)"../images/./debian.qcow2";
    n = image_store_name(&rel, "/srv/labs/");
    assert_string_equal(n, "debian-63d5d4989bfa");
    free(n);
    rel.source = (char *)"debian.qcow2";
    n = image_store_name(&rel, "/srv//images/x/..");
    assert_string_equal(n, "debian-63d5d4989bfa");
    free(n);

    /* printf 'kvmlab-image-1\0url\0https://example.org/d.qcow2\0aaa...a\0' | sha256sum */
    char sha[65];
    memset(sha, 'a', 64);
    sha[64] = 0;
    LabImage u = {.name = (char *)"d",
                  .kind = LAB_IMAGE_URL,
                  .source = (char *)"https://example.org/d.qcow2",
                  .sha256 = sha};
    n = image_store_name(&u, NULL);
    assert_string_equal(n, "d-f032c7d8a686");
    free(n);

    /* another checksum or another kind is another image */
    sha[0] = 'b';
    n = image_store_name(&u, NULL);
    assert_string_not_equal(n, "d-f032c7d8a686");
    free(n);
    LabImage k = a;
    k.kind = LAB_IMAGE_URL;
    n = image_store_name(&k, NULL);
    assert_string_not_equal(n, "debian-63d5d4989bfa");
    free(n);

    char *dir = image_store_dir("/var/lib/x");
    assert_string_equal(dir, "/var/lib/x/images");
    free(dir);
}

/* ---- what a file is ---------------------------------------------------------------------- */

static void test_sniff(void **state)
{
    (void)state;
    static unsigned char buf[0x9000];
    memset(buf, 0, sizeof(buf));
    assert_null(image_sniff(buf, sizeof(buf)));
    memcpy(buf, "QFI\xfb", 4);
    assert_string_equal(image_sniff(buf, sizeof(buf)), "qcow2");
    memcpy(buf, "KDMV", 4);
    assert_string_equal(image_sniff(buf, sizeof(buf)), "vmdk");
    memcpy(buf, "\x1f\x8b\x08\x00", 4);
    assert_string_equal(image_sniff(buf, sizeof(buf)), "gzip");
    memset(buf, 0, 8);
    memcpy(buf + 0x8001, "CD001", 5);
    assert_string_equal(image_sniff(buf, sizeof(buf)), "iso9660");
    /* too short to hold the ISO signature: nothing */
    assert_null(image_sniff(buf, 0x8003));
}

/* Real outputs of qemu-img 7.2's `info --output=json` (top.qcow2 over base.qcow2; a
 * twoGbMaxExtentFlat vmdk whose data is in another file). */
static const char info_backing[] =
        "{\n    \"backing-filename-format\": \"qcow2\",\n    \"virtual-size\": 10485760,\n"
        "    \"filename\": \"top.qcow2\",\n    \"cluster-size\": 65536,\n"
        "    \"format\": \"qcow2\",\n    \"actual-size\": 200704,\n"
        "    \"format-specific\": {\n        \"type\": \"qcow2\",\n        \"data\": {\n"
        "            \"compat\": \"1.1\",\n            \"compression-type\": \"zlib\",\n"
        "            \"lazy-refcounts\": false,\n            \"refcount-bits\": 16,\n"
        "            \"corrupt\": false,\n            \"extended-l2\": false\n        }\n"
        "    },\n    \"full-backing-filename\": \"/x/base.qcow2\",\n"
        "    \"backing-filename\": \"base.qcow2\",\n    \"dirty-flag\": false\n}\n";
static const char info_vmdk[] =
        "{\n    \"virtual-size\": 5242880,\n    \"filename\": \"e.vmdk\",\n"
        "    \"format\": \"vmdk\",\n    \"actual-size\": 8192,\n    \"format-specific\": {\n"
        "        \"type\": \"vmdk\",\n        \"data\": {\n            \"cid\": 2475949699,\n"
        "            \"parent-cid\": 4294967295,\n"
        "            \"create-type\": \"twoGbMaxExtentFlat\",\n            \"extents\": [\n"
        "                {\n                    \"virtual-size\": 5242880,\n"
        "                    \"filename\": \"e-f001.vmdk\",\n"
        "                    \"format\": \"FLAT\"\n                }\n            ]\n"
        "        }\n    },\n    \"dirty-flag\": false\n}\n";

static void test_info_parse(void **state)
{
    (void)state;
    QemuImgInfo i = {0};
    Error err = ERROR_INIT;
    assert_int_equal(qemu_img_info_parse(info_backing, &i, &err), 0);
    assert_string_equal(i.format, "qcow2");
    assert_int_equal(i.virtual_size, 10485760);
    assert_int_equal(i.actual_size, 200704);
    assert_string_equal(i.backing, "/x/base.qcow2");
    assert_null(i.data_file);
    qemu_img_info_clear(&i);

    /* the extents' own "format" and "virtual-size" are not the image's */
    assert_int_equal(qemu_img_info_parse(info_vmdk, &i, &err), 0);
    assert_string_equal(i.format, "vmdk");
    assert_int_equal(i.virtual_size, 5242880);
    assert_string_equal(i.create_type, "twoGbMaxExtentFlat");
    assert_int_equal(i.n_extents, 1);
    assert_string_equal(i.extents[0], "e-f001.vmdk");
    assert_null(i.backing);
    qemu_img_info_clear(&i);

    assert_int_equal(qemu_img_info_parse("{\"format\": \"raw\"}", &i, &err), -EINVAL);
    error_clear(&err);
    assert_int_equal(qemu_img_info_parse("not json {", &i, &err), -EINVAL);
    error_clear(&err);
}

/* ---- import of local files --------------------------------------------------------------- */

static void check_imported(const char *st, const ImageInfo *info, const char *src,
                           const char *format)
{
    assert_string_equal(info->path, P("%s/images/%s.qcow2", st, info->name));
    assert_string_equal(info->kind, "path");
    assert_string_equal(info->source, src);
    assert_string_equal(info->format, format);
    assert_int_equal(info->virtual_size, qemu_virtual_size(src));
    assert_true(info->file_size > 0);
    assert_non_null(info->imported_at);
    /* a standalone qcow2 with the source's contents, as qemu-img sees them */
    char *out = NULL;
    const char *argv[] = {"qemu-img", "info", "--output=json", info->path, NULL};
    assert_int_equal(run(argv, &out, NULL), 0);
    assert_non_null(strstr(out, "\"format\": \"qcow2\""));
    assert_null(strstr(out, "backing-filename"));
    free(out);
    assert_int_equal(qemu_compare(src, info->path), 0);
    /* no temporary or lock file of it is left */
    assert_int_equal(store_count(st, info->name), 2);
    assert_true(exists(P("%s/images/%s.record", st, info->name)));
}

static void test_import_formats(void **state)
{
    (void)state;
    const char *st = fresh_state("formats");
    const struct {
        const char *name, *src, *format;
    } cases[] = {
            {"raw", src_raw, "raw"},
            {"q", src_qcow2, "qcow2"},
            {"vm", src_vmdk, "vmdk"},
    };
    for (size_t k = 0; k < 3; k++) {
        LabImage img = {.name = (char *)cases[k].name,
                        .kind = LAB_IMAGE_PATH,
                        .source = (char *)cases[k].src,
                        .os = (char *)"debian12"};
        ImageInfo info = {0};
        Error err = ERROR_INIT;
        Seen seen = {0};
        int r = import_as(st, &img, NULL, "lab1", on_progress, &seen, &info, &err);
        if (r < 0)
            print_error("%s\n", err.message);
        assert_int_equal(r, 0);
        check_imported(st, &info, cases[k].src, cases[k].format);
        assert_string_equal(info.os, "debian12");
        assert_null(info.sha256);
        assert_int_equal(info.n_users, 1);
        assert_string_equal(info.users[0], "lab1");
        assert_false(info.source_changed);
        /* progress ended complete, never above its total */
        assert_true(seen.calls >= 2);
        assert_false(seen.over);
        assert_true(seen.last_total > 0 && seen.last_done == seen.last_total);
        assert_string_equal(seen.last_what, P("importing %s", info.name));
        char *name = image_store_name(&img, NULL);
        assert_string_equal(info.name, name);
        free(name);
        image_info_clear(&info);
    }

    /* a relative path, against the lab file's directory, is the same image */
    LabImage rel = {.name = (char *)"raw", .kind = LAB_IMAGE_PATH, .source = (char *)"./disk.img"};
    ImageInfo info = {0};
    assert_int_equal(import_as(st, &rel, P("%s/src/sub/..", root), NULL, NULL, NULL, &info, NULL),
                     0);
    assert_string_equal(info.source, src_raw);
    image_info_clear(&info);
    assert_int_equal(store_entries(st), 6);
}

static void test_import_backing_flattened(void **state)
{
    (void)state;
    const char *st = fresh_state("backing");
    const char *top = P("%s/src/top.qcow2", root);
    const char *c[] = {"qemu-img", "create", "-f",    "qcow2", "-b",
                       src_qcow2,  "-F",     "qcow2", top,     NULL};
    must(c);
    /* data of the top layer's own, which the base lacks */
    const char *w[] = {"qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 64k", top, NULL};
    must(w);
    LabImage img = {.name = (char *)"top", .kind = LAB_IMAGE_PATH, .source = (char *)top};
    ImageInfo info = {0};
    Error err = ERROR_INIT;
    assert_int_equal(import_as(st, &img, NULL, NULL, NULL, NULL, &info, &err), 0);
    /* standalone (check_imported looks for no backing file) with the whole chain's contents */
    check_imported(st, &info, top, "qcow2");
    assert_int_equal(qemu_compare(src_qcow2, info.path), 1);
    image_info_clear(&info);

    /* a missing link of the chain is named */
    const char *orphan = P("%s/src/orphan.qcow2", root);
    const char *o[] = {
            "qemu-img", "create", "-f",   "qcow2", "-u", "-b", P("%s/src/gone.qcow2", root),
            "-F",       "qcow2",  orphan, "4M",    NULL};
    must(o);
    img.name = (char *)"orphan";
    img.source = (char *)orphan;
    assert_int_equal(import_as(st, &img, NULL, NULL, NULL, NULL, &info, &err), -ENOENT);
    assert_non_null(strstr(err.message, "gone.qcow2"));
    assert_non_null(strstr(err.message, "does not exist"));
    error_clear(&err);
    assert_int_equal(store_count(st, "orphan"), 0);
}

static void expect_refused(const char *st, const char *src, int code, const char *needle)
{
    LabImage img = {.name = (char *)"bad", .kind = LAB_IMAGE_PATH, .source = (char *)src};
    ImageInfo info = {0};
    Error err = ERROR_INIT;
    assert_int_equal(import_as(st, &img, NULL, NULL, NULL, NULL, &info, &err), code);
    assert_non_null(err.message);
    if (!strstr(err.message, src) || !strstr(err.message, needle))
        print_error("unexpected message: %s\n", err.message);
    assert_non_null(strstr(err.message, src));
    assert_non_null(strstr(err.message, needle));
    error_clear(&err);
    assert_int_equal(store_entries(st), 0);
}

static void test_import_refused(void **state)
{
    (void)state;
    const char *st = fresh_state("refused");
    const char *txt = P("%s/src/notes.txt", root);
    FILE *f = fopen(txt, "w");
    fputs("hello\n", f);
    fclose(f);
    expect_refused(st, txt, -EINVAL, "not a disk image");
    expect_refused(st, P("%s/src/nope.qcow2", root), -ENOENT, "does not exist");
    expect_refused(st, P("%s/src", root), -EISDIR, "is a directory");

    const char *gz = P("%s/src/disk.img.gz", root);
    const char *g[] = {"gzip", "-k", "-f", src_raw, NULL};
    must(g);
    expect_refused(st, gz, -EINVAL, "a compressed file (gzip)");

    const char *vdi = P("%s/src/disk.vdi", root);
    const char *v[] = {"qemu-img", "create", "-f", "vdi", vdi, "1M", NULL};
    must(v);
    expect_refused(st, vdi, -EINVAL, "is a vdi image; kvmlab imports qcow2, raw and vmdk");

    /* an unknown build recipe (the known ones are test-imagebuild's); a URL without a checksum
     * is never fetched */
    LabImage b = {.name = (char *)"b", .kind = LAB_IMAGE_BUILD, .source = (char *)"debian-node"};
    ImageInfo info = {0};
    Error err = ERROR_INIT;
    assert_int_equal(import_as(st, &b, NULL, NULL, NULL, NULL, &info, &err), -EINVAL);
    assert_non_null(strstr(err.message, "unknown build recipe 'debian-node'"));
    error_clear(&err);
    LabImage u = {.name = (char *)"u", .kind = LAB_IMAGE_URL, .source = (char *)"file:///nope"};
    assert_int_equal(import_as(st, &u, NULL, NULL, NULL, NULL, &info, &err), -EINVAL);
    assert_non_null(strstr(err.message, "sha256"));
    error_clear(&err);
    assert_int_equal(store_entries(st), 0);
}

static void test_import_path_sha256(void **state)
{
    (void)state;
    const char *st = fresh_state("pathsha");
    char want[65], wrong[65];
    sha256sum(src_qcow2, want);
    memcpy(wrong, want, sizeof(wrong));
    wrong[0] = wrong[0] == '0' ? '1' : '0';

    LabImage img = {.name = (char *)"q",
                    .kind = LAB_IMAGE_PATH,
                    .source = (char *)src_qcow2,
                    .sha256 = wrong};
    ImageInfo info = {0};
    Error err = ERROR_INIT;
    assert_int_equal(import_as(st, &img, NULL, NULL, NULL, NULL, &info, &err), -EBADMSG);
    assert_non_null(strstr(err.message, P("expected %s, got %s", wrong, want)));
    error_clear(&err);
    assert_int_equal(store_entries(st), 0);

    img.sha256 = want;
    assert_int_equal(import_as(st, &img, NULL, NULL, NULL, NULL, &info, &err), 0);
    assert_string_equal(info.sha256, want);
    image_info_clear(&info);
}

static void test_cache_hit_and_changed_source(void **state)
{
    (void)state;
    const char *st = fresh_state("cache");
    const char *src = P("%s/src/changing.img", root);
    const char *keep = P("%s/src/changing-before.img", root);
    write_pattern(src, 1024 * 1024, 2);
    write_pattern(keep, 1024 * 1024, 2);
    LabImage img = {.name = (char *)"c", .kind = LAB_IMAGE_PATH, .source = (char *)src};
    ImageInfo a = {0}, b = {0}, c = {0};
    Error err = ERROR_INIT;
    assert_int_equal(import_as(st, &img, NULL, "one", NULL, NULL, &a, &err), 0);
    struct stat before, after;
    assert_int_equal(stat(a.path, &before), 0);

    /* a second lab: a cache hit (no progress at all), recorded as a second user */
    Seen seen = {0};
    assert_int_equal(import_as(st, &img, NULL, "two", on_progress, &seen, &b, &err), 0);
    assert_int_equal(seen.calls, 0);
    assert_string_equal(a.name, b.name);
    assert_int_equal(b.n_users, 2);
    assert_string_equal(b.users[0], "one");
    assert_string_equal(b.users[1], "two");
    assert_false(b.source_changed);

    /* the source changes: the stored copy does not (overlays stand on it), and it is said */
    write_pattern(src, 1024 * 1024, 3);
    struct timespec ts[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    assert_int_equal(utimensat(AT_FDCWD, src, ts, 0), 0);
    assert_int_equal(import_as(st, &img, NULL, "three", NULL, NULL, &c, &err), 0);
    assert_true(c.source_changed);
    assert_int_equal(c.n_users, 3);
    assert_int_equal(stat(c.path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_int_equal(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
    assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
    assert_int_equal(qemu_compare(keep, c.path), 0);
    assert_int_equal(qemu_compare(src, c.path), 1);
    image_info_clear(&a);
    image_info_clear(&b);
    image_info_clear(&c);
}

/* What a crash leaves (imagestore.c, "Crash safety"): a record whose image was never renamed
 * into place, a half-converted temporary file, a lock file. None of it counts as an image, and
 * the next import replaces it. An image file without its record is never overwritten. */
static void test_crash_leftovers(void **state)
{
    (void)state;
    const char *st = fresh_state("crash");
    assert_int_equal(fs_mkdir_p(P("%s/images", st), 0755, NULL), 0);
    LabImage img = {.name = (char *)"k", .kind = LAB_IMAGE_PATH, .source = (char *)src_raw};
    char *name = image_store_name(&img, NULL);
    assert_int_equal(fs_write_atomic(P("%s/images/%s.record", st, name),
                                     "kind=path\nsource=/x\nvirtual-size=1\nused-by=ghost\n", 0644,
                                     NULL),
                     0);
    write_prefix(P("%s/images/%s.qcow2.tmp", st, name), NULL, 4096, 0x11);
    write_prefix(P("%s/images/%s.lock", st, name), NULL, 0, 0);

    ImageInfo *list = NULL;
    size_t n = 9;
    assert_int_equal(image_store_list(st, &list, &n, NULL), 0);
    assert_int_equal(n, 0);
    ImageInfo info = {0};
    Error err = ERROR_INIT;
    assert_int_equal(image_store_lookup(st, name, &info, &err), -ENOENT);
    error_clear(&err);

    assert_int_equal(import_as(st, &img, NULL, "lab1", NULL, NULL, &info, &err), 0);
    assert_int_equal(info.n_users, 1);
    assert_string_equal(info.users[0], "lab1");
    assert_string_equal(info.source, src_raw);
    assert_int_equal(qemu_compare(src_raw, info.path), 0);
    assert_int_equal(store_count(st, name), 2);
    image_info_clear(&info);
    free(name);

    /* an image without its record: left alone, and said (another source: another name) */
    img.name = (char *)"k2";
    img.source = (char *)src_qcow2;
    name = image_store_name(&img, NULL);
    const char *orphan = P("%s/images/%s.qcow2", st, name);
    copy_file(src_qcow2, orphan);
    struct stat before, after;
    assert_int_equal(stat(orphan, &before), 0);
    assert_int_equal(import_as(st, &img, NULL, NULL, NULL, NULL, &info, &err), -EEXIST);
    assert_non_null(strstr(err.message, "without kvmlab's record"));
    error_clear(&err);
    assert_int_equal(stat(orphan, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_int_equal(qemu_compare(src_qcow2, orphan), 0);
    assert_int_equal(store_count(st, name), 1);
    free(name);
}

/* ---- use, list, remove ------------------------------------------------------------------- */

static char *import_simple(const char *st, const char *name, const char *src)
{
    LabImage img = {.name = (char *)name, .kind = LAB_IMAGE_PATH, .source = (char *)src};
    ImageInfo info = {0};
    Error err = ERROR_INIT;
    int r = import_as(st, &img, NULL, NULL, NULL, NULL, &info, &err);
    if (r < 0)
        print_error("%s\n", err.message);
    assert_int_equal(r, 0);
    char *n = strdup(info.name);
    image_info_clear(&info);
    return n;
}

static void test_use_list_remove(void **state)
{
    (void)state;
    const char *st = fresh_state("use");
    ImageInfo *list = NULL;
    size_t n = 99;
    assert_int_equal(image_store_list(st, &list, &n, NULL), 0);
    assert_int_equal(n, 0);
    assert_null(list);

    char *y = import_simple(st, "yyy", src_raw);
    char *x = import_simple(st, "xxx", src_qcow2);
    Error err = ERROR_INIT;
    assert_int_equal(image_store_set_use(st, x, "lab2", true, &err), 0);
    assert_int_equal(image_store_set_use(st, x, "lab1", true, &err), 0);
    assert_int_equal(image_store_set_use(st, x, "lab1", true, &err), 0);

    assert_int_equal(image_store_list(st, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    /* sorted by name; x is the one two labs use */
    assert_true(strcmp(list[0].name, list[1].name) < 0);
    ImageInfo *lx = strcmp(list[0].name, x) == 0 ? &list[0] : &list[1];
    ImageInfo *ly = lx == &list[0] ? &list[1] : &list[0];
    assert_string_equal(lx->name, x);
    assert_string_equal(ly->name, y);
    assert_int_equal(lx->n_users, 2);
    assert_string_equal(lx->users[0], "lab1");
    assert_string_equal(lx->users[1], "lab2");
    assert_int_equal(ly->n_users, 0);
    assert_int_equal(list[0].virtual_size, qemu_virtual_size(src_qcow2));
    image_info_list_free(list, n);

    /* in use: refused, naming the labs, and nothing is removed */
    assert_int_equal(image_store_remove(st, x, &err), -EBUSY);
    assert_non_null(strstr(err.message, "labs 'lab1' and 'lab2'"));
    error_clear(&err);
    assert_true(exists(P("%s/images/%s.qcow2", st, x)));

    assert_int_equal(image_store_set_use(st, x, "lab1", false, &err), 0);
    assert_int_equal(image_store_remove(st, x, &err), -EBUSY);
    assert_non_null(strstr(err.message, "lab 'lab2'"));
    error_clear(&err);
    assert_int_equal(image_store_set_use(st, x, "lab2", false, &err), 0);
    assert_int_equal(image_store_remove(st, x, &err), 0);
    assert_int_equal(store_count(st, x), 0);

    ImageInfo info = {0};
    assert_int_equal(image_store_lookup(st, x, &info, &err), -ENOENT);
    error_clear(&err);
    assert_int_equal(image_store_remove(st, x, &err), -ENOENT);
    error_clear(&err);
    /* no use of an absent image is recorded; giving one up is fine */
    assert_int_equal(image_store_set_use(st, x, "lab1", true, &err), -ENOENT);
    error_clear(&err);
    assert_int_equal(image_store_set_use(st, x, "lab1", false, &err), 0);
    /* names as list shows them: no path hides in one */
    assert_int_equal(image_store_remove(st, "../use/images/x", &err), -ENOENT);
    error_clear(&err);
    assert_int_equal(image_store_set_use(st, y, "a\nused-by=b", true, &err), -EINVAL);
    error_clear(&err);

    assert_int_equal(image_store_lookup(st, y, &info, &err), 0);
    assert_string_equal(info.name, y);
    image_info_clear(&info);
    free(x);
    free(y);
}

static void test_remove_while_importing(void **state)
{
    (void)state;
    const char *st = fresh_state("busy");
    char *x = import_simple(st, "x", src_raw);
    /* an import holds <name>.lock for its whole run (imagestore.h) */
    int fd = open(P("%s/images/%s.lock", st, x), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    Error err = ERROR_INIT;
    assert_int_equal(image_store_remove(st, x, &err), -EBUSY);
    assert_non_null(strstr(err.message, "being imported"));
    error_clear(&err);
    close(fd);
    assert_int_equal(image_store_remove(st, x, &err), 0);
    free(x);
}

/* Several processes change the users of one image at once: every change survives. */
static void test_concurrent_set_use(void **state)
{
    (void)state;
    const char *st = fresh_state("concurrent");
    char *x = import_simple(st, "x", src_raw);
    enum { CHILDREN = 4, EACH = 25 };
    for (int phase = 0; phase < 2; phase++) {
        pid_t pids[CHILDREN];
        for (int c = 0; c < CHILDREN; c++) {
            pids[c] = fork();
            assert_true(pids[c] >= 0);
            if (pids[c] == 0) {
                for (int k = 0; k < EACH; k++) {
                    char lab[32];
                    snprintf(lab, sizeof(lab), "c%d-%d", c, k);
                    if (image_store_set_use(st, x, lab, phase == 0, NULL) < 0)
                        _exit(1);
                }
                _exit(0);
            }
        }
        for (int c = 0; c < CHILDREN; c++) {
            int status = 0;
            assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
            assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
        ImageInfo info = {0};
        assert_int_equal(image_store_lookup(st, x, &info, NULL), 0);
        assert_int_equal(info.n_users, phase == 0 ? CHILDREN * EACH : 0);
        image_info_clear(&info);
    }
    free(x);
}

/* ---- file:// downloads ------------------------------------------------------------------- */

static void write_prefix(const char *path, const char *from, size_t len, int fill)
{
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    FILE *in = from ? fopen(from, "r") : NULL;
    for (size_t i = 0; i < len; i++)
        fputc(in ? fgetc(in) : fill, out);
    if (in)
        fclose(in);
    assert_int_equal(fclose(out), 0);
}

static void copy_file(const char *from, const char *to)
{
    const char *argv[] = {"cp", from, to, NULL};
    must(argv);
}

static void test_file_url(void **state)
{
    (void)state;
    const char *st = fresh_state("fileurl");
    char sha[65];
    sha256sum(src_qcow2, sha);
    LabImage img = {.name = (char *)"f",
                    .kind = LAB_IMAGE_URL,
                    .source = (char *)P("file://%s", src_qcow2),
                    .sha256 = sha,
                    .os = (char *)"alpinelinux3.18"};
    ImageInfo info = {0};
    Error err = ERROR_INIT;
    Seen seen = {0};
    int r = import_as(st, &img, NULL, "lab1", on_progress, &seen, &info, &err);
    if (r < 0)
        print_error("%s\n", err.message);
    assert_int_equal(r, 0);
    assert_string_equal(info.kind, "url");
    assert_string_equal(info.source, img.source);
    assert_string_equal(info.sha256, sha);
    assert_string_equal(info.format, "qcow2");
    assert_int_equal(info.virtual_size, qemu_virtual_size(src_qcow2));
    assert_int_equal(qemu_compare(src_qcow2, info.path), 0);
    assert_false(seen.over);
    /* nothing but the image and its record */
    assert_int_equal(store_count(st, info.name), 2);
    image_info_clear(&info);

    /* a wrong checksum: said with both values, nothing of it kept */
    char wrong[65];
    memcpy(wrong, sha, sizeof(wrong));
    wrong[5] = wrong[5] == 'f' ? 'e' : 'f';
    img.sha256 = wrong;
    img.name = (char *)"w";
    assert_int_equal(import_as(st, &img, NULL, NULL, NULL, NULL, &info, &err), -EBADMSG);
    assert_non_null(strstr(err.message, P("expected %s, got %s", wrong, sha)));
    assert_non_null(strstr(err.message, img.source));
    error_clear(&err);
    assert_int_equal(store_count(st, "w-"), 0);

    /* a missing file is named; no partial file is left */
    LabImage miss = {.name = (char *)"m",
                     .kind = LAB_IMAGE_URL,
                     .source = (char *)P("file://%s/src/missing.qcow2", root),
                     .sha256 = sha};
    assert_int_equal(import_as(st, &miss, NULL, NULL, NULL, NULL, &info, &err), -ENOENT);
    assert_non_null(strstr(err.message, miss.source));
    error_clear(&err);
    assert_int_equal(store_count(st, "m-"), 0);
}

/* A partial download is resumed: proven by a wrong prefix that the resumed download keeps
 * (the checksum then fails), and by a right prefix that gives the right image. */
static void test_file_url_resume(void **state)
{
    (void)state;
    const char *st = fresh_state("resume");
    assert_int_equal(fs_mkdir_p(P("%s/images", st), 0755, NULL), 0);
    char sha[65];
    sha256sum(src_qcow2, sha);
    struct stat sst;
    assert_int_equal(stat(src_qcow2, &sst), 0);

    const char *copies[] = {"r1.qcow2", "r2.qcow2", "r3.qcow2"};
    for (size_t k = 0; k < 3; k++)
        copy_file(src_qcow2, P("%s/src/%s", root, copies[k]));
    LabImage img = {.name = (char *)"r", .kind = LAB_IMAGE_URL, .sha256 = sha};
    ImageInfo info = {0};
    Error err = ERROR_INIT;

    /* the right first MiB: only the rest is read (the progress starts there) */
    img.source = (char *)P("file://%s/src/%s", root, copies[0]);
    char *name = image_store_name(&img, NULL);
    write_prefix(P("%s/images/%s.part", st, name), src_qcow2, 1024 * 1024, 0);
    Seen seen = {0};
    assert_int_equal(import_as(st, &img, NULL, NULL, on_progress, &seen, &info, &err), 0);
    assert_int_equal(qemu_compare(src_qcow2, info.path), 0);
    assert_false(exists(P("%s/images/%s.part", st, name)));
    image_info_clear(&info);
    free(name);

    /* a wrong first MiB is kept by the resume: the checksum catches it and the partial file
     * goes; the next run starts afresh and succeeds */
    img.source = (char *)P("file://%s/src/%s", root, copies[1]);
    name = image_store_name(&img, NULL);
    write_prefix(P("%s/images/%s.part", st, name), NULL, 1024 * 1024, 0xee);
    assert_int_equal(import_as(st, &img, NULL, NULL, NULL, NULL, &info, &err), -EBADMSG);
    assert_non_null(strstr(err.message, "deleted"));
    error_clear(&err);
    assert_int_equal(store_count(st, name), 0);
    assert_int_equal(import_as(st, &img, NULL, NULL, NULL, NULL, &info, &err), 0);
    image_info_clear(&info);
    free(name);

    /* a partial file longer than the file cannot be resumed: started over */
    img.source = (char *)P("file://%s/src/%s", root, copies[2]);
    name = image_store_name(&img, NULL);
    write_prefix(P("%s/images/%s.part", st, name), NULL, (size_t)sst.st_size + 4096, 0xee);
    int r = import_as(st, &img, NULL, NULL, NULL, NULL, &info, &err);
    if (r < 0)
        print_error("%s\n", err.message);
    assert_int_equal(r, 0);
    assert_int_equal(qemu_compare(src_qcow2, info.path), 0);
    image_info_clear(&info);
    free(name);
}

/* What a downloaded file may not be: it must stand alone and be a disk image. */
static void test_file_url_refused(void **state)
{
    (void)state;
    const char *st = fresh_state("urlrefused");
    const char *top = P("%s/src/dl-top.qcow2", root);
    const char *c[] = {"qemu-img", "create", "-f",    "qcow2", "-b",
                       src_qcow2,  "-F",     "qcow2", top,     NULL};
    must(c);
    const char *flat = P("%s/src/dl-flat.vmdk", root);
    const char *v[] = {"qemu-img", "create", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentFlat",
                       flat,       "1M",     NULL};
    must(v);
    const char *g[] = {"gzip", "-k", "-f", src_qcow2, NULL};
    must(g);
    const struct {
        const char *file, *needle;
    } cases[] = {
            {top, "names a backing file"},
            {flat, "vmdk descriptor"},
            {P("%s.gz", src_qcow2), "compressed file (gzip)"},
    };
    for (size_t k = 0; k < ELEMENTSOF(cases); k++) {
        char sha[65];
        sha256sum(cases[k].file, sha);
        LabImage img = {.name = (char *)"dl",
                        .kind = LAB_IMAGE_URL,
                        .source = (char *)P("file://%s", cases[k].file),
                        .sha256 = sha};
        ImageInfo info = {0};
        Error err = ERROR_INIT;
        assert_int_equal(import_as(st, &img, NULL, NULL, NULL, NULL, &info, &err), -EINVAL);
        if (!strstr(err.message, cases[k].needle))
            print_error("unexpected message: %s\n", err.message);
        assert_non_null(strstr(err.message, cases[k].needle));
        error_clear(&err);
        assert_int_equal(store_entries(st), 0);
    }
}

static void test_interrupted(void **state)
{
    (void)state;
    const char *st = fresh_state("interrupt");
    char sha[65];
    sha256sum(src_qcow2, sha);
    LabImage u = {.name = (char *)"i",
                  .kind = LAB_IMAGE_URL,
                  .source = (char *)P("file://%s", src_qcow2),
                  .sha256 = sha};
    LabImage p = {.name = (char *)"i", .kind = LAB_IMAGE_PATH, .source = (char *)src_vmdk};
    ImageInfo info = {0};
    Error err = ERROR_INIT;
    interrupt_reset();
    interrupt_raise(SIGINT);
    assert_int_equal(import_as(st, &u, NULL, NULL, NULL, NULL, &info, &err), -EINTR);
    assert_non_null(strstr(err.message, "SIGINT"));
    error_clear(&err);
    assert_int_equal(import_as(st, &p, NULL, NULL, NULL, NULL, &info, &err), -EINTR);
    assert_non_null(strstr(err.message, "SIGINT"));
    error_clear(&err);
    interrupt_reset();
    assert_int_equal(store_entries(st), 0);
}

/* ---- the command line -------------------------------------------------------------------- */

static int kvmlab(const char *st, char **out, char **errout, const char *a1, const char *a2,
                  const char *a3)
{
    const char *argv[] = {kvmlab_bin, "--state-dir", st, a1, a2, a3, NULL};
    return run(argv, out, errout);
}

static void test_cli(void **state)
{
    (void)state;
    const char *st = fresh_state("cli");
    char *out = NULL, *errout = NULL;
    assert_int_equal(kvmlab(st, &out, NULL, "image", "list", NULL), 0);
    assert_non_null(strstr(out, "No images"));
    free(out);

    LabImage img = {.name = (char *)"debian",
                    .kind = LAB_IMAGE_PATH,
                    .source = (char *)src_qcow2,
                    .os = (char *)"debian12"};
    ImageInfo info = {0};
    assert_int_equal(import_as(st, &img, NULL, "cka", NULL, NULL, &info, NULL), 0);

    assert_int_equal(kvmlab(st, &out, NULL, "image", "list", NULL), 0);
    assert_non_null(strstr(out, "NAME"));
    assert_non_null(strstr(out, "USED BY"));
    assert_non_null(strstr(out, info.name));
    assert_non_null(strstr(out, "debian12"));
    assert_non_null(strstr(out, src_qcow2));
    assert_non_null(strstr(out, "cka"));
    free(out);
    assert_int_equal(kvmlab(st, &out, NULL, "image", "list", "--json"), 0);
    assert_non_null(strstr(out, P("{\"name\":\"%s\"", info.name)));
    assert_non_null(strstr(out, "\"used_by\":[\"cka\"]"));
    assert_non_null(strstr(out, P("\"virtual_size\":%" PRIu64, qemu_virtual_size(src_qcow2))));
    free(out);

    /* in use: refused with the lab named */
    assert_int_equal(kvmlab(st, NULL, &errout, "image", "rm", info.name), 1);
    assert_non_null(strstr(errout, "in use by lab 'cka'"));
    free(errout);
    /* the readable part alone: did you mean the store's whole name */
    char *label = strndup(info.name, strlen(info.name) - 13);
    assert_int_equal(kvmlab(st, NULL, &errout, "image", "rm", label), 1);
    free(label);
    assert_non_null(strstr(errout, P("did you mean '%s'?", info.name)));
    free(errout);
    assert_int_equal(kvmlab(st, NULL, NULL, "image", "frob", NULL), 2);
    assert_int_equal(kvmlab(st, NULL, NULL, "image", "rm", NULL), 2);

    assert_int_equal(image_store_set_use(st, info.name, "cka", false, NULL), 0);
    assert_int_equal(kvmlab(st, &out, NULL, "image", "rm", info.name), 0);
    assert_non_null(strstr(out, "Removed image"));
    free(out);
    assert_int_equal(store_entries(st), 0);
    image_info_clear(&info);
}

static void test_progress_format(void **state)
{
    (void)state;
    char buf[128];
    cli_progress_format(buf, sizeof(buf), "downloading d", 135ULL << 20, 300ULL << 20);
    assert_string_equal(buf, "downloading d: 45% (135/300 MiB)");
    cli_progress_format(buf, sizeof(buf), "converting d", 3ULL << 29, 3ULL << 30);
    assert_string_equal(buf, "converting d: 50% (1.5/3.0 GiB)");
    cli_progress_format(buf, sizeof(buf), "downloading d", 12ULL << 10, 0);
    assert_string_equal(buf, "downloading d: 12 KiB");
}

/* The line itself, as a terminal would get it: redrawn in place, throttled, one line a step. */
static void test_progress_line(void **state)
{
    (void)state;
    CliGlobals quiet = {.quiet = true};
    CliProgress p;
    cli_progress_init(&p, &quiet);
    assert_false(p.enabled);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    cli_progress_init(&p, NULL);
    p.enabled = true; /* as on a terminal */
    p.out = f;
    uint64_t total = 300ULL << 20;
    cli_progress_fn("downloading d", 0, total, &p);
    cli_progress_fn("downloading d", 1ULL << 20, total, &p); /* within 100 ms: not drawn */
    usleep(120000);
    cli_progress_fn("downloading d", 135ULL << 20, total, &p);
    cli_progress_fn("downloading d", total, total, &p); /* the end is always drawn */
    cli_progress_fn("converting d", 0, total, &p);
    cli_progress_end(&p);
    fclose(f);
    assert_string_equal(buf, "\rdownloading d: 0% (0/300 MiB)\033[K"
                             "\rdownloading d: 45% (135/300 MiB)\033[K"
                             "\rdownloading d: 100% (300/300 MiB)\033[K\n"
                             "\rconverting d: 0% (0/300 MiB)\033[K\n");
    free(buf);
}

int main(int argc, char **argv)
{
    kvmlab_bin = argc > 1 ? argv[1] : "kvmlab";
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_name),
            cmocka_unit_test(test_sniff),
            cmocka_unit_test(test_info_parse),
            cmocka_unit_test(test_progress_format),
            cmocka_unit_test(test_progress_line),
            cmocka_unit_test(test_import_formats),
            cmocka_unit_test(test_import_backing_flattened),
            cmocka_unit_test(test_import_refused),
            cmocka_unit_test(test_import_path_sha256),
            cmocka_unit_test(test_cache_hit_and_changed_source),
            cmocka_unit_test(test_crash_leftovers),
            cmocka_unit_test(test_use_list_remove),
            cmocka_unit_test(test_remove_while_importing),
            cmocka_unit_test(test_concurrent_set_use),
            cmocka_unit_test(test_file_url),
            cmocka_unit_test(test_file_url_resume),
            cmocka_unit_test(test_file_url_refused),
            cmocka_unit_test(test_interrupted),
            cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
