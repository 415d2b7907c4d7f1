/* send_gate.h - at most N chunk bodies going out of a chunk server at once,
 * admitted in the order their chunks became ready.
 *
 * Why: a chain is pipelined chunk by chunk, and a node can forward a chunk
 * only once it has fully landed there.  If a node sends every chunk that is
 * ready at once, over as many connections as its downstream keeps open,
 * they share the link and all finish late together: each hop then lags its
 * upstream by the whole set in flight (everything ready of the up to 64
 * chunks a downstream asks for at once: 0.4-0.6 s per hop on the 2-core
 * benchmark VM), and the lags add up along the chain.  Sending a
 * few at a time, oldest first, lands each chunk downstream in a fraction of
 * that, so it can be forwarded on at once; a few TCP streams still fill a
 * link.
 *
 * Contract: bc_send_gate_enter() blocks until the caller may send (its turn
 * and fewer than `slots` inside) or until wait_ms passed (negative: 0), and
 * then enters anyway (a gate must never hold a request up for good: a slow peer keeps
 * its slot until MHD reports its request done); every enter is matched by
 * one bc_send_gate_leave().  Thread-safe.  Cost: one mutex and a condition
 * broadcast per chunk sent. */
#ifndef OSSC_BC_SEND_GATE_H
#define OSSC_BC_SEND_GATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Chunk bodies sent at once by default. */
#define BC_SEND_SLOTS 4

typedef struct bc_send_gate {
    pthread_mutex_t lock;
    pthread_cond_t turn;   /* CLOCK_MONOTONIC */
    unsigned slots;        /* at most this many inside */
    unsigned inside;
    uint64_t next_ticket;  /* handed to the next caller of enter() */
    uint64_t admit_upto;   /* tickets up to this one may enter when a slot is free */
    bool opened;           /* bc_send_gate_open: everyone enters at once */
} bc_send_gate;

/* 0, or an errno when the lock or condition cannot be made.  slots 0 =
 * BC_SEND_SLOTS. */
int bc_send_gate_init(bc_send_gate *g, unsigned slots);
void bc_send_gate_destroy(bc_send_gate *g);
/* 1 entered in turn, 0 entered after wait_ms without a turn. */
int bc_send_gate_enter(bc_send_gate *g, int wait_ms);
void bc_send_gate_leave(bc_send_gate *g);
/* Lets every waiter, and every later caller, in at once (returning 0): a
 * stopping server must not wait for turns. */
void bc_send_gate_open(bc_send_gate *g);

#endif
