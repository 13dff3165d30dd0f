/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sandbox's daemon configuration, as pure text. Nothing here touches the host. */
#include <stdio.h>

#include "kvmlab/sandbox.h"

char *sandbox_libvirtd_conf_format(const Sandbox *sb)
{
    char *s = NULL;
    /* The socket directory is outside the bind-mounted /run/libvirt so clients in the host's
     * mount namespace reach it; only root may use it. */
    if (asprintf(&s,
                 "# written by kvmlab for the sandbox of lab '%s'\n"
                 "unix_sock_dir = \"%s/sock\"\n"
                 "unix_sock_ro_perms = \"0700\"\n"
                 "unix_sock_rw_perms = \"0700\"\n"
                 "unix_sock_admin_perms = \"0700\"\n"
                 "auth_unix_ro = \"none\"\n"
                 "auth_unix_rw = \"none\"\n"
                 "listen_tls = 0\n"
                 "listen_tcp = 0\n"
                 "log_outputs = \"3:file:/var/log/libvirt/libvirtd.log\"\n",
                 sb->lab, sb->dir) < 0)
        return NULL;
    return s;
}

char *sandbox_qemu_conf_format(void)
{
    char *s = NULL;
    /* No virtlogd, no cgroups, no per-domain mount namespace, no security driver: the sandbox
     * itself is the isolation, and none of those helpers run without systemd. */
    if (asprintf(&s, "# written by kvmlab\n"
                     "user = \"root\"\n"
                     "group = \"root\"\n"
                     "dynamic_ownership = 0\n"
                     "remember_owner = 0\n"
                     "security_driver = \"none\"\n"
                     "cgroup_controllers = [ ]\n"
                     "namespaces = [ ]\n"
                     "stdio_handler = \"file\"\n") < 0)
        return NULL;
    return s;
}
