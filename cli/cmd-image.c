/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kvmlab image list|build|rm: the shared image store. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/imagestore.h"
#include "kvmlab/interrupt.h"
#include "kvmlab/text.h"
#include "progress.h"

/* "512 B", "12.0 KiB", "300.0 MiB", "1.1 GiB" */
static void human_size(char *buf, size_t size, uint64_t v)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (v < 1024) {
        snprintf(buf, size, "%" PRIu64 " B", v);
        return;
    }
    double d = (double)v / 1024;
    size_t u = 0;
    while (d >= 1024 && u + 1 < ELEMENTSOF(units)) {
        d /= 1024;
        u++;
    }
    snprintf(buf, size, "%.1f %s", d, units[u]);
}

/* "a, b" or "-". New string. */
static char *users_text(const ImageInfo *i)
{
    if (i->n_users == 0)
        return strdup("-");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    for (size_t k = 0; k < i->n_users; k++)
        fprintf(f, "%s%s", k ? ", " : "", i->users[k]);
    fclose(f);
    return buf;
}

/* One image as a JSON object (no newline). */
static void print_json_one(const ImageInfo *i)
{
    const char *const keys[] = {"name",   "path",   "kind",        "source", "os",
                                "sha256", "format", "imported_at", "kernel", "initrd"};
    const char *const vals[] = {i->name,   i->path,   i->kind,        i->source, i->os,
                                i->sha256, i->format, i->imported_at, i->kernel, i->initrd};
    printf("{");
    for (size_t j = 0; j < ELEMENTSOF(keys); j++) {
        printf("%s\"%s\":", j ? "," : "", keys[j]);
        cli_json_string(stdout, vals[j]);
    }
    printf(",\"virtual_size\":%" PRIu64 ",\"file_size\":%" PRIu64 ",\"used_by\":[", i->virtual_size,
           i->file_size);
    for (size_t u = 0; u < i->n_users; u++) {
        printf("%s", u ? "," : "");
        cli_json_string(stdout, i->users[u]);
    }
    printf("]}");
}

static void print_json(const ImageInfo *list, size_t n)
{
    printf("[");
    for (size_t k = 0; k < n; k++) {
        printf("%s", k ? "," : "");
        print_json_one(&list[k]);
    }
    printf("]\n");
}

static int cmd_list(const CliGlobals *g, int argc, char **argv)
{
    if (argc > 0)
        return cli_usage_error("image", "'image list' takes no arguments, not '%s'", argv[0]);
    Error err = ERROR_INIT;
    ImageInfo *list = NULL;
    size_t n = 0;
    if (image_store_list(NULL, &list, &n, &err) < 0) {
        cli_print_error(&err);
        error_clear(&err);
        return EXIT_FAIL;
    }
    if (g->json) {
        print_json(list, n);
    } else if (n == 0) {
        _cleanup_free_ char *dir = image_store_dir(NULL);
        printf("No images in the image store '%s'.\n", dir ? dir : "");
    } else {
        int wname = 4, wos = 2, wsrc = 6;
        for (size_t k = 0; k < n; k++) {
            int a = (int)strlen(list[k].name), b = list[k].os ? (int)strlen(list[k].os) : 1,
                c = (int)strlen(list[k].source);
            wname = a > wname ? a : wname;
            wos = b > wos ? b : wos;
            wsrc = c > wsrc ? c : wsrc;
        }
        printf("%-*s  %-9s  %-*s  %-*s  %-6s  %s\n", wname, "NAME", "SIZE", wos, "OS", wsrc,
               "SOURCE", "KERNEL", "USED BY");
        for (size_t k = 0; k < n; k++) {
            char size[32];
            human_size(size, sizeof(size), list[k].file_size);
            _cleanup_free_ char *users = users_text(&list[k]);
            /* a built image boots its own kernel and initrd, kept beside it */
            printf("%-*s  %-9s  %-*s  %-*s  %-6s  %s\n", wname, list[k].name, size, wos,
                   list[k].os ? list[k].os : "-", wsrc, list[k].source,
                   list[k].kernel && list[k].initrd ? "yes" : "-", users ? users : "");
        }
    }
    image_info_list_free(list, n);
    return EXIT_OK;
}

/* The store name @name most likely meant: the one image of that lab-file name ("debian" for
 * "debian-1a2b3c4d5e6f"), else the nearest within 3 edits. Borrowed from @list or NULL. */
static const char *suggest(const char *name, const ImageInfo *list, size_t n)
{
    const char *best = NULL;
    size_t prefixed = 0, len = strlen(name), best_d = 4;
    for (size_t k = 0; k < n; k++)
        if (strncmp(list[k].name, name, len) == 0 && list[k].name[len] == '-') {
            prefixed++;
            best = list[k].name;
        }
    if (prefixed == 1)
        return best;
    best = NULL;
    for (size_t k = 0; k < n; k++) {
        size_t d = text_edit_distance(name, list[k].name);
        if (d < best_d) {
            best_d = d;
            best = list[k].name;
        }
    }
    return best;
}

static int cmd_rm(const CliGlobals *g, int argc, char **argv)
{
    if (argc == 0)
        return cli_usage_error("image", "'image rm' needs the NAME of an image, as 'kvmlab "
                                        "image list' shows it");
    int ret = EXIT_OK;
    for (int k = 0; k < argc; k++) {
        Error err = ERROR_INIT;
        int r = image_store_remove(NULL, argv[k], &err);
        if (r == -ENOENT) {
            ImageInfo *list = NULL;
            size_t n = 0;
            Error lerr = ERROR_INIT;
            if (image_store_list(NULL, &list, &n, &lerr) == 0) {
                const char *s = suggest(argv[k], list, n);
                if (s)
                    error_append(&err, "did you mean '%s'?", s);
            }
            error_clear(&lerr);
            image_info_list_free(list, n);
        }
        if (r < 0) {
            cli_print_error(&err);
            ret = EXIT_FAIL;
        } else if (!g->quiet) {
            printf("Removed image '%s'.\n", argv[k]);
        }
        error_clear(&err);
    }
    return ret;
}

typedef struct BuildProgress {
    CliProgress line;
    bool worked; /* progress was heard: a build ran, no cache hit */
} BuildProgress;

static void build_progress(const char *what, uint64_t done, uint64_t total, void *userdata)
{
    BuildProgress *p = userdata;
    p->worked = true;
    cli_progress_fn(what, done, total, &p->line);
}

static int cmd_build(const CliGlobals *g, int argc, char **argv)
{
    if (argc != 1) {
        _cleanup_free_ char *known = image_recipe_names();
        return cli_usage_error("image", "'image build' needs one RECIPE (%s)%s%s%s",
                               known ? known : "", argc > 1 ? ", not also '" : "",
                               argc > 1 ? argv[1] : "", argc > 1 ? "'" : "");
    }
    if (!image_recipe_known(argv[0])) {
        _cleanup_free_ char *known = image_recipe_names();
        return cli_usage_error("image", "unknown build recipe '%s'; the known recipes are %s",
                               argv[0], known ? known : "");
    }
    /* a build takes minutes: an interrupt stops it cleanly, removing what it made */
    interrupt_install();
    LabImage img = {.name = argv[0], .kind = LAB_IMAGE_BUILD, .source = argv[0]};
    BuildProgress bp = {0};
    cli_progress_init(&bp.line, g);
    Error err = ERROR_INIT;
    ImageInfo info = {0};
    int r = image_store_build(NULL, &img, build_progress, &bp, &info, &err);
    cli_progress_end(&bp.line);
    if (r < 0) {
        cli_print_error(&err);
        error_clear(&err);
        return EXIT_FAIL;
    }
    if (g->json) {
        print_json_one(&info);
        printf("\n");
    } else if (!g->quiet) {
        printf("%s%s\n", info.name, bp.worked ? "" : " (cached)");
    }
    image_info_clear(&info);
    return EXIT_OK;
}

static int run(const CliGlobals *g, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("image", "'image' needs a subcommand: 'list', 'build' or 'rm'");
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0)
        return cli_help("image");
    for (int k = 2; k < argc; k++) {
        if (strcmp(argv[k], "-h") == 0 || strcmp(argv[k], "--help") == 0)
            return cli_help("image");
        if (strcmp(argv[k], "--") == 0)
            break;
        if (argv[k][0] == '-')
            return cli_usage_error("image", "unknown option '%s' for 'image %s'", argv[k], sub);
    }
    /* "--" ends the options: names after it are names */
    int first = 2;
    if (argc > 2 && strcmp(argv[2], "--") == 0)
        first = 3;
    if (strcmp(sub, "list") == 0 || strcmp(sub, "ls") == 0)
        return cmd_list(g, argc - first, argv + first);
    if (strcmp(sub, "rm") == 0 || strcmp(sub, "remove") == 0)
        return cmd_rm(g, argc - first, argv + first);
    if (strcmp(sub, "build") == 0)
        return cmd_build(g, argc - first, argv + first);
    return cli_usage_error("image", "unknown subcommand 'image %s'; use 'list', 'build' or 'rm'",
                           sub);
}

const CliCommand cli_cmd_image = {
        .name = "image",
        .args = "list|build|rm",
        .summary = "List, build or remove base images of the shared image store",
        .help = "kvmlab image list [--json]\n"
                "    Every image of the shared image store (<state dir>/images), which all labs\n"
                "    share: NAME (the image's name in the lab file and a hash of its source),\n"
                "    SIZE on the host, OS, SOURCE (a path, URL or build recipe), KERNEL (yes:\n"
                "    a built image with its own kernel and initrd) and the labs that use it.\n"
                "    --json gives a list of objects with the same and more: path, kind,\n"
                "    sha256, format, virtual_size, file_size, imported_at, kernel, initrd,\n"
                "    used_by.\n"
                "kvmlab image build RECIPE\n"
                "    Build the image of RECIPE (debian-12: Debian 12 with systemd, cloud-init,\n"
                "    containerd, openssh-server and its own kernel) into the store, as a lab's\n"
                "    'images: {NAME: {build: RECIPE}}' does on 'up': debootstrap from this\n"
                "    host's Debian mirror (KVMLAB_MIRROR overrides it), needs root, a few\n"
                "    minutes. Prints the image's name, with '(cached)' when the store had it;\n"
                "    --json prints it as 'image list' does.\n"
                "kvmlab image rm NAME...\n"
                "    Delete images by the NAME that 'image list' shows. An image that a lab\n"
                "    uses is refused, naming the labs ('kvmlab down' releases it); the next\n"
                "    'up' that needs a removed image imports or downloads it again.\n",
        .run = run,
};
