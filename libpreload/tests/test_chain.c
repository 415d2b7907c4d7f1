/* test_chain.c - who a node receives from (bc_chain_upstream) and the
 * model version id (bc_version_id): pure functions, no server. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "chain.h"
#include "check.h"

/* Members "n0".."n<count-1>" in join order. */
static size_t members(bc_node_info *m, size_t count)
{
    memset(m, 0, count * sizeof *m);
    for (size_t i = 0; i < count; i++) {
        snprintf(m[i].id, sizeof m[i].id, "n%zu", i);
        m[i].seq = (long long)i + 1;
    }
    return count;
}

/* Excludes the ids listed in ctx (a NULL-terminated array). */
static bool excluded_by_list(const char *id, void *ctx)
{
    for (const char **p = ctx; *p; p++)
        if (!strcmp(*p, id))
            return true;
    return false;
}

static void test_one_source(void)
{
    bc_node_info m[5];
    size_t n = members(m, 5);
    CHECK(bc_chain_upstream(m, n, "n0", 1, NULL, NULL) == -1); /* pulls from OSS */
    CHECK(bc_chain_upstream(m, n, "n1", 1, NULL, NULL) == 0);
    CHECK(bc_chain_upstream(m, n, "n2", 1, NULL, NULL) == 1);
    CHECK(bc_chain_upstream(m, n, "n4", 1, NULL, NULL) == 3);
    /* sources < 1 reads as 1 */
    CHECK(bc_chain_upstream(m, n, "n3", 0, NULL, NULL) == 2);
    /* an empty view, or self not in it: OSS */
    CHECK(bc_chain_upstream(m, 0, "n0", 1, NULL, NULL) == -1);
    CHECK(bc_chain_upstream(m, n, "stranger", 1, NULL, NULL) == -1);
}

static void test_two_sources(void)
{
    /* Two interleaved chains: OSS -> n0 -> n2 -> n4 and OSS -> n1 -> n3 -> n5. */
    bc_node_info m[6];
    size_t n = members(m, 6);
    CHECK(bc_chain_upstream(m, n, "n0", 2, NULL, NULL) == -1);
    CHECK(bc_chain_upstream(m, n, "n1", 2, NULL, NULL) == -1);
    CHECK(bc_chain_upstream(m, n, "n2", 2, NULL, NULL) == 0);
    CHECK(bc_chain_upstream(m, n, "n3", 2, NULL, NULL) == 1);
    CHECK(bc_chain_upstream(m, n, "n4", 2, NULL, NULL) == 2);
    CHECK(bc_chain_upstream(m, n, "n5", 2, NULL, NULL) == 3);
    /* more sources than members: everyone pulls from OSS */
    CHECK(bc_chain_upstream(m, n, "n5", 8, NULL, NULL) == -1);
}

static void test_exclusions(void)
{
    bc_node_info m[5];
    size_t n = members(m, 5);
    /* n2 gave up on n1: relinks to the next live predecessor n0 */
    const char *gone1[] = {"n1", NULL};
    CHECK(bc_chain_upstream(m, n, "n2", 1, excluded_by_list, gone1) == 0);
    /* excluding several, including one behind self, changes nothing behind */
    const char *gone2[] = {"n2", "n3", "n4", NULL};
    CHECK(bc_chain_upstream(m, n, "n1", 1, excluded_by_list, gone2) == 0);
    /* every predecessor excluded: OSS */
    const char *gone3[] = {"n0", "n1", "n2", NULL};
    CHECK(bc_chain_upstream(m, n, "n3", 1, excluded_by_list, gone3) == -1);
    /* self is never excluded, even when listed */
    const char *self_too[] = {"n3", "n2", NULL};
    CHECK(bc_chain_upstream(m, n, "n3", 1, excluded_by_list, self_too) == 1);
    /* with two sources, an exclusion shifts the interleave of the view:
     * view n0 n2 n3 n4 -> n4 (position 3) receives from n2 (position 1) */
    const char *gone4[] = {"n1", NULL};
    CHECK(bc_chain_upstream(m, n, "n4", 2, excluded_by_list, gone4) == 2);
    CHECK(bc_chain_upstream(m, n, "n2", 2, excluded_by_list, gone4) == -1);
    /* the upstream is never self, whatever the view */
    for (size_t i = 0; i < n; i++)
        for (int s = 1; s <= 3; s++) {
            int up = bc_chain_upstream(m, n, m[i].id, s, excluded_by_list, gone4);
            CHECK(up == -1 || (up >= 0 && (size_t)up < i && strcmp(m[up].id, "n1") != 0));
        }
}

static void test_version_id(void)
{
    bc_version_file f[2] = {{"a.safetensors", 1000, 0x1234}, {"b.safetensors", 2000, 0x5678}};
    char v[33], w[33];
    bc_version_id("oss://b/m/", f, 2, v);
    CHECK(strlen(v) == 32);
    CHECK(strspn(v, "0123456789abcdef") == 32);
    bc_version_id("oss://b/m/", f, 2, w);
    CHECK_STR(v, w); /* stable */

    /* sensitive to every field */
    bc_version_id("oss://b/m2/", f, 2, w);
    CHECK(strcmp(v, w) != 0);
    bc_version_file g[2];
    memcpy(g, f, sizeof g);
    g[1].rel = "c.safetensors";
    bc_version_id("oss://b/m/", g, 2, w);
    CHECK(strcmp(v, w) != 0);
    memcpy(g, f, sizeof g);
    g[0].size = 1001;
    bc_version_id("oss://b/m/", g, 2, w);
    CHECK(strcmp(v, w) != 0);
    memcpy(g, f, sizeof g);
    g[1].crc = 0x5679;
    bc_version_id("oss://b/m/", g, 2, w);
    CHECK(strcmp(v, w) != 0);
    /* the number and order of files count */
    bc_version_id("oss://b/m/", f, 1, w);
    CHECK(strcmp(v, w) != 0);
    bc_version_file swapped[2] = {f[1], f[0]};
    bc_version_id("oss://b/m/", swapped, 2, w);
    CHECK(strcmp(v, w) != 0);
    /* framing: moving bytes between path and file name is another version */
    bc_version_file x = {"bc", 1, 1}, y = {"c", 1, 1};
    char vx[33], vy[33];
    bc_version_id("oss://a/", &x, 1, vx);
    bc_version_id("oss://a/b", &y, 1, vy);
    CHECK(strcmp(vx, vy) != 0);
}

int main(void)
{
    test_one_source();
    test_two_sources();
    test_exclusions();
    test_version_id();
    return check_summary("test_chain");
}
