/* landing.h - getting a tmpfs file's pages ready before a GET's bytes are
 * copied into a shared mapping of it (see landing.c). */
#ifndef OSSC_LANDING_H
#define OSSC_LANDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

/* Bytes prepared at a time: one huge page, so that where the kernel gives
 * huge pages each step is one fault, and a GET's pages are allocated just
 * ahead of its bytes, not all at once. */
#define OSSC_LAND_STEP (2u << 20)

/* Asks for huge pages on mappings made from now on (MADV_HUGEPAGE; the
 * kernel gives them where tmpfs allows: huge=always/within_size, or
 * huge=advise on the mount).  On by default; OSSC_CACHE_HUGEPAGES=0 turns
 * it off. */
void ossc_land_use_hugepages(bool on);
bool ossc_land_hugepages(void);

/* Advises a fresh shared mapping of a tmpfs file [m, m + len) before bytes
 * land in it (huge pages, when asked for).  Never fails: advice only. */
void ossc_land_advise(void *m, size_t len);

/* Makes bytes [0, upto) of r's destination (r->dst, a shared mapping of
 * r->dst_fd at r->dst_off) safe and cheap to copy into, in steps of
 * OSSC_LAND_STEP of the file's offsets, from r->dst_ready on: each step's
 * pages are allocated with fallocate, so that the copy faults them in but
 * never into SIGBUS, and the process's mmap lock is not held while they are
 * zeroed (see landing.c).  Runs on the I/O thread that receives the bytes,
 * off the application's path.  0, or the errno of the step that failed
 * (ENOSPC: the file system is full): no byte of that step may be copied. */
int ossc_land_prepare(ossc_req *r, uint64_t upto);

#endif
