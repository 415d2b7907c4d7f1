/* test_send_gate.c - the chunk server's send gate (broadcast/send_gate.c):
 * never more than its slots inside, admitted in ticket order, a caller that
 * gives up enters anyway without stranding older ones, and many threads
 * entering and leaving at once.  Waits poll the gate's own counters (an
 * event), never a fixed sleep; the one timeout tested is the gate's own. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "check.h"
#include "send_gate.h"

static bc_send_gate g;

typedef struct waiter {
    pthread_t t;
    int wait_ms;
    atomic_int entered; /* 0 waiting, else 1 + what enter() returned */
    atomic_int order;   /* 1-based position among the waiters that entered */
} waiter;

static atomic_int entries;

static void *enter_thread(void *arg)
{
    waiter *w = arg;
    int r = bc_send_gate_enter(&g, w->wait_ms);
    atomic_store(&w->order, atomic_fetch_add(&entries, 1) + 1);
    atomic_store(&w->entered, 1 + r);
    return NULL;
}

static uint64_t tickets(void)
{
    pthread_mutex_lock(&g.lock);
    uint64_t n = g.next_ticket;
    pthread_mutex_unlock(&g.lock);
    return n;
}

static unsigned inside(void)
{
    pthread_mutex_lock(&g.lock);
    unsigned n = g.inside;
    pthread_mutex_unlock(&g.lock);
    return n;
}

/* Starts w and returns once it holds its ticket (the gate counted it). */
static void start(waiter *w, int wait_ms)
{
    uint64_t before = tickets();
    w->wait_ms = wait_ms;
    atomic_store(&w->entered, 0);
    CHECK(pthread_create(&w->t, NULL, enter_thread, w) == 0);
    while (tickets() == before)
        sched_yield();
}

static void wait_entered(waiter *w)
{
    while (!atomic_load(&w->entered))
        sched_yield();
}

static void slots_and_order(void)
{
    CHECK(bc_send_gate_init(&g, 2) == 0);
    atomic_store(&entries, 0);
    CHECK(bc_send_gate_enter(&g, 1000) == 1);
    CHECK(bc_send_gate_enter(&g, 1000) == 1);
    CHECK(inside() == 2);
    waiter a, b;
    start(&a, 60000);
    start(&b, 60000);
    CHECK(!atomic_load(&a.entered) && !atomic_load(&b.entered)); /* both slots taken */
    bc_send_gate_leave(&g);
    wait_entered(&a);
    CHECK(atomic_load(&a.entered) == 2); /* in turn */
    CHECK(inside() == 2);
    CHECK(!atomic_load(&b.entered)); /* a took the one free slot: b is younger */
    bc_send_gate_leave(&g);
    wait_entered(&b);
    CHECK(atomic_load(&a.order) == 1 && atomic_load(&b.order) == 2);
    pthread_join(a.t, NULL);
    pthread_join(b.t, NULL);
    bc_send_gate_leave(&g);
    bc_send_gate_leave(&g);
    CHECK(inside() == 0);
    bc_send_gate_destroy(&g);
}

static void give_up_enters_and_strands_nobody(void)
{
    CHECK(bc_send_gate_init(&g, 1) == 0);
    atomic_store(&entries, 0);
    CHECK(bc_send_gate_enter(&g, 1000) == 1);
    waiter older, younger;
    start(&older, 60000);
    start(&younger, 50); /* gives up after 50 ms and enters beyond the slots */
    wait_entered(&younger);
    CHECK(atomic_load(&younger.entered) == 1); /* entered without its turn */
    CHECK(inside() == 2);
    CHECK(!atomic_load(&older.entered));
    bc_send_gate_leave(&g); /* main: inside 1 = younger, still full */
    CHECK(!atomic_load(&older.entered)); /* inside: younger, the one slot */
    bc_send_gate_leave(&g); /* younger: now older's turn */
    wait_entered(&older);
    CHECK(atomic_load(&older.entered) == 2);
    pthread_join(older.t, NULL);
    pthread_join(younger.t, NULL);
    bc_send_gate_leave(&g);
    CHECK(inside() == 0);
    bc_send_gate_destroy(&g);
}

#define HAMMER_THREADS 8
#define HAMMER_ROUNDS 300
static atomic_int now_inside, most_inside, out_of_turn;

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < HAMMER_ROUNDS; i++) {
        /* CHECK is not thread-safe (check.h): count here, check in the main thread */
        if (bc_send_gate_enter(&g, 60000) != 1)
            atomic_fetch_add(&out_of_turn, 1);
        int n = atomic_fetch_add(&now_inside, 1) + 1;
        int m = atomic_load(&most_inside);
        while (n > m && !atomic_compare_exchange_weak(&most_inside, &m, n))
            ;
        sched_yield();
        atomic_fetch_sub(&now_inside, 1);
        bc_send_gate_leave(&g);
    }
    return NULL;
}

static void many_threads(void)
{
    CHECK(bc_send_gate_init(&g, 3) == 0);
    pthread_t t[HAMMER_THREADS];
    for (int i = 0; i < HAMMER_THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, hammer, NULL) == 0);
    for (int i = 0; i < HAMMER_THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK(atomic_load(&out_of_turn) == 0);
    CHECK(atomic_load(&most_inside) >= 1 && atomic_load(&most_inside) <= 3);
    CHECK(inside() == 0);
    CHECK(tickets() == HAMMER_THREADS * HAMMER_ROUNDS);
    bc_send_gate_destroy(&g);
}

/* A stopping server opens the gate: a waiter goes in at once (not in turn),
 * and so does every later caller. */
static void open_lets_everyone_in(void)
{
    CHECK(bc_send_gate_init(&g, 1) == 0);
    CHECK(bc_send_gate_enter(&g, 1000) == 1);
    waiter w;
    start(&w, 600000); /* 10 min: only the opening can let it in within the test's time */
    CHECK(!atomic_load(&w.entered));
    bc_send_gate_open(&g);
    wait_entered(&w);
    CHECK(atomic_load(&w.entered) == 1);
    CHECK(bc_send_gate_enter(&g, 600000) == 0);
    pthread_join(w.t, NULL);
    bc_send_gate_leave(&g);
    bc_send_gate_leave(&g);
    bc_send_gate_leave(&g);
    CHECK(inside() == 0);
    bc_send_gate_destroy(&g);
}

static void default_slots(void)
{
    CHECK(bc_send_gate_init(&g, 0) == 0);
    CHECK(g.slots == BC_SEND_SLOTS);
    bc_send_gate_destroy(&g);
}

int main(void)
{
    default_slots();
    slots_and_order();
    give_up_enters_and_strands_nobody();
    many_threads();
    open_lets_everyone_in();
    return check_summary("test_send_gate");
}
