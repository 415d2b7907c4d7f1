/* check.h - the few assertions the C unit tests need.  A failed check prints
 * file:line and the expression and counts; main returns check_summary(). */
#ifndef OSSC_CHECK_H
#define OSSC_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(expr)                                                                \
    do {                                                                           \
        check_count++;                                                             \
        if (!(expr)) {                                                             \
            check_failures++;                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr); \
        }                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                            \
    do {                                                                           \
        const char *check_a_ = (a), *check_b_ = (b);                               \
        check_count++;                                                             \
        if (strcmp(check_a_, check_b_) != 0) {                                     \
            check_failures++;                                                      \
            fprintf(stderr, "%s:%d: %s == %s\n  got:      \"%s\"\n  expected: \"%s\"\n", \
                    __FILE__, __LINE__, #a, #b, check_a_, check_b_);                \
        }                                                                          \
    } while (0)

static inline int check_summary(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

#endif
