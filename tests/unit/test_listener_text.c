/*
 * The listener's pure parts: the UTF-8 validator (WebSocket 1007), strict
 * query-parameter decoding, percent re-encoding, and shared frames (wire
 * headers built once, reference counts).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"
#include "listener_text.h"
#include "validate.h"

#define U(s) (s), sizeof(s) - 1, NULL

static void utf8_accepts_well_formed(void **state)
{
    (void)state;
    assert_int_equal(parley__utf8_valid(U("")), 1);
    assert_int_equal(parley__utf8_valid(U("plain ascii")), 1);
    assert_int_equal(parley__utf8_valid(U("\xc3\xa9")), 1);             /* é */
    assert_int_equal(parley__utf8_valid(U("\xe2\x82\xac")), 1);         /* € */
    assert_int_equal(parley__utf8_valid(U("\xf0\x9f\x98\x80")), 1);     /* U+1F600 */
    assert_int_equal(parley__utf8_valid(U("\xf4\x8f\xbf\xbf")), 1);     /* U+10FFFF */
    assert_int_equal(parley__utf8_valid(U("\xed\x9f\xbf")), 1);         /* U+D7FF */
}

static void utf8_refuses_malformed(void **state)
{
    (void)state;
    assert_int_equal(parley__utf8_valid(U("\x80")), 0);                 /* lone continuation */
    assert_int_equal(parley__utf8_valid(U("\xc0\xaf")), 0);             /* overlong '/' */
    assert_int_equal(parley__utf8_valid(U("\xc1\xbf")), 0);
    assert_int_equal(parley__utf8_valid(U("\xe0\x80\xaf")), 0);         /* overlong */
    assert_int_equal(parley__utf8_valid(U("\xed\xa0\x80")), 0);         /* surrogate */
    assert_int_equal(parley__utf8_valid(U("\xf0\x80\x80\xaf")), 0);     /* overlong */
    assert_int_equal(parley__utf8_valid(U("\xf4\x90\x80\x80")), 0);     /* > U+10FFFF */
    assert_int_equal(parley__utf8_valid(U("\xf5\x80\x80\x80")), 0);
    assert_int_equal(parley__utf8_valid(U("ok\xc3")), 0);               /* truncated */
    assert_int_equal(parley__utf8_valid(U("\xe2\x82")), 0);
    assert_int_equal(parley__utf8_valid(U("\xe2\x28\xa1")), 0);
    assert_int_equal(parley__utf8_valid(U("\xff")), 0);
}

static void query_param_decodes_strictly(void **state)
{
    char out[16];

    (void)state;
    assert_int_equal(parley__text_query_param("a=1&b=x%20y", "b", out, sizeof out), 3);
    assert_string_equal(out, "x y");
    assert_int_equal(parley__text_query_param("b=a+b&b=second", "b", out, sizeof out), 3);
    assert_string_equal(out, "a b");                       /* the first one wins */
    assert_int_equal(parley__text_query_param("flag&x=1", "flag", out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(parley__text_query_param("q%31=v", "q1", out, sizeof out), 1);
    assert_string_equal(out, "v");
    assert_int_equal(parley__text_query_param("e=%E2%82%AC", "e", out, sizeof out), 3);
    assert_string_equal(out, "\xe2\x82\xac");
    assert_int_equal(parley__text_query_param("a=1", "b", out, sizeof out), PARLEY_ENOTFOUND);
    assert_int_equal(parley__text_query_param("", "b", out, sizeof out), PARLEY_ENOTFOUND);
    assert_int_equal(parley__text_query_param("b=%zz", "b", out, sizeof out), PARLEY_EINVAL);
    assert_int_equal(parley__text_query_param("b=%4", "b", out, sizeof out), PARLEY_EINVAL);
    assert_int_equal(parley__text_query_param("b=%", "b", out, sizeof out), PARLEY_EINVAL);
    assert_int_equal(parley__text_query_param("b=x%00y", "b", out, sizeof out), PARLEY_EINVAL);
    assert_int_equal(parley__text_query_param("b=0123456789abcdef", "b", out, sizeof out),
                     PARLEY_ETOOBIG);
    assert_int_equal(parley__text_query_param("b=0123456789abcde", "b", out, sizeof out), 15);
}

static void frame_headers_and_refcounts(void **state)
{
    static const struct {
        size_t len;
        size_t hdr;
        unsigned char b1;
    } cases[] = { { 0, 2, 0 }, { 125, 2, 125 }, { 126, 4, 126 }, { 65535, 4, 126 },
                  { 65536, 10, 127 } };
    size_t live = parley__frame_live();

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p;
        parley_frame *f = parley__frame_alloc(NULL, cases[i].len, (int)(i & 1), &p);
        const unsigned char *w;
        size_t wl, dl;

        assert_non_null(f);
        memset(p, 'a', cases[i].len);
        assert_int_equal(parley__frame_wire_size(f), cases[i].hdr + cases[i].len);
        w = parley__frame_wire(f, &wl);
        assert_int_equal(wl, cases[i].hdr + cases[i].len);
        assert_int_equal(w[0], 0x80 | ((i & 1) ? 2 : 1));
        assert_int_equal(w[1], cases[i].b1);
        if (cases[i].hdr == 4)
            assert_int_equal((size_t)(w[2] << 8 | w[3]), cases[i].len);
        if (cases[i].hdr == 10)
            assert_int_equal((size_t)w[7] << 16 | (size_t)w[8] << 8 | w[9], cases[i].len);
        assert_ptr_equal(parley__frame_wire(f, &wl), w);       /* built once */
        assert_ptr_equal(parley__frame_data(f, &dl), w + cases[i].hdr);
        assert_int_equal(dl, cases[i].len);
        assert_ptr_equal(parley__frame_retain(f), f);
        parley__frame_release(f);
        assert_int_equal(parley__frame_live(), live + 1);
        parley__frame_release(f);
        assert_int_equal(parley__frame_live(), live);
    }
}

static void frame_truncate_before_use(void **state)
{
    char *p;
    parley_frame *f = parley__frame_alloc(NULL, 100, 0, &p);
    size_t len, wl;

    (void)state;
    memcpy(p, "hello", 5);
    parley__frame_truncate(f, 5);
    assert_string_equal(parley__frame_data(f, &len), "hello");
    assert_int_equal(len, 5);
    parley__frame_truncate(f, 200);                /* growing is refused */
    parley__frame_data(f, &len);
    assert_int_equal(len, 5);
    parley__frame_wire(f, &wl);
    assert_int_equal(wl, 7);
    parley__frame_truncate(f, 1);                  /* after the header: refused */
    parley__frame_data(f, &len);
    assert_int_equal(len, 5);
    parley__frame_release(f);
    parley__frame_release(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(utf8_accepts_well_formed),
        cmocka_unit_test(utf8_refuses_malformed),
        cmocka_unit_test(query_param_decodes_strictly),
        cmocka_unit_test(frame_headers_and_refcounts),
        cmocka_unit_test(frame_truncate_before_use),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
