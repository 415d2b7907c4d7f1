/* send_gate.c - tickets and slots for chunk bodies (send_gate.h).
 *
 * Each caller takes a ticket; it may enter when a slot is free and every
 * ticket before it has entered (admit_upto has reached it).  A caller that
 * gives up waiting enters anyway and moves admit_upto past its ticket, so
 * the ones before it (which waited longer) are never left behind. */
#include "send_gate.h"

#include <errno.h>
#include <time.h>

#include "deadline.h"

int bc_send_gate_init(bc_send_gate *g, unsigned slots)
{
    *g = (bc_send_gate){.slots = slots ? slots : BC_SEND_SLOTS};
    pthread_condattr_t ca;
    int rc = pthread_condattr_init(&ca);
    if (rc)
        return rc;
    rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (!rc)
        rc = pthread_cond_init(&g->turn, &ca);
    pthread_condattr_destroy(&ca);
    if (rc)
        return rc;
    rc = pthread_mutex_init(&g->lock, NULL);
    if (rc)
        pthread_cond_destroy(&g->turn);
    return rc;
}

void bc_send_gate_destroy(bc_send_gate *g)
{
    pthread_cond_destroy(&g->turn);
    pthread_mutex_destroy(&g->lock);
}

int bc_send_gate_enter(bc_send_gate *g, int wait_ms)
{
    struct timespec until;
    ossc_deadline_in(&until, CLOCK_MONOTONIC, wait_ms);
    pthread_mutex_lock(&g->lock);
    uint64_t ticket = g->next_ticket++;
    int in_turn = 1;
    /* My turn: a slot is free and every older ticket went in (admit_upto
     * == ticket), or I am older than one that gave up (admit_upto > ticket). */
    while (!(g->inside < g->slots && ticket <= g->admit_upto)) {
        /* ETIMEDOUT, or any error: never wait on without a bound */
        if (g->opened || pthread_cond_timedwait(&g->turn, &g->lock, &until) != 0) {
            in_turn = 0;
            break;
        }
    }
    g->inside++;
    if (g->admit_upto <= ticket)
        g->admit_upto = ticket + 1;
    pthread_cond_broadcast(&g->turn);
    pthread_mutex_unlock(&g->lock);
    return in_turn;
}

void bc_send_gate_open(bc_send_gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->opened = true;
    pthread_cond_broadcast(&g->turn);
    pthread_mutex_unlock(&g->lock);
}

void bc_send_gate_leave(bc_send_gate *g)
{
    pthread_mutex_lock(&g->lock);
    if (g->inside)
        g->inside--;
    pthread_cond_broadcast(&g->turn);
    pthread_mutex_unlock(&g->lock);
}
