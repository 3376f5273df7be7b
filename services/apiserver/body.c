/* Request bodies (read by http_server.c under the body limit) decoded as
 * JSON with the error position (nesting bounded first: the parser and the
 * dumper recurse, on civetweb's 100 KB thread stacks), or — for the two core kinds kubectl insists
 * on sending that way — as Kubernetes protobuf: the "k8s\0" magic, a
 * runtime.Unknown envelope, and just the Namespace/Secret fields. */
#include "apiserver.h"

#include "error/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int apiserver_body_json_depth(const char *buf, size_t len)
{
    int depth = 0, in_string = 0, escaped = 0;
    size_t line = 1, col = 0;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        col++;
        if (c == '\n') {
            line++;
            col = 0;
        }
        if (in_string) {
            if (escaped)
                escaped = 0;
            else if (c == '\\')
                escaped = 1;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > APISERVER_BODY_MAX_DEPTH)
                return porch_error_set(400,
                                       "the JSON request body is nested deeper than %d levels "
                                       "at line %zu, column %zu",
                                       APISERVER_BODY_MAX_DEPTH, line, col);
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 0;
}

int apiserver_body_json(const char *buf, size_t len, json_t **out)
{
    *out = NULL;
    if (len == 0)
        return porch_error_set(400, "the request body is empty; send a JSON object");
    if (apiserver_body_json_depth(buf, len) != 0)
        return -1;
    json_error_t err;
    json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
    if (doc == NULL)
        return porch_error_set(400,
                               "malformed JSON in the request body at line %d, column %d "
                               "(byte %d): %s",
                               err.line, err.column, err.position, err.text);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return porch_error_set(400, "the request body must be a JSON object");
    }
    *out = doc;
    return 0;
}

/* ---- protobuf ---- */

typedef struct pb {
    const uint8_t *p, *end;
} pb;

static int pb_varint(pb *b, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end)
            return -1;
        uint8_t c = *b->p++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if ((c & 0x80) == 0)
            return 0;
    }
    return -1;
}

/* Reads the next field: *field, *wire and, for length-delimited ones, the bytes. */
static int pb_next(pb *b, uint32_t *field, int *wire, pb *sub, uint64_t *num)
{
    uint64_t key;
    if (pb_varint(b, &key) != 0 || key >> 3 == 0 || key >> 3 > 0xffffffffu)
        return -1;
    *field = (uint32_t)(key >> 3);
    *wire = (int)(key & 7);
    switch (*wire) {
    case 0:
        return pb_varint(b, num);
    case 1:
        if (b->end - b->p < 8)
            return -1;
        b->p += 8;
        return 0;
    case 5:
        if (b->end - b->p < 4)
            return -1;
        b->p += 4;
        return 0;
    case 2: {
        uint64_t n;
        if (pb_varint(b, &n) != 0 || n > (uint64_t)(b->end - b->p))
            return -1;
        sub->p = b->p;
        sub->end = b->p + n;
        b->p += n;
        return 0;
    }
    default:
        return -1;
    }
}

static json_t *pb_string(const pb *s)
{
    json_t *v = json_stringn((const char *)s->p, (size_t)(s->end - s->p));
    return v ? v : json_string("");
}

/* A map<string,string|bytes> entry {1: key, 2: value} into obj; bytes are base64-encoded. */
static int pb_map_entry(pb entry, json_t *obj, int base64)
{
    json_t *key = NULL, *val = NULL;
    uint32_t f;
    int w;
    pb s;
    uint64_t num;
    while (entry.p < entry.end) {
        if (pb_next(&entry, &f, &w, &s, &num) != 0) {
            json_decref(key);
            json_decref(val);
            return -1;
        }
        if (w != 2)
            continue;
        if (f == 1) {
            json_decref(key);
            key = pb_string(&s);
        } else if (f == 2) {
            json_decref(val);
            if (base64) {
                char *enc = apiserver_base64_encode(s.p, (size_t)(s.end - s.p));
                val = json_string(enc ? enc : "");
                free(enc);
            } else {
                val = pb_string(&s);
            }
        }
    }
    if (key != NULL && json_string_length(key) > 0) /* an entry without a value is "" */
        json_object_set_new(obj, json_string_value(key), val ? json_incref(val) : json_string(""));
    json_decref(key);
    json_decref(val);
    return 0;
}

static int pb_object_meta(pb b, json_t *meta)
{
    uint32_t f;
    int w;
    pb s;
    uint64_t num;
    static const char *const strings[] = {NULL, "name", "generateName", "namespace"};
    while (b.p < b.end) {
        if (pb_next(&b, &f, &w, &s, &num) != 0)
            return -1;
        if (w != 2)
            continue;
        if (f >= 1 && f <= 3) {
            json_object_set_new(meta, strings[f], pb_string(&s));
        } else if (f == 11 || f == 12) {
            const char *k = f == 11 ? "labels" : "annotations";
            json_t *m = json_object_get(meta, k);
            if (m == NULL) {
                m = json_object();
                json_object_set_new(meta, k, m);
            }
            if (pb_map_entry(s, m, 0) != 0)
                return -1;
        }
    }
    return 0;
}

/* Secret {1 metadata, 2 data map<string,bytes>, 3 type, 4 immutable, 5 stringData}. */
static int pb_secret(pb b, json_t *obj)
{
    uint32_t f;
    int w;
    pb s;
    uint64_t num;
    json_t *meta = json_object_get(obj, "metadata");
    while (b.p < b.end) {
        if (pb_next(&b, &f, &w, &s, &num) != 0)
            return -1;
        if (f == 4 && w == 0) {
            json_object_set_new(obj, "immutable", json_boolean(num != 0));
            continue;
        }
        if (w != 2)
            continue;
        if (f == 1 && pb_object_meta(s, meta) != 0)
            return -1;
        if (f == 3)
            json_object_set_new(obj, "type", pb_string(&s));
        if (f == 2 || f == 5) {
            const char *k = f == 2 ? "data" : "stringData";
            json_t *m = json_object_get(obj, k);
            if (m == NULL) {
                m = json_object();
                json_object_set_new(obj, k, m);
            }
            if (pb_map_entry(s, m, f == 2) != 0)
                return -1;
        }
    }
    return 0;
}

/* Namespace {1 metadata, 2 spec {1 finalizers}}. */
static int pb_namespace(pb b, json_t *obj)
{
    uint32_t f;
    int w;
    pb s;
    uint64_t num;
    while (b.p < b.end) {
        if (pb_next(&b, &f, &w, &s, &num) != 0)
            return -1;
        if (f == 1 && w == 2 && pb_object_meta(s, json_object_get(obj, "metadata")) != 0)
            return -1;
    }
    return 0;
}

int apiserver_body_protobuf(const char *buf, size_t len, json_t **out)
{
    *out = NULL;
    if (len < 4 || memcmp(buf, "k8s\0", 4) != 0)
        return porch_error_set(400, "protobuf body does not start with the Kubernetes magic "
                                    "\"k8s\\0\"");
    pb b = {(const uint8_t *)buf + 4, (const uint8_t *)buf + len};
    json_t *api_version = NULL, *kind = NULL;
    pb raw = {NULL, NULL};
    uint32_t f;
    int w;
    pb s;
    uint64_t num;
    int rc = 0;
    while (rc == 0 && b.p < b.end) {
        if (pb_next(&b, &f, &w, &s, &num) != 0) {
            rc = -1;
            break;
        }
        if (w != 2)
            continue;
        if (f == 1) { /* TypeMeta {1 apiVersion, 2 kind} */
            pb t = s;
            uint32_t tf;
            int tw;
            pb ts;
            while (t.p < t.end) {
                if (pb_next(&t, &tf, &tw, &ts, &num) != 0) {
                    rc = -1;
                    break;
                }
                if (tw == 2 && tf == 1) {
                    json_decref(api_version);
                    api_version = pb_string(&ts);
                } else if (tw == 2 && tf == 2) {
                    json_decref(kind);
                    kind = pb_string(&ts);
                }
            }
        } else if (f == 2) {
            raw = s;
        }
    }
    const char *k = kind ? json_string_value(kind) : "";
    json_t *obj = NULL;
    if (rc == 0 && raw.p != NULL && (strcmp(k, "Secret") == 0 || strcmp(k, "Namespace") == 0)) {
        obj = json_pack("{s:s, s:s, s:{}}", "apiVersion",
                        api_version ? json_string_value(api_version) : "v1", "kind", k, "metadata");
        rc = k[0] == 'S' ? pb_secret(raw, obj) : pb_namespace(raw, obj);
    } else if (rc == 0) {
        porch_error_set(415,
                        "protobuf is accepted only for v1 Namespace and Secret "
                        "(got kind \"%.64s\"); send JSON",
                        k);
        json_decref(api_version);
        json_decref(kind); /* after the message: k points into it */
        return -1;
    }
    json_decref(api_version);
    json_decref(kind);
    if (rc != 0) {
        json_decref(obj);
        return porch_error_set(400, "malformed protobuf request body");
    }
    *out = obj;
    return 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *apiserver_base64_encode(const unsigned char *in, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}
