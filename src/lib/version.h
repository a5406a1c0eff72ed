/* version.h - the release: every binary's --version, the man pages, vgpu-client.pc and
 * the client library's file name read it from here (the Makefile greps these lines). */
#ifndef VGPU_VERSION_H
#define VGPU_VERSION_H

#define VGPU_VERSION "0.9.0"
/* libvgpu-client.so.ABI: raised when a change breaks a program linked against it. */
#define VGPU_CLIENT_ABI 2

#endif
