/* naive_powerloss.h - a writer that trusts rename alone, on purpose: the negative
 * control of x_power_loss (docs/HARNESS.md, POWER). Never used by the product.
 * It replaces a file the way many programs do: fopen(tmp, "w") + fprintf + fclose, then
 * rename(tmp, name); no fsync() of the file, none of the directory. Atomic against a
 * crash of the process (the page cache survives), not against a power cut. */
#ifndef VGPU_NAIVE_POWERLOSS_H
#define VGPU_NAIVE_POWERLOSS_H

/* Replace DIR/NAME with TEXT by temp + rename, without any fsync. 0 or -errno. */
int naive_publish_nofsync(const char *dir, const char *name, const char *text);

#endif
