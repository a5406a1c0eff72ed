/* naive_inloop_payload.h - the mediator loop as issue 10 point 5 found it, on purpose:
 * a payload request is read into memory and checked (CRC-32) and its output written and
 * fsync'ed by the one thread that also answers every other VM. The negative control of
 * tests/fault/x_payload_stall.c (one VM's big payload stalls another VM's pings); never
 * used by the product. */
#ifndef VGPU_NAIVE_INLOOP_PAYLOAD_H
#define VGPU_NAIVE_INLOOP_PAYLOAD_H

#include <signal.h>

/* Serve ROOT/vm1..vmVMS until *STOP, polling each command.txt (inotify wakes it): a ping
 * with a new seq is answered OK; a request with an input payload has it read whole and
 * CRC-checked, then gets an output of the op's size (the first bytes of the input) written
 * as out-SEQ.bin (fsync'ed) and is answered OK; all in this one loop. 0 or -errno. */
int naive_inloop_serve(const char *root, int vms, volatile sig_atomic_t *stop);

#endif
