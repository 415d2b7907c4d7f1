/* landing.h - getting a tmpfs file's pages ready before a GET's bytes land
 * in it, and landing them (by pwrite or through a shared mapping of it;
 * see landing.c). */
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

/* Asks for huge pages on mappings made from now on (MADV_HUGEPAGE).  The
 * tmpfs mount decides: huge=always/within_size give them to the cache's
 * files whatever is asked; huge=advise gives none, since every step is
 * allocated by fallocate (ossc_land_prepare), not through a mapping that
 * asked.  On by default; OSSC_CACHE_HUGEPAGES=0 turns it off. */
void ossc_land_use_hugepages(bool on);
bool ossc_land_hugepages(void);

/* Advises a fresh shared mapping of a tmpfs file [m, m + len) before bytes
 * land in it: huge pages, when asked for, and no recency update for its
 * pages at its teardown (MADV_SEQUENTIAL).  Never fails: advice only. */
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

/* Whether [off, off + len) of the file open as fd may land through a
 * shared mapping: it starts on a page boundary and ends on one, or at or
 * past the end of the file, so it shares no page with a neighbouring range.
 * A shared page could be fallocated for this range and then dropped again
 * by the other range's failed fallocate (on ENOSPC the kernel removes every
 * page of the failed call's range still unwritten, whoever allocated it),
 * and a copy into it through the mapping would then fault on a full tmpfs:
 * SIGBUS, where pwrite gets ENOSPC.  One fstat when the end is not aligned. */
bool ossc_land_whole_pages(int fd, uint64_t off, uint64_t len);

/* Writes all of [data, data + len) into fd at off (retrying short writes
 * and EINTR): 0, or the errno (EIO for a write of nothing). */
int ossc_land_pwrite(int fd, const char *data, size_t len, uint64_t off);

/* The write turns of the file open as fd, for ossc_req.land_turn: files
 * share a small table of turns by (device, inode), so all requests of
 * this process landing in one file use the same ones.  -1 when fstat
 * fails (then every byte is copied into the mapping). */
int ossc_land_turn_of(int fd);

/* Lands body bytes [data, data + len) at the request's current place,
 * r->received bytes into its destination, a shared mapping r->dst of
 * r->dst_fd whose pages ossc_land_prepare has readied for these bytes.
 * When one of the file's two write turns is free, the bytes go in by
 * pwrite (no page zeroed, no fault); when other threads of this process
 * hold both, they are copied into the mapping instead, never waiting (see
 * landing.c).
 * 0, or the errno of a failed pwrite. */
int ossc_land_copy(ossc_req *r, const char *data, size_t len);

#endif
