/* Tests of the shuffle's buffer pool: reuse, size classes, and the bound the
 * open ranks' memory_limit puts on what it keeps. */
#include "build_config.h"

#include <stdlib.h>
#include <string.h>

#include "cu.h"
#include "shuffle_pool.h"

#define MIB ((size_t)1 << 20)

static void test_a_buffer_given_back_is_handed_out_again(void)
{
    struct wn_ucx_pool_stats a, b;
    size_t cap = 0, cap2 = 0;
    char *buf, *again;

    wn_ucx_pool_register(64 * MIB);
    wn_ucx_pool_stats(&a);
    buf = wn_ucx_pool_get(3 * MIB, &cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    CU_ASSERT_EQUAL(cap, 4 * MIB);
    memset(buf, 7, cap);
    wn_ucx_pool_put(buf, cap);
    again = wn_ucx_pool_get(4 * MIB - 100, &cap2);
    CU_ASSERT_PTR_EQUAL(again, buf);
    CU_ASSERT_EQUAL(cap2, 4 * MIB);
    wn_ucx_pool_stats(&b);
    CU_ASSERT_EQUAL(b.fresh_bytes - a.fresh_bytes, 4 * MIB);
    CU_ASSERT_EQUAL(b.reused_bytes - a.reused_bytes, 4 * MIB);
    CU_ASSERT_EQUAL(b.in_use_bytes - a.in_use_bytes, 4 * MIB);
    wn_ucx_pool_put(again, cap2);
    wn_ucx_pool_unregister(64 * MIB);
    wn_ucx_pool_trim();
    wn_ucx_pool_stats(&b);
    CU_ASSERT_EQUAL(b.idle_bytes, 0);
    CU_ASSERT_EQUAL(b.in_use_bytes, a.in_use_bytes);
}

static void test_sizes_round_up_to_classes_and_the_largest_are_not_kept(void)
{
    static const struct {
        size_t len, cap;
    } cases[] = {
        { 1000, 1000 },           /* below 64 KiB: malloc */
        { 65536, 65536 },         /* the smallest class */
        { 100000, 131072 },       /* powers of two up to 2 MiB */
        { 2 * MIB, 2 * MIB },     /* */
        { 2 * MIB + 1, 4 * MIB }, /* then multiples of 2 MiB */
        { 5 * MIB, 6 * MIB },     /* */
        { 200 * MIB, 200 * MIB }  /* above 128 MiB: exact, never kept */
    };
    struct wn_ucx_pool_stats s;

    wn_ucx_pool_register(1024 * MIB);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t cap = 0;
        void *buf = wn_ucx_pool_get(cases[i].len, &cap);

        CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
        CU_ASSERT_EQUAL(cap, cases[i].cap);
        wn_ucx_pool_put(buf, cap);
    }
    wn_ucx_pool_stats(&s);
    /* Kept: 64 KiB + 128 KiB + 2 MiB + 4 MiB + 6 MiB; not 1000 bytes nor 200 MiB. */
    CU_ASSERT_EQUAL(s.idle_bytes, 65536 + 131072 + 12 * MIB);
    wn_ucx_pool_unregister(1024 * MIB);
    wn_ucx_pool_trim();
}

static void test_the_pool_keeps_only_what_the_open_ranks_limits_allow(void)
{
    struct wn_ucx_pool_stats s;
    size_t cap[3];
    void *buf[3];

    wn_ucx_pool_trim();
    /* The last ranks open had a limit of 0: nothing kept. */
    wn_ucx_pool_register(0);
    wn_ucx_pool_unregister(0);
    buf[0] = wn_ucx_pool_get(4 * MIB, &cap[0]);
    wn_ucx_pool_put(buf[0], cap[0]);
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.idle_bytes, 0);

    /* Two ranks of 4 MiB each: 12 MiB in use, 8 MiB may stay. */
    wn_ucx_pool_register(4 * MIB);
    wn_ucx_pool_register(4 * MIB);
    for (int i = 0; i < 3; i++)
        buf[i] = wn_ucx_pool_get(4 * MIB, &cap[i]);
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.in_use_bytes, 12 * MIB);
    CU_ASSERT_EQUAL(s.keep_limit, 8 * MIB);
    for (int i = 0; i < 3; i++)
        wn_ucx_pool_put(buf[i], cap[i]);
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.in_use_bytes, 0);
    CU_ASSERT_EQUAL(s.idle_bytes, 8 * MIB);

    /* Every rank closed: the buffers stay for the next shuffle... */
    wn_ucx_pool_unregister(4 * MIB);
    wn_ucx_pool_unregister(4 * MIB);
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.idle_bytes, 8 * MIB);
    /* ...whose smaller limit trims them at once. */
    wn_ucx_pool_register(4 * MIB);
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.keep_limit, 4 * MIB);
    CU_ASSERT_EQUAL(s.idle_bytes, 4 * MIB);
    /* A buffer of another size made fresh pushes idle ones out. */
    buf[0] = wn_ucx_pool_get(6 * MIB, &cap[0]);
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.in_use_bytes, 6 * MIB);
    CU_ASSERT_EQUAL(s.idle_bytes, 0);
    wn_ucx_pool_put(buf[0], cap[0]);
    wn_ucx_pool_unregister(4 * MIB);
    /* A limit of 0 (spill everything) keeps nothing. */
    wn_ucx_pool_register(0);
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.idle_bytes, 0);
    wn_ucx_pool_unregister(0);
    wn_ucx_pool_trim();
}

static void test_release_frees_idle_buffers_and_those_given_back_later(void)
{
    struct wn_ucx_pool_stats s;
    size_t cap[2];
    void *buf[2];

    wn_ucx_pool_trim();
    /* A round: its buffers stay idle after its ranks closed, for the next. */
    wn_ucx_pool_register(16 * MIB);
    for (int i = 0; i < 2; i++)
        buf[i] = wn_ucx_pool_get(4 * MIB, &cap[i]);
    wn_ucx_pool_put(buf[0], cap[0]);
    wn_ucx_pool_unregister(16 * MIB);
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.idle_bytes, 4 * MIB);
    CU_ASSERT_EQUAL(s.keep_limit, 16 * MIB);
    /* The stage ends: idle buffers go, and so does one given back later. */
    wn_ucx_pool_release();
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.idle_bytes, 0);
    CU_ASSERT_EQUAL(s.keep_limit, 0);
    CU_ASSERT_EQUAL(s.in_use_bytes, 4 * MIB);
    wn_ucx_pool_put(buf[1], cap[1]);
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.idle_bytes, 0);
    CU_ASSERT_EQUAL(s.in_use_bytes, 0);
    /* The next stage's ranks keep again. */
    wn_ucx_pool_register(16 * MIB);
    buf[0] = wn_ucx_pool_get(4 * MIB, &cap[0]);
    wn_ucx_pool_put(buf[0], cap[0]);
    wn_ucx_pool_unregister(16 * MIB);
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.idle_bytes, 4 * MIB);
    wn_ucx_pool_release();
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.idle_bytes, 0);
    CU_ASSERT_EQUAL(s.bad_puts, 0);
}

static void test_release_while_ranks_are_open_keeps_only_within_their_limits(void)
{
    struct wn_ucx_pool_stats s;
    size_t cap[3];
    void *buf[3];

    wn_ucx_pool_trim();
    wn_ucx_pool_register(8 * MIB); /* a rank of another shuffle, still open */
    wn_ucx_pool_register(8 * MIB);
    for (int i = 0; i < 3; i++)
        buf[i] = wn_ucx_pool_get(4 * MIB, &cap[i]);
    wn_ucx_pool_put(buf[0], cap[0]);
    wn_ucx_pool_unregister(8 * MIB);
    wn_ucx_pool_release();
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.keep_limit, 8 * MIB);
    CU_ASSERT_EQUAL(s.idle_bytes, 0); /* 8 MiB in use: no room */
    wn_ucx_pool_put(buf[1], cap[1]);
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.idle_bytes, 4 * MIB);
    /* Its last rank closes: the bound follows it down to nothing. */
    wn_ucx_pool_unregister(8 * MIB);
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.keep_limit, 0);
    CU_ASSERT_EQUAL(s.idle_bytes, 0);
    wn_ucx_pool_put(buf[2], cap[2]);
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.idle_bytes, 0);
    CU_ASSERT_EQUAL(s.in_use_bytes, 0);
}

static void test_a_double_put_or_a_foreign_buffer_is_counted_and_ignored(void)
{
    struct wn_ucx_pool_stats a, s;
    size_t cap = 0, cap2 = 0, cap3 = 0;
    void *buf, *again, *other, *foreign;

    wn_ucx_pool_trim();
    wn_ucx_pool_register(64 * MIB);
    wn_ucx_pool_stats(&a);
    buf = wn_ucx_pool_get(4 * MIB, &cap);
    wn_ucx_pool_put(buf, cap);
    wn_ucx_pool_put(buf, cap); /* twice */
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.bad_puts - a.bad_puts, 1);
    CU_ASSERT_EQUAL(s.idle_bytes, 4 * MIB); /* kept once */
    CU_ASSERT_EQUAL(s.in_use_bytes, a.in_use_bytes);
    /* So it is never handed out twice. */
    again = wn_ucx_pool_get(4 * MIB, &cap2);
    other = wn_ucx_pool_get(4 * MIB, &cap3);
    CU_ASSERT_PTR_EQUAL(again, buf);
    CU_ASSERT_PTR_NOT_EQUAL(other, buf);
    /* Given back with another capacity: not the buffer handed out. */
    wn_ucx_pool_put(again, 2 * MIB);
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.bad_puts - a.bad_puts, 2);
    CU_ASSERT_EQUAL(s.in_use_bytes - a.in_use_bytes, 8 * MIB);
    wn_ucx_pool_put(again, cap2);
    wn_ucx_pool_put(other, cap3);
    /* A buffer the pool never handed out: counted, neither kept nor freed. */
    foreign = aligned_alloc(2 * MIB, 4 * MIB);
    CU_ASSERT_PTR_NOT_NULL_FATAL(foreign);
    wn_ucx_pool_put(foreign, 4 * MIB);
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.bad_puts - a.bad_puts, 3);
    CU_ASSERT_EQUAL(s.in_use_bytes, a.in_use_bytes);
    CU_ASSERT_EQUAL(s.idle_bytes, 8 * MIB);
    free(foreign);
    wn_ucx_pool_unregister(64 * MIB);
    wn_ucx_pool_trim();
}

static void test_a_failed_allocation_gives_null_and_leaves_the_counts(void)
{
    struct wn_ucx_pool_stats a, s;
    size_t cap = 0;
    void *bufs[40];

    wn_ucx_pool_trim();
    wn_ucx_pool_register(64 * MIB);
    wn_ucx_pool_stats(&a);
    wn_ucx_pool_fail_after(0);
    CU_ASSERT_PTR_NULL(wn_ucx_pool_get(4 * MIB, &cap));   /* pooled */
    CU_ASSERT_PTR_NULL(wn_ucx_pool_get(1000, &cap));      /* below the classes */
    CU_ASSERT_PTR_NULL(wn_ucx_pool_get(200 * MIB, &cap)); /* above them */
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.fresh_bytes, a.fresh_bytes);
    CU_ASSERT_EQUAL(s.in_use_bytes, a.in_use_bytes);
    CU_ASSERT_EQUAL(s.idle_bytes, a.idle_bytes);
    /* 40 idle buffers; nothing handed out, so the pool's set of buffers
     * handed out is gone too.  Reusing them needs no buffer allocation, but
     * the set's: 64 entries, at most half full, grown at the 33rd. */
    wn_ucx_pool_fail_after(-1);
    for (int i = 0; i < 40; i++)
        bufs[i] = wn_ucx_pool_get(65536, &cap);
    for (int i = 0; i < 40; i++)
        wn_ucx_pool_put(bufs[i], 65536);
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.idle_bytes - a.idle_bytes, 40 * 65536);
    wn_ucx_pool_fail_after(1);
    for (int i = 0; i < 40; i++)
        bufs[i] = wn_ucx_pool_get(65536, &cap);
    wn_ucx_pool_fail_after(-1);
    for (int i = 0; i < 32; i++)
        CU_ASSERT_PTR_NOT_NULL(bufs[i]);
    for (int i = 32; i < 40; i++)
        CU_ASSERT_PTR_NULL(bufs[i]);
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.in_use_bytes - a.in_use_bytes, 32 * 65536);
    CU_ASSERT_EQUAL(s.idle_bytes - a.idle_bytes, 8 * 65536);
    CU_ASSERT_EQUAL(s.fresh_bytes - a.fresh_bytes, 40 * 65536);
    for (int i = 0; i < 40; i++)
        wn_ucx_pool_put(bufs[i], 65536);
    wn_ucx_pool_stats(&s);
    CU_ASSERT_EQUAL(s.in_use_bytes, a.in_use_bytes);
    CU_ASSERT_EQUAL(s.idle_bytes - a.idle_bytes, 40 * 65536);
    CU_ASSERT_EQUAL(s.bad_puts, a.bad_puts);
    /* And allocations work again. */
    bufs[0] = wn_ucx_pool_get(4 * MIB, &cap);
    CU_ASSERT_PTR_NOT_NULL(bufs[0]);
    wn_ucx_pool_put(bufs[0], cap);
    wn_ucx_pool_unregister(64 * MIB);
    wn_ucx_pool_trim();
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "a buffer given back is handed out again", test_a_buffer_given_back_is_handed_out_again },
        { "sizes round up to classes and the largest are not kept",
          test_sizes_round_up_to_classes_and_the_largest_are_not_kept },
        { "the pool keeps only what the open ranks' limits allow",
          test_the_pool_keeps_only_what_the_open_ranks_limits_allow },
        { "release frees idle buffers and those given back later",
          test_release_frees_idle_buffers_and_those_given_back_later },
        { "release while ranks are open keeps only within their limits",
          test_release_while_ranks_are_open_keeps_only_within_their_limits },
        { "a double put or a foreign buffer is counted and ignored",
          test_a_double_put_or_a_foreign_buffer_is_counted_and_ignored },
        { "a failed allocation gives NULL and leaves the counts",
          test_a_failed_allocation_gives_null_and_leaves_the_counts },
        { NULL, NULL }
    };

    return wn_test_run_suite("ucx shuffle buffer pool", tests, NULL, NULL);
}
