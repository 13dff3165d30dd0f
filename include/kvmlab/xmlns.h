/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The metadata namespace of every kvmlab object (networks, domains): libvirt keeps one
 * <metadata> element per namespace URI, so the URI is what identifies kvmlab's; the prefix is
 * only what kvmlab writes (libvirt may re-serialise with another). */
#define KVMLAB_XMLNS        "https://kvmlab.dev/xmlns/lab/1"
#define KVMLAB_XMLNS_PREFIX "kvmlab"
