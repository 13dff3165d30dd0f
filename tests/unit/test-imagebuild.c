/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Built images without building one (that is tests/acceptance/image-build.sh's, minutes and a
 * mirror): the host's Debian mirror from apt sources written by hand in tests/data/apt-sources/
 * (the expected mirror of each case is stated here, read off the fixture), the removal of a
 * build tree (mounts in it detached, nothing outside it touched), the recipe table, the store
 * name (sha256sum over the hashed text), and refusals and interrupts that leave the store as
 * it was.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
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

static char root[] = "/tmp/kvmlab-imgbuild-XXXXXX";

static const char *P(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *P(const char *fmt, ...)
{
    static char ring[32][4096];
    static unsigned next;
    char *b = ring[next++ % 32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, 4096, fmt, ap);
    va_end(ap);
    return b;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* Entries of @dir but ".lock" (the store's lock, which stays). */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, ".lock")) {
            print_message("# left in the store: %s\n", de->d_name);
            n++;
        }
    closedir(d);
    return n;
}

/* ---- the host's mirror ------------------------------------------------------------------- */

static void expect_mirror(const char *c, const char *want)
{
    const char *src = getenv("KVMLAB_SOURCE_ROOT");
    assert_non_null(src);
    const char *dir = P("%s/tests/data/apt-sources/%s", src, c);
    char *got = NULL;
    Error err = ERROR_INIT;
    int r = image_build_find_mirror(P("%s/sources.list", dir), P("%s/sources.list.d", dir),
                                    "bookworm", &got, &err);
    if (!want) {
        assert_int_equal(r, -ENOENT);
        assert_non_null(strstr(err.message, "name no Debian mirror for 'bookworm'"));
        assert_non_null(strstr(err.message, "KVMLAB_MIRROR"));
        assert_null(got);
        error_clear(&err);
        return;
    }
    if (r < 0)
        print_error("%s: %s\n", c, err.message);
    assert_int_equal(r, 0);
    assert_string_equal(got, want);
    free(got);
}

static void test_mirror(void **state)
{
    (void)state;
    /* this host's layout: deb822 only, the security stanza first; "*.disabled-by-farm" is no
     * source file */
    expect_mirror("deb822-host", "http://deb.debian.org/debian");
    /* one-line: comments, deb-src, another suite, cdrom:, no main, options in brackets */
    expect_mirror("one-line", "http://ftp.de.debian.org/debian");
    /* deb822 in name order: disabled, no main, deb-src only; lower-case field names, a
     * Signed-By key block whose lines look like fields, URIs continued on the next line after
     * a mirror+file URI debootstrap cannot use; hidden files ignored */
    expect_mirror("mixed", "https://deb.example.net/debian");
    /* apt's order: sources.list before sources.list.d */
    expect_mirror("list-first", "http://first.example.org/debian");
    /* bookworm-security and -backports are other suites */
    expect_mirror("none", NULL);
    expect_mirror("no-such-case", NULL);
}

/* ---- removing a build tree --------------------------------------------------------------- */

/* A tree with files, nested directories and symlinks to a directory and a file outside it. */
static void make_tree(const char *tree, const char *outside)
{
    assert_int_equal(fs_mkdir_p(P("%s/root/etc/ssh", tree), 0755, NULL), 0);
    assert_int_equal(fs_mkdir_p(P("%s/root/proc", tree), 0555, NULL), 0);
    assert_int_equal(fs_mkdir_p(P("%s/root/sys", tree), 0555, NULL), 0);
    assert_int_equal(fs_mkdir_p(outside, 0755, NULL), 0);
    write_file(P("%s/keep", outside), "outside\n");
    write_file(P("%s/root/etc/ssh/ssh_host_rsa_key", tree), "key\n");
    write_file(P("%s/disk.raw", tree), "raw\n");
    assert_int_equal(symlink(outside, P("%s/root/etc/outside-dir", tree)), 0);
    assert_int_equal(symlink(P("%s/keep", outside), P("%s/root/etc/machine-id", tree)), 0);
    assert_int_equal(symlink("/", P("%s/root/host-root", tree)), 0);
    assert_int_equal(mkfifo(P("%s/root/fifo", tree), 0600), 0);
}

static void test_tree_remove(void **state)
{
    (void)state;
    const char *tree = P("%s/tree", root), *outside = P("%s/outside", root);
    make_tree(tree, outside);
    Error err = ERROR_INIT;
    assert_int_equal(image_build_tree_remove(tree, &err), 0);
    assert_false(exists(tree));
    assert_true(exists(P("%s/keep", outside)));
    /* missing is fine */
    assert_int_equal(image_build_tree_remove(tree, &err), 0);
    assert_false(error_is_set(&err));
}

/* In a private mount namespace (a user namespace too when not root), as debootstrap leaves
 * them: proc mounted in the tree, and a bind mount of a directory outside the tree on the same
 * file system (nftw's FTW_MOUNT alone would walk into that one). */
static int tree_with_mounts(const char *tree, const char *outside)
{
    if (unshare(geteuid() == 0 ? CLONE_NEWNS : CLONE_NEWUSER | CLONE_NEWNS) < 0) {
        fprintf(stderr, "# unshare: %s\n", strerror(errno));
        return 10;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return 11;
    if (mount("proc", P("%s/root/proc", tree), "proc", 0, NULL) < 0 ||
        mount(outside, P("%s/root/sys", tree), NULL, MS_BIND, NULL) < 0) {
        fprintf(stderr, "# mount: %s\n", strerror(errno));
        return 12;
    }
    Error err = ERROR_INIT;
    if (image_build_tree_remove(tree, &err) < 0) {
        fprintf(stderr, "# %s\n", err.message);
        return 13;
    }
    if (exists(tree))
        return 14;
    FILE *f = fopen("/proc/self/mounts", "r");
    char line[4096];
    while (f && fgets(line, sizeof(line), f))
        if (strstr(line, tree))
            return 15;
    if (f)
        fclose(f);
    return exists(P("%s/keep", outside)) ? 0 : 16;
}

static void test_tree_remove_mounts(void **state)
{
    (void)state;
    const char *tree = P("%s/mtree", root), *outside = P("%s/moutside", root);
    make_tree(tree, outside);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(tree_with_mounts(tree, outside));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_false(exists(tree));
    assert_true(exists(P("%s/keep", outside)));
}

/* ---- recipes, names, refusals ------------------------------------------------------------ */

static void test_recipes(void **state)
{
    (void)state;
    assert_true(image_recipe_known("debian-12"));
    assert_false(image_recipe_known("debian-13"));
    assert_false(image_recipe_known(""));
    assert_false(image_recipe_known(NULL));
    char *names = image_recipe_names();
    assert_string_equal(names, "'debian-12'");
    free(names);
    assert_string_equal(image_recipe_os("debian-12"), "debian12");
    assert_null(image_recipe_os("x"));
    assert_null(image_recipe_revision("x"));
}

/* The store name of a build hashes kind, recipe and revision: what sha256sum says of that text. */
static void test_name(void **state)
{
    (void)state;
    const char *rev = image_recipe_revision("debian-12");
    assert_non_null(rev);
    const char *file = P("%s/hashed", root);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    /* "kvmlab-image-1" NUL "build" NUL recipe NUL sha256 (none) NUL revision NUL */
    fwrite("kvmlab-image-1\0build\0debian-12\0\0", 1, 32, f);
    fwrite(rev, 1, strlen(rev) + 1, f);
    assert_int_equal(fclose(f), 0);
    const char *argv[] = {"sha256sum", file, NULL};
    char *out = NULL;
    assert_int_equal(spawn_check(argv, NULL, &out, NULL), 0);
    char want[64];
    snprintf(want, sizeof(want), "debian-12-%.12s", out);
    free(out);

    LabImage img = {.name = (char *)"base", .kind = LAB_IMAGE_BUILD, .source = (char *)"debian-12"};
    char *name = image_store_name(&img, NULL);
    assert_string_equal(name, want);
    /* the lab's key for the image is no part of it: `image build` and labs share one */
    img.name = (char *)"debian-12";
    char *again = image_store_name(&img, "/elsewhere");
    assert_string_equal(again, name);
    free(name);
    free(again);
}

static void test_refusals(void **state)
{
    (void)state;
    const char *st = P("%s/refuse", root);
    ImageInfo info = {0};
    Error err = ERROR_INIT;
    LabImage bad = {.name = (char *)"b", .kind = LAB_IMAGE_BUILD, .source = (char *)"debian-node"};
    assert_int_equal(image_store_build(st, &bad, NULL, NULL, &info, &err), -EINVAL);
    assert_string_equal(err.message, "Image 'b': unknown build recipe 'debian-node'; the known "
                                     "recipes are 'debian-12'");
    error_clear(&err);
    LabImage path = {.name = (char *)"p", .kind = LAB_IMAGE_PATH, .source = (char *)"/x.qcow2"};
    assert_int_equal(image_store_build(st, &path, NULL, NULL, &info, &err), -EINVAL);
    error_clear(&err);
    assert_int_equal(entries(P("%s/images", st)), 0);
}

static int progress_calls;
static void on_progress(const char *what, uint64_t done, uint64_t total, void *userdata)
{
    (void)what, (void)done, (void)total, (void)userdata;
    progress_calls++;
}

/* An interrupt that is pending when the build starts: stopped before debootstrap, its build
 * directory removed, nothing in the store (not root: refused before any directory is made). */
static void test_interrupted(void **state)
{
    (void)state;
    const char *st = P("%s/intr", root);
    setenv("KVMLAB_MIRROR", "http://127.0.0.1:9/debian", 1);
    LabImage img = {.name = (char *)"d", .kind = LAB_IMAGE_BUILD, .source = (char *)"debian-12"};
    ImageInfo info = {0};
    Error err = ERROR_INIT;
    interrupt_raise(SIGINT);
    int r = image_store_build(st, &img, on_progress, NULL, &info, &err);
    interrupt_reset();
    unsetenv("KVMLAB_MIRROR");
    if (geteuid() == 0) {
        assert_int_equal(r, -EINTR);
        assert_non_null(strstr(err.message, "Interrupted by SIGINT while building image"));
    } else {
        assert_int_equal(r, -EPERM);
        assert_non_null(strstr(err.message, "needs root"));
    }
    error_clear(&err);
    assert_int_equal(progress_calls, 0);
    assert_int_equal(entries(P("%s/images", st)), 0);
}

/* Without a mirror anywhere: the error says so and how to give one. */
static void test_no_mirror(void **state)
{
    (void)state;
    char *got = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(image_build_find_mirror(NULL, NULL, "bookworm", &got, &err), -ENOENT);
    assert_non_null(strstr(err.message, "set KVMLAB_MIRROR"));
    error_clear(&err);
}

/* A built image as the store keeps it, written here by hand: lookup and list give the kernel
 * and initrd as paths, a use keeps their record lines, and rm deletes them with the image. */
static void test_record_kernel(void **state)
{
    (void)state;
    const char *st = P("%s/rec", root), *dir = P("%s/rec/images", root);
    const char *name = "debian-12-0123456789ab";
    assert_int_equal(fs_mkdir_p(dir, 0755, NULL), 0);
    const char *mk[] = {"qemu-img", "create", "-q", "-f", "qcow2", P("%s/%s.qcow2", dir, name),
                        "1M",       NULL};
    assert_int_equal(spawn_check(mk, NULL, NULL, NULL), 0);
    write_file(P("%s/%s.vmlinuz", dir, name), "kernel\n");
    write_file(P("%s/%s.initrd", dir, name), "initrd\n");
    write_file(P("%s/%s.record", dir, name),
               "name=debian-12-0123456789ab\nkind=build\nsource=debian-12\nos=debian12\n"
               "virtual-size=1048576\nkernel=debian-12-0123456789ab.vmlinuz\n"
               "initrd=debian-12-0123456789ab.initrd\n");
    ImageInfo info = {0};
    Error err = ERROR_INIT;
    assert_int_equal(image_store_lookup(st, name, &info, &err), 0);
    assert_string_equal(info.kernel, P("%s/%s.vmlinuz", dir, name));
    assert_string_equal(info.initrd, P("%s/%s.initrd", dir, name));
    image_info_clear(&info);
    assert_null(info.kernel);

    /* a use rewrites the record: the file names stay names */
    assert_int_equal(image_store_set_use(st, name, "lab1", true, &err), 0);
    char *text = NULL;
    assert_int_equal(fs_read_all(P("%s/%s.record", dir, name), &text, NULL, NULL), 0);
    assert_non_null(strstr(text, "\nkernel=debian-12-0123456789ab.vmlinuz\n"));
    assert_non_null(strstr(text, "\ninitrd=debian-12-0123456789ab.initrd\n"));
    free(text);
    ImageInfo *list = NULL;
    size_t n = 0;
    assert_int_equal(image_store_list(st, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].kernel, P("%s/%s.vmlinuz", dir, name));
    image_info_list_free(list, n);
    assert_int_equal(image_store_set_use(st, name, "lab1", false, &err), 0);

    /* a record naming a path out of the store is damaged */
    write_file(P("%s/bad-0123456789ab.record", dir),
               "kind=build\nsource=debian-12\nkernel=../../etc/passwd\n");
    assert_int_equal(spawn_check((const char *[]){"cp", P("%s/%s.qcow2", dir, name),
                                                  P("%s/bad-0123456789ab.qcow2", dir), NULL},
                                 NULL, NULL, NULL),
                     0);
    assert_int_equal(image_store_lookup(st, "bad-0123456789ab", &info, &err), -EINVAL);
    assert_non_null(strstr(err.message, "is damaged at line 3"));
    error_clear(&err);

    assert_int_equal(image_store_remove(st, name, &err), 0);
    assert_false(exists(P("%s/%s.qcow2", dir, name)));
    assert_false(exists(P("%s/%s.record", dir, name)));
    assert_false(exists(P("%s/%s.vmlinuz", dir, name)));
    assert_false(exists(P("%s/%s.initrd", dir, name)));
}

static int teardown(void **state)
{
    (void)state;
    const char *argv[] = {"rm", "-rf", root, NULL};
    spawn_run(argv, NULL, NULL, NULL);
    return 0;
}

int main(void)
{
    if (!mkdtemp(root))
        return 1;
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_mirror),        cmocka_unit_test(test_no_mirror),
            cmocka_unit_test(test_tree_remove),   cmocka_unit_test(test_tree_remove_mounts),
            cmocka_unit_test(test_recipes),       cmocka_unit_test(test_name),
            cmocka_unit_test(test_refusals),      cmocka_unit_test(test_interrupted),
            cmocka_unit_test(test_record_kernel),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
