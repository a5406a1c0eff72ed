/* powerloss.h - nfssim's power-loss mode (powerloss.c; docs/NFSSIM.md, "Power-loss
 * mode"): `nfssim DIR MNT -o powerloss` runs a FUSE passthrough of DIR that drops every
 * change not yet fsynced at a cut. nfssim's main hands over to it. */
#ifndef NFSSIM_POWERLOSS_H
#define NFSSIM_POWERLOSS_H

/* 1 when the command line asks for the power-loss mode (an -o list with "powerloss"). */
int nfssim_powerloss_wanted(int argc, char *argv[]);

/* Parse the command line and run the power-loss file system; returns the exit status. */
int nfssim_powerloss_main(int argc, char *argv[]);

#endif
