/* Encoding and validation of bus envelopes (see bus.h for the shapes). Every
 * request that reaches a handler has passed through here, so handlers can
 * trust the envelope fields; bad input gets a 400 naming the field. */
#include "bus/bus.h"
#include "error/error.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define BUS_MAX_OP_LEN 128
#define BUS_MAX_ID_LEN 128

static int check_string_field(json_t *env, const char *key, size_t max, int required)
{
    json_t *v = json_object_get(env, key);
    if (!v)
        return required ? porch_error_set(400, "bus request: missing field \"%s\"", key) : 0;
    if (!json_is_string(v))
        return porch_error_set(400, "bus request: field \"%s\" must be a string", key);
    size_t len = json_string_length(v);
    if (required && len == 0)
        return porch_error_set(400, "bus request: field \"%s\" must not be empty", key);
    if (len > max)
        return porch_error_set(400, "bus request: field \"%s\" longer than %zu bytes", key, max);
    return 0;
}

static int check_fields_known(json_t *env)
{
    static const char *known[] = {"v", "op", "id", "deadline_ms", "caller", "args"};
    const char *key;
    json_t *value;
    json_object_foreach(env, key, value) {
        size_t i = 0;
        while (i < sizeof known / sizeof known[0] && strcmp(key, known[i]) != 0)
            i++;
        if (i == sizeof known / sizeof known[0])
            return porch_error_set(400, "bus request: unknown field \"%.64s\"", key);
    }
    return 0;
}

static int check_envelope(json_t *env)
{
    if (!json_is_object(env))
        return porch_error_set(400, "bus request: the message must be a JSON object");
    if (check_fields_known(env) < 0)
        return -1;
    json_t *v = json_object_get(env, "v");
    if (v && (!json_is_integer(v) || json_integer_value(v) != BUS_ENVELOPE_VERSION))
        return porch_error_set(400, "bus request: field \"v\" must be %d", BUS_ENVELOPE_VERSION);
    if (check_string_field(env, "op", BUS_MAX_OP_LEN, 1) < 0 ||
        check_string_field(env, "id", BUS_MAX_ID_LEN, 0) < 0)
        return -1;
    json_t *deadline = json_object_get(env, "deadline_ms");
    if (deadline && (!json_is_integer(deadline) || json_integer_value(deadline) < 0))
        return porch_error_set(400, "bus request: field \"deadline_ms\" must be a non-negative integer");
    json_t *caller = json_object_get(env, "caller");
    if (caller && !json_is_object(caller) && !json_is_null(caller))
        return porch_error_set(400, "bus request: field \"caller\" must be an object");
    json_t *args = json_object_get(env, "args");
    if (args && !json_is_object(args) && !json_is_null(args))
        return porch_error_set(400, "bus request: field \"args\" must be an object");
    return 0;
}

int bus_envelope_parse_request(const char *data, size_t len, json_t **out)
{
    json_error_t jerr;
    *out = NULL;
    /* nngcat --ascii and some tools append a NUL or newline: tolerate trailing ones. */
    while (len > 0 && (data[len - 1] == '\0' || data[len - 1] == '\n' || data[len - 1] == '\r'))
        len--;
    json_t *env = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!env)
        return porch_error_set(400, "bus request: invalid JSON at line %d column %d: %s",
                               jerr.line, jerr.column, jerr.text);
    if (check_envelope(env) < 0) {
        json_decref(env);
        return -1;
    }
    *out = env;
    return 0;
}

char *bus_envelope_ok(const char *id, json_t *result)
{
    json_t *body = result ? json_incref(result) : json_object();
    json_t *reply = json_pack("{s:i, s:s, s:b, s:o}", "v", BUS_ENVELOPE_VERSION, "id", id ? id : "",
                              "ok", 1, "result", body);
    char *text = json_dumps(reply, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(reply);
    return text;
}

char *bus_envelope_error(const char *id, int code, const char *reason, const char *message,
                         json_t *details)
{
    json_t *error = json_pack("{s:i, s:s, s:s}", "code", code, "reason",
                              reason && *reason ? reason : porch_error_reason_for(code), "message",
                              message ? message : "");
    if (details)
        json_object_set(error, "details", details);
    json_t *reply = json_pack("{s:i, s:s, s:b, s:o}", "v", BUS_ENVELOPE_VERSION, "id", id ? id : "",
                              "ok", 0, "error", error);
    char *text = json_dumps(reply, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(reply);
    return text;
}

void bus_new_request_id(char *buf, size_t len)
{
    unsigned char raw[16];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        memset(raw, 0, sizeof raw);
    size_t n = 0;
    for (size_t i = 0; i < sizeof raw && n + 2 < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%02x", raw[i]);
    if (len)
        buf[n < len ? n : len - 1] = '\0';
}
