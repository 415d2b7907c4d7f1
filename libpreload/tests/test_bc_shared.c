/* test_bc_shared.c - the node's shared broadcast block: a seqlock left odd
 * by a writer killed inside it (SIGKILL between its two stores) is taken
 * as abandoned after BC_SEQ_ABANDONED_MS, so readers and the next writer
 * go on instead of spinning forever (before: a hang of every process of
 * the node that asked for its upstream).  No timing is asserted: without
 * the repair this test never returns (meson's timeout fails it). */
#include <string.h>

#include "bc_shared.h"
#include "check.h"

int main(void)
{
    static struct bc_shared b;
    char up[BC_ADDR_MAX];
    unsigned gen = 0;

    /* A consistent block reads back as written. */
    b.role = BC_ROLE_PEER;
    strcpy(b.upstream, "127.0.0.2:7070");
    atomic_store(&b.seq, 4);
    CHECK(bc_shared_read(&b, up, &gen) == BC_ROLE_PEER && strcmp(up, "127.0.0.2:7070") == 0);
    CHECK(gen == 4);

    /* The writer died inside: odd for good.  The read still returns, with
     * the lock even again. */
    atomic_store(&b.seq, 7);
    CHECK(bc_shared_read(&b, up, &gen) == BC_ROLE_PEER);
    CHECK((atomic_load(&b.seq) & 1) == 0 && gen == 8);

    /* The suspect lock likewise: the next writer gets in. */
    atomic_store(&b.suspect_seq, 3);
    unsigned s = bc_seq_settled(&b.suspect_seq);
    CHECK(s == 4);
    return check_summary("test_bc_shared");
}
