/* arena.h - append-only string storage for listings: one allocation per
 * block instead of one per key, freed all at once. */
#ifndef OSSC_ARENA_H
#define OSSC_ARENA_H

#include <stddef.h>

typedef struct ossc_arena ossc_arena;

ossc_arena *ossc_arena_new(void);
/* Copies len bytes plus a NUL; returns NULL on ENOMEM. */
char *ossc_arena_strndup(ossc_arena *a, const char *s, size_t len);
char *ossc_arena_strdup(ossc_arena *a, const char *s);
/* Moves every block of src into dst and frees src. */
void ossc_arena_merge(ossc_arena *dst, ossc_arena *src);
void ossc_arena_free(ossc_arena *a);
/* Bytes of memory held by the arena's blocks (for tests and statistics). */
size_t ossc_arena_footprint(const ossc_arena *a);

#endif
