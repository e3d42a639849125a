/* Message ids: format, strict order, clock steps back, counter overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msgid.h"

static const unsigned char rnd[5] = { 0xde, 0xad, 0xbe, 0xef, 0x01 };

static void test_format(void **state)
{
    char id[PARLEY_ID_LEN + 1];

    (void)state;
    parley__msgid_seed(rnd, 0x000102);
    parley__msgid_next(id, 1700000000123LL);
    assert_string_equal(id, "6553f100deadbeef01000102");
    assert_int_equal(strlen(id), 24);
    assert_true(parley__msgid_valid(id, 24));
    assert_int_equal(parley__msgid_seconds(id), 1700000000);
    parley__msgid_next(id, 1700000000999LL);
    assert_string_equal(id, "6553f100deadbeef01000103");
    /* A new second restarts at the process's counter start. */
    parley__msgid_next(id, 1700000001000LL);
    assert_string_equal(id, "6553f101deadbeef01000102");
}

static void test_random_init(void **state)
{
    char a[PARLEY_ID_LEN + 1], b[PARLEY_ID_LEN + 1];

    (void)state;
    parley__msgid_seed(NULL, 0);
    parley__msgid_init();
    parley__msgid_next(a, 1700000000000LL);
    parley__msgid_next(b, 1700000000000LL);
    assert_true(parley__msgid_valid(a, 24));
    assert_true(strcmp(a, b) < 0);
    /* The counter start is below 2^23. */
    assert_true(strtoul(a + 18, NULL, 16) < (1u << 23));
}

static void test_million_in_one_second(void **state)
{
    char prev[PARLEY_ID_LEN + 1], cur[PARLEY_ID_LEN + 1];

    (void)state;
    parley__msgid_seed(NULL, 0);
    parley__msgid_init();
    parley__msgid_next(prev, 1700000000000LL);
    for (int i = 0; i < 1000000; i++) {
        parley__msgid_next(cur, 1700000000500LL);
        if (strcmp(prev, cur) >= 0)
            fail_msg("id %d not increasing: %s then %s", i, prev, cur);
        memcpy(prev, cur, sizeof cur);
    }
    assert_int_equal(parley__msgid_seconds(cur), 1700000000);
}

static void test_clock_backwards(void **state)
{
    char a[PARLEY_ID_LEN + 1], b[PARLEY_ID_LEN + 1], c[PARLEY_ID_LEN + 1];

    (void)state;
    parley__msgid_seed(rnd, 5);
    parley__msgid_next(a, 1700000010000LL);
    parley__msgid_next(b, 1699999000000LL);   /* the clock stepped back */
    assert_true(strcmp(a, b) < 0);
    assert_int_equal(parley__msgid_seconds(b), 1700000010);
    assert_string_equal(b, "6553f10adeadbeef01000006");
    parley__msgid_next(c, -5);                  /* nonsense clock */
    assert_true(strcmp(b, c) < 0);
}

static void test_counter_overflow_borrows(void **state)
{
    char a[PARLEY_ID_LEN + 1], b[PARLEY_ID_LEN + 1], c[PARLEY_ID_LEN + 1];

    (void)state;
    parley__msgid_seed(rnd, 0xfffffe);
    parley__msgid_next(a, 1700000000000LL);
    assert_string_equal(a, "6553f100deadbeef01fffffe");
    parley__msgid_next(a, 1700000000000LL);
    assert_string_equal(a, "6553f100deadbeef01ffffff");
    /* 2^24 would wrap: the seconds field is borrowed from the future. */
    parley__msgid_next(b, 1700000000000LL);
    assert_string_equal(b, "6553f101deadbeef01fffffe");
    assert_true(strcmp(a, b) < 0);
    /* The real clock catching up to the borrowed second keeps counting. */
    parley__msgid_next(c, 1700000001000LL);
    assert_string_equal(c, "6553f101deadbeef01ffffff");
    assert_true(strcmp(b, c) < 0);
}

static void test_init_is_once(void **state)
{
    char a[PARLEY_ID_LEN + 1], b[PARLEY_ID_LEN + 1];

    (void)state;
    parley__msgid_seed(NULL, 0);
    parley__msgid_init();
    parley__msgid_next(a, 1700000000000LL);
    parley__msgid_init();               /* again: no new random part */
    parley__msgid_next(b, 1700000000000LL);
    assert_memory_equal(a + 8, b + 8, 10);
    assert_true(strcmp(a, b) < 0);
}

static void test_valid_and_normalize(void **state)
{
    char out[PARLEY_ID_LEN + 1];

    (void)state;
    assert_true(parley__msgid_valid("0123456789abcdef01234567", 24));
    assert_false(parley__msgid_valid("0123456789ABCDEF01234567", 24));
    assert_false(parley__msgid_valid("0123456789abcdef0123456", 23));
    assert_false(parley__msgid_valid("0123456789abcdef012345678", 25));
    assert_false(parley__msgid_valid("0123456789abcdef0123456g", 24));
    assert_false(parley__msgid_valid(NULL, 24));
    assert_int_equal(parley__msgid_normalize("0123456789ABCDEF01234567", 24, out), 0);
    assert_string_equal(out, "0123456789abcdef01234567");
    assert_int_equal(parley__msgid_normalize("0123456789abcdef0123456z", 24, out), -1);
    assert_int_equal(parley__msgid_normalize("abc", 3, out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_random_init),
        cmocka_unit_test(test_million_in_one_second),
        cmocka_unit_test(test_clock_backwards),
        cmocka_unit_test(test_counter_overflow_borrows),
        cmocka_unit_test(test_init_is_once),
        cmocka_unit_test(test_valid_and_normalize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
