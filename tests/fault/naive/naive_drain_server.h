/* naive_drain_server.h - the mediator loop as issue 10 found it, on purpose: the inotify
 * fd drained to its end before anything else, each command.txt event read and answered
 * as it comes (an invalid record gets an fsync'd reject), no budget per VM, no lock on
 * the root, no persistent state. The negative control of tests/fault/x_vm_flood.c (one
 * VM's flood starves the others) and x_two_mediators.c (two servers on one root run
 * every request twice); never used by the product. */
#ifndef VGPU_NAIVE_DRAIN_SERVER_H
#define VGPU_NAIVE_DRAIN_SERVER_H

#include <signal.h>

/* Serve ROOT/vm1..vmVMS until *STOP: a valid request with a new seq is "executed" (a
 * line "exec vm=N seq=S" appended to JOURNAL) and answered OK ("pong"), anything else
 * answered BAD_REQUEST/CORRUPT. Returns 0, or -errno when inotify cannot be set up. */
int naive_drain_serve(const char *root, int vms, const char *journal, volatile sig_atomic_t *stop);

/* Lines "exec vm=VM seq=SEQ" in JOURNAL (VM 0 / SEQ 0: any). */
int naive_drain_exec_count(const char *journal, unsigned vm, long long seq);

#endif
