/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"

/* The starter lab file: $KVMLAB_TEMPLATES (a source tree), else the installed data directory. */
static char *template_path(void)
{
    const char *dir = getenv("KVMLAB_TEMPLATES");
    char *p = NULL;
    if (asprintf(&p, "%s/lab.yaml", dir && *dir ? dir : KVMLAB_DATADIR "/templates") < 0)
        return NULL;
    if (access(p, R_OK) == 0 || (dir && *dir))
        return p;
    /* running from the build tree before `meson install` */
    free(p);
    if (asprintf(&p, "%s/templates/lab.yaml", KVMLAB_SOURCE_ROOT) < 0)
        return NULL;
    return p;
}

static int run(const CliGlobals *g, int argc, char **argv)
{
    const char *file = NULL;
    int r = cli_parse_file_args("init", argc, argv, &file);
    if (r < 0)
        return cli_help("init");
    if (r != EXIT_OK)
        return r;
    Error err = ERROR_INIT;
    _cleanup_free_ char *tpl = template_path();
    _cleanup_free_ char *text = NULL;
    if (!tpl || fs_read_all(tpl, &text, NULL, &err) < 0)
        goto fail;
    int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (errno == EEXIST)
            error_set(&err, -EEXIST, "'%s' already exists; not overwriting it", file);
        else
            error_set_errno(&err, -errno, "Cannot create '%s'", file);
        goto fail;
    }
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len) {
        error_set_errno(&err, -errno, "Cannot write '%s'", file);
        close(fd);
        unlink(file);
        goto fail;
    }
    close(fd);
    if (!g->quiet)
        printf("Wrote %s; edit it, then run 'kvmlab plan' and 'kvmlab up'.\n", file);
    return EXIT_OK;
fail:
    cli_print_error(&err);
    error_clear(&err);
    return EXIT_FAIL;
}

const CliCommand cli_cmd_init = {
        .name = "init",
        .args = "[FILE]",
        .summary = "Write a starter lab file",
        .help = "Writes a commented starter lab file to FILE (default: kvmlab.yaml); never\n"
                "overwrites an existing file.\n",
        .run = run,
};
