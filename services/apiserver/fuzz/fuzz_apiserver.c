/* libFuzzer target for everything porch-apiserver parses from the network
 * before authorisation matters: request paths, query strings, selectors,
 * JSON, YAML and protobuf bodies and patches. Input: "path\nquery\nbody". */
#include "apiserver.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *path = buf;
    char *query = strchr(path, '\n');
    char *body = NULL;
    if (query != NULL) {
        *query++ = '\0';
        body = strchr(query, '\n');
        if (body != NULL)
            *body++ = '\0';
    }
    apiserver_route r;
    apiserver_route_parse(path, &r);
    apiserver_query q;
    if (query != NULL && apiserver_query_parse(query, &q) == 0) {
        apiserver_selector *s = NULL;
        if (apiserver_selector_parse_labels(q.label_selector, &s) == 0) {
            json_t *labels = json_pack("{s:s}", "a", "b");
            apiserver_selector_match(s, apiserver_selector_labels_lookup, labels);
            json_decref(labels);
            apiserver_selector_free(s);
        }
        if (apiserver_selector_parse_fields(q.field_selector, &s) == 0)
            apiserver_selector_free(s);
    }
    if (body != NULL) {
        size_t len = size - (size_t)(body - buf);
        json_t *doc = NULL;
        if (apiserver_body_json(body, len, &doc) == 0) {
            json_t *target = json_pack("{s:{s:s},s:[i,i]}", "metadata", "name", "x", "a", 1, 2);
            json_t *out = NULL;
            if (apiserver_patch_json(target, json_object_get(doc, "ops"), &out) == 0)
                json_decref(out);
            if (apiserver_patch_merge(target, doc, &out) == 0)
                json_decref(out);
            json_decref(target);
            json_decref(doc);
        }
        if (apiserver_body_protobuf(body, len, &doc) == 0)
            json_decref(doc);
        if (apiserver_body_yaml(body, len, &doc) == 0) {
            char *text = json_dumps(doc, JSON_COMPACT); /* what goes on to the bus */
            free(text);
            json_decref(doc);
        }
    }
    free(buf);
    return 0;
}
