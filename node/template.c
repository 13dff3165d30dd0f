/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* placeholder: arrives with the nodes issue */
#include "kvmlab/node.h"
