/* The metrics registry: exposition text, refusals, concurrent updates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <cmocka.h>

#include "metrics.h"

static parley_metric *reg(int kind, const char *name, const char *help, const char *labels,
                          const double *b, size_t nb, parley_error *err)
{
    parley_metric_desc d = { sizeof d, (uint32_t)kind, name, help, labels, b, nb };
    return parley__metric_register(NULL, &d, err);
}

static char *format_all(void)
{
    size_t need = parley__metrics_format(NULL, NULL, 0);
    char *buf = malloc(need + 1);

    assert_non_null(buf);
    assert_int_equal(parley__metrics_format(NULL, buf, need + 1), need);
    assert_int_equal(strlen(buf), need);
    return buf;
}

static int teardown(void **state)
{
    (void)state;
    parley__metrics_free();
    return 0;
}

static void test_exposition(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    static const double b[] = { 0.1, 1, 2.5 };
    parley_metric *c1, *c2, *c3, *gauge, *h;
    char *text;

    (void)state;
    /* Registered out of order: the text is sorted by family, then labels. */
    h = reg(PARLEY_METRIC_HISTOGRAM, "parley_test_seconds", "Latency.", "op=\"insert\"", b, 3, &err);
    c2 = reg(PARLEY_METRIC_COUNTER, "parley_test_total", "Things \\ done\nso far.", "code=\"500\",transport=\"rest\"", NULL, 0, &err);
    c1 = reg(PARLEY_METRIC_COUNTER, "parley_test_total", "ignored", "transport=\"rest\",code=\"200\"", NULL, 0, &err);
    c3 = reg(PARLEY_METRIC_COUNTER, "parley_test_total", NULL, "code=\"200\",transport=\"rest\"", NULL, 0, &err);
    gauge = reg(PARLEY_METRIC_GAUGE, "parley_a_gauge", "A gauge.", NULL, NULL, 0, &err);
    assert_non_null(h);
    assert_non_null(c1);
    assert_non_null(c2);
    assert_non_null(gauge);
    /* The same labels in another order are the same series. */
    assert_ptr_equal(c1, c3);

    parley__metric_add(c1, 3);
    parley__metric_add(c1, -1);    /* counters never go down */
    parley__metric_add(c2, 0.5);
    parley__metric_set(gauge, -2.25);
    parley__metric_add(gauge, 1);
    parley__metric_observe(h, 0.05);
    parley__metric_observe(h, 0.1);   /* le is inclusive */
    parley__metric_observe(h, 2);
    parley__metric_observe(h, 7);

    text = format_all();
    assert_string_equal(text,
        "# HELP parley_a_gauge A gauge.\n"
        "# TYPE parley_a_gauge gauge\n"
        "parley_a_gauge -1.25\n"
        "# HELP parley_test_seconds Latency.\n"
        "# TYPE parley_test_seconds histogram\n"
        "parley_test_seconds_bucket{op=\"insert\",le=\"0.1\"} 2\n"
        "parley_test_seconds_bucket{op=\"insert\",le=\"1\"} 2\n"
        "parley_test_seconds_bucket{op=\"insert\",le=\"2.5\"} 3\n"
        "parley_test_seconds_bucket{op=\"insert\",le=\"+Inf\"} 4\n"
        "parley_test_seconds_sum{op=\"insert\"} 9.15\n"
        "parley_test_seconds_count{op=\"insert\"} 4\n"
        "# HELP parley_test_total Things \\\\ done\\nso far.\n"
        "# TYPE parley_test_total counter\n"
        "parley_test_total{code=\"200\",transport=\"rest\"} 3\n"
        "parley_test_total{code=\"500\",transport=\"rest\"} 0.5\n");
    assert_true(parley__metric_value(h) == 4);
    assert_true(parley__metric_value(c1) == 3);
    free(text);
}

static void test_truncation(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    char small[16];
    size_t need;

    (void)state;
    parley__metric_add(reg(PARLEY_METRIC_COUNTER, "x_total", "X.", NULL, NULL, 0, &err), 1);
    need = parley__metrics_format(NULL, small, sizeof small);
    assert_int_equal(need, strlen("# HELP x_total X.\n# TYPE x_total counter\nx_total 1\n"));
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, "# HELP x_total X", 15);
}

static void test_default_buckets_and_unlabelled_histogram(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    parley_metric *h = reg(PARLEY_METRIC_HISTOGRAM, "h_seconds", "H.", NULL, NULL, 0, &err);
    char *text;

    (void)state;
    assert_non_null(h);
    parley__metric_observe(h, 0.003);
    text = format_all();
    assert_non_null(strstr(text, "h_seconds_bucket{le=\"0.005\"} 1\n"));
    assert_non_null(strstr(text, "h_seconds_bucket{le=\"10\"} 1\n"));
    assert_non_null(strstr(text, "h_seconds_bucket{le=\"+Inf\"} 1\n"));
    assert_non_null(strstr(text, "h_seconds_sum 0.003\nh_seconds_count 1\n"));
    free(text);
}

static void expect_refusal(int kind, const char *name, const char *labels, const double *b,
                           size_t nb, int code, const char *msg)
{
    parley_error err = PARLEY_ERROR_INIT;

    assert_null(reg(kind, name, "h", labels, b, nb, &err));
    assert_int_equal(err.code, code);
    assert_string_equal(err.message, msg);
}

static void test_refusals(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    static const double down[] = { 1, 0.5 };
    double many[33];

    (void)state;
    for (int i = 0; i < 33; i++)
        many[i] = i;
    expect_refusal(PARLEY_METRIC_COUNTER, "", NULL, NULL, 0, PARLEY_EINVAL, "metric name is empty");
    expect_refusal(PARLEY_METRIC_COUNTER, "9lives", NULL, NULL, 0, PARLEY_EINVAL,
                   "metric name \"9lives\" has a bad character at offset 0; names match [a-zA-Z_:][a-zA-Z0-9_:]*");
    expect_refusal(PARLEY_METRIC_COUNTER, "a-b", NULL, NULL, 0, PARLEY_EINVAL,
                   "metric name \"a-b\" has a bad character at offset 1; names match [a-zA-Z_:][a-zA-Z0-9_:]*");
    expect_refusal(7, "k", NULL, NULL, 0, PARLEY_EINVAL, "metric k has unknown kind 7");
    expect_refusal(PARLEY_METRIC_COUNTER, "l", "code=200", NULL, 0, PARLEY_EINVAL,
                   "labels of metric l are malformed at offset 5: the value must be quoted (\"code=200\")");
    expect_refusal(PARLEY_METRIC_COUNTER, "l", "a=\"1\" b=\"2\"", NULL, 0, PARLEY_EINVAL,
                   "labels of metric l are malformed at offset 5: expected ',' (\"a=\"1\" b=\"2\"\")");
    expect_refusal(PARLEY_METRIC_COUNTER, "l", "a=\"1\",a=\"2\"", NULL, 0, PARLEY_EINVAL,
                   "label a of metric l appears twice");
    expect_refusal(PARLEY_METRIC_COUNTER, "l", "__a=\"1\"", NULL, 0, PARLEY_EINVAL,
                   "label __a of metric l is reserved (starts with __)");
    expect_refusal(PARLEY_METRIC_COUNTER, "l", "a=\"x\\q\"", NULL, 0, PARLEY_EINVAL,
                   "labels of metric l: bad escape at offset 4 (only \\\\, \\\" and \\n)");
    expect_refusal(PARLEY_METRIC_COUNTER, "l", "a=\"open", NULL, 0, PARLEY_EINVAL,
                   "labels of metric l: unterminated value (\"a=\"open\")");
    expect_refusal(PARLEY_METRIC_COUNTER, "l", "a=\"1\",", NULL, 0, PARLEY_EINVAL,
                   "labels of metric l end with ','");
    expect_refusal(PARLEY_METRIC_HISTOGRAM, "hh", "le=\"1\"", NULL, 0, PARLEY_EINVAL,
                   "label le of histogram hh is reserved");
    expect_refusal(PARLEY_METRIC_HISTOGRAM, "hh", NULL, down, 2, PARLEY_EINVAL,
                   "histogram hh: buckets must ascend, but bucket 1 (0.5) <= bucket 0 (1)");
    expect_refusal(PARLEY_METRIC_HISTOGRAM, "hh", NULL, many, 33, PARLEY_EINVAL,
                   "histogram hh has 33 buckets; the limit is 32");

    /* Escaped values are fine. */
    assert_non_null(reg(PARLEY_METRIC_COUNTER, "l", "h", "a=\"x\\\"y\\\\z\\n\"", NULL, 0, &err));
    /* Kind clash. */
    assert_non_null(reg(PARLEY_METRIC_GAUGE, "clash", "c", NULL, NULL, 0, &err));
    expect_refusal(PARLEY_METRIC_COUNTER, "clash", "x=\"1\"", NULL, 0, PARLEY_EEXIST,
                   "metric clash is already registered as a gauge; cannot register it as a counter");
    assert_non_null(reg(PARLEY_METRIC_HISTOGRAM, "hb", "c", NULL, many, 3, &err));
    expect_refusal(PARLEY_METRIC_HISTOGRAM, "hb", "x=\"1\"", many, 4, PARLEY_EEXIST,
                   "histogram hb is already registered with other buckets");
    /* Updates on a NULL or wrong-kind metric are no-ops. */
    parley__metric_add(NULL, 1);
    parley__metric_observe(NULL, 1);
    parley__metric_set(NULL, 1);
}

#define ROUNDS 100000

static void *hammer(void *arg)
{
    parley_metric **m = arg;

    for (int i = 0; i < ROUNDS; i++) {
        parley__metric_add(m[0], 1);
        parley__metric_add(m[1], 0.5);
        parley__metric_observe(m[2], 0.25);
    }
    return NULL;
}

static void test_two_threads(void **state)
{
    parley_error err = PARLEY_ERROR_INIT;
    parley_metric *m[3];
    pthread_t t1, t2;
    char *text;

    (void)state;
    m[0] = reg(PARLEY_METRIC_COUNTER, "t_total", "T.", NULL, NULL, 0, &err);
    m[1] = reg(PARLEY_METRIC_GAUGE, "t_gauge", "T.", NULL, NULL, 0, &err);
    m[2] = reg(PARLEY_METRIC_HISTOGRAM, "t_seconds", "T.", NULL, NULL, 0, &err);
    assert_int_equal(pthread_create(&t1, NULL, hammer, m), 0);
    assert_int_equal(pthread_create(&t2, NULL, hammer, m), 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    assert_true(parley__metric_value(m[0]) == 2 * ROUNDS);
    assert_true(parley__metric_value(m[1]) == ROUNDS);
    assert_true(parley__metric_value(m[2]) == 2 * ROUNDS);
    text = format_all();
    assert_non_null(strstr(text, "t_total 200000\n"));
    assert_non_null(strstr(text, "t_seconds_sum 50000\nt_seconds_count 200000\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_exposition, teardown),
        cmocka_unit_test_teardown(test_truncation, teardown),
        cmocka_unit_test_teardown(test_default_buckets_and_unlabelled_histogram, teardown),
        cmocka_unit_test_teardown(test_refusals, teardown),
        cmocka_unit_test_teardown(test_two_threads, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
