/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * OS facts from the installed osinfo-db. The expected facts are written by hand from the
 * database's own files (/usr/share/osinfo/os/, read with osinfo-query and by eye) and from
 * TESTING.md, "OS facts (osinfo-db on Debian 12)": they hold for osinfo-db 20221203, the one
 * Debian 12 ships, which the first test checks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvmlab/storage.h"

#define DB "20221203"

static void test_version(void **state)
{
    const char *v = os_db_version();
    if (!v || strcmp(v, DB) != 0)
        fprintf(stderr,
                "osinfo-db is '%s'; the expectations here are for osinfo-db " DB
                " (Debian 12's osinfo-db 0.20221130)\n",
                v ? v : "(none)");
    assert_non_null(v);
    assert_string_equal(v, DB);
    /* the same string every time: read once */
    assert_ptr_equal(os_db_version(), v);
}

typedef struct FactCase {
    const char *id;
    const char *osinfo_id;
    const char *family;
    bool windows, blk, scsi, net, v1, q35;
    const char *placed;   /* exact, NULL: none */
    const char *override; /* start of the text, NULL: none */
} FactCase;

static const FactCase facts[] = {
        /* debian11 lists virtio1.0 devices, derives from debian10 and debian9 (the q35 chipset) */
        {"debian11", "debian11", "debian", false, true, true, true, true, true, NULL, NULL},
        {"debian12", "debian11", "debian", false, true, true, true, true, true,
         "debian12 is newer than this osinfo-db (" DB "): treated as debian11", NULL},
        {"ubuntu22.04", "ubuntu22.04", "ubuntu", false, true, true, true, true, true, NULL, NULL},
        /* no devices of its own; clones rhel7.7 */
        {"centos7.0", "centos7.0", "centos", false, true, true, true, true, true, NULL, NULL},
        /* a second short id of the same entry */
        {"centos7", "centos7.0", "centos", false, true, true, true, true, true, NULL, NULL},
        /* virtio-block, virtio1.0-scsi and the q35 chipset (TESTING.md) */
        {"rhel9.0", "rhel9.0", "rhel", false, true, true, true, true, true, NULL, NULL},
        {"alpinelinux3.18", "alpinelinux3.17", "alpinelinux", false, true, true, true, true, true,
         "alpinelinux3.18 is newer than this osinfo-db (" DB "): treated as alpinelinux3.17", NULL},
        /* no virtio in the base entries (virtio-win is a separate driver entry); win7 lists the
         * q35 chipset and win10 and win2k19 derive from it */
        {"win10", "win10", "win", true, false, false, false, false, true, NULL, NULL},
        {"win2k19", "win2k19", "win", true, false, false, false, false, true, NULL, NULL},
        /* neither virtio nor q35 */
        {"winxp", "winxp", "win", true, false, false, false, false, false, NULL, NULL},
        {"win2k3", "win2k3", "win", true, false, false, false, false, false, NULL, NULL},
        /* legacy virtio only, no q35 chipset: q35 from the rule "a Linux with virtio-blk drivers
         * has ahci" */
        {"debian8", "debian8", "debian", false, true, true, true, false, true, NULL, NULL},
        /* RHEL 4: no virtio, no q35 */
        {"rhel4.0", "rhel4.0", "rhel", false, false, false, false, false, false, NULL, NULL},
        /* legacy virtio-net and -block only, no virtio-scsi; the override adds virtio 1.0 */
        {"ubuntu16.04", "ubuntu16.04", "ubuntu", false, true, false, true, true, true, NULL,
         "ubuntu16.04: virtio 1.0 drivers"},
        /* the first Ubuntu osinfo-db lists virtio 1.0 for: no override */
        {"ubuntu17.04", "ubuntu17.04", "ubuntu", false, true, true, true, true, true, NULL, NULL},
        {"rhel10.0", "rhel9.1", "rhel", false, true, true, true, true, true,
         "rhel10.0 is newer than this osinfo-db (" DB "): treated as rhel9.1", NULL},
        {"fedora40", "fedora37", "fedora", false, true, true, true, true, true,
         "fedora40 is newer than this osinfo-db (" DB "): treated as fedora37", NULL},
        {"ubuntu24.04", "ubuntu22.10", "ubuntu", false, true, true, true, true, true,
         "ubuntu24.04 is newer than this osinfo-db (" DB "): treated as ubuntu22.10", NULL},
        /* a release between two known ones */
        {"ubuntu21.05", "ubuntu21.04", "ubuntu", false, true, true, true, true, true,
         "ubuntu21.05 is not in this osinfo-db (" DB "): treated as ubuntu21.04, the release "
         "before it",
         NULL},
        /* a Linux family the database does not know: the generic linux2022 (virtio-block,
         * virtio1.0-scsi, q35) */
        {"kali2023.1", "linux2022", "linux", false, true, true, true, true, true,
         "kali2023.1 is a Linux this osinfo-db (" DB ") does not know: treated as osinfo's "
         "generic linux2022",
         NULL},
        /* the oldest generic Linux lists legacy virtio only */
        {"linux2016", "linux2016", "linux", false, true, false, true, false, true, NULL, NULL},
};

static void test_facts(void **state)
{
    for (size_t i = 0; i < sizeof(facts) / sizeof(facts[0]); i++) {
        const FactCase *c = &facts[i];
        OsFacts f = {0};
        Error err = ERROR_INIT;
        int r = os_facts_lookup(c->id, &f, &err);
        if (r < 0)
            fprintf(stderr, "%s: %s\n", c->id, err.message);
        assert_int_equal(r, 0);
        fprintf(stderr, "# %s\n", c->id);
        assert_string_equal(f.id, c->id);
        assert_string_equal(f.osinfo_id, c->osinfo_id);
        assert_string_equal(f.family, c->family);
        assert_int_equal(f.windows, c->windows);
        assert_int_equal(f.virtio_blk, c->blk);
        assert_int_equal(f.virtio_scsi, c->scsi);
        assert_int_equal(f.virtio_net, c->net);
        assert_int_equal(f.virtio1, c->v1);
        assert_int_equal(f.q35, c->q35);
        if (c->placed)
            assert_string_equal(f.placed, c->placed);
        else
            assert_null(f.placed);
        if (c->override) {
            assert_non_null(f.override);
            assert_memory_equal(f.override, c->override, strlen(c->override));
        } else {
            assert_null(f.override);
        }
        os_facts_clear(&f);
        os_facts_clear(&f); /* cleared twice is fine */
        error_clear(&err);
    }
}

typedef struct UnknownCase {
    const char *id;
    const char *message;
} UnknownCase;

static const UnknownCase unknown[] = {
        /* a family name misspelt: the id with it corrected, which would be placed */
        {"debain12", "os 'debain12' is not known to osinfo-db " DB "; did you mean 'debian12'?"},
        {"ubunto22.04",
         "os 'ubunto22.04' is not known to osinfo-db " DB "; did you mean 'ubuntu22.04'?"},
        /* a family without a version: its newest release */
        {"debian", "os 'debian' is not known to osinfo-db " DB "; did you mean 'debian11'?"},
        /* older than every release of its family: nothing places it */
        {"debian0.5", "os 'debian0.5' is not known to osinfo-db " DB "; did you mean 'debian11'?"},
        /* a typo of a whole id */
        {"winx", "os 'winx' is not known to osinfo-db " DB "; did you mean 'winxp'?"},
        {"zzzzzz", "os 'zzzzzz' is not known to osinfo-db " DB " (see 'osinfo-query os')"},
        {"", "An empty os is not an osinfo short id"},
};

static void test_unknown(void **state)
{
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        OsFacts f = {.id = NULL};
        Error err = ERROR_INIT;
        int r = os_facts_lookup(unknown[i].id, &f, &err);
        assert_int_equal(r, -ENOENT);
        assert_non_null(err.message);
        assert_string_equal(err.message, unknown[i].message);
        assert_null(f.id); /* untouched */
        error_clear(&err);
    }
}

/* The child's side of check_db_error(): a fresh process, so the database is loaded anew. */
static int db_error_child(void)
{
    OsFacts f = {.id = NULL};
    Error err = ERROR_INIT;
    int r = os_facts_lookup("debian11", &f, &err);
    printf("%d %s", r, err.message ? err.message : "(null)");
    error_clear(&err);
    os_facts_clear(&f);
    return 0;
}

/*
 * Look debian11 up in a new process (this one has loaded the database already) with
 * OSINFO_SYSTEM_DIR at @dir; the error must be @want_r and its message start with @want (with
 * @whole, be exactly @want) and not end in a newline.
 */
static void check_db_error(const char *dir, int want_r, const char *want, bool whole)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        setenv("OSINFO_SYSTEM_DIR", dir, 1);
        execl("/proc/self/exe", "test-storage-osdb", "--db-error-child", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char out[1024] = "";
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(out) - 1 && (n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    char *msg = NULL;
    long r = strtol(out, &msg, 10);
    fprintf(stderr, "# %s\n", out);
    assert_int_equal(r, want_r);
    assert_true(*msg == ' ');
    msg++;
    if (whole)
        assert_string_equal(msg, want);
    else
        assert_memory_equal(msg, want, strlen(want));
    assert_true(strlen(msg) > 0 && msg[strlen(msg) - 1] != '\n');
}

static void test_db_missing(void **state)
{
    char dir[] = "/tmp/kvmlab-osdb-XXXXXX";
    assert_non_null(mkdtemp(dir));

    char want[512];

    /* nothing there */
    snprintf(want, sizeof(want),
             "osinfo-db has no OS entries under '%s': is the osinfo-db package installed?", dir);
    check_db_error(dir, -ENOENT, want, true);

    /* a broken entry: libosinfo's own words, without their newline */
    char path[256];
    snprintf(path, sizeof(path), "%s/os", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/os/x.org", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/os/x.org/x.xml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("<libosinfo><os id='http://x.org/x'>\n", f);
    fclose(f);
    /* (libxml2 2.9.14 says "file://PATH:2: Premature end of data in tag os line 1") */
    snprintf(want, sizeof(want), "Cannot read osinfo-db under '%s': file://%s:", dir, path);
    check_db_error(dir, -EIO, want, false);

    unlink(path);
    snprintf(path, sizeof(path), "%s/os/x.org", dir);
    rmdir(path);
    snprintf(path, sizeof(path), "%s/os", dir);
    rmdir(path);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--db-error-child") == 0)
        return db_error_child();
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_version),
            cmocka_unit_test(test_facts),
            cmocka_unit_test(test_unknown),
            cmocka_unit_test(test_db_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
