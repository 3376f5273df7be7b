/* Lifecycle rules (see rules.h). Messages follow real Porch's where a client
 * may read them; codes follow Kubernetes (422 for an invalid object) where
 * Porch answers 500 for a validation failure (spec marks those quirks). */
#include "rules.h"
#include "error/error.h"

#include <ctype.h>
#include <string.h>

static const char *const lifecycles[] = {"Draft", "Proposed", "Published", "DeletionProposed"};

const char *engine_rules_lifecycle(const char *text)
{
    if (!text || !*text)
        return "Draft";
    for (size_t i = 0; i < 4; i++)
        if (strcmp(text, lifecycles[i]) == 0)
            return lifecycles[i];
    return NULL;
}

static int is_dns_label(const char *s, size_t len)
{
    if (len == 0 || len > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
            return 0;
    return 1;
}

static const char *str_at(json_t *obj, const char *a, const char *b)
{
    return json_string_value(json_object_get(json_object_get(obj, a), b));
}

static int is_published(const char *lc)
{
    return !strcmp(lc, "Published") || !strcmp(lc, "DeletionProposed");
}

/* packageName: "/"-separated DNS labels, and all of it without "/" a label too (§3.2). */
static int check_package_name(const char *pkg)
{
    if (!pkg || !*pkg)
        return porch_error_set(422, "PackageRevision is invalid: spec.packageName: Required value");
    char joined[256];
    size_t n = 0;
    for (const char *seg = pkg;;) {
        const char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        if (!is_dns_label(seg, len))
            return porch_error_set(422, "PackageRevision is invalid: spec.packageName: Invalid "
                                        "value: \"%s\": each path segment must be a DNS-1123 "
                                        "label", pkg);
        if (n + len >= sizeof joined)
            return porch_error_set(422, "PackageRevision is invalid: spec.packageName: Invalid "
                                        "value: \"%s\": too long", pkg);
        memcpy(joined + n, seg, len);
        n += len;
        if (!slash)
            break;
        seg = slash + 1;
    }
    if (!is_dns_label(joined, n))
        return porch_error_set(422, "PackageRevision is invalid: spec.packageName: Invalid value: "
                                    "\"%s\": must be no more than 63 characters without '/'", pkg);
    return 0;
}

int engine_rules_check_create(const char *namespace_, json_t *object)
{
    if (!namespace_ || !*namespace_)
        return porch_error_set(400, "namespace is required");
    if (!json_is_object(object))
        return porch_error_set(400, "the body must be a PackageRevision object");
    json_t *spec = json_object_get(object, "spec");
    const char *repo = json_string_value(json_object_get(spec, "repository"));
    if (!repo || !*repo)
        return porch_error_set(400, "spec.repositoryName is required");
    json_t *labels = json_object_get(json_object_get(object, "metadata"), "labels");
    if (json_object_get(labels, ENGINE_LATEST_LABEL))
        return porch_error_set(422, "PackageRevision is invalid: metadata.labels: Invalid value: "
                                    "\"%s\": label is managed by porch and may not be set by the "
                                    "user", ENGINE_LATEST_LABEL);
    if (check_package_name(json_string_value(json_object_get(spec, "packageName"))) < 0)
        return -1;
    const char *ws = json_string_value(json_object_get(spec, "workspaceName"));
    if (!ws || !is_dns_label(ws, strlen(ws)))
        return porch_error_set(422, "PackageRevision is invalid: spec.workspaceName: Invalid "
                                    "value: \"%s\": must be a DNS-1123 label", ws ? ws : "");
    const char *lc = json_string_value(json_object_get(spec, "lifecycle"));
    if (lc && *lc && strcmp(lc, "Draft") != 0)
        return porch_error_set(422, "PackageRevision is invalid: spec.lifecycle: Unsupported "
                                    "value: \"%s\": supported values: \"Draft\"", lc);
    json_t *tasks = json_object_get(spec, "tasks");
    if (tasks && !json_is_array(tasks))
        return porch_error_set(400, "spec.tasks must be a list");
    if (json_array_size(tasks) > 1)
        return porch_error_set(422, "task list must not contain more than one task");
    return 0;
}

/* Published revisions: nothing in spec may change but Published⇄DeletionProposed. */
static int spec_equal_except_lifecycle(json_t *old, json_t *new_)
{
    json_t *a = json_deep_copy(json_object_get(old, "spec"));
    json_t *b = json_deep_copy(json_object_get(new_, "spec"));
    if (!a)
        a = json_object();
    if (!b)
        b = json_object();
    json_object_del(a, "lifecycle");
    json_object_del(b, "lifecycle");
    /* Omitted packageMetadata and readinessGates mean "unchanged" (§3.7). */
    const char *optional[] = {"packageMetadata", "readinessGates", "tasks"};
    for (size_t i = 0; i < 3; i++)
        if (!json_object_get(b, optional[i]) && json_object_get(a, optional[i]))
            json_object_set(b, optional[i], json_object_get(a, optional[i]));
    int same = json_equal(a, b);
    json_decref(a);
    json_decref(b);
    return same;
}

int engine_rules_check_update(json_t *old, json_t *new_, int approval, const char **lifecycle)
{
    const char *from = engine_rules_lifecycle(str_at(old, "spec", "lifecycle"));
    const char *asked = str_at(new_, "spec", "lifecycle");
    const char *to = engine_rules_lifecycle(asked);
    if (!from)
        from = "Draft";
    if (!to)
        return porch_error_set(422, "PackageRevision is invalid: spec.lifecycle: Unsupported "
                                    "value: \"%s\": supported values: \"Draft\", \"Proposed\", "
                                    "\"Published\", \"DeletionProposed\"", asked);
    json_t *old_latest = json_object_get(json_object_get(json_object_get(old, "metadata"), "labels"),
                                         ENGINE_LATEST_LABEL);
    json_t *new_latest = json_object_get(json_object_get(json_object_get(new_, "metadata"), "labels"),
                                         ENGINE_LATEST_LABEL);
    if (!json_equal(old_latest, new_latest) && (old_latest || new_latest))
        return porch_error_set(422, "PackageRevision is invalid: metadata.labels: Invalid value: "
                                    "\"%s\": label is managed by porch and may not be changed",
                               ENGINE_LATEST_LABEL);
    *lifecycle = to;
    if (approval) {
        int ok = !strcmp(from, to) ||
                 (!strcmp(from, "Proposed") && (!strcmp(to, "Published") || !strcmp(to, "Draft"))) ||
                 (!strcmp(from, "Published") && !strcmp(to, "DeletionProposed")) ||
                 (!strcmp(from, "DeletionProposed") && !strcmp(to, "Published"));
        if (!ok && !strcmp(from, "Draft"))
            return porch_error_set(422, "cannot approve package with %s lifecycle value; only "
                                        "Proposed packages can be approved", from);
        if (!ok)
            return porch_error_set(422, "cannot change approval from %s to %s", from, to);
        return 0;
    }
    if (!is_published(from)) {
        if (is_published(to))
            return porch_error_set(422, "PackageRevision is invalid: spec.lifecycle: Invalid "
                                        "value: \"%s\": a %s package revision can only become "
                                        "Draft or Proposed; use the approval subresource to "
                                        "publish", to, from);
        return 0;
    }
    if (!is_published(to))
        return porch_error_set(422, "PackageRevision is invalid: spec.lifecycle: Invalid value: "
                                    "\"%s\": a %s package revision can only become Published or "
                                    "DeletionProposed", to, from);
    if (!spec_equal_except_lifecycle(old, new_))
        return porch_error_set(422, "PackageRevision is invalid: spec: Forbidden: the spec of a "
                                    "%s package revision cannot be changed, only its lifecycle",
                               from);
    return 0;
}

int engine_rules_check_delete(json_t *obj)
{
    const char *lc = engine_rules_lifecycle(str_at(obj, "spec", "lifecycle"));
    if (lc && !strcmp(lc, "Published"))
        return porch_error_set(403, "packagerevisions.porch.kpt.dev \"%s\" is forbidden: published "
                                    "PackageRevisions must be proposed for deletion by setting "
                                    "spec.lifecycle to 'DeletionProposed' prior to deletion",
                               str_at(obj, "metadata", "name") ? str_at(obj, "metadata", "name") : "");
    return 0;
}

int engine_rules_paths_nest(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la == lb)
        return 0;
    const char *shorter = la < lb ? a : b, *longer = la < lb ? b : a;
    size_t n = la < lb ? la : lb;
    return strncmp(shorter, longer, n) == 0 && longer[n] == '/';
}
