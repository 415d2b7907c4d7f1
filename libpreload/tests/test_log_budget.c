/* test_log_budget.c - ossc_log_budget_take: one line per interval, the
 * lines held back counted and handed to the next one written, from
 * several threads at once. */
#include <pthread.h>
#include <time.h>

#include "check.h"
#include "log.h"

#define THREADS 4
#define TRIES 1000

static ossc_log_budget shared;
static _Atomic int written;
static _Atomic uint64_t reported;

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < TRIES; i++) {
        uint64_t held;
        if (ossc_log_budget_take(&shared, 60000, &held)) {
            written++;
            reported += held;
        }
    }
    return NULL;
}

int main(void)
{
    /* A long interval: the first take writes, every later one is held back. */
    ossc_log_budget b = {0};
    uint64_t held = 99;
    CHECK(ossc_log_budget_take(&b, 60000, &held) && held == 0);
    for (int i = 0; i < 5; i++)
        CHECK(!ossc_log_budget_take(&b, 60000, &held));
    CHECK(b.held_back == 5);

    /* A 1 ms interval: once it has passed (waited for, not slept on), the
     * next line is written and names the 5 + n held back. */
    ossc_log_budget quick = {0};
    CHECK(ossc_log_budget_take(&quick, 1, &held) && held == 0);
    uint64_t n = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    bool taken = false;
    do {
        taken = ossc_log_budget_take(&quick, 1, &held);
        if (!taken)
            n++;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (!taken && now.tv_sec - start.tv_sec < 60);
    CHECK(taken && held == n);

    /* Threads racing: exactly one line written, every other take counted. */
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, hammer, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK(written == 1 && reported == 0);
    CHECK(shared.held_back == THREADS * TRIES - 1);
    return check_summary("test_log_budget");
}
