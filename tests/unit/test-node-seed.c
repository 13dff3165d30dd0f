/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The seed ISO (node_seed_write), read back by tools that share no code with libisofs:
 * isoinfo (genisoimage) for the volume descriptors and every file's bytes through Rock Ridge
 * and Joliet, blkid (util-linux) for the label a guest's udev sees. Then the file itself: mode
 * 0600, an existing file replaced, and failures that leave nothing behind.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvmlab/fsutil.h"
#include "kvmlab/node.h"
#include "kvmlab/spawn.h"

static char root[] = "/tmp/kvmlab-seed-XXXXXX";

/* A formatted path in one of a ring of static buffers. */
static const char *P(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *P(const char *fmt, ...)
{
    static char ring[16][4096];
    static unsigned next;
    char *b = ring[next++ % 16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, 4096, fmt, ap);
    va_end(ap);
    return b;
}

/* Run @argv (a tool of Debian package @pkg) and return its stdout; it must exit 0. */
static char *run_ok(const char *pkg, const char *const *argv)
{
    SpawnResult res = {0};
    SpawnOpts o = {.timeout_ms = 30000};
    assert_int_equal(spawn_run(argv, &o, &res, NULL), 0);
    if (res.status == 127)
        fail_msg("%s is missing: install the Debian package '%s'", argv[0], pkg);
    if (res.status != 0)
        fail_msg("%s failed (%d): %s", argv[0], res.status, res.err);
    char *out = res.out;
    res.out = NULL;
    spawn_result_clear(&res);
    return out;
}

/* Entries of @dir other than . and .. */
static int dir_count(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* Text with every byte value but NUL (the captured output of isoinfo is a C string), longer
 * than 64 KiB so it spans many sectors and more than one buffer of any reader. */
static char *big_text(size_t len)
{
    char *s = malloc(len + 1);
    assert_non_null(s);
    for (size_t i = 0; i < len; i++)
        s[i] = (char)(1 + (i * 7 + i / 251) % 255);
    s[len] = 0;
    return s;
}

/* The file @name read from @iso by isoinfo through Rock Ridge (-R) or Joliet (-J) equals
 * @data exactly. */
static void assert_iso_file(const char *iso, const char *ext, const char *name, const char *data,
                            size_t len)
{
    const char *argv[] = {"isoinfo", ext, "-x", P("/%s", name), "-i", iso, NULL};
    char *out = run_ok("genisoimage", argv);
    assert_int_equal(strlen(out), len);
    assert_memory_equal(out, data, len);
    free(out);
}

static void test_readback(void **state)
{
    (void)state;
    char *big = big_text(70 * 1024 + 17);
    const char *meta = "instance-id: lab-cp-0-1\nlocal-hostname: cp-0\n";
    const char *net = "version: 2\nethernets:\n  id0:\n    match:\n      macaddress: "
                      "'52:54:00:12:34:56'\n    dhcp4: true\n";
    const SeedFile files[] = {
            {"meta-data", meta, strlen(meta)},
            {"user-data", big, strlen(big)},
            {"network-config", net, strlen(net)},
            {"vendor-data", "", 0},
    };
    const char *iso = P("%s/seed.iso", root);
    Error err = ERROR_INIT;
    assert_int_equal(node_seed_write(iso, files, 4, &err), 0);
    assert_null(err.message);

    struct stat st;
    assert_int_equal(stat(iso, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size % 2048, 0);

    const char *d[] = {"isoinfo", "-d", "-i", iso, NULL};
    char *desc = run_ok("genisoimage", d);
    assert_non_null(strstr(desc, "Volume id: cidata\n"));
    assert_non_null(strstr(desc, "Rock Ridge signatures version 1 found"));
    assert_non_null(strstr(desc, "Joliet with UCS level 3 found"));
    free(desc);

    /* A guest's udev finds the seed by this label (cloud-init's NoCloud looks for cidata). */
    const char *b[] = {"blkid", "-p", "-o", "value", "-s", "LABEL", iso, NULL};
    char *label = run_ok("util-linux", b);
    assert_string_equal(label, "cidata\n");
    free(label);

    /* Exactly the four files, at the root, under their own names (ISO 9660 sorts them). */
    const char *l[] = {"isoinfo", "-R", "-f", "-i", iso, NULL};
    char *list = run_ok("genisoimage", l);
    assert_string_equal(list, "/meta-data\n/network-config\n/user-data\n/vendor-data\n");
    free(list);

    for (size_t i = 0; i < 4; i++) {
        assert_iso_file(iso, "-R", files[i].name, files[i].data, files[i].len);
        assert_iso_file(iso, "-J", files[i].name, files[i].data, files[i].len);
    }
    free(big);
}

/* An existing seed (of another mode, as a user might have left it) is replaced whole, and no
 * temporary file stays beside it. */
static void test_overwrite(void **state)
{
    (void)state;
    const char *dir = P("%s/over", root);
    assert_int_equal(fs_mkdir_p(dir, 0755, NULL), 0);
    const char *iso = P("%s/seed.iso", dir);
    assert_int_equal(fs_write_atomic(iso, "not an iso at all\n", 0644, NULL), 0);

    for (int round = 0; round < 2; round++) {
        const char *ud =
                round ? "#cloud-config\nhostname: second\n" : "#cloud-config\nhostname: first\n";
        const SeedFile files[] = {{"meta-data", "instance-id: x\n", 15},
                                  {"user-data", ud, strlen(ud)}};
        Error err = ERROR_INIT;
        assert_int_equal(node_seed_write(iso, files, 2, &err), 0);
        struct stat st;
        assert_int_equal(stat(iso, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_iso_file(iso, "-R", "user-data", ud, strlen(ud));
        assert_int_equal(dir_count(dir), 1);
    }
}

/* A missing directory: an error naming the path, nothing made. */
static void test_missing_dir(void **state)
{
    (void)state;
    const char *iso = P("%s/missing/seed.iso", root);
    const SeedFile files[] = {{"meta-data", "instance-id: x\n", 15}};
    Error err = ERROR_INIT;
    assert_int_equal(node_seed_write(iso, files, 1, &err), -ENOENT);
    assert_non_null(err.message);
    assert_non_null(strstr(err.message, iso));
    error_clear(&err);
    struct stat st;
    assert_int_equal(stat(P("%s/missing", root), &st), -1);
}

/* Failures after the temporary file was made (the target is a directory, so the rename fails;
 * a file name given twice) remove it again and leave the target alone. */
static void test_failures_leave_nothing(void **state)
{
    (void)state;
    const char *dir = P("%s/fail", root);
    assert_int_equal(fs_mkdir_p(P("%s/seed.iso", dir), 0755, NULL), 0);
    const SeedFile files[] = {{"meta-data", "instance-id: x\n", 15}};
    Error err = ERROR_INIT;
    int r = node_seed_write(P("%s/seed.iso", dir), files, 1, &err);
    assert_true(r == -EISDIR || r == -ENOTDIR);
    assert_non_null(strstr(err.message, "seed.iso"));
    error_clear(&err);
    assert_int_equal(dir_count(dir), 1);

    const SeedFile twice[] = {{"meta-data", "a", 1}, {"meta-data", "b", 1}};
    r = node_seed_write(P("%s/twice.iso", dir), twice, 2, &err);
    assert_int_equal(r, -EEXIST);
    assert_non_null(strstr(err.message, "'meta-data'"));
    error_clear(&err);

    const SeedFile slash[] = {{"a/b", "a", 1}};
    assert_int_equal(node_seed_write(P("%s/slash.iso", dir), slash, 1, &err), -EINVAL);
    error_clear(&err);
    assert_int_equal(dir_count(dir), 1);
}

static int group_setup(void **state)
{
    (void)state;
    return mkdtemp(root) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return fs_rm_rf(root, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_readback),
            cmocka_unit_test(test_overwrite),
            cmocka_unit_test(test_missing_dir),
            cmocka_unit_test(test_failures_leave_nothing),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
