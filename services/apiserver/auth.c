/* Who is calling: the subject of a client certificate that OpenSSL already
 * verified against --client-ca-file during the handshake. As in Kubernetes,
 * the CN is the user name and each O is a group (O=system:masters = admin). */
#include "apiserver.h"

#include "error/error.h"

#include <string.h>

/* Copies one "KEY=value" component value into dst (truncating safely). */
static void copy_value(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

int apiserver_auth_from_subject(const char *subject, apiserver_user *out)
{
    memset(out, 0, sizeof(*out));
    if (subject == NULL)
        return porch_error_set(401, "no client certificate subject");
    const char *p = subject;
    while (*p != '\0') {
        if (*p == '/')
            p++;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 3 && strncmp(p, "CN=", 3) == 0) {
            copy_value(out->name, sizeof(out->name), p + 3, len - 3);
        } else if (len > 2 && strncmp(p, "O=", 2) == 0 &&
                   out->n_groups < (int)(sizeof(out->groups) / sizeof(out->groups[0]))) {
            copy_value(out->groups[out->n_groups], sizeof(out->groups[0]), p + 2, len - 2);
            out->n_groups++;
        }
        p += len;
    }
    if (out->name[0] == '\0')
        return porch_error_set(401, "client certificate subject '%s' has no CN (the user name)",
                               subject);
    return 0;
}

json_t *apiserver_auth_caller(const apiserver_user *user)
{
    json_t *groups = json_array();
    for (int i = 0; i < user->n_groups; i++)
        json_array_append_new(groups, json_string(user->groups[i]));
    json_array_append_new(groups, json_string("system:authenticated"));
    return json_pack("{s:s, s:o}", "user", user->name, "groups", groups);
}
