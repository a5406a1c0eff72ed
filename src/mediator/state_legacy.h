/* state_legacy.h - the per-VM state files of an older mediator (vmN.last, the last
 * answered record; vmN.run, the intent "SEQ NONCE\n"), read once to migrate them into
 * vmN.journal (state.h; docs/PROTOCOL.md section 7, "Migration"). */
#ifndef VGPU_STATE_LEGACY_H
#define VGPU_STATE_LEGACY_H

#include <stdint.h>
#include "state.h"

/* Read VM's old files into ST (its answered and running fields; ST zeroed first).
 * *FOUND: 1 when either file exists. 0, -EBADMSG for a damaged file, or -errno; on an
 * error ST holds nothing. */
int vgpu_state_legacy_load(int dirfd, uint32_t vm, struct vgpu_vm_state *st, int *found);
/* Remove VM's old files; *REMOVED: 1 when one was there. 0 or -errno. */
int vgpu_state_legacy_remove(int dirfd, uint32_t vm, int *removed);

#endif
