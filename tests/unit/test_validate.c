/* Validation of usernames, content and rooms (rules in host/validate.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "validate.h"

static const struct parley__chat_limits limits = { 10, 5, 8 };

typedef int (*vfn)(const struct parley__chat_limits *, const char *, size_t, const char **,
                   size_t *, parley_error *);

static void expect_ok(vfn f, const char *in, size_t len, const char *want)
{
    parley_error err = PARLEY_ERROR_INIT;
    const char *out = NULL;
    size_t out_len = 0;
    int rc = f(&limits, in, len, &out, &out_len, &err);

    if (rc != 0)
        fail_msg("refused \"%s\": %s", in, err.message);
    assert_int_equal(out_len, strlen(want));
    assert_memory_equal(out, want, out_len);
    assert_true(out >= in && out + out_len <= in + len);
}

static void expect_err(vfn f, const char *in, size_t len, const char *msg)
{
    parley_error err = PARLEY_ERROR_INIT;
    const char *out = NULL;
    size_t out_len = 0;
    int rc = f(&limits, in, len, &out, &out_len, &err);

    assert_int_equal(rc, PARLEY_EINVAL);
    assert_int_equal(err.code, PARLEY_EINVAL);
    assert_string_equal(err.message, msg);
}

#define OK(f, s, want) expect_ok(f, s, sizeof(s) - 1, want)
#define ERR(f, s, msg) expect_err(f, s, sizeof(s) - 1, msg)

static void test_trim_ascii(void **state)
{
    (void)state;
    OK(parley__validate_content, "  hi  ", "hi");
    OK(parley__validate_content, "\t\n\r\v\f hi there\n", "hi there");
    OK(parley__validate_username, " bob ", "bob");
    OK(parley__validate_room, "  lobby\t", "lobby");
    ERR(parley__validate_content, "   ", "content is empty");
    ERR(parley__validate_content, "", "content is empty");
    ERR(parley__validate_username, "\n\t", "username is empty");
    ERR(parley__validate_room, " ", "room is empty");
}

static void test_trim_unicode(void **state)
{
    (void)state;
    /* U+00A0, U+2000, U+200A, U+3000, U+FEFF, U+2028, U+202F, U+205F, U+1680 */
    OK(parley__validate_content, "\xc2\xa0" "a" "\xe2\x80\x80", "a");
    OK(parley__validate_content, "\xe2\x80\x8a\xe3\x80\x80" "a b" "\xef\xbb\xbf", "a b");
    OK(parley__validate_content, "\xe2\x80\xa8\xe2\x80\xaf\xe2\x81\x9f\xe1\x9a\x80x", "x");
    ERR(parley__validate_username, "\xc2\xa0\xe3\x80\x80", "username is empty");
    /* Not whitespace: U+200B (zero width space) stays, and counts. */
    OK(parley__validate_content, "\xe2\x80\x8b" "a", "\xe2\x80\x8b" "a");
    /* Inner spaces stay. */
    OK(parley__validate_content, "a\xc2\xa0" "b", "a\xc2\xa0" "b");
}

static void test_code_points(void **state)
{
    (void)state;
    /* 5 code points, 2-, 3- and 4-byte forms: exactly at the username limit. */
    OK(parley__validate_username, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z\xc3\xa9",
       "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z\xc3\xa9");
    ERR(parley__validate_username, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80zz\xc3\xa9",
        "username is 6 characters long; the limit is 5");
    OK(parley__validate_content, "0123456789", "0123456789");
    ERR(parley__validate_content, "0123456789a", "content is 11 characters long; the limit is 10");
    /* Trimmed spaces do not count. */
    OK(parley__validate_content, "   0123456789   ", "0123456789");
    OK(parley__validate_room, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
    ERR(parley__validate_room, "abcdefghi", "room is 9 characters long; the limit is 8");
}

static void test_bad_utf8(void **state)
{
    (void)state;
    ERR(parley__validate_content, "ab\xc0\xaf", "content is not valid UTF-8 (byte 0xc0 at offset 2)");
    ERR(parley__validate_content, "\xe0\x80\xaf", "content is not valid UTF-8 (byte 0xe0 at offset 0)");
    ERR(parley__validate_content, "\xf0\x80\x80\xaf", "content is not valid UTF-8 (byte 0xf0 at offset 0)");
    /* surrogates U+D800 and U+DFFF */
    ERR(parley__validate_content, "x\xed\xa0\x80", "content is not valid UTF-8 (byte 0xed at offset 1)");
    ERR(parley__validate_content, "\xed\xbf\xbf", "content is not valid UTF-8 (byte 0xed at offset 0)");
    /* above U+10FFFF */
    ERR(parley__validate_content, "\xf4\x90\x80\x80", "content is not valid UTF-8 (byte 0xf4 at offset 0)");
    ERR(parley__validate_content, "\xf5\x80\x80\x80", "content is not valid UTF-8 (byte 0xf5 at offset 0)");
    /* truncated, stray continuation, bad continuation */
    ERR(parley__validate_username, "ab\xe2\x82", "username is not valid UTF-8 (byte 0xe2 at offset 2)");
    ERR(parley__validate_room, "\x80" "a", "room is not valid UTF-8 (byte 0x80 at offset 0)");
    ERR(parley__validate_content, "\xc3" "a", "content is not valid UTF-8 (byte 0xc3 at offset 0)");
    ERR(parley__validate_content, "\xff", "content is not valid UTF-8 (byte 0xff at offset 0)");
    /* The largest code point and the last before the surrogates are fine. */
    OK(parley__validate_content, "\xf4\x8f\xbf\xbf\xed\x9f\xbf", "\xf4\x8f\xbf\xbf\xed\x9f\xbf");
}

static void test_controls(void **state)
{
    (void)state;
    ERR(parley__validate_content, "a\0b", "content contains a control character (U+0000 at character 2)");
    ERR(parley__validate_username, "a\0", "username contains a control character (U+0000 at character 2)");
    ERR(parley__validate_room, "ro\x07m", "room contains a control character (U+0007 at character 3)");
    ERR(parley__validate_username, "a\tb", "username contains a control character (U+0009 at character 2)");
    ERR(parley__validate_room, "a\nb", "room contains a control character (U+000A at character 2)");
    ERR(parley__validate_content, "a\x1b[0m", "content contains a control character (U+001B at character 2)");
    ERR(parley__validate_content, "a\x7f", "content contains a control character (U+007F at character 2)");
    ERR(parley__validate_content, "a\xc2\x85", "content contains a control character (U+0085 at character 2)");
    /* Content keeps tab, newline and CR inside. */
    OK(parley__validate_content, "a\tb\r\nc", "a\tb\r\nc");
}

static void test_rooms_and_missing(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;

    (void)state;
    ERR(parley__validate_room, "$where", "room must not start with '$'");
    ERR(parley__validate_room, "  $x", "room must not start with '$'");
    OK(parley__validate_room, "a$b", "a$b");
    assert_int_equal(parley__validate_content(&limits, NULL, 0, NULL, NULL, &err), PARLEY_EINVAL);
    assert_string_equal(err.message, "content is missing");
    /* err may be NULL. */
    assert_int_equal(parley__validate_username(&limits, "", 0, NULL, NULL, NULL), PARLEY_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trim_ascii),
        cmocka_unit_test(test_trim_unicode),
        cmocka_unit_test(test_code_points),
        cmocka_unit_test(test_bad_utf8),
        cmocka_unit_test(test_controls),
        cmocka_unit_test(test_rooms_and_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
