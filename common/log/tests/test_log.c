/* Tests of the JSON-lines logger: one parseable line per event with the
 * standard fields, level filtering, and the per-thread request id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"

static char *capture(log_level level, void (*emit)(void))
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    log_setup("test-svc", level, out);
    emit();
    fclose(out);
    log_setup("test-svc", LOG_INFO, NULL);
    return buf;
}

static void emit_info_with_fields(void)
{
    log_set_rid("rid-1");
    log_info("hello", "count", json_integer(3), "who", json_string("me"));
    log_set_rid(NULL);
}

static void line_has_standard_fields(void **state)
{
    char *text = capture(LOG_INFO, emit_info_with_fields);
    json_error_t err;
    json_t *ev = json_loads(text, 0, &err);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(ev, "svc")), "test-svc");
    assert_string_equal(json_string_value(json_object_get(ev, "rid")), "rid-1");
    assert_string_equal(json_string_value(json_object_get(ev, "msg")), "hello");
    assert_int_equal(json_integer_value(json_object_get(ev, "count")), 3);
    assert_string_equal(json_string_value(json_object_get(ev, "who")), "me");
    const char *ts = json_string_value(json_object_get(ev, "ts"));
    assert_non_null(ts);
    assert_int_equal(strlen(ts), strlen("2026-01-01T00:00:00.000000Z"));
    assert_int_equal(text[strlen(text) - 1], '\n');
    int lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 1);
    json_decref(ev);
    free(text);
}

static void emit_debug(void)
{
    log_debug("hidden", "x", json_integer(1));
}

static void below_level_is_dropped(void **state)
{
    char *text = capture(LOG_INFO, emit_debug);
    assert_string_equal(text, "");
    free(text);
    text = capture(LOG_DEBUG, emit_debug);
    assert_non_null(strstr(text, "\"hidden\""));
    free(text);
}

static void emit_quotes(void)
{
    log_warn("a \"quoted\"\nmessage");
}

static void messages_are_escaped(void **state)
{
    char *text = capture(LOG_INFO, emit_quotes);
    json_t *ev = json_loads(text, 0, NULL);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "msg")), "a \"quoted\"\nmessage");
    json_decref(ev);
    free(text);
}

static void level_names_parse(void **state)
{
    log_level l;
    assert_int_equal(log_level_parse("DEBUG", &l), 0);
    assert_int_equal(l, LOG_DEBUG);
    assert_int_equal(log_level_parse("warning", &l), 0);
    assert_int_equal(l, LOG_WARN);
    assert_int_equal(log_level_parse("verbose", &l), -1);
    assert_int_equal(log_level_parse(NULL, &l), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(line_has_standard_fields),
        cmocka_unit_test(below_level_is_dropped),
        cmocka_unit_test(messages_are_escaped),
        cmocka_unit_test(level_names_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
