/* Tests of the envelope codec: valid requests parse, every malformed field is
 * refused with a 400 naming it, and replies encode to the documented shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "error/error.h"

static int parse(const char *text, json_t **out)
{
    return bus_envelope_parse_request(text, strlen(text), out);
}

static void assert_refused(const char *text, const char *needle)
{
    json_t *env = NULL;
    assert_int_equal(parse(text, &env), -1);
    assert_null(env);
    assert_int_equal(porch_error_last()->code, 400);
    if (!strstr(porch_error_last()->message, needle))
        fail_msg("message \"%s\" does not mention \"%s\"", porch_error_last()->message, needle);
}

static void full_request_parses(void **state)
{
    json_t *env = NULL;
    assert_int_equal(parse("{\"v\":1,\"op\":\"cache.health\",\"id\":\"r1\",\"deadline_ms\":50,"
                           "\"caller\":{\"user\":\"u\",\"groups\":[\"g\"]},\"args\":{\"a\":1}}",
                           &env),
                     0);
    assert_string_equal(json_string_value(json_object_get(env, "op")), "cache.health");
    json_decref(env);
}

static void minimal_request_from_nngcat_parses(void **state)
{
    json_t *env = NULL;
    /* nngcat --ascii sends the text as is; some tools add a trailing NUL or newline */
    const char text[] = "{\"op\":\"health\"}\n";
    assert_int_equal(bus_envelope_parse_request(text, sizeof text, &env), 0);
    json_decref(env);
}

static void malformed_fields_are_named(void **state)
{
    assert_refused("{\"op\":", "invalid JSON");
    assert_refused("[1,2]", "JSON object");
    assert_refused("{\"v\":1}", "\"op\"");
    assert_refused("{\"op\":\"\"}", "\"op\"");
    assert_refused("{\"op\":7}", "\"op\"");
    assert_refused("{\"v\":2,\"op\":\"health\"}", "\"v\"");
    assert_refused("{\"op\":\"health\",\"id\":5}", "\"id\"");
    assert_refused("{\"op\":\"health\",\"deadline_ms\":-1}", "deadline_ms");
    assert_refused("{\"op\":\"health\",\"args\":[]}", "\"args\"");
    assert_refused("{\"op\":\"health\",\"caller\":\"root\"}", "\"caller\"");
    assert_refused("{\"op\":\"health\",\"extra\":1}", "unknown field \"extra\"");
    assert_refused("{\"op\":\"health\",\"op\":\"describe\"}", "invalid JSON");
}

static void oversized_op_is_refused(void **state)
{
    char text[512];
    char op[300];
    memset(op, 'x', sizeof op - 1);
    op[sizeof op - 1] = '\0';
    snprintf(text, sizeof text, "{\"op\":\"%s\"}", op);
    assert_refused(text, "longer than");
}

static void ok_reply_shape(void **state)
{
    json_t *res = json_pack("{s:s}", "status", "ok");
    char *text = bus_envelope_ok("r9", res);
    json_t *reply = json_loads(text, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(reply, "v")), 1);
    assert_string_equal(json_string_value(json_object_get(reply, "id")), "r9");
    assert_true(json_is_true(json_object_get(reply, "ok")));
    assert_true(json_equal(json_object_get(reply, "result"), res));
    json_decref(reply);
    free(text);
    text = bus_envelope_ok("r10", NULL);
    reply = json_loads(text, 0, NULL);
    assert_true(json_is_object(json_object_get(reply, "result")));
    json_decref(reply);
    json_decref(res);
    free(text);
}

static void error_reply_shape(void **state)
{
    json_t *details = json_pack("{s:s}", "name", "p1");
    char *text = bus_envelope_error("r1", 409, NULL, "exists", details);
    json_t *reply = json_loads(text, 0, NULL);
    json_t *err = json_object_get(reply, "error");
    assert_true(json_is_false(json_object_get(reply, "ok")));
    assert_int_equal(json_integer_value(json_object_get(err, "code")), 409);
    assert_string_equal(json_string_value(json_object_get(err, "reason")), "Conflict");
    assert_string_equal(json_string_value(json_object_get(err, "message")), "exists");
    assert_true(json_equal(json_object_get(err, "details"), details));
    json_decref(reply);
    json_decref(details);
    free(text);
}

static void request_ids_are_fresh_hex(void **state)
{
    char a[64], b[64];
    bus_new_request_id(a, sizeof a);
    bus_new_request_id(b, sizeof b);
    assert_int_equal(strlen(a), 32);
    assert_int_equal(strspn(a, "0123456789abcdef"), 32);
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_request_parses),
        cmocka_unit_test(minimal_request_from_nngcat_parses),
        cmocka_unit_test(malformed_fields_are_named),
        cmocka_unit_test(oversized_op_is_refused),
        cmocka_unit_test(ok_reply_shape),
        cmocka_unit_test(error_reply_shape),
        cmocka_unit_test(request_ids_are_fresh_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
